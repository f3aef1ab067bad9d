//! Query errors, each with an [`ErrorCode`].

use tael_core::ErrorCode;
use tael_storage::StorageError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl QueryError {
    pub fn code(&self) -> ErrorCode {
        match self {
            QueryError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            QueryError::Storage(e) => e.code(),
        }
    }
}
