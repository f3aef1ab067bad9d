//! Metric points ↔ Arrow. Schema (one row per data point):
//!
//! | column | type | notes |
//! |---|---|---|
//! | time_ns, start_ns | int64 | ns since epoch |
//! | service, name, description, unit, metric_type, temporality | utf8 | |
//! | value | float64 | gauge/sum value; histogram/summary sum |
//! | is_monotonic | bool, nullable | sums only |
//! | distribution | utf8, nullable | JSON of `Distribution` (buckets, quantiles …) |
//! | attributes, resource, scope_attributes | utf8 | typed JSON object, "" when empty |
//! | scope_name, scope_version | utf8 | |
//! | scope_dropped_attributes_count | uint32 | |
//! | exemplars | utf8 | JSON array, "" when empty |
//! | flags | uint32 | |

#[cfg(test)]
use super::{attrs_to_json, i64_col, shared_attrs_col, str_col, string_col, u32_col};
use super::{json_to_attrs, opt_str, Cols};
use crate::error::StorageError;
use arrow::array::{Array, RecordBatch};
#[cfg(test)]
use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::{Arc, OnceLock};
use tael_core::model::MetricPoint;

/// The metrics schema.
pub fn schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let s = |n: &str| Field::new(n, DataType::Utf8, false);
        Arc::new(Schema::new(vec![
            Field::new("time_ns", DataType::Int64, false),
            Field::new("start_ns", DataType::Int64, false),
            s("service"),
            s("name"),
            s("description"),
            s("unit"),
            s("metric_type"),
            Field::new("value", DataType::Float64, false),
            s("temporality"),
            Field::new("is_monotonic", DataType::Boolean, true),
            Field::new("distribution", DataType::Utf8, true),
            s("attributes"),
            s("resource"),
            s("scope_name"),
            s("scope_version"),
            s("scope_attributes"),
            Field::new("scope_dropped_attributes_count", DataType::UInt32, false),
            s("exemplars"),
            Field::new("flags", DataType::UInt32, false),
        ]))
    })
    .clone()
}

/// Converts model metric points into one record batch: the reference the
/// ingest decoder (`crate::otlp::metrics`) is property-tested against.
#[cfg(test)]
pub(crate) fn to_batch(points: &[&MetricPoint]) -> Result<RecordBatch, StorageError> {
    let cols: Vec<ArrayRef> = vec![
        i64_col(points, |p| p.time_ns),
        i64_col(points, |p| p.start_ns),
        str_col(points, |p| p.service.as_str()),
        str_col(points, |p| p.name.as_str()),
        str_col(points, |p| p.description.as_str()),
        str_col(points, |p| p.unit.as_str()),
        str_col(points, |p| p.metric_type.as_str()),
        Arc::new(Float64Array::from_iter_values(
            points.iter().map(|p| p.value),
        )),
        str_col(points, |p| p.temporality.as_str()),
        Arc::new(BooleanArray::from_iter(
            points.iter().map(|p| p.is_monotonic),
        )),
        Arc::new(StringArray::from_iter(points.iter().map(|p| {
            p.distribution
                .as_ref()
                .and_then(|d| serde_json::to_string(d).ok())
        }))),
        string_col(points, |p| attrs_to_json(&p.attributes)),
        shared_attrs_col(points, |p| &p.resource),
        str_col(points, |p| p.scope.name.as_str()),
        str_col(points, |p| p.scope.version.as_str()),
        shared_attrs_col(points, |p| &p.scope.attributes),
        u32_col(points, |p| p.scope.dropped_attributes_count),
        string_col(points, |p| {
            if p.exemplars.is_empty() {
                String::new()
            } else {
                serde_json::Value::Array(p.exemplars.clone()).to_string()
            }
        }),
        u32_col(points, |p| p.flags),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}

/// Decodes row `i` of a batch in this schema.
pub fn row(batch: &RecordBatch, i: usize) -> Result<MetricPoint, StorageError> {
    let c = Cols::new(batch);
    let mono = c.bool("is_monotonic")?;
    let distribution = match opt_str(c.str("distribution")?, i) {
        Some(j) => Some(
            serde_json::from_str(&j)
                .map_err(|e| StorageError::Corrupt(format!("distribution: {e}")))?,
        ),
        None => None,
    };
    let exemplars = match c.str("exemplars")?.value(i) {
        "" => Vec::new(),
        s => {
            serde_json::from_str(s).map_err(|e| StorageError::Corrupt(format!("exemplars: {e}")))?
        }
    };
    Ok(MetricPoint {
        time_ns: c.i64("time_ns")?.value(i),
        start_ns: c.i64("start_ns")?.value(i),
        service: c.str("service")?.value(i).to_string(),
        name: c.str("name")?.value(i).to_string(),
        description: c.str("description")?.value(i).to_string(),
        unit: c.str("unit")?.value(i).to_string(),
        metric_type: c.str("metric_type")?.value(i).to_string(),
        value: c.f64("value")?.value(i),
        temporality: c.str("temporality")?.value(i).to_string(),
        is_monotonic: if mono.is_null(i) {
            None
        } else {
            Some(mono.value(i))
        },
        distribution,
        attributes: json_to_attrs(c.str("attributes")?.value(i)),
        resource: c.resource(i)?,
        scope: c.scope(i)?,
        exemplars,
        flags: c.u32("flags")?.value(i),
    })
}
