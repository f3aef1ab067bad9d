//! The CLI's client of the REST API (the typed client of `tael-client`),
//! and the exit codes it maps failures to.

use serde_json::Value;
use std::fmt;
use tael_client::{BlockingClient, ClientError};
use tael_query::api::Endpoint;
use tael_query::params::Params;

/// Exit codes of the `tael` command.
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    /// Bad flags or arguments, or a 400 from the server.
    pub const USAGE: i32 = 2;
    /// The trace (or other thing) does not exist (404).
    pub const NOT_FOUND: i32 = 3;
    /// No server answered.
    pub const UNREACHABLE: i32 = 4;
    /// The server failed (5xx) or asked to retry later (429).
    pub const SERVER_ERROR: i32 = 5;
    /// `watch --exit-on … --timeout …` ended without the condition holding.
    pub const CONDITION_NOT_MET: i32 = 6;
}

/// A CLI failure with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        CliError {
            code: exit::OTHER,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::InvalidUrl(_) => exit::USAGE,
            ClientError::Unreachable { .. } => exit::UNREACHABLE,
            ClientError::Server { status, .. } => match status {
                404 => exit::NOT_FOUND,
                400 | 401 | 403 | 405 | 409 | 413 | 415 | 422 => exit::USAGE,
                429 | 500..=599 => exit::SERVER_ERROR,
                _ => exit::OTHER,
            },
            ClientError::Decode { .. } | ClientError::Setup(_) => exit::OTHER,
        };
        CliError {
            code,
            message: e.to_string(),
        }
    }
}

impl From<tael_core::CoreError> for CliError {
    /// A flag value the CLI could not read.
    fn from(e: tael_core::CoreError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<tael_query::QueryError> for CliError {
    /// A request the CLI could not build from its flags.
    fn from(e: tael_query::QueryError) -> Self {
        CliError::usage(e.to_string())
    }
}

/// A blocking client of one tael server, printing-ready: answers as JSON.
pub struct Client {
    inner: BlockingClient,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, CliError> {
        Ok(Client {
            inner: BlockingClient::new(base)?,
        })
    }

    /// The same client, proving the cluster token on every request.
    pub fn with_bearer(self, token: &str) -> Client {
        Client {
            inner: self.inner.with_bearer(token),
        }
    }

    /// Sends a typed request; the answer as JSON.
    pub fn call<E: Endpoint>(&self, req: &E) -> Result<Value, CliError> {
        Ok(self.inner.call_json(req)?)
    }

    /// `GET` of a route without a request type here (`/healthz`, the
    /// Prometheus API); the answer as JSON.
    pub fn get(&self, path: &str, params: &Params) -> Result<Value, CliError> {
        Ok(self.inner.get_json(path, params)?)
    }
}
