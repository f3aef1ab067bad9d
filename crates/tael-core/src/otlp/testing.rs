//! Proptest strategies for OTLP requests, shared by the property tests of
//! this crate and of the storage crate (feature `testing`).

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use prost::Message;

pub fn any_value() -> impl Strategy<Value = AnyValue> {
    let leaf = prop_oneof![
        ".{0,12}".prop_map(V::StringValue),
        any::<bool>().prop_map(V::BoolValue),
        any::<i64>().prop_map(V::IntValue),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(V::DoubleValue),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(V::BytesValue),
    ]
    .prop_map(|v| AnyValue { value: Some(v) });
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values }))
            }),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kvs| AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: kvs
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: Some(v),
                            ..Default::default()
                        })
                        .collect(),
                })),
            }),
        ]
    })
}

/// Keys the LLM conventions read (see `crate::llm`).
const LLM_KEYS: &[&str] = &[
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.operation.name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.response.finish_reasons",
    "gen_ai.completion.0.finish_reason",
    "gen_ai.usage.cost",
    "gen_ai.request.temperature",
    "gen_ai.response.time_to_first_chunk",
    "openinference.span.kind",
    "llm.model_name",
    "llm.token_count.prompt",
    "llm.invocation_parameters",
    "ai.model.id",
    "ai.operationId",
    "traceloop.span.kind",
];

pub fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    // Unique keys, so "last wins" does not blur the comparison.
    // Some keys are LLM-call keys, so that the LLM extraction is compared too.
    let key = prop_oneof![
        3 => "[a-z.]{1,10}".prop_map(String::from),
        1 => proptest::sample::select(LLM_KEYS).prop_map(String::from),
    ];
    proptest::collection::btree_map(key, any_value(), 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(key, v)| KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            })
            .collect()
    })
}

pub fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len).prop_map(|mut v| {
        v[0] |= 1;
        v
    })
}

pub fn span() -> impl Strategy<Value = Span> {
    (
        id(16),
        id(8),
        prop::option::of(id(8)),
        ".{0,20}",
        0..6i32,
        any::<u64>(),
        any::<u64>(),
        attrs(),
        0..3i32,
        ".{0,10}",
        any::<u32>(),
    )
        .prop_map(
            |(
                trace_id,
                span_id,
                parent,
                name,
                kind,
                start,
                end,
                attributes,
                code,
                message,
                flags,
            )| Span {
                trace_id,
                span_id,
                parent_span_id: parent.unwrap_or_default(),
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                flags,
                events: vec![span::Event {
                    time_unix_nano: start,
                    name: "e".into(),
                    attributes: vec![],
                    dropped_attributes_count: 1,
                }],
                status: Some(Status { code, message }),
                ..Default::default()
            },
        )
}

pub fn trace_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    (attrs(), proptest::collection::vec(span(), 0..5)).prop_map(|(resource, spans)| {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: None,
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    })
}

pub fn log_request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    proptest::collection::vec((any_value(), attrs(), 0..25i32, any::<u64>()), 0..5).prop_map(
        |recs| ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: None,
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records: recs
                        .into_iter()
                        .map(|(body, attributes, sev, t)| LogRecord {
                            body: Some(body),
                            attributes,
                            severity_number: sev,
                            time_unix_nano: t,
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        },
    )
}

/// Any value including what JSON cannot say directly: non-finite doubles,
/// string-table indexes, absent values.
pub fn wild_value() -> impl Strategy<Value = Option<AnyValue>> {
    let odd = prop_oneof![
        Just(V::DoubleValue(f64::NAN)),
        Just(V::DoubleValue(f64::INFINITY)),
        Just(V::DoubleValue(f64::NEG_INFINITY)),
        Just(V::DoubleValue(-0.0)),
        any::<i32>().prop_map(V::StringValueStrindex),
        r#"[\\"\n\t\x01\x7fé😀]{0,4}"#.prop_map(V::StringValue),
    ]
    .prop_map(|v| Some(AnyValue { value: Some(v) }));
    prop_oneof![
        4 => any_value().prop_map(Some),
        2 => odd,
        1 => Just(None),
        1 => Just(Some(AnyValue { value: None })),
    ]
}

