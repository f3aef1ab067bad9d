//! The Prometheus HTTP query API on :7701 (`/api/v1/query`, `query_range`,
//! `series`, `labels`, `label/<name>/values`, `metadata`,
//! `status/buildinfo`), GET or form-encoded POST, answering in Prometheus's
//! envelope (`{"status","data"}` or `{"status":"error","errorType","error"}`
//! with 400 bad_data, 422 execution, 503 timeout) so promtool and Grafana's
//! Prometheus data source work; and tael's `/api/v1/metrics/query`.
//! Times are RFC 3339 or Unix seconds; steps a duration or seconds.

use crate::error::{with_error_headers, ApiError};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tael_core::duration::parse_duration_ns;
use tael_core::ErrorCode;
use tael_query::answer::{labels_json, parse_step_ms, time_param};
use tael_query::api::{Endpoint, MetricsQueryRequest, MetricsQueryResponse};
use tael_query::promql::value::{format_value, QueryResult, SeriesRange};

/// Default window of series/labels lookups without `start`.
const DEFAULT_LOOKUP_MS: i64 = 24 * 3_600_000;

struct PromError(ApiError);

impl From<ApiError> for PromError {
    fn from(e: ApiError) -> Self {
        PromError(e)
    }
}

impl From<tael_query::QueryError> for PromError {
    fn from(e: tael_query::QueryError) -> Self {
        PromError(e.into())
    }
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let kind = match self.0.code {
            ErrorCode::InvalidArgument => "bad_data",
            ErrorCode::Unprocessable => "execution",
            ErrorCode::Timeout => "timeout",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Unavailable | ErrorCode::Overloaded => "unavailable",
            _ => "internal",
        };
        let body =
            json!({ "status": "error", "errorType": kind, "error": self.0.public_message() });
        with_error_headers(&self.0, (self.0.status(), Json(body)).into_response())
    }
}

type PromResult = Result<Json<Value>, PromError>;

fn bad(msg: impl Into<String>) -> PromError {
    PromError(ApiError::bad_request(msg))
}

/// Parameters from the query string and a form body, in order.
struct Form(Vec<(String, String)>);

impl Form {
    /// A parameter the request must have.
    fn required(&self, k: &str) -> Result<&str, PromError> {
        self.get(k)
            .ok_or_else(|| bad(format!("invalid parameter \"{k}\": {k} is required")))
    }

    fn new(raw: Option<String>, headers: &HeaderMap, body: &[u8]) -> Result<Form, PromError> {
        let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw.unwrap_or_default())
            .map_err(|e| bad(format!("invalid query string: {e}")))?;
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form && !body.is_empty() {
            let b: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| bad(format!("invalid form body: {e}")))?;
            pairs.extend(b);
        }
        Ok(Form(pairs))
    }

    /// The first non-empty value (Go's `FormValue`).
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The `timeout` parameter (capped by the default query time limit).
    fn timeout(&self) -> Result<std::time::Duration, PromError> {
        let max = tael_query::promql::DEFAULT_TIMEOUT;
        match self.get("timeout") {
            None => Ok(max),
            Some(v) => parse_duration_ns(v)
                .ok()
                .filter(|ns| *ns > 0)
                .map(|ns| std::time::Duration::from_nanos(ns as u64).min(max))
                .ok_or_else(|| {
                    bad(format!(
                        "invalid parameter \"timeout\": cannot parse {v:?} to a valid duration"
                    ))
                }),
        }
    }

    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn time(&self, k: &str, default: i64) -> Result<i64, PromError> {
        Ok(time_param(k, self.get(k), default)?)
    }
}

fn parse_step(v: &str) -> Result<i64, PromError> {
    Ok(parse_step_ms(v)?)
}

fn now_ms() -> i64 {
    tael_core::time::now_ns() / 1_000_000
}

fn secs(t_ms: i64) -> Value {
    json!(t_ms as f64 / 1000.0)
}

