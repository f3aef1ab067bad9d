//! tael-query: everything the front ends ask of stored data. The seams
//! they sit on are in [`store`]: the [`Store`] trait (reads) and the
//! [`Ingest`] trait (writes), with [`LocalStore`] answering both from this
//! node's engine. Each query type owns its query-string codec
//! ([`params`]). The queries themselves — traces search, trace by id,
//! services, logs, metrics; summary, anomalies, diff, topology, correlate;
//! LLM usage; PromQL; SQL — are evaluated over an engine snapshot
//! (memtable chunks plus Parquet parts pruned by time partition, row-group
//! statistics and bloom filters), and the reports that merge across stores
//! are built above the trait from mergeable partials.

pub mod anomalies;
pub mod answer;
pub mod api;
pub mod correlate;
mod deadline;
pub mod diff;
pub mod error;
pub(crate) mod fasthash;
pub mod live;
pub mod llm_usage;
pub mod local;
pub mod logs;
pub mod metrics;
pub mod operations;
mod parallel;
pub mod params;
pub mod payloads;
pub mod promql;
mod scan;
pub mod services;
pub mod sketch;
pub mod spanstats;
pub mod sql;
pub mod store;
pub mod summary;
pub mod textsearch;
mod topn;
pub mod topology;
pub mod traces;
pub mod window;

pub use answer::Answer;
pub use error::QueryError;
pub use local::{LocalStore, LocalStoreConfig};
pub use store::{Ingest, Store};

/// Runs blocking work (file reads, column folds) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueryError> + Send + 'static,
) -> Result<T, QueryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| QueryError::Internal(format!("query task failed: {e}")))?
}
