//! The data model: spans, logs, metric points, services and comments as tael
//! serves them over REST. Field names of tael 0.5 are kept (`attributes` is a
//! flat string map); everything OTLP carries besides is kept as new fields
//! (`attribute_values` typed, `resource`, `scope`, `links`, …).

use crate::attr::flatten;
use crate::time::format_rfc3339;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::sync::Arc;

mod deserialize;

/// Typed attribute map (see [`crate::attr`]).
pub type Attrs = Map<String, Value>;

/// Instrumentation scope of a span, log record or metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub attributes: Attrs,
    #[serde(default)]
    pub dropped_attributes_count: u32,
}

/// One span, as stored and served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub operation: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    pub status_message: String,
    /// `internal`, `server`, `client`, `producer`, `consumer` or `unspecified`.
    pub kind: String,
    pub trace_state: String,
    pub flags: u32,
    pub attributes: Attrs,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
    pub resource: Arc<Attrs>,
    pub scope: Arc<Scope>,
    pub dropped_attributes_count: u32,
    pub dropped_events_count: u32,
    pub dropped_links_count: u32,
    /// The LLM or agent call the span describes (derived from its
    /// attributes and events at ingest, see [`crate::llm`]).
    pub llm: Option<crate::llm::LlmCall>,
}

impl Span {
    pub fn duration_ms(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e6
    }
}

/// A span event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_ns: i64,
    pub attributes: Attrs,
    pub dropped_attributes_count: u32,
}

/// A span link.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
    pub trace_state: String,
    pub flags: u32,
    pub attributes: Attrs,
    pub dropped_attributes_count: u32,
}

/// One log record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRecord {
    pub time_ns: i64,
    pub observed_ns: i64,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    /// `trace`, `debug`, `info`, `warn`, `error`, `fatal` or `unspecified`.
    pub severity: String,
    pub severity_text: String,
    pub severity_number: i32,
    /// Typed body (see [`crate::attr`]); `Value::Null` when absent.
    pub body: Value,
    pub service: String,
    pub attributes: Attrs,
    pub resource: Arc<Attrs>,
    pub scope: Arc<Scope>,
    pub flags: u32,
    pub event_name: String,
    pub dropped_attributes_count: u32,
}

impl LogRecord {
    /// The body as text: strings as-is, other values as their flat rendering.
    pub fn body_text(&self) -> String {
        crate::attr::json_to_flat(&self.body)
    }
}

/// Histogram, exponential histogram and summary details of a metric point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Explicit-bucket histograms: counts per bucket (len = bounds + 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bucket_counts: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explicit_bounds: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exponential: Option<ExponentialBuckets>,
    /// Summaries: quantile values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<Quantile>,
}

/// Buckets of an exponential histogram point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExponentialBuckets {
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive_offset: i32,
    pub positive_bucket_counts: Vec<u64>,
    pub negative_offset: i32,
    pub negative_bucket_counts: Vec<u64>,
}

/// One quantile of a summary point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub quantile: f64,
    pub value: f64,
}

/// One metric data point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricPoint {
    pub time_ns: i64,
    pub start_ns: i64,
    pub service: String,
    pub name: String,
    pub description: String,
    pub unit: String,
    /// `gauge`, `sum`, `histogram`, `summary` or `unknown`.
    pub metric_type: String,
    /// Gauge/sum: the number; histogram and summary: the sum (tael 0.5).
    pub value: f64,
    /// `delta`, `cumulative` or `unspecified` (sums and histograms), else empty.
    pub temporality: String,
    pub is_monotonic: Option<bool>,
    pub distribution: Option<Distribution>,
    pub attributes: Attrs,
    pub resource: Arc<Attrs>,
    pub scope: Arc<Scope>,
    pub exemplars: Vec<Value>,
    pub flags: u32,
}

/// Per-service rollup served by `/api/v1/services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub name: String,
    pub span_count: i64,
    pub trace_count: i64,
    pub avg_duration_ms: f64,
    pub error_rate: f64,
}

/// A comment on a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceComment {
    pub id: String,
    pub trace_id: String,
    pub span_id: Option<String>,
    pub author: String,
    pub body: String,
    pub created_at: String,
}

