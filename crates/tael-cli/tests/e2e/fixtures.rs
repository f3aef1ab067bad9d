//! Requests that use every OTLP field tael stores.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

pub fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A trace id that is unique per (tag, n).
pub fn trace_id(tag: u8, n: u32) -> Vec<u8> {
    let mut t = vec![tag; 16];
    t[12..16].copy_from_slice(&n.to_be_bytes());
    t[0] = 0xa0 | (tag & 0x0f);
    t
}

pub fn span_id(tag: u8, n: u32) -> Vec<u8> {
    let mut s = vec![tag; 8];
    s[4..8].copy_from_slice(&n.to_be_bytes());
    s[0] = 0xb0;
    s
}

pub fn typed_attrs() -> Vec<KeyValue> {
    vec![
        kv("str", V::StringValue("hello".into())),
        kv("bool", V::BoolValue(true)),
        kv("int", V::IntValue(-42)),
        kv("double", V::DoubleValue(1.5)),
        kv("whole_double", V::DoubleValue(2.0)),
        kv(
            "array",
            V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(V::IntValue(1)),
                    },
                    AnyValue {
                        value: Some(V::StringValue("two".into())),
                    },
                ],
            }),
        ),
        kv(
            "map",
            V::KvlistValue(KeyValueList {
                values: vec![kv("inner", V::BoolValue(false))],
            }),
        ),
        kv("bytes", V::BytesValue(vec![0, 1, 2, 255])),
    ]
}

pub fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", V::StringValue(service.into())),
            kv("host.cores", V::IntValue(8)),
        ],
        dropped_attributes_count: 0,
        ..Default::default()
    })
}

pub fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "e2e-scope".into(),
        version: "9.9.9".into(),
        attributes: vec![kv("scope.attr", V::StringValue("x".into()))],
        dropped_attributes_count: 2,
    })
}

