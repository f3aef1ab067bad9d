//! Property tests of the OTLP mapping: OTLP/JSON encode → decode is the
//! identity on requests, mapping keeps every valid item with its values, and
//! the REST JSON of mapped items reads back into the same items.

use super::json::{
    decode_logs, decode_metrics, decode_traces, logs_to_json, metrics_to_json, traces_to_json,
};
use super::json_encode;
use super::reference::{logs_from_request, spans_from_request};
use super::testing::{log_request, trace_request, wild_metric_request};
use super::MapLimits;
use crate::attr::any_to_json;
use crate::llm::prices::PriceTable;
use proptest::prelude::*;

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
    fn otlp_json_round_trips_metrics_of_every_kind(mut req in wild_metric_request()) {
        // OTLP/JSON ids are hex of their full length (or absent).
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        let fix = |id: &mut Vec<u8>, len: usize| if !id.is_empty() { id.resize(len, 7) };
        for m in req.resource_metrics.iter_mut().flat_map(|r| &mut r.scope_metrics).flat_map(|s| &mut s.metrics) {
            let exemplars: Vec<&mut Vec<_>> = match &mut m.data {
                Some(Data::Gauge(g)) => g.data_points.iter_mut().map(|p| &mut p.exemplars).collect(),
                Some(Data::Sum(g)) => g.data_points.iter_mut().map(|p| &mut p.exemplars).collect(),
                Some(Data::Histogram(g)) => g.data_points.iter_mut().map(|p| &mut p.exemplars).collect(),
                Some(Data::ExponentialHistogram(g)) => g.data_points.iter_mut().map(|p| &mut p.exemplars).collect(),
                _ => Vec::new(),
            };
            for e in exemplars.into_iter().flatten() {
                fix(&mut e.span_id, 8);
                fix(&mut e.trace_id, 16);
            }
        }
        // Compared as OTLP/JSON (NaN is "NaN" there; what JSON cannot
        // carry, such as string-table indexes, is absent on both sides).
        let json = json_encode::metrics(&req);
        let decoded = decode_metrics(&serde_json::to_vec(&json).unwrap()).unwrap();
        prop_assert_eq!(json_encode::metrics(&decoded), json.clone());
        // And written straight from the protobuf.
        let direct = metrics_to_json(&prost::Message::encode_to_vec(&req)).unwrap();
        prop_assert_eq!(json_encode::metrics(&decode_metrics(&direct).unwrap()), json);
    }

    #[test]
    fn protobuf_written_as_otlp_json_reads_back(traces in trace_request(), logs in log_request()) {
        use prost::Message;
        prop_assert_eq!(decode_traces(&traces_to_json(&traces.encode_to_vec()).unwrap()).unwrap(), traces);
        prop_assert_eq!(decode_logs(&logs_to_json(&logs.encode_to_vec()).unwrap()).unwrap(), logs);
    }

    #[test]
    fn mapping_keeps_every_valid_span_and_its_values(req in trace_request()) {
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        let mapped = spans_from_request(&req, MapLimits::default(), &PriceTable::builtin());
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
        let mapped = spans_from_request(&req, MapLimits::default(), &PriceTable::builtin());
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

    #[test]
    fn rest_json_reads_back(traces in trace_request(), logs in log_request()) {
        for s in spans_from_request(&traces, MapLimits::default(), &PriceTable::builtin()).items {
            let text = serde_json::to_string(&s).unwrap();
            prop_assert_eq!(serde_json::from_str::<crate::model::Span>(&text).unwrap(), s);
        }
        for l in logs_from_request(&logs, MapLimits::default()).items {
            let text = serde_json::to_string(&l).unwrap();
            prop_assert_eq!(serde_json::from_str::<crate::model::LogRecord>(&text).unwrap(), l);
        }
    }
}
