//! Property tests of the OTLP mapping: OTLP/JSON encode → decode is the
//! identity on requests, and mapping keeps every valid item with its values.

use super::json::{decode_logs, decode_traces};
use super::json_encode;
use super::{logs_from_request, spans_from_request, MapLimits};
use crate::attr::any_to_json;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;

fn any_value() -> impl Strategy<Value = AnyValue> {
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

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    // Unique keys, so "last wins" does not blur the comparison.
    proptest::collection::btree_map("[a-z.]{1,10}", any_value(), 0..6).prop_map(|m| {
        m.into_iter()
            .map(|(key, v)| KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            })
            .collect()
    })
}

fn id(len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len).prop_map(|mut v| {
        v[0] |= 1;
        v
    })
}

fn span() -> impl Strategy<Value = Span> {
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

fn trace_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
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

fn log_request() -> impl Strategy<Value = ExportLogsServiceRequest> {
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

proptest! {
    #[test]
    fn otlp_json_round_trips_traces(req in trace_request()) {
        let json = serde_json::to_vec(&json_encode::traces(&req)).unwrap();
        prop_assert_eq!(decode_traces(&json).unwrap(), req);
    }

    #[test]
    fn otlp_json_round_trips_logs(req in log_request()) {
        let json = serde_json::to_vec(&json_encode::logs(&req)).unwrap();
        prop_assert_eq!(decode_logs(&json).unwrap(), req);
    }

    #[test]
    fn mapping_keeps_every_valid_span_and_its_values(req in trace_request()) {
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        let mapped = spans_from_request(&req, MapLimits::default());
        prop_assert_eq!(mapped.items.len(), spans.len());
        prop_assert_eq!(mapped.rejected, 0);
        for (m, s) in mapped.items.iter().zip(spans) {
            prop_assert_eq!(&m.trace_id, &hex::encode(&s.trace_id));
            prop_assert_eq!(&m.span_id, &hex::encode(&s.span_id));
            prop_assert_eq!(m.parent_span_id.clone(), if s.parent_span_id.is_empty() { None } else { Some(hex::encode(&s.parent_span_id)) });
            prop_assert_eq!(&m.operation, &s.name);
            prop_assert_eq!(m.flags, s.flags);
            prop_assert_eq!(&m.status_message, &s.status.as_ref().unwrap().message);
            prop_assert_eq!(m.attributes.len(), s.attributes.len());
            for kv in &s.attributes {
                prop_assert_eq!(m.attributes.get(&kv.key), Some(&any_to_json(kv.value.as_ref())));
            }
            prop_assert_eq!(m.events[0].dropped_attributes_count, 1);
        }
    }

    #[test]
    fn mapping_rejects_exactly_the_bad_ids(mut req in trace_request(), bad in proptest::collection::vec(any::<bool>(), 5)) {
        let mut expected_bad = 0;
        for (i, s) in req.resource_spans[0].scope_spans[0].spans.iter_mut().enumerate() {
            if bad[i] {
                s.trace_id.truncate(15);
                expected_bad += 1;
            }
        }
        let n = req.resource_spans[0].scope_spans[0].spans.len();
        let mapped = spans_from_request(&req, MapLimits::default());
        prop_assert_eq!(mapped.rejected, expected_bad);
        prop_assert_eq!(mapped.items.len() as u64, n as u64 - expected_bad);
    }

    #[test]
    fn log_bodies_survive_typed(req in log_request()) {
        let recs = &req.resource_logs[0].scope_logs[0].log_records;
        let mapped = logs_from_request(&req, MapLimits::default());
        prop_assert_eq!(mapped.items.len(), recs.len());
        for (m, r) in mapped.items.iter().zip(recs) {
            prop_assert_eq!(&m.body, &any_to_json(r.body.as_ref()));
            prop_assert_eq!(m.severity_number, r.severity_number);
        }
    }
}
