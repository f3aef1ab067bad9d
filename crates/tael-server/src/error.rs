//! API errors: an [`ErrorCode`] and a message, rendered as
//! `{"error": "..."}` with the mapped HTTP status (plus `Retry-After` for
//! retryable codes), or as a gRPC status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tael_core::{CoreError, ErrorCode};
use tael_query::QueryError;
use tael_storage::StorageError;

/// Seconds clients are asked to wait before retrying.
pub const RETRY_AFTER_SECS: u32 = 1;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn to_grpc(&self) -> tonic::Status {
        tonic::Status::new(
            tonic::Code::from_i32(self.code.grpc_code()),
            self.message.clone(),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        let code = e.code();
        match code {
            ErrorCode::Internal => tracing::error!(error = %e, "storage error"),
            ErrorCode::Unavailable => tracing::debug!(error = %e, "asking the client to retry"),
            _ => {}
        }
        let message = match code {
            ErrorCode::Internal => "internal storage error".to_string(),
            _ => e.to_string(),
        };
        ApiError::new(code, message)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Storage(s) => s.into(),
            QueryError::Internal(m) => {
                tracing::error!(error = %m, "query failed");
                ApiError::new(ErrorCode::Internal, "internal query error")
            }
            other => ApiError::new(other.code(), other.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "worker task failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    }
}

/// Adds `Retry-After` to retryable errors.
pub fn with_retry_after(code: ErrorCode, mut resp: Response) -> Response {
    if code.is_retryable() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(serde_json::json!({ "error": self.message }));
        with_retry_after(self.code, (self.status(), body).into_response())
    }
}
