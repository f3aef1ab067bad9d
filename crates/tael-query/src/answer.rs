//! Each read route answered over a [`Store`]: [`Answer::answer`] turns a
//! request of [`crate::api`] into its response. The REST handlers and the
//! MCP tools (in process) both call it, and the typed client sends the
//! same request over HTTP, so a route's answer is computed in one place
//! whichever front end asked.

use crate::anomalies::{find_anomalies, AnomalyReport, AnomalyRequest};
use crate::api::{
    CommentsResponse, Endpoint, LogsResponse, MetricCatalogRequest, MetricCatalogResponse,
    MetricsQueryRequest, MetricsQueryResponse, MetricsResponse, RecentCommentsRequest,
    SchemaRequest, SchemaResponse, ServicesRequest, ServicesResponse, SqlResponse,
    TraceCommentsRequest, TraceResponse, TracesResponse,
};
use crate::correlate::{correlate, CorrelateReport, CorrelateRequest};
use crate::diff::{diff, DiffReport, DiffRequest};
use crate::llm_usage::{usage, UsageReport, UsageRequest};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::promql::value::{Labels, QueryResult};
use crate::sql::SqlQuery;
use crate::store::Store;
use crate::summary::{summarize, SummaryReport, SummaryRequest};
use crate::topology::{topology, Topology, TopologyRequest};
use crate::traces::{checked_trace_id, TraceLookup, TraceQuery};
use crate::QueryError;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Value};
use tael_core::duration::parse_duration_ns;

/// A read route whose answer a [`Store`] can compute.
pub trait Answer: Endpoint + Send + Sync + Sized + 'static {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<Self::Response, QueryError>>;
}

impl Answer for TraceQuery {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<TracesResponse, QueryError>> {
        async move {
            Ok(TracesResponse {
                spans: store.search_spans(self).await?,
            })
        }
        .boxed()
    }
}

impl Answer for TraceLookup {
    /// A trace nobody stored is `NotFound`.
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<TraceResponse, QueryError>> {
        async move {
            let trace_id = self.trace_id.clone();
            let spans = store.get_trace(self).await?;
            if spans.is_empty() {
                return Err(QueryError::NotFound("trace not found".into()));
            }
            Ok(TraceResponse {
                trace_id,
                span_count: spans.len(),
                spans,
            })
        }
        .boxed()
    }
}

impl Answer for ServicesRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<ServicesResponse, QueryError>> {
        async move {
            Ok(ServicesResponse {
                services: crate::services::services(store).await?,
            })
        }
        .boxed()
    }
}

impl Answer for TraceCommentsRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<CommentsResponse, QueryError>> {
        async move {
            let id = checked_trace_id(&self.trace_id, "trace id")?;
            Ok(CommentsResponse::new(store.trace_comments(id).await?))
        }
        .boxed()
    }
}

impl Answer for RecentCommentsRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<CommentsResponse, QueryError>> {
        async move {
            Ok(CommentsResponse::new(
                store.recent_comments(self.limit).await?,
            ))
        }
        .boxed()
    }
}

impl Answer for LogQuery {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<LogsResponse, QueryError>> {
        async move {
            let logs = store.search_logs(self).await?;
            Ok(LogsResponse {
                count: logs.len(),
                logs,
            })
        }
        .boxed()
    }
}

impl Answer for MetricQuery {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<MetricsResponse, QueryError>> {
        async move {
            let metrics = store.search_metrics(self).await?;
            Ok(MetricsResponse {
                count: metrics.len(),
                metrics,
            })
        }
        .boxed()
    }
}

impl Answer for SqlQuery {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<SqlResponse, QueryError>> {
        async move { Ok(store.sql(self).await?.into()) }.boxed()
    }
}

impl Answer for SchemaRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<SchemaResponse, QueryError>> {
        async move {
            Ok(SchemaResponse {
                tables: store.sql_schema().await?,
            })
        }
        .boxed()
    }
}

impl Answer for SummaryRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<SummaryReport, QueryError>> {
        async move { summarize(store, &self).await }.boxed()
    }
}

impl Answer for AnomalyRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<AnomalyReport, QueryError>> {
        async move { find_anomalies(store, &self.resolve(tael_core::time::now_ns())).await }.boxed()
    }
}

impl Answer for DiffRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<DiffReport, QueryError>> {
        async move { diff(store, &self).await }.boxed()
    }
}

impl Answer for TopologyRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<Topology, QueryError>> {
        async move { topology(store, &self).await }.boxed()
    }
}

impl Answer for CorrelateRequest {
    /// A trace nobody stored is `NotFound`.
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<CorrelateReport, QueryError>> {
        async move {
            correlate(store, &self)
                .await?
                .ok_or_else(|| QueryError::NotFound("trace not found".into()))
        }
        .boxed()
    }
}

