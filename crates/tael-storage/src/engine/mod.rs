//! The storage engine: one writer per data dir. Ingest appends the request
//! to the WAL and applies it to the memtable in sequence order, returning
//! only after the fsync (durable before ack). A maintenance thread flushes
//! memtables to Parquet parts, compacts small parts, and enforces retention.
//!
//! Flush protocol: freeze the memtable together with a WAL seal (so the
//! frozen rows are exactly the records up to sequence S), write and fsync
//! the parts, record them and `flushed_seq = S` in the manifest, and only
//! then delete the WAL segments up to S. Replay skips records ≤ flushed_seq,
//! so a crash anywhere in between neither loses nor duplicates data.
//!
//! The full-text index (`crate::text`) is fed as rows are applied, and
//! committed before a flush lets the WAL go; days of stored rows without
//! an index are rebuilt from their parts by a background thread at open.

mod blob_gc;
mod maintenance;
mod snapshot;
pub use snapshot::{install_from_store, install_snapshot};
#[cfg(test)]
mod tests;
mod text_index;

use crate::blobs::BlobStore;
use crate::columnar;
use crate::comments::CommentStore;
use crate::error::StorageError;
use crate::manifest::{Manifest, PartMeta, Signal};
use crate::memtable::{Chunk, Memtable, Prepared, RecentKeys};
use crate::objects::{Backend, Objects};
use crate::part::{
    hour_of, part_location_of, part_rel_path, rollup_location, sort_key_names, write_file_durably,
    PartHandle, PartRef, PartWriter, ROW_GROUP_ROWS,
};
use crate::rollup::Rollup;
use crate::text::{TextDoc, TextIndex};
use crate::wal::{Record, Wal, WalCursor};
use arrow::array::RecordBatch;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tael_core::model::TraceComment;
use tael_core::otlp::MapLimits;

/// Engine settings, with their defaults in [`EngineConfig::new`] (the only
/// place they are written; `tael_server::ServerConfig` nests this struct
/// and fills it from flags, env and file).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    /// Where parts, blob packs and the manifest are kept (the data dir
    /// itself by default; see `crate::objects`).
    pub backend: Backend,
    /// With an object store: the cap on the local copies of parts
    /// (`crate::objects::cache`); none by default.
    pub cache_bytes: Option<u64>,
    /// Memtable size that triggers a flush.
    pub memtable_bytes: usize,
    /// The process's memory limit and its division (`crate::budget`):
    /// exports are refused before a part outgrows its share.
    pub memory: crate::budget::MemoryShares,
    /// Age of the oldest unflushed row that triggers a flush.
    pub flush_interval: Duration,
    pub wal_segment_bytes: u64,
    pub span_retention: Duration,
    pub log_retention: Duration,
    pub metric_retention: Duration,
    /// Total bytes of parts; the oldest hour partitions go first beyond it.
    pub max_disk_bytes: Option<u64>,
    /// Partitions with at least this many parts are compacted.
    pub compact_min_parts: usize,
    pub maintenance_interval: Duration,
    pub map_limits: MapLimits,
    /// How many recent item keys are remembered to drop re-deliveries.
    pub dedup_window: usize,
    /// LLM payloads and string log bodies of at least this many bytes go
    /// to the blob store (`crate::offload`).
    pub blob_min_bytes: usize,
    /// Blobs older than this are dropped even when referenced.
    pub payload_retention: Duration,
    /// Unreferenced blobs younger than this are kept (a payload is written
    /// before the span that refers to it is flushed).
    pub blob_grace: Duration,
    /// How often blob garbage collection runs.
    pub blob_gc_interval: Duration,
    /// The table LLM calls are priced with at ingest.
    pub prices: Arc<tael_core::llm::prices::PriceTable>,
    /// A replica drops its WAL records after this sequence number before
    /// replaying (records of an older leadership that a newer one
    /// numbered differently; see `tael_cluster::membership`).
    pub wal_keep_through: Option<u64>,
}

impl EngineConfig {
    pub fn new(data_dir: PathBuf, wal_dir: PathBuf) -> Self {
        let day = Duration::from_secs(86_400);
        let memory = crate::budget::MemoryShares::default();
        EngineConfig {
            data_dir,
            wal_dir,
            backend: Backend::DataDir,
            cache_bytes: None,
            memtable_bytes: memory.flush_bytes(),
            memory,
            flush_interval: Duration::from_secs(30),
            wal_segment_bytes: 64 << 20,
            span_retention: day * 30,
            log_retention: day * 30,
            metric_retention: day * 30,
            max_disk_bytes: None,
            compact_min_parts: 4,
            maintenance_interval: Duration::from_millis(250),
            map_limits: MapLimits::default(),
            dedup_window: 1 << 20,
            blob_min_bytes: 1024,
            payload_retention: day * 30,
            blob_grace: Duration::from_secs(3600),
            blob_gc_interval: Duration::from_secs(600),
            prices: Arc::new(tael_core::llm::prices::PriceTable::builtin()),
            wal_keep_through: None,
        }
    }
}

