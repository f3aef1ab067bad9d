//! Query errors, each with an [`ErrorCode`].

use tael_core::ErrorCode;
use tael_storage::StorageError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum QueryError {
    #[error("{0}")]
    InvalidArgument(String),
    /// What the request names does not exist (a trace id nobody stored).
    #[error("{0}")]
    NotFound(String),
    /// The query needs more memory than it may use.
    #[error("{0}")]
    TooExpensive(String),
    /// A well-formed query that cannot be evaluated (e.g. many-to-many
    /// vector matching).
    #[error("{0}")]
    Execution(String),
    /// Too many queries of this kind are running; retry later.
    #[error("{0}")]
    Busy(String),
    /// The query ran past its time limit.
    #[error("{0}")]
    Timeout(String),
    /// The store cannot answer now (a shard that is down); retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bug (e.g. a panic inside the query engine).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl QueryError {
    /// An error of the same kind with another message (a storage error
    /// keeps its code as unavailable or internal).
    pub fn with_message(&self, m: String) -> QueryError {
        QueryError::from_code(self.code(), m)
    }

    /// The error of `code` (as another node reported it).
    pub fn from_code(code: ErrorCode, m: String) -> QueryError {
        match code {
            ErrorCode::InvalidArgument => QueryError::InvalidArgument(m),
            ErrorCode::NotFound => QueryError::NotFound(m),
            ErrorCode::Unprocessable => QueryError::TooExpensive(m),
            ErrorCode::Overloaded => QueryError::Busy(m),
            ErrorCode::Timeout => QueryError::Timeout(m),
            ErrorCode::Unavailable => QueryError::Unavailable(m),
            _ => QueryError::Internal(m),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            QueryError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            QueryError::NotFound(_) => ErrorCode::NotFound,
            QueryError::TooExpensive(_) | QueryError::Execution(_) => ErrorCode::Unprocessable,
            QueryError::Timeout(_) => ErrorCode::Timeout,
            QueryError::Busy(_) => ErrorCode::Overloaded,
            QueryError::Unavailable(_) => ErrorCode::Unavailable,
            QueryError::Internal(_) => ErrorCode::Internal,
            QueryError::Storage(e) => e.code(),
        }
    }
}