impl Answer for UsageRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<UsageReport, QueryError>> {
        async move { usage(store, &self).await }.boxed()
    }
}

impl Answer for MetricCatalogRequest {
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<MetricCatalogResponse, QueryError>> {
        async move {
            let catalog = store.metric_catalog().await?;
            Ok(MetricCatalogResponse::new(catalog.iter()))
        }
        .boxed()
    }
}

/// RFC 3339 or Unix seconds (float) → ms.
pub fn parse_time_ms(v: &str) -> Option<i64> {
    if let Ok(secs) = v.trim().parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    tael_core::time::parse_rfc3339(v.trim()).map(|ns| ns.div_euclid(1_000_000))
}

/// A PromQL step: a duration (`30s`, `1m`) or seconds → ms.
pub fn parse_step_ms(v: &str) -> Result<i64, QueryError> {
    parse_duration_ns(v).map(|ns| ns / 1_000_000).map_err(|_| {
        QueryError::InvalidArgument(format!(
            "invalid parameter \"step\": cannot parse {v:?} to a valid duration"
        ))
    })
}

/// The time parameter `k` (RFC 3339 or Unix seconds) in ms, `default`
/// when absent or empty.
pub fn time_param(k: &str, v: Option<&str>, default: i64) -> Result<i64, QueryError> {
    match v.filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => parse_time_ms(v).ok_or_else(|| {
            QueryError::InvalidArgument(format!(
                "invalid parameter \"{k}\": cannot parse {v:?} to a valid timestamp"
            ))
        }),
    }
}

/// A label set as a JSON object.
pub fn labels_json(l: &Labels) -> Value {
    Value::Object(
        l.0.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

impl MetricsQueryRequest {
    /// Whether this is a range query (a `start` or a `step` was given).
    pub fn is_range(&self) -> bool {
        self.start.is_some() || self.step.is_some()
    }
}

impl Answer for MetricsQueryRequest {
    /// At `time` (default now), or over `start` (default an hour before
    /// `end`) to `end` (default now) in `step`s (default 1/250 of the
    /// range, at least 1 s).
    fn answer(self, store: &dyn Store) -> BoxFuture<'_, Result<MetricsQueryResponse, QueryError>> {
        async move {
            let now_ms = tael_core::time::now_ns() / 1_000_000;
            let timeout = crate::promql::DEFAULT_TIMEOUT;
            let r = if self.is_range() {
                let end = time_param("end", self.end.as_deref(), now_ms)?;
                let start = time_param(
                    "start",
                    self.start.as_deref(),
                    end.saturating_sub(3_600_000),
                )?;
                let step = match self.step.as_deref().filter(|s| !s.is_empty()) {
                    Some(s) => parse_step_ms(s)?,
                    None => (end.saturating_sub(start) / 250).max(1000),
                };
                crate::promql::range_query(store, &self.query, start, end, step, timeout).await?
            } else {
                let t = time_param("time", self.time.as_deref(), now_ms)?;
                crate::promql::instant_query(store, &self.query, t, timeout).await?
            };
            let series = series_json(&r);
            Ok(MetricsQueryResponse {
                query: self.query,
                count: series.len(),
                series,
            })
        }
        .boxed()
    }
}

/// One JSON object per series of a PromQL result (tael 0.5's shape:
/// `metric`, `labels`, and `value` + `timestamp` or `values`).
fn series_json(r: &QueryResult) -> Vec<Value> {
    let one = |l: &Labels| -> (Value, Value) {
        (json!(l.name().to_string()), labels_json(&l.drop_name()))
    };
    let at = |t_ms: i64| tael_core::time::format_rfc3339(t_ms.saturating_mul(1_000_000));
    match r {
        QueryResult::Vector { time_ms, samples } => samples
            .iter()
            .map(|s| {
                let (metric, labels) = one(&s.labels);
                json!({ "metric": metric, "labels": labels, "value": s.value, "timestamp": at(*time_ms) })
            })
            .collect(),
        QueryResult::Scalar { time_ms, value } => {
            vec![json!({ "metric": "", "labels": {}, "value": value, "timestamp": at(*time_ms) })]
        }
        QueryResult::String { .. } => Vec::new(),
        QueryResult::Matrix(m) => m
            .iter()
            .map(|s| {
                let (metric, labels) = one(&s.labels);
                let values: Vec<Value> = s
                    .points
                    .iter()
                    .map(|(t, v)| json!([*t as f64 / 1000.0, v]))
                    .collect();
                json!({ "metric": metric, "labels": labels, "values": values })
            })
            .collect(),
    }
}
