//! Jaeger's v1 JSON API (`/api/*`), as Grafana's Jaeger data source (in
//! its default mode) and `jaeger-mcp` call it: services, operations,
//! trace search, trace by id and dependencies.
//!
//! Every answer is Jaeger's envelope `{"data", "total", "limit",
//! "offset", "errors"}`; an error is the same envelope with `data: null`
//! and `errors: [{"code", "msg"}]` under the matching HTTP status. Times
//! are Unix µs (`start`, `end`, span `startTime`, `duration`), except
//! `/api/dependencies`, whose `endTs` and `lookback` are ms.
//!
//! Trace JSON (Jaeger's UI model): `{traceID, spans, processes, warnings}`
//! with each span `{traceID, spanID, flags, operationName, references,
//! startTime, duration, tags, logs, processID, warnings}`. The span's
//! resource is its process (`p1`, `p2` … per trace, `service.name` as
//! `serviceName`, the other resource attributes as tags). The parent is a
//! `CHILD_OF` reference and links are `FOLLOWS_FROM`; span kind, status
//! and scope become the tags `span.kind`, `otel.status_code`,
//! `otel.status_description`, `error`, `w3c.tracestate`,
//! `otel.scope.name` and `otel.scope.version`; an event is a log whose
//! first field is `event` = its name.

use super::query::{self, TraceSearch};
use crate::error::{with_error_headers, ApiError};
use crate::rest::params;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use tael_core::model::{Attrs, Span};
use tael_core::otlp::from_model::group_of;
use tael_query::params::Params;
use tael_query::window::TimeWindow;

/// Searches without `start` look back this far (Jaeger's default).
const DEFAULT_LOOKBACK_NS: i64 = 2 * 86_400 * 1_000_000_000;
/// Traces a search returns without `limit` (Jaeger's default).
const DEFAULT_LIMIT: usize = 100;

/// An error in Jaeger's v1 envelope.
pub struct V1Error(pub ApiError);

impl<E: Into<ApiError>> From<E> for V1Error {
    fn from(e: E) -> Self {
        V1Error(e.into())
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{ "code": status.as_u16(), "msg": self.0.public_message() }],
        });
        with_error_headers(&self.0, (status, Json(body)).into_response())
    }
}

type V1Result = Result<Json<Value>, V1Error>;

fn envelope(data: Value, total: usize) -> Json<Value> {
    Json(json!({ "data": data, "total": total, "limit": 0, "offset": 0, "errors": null }))
}

fn bad(msg: impl Into<String>) -> V1Error {
    V1Error(ApiError::bad_request(msg))
}

/// A whole-number parameter in `unit` (`per_unit` ns each) as ns.
fn scaled(p: &Params, key: &str, per_unit: i64, unit: &str) -> Result<Option<i64>, V1Error> {
    p.get(key)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(per_unit))
                .ok_or_else(|| {
                    bad(format!(
                        "unable to parse param '{key}': {v:?} is not {unit}"
                    ))
                })
        })
        .transpose()
}

/// A Unix-µs parameter as ns.
fn micros(p: &Params, key: &str) -> Result<Option<i64>, V1Error> {
    scaled(p, key, 1000, "Unix microseconds")
}

/// A Go-style duration parameter (`100ms`, `1.5s`) as ns.
fn duration(p: &Params, key: &str) -> Result<Option<i64>, V1Error> {
    p.get(key)
        .map(|v| {
            tael_core::duration::parse_duration_ns(v)
                .map_err(|e| bad(format!("unable to parse param '{key}': {e}")))
        })
        .transpose()
}

/// `tags` (a JSON map of strings) and the legacy repeated `tag=k:v`.
fn tags(p: &Params) -> Result<Vec<(String, String)>, V1Error> {
    let mut out = Vec::new();
    for raw in p.all("tags").filter(|v| !v.is_empty()) {
        let map: Map<String, Value> = serde_json::from_str(raw).map_err(|e| {
            bad(format!(
                "malformed 'tags' parameter, expecting a JSON map of strings: {e}"
            ))
        })?;
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.push((k, v));
        }
    }
    for t in p.all("tag") {
        match t.split_once(':') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => {
                return Err(bad(format!(
                    "malformed 'tag' parameter {t:?}, expecting key:value"
                )))
            }
        }
    }
    Ok(out)
}

