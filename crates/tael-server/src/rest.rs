//! The REST API on :7701: tael 0.5 routes, envelopes and status codes
//! (traces, trace by id, services, comments, logs, metrics, blobs, stats,
//! health). Each handler parses its request with the request type's codec
//! (`tael_query::api`), calls the node's [`Store`] or [`Ingest`], and
//! answers with the route's envelope; every caller mistake is a 4xx
//! `{"error": "...", "code": "..."}`.
//!
//! [`Store`]: tael_query::Store
//! [`Ingest`]: tael_query::Ingest

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tael_query::api::{
    CommentsResponse, Endpoint, LogsResponse, MetricsResponse, NewComment, NewCommentResponse,
    RecentCommentsRequest, ServicesRequest, StatsRequest, TraceCommentsRequest, TraceResponse,
    TracesResponse,
};
use tael_query::logs::LogQuery;
use tael_query::metrics::MetricQuery;
use tael_query::params::Params;
use tael_query::store::StoreStats;
use tael_query::traces::{checked_trace_id, TraceLookup, TraceQuery};

/// The parameters of a request's query string.
pub(crate) fn params(raw: Option<String>) -> Result<Params, ApiError> {
    Ok(Params::parse(raw.as_deref())?)
}

async fn traces(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TracesResponse>, ApiError> {
    let q = TraceQuery::from_params(&params(raw)?)?;
    Ok(Json(TracesResponse {
        spans: st.store.search_spans(q).await?,
    }))
}

async fn trace_by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TraceResponse>, ApiError> {
    let lookup = TraceLookup::from_params(&id, &params(raw)?)?;
    let trace_id = lookup.trace_id.clone();
    let spans = st.store.get_trace(lookup).await?;
    if spans.is_empty() {
        return Err(ApiError::not_found("trace not found"));
    }
    Ok(Json(TraceResponse {
        trace_id,
        span_count: spans.len(),
        spans,
    }))
}

/// `GET /api/v1/blobs/{sha256}`: a stored payload, as text when it is
/// UTF-8; 400 for a malformed hash, 404 when absent.
async fn blob(
    State(st): State<AppState>,
    Path(hash): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let h = tael_storage::blobs::parse_hash(&hash).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid sha256 {hash:?}: expected 64 hex characters"
        ))
    })?;
    let bytes = st
        .store
        .blob(h)
        .await?
        .ok_or_else(|| ApiError::not_found("blob not found"))?;
    let ctype = match std::str::from_utf8(&bytes) {
        Ok(_) => "text/plain; charset=utf-8",
        Err(_) => "application/octet-stream",
    };
    // The content is the client's: never let a browser sniff it as HTML.
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, ctype),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

async fn services(
    State(st): State<AppState>,
) -> Result<Json<tael_query::api::ServicesResponse>, ApiError> {
    Ok(Json(tael_query::api::ServicesResponse {
        services: tael_query::services::services(st.store.as_ref()).await?,
    }))
}

async fn trace_comments(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CommentsResponse>, ApiError> {
    let id = checked_trace_id(&id, "trace id")?;
    Ok(Json(CommentsResponse::new(
        st.store.trace_comments(id).await?,
    )))
}

/// A random (version 4) UUID.
fn new_comment_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn add_comment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let comment = NewComment::from_json(&id, &body)?
        .into_comment(new_comment_id(), tael_core::time::now_ns());
    let saved = st.ingest.add_comment(comment).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewCommentResponse { comment: saved }),
    )
        .into_response())
}

async fn all_comments(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CommentsResponse>, ApiError> {
    let req = RecentCommentsRequest::from_params(&params(raw)?)?;
    Ok(Json(CommentsResponse::new(
        st.store.recent_comments(req.limit).await?,
    )))
}

async fn logs(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogsResponse>, ApiError> {
    let q = LogQuery::from_params(&params(raw)?)?;
    let logs = st.store.search_logs(q).await?;
    Ok(Json(LogsResponse {
        count: logs.len(),
        logs,
    }))
}

async fn metrics(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MetricsResponse>, ApiError> {
    let q = MetricQuery::from_params(&params(raw)?)?;
    let metrics = st.store.search_metrics(q).await?;
    Ok(Json(MetricsResponse {
        count: metrics.len(),
        metrics,
    }))
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn stats(State(st): State<AppState>) -> Json<StoreStats> {
    // Counters never fail the route: a store that cannot tell says null.
    let stats = st.store.stats().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "store stats unavailable");
        StoreStats { storage: None }
    });
    Json(stats)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// The REST router (OTLP/HTTP routes are merged in by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(TraceQuery::ROUTE, get(traces))
        .route(TraceLookup::ROUTE, get(trace_by_id))
        .route(
            TraceCommentsRequest::ROUTE,
            get(trace_comments).post(add_comment),
        )
        .route(RecentCommentsRequest::ROUTE, get(all_comments))
        .route(ServicesRequest::ROUTE, get(services))
        .route(LogQuery::ROUTE, get(logs))
        .route(MetricQuery::ROUTE, get(metrics))
        .route(StatsRequest::ROUTE, get(stats))
        .route("/api/v1/blobs/{sha256}", get(blob))
        .merge(crate::analytics::routes())
        .merge(crate::prometheus::routes())
        .route(
            "/api/v1/write",
            axum::routing::post(crate::remote_write::write),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
}
