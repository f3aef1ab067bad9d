//! Jaeger's api_v3 `QueryService`, one implementation for both bindings:
//! [`QueryApi`] takes the proto request types and answers with the proto
//! response types; the gRPC service (on the OTLP gRPC port) wraps it
//! directly and the HTTP routes (`/api/v3/*`, [`super::v3_http`]) parse
//! their parameters into the same requests.
//!
//! Traces are OTLP `TracesData` (opentelemetry-proto's own type): GetTrace
//! streams one message, FindTraces one message per trace, newest first;
//! FindTraceSummaries one message with every summary. Over a query node, an
//! answer built without some shards carries `x-tael-partial: true` and
//! `x-tael-failed-shards` in its response metadata.

use super::proto::query_service_server::QueryService;
use super::proto::{
    DependenciesResponse, Dependency, FindTraceSummariesRequest, FindTraceSummariesResponse,
    FindTracesRequest, GetDependenciesRequest, GetOperationsRequest, GetOperationsResponse,
    GetServicesRequest, GetServicesResponse, GetTraceRequest, Operation, ServiceSummary,
    TraceQueryParameters, TraceSummary,
};
use super::query::{self, TraceSearch};
use crate::error::ApiError;
use futures::stream::{self, BoxStream, StreamExt};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use std::sync::Arc;
use tael_query::params::MAX_LIMIT;
use tael_query::store::fanout::{collect_failures, FailedShard};
use tael_query::window::TimeWindow;
use tael_query::Store;
use tonic::{Request, Response, Status};

/// Traces a search returns when `search_depth` is 0.
pub const DEFAULT_SEARCH_DEPTH: usize = 100;

/// The api_v3 query service over a store.
#[derive(Clone)]
pub struct QueryApi {
    pub store: Arc<dyn Store>,
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// Seconds and nanoseconds (a proto Timestamp's or Duration's) as ns.
fn nanos(seconds: i64, nanos: i32) -> i64 {
    seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(nanos as i64)
}

fn ns_of(t: &prost_types::Timestamp) -> i64 {
    nanos(t.seconds, t.nanos)
}

fn duration_ns(d: &prost_types::Duration) -> i64 {
    nanos(d.seconds, d.nanos)
}

/// A timestamp as proto (for the HTTP binding's parser).
pub fn timestamp(ns: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ns.div_euclid(1_000_000_000),
        nanos: ns.rem_euclid(1_000_000_000) as i32,
    }
}

/// A duration as proto (for the HTTP binding's parser).
pub fn duration(ns: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: ns / 1_000_000_000,
        nanos: (ns % 1_000_000_000) as i32,
    }
}

/// The store search of a query: the window is required, the filter
/// expression is not supported (refused, never ignored).
pub fn search_of(q: Option<&TraceQueryParameters>) -> Result<TraceSearch, ApiError> {
    let q = q.ok_or_else(|| bad("query is required"))?;
    if !q.filter.is_empty() {
        return Err(bad(
            "query.filter (structured filters) is not supported; use serviceName, operationName, attributes and durations",
        ));
    }
    let start = q
        .start_time_min
        .as_ref()
        .ok_or_else(|| bad("query.startTimeMin is required"))?;
    let end = q
        .start_time_max
        .as_ref()
        .ok_or_else(|| bad("query.startTimeMax is required"))?;
    let (start_ns, end_ns) = (ns_of(start), ns_of(end));
    if end_ns < start_ns {
        return Err(bad(
            "query.startTimeMax must not be before query.startTimeMin",
        ));
    }
    let min = q.duration_min.as_ref().map(duration_ns);
    let max = q.duration_max.as_ref().map(duration_ns);
    if let (Some(a), Some(b)) = (min, max) {
        if b < a {
            return Err(bad(
                "query.durationMax must not be less than query.durationMin",
            ));
        }
    }
    let limit = match q.search_depth {
        0 => DEFAULT_SEARCH_DEPTH,
        n if n < 0 => return Err(bad("query.searchDepth must not be negative")),
        n => (n as usize).min(MAX_LIMIT),
    };
    let mut tags: Vec<(String, String)> = q
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.sort();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(TraceSearch {
        service: non_empty(&q.service_name),
        operation: non_empty(&q.operation_name),
        tags,
        start_ns,
        end_ns,
        min_duration_ns: min,
        max_duration_ns: max,
        limit,
    })
}

