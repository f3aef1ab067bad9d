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
//!
//! # Replicas
//!
//! The replicas of a shard share one key prefix, and only the leader
//! writes there ([`Uploads::lead`]); a standby queues nothing
//! ([`Uploads::follow`]). Each replica flushes on its own schedule, so two
//! replicas' parts and blob packs differ under the same names: a leader
//! of epoch E therefore writes its objects under `epoch-<E>/` and names
//! that epoch in the manifest, the one object at the prefix itself
//! (`MANIFEST.json`, with `"epoch": E`). The manifest is written with a
//! conditional put: the store's copy is read, a copy of a newer epoch is
//! never overwritten (this leader is deposed: it stops writing), and the
//! put succeeds only if the copy is still the one read (its ETag; a
//! first manifest only if there is none). Once a leader's first manifest
//! is in place, the objects of earlier epochs are deleted (a later one's
//! are a newer leader's), and again every 100 manifests (what a deposed
//! leader wrote under its old epoch before it noticed). A change of
//! leadership starts a new generation of the queue: a write queued before
//! it is dropped whatever its result. A new leader uploads its whole copy
//! under its epoch before its manifest replaces the old leader's, so the
//! store always holds one whole, consistent copy.

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
    /// A replica's side: the epoch it writes the store at while it leads
    /// (absent on a standby), and the WAL sequence number the store's
    /// manifest covers (see [`Uploads::wal_hold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaUploads>,
}

/// A replica's writes to the store (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicaUploads {
    /// Whether this replica leads and so writes the store.
    pub leading: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// `flushed_seq` of the last manifest this leader stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_flushed_seq: Option<u64>,
}

/// How many manifests a leader stores between two deletes of earlier
/// epochs' objects (each lists the shard's prefix).
const DROP_EVERY: u32 = 100;

/// The manifest's location (the one object a replicated shard keeps at its
/// prefix, outside any epoch).
const MANIFEST: &str = "MANIFEST.json";

/// The key prefix of a leader's objects at `epoch` under `base`.
pub fn epoch_prefix(base: &str, epoch: u64) -> String {
    match base.is_empty() {
        true => format!("epoch-{epoch}"),
        false => format!("{base}/epoch-{epoch}"),
    }
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
    /// `None` on a single node (every write is queued).
    replica: Option<Leading>,
    /// Changes when a replica starts or stops leading: a write queued
    /// under another generation (the one being carried out then) is
    /// dropped, whatever its result, and never retried.
    generation: u64,
    /// The newest files a replica published while it did not write the
    /// store, or whose uploads a change of leadership dropped (at most
    /// [`DROPPED_KEPT`]): a commit after the change queues them again
    /// ([`Uploads::republish`]).
    dropped: VecDeque<String>,
}

/// Files remembered in [`State::dropped`] (a flush or compaction
/// publishes a handful before it commits).
const DROPPED_KEPT: usize = 256;

/// Where a write goes, fixed when it is taken from the queue.
#[derive(Debug, Clone)]
struct Target {
    prefix: String,
    /// A leading replica's epoch and [`Leading::since_drop`] (`None` on a
    /// single node).
    leader: Option<(u64, Option<u32>)>,
}

/// A replica's leadership, as far as the store is concerned.
#[derive(Debug, Default, Clone)]
struct Leading {
    /// The epoch this replica leads at; `None` while it does not.
    epoch: Option<u64>,
    /// Manifests stored since the objects of earlier epochs were last
    /// deleted (`None`: not yet in this leadership). They are deleted
    /// after the first manifest, and again every [`DROP_EVERY`] manifests
    /// (for what a deposed leader still wrote under its epoch).
    since_drop: Option<u32>,
    stored_flushed_seq: Option<u64>,
}

impl State {
    /// Whether writes are queued (a standby queues none).
    fn writing(&self) -> bool {
        self.replica.as_ref().is_none_or(|r| r.epoch.is_some())
    }

    /// Drops what is queued, but the write being carried out (dropped
    /// when it ends: a new generation begins).
    fn clear(&mut self) {
        let keep = usize::from(self.busy).min(self.queue.len());
        let gone: Vec<String> = self
            .queue
            .drain(keep..)
            .filter_map(|q| match q.op {
                Op::File(l) => Some(l),
                _ => None,
            })
            .collect();
        for l in gone {
            self.remember_dropped(l);
        }
        self.generation += 1;
        self.error = None;
    }

