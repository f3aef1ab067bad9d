//! [`LocalStore`]: the [`Store`] and [`Ingest`] of this node's own engine.
//! It composes what a front end asks for (text matches on full-text hits,
//! payloads put back from the blob store, partials folded over a snapshot)
//! and runs every read that touches files or folds columns on the blocking
//! pool, so the async threads only wait.

use crate::live::{LiveEvent, LiveFeeds, LiveLogFilter, LiveSpanFilter};
use crate::llm_usage::{LlmGrouping, LlmStats};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::promql::names::StoredMetric;
use crate::promql::series::Loaded;
use crate::promql::PromqlCaches;
use crate::spanstats::{SpanStats, StatsQuery};
use crate::sql::pool::SqlPool;
use crate::sql::table_scan::TableScan;
use crate::sql::{SqlLimits, SqlQuery, SqlResult, SqlSession, TableInfo};
use crate::store::{ExportOutcome, Hit, Ingest, ScannedRows, SeriesQuery, Store, StoreStats};
use crate::summary::{LogSummary, MetricStats};
use crate::textsearch::TextMatch;
use crate::topology::ServiceGraph;
use crate::traces::{TraceLookup, TraceQuery};
use crate::window::TimeWindow;
use crate::QueryError;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::collections::BTreeSet;
use std::sync::Arc;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};
use tael_core::Signal;
use tael_storage::columnar::spans::SpanCols;
use tael_storage::rollup::Rollup;
use tael_storage::{Engine, StorageError};

/// Limits and cache sizes of a local store.
#[derive(Debug, Clone)]
pub struct LocalStoreConfig {
    /// Limits of every SQL query.
    pub sql: SqlLimits,
    /// Bytes of decoded PromQL series kept from Parquet parts (0: none).
    pub promql_cache_bytes: usize,
    /// Events each live feed keeps for resuming streams.
    pub live_buffer: usize,
    /// Time limit of a search or report over stored data (SQL and PromQL
    /// have their own).
    pub query_timeout: std::time::Duration,
    /// PromQL evaluations at once; more are refused as busy.
    pub promql_max_concurrent: usize,
}

impl Default for LocalStoreConfig {
    fn default() -> Self {
        LocalStoreConfig {
            sql: SqlLimits::default(),
            promql_cache_bytes: tael_storage::budget::MemoryShares::default().promql_cache,
            live_buffer: crate::live::DEFAULT_LIVE_BUFFER,
            query_timeout: std::time::Duration::from_secs(30),
            promql_max_concurrent: 4,
        }
    }
}

struct Inner {
    engine: Arc<Engine>,
    query_timeout: std::time::Duration,
    sql: SqlLimits,
    sql_pool: SqlPool,
    /// The memory all SQL queries share.
    sql_memory: Arc<dyn datafusion::execution::memory_pool::MemoryPool>,
    promql: PromqlCaches,
    promql_slots: Arc<tokio::sync::Semaphore>,
    live: Arc<LiveFeeds>,
}

/// The store of one local engine (cheap to clone: clones share it).
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Inner>,
}

impl LocalStore {
    /// The store of `engine`; its live feeds follow the engine's ingest
    /// from now on.
    pub fn new(engine: Arc<Engine>, config: LocalStoreConfig) -> Result<LocalStore, QueryError> {
        let live = Arc::new(LiveFeeds::new(config.live_buffer));
        let feeds = live.clone();
        engine.observe_ingest(Arc::new(move |signal, batch| feeds.publish(signal, batch)));
        let sql_pool = SqlPool::new(config.sql.threads, config.sql.max_concurrent)?;
        Ok(LocalStore {
            inner: Arc::new(Inner {
                engine,
                query_timeout: config.query_timeout,
                sql_pool,
                sql_memory: crate::sql::memory_pool(config.sql.memory_bytes),
                sql: config.sql,
                promql: PromqlCaches::new(config.promql_cache_bytes),
                promql_slots: Arc::new(tokio::sync::Semaphore::new(
                    config.promql_max_concurrent.max(1),
                )),
                live,
            }),
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Runs `f` on the blocking pool, within the store's query time limit
    /// (checked by the scans, see [`crate::deadline`]).
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, QueryError> + Send + 'static,
    ) -> BoxFuture<'static, Result<T, QueryError>> {
        let inner = self.inner.clone();
        Box::pin(crate::blocking(move || {
            crate::deadline::within(inner.query_timeout, || f(&inner))
        }))
    }
}

/// Rows paired with their text matches (none without a text query).
fn hits<T>(rows: Vec<T>, matches: Vec<Option<TextMatch>>) -> Vec<Hit<T>> {
    let mut matches = matches.into_iter();
    rows.into_iter()
        .map(|item| Hit {
            item,
            text_match: matches.next().flatten(),
        })
        .collect()
}

impl Store for LocalStore {
    fn promql_slot(&self) -> Result<crate::store::PromqlSlot, QueryError> {
        match self.inner.promql_slots.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(QueryError::Busy(
                "too many PromQL queries are running; retry later".into(),
            )),
        }
    }