impl QueryApi {
    /// One trace; not found when nobody stored it.
    pub async fn get_trace(&self, r: GetTraceRequest) -> Result<TracesData, ApiError> {
        let id = query::parse_trace_id(&r.trace_id)?;
        let spans = query::trace(self.store.as_ref(), &id).await?;
        let (from, to) = (
            r.start_time.as_ref().map(ns_of).unwrap_or(i64::MIN),
            r.end_time.as_ref().map(ns_of).unwrap_or(i64::MAX),
        );
        // The time range narrows where to look: a trace with no span in
        // it is not found there.
        if spans.is_empty() || !spans.iter().any(|s| s.start_ns >= from && s.start_ns <= to) {
            return Err(ApiError::not_found("trace not found"));
        }
        Ok(tael_core::otlp::from_model::traces_data(&spans))
    }

    /// The traces a query finds, one `TracesData` per trace (none found is
    /// an empty list here; the HTTP binding answers it with 404).
    pub async fn find_traces(&self, r: FindTracesRequest) -> Result<Vec<TracesData>, ApiError> {
        let q = search_of(r.query.as_ref())?;
        let traces = query::find_traces(self.store.as_ref(), &q).await?;
        Ok(traces
            .iter()
            .map(|t| tael_core::otlp::from_model::traces_data(t))
            .collect())
    }

    pub async fn services(&self) -> Result<GetServicesResponse, ApiError> {
        Ok(GetServicesResponse {
            services: query::services(self.store.as_ref()).await?,
        })
    }

    pub async fn operations(
        &self,
        r: GetOperationsRequest,
    ) -> Result<GetOperationsResponse, ApiError> {
        let service = (!r.service.is_empty()).then_some(r.service.as_str());
        let kind = (!r.span_kind.is_empty()).then_some(r.span_kind.as_str());
        let ops = query::operations(self.store.as_ref(), service, kind).await?;
        Ok(GetOperationsResponse {
            operations: ops
                .into_iter()
                .map(|(name, span_kind)| Operation { name, span_kind })
                .collect(),
        })
    }

    pub async fn dependencies(
        &self,
        r: GetDependenciesRequest,
    ) -> Result<DependenciesResponse, ApiError> {
        let start = r
            .start_time
            .as_ref()
            .ok_or_else(|| bad("startTime is required"))?;
        let end = r
            .end_time
            .as_ref()
            .ok_or_else(|| bad("endTime is required"))?;
        let window = TimeWindow {
            from_ns: ns_of(start),
            to_ns: ns_of(end),
        };
        if window.to_ns < window.from_ns {
            return Err(bad("endTime must not be before startTime"));
        }
        Ok(DependenciesResponse {
            dependencies: query::dependencies(self.store.as_ref(), window)
                .await?
                .into_iter()
                .map(|(parent, child, call_count)| Dependency {
                    parent,
                    child,
                    call_count,
                })
                .collect(),
        })
    }

    pub async fn trace_summaries(
        &self,
        r: FindTraceSummariesRequest,
    ) -> Result<FindTraceSummariesResponse, ApiError> {
        let q = search_of(r.query.as_ref())?;
        let traces = query::find_traces(self.store.as_ref(), &q).await?;
        Ok(FindTraceSummariesResponse {
            summaries: traces.iter().map(|t| summary(t)).collect(),
        })
    }
}