/// The WAL record kind of a trace comment (its `TraceComment` JSON);
/// exports use `Signal::wal_byte` (1 to 3).
pub const COMMENT_WAL_KIND: u8 = 4;

/// The comment of a [`COMMENT_WAL_KIND`] record.
fn comment_of(json: &[u8]) -> Result<TraceComment, String> {
    serde_json::from_slice(json).map_err(|e| format!("comment record: {e}"))
}

/// Called with the rows of each export once they are durable
/// ([`Engine::observe_ingest`]).
pub type IngestObserver = Arc<dyn Fn(Signal, &RecordBatch) + Send + Sync>;

/// What an ingest call did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    pub seq: u64,
    /// Items newly stored.
    pub stored: usize,
    /// Items dropped because the same item was already stored.
    pub duplicates: usize,
    /// Invalid items not stored (OTLP partial success) and why.
    pub rejected: u64,
    pub error_message: String,
}

struct State {
    active: Memtable,
    /// A memtable being flushed, and the WAL sequence it covers.
    frozen: Option<(Arc<Memtable>, u64)>,
    manifest: Manifest,
    parts: Arc<Vec<PartRef>>,
    rollups: HashMap<u64, Arc<Rollup>>,
    parts_rollup: Arc<Rollup>,
}

impl State {
    /// Bytes of the active and frozen memtables.
    fn memtable_bytes(&self) -> usize {
        self.active.bytes + self.frozen.as_ref().map_or(0, |f| f.0.bytes)
    }
}

/// A consistent view for queries: memtable chunks and parts.
#[derive(Clone)]
pub struct Snapshot {
    pub spans: Vec<Chunk>,
    pub logs: Vec<Chunk>,
    pub metrics: Vec<Chunk>,
    pub parts: Arc<Vec<PartRef>>,
}

impl Snapshot {
    pub fn chunks_of(&self, signal: Signal) -> &[Chunk] {
        match signal {
            Signal::Spans => &self.spans,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
        }
    }

    pub fn parts_of(&self, signal: Signal) -> impl Iterator<Item = &PartRef> {
        self.parts.iter().filter(move |p| p.meta.signal == signal)
    }
}

/// Counters for `/api/v1/stats` and benchmarks.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EngineStats {
    pub memtable_rows: usize,
    pub memtable_bytes: usize,
    pub parts: usize,
    pub part_bytes: u64,
    pub wal_bytes: u64,
    pub flushed_seq: u64,
    /// Distinct payload blobs and the bytes of their packs.
    pub blobs: u64,
    pub blob_bytes: u64,
    /// Uncompressed bytes of the distinct blobs.
    pub blob_raw_bytes: u64,
    pub text_index: crate::text::TextIndexStats,
    /// The memory budget ([`Engine::memory_stats`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<crate::budget::MemoryStats>,
    /// Why storage refuses writes or cannot flush (the disk is full, …);
    /// absent while it works.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The object store's write queue, when there is an object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_store: Option<crate::objects::ObjectStoreStats>,
}

pub struct Engine {
    cfg: EngineConfig,
    /// Parts, blob packs and the manifest.
    objects: Arc<Objects>,
    wal: Wal,
    state: RwLock<State>,
    recent: Mutex<RecentKeys>,
    /// What the parts of the memory budget hold.
    memory: crate::budget::MemoryGauges,
    /// Serialises flushes.
    flush_lock: Mutex<()>,
    /// Why the last background flush failed (cleared by one that works).
    flush_failure: Mutex<Option<String>>,
    /// Serialises compaction, retention and blob collection (which run
    /// beside flushes) and snapshots.
    compact_lock: Mutex<()>,
    /// Serializes manifest commits, so the manifest is stored and the
    /// rollups merged outside the state lock (ingest waits for neither).
    commit_lock: Mutex<()>,
    /// The next part id to hand out (parts are written before the manifest
    /// that names them, by flushes and compactions at the same time).
    next_part_id: std::sync::atomic::AtomicU64,
    /// Set (and signalled) when the memtable reaches its flush size.
    flush_wanted: Mutex<bool>,
    flush_signal: Condvar,
    comments: CommentStore,
    blobs: Arc<BlobStore>,
    /// When blob garbage collection last ran (ns).
    last_blob_gc: Mutex<i64>,
    text: TextIndex,
    /// Told of every export stored (the live feeds).
    observers: RwLock<Vec<IngestObserver>>,
    /// When text index retention last ran.
    last_text_retention: Mutex<std::time::Instant>,
    /// The first WAL sequence number a flush must keep (records a standby
    /// has yet to receive); `u64::MAX` when nothing is held.
    wal_hold: std::sync::atomic::AtomicU64,
    /// The WAL from this sequence number is kept for a standby that took
    /// a snapshot at that instant (`snapshot.rs`).
    snapshot_pin: Mutex<Option<(u64, std::time::Instant)>>,
    /// The data dir's `LOCK`, held exclusively for the engine's lifetime
    /// (one writer per data dir; the OS releases it if the process dies).
    _lock: std::fs::File,
}

