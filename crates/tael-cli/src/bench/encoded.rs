//! A generated trace export kept as its protobuf encoding, with the byte
//! offsets of every field a refresh changes (ids and timestamps, all of
//! fixed size), so that re-sending it costs a few patches instead of a
//! full re-encode: the load tool then takes little of the CPU the server
//! it measures needs.
//!
//! Offsets are found by walking the encoding once:
//! `ExportTraceServiceRequest.resource_spans` (1) → `ResourceSpans.scope_spans`
//! (2) → `ScopeSpans.spans` (2) → `Span` fields `trace_id` (1),
//! `span_id` (2), `parent_span_id` (4), `start_time_unix_nano` (7),
//! `end_time_unix_nano` (8) and `events` (11) → `Event.time_unix_nano` (1).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Where one span's refreshed fields are in the encoding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanOffsets {
    pub trace_id: Option<usize>,
    pub span_id: Option<usize>,
    pub parent_span_id: Option<usize>,
    /// Fixed64 timestamps: start, end and event times.
    pub times: Vec<usize>,
}

/// An encoded `ExportTraceServiceRequest` and its patch points.
#[derive(Debug, Clone)]
pub struct EncodedTraces {
    pub bytes: Vec<u8>,
    pub spans: Vec<SpanOffsets>,
}

/// A protobuf field: number and where its value is.
enum Field {
    /// Length-delimited: the value's start and end.
    Len(u32, usize, usize),
    /// Fixed64: the value's start.
    Fixed64(u32, usize),
    Other,
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Walker<'a> {
    fn new(buf: &'a [u8], start: usize, end: usize) -> Self {
        Walker {
            buf,
            pos: start,
            end,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .filter(|_| self.pos < self.end)
                .ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<Field>, String> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let key = self.varint()?;
        let (num, wire) = ((key >> 3) as u32, key & 7);
        let skip = |w: &mut Self, n: usize| -> Result<usize, String> {
            let at = w.pos;
            w.pos = at
                .checked_add(n)
                .filter(|p| *p <= w.end)
                .ok_or("truncated")?;
            Ok(at)
        };
        Ok(Some(match wire {
            0 => {
                self.varint()?;
                Field::Other
            }
            1 => Field::Fixed64(num, skip(self, 8)?),
            2 => {
                let len = self.varint()? as usize;
                let at = skip(self, len)?;
                Field::Len(num, at, at + len)
            }
            5 => {
                skip(self, 4)?;
                Field::Other
            }
            w => return Err(format!("unsupported wire type {w}")),
        }))
    }

    /// The length-delimited fields numbered `num`, as (start, end).
    fn messages(
        buf: &[u8],
        (start, end): (usize, usize),
        num: u32,
    ) -> Result<Vec<(usize, usize)>, String> {
        let mut w = Walker::new(buf, start, end);
        let mut out = Vec::new();
        while let Some(f) = w.next()? {
            if let Field::Len(n, s, e) = f {
                if n == num {
                    out.push((s, e));
                }
            }
        }
        Ok(out)
    }
}

fn span_offsets(buf: &[u8], (start, end): (usize, usize)) -> Result<SpanOffsets, String> {
    let mut o = SpanOffsets::default();
    let mut w = Walker::new(buf, start, end);
    while let Some(f) = w.next()? {
        match f {
            Field::Len(1, s, e) if e - s == 16 => o.trace_id = Some(s),
            Field::Len(2, s, e) if e - s == 8 => o.span_id = Some(s),
            Field::Len(4, s, e) if e - s == 8 => o.parent_span_id = Some(s),
            Field::Fixed64(7 | 8, s) => o.times.push(s),
            Field::Len(11, s, e) => {
                let mut ev = Walker::new(buf, s, e);
                while let Some(f) = ev.next()? {
                    if let Field::Fixed64(1, at) = f {
                        o.times.push(at);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

impl EncodedTraces {
    pub fn new(req: &ExportTraceServiceRequest) -> Result<Self, String> {
        let bytes = req.encode_to_vec();
        let mut spans = Vec::new();
        for rs in Walker::messages(&bytes, (0, bytes.len()), 1)? {
            for ss in Walker::messages(&bytes, rs, 2)? {
                for sp in Walker::messages(&bytes, ss, 2)? {
                    spans.push(span_offsets(&bytes, sp)?);
                }
            }
        }
        Ok(EncodedTraces { bytes, spans })
    }

    /// The request these bytes encode.
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

    #[test]
    fn patches_land_on_the_fields_they_name() {
        let mut g = Generator::new(7, 0, 1.0);
        let req = g.traces(200);
        let mut enc = EncodedTraces::new(&req).unwrap();
        assert_eq!(enc.decode().unwrap(), req);
        let spans: Vec<_> = req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(enc.spans.len(), spans.len());
        let mask = [1, 2, 3, 4, 5, 6, 7, 8];
        for i in 0..enc.spans.len() {
            enc.set_trace_id(i, &[9; 16]);
            enc.mask_span_ids(i, &mask);
            enc.shift_times(i, 1000);
        }
        let got = enc.decode().unwrap();
        let got: Vec<_> = got
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
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
}
