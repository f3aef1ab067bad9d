//! The REST API on :7701: tael 0.5 routes, envelopes and status codes
//! (traces, trace by id, services, comments, logs, metrics, health), with
//! every caller mistake answered by a 4xx `{"error": "..."}`.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tael_core::duration::{parse_duration_ms_bare_ms, parse_duration_ns};
use tael_core::model::TraceComment;
use tael_query::logs::LogQuery;
use tael_query::metrics::MetricQuery;
use tael_query::traces::{valid_trace_id, TraceQuery};

/// Largest `limit` a list route accepts.
pub const MAX_LIMIT: usize = 100_000;

/// Query-string parameters in order (repeated keys kept).
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<String>) -> Result<Params, ApiError> {
        let raw = raw.unwrap_or_default();
        serde_urlencoded::from_str::<Vec<(String, String)>>(&raw)
            .map(Params)
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }

    pub(crate) fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "invalid limit {v:?}: expected a whole number from 1 to {MAX_LIMIT}"
                ))),
            },
        }
    }

    /// `last` → the earliest timestamp (ns) to include.
    fn since(&self) -> Result<Option<i64>, ApiError> {
        match self.get("last") {
            None => Ok(None),
            Some(v) => {
                let ns = parse_duration_ns(v)
                    .map_err(|e| ApiError::bad_request(format!("last: {e}")))?;
                Ok(Some(tael_core::time::now_ns().saturating_sub(ns)))
            }
        }
    }

    fn duration_ms(&self, key: &str) -> Result<Option<f64>, ApiError> {
        self.get(key)
            .map(|v| {
                parse_duration_ms_bare_ms(v)
                    .map_err(|e| ApiError::bad_request(format!("{key}: {e}")))
            })
            .transpose()
    }
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}

async fn traces(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let mut attributes = Vec::new();
    for (k, v) in &p.0 {
        if k == "attribute" {
            match v.split_once('=') {
                Some((key, val)) if !key.is_empty() => {
                    attributes.push((key.to_string(), val.to_string()))
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid attribute filter {v:?}: expected key=value"
                    )))
                }
            }
        }
    }
    let q = TraceQuery {
        service: p.string("service"),
        operation: p.string("operation"),
        min_duration_ms: p.duration_ms("min_duration_ms")?,
        max_duration_ms: p.duration_ms("max_duration_ms")?,
        status: p.string("status"),
        since_ns: p.since()?,
        attributes,
        text: p.string("text"),
        limit: p.limit(100)?,
    }
    .validate()?;
    let engine = st.engine.clone();
    let spans = blocking(move || {
        let spans = tael_query::traces::search_spans(&engine, &q)?;
        let matches = match &q.text {
            Some(t) => tael_query::textsearch::span_matches(&engine, t, &spans)?,
            None => Vec::new(),
        };
        with_matches(&spans, matches)
    })
    .await?;
    Ok(Json(json!({ "spans": spans })))
}

/// The rows as JSON, each with the `match` of a text search (when there
/// is one).
fn with_matches<T: serde::Serialize>(
    rows: &[T],
    matches: Vec<Option<tael_query::textsearch::TextMatch>>,
) -> Result<Vec<Value>, ApiError> {
    let mut matches = matches.into_iter();
    rows.iter()
        .map(|r| {
            let mut v = serde_json::to_value(r)
                .map_err(|e| ApiError::new(tael_core::ErrorCode::Internal, e.to_string()))?;
            if let (Some(Some(m)), Value::Object(o)) = (matches.next(), &mut v) {
                o.insert(
                    "match".into(),
                    serde_json::to_value(m).map_err(|e| {
                        ApiError::new(tael_core::ErrorCode::Internal, e.to_string())
                    })?,
                );
            }
            Ok(v)
        })
        .collect()
}

/// `with_payloads=true|1`: payloads moved to the blob store are put back.
fn with_payloads(p: &Params) -> Result<bool, ApiError> {
    match p.get("with_payloads") {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "with_payloads={other:?}: expected true or false"
        ))),
    }
}

async fn trace_by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let inline = with_payloads(&Params::parse(raw)?)?;
    let engine = st.engine.clone();
    let lookup = id.clone();
    let spans = blocking(move || {
        let mut spans = tael_query::traces::get_trace(&engine, &lookup)?;
        if inline {
            tael_query::payloads::inline_spans(&engine, &mut spans);
        }
        Ok(spans)
    })
    .await?;
    if spans.is_empty() {
        return Err(ApiError::not_found("trace not found"));
    }
    Ok(Json(
        json!({ "trace_id": id.to_ascii_lowercase(), "span_count": spans.len(), "spans": spans }),
    ))
}