    fn search_spans(&self, q: TraceQuery) -> BoxFuture<'_, Result<Vec<Hit<Span>>, QueryError>> {
        self.blocking(move |s| {
            let spans = crate::traces::search_spans(&s.engine, &q)?;
            let matches = match &q.text {
                Some(t) => crate::textsearch::span_matches(&s.engine, t, &spans)?,
                None => Vec::new(),
            };
            Ok(hits(spans, matches))
        })
    }

    fn get_trace(&self, q: TraceLookup) -> BoxFuture<'_, Result<Vec<Span>, QueryError>> {
        self.blocking(move |s| {
            let mut spans = crate::traces::get_trace(&s.engine, &q.trace_id)?;
            if q.with_payloads {
                crate::payloads::inline_spans(&s.engine, &mut spans);
            }
            Ok(spans)
        })
    }

    fn search_logs(&self, q: LogQuery) -> BoxFuture<'_, Result<Vec<Hit<LogRecord>>, QueryError>> {
        self.blocking(move |s| {
            let mut logs = crate::logs::search_logs(&s.engine, &q)?;
            // Matches are found in the stored form, before payloads return.
            let matches = match &q.text {
                Some(t) => crate::textsearch::log_matches(&s.engine, t, &logs)?,
                None => Vec::new(),
            };
            if q.with_payloads {
                crate::payloads::inline_logs(&s.engine, &mut logs);
            }
            Ok(hits(logs, matches))
        })
    }

    fn search_metrics(
        &self,
        q: MetricQuery,
    ) -> BoxFuture<'_, Result<Vec<MetricPoint>, QueryError>> {
        self.blocking(move |s| crate::metrics::search_metrics(&s.engine, &q))
    }

    fn blob(&self, sha256: [u8; 32]) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueryError>> {
        self.blocking(move |s| Ok(s.engine.blobs().get(&sha256)?))
    }

    fn trace_comments(
        &self,
        trace_id: String,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        Box::pin(async move { Ok(self.inner.engine.comments().for_trace(&trace_id)) })
    }

    fn recent_comments(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        Box::pin(async move { Ok(self.inner.engine.comments().recent(limit)) })
    }

    fn service_rollup(&self) -> BoxFuture<'_, Result<Rollup, QueryError>> {
        self.blocking(|s| Ok(s.engine.services_rollup()))
    }

    fn span_stats(
        &self,
        window: TimeWindow,
        q: StatsQuery,
    ) -> BoxFuture<'_, Result<SpanStats, QueryError>> {
        self.blocking(move |s| SpanStats::collect(&s.engine.snapshot(), window, &q))
    }

    fn log_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<LogSummary, QueryError>> {
        self.blocking(move |s| {
            crate::summary::log_stats(&s.engine.snapshot(), window, service.as_deref())
        })
    }

    fn metric_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<MetricStats, QueryError>> {
        self.blocking(move |s| {
            crate::summary::metric_stats(&s.engine.snapshot(), window, service.as_deref())
        })
    }

    fn service_graph(&self, window: TimeWindow) -> BoxFuture<'_, Result<ServiceGraph, QueryError>> {
        self.blocking(move |s| crate::topology::service_graph(&s.engine.snapshot(), window))
    }

    fn operations(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<crate::operations::OperationSet, QueryError>> {
        self.blocking(move |s| {
            crate::operations::OperationSet::collect(
                &s.engine.snapshot(),
                window,
                service.as_deref(),
            )
        })
    }

    fn llm_stats(
        &self,
        window: TimeWindow,
        by: LlmGrouping,
    ) -> BoxFuture<'_, Result<LlmStats, QueryError>> {
        self.blocking(move |s| crate::llm_usage::llm_stats(&s.engine.snapshot(), window, by))
    }

    fn metric_catalog(&self) -> BoxFuture<'_, Result<BTreeSet<StoredMetric>, QueryError>> {
        self.blocking(|s| crate::promql::stored_metrics(&s.engine.snapshot(), &s.promql))
    }

    fn series(&self, q: SeriesQuery) -> BoxFuture<'_, Result<Vec<Loaded>, QueryError>> {
        self.blocking(move |s| crate::promql::load_series(&s.engine.snapshot(), &s.promql, &q))
    }

    fn sql(&self, q: SqlQuery) -> BoxFuture<'_, Result<SqlResult, QueryError>> {
        Box::pin(async move {
            let s = &self.inner;
            let session =
                Arc::new(SqlSession::new(&s.engine, s.sql.clone(), s.sql_memory.clone()).await?);
            session.run(&s.sql_pool, &q.q, q.max_rows).await
        })
    }

    fn scan(&self, q: TableScan) -> BoxFuture<'_, Result<ScannedRows, QueryError>> {
        Box::pin(async move {
            let s = &self.inner;
            let session =
                Arc::new(SqlSession::new(&s.engine, s.sql.clone(), s.sql_memory.clone()).await?);
            session.scan(&s.sql_pool, &q, s.sql.memory_bytes).await
        })
    }

    fn sql_schema(&self) -> BoxFuture<'_, Result<Vec<TableInfo>, QueryError>> {
        Box::pin(async move {
            let s = &self.inner;
            SqlSession::new(&s.engine, s.sql.clone(), s.sql_memory.clone())
                .await?
                .tables()
                .await
        })
    }

    fn stats(&self) -> BoxFuture<'_, Result<StoreStats, QueryError>> {
        self.blocking(|s| {
            Ok(StoreStats {
                storage: Some(s.engine.stats()),
                shards: Vec::new(),
            })
        })
    }

    fn live_spans(
        &self,
        filter: LiveSpanFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<Span>> {
        self.inner.live.spans.subscribe(last_id, move |batch, row| {
            let span = SpanCols::new(batch)
                .and_then(|c| c.row(row))
                .map_err(|e| tracing::error!(error = %e, "cannot decode a live span"))
                .ok()?;
            filter.passes(&span).then_some(span)
        })
    }

    fn live_logs(
        &self,
        filter: LiveLogFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<LogRecord>> {
        let engine = self.inner.engine.clone();
        self.inner.live.logs.subscribe(last_id, move |batch, row| {
            let log = tael_storage::columnar::logs::row(batch, row)
                .map_err(|e| tracing::error!(error = %e, "cannot decode a live log record"))
                .ok()?;
            filter.passes(&log, engine.blobs()).then_some(log)
        })
    }
}

impl Ingest for LocalStore {
    fn export(
        &self,
        signal: Signal,
        request: Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>> {
        let engine = self.inner.engine.clone();
        Box::pin(async move {
            let out = tokio::task::spawn_blocking(move || match signal {
                Signal::Spans => engine.ingest_traces(&request),
                Signal::Logs => engine.ingest_logs(&request),
                Signal::Metrics => engine.ingest_metrics(&request),
            })
            .await
            .map_err(|e| StorageError::Internal(format!("ingest task failed: {e}")))??;
            Ok(ExportOutcome {
                seq: out.seq,
                stored: out.stored,
                duplicates: out.duplicates,
                rejected: out.rejected,
                error_message: out.error_message,
            })
        })
    }

    fn add_comment(
        &self,
        comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>> {
        let engine = self.inner.engine.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || engine.add_comment(comment).map(|(c, _)| c))
                .await
                .map_err(|e| StorageError::Internal(format!("comment task failed: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testsuite::{check_fixture, load_fixture};
    use tael_storage::EngineConfig;

    fn engine_in(dir: &std::path::Path) -> Arc<Engine> {
        Engine::open(EngineConfig::new(dir.join("d"), dir.join("w"))).unwrap()
    }

    /// The limit is the store's, so every front end's PromQL (the
    /// Prometheus routes, MCP's query_promql through `Answer`) keeps it.
    #[tokio::test]
    async fn promql_beyond_the_stores_limit_is_busy_whoever_asks() {
        use crate::answer::Answer;
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_in(dir.path());
        let config = LocalStoreConfig {
            promql_max_concurrent: 1,
            ..LocalStoreConfig::default()
        };
        let store = LocalStore::new(engine, config).unwrap();
        let req = || crate::api::MetricsQueryRequest {
            query: "vector(1)".into(),
            time: None,
            start: None,
            end: None,
            step: None,
        };
        assert!(req().answer(&store).await.is_ok());
        let held = store.promql_slot().unwrap();
        let busy = req().answer(&store).await;
        assert!(matches!(busy, Err(QueryError::Busy(_))), "{busy:?}");
        drop(held);
        assert!(req().answer(&store).await.is_ok());
    }

    #[tokio::test]
    async fn searches_and_reports_stop_at_the_query_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_in(dir.path());
        load_fixture(&LocalStore::new(engine.clone(), LocalStoreConfig::default()).unwrap()).await;
        let strict = LocalStore::new(
            engine.clone(),
            LocalStoreConfig {
                query_timeout: std::time::Duration::ZERO,
                ..LocalStoreConfig::default()
            },
        )
        .unwrap();
        let window = TimeWindow {
            from_ns: 0,
            to_ns: i64::MAX,
        };
        let stats = strict.span_stats(window, StatsQuery::default()).await;
        assert!(
            matches!(stats, Err(QueryError::Timeout(_))),
            "{:?}",
            stats.map(|_| ())
        );
        let found = strict
            .search_spans(TraceQuery {
                limit: 10,
                ..Default::default()
            })
            .await;
        assert!(matches!(found, Err(QueryError::Timeout(_))));
        let graph = strict.service_graph(window).await;
        assert!(matches!(graph, Err(QueryError::Timeout(_))));
        // The same over the default limit answers.
        let relaxed = LocalStore::new(engine, LocalStoreConfig::default()).unwrap();
        assert!(relaxed
            .span_stats(window, StatsQuery::default())
            .await
            .is_ok());
    }

    /// A local store over an engine opened with `cfg`, and the engine.
    fn open(cfg: EngineConfig) -> (Arc<Engine>, LocalStore) {
        let engine = Engine::open(cfg).unwrap();
        let store = LocalStore::new(engine.clone(), LocalStoreConfig::default()).unwrap();
        (engine, store)
    }

    async fn flush(engine: Arc<Engine>) {
        tokio::task::spawn_blocking(move || engine.flush())
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_store_passes_the_store_suite() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, store) = open(EngineConfig::new(
            dir.path().join("data"),
            dir.path().join("wal"),
        ));
        load_fixture(&store).await;
        check_fixture(&store).await;
        // The same answers once the rows are in Parquet parts.
        flush(engine).await;
        check_fixture(&store).await;
    }

    /// With another object store than the data dir, the data dir is a
    /// cache: once flushed, the same answers come from the store alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_store_over_an_object_store_answers_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut cfg = EngineConfig::new(data.clone(), dir.path().join("wal"));
        cfg.backend = tael_storage::objects::Backend::in_memory();
        let (engine, store) = open(cfg.clone());
        load_fixture(&store).await;
        flush(engine).await;
        check_fixture(&store).await;
        drop(store);
        // Everything but the text index (local, derived) goes.
        for entry in std::fs::read_dir(&data).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true if path.ends_with("text") => {}
                true => std::fs::remove_dir_all(&path).unwrap(),
                false => std::fs::remove_file(&path).unwrap(),
            }
        }
        let (engine, store) = open(cfg);
        assert!(engine.stats().parts > 0, "parts come back from the store");
        check_fixture(&store).await;
    }

    /// With a cache cap below one part, every part is read back from the
    /// store: the same answers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_store_over_a_capped_cache_answers_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path().join("data"), dir.path().join("wal"));
        cfg.backend = tael_storage::objects::Backend::in_memory();
        cfg.cache_bytes = Some(1);
        let (engine, store) = open(cfg);
        load_fixture(&store).await;
        flush(engine.clone()).await;
        assert!(engine.objects().settle(std::time::Duration::from_secs(10)));
        let s = engine.stats().object_store.unwrap();
        assert!(s.evicted > 0 && s.cached_bytes == 0, "{s:?}");
        check_fixture(&store).await;
    }
}
