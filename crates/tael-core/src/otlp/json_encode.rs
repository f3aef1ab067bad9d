//! OTLP/JSON encoding of the protobuf request types (the inverse of
//! [`super::json`]): lowerCamelCase names, hex ids, 64-bit integers as
//! strings, enums as integers, bytes as base64. Used by the load generator,
//! by round-trip tests of the decoder and for the OTLP JSON that Jaeger's
//! api_v3 answers with.

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as PV, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use serde_json::{json, Map, Value};

fn double(d: f64) -> Value {
    if d.is_nan() {
        json!("NaN")
    } else if d.is_infinite() {
        json!(if d > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(d)
    }
}

fn any(v: &AnyValue) -> Value {
    match &v.value {
        None => json!({}),
        Some(PV::StringValue(s)) => json!({ "stringValue": s }),
        Some(PV::BoolValue(b)) => json!({ "boolValue": b }),
        Some(PV::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(PV::DoubleValue(d)) => json!({ "doubleValue": double(*d) }),
        Some(PV::ArrayValue(a)) => {
            json!({ "arrayValue": { "values": a.values.iter().map(any).collect::<Vec<_>>() } })
        }
        Some(PV::KvlistValue(k)) => json!({ "kvlistValue": { "values": kvs(&k.values) } }),
        Some(PV::BytesValue(b)) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
        Some(PV::StringValueStrindex(i)) => json!({ "stringValueStrindex": i }),
    }
}

fn kvs(list: &[KeyValue]) -> Vec<Value> {
    list.iter()
        .map(|kv| match &kv.value {
            Some(v) => json!({ "key": kv.key, "value": any(v) }),
            None => json!({ "key": kv.key }),
        })
        .collect()
}

fn resource(r: &Option<Resource>) -> Value {
    match r {
        None => Value::Null,
        Some(r) => {
            json!({ "attributes": kvs(&r.attributes), "droppedAttributesCount": r.dropped_attributes_count })
        }
    }
}

fn scope(s: &Option<InstrumentationScope>) -> Value {
    match s {
        None => Value::Null,
        Some(s) => json!({
            "name": s.name, "version": s.version, "attributes": kvs(&s.attributes),
            "droppedAttributesCount": s.dropped_attributes_count,
        }),
    }
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// OTLP/JSON of a trace export.
pub fn traces(r: &ExportTraceServiceRequest) -> Value {
    resource_spans(&r.resource_spans)
}

/// OTLP/JSON of `TracesData` (the same `resourceSpans` shape as an export).
pub fn traces_data(d: &TracesData) -> Value {
    resource_spans(&d.resource_spans)
}

fn resource_spans(list: &[ResourceSpans]) -> Value {
    let rs: Vec<Value> = list
        .iter()
        .map(|rs| {
            json!({
                "resource": resource(&rs.resource),
                "schemaUrl": rs.schema_url,
                "scopeSpans": rs.scope_spans.iter().map(|ss| json!({
                    "scope": scope(&ss.scope),
                    "schemaUrl": ss.schema_url,
                    "spans": ss.spans.iter().map(|s| json!({
                        "traceId": hex::encode(&s.trace_id),
                        "spanId": hex::encode(&s.span_id),
                        "traceState": s.trace_state,
                        "parentSpanId": hex::encode(&s.parent_span_id),
                        "flags": s.flags,
                        "name": s.name,
                        "kind": s.kind,
                        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                        "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                        "attributes": kvs(&s.attributes),
                        "droppedAttributesCount": s.dropped_attributes_count,
                        "events": s.events.iter().map(|e| json!({
                            "timeUnixNano": e.time_unix_nano.to_string(),
                            "name": e.name,
                            "attributes": kvs(&e.attributes),
                            "droppedAttributesCount": e.dropped_attributes_count,
                        })).collect::<Vec<_>>(),
                        "droppedEventsCount": s.dropped_events_count,
                        "links": s.links.iter().map(|l| json!({
                            "traceId": hex::encode(&l.trace_id),
                            "spanId": hex::encode(&l.span_id),
                            "traceState": l.trace_state,
                            "attributes": kvs(&l.attributes),
                            "droppedAttributesCount": l.dropped_attributes_count,
                            "flags": l.flags,
                        })).collect::<Vec<_>>(),
                        "droppedLinksCount": s.dropped_links_count,
                        "status": s.status.as_ref().map(|st| json!({ "message": st.message, "code": st.code })),
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    strip_nulls(json!({ "resourceSpans": rs }))
}

/// OTLP/JSON of a logs export.
pub fn logs(r: &ExportLogsServiceRequest) -> Value {
    let rl: Vec<Value> = r
        .resource_logs
        .iter()
        .map(|rl| {
            json!({
                "resource": resource(&rl.resource),
                "schemaUrl": rl.schema_url,
                "scopeLogs": rl.scope_logs.iter().map(|sl| json!({
                    "scope": scope(&sl.scope),
                    "schemaUrl": sl.schema_url,
                    "logRecords": sl.log_records.iter().map(|l| json!({
                        "timeUnixNano": l.time_unix_nano.to_string(),
                        "observedTimeUnixNano": l.observed_time_unix_nano.to_string(),
                        "severityNumber": l.severity_number,
                        "severityText": l.severity_text,
                        "body": l.body.as_ref().map(any),
                        "attributes": kvs(&l.attributes),
                        "droppedAttributesCount": l.dropped_attributes_count,
                        "flags": l.flags,
                        "traceId": hex::encode(&l.trace_id),
                        "spanId": hex::encode(&l.span_id),
                        "eventName": l.event_name,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    strip_nulls(json!({ "resourceLogs": rl }))
}

fn exemplars(list: &[pm::Exemplar]) -> Vec<Value> {
    list.iter()
        .map(|e| {
            let mut v = json!({
                "filteredAttributes": kvs(&e.filtered_attributes),
                "timeUnixNano": e.time_unix_nano.to_string(),
                "spanId": hex::encode(&e.span_id),
                "traceId": hex::encode(&e.trace_id),
            });
            match e.value {
                Some(pm::exemplar::Value::AsDouble(d)) => v["asDouble"] = double(d),
                Some(pm::exemplar::Value::AsInt(i)) => v["asInt"] = json!(i.to_string()),
                None => {}
            }
            v
        })
        .collect()
}

fn number_points(points: &[pm::NumberDataPoint]) -> Vec<Value> {
    points
        .iter()
        .map(|p| {
            let mut v = json!({
                "attributes": kvs(&p.attributes),
                "startTimeUnixNano": p.start_time_unix_nano.to_string(),
                "timeUnixNano": p.time_unix_nano.to_string(),
                "exemplars": exemplars(&p.exemplars),
                "flags": p.flags,
            });
            match p.value {
                Some(pm::number_data_point::Value::AsDouble(d)) => v["asDouble"] = double(d),
                Some(pm::number_data_point::Value::AsInt(i)) => v["asInt"] = json!(i.to_string()),
                None => {}
            }
            v
        })
        .collect()
}

fn opt_double(d: Option<f64>) -> Value {
    d.map(double).unwrap_or(Value::Null)
}

fn metric(m: &pm::Metric) -> Value {
    use pm::metric::Data;
    let mut v = json!({ "name": m.name, "description": m.description, "unit": m.unit, "metadata": kvs(&m.metadata) });
    match &m.data {
        None => {}
        Some(Data::Gauge(g)) => v["gauge"] = json!({ "dataPoints": number_points(&g.data_points) }),
        Some(Data::Sum(s)) => {
            v["sum"] = json!({
                "dataPoints": number_points(&s.data_points),
                "aggregationTemporality": s.aggregation_temporality,
                "isMonotonic": s.is_monotonic,
            })
        }
        Some(Data::Histogram(h)) => {
            v["histogram"] = json!({
                "aggregationTemporality": h.aggregation_temporality,
                "dataPoints": h.data_points.iter().map(|p| json!({
                    "attributes": kvs(&p.attributes),
                    "startTimeUnixNano": p.start_time_unix_nano.to_string(),
                    "timeUnixNano": p.time_unix_nano.to_string(),
                    "count": p.count.to_string(),
                    "sum": opt_double(p.sum),
                    "bucketCounts": p.bucket_counts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                    "explicitBounds": p.explicit_bounds.iter().map(|b| double(*b)).collect::<Vec<_>>(),
                    "exemplars": exemplars(&p.exemplars),
                    "flags": p.flags,
                    "min": opt_double(p.min),
                    "max": opt_double(p.max),
                })).collect::<Vec<_>>(),
            })
        }
        Some(Data::ExponentialHistogram(h)) => {
            let buckets = |b: &Option<pm::exponential_histogram_data_point::Buckets>| {
                b.as_ref().map(|b| json!({
                    "offset": b.offset,
                    "bucketCounts": b.bucket_counts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                }))
            };
            v["exponentialHistogram"] = json!({
                "aggregationTemporality": h.aggregation_temporality,
                "dataPoints": h.data_points.iter().map(|p| json!({
                    "attributes": kvs(&p.attributes),
                    "startTimeUnixNano": p.start_time_unix_nano.to_string(),
                    "timeUnixNano": p.time_unix_nano.to_string(),
                    "count": p.count.to_string(),
                    "sum": opt_double(p.sum),
                    "scale": p.scale,
                    "zeroCount": p.zero_count.to_string(),
                    "positive": buckets(&p.positive),
                    "negative": buckets(&p.negative),
                    "flags": p.flags,
                    "exemplars": exemplars(&p.exemplars),
                    "min": opt_double(p.min),
                    "max": opt_double(p.max),
                    "zeroThreshold": double(p.zero_threshold),
                })).collect::<Vec<_>>(),
            })
        }
        Some(Data::Summary(s)) => {
            v["summary"] = json!({
                "dataPoints": s.data_points.iter().map(|p| json!({
                    "attributes": kvs(&p.attributes),
                    "startTimeUnixNano": p.start_time_unix_nano.to_string(),
                    "timeUnixNano": p.time_unix_nano.to_string(),
                    "count": p.count.to_string(),
                    "sum": double(p.sum),
                    "quantileValues": p.quantile_values.iter().map(|q| json!({ "quantile": double(q.quantile), "value": double(q.value) })).collect::<Vec<_>>(),
                    "flags": p.flags,
                })).collect::<Vec<_>>(),
            })
        }
    }
    v
}

/// OTLP/JSON of a metrics export.
pub fn metrics(r: &ExportMetricsServiceRequest) -> Value {
    let rm: Vec<Value> = r
        .resource_metrics
        .iter()
        .map(|rm| {
            json!({
                "resource": resource(&rm.resource),
                "schemaUrl": rm.schema_url,
                "scopeMetrics": rm.scope_metrics.iter().map(|sm| json!({
                    "scope": scope(&sm.scope),
                    "schemaUrl": sm.schema_url,
                    "metrics": sm.metrics.iter().map(metric).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    strip_nulls(json!({ "resourceMetrics": rm }))
}
