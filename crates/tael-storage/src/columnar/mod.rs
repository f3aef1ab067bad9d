//! Row ↔ Arrow conversion for the three signals. The Arrow schemas here are
//! also the Parquet schemas of the parts (see `part.rs`) and the DataFusion
//! table schemas. Nested data (typed attribute maps, events, links, resource,
//! histogram buckets) is stored as JSON text columns; everything that queries
//! filter or sort on is a typed column.

pub mod llm;
pub mod logs;
pub mod metrics;
pub mod spans;

use crate::error::StorageError;
use arrow::array::{Array, AsArray, RecordBatch, StringArray};
#[cfg(test)]
use arrow::array::{ArrayRef, Int64Array, UInt32Array};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, UInt32Type};
use serde_json::{Map, Value};
use std::sync::Arc;
use tael_core::model::{Attrs, Scope};

#[cfg(test)]
pub(crate) fn attrs_to_json(a: &Attrs) -> String {
    if a.is_empty() {
        return String::new();
    }
    serde_json::to_string(a).unwrap_or_default()
}

pub(crate) fn json_to_attrs(s: &str) -> Attrs {
    if s.is_empty() {
        return Map::new();
    }
    match serde_json::from_str(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
pub(crate) fn str_col<'a, T: 'a>(rows: &'a [&'a T], f: impl Fn(&'a T) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
}

#[cfg(test)]
pub(crate) fn string_col<T>(rows: &[&T], f: impl Fn(&T) -> String) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
}

#[cfg(test)]
pub(crate) fn i64_col<T>(rows: &[&T], f: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| f(r))))
}

#[cfg(test)]
pub(crate) fn u32_col<T>(rows: &[&T], f: impl Fn(&T) -> u32) -> ArrayRef {
    Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| f(r))))
}

/// A JSON column of a map shared by consecutive rows (resource, scope
/// attributes): each distinct `Arc` is serialised once per run of rows.
#[cfg(test)]
pub(crate) fn shared_attrs_col<T>(rows: &[&T], get: impl Fn(&T) -> &Attrs) -> ArrayRef {
    let mut out = arrow::array::StringBuilder::with_capacity(rows.len(), rows.len() * 32);
    let mut last: Option<(*const Attrs, String)> = None;
    for r in rows {
        let a = get(r);
        let p = a as *const Attrs;
        match &last {
            Some((lp, text)) if *lp == p => out.append_value(text),
            _ => {
                let text = attrs_to_json(a);
                out.append_value(&text);
                last = Some((p, text));
            }
        }
    }
    Arc::new(out.finish())
}

/// A text column read either plainly or as a dictionary (filter scans read
/// low-cardinality columns as dictionaries, memtables hold them plainly).
pub enum TextCol<'a> {
    Plain(&'a StringArray),
    Dict(
        &'a arrow::array::DictionaryArray<Int32Type>,
        &'a StringArray,
    ),
}

impl<'a> TextCol<'a> {
    /// The value of row `i` ("" when null).
    pub fn value(&self, i: usize) -> &'a str {
        match self {
            TextCol::Plain(a) => {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    ""
                }
            }
            TextCol::Dict(d, values) => match d.keys().is_valid(i) {
                true => {
                    let k = d.keys().value(i) as usize;
                    if k < values.len() {
                        values.value(k)
                    } else {
                        ""
                    }
                }
                false => "",
            },
        }
    }

    /// Row mask of `pred` over the column (null rows: false). A dictionary
    /// column tests each distinct value once.
    pub fn mask(&self, pred: impl Fn(&str) -> bool) -> Vec<bool> {
        match self {
            TextCol::Plain(a) => (0..a.len())
                .map(|i| a.is_valid(i) && pred(a.value(i)))
                .collect(),
            TextCol::Dict(d, values) => {
                let hit: Vec<bool> = (0..values.len()).map(|i| pred(values.value(i))).collect();
                d.keys()
                    .iter()
                    .map(|k| {
                        k.and_then(|k| hit.get(k as usize).copied())
                            .unwrap_or(false)
                    })
                    .collect()
            }
        }
    }
}

/// Typed column accessors for one batch, looked up by name.
pub struct Cols<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Cols<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Cols { batch }
    }

    fn col(&self, name: &str) -> Result<&'a dyn Array, StorageError> {
        self.batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} missing")))
    }

    pub fn str(&self, name: &str) -> Result<&'a arrow::array::StringArray, StorageError> {
        self.col(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not utf8")))
    }

    /// A text column, plain or dictionary-encoded.
    pub fn text(&self, name: &str) -> Result<TextCol<'a>, StorageError> {
        let col = self.col(name)?;
        if let Some(a) = col.as_string_opt::<i32>() {
            return Ok(TextCol::Plain(a));
        }
        let bad = || StorageError::Corrupt(format!("column {name} is not text"));
        let d = col.as_dictionary_opt::<Int32Type>().ok_or_else(bad)?;
        let values = d.values().as_string_opt::<i32>().ok_or_else(bad)?;
        Ok(TextCol::Dict(d, values))
    }

    pub fn i64(&self, name: &str) -> Result<&'a arrow::array::Int64Array, StorageError> {
        self.col(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not int64")))
    }

    pub fn i32(&self, name: &str) -> Result<&'a arrow::array::Int32Array, StorageError> {
        self.col(name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not int32")))
    }

    pub fn u32(&self, name: &str) -> Result<&'a arrow::array::UInt32Array, StorageError> {
        self.col(name)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not uint32")))
    }

    pub fn f64(&self, name: &str) -> Result<&'a arrow::array::Float64Array, StorageError> {
        self.col(name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not float64")))
    }

    /// The resource of row `i` (typed JSON column `resource`).
    pub fn resource(&self, i: usize) -> Result<Arc<Attrs>, StorageError> {
        Ok(Arc::new(json_to_attrs(self.str("resource")?.value(i))))
    }

    /// The instrumentation scope of row `i`.
    pub fn scope(&self, i: usize) -> Result<Arc<Scope>, StorageError> {
        Ok(Arc::new(Scope {
            name: self.str("scope_name")?.value(i).to_string(),
            version: self.str("scope_version")?.value(i).to_string(),
            attributes: json_to_attrs(self.str("scope_attributes")?.value(i)),
            dropped_attributes_count: self.u32("scope_dropped_attributes_count")?.value(i),
        }))
    }

    pub fn bool(&self, name: &str) -> Result<&'a arrow::array::BooleanArray, StorageError> {
        self.col(name)?
            .as_boolean_opt()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} is not boolean")))
    }
}

/// The value of a nullable string column as an Option.
pub fn opt_str(a: &arrow::array::StringArray, i: usize) -> Option<String> {
    if a.is_null(i) {
        None
    } else {
        Some(a.value(i).to_string())
    }
}
