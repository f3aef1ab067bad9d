//! `ExportLogsServiceRequest` protobuf → a logs batch (the part schema in
//! `columnar::logs`) in one pass, as `traces` does for spans. The mapping
//! is the one `tael_core::otlp::reference::logs_from_request` specifies (a property
//! test holds the two equal).

use super::json_text::{any_as_str, write_any, write_attrs};
use super::wire::{Reader, WireError};
use super::{for_each_item, hex_id, Budget, Decoded, Rows, SharedCols};
use crate::columnar;
use crate::manifest::Signal;
use arrow::array::UInt32Builder;
use arrow::array::{ArrayRef, Int32Builder, Int64Builder, RecordBatch, StringBuilder};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tael_core::model::severity_name;
use tael_core::otlp::{check_opt_id, ns, MapLimits};

/// Column builders in schema order.
struct Builders {
    time_ns: Int64Builder,
    observed_ns: Int64Builder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    severity: StringBuilder,
    severity_text: StringBuilder,
    severity_number: Int32Builder,
    body: StringBuilder,
    body_json: StringBuilder,
    service: StringBuilder,
    attributes: StringBuilder,
    shared: SharedCols,
    flags: UInt32Builder,
    event_name: StringBuilder,
    dropped_attributes: UInt32Builder,
}

impl Builders {
    fn new(rows: usize) -> Self {
        let s = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        Builders {
            time_ns: Int64Builder::with_capacity(rows),
            observed_ns: Int64Builder::with_capacity(rows),
            trace_id: s(32),
            span_id: s(16),
            severity: s(5),
            severity_text: s(5),
            severity_number: Int32Builder::with_capacity(rows),
            body: s(64),
            body_json: s(0),
            service: s(12),
            attributes: s(64),
            shared: SharedCols::new(rows),
            flags: UInt32Builder::with_capacity(rows),
            event_name: s(0),
            dropped_attributes: UInt32Builder::with_capacity(rows),
        }
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.time_ns.finish()),
            Arc::new(self.observed_ns.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.severity.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.body_json.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.attributes.finish()),
        ];
        cols.extend(self.shared.finish());
        cols.extend([
            Arc::new(self.flags.finish()) as ArrayRef,
            Arc::new(self.event_name.finish()),
            Arc::new(self.dropped_attributes.finish()),
        ]);
        RecordBatch::try_new(columnar::logs::schema(), cols)
    }
}

/// The fields of one log record as slices of the request.
#[derive(Default)]
struct LogView<'a> {
    time: u64,
    observed: u64,
    severity_number: i32,
    severity_text: &'a str,
    body: Option<&'a [u8]>,
    attributes: Vec<&'a [u8]>,
    dropped_attributes: u32,
    flags: u32,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    event_name: &'a str,
}

fn log_view(bytes: &[u8]) -> Result<LogView<'_>, WireError> {
    let mut l = LogView::default();
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        match tag {
            1 => l.time = v.fixed64("LogRecord.time_unix_nano")?,
            11 => l.observed = v.fixed64("LogRecord.observed_time_unix_nano")?,
            2 => l.severity_number = v.varint("LogRecord.severity_number")? as i32,
            3 => l.severity_text = v.str("LogRecord.severity_text")?,
            5 => l.body = Some(v.bytes("LogRecord.body")?),
            6 => l.attributes.push(v.bytes("LogRecord.attributes")?),
            7 => l.dropped_attributes = v.varint("LogRecord.dropped_attributes_count")? as u32,
            8 => l.flags = v.fixed32("LogRecord.flags")?,
            9 => l.trace_id = v.bytes("LogRecord.trace_id")?,
            10 => l.span_id = v.bytes("LogRecord.span_id")?,
            12 => l.event_name = v.str("LogRecord.event_name")?,
            _ => {}
        }
    }
    Ok(l)
}

fn text(b: &[u8]) -> &str {
    // Only ever holds JSON written from validated UTF-8.
    std::str::from_utf8(b).unwrap_or("")
}

/// Decodes a logs export into a logs batch. Records with invalid ids are
/// rejected one by one; a malformed payload is an error.
pub fn decode_logs(payload: &[u8], limits: MapLimits) -> Result<Decoded, WireError> {
    let mut b = Builders::new(payload.len() / 200 + 1);
    let mut rows = Rows::default();
    let (mut attrs, mut body_json) = (Vec::new(), Vec::new());
    let mut budget = Budget::for_payload(payload.len());
    for_each_item(
        payload,
        "log_records",
        limits,
        &mut budget,
        |res, scope, record, _| {
            let l = log_view(record)?;
            attrs.clear();
            body_json.clear();
            let cap_dropped = write_attrs(&mut attrs, &l.attributes, limits.max_attributes)?;
            // A string body is stored as text only; any other as typed JSON too.
            let body_str = match l.body {
                Some(v) => any_as_str(v)?,
                None => None,
            };
            if body_str.is_none() {
                match l.body {
                    Some(v) => write_any(&mut body_json, v, 1)?,
                    None => body_json.extend_from_slice(b"null"),
                }
            }
            let ids = check_opt_id(l.trace_id, 16, "trace_id")
                .and_then(|t| check_opt_id(l.span_id, 8, "span_id").map(|s| (t, s)));
            let (has_trace, has_span) = match ids {
                Ok(v) => v,
                Err(why) => {
                    rows.reject(&format!("log record: {why}"));
                    return Ok(());
                }
            };
            let mut h = DefaultHasher::new();
            1u8.hash(&mut h);
            res.attributes.hash(&mut h);
            scope.name.hash(&mut h);
            scope.version.hash(&mut h);
            record.hash(&mut h);
            // Time 0 (unknown) takes the observed time, as the reference mapping.
            let time = ns(if l.time == 0 { l.observed } else { l.time });
            rows.add(h.finish(), time);
            b.time_ns.append_value(time);
            b.observed_ns.append_value(ns(l.observed));
            match has_trace {
                true => b.trace_id.append_value(hex_id::<32>(l.trace_id).as_str()),
                false => b.trace_id.append_null(),
            }
            match has_span {
                true => b.span_id.append_value(hex_id::<16>(l.span_id).as_str()),
                false => b.span_id.append_null(),
            }
            let severity = severity_name(l.severity_number);
            b.severity.append_value(severity);
            if l.severity_text.is_empty() {
                b.severity_text.append_value(severity.to_ascii_uppercase());
            } else {
                b.severity_text.append_value(l.severity_text);
            }
            b.severity_number.append_value(l.severity_number);
            match body_str {
                Some(s) => {
                    b.body.append_value(s);
                    b.body_json.append_null();
                }
                None => {
                    let typed: serde_json::Value = serde_json::from_slice(&body_json)
                        .map_err(|e| WireError::new(e.to_string()))?;
                    b.body.append_value(tael_core::attr::json_to_flat(&typed));
                    b.body_json.append_value(text(&body_json));
                }
            }
            b.service.append_value(&res.service);
            b.attributes.append_value(text(&attrs));
            b.shared.append(res, scope);
            b.flags.append_value(l.flags);
            b.event_name.append_value(l.event_name);
            b.dropped_attributes
                .append_value(l.dropped_attributes.saturating_add(cap_dropped));
            Ok(())
        },
    )?;
    rows.finish(Signal::Logs, b.finish())
}