fn summary(spans: &[tael_core::model::Span]) -> TraceSummary {
    let s = query::summarize(spans);
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    TraceSummary {
        trace_id: s.trace_id,
        root_service_name: s.root_service,
        root_operation_name: s.root_operation,
        min_start_time_unix_nano: s.start_ns.max(0) as u64,
        max_end_time_unix_nano: s.end_ns.max(0) as u64,
        span_count: count(s.spans),
        error_span_count: count(s.error_spans),
        orphan_span_count: count(s.orphans),
        services: s
            .services
            .into_iter()
            .map(|(name, (spans, errors))| ServiceSummary {
                name,
                span_count: count(spans),
                error_span_count: count(errors),
            })
            .collect(),
    }
}

type Chunks<T> = BoxStream<'static, Result<T, Status>>;

fn chunks<T: Send + 'static>(items: Vec<T>) -> Response<Chunks<T>> {
    Response::new(stream::iter(items.into_iter().map(Ok)).boxed())
}

fn grpc(e: ApiError) -> Status {
    e.to_grpc()
}

/// The metadata saying an answer was built without some shards (a query
/// node's; the gRPC form of the REST answers' `partial` and
/// `failed_shards`): `x-tael-partial: true` and
/// `x-tael-failed-shards: <shard>,<shard>`.
pub const PARTIAL_HEADER: &str = "x-tael-partial";
pub const FAILED_SHARDS_HEADER: &str = "x-tael-failed-shards";

/// Runs one call, collecting the shards that failed while it ran.
async fn answered<T>(
    f: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<(T, Vec<FailedShard>), Status> {
    let (out, failed) = collect_failures(f).await;
    Ok((out.map_err(grpc)?, failed))
}

/// `resp` with the partial-answer metadata when shards failed.
fn marked<R>(mut resp: Response<R>, failed: &[FailedShard]) -> Response<R> {
    if failed.is_empty() {
        return resp;
    }
    let names: Vec<&str> = failed.iter().map(|f| f.shard.as_str()).collect();
    let md = resp.metadata_mut();
    md.insert(
        PARTIAL_HEADER,
        tonic::metadata::MetadataValue::from_static("true"),
    );
    if let Ok(v) = names.join(",").parse() {
        md.insert(FAILED_SHARDS_HEADER, v);
    }
    resp
}

#[tonic::async_trait]
impl QueryService for QueryApi {
    type GetTraceStream = Chunks<TracesData>;
    type FindTracesStream = Chunks<TracesData>;
    type FindTraceSummariesStream = Chunks<FindTraceSummariesResponse>;

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let (trace, failed) = answered(QueryApi::get_trace(self, request.into_inner())).await?;
        Ok(marked(chunks(vec![trace]), &failed))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let (traces, failed) = answered(QueryApi::find_traces(self, request.into_inner())).await?;
        Ok(marked(chunks(traces), &failed))
    }

    async fn get_services(
        &self,
        _request: Request<GetServicesRequest>,
    ) -> Result<Response<GetServicesResponse>, Status> {
        let (out, failed) = answered(self.services()).await?;
        Ok(marked(Response::new(out), &failed))
    }

    async fn get_operations(
        &self,
        request: Request<GetOperationsRequest>,
    ) -> Result<Response<GetOperationsResponse>, Status> {
        let (out, failed) = answered(self.operations(request.into_inner())).await?;
        Ok(marked(Response::new(out), &failed))
    }

    async fn get_dependencies(
        &self,
        request: Request<GetDependenciesRequest>,
    ) -> Result<Response<DependenciesResponse>, Status> {
        let (out, failed) = answered(self.dependencies(request.into_inner())).await?;
        Ok(marked(Response::new(out), &failed))
    }

    async fn find_trace_summaries(
        &self,
        request: Request<FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let (out, failed) = answered(self.trace_summaries(request.into_inner())).await?;
        Ok(marked(chunks(vec![out]), &failed))
    }
}
