//! Log records ↔ Arrow. Schema (one row per record):
//!
//! | column | type | notes |
//! |---|---|---|
//! | time_ns, observed_ns | int64 | ns since epoch |
//! | trace_id, span_id | utf8, nullable | hex |
//! | severity, severity_text | utf8 | |
//! | severity_number | int32 | |
//! | body | utf8 | the body as text (strings as-is, other values as JSON) |
//! | body_json | utf8, nullable | typed JSON of a non-string body |
//! | service, event_name, scope_name, scope_version | utf8 | |
//! | scope_dropped_attributes_count | uint32 | |
//! | attributes, resource, scope_attributes | utf8 | typed JSON object, "" when empty |
//! | flags, dropped_attributes_count | uint32 | |

#[cfg(test)]
use super::{attrs_to_json, i64_col, shared_attrs_col, str_col, string_col, u32_col};
use super::{json_to_attrs, opt_str, Cols};
use crate::error::StorageError;
use arrow::array::RecordBatch;
#[cfg(test)]
use arrow::array::{ArrayRef, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use tael_core::model::LogRecord;

/// The logs schema.
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        Arc::new(Schema::new(vec![
            Field::new("time_ns", DataType::Int64, false),
            Field::new("observed_ns", DataType::Int64, false),
            Field::new("trace_id", DataType::Utf8, true),
            Field::new("span_id", DataType::Utf8, true),
            s("severity"),
            s("severity_text"),
            Field::new("severity_number", DataType::Int32, false),
            s("body"),
            Field::new("body_json", DataType::Utf8, true),
            s("service"),
            s("attributes"),
            s("resource"),
            s("scope_name"),
            s("scope_version"),
            s("scope_attributes"),
            Field::new("scope_dropped_attributes_count", DataType::UInt32, false),
            Field::new("flags", DataType::UInt32, false),
            s("event_name"),
            Field::new("dropped_attributes_count", DataType::UInt32, false),
        ]))
    })
    .clone()
}

/// Converts model log records into one record batch: the reference the
/// ingest decoder (`crate::otlp::logs`) is property-tested against.
#[cfg(test)]
pub(crate) fn to_batch(logs: &[&LogRecord]) -> Result<RecordBatch, StorageError> {
    let cols: Vec<ArrayRef> = vec![
        i64_col(logs, |l| l.time_ns),
        i64_col(logs, |l| l.observed_ns),
        Arc::new(StringArray::from_iter(
            logs.iter().map(|l| l.trace_id.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            logs.iter().map(|l| l.span_id.as_deref()),
        )),
        str_col(logs, |l| l.severity.as_str()),
        str_col(logs, |l| l.severity_text.as_str()),
        Arc::new(Int32Array::from_iter_values(
            logs.iter().map(|l| l.severity_number),
        )),
        string_col(logs, |l| l.body_text()),
        Arc::new(StringArray::from_iter(logs.iter().map(|l| match &l.body {
            Value::String(_) => None,
            other => Some(other.to_string()),
        }))),
        str_col(logs, |l| l.service.as_str()),
        string_col(logs, |l| attrs_to_json(&l.attributes)),
        shared_attrs_col(logs, |l| &l.resource),
        str_col(logs, |l| l.scope.name.as_str()),
        str_col(logs, |l| l.scope.version.as_str()),
        shared_attrs_col(logs, |l| &l.scope.attributes),
        u32_col(logs, |l| l.scope.dropped_attributes_count),
        u32_col(logs, |l| l.flags),
        str_col(logs, |l| l.event_name.as_str()),
        u32_col(logs, |l| l.dropped_attributes_count),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}

/// Decodes row `i` of a batch in this schema.
pub fn row(batch: &RecordBatch, i: usize) -> Result<LogRecord, StorageError> {
    let c = Cols::new(batch);
    let body = match opt_str(c.str("body_json")?, i) {
        Some(j) => serde_json::from_str(&j)
            .map_err(|e| StorageError::Corrupt(format!("body_json: {e}")))?,
        None => Value::String(c.str("body")?.value(i).to_string()),
    };
    Ok(LogRecord {
        time_ns: c.i64("time_ns")?.value(i),
        observed_ns: c.i64("observed_ns")?.value(i),
        trace_id: opt_str(c.str("trace_id")?, i),
        span_id: opt_str(c.str("span_id")?, i),
        severity: c.str("severity")?.value(i).to_string(),
        severity_text: c.str("severity_text")?.value(i).to_string(),
        severity_number: c.i32("severity_number")?.value(i),
        body,
        service: c.str("service")?.value(i).to_string(),
        attributes: json_to_attrs(c.str("attributes")?.value(i)),
        resource: c.resource(i)?,
        scope: c.scope(i)?,
        flags: c.u32("flags")?.value(i),
        event_name: c.str("event_name")?.value(i).to_string(),
        dropped_attributes_count: c.u32("dropped_attributes_count")?.value(i),
    })
}
