//! OTLP/JSON decoding (the OTLP/HTTP `application/json` encoding) into the
//! protobuf request types, following the OTLP JSON rules: field names in
//! lowerCamelCase (snake_case accepted too), trace and span ids as hex,
//! 64-bit integers as strings or numbers, enums as integers (enum names
//! accepted too), `bytesValue` as base64, unknown fields ignored. Errors name
//! the JSON path of the offending field.

use crate::CoreError;
use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value};

type Obj = Map<String, Value>;
type R<T> = Result<T, CoreError>;

fn err(path: &str, what: &str) -> CoreError {
    CoreError::InvalidArgument(format!("invalid OTLP/JSON at {path}: {what}"))
}

fn parse_root(body: &[u8]) -> R<Obj> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| CoreError::InvalidArgument(format!("invalid OTLP/JSON: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(err("$", "expected an object")),
    }
}

fn get<'a>(o: &'a Obj, camel: &str, snake: &str) -> Option<&'a Value> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn obj<'a>(v: &'a Value, path: &str) -> R<&'a Obj> {
    v.as_object().ok_or_else(|| err(path, "expected an object"))
}

fn list<'a>(o: &'a Obj, camel: &str, snake: &str, path: &str) -> R<&'a [Value]> {
    match get(o, camel, snake) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(&format!("{path}.{camel}"), "expected an array")),
    }
}

fn string(o: &Obj, camel: &str, snake: &str, path: &str) -> R<String> {
    match get(o, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(err(&format!("{path}.{camel}"), "expected a string")),
    }
}

fn uint(v: &Value, path: &str) -> R<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.9e19)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| err(path, "expected an unsigned integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| err(path, "expected an unsigned integer")),
        _ => Err(err(path, "expected an unsigned integer")),
    }
}

fn int(v: &Value, path: &str) -> R<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| err(path, "expected an integer")),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| err(path, "expected an integer")),
        _ => Err(err(path, "expected an integer")),
    }
}

fn u64f(o: &Obj, camel: &str, snake: &str, path: &str) -> R<u64> {
    get(o, camel, snake)
        .map(|v| uint(v, &format!("{path}.{camel}")))
        .unwrap_or(Ok(0))
}

fn u32f(o: &Obj, camel: &str, snake: &str, path: &str) -> R<u32> {
    let v = u64f(o, camel, snake, path)?;
    u32::try_from(v).map_err(|_| err(&format!("{path}.{camel}"), "out of range for uint32"))
}

fn i32f(o: &Obj, camel: &str, snake: &str, path: &str) -> R<i32> {
    match get(o, camel, snake) {
        None => Ok(0),
        Some(v) => {
            let p = format!("{path}.{camel}");
            let i = int(v, &p)?;
            i32::try_from(i).map_err(|_| err(&p, "out of range for int32"))
        }
    }
}

/// An enum: an integer, or one of `names` (index = value).
fn enumf(o: &Obj, camel: &str, snake: &str, names: &[&str], path: &str) -> R<i32> {
    match get(o, camel, snake) {
        Some(Value::String(s)) if s.parse::<i64>().is_err() => names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| i as i32)
            .ok_or_else(|| {
                err(
                    &format!("{path}.{camel}"),
                    &format!("unknown enum value {s:?}"),
                )
            }),
        _ => i32f(o, camel, snake, path),
    }
}

fn double(v: &Value, path: &str) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| err(path, "expected a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .trim()
                .parse()
                .map_err(|_| err(path, "expected a number")),
        },
        _ => Err(err(path, "expected a number")),
    }
}

fn opt_double(o: &Obj, camel: &str, path: &str) -> R<Option<f64>> {
    get(o, camel, camel)
        .map(|v| double(v, &format!("{path}.{camel}")))
        .transpose()
}

fn doubles(o: &Obj, camel: &str, snake: &str, path: &str) -> R<Vec<f64>> {
    list(o, camel, snake, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| double(v, &format!("{path}.{camel}[{i}]")))
        .collect()
}

