//! The write queue of an object store behind the data dir: uploads and
//! deletes carried out in the order they were queued, by one thread, and
//! retried with backoff (0.2 s doubling to 30 s) while the store cannot be
//! reached, so that ingest and flushes never wait on the network.
//!
//! Order is what keeps the store consistent: a part and the blob packs
//! its rows point into are queued before the manifest version that names
//! the part, and a retired part's delete after the manifest that no
//! longer names it. So the store's manifest only ever names objects the
//! store has, whoever reads it.
//!
//! - A file is read when its turn comes (its newest bytes): publishing a
//!   file that is already waiting (a blob pack that grew) queues nothing
//!   more. A file gone by then (a part compacted away) is skipped.
//! - Bytes (the manifest) are uploaded as they were queued; a version with
//!   a newer one of the same location behind it is skipped (the store
//!   keeps an older consistent view until the newer one's turn).
//! - Files above 8 MiB go up as multipart uploads of 8 MiB parts, one at
//!   a time (so the queue holds at most ~16 MiB).
//! - The queue lives in memory. What a stop or crash leaves in it is found
//!   again at the next start by [`Uploads::reconcile`], which compares the
//!   engine's objects with the store's listing.
//!
//! On drop the queue is drained while the store answers; the first
//! failure ends it (the next start reconciles the rest).

use super::cache::Cache;
use object_store::path::Path as Location;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest file sent in one request; larger ones go in parts this large.
const CHUNK: usize = 8 << 20;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The object store's side of the engine: what the queue has done and has
/// left, and the local cache (`/api/v1/stats`, `/readyz`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectStoreStats {
    /// The object store (its URL).
    pub store: String,
    /// Writes (uploads and deletes) queued and not yet done.
    pub pending: usize,
    /// How long the oldest of them has waited, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_pending_secs: Option<f64>,
    /// Objects uploaded since the start, and their bytes.
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    /// Objects deleted since the start.
    pub deleted: u64,
    /// Attempts that failed since the start (each is retried).
    pub failed_attempts: u64,
    /// Why the queue is not moving, while it is not (cleared by the next
    /// write that succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bytes of the local copies of parts, the cap on them
    /// (`TAEL_CACHE_BYTES`, absent: none), and copies evicted since the
    /// start (see [`super::cache`]).
    pub cached_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_limit: Option<u64>,
    pub evicted: u64,
}

#[derive(Debug, Clone)]
enum Op {
    /// Upload the local file of a location.
    File(String),
    /// Upload these bytes to a location.
    Bytes(String, bytes::Bytes),
    Delete(String),
    /// Compare the engine's objects with the store (see [`Uploads::reconcile`]).
    Reconcile {
        locations: Arc<Vec<String>>,
        prefixes: Arc<Vec<String>>,
    },
}

#[derive(Debug)]
struct Queued {
    op: Op,
    since: Instant,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Queued>,
    /// Whether the front of the queue is being carried out (nothing may
    /// be put before it then).
    busy: bool,
    stopping: bool,
    uploaded: u64,
    uploaded_bytes: u64,
    deleted: u64,
    failed_attempts: u64,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when work is queued, done, or the queue is stopping.
    changed: Condvar,
}

/// The queue and its thread.
#[derive(Debug)]
pub struct Uploads {
    shared: Arc<Shared>,
    root: PathBuf,
    cache: Arc<Cache>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What one write did.
enum Done {
    Uploaded(u64),
    Deleted,
    /// Nothing to do (a file gone, a manifest version superseded).
    Skipped,
    /// A reconcile: the writes it found, to run next.
    Found(Vec<Op>),
}

struct Worker {
    shared: Arc<Shared>,
    store: Arc<dyn ObjectStore>,
    /// The key prefix of the node's objects.
    prefix: String,
    root: PathBuf,
    cache: Arc<Cache>,
    io: Option<tokio::runtime::Handle>,
}

impl Uploads {
    /// Starts the queue's thread; `io` runs a network store's requests.
    /// Uploaded copies under `root` may be evicted from `cache`.
    pub fn start(
        store: Arc<dyn ObjectStore>,
        prefix: String,
        root: PathBuf,
        cache: Arc<Cache>,
        io: Option<tokio::runtime::Handle>,
    ) -> Result<Uploads, crate::error::StorageError> {
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            shared: shared.clone(),
            store,
            prefix,
            root: root.clone(),
            cache: cache.clone(),
            io,
        };
        let thread = std::thread::Builder::new()
            .name("tael-uploads".into())
            .spawn(move || worker.work())
            .map_err(|e| crate::error::StorageError::Internal(format!("upload thread: {e}")))?;
        Ok(Uploads {
            shared,
            root,
            cache,
            thread: Some(thread),
        })
    }

    fn push(&self, op: Op) {
        let mut st = self.shared.state.lock();
        st.queue.push_back(Queued {
            op,
            since: Instant::now(),
        });
        self.shared.changed.notify_all();
    }

