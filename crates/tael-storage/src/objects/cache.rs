//! The size cap of the data dir when it caches an object store
//! (`TAEL_CACHE_BYTES`): the local copies of Parquet parts are tracked with
//! their last use, and when they outgrow the cap the least recently used
//! ones the store already has are deleted; a part whose copy is gone is
//! downloaded again when it is read ([`super::Objects::open_file`]).
//!
//! Only parts are evicted: blob packs (read through open files), the text
//! index, rollups, the manifest, comments and the WAL stay local in full.
//! A copy still waiting for its upload is never evicted. Deleting a file
//! that a reader has open is safe (the reader keeps the inode).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::Path;

/// Whether a location is one the cache may evict.
pub fn evictable(location: &str) -> bool {
    location.ends_with(".parquet")
}

#[derive(Debug, Default)]
struct State {
    /// Local copies: size and the tick of their last use.
    files: HashMap<String, (u64, u64)>,
    bytes: u64,
    tick: u64,
    evicted: u64,
}

#[derive(Debug)]
pub struct Cache {
    /// The cap (`None`: no cap, nothing is evicted).
    limit: Option<u64>,
    state: Mutex<State>,
}

impl Cache {
    pub fn new(limit: Option<u64>) -> Cache {
        Cache {
            limit,
            state: Mutex::default(),
        }
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Whether the tracked copies take more than the cap.
    pub fn over_limit(&self) -> bool {
        self.limit.is_some_and(|l| self.state.lock().bytes > l)
    }

    /// The bytes of the tracked copies, and how many were evicted so far.
    pub fn usage(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.bytes, st.evicted)
    }

    /// A local copy written, downloaded or read.
    pub fn used(&self, location: &str, size: u64) {
        if !evictable(location) {
            return;
        }
        let mut st = self.state.lock();
        st.tick += 1;
        let tick = st.tick;
        if let Some((old, _)) = st.files.insert(location.to_string(), (size, tick)) {
            st.bytes -= old;
        }
        st.bytes += size;
    }

    /// A copy deleted by its owner (a retired part).
    pub fn forget(&self, location: &str) {
        let mut st = self.state.lock();
        if let Some((size, _)) = st.files.remove(location) {
            st.bytes -= size;
        }
    }

    /// Deletes least recently used copies under `root` while the cap is
    /// exceeded, of those `may_go` allows (the store has them).
    pub fn evict(&self, root: &Path, may_go: impl Fn(&str) -> bool) {
        let Some(limit) = self.limit else {
            return;
        };
        let mut st = self.state.lock();
        if st.bytes <= limit {
            return;
        }
        let mut by_age: Vec<(u64, String, u64)> = st
            .files
            .iter()
            .map(|(l, (size, tick))| (*tick, l.clone(), *size))
            .collect();
        by_age.sort_unstable();
        for (_, location, size) in by_age {
            if st.bytes <= limit {
                break;
            }
            if !may_go(&location) {
                continue;
            }
            match std::fs::remove_file(root.join(&location)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(%location, error = %e, "cannot evict a cached part");
                    continue;
                }
            }
            st.files.remove(&location);
            st.bytes -= size;
            st.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_copies_the_store_has_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cache::new(Some(250));
        for (i, l) in ["a", "b", "c", "d"].iter().enumerate() {
            let loc = format!("spans/h/{l}.parquet");
            crate::part::write_file_durably(&dir.path().join(&loc), &[0u8; 100]).unwrap();
            c.used(&loc, 100);
            if i == 1 {
                // `a` is read again: `b` is now the oldest.
                c.used("spans/h/a.parquet", 100);
            }
        }
        c.used("MANIFEST.json", 1_000_000);
        // `b` may not go yet (its upload waits): `a` goes, then `c`.
        c.evict(dir.path(), |l| l != "spans/h/b.parquet");
        let left: Vec<bool> = ["a", "b", "c", "d"]
            .iter()
            .map(|l| dir.path().join(format!("spans/h/{l}.parquet")).exists())
            .collect();
        assert_eq!(left, [false, true, false, true]);
        assert_eq!(c.usage(), (200, 2));
        c.forget("spans/h/d.parquet");
        assert_eq!(c.usage(), (100, 2));
    }
}
