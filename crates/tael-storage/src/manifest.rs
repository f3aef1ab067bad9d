//! The manifest: the list of durable Parquet parts and the WAL sequence
//! number they cover.
//!
//! # Format
//!
//! The object `MANIFEST.json` (see `crate::objects`), JSON:
//! `{"version":1,"flushed_seq":N,"next_part_id":N,"parts":[PartMeta…]}`,
//! each part named by its location (`PartMeta::path`). Locally it is
//! replaced atomically (written to `MANIFEST.tmp`, fsynced, renamed over
//! the old one, the directory fsynced), then uploaded when the object
//! store is not the data dir. A part is durable (and published) before
//! the manifest that names it is written; WAL segments are dropped only
//! after the manifest with the new `flushed_seq` is durable.

use crate::error::StorageError;
use crate::objects::Objects;
use serde::{Deserialize, Serialize};

pub use tael_core::Signal;

/// One Parquet part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartMeta {
    pub id: u64,
    pub signal: Signal,
    /// The part's location in the object store (and its path relative
    /// to the data dir): `<signal>/<YYYYMMDDHH>/part-<id>.parquet`.
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
    /// The store's copy of a replicated shard only: the epoch of the
    /// leader that wrote it, whose objects are under `epoch-<E>/` (see
    /// `crate::objects::uploads`). Never set locally.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    pub flushed_seq: u64,
    pub next_part_id: u64,
    pub parts: Vec<PartMeta>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

const LOCATION: &str = "MANIFEST.json";

impl Manifest {
    /// The stored manifest (an empty one when there is none yet).
    pub fn load(objects: &Objects) -> Result<Manifest, StorageError> {
        match objects.get(LOCATION)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StorageError::Corrupt(format!("{LOCATION}: {e}"))),
            None => Ok(Manifest {
                version: 1,
                epoch: 0,
                flushed_seq: 0,
                next_part_id: 1,
                parts: Vec::new(),
            }),
        }
    }

    /// Stores the manifest durably (see the module docs).
    pub fn store(&self, objects: &Objects) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        objects.put(LOCATION, &bytes)
    }
}
