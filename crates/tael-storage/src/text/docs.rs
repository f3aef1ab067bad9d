//! What the full-text index holds for a row: the searchable texts of a span
//! or a log record, read the same way from a freshly ingested batch, from a
//! stored part (index rebuilds) and from a decoded row (result snippets).
//!
//! - spans: the payloads of an LLM call (the attributes and GenAI event
//!   attributes `tael_core::llm::payloads` classifies, inline or moved to
//!   the blob store), the status message, and `exception.message` of
//!   exception events;
//! - log records: the body (string, structured as its JSON, or the blob it
//!   was moved to).

use crate::columnar::json_to_attrs;
use crate::columnar::spans::events_from_json;
use crate::columnar::{Cols, TextCol};
use crate::error::StorageError;
use arrow::array::{Array, RecordBatch};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tael_core::llm::payloads::{as_blob_ref, event_payload_kind, payload_kind};
use tael_core::model::{Attrs, LogRecord, Span, SpanEvent};
use tael_core::Signal;

/// One searchable text: its key (the first 8 bytes of its sha256, so a
/// payload moved to the blob store has the key of its blob) and where its
/// content is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub key: u64,
    pub content: TextContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextContent {
    Inline(String),
    /// In the blob store under this sha256.
    Blob([u8; 32]),
}

/// The index key of a sha256.
pub fn key_of(hash: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(b)
}

impl Text {
    pub fn inline(content: &str) -> Text {
        let hash: [u8; 32] = Sha256::digest(content.as_bytes()).into();
        Text {
            key: key_of(&hash),
            content: TextContent::Inline(content.to_string()),
        }
    }

    /// A string value, or the blob a reference object names.
    fn of_value(v: &Value) -> Option<Text> {
        match v {
            Value::String(s) if !s.is_empty() => Some(Text::inline(s)),
            v => {
                let hash = crate::blobs::parse_hash(as_blob_ref(v)?)?;
                Some(Text {
                    key: key_of(&hash),
                    content: TextContent::Blob(hash),
                })
            }
        }
    }
}

/// A row as the index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextDoc {
    pub kind: Signal,
    pub time_ns: i64,
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    pub texts: Vec<Text>,
}

impl TextDoc {
    /// About what the doc holds on the heap (its strings and texts).
    pub fn heap_bytes(&self) -> usize {
        let texts: usize = self
            .texts
            .iter()
            .map(|t| match &t.content {
                TextContent::Inline(s) => s.len() + 48,
                TextContent::Blob(_) => 48,
            })
            .sum();
        std::mem::size_of::<TextDoc>()
            + self.service.len()
            + self.trace_id.len()
            + self.span_id.len()
            + texts
    }
}

/// The searchable attribute values of a span, each with where it is (an
/// attribute key or `event name/key`); the status message comes on top.
pub fn span_values<'a>(
    is_llm: bool,
    attrs: &'a Attrs,
    events: &'a [SpanEvent],
) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    if is_llm {
        for (k, v) in attrs {
            if payload_kind(k).is_some() {
                out.push((k.clone(), v));
            }
        }
    }
    for e in events {
        for (k, v) in &e.attributes {
            let wanted = (is_llm && event_payload_kind(&e.name, k).is_some())
                || (e.name == "exception" && k == "exception.message");
            if wanted {
                out.push((format!("{}/{k}", e.name), v));
            }
        }
    }
    out
}

/// The searchable texts of a decoded span, with where each is, for result
/// snippets (blob contents are not read here).
pub fn span_texts(s: &Span) -> Vec<(String, Text)> {
    let mut out: Vec<(String, Text)> = span_values(s.llm.is_some(), &s.attributes, &s.events)
        .into_iter()
        .filter_map(|(at, v)| Some((at, Text::of_value(v)?)))
        .collect();
    if !s.status_message.is_empty() {
        out.push(("status_message".into(), Text::inline(&s.status_message)));
    }
    out
}

/// The searchable text of a decoded log record.
pub fn log_text(l: &LogRecord) -> Option<Text> {
    match &l.body {
        Value::Null => None,
        Value::String(s) => (!s.is_empty()).then(|| Text::inline(s)),
        v => Text::of_value(v).or_else(|| Some(Text::inline(&v.to_string()))),
    }
}

/// The documents of a batch of `signal` (none for metrics), with their row
/// numbers.
pub fn docs_of(signal: Signal, batch: &RecordBatch) -> Result<Vec<(usize, TextDoc)>, StorageError> {
    match signal {
        Signal::Spans => span_docs(batch),
        Signal::Logs => log_docs(batch),
        Signal::Metrics => Ok(Vec::new()),
    }
}

