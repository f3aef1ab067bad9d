//! [`FanoutStore`]: one [`Store`] over several shards, each itself a
//! `Store` (a remote client of a shard's replicas, or a local store in
//! tests). Every call goes to all shards at once, each bounded by the
//! shard timeout, and the answers merge exactly: searches keep the newest
//! `limit` of the union, a trace is the union of its spans wherever they
//! landed, statistics merge their partials (counts add, sketches and trace
//! sets merge), series are the union.
//!
//! A shard that cannot answer (down, timed out, overloaded) does not fail
//! the call while another shard answered: the answer is built from the
//! others and the shard is recorded with [`record_failure`], which the
//! front end reads back through [`collect_failures`] to mark its response
//! `partial` with `failed_shards`. A caller's mistake (an invalid query)
//! is the same on every shard and fails the call. When no shard answers,
//! the call fails with the shards' errors.

use crate::live::{LiveEvent, LiveLogFilter, LiveSpanFilter};
use crate::llm_usage::{LlmGrouping, LlmStats};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::operations::OperationSet;
use crate::params::Since;
use crate::promql::names::StoredMetric;
use crate::promql::series::Loaded;
use crate::spanstats::{SpanStats, StatsQuery};
use crate::sql::pool::SqlPool;
use crate::sql::table_scan::TableScan;
use crate::sql::{SqlLimits, SqlQuery, SqlResult, SqlSession, TableInfo};
use crate::store::{Hit, PromqlSlot, ScannedRows, SeriesQuery, ShardState, Store, StoreStats};
use crate::summary::{LogSummary, MetricStats};
use crate::topology::ServiceGraph;
use crate::traces::{TraceLookup, TraceQuery};
use crate::window::TimeWindow;
use crate::QueryError;
use datafusion::execution::memory_pool::MemoryPool;
use futures::future::{join_all, BoxFuture};
use futures::stream::BoxStream;
use futures::FutureExt;
use live::{merged_live, LiveResume};
use merge::{newest, union_series};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};
use tael_core::ErrorCode;
use tael_storage::rollup::Rollup;

/// A shard that did not answer a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedShard {
    pub shard: String,
    pub error: String,
}

tokio::task_local! {
    static FAILURES: RefCell<Vec<FailedShard>>;
}

/// Runs `f`, returning its output and the shards that failed while it ran
/// (in the same task). Front ends wrap each request in it.
pub async fn collect_failures<F: Future>(f: F) -> (F::Output, Vec<FailedShard>) {
    FAILURES
        .scope(RefCell::new(Vec::new()), async move {
            let out = f.await;
            let failed = FAILURES.with(|c| c.take());
            (out, failed)
        })
        .await
}

/// Records that a shard did not answer (once per shard and request).
pub fn record_failure(shard: &str, error: &str) {
    let recorded = FAILURES.try_with(|c| {
        let mut c = c.borrow_mut();
        if !c.iter().any(|f| f.shard == shard) {
            c.push(FailedShard {
                shard: shard.to_string(),
                error: error.to_string(),
            });
        }
    });
    if recorded.is_err() {
        tracing::warn!(shard, error = %error, "a shard did not answer");
    }
}

/// Whether an error says the shard could not answer (rather than that the
/// request is wrong, which every shard would say alike).
fn shard_failed(e: &QueryError) -> bool {
    matches!(
        e.code(),
        ErrorCode::Unavailable
            | ErrorCode::Timeout
            | ErrorCode::Overloaded
            | ErrorCode::Internal
            | ErrorCode::Unauthenticated
    )
}

/// One shard of a fan-out.
#[derive(Clone)]
pub struct Shard {
    /// How answers name it (`failed_shards`, stats).
    pub name: String,
    pub store: Arc<dyn Store>,
}

/// A shard's answer, or a timeout error once `timeout` has passed.
async fn bounded<T>(
    timeout: Duration,
    answer: impl Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    tokio::time::timeout(timeout, answer)
        .await
        .unwrap_or_else(|_| {
            Err(QueryError::Timeout(format!(
                "no answer within {} ms",
                timeout.as_millis()
            )))
        })
}

