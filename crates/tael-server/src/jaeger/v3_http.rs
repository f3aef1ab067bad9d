//! The HTTP binding of Jaeger's api_v3 (`/api/v3/*`, as the current
//! Jaeger UI and Grafana's v3 mode call it): parameters become the proto
//! requests of [`QueryApi`], answers are proto3 JSON.
//!
//! - `GET /api/v3/services` → `{"services": [...]}`
//! - `GET /api/v3/operations?service=&spanKind=` → `{"operations": [{"name", "spanKind"}]}`
//! - `GET /api/v3/traces/{trace_id}?startTime=&endTime=&rawTraces=` →
//!   `{"result": <OTLP JSON TracesData>}`
//! - `GET|POST /api/v3/traces` (`query.serviceName`, `query.operationName`,
//!   `query.attributes` (JSON map), `query.startTimeMin`,
//!   `query.startTimeMax` (RFC 3339), `query.durationMin`,
//!   `query.durationMax` (`10ms`, `1.5s`), `query.searchDepth`,
//!   `query.rawTraces`; the snake_case names are accepted too; POST takes
//!   `{"query": {...}}`) → `{"result": TracesData}` of every trace found,
//!   404 "No traces found" when none
//! - `GET|POST /api/v3/trace-summaries` (the same query) →
//!   `{"result": {"summaries": [...]}}`
//! - `GET /api/v3/dependencies?startTime=&endTime=` →
//!   `{"dependencies": [{"parent", "child", "callCount"}]}`
//!
//! OTLP JSON has hex ids, lowerCamelCase names, enums as integers and
//! 64-bit integers as strings (so do `callCount` and the summaries' times).
//! Errors are grpc-gateway's `{"error": {"grpcCode", "httpCode",
//! "message", "httpStatus"}}`.

use super::api_v3::{duration, timestamp, QueryApi};
use super::proto::{
    FindTraceSummariesRequest, FindTracesRequest, GetDependenciesRequest, GetOperationsRequest,
    GetTraceRequest, TraceQueryParameters,
};
use crate::error::{with_error_headers, ApiError};
use crate::rest::params;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde_json::{json, Map, Value};
use tael_core::otlp::json_encode;
use tael_query::params::Params;

/// An error in grpc-gateway's shape.
pub struct V3Error(pub ApiError);

impl<E: Into<ApiError>> From<E> for V3Error {
    fn from(e: E) -> Self {
        V3Error(e.into())
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = json!({ "error": {
            "grpcCode": self.0.code.grpc_code(),
            "httpCode": status.as_u16(),
            "message": self.0.public_message(),
            "httpStatus": status.canonical_reason().unwrap_or_default(),
        }});
        with_error_headers(&self.0, (status, Json(body)).into_response())
    }
}

type V3Result = Result<Json<Value>, V3Error>;

fn bad(msg: impl Into<String>) -> V3Error {
    V3Error(ApiError::bad_request(msg))
}

fn api(st: &AppState) -> QueryApi {
    QueryApi {
        store: st.store.clone(),
    }
}

/// The value of a parameter under its canonical name or its alias.
fn param<'a>(p: &'a Params, name: &str, alias: &str) -> Option<&'a str> {
    p.get(name).or_else(|| p.get(alias))
}

fn time_param(
    p: &Params,
    name: &str,
    alias: &str,
) -> Result<Option<prost_types::Timestamp>, V3Error> {
    param(p, name, alias)
        .map(|v| {
            tael_core::time::parse_rfc3339(v)
                .map(timestamp)
                .ok_or_else(|| bad(format!("{name}: {v:?} is not an RFC 3339 time")))
        })
        .transpose()
}

fn duration_param(
    p: &Params,
    name: &str,
    alias: &str,
) -> Result<Option<prost_types::Duration>, V3Error> {
    param(p, name, alias)
        .map(|v| {
            tael_core::duration::parse_duration_ns(v)
                .map(duration)
                .map_err(|e| bad(format!("{name}: {e}")))
        })
        .transpose()
}

fn flag(p: &Params, name: &str, alias: &str) -> Result<bool, V3Error> {
    match param(p, name, alias) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(bad(format!("{name}={other:?}: expected true or false"))),
    }
}

/// The `query.*` parameters of a trace search.
pub fn query_of(p: &Params) -> Result<TraceQueryParameters, V3Error> {
    let attributes = match p.get("query.attributes") {
        None => Default::default(),
        Some(raw) => {
            let m: Map<String, Value> = serde_json::from_str(raw).map_err(|e| {
                bad(format!(
                    "query.attributes must be a JSON map of strings: {e}"
                ))
            })?;
            m.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => Err(bad(format!(
                        "query.attributes: the value of {k:?} must be a string, got {other}"
                    ))),
                })
                .collect::<Result<_, _>>()?
        }
    };
    let search_depth = match param(p, "query.searchDepth", "query.search_depth")
        .or_else(|| p.get("query.num_traces"))
    {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<i32>()
            .map_err(|_| bad(format!("query.searchDepth: {v:?} is not a whole number")))?,
    };
    Ok(TraceQueryParameters {
        service_name: param(p, "query.serviceName", "query.service_name")
            .unwrap_or_default()
            .to_string(),
        operation_name: param(p, "query.operationName", "query.operation_name")
            .unwrap_or_default()
            .to_string(),
        attributes,
        start_time_min: time_param(p, "query.startTimeMin", "query.start_time_min")?,
        start_time_max: time_param(p, "query.startTimeMax", "query.start_time_max")?,
        duration_min: duration_param(p, "query.durationMin", "query.duration_min")?,
        duration_max: duration_param(p, "query.durationMax", "query.duration_max")?,
        search_depth,
        raw_traces: flag(p, "query.rawTraces", "query.raw_traces")?,
        filter: match p.get("query.filter") {
            Some(f) => f.as_bytes().to_vec(),
            None => Vec::new(),
        },
    })
}

