//! API errors: an [`ErrorCode`] and a message, rendered as
//! `{"error": "...", "code": "invalid_argument"}` with the mapped HTTP
//! status (plus `Retry-After` for retryable codes), or as a gRPC status.
//!
//! Internal errors are masked here, in one place: the full message is
//! logged and the caller sees only "internal error". Every other message
//! says what the caller got wrong or why to retry.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tael_core::{CoreError, ErrorCode};
use tael_query::QueryError;
use tael_storage::StorageError;

/// Seconds clients are asked to wait before retrying.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The header (and gRPC metadata key) naming the shard's leader on a
/// write refused by a standby.
pub const LEADER_HEADER: &str = "x-tael-leader";

/// What callers see of an internal error.
pub const INTERNAL_MESSAGE: &str = "internal error";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    /// The full message (masked in answers when `code` is `Internal`).
    pub message: String,
    /// The REST URL of the replica that takes writes (a write refused by
    /// a standby).
    pub leader: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            leader: None,
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

    /// The message a caller may see (logging internal errors once, here).
    pub fn public_message(&self) -> &str {
        match self.code {
            ErrorCode::Internal => {
                tracing::error!(error = %self.message, "internal error");
                INTERNAL_MESSAGE
            }
            ErrorCode::Unavailable | ErrorCode::Overloaded => {
                tracing::debug!(error = %self.message, "asking the client to retry");
                &self.message
            }
            _ => &self.message,
        }
    }

    pub fn to_grpc(&self) -> tonic::Status {
        let mut status = tonic::Status::new(
            tonic::Code::from_i32(self.code.grpc_code()),
            self.public_message(),
        );
        if let Some(v) = self.leader.as_deref().and_then(|l| l.parse().ok()) {
            status.metadata_mut().insert(LEADER_HEADER, v);
        }
        status
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
        let leader = match &e {
            StorageError::NotLeader { leader, .. } => leader.clone(),
            _ => None,
        };
        ApiError {
            leader,
            ..ApiError::new(e.code(), e.to_string())
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::new(e.code(), e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::new(ErrorCode::Internal, format!("worker task failed: {e}"))
    }
}

/// Adds the headers an error answer carries besides its body:
/// `Retry-After` on retryable codes and `x-tael-leader` on a write refused
/// by a standby.
pub fn with_error_headers(err: &ApiError, mut resp: Response) -> Response {
    if err.code.is_retryable() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    if let Some(v) = err
        .leader
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        resp.headers_mut().insert(LEADER_HEADER, v);
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(
            serde_json::json!({ "error": self.public_message(), "code": self.code.as_str() }),
        );
        with_error_headers(&self, (self.status(), body).into_response())
    }
}

/// The stable `code` of an error status the HTTP stack answers by itself
/// (method not allowed, body too large, extractor rejections …).
pub(crate) fn code_of_status(status: u16) -> &'static str {
    match status {
        400 => ErrorCode::InvalidArgument.as_str(),
        401 => ErrorCode::Unauthenticated.as_str(),
        404 => ErrorCode::NotFound.as_str(),
        405 => "method_not_allowed",
        409 => ErrorCode::Conflict.as_str(),
        413 => ErrorCode::PayloadTooLarge.as_str(),
        414 => "uri_too_long",
        415 => ErrorCode::UnsupportedMediaType.as_str(),
        422 => ErrorCode::Unprocessable.as_str(),
        429 => ErrorCode::Overloaded.as_str(),
        431 => "headers_too_large",
        503 => ErrorCode::Unavailable.as_str(),
        504 => ErrorCode::Timeout.as_str(),
        s if s >= 500 => ErrorCode::Internal.as_str(),
        _ => "error",
    }
}

/// Most bytes a request's header lines may take (names, values and their
/// separators). hyper refuses a head larger than its read buffer (~400
/// KiB) only when the head does not arrive within one read, so this bound
/// is checked here, whatever the arrival.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Refuses a request whose headers take more than [`MAX_HEADER_BYTES`]
/// with 431, closing the connection as hyper does after its own refusal;
/// [`json_errors`] (the layer outside) makes the answer JSON.
pub async fn limit_header_bytes(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if bytes > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CONNECTION, HeaderValue::from_static("close"))],
            format!("the request headers take {bytes} bytes, more than {MAX_HEADER_BYTES}"),
        )
            .into_response();
    }
    next.run(req).await
}

/// Error bodies longer than this are not read into the JSON message.
const MAX_PLAIN_ERROR: usize = 4096;

/// Makes every error answer JSON: a 4xx/5xx in plain text or without a
/// body (axum's own 405, body-limit 413 and extractor 400s, a nested
/// service's text) becomes `{"error": <its text, or the status's reason>,
/// "code": ...}` with the same status and headers. Typed answers (JSON,
/// OTLP's protobuf `Status`) pass through.
pub async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    // Only bodies without a type or in plain text: JSON is already JSON,
    // and OTLP/HTTP answers protobuf clients with a protobuf `Status`.
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/"));
    if status.as_u16() < 400 || !plain {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_PLAIN_ERROR).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_lowercase(),
        false => text,
    };
    let body = serde_json::json!({ "error": message, "code": code_of_status(status.as_u16()) });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}
