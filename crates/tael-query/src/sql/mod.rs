//! SQL over tael's data through DataFusion (`/api/v1/sql`, `tael query
//! sql`).
//!
//! Tables: `spans`, `logs` and `metrics`, each the memtable snapshot (Arrow
//! chunks, a `MemTable`) UNION ALL the Parquet parts (a `ListingTable` over
//! exactly the part files of the snapshot, so scans prune row groups by
//! statistics and `trace_id` bloom filters, and push projections and filters
//! into the Parquet reader), plus convenience columns (`duration_ms`,
//! timestamps); and `comments`. The stored column layouts are documented in
//! `tael_storage::columnar`, their meaning in [`docs`].
//!
//! Read-only by construction: a statement must parse as a single query
//! (`SELECT`/`WITH`/`VALUES`, or `EXPLAIN` of one); its plan is checked again
//! with DDL, DML and statements disallowed; URL tables (`FROM 'file.csv'`)
//! are off and DataFusion registers no file- or network-reading functions;
//! the disk manager is disabled, so nothing spills to files. Each query runs
//! under a time limit, a memory pool limit, and a row cap that is reported
//! (`truncated`), never silent.
//!
//! A [`SqlSession`] holds its snapshot, so compaction or retention cannot
//! delete a part file while a query reads it.

pub mod cancel;
pub mod docs;
pub mod pool;
mod rows;
pub mod table_scan;
mod udf;

use crate::QueryError;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{cast, col, lit, DataFrame, SessionConfig, SessionContext};
use datafusion::sql::parser::Statement;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tael_storage::engine::schema_of;
use tael_storage::{Engine, Signal, Snapshot};

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(m) => {
                QueryError::TooExpensive(format!("query exceeded the memory limit: {m}"))
            }
            // A store's own error inside a plan (a query node's shards).
            DataFusionError::External(inner) => match inner.downcast_ref::<QueryError>() {
                Some(q) => q.with_message(q.to_string()),
                None => QueryError::InvalidArgument(e.to_string()),
            },
            _ => QueryError::InvalidArgument(e.to_string()),
        }
    }
}

/// A read-only SQL query (`/api/v1/sql`: `GET ?q=` or `POST {"q": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlQuery {
    /// One statement: `SELECT`, `WITH`, `VALUES` or `EXPLAIN` of one.
    pub q: String,
    /// Rows returned at most (the store's own cap applies too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
}

impl SqlQuery {
    /// Reads `q` (or `query`) and `max_rows` from a query string.
    pub fn from_params(p: &crate::params::Params) -> Result<SqlQuery, QueryError> {
        SqlQuery {
            q: p.get("q")
                .or_else(|| p.get("query"))
                .unwrap_or_default()
                .to_string(),
            max_rows: p.positive("max_rows")?,
        }
        .checked()
    }

    /// Reads a JSON body `{"q": "<SQL>", "max_rows": n}` (`query` also
    /// accepted for `q`).
    pub fn from_json(body: &[u8]) -> Result<SqlQuery, QueryError> {
        let bad = |m: String| QueryError::InvalidArgument(m);
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))?;
        let q = v
            .get("q")
            .or_else(|| v.get("query"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("body must be {\"q\": \"<SQL>\"}".into()))?;
        let max_rows = match v.get("max_rows") {
            None | Some(Value::Null) => None,
            Some(n) => Some(
                n.as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("max_rows must be a positive whole number".into()))?
                    as usize,
            ),
        };
        SqlQuery {
            q: q.to_string(),
            max_rows,
        }
        .checked()
    }

    fn checked(self) -> Result<SqlQuery, QueryError> {
        if self.q.trim().is_empty() {
            return Err(QueryError::InvalidArgument(
                "q (the SQL query) is required".into(),
            ));
        }
        Ok(self)
    }
}

/// Limits every query runs under.
#[derive(Debug, Clone)]
pub struct SqlLimits {
    pub timeout: Duration,
    /// Queries that may run at once; more are refused as busy.
    pub max_concurrent: usize,
    /// Worker threads of the SQL runtime ([`pool`]).
    pub threads: usize,
    /// Memory the DataFusion operators (sorts, joins, aggregates) of the
    /// queries running at once hold together ([`memory_pool`]).
    pub memory_bytes: usize,
    /// Rows returned at most; more are reported as `truncated`.
    pub max_rows: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        SqlLimits {
            timeout: Duration::from_secs(30),
            max_concurrent: 2,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_bytes: tael_storage::budget::MemoryShares::default().sql,
            max_rows: 10_000,
        }
    }
}

