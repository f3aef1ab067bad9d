#![allow(clippy::unwrap_used)]

use super::*;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{number_data_point, Gauge, NumberDataPoint};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use proptest::prelude::*;

proptest! {
    /// Growing from n to n + 1 shards moves keys only to the new shard.
    #[test]
    fn jump_moves_keys_only_to_the_new_shard(key: u64, n in 1usize..64) {
        let before = jump(key, n);
        let after = jump(key, n + 1);
        prop_assert!(before < n);
        prop_assert!(after == before || after == n);
    }
}

#[test]
fn the_hash_is_the_published_one() {
    // FNV-1a 64 of "a" (the published test vector) and jump of known keys.
    assert_eq!(fnv1a64(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(&[b"", b"a"]), fnv1a64(&[b"a"]));
    assert_eq!(jump(0, 10), 0);
    let counts = (0u64..10_000).fold([0usize; 4], |mut c, i| {
        c[trace_shard(&i.to_be_bytes(), 4)] += 1;
        c
    });
    for c in counts {
        assert!((2_000..3_000).contains(&c), "{counts:?}");
    }
}

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", service)],
        ..Default::default()
    })
}

#[test]
fn spans_split_by_trace_keep_their_resource_and_scope() {
    let spans: Vec<Span> = (0u8..40)
        .map(|i| Span {
            trace_id: vec![i; 16],
            span_id: vec![i; 8],
            name: format!("op{i}"),
            ..Default::default()
        })
        .collect();
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("checkout"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let parts = split_traces(req, 3);
    let mut seen = 0;
    for (i, p) in parts.iter().enumerate() {
        let r = ExportTraceServiceRequest::decode(p.as_deref().unwrap()).unwrap();
        assert_eq!(r.resource_spans[0].resource, resource("checkout"));
        for s in &r.resource_spans[0].scope_spans[0].spans {
            assert_eq!(trace_shard(&s.trace_id, 3), i);
            seen += 1;
        }
    }
    assert_eq!(seen, 40);
}

#[test]
fn logs_follow_their_trace_else_their_service() {
    let with_trace = LogRecord {
        trace_id: vec![7; 16],
        ..Default::default()
    };
    let without = LogRecord::default();
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("api"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![with_trace.clone(), without.clone(), without],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let n = 8;
    let parts = split_logs(req, n);
    let trace_owner = trace_shard(&[7; 16], n);
    let service_owner = jump(fnv1a64(&[b"api"]), n);
    let records = |i: usize| -> Vec<LogRecord> {
        parts[i]
            .as_deref()
            .map(|b| {
                ExportLogsServiceRequest::decode(b).unwrap().resource_logs[0].scope_logs[0]
                    .log_records
                    .clone()
            })
            .unwrap_or_default()
    };
    assert!(records(trace_owner).contains(&with_trace));
    let untraced = records(service_owner)
        .iter()
        .filter(|l| l.trace_id.is_empty())
        .count();
    assert_eq!(untraced, 2);
}

#[test]
fn metric_points_split_by_series() {
    let point = |host: &str, v: f64| NumberDataPoint {
        attributes: vec![kv("host", host)],
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let points: Vec<NumberDataPoint> = (0..30)
        .map(|i| point(&format!("h{}", i % 10), i as f64))
        .collect();
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("api"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "load".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let parts = split(Signal::Metrics, &req.encode_to_vec(), 3).unwrap();
    let mut owner = std::collections::HashMap::new();
    let mut total = 0;
    for (i, p) in parts.iter().enumerate() {
        let Some(p) = p else { continue };
        let r = ExportMetricsServiceRequest::decode(p.as_slice()).unwrap();
        let m = &r.resource_metrics[0].scope_metrics[0].metrics[0];
        assert_eq!(m.name, "load");
        let Some(metric::Data::Gauge(g)) = &m.data else {
            panic!("a gauge")
        };
        for dp in &g.data_points {
            let host = format!("{:?}", dp.attributes[0].value);
            assert_eq!(*owner.entry(host).or_insert(i), i, "one series, one shard");
            total += 1;
        }
    }
    assert_eq!(total, 30);
    assert!(split(Signal::Metrics, b"\xff\xff", 3).is_err());
}
