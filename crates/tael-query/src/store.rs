//! The read and write seams: [`Store`], everything the REST, Prometheus and
//! CLI surfaces ask of stored data, and [`Ingest`], everything they write.
//! Front ends hold `Arc<dyn Store>` and `Arc<dyn Ingest>` and never see
//! where the data lives: [`crate::LocalStore`] answers from this node's
//! engine; a remote client or a fan-out over shards is another
//! implementation of the same traits.
//!
//! Reports that must merge across shards are built *above* the trait from
//! mergeable partials the trait returns: span statistics with latency
//! sketches and distinct-trace sets ([`SpanStats`]), log and metric counts,
//! the service graph's node and edge statistics, LLM usage per group, the
//! service rollup. Merging partials is exact; percentiles are never
//! averaged. PromQL is evaluated above the trait too, over the series the
//! trait loads ([`Store::series`]), so a fan-out evaluates over the union.
//!
//! Every method takes its inputs by value and returns a boxed `Send`
//! future, so the traits are object-safe and an implementation may do its
//! work on other threads (the local store runs blocking reads on the
//! blocking pool, never on the async threads).

pub mod fanout;
pub mod routing;
#[cfg(any(test, feature = "testing"))]
pub mod testsuite;
pub mod wire;

use crate::live::{LiveEvent, LiveLogFilter, LiveSpanFilter};
use crate::llm_usage::{LlmGrouping, LlmStats};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::promql::names::StoredMetric;
use crate::promql::series::Loaded;
use crate::spanstats::{SpanStats, StatsQuery};
use crate::sql::table_scan::TableScan;
use crate::sql::{SqlQuery, SqlResult, TableInfo};
use crate::summary::{LogSummary, MetricStats};
use crate::textsearch::TextMatch;
use crate::topology::ServiceGraph;
use crate::traces::{TraceLookup, TraceQuery};
use crate::window::TimeWindow;
use crate::QueryError;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use promql_parser::label::Matcher;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};
use tael_core::Signal;
use tael_storage::rollup::Rollup;
use tael_storage::{EngineStats, StorageError};

/// A row of a search, with why it matched when a full-text query found
/// it. JSON: the row's own fields, plus `match` when there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit<T> {
    #[serde(flatten)]
    pub item: T,
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub text_match: Option<TextMatch>,
}

impl<T> Hit<T> {
    /// A row found without a text query.
    pub fn plain(item: T) -> Hit<T> {
        Hit {
            item,
            text_match: None,
        }
    }
}

/// The series one PromQL selector needs: its matchers (the metric name as
/// a `__name__` matcher) and the time range its samples must cover (ms,
/// inclusive).
#[derive(Debug, Clone)]
pub struct SeriesSelector {
    pub matchers: Vec<Matcher>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The series of every selector of one query, loaded together.
#[derive(Debug, Clone)]
pub struct SeriesQuery {
    pub selectors: Vec<SeriesSelector>,
    /// Samples all selectors may load together; beyond it the query fails.
    pub max_samples: usize,
    /// Time the loading may take (the query's own time limit).
    pub timeout: std::time::Duration,
}

/// The rows of a [`Store::scan`]: their schema and batches.
pub type ScannedRows = (arrow::datatypes::SchemaRef, Vec<arrow::array::RecordBatch>);

/// A store's counters (`/api/v1/stats`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreStats {
    /// This node's engine, when it has one.
    pub storage: Option<EngineStats>,
    /// A query node's shards, each with its counters or why it did not
    /// answer (absent on a node with an engine).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardState>,
}

