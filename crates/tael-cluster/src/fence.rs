//! The epoch fence: the highest leadership epoch this replica has seen,
//! kept on disk so that it survives restarts, and only ever raised. A
//! leader leads under its own epoch; a replica refuses writes shipped
//! under a lower one.
//!
//! On disk: `<data-dir>/cluster/EPOCH`, one line `tael-epoch 1 <epoch>`
//! (format version 1, the epoch in decimal). It is replaced atomically:
//! written to `EPOCH.tmp`, fsynced, renamed over, and the directory
//! fsynced.

use crate::error::ClusterError;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};

const MAGIC: &str = "tael-epoch 1";

pub struct Fence {
    path: PathBuf,
    epoch: Mutex<u64>,
}

impl Fence {
    /// Opens (or creates, at 0) the fence in `dir`.
    pub fn open(dir: &Path) -> Result<Fence, ClusterError> {
        let io = |path: &Path, source| ClusterError::Fence {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let path = dir.join("EPOCH");
        let epoch = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).ok_or_else(|| ClusterError::CorruptFence {
                path: path.display().to_string(),
                message: format!("expected \"{MAGIC} <epoch>\", found {:?}", text.trim()),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io(&path, e)),
        };
        Ok(Fence {
            path,
            epoch: Mutex::new(epoch),
        })
    }

    /// The highest epoch seen.
    pub fn epoch(&self) -> u64 {
        *self.epoch.lock()
    }

    /// Raises the fence to `epoch` (durably, before returning) when it is
    /// higher; returns the fence after the call.
    pub fn raise(&self, epoch: u64) -> Result<u64, ClusterError> {
        let mut cur = self.epoch.lock();
        if epoch > *cur {
            self.store(epoch)?;
            *cur = epoch;
        }
        Ok(*cur)
    }

    fn store(&self, epoch: u64) -> Result<(), ClusterError> {
        let text = format!("{MAGIC} {epoch}\n");
        Ok(tael_storage::part::write_file_durably(
            &self.path,
            text.as_bytes(),
        )?)
    }
}

fn parse(text: &str) -> Option<u64> {
    text.trim().strip_prefix(MAGIC)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_only_rises_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let f = Fence::open(dir.path()).unwrap();
        assert_eq!(f.epoch(), 0);
        assert_eq!(f.raise(7).unwrap(), 7);
        assert_eq!(f.raise(3).unwrap(), 7, "never lowered");
        drop(f);
        let f = Fence::open(dir.path()).unwrap();
        assert_eq!(f.epoch(), 7);
        assert!(!dir.path().join("EPOCH.tmp").exists());
    }

    #[test]
    fn a_damaged_fence_is_an_error_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("EPOCH"), "tael-epoch 1 x").unwrap();
        assert!(matches!(
            Fence::open(dir.path()),
            Err(ClusterError::CorruptFence { .. })
        ));
    }
}