    /// Queues the upload of a location's local file, unless it is already
    /// waiting (and not in progress: that one may have read it already);
    /// the file is a cached copy from now on.
    pub fn upload_file(&self, location: &str) {
        let mut st = self.shared.state.lock();
        // Under the queue's lock: an eviction sees the copy and its
        // pending upload together.
        if let Ok(meta) = std::fs::metadata(self.root.join(location)) {
            self.cache.used(location, meta.len());
        }
        let waiting = st
            .queue
            .iter()
            .skip(usize::from(st.busy))
            .any(|q| matches!(&q.op, Op::File(l) if l == location));
        if !waiting {
            st.queue.push_back(Queued {
                op: Op::File(location.to_string()),
                since: Instant::now(),
            });
            self.shared.changed.notify_all();
        }
    }

    /// Evicts cached copies beyond the cap (see [`Cache::evict`]).
    pub fn evict(&self) {
        let st = self.shared.state.lock();
        evict(&st, &self.cache, &self.root);
    }

    /// Queues the upload of `bytes` to `location`.
    pub fn upload_bytes(&self, location: &str, bytes: bytes::Bytes) {
        self.push(Op::Bytes(location.to_string(), bytes));
    }

    /// Queues the delete of `location`.
    pub fn delete(&self, location: &str) {
        self.push(Op::Delete(location.to_string()));
    }

    /// Queues, ahead of everything, a comparison of the store with the
    /// engine's objects: each of `locations` whose local file the store
    /// lacks, or holds at another size, is uploaded; objects under
    /// `prefixes` that `locations` does not name are deleted.
    pub fn reconcile(&self, locations: Vec<String>, prefixes: Vec<String>) {
        let mut st = self.shared.state.lock();
        let at = usize::from(st.busy).min(st.queue.len());
        st.queue.insert(
            at,
            Queued {
                op: Op::Reconcile {
                    locations: Arc::new(locations),
                    prefixes: Arc::new(prefixes),
                },
                since: Instant::now(),
            },
        );
        self.shared.changed.notify_all();
    }

    pub fn stats(&self) -> ObjectStoreStats {
        let st = self.shared.state.lock();
        ObjectStoreStats {
            store: String::new(),
            pending: st.queue.len(),
            oldest_pending_secs: st.queue.front().map(|q| q.since.elapsed().as_secs_f64()),
            uploaded: st.uploaded,
            uploaded_bytes: st.uploaded_bytes,
            deleted: st.deleted,
            failed_attempts: st.failed_attempts,
            error: st.error.clone(),
            ..Default::default()
        }
    }

