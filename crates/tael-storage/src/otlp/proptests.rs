//! The ingest decoders against the reference mapping: for any request, the
//! batch decoded straight from protobuf equals the one built from the
//! prost-decoded structs through `tael_core::otlp::*_from_request` and the
//! model → Arrow converters, with the same rejections; and a payload prost
//! refuses is refused.

use super::{decode_logs, decode_metrics, decode_traces, Decoded, WireError};
use crate::columnar;
use arrow::array::RecordBatch;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use prost::Message;
use tael_core::llm::prices::PriceTable;
use tael_core::otlp::reference::{logs_from_request, metrics_from_request, spans_from_request};
use tael_core::otlp::testing::{wild_log_request, wild_metric_request, wild_trace_request};
use tael_core::otlp::{MapLimits, Mapped};

type Decoder = fn(&[u8], MapLimits) -> Result<Decoded, WireError>;

/// Decodes `req` both ways and compares batch, keys and rejections.
fn same_as_reference<R: Message + Default, T>(
    req: &R,
    cap: usize,
    decode: Decoder,
    map: fn(&R, MapLimits) -> Mapped<T>,
    to_batch: fn(&[&T]) -> Result<RecordBatch, crate::StorageError>,
) -> Result<(), TestCaseError> {
    let limits = MapLimits {
        max_attributes: cap,
    };
    let bytes = req.encode_to_vec();
    let got = decode(&bytes, limits).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // The reference sees what prost decodes (e.g. -0.0 is not encoded).
    let seen = R::decode(&bytes[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mapped = map(&seen, limits);
    let refs: Vec<&T> = mapped.items.iter().collect();
    let want = to_batch(&refs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(got.rejected, mapped.rejected);
    prop_assert_eq!(got.error_message, mapped.error_message);
    prop_assert_eq!(got.prepared.keys.len(), want.num_rows());
    for (i, (a, b)) in got
        .prepared
        .batch
        .columns()
        .iter()
        .zip(want.columns())
        .enumerate()
    {
        prop_assert_eq!(
            a.as_ref(),
            b.as_ref(),
            "column {}",
            want.schema().field(i).name()
        );
    }
    Ok(())
}

/// The texts the trace decoder read on the way are the ones the index
/// reads back from the stored rows (rebuilds).
fn same_texts_as_stored_rows(got: Decoded) -> Result<(), TestCaseError> {
    let batch = &got.prepared.batch;
    let texts = got.texts.ok_or_else(|| TestCaseError::fail("no texts"))?;
    let from_decoder = crate::text::docs::docs_with_texts(batch, crate::Signal::Spans, texts)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let from_rows =
        crate::text::docs::span_docs(batch).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(from_decoder, from_rows);
    Ok(())
}

/// LLM payloads moved to the blob store while decoding (attributes, and
/// GenAI content events), an attribute moved from a span that is no LLM
/// call, exception messages and status messages: the decoder's texts are
/// the stored rows' texts.
#[test]
fn decoder_texts_match_stored_rows_with_payloads_moved() {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{
        span::Event, ResourceSpans, ScopeSpans, Span, Status,
    };
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(V::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let big = |w: &str| format!("{w} ").repeat(400);
    let span = |id: u8, attributes: Vec<KeyValue>, events: Vec<Event>, message: &str| Span {
        trace_id: vec![1; 16],
        span_id: vec![id; 8],
        name: format!("op{id}"),
        start_time_unix_nano: 1_700_000_000_000_000_000 + id as u64,
        end_time_unix_nano: 1_700_000_000_000_000_100,
        attributes,
        events,
        status: Some(Status {
            code: if message.is_empty() { 0 } else { 2 },
            message: message.into(),
        }),
        ..Default::default()
    };
    let event = |name: &str, attributes: Vec<KeyValue>| Event {
        time_unix_nano: 1_700_000_000_000_000_050,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    };
    let spans = vec![
        span(
            1,
            vec![
                kv("gen_ai.provider.name", "openai"),
                kv("gen_ai.request.model", "gpt-4o"),
                kv("gen_ai.prompt.0.content", &big("refund")),
                kv("gen_ai.completion.0.content", "short answer"),
            ],
            vec![],
            "",
        ),
        span(
            2,
            vec![kv("gen_ai.system", "anthropic")],
            vec![
                event("gen_ai.user.message", vec![kv("content", &big("policy"))]),
                event("gen_ai.choice", vec![kv("message", "inline choice")]),
            ],
            "model overloaded",
        ),
        span(3, vec![kv("input.value", &big("notllm"))], vec![], ""),
        span(
            4,
            vec![kv("http.route", "/x")],
            vec![event(
                "exception",
                vec![kv("exception.type", "E"), kv("exception.message", "boom")],
            )],
            "failed",
        ),
        span(5, vec![kv("http.route", "/y")], vec![], ""),
    ];
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let dir = tempfile::tempdir().unwrap();
    let blobs = crate::blobs::BlobStore::open_in(dir.path());
    let offload = crate::offload::Offload {
        blobs: &blobs,
        min_bytes: 1024,
    };
    let got = decode_traces(
        &req.encode_to_vec(),
        MapLimits::default(),
        &PriceTable::builtin(),
        Some(offload),
    )
    .unwrap();
    let texts = got.texts.clone().unwrap();
    // Rows 0, 1, 3 have texts; row 2 (not an LLM call) and row 4 none.
    let rows: Vec<usize> = texts.iter().map(|(i, _)| *i).collect();
    assert_eq!(rows, vec![0, 1, 3]);
    let blob_texts = |i: usize| {
        texts[i]
            .1
            .iter()
            .filter(|t| matches!(t.content, crate::text::docs::TextContent::Blob(_)))
            .count()
    };
    assert_eq!((blob_texts(0), blob_texts(1)), (1, 1));
    same_texts_as_stored_rows(got).unwrap();
}

/// A prefix of the encoding is refused exactly when prost refuses it.
fn truncation_agrees<R: Message + Default>(
    req: &R,
    cut: prop::sample::Index,
    decode: Decoder,
) -> Result<(), TestCaseError> {
    let bytes = req.encode_to_vec();
    if bytes.is_empty() {
        return Ok(());
    }
    let short = &bytes[..cut.index(bytes.len())];
    let prost_ok = R::decode(short).is_ok();
    prop_assert_eq!(decode(short, MapLimits::default()).is_ok(), prost_ok);
    Ok(())
}

fn cap() -> impl Strategy<Value = usize> {
    prop_oneof![Just(1024usize), 0..3usize]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn trace_decoder_matches_the_reference_mapping(req in wild_trace_request(), cap in cap()) {
        same_as_reference(&req, cap, |p, l| decode_traces(p, l, &PriceTable::builtin(), None), |r, l| spans_from_request(r, l, &PriceTable::builtin()), columnar::spans::to_batch)?;
    }

    #[test]
    fn trace_decoder_reads_the_texts_the_index_reads_from_rows(req in wild_trace_request()) {
        let bytes = req.encode_to_vec();
        let got = decode_traces(&bytes, MapLimits::default(), &PriceTable::builtin(), None).map_err(|e| TestCaseError::fail(e.to_string()))?;
        same_texts_as_stored_rows(got)?;
    }

    #[test]
    fn log_decoder_matches_the_reference_mapping(req in wild_log_request(), cap in cap()) {
        same_as_reference(&req, cap, decode_logs, logs_from_request, columnar::logs::to_batch)?;
    }

    #[test]
    fn metric_decoder_matches_the_reference_mapping(req in wild_metric_request(), cap in cap()) {
        same_as_reference(&req, cap, decode_metrics, metrics_from_request, columnar::metrics::to_batch)?;
    }

    #[test]
    fn truncated_payloads_are_refused_like_prost_does(
        traces in wild_trace_request(),
        logs in wild_log_request(),
        metrics in wild_metric_request(),
        cut in any::<prop::sample::Index>(),
    ) {
        truncation_agrees(&traces, cut, |p, l| decode_traces(p, l, &PriceTable::builtin(), None))?;
        truncation_agrees(&logs, cut, decode_logs)?;
        truncation_agrees(&metrics, cut, decode_metrics)?;
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
        prop_assert!(decode_traces(&bytes, MapLimits::default(), &PriceTable::builtin(), None).is_err());
    }
}
