//! The REST contract in one place: for each route, the request type (its
//! path, method and parameters, through the codecs of [`crate::params`])
//! and the response envelope. The server routes and answers with these
//! types, and the typed client (`tael-client`) sends and reads them, so
//! the two halves of every route are one definition.

use crate::anomalies::{AnomalyReport, AnomalyRequest};
use crate::correlate::{CorrelateReport, CorrelateRequest};
use crate::diff::{DiffReport, DiffRequest};
use crate::llm_usage::{UsageReport, UsageRequest};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::params::Params;
use crate::sql::{ColumnInfo, SqlQuery, SqlResult, TableInfo};
use crate::store::{Hit, StoreStats};
use crate::summary::{SummaryReport, SummaryRequest};
use crate::topology::{Topology, TopologyRequest};
use crate::traces::{TraceLookup, TraceQuery};
use crate::QueryError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tael_core::model::{LogRecord, MetricPoint, ServiceInfo, Span, TraceComment};

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One REST route: where a request goes and what comes back.
pub trait Endpoint {
    /// The route as the router writes it (`{name}` marks a path segment).
    const ROUTE: &'static str;
    const METHOD: Method = Method::Get;
    /// The JSON answer.
    type Response: DeserializeOwned;

    /// The concrete path of this request.
    fn path(&self) -> String {
        Self::ROUTE.to_string()
    }

    /// The query-string parameters.
    fn params(&self) -> Params {
        Params::new()
    }

    /// The JSON body (POST routes).
    fn body(&self) -> Option<Value> {
        None
    }
}

/// Percent-encodes a path segment.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /api/v1/traces`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracesResponse {
    pub spans: Vec<Hit<Span>>,
}

impl Endpoint for TraceQuery {
    const ROUTE: &'static str = "/api/v1/traces";
    type Response = TracesResponse;
    fn params(&self) -> Params {
        self.to_params()
    }
}

/// `GET /api/v1/traces/{trace_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceResponse {
    pub trace_id: String,
    pub span_count: usize,
    pub spans: Vec<Span>,
}

impl Endpoint for TraceLookup {
    const ROUTE: &'static str = "/api/v1/traces/{trace_id}";
    type Response = TraceResponse;
    fn path(&self) -> String {
        format!("/api/v1/traces/{}", path_segment(&self.trace_id))
    }
    fn params(&self) -> Params {
        self.to_params()
    }
}

/// `GET /api/v1/services`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServicesRequest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServicesResponse {
    pub services: Vec<ServiceInfo>,
}

impl Endpoint for ServicesRequest {
    const ROUTE: &'static str = "/api/v1/services";
    type Response = ServicesResponse;
}

/// The comments of one trace, or the newest across traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommentsResponse {
    pub count: usize,
    pub comments: Vec<TraceComment>,
}

impl CommentsResponse {
    pub fn new(comments: Vec<TraceComment>) -> CommentsResponse {
        CommentsResponse {
            count: comments.len(),
            comments,
        }
    }
}

/// `GET /api/v1/traces/{trace_id}/comments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceCommentsRequest {
    pub trace_id: String,
}

impl Endpoint for TraceCommentsRequest {
    const ROUTE: &'static str = "/api/v1/traces/{trace_id}/comments";
    type Response = CommentsResponse;
    fn path(&self) -> String {
        format!("/api/v1/traces/{}/comments", path_segment(&self.trace_id))
    }
}

/// `GET /api/v1/comments?limit=` (default 1000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCommentsRequest {
    pub limit: usize,
}

impl RecentCommentsRequest {
    pub fn from_params(p: &Params) -> Result<RecentCommentsRequest, QueryError> {
        Ok(RecentCommentsRequest {
            limit: p.limit(1000)?,
        })
    }
}

impl Endpoint for RecentCommentsRequest {
    const ROUTE: &'static str = "/api/v1/comments";
    type Response = CommentsResponse;
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.push("limit", self.limit);
        p
    }
}