    /// Waits until the queue is empty, at most `timeout`; whether it is.
    /// With `while_moving`, also stops waiting at the first failure.
    pub fn settle(&self, timeout: Duration, while_moving: bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock();
        let done = |st: &State| st.queue.is_empty() || (while_moving && st.error.is_some());
        while !done(&st) {
            if self
                .shared
                .changed
                .wait_until(&mut st, deadline)
                .timed_out()
            {
                break;
            }
        }
        st.queue.is_empty()
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        self.shared.state.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    fn work(self) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let op = {
                let mut st = self.shared.state.lock();
                loop {
                    match st.queue.front() {
                        Some(q) => {
                            let op = q.op.clone();
                            st.busy = true;
                            break op;
                        }
                        None if st.stopping => return,
                        None => self.shared.changed.wait(&mut st),
                    }
                }
            };
            let res = self.execute(&op);
            let mut st = self.shared.state.lock();
            st.busy = false;
            match res {
                Ok(done) => {
                    st.queue.pop_front();
                    match done {
                        Done::Uploaded(n) => {
                            st.uploaded += 1;
                            st.uploaded_bytes += n;
                            if matches!(op, Op::File(_)) {
                                evict(&st, &self.cache, &self.root);
                            }
                        }
                        Done::Deleted => st.deleted += 1,
                        Done::Skipped => {}
                        Done::Found(ops) => {
                            let since = Instant::now();
                            for op in ops.into_iter().rev() {
                                st.queue.push_front(Queued { op, since });
                            }
                        }
                    }
                    if st.error.take().is_some() {
                        tracing::warn!("object store writes succeed again");
                    }
                    backoff = FIRST_BACKOFF;
                    self.shared.changed.notify_all();
                }
                Err(why) => {
                    st.failed_attempts += 1;
                    if st.error.is_none() {
                        tracing::warn!(error = %why, "object store write failed; retrying with backoff");
                    }
                    st.error = Some(why);
                    if st.stopping {
                        tracing::warn!(
                            pending = st.queue.len(),
                            "stopping with object store writes left; the next start uploads them"
                        );
                        return;
                    }
                    let deadline = Instant::now() + backoff;
                    while !st.stopping
                        && !self
                            .shared
                            .changed
                            .wait_until(&mut st, deadline)
                            .timed_out()
                    {}
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn execute(&self, op: &Op) -> Result<Done, String> {
        let store = self.store.clone();
        match op {
            Op::File(location) => {
                let loc = super::remote::key(&self.prefix, location);
                let path = self.root.join(location);
                let n = self.run(upload_file(store, loc, path))?;
                Ok(n.map_or(Done::Skipped, Done::Uploaded))
            }
            Op::Bytes(location, bytes) => {
                let superseded = self
                    .shared
                    .state
                    .lock()
                    .queue
                    .iter()
                    .skip(1)
                    .any(|q| matches!(&q.op, Op::Bytes(l, _) if l == location));
                if superseded {
                    return Ok(Done::Skipped);
                }
                let n = bytes.len() as u64;
                let loc = super::remote::key(&self.prefix, location);
                let payload = PutPayload::from(bytes.clone());
                self.run(async move { store.put(&loc, payload).await.map(|_| ()) })
                    .map_err(|e| format!("cannot upload {location}: {e}"))?;
                Ok(Done::Uploaded(n))
            }
            Op::Delete(location) => {
                let loc = super::remote::key(&self.prefix, location);
                match self.run(async move { store.delete(&loc).await }) {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(Done::Deleted),
                    Err(e) => Err(format!("cannot delete {location}: {e}")),
                }
            }
            Op::Reconcile {
                locations,
                prefixes,
            } => {
                let listed: HashMap<String, u64> = self
                    .run(super::list(store, self.prefix.clone(), String::new()))
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .collect();
                Ok(Done::Found(self.differences(&listed, locations, prefixes)))
            }
        }
    }

    /// The writes that bring the store in line with the engine's objects.
    fn differences(
        &self,
        listed: &HashMap<String, u64>,
        locations: &[String],
        prefixes: &[String],
    ) -> Vec<Op> {
        let mut ops = Vec::new();
        for location in locations {
            let Ok(meta) = std::fs::metadata(self.root.join(location)) else {
                continue;
            };
            if listed.get(location) != Some(&meta.len()) {
                ops.push(Op::File(location.clone()));
            }
        }
        let named: HashSet<&str> = locations.iter().map(String::as_str).collect();
        let mut orphans: Vec<&String> = listed
            .keys()
            .filter(|l| {
                prefixes.iter().any(|p| {
                    l.strip_prefix(p.as_str())
                        .is_some_and(|r| r.starts_with('/'))
                }) && !named.contains(l.as_str())
            })
            .collect();
        orphans.sort();
        for l in orphans {
            tracing::info!(location = %l, "removing orphan object");
            ops.push(Op::Delete(l.clone()));
        }
        ops
    }

    fn run<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        super::remote::run(self.io.clone(), f)
    }
}

/// Evicts cached copies while the cap is exceeded, of those the store has:
/// none while a reconcile is queued (the store's contents are not known
/// yet), and none whose upload is queued. Called with the queue locked.
fn evict(st: &State, cache: &Cache, root: &std::path::Path) {
    // Checked first: every read of a part comes here.
    if !cache.over_limit() {
        return;
    }
    if st
        .queue
        .iter()
        .any(|q| matches!(q.op, Op::Reconcile { .. }))
    {
        return;
    }
    let pending: HashSet<&str> = st
        .queue
        .iter()
        .filter_map(|q| match &q.op {
            Op::File(l) => Some(l.as_str()),
            _ => None,
        })
        .collect();
    cache.evict(root, |l| !pending.contains(l));
}

/// Uploads the file at `path` to `loc`; `None` when there is no file.
async fn upload_file(
    store: Arc<dyn ObjectStore>,
    loc: Location,
    path: PathBuf,
) -> Result<Option<u64>, String> {
    let what = || format!("cannot upload {loc}");
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {}: {e}", what(), path.display())),
    };
    let mut buf = vec![0u8; CHUNK];
    let first = read_full(&mut file, &mut buf).map_err(|e| format!("{}: {e}", what()))?;
    if first < CHUNK {
        buf.truncate(first);
        store
            .put(&loc, PutPayload::from(buf))
            .await
            .map_err(|e| format!("{}: {e}", what()))?;
        return Ok(Some(first as u64));
    }
    let upload = store
        .put_multipart(&loc)
        .await
        .map_err(|e| format!("{}: {e}", what()))?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, CHUNK);
    let mut total = 0u64;
    let mut got = first;
    let res: Result<(), String> = async {
        while got > 0 {
            w.wait_for_capacity(1)
                .await
                .map_err(|e| format!("{}: {e}", what()))?;
            w.write(&buf[..got]);
            total += got as u64;
            got = read_full(&mut file, &mut buf).map_err(|e| format!("{}: {e}", what()))?;
        }
        Ok(())
    }
    .await;
    match res {
        Ok(()) => {
            w.finish().await.map_err(|e| format!("{}: {e}", what()))?;
            Ok(Some(total))
        }
        Err(e) => {
            let _ = w.abort().await;
            Err(e)
        }
    }
}

/// Reads until `buf` is full or the file ends; the bytes read.
fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match file.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}