/// One column of a result or table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ColumnInfo {
    fn of(f: &arrow::datatypes::Field, description: Option<&'static str>) -> ColumnInfo {
        ColumnInfo {
            name: f.name().clone(),
            data_type: rows::type_name(f.data_type()),
            nullable: f.is_nullable(),
            description: description.map(str::to_string),
        }
    }
}

/// A query result (the REST envelope adds `count`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqlResult {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Map<String, Value>>,
    pub truncated: bool,
}

/// A table's documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    pub name: String,
    pub description: String,
    pub columns: Vec<ColumnInfo>,
}

/// A DataFusion session with tael's tables registered.
pub struct SqlSession {
    pub ctx: SessionContext,
    limits: SqlLimits,
    /// The engine snapshot the tables read (none over shards).
    _snapshot: Option<Snapshot>,
}

/// The columns of the `comments` table.
pub fn comments_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, true),
        Field::new("author", DataType::Utf8, false),
        Field::new("body", DataType::Utf8, false),
        Field::new("created_at", DataType::Utf8, false),
    ]))
}

/// A session with nothing registered but tael's functions, its operators
/// drawing from `memory`.
fn context(memory: Arc<dyn MemoryPool>) -> Result<SessionContext, QueryError> {
    let config = SessionConfig::new()
        .with_target_partitions(2)
        .with_information_schema(true);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(memory)
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    for f in udf::functions() {
        ctx.register_udf(f);
    }
    Ok(ctx)
}

/// Registers a signal's table: its stored rows plus the convenience
/// columns.
fn register_signal(
    ctx: &SessionContext,
    signal: Signal,
    table: DataFrame,
) -> Result<(), QueryError> {
    ctx.register_table(signal.name(), with_derived(signal, table)?.into_view())?;
    Ok(())
}

