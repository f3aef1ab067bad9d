//! OTLP/HTTP: `POST /v1/traces`, `/v1/logs`, `/v1/metrics` with
//! `application/x-protobuf` or `application/json` bodies, optionally
//! `Content-Encoding: gzip`. The response uses the request's encoding; errors
//! are a `google.rpc.Status` in that encoding, with 400/413/415/429/503 as
//! the OTLP/HTTP spec asks (and `Retry-After` on the retryable ones).

use crate::error::{with_error_headers, ApiError};
use crate::ingest::{self, gunzip_limited, Encoding};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prost::Message;
use tael_core::{ErrorCode, Signal};
use tael_query::store::ExportOutcome;

/// `google.rpc.Status` (the OTLP/HTTP error body).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        other => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported content type {other:?}: use application/x-protobuf or application/json"),
        )),
    }
}

fn error_response(enc: Encoding, err: ApiError) -> Response {
    let status = err.status();
    let message = err.public_message().to_string();
    let resp = match enc {
        Encoding::Json => (
            status,
            axum::Json(serde_json::json!({
                "code": err.code.grpc_code(),
                "message": message,
                "error": message,
            })),
        )
            .into_response(),
        Encoding::Protobuf => {
            let body = RpcStatus {
                code: err.code.grpc_code(),
                message,
            }
            .encode_to_vec();
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                )],
                body,
            )
                .into_response()
        }
    };
    with_error_headers(&err, resp)
}

fn success_response(enc: Encoding, kind: Signal, out: &ExportOutcome) -> Response {
    match enc {
        Encoding::Json => {
            let body = if out.rejected > 0 {
                serde_json::json!({ "partialSuccess": {
                    kind.rejected_field(): out.rejected.to_string(),
                    "errorMessage": out.error_message,
                }})
            } else {
                serde_json::json!({})
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Encoding::Protobuf => {
            let body = crate::grpc::export_response(out);
            (
                StatusCode::OK,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-protobuf"),
                )],
                body,
            )
                .into_response()
        }
    }
}

async fn handle(state: AppState, kind: Signal, headers: HeaderMap, body: Body) -> Response {
    let enc = match encoding_of(&headers) {
        Ok(e) => e,
        Err(e) => return error_response(Encoding::Json, e),
    };
    match export(&state, kind, enc, &headers, body).await {
        Ok(out) => success_response(enc, kind, &out),
        Err(e) => error_response(enc, e),
    }
}

/// A request body of at most `limit` bytes (413 beyond).
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_big = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_big {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body exceeds the limit of {limit} bytes"),
            )
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"))
        }
    })
}

async fn export(
    state: &AppState,
    kind: Signal,
    enc: Encoding,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportOutcome, ApiError> {
    let raw = read_body(body, state.max_request_bytes).await?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let body: Bytes = match encoding.as_str() {
        "" | "identity" => raw,
        "gzip" | "x-gzip" => Bytes::from(gunzip_limited(&raw, state.max_decompressed_bytes)?),
        other => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("unsupported content encoding {other:?}: use gzip or none"),
            ))
        }
    };
    ingest::export(state, kind, enc, body).await
}

pub async fn traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle(state, Signal::Spans, headers, body).await
}

pub async fn logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle(state, Signal::Logs, headers, body).await
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    handle(state, Signal::Metrics, headers, body).await
}

/// The OTLP/HTTP routes (mounted on the OTLP/HTTP and the REST listeners).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::post;
    axum::Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
}