/// `POST /api/v1/traces/{trace_id}/comments` with
/// `{"body", "author", "span_id"}` (only `body` required).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComment {
    pub trace_id: String,
    pub body: String,
    pub author: Option<String>,
    pub span_id: Option<String>,
}

impl NewComment {
    /// Reads the JSON body of the route (the trace id comes from the path).
    pub fn from_json(trace_id: &str, body: &[u8]) -> Result<NewComment, QueryError> {
        let bad = |m: String| QueryError::InvalidArgument(m);
        let trace_id = crate::traces::checked_trace_id(trace_id, "trace id")?;
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
        let text = v
            .get("body")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| bad("\"body\" is required and must be a non-empty string".into()))?;
        let opt_str = |key: &str| -> Result<Option<String>, QueryError> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("\"{key}\" must be a string"))),
            }
        };
        let span_id = opt_str("span_id")?
            .map(|s| crate::traces::checked_span_id(&s, "span_id"))
            .transpose()?;
        Ok(NewComment {
            trace_id,
            body: text.to_string(),
            author: opt_str("author")?,
            span_id,
        })
    }

    /// The comment to store, with a fresh id and the current time.
    pub fn into_comment(self, id: String, created_at_ns: i64) -> TraceComment {
        TraceComment {
            id,
            trace_id: self.trace_id,
            span_id: self.span_id,
            author: self
                .author
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "anonymous".into()),
            body: self.body,
            created_at: tael_core::time::format_rfc3339(created_at_ns),
        }
    }
}

/// The answer to a new comment (HTTP 201).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCommentResponse {
    pub comment: TraceComment,
}

impl Endpoint for NewComment {
    const ROUTE: &'static str = "/api/v1/traces/{trace_id}/comments";
    const METHOD: Method = Method::Post;
    type Response = NewCommentResponse;
    fn path(&self) -> String {
        format!("/api/v1/traces/{}/comments", path_segment(&self.trace_id))
    }
    fn body(&self) -> Option<Value> {
        let mut b = Map::new();
        b.insert("body".into(), Value::String(self.body.clone()));
        if let Some(a) = &self.author {
            b.insert("author".into(), Value::String(a.clone()));
        }
        if let Some(s) = &self.span_id {
            b.insert("span_id".into(), Value::String(s.clone()));
        }
        Some(Value::Object(b))
    }
}

/// `GET /api/v1/logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogsResponse {
    pub count: usize,
    pub logs: Vec<Hit<LogRecord>>,
}

impl Endpoint for LogQuery {
    const ROUTE: &'static str = "/api/v1/logs";
    type Response = LogsResponse;
    fn params(&self) -> Params {
        self.to_params()
    }
}

/// `GET /api/v1/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsResponse {
    pub count: usize,
    pub metrics: Vec<MetricPoint>,
}

impl Endpoint for MetricQuery {
    const ROUTE: &'static str = "/api/v1/metrics";
    type Response = MetricsResponse;
    fn params(&self) -> Params {
        self.to_params()
    }
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsRequest;

impl Endpoint for StatsRequest {
    const ROUTE: &'static str = "/api/v1/stats";
    type Response = StoreStats;
}

/// `POST /api/v1/sql` (also `GET ?q=`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlResponse {
    pub columns: Vec<ColumnInfo>,
    pub count: usize,
    pub truncated: bool,
    pub rows: Vec<Map<String, Value>>,
}

impl From<SqlResult> for SqlResponse {
    fn from(r: SqlResult) -> Self {
        SqlResponse {
            columns: r.columns,
            count: r.rows.len(),
            truncated: r.truncated,
            rows: r.rows,
        }
    }
}