fn uints(o: &Obj, camel: &str, snake: &str, path: &str) -> R<Vec<u64>> {
    list(o, camel, snake, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| uint(v, &format!("{path}.{camel}[{i}]")))
        .collect()
}

/// A trace or span id: hex (case-insensitive). Empty means absent.
fn id(o: &Obj, camel: &str, snake: &str, len: usize, path: &str) -> R<Vec<u8>> {
    let s = string(o, camel, snake, path)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let p = format!("{path}.{camel}");
    let bytes = hex::decode(&s).map_err(|_| err(&p, "expected a hex string"))?;
    if bytes.len() != len {
        return Err(err(
            &p,
            &format!("expected {} hex characters, got {}", len * 2, s.len()),
        ));
    }
    Ok(bytes)
}

fn any_value(v: &Value, path: &str) -> R<AnyValue> {
    let o = obj(v, path)?;
    use any_value::Value as V;
    let value = if let Some(s) = get(o, "stringValue", "string_value") {
        Some(V::StringValue(
            s.as_str()
                .ok_or_else(|| err(path, "stringValue must be a string"))?
                .to_string(),
        ))
    } else if let Some(b) = get(o, "boolValue", "bool_value") {
        Some(V::BoolValue(
            b.as_bool()
                .ok_or_else(|| err(path, "boolValue must be a bool"))?,
        ))
    } else if let Some(i) = get(o, "intValue", "int_value") {
        Some(V::IntValue(int(i, &format!("{path}.intValue"))?))
    } else if let Some(d) = get(o, "doubleValue", "double_value") {
        Some(V::DoubleValue(double(d, &format!("{path}.doubleValue"))?))
    } else if let Some(a) = get(o, "arrayValue", "array_value") {
        let ao = obj(a, path)?;
        let values = list(ao, "values", "values", path)?
            .iter()
            .enumerate()
            .map(|(i, x)| any_value(x, &format!("{path}.arrayValue.values[{i}]")))
            .collect::<R<_>>()?;
        Some(V::ArrayValue(ArrayValue { values }))
    } else if let Some(k) = get(o, "kvlistValue", "kvlist_value") {
        let ko = obj(k, path)?;
        Some(V::KvlistValue(KeyValueList {
            values: key_values(ko, "values", "values", &format!("{path}.kvlistValue"))?,
        }))
    } else if let Some(b) = get(o, "bytesValue", "bytes_value") {
        let s = b
            .as_str()
            .ok_or_else(|| err(path, "bytesValue must be a base64 string"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
            .map_err(|_| err(path, "bytesValue must be base64"))?;
        Some(V::BytesValue(bytes))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn key_values(o: &Obj, camel: &str, snake: &str, path: &str) -> R<Vec<KeyValue>> {
    list(o, camel, snake, path)?
        .iter()
        .enumerate()
        .map(|(i, kv)| {
            let p = format!("{path}.{camel}[{i}]");
            let ko = obj(kv, &p)?;
            Ok(KeyValue {
                key: string(ko, "key", "key", &p)?,
                value: get(ko, "value", "value")
                    .map(|v| any_value(v, &format!("{p}.value")))
                    .transpose()?,
                ..Default::default()
            })
        })
        .collect()
}

fn resource(o: &Obj, path: &str) -> R<Option<Resource>> {
    let Some(r) = get(o, "resource", "resource") else {
        return Ok(None);
    };
    let p = format!("{path}.resource");
    let ro = obj(r, &p)?;
    Ok(Some(Resource {
        attributes: key_values(ro, "attributes", "attributes", &p)?,
        dropped_attributes_count: u32f(
            ro,
            "droppedAttributesCount",
            "dropped_attributes_count",
            &p,
        )?,
        ..Default::default()
    }))
}

fn scope(o: &Obj, path: &str) -> R<Option<InstrumentationScope>> {
    let Some(s) = get(o, "scope", "scope") else {
        return Ok(None);
    };
    let p = format!("{path}.scope");
    let so = obj(s, &p)?;
    Ok(Some(InstrumentationScope {
        name: string(so, "name", "name", &p)?,
        version: string(so, "version", "version", &p)?,
        attributes: key_values(so, "attributes", "attributes", &p)?,
        dropped_attributes_count: u32f(
            so,
            "droppedAttributesCount",
            "dropped_attributes_count",
            &p,
        )?,
    }))
}

fn each<'a, T>(
    o: &'a Obj,
    camel: &str,
    snake: &str,
    path: &str,
    f: impl Fn(&'a Obj, &str) -> R<T>,
) -> R<Vec<T>> {
    list(o, camel, snake, path)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = format!("{path}.{camel}[{i}]");
            f(obj(v, &p)?, &p)
        })
        .collect()
}

const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
const TEMPORALITIES: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];

fn span_of(o: &Obj, p: &str) -> R<Span> {
    let status = match get(o, "status", "status") {
        None => None,
        Some(s) => {
            let sp = format!("{p}.status");
            let so = obj(s, &sp)?;
            Some(Status {
                message: string(so, "message", "message", &sp)?,
                code: enumf(so, "code", "code", STATUS_CODES, &sp)?,
            })
        }
    };
    Ok(Span {
        trace_id: id(o, "traceId", "trace_id", 16, p)?,
        span_id: id(o, "spanId", "span_id", 8, p)?,
        trace_state: string(o, "traceState", "trace_state", p)?,
        parent_span_id: id(o, "parentSpanId", "parent_span_id", 8, p)?,
        flags: u32f(o, "flags", "flags", p)?,
        name: string(o, "name", "name", p)?,
        kind: enumf(o, "kind", "kind", SPAN_KINDS, p)?,
        start_time_unix_nano: u64f(o, "startTimeUnixNano", "start_time_unix_nano", p)?,
        end_time_unix_nano: u64f(o, "endTimeUnixNano", "end_time_unix_nano", p)?,
        attributes: key_values(o, "attributes", "attributes", p)?,
        dropped_attributes_count: u32f(o, "droppedAttributesCount", "dropped_attributes_count", p)?,
        events: each(o, "events", "events", p, |e, ep| {
            Ok(span::Event {
                time_unix_nano: u64f(e, "timeUnixNano", "time_unix_nano", ep)?,
                name: string(e, "name", "name", ep)?,
                attributes: key_values(e, "attributes", "attributes", ep)?,
                dropped_attributes_count: u32f(
                    e,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                    ep,
                )?,
            })
        })?,
        dropped_events_count: u32f(o, "droppedEventsCount", "dropped_events_count", p)?,
        links: each(o, "links", "links", p, |l, lp| {
            Ok(span::Link {
                trace_id: id(l, "traceId", "trace_id", 16, lp)?,
                span_id: id(l, "spanId", "span_id", 8, lp)?,
                trace_state: string(l, "traceState", "trace_state", lp)?,
                attributes: key_values(l, "attributes", "attributes", lp)?,
                dropped_attributes_count: u32f(
                    l,
                    "droppedAttributesCount",
                    "dropped_attributes_count",
                    lp,
                )?,
                flags: u32f(l, "flags", "flags", lp)?,
            })
        })?,
        dropped_links_count: u32f(o, "droppedLinksCount", "dropped_links_count", p)?,
        status,
    })
}

/// Decodes an OTLP/JSON trace export body.
pub fn decode_traces(body: &[u8]) -> R<ExportTraceServiceRequest> {
    let root = parse_root(body)?;
    let resource_spans = each(&root, "resourceSpans", "resource_spans", "$", |rs, p| {
        Ok(ResourceSpans {
            resource: resource(rs, p)?,
            scope_spans: each(rs, "scopeSpans", "scope_spans", p, |ss, sp| {
                Ok(ScopeSpans {
                    scope: scope(ss, sp)?,
                    spans: each(ss, "spans", "spans", sp, span_of)?,
                    schema_url: string(ss, "schemaUrl", "schema_url", sp)?,
                })
            })?,
            schema_url: string(rs, "schemaUrl", "schema_url", p)?,
        })
    })?;
    Ok(ExportTraceServiceRequest { resource_spans })
}

/// Decodes an OTLP/JSON logs export body.
pub fn decode_logs(body: &[u8]) -> R<ExportLogsServiceRequest> {
    let root = parse_root(body)?;
    let resource_logs = each(&root, "resourceLogs", "resource_logs", "$", |rl, p| {
        Ok(ResourceLogs {
            resource: resource(rl, p)?,
            scope_logs: each(rl, "scopeLogs", "scope_logs", p, |sl, sp| {
                Ok(ScopeLogs {
                    scope: scope(sl, sp)?,
                    log_records: each(sl, "logRecords", "log_records", sp, |r, rp| {
                        Ok(LogRecord {
                            time_unix_nano: u64f(r, "timeUnixNano", "time_unix_nano", rp)?,
                            observed_time_unix_nano: u64f(
                                r,
                                "observedTimeUnixNano",
                                "observed_time_unix_nano",
                                rp,
                            )?,
                            severity_number: i32f(r, "severityNumber", "severity_number", rp)?,
                            severity_text: string(r, "severityText", "severity_text", rp)?,
                            body: get(r, "body", "body")
                                .map(|b| any_value(b, &format!("{rp}.body")))
                                .transpose()?,
                            attributes: key_values(r, "attributes", "attributes", rp)?,
                            dropped_attributes_count: u32f(
                                r,
                                "droppedAttributesCount",
                                "dropped_attributes_count",
                                rp,
                            )?,
                            flags: u32f(r, "flags", "flags", rp)?,
                            trace_id: id(r, "traceId", "trace_id", 16, rp)?,
                            span_id: id(r, "spanId", "span_id", 8, rp)?,
                            event_name: string(r, "eventName", "event_name", rp)?,
                        })
                    })?,
                    schema_url: string(sl, "schemaUrl", "schema_url", sp)?,
                })
            })?,
            schema_url: string(rl, "schemaUrl", "schema_url", p)?,
        })
    })?;
    Ok(ExportLogsServiceRequest { resource_logs })
}

fn exemplars(o: &Obj, p: &str) -> R<Vec<pm::Exemplar>> {
    each(o, "exemplars", "exemplars", p, |e, ep| {
        let value = if let Some(d) = get(e, "asDouble", "as_double") {
            Some(pm::exemplar::Value::AsDouble(double(d, ep)?))
        } else if let Some(i) = get(e, "asInt", "as_int") {
            Some(pm::exemplar::Value::AsInt(int(i, ep)?))
        } else {
            None
        };
        Ok(pm::Exemplar {
            filtered_attributes: key_values(e, "filteredAttributes", "filtered_attributes", ep)?,
            time_unix_nano: u64f(e, "timeUnixNano", "time_unix_nano", ep)?,
            span_id: id(e, "spanId", "span_id", 8, ep)?,
            trace_id: id(e, "traceId", "trace_id", 16, ep)?,
            value,
        })
    })
}

fn number_points(o: &Obj, p: &str) -> R<Vec<pm::NumberDataPoint>> {
    each(o, "dataPoints", "data_points", p, |d, dp| {
        let value = if let Some(v) = get(d, "asDouble", "as_double") {
            Some(pm::number_data_point::Value::AsDouble(double(
                v,
                &format!("{dp}.asDouble"),
            )?))
        } else if let Some(v) = get(d, "asInt", "as_int") {
            Some(pm::number_data_point::Value::AsInt(int(
                v,
                &format!("{dp}.asInt"),
            )?))
        } else {
            None
        };
        Ok(pm::NumberDataPoint {
            attributes: key_values(d, "attributes", "attributes", dp)?,
            start_time_unix_nano: u64f(d, "startTimeUnixNano", "start_time_unix_nano", dp)?,
            time_unix_nano: u64f(d, "timeUnixNano", "time_unix_nano", dp)?,
            exemplars: exemplars(d, dp)?,
            flags: u32f(d, "flags", "flags", dp)?,
            value,
        })
    })
}

fn buckets(
    o: &Obj,
    camel: &str,
    p: &str,
) -> R<Option<pm::exponential_histogram_data_point::Buckets>> {
    let Some(b) = get(o, camel, camel) else {
        return Ok(None);
    };
    let bp = format!("{p}.{camel}");
    let bo = obj(b, &bp)?;
    Ok(Some(pm::exponential_histogram_data_point::Buckets {
        offset: i32f(bo, "offset", "offset", &bp)?,
        bucket_counts: uints(bo, "bucketCounts", "bucket_counts", &bp)?,
    }))
}

fn metric_of(o: &Obj, p: &str) -> R<pm::Metric> {
    use pm::metric::Data;
    let data = if let Some(g) = get(o, "gauge", "gauge") {
        let gp = format!("{p}.gauge");
        Some(Data::Gauge(pm::Gauge {
            data_points: number_points(obj(g, &gp)?, &gp)?,
        }))
    } else if let Some(s) = get(o, "sum", "sum") {
        let sp = format!("{p}.sum");
        let so = obj(s, &sp)?;
        Some(Data::Sum(pm::Sum {
            data_points: number_points(so, &sp)?,
            aggregation_temporality: enumf(
                so,
                "aggregationTemporality",
                "aggregation_temporality",
                TEMPORALITIES,
                &sp,
            )?,
            is_monotonic: get(so, "isMonotonic", "is_monotonic")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }))
    } else if let Some(h) = get(o, "histogram", "histogram") {
        let hp = format!("{p}.histogram");
        let ho = obj(h, &hp)?;
        Some(Data::Histogram(pm::Histogram {
            data_points: each(ho, "dataPoints", "data_points", &hp, |d, dp| {
                Ok(pm::HistogramDataPoint {
                    attributes: key_values(d, "attributes", "attributes", dp)?,
                    start_time_unix_nano: u64f(d, "startTimeUnixNano", "start_time_unix_nano", dp)?,
                    time_unix_nano: u64f(d, "timeUnixNano", "time_unix_nano", dp)?,
                    count: u64f(d, "count", "count", dp)?,
                    sum: opt_double(d, "sum", dp)?,
                    bucket_counts: uints(d, "bucketCounts", "bucket_counts", dp)?,
                    explicit_bounds: doubles(d, "explicitBounds", "explicit_bounds", dp)?,
                    exemplars: exemplars(d, dp)?,
                    flags: u32f(d, "flags", "flags", dp)?,
                    min: opt_double(d, "min", dp)?,
                    max: opt_double(d, "max", dp)?,
                })
            })?,
            aggregation_temporality: enumf(
                ho,
                "aggregationTemporality",
                "aggregation_temporality",
                TEMPORALITIES,
                &hp,
            )?,
        }))
    } else if let Some(h) = get(o, "exponentialHistogram", "exponential_histogram") {
        let hp = format!("{p}.exponentialHistogram");
        let ho = obj(h, &hp)?;
        Some(Data::ExponentialHistogram(pm::ExponentialHistogram {
            data_points: each(ho, "dataPoints", "data_points", &hp, |d, dp| {
                Ok(pm::ExponentialHistogramDataPoint {
                    attributes: key_values(d, "attributes", "attributes", dp)?,
                    start_time_unix_nano: u64f(d, "startTimeUnixNano", "start_time_unix_nano", dp)?,
                    time_unix_nano: u64f(d, "timeUnixNano", "time_unix_nano", dp)?,
                    count: u64f(d, "count", "count", dp)?,
                    sum: opt_double(d, "sum", dp)?,
                    scale: i32f(d, "scale", "scale", dp)?,
                    zero_count: u64f(d, "zeroCount", "zero_count", dp)?,
                    positive: buckets(d, "positive", dp)?,
                    negative: buckets(d, "negative", dp)?,
                    flags: u32f(d, "flags", "flags", dp)?,
                    exemplars: exemplars(d, dp)?,
                    min: opt_double(d, "min", dp)?,
                    max: opt_double(d, "max", dp)?,
                    zero_threshold: opt_double(d, "zeroThreshold", dp)?.unwrap_or(0.0),
                })
            })?,
            aggregation_temporality: enumf(
                ho,
                "aggregationTemporality",
                "aggregation_temporality",
                TEMPORALITIES,
                &hp,
            )?,
        }))
    } else if let Some(s) = get(o, "summary", "summary") {
        let sp = format!("{p}.summary");
        let so = obj(s, &sp)?;
        Some(Data::Summary(pm::Summary {
            data_points: each(so, "dataPoints", "data_points", &sp, |d, dp| {
                Ok(pm::SummaryDataPoint {
                    attributes: key_values(d, "attributes", "attributes", dp)?,
                    start_time_unix_nano: u64f(d, "startTimeUnixNano", "start_time_unix_nano", dp)?,
                    time_unix_nano: u64f(d, "timeUnixNano", "time_unix_nano", dp)?,
                    count: u64f(d, "count", "count", dp)?,
                    sum: opt_double(d, "sum", dp)?.unwrap_or(0.0),
                    quantile_values: each(d, "quantileValues", "quantile_values", dp, |q, qp| {
                        Ok(pm::summary_data_point::ValueAtQuantile {
                            quantile: opt_double(q, "quantile", qp)?.unwrap_or(0.0),
                            value: opt_double(q, "value", qp)?.unwrap_or(0.0),
                        })
                    })?,
                    flags: u32f(d, "flags", "flags", dp)?,
                })
            })?,
        }))
    } else {
        None
    };
    Ok(pm::Metric {
        name: string(o, "name", "name", p)?,
        description: string(o, "description", "description", p)?,
        unit: string(o, "unit", "unit", p)?,
        metadata: key_values(o, "metadata", "metadata", p)?,
        data,
    })
}

/// Decodes an OTLP/JSON metrics export body.
pub fn decode_metrics(body: &[u8]) -> R<ExportMetricsServiceRequest> {
    let root = parse_root(body)?;
    let resource_metrics = each(
        &root,
        "resourceMetrics",
        "resource_metrics",
        "$",
        |rm, p| {
            Ok(pm::ResourceMetrics {
                resource: resource(rm, p)?,
                scope_metrics: each(rm, "scopeMetrics", "scope_metrics", p, |sm, sp| {
                    Ok(pm::ScopeMetrics {
                        scope: scope(sm, sp)?,
                        metrics: each(sm, "metrics", "metrics", sp, metric_of)?,
                        schema_url: string(sm, "schemaUrl", "schema_url", sp)?,
                    })
                })?,
                schema_url: string(rm, "schemaUrl", "schema_url", p)?,
            })
        },
    )?;
    Ok(ExportMetricsServiceRequest { resource_metrics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_span_with_string_and_number_ints() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
          "scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{"traceId":"0102030405060708090A0B0C0D0E0F10",
          "spanId":"0102030405060708","name":"GET /","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":2000,
          "attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"b","value":{"bytesValue":"AQI="}}],
          "status":{"code":2,"message":"boom"}}]}]}]}"#;
        let req = decode_traces(body).unwrap();
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(s.trace_id[0], 1);
        assert_eq!(s.start_time_unix_nano, 1000);
        assert_eq!(s.end_time_unix_nano, 2000);
        assert_eq!(s.kind, 2);
        assert_eq!(s.status.as_ref().unwrap().code, 2);
    }

    #[test]
    fn rejects_bad_ids_with_a_path() {
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}"#;
        let e = decode_traces(body).unwrap_err().to_string();
        assert!(
            e.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
            "{e}"
        );
    }

    #[test]
    fn accepts_enum_names() {
        let body =
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_CLIENT"}]}]}]}"#;
        assert_eq!(
            decode_traces(body).unwrap().resource_spans[0].scope_spans[0].spans[0].kind,
            3
        );
    }
}