/// Every shard's answer to `call`, in shard order, and the shards that
/// could not answer with why; an error when the request is wrong (the
/// first such answer) or no shard answered.
pub(crate) async fn gather<'a, T, F>(
    shards: &'a [Shard],
    timeout: Duration,
    call: F,
) -> Result<(Vec<T>, Vec<(&'a Shard, QueryError)>), QueryError>
where
    F: Fn(&'a dyn Store) -> BoxFuture<'a, Result<T, QueryError>>,
{
    let answers = join_all(
        shards
            .iter()
            .map(|s| bounded(timeout, call(s.store.as_ref()))),
    )
    .await;
    let mut ok = Vec::with_capacity(answers.len());
    let mut failed = Vec::new();
    for (shard, answer) in shards.iter().zip(answers) {
        match answer {
            Ok(v) => ok.push(v),
            Err(e) if shard_failed(&e) => failed.push((shard, e)),
            Err(e) => return Err(e),
        }
    }
    if ok.is_empty() && !failed.is_empty() {
        let all: Vec<String> = failed
            .iter()
            .map(|(s, e)| format!("shard {}: {e}", s.name))
            .collect();
        return Err(QueryError::Unavailable(format!(
            "no shard answered ({})",
            all.join("; ")
        )));
    }
    Ok((ok, failed))
}

/// How a fan-out calls its shards and runs SQL over them.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    /// Time each shard's answer may take.
    pub shard_timeout: Duration,
    /// PromQL evaluations at once.
    pub max_promql: usize,
    /// Limits of SQL over the shards (its memory also bounds the rows
    /// brought from the shards).
    pub sql: SqlLimits,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            shard_timeout: Duration::from_secs(30),
            max_promql: 8,
            sql: SqlLimits::default(),
        }
    }
}

/// A store over shards (see the module doc).
pub struct FanoutStore {
    shards: Vec<Shard>,
    timeout: Duration,
    promql: Arc<tokio::sync::Semaphore>,
    sql: SqlLimits,
    sql_pool: SqlPool,
    sql_memory: Arc<dyn MemoryPool>,
    /// The ids of its merged live streams (see [`live`]).
    live: Arc<LiveResume>,
}

impl FanoutStore {
    /// A fan-out over `shards` (at least one).
    pub fn new(shards: Vec<Shard>, config: FanoutConfig) -> Result<FanoutStore, QueryError> {
        if shards.is_empty() {
            return Err(QueryError::InvalidArgument(
                "a fan-out needs at least one shard".into(),
            ));
        }
        Ok(FanoutStore {
            shards,
            timeout: config.shard_timeout,
            promql: Arc::new(tokio::sync::Semaphore::new(config.max_promql.max(1))),
            sql_pool: SqlPool::new(config.sql.threads, config.sql.max_concurrent)?,
            sql_memory: crate::sql::memory_pool(config.sql.memory_bytes),
            sql: config.sql,
            live: Arc::new(LiveResume::new(live::RESUME_ENTRIES)),
        })
    }

    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shards' live streams merged (see [`live`]); `one` opens a
    /// shard's after a position of its own.
    fn merged_live<T: Send + 'static>(
        &self,
        last_id: Option<u64>,
        one: impl Fn(&dyn Store, Option<u64>) -> BoxStream<'static, LiveEvent<T>>,
    ) -> BoxStream<'static, LiveEvent<T>> {
        let open = |from: &[Option<u64>]| {
            self.shards
                .iter()
                .zip(from)
                .map(|(s, at)| one(s.store.as_ref(), *at))
                .collect()
        };
        merged_live(self.shards.len(), open, last_id, self.live.clone())
    }

    /// [`gather`], recording the shards that failed.
    async fn each<'a, T, F>(&'a self, call: F) -> Result<Vec<T>, QueryError>
    where
        F: Fn(&'a dyn Store) -> BoxFuture<'a, Result<T, QueryError>>,
    {
        let (ok, failed) = gather(&self.shards, self.timeout, call).await?;
        for (shard, e) in &failed {
            record_failure(&shard.name, &e.to_string());
        }
        Ok(ok)
    }

    /// A SQL session whose tables read the shards; the shards that fail
    /// while it runs are added to `failures`.
    fn sql_session(&self, failures: &sql::Failures) -> Result<SqlSession, QueryError> {
        SqlSession::over(
            |name| {
                Arc::new(sql::ShardTable::new(
                    name,
                    self.shards.clone(),
                    self.timeout,
                    self.sql.memory_bytes,
                    failures.clone(),
                ))
            },
            self.sql.clone(),
            self.sql_memory.clone(),
        )
    }
}