/// The columns a row document takes its time, service and ids from.
struct RowIds<'a> {
    kind: Signal,
    time: &'a arrow::array::Int64Array,
    service: TextCol<'a>,
    trace: TextCol<'a>,
    span: TextCol<'a>,
}

impl<'a> RowIds<'a> {
    fn new(batch: &'a RecordBatch, kind: Signal) -> Result<Self, StorageError> {
        let c = Cols::new(batch);
        Ok(RowIds {
            kind,
            time: c.i64(kind.time_column())?,
            service: c.text("service")?,
            trace: c.text("trace_id")?,
            span: c.text("span_id")?,
        })
    }

    fn doc(&self, i: usize, texts: Vec<Text>) -> (usize, TextDoc) {
        (
            i,
            TextDoc {
                kind: self.kind,
                time_ns: self.time.value(i),
                service: self.service.value(i).to_string(),
                trace_id: self.trace.value(i).to_string(),
                span_id: self.span.value(i).to_string(),
                texts,
            },
        )
    }
}

/// The searchable texts of one span row (what [`span_docs`] reads from a
/// stored row; the trace decoder calls it with what it has in hand):
/// `attrs`, the parsed attributes (read only for LLM calls), the events
/// JSON as stored, `events` when already parsed from that same JSON, and
/// the status message.
pub fn span_row_texts(
    is_llm: bool,
    attrs: &Attrs,
    events_json: &str,
    events: Option<&[SpanEvent]>,
    status_message: &str,
) -> Result<Vec<Text>, StorageError> {
    let has_exception = events_json.contains("\"exception.message\"");
    let parsed;
    let events = match events {
        Some(e) => e,
        None if is_llm || has_exception => {
            parsed = events_from_json(events_json)?;
            &parsed
        }
        None => &[],
    };
    let mut texts: Vec<Text> = if is_llm || has_exception {
        span_values(is_llm, attrs, events)
            .into_iter()
            .filter_map(|(_, v)| Text::of_value(v))
            .collect()
    } else {
        Vec::new()
    };
    if !status_message.is_empty() {
        texts.push(Text::inline(status_message));
    }
    Ok(texts)
}

/// The documents of a spans batch, with their row numbers (rows with
/// nothing to search have none).
pub fn span_docs(batch: &RecordBatch) -> Result<Vec<(usize, TextDoc)>, StorageError> {
    let c = Cols::new(batch);
    let (status, attrs, events, llm) = (
        c.text("status_message")?,
        c.text("attributes")?,
        c.text("events")?,
        c.text("llm")?,
    );
    let mut texts = Vec::new();
    for i in 0..batch.num_rows() {
        // The call's JSON, "" on spans that are no LLM call.
        let is_llm = !llm.value(i).is_empty();
        let parsed_attrs = if is_llm {
            json_to_attrs(attrs.value(i))
        } else {
            Attrs::default()
        };
        let t = span_row_texts(
            is_llm,
            &parsed_attrs,
            events.value(i),
            None,
            status.value(i),
        )?;
        if !t.is_empty() {
            texts.push((i, t));
        }
    }
    docs_with_texts(batch, Signal::Spans, texts)
}

/// The documents of a batch of `signal` whose rows' texts are known
/// (`texts`: row number and its texts, rows with none left out).
pub fn docs_with_texts(
    batch: &RecordBatch,
    signal: Signal,
    texts: Vec<(usize, Vec<Text>)>,
) -> Result<Vec<(usize, TextDoc)>, StorageError> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let ids = RowIds::new(batch, signal)?;
    Ok(texts.into_iter().map(|(i, t)| ids.doc(i, t)).collect())
}

/// The documents of a logs batch (every record with a body), with their
/// row numbers.
pub fn log_docs(batch: &RecordBatch) -> Result<Vec<(usize, TextDoc)>, StorageError> {
    let c = Cols::new(batch);
    let ids = RowIds::new(batch, Signal::Logs)?;
    let (body, body_json) = (c.text("body")?, c.text("body_json")?);
    let json_col = batch
        .column_by_name("body_json")
        .ok_or_else(|| StorageError::Corrupt("column body_json missing".into()))?;
    let mut out = Vec::new();
    for i in 0..batch.num_rows() {
        let text = if json_col.is_valid(i) {
            let j = body_json.value(i);
            match serde_json::from_str::<Value>(j) {
                Ok(v) if as_blob_ref(&v).is_some() => Text::of_value(&v),
                Ok(Value::Null) => None,
                _ => Some(Text::inline(j)),
            }
        } else {
            let b = body.value(i);
            (!b.is_empty()).then(|| Text::inline(b))
        };
        if let Some(text) = text {
            out.push(ids.doc(i, vec![text]));
        }
    }
    Ok(out)
}