/// One shard as a query node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardState {
    pub shard: String,
    pub storage: Option<EngineStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A slot for one PromQL evaluation, held while it runs (`None`: the
/// store sets no limit).
pub type PromqlSlot = Option<tokio::sync::OwnedSemaphorePermit>;

/// Everything the front ends read.
pub trait Store: Send + Sync + 'static {
    /// A slot for one PromQL evaluation, or [`QueryError::Busy`] when as
    /// many as the store allows are running (every front end's PromQL
    /// goes through `crate::promql`, which takes one).
    fn promql_slot(&self) -> Result<PromqlSlot, QueryError> {
        Ok(None)
    }

    /// Spans matching the query, newest first, at most `limit`; with a
    /// text query each carries its match.
    fn search_spans(&self, q: TraceQuery) -> BoxFuture<'_, Result<Vec<Hit<Span>>, QueryError>>;

    /// Every span of one trace in start order (empty when unknown), with
    /// payloads put back when asked.
    fn get_trace(&self, q: TraceLookup) -> BoxFuture<'_, Result<Vec<Span>, QueryError>>;

    /// Log records matching the query, newest first.
    fn search_logs(&self, q: LogQuery) -> BoxFuture<'_, Result<Vec<Hit<LogRecord>>, QueryError>>;

    /// Metric points matching the query, newest first.
    fn search_metrics(&self, q: MetricQuery)
        -> BoxFuture<'_, Result<Vec<MetricPoint>, QueryError>>;

    /// A stored payload by its sha256.
    fn blob(&self, sha256: [u8; 32]) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueryError>>;

    /// The comments of one trace (a lower-case trace id), oldest first.
    fn trace_comments(
        &self,
        trace_id: String,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>>;

    /// The newest comments across traces.
    fn recent_comments(&self, limit: usize)
        -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>>;

    /// Per-service span counts, errors, durations and distinct traces over
    /// everything stored (mergeable).
    fn service_rollup(&self) -> BoxFuture<'_, Result<Rollup, QueryError>>;

    /// Span statistics per (service, operation) of a window (mergeable).
    fn span_stats(
        &self,
        window: TimeWindow,
        q: StatsQuery,
    ) -> BoxFuture<'_, Result<SpanStats, QueryError>>;

    /// Log records per severity in a window (mergeable).
    fn log_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<LogSummary, QueryError>>;

    /// Metric points and distinct metric names in a window (mergeable).
    fn metric_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<MetricStats, QueryError>>;

    /// The service graph's node and edge statistics of a window (mergeable
    /// when every trace is stored whole by one store).
    fn service_graph(&self, window: TimeWindow) -> BoxFuture<'_, Result<ServiceGraph, QueryError>>;

    /// The distinct (service, operation, kind) of the spans that started in
    /// a window, of one service when given (mergeable by union).
    fn operations(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<crate::operations::OperationSet, QueryError>>;

    /// LLM usage per group of a window (mergeable).
    fn llm_stats(
        &self,
        window: TimeWindow,
        by: LlmGrouping,
    ) -> BoxFuture<'_, Result<LlmStats, QueryError>>;

    /// Every stored metric (name, type, unit …), for PromQL names and
    /// metadata.
    fn metric_catalog(&self) -> BoxFuture<'_, Result<BTreeSet<StoredMetric>, QueryError>>;

    /// The series of each selector, in order.
    fn series(&self, q: SeriesQuery) -> BoxFuture<'_, Result<Vec<Loaded>, QueryError>>;

    /// Runs a read-only SQL query.
    fn sql(&self, q: SqlQuery) -> BoxFuture<'_, Result<SqlResult, QueryError>>;

    /// The stored rows one scan of another node's SQL plan needs
    /// (`crate::sql::table_scan`): its schema and batches.
    fn scan(&self, q: TableScan) -> BoxFuture<'_, Result<ScannedRows, QueryError>>;

    /// The SQL tables, their columns and what each means.
    fn sql_schema(&self) -> BoxFuture<'_, Result<Vec<TableInfo>, QueryError>>;

    /// Counters of the storage behind the store.
    fn stats(&self) -> BoxFuture<'_, Result<StoreStats, QueryError>>;

    /// The spans stored from now on (after `last_id` when resuming) that
    /// pass `filter`, as they become durable; endless.
    fn live_spans(
        &self,
        filter: LiveSpanFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<Span>>;

    /// The log records stored from now on that pass `filter`.
    fn live_logs(
        &self,
        filter: LiveLogFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<LogRecord>>;
}

/// What one export did: items stored, re-deliveries dropped, invalid
/// items rejected (OTLP partial success) and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportOutcome {
    /// The WAL sequence number the export was stored as (0 when nothing
    /// was stored).
    #[serde(default)]
    pub seq: u64,
    pub stored: usize,
    pub duplicates: usize,
    pub rejected: u64,
    pub error_message: String,
}

/// Everything the front ends write.
pub trait Ingest: Send + Sync + 'static {
    /// Stores one OTLP export of `signal` (its protobuf
    /// `Export*ServiceRequest`) durably: the outcome comes back only once
    /// the data would survive a crash.
    fn export(
        &self,
        signal: Signal,
        request: Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>>;

    /// Stores a comment on a trace durably.
    fn add_comment(
        &self,
        comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>>;
}
