//! The routes a query or ingest node uses to reach a shard, under
//! `/internal/v1/`. When the node has a cluster token they need
//! `Authorization: Bearer <TAEL_CLUSTER_TOKEN>` like the cluster's other
//! internal routes; a node without one serves them openly, as it serves
//! the REST API (they read and write nothing the public routes do not).
//!
//! - `POST /internal/v1/store`: one `Store` call, the wire format of
//!   `tael_query::store::wire` (JSON in; JSON, or an Arrow IPC stream for
//!   a scan, out).
//! - `POST /internal/v1/export/{spans|logs|metrics}`: one OTLP export as
//!   protobuf (not compressed), stored through the node's `Ingest`; the
//!   answer is its `ExportOutcome` as JSON. A standby refuses it with 503
//!   and `x-tael-leader`, as it refuses OTLP.
//! - `POST /internal/v1/comments`: one comment (the `TraceComment` JSON),
//!   stored through the node's `Ingest`; the answer is the comment.

use crate::cluster::check_bearer;
use crate::error::ApiError;
use crate::ingest::{export, Encoding};
use crate::otlp_http::read_body;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tael_core::model::TraceComment;
use tael_core::Signal;
use tael_query::store::wire::{answer_call, StoreCall, STORE_ROUTE};

/// The route of an export (`{signal}`: `spans`, `logs` or `metrics`).
pub const EXPORT_ROUTE: &str = "/internal/v1/export/{signal}";
/// The route of a comment.
pub const COMMENT_ROUTE: &str = "/internal/v1/comments";

/// Largest store call body (calls are small: filters and windows).
const MAX_CALL_BYTES: usize = 1 << 20;

fn check_token(st: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match &st.cluster_token {
        Some(token) => check_bearer(headers, token),
        None => Ok(()),
    }
}

/// A JSON body of a caller with the token (`what` names it in errors).
async fn json_body<T: serde::de::DeserializeOwned>(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
    what: &str,
) -> Result<T, ApiError> {
    check_token(st, headers)?;
    let body = read_body(body, MAX_CALL_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}

async fn store_call(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let call: StoreCall = json_body(&st, &headers, body, "store call").await?;
    let (content_type, bytes) = answer_call(st.store.as_ref(), call).await?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        bytes,
    )
        .into_response())
}

async fn export_call(
    State(st): State<AppState>,
    Path(signal): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    check_token(&st, &headers)?;
    let signal = Signal::ALL
        .into_iter()
        .find(|s| s.name() == signal)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no signal {signal:?}: expected spans, logs or metrics"
            ))
        })?;
    let body = read_body(body, st.max_decompressed_bytes).await?;
    let outcome = export(&st, signal, Encoding::Protobuf, body).await?;
    Ok(Json(outcome).into_response())
}

async fn comment_call(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let comment: TraceComment = json_body(&st, &headers, body, "comment").await?;
    Ok(Json(st.ingest.add_comment(comment).await?).into_response())
}

/// The internal routes of the query and ingest tiers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(STORE_ROUTE, post(store_call))
        .route(EXPORT_ROUTE, post(export_call))
        .route(COMMENT_ROUTE, post(comment_call))
}
