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
//! - **Any other store** (`s3://`, `gs://`, `az://`, `file://`, in memory
//!   for tests; see [`Backend::from_url`]): the shared, durable tier, and
//!   the data dir its cache. Every write lands in the data dir first
//!   (durable there, so acknowledged data never waits on the network);
//!   [`Objects::publish`], [`Objects::put`] and [`Objects::delete_object`]
//!   queue the store's side, which one thread carries out in order and
//!   retries with backoff while the store cannot be reached (see
//!   [`uploads`]). A location without a local file is downloaded by
//!   [`Objects::fetch`] before it is read.
//!
//! # Replicas
//!
//! The replicas of a shard share one prefix (`<prefix>/shards/<id>`,
//! [`Backend::for_shard`]). Each keeps all its data in its data dir and
//! reads nothing from the store while it runs; the leader writes its copy
//! there (see [`uploads`]: per-epoch objects, a manifest written with a
//! conditional put), and a new or wiped replica is filled from it before
//! its engine opens ([`copy`]).
//!
//! The engine's I/O is synchronous (it runs on the blocking pool and its
//! own threads), so calls into the store are driven to completion on the
//! calling thread; a network store's requests run on a small runtime of
//! its own ([`remote`]).

use crate::error::StorageError;
use futures::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Location;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod cache;
pub mod copy;
pub mod remote;
pub mod uploads;

pub use uploads::{ObjectStoreStats, ReplicaUploads};

/// The URL the data dir store is known by (to DataFusion, in each SQL
/// session of one engine): its locations are relative to the data dir, so
/// a `file://` URL, whose paths are absolute, would not fit.
pub const DATA_DIR_URL: &str = "tael-data://local/";

/// The URL the object store behind the data dir is known by to DataFusion
/// (parts whose local copy was evicted are read from it).
pub const REMOTE_URL: &str = "tael-data://remote/";

/// Where the engine's durable bytes go.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// Files in the data dir are the objects.
    #[default]
    DataDir,
    /// Another object store; the data dir caches it.
    Store {
        store: Arc<dyn ObjectStore>,
        /// What the store is (`s3://bucket/prefix`, `memory://` …), for
        /// messages and stats.
        url: String,
        /// Whether its requests need a runtime (network stores do).
        network: bool,
        /// The key prefix of this node's objects (see [`remote::key`]).
        prefix: String,
        /// Whether the node is a replica of a shard (see the module docs).
        replica: bool,
    },
}

impl Backend {
    /// A fresh in-memory store (tests: everything the engine keeps, with
    /// the data dir only a cache).
    pub fn in_memory() -> Backend {
        Backend::Store {
            store: Arc::new(object_store::memory::InMemory::new()),
            url: "memory://".to_string(),
            network: false,
            prefix: String::new(),
            replica: false,
        }
    }

