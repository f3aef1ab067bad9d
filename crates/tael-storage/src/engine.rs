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

use crate::columnar;
use crate::comments::CommentStore;
use crate::error::StorageError;
use crate::manifest::{Manifest, PartMeta, Signal};
use crate::memtable::{Chunk, Memtable, Prepared, RecentKeys};
use crate::part::{
    hour_of, part_rel_path, rollup_path, sort_key_names, write_file_durably, PartHandle, PartRef,
    PartWriter, ROW_GROUP_ROWS,
};
use crate::rollup::Rollup;
use crate::wal::{RecordKind, Wal};
use arrow::array::RecordBatch;
use parking_lot::{Condvar, Mutex, RwLock};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tael_core::model::{LogRecord, MetricPoint, Span};
use tael_core::otlp::{self, MapLimits};

/// Largest part that compaction produces, in rows.
const COMPACT_MAX_ROWS: u64 = 4_000_000;

/// Engine settings (see `tael_server::ServerConfig` for where they come from).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub wal_dir: PathBuf,
    /// Memtable size that triggers a flush.
    pub memtable_bytes: usize,
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
}

impl EngineConfig {
    pub fn new(data_dir: PathBuf, wal_dir: PathBuf) -> Self {
        let day = Duration::from_secs(86_400);
        EngineConfig {
            data_dir,
            wal_dir,
            memtable_bytes: 64 << 20,
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
        }
    }
}

/// What an ingest call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    pub seq: u64,
    pub accepted: usize,
    /// Items dropped because the same item was already stored.
    pub duplicates: usize,
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

/// Counters for `/readyz` and benchmarks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineStats {
    pub memtable_rows: usize,
    pub memtable_bytes: usize,
    pub parts: usize,
    pub part_bytes: u64,
    pub wal_bytes: u64,
    pub flushed_seq: u64,
}

