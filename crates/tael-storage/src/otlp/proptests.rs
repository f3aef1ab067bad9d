//! The ingest decoder against the reference mapping: for any request, the
//! batch decoded straight from protobuf equals the one built from the
//! prost-decoded structs through `tael_core::otlp::spans_from_request`, with the same
//! rejections; and a payload prost refuses is refused.

use super::{decode_logs, decode_metrics, decode_traces};
use crate::columnar;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use prost::Message;
use tael_core::otlp::testing::{wild_log_request, wild_metric_request, wild_trace_request};
use tael_core::otlp::{logs_from_request, metrics_from_request, spans_from_request, MapLimits};

fn reference(
    req: &ExportTraceServiceRequest,
    limits: MapLimits,
) -> (arrow::array::RecordBatch, u64, String) {
    let mapped = spans_from_request(req, limits);
    let refs: Vec<_> = mapped.items.iter().collect();
    (
        columnar::spans::to_batch(&refs).unwrap(),
        mapped.rejected,
        mapped.error_message,
    )
}

fn reference_logs(
    req: &ExportLogsServiceRequest,
    limits: MapLimits,
) -> (arrow::array::RecordBatch, u64, String) {
    let mapped = logs_from_request(req, limits);
    let refs: Vec<_> = mapped.items.iter().collect();
    (
        columnar::logs::to_batch(&refs).unwrap(),
        mapped.rejected,
        mapped.error_message,
    )
}

fn reference_metrics(
    req: &ExportMetricsServiceRequest,
    limits: MapLimits,
) -> (arrow::array::RecordBatch, u64, String) {
    let mapped = metrics_from_request(req, limits);
    let refs: Vec<_> = mapped.items.iter().collect();
    (
        columnar::metrics::to_batch(&refs).unwrap(),
        mapped.rejected,
        mapped.error_message,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn decoder_matches_the_reference_mapping(req in wild_trace_request(), cap in prop_oneof![Just(1024usize), 0..3usize]) {
        let limits = MapLimits { max_attributes: cap };
        let bytes = req.encode_to_vec();
        let got = decode_traces(&bytes, limits).unwrap();
        let seen = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
        let (batch, rejected, message) = reference(&seen, limits);
        prop_assert_eq!(got.rejected, rejected);
        prop_assert_eq!(got.error_message, message);
        prop_assert_eq!(got.prepared.keys.len(), batch.num_rows());
        for (i, (a, b)) in got.prepared.batch.columns().iter().zip(batch.columns()).enumerate() {
            prop_assert_eq!(a.as_ref(), b.as_ref(), "column {}", batch.schema().field(i).name());
        }
    }

    #[test]
    fn truncated_payloads_are_refused_like_prost_does(req in wild_trace_request(), cut in any::<prop::sample::Index>()) {
        let bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let short = &bytes[..cut.index(bytes.len())];
        let prost_ok = ExportTraceServiceRequest::decode(short).is_ok();
        prop_assert_eq!(decode_traces(short, MapLimits::default()).is_ok(), prost_ok);
    }

    #[test]
    fn invalid_utf8_is_refused(req in wild_trace_request()) {
        let mut req = req;
        let Some(span) = req.resource_spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()).flat_map(|s| s.spans.iter_mut()).next() else {
            return Ok(());
        };
        span.name = "\u{1}BAD".into();
        let mut bytes = req.encode_to_vec();
        let at = bytes.windows(4).position(|w| w == b"\x01BAD").unwrap();
        bytes[at] = 0xff;
        prop_assert!(ExportTraceServiceRequest::decode(&bytes[..]).is_err());
        prop_assert!(decode_traces(&bytes, MapLimits::default()).is_err());
    }

    #[test]
    fn log_decoder_matches_the_reference_mapping(req in wild_log_request(), cap in prop_oneof![Just(1024usize), 0..3usize]) {
        let limits = MapLimits { max_attributes: cap };
        let got = decode_logs(&req.encode_to_vec(), limits).unwrap();
        let seen = ExportLogsServiceRequest::decode(&req.encode_to_vec()[..]).unwrap();
        let (batch, rejected, message) = reference_logs(&seen, limits);
        prop_assert_eq!(got.rejected, rejected);
        prop_assert_eq!(got.error_message, message);
        prop_assert_eq!(got.prepared.keys.len(), batch.num_rows());
        for (i, (a, b)) in got.prepared.batch.columns().iter().zip(batch.columns()).enumerate() {
            prop_assert_eq!(a.as_ref(), b.as_ref(), "column {}", batch.schema().field(i).name());
        }
    }

    #[test]
    fn truncated_log_payloads_are_refused_like_prost_does(req in wild_log_request(), cut in any::<prop::sample::Index>()) {
        let bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let short = &bytes[..cut.index(bytes.len())];
        let prost_ok = ExportLogsServiceRequest::decode(short).is_ok();
        prop_assert_eq!(decode_logs(short, MapLimits::default()).is_ok(), prost_ok);
    }

    #[test]
    fn metric_decoder_matches_the_reference_mapping(req in wild_metric_request(), cap in prop_oneof![Just(1024usize), 0..3usize]) {
        let limits = MapLimits { max_attributes: cap };
        let got = decode_metrics(&req.encode_to_vec(), limits).unwrap();
        let seen = ExportMetricsServiceRequest::decode(&req.encode_to_vec()[..]).unwrap();
        let (batch, rejected, message) = reference_metrics(&seen, limits);
        prop_assert_eq!(got.rejected, rejected);
        prop_assert_eq!(got.error_message, message);
        prop_assert_eq!(got.prepared.keys.len(), batch.num_rows());
        for (i, (a, b)) in got.prepared.batch.columns().iter().zip(batch.columns()).enumerate() {
            prop_assert_eq!(a.as_ref(), b.as_ref(), "column {}", batch.schema().field(i).name());
        }
    }

    #[test]
    fn truncated_metric_payloads_are_refused_like_prost_does(req in wild_metric_request(), cut in any::<prop::sample::Index>()) {
        let bytes = req.encode_to_vec();
        prop_assume!(!bytes.is_empty());
        let short = &bytes[..cut.index(bytes.len())];
        let prost_ok = ExportMetricsServiceRequest::decode(short).is_ok();
        prop_assert_eq!(decode_metrics(short, MapLimits::default()).is_ok(), prost_ok);
    }
}
