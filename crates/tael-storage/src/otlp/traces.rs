//! `ExportTraceServiceRequest` protobuf → a spans batch (the part schema in
//! `columnar::spans`), in one pass with no intermediate structs: ids are
//! hex-encoded and attribute JSON written straight into the column
//! builders. The mapping is the one `tael_core::otlp::reference::spans_from_request`
//! specifies (a property test holds the two equal).

use super::json_text::{write_attrs, write_attrs_diverting, write_str};
use super::wire::{Reader, WireError};
use super::{for_each_item, hex_id, Budget, Decoded, Rows, SharedCols};
use crate::columnar;
use crate::columnar::json_to_attrs;
use crate::columnar::llm::LlmBuilders;
use crate::manifest::Signal;
use crate::memtable::span_key;
use crate::offload::Offload;
use crate::text::docs::{span_row_texts, Text};
use arrow::array::Int64Builder;
use arrow::array::{ArrayRef, RecordBatch, StringBuilder, UInt32Builder};
use std::sync::Arc;
use tael_core::llm::payloads::PayloadRef;
use tael_core::llm::prices::PriceTable;
use tael_core::llm::{extract, looks_like_llm, LlmCall};
use tael_core::model::Attrs;
use tael_core::otlp::{check_id, check_opt_id, kind_name, ns, status_name, MapLimits};

/// Column builders in schema order.
struct Builders {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    service: StringBuilder,
    operation: StringBuilder,
    start_ns: Int64Builder,
    end_ns: Int64Builder,
    duration_ns: Int64Builder,
    status: StringBuilder,
    status_message: StringBuilder,
    kind: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attributes: StringBuilder,
    events: StringBuilder,
    links: StringBuilder,
    shared: SharedCols,
    dropped_attributes: UInt32Builder,
    dropped_events: UInt32Builder,
    dropped_links: UInt32Builder,
    llm: LlmBuilders,
}

impl Builders {
    fn new(rows: usize) -> Self {
        let s = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        Builders {
            trace_id: s(32),
            span_id: s(16),
            parent_span_id: s(16),
            service: s(12),
            operation: s(16),
            start_ns: Int64Builder::with_capacity(rows),
            end_ns: Int64Builder::with_capacity(rows),
            duration_ns: Int64Builder::with_capacity(rows),
            status: s(5),
            status_message: s(0),
            kind: s(6),
            trace_state: s(0),
            flags: UInt32Builder::with_capacity(rows),
            attributes: s(96),
            events: s(0),
            links: s(0),
            shared: SharedCols::new(rows),
            dropped_attributes: UInt32Builder::with_capacity(rows),
            dropped_events: UInt32Builder::with_capacity(rows),
            dropped_links: UInt32Builder::with_capacity(rows),
            llm: LlmBuilders::new(rows),
        }
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.operation.finish()),
            Arc::new(self.start_ns.finish()),
            Arc::new(self.end_ns.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.events.finish()),
            Arc::new(self.links.finish()),
        ];
        cols.extend(self.shared.finish());
        cols.extend([
            Arc::new(self.dropped_attributes.finish()) as ArrayRef,
            Arc::new(self.dropped_events.finish()),
            Arc::new(self.dropped_links.finish()),
        ]);
        cols.extend(self.llm.finish());
        RecordBatch::try_new(columnar::spans::schema(), cols)
    }
}

/// The fields of one span as slices of the request.
#[derive(Default)]
struct SpanView<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent_span_id: &'a [u8],
    trace_state: &'a str,
    name: &'a str,
    kind: i32,
    start: u64,
    end: u64,
    attributes: Vec<&'a [u8]>,
    dropped_attributes: u32,
    events: Vec<&'a [u8]>,
    dropped_events: u32,
    links: Vec<&'a [u8]>,
    dropped_links: u32,
    status_code: i32,
    status_message: &'a str,
    flags: u32,
}

