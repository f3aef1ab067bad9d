//! A generated trace export kept as its protobuf encoding, with the byte
//! offsets of every field a refresh changes (ids and timestamps, all of
//! fixed size), so that re-sending it costs a few patches instead of a
//! full re-encode: the load tool then takes little of the CPU the server
//! it measures needs.
//!
//! Offsets are found by walking the encoding once (with
//! `tael_storage::otlp::wire::Reader`, the server's decoder):
//! `ExportTraceServiceRequest.resource_spans` (1) → `ResourceSpans.scope_spans`
//! (2) → `ScopeSpans.spans` (2) → `Span` fields `trace_id` (1),
//! `span_id` (2), `parent_span_id` (4), `start_time_unix_nano` (7),
//! `end_time_unix_nano` (8) and `events` (11) → `Event.time_unix_nano` (1).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tael_storage::otlp::wire::{Reader, Value};

/// Where one span's refreshed fields are in the encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanOffsets {
    pub trace_id: Option<usize>,
    pub span_id: Option<usize>,
    pub parent_span_id: Option<usize>,
    /// Fixed64 timestamps: start, end and event times.
    pub times: Vec<usize>,
    /// LLM payloads (`gen_ai.*.content` string values): (start, length).
    pub payloads: Vec<(usize, usize)>,
}

/// An encoded `ExportTraceServiceRequest` and its patch points.
#[derive(Debug, Clone)]
pub struct EncodedTraces {
    pub bytes: Vec<u8>,
    pub spans: Vec<SpanOffsets>,
}

/// The fields of the message at `buf[start..end]` (read with the server's
/// own wire reader): tag, value, and the offset in `buf` where the bytes
/// of a length-delimited or fixed-size value start.
fn fields(
    buf: &[u8],
    (start, end): (usize, usize),
) -> Result<Vec<(u32, Value<'_>, usize)>, String> {
    let mut r = Reader::new(&buf[start..end]);
    let mut out = Vec::new();
    while let Some((tag, v)) = r.next_field().map_err(|e| e.to_string())? {
        let width = match v {
            Value::Bytes(b) => b.len(),
            Value::Fixed64(_) => 8,
            Value::Fixed32(_) => 4,
            Value::Varint(_) => 0,
        };
        out.push((tag, v, start + r.pos() - width));
    }
    Ok(out)
}

/// The length-delimited fields numbered `num` of the message at `span`, as
/// (start, end) in `buf`.
fn messages(buf: &[u8], span: (usize, usize), num: u32) -> Result<Vec<(usize, usize)>, String> {
    Ok(fields(buf, span)?
        .into_iter()
        .filter_map(|(tag, v, at)| match v {
            Value::Bytes(b) if tag == num => Some((at, at + b.len())),
            _ => None,
        })
        .collect())
}

