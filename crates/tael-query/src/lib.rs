//! tael-query: the structured queries every front end calls (traces search,
//! trace by id, services, logs, metrics), evaluated over an engine snapshot:
//! memtable chunks plus Parquet parts pruned by time partition, row-group
//! statistics and bloom filters.

pub mod error;
pub mod logs;
pub mod metrics;
mod scan;
pub mod services;
#[cfg(feature = "sql")]
pub mod sql;
mod topn;
pub mod traces;

pub use error::QueryError;