impl Endpoint for SqlQuery {
    const ROUTE: &'static str = "/api/v1/sql";
    const METHOD: Method = Method::Post;
    type Response = SqlResponse;
    fn body(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

/// `GET /api/v1/sql/schema`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchemaRequest;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaResponse {
    pub tables: Vec<TableInfo>,
}

impl Endpoint for SchemaRequest {
    const ROUTE: &'static str = "/api/v1/sql/schema";
    type Response = SchemaResponse;
}

impl Endpoint for SummaryRequest {
    const ROUTE: &'static str = "/api/v1/summary";
    type Response = SummaryReport;
    fn params(&self) -> Params {
        self.to_params()
    }
}

impl Endpoint for AnomalyRequest {
    const ROUTE: &'static str = "/api/v1/anomalies";
    type Response = AnomalyReport;
    fn params(&self) -> Params {
        self.to_params()
    }
}

impl Endpoint for DiffRequest {
    const ROUTE: &'static str = "/api/v1/diff";
    type Response = DiffReport;
    fn params(&self) -> Params {
        self.to_params()
    }
}

impl Endpoint for TopologyRequest {
    const ROUTE: &'static str = "/api/v1/topology";
    type Response = Topology;
    fn params(&self) -> Params {
        self.to_params()
    }
}

impl Endpoint for CorrelateRequest {
    const ROUTE: &'static str = "/api/v1/correlate";
    type Response = CorrelateReport;
    fn params(&self) -> Params {
        self.to_params()
    }
}

impl Endpoint for UsageRequest {
    const ROUTE: &'static str = "/api/v1/llm/usage";
    type Response = UsageReport;
    fn params(&self) -> Params {
        self.to_params()
    }
}

/// `GET /api/v1/metrics/query` (tael 0.5's PromQL route): `query` at
/// `time` (default now), or over `start`/`end`/`step` when `start` or
/// `step` is given. Times are RFC 3339 or Unix seconds, steps a duration or
/// seconds; they are read by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsQueryRequest {
    pub query: String,
    pub time: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub step: Option<String>,
}

impl MetricsQueryRequest {
    pub fn from_params(p: &Params) -> Result<MetricsQueryRequest, QueryError> {
        Ok(MetricsQueryRequest {
            query: p
                .string("query")
                .ok_or_else(|| QueryError::InvalidArgument("query is required".into()))?,
            time: p.string("time"),
            start: p.string("start"),
            end: p.string("end"),
            step: p.string("step"),
        })
    }
}

/// The answer of `/api/v1/metrics/query`: one entry per series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsQueryResponse {
    pub query: String,
    pub count: usize,
    pub series: Vec<Value>,
}

impl Endpoint for MetricsQueryRequest {
    const ROUTE: &'static str = "/api/v1/metrics/query";
    type Response = MetricsQueryResponse;
    fn params(&self) -> Params {
        let mut p = Params::new();
        p.push("query", &self.query);
        p.push_opt("time", self.time.as_ref());
        p.push_opt("start", self.start.as_ref());
        p.push_opt("end", self.end.as_ref());
        p.push_opt("step", self.step.as_ref());
        p
    }
}

/// `GET /api/v1/metrics/catalog`: every stored metric, with the names
/// PromQL knows it by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricCatalogRequest;

/// One stored metric: its OTLP name, type and unit, and its PromQL
/// family names (`_bucket`/`_sum`/`_count` for histograms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub metric_type: String,
    pub unit: String,
    pub monotonic: bool,
    pub temporality: String,
    pub promql: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricCatalogResponse {
    pub count: usize,
    pub metrics: Vec<CatalogEntry>,
}

impl MetricCatalogResponse {
    pub fn new<'a>(
        catalog: impl Iterator<Item = &'a crate::promql::names::StoredMetric>,
    ) -> MetricCatalogResponse {
        let metrics: Vec<CatalogEntry> = catalog
            .map(|m| CatalogEntry {
                name: m.name.clone(),
                metric_type: m.metric_type.clone(),
                unit: m.unit.clone(),
                monotonic: m.monotonic,
                temporality: m.temporality.clone(),
                promql: crate::promql::names::families(m)
                    .into_iter()
                    .map(|(_, prom, _)| prom)
                    .collect(),
            })
            .collect();
        MetricCatalogResponse {
            count: metrics.len(),
            metrics,
        }
    }
}

impl Endpoint for MetricCatalogRequest {
    const ROUTE: &'static str = "/api/v1/metrics/catalog";
    type Response = MetricCatalogResponse;
}