fn span_view(bytes: &[u8]) -> Result<SpanView<'_>, WireError> {
    let mut s = SpanView::default();
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        match tag {
            1 => s.trace_id = v.bytes("Span.trace_id")?,
            2 => s.span_id = v.bytes("Span.span_id")?,
            3 => s.trace_state = v.str("Span.trace_state")?,
            4 => s.parent_span_id = v.bytes("Span.parent_span_id")?,
            5 => s.name = v.str("Span.name")?,
            6 => s.kind = v.varint("Span.kind")? as i32,
            7 => s.start = v.fixed64("Span.start_time_unix_nano")?,
            8 => s.end = v.fixed64("Span.end_time_unix_nano")?,
            9 => s.attributes.push(v.bytes("Span.attributes")?),
            10 => s.dropped_attributes = v.varint("Span.dropped_attributes_count")? as u32,
            11 => s.events.push(v.bytes("Span.events")?),
            12 => s.dropped_events = v.varint("Span.dropped_events_count")? as u32,
            13 => s.links.push(v.bytes("Span.links")?),
            14 => s.dropped_links = v.varint("Span.dropped_links_count")? as u32,
            15 => {
                let mut r = Reader::new(v.bytes("Span.status")?);
                while let Some((tag, v)) = r.next_field()? {
                    match tag {
                        2 => s.status_message = v.str("Status.message")?,
                        3 => s.status_code = v.varint("Status.code")? as i32,
                        _ => {}
                    }
                }
            }
            16 => s.flags = v.fixed32("Span.flags")?,
            _ => {}
        }
    }
    Ok(s)
}

/// Appends the events JSON array (`[{n,t,a,d}]`, see `columnar::spans`).
fn write_events(out: &mut Vec<u8>, events: &[&[u8]], limits: MapLimits) -> Result<(), WireError> {
    if events.is_empty() {
        return Ok(());
    }
    out.push(b'[');
    let mut attrs = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (mut time, mut name, mut dropped) = (0u64, "", 0u32);
        attrs.clear();
        let mut r = Reader::new(e);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => time = v.fixed64("Event.time_unix_nano")?,
                2 => name = v.str("Event.name")?,
                3 => attrs.push(v.bytes("Event.attributes")?),
                4 => dropped = v.varint("Event.dropped_attributes_count")? as u32,
                _ => {}
            }
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"n\":");
        write_str(out, name);
        out.extend_from_slice(b",\"t\":");
        let _ = serde_json::to_writer(&mut *out, &ns(time));
        dropped = dropped.saturating_add(write_member_attrs(out, &attrs, limits)?);
        write_dropped(out, dropped);
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

/// `,"a":{…}` when the capped map is not empty; the number dropped by the cap.
fn write_member_attrs(
    out: &mut Vec<u8>,
    attrs: &[&[u8]],
    limits: MapLimits,
) -> Result<u32, WireError> {
    if attrs.is_empty() || limits.max_attributes == 0 {
        return write_attrs(&mut Vec::new(), attrs, limits.max_attributes);
    }
    out.extend_from_slice(b",\"a\":");
    write_attrs(out, attrs, limits.max_attributes)
}

fn write_dropped(out: &mut Vec<u8>, dropped: u32) {
    if dropped != 0 {
        out.extend_from_slice(b",\"d\":");
        let _ = serde_json::to_writer(&mut *out, &dropped);
    }
}