fn lock_data_dir(dir: &Path) -> Result<std::fs::File, StorageError> {
    // One writer per data dir: an exclusive advisory lock held for the
    // engine's lifetime (released by the OS if the process dies).
    let path = dir.join("LOCK");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StorageError::io(&path, e))?;
    f.try_lock().map_err(|_| {
        StorageError::Unavailable(format!(
            "data dir {} is in use by another tael process",
            dir.display()
        ))
    })?;
    Ok(f)
}

impl Engine {
    /// Opens (or creates) the engine: loads the manifest, opens the parts,
    /// removes files no manifest names, and replays the WAL.
    pub fn open(cfg: EngineConfig) -> Result<Arc<Engine>, StorageError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| StorageError::io(&cfg.data_dir, e))?;
        let lock = lock_data_dir(&cfg.data_dir)?;
        let objects = Arc::new(Objects::open(&cfg.data_dir, &cfg.backend, cfg.cache_bytes)?);
        let manifest = Manifest::load(&objects)?;
        remove_orphans(&objects, &manifest);
        let mut parts = Vec::with_capacity(manifest.parts.len());
        let mut rollups = HashMap::new();
        for meta in &manifest.parts {
            let handle = PartHandle::open(&objects, meta.clone())?;
            if meta.signal == Signal::Spans {
                rollups.insert(
                    meta.id,
                    Arc::new(load_or_rebuild_rollup(&objects, &handle)?),
                );
            }
            parts.push(Arc::new(handle));
        }
        if let Some(keep) = cfg.wal_keep_through {
            if manifest.flushed_seq > keep {
                return Err(StorageError::Corrupt(format!(
                    "WAL records {}..={} of an older leadership are already in parts; this replica must be rebuilt (emptied and filled from its leader)",
                    keep + 1,
                    manifest.flushed_seq
                )));
            }
            let dropped = Wal::truncate_after(&cfg.wal_dir, keep)?;
            if dropped > 0 {
                tracing::warn!(
                    dropped,
                    keep,
                    "dropped WAL records a newer leader numbered otherwise"
                );
            }
        }
        let (wal, records) = Wal::open(&cfg.wal_dir, cfg.wal_segment_bytes)?;
        // Spare segments may take at most an eighth of a disk cap.
        if let Some(cap) = cfg.max_disk_bytes {
            wal.keep_free((cap / cfg.wal_segment_bytes.max(1) / 8) as usize);
        }
        let comments = CommentStore::open(objects.clone(), crate::comments::LOCATION)?;
        let blobs = Arc::new(BlobStore::open(
            objects.clone(),
            "blobs",
            cfg.memory.blob_cache,
        )?);
        blobs.set_refresh_after(
            i64::try_from(cfg.payload_retention.as_nanos() / 2).unwrap_or(i64::MAX),
        );
        let (text, mut lost_days) = TextIndex::open_within(
            &cfg.data_dir.join("text"),
            blobs.clone(),
            cfg.memory.text_writers(crate::text::MAX_WRITERS),
        )?;
        let last_seq = records.last().map(|r| r.seq).unwrap_or(0);
        text.clamp_committed(last_seq.max(manifest.flushed_seq));
        lost_days.extend(text_index::days_without_index(&manifest, &text));
        lost_days.sort_unstable();
        lost_days.dedup();
        for day in &lost_days {
            text.begin_rebuild(*day)?;
        }
        let state = State {
            active: Memtable::default(),
            frozen: None,
            parts_rollup: Arc::new(merge_rollups(&rollups)),
            manifest,
            parts: Arc::new(parts),
            rollups,
        };
        let next_part_id = state.manifest.next_part_id.max(1);
        let engine = Arc::new(Engine {
            recent: Mutex::new(RecentKeys::new(cfg.dedup_window)),
            memory: Default::default(),
            cfg,
            objects,
            wal,
            state: RwLock::new(state),
            flush_lock: Mutex::new(()),
            flush_failure: Mutex::new(None),
            compact_lock: Mutex::new(()),
            commit_lock: Mutex::new(()),
            next_part_id: std::sync::atomic::AtomicU64::new(next_part_id),
            flush_wanted: Mutex::new(false),
            flush_signal: Condvar::new(),
            comments,
            blobs,
            last_blob_gc: Mutex::new(tael_core::time::now_ns()),
            text,
            observers: RwLock::new(Vec::new()),
            last_text_retention: Mutex::new(std::time::Instant::now()),
            wal_hold: std::sync::atomic::AtomicU64::new(u64::MAX),
            snapshot_pin: Mutex::new(None),
            _lock: lock,
        });
        let (flushed, opened_parts) = {
            let st = engine.state.read();
            (st.manifest.flushed_seq, st.parts.clone())
        };
        let mut replayed = 0usize;
        for rec in records {
            if rec.seq <= flushed {
                continue;
            }
            let applied = match rec.kind {
                COMMENT_WAL_KIND => engine.apply_comment(&rec.payload).map(|_| 0),
                kind => engine.decode_and_apply(kind, &rec.payload, rec.seq),
            };
            match applied {
                Ok(n) => replayed += n,
                Err(e @ StorageError::Corrupt(_)) => {
                    tracing::error!(seq = rec.seq, error = %e, "skipping undecodable WAL record")
                }
                // Anything else (the blob store cannot write, say) would
                // lose the record once the next flush lets the WAL go:
                // refuse to open instead.
                Err(e) => return Err(e),
            }
        }
        engine.reconcile_objects()?;
        tracing::info!(replayed, "storage engine open");
        // The parts of before replay: rows flushed since were indexed as
        // they were applied.
        engine.spawn_text_rebuild(lost_days, opened_parts);
        Ok(engine)
    }

    /// Queues what a stop left for the object store (see
    /// [`Objects::reconcile`]): the manifest's parts and their rollups,
    /// the blob packs and the comments, then the manifest itself.
    fn reconcile_objects(&self) -> Result<(), StorageError> {
        self.reconcile_objects_as(None)
    }

    /// [`Engine::reconcile_objects`]; with `lead`, a replica starts
    /// writing the store at that epoch with this reconcile first. Between
    /// commits: the manifest read is the one stored, and nothing is
    /// queued before the reconcile.
    fn reconcile_objects_as(&self, lead: Option<u64>) -> Result<(), StorageError> {
        if self.objects.is_local() {
            return Ok(());
        }
        let _c = self.commit_lock.lock();
        let manifest = self.state.read().manifest.clone();
        let mut locations: Vec<String> = Vec::new();
        for p in &manifest.parts {
            locations.push(crate::part::rollup_location(&p.path));
            locations.push(p.path.clone());
        }
        locations.extend(self.blobs.pack_locations());
        locations.push(crate::comments::LOCATION.to_string());
        let prefixes = Signal::ALL.iter().map(|s| s.name().to_string()).collect();
        match lead {
            Some(epoch) => self.objects.lead(epoch, locations, prefixes),
            None => self.objects.reconcile(locations, prefixes),
        }
        manifest.store(&self.objects)
    }

    /// A replica with an object store leads at `epoch`: it writes its
    /// whole copy there under that epoch, then its manifest (see
    /// `crate::objects::uploads`). Nothing on a single node.
    pub fn lead_objects(&self, epoch: u64) -> Result<(), StorageError> {
        if !self.objects.is_replica() {
            return Ok(());
        }
        let empty = {
            let st = self.state.read();
            st.manifest.parts.is_empty() && st.manifest.flushed_seq == 0
        } && self.last_seq() == 0;
        if empty
            && self
                .objects
                .store_manifest_flushed_seq()?
                .is_some_and(|f| f > 0)
        {
            // Its first manifest would replace the store's copy, and its
            // sweep delete it: the store may hold the only copy left.
            tracing::error!(
                epoch,
                "this replica leads with no data while the object store holds a copy: it does not write the store (fill it from the store, or empty the store's prefix, and restart)"
            );
            return Ok(());
        }
        tracing::info!(epoch, "writing this replica's copy to the object store");
        self.reconcile_objects_as(Some(epoch))
    }

    /// A replica does not lead: it writes nothing to the object store.
    pub fn follow_objects(&self) {
        self.objects.follow();
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The handle parts, blob packs and the manifest go through (SQL
    /// reads parts by it).
    pub fn objects(&self) -> &Arc<Objects> {
        &self.objects
    }

    pub fn comments(&self) -> &CommentStore {
        &self.comments
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The full-text index over payloads and log bodies.
    pub fn text_index(&self) -> &TextIndex {
        &self.text
    }

    /// Where payloads go (see `crate::offload`).
    fn offload_to(&self) -> crate::offload::Offload<'_> {
        crate::offload::Offload {
            blobs: &self.blobs,
            min_bytes: self.cfg.blob_min_bytes,
        }
    }

    /// Moves the large log bodies of a decoded batch to the blob store
    /// (span payloads move while decoding), and lists what the text index
    /// will hold of its rows (with their row numbers; `texts`: what the
    /// decoder read of them, if it did).
    fn offload(
        &self,
        mut p: Prepared,
        texts: Option<Vec<(usize, Vec<crate::text::docs::Text>)>>,
    ) -> Result<(Prepared, Vec<(usize, TextDoc)>), StorageError> {
        if p.signal == Signal::Logs {
            p.batch = crate::offload::logs(p.batch, self.offload_to())?;
        }
        let docs = match texts {
            Some(t) => crate::text::docs::docs_with_texts(&p.batch, p.signal, t),
            None => crate::text::docs::docs_of(p.signal, &p.batch),
        };
        let docs = docs.unwrap_or_else(|e| {
            // Derived data: the rows are stored whatever happens here.
            tracing::error!(error = %e, "cannot read the texts of a batch; not indexing them");
            Vec::new()
        });
        Ok((p, docs))
    }

    fn decode_and_apply(&self, kind: u8, payload: &[u8], seq: u64) -> Result<usize, StorageError> {
        let kind = Signal::from_wal_byte(kind)
            .ok_or_else(|| StorageError::Corrupt(format!("unknown WAL record kind {kind}")))?;
        let decoded = self
            .decode(kind, payload)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let (p, docs) = self.offload(decoded.prepared, decoded.texts)?;
        Ok(self.apply(p, docs, seq, true)?.0.stored)
    }

    /// Decodes an export of `kind` (protobuf) into columns.
    fn decode(
        &self,
        kind: Signal,
        payload: &[u8],
    ) -> Result<crate::otlp::Decoded, crate::otlp::WireError> {
        let limits = self.cfg.map_limits;
        match kind {
            Signal::Spans => crate::otlp::decode_traces(
                payload,
                limits,
                &self.cfg.prices,
                Some(self.offload_to()),
            ),
            Signal::Logs => crate::otlp::decode_logs(payload, limits),
            Signal::Metrics => crate::otlp::decode_metrics(payload, limits),
        }
    }

    /// Applies a prepared batch (WAL sequence `seq`; `replay`: from WAL
    /// replay) to the memtable, dropping re-delivered rows, and queues the
    /// text of the rows kept for indexing. Returns the rows kept too.
    fn apply(
        &self,
        p: Prepared,
        docs: Vec<(usize, TextDoc)>,
        seq: u64,
        replay: bool,
    ) -> Result<(IngestOutcome, Option<RecordBatch>), StorageError> {
        let rows = p.rows();
        let keep = self.recent.lock().admit(&p.keys);
        let kept = {
            let mut st = self.state.write();
            let kept = st.active.push(p, keep.as_deref())?;
            self.wake_flusher_if_full(st.active.bytes);
            kept
        };
        let stored = kept.as_ref().map_or(0, |b| b.num_rows());
        self.index_text(docs, keep.as_deref(), seq, replay);
        let out = IngestOutcome {
            seq: 0,
            stored,
            duplicates: rows - stored,
            ..Default::default()
        };
        Ok((out, kept))
    }

    fn wake_flusher_if_full(&self, bytes: usize) {
        if bytes >= self.cfg.memtable_bytes {
            let mut w = self.flush_wanted.lock();
            if !*w {
                *w = true;
                self.flush_signal.notify_all();
            }
        }
    }

    /// Admits an export of `payload_bytes` within the memory budget
    /// (`crate::budget`), or refuses it (retryable) naming the part that
    /// is full: the memtables (a flush is behind), the text indexer's
    /// queue or the exports in flight.
    fn admit(&self, payload_bytes: usize) -> Result<crate::budget::InFlight<'_>, StorageError> {
        const MIB: usize = 1 << 20;
        let m = &self.cfg.memory;
        let full = |what: String| {
            StorageError::Unavailable(format!("memory budget: {what}; retry shortly"))
        };
        let memtables = self.memtable_bytes();
        if memtables > m.memtables {
            return Err(full(format!(
                "the memtables hold {} MiB of their {} MiB (ingest is ahead of flushing)",
                memtables.div_ceil(MIB),
                m.memtables / MIB
            )));
        }
        let queued = self.text.queued_bytes();
        if queued > m.text_queue {
            return Err(full(format!(
                "the text indexer's queue holds {} MiB of its {} MiB",
                queued.div_ceil(MIB),
                m.text_queue / MIB
            )));
        }
        self.memory
            .reserve(payload_bytes, m.exports_in_flight)
            .map_err(full)
    }

    /// Bytes of the active and frozen memtables.
    fn memtable_bytes(&self) -> usize {
        self.state.read().memtable_bytes()
    }

    /// The memory budget's parts, their shares and what the counted ones
    /// hold now, for `/api/v1/stats`.
    pub fn memory_stats(&self) -> crate::budget::MemoryStats {
        self.cfg.memory.stats(&crate::budget::MemoryHeld {
            memtables: self.memtable_bytes(),
            exports_in_flight: self
                .memory
                .in_flight
                .load(std::sync::atomic::Ordering::Acquire),
            text_queue: self.text.queued_bytes(),
            blob_cache: self.blobs.cached_bytes(),
        })
    }

    fn ingest(
        &self,
        at: Option<u64>,
        kind: Signal,
        payload: &[u8],
        p: Prepared,
        docs: Vec<(usize, TextDoc)>,
    ) -> Result<IngestOutcome, StorageError> {
        let apply = |seq| self.apply(p, docs, seq, false);
        let (seq, applied) = match at {
            Some(at) => self.wal.append_at(at, kind.wal_byte(), payload, apply)?,
            None => self.wal.append(kind.wal_byte(), payload, apply)?,
        };
        let (mut out, kept) = applied?;
        out.seq = seq;
        // Durable now: the observers see only what is acknowledged.
        if let Some(batch) = kept {
            for observe in self.observers.read().iter() {
                observe(kind, &batch);
            }
        }
        Ok(out)
    }

    /// Calls `observer` with the rows of every export stored from now on
    /// (after they are durable, in the order they were stored; not for
    /// WAL replay). It runs on the ingest thread and must be quick.
    pub fn observe_ingest(&self, observer: IngestObserver) {
        self.observers.write().push(observer);
    }

    /// Durably stores a trace export (`payload`: the protobuf
    /// `ExportTraceServiceRequest`): decodes it straight into columns,
    /// appends it to the WAL and applies it. Blocks until fsynced. Invalid
    /// spans are rejected (counted in the outcome); a malformed payload is
    /// an `InvalidArgument` error and nothing is stored.
    pub fn ingest_traces(&self, payload: &[u8]) -> Result<IngestOutcome, StorageError> {
        self.ingest_export(Signal::Spans, payload)
    }

    /// Durably stores a logs export (`payload`: the protobuf
    /// `ExportLogsServiceRequest`), as [`Engine::ingest_traces`] does.
    pub fn ingest_logs(&self, payload: &[u8]) -> Result<IngestOutcome, StorageError> {
        self.ingest_export(Signal::Logs, payload)
    }

    /// Durably stores a metrics export (`payload`: the protobuf
    /// `ExportMetricsServiceRequest`), as [`Engine::ingest_traces`] does.
    pub fn ingest_metrics(&self, payload: &[u8]) -> Result<IngestOutcome, StorageError> {
        self.ingest_export(Signal::Metrics, payload)
    }

    fn ingest_export(&self, kind: Signal, payload: &[u8]) -> Result<IngestOutcome, StorageError> {
        self.ingest_export_at(None, kind, payload)
    }

    /// Stores an export, as WAL record `at` when given (a shipped record,
    /// which is stored even when none of its items are valid so that the
    /// replicas' sequence numbers stay aligned).
    fn ingest_export_at(
        &self,
        at: Option<u64>,
        kind: Signal,
        payload: &[u8],
    ) -> Result<IngestOutcome, StorageError> {
        // Refused before any work: a retried export is decoded once.
        let _in_flight = self.admit(payload.len())?;
        let decoded = self.decode(kind, payload).map_err(|e| match e.too_large {
            true => StorageError::ExportTooLarge(e.message),
            false => StorageError::InvalidArgument(format!("invalid OTLP protobuf: {e}")),
        })?;
        let mut out = if decoded.prepared.rows() > 0 || at.is_some() {
            let (prepared, docs) = self.offload(decoded.prepared, decoded.texts)?;
            self.ingest(at, kind, payload, prepared, docs)?
        } else {
            IngestOutcome::default()
        };
        out.rejected = decoded.rejected;
        out.error_message = decoded.error_message;
        Ok(out)
    }

    /// Stores a comment on a trace durably, through the WAL (so that it
    /// is shipped to standbys like an export). Returns it and its WAL
    /// sequence number.
    pub fn add_comment(&self, c: TraceComment) -> Result<(TraceComment, u64), StorageError> {
        let json = serde_json::to_vec(&c).map_err(|e| StorageError::Internal(e.to_string()))?;
        self.add_comment_at(None, c, &json)
    }

    /// Stores comment `c` whose WAL record is `json`, as record `at` when
    /// given.
    fn add_comment_at(
        &self,
        at: Option<u64>,
        c: TraceComment,
        json: &[u8],
    ) -> Result<(TraceComment, u64), StorageError> {
        let apply = |_| self.comments.add(c);
        let (seq, stored) = match at {
            Some(at) => self.wal.append_at(at, COMMENT_WAL_KIND, json, apply)?,
            None => self.wal.append(COMMENT_WAL_KIND, json, apply)?,
        };
        Ok((stored?, seq))
    }

    /// Replays a comment record.
    fn apply_comment(&self, json: &[u8]) -> Result<TraceComment, StorageError> {
        self.comments
            .add(comment_of(json).map_err(StorageError::Corrupt)?)
    }

    /// Stores records shipped from the shard's leader, each at the
    /// sequence number it carries. Records already stored here are
    /// skipped (a resend); a record that does not follow the last one
    /// stored is refused with [`StorageError::SeqGap`]. Returns the last
    /// sequence number stored.
    pub fn apply_shipped(&self, records: &[Record]) -> Result<u64, StorageError> {
        for rec in records {
            if rec.seq <= self.last_seq() {
                continue;
            }
            match rec.kind {
                COMMENT_WAL_KIND => {
                    let c = comment_of(&rec.payload).map_err(|e| {
                        StorageError::InvalidArgument(format!("WAL record {}: {e}", rec.seq))
                    })?;
                    self.add_comment_at(Some(rec.seq), c, &rec.payload)?;
                }
                kind => {
                    let signal = Signal::from_wal_byte(kind).ok_or_else(|| {
                        StorageError::InvalidArgument(format!(
                            "WAL record {} has unknown kind {kind}",
                            rec.seq
                        ))
                    })?;
                    self.ingest_export_at(Some(rec.seq), signal, &rec.payload)?;
                }
            }
        }
        Ok(self.last_seq())
    }

    /// The last WAL sequence number stored durably.
    pub fn last_seq(&self) -> u64 {
        self.wal.synced_seq()
    }

    /// Reads durable WAL records from `cursor` on (see
    /// [`Wal::read_tail`]), for shipping them to standbys.
    pub fn read_wal(
        &self,
        cursor: &mut WalCursor,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.wal.read_tail(cursor, max_bytes)
    }

    /// Keeps WAL records from `from` on past flushes (a standby still
    /// needs them); `None` lets flushes drop what parts cover.
    pub fn hold_wal(&self, from: Option<u64>) {
        self.wal_hold.store(
            from.unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// The highest sequence number a flush may drop records through.
    fn droppable_through(&self, flushed: u64) -> u64 {
        let hold = self
            .wal_hold
            .load(std::sync::atomic::Ordering::Relaxed)
            .min(self.snapshot_hold())
            .min(self.objects.wal_hold().unwrap_or(u64::MAX));
        flushed.min(hold.saturating_sub(1))
    }

    /// A consistent snapshot for queries.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state.read();
        let mut snap = Snapshot {
            spans: st.active.spans.clone(),
            logs: st.active.logs.clone(),
            metrics: st.active.metrics.clone(),
            parts: st.parts.clone(),
        };
        if let Some((frozen, _)) = &st.frozen {
            snap.spans.extend(frozen.spans.iter().cloned());
            snap.logs.extend(frozen.logs.iter().cloned());
            snap.metrics.extend(frozen.metrics.iter().cloned());
        }
        snap
    }

    /// Per-service rollup over everything stored.
    pub fn services_rollup(&self) -> Rollup {
        let st = self.state.read();
        let mut r = (*st.parts_rollup).clone();
        r.merge(&st.active.rollup);
        if let Some((frozen, _)) = &st.frozen {
            r.merge(&frozen.rollup);
        }
        r
    }

    pub fn stats(&self) -> EngineStats {
        let blob_stats = self.blobs.stats();
        // Before the state lock: appends take the WAL's lock, then the
        // state's (to apply), and the probe takes the WAL's.
        let failure = self.storage_failure();
        let wal_bytes = self.wal.disk_bytes();
        let st = self.state.read();
        let mut out = EngineStats {
            memtable_rows: st.active.rows + st.frozen.as_ref().map(|f| f.0.rows).unwrap_or(0),
            memtable_bytes: st.memtable_bytes(),
            parts: st.parts.len(),
            part_bytes: st.parts.iter().map(|p| p.meta.bytes).sum(),
            wal_bytes,
            flushed_seq: st.manifest.flushed_seq,
            blobs: blob_stats.blobs,
            blob_bytes: blob_stats.disk_bytes,
            blob_raw_bytes: blob_stats.raw_bytes,
            text_index: self.text.stats(),
            memory: None,
            failure,
            object_store: self.objects.object_store_stats(),
        };
        drop(st);
        out.memory = Some(self.memory_stats());
        out
    }

    /// Why storage refuses writes or cannot flush, while it does: the
    /// WAL's failure (probing whether writes succeed again first) or the
    /// last background flush's error.
    pub fn storage_failure(&self) -> Option<String> {
        if let Some(why) = self.wal.failure() {
            return Some(format!("WAL: {why}"));
        }
        self.flush_failure
            .lock()
            .as_ref()
            .map(|why| format!("flush: {why}"))
    }

    /// A fresh part id.
    fn alloc_part_id(&self) -> u64 {
        self.next_part_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    /// Atomically records new parts (and retires old ones) in the manifest.
    fn commit(
        &self,
        added: Vec<PartMeta>,
        added_rollups: Vec<(u64, Rollup)>,
        retired: &[u64],
        flushed: Option<u64>,
    ) -> Result<(), StorageError> {
        let handles: Vec<PartRef> = added
            .iter()
            .map(|m| PartHandle::open(&self.objects, m.clone()).map(Arc::new))
            .collect::<Result<_, _>>()?;
        // Only commits change the manifest, parts and rollups; they take
        // turns here, and the state lock is held just for the swap.
        let _c = self.commit_lock.lock();
        // A part published while its replica was not writing the store (a
        // change of leadership between the publish and this commit) is
        // queued again now that its manifest is about to name it.
        let published: Vec<String> = added
            .iter()
            .flat_map(|m| [m.path.clone(), crate::part::rollup_location(&m.path)])
            .collect();
        self.objects.republish(&published);
        let (mut manifest, old_parts, mut rollups) = {
            let st = self.state.read();
            (st.manifest.clone(), st.parts.clone(), st.rollups.clone())
        };
        manifest.parts.retain(|p| !retired.contains(&p.id));
        manifest.parts.extend(added);
        manifest.next_part_id = manifest
            .next_part_id
            .max(self.next_part_id.load(std::sync::atomic::Ordering::SeqCst));
        if let Some(seq) = flushed {
            manifest.flushed_seq = seq;
        }
        manifest.store(&self.objects)?;
        let mut parts: Vec<PartRef> = Vec::with_capacity(old_parts.len() + handles.len());
        for p in old_parts.iter() {
            if retired.contains(&p.meta.id) {
                rollups.remove(&p.meta.id);
            } else {
                parts.push(p.clone());
            }
        }
        parts.extend(handles);
        for (id, r) in added_rollups {
            rollups.insert(id, Arc::new(r));
        }
        let parts_rollup = Arc::new(merge_rollups(&rollups));
        let mut st = self.state.write();
        st.manifest = manifest;
        st.parts = Arc::new(parts);
        st.rollups = rollups;
        st.parts_rollup = parts_rollup;
        if flushed.is_some() {
            st.frozen = None;
        }
        drop(st);
        for p in old_parts.iter().filter(|p| retired.contains(&p.meta.id)) {
            p.retire();
        }
        Ok(())
    }
}

/// The Arrow schema of a signal's rows.
pub fn schema_of(signal: Signal) -> arrow::datatypes::SchemaRef {
    match signal {
        Signal::Spans => columnar::spans::schema(),
        Signal::Logs => columnar::logs::schema(),
        Signal::Metrics => columnar::metrics::schema(),
    }
}

/// The values of a batch's time column (see `Signal::time_column`).
pub fn time_values(
    signal: Signal,
    batch: &RecordBatch,
) -> Result<&arrow::array::Int64Array, StorageError> {
    use arrow::array::AsArray;
    let name = signal.time_column();
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
        .ok_or_else(|| StorageError::Corrupt(format!("column {name} missing")))
}

fn merge_rollups(rollups: &HashMap<u64, Arc<Rollup>>) -> Rollup {
    let mut out = Rollup::default();
    for r in rollups.values() {
        out.merge(r);
    }
    out
}

fn load_or_rebuild_rollup(objects: &Objects, part: &PartHandle) -> Result<Rollup, StorageError> {
    let location = rollup_location(&part.meta.path);
    let stored = objects
        .fetch(&location)
        .ok()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if let Some(r) = stored {
        return Ok(r);
    }
    tracing::warn!(part = %part.meta.path, "rebuilding missing or corrupt rollup");
    let mut r = Rollup::default();
    for b in part.read_all()? {
        r.add_spans(&b)?;
    }
    Ok(r)
}

/// Deletes part files that no manifest entry names (left by a
/// crash during a flush or compaction, or by a retired part whose deletion
/// was cut short).
fn remove_orphans(objects: &Objects, manifest: &Manifest) {
    let known: std::collections::HashSet<&str> =
        manifest.parts.iter().map(|p| p.path.as_str()).collect();
    for signal in Signal::ALL {
        let Ok(hours) = std::fs::read_dir(objects.local_path(signal.name())) else {
            continue;
        };
        for hour in hours.flatten() {
            let Ok(files) = std::fs::read_dir(hour.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let location = format!(
                    "{}/{}/{}",
                    signal.name(),
                    hour.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                if !known.contains(part_location_of(&location).as_str()) {
                    tracing::info!(file = %path.display(), "removing orphan file");
                    let _ = std::fs::remove_file(&path);
                }
            }
            let _ = std::fs::remove_dir(hour.path());
        }
    }
}