/// One fully populated span plus a child, in trace (tag, n).
pub fn rich_traces(service: &str, tag: u8, n: u32) -> ExportTraceServiceRequest {
    let now = now_ns();
    let root = Span {
        trace_id: trace_id(tag, n),
        span_id: span_id(tag, 1),
        trace_state: "vendor=value".into(),
        parent_span_id: vec![],
        flags: 1,
        name: "GET /rich".into(),
        kind: 2,
        start_time_unix_nano: now - 5_000_000,
        end_time_unix_nano: now,
        attributes: typed_attrs(),
        dropped_attributes_count: 3,
        events: vec![span::Event {
            time_unix_nano: now - 1_000_000,
            name: "exception".into(),
            attributes: vec![
                kv("exception.message", V::StringValue("boom".into())),
                kv("retry", V::DoubleValue(0.5)),
            ],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 2,
        links: vec![span::Link {
            trace_id: trace_id(tag, n + 1_000_000),
            span_id: span_id(tag, 99),
            trace_state: "l=1".into(),
            attributes: vec![kv("link.kind", V::StringValue("follows".into()))],
            dropped_attributes_count: 0,
            flags: 1,
        }],
        dropped_links_count: 4,
        status: Some(Status {
            message: "it broke".into(),
            code: 2,
        }),
    };
    let child = Span {
        trace_id: trace_id(tag, n),
        span_id: span_id(tag, 2),
        parent_span_id: span_id(tag, 1),
        name: "SELECT".into(),
        kind: 3,
        start_time_unix_nano: now - 4_000_000,
        end_time_unix_nano: now - 2_000_000,
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
        ..Default::default()
    };
    service_traces(service, vec![root, child])
}

/// One export of `spans`, all of service `service`.
pub fn service_traces(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// One resource per service, in the order given, each with its spans.
pub fn traces_by_service<'a>(
    by: impl IntoIterator<Item = (&'a str, Vec<Span>)>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: by
            .into_iter()
            .flat_map(|(service, spans)| service_traces(service, spans).resource_spans)
            .collect(),
    }
}

/// Log records of one service.
pub fn service_logs(service: &str, log_records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// `count` simple spans (one per trace) for service `service`.
pub fn simple_traces(
    service: &str,
    tag: u8,
    first: u32,
    count: u32,
    start_ns: u64,
) -> ExportTraceServiceRequest {
    let spans = (first..first + count)
        .map(|n| Span {
            trace_id: trace_id(tag, n),
            span_id: span_id(tag, n),
            name: format!("op-{}", n % 3),
            kind: 2,
            start_time_unix_nano: start_ns + n as u64 * 1000,
            end_time_unix_nano: start_ns + n as u64 * 1000 + 1_000_000 * (1 + n as u64 % 50),
            status: Some(Status {
                code: if n % 10 == 0 { 2 } else { 0 },
                message: String::new(),
            }),
            attributes: vec![kv("n", V::IntValue(n as i64))],
            ..Default::default()
        })
        .collect();
    service_traces(service, spans)
}

pub fn rich_logs(service: &str, tag: u8, n: u32) -> ExportLogsServiceRequest {
    let now = now_ns();
    let structured = LogRecord {
        time_unix_nano: now - 1_000,
        observed_time_unix_nano: now,
        severity_number: 17,
        severity_text: "ERROR".into(),
        body: Some(AnyValue {
            value: Some(V::KvlistValue(KeyValueList {
                values: vec![
                    kv("msg", V::StringValue("payment failed".into())),
                    kv("code", V::IntValue(402)),
                ],
            })),
        }),
        attributes: typed_attrs(),
        dropped_attributes_count: 1,
        flags: 1,
        trace_id: trace_id(tag, n),
        span_id: span_id(tag, 1),
        event_name: "payment.failure".into(),
    };
    let plain = LogRecord {
        time_unix_nano: now - 2_000,
        severity_number: 9,
        body: Some(AnyValue {
            value: Some(V::StringValue("user logged in".into())),
        }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![structured, plain],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

pub fn rich_metrics(service: &str) -> ExportMetricsServiceRequest {
    let now = now_ns();
    let attrs = vec![kv("route", V::StringValue("/pay".into()))];
    let number = |v: pm::number_data_point::Value| pm::NumberDataPoint {
        attributes: attrs.clone(),
        start_time_unix_nano: now - 60_000_000_000,
        time_unix_nano: now,
        value: Some(v),
        ..Default::default()
    };
    let metrics = vec![
        pm::Metric {
            name: "e2e.gauge".into(),
            description: "a gauge".into(),
            unit: "1".into(),
            data: Some(pm::metric::Data::Gauge(pm::Gauge {
                data_points: vec![number(pm::number_data_point::Value::AsDouble(0.25))],
            })),
            ..Default::default()
        },
        pm::Metric {
            name: "e2e.sum".into(),
            unit: "{req}".into(),
            data: Some(pm::metric::Data::Sum(pm::Sum {
                data_points: vec![number(pm::number_data_point::Value::AsInt(7))],
                aggregation_temporality: 1,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        pm::Metric {
            name: "e2e.histogram".into(),
            unit: "s".into(),
            data: Some(pm::metric::Data::Histogram(pm::Histogram {
                data_points: vec![pm::HistogramDataPoint {
                    attributes: attrs.clone(),
                    start_time_unix_nano: now - 60_000_000_000,
                    time_unix_nano: now,
                    count: 6,
                    sum: Some(3.5),
                    bucket_counts: vec![1, 2, 3],
                    explicit_bounds: vec![0.1, 1.0],
                    min: Some(0.05),
                    max: Some(2.0),
                    ..Default::default()
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        },
        pm::Metric {
            name: "e2e.exphist".into(),
            data: Some(pm::metric::Data::ExponentialHistogram(
                pm::ExponentialHistogram {
                    data_points: vec![pm::ExponentialHistogramDataPoint {
                        attributes: attrs.clone(),
                        time_unix_nano: now,
                        count: 5,
                        sum: Some(10.0),
                        scale: 3,
                        zero_count: 1,
                        positive: Some(pm::exponential_histogram_data_point::Buckets {
                            offset: -2,
                            bucket_counts: vec![1, 3],
                        }),
                        negative: None,
                        zero_threshold: 0.001,
                        ..Default::default()
                    }],
                    aggregation_temporality: 1,
                },
            )),
            ..Default::default()
        },
        pm::Metric {
            name: "e2e.summary".into(),
            data: Some(pm::metric::Data::Summary(pm::Summary {
                data_points: vec![pm::SummaryDataPoint {
                    attributes: attrs.clone(),
                    time_unix_nano: now,
                    count: 10,
                    sum: 42.0,
                    quantile_values: vec![
                        pm::summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 4.0,
                        },
                        pm::summary_data_point::ValueAtQuantile {
                            quantile: 0.99,
                            value: 9.0,
                        },
                    ],
                    ..Default::default()
                }],
            })),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![pm::ResourceMetrics {
            resource: resource(service),
            scope_metrics: vec![pm::ScopeMetrics {
                scope: scope(),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
