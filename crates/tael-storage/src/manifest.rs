//! The manifest: the list of durable Parquet parts and the WAL sequence
//! number they cover.
//!
//! # On-disk format
//!
//! `<data_dir>/MANIFEST.json`, JSON:
//! `{"version":1,"flushed_seq":N,"next_part_id":N,"parts":[PartMeta…]}`.
//! It is replaced atomically: written to `MANIFEST.json.tmp`, fsynced,
//! renamed over the old one, and the directory fsynced. A part file is
//! fsynced before the manifest that names it is written; WAL segments are
//! dropped only after the manifest with the new `flushed_seq` is durable.

use crate::error::StorageError;
use crate::wal::sync_dir;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub use tael_core::Signal;

/// One Parquet part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartMeta {
    pub id: u64,
    pub signal: Signal,
    /// Path relative to the data dir.
    pub path: String,
    /// Start of the hour partition (ns since epoch).
    pub hour_ns: i64,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
    pub rows: u64,
    pub bytes: u64,
    /// How many compactions produced this part (0 = a flush).
    #[serde(default)]
    pub level: u32,
}

/// The manifest contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub flushed_seq: u64,
    pub next_part_id: u64,
    pub parts: Vec<PartMeta>,
}

const FILE: &str = "MANIFEST.json";

impl Manifest {
    pub fn load(data_dir: &Path) -> Result<Manifest, StorageError> {
        let path = data_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                flushed_seq: 0,
                next_part_id: 1,
                parts: Vec::new(),
            }),
            Err(e) => Err(StorageError::io(&path, e)),
        }
    }

    pub fn store(&self, data_dir: &Path) -> Result<(), StorageError> {
        let tmp = data_dir.join(format!("{FILE}.tmp"));
        let bytes = serde_json::to_vec(self).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| StorageError::io(&tmp, e))?;
        std::fs::rename(&tmp, data_dir.join(FILE)).map_err(|e| StorageError::io(&tmp, e))?;
        sync_dir(data_dir)
    }
}