/// Attribute lists with duplicate keys (the last one wins).
pub fn wild_attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(("[ab.]{1,2}", wild_value()), 0..7).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value)| KeyValue {
                key,
                value,
                ..Default::default()
            })
            .collect()
    })
}

/// An id that is usually valid, sometimes empty, short or all zero.
pub fn wild_id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => id(len),
        1 => Just(Vec::new()),
        1 => Just(vec![0; len]),
        1 => id(len).prop_map(|mut v| { v.pop(); v }),
    ]
}

/// Spans with every field set, events and links with attributes, and
/// some invalid ids.
pub fn wild_span() -> impl Strategy<Value = Span> {
    let event =
        (any::<u64>(), ".{0,6}", wild_attrs(), 0..3u32).prop_map(|(t, name, attributes, d)| {
            span::Event {
                time_unix_nano: t,
                name,
                attributes,
                dropped_attributes_count: d,
            }
        });
    let link = (
        wild_id(16),
        wild_id(8),
        "[a-z=,]{0,6}",
        wild_attrs(),
        0..3u32,
        0..3u32,
    )
        .prop_map(
            |(trace_id, span_id, trace_state, attributes, d, flags)| span::Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count: d,
                flags,
            },
        );
    (
        (
            wild_id(16),
            wild_id(8),
            wild_id(8),
            ".{0,8}",
            -1..7i32,
            any::<u64>(),
            any::<u64>(),
        ),
        (
            wild_attrs(),
            0..4u32,
            proptest::collection::vec(event, 0..3),
            0..4u32,
        ),
        (
            proptest::collection::vec(link, 0..3),
            0..4u32,
            prop::option::of((-1..4i32, ".{0,6}")),
            any::<u32>(),
            "[a-z=]{0,5}",
        ),
    )
        .prop_map(|(a, b, c)| {
            let (trace_id, span_id, parent_span_id, name, kind, start, end) = a;
            let (attributes, dropped_attributes_count, events, dropped_events_count) = b;
            let (links, dropped_links_count, status, flags, trace_state) = c;
            Span {
                trace_id,
                span_id,
                parent_span_id,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status: status.map(|(code, message)| Status { code, message }),
                flags,
                trace_state,
            }
        })
}

