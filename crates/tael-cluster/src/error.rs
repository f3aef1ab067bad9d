//! Errors of the cluster layer.

use tael_core::ErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    /// No etcd endpoint answered, or one answered with an error.
    #[error("etcd: {0}")]
    Etcd(String),
    /// The durable fence could not be read or written.
    #[error("epoch fence {path}: {source}")]
    Fence {
        path: String,
        source: std::io::Error,
    },
    /// The fence file holds something that is not an epoch.
    #[error("epoch fence {path}: {message}")]
    CorruptFence { path: String, message: String },
    /// A cluster setting is wrong.
    #[error("{0}")]
    Config(String),
    /// A cluster file could not be written.
    #[error(transparent)]
    Storage(#[from] tael_storage::StorageError),
}

impl ClusterError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ClusterError::Etcd(_) => ErrorCode::Unavailable,
            ClusterError::Config(_) => ErrorCode::InvalidArgument,
            ClusterError::Fence { .. }
            | ClusterError::CorruptFence { .. }
            | ClusterError::Storage(_) => ErrorCode::Internal,
        }
    }
}
