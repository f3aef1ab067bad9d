//! The CLI's HTTP client for the REST API, and the exit codes it maps
//! failures to.

use serde_json::Value;
use std::fmt;
use std::time::Duration;

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

/// A blocking client of one tael server.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, CliError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "invalid server URL {base:?}: expected http://host:port"
            )));
        }
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::other(format!("cannot build HTTP client: {e}")))?;
        Ok(Client { base, http })
    }

    fn finish(&self, res: reqwest::Result<reqwest::blocking::Response>) -> Result<Value, CliError> {
        let resp = res.map_err(|e| CliError {
            code: exit::UNREACHABLE,
            message: format!("cannot reach the tael server at {}: {e}", self.base),
        })?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if status.is_success() {
            return Ok(body);
        }
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if text.is_empty() {
                    status.to_string()
                } else {
                    text
                }
            });
        let code = match status.as_u16() {
            404 => exit::NOT_FOUND,
            400 | 405 | 413 | 415 | 422 => exit::USAGE,
            429 | 500..=599 => exit::SERVER_ERROR,
            _ => exit::OTHER,
        };
        Err(CliError {
            code,
            message: format!("server answered {}: {message}", status.as_u16()),
        })
    }

    pub fn get(&self, path: &str, query: &[(String, String)]) -> Result<Value, CliError> {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .send();
        self.finish(res)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send();
        self.finish(res)
    }
}
