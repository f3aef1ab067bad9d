//! Storage errors, each with an [`ErrorCode`] for the front ends.

use std::path::Path;
use tael_core::ErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parquet error: {0}")]
    Parquet(String),
    #[error("corrupt data: {0}")]
    Corrupt(String),
    #[error("record too large: {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    DecodesTooLarge(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("text index error: {0}")]
    TextIndex(String),
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
            StorageError::Io { .. } | StorageError::Unavailable(_) => ErrorCode::Unavailable,
            StorageError::TooLarge(_) | StorageError::DecodesTooLarge(_) => {
                ErrorCode::PayloadTooLarge
            }
            StorageError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            StorageError::Parquet(_) | StorageError::Corrupt(_) | StorageError::TextIndex(_) => {
                ErrorCode::Internal
            }
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
        StorageError::Parquet(e.to_string())
    }
}