    fn remember_dropped(&mut self, location: String) {
        if !self.dropped.contains(&location) {
            self.dropped.push_back(location);
            if self.dropped.len() > DROPPED_KEPT {
                self.dropped.pop_front();
            }
        }
    }

    /// The key prefix writes go to now: the node's prefix, or a leading
    /// replica's epoch under it (`None`: a replica that does not lead).
    fn target(&self, prefix: &str) -> Option<Target> {
        match &self.replica {
            None => Some(Target {
                prefix: prefix.to_string(),
                leader: None,
            }),
            Some(r) => r.epoch.map(|e| Target {
                prefix: epoch_prefix(prefix, e),
                leader: Some((e, r.since_drop)),
            }),
        }
    }

    /// Counts what a write did (uploads, bytes, deletes).
    fn count(&mut self, done: &Done) {
        match done {
            Done::Uploaded(n) => {
                self.uploaded += 1;
                self.uploaded_bytes += n;
            }
            Done::Manifest { bytes, deleted, .. } => {
                self.uploaded += 1;
                self.uploaded_bytes += bytes;
                self.deleted += deleted;
            }
            Done::Deleted => self.deleted += 1,
            Done::Skipped | Done::Found(_) | Done::Deposed(_) => {}
        }
    }
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
    /// A leader's manifest stored: its bytes, its `flushed_seq`, and the
    /// objects of earlier epochs deleted with it.
    Manifest {
        bytes: u64,
        flushed_seq: u64,
        deleted: u64,
    },
    /// The store's manifest is of a newer epoch: this leader is deposed.
    Deposed(u64),
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
    /// Uploaded copies under `root` may be evicted from `cache`. A
    /// `replica` queues nothing until it leads (see the module docs).
    pub fn start(
        store: Arc<dyn ObjectStore>,
        prefix: String,
        root: PathBuf,
        cache: Arc<Cache>,
        io: Option<tokio::runtime::Handle>,
        replica: bool,
    ) -> Result<Uploads, crate::error::StorageError> {
        let shared = Arc::new(Shared::default());
        if replica {
            shared.state.lock().replica = Some(Leading::default());
        }
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
        if !st.writing() {
            return;
        }
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
        if !st.writing() {
            st.remember_dropped(location.to_string());
            return;
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
        if !st.writing() {
            return;
        }
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

    /// A replica leads at `epoch` from now on: what was queued is dropped
    /// and the whole copy is queued first (a reconcile of `locations`
    /// under `prefixes`, see [`Uploads::reconcile`]); the caller queues
    /// the manifest next.
    pub fn lead(&self, epoch: u64, locations: Vec<String>, prefixes: Vec<String>) {
        let mut st = self.shared.state.lock();
        st.clear();
        st.replica = Some(Leading {
            epoch: Some(epoch),
            ..Leading::default()
        });
        st.queue.push_back(Queued {
            op: Op::Reconcile {
                locations: Arc::new(locations),
                prefixes: Arc::new(prefixes),
            },
            since: Instant::now(),
        });
        self.shared.changed.notify_all();
    }

    /// Queues the uploads of those of `locations` that were published
    /// while the replica did not write the store (a commit's parts, when a
    /// change of leadership came between their publish and the commit).
    pub fn republish(&self, locations: &[String]) {
        let again: Vec<String> = {
            let mut st = self.shared.state.lock();
            if !st.writing() {
                return;
            }
            let found: Vec<String> = locations
                .iter()
                .filter(|l| st.dropped.contains(l))
                .cloned()
                .collect();
            st.dropped.retain(|l| !found.contains(l));
            found
        };
        for l in again {
            self.upload_file(&l);
        }
    }

    /// A replica does not lead (any more): nothing is queued from now on.
    pub fn follow(&self) {
        let mut st = self.shared.state.lock();
        st.clear();
        st.replica = Some(Leading::default());
        self.shared.changed.notify_all();
    }

    /// On a leading replica whose writes to the store succeed, the first
    /// WAL sequence number the store's manifest does not cover: the WAL is
    /// kept from there on, so that a replica filled from the store finds
    /// the rest in its leader's WAL.
    pub fn wal_hold(&self) -> Option<u64> {
        let st = self.shared.state.lock();
        let r = st.replica.as_ref()?;
        r.epoch?;
        // Not while the store cannot be written: the WAL would grow
        // without bound (a replica is then filled from its leader's copy).
        if st.error.is_some() {
            return None;
        }
        Some(r.stored_flushed_seq.unwrap_or(0) + 1)
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
            replica: st.replica.as_ref().map(|r| ReplicaUploads {
                leading: r.epoch.is_some(),
                epoch: r.epoch,
                stored_flushed_seq: r.stored_flushed_seq,
            }),
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
            let (op, generation, target) = {
                let mut st = self.shared.state.lock();
                loop {
                    match st.queue.front() {
                        Some(q) => {
                            let op = q.op.clone();
                            st.busy = true;
                            break (op, st.generation, st.target(&self.prefix));
                        }
                        None if st.stopping => return,
                        None => self.shared.changed.wait(&mut st),
                    }
                }
            };
            let res = match target {
                Some(t) => self.execute(&op, t),
                None => Ok(Done::Skipped),
            };
            let mut st = self.shared.state.lock();
            st.busy = false;
            if st.generation != generation {
                // Queued before a change of leadership: its result is of
                // no use to the new one (the queue was cleared but for it);
                // what it did still counts.
                st.queue.pop_front();
                match &res {
                    Ok(done) => st.count(done),
                    Err(_) => st.failed_attempts += 1,
                }
                self.shared.changed.notify_all();
                continue;
            }
            match res {
                Ok(done) => {
                    st.queue.pop_front();
                    st.count(&done);
                    match done {
                        Done::Uploaded(_) => {
                            if matches!(op, Op::File(_)) {
                                evict(&st, &self.cache, &self.root);
                            }
                        }
                        Done::Deleted | Done::Skipped => {}
                        Done::Found(ops) => {
                            let since = Instant::now();
                            for op in ops.into_iter().rev() {
                                st.queue.push_front(Queued { op, since });
                            }
                        }
                        Done::Manifest { flushed_seq, .. } => {
                            if let Some(r) = st.replica.as_mut() {
                                r.stored_flushed_seq = Some(flushed_seq);
                                r.since_drop = match r.since_drop {
                                    Some(n) if n < DROP_EVERY => Some(n + 1),
                                    _ => Some(1),
                                };
                            }
                        }
                        Done::Deposed(newer) => {
                            tracing::warn!(
                                newer,
                                "the object store's manifest is of a newer leader: this replica writes no more there"
                            );
                            st.clear();
                            st.replica = Some(Leading::default());
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
                    // A change of leadership ends the wait: the new
                    // generation's writes go first.
                    let deadline = Instant::now() + backoff;
                    while !st.stopping
                        && st.generation == generation
                        && !self
                            .shared
                            .changed
                            .wait_until(&mut st, deadline)
                            .timed_out()
                    {}
                    backoff = match st.generation == generation {
                        true => (backoff * 2).min(MAX_BACKOFF),
                        false => FIRST_BACKOFF,
                    };
                }
            }
        }
    }

    /// Whether a newer version of the bytes of `location` waits behind the
    /// front of the queue.
    fn superseded(&self, location: &str) -> bool {
        self.shared
            .state
            .lock()
            .queue
            .iter()
            .skip(1)
            .any(|q| matches!(&q.op, Op::Bytes(l, _) if l == location))
    }

    /// A leader's manifest (at `epoch`, `since_drop` manifests after the
    /// last sweep of earlier epochs): written by a conditional put unless
    /// a newer one is stored, then the sweep when it is due.
    fn store_manifest(
        &self,
        bytes: &bytes::Bytes,
        (epoch, since_drop): (u64, Option<u32>),
    ) -> Result<Done, String> {
        if self.superseded(MANIFEST) {
            return Ok(Done::Skipped);
        }
        let store = self.store.clone();
        let (body, flushed_seq) = manifest_of_epoch(bytes, epoch)?;
        let n = body.len() as u64;
        let key = super::remote::key(&self.prefix, MANIFEST);
        if let Some(newer) = self.run(put_manifest(store.clone(), key, body, epoch))? {
            return Ok(Done::Deposed(newer));
        }
        let deleted = match since_drop {
            Some(k) if k < DROP_EVERY => 0,
            _ => self.run(drop_earlier_epochs(store, self.prefix.clone(), epoch))?,
        };
        Ok(Done::Manifest {
            bytes: n,
            flushed_seq,
            deleted,
        })
    }

    fn execute(&self, op: &Op, target: Target) -> Result<Done, String> {
        let store = self.store.clone();
        let Target { prefix, leader } = target;
        match op {
            Op::File(location) => {
                let loc = super::remote::key(&prefix, location);
                let path = self.root.join(location);
                let n = self.run(upload_file(store, loc, path))?;
                Ok(n.map_or(Done::Skipped, Done::Uploaded))
            }
            Op::Bytes(location, bytes) => {
                if let (Some(leader), true) = (leader, location == MANIFEST) {
                    return self.store_manifest(bytes, leader);
                }
                if self.superseded(location) {
                    return Ok(Done::Skipped);
                }
                let n = bytes.len() as u64;
                let loc = super::remote::key(&prefix, location);
                let payload = PutPayload::from(bytes.clone());
                self.run(async move { store.put(&loc, payload).await.map(|_| ()) })
                    .map_err(|e| format!("cannot upload {location}: {e}"))?;
                Ok(Done::Uploaded(n))
            }
            Op::Delete(location) => {
                let loc = super::remote::key(&prefix, location);
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
                    .run(super::list(store, prefix, String::new()))
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

/// A leader's manifest as the store keeps it: the engine's JSON with
/// `"epoch"` set; and its `flushed_seq`.
fn manifest_of_epoch(bytes: &bytes::Bytes, epoch: u64) -> Result<(Vec<u8>, u64), String> {
    let bad = |e: serde_json::Error| format!("the manifest to upload is not JSON: {e}");
    let mut m: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(bad)?;
    let flushed_seq = m
        .get("flushed_seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    m.insert("epoch".into(), epoch.into());
    Ok((serde_json::to_vec(&m).map_err(bad)?, flushed_seq))
}

/// The epoch a stored manifest names (0: none, a single node's).
pub fn epoch_of_manifest(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("epoch").and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

/// Writes a leader's manifest at `key` unless the store's copy is of a
/// newer epoch (then `Some(that epoch)`): a conditional put on the copy
/// read (its ETag and version), or on there being none. A store that has
/// no conditional put (a local directory) gets a plain put after the
/// check.
async fn put_manifest(
    store: Arc<dyn ObjectStore>,
    key: Location,
    body: Vec<u8>,
    epoch: u64,
) -> Result<Option<u64>, String> {
    use object_store::{PutMode, PutOptions, UpdateVersion};
    let what = |e: object_store::Error| format!("cannot write the manifest: {e}");
    let mode = match store.get(&key).await {
        Ok(got) => {
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            let theirs = epoch_of_manifest(&got.bytes().await.map_err(what)?);
            if theirs > epoch {
                return Ok(Some(theirs));
            }
            PutMode::Update(version)
        }
        Err(object_store::Error::NotFound { .. }) => PutMode::Create,
        Err(e) => return Err(what(e)),
    };
    let payload = PutPayload::from(body);
    let opts = PutOptions {
        mode,
        ..PutOptions::default()
    };
    match store.put_opts(&key, payload.clone(), opts).await {
        Ok(_) => Ok(None),
        Err(
            e @ (object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. }),
        ) => Err(format!(
            "the store's manifest changed while it was written (retried): {e}"
        )),
        Err(object_store::Error::NotImplemented { .. }) => {
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    "this object store has no conditional put: the manifest is checked, then written (a deposed leader could race a new one); use S3, GCS or Azure for replicas"
                );
            }
            store.put(&key, payload).await.map_err(what)?;
            Ok(None)
        }
        Err(e) => Err(what(e)),
    }
}

/// Deletes the objects under `base` of epochs before `epoch` (the copies
/// of earlier leaders) and any others outside an epoch but the manifest;
/// a later epoch's are kept (a newer leader may be uploading them). How
/// many.
async fn drop_earlier_epochs(
    store: Arc<dyn ObjectStore>,
    base: String,
    epoch: u64,
) -> Result<u64, String> {
    // Only a failed listing fails the sweep (and the manifest's write,
    // retried); a failed delete is logged and left for the next sweep.
    let listed = super::list(store.clone(), base.clone(), String::new())
        .await
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    for (location, _) in listed {
        let of_epoch = location
            .split('/')
            .next()
            .and_then(|first| first.strip_prefix("epoch-"))
            .and_then(|e| e.parse::<u64>().ok());
        if location == MANIFEST || of_epoch.is_some_and(|e| e >= epoch) {
            continue;
        }
        match store.delete(&super::remote::key(&base, &location)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => n += 1,
            // Garbage left: the next sweep tries again; the manifest stands.
            Err(e) => {
                tracing::warn!(location = %location, error = %e, "cannot delete an earlier leader's object");
            }
        }
    }
    if n > 0 {
        tracing::info!(deleted = n, "removed the objects of earlier leaders");
    }
    Ok(n)
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