/// Registers the comments table (and its tael 0.5 name).
fn register_comments(
    ctx: &SessionContext,
    comments: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<(), QueryError> {
    ctx.register_table("comments", comments.clone())?;
    ctx.register_table("trace_comments", comments)?;
    Ok(())
}

fn comments_batch(engine: &Engine) -> Result<RecordBatch, QueryError> {
    let comments = engine.comments().recent(usize::MAX);
    let text = |f: &dyn Fn(&tael_core::model::TraceComment) -> Option<&str>| -> ArrayRef {
        Arc::new(comments.iter().map(f).collect::<StringArray>())
    };
    RecordBatch::try_new(
        comments_schema(),
        vec![
            text(&|c| Some(&c.id)),
            text(&|c| Some(&c.trace_id)),
            text(&|c| c.span_id.as_deref()),
            text(&|c| Some(&c.author)),
            text(&|c| Some(&c.body)),
            text(&|c| Some(&c.created_at)),
        ],
    )
    .map_err(|e| QueryError::InvalidArgument(e.to_string()))
}

/// `ns` (an int64 column) as a UTC timestamp.
fn timestamp(ns: &str) -> datafusion::prelude::Expr {
    cast(
        col(ns),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
    )
}

/// The convenience columns added to a signal's table.
fn with_derived(signal: Signal, df: DataFrame) -> Result<DataFrame, QueryError> {
    Ok(match signal {
        Signal::Spans => df
            .with_column(
                "duration_ms",
                cast(col("duration_ns"), DataType::Float64) / lit(1e6),
            )?
            .with_column("start_time", timestamp("start_ns"))?
            .with_column("end_time", timestamp("end_ns"))?,
        Signal::Logs | Signal::Metrics => df.with_column("time", timestamp("time_ns"))?,
    })
}

/// The memory pool every SQL query of a store draws from: `bytes` in all
/// (the memory budget's SQL share), reporting the largest consumers when
/// a query is refused.
pub fn memory_pool(bytes: usize) -> Arc<dyn MemoryPool> {
    let consumers = std::num::NonZeroUsize::new(3).expect("3 > 0");
    Arc::new(TrackConsumersPool::new(
        GreedyMemoryPool::new(bytes),
        consumers,
    ))
}

impl SqlSession {
    /// Registers the tables for the current snapshot; its operators hold
    /// their memory in `memory` ([`memory_pool`]).
    pub async fn new(
        engine: &Engine,
        limits: SqlLimits,
        memory: Arc<dyn MemoryPool>,
    ) -> Result<SqlSession, QueryError> {
        let snap = engine.snapshot();
        let ctx = context(memory)?;
        // Parts are read through the engine's object store, by location.
        let objects = engine.objects();
        for (url, store) in objects.sql_stores() {
            ctx.register_object_store(&url, store);
        }
        for signal in Signal::ALL {
            let schema = schema_of(signal);
            let chunks: Vec<RecordBatch> = snap
                .chunks_of(signal)
                .iter()
                .map(|c| c.batch.clone())
                .collect();
            let mem = MemTable::try_new(schema.clone(), vec![chunks])?;
            let mut table = ctx.read_table(Arc::new(mem))?;
            let paths = snap
                .parts_of(signal)
                .map(|p| ListingTableUrl::parse(objects.location_url(&p.meta.path)))
                .collect::<Result<Vec<_>, _>>()?;
            if !paths.is_empty() {
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet");
                let config = ListingTableConfig::new_with_multi_paths(paths)
                    .with_listing_options(options)
                    .with_schema(schema.clone());
                table = table.union(ctx.read_table(Arc::new(ListingTable::try_new(config)?))?)?;
            }
            register_signal(&ctx, signal, table)?;
        }
        let comments = comments_batch(engine)?;
        let comments = Arc::new(MemTable::try_new(comments.schema(), vec![vec![comments]])?);
        register_comments(&ctx, comments)?;
        Ok(SqlSession {
            ctx,
            limits,
            _snapshot: Some(snap),
        })
    }

    /// A session whose tables are `tables`: one provider of the stored
    /// columns per name of [`table_scan::SCANNABLE`] (a query node's
    /// tables over its shards); the convenience columns are added the
    /// same way as over a local engine.
    pub fn over(
        tables: impl Fn(&str) -> Arc<dyn datafusion::catalog::TableProvider>,
        limits: SqlLimits,
        memory: Arc<dyn MemoryPool>,
    ) -> Result<SqlSession, QueryError> {
        let ctx = context(memory)?;
        for signal in Signal::ALL {
            let table = ctx.read_table(tables(signal.name()))?;
            register_signal(&ctx, signal, table)?;
        }
        register_comments(&ctx, tables("comments"))?;
        Ok(SqlSession {
            ctx,
            limits,
            _snapshot: None,
        })
    }

    /// The rows of one scan ([`table_scan`]) on `pool`, within the
    /// session's time limit; more than `max_bytes` of them is an error.
    pub async fn scan(
        self: &Arc<Self>,
        pool: &pool::SqlPool,
        scan: &table_scan::TableScan,
        max_bytes: usize,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), QueryError> {
        let sql = scan.to_sql()?;
        let (this, table) = (self.clone(), scan.table.clone());
        pool.run(self.limits.timeout, |cancel| async move {
            let (_, plan) = this.plan(&sql, &cancel).await?;
            let schema = plan.schema();
            let mut stream =
                datafusion::physical_plan::execute_stream(plan, this.ctx.task_ctx())?;
            let (mut out, mut bytes) = (Vec::new(), 0usize);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                bytes += batch.get_array_memory_size();
                if bytes > max_bytes {
                    return Err(QueryError::TooExpensive(format!(
                        "the rows of {table} this query needs exceed {max_bytes} bytes on one shard; \
                         filter more narrowly (a time range, a service)"
                    )));
                }
                out.push(batch);
            }
            Ok((schema, out))
        })
        .await
    }

    /// Refuses anything but a single query (see the module docs).
    fn check_read_only(statement: &Statement) -> Result<(), QueryError> {
        use datafusion::sql::sqlparser::ast::Statement as Ast;
        let ok = match statement {
            Statement::Statement(s) => matches!(**s, Ast::Query(_)),
            Statement::Explain(e) => match &*e.statement {
                Statement::Statement(s) => matches!(**s, Ast::Query(_)),
                _ => false,
            },
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(QueryError::InvalidArgument(
                "only read-only queries (SELECT, WITH, VALUES, EXPLAIN) are allowed".into(),
            ))
        }
    }

    /// Runs one read-only statement on `pool`, within the session's time
    /// limit; at most `max_rows` rows (capped by the session limit) come
    /// back.
    pub async fn run(
        self: &Arc<Self>,
        pool: &pool::SqlPool,
        sql: &str,
        max_rows: Option<usize>,
    ) -> Result<SqlResult, QueryError> {
        let cap = max_rows
            .unwrap_or(self.limits.max_rows)
            .min(self.limits.max_rows);
        let (this, sql) = (self.clone(), sql.to_string());
        pool.run(self.limits.timeout, |cancel| async move {
            this.run_unlimited_time(&sql, cap, cancel).await
        })
        .await
    }

    async fn run_unlimited_time(
        &self,
        sql: &str,
        cap: usize,
        cancel: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<SqlResult, QueryError> {
        let (columns, plan) = self.plan(sql, &cancel).await?;
        let mut stream = datafusion::physical_plan::execute_stream(plan, self.ctx.task_ctx())?;
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if out.len() + batch.num_rows() > cap {
                truncated = true;
            }
            rows::append_rows(&batch, cap - out.len(), &mut out)?;
            if truncated {
                break;
            }
        }
        Ok(SqlResult {
            columns,
            rows: out,
            truncated,
        })
    }

    /// The physical plan of one read-only statement (checked), cancellable
    /// through `cancel`, and its result columns.
    async fn plan(
        &self,
        sql: &str,
        cancel: &Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<
        (
            Vec<ColumnInfo>,
            Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        ),
        QueryError,
    > {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect)?;
        Self::check_read_only(&statement)?;
        let plan = state.statement_to_plan(statement).await?;
        datafusion::execution::context::SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        let df = self.ctx.execute_logical_plan(plan).await?;
        let columns = df
            .schema()
            .fields()
            .iter()
            .map(|f| ColumnInfo::of(f, None))
            .collect();
        let plan = cancel::cancellable(df.create_physical_plan().await?, cancel)?;
        Ok((columns, plan))
    }

    /// Every table with its columns, types and descriptions.
    pub async fn tables(&self) -> Result<Vec<TableInfo>, QueryError> {
        let mut out = Vec::new();
        for (name, description) in docs::TABLES {
            let schema = self.ctx.table_provider(*name).await?.schema();
            out.push(TableInfo {
                name: name.to_string(),
                description: description.to_string(),
                columns: schema
                    .fields()
                    .iter()
                    .map(|f| ColumnInfo::of(f, docs::column(name, f.name())))
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Runs one statement and collects its Arrow result (no row cap; tests
    /// and internal callers).
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, QueryError> {
        Ok(self.ctx.sql(sql).await?.collect().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use std::time::Duration;
    use tael_core::model::Span;
    use tael_core::otlp::testing::encode_spans;
    use tael_storage::EngineConfig;

    fn spans(service: &str, first: u32, n: u32) -> Vec<Span> {
        let now = tael_core::time::now_ns();
        (first..first + n)
            .map(|i| Span {
                trace_id: format!("{:032x}", i + 1),
                span_id: format!("{:016x}", i + 1),
                service: service.into(),
                operation: "op".into(),
                start_ns: now + i as i64,
                end_ns: now + i as i64 + 1_000,
                status: "unset".into(),
                kind: "server".into(),
                ..Default::default()
            })
            .collect()
    }

    #[tokio::test]
    async fn tables_union_memtable_and_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path().join("data"), dir.path().join("wal"));
        cfg.maintenance_interval = Duration::from_secs(3600);
        let engine = Engine::open(cfg).unwrap();
        engine
            .ingest_traces(&encode_spans(&spans("a", 0, 30)))
            .unwrap();
        engine.flush().unwrap();
        engine
            .ingest_traces(&encode_spans(&spans("b", 100, 12)))
            .unwrap();
        let s = SqlSession::new(&engine, SqlLimits::default(), memory_pool(64 << 20))
            .await
            .unwrap();
        let out = s
            .query("SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service")
            .await
            .unwrap();
        let b = arrow::compute::concat_batches(&out[0].schema(), &out).unwrap();
        let names: Vec<&str> = (0..b.num_rows())
            .map(|i| b.column(0).as_string::<i32>().value(i))
            .collect();
        let counts = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!((counts.value(0), counts.value(1)), (30, 12));
        let one = s
            .query(&format!(
                "SELECT span_id FROM spans WHERE trace_id = '{:032x}'",
                5
            ))
            .await
            .unwrap();
        assert_eq!(one.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        let logs = s.query("SELECT count(*) FROM logs").await.unwrap();
        assert_eq!(
            logs[0]
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0),
            0
        );
        assert!(s.query("SELECT nope FROM spans").await.is_err());
    }
}
