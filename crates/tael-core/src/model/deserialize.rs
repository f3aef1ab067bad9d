//! Reading the REST JSON shapes back into the model (the typed client, and
//! stores that answer over the REST API): the inverse of the `Serialize`
//! impls in `model.rs`. Typed `attribute_values` are the source of
//! `attributes` (the flat string map is derived from them and ignored
//! here), times are RFC 3339 with nanoseconds, and derived fields
//! (`duration_ms`, the flat `body`) are recomputed rather than read.
//! Unknown fields are ignored, so a newer server's additions do not break
//! an older client.

use super::{Attrs, LogRecord, MetricPoint, Scope, Span, SpanEvent, SpanLink};
use crate::time::serde_rfc3339;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::sync::Arc;

#[derive(Deserialize)]
struct SpanShape {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    parent_span_id: Option<String>,
    service: String,
    operation: String,
    #[serde(with = "serde_rfc3339")]
    start_time: i64,
    #[serde(with = "serde_rfc3339")]
    end_time: i64,
    status: String,
    #[serde(default)]
    status_message: String,
    kind: String,
    #[serde(default)]
    attribute_values: Attrs,
    #[serde(default)]
    events: Vec<SpanEvent>,
    #[serde(default)]
    links: Vec<SpanLink>,
    #[serde(default)]
    trace_state: String,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    resource: Arc<Attrs>,
    #[serde(default)]
    scope: Arc<Scope>,
    #[serde(default)]
    dropped_attributes_count: u32,
    #[serde(default)]
    dropped_events_count: u32,
    #[serde(default)]
    dropped_links_count: u32,
    #[serde(default)]
    llm: Option<crate::llm::LlmCall>,
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = SpanShape::deserialize(d)?;
        Ok(Span {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            service: s.service,
            operation: s.operation,
            start_ns: s.start_time,
            end_ns: s.end_time,
            status: s.status,
            status_message: s.status_message,
            kind: s.kind,
            trace_state: s.trace_state,
            flags: s.flags,
            attributes: s.attribute_values,
            events: s.events,
            links: s.links,
            resource: s.resource,
            scope: s.scope,
            dropped_attributes_count: s.dropped_attributes_count,
            dropped_events_count: s.dropped_events_count,
            dropped_links_count: s.dropped_links_count,
            llm: s.llm,
        })
    }
}

#[derive(Deserialize)]
struct EventShape {
    name: String,
    #[serde(with = "serde_rfc3339")]
    timestamp: i64,
    #[serde(default)]
    attribute_values: Attrs,
    #[serde(default)]
    dropped_attributes_count: u32,
}

impl<'de> Deserialize<'de> for SpanEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let e = EventShape::deserialize(d)?;
        Ok(SpanEvent {
            name: e.name,
            time_ns: e.timestamp,
            attributes: e.attribute_values,
            dropped_attributes_count: e.dropped_attributes_count,
        })
    }
}

#[derive(Deserialize)]
struct LinkShape {
    trace_id: String,
    span_id: String,
    #[serde(default)]
    trace_state: String,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    attribute_values: Attrs,
    #[serde(default)]
    dropped_attributes_count: u32,
}

impl<'de> Deserialize<'de> for SpanLink {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let l = LinkShape::deserialize(d)?;
        Ok(SpanLink {
            trace_id: l.trace_id,
            span_id: l.span_id,
            trace_state: l.trace_state,
            flags: l.flags,
            attributes: l.attribute_values,
            dropped_attributes_count: l.dropped_attributes_count,
        })
    }
}

#[derive(Deserialize)]
struct LogShape {
    #[serde(with = "serde_rfc3339")]
    timestamp: i64,
    #[serde(with = "serde_rfc3339")]
    observed_timestamp: i64,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    span_id: Option<String>,
    severity: String,
    #[serde(default)]
    severity_text: String,
    #[serde(default)]
    severity_number: i32,
    #[serde(default)]
    body_value: Value,
    service: String,
    #[serde(default)]
    attribute_values: Attrs,
    #[serde(default)]
    resource: Arc<Attrs>,
    #[serde(default)]
    scope: Arc<Scope>,
    #[serde(default)]
    flags: u32,
    #[serde(default)]
    event_name: String,
    #[serde(default)]
    dropped_attributes_count: u32,
}

impl<'de> Deserialize<'de> for LogRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let l = LogShape::deserialize(d)?;
        Ok(LogRecord {
            time_ns: l.timestamp,
            observed_ns: l.observed_timestamp,
            trace_id: l.trace_id,
            span_id: l.span_id,
            severity: l.severity,
            severity_text: l.severity_text,
            severity_number: l.severity_number,
            body: l.body_value,
            service: l.service,
            attributes: l.attribute_values,
            resource: l.resource,
            scope: l.scope,
            flags: l.flags,
            event_name: l.event_name,
            dropped_attributes_count: l.dropped_attributes_count,
        })
    }
}

#[derive(Deserialize)]
struct PointShape {
    #[serde(with = "serde_rfc3339")]
    timestamp: i64,
    #[serde(with = "serde_rfc3339")]
    start_timestamp: i64,
    service: String,
    name: String,
    #[serde(default)]
    description: String,
    metric_type: String,
    value: f64,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    attribute_values: Attrs,
    #[serde(default)]
    temporality: String,
    #[serde(default)]
    is_monotonic: Option<bool>,
    #[serde(default)]
    distribution: Option<super::Distribution>,
    #[serde(default)]
    resource: Arc<Attrs>,
    #[serde(default)]
    scope: Arc<Scope>,
    #[serde(default)]
    exemplars: Vec<Value>,
    #[serde(default)]
    flags: u32,
}

impl<'de> Deserialize<'de> for MetricPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = PointShape::deserialize(d)?;
        Ok(MetricPoint {
            time_ns: p.timestamp,
            start_ns: p.start_timestamp,
            service: p.service,
            name: p.name,
            description: p.description,
            unit: p.unit,
            metric_type: p.metric_type,
            value: p.value,
            temporality: p.temporality,
            is_monotonic: p.is_monotonic,
            distribution: p.distribution,
            attributes: p.attribute_values,
            resource: p.resource,
            scope: p.scope,
            exemplars: p.exemplars,
            flags: p.flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every golden shape reads back into a value that writes it again.
    #[test]
    fn golden_shapes_round_trip() {
        fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str) {
            let path = crate::model::golden::path(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let value: T = serde_json::from_str(&text).unwrap();
            let again = serde_json::to_string_pretty(&value).unwrap() + "\n";
            assert_eq!(again, text, "{name} does not round-trip");
        }
        round_trip::<Span>("span");
        round_trip::<Span>("span_llm");
        round_trip::<LogRecord>("log");
        round_trip::<MetricPoint>("metric");
    }
}