/// `/api/traces` parameters as a search (`service` required).
pub fn search_from_params(p: &Params, now_ns: i64) -> Result<TraceSearch, V1Error> {
    let service = p
        .string("service")
        .ok_or_else(|| bad("parameter 'service' is required"))?;
    let end_ns = micros(p, "end")?.unwrap_or(now_ns);
    let start_ns = micros(p, "start")?.unwrap_or(end_ns - DEFAULT_LOOKBACK_NS);
    let min = duration(p, "minDuration")?;
    let max = duration(p, "maxDuration")?;
    if let (Some(a), Some(b)) = (min, max) {
        if b < a {
            return Err(bad("'maxDuration' should be greater than 'minDuration'"));
        }
    }
    if end_ns < start_ns {
        return Err(bad("'end' should be after 'start'"));
    }
    Ok(TraceSearch {
        service: Some(service),
        operation: p.string("operation"),
        tags: tags(p)?,
        start_ns,
        end_ns: end_ns.saturating_add(1),
        min_duration_ns: min,
        max_duration_ns: max,
        limit: p.limit(DEFAULT_LIMIT)?,
    })
}

/// One typed attribute as a Jaeger tag.
fn tag(key: &str, v: &Value) -> Value {
    let (ty, value) = match v {
        Value::String(s) => ("string", json!(s)),
        Value::Bool(b) => ("bool", json!(b)),
        Value::Number(n) if !n.is_f64() => ("int64", json!(n)),
        Value::Number(n) => ("float64", json!(n)),
        Value::Object(m) if m.len() == 1 && m.contains_key("bytesValue") => (
            "binary",
            m.get("bytesValue").cloned().unwrap_or(Value::Null),
        ),
        other => ("string", json!(tael_core::attr::json_to_flat(other))),
    };
    json!({ "key": key, "type": ty, "value": value })
}

fn tags_of(m: &Attrs, skip: Option<&str>) -> Vec<Value> {
    m.iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| tag(k, v))
        .collect()
}

fn string_tag(key: &str, v: &str) -> Value {
    json!({ "key": key, "type": "string", "value": v })
}

fn span_json(s: &Span, process_id: &str) -> Value {
    let mut tags = tags_of(&s.attributes, None);
    if !s.scope.name.is_empty() {
        tags.push(string_tag("otel.scope.name", &s.scope.name));
    }
    if !s.scope.version.is_empty() {
        tags.push(string_tag("otel.scope.version", &s.scope.version));
    }
    if s.kind != "unspecified" {
        tags.push(string_tag("span.kind", &s.kind));
    }
    match s.status.as_str() {
        "error" => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(json!({ "key": "error", "type": "bool", "value": true }));
        }
        "ok" => tags.push(string_tag("otel.status_code", "OK")),
        _ => {}
    }
    if !s.status_message.is_empty() {
        tags.push(string_tag("otel.status_description", &s.status_message));
    }
    if !s.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &s.trace_state));
    }
    let mut references: Vec<Value> = s
        .parent_span_id
        .iter()
        .map(|p| json!({ "refType": "CHILD_OF", "traceID": s.trace_id, "spanID": p }))
        .collect();
    references.extend(
        s.links.iter().map(
            |l| json!({ "refType": "FOLLOWS_FROM", "traceID": l.trace_id, "spanID": l.span_id }),
        ),
    );
    let logs: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![string_tag("event", &e.name)];
            fields.extend(tags_of(&e.attributes, None));
            json!({ "timestamp": e.time_ns / 1000, "fields": fields })
        })
        .collect();
    json!({
        "traceID": s.trace_id,
        "spanID": s.span_id,
        "flags": s.flags,
        "operationName": s.operation,
        "references": references,
        "startTime": s.start_ns / 1000,
        "duration": (s.end_ns - s.start_ns).max(0) / 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": null,
    })
}