fn attrs_fields<S: SerializeStruct>(st: &mut S, attrs: &Attrs) -> Result<(), S::Error> {
    st.serialize_field("attributes", &flatten(attrs))?;
    st.serialize_field("attribute_values", attrs)
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Span", 22)?;
        st.serialize_field("trace_id", &self.trace_id)?;
        st.serialize_field("span_id", &self.span_id)?;
        st.serialize_field("parent_span_id", &self.parent_span_id)?;
        st.serialize_field("service", &self.service)?;
        st.serialize_field("operation", &self.operation)?;
        st.serialize_field("start_time", &format_rfc3339(self.start_ns))?;
        st.serialize_field("end_time", &format_rfc3339(self.end_ns))?;
        st.serialize_field("duration_ms", &self.duration_ms())?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("status_message", &self.status_message)?;
        st.serialize_field("kind", &self.kind)?;
        attrs_fields(&mut st, &self.attributes)?;
        st.serialize_field("events", &self.events)?;
        st.serialize_field("links", &self.links)?;
        st.serialize_field("trace_state", &self.trace_state)?;
        st.serialize_field("flags", &self.flags)?;
        st.serialize_field("resource", &self.resource)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("dropped_attributes_count", &self.dropped_attributes_count)?;
        st.serialize_field("dropped_events_count", &self.dropped_events_count)?;
        st.serialize_field("dropped_links_count", &self.dropped_links_count)?;
        match &self.llm {
            Some(llm) => st.serialize_field("llm", llm)?,
            None => st.skip_field("llm")?,
        }
        st.end()
    }
}

impl Serialize for SpanEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SpanEvent", 5)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("timestamp", &format_rfc3339(self.time_ns))?;
        attrs_fields(&mut st, &self.attributes)?;
        st.serialize_field("dropped_attributes_count", &self.dropped_attributes_count)?;
        st.end()
    }
}

impl Serialize for SpanLink {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SpanLink", 7)?;
        st.serialize_field("trace_id", &self.trace_id)?;
        st.serialize_field("span_id", &self.span_id)?;
        st.serialize_field("trace_state", &self.trace_state)?;
        st.serialize_field("flags", &self.flags)?;
        attrs_fields(&mut st, &self.attributes)?;
        st.serialize_field("dropped_attributes_count", &self.dropped_attributes_count)?;
        st.end()
    }
}

impl Serialize for LogRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("LogRecord", 17)?;
        st.serialize_field("timestamp", &format_rfc3339(self.time_ns))?;
        st.serialize_field("observed_timestamp", &format_rfc3339(self.observed_ns))?;
        st.serialize_field("trace_id", &self.trace_id)?;
        st.serialize_field("span_id", &self.span_id)?;
        st.serialize_field("severity", &self.severity)?;
        st.serialize_field("severity_text", &self.severity_text)?;
        st.serialize_field("severity_number", &self.severity_number)?;
        st.serialize_field("body", &self.body_text())?;
        st.serialize_field("body_value", &self.body)?;
        st.serialize_field("service", &self.service)?;
        attrs_fields(&mut st, &self.attributes)?;
        st.serialize_field("resource", &self.resource)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("flags", &self.flags)?;
        st.serialize_field("event_name", &self.event_name)?;
        st.serialize_field("dropped_attributes_count", &self.dropped_attributes_count)?;
        st.end()
    }
}

impl Serialize for MetricPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("MetricPoint", 17)?;
        st.serialize_field("timestamp", &format_rfc3339(self.time_ns))?;
        st.serialize_field("start_timestamp", &format_rfc3339(self.start_ns))?;
        st.serialize_field("service", &self.service)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("metric_type", &self.metric_type)?;
        st.serialize_field("value", &self.value)?;
        st.serialize_field("unit", &self.unit)?;
        attrs_fields(&mut st, &self.attributes)?;
        st.serialize_field("temporality", &self.temporality)?;
        st.serialize_field("is_monotonic", &self.is_monotonic)?;
        st.serialize_field("distribution", &self.distribution)?;
        st.serialize_field("resource", &self.resource)?;
        st.serialize_field("scope", &self.scope)?;
        st.serialize_field("exemplars", &self.exemplars)?;
        st.serialize_field("flags", &self.flags)?;
        st.end()
    }
}

/// Maps an OTLP severity number to tael's severity name.
pub fn severity_name(number: i32) -> &'static str {
    match number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unspecified",
    }
}

/// Parses a severity filter value; unknown names are an error, not a match
/// on `unspecified` (tael 0.5 fault).
pub fn parse_severity(s: &str) -> Option<&'static str> {
    match s.trim().to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "info" | "information" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" | "err" => Some("error"),
        "fatal" | "critical" => Some("fatal"),
        "unspecified" => Some("unspecified"),
        _ => None,
    }
}

