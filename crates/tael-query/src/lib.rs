//! tael-query: the structured queries every front end calls (traces search,
//! trace by id, services, logs, metrics; summary, anomalies, diff, topology,
//! correlate; LLM usage; SQL), evaluated over an engine snapshot:
//! memtable chunks plus Parquet parts pruned by time partition, row-group
//! statistics and bloom filters.

pub mod anomalies;
pub mod correlate;
pub mod diff;
pub mod error;
pub(crate) mod fasthash;
pub mod llm_usage;
pub mod logs;
pub mod metrics;
mod parallel;
pub mod payloads;
pub mod promql;
mod scan;
pub mod services;
pub mod sketch;
pub mod spanstats;
pub mod sql;
pub mod summary;
pub mod textsearch;
mod topn;
pub mod topology;
pub mod traces;
pub mod window;

pub use error::QueryError;