/// Appends the links JSON array (`[{t,s,ts,f,a,d}]`); `Err(Ok(why))` when a
/// link has an invalid id (the span is rejected).
fn write_links(
    out: &mut Vec<u8>,
    links: &[&[u8]],
    limits: MapLimits,
) -> Result<Option<String>, WireError> {
    if links.is_empty() {
        return Ok(None);
    }
    out.push(b'[');
    let mut bad = None;
    let mut attrs = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let (mut trace_id, mut span_id, mut trace_state) = (&[][..], &[][..], "");
        let (mut flags, mut dropped) = (0u32, 0u32);
        attrs.clear();
        let mut r = Reader::new(l);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => trace_id = v.bytes("Link.trace_id")?,
                2 => span_id = v.bytes("Link.span_id")?,
                3 => trace_state = v.str("Link.trace_state")?,
                4 => attrs.push(v.bytes("Link.attributes")?),
                5 => dropped = v.varint("Link.dropped_attributes_count")? as u32,
                6 => flags = v.fixed32("Link.flags")?,
                _ => {}
            }
        }
        if let Err(why) = check_id(trace_id, 16, "link trace_id")
            .and_then(|_| check_id(span_id, 8, "link span_id"))
        {
            bad = Some(why);
        }
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"t\":\"");
        out.extend_from_slice(hex::encode(trace_id).as_bytes());
        out.extend_from_slice(b"\",\"s\":\"");
        out.extend_from_slice(hex::encode(span_id).as_bytes());
        out.push(b'"');
        if !trace_state.is_empty() {
            out.extend_from_slice(b",\"ts\":");
            write_str(out, trace_state);
        }
        if flags != 0 {
            out.extend_from_slice(b",\"f\":");
            let _ = serde_json::to_writer(&mut *out, &flags);
        }
        dropped = dropped.saturating_add(write_member_attrs(out, &attrs, limits)?);
        write_dropped(out, dropped);
        out.push(b'}');
    }
    out.push(b']');
    Ok(bad)
}

/// Reusable per-span text buffers.
#[derive(Default)]
struct Scratch {
    attributes: Vec<u8>,
    events: Vec<u8>,
    links: Vec<u8>,
}

/// The LLM call of the span whose attribute and event JSON `scratch`
/// holds (parsed only when [`looks_like_llm`] says it may be one). With a
/// blob store, its payloads are moved there ([`crate::offload`]): those of
/// the attributes were already (`diverted`), the rest are now and
/// `scratch` is rewritten to hold the references.
fn llm_call(
    scratch: &mut Scratch,
    prices: &PriceTable,
    offload: Option<Offload<'_>>,
    diverted: Vec<PayloadRef>,
    status_message: &str,
) -> Option<(LlmCall, Vec<Text>)> {
    let (attributes, events) = (text(&scratch.attributes), text(&scratch.events));
    if !looks_like_llm(attributes, events) {
        return None;
    }
    // The events JSON was written just above, so it always parses.
    let parsed_events = columnar::spans::events_from_json(events).unwrap_or_default();
    let mut attrs = json_to_attrs(attributes);
    let mut call = extract(&attrs, &parsed_events, prices)?;
    call.payloads = diverted;
    let mut events_moved = false;
    if let Some(o) = offload {
        let moved = o.span(&mut attrs, &mut scratch.events);
        if !moved.is_empty() {
            if moved.iter().any(|p| p.event.is_none()) {
                scratch.attributes.clear();
                let _ = serde_json::to_writer(&mut scratch.attributes, &attrs);
            }
            events_moved = moved.iter().any(|p| p.event.is_some());
            call.payloads.extend(moved);
        }
    }
    // `attrs` now is what the attribute JSON holds; the parsed events are
    // stale when payloads moved out of them.
    let events = (!events_moved).then_some(parsed_events.as_slice());
    let texts = span_row_texts(true, &attrs, text(&scratch.events), events, status_message)
        .unwrap_or_default();
    Some((call, texts))
}

fn text(b: &[u8]) -> &str {
    // Only ever holds JSON written from validated UTF-8.
    std::str::from_utf8(b).unwrap_or("")
}