fn matrix_json(m: &[SeriesRange]) -> Value {
    Value::Array(
        m.iter()
            .map(|s| {
                json!({
                    "metric": labels_json(&s.labels),
                    "values": s.points.iter().map(|(t, v)| json!([secs(*t), format_value(*v)])).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn result_json(r: &QueryResult) -> Value {
    match r {
        QueryResult::Vector { time_ms, samples } => json!({
            "resultType": "vector",
            "result": samples.iter().map(|s| json!({
                "metric": labels_json(&s.labels),
                "value": [secs(*time_ms), format_value(s.value)],
            })).collect::<Vec<_>>(),
        }),
        QueryResult::Scalar { time_ms, value } => {
            json!({ "resultType": "scalar", "result": [secs(*time_ms), format_value(*value)] })
        }
        QueryResult::String { time_ms, value } => {
            json!({ "resultType": "string", "result": [secs(*time_ms), value] })
        }
        QueryResult::Matrix(m) => json!({ "resultType": "matrix", "result": matrix_json(m) }),
    }
}

fn success(data: Value) -> PromResult {
    Ok(Json(json!({ "status": "success", "data": data })))
}

async fn query(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PromResult {
    let f = Form::new(raw, &headers, &body)?;
    let q = f.required("query")?.to_string();
    let t = f.time("time", now_ms())?;
    let timeout = f.timeout()?;
    let r = tael_query::promql::instant_query(st.store.as_ref(), &q, t, timeout).await?;
    success(result_json(&r))
}

async fn query_range(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PromResult {
    let f = Form::new(raw, &headers, &body)?;
    let q = f.required("query")?.to_string();
    f.required("start")?;
    f.required("end")?;
    let (start, end) = (f.time("start", 0)?, f.time("end", 0)?);
    let step = parse_step(f.required("step")?)?;
    let timeout = f.timeout()?;
    let r =
        tael_query::promql::range_query(st.store.as_ref(), &q, start, end, step, timeout).await?;
    success(result_json(&r))
}

fn lookup_window(f: &Form) -> Result<(i64, i64), PromError> {
    let end = f.time("end", now_ms())?;
    let start = f.time("start", end.saturating_sub(DEFAULT_LOOKUP_MS))?;
    Ok((start, end))
}

async fn series(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PromResult {
    let f = Form::new(raw, &headers, &body)?;
    let matches = f.all("match[]");
    if matches.is_empty() {
        return Err(bad("no match[] parameter provided"));
    }
    let (start, end) = lookup_window(&f)?;
    let r = tael_query::promql::series(st.store.as_ref(), &matches, start, end).await?;
    success(Value::Array(r.iter().map(labels_json).collect()))
}

async fn labels(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> PromResult {
    let f = Form::new(raw, &headers, &body)?;
    let matches = f.all("match[]");
    let (start, end) = lookup_window(&f)?;
    let r = tael_query::promql::label_names(st.store.as_ref(), &matches, start, end).await?;
    success(json!(r))
}

async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> PromResult {
    let f = Form::new(raw, &HeaderMap::new(), &[])?;
    let matches = f.all("match[]");
    let (start, end) = lookup_window(&f)?;
    let r =
        tael_query::promql::label_values(st.store.as_ref(), &name, &matches, start, end).await?;
    success(json!(r))
}

async fn metadata(State(st): State<AppState>, RawQuery(raw): RawQuery) -> PromResult {
    let f = Form::new(raw, &HeaderMap::new(), &[])?;
    let only = f.get("metric").map(str::to_string);
    let r = tael_query::promql::metadata(st.store.as_ref()).await?;
    let mut out = Map::new();
    for (name, (kind, unit)) in r {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        out.insert(name, json!([{ "type": kind, "help": "", "unit": unit }]));
    }
    success(Value::Object(out))
}

async fn buildinfo() -> PromResult {
    success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "application": "tael",
    }))
}

/// tael 0.5's `/api/v1/metrics/query`: `query` at now (or `time`), or over
/// `start`/`end`/`step`; `{"query","series","count"}`.
async fn metrics_query(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<MetricsQueryResponse>, ApiError> {
    let req = MetricsQueryRequest::from_params(&crate::rest::params(raw)?)?;
    crate::rest::answer(&st, req).await
}

/// The Prometheus-compatible routes (merged into the REST router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route(MetricsQueryRequest::ROUTE, get(metrics_query))
}
