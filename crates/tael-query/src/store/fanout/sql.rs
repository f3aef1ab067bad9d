//! SQL over shards: [`ShardTable`], a DataFusion table whose rows are the
//! union of every shard's rows of the same stored table. The query node
//! plans and runs the whole statement (joins, aggregates, sorts, limits
//! over the union, so answers equal one node's); each scan of the plan asks
//! every shard for the projected columns of its rows, with the filters
//! that translate to plain SQL pushed down (`crate::sql::table_scan`).
//! Only filters made of what every node reads the same way (columns,
//! plain literals, comparisons, boolean logic, `IN`, `BETWEEN`, `LIKE`,
//! null tests) are pushed, and the shards apply them exactly (they run the
//! same engine), so a limit over them is pushed down too; any other filter
//! runs on the query node over the rows the shards sent.

use super::{gather, Shard};
use crate::sql::table_scan::TableScan;
use crate::QueryError;
use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// The shards that failed during one statement: (shard, why).
#[derive(Debug, Clone, Default)]
pub(super) struct Failures(Arc<Mutex<Vec<(String, String)>>>);

impl Failures {
    fn add(&self, shard: &str, error: &QueryError) {
        self.0.lock().push((shard.to_string(), error.to_string()));
    }

    pub(super) fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock())
    }
}

/// One table over every shard (see the module doc).
pub(super) struct ShardTable {
    table: String,
    schema: SchemaRef,
    shards: Vec<Shard>,
    timeout: Duration,
    max_bytes: usize,
    failures: Failures,
}

impl std::fmt::Debug for ShardTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardTable")
            .field("table", &self.table)
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// The stored columns of a scannable table.
fn stored_schema(table: &str) -> SchemaRef {
    match tael_core::Signal::ALL
        .into_iter()
        .find(|s| s.name() == table)
    {
        Some(signal) => tael_storage::engine::schema_of(signal),
        None => crate::sql::comments_schema(),
    }
}

impl ShardTable {
    pub(super) fn new(
        table: &str,
        shards: Vec<Shard>,
        timeout: Duration,
        max_bytes: usize,
        failures: Failures,
    ) -> ShardTable {
        ShardTable {
            table: table.to_string(),
            schema: stored_schema(table),
            shards,
            timeout,
            max_bytes,
            failures,
        }
    }
}

/// Whether a filter is made only of what reads the same as SQL text on
/// every node: columns, plain literals, comparisons, boolean logic,
/// `IN`, `BETWEEN`, `LIKE` and null tests.
fn plain(e: &Expr) -> bool {
    let mut ok = true;
    let _ = e.apply(|node| {
        ok &= match node {
            Expr::Column(_)
            | Expr::BinaryExpr(_)
            | Expr::Not(_)
            | Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::Negative(_)
            | Expr::Between(_)
            | Expr::Like(_)
            | Expr::InList(_) => true,
            Expr::Literal(v, _) => matches!(
                v,
                ScalarValue::Utf8(_)
                    | ScalarValue::LargeUtf8(_)
                    | ScalarValue::Utf8View(_)
                    | ScalarValue::Int8(_)
                    | ScalarValue::Int16(_)
                    | ScalarValue::Int32(_)
                    | ScalarValue::Int64(_)
                    | ScalarValue::UInt8(_)
                    | ScalarValue::UInt16(_)
                    | ScalarValue::UInt32(_)
                    | ScalarValue::UInt64(_)
                    | ScalarValue::Float64(_)
                    | ScalarValue::Boolean(_)
            ),
            _ => false,
        };
        Ok(match ok {
            true => TreeNodeRecursion::Continue,
            false => TreeNodeRecursion::Stop,
        })
    });
    ok
}

/// A filter as SQL text over the table's own column names (`None` when it
/// is not [`plain`] or does not unparse).
fn filter_sql(e: &Expr) -> Option<String> {
    if !plain(e) {
        return None;
    }
    let bare = e
        .clone()
        .transform(|node| {
            Ok(match node {
                Expr::Column(c) => Transformed::yes(Expr::Column(Column::new_unqualified(c.name))),
                other => Transformed::no(other),
            })
        })
        .ok()?
        .data;
    datafusion::sql::unparser::expr_to_sql(&bare)
        .ok()
        .map(|ast| ast.to_string())
}

/// A shard's batch under the table's (projected) schema; with no columns,
/// only its row count.
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    if schema.fields().is_empty() {
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        return Ok(RecordBatch::try_new_with_options(
            schema.clone(),
            Vec::new(),
            &options,
        )?);
    }
    Ok(RecordBatch::try_new(
        schema.clone(),
        batch.columns().to_vec(),
    )?)
}

#[async_trait::async_trait]
impl TableProvider for ShardTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| match filter_sql(f) {
                Some(_) => TableProviderFilterPushDown::Exact,
                None => TableProviderFilterPushDown::Unsupported,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let scan = TableScan {
            table: self.table.clone(),
            columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
            filters: filters.iter().filter_map(filter_sql).collect(),
            limit,
        };
        let (answers, failed) = gather(&self.shards, self.timeout, |s| s.scan(scan.clone()))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        for (shard, e) in &failed {
            self.failures.add(&shard.name, e);
        }
        let mut batches = Vec::new();
        let mut bytes = 0usize;
        for (_, shard_batches) in answers {
            for b in shard_batches {
                bytes += b.get_array_memory_size();
                if bytes > self.max_bytes {
                    return Err(DataFusionError::ResourcesExhausted(format!(
                        "the rows of {} this query needs from the shards exceed {} bytes; \
                         filter more narrowly (a time range, a service)",
                        self.table, self.max_bytes
                    )));
                }
                batches.push(conform(&b, &schema)?);
            }
        }
        MemTable::try_new(schema, vec![batches])?
            .scan(state, None, &[], limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn plain_filters_become_sql_and_others_stay_above() {
        let f = col("service")
            .eq(lit("checkout"))
            .and(col("duration_ns").gt(lit(5_i64)));
        assert_eq!(
            filter_sql(&f).unwrap(),
            "((\"service\" = 'checkout') AND (duration_ns > 5))"
        );
        let qualified = Expr::Column(Column::new(Some("a"), "service")).eq(lit("x"));
        assert_eq!(filter_sql(&qualified).unwrap(), "(\"service\" = 'x')");
        let function = datafusion::functions::expr_fn::upper(col("service")).eq(lit("X"));
        assert_eq!(filter_sql(&function), None);
    }
}
