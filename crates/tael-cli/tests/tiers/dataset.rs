//! One data set, built once with fixed timestamps, so that the very same
//! requests go to a single node and through the ingest tier: traces of a
//! three-service call chain (some failing, some LLM calls), logs with and
//! without a trace, gauge and counter series of several hosts.

use crate::fixtures::{kv, resource, span_id, trace_id};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

/// Traces in the data set.
pub const TRACES: u32 = 90;
const TAG: u8 = 0x42;
const MS: u64 = 1_000_000;

pub struct DataSet {
    /// Start of the data (ns); every item is in `[start, start + 10 min)`.
    pub start_ns: u64,
    pub traces: Vec<ExportTraceServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
}

/// The trace id of trace `n`, as hex.
pub fn trace_hex(n: u32) -> String {
    trace_id(TAG, n)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: resource(service),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Trace `n`: frontend → checkout → payments (or an LLM call every
/// seventh trace), each span starting at its own nanosecond.
fn trace(n: u32, t0: u64) -> ExportTraceServiceRequest {
    let start = t0 + n as u64 * 5_000 * MS + n as u64;
    let error = n.is_multiple_of(9);
    let span = |k: u32, parent: Option<u32>, name: &str, from: u64, dur_ms: u64| Span {
        trace_id: trace_id(TAG, n),
        span_id: span_id(TAG, n * 4 + k),
        parent_span_id: parent.map(|p| span_id(TAG, n * 4 + p)).unwrap_or_default(),
        name: name.into(),
        kind: if parent.is_none() { 2 } else { 3 },
        start_time_unix_nano: from,
        end_time_unix_nano: from + dur_ms * MS + n as u64 * 7_919,
        status: Some(Status {
            code: if error && k == 2 { 2 } else { 0 },
            message: if error && k == 2 {
                "card declined".into()
            } else {
                String::new()
            },
        }),
        attributes: vec![kv("n", V::IntValue(n as i64))],
        ..Default::default()
    };
    let mut last = span(
        2,
        Some(1),
        "charge",
        start + 3 * MS,
        20 + (n as u64 % 13) * 3,
    );
    let mut last_service = "payments";
    if n.is_multiple_of(7) {
        last.name = "chat gpt-4o".into();
        last.attributes.extend([
            kv("gen_ai.operation.name", V::StringValue("chat".into())),
            kv("gen_ai.system", V::StringValue("openai".into())),
            kv("gen_ai.request.model", V::StringValue("gpt-4o".into())),
            kv("gen_ai.usage.input_tokens", V::IntValue(100 + n as i64)),
            kv("gen_ai.usage.output_tokens", V::IntValue(20 + n as i64 % 5)),
        ]);
        last_service = "assistant";
    }
    ExportTraceServiceRequest {
        resource_spans: vec![
            resource_spans("frontend", vec![span(0, None, "GET /checkout", start, 80)]),
            resource_spans(
                "checkout",
                vec![span(1, Some(0), "place order", start + MS, 60)],
            ),
            resource_spans(last_service, vec![last]),
        ],
    }
}

fn log(time_ns: u64, severity: i32, body: &str, trace: Option<u32>) -> LogRecord {
    LogRecord {
        time_unix_nano: time_ns,
        observed_time_unix_nano: time_ns,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(V::StringValue(body.into())),
        }),
        trace_id: trace.map(|n| trace_id(TAG, n)).unwrap_or_default(),
        ..Default::default()
    }
}

fn logs_of(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Gauge points at even nanoseconds, counter points at odd ones.
fn v_offset(v: &pm::number_data_point::Value) -> u64 {
    match v {
        pm::number_data_point::Value::AsInt(_) => 1,
        pm::number_data_point::Value::AsDouble(_) => 0,
    }
}

fn metrics(t0: u64) -> ExportMetricsServiceRequest {
    let attrs = |host: u32| vec![kv("host", V::StringValue(format!("h{host}")))];
    // Every point at its own nanosecond (searches list newest first).
    let point = |host: u32, k: u64, v: pm::number_data_point::Value| pm::NumberDataPoint {
        attributes: attrs(host),
        start_time_unix_nano: t0,
        time_unix_nano: t0 + k * 30_000 * MS + host as u64 * 2 + v_offset(&v),
        value: Some(v),
        ..Default::default()
    };
    let mut gauge = Vec::new();
    let mut counter = Vec::new();
    for host in 0..6 {
        for k in 0..12u64 {
            gauge.push(point(
                host,
                k,
                pm::number_data_point::Value::AsDouble((host as f64) * 1.5 + k as f64 * 0.25),
            ));
            counter.push(point(
                host,
                k,
                pm::number_data_point::Value::AsInt((k * (host as u64 + 1) * 10) as i64),
            ));
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![pm::ResourceMetrics {
            resource: resource("checkout"),
            scope_metrics: vec![pm::ScopeMetrics {
                metrics: vec![
                    pm::Metric {
                        name: "queue.depth".into(),
                        unit: "1".into(),
                        data: Some(pm::metric::Data::Gauge(pm::Gauge { data_points: gauge })),
                        ..Default::default()
                    },
                    pm::Metric {
                        name: "orders".into(),
                        unit: "{order}".into(),
                        data: Some(pm::metric::Data::Sum(pm::Sum {
                            data_points: counter,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

impl DataSet {
    /// The data set, its items within the ten minutes after `start_ns`.
    pub fn new(start_ns: u64) -> DataSet {
        let traces = (0..TRACES).map(|n| trace(n, start_ns)).collect();
        let mut logs = Vec::new();
        for chunk in 0..3u32 {
            let records = (chunk * 30..chunk * 30 + 30)
                .map(|n| {
                    let t = start_ns + n as u64 * 5_000 * MS + 2 * MS + n as u64;
                    match n % 3 {
                        0 => log(t, 17, &format!("order {n} failed: card declined"), Some(n)),
                        1 => log(t, 9, &format!("order {n} placed"), Some(n)),
                        _ => log(t, 13, &format!("slow inventory lookup {n}"), None),
                    }
                })
                .collect();
            logs.push(logs_of(
                if chunk == 1 { "inventory" } else { "checkout" },
                records,
            ));
        }
        DataSet {
            start_ns,
            traces,
            logs,
            metrics: vec![metrics(start_ns)],
        }
    }
}
