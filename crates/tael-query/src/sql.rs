//! DataFusion tables over the engine: `spans`, `logs` and `metrics`, each the
//! memtable snapshot (Arrow chunks, a `MemTable`) UNION ALL the Parquet parts
//! (a `ListingTable` over exactly the part files of the snapshot, so scans
//! prune row groups by statistics and `trace_id` bloom filters, and push
//! projections and filters into the Parquet reader). The column schemas are
//! the part schemas documented in `tael_storage::columnar`.
//!
//! A [`SqlSession`] holds its snapshot, so compaction or retention cannot
//! delete a part file while a query reads it.

use crate::QueryError;
use arrow::array::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;
use tael_storage::engine::schema_of;
use tael_storage::{Engine, Signal, Snapshot};

impl From<datafusion::error::DataFusionError> for QueryError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        QueryError::InvalidArgument(e.to_string())
    }
}

/// A DataFusion session with tael's tables registered.
pub struct SqlSession {
    pub ctx: SessionContext,
    _snapshot: Snapshot,
}

impl SqlSession {
    /// Registers `spans`, `logs` and `metrics` for the current snapshot.
    pub async fn new(engine: &Engine) -> Result<SqlSession, QueryError> {
        let snap = engine.snapshot();
        let config = SessionConfig::new()
            .with_target_partitions(2)
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        for signal in Signal::ALL {
            let name = signal.name();
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
                .map(|p| ListingTableUrl::parse(p.path.to_string_lossy()))
                .collect::<Result<Vec<_>, _>>()?;
            if !paths.is_empty() {
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet");
                let config = ListingTableConfig::new_with_multi_paths(paths)
                    .with_listing_options(options)
                    .with_schema(schema.clone());
                table = table.union(ctx.read_table(Arc::new(ListingTable::try_new(config)?))?)?;
            }
            ctx.register_table(name, table.into_view())?;
        }
        Ok(SqlSession {
            ctx,
            _snapshot: snap,
        })
    }

    /// Runs one SQL statement and collects its result.
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
        let (engine, _lock) = Engine::open(cfg).unwrap();
        engine
            .ingest_traces(&encode_spans(&spans("a", 0, 30)))
            .unwrap();
        engine.flush().unwrap();
        engine
            .ingest_traces(&encode_spans(&spans("b", 100, 12)))
            .unwrap();
        let s = SqlSession::new(&engine).await.unwrap();
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
