//! Tool errors: what the agent did wrong (or what failed), with a stable
//! `code`, the `field` at fault and a `hint` saying what to try next.
//! They are tool results with `isError: true`, so the model reads them
//! and can correct its call; JSON-RPC errors are left to the protocol.

use crate::backend::BackendError;
use serde_json::{json, Value};
use tael_core::ErrorCode;

/// The duration forms every `last`/`baseline` parameter accepts.
pub const DURATION_FORMS: &str =
    "durations are a number and a unit: 500ms, 90s, 15m, 1h, 2d, 1w (combined: 1h30m)";

#[derive(Debug, Clone)]
pub struct ToolError {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl ToolError {
    /// A bad parameter.
    pub fn invalid(field: &str, message: String, hint: String) -> ToolError {
        ToolError {
            code: ErrorCode::InvalidArgument,
            field: Some(field.to_string()),
            message,
            hint: Some(hint),
        }
    }

    pub fn not_found(message: String, hint: String) -> ToolError {
        ToolError {
            code: ErrorCode::NotFound,
            field: None,
            message,
            hint: Some(hint),
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> ToolError {
        self.hint = Some(hint.into());
        self
    }

    /// The structured error the agent reads.
    pub fn to_json(&self) -> Value {
        json!({ "error": {
            "code": self.code.as_str(),
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }})
    }
}

/// A request the route's codec refused.
impl From<tael_query::QueryError> for ToolError {
    fn from(e: tael_query::QueryError) -> Self {
        ToolError::from(BackendError::from(e))
    }
}

impl From<BackendError> for ToolError {
    fn from(e: BackendError) -> Self {
        let hint = match e.code {
            ErrorCode::InvalidArgument if e.message.contains("duration") => {
                Some(DURATION_FORMS.to_string())
            }
            ErrorCode::Timeout | ErrorCode::Unprocessable => {
                Some("narrow the query: a shorter window, a service filter or a lower limit".into())
            }
            ErrorCode::Unavailable | ErrorCode::Overloaded => {
                Some("the server is busy or unreachable; retry in a few seconds".into())
            }
            _ => None,
        };
        ToolError {
            code: e.code,
            field: None,
            message: e.message,
            hint,
        }
    }
}