/// A random (version 4) UUID, the id of a new comment.
pub fn new_comment_id() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{DurationParam, Since};

    /// Every query type reads back what it writes.
    #[test]
    fn codecs_round_trip() {
        let t = TraceQuery {
            service: Some("checkout".into()),
            operation: Some("POST /pay".into()),
            min_duration_ms: Some(2.5),
            max_duration_ms: Some(900.0),
            status: Some("error".into()),
            since: Some(Since::Last(DurationParam::parse("1h30m").unwrap())),
            until_ns: Some(1_764_000_000_123_456_789),
            attributes: vec![("http.route".into(), "/a=b".into())],
            text: Some("\"refund policy\" -x".into()),
            limit: 7,
        };
        assert_eq!(TraceQuery::from_params(&t.params()).unwrap(), t);
        let l = LogQuery {
            service: Some("api".into()),
            severity: Some("warn".into()),
            body_contains: Some("time out".into()),
            trace_id: Some("5b8efff798038103d269b633813fc60c".into()),
            text: Some("reset".into()),
            since: Some(Since::At(1_764_000_000_000_000_123)),
            until_ns: Some(1_764_000_000_100_000_000),
            limit: 3,
            with_payloads: true,
        };
        assert_eq!(LogQuery::from_params(&l.params()).unwrap(), l);
        let m = MetricQuery {
            service: Some("api".into()),
            name: Some("queue.depth".into()),
            metric_type: Some("gauge".into()),
            since: Some(Since::At(5)),
            until_ns: Some(1_764_000_000_000_000_001),
            services: vec!["a".into(), "b".into()],
            limit: 9,
        };
        assert_eq!(MetricQuery::from_params(&m.params()).unwrap(), m);
        let lookup = TraceLookup::new("5B8EFFF798038103D269B633813FC60C", true).unwrap();
        assert_eq!(
            TraceLookup::from_params(&lookup.trace_id, &lookup.params()).unwrap(),
            lookup
        );
        let a = AnomalyRequest {
            last: Some(DurationParam::parse("15m").unwrap()),
            service: Some("api".into()),
            baseline: Some(DurationParam::parse("2h").unwrap()),
            min_samples: Some(5),
        };
        assert_eq!(AnomalyRequest::from_params(&a.params()).unwrap(), a);
        let d = DiffRequest {
            last: Some(DurationParam::parse("1h").unwrap()),
            baseline: Some("1h@-1d".into()),
            service: None,
        };
        assert_eq!(DiffRequest::from_params(&d.params()).unwrap(), d);
        let u = UsageRequest {
            last: None,
            by: crate::llm_usage::LlmGrouping::parse("agent").unwrap(),
            limit: 4,
        };
        assert_eq!(UsageRequest::from_params(&u.params()).unwrap(), u);
        let s = SummaryRequest {
            last: Some(DurationParam::parse("90").unwrap()),
            service: Some("x".into()),
        };
        assert_eq!(SummaryRequest::from_params(&s.params()).unwrap(), s);
        let c = NewComment {
            trace_id: "5b8efff798038103d269b633813fc60c".into(),
            body: "root cause".into(),
            author: Some("agent".into()),
            span_id: Some("eee19b7ec3c1b174".into()),
        };
        let body = serde_json::to_vec(&c.body().unwrap()).unwrap();
        assert_eq!(NewComment::from_json(&c.trace_id, &body).unwrap(), c);
        let q = SqlQuery {
            q: "SELECT 1".into(),
            max_rows: Some(3),
        };
        let body = serde_json::to_vec(&q.body().unwrap()).unwrap();
        assert_eq!(SqlQuery::from_json(&body).unwrap(), q);
    }

    #[test]
    fn paths_fill_their_segments() {
        let lookup = TraceLookup::new("5b8efff798038103d269b633813fc60c", false).unwrap();
        assert_eq!(
            lookup.path(),
            "/api/v1/traces/5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert!(TraceLookup::ROUTE.contains("{trace_id}"));
    }
}
