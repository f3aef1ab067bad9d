//! Error codes: one small enum that every front end maps to its own status
//! (HTTP status, gRPC code), plus the core crate's error type.

use thiserror::Error;

/// What kind of failure happened, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The caller sent something malformed (HTTP 400, gRPC INVALID_ARGUMENT).
    InvalidArgument,
    /// The thing asked for does not exist (HTTP 404, gRPC NOT_FOUND).
    NotFound,
    /// The request body is too large on the wire or decompressed (HTTP 413,
    /// gRPC RESOURCE_EXHAUSTED).
    PayloadTooLarge,
    /// The content type or encoding is not supported (HTTP 415, gRPC
    /// INVALID_ARGUMENT).
    UnsupportedMediaType,
    /// The server is overloaded; retry later (HTTP 429, gRPC UNAVAILABLE).
    Overloaded,
    /// Storage is unavailable; retry later (HTTP 503, gRPC UNAVAILABLE).
    Unavailable,
    /// The request is well formed but cannot be carried out, e.g. a query
    /// over its memory limit (HTTP 422, gRPC RESOURCE_EXHAUSTED).
    Unprocessable,
    /// A query ran past its time limit (HTTP 503 as Prometheus does, gRPC
    /// DEADLINE_EXCEEDED).
    Timeout,
    /// A bug or an unexpected internal failure (HTTP 500, gRPC INTERNAL).
    Internal,
    /// The caller did not prove who it is, e.g. a missing or wrong cluster
    /// token (HTTP 401, gRPC UNAUTHENTICATED).
    Unauthenticated,
    /// The request conflicts with the state it would change, e.g. WAL
    /// records of an older leadership epoch (HTTP 409, gRPC ABORTED = 10).
    Conflict,
}

impl ErrorCode {
    /// The HTTP status code for this error.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Overloaded => 429,
            ErrorCode::Unavailable | ErrorCode::Timeout => 503,
            ErrorCode::Unprocessable => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Conflict => 409,
        }
    }

    /// The numeric gRPC status code (see `tonic::Code`).
    pub fn grpc_code(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument | ErrorCode::UnsupportedMediaType => 3,
            ErrorCode::NotFound => 5,
            ErrorCode::PayloadTooLarge | ErrorCode::Unprocessable => 8,
            ErrorCode::Timeout => 4,
            ErrorCode::Overloaded | ErrorCode::Unavailable => 14,
            ErrorCode::Internal => 13,
            ErrorCode::Unauthenticated => 16,
            ErrorCode::Conflict => 10,
        }
    }

    /// Whether a client should retry (and be told `Retry-After`).
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Overloaded | ErrorCode::Unavailable)
    }

    /// Every code, for lookups by name.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::InvalidArgument,
        ErrorCode::NotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Overloaded,
        ErrorCode::Unavailable,
        ErrorCode::Unprocessable,
        ErrorCode::Timeout,
        ErrorCode::Internal,
        ErrorCode::Unauthenticated,
        ErrorCode::Conflict,
    ];

    /// The stable name in error bodies (`"code": "invalid_argument"`):
    /// clients match on it, so names never change.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unprocessable => "unprocessable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Conflict => "conflict",
        }
    }

    /// The code of a name from [`ErrorCode::as_str`].
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The code an HTTP status stands for (for answers without a `code`).
    pub fn from_http_status(status: u16) -> ErrorCode {
        match status {
            400 | 405 => ErrorCode::InvalidArgument,
            404 => ErrorCode::NotFound,
            413 => ErrorCode::PayloadTooLarge,
            415 => ErrorCode::UnsupportedMediaType,
            422 => ErrorCode::Unprocessable,
            401 | 403 => ErrorCode::Unauthenticated,
            409 => ErrorCode::Conflict,
            429 => ErrorCode::Overloaded,
            503 => ErrorCode::Unavailable,
            504 => ErrorCode::Timeout,
            _ => ErrorCode::Internal,
        }
    }
}

/// Errors raised by the core crate (parsing and mapping input).
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("{0}")]
    InvalidArgument(String),
}

impl CoreError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::InvalidArgument(_) => ErrorCode::InvalidArgument,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_statuses_map_back() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(c.as_str()), Some(c));
            if c != ErrorCode::Timeout {
                assert_eq!(ErrorCode::from_http_status(c.http_status()), c, "{c:?}");
            }
        }
        assert_eq!(ErrorCode::from_name("nope"), None);
    }
}
