//! Spans ↔ Arrow. Schema (one row per span):
//!
//! | column | type | notes |
//! |---|---|---|
//! | trace_id, span_id | utf8 | lower-case hex |
//! | parent_span_id | utf8, nullable | |
//! | service, operation, status, status_message, kind, trace_state | utf8 | |
//! | start_ns, end_ns, duration_ns | int64 | ns since epoch / ns |
//! | flags | uint32 | |
//! | attributes, resource, scope_attributes | utf8 | typed JSON object, "" when empty |
//! | events, links | utf8 | JSON array of `{n,t,a,d}` / `{t,s,ts,f,a,d}`, "" when empty |
//! | scope_name, scope_version | utf8 | |
//! | scope_dropped_attributes_count | uint32 | |
//! | dropped_attributes_count, dropped_events_count, dropped_links_count | uint32 | |
//! | llm, llm_* | | the LLM call, see `columnar::llm` |

#[cfg(test)]
use super::{attrs_to_json, i64_col, shared_attrs_col, str_col, string_col, u32_col};
use super::{json_to_attrs, opt_str, Cols};
use crate::error::StorageError;
use arrow::array::RecordBatch;
#[cfg(test)]
use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};
use tael_core::model::{Attrs, Span, SpanEvent, SpanLink};

#[derive(Serialize, Deserialize)]
struct EventRec {
    n: String,
    t: i64,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    a: Attrs,
    #[serde(default, skip_serializing_if = "is_zero")]
    d: u32,
}

#[derive(Serialize, Deserialize)]
struct LinkRec {
    t: String,
    s: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    ts: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    f: u32,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    a: Attrs,
    #[serde(default, skip_serializing_if = "is_zero")]
    d: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// The spans schema.
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        let mut fields = vec![
            s("trace_id"),
            s("span_id"),
            Field::new("parent_span_id", DataType::Utf8, true),
            s("service"),
            s("operation"),
            Field::new("start_ns", DataType::Int64, false),
            Field::new("end_ns", DataType::Int64, false),
            Field::new("duration_ns", DataType::Int64, false),
            s("status"),
            s("status_message"),
            s("kind"),
            s("trace_state"),
            Field::new("flags", DataType::UInt32, false),
            s("attributes"),
            s("events"),
            s("links"),
            s("resource"),
            s("scope_name"),
            s("scope_version"),
            s("scope_attributes"),
            Field::new("scope_dropped_attributes_count", DataType::UInt32, false),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
            Field::new("dropped_events_count", DataType::UInt32, false),
            Field::new("dropped_links_count", DataType::UInt32, false),
        ];
        fields.extend(super::llm::fields());
        Arc::new(Schema::new(fields))
    })
    .clone()
}

/// Converts model spans into one record batch: the reference the ingest
/// decoder (`crate::otlp::traces`) is property-tested against.
#[cfg(test)]
pub(crate) fn to_batch(spans: &[&Span]) -> Result<RecordBatch, StorageError> {
    let events = |s: &Span| -> String {
        if s.events.is_empty() {
            return String::new();
        }
        let recs: Vec<EventRec> = s
            .events
            .iter()
            .map(|e| EventRec {
                n: e.name.clone(),
                t: e.time_ns,
                a: e.attributes.clone(),
                d: e.dropped_attributes_count,
            })
            .collect();
        serde_json::to_string(&recs).unwrap_or_default()
    };
    let links = |s: &Span| -> String {
        if s.links.is_empty() {
            return String::new();
        }
        let recs: Vec<LinkRec> = s
            .links
            .iter()
            .map(|l| LinkRec {
                t: l.trace_id.clone(),
                s: l.span_id.clone(),
                ts: l.trace_state.clone(),
                f: l.flags,
                a: l.attributes.clone(),
                d: l.dropped_attributes_count,
            })
            .collect();
        serde_json::to_string(&recs).unwrap_or_default()
    };
    let cols: Vec<ArrayRef> = vec![
        str_col(spans, |s| s.trace_id.as_str()),
        str_col(spans, |s| s.span_id.as_str()),
        Arc::new(StringArray::from_iter(
            spans.iter().map(|s| s.parent_span_id.as_deref()),
        )),
        str_col(spans, |s| s.service.as_str()),
        str_col(spans, |s| s.operation.as_str()),
        i64_col(spans, |s| s.start_ns),
        i64_col(spans, |s| s.end_ns),
        i64_col(spans, |s| s.end_ns.saturating_sub(s.start_ns)),
        str_col(spans, |s| s.status.as_str()),
        str_col(spans, |s| s.status_message.as_str()),
        str_col(spans, |s| s.kind.as_str()),
        str_col(spans, |s| s.trace_state.as_str()),
        u32_col(spans, |s| s.flags),
        string_col(spans, |s| attrs_to_json(&s.attributes)),
        string_col(spans, events),
        string_col(spans, links),
        shared_attrs_col(spans, |s| &s.resource),
        str_col(spans, |s| s.scope.name.as_str()),
        str_col(spans, |s| s.scope.version.as_str()),
        shared_attrs_col(spans, |s| &s.scope.attributes),
        u32_col(spans, |s| s.scope.dropped_attributes_count),
        u32_col(spans, |s| s.dropped_attributes_count),
        u32_col(spans, |s| s.dropped_events_count),
        u32_col(spans, |s| s.dropped_links_count),
    ];
    let mut llm = super::llm::LlmBuilders::new(spans.len());
    for s in spans {
        llm.append(s.llm.as_ref());
    }
    let mut cols = cols;
    cols.extend(llm.finish());
    Ok(RecordBatch::try_new(schema(), cols)?)
}