/// A relative start (`last=1h`) as a fixed time, so that every shard
/// searches the same window.
fn fixed(since: Option<Since>) -> Option<Since> {
    since.map(|s| Since::At(s.at(tael_core::time::now_ns())))
}

impl Store for FanoutStore {
    fn promql_slot(&self) -> Result<PromqlSlot, QueryError> {
        self.promql
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| {
                QueryError::Busy(
                    "too many PromQL queries are running on this query node; retry shortly".into(),
                )
            })
    }

    fn search_spans(&self, q: TraceQuery) -> BoxFuture<'_, Result<Vec<Hit<Span>>, QueryError>> {
        async move {
            let q = TraceQuery {
                since: fixed(q.since),
                ..q
            };
            let limit = q.limit;
            let lists = self.each(|s| s.search_spans(q.clone())).await?;
            Ok(newest(lists, limit, |h| h.item.start_ns))
        }
        .boxed()
    }

    fn get_trace(&self, q: TraceLookup) -> BoxFuture<'_, Result<Vec<Span>, QueryError>> {
        async move {
            let lists = self.each(|s| s.get_trace(q.clone())).await?;
            Ok(crate::traces::in_trace_order(lists.into_iter().flatten()))
        }
        .boxed()
    }

    fn search_logs(&self, q: LogQuery) -> BoxFuture<'_, Result<Vec<Hit<LogRecord>>, QueryError>> {
        async move {
            let q = LogQuery {
                since: fixed(q.since),
                ..q
            };
            let limit = q.limit;
            let lists = self.each(|s| s.search_logs(q.clone())).await?;
            Ok(newest(lists, limit, |h| h.item.time_ns))
        }
        .boxed()
    }

    fn search_metrics(
        &self,
        q: MetricQuery,
    ) -> BoxFuture<'_, Result<Vec<MetricPoint>, QueryError>> {
        async move {
            let q = MetricQuery {
                since: fixed(q.since),
                ..q
            };
            let limit = q.limit;
            let lists = self.each(|s| s.search_metrics(q.clone())).await?;
            Ok(newest(lists, limit, |p| p.time_ns))
        }
        .boxed()
    }

    fn blob(&self, sha256: [u8; 32]) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueryError>> {
        async move {
            let found = self.each(|s| s.blob(sha256)).await?;
            Ok(found.into_iter().flatten().next())
        }
        .boxed()
    }

    fn trace_comments(
        &self,
        trace_id: String,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        async move {
            let lists = self.each(|s| s.trace_comments(trace_id.clone())).await?;
            let mut seen = HashSet::new();
            let mut out: Vec<TraceComment> = lists
                .into_iter()
                .flatten()
                .filter(|c| seen.insert(c.id.clone()))
                .collect();
            out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
            Ok(out)
        }
        .boxed()
    }

    fn recent_comments(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        async move {
            let lists = self.each(|s| s.recent_comments(limit)).await?;
            let mut out: Vec<TraceComment> = lists.into_iter().flatten().collect();
            out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
            out.truncate(limit);
            Ok(out)
        }
        .boxed()
    }

    fn service_rollup(&self) -> BoxFuture<'_, Result<Rollup, QueryError>> {
        async move {
            let mut out = Rollup::default();
            for r in self.each(|s| s.service_rollup()).await? {
                out.merge(&r);
            }
            Ok(out)
        }
        .boxed()
    }

    fn span_stats(
        &self,
        window: TimeWindow,
        q: StatsQuery,
    ) -> BoxFuture<'_, Result<SpanStats, QueryError>> {
        async move {
            let mut all = self.each(|s| s.span_stats(window, q.clone())).await?;
            let mut out = all.pop().unwrap_or_default();
            for s in all {
                out.merge(s);
            }
            Ok(out)
        }
        .boxed()
    }

    fn log_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<LogSummary, QueryError>> {
        async move {
            let mut out = LogSummary::default();
            for s in self.each(|s| s.log_stats(window, service.clone())).await? {
                out.merge(&s);
            }
            Ok(out)
        }
        .boxed()
    }

    fn metric_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<MetricStats, QueryError>> {
        async move {
            let mut out = MetricStats::default();
            for s in self
                .each(|s| s.metric_stats(window, service.clone()))
                .await?
            {
                out.merge(s);
            }
            Ok(out)
        }
        .boxed()
    }

    fn service_graph(&self, window: TimeWindow) -> BoxFuture<'_, Result<ServiceGraph, QueryError>> {
        async move {
            let mut out = ServiceGraph::default();
            for g in self.each(|s| s.service_graph(window)).await? {
                out.merge(g);
            }
            Ok(out)
        }
        .boxed()
    }

    fn operations(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<OperationSet, QueryError>> {
        async move {
            let mut out = OperationSet::default();
            for o in self.each(|s| s.operations(window, service.clone())).await? {
                out.merge(o);
            }
            Ok(out)
        }
        .boxed()
    }

    fn llm_stats(
        &self,
        window: TimeWindow,
        by: LlmGrouping,
    ) -> BoxFuture<'_, Result<LlmStats, QueryError>> {
        async move {
            let mut out = LlmStats::default();
            for l in self.each(|s| s.llm_stats(window, by)).await? {
                out.merge(l);
            }
            Ok(out)
        }
        .boxed()
    }

    fn metric_catalog(&self) -> BoxFuture<'_, Result<BTreeSet<StoredMetric>, QueryError>> {
        async move {
            let sets = self.each(|s| s.metric_catalog()).await?;
            Ok(sets.into_iter().flatten().collect())
        }
        .boxed()
    }

    fn series(&self, q: SeriesQuery) -> BoxFuture<'_, Result<Vec<Loaded>, QueryError>> {
        async move {
            let answers = self.each(|s| s.series(q.clone())).await?;
            let total: usize = answers
                .iter()
                .flatten()
                .flat_map(|l| &l.series)
                .map(|s| s.points.len())
                .sum();
            if total > q.max_samples {
                return Err(QueryError::TooExpensive(format!(
                    "the query would load {total} samples, more than the {} allowed",
                    q.max_samples
                )));
            }
            Ok(union_series(answers, q.selectors.len()))
        }
        .boxed()
    }

    fn sql(&self, q: SqlQuery) -> BoxFuture<'_, Result<SqlResult, QueryError>> {
        async move {
            let failures = sql::Failures::default();
            let session = Arc::new(self.sql_session(&failures)?);
            let out = session.run(&self.sql_pool, &q.q, q.max_rows).await;
            for (shard, error) in failures.take() {
                record_failure(&shard, &error);
            }
            out
        }
        .boxed()
    }

    fn scan(&self, q: TableScan) -> BoxFuture<'_, Result<ScannedRows, QueryError>> {
        async move {
            let mut all = self.each(|s| s.scan(q.clone())).await?.into_iter();
            let (schema, mut batches) = all
                .next()
                .ok_or_else(|| QueryError::Unavailable("no shard answered".into()))?;
            for (_, more) in all {
                batches.extend(more);
            }
            Ok((schema, batches))
        }
        .boxed()
    }

    fn sql_schema(&self) -> BoxFuture<'_, Result<Vec<TableInfo>, QueryError>> {
        async move { self.sql_session(&sql::Failures::default())?.tables().await }.boxed()
    }

    fn stats(&self) -> BoxFuture<'_, Result<StoreStats, QueryError>> {
        async move {
            let answers = join_all(
                self.shards
                    .iter()
                    .map(|s| bounded(self.timeout, s.store.stats())),
            )
            .await;
            let shards = self
                .shards
                .iter()
                .zip(answers)
                .map(|(s, a)| match a {
                    Ok(st) => ShardState {
                        shard: s.name.clone(),
                        storage: st.storage,
                        error: None,
                    },
                    Err(e) => ShardState {
                        shard: s.name.clone(),
                        storage: None,
                        error: Some(e.to_string()),
                    },
                })
                .collect();
            Ok(StoreStats {
                storage: None,
                shards,
            })
        }
        .boxed()
    }

    fn live_spans(
        &self,
        filter: LiveSpanFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<Span>> {
        self.merged_live(last_id, |s, at| s.live_spans(filter.clone(), at))
    }

    fn live_logs(
        &self,
        filter: LiveLogFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<LogRecord>> {
        self.merged_live(last_id, |s, at| s.live_logs(filter.clone(), at))
    }
}

mod live;
mod merge;
mod sql;
#[cfg(test)]
mod tests;
