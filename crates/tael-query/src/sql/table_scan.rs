//! The rows of one stored table that another node's SQL needs
//! ([`TableScan`]): a query node plans SQL over the shards' tables, and
//! each shard answers the scans of its plan with the projected columns of
//! its rows that pass the pushed-down filters. A scan is itself a query
//! (`SELECT <columns> FROM <table> WHERE <filters> LIMIT <n>`), so a shard
//! runs it under its own SQL limits and read-only checks.
//!
//! Wire format of the answer: an Arrow IPC stream ([`encode_ipc`]), the
//! schema first, then the batches.

use crate::QueryError;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

/// The tables a scan may read: the stored columns of each signal and the
/// comments.
pub const SCANNABLE: &[&str] = &["spans", "logs", "metrics", "comments"];

/// One scan of a stored table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableScan {
    /// One of [`SCANNABLE`].
    pub table: String,
    /// The columns, in order (stored columns only).
    pub columns: Vec<String>,
    /// SQL boolean expressions over the table's columns (not only those
    /// returned), all of which a row passes.
    pub filters: Vec<String>,
    pub limit: Option<usize>,
}

/// `"name"` with quotes doubled: a SQL identifier for any column name.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl TableScan {
    /// The scan as one read-only statement.
    pub fn to_sql(&self) -> Result<String, QueryError> {
        if !SCANNABLE.contains(&self.table.as_str()) {
            return Err(QueryError::InvalidArgument(format!(
                "cannot scan {:?}: expected one of {}",
                self.table,
                SCANNABLE.join(", ")
            )));
        }
        let columns = match self.columns.is_empty() {
            // No column needed (count(*)): any one keeps the row count.
            true => "1 AS \"_\"".to_string(),
            false => self
                .columns
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let mut sql = format!("SELECT {columns} FROM {}", self.table);
        if !self.filters.is_empty() {
            let all: Vec<String> = self.filters.iter().map(|f| format!("({f})")).collect();
            sql.push_str(&format!(" WHERE {}", all.join(" AND ")));
        }
        if let Some(n) = self.limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        Ok(sql)
    }
}

/// Batches as an Arrow IPC stream.
pub fn encode_ipc(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, QueryError> {
    let fail =
        |e: arrow::error::ArrowError| QueryError::Internal(format!("cannot write rows: {e}"));
    let mut out = Vec::new();
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, schema).map_err(fail)?;
        for b in batches {
            w.write(b).map_err(fail)?;
        }
        w.finish().map_err(fail)?;
    }
    Ok(out)
}

/// The schema and batches of an Arrow IPC stream.
pub fn decode_ipc(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
    let fail =
        |e: arrow::error::ArrowError| QueryError::Internal(format!("rows that do not decode: {e}"));
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(fail)?;
    let schema = reader.schema();
    let batches = reader.map(|b| b.map_err(fail)).collect::<Result<_, _>>()?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn scans_read_as_one_statement() {
        let scan = TableScan {
            table: "spans".into(),
            columns: vec!["service".into(), "odd\"name".into()],
            filters: vec!["service = 'a'".into(), "duration_ns > 5".into()],
            limit: Some(10),
        };
        assert_eq!(
            scan.to_sql().unwrap(),
            "SELECT \"service\", \"odd\"\"name\" FROM spans WHERE (service = 'a') AND (duration_ns > 5) LIMIT 10"
        );
        let none = TableScan {
            columns: vec![],
            filters: vec![],
            limit: None,
            ..scan.clone()
        };
        assert_eq!(none.to_sql().unwrap(), "SELECT 1 AS \"_\" FROM spans");
        let bad = TableScan {
            table: "spans; DROP".into(),
            ..scan
        };
        assert!(matches!(bad.to_sql(), Err(QueryError::InvalidArgument(_))));
    }

    #[test]
    fn batches_round_trip_through_ipc() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let bytes = encode_ipc(&schema, &[batch.clone(), batch.clone()]).unwrap();
        let (back_schema, back) = decode_ipc(&bytes).unwrap();
        assert_eq!(back_schema, schema);
        assert_eq!(back, vec![batch.clone(), batch]);
        assert!(decode_ipc(b"not arrow").is_err());
    }
}