pub struct Engine {
    cfg: EngineConfig,
    wal: Wal,
    state: RwLock<State>,
    recent: Mutex<RecentKeys>,
    maintenance: Mutex<()>,
    /// Set (and signalled) when the memtable reaches its flush size.
    flush_wanted: Mutex<bool>,
    flush_signal: Condvar,
    comments: CommentStore,
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
    pub fn open(cfg: EngineConfig) -> Result<(Arc<Engine>, std::fs::File), StorageError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| StorageError::io(&cfg.data_dir, e))?;
        let lock = lock_data_dir(&cfg.data_dir)?;
        let manifest = Manifest::load(&cfg.data_dir)?;
        remove_orphans(&cfg.data_dir, &manifest);
        let mut parts = Vec::with_capacity(manifest.parts.len());
        let mut rollups = HashMap::new();
        for meta in &manifest.parts {
            let handle = PartHandle::open(&cfg.data_dir, meta.clone())?;
            if meta.signal == Signal::Spans {
                rollups.insert(meta.id, Arc::new(load_or_rebuild_rollup(&handle)?));
            }
            parts.push(Arc::new(handle));
        }
        let (wal, records) = Wal::open(&cfg.wal_dir, cfg.wal_segment_bytes)?;
        let comments = CommentStore::open(&cfg.data_dir.join("comments.jsonl"))?;
        let state = State {
            active: Memtable::default(),
            frozen: None,
            parts_rollup: Arc::new(merge_rollups(&rollups)),
            manifest,
            parts: Arc::new(parts),
            rollups,
        };
        let engine = Arc::new(Engine {
            recent: Mutex::new(RecentKeys::new(cfg.dedup_window)),
            cfg,
            wal,
            state: RwLock::new(state),
            maintenance: Mutex::new(()),
            flush_wanted: Mutex::new(false),
            flush_signal: Condvar::new(),
            comments,
        });
        let flushed = engine.state.read().manifest.flushed_seq;
        let mut replayed = 0usize;
        for rec in records {
            if rec.seq <= flushed {
                continue;
            }
            match engine.decode_and_apply(rec.kind, &rec.payload) {
                Ok(n) => replayed += n,
                Err(e) => {
                    tracing::error!(seq = rec.seq, error = %e, "skipping undecodable WAL record")
                }
            }
        }
        tracing::info!(replayed, "storage engine open");
        Ok((engine, lock))
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn comments(&self) -> &CommentStore {
        &self.comments
    }

    fn decode_and_apply(&self, kind: u8, payload: &[u8]) -> Result<usize, StorageError> {
        let limits = self.cfg.map_limits;
        let corrupt = |e: prost::DecodeError| StorageError::Corrupt(e.to_string());
        let prepared = match RecordKind::from_u8(kind) {
            Some(RecordKind::Traces) => {
                let req = otlp_traces_req(payload).map_err(corrupt)?;
                Prepared::spans(&otlp::spans_from_request(&req, limits).items)?
            }
            Some(RecordKind::Logs) => {
                let req = opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(payload)
                    .map_err(corrupt)?;
                Prepared::logs(&otlp::logs_from_request(&req, limits).items)?
            }
            Some(RecordKind::Metrics) => {
                let req = opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::decode(payload)
                    .map_err(corrupt)?;
                Prepared::metrics(&otlp::metrics_from_request(&req, limits).items)?
            }
            None => {
                return Err(StorageError::Corrupt(format!(
                    "unknown WAL record kind {kind}"
                )))
            }
        };
        Ok(self.apply(prepared)?.accepted)
    }

    /// Applies a prepared batch to the memtable, dropping re-delivered rows.
    fn apply(&self, p: Prepared) -> Result<IngestOutcome, StorageError> {
        let rows = p.rows();
        let keep = self.recent.lock().admit(&p.keys);
        let mut st = self.state.write();
        let accepted = st.active.push(p, keep.as_deref())?;
        self.wake_flusher_if_full(st.active.bytes);
        Ok(IngestOutcome {
            seq: 0,
            accepted,
            duplicates: rows - accepted,
        })
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

    /// Refuses new writes while the memtable is far over its bound (a flush
    /// is behind); callers answer with a retryable status.
    fn admit(&self) -> Result<(), StorageError> {
        let bytes = self.state.read().active.bytes;
        if bytes > self.cfg.memtable_bytes * 2 {
            return Err(StorageError::Unavailable(
                "ingest is ahead of flushing; retry shortly".into(),
            ));
        }
        Ok(())
    }

    fn ingest(
        &self,
        kind: RecordKind,
        payload: &[u8],
        p: Prepared,
    ) -> Result<IngestOutcome, StorageError> {
        self.admit()?;
        let (seq, out) = self.wal.append(kind, payload, |_| self.apply(p))?;
        let mut out = out?;
        out.seq = seq;
        Ok(out)
    }

    /// Durably stores a trace export: `payload` is the protobuf request,
    /// `spans` its mapped (valid) spans. Blocks until fsynced.
    pub fn ingest_spans(
        &self,
        payload: &[u8],
        spans: Vec<Span>,
    ) -> Result<IngestOutcome, StorageError> {
        self.ingest(RecordKind::Traces, payload, Prepared::spans(&spans)?)
    }

    /// Durably stores a logs export (see [`Engine::ingest_spans`]).
    pub fn ingest_logs(
        &self,
        payload: &[u8],
        logs: Vec<LogRecord>,
    ) -> Result<IngestOutcome, StorageError> {
        self.ingest(RecordKind::Logs, payload, Prepared::logs(&logs)?)
    }

    /// Durably stores a metrics export (see [`Engine::ingest_spans`]).
    pub fn ingest_metrics(
        &self,
        payload: &[u8],
        points: Vec<MetricPoint>,
    ) -> Result<IngestOutcome, StorageError> {
        self.ingest(RecordKind::Metrics, payload, Prepared::metrics(&points)?)
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
        let st = self.state.read();
        EngineStats {
            memtable_rows: st.active.rows + st.frozen.as_ref().map(|f| f.0.rows).unwrap_or(0),
            memtable_bytes: st.active.bytes + st.frozen.as_ref().map(|f| f.0.bytes).unwrap_or(0),
            parts: st.parts.len(),
            part_bytes: st.parts.iter().map(|p| p.meta.bytes).sum(),
            wal_bytes: self.wal.disk_bytes(),
            flushed_seq: st.manifest.flushed_seq,
        }
    }

    /// Whether a flush is due (size or age).
    pub fn flush_due(&self) -> bool {
        let st = self.state.read();
        if st.frozen.is_some() {
            return true;
        }
        if st.active.is_empty() {
            return false;
        }
        let age = tael_core::time::now_ns() - st.active.first_insert_ns;
        st.active.bytes >= self.cfg.memtable_bytes
            || age >= self.cfg.flush_interval.as_nanos() as i64
    }

    /// Flushes the memtable to Parquet parts (see the module docs).
    pub fn flush(&self) -> Result<(), StorageError> {
        let _m = self.maintenance.lock();
        let pending = self.state.read().frozen.clone();
        let (frozen, upto) = match pending {
            Some(p) => p,
            None => self.wal.seal_with(|last| {
                let mut st = self.state.write();
                let mem = Arc::new(std::mem::take(&mut st.active));
                st.frozen = Some((mem.clone(), last));
                (mem, last)
            })?,
        };
        let started = std::time::Instant::now();
        let mut new_parts = Vec::new();
        let mut new_rollups = Vec::new();
        let mut next_id = self.state.read().manifest.next_part_id;
        for signal in Signal::ALL {
            let chunks = frozen.chunks(signal);
            if chunks.is_empty() {
                continue;
            }
            let batches: Vec<&RecordBatch> = chunks.iter().map(|c| &c.batch).collect();
            for (hour, order) in sorted_rows_by_hour(signal, &batches)? {
                let rel = part_rel_path(signal, hour, next_id);
                let mut w =
                    PartWriter::create(&self.cfg.data_dir.join(&rel), signal, schema_of(signal))?;
                let mut rollup = Rollup::default();
                let (mut min, mut max) = (i64::MAX, i64::MIN);
                for slice in order.chunks(ROW_GROUP_ROWS) {
                    let batch = arrow::compute::interleave_record_batch(&batches, slice)?;
                    let t = time_column(signal, &batch)?;
                    min = min.min(arrow::compute::min(t).unwrap_or(min));
                    max = max.max(arrow::compute::max(t).unwrap_or(max));
                    if signal == Signal::Spans {
                        rollup.merge(&rollup_of_batch(&batch)?);
                    }
                    w.write(&batch)?;
                }
                let rollup = (signal == Signal::Spans).then_some(rollup);
                let meta =
                    self.finish_part(signal, hour, next_id, 0, w, (min, max), rollup.as_ref())?;
                next_id += 1;
                if let Some(r) = rollup {
                    new_rollups.push((meta.id, r));
                }
                new_parts.push(meta);
            }
        }
        let parts = new_parts.len();
        self.commit(new_parts, new_rollups, &[], next_id, Some(upto))?;
        self.wal.drop_through(upto)?;
        tracing::info!(
            rows = frozen.rows,
            bytes = frozen.bytes,
            parts,
            ms = started.elapsed().as_millis() as u64,
            "flushed"
        );
        Ok(())
    }

    /// Finishes a part file, writes its rollup, and describes it.
    #[allow(clippy::too_many_arguments)]
    fn finish_part(
        &self,
        signal: Signal,
        hour: i64,
        id: u64,
        level: u32,
        writer: PartWriter,
        (min, max): (i64, i64),
        rollup: Option<&Rollup>,
    ) -> Result<PartMeta, StorageError> {
        let rel = part_rel_path(signal, hour, id);
        let path = self.cfg.data_dir.join(&rel);
        if let Some(r) = rollup {
            let bytes = serde_json::to_vec(r).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            write_file_durably(&rollup_path(&path), &bytes)?;
        }
        let rows = writer.rows();
        let bytes = writer.finish()?;
        Ok(PartMeta {
            id,
            signal,
            path: rel,
            hour_ns: hour,
            min_time_ns: min,
            max_time_ns: max,
            rows,
            bytes,
            level,
        })
    }

    /// Atomically records new parts (and retires old ones) in the manifest.
    fn commit(
        &self,
        added: Vec<PartMeta>,
        added_rollups: Vec<(u64, Rollup)>,
        retired: &[u64],
        next_part_id: u64,
        flushed: Option<u64>,
    ) -> Result<(), StorageError> {
        let handles: Vec<PartRef> = added
            .iter()
            .map(|m| PartHandle::open(&self.cfg.data_dir, m.clone()).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let mut st = self.state.write();
        let mut manifest = st.manifest.clone();
        manifest.parts.retain(|p| !retired.contains(&p.id));
        manifest.parts.extend(added);
        manifest.next_part_id = next_part_id;
        if let Some(seq) = flushed {
            manifest.flushed_seq = seq;
        }
        manifest.store(&self.cfg.data_dir)?;
        st.manifest = manifest;
        let mut parts: Vec<PartRef> = Vec::with_capacity(st.parts.len() + handles.len());
        let old = st.parts.clone();
        for p in old.iter() {
            if retired.contains(&p.meta.id) {
                p.retire();
                st.rollups.remove(&p.meta.id);
            } else {
                parts.push(p.clone());
            }
        }
        parts.extend(handles);
        st.parts = Arc::new(parts);
        for (id, r) in added_rollups {
            st.rollups.insert(id, Arc::new(r));
        }
        st.parts_rollup = Arc::new(merge_rollups(&st.rollups));
        if flushed.is_some() {
            st.frozen = None;
        }
        Ok(())
    }

    /// Merges the parts of partitions that have at least
    /// `compact_min_parts` parts, or more than one part once the hour is over.
    pub fn compact(&self) -> Result<usize, StorageError> {
        let _m = self.maintenance.lock();
        let parts = self.state.read().parts.clone();
        let current_hour = hour_of(tael_core::time::now_ns());
        let mut groups: BTreeMap<(Signal, i64), Vec<PartRef>> = BTreeMap::new();
        for p in parts.iter() {
            groups
                .entry((p.meta.signal, p.meta.hour_ns))
                .or_default()
                .push(p.clone());
        }
        let mut merged = 0;
        for ((signal, hour), mut group) in groups {
            let closed = hour < current_hour - 3_600_000_000_000;
            // Bounded work and output size: merge the smallest parts, up to
            // COMPACT_MAX_ROWS rows; while the hour is open, only parts of
            // similar size (size tiers), so big parts are not rewritten for
            // every small flush.
            group.sort_by_key(|p| (p.meta.rows, p.meta.id));
            let smallest = group.first().map(|p| p.meta.rows).unwrap_or(0).max(1);
            let mut total = 0;
            group.retain(|p| {
                total += p.meta.rows;
                total <= COMPACT_MAX_ROWS && (closed || p.meta.rows <= smallest * 4)
            });
            if group.len() < 2 || (!closed && group.len() < self.cfg.compact_min_parts) {
                continue;
            }
            let id = self.state.read().manifest.next_part_id;
            let level = group.iter().map(|p| p.meta.level).max().unwrap_or(0) + 1;
            let rel = part_rel_path(signal, hour, id);
            let mut w =
                PartWriter::create(&self.cfg.data_dir.join(&rel), signal, schema_of(signal))?;
            let mut rollup = Rollup::default();
            // Row groups are copied one at a time (each stays sorted inside),
            // so memory holds one row group, whatever the partition's size.
            for p in &group {
                for rg in 0..p.num_row_groups() {
                    for batch in p.read_group(rg, None)? {
                        if signal == Signal::Spans {
                            rollup.merge(&rollup_of_batch(&batch)?);
                        }
                        w.write(&batch)?;
                    }
                }
            }
            let min = group.iter().map(|p| p.meta.min_time_ns).min().unwrap_or(0);
            let max = group.iter().map(|p| p.meta.max_time_ns).max().unwrap_or(0);
            let rollup = (signal == Signal::Spans).then_some(rollup);
            let meta = self.finish_part(signal, hour, id, level, w, (min, max), rollup.as_ref())?;
            let retired: Vec<u64> = group.iter().map(|p| p.meta.id).collect();
            let rollups = rollup.map(|r| vec![(meta.id, r)]).unwrap_or_default();
            self.commit(vec![meta], rollups, &retired, id + 1, None)?;
            merged += group.len();
        }
        Ok(merged)
    }

    /// Drops parts older than each signal's retention, then the oldest hour
    /// partitions while the parts exceed `max_disk_bytes`.
    pub fn enforce_retention(&self) -> Result<usize, StorageError> {
        let _m = self.maintenance.lock();
        let now = tael_core::time::now_ns();
        let parts = self.state.read().parts.clone();
        let mut doomed: Vec<u64> = Vec::new();
        for p in parts.iter() {
            let keep = match p.meta.signal {
                Signal::Spans => self.cfg.span_retention,
                Signal::Logs => self.cfg.log_retention,
                Signal::Metrics => self.cfg.metric_retention,
            };
            if p.meta.max_time_ns < now.saturating_sub(keep.as_nanos() as i64) {
                doomed.push(p.meta.id);
            }
        }
        if let Some(cap) = self.cfg.max_disk_bytes {
            let mut live: Vec<&PartRef> = parts
                .iter()
                .filter(|p| !doomed.contains(&p.meta.id))
                .collect();
            live.sort_by_key(|p| (p.meta.hour_ns, p.meta.id));
            let mut total: u64 = live.iter().map(|p| p.meta.bytes).sum();
            let mut i = 0;
            while total > cap && i < live.len() {
                let hour = live[i].meta.hour_ns;
                while i < live.len() && live[i].meta.hour_ns == hour {
                    total -= live[i].meta.bytes;
                    doomed.push(live[i].meta.id);
                    i += 1;
                }
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        let next = self.state.read().manifest.next_part_id;
        self.commit(Vec::new(), Vec::new(), &doomed, next, None)?;
        tracing::info!(parts = doomed.len(), "retention dropped parts");
        Ok(doomed.len())
    }

    /// One maintenance pass: flush if due, compact, enforce retention.
    pub fn maintain(&self) -> Result<(), StorageError> {
        if self.flush_due() {
            self.flush()?;
        }
        self.compact()?;
        self.enforce_retention()?;
        Ok(())
    }

    /// Starts the maintenance thread; it stops when `stop` is set.
    pub fn spawn_maintenance(
        self: &Arc<Self>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let engine = self.clone();
        std::thread::Builder::new()
            .name("tael-maintenance".into())
            .spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    if let Err(e) = engine.maintain() {
                        tracing::error!(error = %e, "maintenance failed; will retry");
                    }
                    let mut wanted = engine.flush_wanted.lock();
                    if !*wanted {
                        let wait = engine.cfg.maintenance_interval;
                        engine.flush_signal.wait_for(&mut wanted, wait);
                    }
                    *wanted = false;
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the maintenance thread: {e}"))
    }
}

fn otlp_traces_req(
    payload: &[u8],
) -> Result<
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    prost::DecodeError,
> {
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(payload)
}

/// The Arrow schema of a signal's rows.
pub fn schema_of(signal: Signal) -> arrow::datatypes::SchemaRef {
    match signal {
        Signal::Spans => columnar::spans::schema(),
        Signal::Logs => columnar::logs::schema(),
        Signal::Metrics => columnar::metrics::schema(),
    }
}

/// The column that places a row in time (and in an hour partition).
pub fn time_column_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Spans => "start_ns",
        Signal::Logs | Signal::Metrics => "time_ns",
    }
}

fn time_column(
    signal: Signal,
    batch: &RecordBatch,
) -> Result<&arrow::array::Int64Array, StorageError> {
    use arrow::array::AsArray;
    let name = time_column_name(signal);
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
        .ok_or_else(|| StorageError::Corrupt(format!("column {name} missing")))
}

/// The rows of `batches` in part order, as (batch, row) pairs, grouped by
/// the hour partition of their time. Only the sort-key columns are copied.
fn sorted_rows_by_hour(
    signal: Signal,
    batches: &[&RecordBatch],
) -> Result<BTreeMap<i64, Vec<(usize, usize)>>, StorageError> {
    let mut keys = Vec::new();
    for name in sort_key_names(signal) {
        let cols: Vec<&dyn arrow::array::Array> = batches
            .iter()
            .map(|b| b.column_by_name(name).map(|c| c.as_ref()))
            .collect::<Option<_>>()
            .ok_or_else(|| StorageError::Corrupt(format!("column {name} missing")))?;
        keys.push(arrow::compute::SortColumn {
            values: arrow::compute::concat(&cols)?,
            options: None,
        });
    }
    let order = arrow::compute::lexsort_to_indices(&keys, None)?;
    let mut locate = Vec::new();
    for (bi, b) in batches.iter().enumerate() {
        locate.extend((0..b.num_rows()).map(|r| (bi, r)));
    }
    let mut times = Vec::with_capacity(locate.len());
    for b in batches {
        times.extend_from_slice(time_column(signal, b)?.values());
    }
    let mut groups: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
    for g in order.values() {
        let g = *g as usize;
        groups.entry(hour_of(times[g])).or_default().push(locate[g]);
    }
    Ok(groups)
}

fn merge_rollups(rollups: &HashMap<u64, Arc<Rollup>>) -> Rollup {
    let mut out = Rollup::default();
    for r in rollups.values() {
        out.merge(r);
    }
    out
}

fn rollup_of_batch(batch: &RecordBatch) -> Result<Rollup, StorageError> {
    let cols = columnar::spans::SpanCols::new(batch)?;
    let mut r = Rollup::default();
    for i in 0..cols.len() {
        let dur = (cols.end_ns.value(i) - cols.start_ns.value(i)) as f64 / 1e6;
        r.add(
            cols.service.value(i),
            cols.trace_id.value(i),
            dur,
            cols.status.value(i) == "error",
        );
    }
    Ok(r)
}

fn load_or_rebuild_rollup(part: &PartHandle) -> Result<Rollup, StorageError> {
    if let Ok(bytes) = std::fs::read(rollup_path(&part.path)) {
        if let Ok(r) = serde_json::from_slice(&bytes) {
            return Ok(r);
        }
    }
    tracing::warn!(part = %part.path.display(), "rebuilding missing or corrupt rollup");
    let mut r = Rollup::default();
    for b in part.read_all()? {
        r.merge(&rollup_of_batch(&b)?);
    }
    Ok(r)
}

/// Deletes part files that no manifest entry names (left by a crash during
/// a flush or compaction, or by a retired part whose deletion was cut short).
fn remove_orphans(data_dir: &Path, manifest: &Manifest) {
    let known: std::collections::HashSet<PathBuf> = manifest
        .parts
        .iter()
        .map(|p| data_dir.join(&p.path))
        .collect();
    for signal in Signal::ALL {
        let Ok(hours) = std::fs::read_dir(data_dir.join(signal.name())) else {
            continue;
        };
        for hour in hours.flatten() {
            let Ok(files) = std::fs::read_dir(hour.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let part = if path.to_string_lossy().ends_with(".rollup.json") {
                    PathBuf::from(
                        path.to_string_lossy()
                            .trim_end_matches(".rollup.json")
                            .to_string()
                            + ".parquet",
                    )
                } else {
                    path.clone()
                };
                if !known.contains(&part) {
                    tracing::info!(file = %path.display(), "removing orphan file");
                    let _ = std::fs::remove_file(&path);
                }
            }
            let _ = std::fs::remove_dir(hour.path());
        }
    }
}