/// Decodes a trace export into a spans batch. Spans with invalid ids are
/// rejected one by one; a malformed payload is an error.
pub fn decode_traces(
    payload: &[u8],
    limits: MapLimits,
    prices: &PriceTable,
    offload: Option<Offload<'_>>,
) -> Result<Decoded, WireError> {
    // Sized by the span count, at most the size-based guess (which
    // over-allocates several times for payload-heavy requests: fresh
    // zeroed pages, faulted in).
    let guess = payload.len() / 160;
    let rows = super::count_items(payload).map_or(guess, |n| n.min(guess));
    let mut b = Builders::new(rows + 1);
    let mut rows = Rows::default();
    let mut scratch = Scratch::default();
    let mut budget = Budget::for_payload(payload.len());
    // Each stored row's searchable texts, read while its JSON is in hand.
    let mut texts = Vec::new();
    let mut row = 0usize;
    for_each_item(
        payload,
        "spans",
        limits,
        &mut budget,
        |res, scope, span, _| {
            let s = span_view(span)?;
            scratch.attributes.clear();
            scratch.events.clear();
            scratch.links.clear();
            // Payload attributes go to the blob store as they are written
            // (never escaped into JSON and parsed back).
            let mut diverted = Vec::new();
            let mut divert = |k: &str, v: &[u8]| match offload {
                Some(o) => o.divert_attr(k, v, &mut diverted),
                None => Ok(None),
            };
            let cap_dropped = write_attrs_diverting(
                &mut scratch.attributes,
                &s.attributes,
                limits.max_attributes,
                Some(&mut divert),
            )?;
            write_events(&mut scratch.events, &s.events, limits)?;
            let bad_link = write_links(&mut scratch.links, &s.links, limits)?;
            let ids = check_id(s.trace_id, 16, "trace_id")
                .and_then(|_| check_id(s.span_id, 8, "span_id"))
                .and_then(|_| check_opt_id(s.parent_span_id, 8, "parent_span_id"));
            let has_parent = match (ids, bad_link) {
                (Ok(has_parent), None) => has_parent,
                (Err(why), _) | (Ok(_), Some(why)) => {
                    rows.reject(&format!("span {:?}: {why}", s.name));
                    return Ok(());
                }
            };
            let (trace_hex, span_hex) = (hex_id::<32>(s.trace_id), hex_id::<16>(s.span_id));
            let key = span_key(trace_hex.as_str(), span_hex.as_str());
            b.trace_id.append_value(trace_hex.as_str());
            b.span_id.append_value(span_hex.as_str());
            match has_parent {
                false => b.parent_span_id.append_null(),
                true => b
                    .parent_span_id
                    .append_value(hex_id::<16>(s.parent_span_id).as_str()),
            }
            b.service.append_value(&res.service);
            b.operation.append_value(s.name);
            let (start, end) = (ns(s.start), ns(s.end));
            rows.add(key, start);
            b.start_ns.append_value(start);
            b.end_ns.append_value(end);
            b.duration_ns.append_value(end.saturating_sub(start));
            b.status.append_value(status_name(s.status_code));
            b.status_message.append_value(s.status_message);
            b.kind.append_value(kind_name(s.kind));
            b.trace_state.append_value(s.trace_state);
            b.flags.append_value(s.flags);
            let had_diverted = !diverted.is_empty();
            let (llm, row_texts) =
                match llm_call(&mut scratch, prices, offload, diverted, s.status_message) {
                    Some((call, t)) => (Some(call), t),
                    None => {
                        if had_diverted {
                            // Not an LLM call after all: its attributes stay whole.
                            scratch.attributes.clear();
                            write_attrs(
                                &mut scratch.attributes,
                                &s.attributes,
                                limits.max_attributes,
                            )?;
                        }
                        let t = span_row_texts(
                            false,
                            &Attrs::default(),
                            text(&scratch.events),
                            None,
                            s.status_message,
                        );
                        (None, t.unwrap_or_default())
                    }
                };
            if !row_texts.is_empty() {
                texts.push((row, row_texts));
            }
            row += 1;
            b.attributes.append_value(text(&scratch.attributes));
            b.events.append_value(text(&scratch.events));
            b.links.append_value(text(&scratch.links));
            b.shared.append(res, scope);
            b.dropped_attributes
                .append_value(s.dropped_attributes.saturating_add(cap_dropped));
            b.dropped_events.append_value(s.dropped_events);
            b.dropped_links.append_value(s.dropped_links);
            b.llm.append(llm.as_ref());
            Ok(())
        },
    )?;
    let mut decoded = rows.finish(Signal::Spans, b.finish())?;
    decoded.texts = Some(texts);
    Ok(decoded)
}