    /// The backend of a replica of shard `shard`: the store's prefix
    /// `<prefix>/shards/<shard>`, shared by the shard's replicas and
    /// written by its leader only. The data dir is unchanged.
    pub fn for_shard(&self, shard: u32) -> Backend {
        match self {
            Backend::DataDir => Backend::DataDir,
            Backend::Store {
                store,
                url,
                network,
                prefix,
                ..
            } => Backend::Store {
                store: store.clone(),
                url: url.clone(),
                network: *network,
                prefix: match prefix.is_empty() {
                    true => format!("shards/{shard}"),
                    false => format!("{prefix}/shards/{shard}"),
                },
                replica: true,
            },
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

/// The store behind the data dir, when there is one.
#[derive(Debug)]
struct Remote {
    store: Arc<dyn ObjectStore>,
    url: String,
    prefix: String,
    /// A replica reads nothing from the store (see the module docs).
    replica: bool,
    /// The locations being downloaded: two readers of one part download
    /// it once (and never race on its temporary file); other parts'
    /// downloads go on at the same time.
    downloading: Downloads,
    cache: Arc<cache::Cache>,
    /// Declared before `io`: its thread stops before the runtime does.
    uploads: uploads::Uploads,
    io: Option<remote::IoRuntime>,
}

/// The handle (cheap to share: the engine, its parts and SQL hold it).
#[derive(Debug)]
pub struct Objects {
    /// The data dir as a store (SQL reads parts through it).
    local_store: Arc<dyn ObjectStore>,
    /// The URL DataFusion finds `local_store` by.
    url: url::Url,
    /// The data dir: the objects themselves, or the cache of them.
    root: PathBuf,
    remote: Option<Remote>,
}

impl Objects {
    /// The handle of `backend` over the data dir `root` (created if
    /// needed); with an object store, the local copies of parts are kept
    /// within `cache_limit` bytes (see [`cache`]).
    pub fn open(
        root: &Path,
        backend: &Backend,
        cache_limit: Option<u64>,
    ) -> Result<Objects, StorageError> {
        std::fs::create_dir_all(root).map_err(|e| StorageError::io(root, e))?;
        let root = std::fs::canonicalize(root).map_err(|e| StorageError::io(root, e))?;
        let fs = LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StorageError::Unavailable(format!("data dir: {e}")))?;
        let url = url::Url::parse(DATA_DIR_URL).expect("a constant URL parses");
        let remote = match backend {
            Backend::DataDir => None,
            Backend::Store {
                store,
                url,
                network,
                prefix,
                replica,
            } => {
                let io = match network {
                    true => Some(remote::IoRuntime::start()?),
                    false => None,
                };
                let cache = Arc::new(cache::Cache::new(cache_limit));
                let uploads = uploads::Uploads::start(
                    store.clone(),
                    prefix.clone(),
                    root.clone(),
                    cache.clone(),
                    io.as_ref().map(|r| r.handle()),
                    *replica,
                )?;
                Some(Remote {
                    store: store.clone(),
                    url: url.clone(),
                    prefix: prefix.clone(),
                    replica: *replica,
                    downloading: Downloads::default(),
                    cache,
                    uploads,
                    io,
                })
            }
        };
        Ok(Objects {
            local_store: Arc::new(fs),
            url,
            root,
            remote,
        })
    }

    /// The stores DataFusion reads parts through, by the URLs
    /// [`Objects::location_url`] names: the data dir, and the object
    /// store for parts without a local copy.
    pub fn sql_stores(&self) -> Vec<(url::Url, Arc<dyn ObjectStore>)> {
        let mut out = vec![(self.url.clone(), self.local_store.clone())];
        if let Some(r) = &self.remote {
            let url = url::Url::parse(REMOTE_URL).expect("a constant URL parses");
            out.push((url, r.store.clone()));
        }
        out
    }

    /// Whether the data dir is the store (no uploads, no downloads).
    pub fn is_local(&self) -> bool {
        self.remote.is_none()
    }

    /// The store reads fall back to when a location has no local file
    /// (none on a replica, whose data dir holds everything).
    fn reader(&self) -> Option<&Remote> {
        self.remote.as_ref().filter(|r| !r.replica)
    }

    /// The store behind a replica's handle (see the module docs).
    fn replica_remote(&self) -> Option<&Remote> {
        self.remote.as_ref().filter(|r| r.replica)
    }

    /// Whether this is a replica's handle, writing the store while it
    /// leads (see the module docs).
    pub fn is_replica(&self) -> bool {
        self.replica_remote().is_some()
    }

    /// A replica leads at `epoch`: it writes the store from now on,
    /// first its whole copy (a reconcile of `locations`, see
    /// [`Objects::reconcile`]); the caller then stores the manifest.
    pub fn lead(&self, epoch: u64, locations: Vec<String>, prefixes: Vec<String>) {
        if let Some(r) = self.replica_remote() {
            r.uploads.lead(epoch, locations, prefixes);
        }
    }

    /// Queues again the uploads of those of `locations` that were
    /// published while this replica was not writing the store (see
    /// `uploads::Uploads::republish`).
    pub fn republish(&self, locations: &[String]) {
        if let Some(r) = self.replica_remote() {
            r.uploads.republish(locations);
        }
    }

    /// A replica's handle: the `flushed_seq` of the manifest the store
    /// holds at its prefix (`None`: none, or not a replica's handle).
    pub fn store_manifest_flushed_seq(&self) -> Result<Option<u64>, StorageError> {
        let Some(r) = self.replica_remote() else {
            return Ok(None);
        };
        let (store, key) = (r.store.clone(), remote::key(&r.prefix, "MANIFEST.json"));
        let got = r.run(async move {
            match store.get(&key).await {
                Ok(g) => g.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        let bytes = got.map_err(|e| store_error("cannot read", "MANIFEST.json", e))?;
        Ok(bytes.map(|b| {
            serde_json::from_slice::<serde_json::Value>(&b)
                .ok()
                .and_then(|v| v.get("flushed_seq").and_then(serde_json::Value::as_u64))
                .unwrap_or(0)
        }))
    }

    /// A replica does not lead: it writes nothing to the store.
    pub fn follow(&self) {
        if let Some(r) = self.replica_remote() {
            r.uploads.follow();
        }
    }

    /// On a leading replica, the first WAL record the store's manifest
    /// does not cover (kept for replicas filled from the store).
    pub fn wal_hold(&self) -> Option<u64> {
        self.remote.as_ref().and_then(|r| r.uploads.wal_hold())
    }

    /// The local file of a location.
    pub fn local_path(&self, location: &str) -> PathBuf {
        self.root.join(location)
    }

    /// The URL of a location (for DataFusion's listing tables): its local
    /// copy when there is one, else the object store's.
    pub fn location_url(&self, location: &str) -> String {
        match self.reader() {
            Some(r) if !self.local_path(location).exists() => {
                format!("{REMOTE_URL}{}", remote::key(&r.prefix, location))
            }
            _ => format!("{}{location}", self.url),
        }
    }

    /// When `location` has no local copy and an object store is behind
    /// the data dir: the answer of `read(store, key)` (a read of the
    /// object in place, such as a Parquet footer), driven to completion
    /// on the store's runtime. `None` when the local copy should be read.
    pub fn with_remote<T, F>(
        &self,
        location: &str,
        read: impl FnOnce(Arc<dyn ObjectStore>, Location) -> F,
    ) -> Option<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = T> + Send + 'static,
    {
        let r = self.reader()?;
        if self.local_path(location).exists() {
            return None;
        }
        Some(r.run(read(r.store.clone(), remote::key(&r.prefix, location))))
    }

    /// Opens the local file of `location` for reading, downloading it
    /// first when only the store has it (its cached copy evicted).
    pub fn open_file(&self, location: &str) -> Result<std::fs::File, StorageError> {
        let path = self.local_path(location);
        // Twice: an eviction may come between the fetch and the open.
        for _ in 0..2 {
            self.fetch(location)?;
            match std::fs::File::open(&path) {
                Ok(f) => {
                    // Open, the copy may go (the reader keeps it).
                    if let Some(r) = &self.remote {
                        r.uploads.evict();
                    }
                    return Ok(f);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.reader().is_some() => {}
                Err(e) => return Err(StorageError::io(&path, e)),
            }
        }
        Err(StorageError::Unavailable(format!(
            "{location}: evicted from the cache while being read"
        )))
    }

    /// Makes the durable local file of `location` the object: queues its
    /// upload unless the data dir is the store. The file is read when it
    /// is uploaded, so publishing a growing file again before then
    /// uploads it once.
    pub fn publish(&self, location: &str) -> Result<(), StorageError> {
        if let Some(r) = &self.remote {
            r.uploads.upload_file(location);
        }
        Ok(())
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
        let Some(r) = self.reader() else {
            return Ok(path.exists().then_some(path));
        };
        let cached = || match std::fs::metadata(&path) {
            Ok(meta) => {
                r.cache.used(location, meta.len());
                true
            }
            Err(_) => false,
        };
        if cached() {
            return Ok(Some(path));
        }
        // Checked again once this location's turn comes: another reader
        // may have fetched the copy meanwhile.
        let _one = r.downloading.begin(location);
        if cached() {
            return Ok(Some(path));
        }
        // Streamed to the file, never whole in memory.
        let (store, prefix, root) = (r.store.clone(), r.prefix.clone(), self.root.clone());
        let loc = location.to_string();
        match r.run(async move { copy::fetch(&store, &prefix, &loc, &root).await })? {
            Some(n) => {
                r.cache.used(location, n);
                Ok(Some(path))
            }
            None => Ok(None),
        }
    }

    /// An object's bytes (`None` when there is none): its local file when
    /// there is one (written before the store's copy, so never older),
    /// else the store's.
    pub fn get(&self, location: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.local_path(location);
        match std::fs::read(&path) {
            Ok(b) => return Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(&path, e)),
        }
        let Some(r) = self.reader() else {
            return Ok(None);
        };
        let store = r.store.clone();
        let loc = remote::key(&r.prefix, location);
        let got = r.run(async move {
            match store.get(&loc).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| store_error("cannot read", location, e))
    }

    /// Writes a small object durably (the manifest): the local file, and
    /// (queued) the object when the store is not the data dir. Each
    /// version is uploaded as it was written, in order with the objects
    /// published before it.
    pub fn put(&self, location: &str, bytes: &[u8]) -> Result<(), StorageError> {
        crate::part::write_file_durably(&self.local_path(location), bytes)?;
        if let Some(r) = &self.remote {
            r.uploads
                .upload_bytes(location, bytes::Bytes::copy_from_slice(bytes));
        }
        Ok(())
    }

    /// Deletes an object from the store, after the writes queued before
    /// (the local file is the caller's: large local files are deleted
    /// gradually, see `crate::slow_delete`). A missing object is not an
    /// error.
    pub fn delete_object(&self, location: &str) -> Result<(), StorageError> {
        if let Some(r) = &self.remote {
            r.cache.forget(location);
            r.uploads.delete(location);
        }
        Ok(())
    }

    /// Queues, ahead of everything else, the work of a start: `locations`
    /// (objects the engine has, with or without a local file) are
    /// compared with the store, local files the store lacks or holds at
    /// another size are uploaded (a stop left them queued), and objects
    /// under `prefixes` that `locations` does not name are deleted
    /// (orphans of a crash between an upload and the manifest).
    pub fn reconcile(&self, locations: Vec<String>, prefixes: Vec<String>) {
        if let Some(r) = &self.remote {
            r.uploads.reconcile(locations, prefixes);
        }
    }

    /// The upload queue's counters (`None` when the data dir is the store).
    pub fn object_store_stats(&self) -> Option<ObjectStoreStats> {
        self.remote.as_ref().map(|r| {
            let (cached_bytes, evicted) = r.cache.usage();
            ObjectStoreStats {
                store: r.url.clone(),
                cached_bytes,
                cache_limit: r.cache.limit(),
                evicted,
                ..r.uploads.stats()
            }
        })
    }

    /// Waits until every queued write is done in the store, at most
    /// `timeout`; whether it is.
    pub fn settle(&self, timeout: std::time::Duration) -> bool {
        self.remote
            .as_ref()
            .is_none_or(|r| r.uploads.settle(timeout, false))
    }

    /// Waits, at most `timeout`, until every queued write is done or one
    /// fails (a stop: what is left is uploaded at the next start).
    pub fn settle_for_stop(&self, timeout: std::time::Duration) {
        if let Some(r) = &self.remote {
            if !r.uploads.settle(timeout, true) {
                let left = r.uploads.stats().pending;
                tracing::warn!(left, "object store writes left for the next start");
            }
        }
    }

    /// Every object under `prefix` (a directory of locations) in the
    /// store, with its size, sorted by location: the data dir's files when
    /// it is the store.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let mut out = match self.reader() {
            Some(r) => r.run(list(r.store.clone(), r.prefix.clone(), prefix.to_string())),
            None => futures::executor::block_on(list(
                self.local_store.clone(),
                String::new(),
                prefix.to_string(),
            )),
        }?;
        out.sort();
        Ok(out)
    }
}

/// Every object under `prefix` (locations under the store's key prefix
/// `root`), with its size.
async fn list(
    store: Arc<dyn ObjectStore>,
    root: String,
    prefix: String,
) -> Result<Vec<(String, u64)>, StorageError> {
    let under = match prefix.is_empty() {
        true => (!root.is_empty()).then(|| Location::from(root.as_str())),
        false => Some(remote::key(&root, &prefix)),
    };
    let mut s = store.list(under.as_ref());
    let mut out = Vec::new();
    while let Some(meta) = s.next().await {
        let meta = meta.map_err(|e| store_error("cannot list", &prefix, e))?;
        if let Some(location) = remote::location_of(&root, meta.location.as_ref()) {
            out.push((location, meta.size));
        }
    }
    Ok(out)
}

/// The locations being downloaded, and a signal when one is done.
#[derive(Debug, Default)]
struct Downloads {
    active: parking_lot::Mutex<std::collections::HashSet<String>>,
    done: parking_lot::Condvar,
}

/// One location's download, ended when dropped.
struct Downloading<'a> {
    of: &'a Downloads,
    location: String,
}

impl Downloads {
    /// Waits until no one downloads `location`, then takes its turn.
    fn begin(&self, location: &str) -> Downloading<'_> {
        let mut active = self.active.lock();
        while active.contains(location) {
            self.done.wait(&mut active);
        }
        active.insert(location.to_string());
        Downloading {
            of: self,
            location: location.to_string(),
        }
    }
}

impl Drop for Downloading<'_> {
    fn drop(&mut self) {
        self.of.active.lock().remove(&self.location);
        self.of.done.notify_all();
    }
}

impl Remote {
    /// Drives a request to the store to completion on this thread.
    fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        remote::run(self.io.as_ref().map(|r| r.handle()), f)
    }
}

#[cfg(test)]
mod tests;