fn span_offsets(buf: &[u8], span: (usize, usize)) -> Result<SpanOffsets, String> {
    let mut o = SpanOffsets::default();
    for (tag, v, at) in fields(buf, span)? {
        match (tag, v) {
            (1, Value::Bytes(b)) if b.len() == 16 => o.trace_id = Some(at),
            (2, Value::Bytes(b)) if b.len() == 8 => o.span_id = Some(at),
            (4, Value::Bytes(b)) if b.len() == 8 => o.parent_span_id = Some(at),
            (7 | 8, Value::Fixed64(_)) => o.times.push(at),
            (9, Value::Bytes(b)) => o.payloads.extend(payload_of(buf, (at, at + b.len()))?),
            (11, Value::Bytes(b)) => {
                for (tag, v, at) in fields(buf, (at, at + b.len()))? {
                    if let (1, Value::Fixed64(_)) = (tag, v) {
                        o.times.push(at);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

/// The string value of a `KeyValue` (key 1, value 2 → `AnyValue`
/// string 1) when its key names an LLM payload.
fn payload_of(buf: &[u8], kv: (usize, usize)) -> Result<Option<(usize, usize)>, String> {
    let mut is_payload = false;
    let mut value = None;
    for (tag, v, at) in fields(buf, kv)? {
        match (tag, v) {
            (1, Value::Bytes(k)) => {
                is_payload = k.starts_with(b"gen_ai.") && k.ends_with(b".content");
            }
            (2, Value::Bytes(b)) => value = Some((at, at + b.len())),
            _ => {}
        }
    }
    let Some(value) = value.filter(|_| is_payload) else {
        return Ok(None);
    };
    Ok(fields(buf, value)?
        .into_iter()
        .find_map(|(tag, v, at)| match (tag, v) {
            (1, Value::Bytes(b)) => Some((at, b.len())),
            _ => None,
        }))
}

impl EncodedTraces {
    pub fn new(req: &ExportTraceServiceRequest) -> Result<Self, String> {
        let bytes = req.encode_to_vec();
        let mut spans = Vec::new();
        for rs in messages(&bytes, (0, bytes.len()), 1)? {
            for ss in messages(&bytes, rs, 2)? {
                for sp in messages(&bytes, ss, 2)? {
                    spans.push(span_offsets(&bytes, sp)?);
                }
            }
        }
        Ok(EncodedTraces { bytes, spans })
    }

    /// The request these bytes encode.
    #[cfg(test)]
    pub fn decode(&self) -> Result<ExportTraceServiceRequest, String> {
        ExportTraceServiceRequest::decode(self.bytes.as_slice()).map_err(|e| e.to_string())
    }

    /// The 16-byte trace id of span `i`, if it has one.
    pub fn trace_id(&self, i: usize) -> Option<[u8; 16]> {
        let at = self.spans.get(i)?.trace_id?;
        self.bytes.get(at..at + 16)?.try_into().ok()
    }

    pub fn set_trace_id(&mut self, i: usize, id: &[u8; 16]) {
        if let Some(at) = self.spans.get(i).and_then(|s| s.trace_id) {
            self.bytes[at..at + 16].copy_from_slice(id);
        }
    }

    /// XORs span `i`'s id and parent id with `mask`.
    pub fn mask_span_ids(&mut self, i: usize, mask: &[u8; 8]) {
        let Some(s) = self.spans.get(i) else { return };
        for at in [s.span_id, s.parent_span_id].into_iter().flatten() {
            for (b, m) in self.bytes[at..at + 8].iter_mut().zip(mask) {
                *b ^= m;
            }
        }
    }

    /// Writes new text over span `i`'s LLM payloads (`fill` writes a
    /// whole payload in place, same length, so the encoding stays valid):
    /// every payload is then one nobody sent before, as prompts and
    /// completions are in real traffic.
    pub fn rewrite_payloads(&mut self, i: usize, fill: &mut impl FnMut(&mut [u8])) {
        let Some(s) = self.spans.get(i) else { return };
        for &(at, len) in &s.payloads {
            fill(&mut self.bytes[at..at + len]);
        }
    }

    /// Moves span `i`'s timestamps forward by `shift_ns`.
    pub fn shift_times(&mut self, i: usize, shift_ns: u64) {
        let Some(s) = self.spans.get(i) else { return };
        for &at in &s.times {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.bytes[at..at + 8]);
            let t = u64::from_le_bytes(b).wrapping_add(shift_ns);
            self.bytes[at..at + 8].copy_from_slice(&t.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::gen::Generator;
    use opentelemetry_proto::tonic::trace::v1::Span;

    fn spans_of(r: &ExportTraceServiceRequest) -> Vec<&Span> {
        r.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect()
    }

    #[test]
    fn patches_land_on_the_fields_they_name() {
        let mut g = Generator::new(7, 0, 1.0);
        let req = g.traces(200);
        let mut enc = EncodedTraces::new(&req).unwrap();
        assert_eq!(enc.decode().unwrap(), req);
        let spans = spans_of(&req);
        assert_eq!(enc.spans.len(), spans.len());
        let mask = [1, 2, 3, 4, 5, 6, 7, 8];
        for i in 0..enc.spans.len() {
            enc.set_trace_id(i, &[9; 16]);
            enc.mask_span_ids(i, &mask);
            enc.shift_times(i, 1000);
        }
        let got = enc.decode().unwrap();
        let got = spans_of(&got);
        let xor = |id: &[u8]| id.iter().zip(mask).map(|(b, m)| b ^ m).collect::<Vec<_>>();
        for (a, b) in spans.iter().zip(got) {
            assert_eq!(b.trace_id, vec![9; 16]);
            assert_eq!(b.span_id, xor(&a.span_id));
            assert_eq!(b.parent_span_id, xor(&a.parent_span_id));
            assert_eq!(b.start_time_unix_nano, a.start_time_unix_nano + 1000);
            assert_eq!(b.end_time_unix_nano, a.end_time_unix_nano + 1000);
            let ev_a: Vec<_> = a.events.iter().map(|e| e.time_unix_nano + 1000).collect();
            let ev_b: Vec<_> = b.events.iter().map(|e| e.time_unix_nano).collect();
            assert_eq!(ev_a, ev_b);
            assert_eq!((&b.name, &b.attributes), (&a.name, &a.attributes));
        }
    }

    #[test]
    fn payload_rewrites_change_only_the_payloads() {
        use rand::SeedableRng;
        let mut g = Generator::new(7, 0, 1.0);
        let req = g.traces(200);
        let mut enc = EncodedTraces::new(&req).unwrap();
        let with_payloads = enc.spans.iter().filter(|s| s.payloads.len() == 2).count();
        assert!(
            with_payloads > 0,
            "the LLM spans' prompt and completion are found"
        );
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for i in 0..enc.spans.len() {
            enc.rewrite_payloads(i, &mut |buf| crate::bench::gen::fill_text(&mut rng, buf));
        }
        let got = enc.decode().unwrap();
        for (a, b) in spans_of(&req).iter().zip(spans_of(&got)) {
            assert_eq!((&a.span_id, &a.name), (&b.span_id, &b.name));
            for (x, y) in a.attributes.iter().zip(&b.attributes) {
                assert_eq!(x.key, y.key);
                let content = x.key.starts_with("gen_ai.") && x.key.ends_with(".content");
                assert_eq!(x.value == y.value, !content, "{}", x.key);
            }
        }
    }
}