/// `GET /api/v1/blobs/{sha256}`: a stored payload, as text when it is
/// UTF-8; 400 for a malformed hash, 404 when absent.
async fn blob(
    State(st): State<AppState>,
    Path(hash): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let h = tael_storage::blobs::parse_hash(&hash).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid sha256 {hash:?}: expected 64 hex characters"
        ))
    })?;
    let engine = st.engine.clone();
    let content = blocking(move || Ok(engine.blobs().get(&h)?)).await?;
    let bytes = content.ok_or_else(|| ApiError::not_found("blob not found"))?;
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

async fn services(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let engine = st.engine.clone();
    let services = blocking(move || Ok(tael_query::services::list_services(&engine))).await?;
    Ok(Json(json!({ "services": services })))
}

pub(crate) fn check_trace_id(id: &str) -> Result<String, ApiError> {
    if valid_trace_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid trace id {id:?}: expected 32 hex characters"
        )))
    }
}

async fn trace_comments(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = check_trace_id(&id)?;
    let comments = st.engine.comments().for_trace(&id);
    Ok(Json(
        json!({ "count": comments.len(), "comments": comments }),
    ))
}

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
    let id = check_trace_id(&id)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let text = v
        .get("body")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("\"body\" is required and must be a non-empty string")
        })?;
    let opt_str = |key: &str| -> Result<Option<String>, ApiError> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!("\"{key}\" must be a string"))),
        }
    };
    let span_id = opt_str("span_id")?;
    if let Some(s) = &span_id {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "invalid span_id {s:?}: expected 16 hex characters"
            )));
        }
    }
    let comment = TraceComment {
        id: new_comment_id(),
        trace_id: id,
        span_id: span_id.map(|s| s.to_ascii_lowercase()),
        author: opt_str("author")?
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "anonymous".into()),
        body: text.to_string(),
        created_at: tael_core::time::format_rfc3339(tael_core::time::now_ns()),
    };
    let engine = st.engine.clone();
    let saved = blocking(move || Ok(engine.comments().add(comment)?)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "comment": saved }))).into_response())
}

async fn all_comments(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let comments = st.engine.comments().recent(p.limit(1000)?);
    Ok(Json(
        json!({ "count": comments.len(), "comments": comments }),
    ))
}

async fn logs(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let q = LogQuery {
        service: p.string("service"),
        severity: p.string("severity"),
        body_contains: p.string("body_contains"),
        trace_id: p.string("trace_id"),
        text: p.string("text"),
        since_ns: p.since()?,
        limit: p.limit(100)?,
    }
    .validate()?;
    let inline = with_payloads(&p)?;
    let engine = st.engine.clone();
    let logs = blocking(move || {
        let mut logs = tael_query::logs::search_logs(&engine, &q)?;
        let matches = match &q.text {
            Some(t) => tael_query::textsearch::log_matches(&engine, t, &logs)?,
            None => Vec::new(),
        };
        if inline {
            tael_query::payloads::inline_logs(&engine, &mut logs);
        }
        with_matches(&logs, matches)
    })
    .await?;
    Ok(Json(json!({ "count": logs.len(), "logs": logs })))
}

async fn metrics(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let q = MetricQuery {
        service: p.string("service"),
        name: p.string("name"),
        metric_type: p.string("metric_type"),
        since_ns: p.since()?,
        limit: p.limit(500)?,
        ..Default::default()
    }
    .validate()?;
    let engine = st.engine.clone();
    let metrics = blocking(move || Ok(tael_query::metrics::search_metrics(&engine, &q)?)).await?;
    Ok(Json(json!({ "count": metrics.len(), "metrics": metrics })))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(st): State<AppState>) -> Response {
    if st.ready.load(std::sync::atomic::Ordering::Acquire) {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

async fn stats(State(st): State<AppState>) -> Json<Value> {
    let engine = st.engine.clone();
    let s = tokio::task::spawn_blocking(move || engine.stats())
        .await
        .ok();
    Json(json!({ "storage": s }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// The REST router (OTLP/HTTP routes are merged in by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/traces", get(traces))
        .route("/api/v1/traces/{trace_id}", get(trace_by_id))
        .route(
            "/api/v1/traces/{trace_id}/comments",
            get(trace_comments).post(add_comment),
        )
        .route("/api/v1/comments", get(all_comments))
        .route("/api/v1/services", get(services))
        .route("/api/v1/logs", get(logs))
        .route("/api/v1/metrics", get(metrics))
        .route("/api/v1/stats", get(stats))
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