/// Several resources and scopes, each with wild spans.
pub fn wild_trace_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let scope = (
        prop::option::of(("[a-z]{0,5}", "[0-9.]{0,3}", wild_attrs(), 0..3u32)),
        proptest::collection::vec(wild_span(), 0..4),
    )
        .prop_map(|(scope, spans)| ScopeSpans {
            scope: scope.map(|(name, version, attributes, d)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: d,
            }),
            spans,
            schema_url: String::new(),
        });
    let service = prop_oneof![
        Just(vec![]),
        "[a-z]{0,4}".prop_map(|s| vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(V::StringValue(s))
            }),
            ..Default::default()
        }]),
        any::<i64>().prop_map(|i| vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(V::IntValue(i))
            }),
            ..Default::default()
        }]),
    ];
    let resource = (
        prop::option::of((service, wild_attrs())),
        proptest::collection::vec(scope, 0..3),
    )
        .prop_map(|(res, scope_spans)| ResourceSpans {
            resource: res.map(|(mut service, extra)| {
                service.extend(extra);
                Resource {
                    attributes: service,
                    ..Default::default()
                }
            }),
            scope_spans,
            schema_url: String::new(),
        });
    proptest::collection::vec(resource, 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// A protobuf trace export of model spans (ids, operation, times, error
/// status) under the first span's service: test data for the engine.
pub fn encode_spans(spans: &[crate::model::Span]) -> Vec<u8> {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(V::StringValue(spans[0].service.clone())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: None,
                spans: spans
                    .iter()
                    .map(|s| Span {
                        trace_id: hex::decode(&s.trace_id).unwrap(),
                        span_id: hex::decode(&s.span_id).unwrap(),
                        name: s.operation.clone(),
                        kind: 2,
                        start_time_unix_nano: s.start_ns as u64,
                        end_time_unix_nano: s.end_ns as u64,
                        status: Some(Status {
                            code: if s.status == "error" { 2 } else { 0 },
                            message: String::new(),
                        }),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    req.encode_to_vec()
}

/// Several resources and scopes of log records with wild bodies,
/// attributes, severities and ids (absent, valid or invalid).
pub fn wild_log_request() -> impl Strategy<Value = ExportLogsServiceRequest> {
    let record = (
        (
            any::<u64>(),
            any::<u64>(),
            -1..26i32,
            prop_oneof![Just(String::new()), "[A-Za-z]{1,5}".prop_map(String::from)],
        ),
        (wild_value(), wild_attrs(), 0..3u32, any::<u32>()),
        (wild_id(16), wild_id(8), "[a-z.]{0,6}"),
    )
        .prop_map(|(a, b, c)| {
            let (time_unix_nano, observed_time_unix_nano, severity_number, severity_text) = a;
            let (body, attributes, dropped_attributes_count, flags) = b;
            let (trace_id, span_id, event_name) = c;
            LogRecord {
                time_unix_nano,
                observed_time_unix_nano,
                severity_number,
                severity_text,
                body,
                attributes,
                dropped_attributes_count,
                flags,
                trace_id,
                span_id,
                event_name,
            }
        });
    let scope = (
        prop::option::of(("[a-z]{0,5}", "[0-9.]{0,3}", wild_attrs(), 0..3u32)),
        proptest::collection::vec(record, 0..4),
    )
        .prop_map(|(scope, log_records)| ScopeLogs {
            scope: scope.map(|(name, version, attributes, d)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: d,
            }),
            log_records,
            schema_url: String::new(),
        });
    let resource = (
        prop::option::of(wild_attrs()),
        proptest::collection::vec(scope, 0..3),
    )
        .prop_map(|(attrs, scope_logs)| ResourceLogs {
            resource: attrs.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_logs,
            schema_url: String::new(),
        });
    proptest::collection::vec(resource, 0..3)
        .prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
}

/// Metrics of every kind (and none), with exemplars, missing values,
/// non-finite numbers, optional sums/min/max and empty bucket lists.
pub fn wild_metric_request() -> impl Strategy<Value = ExportMetricsServiceRequest> {
    use opentelemetry_proto::tonic::metrics::v1::{
        exemplar, exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
        summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
        ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, Sum, Summary, SummaryDataPoint,
    };
    let num = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        (-1000i64..1000).prop_map(|i| i as f64 / 8.0),
    ]
    .boxed();
    let exemplar = (
        wild_attrs(),
        any::<u64>(),
        prop::option::of(prop_oneof![
            num.clone().prop_map(exemplar::Value::AsDouble),
            any::<i64>().prop_map(exemplar::Value::AsInt),
        ]),
        proptest::collection::vec(any::<u8>(), 0..9),
        proptest::collection::vec(any::<u8>(), 0..17),
    )
        .prop_map(
            |(filtered_attributes, time_unix_nano, value, span_id, trace_id)| Exemplar {
                filtered_attributes,
                time_unix_nano,
                value,
                span_id,
                trace_id,
            },
        );
    let exemplars = proptest::collection::vec(exemplar, 0..3).boxed();
    let common = (wild_attrs(), any::<u64>(), any::<u64>(), 0..3u32).boxed();
    let number = (
        common.clone(),
        prop::option::of(prop_oneof![
            num.clone().prop_map(number_data_point::Value::AsDouble),
            any::<i64>().prop_map(number_data_point::Value::AsInt),
        ]),
        exemplars.clone(),
    )
        .prop_map(
            |((attributes, start, time, flags), value, exemplars)| NumberDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                value,
                exemplars,
                flags,
            },
        );
    let numbers = proptest::collection::vec(number, 0..3).boxed();
    let dist = (
        any::<u64>(),
        prop::option::of(num.clone()),
        prop::option::of(num.clone()),
        prop::option::of(num.clone()),
    )
        .boxed();
    let histogram = (
        common.clone(),
        dist.clone(),
        proptest::collection::vec(any::<u64>(), 0..4),
        proptest::collection::vec(num.clone(), 0..3),
        exemplars.clone(),
    )
        .prop_map(
            |(
                (attributes, start, time, flags),
                (count, sum, min, max),
                bucket_counts,
                explicit_bounds,
                exemplars,
            )| {
                HistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count,
                    sum,
                    bucket_counts,
                    explicit_bounds,
                    exemplars,
                    flags,
                    min,
                    max,
                }
            },
        );
    let buckets = prop::option::of(
        (any::<i32>(), proptest::collection::vec(any::<u64>(), 0..4)).prop_map(
            |(offset, bucket_counts)| Buckets {
                offset,
                bucket_counts,
            },
        ),
    )
    .boxed();
    let exponential = (
        common.clone(),
        dist,
        (any::<i32>(), any::<u64>(), num.clone()),
        (buckets.clone(), buckets),
        exemplars,
    )
        .prop_map(
            |(
                (attributes, start, time, flags),
                (count, sum, min, max),
                (scale, zero_count, zero_threshold),
                (positive, negative),
                exemplars,
            )| {
                ExponentialHistogramDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count,
                    sum,
                    scale,
                    zero_count,
                    positive,
                    negative,
                    flags,
                    exemplars,
                    min,
                    max,
                    zero_threshold,
                }
            },
        );
    let summary = (
        common,
        any::<u64>(),
        num.clone(),
        proptest::collection::vec((num.clone(), num), 0..3),
    )
        .prop_map(
            |((attributes, start, time, flags), count, sum, qs)| SummaryDataPoint {
                attributes,
                start_time_unix_nano: start,
                time_unix_nano: time,
                count,
                sum,
                quantile_values: qs
                    .into_iter()
                    .map(|(quantile, value)| ValueAtQuantile { quantile, value })
                    .collect(),
                flags,
            },
        );
    let data = prop_oneof![
        1 => Just(None),
        2 => numbers.clone().prop_map(|data_points| Some(Data::Gauge(Gauge { data_points }))),
        2 => (numbers, -1..4i32, any::<bool>()).prop_map(|(data_points, t, m)| Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: t,
            is_monotonic: m,
        }))),
        2 => (proptest::collection::vec(histogram, 0..3), -1..4i32).prop_map(|(data_points, t)| {
            Some(Data::Histogram(Histogram { data_points, aggregation_temporality: t }))
        }),
        2 => (proptest::collection::vec(exponential, 0..3), -1..4i32).prop_map(|(data_points, t)| {
            Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points,
                aggregation_temporality: t,
            }))
        }),
        2 => proptest::collection::vec(summary, 0..3)
            .prop_map(|data_points| Some(Data::Summary(Summary { data_points }))),
    ];
    let metric = ("[a-z.]{0,8}", "[a-z ]{0,5}", "[a-z]{0,2}", data).prop_map(
        |(name, description, unit, data)| Metric {
            name,
            description,
            unit,
            metadata: vec![],
            data,
        },
    );
    let scope = (
        prop::option::of(("[a-z]{0,5}", "[0-9.]{0,3}", wild_attrs(), 0..3u32)),
        proptest::collection::vec(metric, 0..4),
    )
        .prop_map(|(scope, metrics)| ScopeMetrics {
            scope: scope.map(|(name, version, attributes, d)| InstrumentationScope {
                name,
                version,
                attributes,
                dropped_attributes_count: d,
            }),
            metrics,
            schema_url: String::new(),
        });
    let resource = (
        prop::option::of(wild_attrs()),
        proptest::collection::vec(scope, 0..3),
    )
        .prop_map(|(attrs, scope_metrics)| ResourceMetrics {
            resource: attrs.map(|attributes| Resource {
                attributes,
                ..Default::default()
            }),
            scope_metrics,
            schema_url: String::new(),
        });
    proptest::collection::vec(resource, 0..3)
        .prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
}