#[cfg(test)]
mod golden {
    //! The REST JSON shapes, pinned by golden files (`src/golden/*.json`).
    //! Regenerate with `TAEL_UPDATE_GOLDEN=1 cargo nextest run -p tael-core golden`.
    use super::*;
    use serde_json::json;

    /// The golden file of `name`, under the package directory the test
    /// runs in (cargo and nextest set it), not the one it was built in:
    /// a test binary built in another checkout of the same sources is
    /// reused by a shared target directory.
    pub(super) fn path(name: &str) -> String {
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        format!("{dir}/src/golden/{name}.json")
    }

    fn check(name: &str, value: &impl Serialize) {
        let text = serde_json::to_string_pretty(value).unwrap() + "\n";
        let path = path(name);
        if std::env::var_os("TAEL_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, want, "JSON shape of {name} changed; see {path}");
    }

    fn attrs(v: serde_json::Value) -> Attrs {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn span_shape() {
        let span = Span {
            trace_id: "5b8efff798038103d269b633813fc60c".into(),
            span_id: "eee19b7ec3c1b174".into(),
            parent_span_id: Some("eee19b7ec3c1b173".into()),
            service: "checkout".into(),
            operation: "POST /pay".into(),
            start_ns: 1_779_969_600_000_000_000,
            end_ns: 1_779_969_600_250_000_000,
            status: "error".into(),
            status_message: "card declined".into(),
            kind: "server".into(),
            trace_state: "vendor=1".into(),
            flags: 1,
            attributes: attrs(json!({"http.status_code": 402, "retry": 1.5, "tags": ["a", "b"]})),
            events: vec![SpanEvent {
                name: "exception".into(),
                time_ns: 1_779_969_600_100_000_000,
                attributes: attrs(json!({"exception.type": "Declined"})),
                dropped_attributes_count: 0,
            }],
            links: vec![SpanLink {
                trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
                span_id: "b7ad6b7169203331".into(),
                trace_state: String::new(),
                flags: 0,
                attributes: Attrs::new(),
                dropped_attributes_count: 0,
            }],
            resource: Arc::new(attrs(json!({"service.name": "checkout"}))),
            scope: Arc::new(Scope {
                name: "lib".into(),
                version: "1.0".into(),
                ..Default::default()
            }),
            dropped_attributes_count: 0,
            dropped_events_count: 0,
            dropped_links_count: 0,
            llm: None,
        };
        check("span", &span);
        // An LLM call: the `llm` object as ingest derives it.
        let attributes = attrs(json!({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.conversation.id": "conv-1"
        }));
        let llm_span = Span {
            operation: "chat gpt-4o-mini".into(),
            kind: "client".into(),
            status: "ok".into(),
            llm: crate::llm::extract(&attributes, &[], &crate::llm::prices::PriceTable::builtin()),
            attributes,
            events: Vec::new(),
            links: Vec::new(),
            ..span
        };
        check("span_llm", &llm_span);
    }

    #[test]
    fn log_and_metric_shapes() {
        let log = LogRecord {
            time_ns: 1_779_969_600_000_000_000,
            observed_ns: 1_779_969_600_000_000_001,
            trace_id: Some("5b8efff798038103d269b633813fc60c".into()),
            span_id: None,
            severity: "warn".into(),
            severity_text: "WARN".into(),
            severity_number: 13,
            body: json!({"msg": "slow", "ms": 930}),
            service: "checkout".into(),
            attributes: attrs(json!({"thread": 7})),
            resource: Arc::new(Attrs::new()),
            scope: Arc::new(Scope::default()),
            flags: 0,
            event_name: String::new(),
            dropped_attributes_count: 0,
        };
        check("log", &log);
        let point = MetricPoint {
            time_ns: 1_779_969_600_000_000_000,
            start_ns: 1_779_969_540_000_000_000,
            service: "checkout".into(),
            name: "http.server.request.duration".into(),
            description: String::new(),
            unit: "s".into(),
            metric_type: "histogram".into(),
            value: 3.5,
            temporality: "cumulative".into(),
            is_monotonic: None,
            distribution: Some(Distribution {
                count: 6,
                sum: Some(3.5),
                min: Some(0.05),
                max: Some(2.0),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.1, 1.0],
                ..Default::default()
            }),
            attributes: attrs(json!({"http.route": "/pay"})),
            resource: Arc::new(Attrs::new()),
            scope: Arc::new(Scope::default()),
            exemplars: Vec::new(),
            flags: 0,
        };
        check("metric", &point);
    }
}
