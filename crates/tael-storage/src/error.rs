//! Storage errors, each with an [`ErrorCode`] for the front ends.

use std::path::Path;
use tael_core::ErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    /// A file could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The Parquet reader or writer failed.
    #[error("parquet error: {0}")]
    Parquet(String),
    /// An Arrow operation on stored columns failed.
    #[error("arrow error: {0}")]
    Arrow(String),
    /// Stored bytes do not decode as what they should be.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A WAL record over the largest size accepted.
    #[error("record too large: {0} bytes")]
    RecordTooLarge(usize),
    /// An export that would decode into more than its decode budget.
    #[error("{0}")]
    ExportTooLarge(String),
    /// Storage cannot take writes now (retryable).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The caller sent something malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The full-text index failed.
    #[error("text index error: {0}")]
    TextIndex(String),
    /// A bug, e.g. a storage task that panicked.
    #[error("internal error: {0}")]
    Internal(String),
    /// A shipped WAL record that does not follow the last one stored.
    #[error("WAL record {got} does not follow: the next sequence number here is {expected}")]
    SeqGap { expected: u64, got: u64 },
    /// WAL records asked for that are no longer kept (covered by parts).
    #[error("WAL records from {asked} are gone: the oldest kept is {oldest}")]
    WalDropped { asked: u64, oldest: u64 },
    /// This replica does not take writes now: it is a standby, or a leader
    /// that cannot prove its lease. `leader` is the REST URL of the
    /// replica that does, when known (sent as `x-tael-leader`).
    #[error("not the leader of this shard: {reason}")]
    NotLeader {
        reason: String,
        leader: Option<String>,
    },
}

impl StorageError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::Io { .. }
            | StorageError::Unavailable(_)
            | StorageError::NotLeader { .. } => ErrorCode::Unavailable,
            StorageError::RecordTooLarge(_) | StorageError::ExportTooLarge(_) => {
                ErrorCode::PayloadTooLarge
            }
            StorageError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            StorageError::SeqGap { .. } => ErrorCode::Conflict,
            StorageError::WalDropped { .. } => ErrorCode::NotFound,
            StorageError::Parquet(_)
            | StorageError::Arrow(_)
            | StorageError::Corrupt(_)
            | StorageError::TextIndex(_)
            | StorageError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<parquet::errors::ParquetError> for StorageError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        StorageError::Parquet(e.to_string())
    }
}

impl From<arrow::error::ArrowError> for StorageError {
    fn from(e: arrow::error::ArrowError) -> Self {
        StorageError::Arrow(e.to_string())
    }
}
