//! Arrow results → JSON rows (`{"column": value}` objects) for the SQL
//! route: integers and floats as JSON numbers (NaN and ±Inf as `null`, as
//! JSON cannot carry them), booleans, text, timestamps as RFC 3339 UTC
//! strings, anything else (decimals, dates, lists, structs) as Arrow's
//! display text.

use crate::QueryError;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

fn float(v: f64) -> Value {
    Number::from_f64(v)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn timestamp_ns(unit: &TimeUnit, v: i64) -> i64 {
    match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000_000),
        TimeUnit::Microsecond => v.saturating_mul(1_000),
        TimeUnit::Nanosecond => v,
    }
}

/// The value of row `i` of `col` as JSON.
fn cell(col: &dyn Array, i: usize, fmt: &ArrayFormatter<'_>) -> Value {
    use arrow::datatypes::*;
    if col.is_null(i) {
        return Value::Null;
    }
    match col.data_type() {
        DataType::Boolean => Value::Bool(col.as_boolean().value(i)),
        DataType::Int8 => col.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => col.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => col.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => col.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => col.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => col.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => float(col.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => float(col.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float(col.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => Value::String(col.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(col.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(col.as_string_view().value(i).to_string()),
        DataType::Timestamp(unit, _) => {
            let raw = match unit {
                TimeUnit::Second => col.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => col.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => col.as_primitive::<TimestampNanosecondType>().value(i),
            };
            Value::String(tael_core::time::format_rfc3339(timestamp_ns(unit, raw)))
        }
        _ => Value::String(fmt.value(i).to_string()),
    }
}

/// Appends the rows of `batch` (at most `max` of them) to `out`.
pub fn append_rows(
    batch: &RecordBatch,
    max: usize,
    out: &mut Vec<Map<String, Value>>,
) -> Result<(), QueryError> {
    let opts = FormatOptions::default().with_null("null");
    let schema = batch.schema();
    let cols: Vec<(&str, &dyn Array, ArrayFormatter<'_>)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let fmt = ArrayFormatter::try_new(c.as_ref(), &opts)
                .map_err(|e| QueryError::InvalidArgument(e.to_string()))?;
            Ok((f.name().as_str(), c.as_ref(), fmt))
        })
        .collect::<Result<_, QueryError>>()?;
    for i in 0..batch.num_rows().min(max) {
        let mut row = Map::with_capacity(cols.len());
        for (name, col, fmt) in &cols {
            row.insert(name.to_string(), cell(*col, i, fmt));
        }
        out.push(row);
    }
    Ok(())
}

/// A column's type as shown to users.
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Dictionary(_, v) => type_name(v),
        DataType::Timestamp(_, _) => "timestamp".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}