/// One trace in Jaeger's JSON, processes numbered per distinct resource.
pub fn trace_json(spans: &[Span]) -> Value {
    let mut resources: Vec<(Arc<Attrs>, ())> = Vec::new();
    let mut processes = Map::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let i = group_of(&mut resources, &s.resource);
        if i == processes.len() {
            processes.insert(
                format!("p{}", i + 1),
                json!({
                    "serviceName": s.service,
                    "tags": tags_of(&s.resource, Some("service.name")),
                }),
            );
        }
        out.push(span_json(s, &format!("p{}", i + 1)));
    }
    json!({
        "traceID": spans.first().map(|s| s.trace_id.as_str()).unwrap_or_default(),
        "spans": out,
        "processes": processes,
        "warnings": null,
    })
}

async fn services(State(st): State<AppState>) -> V1Result {
    let names = query::services(st.store.as_ref()).await?;
    let n = names.len();
    Ok(envelope(json!(names), n))
}

async fn service_operations(State(st): State<AppState>, Path(service): Path<String>) -> V1Result {
    let ops = query::operations(st.store.as_ref(), Some(&service), None).await?;
    let mut names: Vec<String> = ops.into_iter().map(|(name, _)| name).collect();
    names.dedup();
    let n = names.len();
    Ok(envelope(json!(names), n))
}

async fn operations(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V1Result {
    let p = params(raw)?;
    let service = p
        .string("service")
        .ok_or_else(|| bad("parameter 'service' is required"))?;
    let kind = p.get("spanKind");
    let ops = query::operations(st.store.as_ref(), Some(&service), kind).await?;
    let data: Vec<Value> = ops
        .iter()
        .map(|(name, kind)| json!({ "name": name, "spanKind": kind }))
        .collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

async fn traces(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V1Result {
    let p = params(raw)?;
    // `traceID=` (repeatable) fetches those traces instead of searching.
    let ids: Vec<&str> = p.all("traceID").filter(|v| !v.is_empty()).collect();
    let traces = if ids.is_empty() {
        let q = search_from_params(&p, tael_core::time::now_ns())?;
        query::find_traces(st.store.as_ref(), &q).await?
    } else {
        let mut out = Vec::new();
        for id in ids {
            let spans = query::trace(st.store.as_ref(), &query::parse_trace_id(id)?).await?;
            if !spans.is_empty() {
                out.push(spans);
            }
        }
        out
    };
    let data: Vec<Value> = traces.iter().map(|t| trace_json(t)).collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

async fn trace_by_id(State(st): State<AppState>, Path(id): Path<String>) -> V1Result {
    let id = query::parse_trace_id(&id)?;
    let spans = query::trace(st.store.as_ref(), &id).await?;
    if spans.is_empty() {
        return Err(V1Error(ApiError::not_found("trace not found")));
    }
    Ok(envelope(json!([trace_json(&spans)]), 1))
}

/// A ms parameter as ns.
fn millis(p: &Params, key: &str) -> Result<Option<i64>, V1Error> {
    scaled(p, key, 1_000_000, "milliseconds")
}

async fn dependencies(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V1Result {
    let p = params(raw)?;
    let end = millis(&p, "endTs")?.unwrap_or_else(tael_core::time::now_ns);
    let lookback = millis(&p, "lookback")?.unwrap_or(86_400_000_000_000);
    if lookback < 0 {
        return Err(bad("'lookback' must not be negative"));
    }
    let window = TimeWindow::ending_at(end.saturating_add(1), lookback);
    let service = p.get("service");
    let data: Vec<Value> = query::dependencies(st.store.as_ref(), window)
        .await?
        .into_iter()
        .filter(|(a, b, _)| service.is_none_or(|s| s == a || s == b))
        .map(|(parent, child, n)| json!({ "parent": parent, "child": child, "callCount": n }))
        .collect();
    let n = data.len();
    Ok(envelope(json!(data), n))
}

/// The v1 routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(traces))
        .route("/api/traces/{trace_id}", get(trace_by_id))
        .route("/api/dependencies", get(dependencies))
}