/// A POST body `{"query": {...}}` as the GET parameters it stands for.
fn params_of_body(body: &[u8]) -> Result<Params, V3Error> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
    let query = match v.get("query") {
        Some(Value::Object(q)) => q.clone(),
        Some(_) => return Err(bad("\"query\" must be an object")),
        None => Map::new(),
    };
    let mut p = Params::new();
    for (k, v) in query {
        let text = match v {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        p.push(&format!("query.{k}"), text);
    }
    Ok(p)
}

/// Several traces as one `TracesData` (the HTTP binding sends one message).
fn joined(traces: Vec<TracesData>) -> TracesData {
    TracesData {
        resource_spans: traces.into_iter().flat_map(|t| t.resource_spans).collect(),
    }
}

fn result(v: Value) -> Json<Value> {
    Json(json!({ "result": v }))
}

async fn services(State(st): State<AppState>) -> V3Result {
    let r = api(&st).services().await?;
    Ok(Json(json!({ "services": r.services })))
}

async fn operations(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V3Result {
    let p = params(raw)?;
    let r = api(&st)
        .operations(GetOperationsRequest {
            service: p.string("service").unwrap_or_default(),
            span_kind: param(&p, "spanKind", "span_kind")
                .unwrap_or_default()
                .to_string(),
        })
        .await?;
    let ops: Vec<Value> = r
        .operations
        .iter()
        .map(|o| json!({ "name": o.name, "spanKind": o.span_kind }))
        .collect();
    Ok(Json(json!({ "operations": ops })))
}

async fn trace_by_id(
    State(st): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> V3Result {
    let p = params(raw)?;
    let r = GetTraceRequest {
        trace_id: id,
        start_time: time_param(&p, "startTime", "start_time")?,
        end_time: time_param(&p, "endTime", "end_time")?,
        raw_traces: flag(&p, "rawTraces", "raw_traces")?,
    };
    let trace = api(&st).get_trace(r).await?;
    Ok(result(json_encode::traces_data(&trace)))
}

async fn find(st: &AppState, p: &Params) -> V3Result {
    let r = FindTracesRequest {
        query: Some(query_of(p)?),
    };
    let traces = api(st).find_traces(r).await?;
    if traces.is_empty() {
        return Err(V3Error(ApiError::not_found("No traces found")));
    }
    Ok(result(json_encode::traces_data(&joined(traces))))
}

async fn find_get(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V3Result {
    find(&st, &params(raw)?).await
}

async fn find_post(State(st): State<AppState>, body: axum::body::Bytes) -> V3Result {
    find(&st, &params_of_body(&body)?).await
}

async fn summaries(st: &AppState, p: &Params) -> V3Result {
    let r = FindTraceSummariesRequest {
        query: Some(query_of(p)?),
    };
    let out = api(st).trace_summaries(r).await?;
    let list: Vec<Value> = out
        .summaries
        .iter()
        .map(|s| {
            json!({
                "traceId": s.trace_id,
                "rootServiceName": s.root_service_name,
                "rootOperationName": s.root_operation_name,
                "minStartTimeUnixNano": s.min_start_time_unix_nano.to_string(),
                "maxEndTimeUnixNano": s.max_end_time_unix_nano.to_string(),
                "spanCount": s.span_count,
                "errorSpanCount": s.error_span_count,
                "orphanSpanCount": s.orphan_span_count,
                "services": s.services.iter().map(|x| json!({
                    "name": x.name, "spanCount": x.span_count, "errorSpanCount": x.error_span_count,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(result(json!({ "summaries": list })))
}

async fn summaries_get(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V3Result {
    summaries(&st, &params(raw)?).await
}

async fn summaries_post(State(st): State<AppState>, body: axum::body::Bytes) -> V3Result {
    summaries(&st, &params_of_body(&body)?).await
}

async fn dependencies(State(st): State<AppState>, RawQuery(raw): RawQuery) -> V3Result {
    let p = params(raw)?;
    let r = api(&st)
        .dependencies(GetDependenciesRequest {
            start_time: time_param(&p, "startTime", "start_time")?,
            end_time: time_param(&p, "endTime", "end_time")?,
        })
        .await?;
    let deps: Vec<Value> = r
        .dependencies
        .iter()
        .map(|d| json!({ "parent": d.parent, "child": d.child, "callCount": d.call_count.to_string() }))
        .collect();
    Ok(Json(json!({ "dependencies": deps })))
}

/// The v3 routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(find_get).post(find_post))
        .route("/api/v3/traces/{trace_id}", get(trace_by_id))
        .route(
            "/api/v3/trace-summaries",
            get(summaries_get).post(summaries_post),
        )
        .route("/api/v3/dependencies", get(dependencies))
}
