//! tael-storage: the embedded storage engine. WAL (`wal`), memtables
//! (`memtable`), Parquet parts (`part`, `columnar`), the manifest
//! (`manifest`), per-service rollups (`rollup`), comments (`comments`), the
//! full-text index (`text`), and the engine that ties them together (`engine`).

pub mod blobs;
pub mod budget;
pub mod columnar;
pub mod comments;
pub mod engine;
pub mod error;
pub mod manifest;
pub mod memtable;
pub mod objects;
pub mod offload;
pub mod otlp;
pub mod part;
pub mod rollup;
pub mod slow_delete;
pub mod text;
pub mod wal;

pub use engine::{
    install_from_store, install_snapshot, Engine, EngineConfig, EngineStats, IngestObserver,
    IngestOutcome, Snapshot,
};
pub use error::StorageError;
pub use manifest::Signal;
