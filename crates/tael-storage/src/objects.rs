//! [`Objects`]: the one handle through which the engine's durable bytes
//! (Parquet parts and their rollup sidecars, blob packs, the manifest, the
//! comments) are written, found, fetched and deleted. The WAL (its own
//! directory) and the full-text index (derived from the parts, rebuilt
//! when lost) stay local files. It wraps an `object_store`
//! [`ObjectStore`] (the crate and version DataFusion and Parquet use) and a
//! local directory where every object that is read has a file.
//!
//! # Locations
//!
//! An object's location is its path relative to the data dir
//! (`spans/2026112802/part-000000000001.parquet`, `blobs/pack-00000001.blob`,
//! `MANIFEST.json`, `comments.jsonl`); the manifest records parts by these
//! locations. The local file of a location is `<data dir>/<location>`.
//!
//! # Backends
//!
//! - **Local** (the default): a `LocalFileSystem` rooted at the data dir.
//!   The local files *are* the objects. Writers make them durable
//!   themselves (temporary file, fsync, rename, fsync of the directory),
//!   which `LocalFileSystem::put` does not do, so [`Objects::publish`] has
//!   nothing left to do.
//! - **Any other store** (in memory for tests; S3-compatible and others
//!   later): the data dir is a cache. A written file is uploaded by
//!   [`Objects::publish`]; a location without a local file is downloaded
//!   by [`Objects::fetch`] before it is read; deletes remove both.
//!
//! The engine's I/O is synchronous (it runs on the blocking pool and its
//! own threads), so calls into the store are driven to completion on the
//! calling thread. The local and in-memory stores need no runtime for
//! that; a network store will need the node's runtime handle.

use crate::error::StorageError;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Location;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The URL the data dir store is known by (to DataFusion, in each SQL
/// session of one engine): its locations are relative to the data dir, so
/// a `file://` URL, whose paths are absolute, would not fit.
pub const DATA_DIR_URL: &str = "tael-data://local/";

/// Where the engine's durable bytes go.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// Files in the data dir are the objects.
    #[default]
    DataDir,
    /// Another object store, `url` naming it (`memory://`, `s3://bucket/`
    /// …); the data dir caches what is read.
    Store {
        store: Arc<dyn ObjectStore>,
        url: url::Url,
    },
}

impl Backend {
    /// A fresh in-memory store (tests: everything the engine keeps, with
    /// the data dir only a cache).
    pub fn in_memory() -> Backend {
        Backend::Store {
            store: Arc::new(object_store::memory::InMemory::new()),
            url: url::Url::parse("memory://tael/").expect("a constant URL parses"),
        }
    }
}

fn store_error(what: &str, location: &str, e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => {
            StorageError::Corrupt(format!("{what} {location}: not in the object store"))
        }
        other => StorageError::Unavailable(format!("{what} {location}: {other}")),
    }
}

/// The handle (cheap to share: the engine, its parts and SQL hold it).
#[derive(Debug)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// The store's URL (DataFusion finds the store by it).
    url: url::Url,
    /// The data dir: the objects themselves, or the cache of them.
    root: PathBuf,
    /// Whether the store is the data dir itself.
    local: bool,
}

impl Objects {
    /// The handle of `backend` over the data dir `root` (created if needed).
    pub fn open(root: &Path, backend: &Backend) -> Result<Objects, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| StorageError::io(root, e))?;
        let root = std::fs::canonicalize(root).map_err(|e| StorageError::io(root, e))?;
        match backend {
            Backend::DataDir => {
                let fs = LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| StorageError::Unavailable(format!("data dir: {e}")))?;
                let url = url::Url::parse(DATA_DIR_URL).expect("a constant URL parses");
                Ok(Objects {
                    store: Arc::new(fs),
                    url,
                    root,
                    local: true,
                })
            }
            Backend::Store { store, url } => Ok(Objects {
                store: store.clone(),
                url: url.clone(),
                root,
                local: false,
            }),
        }
    }

    /// The object store (DataFusion reads parts through it).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store's URL; a location's URL is this joined with it.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// Whether the data dir is the store (no uploads, no downloads).
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The local file of a location.
    pub fn local_path(&self, location: &str) -> PathBuf {
        self.root.join(location)
    }

    /// The URL of a location (for DataFusion's listing tables).
    pub fn location_url(&self, location: &str) -> String {
        format!("{}{location}", self.url)
    }

    fn wait<T>(f: impl std::future::Future<Output = T>) -> T {
        futures::executor::block_on(f)
    }

    /// Makes the durable local file of `location` the object (uploads it
    /// unless the data dir is the store).
    pub fn publish(&self, location: &str) -> Result<(), StorageError> {
        if self.local {
            return Ok(());
        }
        let path = self.local_path(location);
        let bytes = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
        self.put_object(location, bytes)
    }

    fn put_object(&self, location: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let loc = Location::from(location);
        Self::wait(self.store.put(&loc, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| store_error("cannot upload", location, e))
    }

    /// The local file of `location`, downloaded first when only the store
    /// has it; a location that is nowhere is an error.
    pub fn fetch(&self, location: &str) -> Result<PathBuf, StorageError> {
        self.fetch_stored(location)?
            .ok_or_else(|| StorageError::Corrupt(format!("{location}: not stored")))
    }

    /// The local file of `location`, downloaded first when only the store
    /// has it; `None` when the location is nowhere.
    pub fn fetch_stored(&self, location: &str) -> Result<Option<PathBuf>, StorageError> {
        let path = self.local_path(location);
        if path.exists() {
            return Ok(Some(path));
        }
        if self.local {
            return Ok(None);
        }
        match self.get(location)? {
            Some(bytes) => {
                crate::part::write_file_durably(&path, &bytes)?;
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }

    /// An object's bytes (`None` when there is none).
    pub fn get(&self, location: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if self.local {
            let path = self.local_path(location);
            return match std::fs::read(&path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(StorageError::io(&path, e)),
            };
        }
        let loc = Location::from(location);
        let got = Self::wait(async {
            match self.store.get(&loc).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| store_error("cannot read", location, e))
    }

    /// Writes a small object durably (the manifest): the local file, and
    /// the object when the store is not the data dir.
    pub fn put(&self, location: &str, bytes: &[u8]) -> Result<(), StorageError> {
        crate::part::write_file_durably(&self.local_path(location), bytes)?;
        if !self.local {
            self.put_object(location, bytes.to_vec())?;
        }
        Ok(())
    }

    /// Deletes an object from the store (the local file is the caller's:
    /// large local files are deleted gradually, see `crate::slow_delete`).
    /// A missing object is not an error.
    pub fn delete_object(&self, location: &str) -> Result<(), StorageError> {
        if self.local {
            return Ok(());
        }
        let loc = Location::from(location);
        match Self::wait(self.store.delete(&loc)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("cannot delete", location, e)),
        }
    }

    /// Every object under `prefix` (a directory of locations), with its
    /// size, sorted by location.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let loc = Location::from(prefix);
        let mut out = Self::wait(async {
            let mut s = self.store.list(Some(&loc));
            let mut out = Vec::new();
            while let Some(meta) = s.next().await {
                let meta = meta.map_err(|e| store_error("cannot list", prefix, e))?;
                out.push((meta.location.to_string(), meta.size));
            }
            Ok::<_, StorageError>(out)
        })?;
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