/// The events of a stored `events` value (`[{n,t,a,d}]`, "" when none).
pub fn events_from_json(text: &str) -> Result<Vec<SpanEvent>, StorageError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let recs: Vec<EventRec> =
        serde_json::from_str(text).map_err(|e| StorageError::Corrupt(format!("events: {e}")))?;
    Ok(recs
        .into_iter()
        .map(|e| SpanEvent {
            name: e.n,
            time_ns: e.t,
            attributes: e.a,
            dropped_attributes_count: e.d,
        })
        .collect())
}

/// Typed access to a spans batch: cheap columns for filtering, and full
/// rows decoded on demand.
pub struct SpanCols<'a> {
    pub trace_id: &'a arrow::array::StringArray,
    pub span_id: &'a arrow::array::StringArray,
    pub service: &'a arrow::array::StringArray,
    pub operation: &'a arrow::array::StringArray,
    pub start_ns: &'a arrow::array::Int64Array,
    pub end_ns: &'a arrow::array::Int64Array,
    pub status: &'a arrow::array::StringArray,
    pub attributes: &'a arrow::array::StringArray,
    batch: &'a RecordBatch,
}

impl<'a> SpanCols<'a> {
    pub fn new(batch: &'a RecordBatch) -> Result<Self, StorageError> {
        let c = Cols::new(batch);
        Ok(SpanCols {
            trace_id: c.str("trace_id")?,
            span_id: c.str("span_id")?,
            service: c.str("service")?,
            operation: c.str("operation")?,
            start_ns: c.i64("start_ns")?,
            end_ns: c.i64("end_ns")?,
            status: c.str("status")?,
            attributes: c.str("attributes")?,
            batch,
        })
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes row `i` fully.
    pub fn row(&self, i: usize) -> Result<Span, StorageError> {
        let c = Cols::new(self.batch);
        let events = events_from_json(c.str("events")?.value(i))?;
        let links: Vec<LinkRec> = match c.str("links")?.value(i) {
            "" => Vec::new(),
            s => {
                serde_json::from_str(s).map_err(|e| StorageError::Corrupt(format!("links: {e}")))?
            }
        };
        Ok(Span {
            trace_id: self.trace_id.value(i).to_string(),
            span_id: self.span_id.value(i).to_string(),
            parent_span_id: opt_str(c.str("parent_span_id")?, i),
            service: self.service.value(i).to_string(),
            operation: self.operation.value(i).to_string(),
            start_ns: self.start_ns.value(i),
            end_ns: self.end_ns.value(i),
            status: self.status.value(i).to_string(),
            status_message: c.str("status_message")?.value(i).to_string(),
            kind: c.str("kind")?.value(i).to_string(),
            trace_state: c.str("trace_state")?.value(i).to_string(),
            flags: c.u32("flags")?.value(i),
            attributes: json_to_attrs(self.attributes.value(i)),
            events,
            links: links
                .into_iter()
                .map(|l| SpanLink {
                    trace_id: l.t,
                    span_id: l.s,
                    trace_state: l.ts,
                    flags: l.f,
                    attributes: l.a,
                    dropped_attributes_count: l.d,
                })
                .collect(),
            resource: c.resource(i)?,
            scope: c.scope(i)?,
            dropped_attributes_count: c.u32("dropped_attributes_count")?.value(i),
            dropped_events_count: c.u32("dropped_events_count")?.value(i),
            dropped_links_count: c.u32("dropped_links_count")?.value(i),
            llm: super::llm::parse(c.str("llm")?.value(i)),
        })
    }
}
