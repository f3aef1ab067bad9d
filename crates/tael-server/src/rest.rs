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
    new_comment_id, CommentsResponse, Endpoint, LogsResponse, MetricCatalogRequest,
    MetricCatalogResponse, MetricsResponse, NewComment, NewCommentResponse, RecentCommentsRequest,
    ServicesRequest, ServicesResponse, StatsRequest, TraceCommentsRequest, TraceResponse,
    TracesResponse,
};
use tael_query::logs::LogQuery;
use tael_query::metrics::MetricQuery;
use tael_query::params::Params;
use tael_query::store::StoreStats;
use tael_query::traces::{TraceLookup, TraceQuery};
use tael_query::Answer;

/// The parameters of a request's query string.
pub(crate) fn params(raw: Option<String>) -> Result<Params, ApiError> {
    Ok(Params::parse(raw.as_deref())?)
}

/// The route's answer over the node's store, as JSON.
pub(crate) async fn answer<R: Answer>(st: &AppState, req: R) -> Result<Json<R::Response>, ApiError>
where
    R::Response: serde::Serialize,
{
    Ok(Json(req.answer(st.store.as_ref()).await?))
}

async fn traces(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TracesResponse>, ApiError> {
    answer(&st, TraceQuery::from_params(&params(raw)?)?).await
}

async fn trace_by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<TraceResponse>, ApiError> {
    answer(&st, TraceLookup::from_params(&id, &params(raw)?)?).await
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

async fn services(State(st): State<AppState>) -> Result<Json<ServicesResponse>, ApiError> {
    answer(&st, ServicesRequest).await
}

async fn trace_comments(
    State(st): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<CommentsResponse>, ApiError> {
    answer(&st, TraceCommentsRequest { trace_id }).await
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
    answer(&st, RecentCommentsRequest::from_params(&params(raw)?)?).await
}

async fn logs(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogsResponse>, ApiError> {
    answer(&st, LogQuery::from_params(&params(raw)?)?).await
}

async fn metrics(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MetricsResponse>, ApiError> {
    answer(&st, MetricQuery::from_params(&params(raw)?)?).await
}

async fn metric_catalog(
    State(st): State<AppState>,
) -> Result<Json<MetricCatalogResponse>, ApiError> {
    answer(&st, MetricCatalogRequest).await
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 `ready` (followed by what waits for the object
/// store, when something does); 503 while starting (`not ready`), while
/// storage refuses writes (a JSON error saying why, e.g. a full disk), or
/// on a query or ingest node while no shard answers.
async fn readyz(State(st): State<AppState>) -> Response {
    if !st.ready.load(std::sync::atomic::Ordering::Acquire) {
        return (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response();
    }
    let (failure, object_store) = match st.store.stats().await {
        Ok(StoreStats {
            storage: Some(s), ..
        }) => (s.failure, s.object_store),
        // A query or ingest node is ready while a shard answers.
        Ok(StoreStats {
            storage: None,
            shards,
        }) if !shards.is_empty() && shards.iter().all(|s| s.error.is_some()) => {
            let why: Vec<String> = shards
                .iter()
                .map(|s| format!("shard {}: {}", s.shard, s.error.as_deref().unwrap_or("")))
                .collect();
            (Some(format!("no shard answers ({})", why.join("; "))), None)
        }
        _ => (None, None),
    };
    match failure {
        Some(why) => ApiError::new(
            tael_core::ErrorCode::Unavailable,
            format!("not ready: storage is failing: {why}"),
        )
        .into_response(),
        // Writes wait for an object store only in its queue: ready, and
        // saying what waits.
        None => match object_store.filter(|u| u.pending > 0) {
            Some(u) => {
                let why = u
                    .error
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default();
                let body = format!(
                    "ready; {} writes wait for the object store {}{why}",
                    u.pending, u.store
                );
                (StatusCode::OK, body).into_response()
            }
            None => (StatusCode::OK, "ready").into_response(),
        },
    }
}

async fn stats(State(st): State<AppState>) -> Json<StoreStats> {
    // Counters never fail the route: a store that cannot tell says null.
    let stats = st.store.stats().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "store stats unavailable");
        StoreStats {
            storage: None,
            shards: Vec::new(),
        }
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
        .route(MetricCatalogRequest::ROUTE, get(metric_catalog))
        .route(StatsRequest::ROUTE, get(stats))
        .route("/api/v1/blobs/{sha256}", get(blob))
        .merge(crate::analytics::routes())
        .merge(crate::jaeger::routes())
        .merge(crate::prometheus::routes())
        .route(
            "/api/v1/write",
            axum::routing::post(crate::remote_write::write),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
}
