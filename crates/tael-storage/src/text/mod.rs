//! The full-text index over payloads and log bodies (tantivy).
//!
//! Layout: `<data>/text/<YYYY-MM-DD>/`, one tantivy index per UTC day of
//! the rows' time (span start, log time), so retention drops whole days.
//! One schema holds three kinds of documents:
//!
//! - text (`kind` = "t"): one per distinct text per day: `key` (the first
//!   8 bytes of the text's sha256, so a payload moved to the blob store has
//!   its blob's key) and either `text` (tokenised with positions, not
//!   stored) or, for payloads in the blob store, `bulk` (without positions,
//!   see [`bulk`]). A system prompt sent by a thousand calls
//!   is tokenised once a day;
//! - span ("s") and log ("l") rows: `key` (one per text of the row, see
//!   [`docs`]), `time` (ns), `service`, `trace_id` and `span_id` (stored).
//!
//! A search finds the keys of the matching texts, then the newest rows that
//! carry one of them.
//!
//! Writing: the rows' documents are queued in WAL order as rows are applied
//! (the only work under the WAL lock) and indexed by one indexer thread,
//! which owns the writers. It commits every 2 s, and on request: before a
//! search (a search sees every acknowledged write) and before a flush lets
//! the WAL go (the queue is in order, so the commit holds every row up to
//! the flush). A commit records the highest WAL sequence it holds (commit
//! payload `{"seq":N}`); WAL replay skips what a day already holds.
//!
//! Failures never block ingest or flushes: a day whose writer fails is
//! marked for rebuild (`<day>.rebuilding`, written durably) and loses its
//! writer; at the next open, a day that is marked, unreadable or missing
//! while parts of it exist is rebuilt from the stored rows (see
//! `crate::engine`). Hits are only used once their rows are found in
//! storage, so a hit whose row is gone (retention, a crash before the WAL
//! fsync) is dropped.

mod bulk;
pub mod docs;
mod search;
#[cfg(test)]
mod tests;

pub use bulk::PhraseCheck;
pub use docs::{Text, TextContent, TextDoc};
pub use search::{Highlighter, TextHit, TextHits, TextQuery, TextSnippet};

use crate::blobs::BlobStore;
use crate::error::StorageError;
use crate::memtable::RecentKeys;
use crate::Signal;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED,
    STRING, TEXT,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

pub const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// Days with an open writer at most (backfills touch many); each has an
/// equal part of the memory budget's text writers share
/// ([`crate::budget::MemoryShares::text_writers`]).
pub const MAX_WRITERS: usize = 3;
/// A writer with nothing to commit for this long is closed.
const IDLE_WRITER: Duration = Duration::from_secs(60);
/// How often the indexer commits on its own.
const COMMIT_INTERVAL: Duration = Duration::from_secs(2);
/// Text keys a writer remembers as indexed (beyond, a text may be indexed
/// twice in a day, which only costs space).
const SEEN_KEYS: usize = 1 << 16;
/// Queued jobs before ingest waits for the indexer.
const QUEUE: usize = 512;

/// The UTC day of a time (ns).
pub fn day_of(t: i64) -> i64 {
    t.div_euclid(DAY_NS)
}

fn day_name(day: i64) -> String {
    let ts = tael_core::time::format_rfc3339(day.saturating_mul(DAY_NS));
    ts.get(..10).unwrap_or(&ts).to_string()
}

fn parse_day_name(name: &str) -> Option<i64> {
    if name.len() != 10 {
        return None;
    }
    let t = tael_core::time::parse_rfc3339(&format!("{name}T00:00:00Z"))?;
    (day_name(day_of(t)) == name).then_some(day_of(t))
}

fn err(e: tantivy::TantivyError) -> StorageError {
    StorageError::TextIndex(e.to_string())
}

#[derive(Clone, Copy)]
struct Fields {
    text: Field,
    bulk: Field,
    kind: Field,
    key: Field,
    time: Field,
    service: Field,
    trace_id: Field,
    span_id: Field,
}

/// The index schema; `text` comes first so that queries parsed against a
/// schema of `text` alone (no other field can be named) fit it.
fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let f = Fields {
        text: b.add_text_field("text", TEXT),
        bulk: b.add_text_field(
            "bulk",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("default")
                    .set_index_option(IndexRecordOption::Basic),
            ),
        ),
        kind: b.add_text_field("kind", STRING),
        key: b.add_u64_field("key", INDEXED | FAST),
        // Row ids and times are read, never looked up: not indexed, so
        // they add no term per row (a range on `time` reads the column).
        time: b.add_i64_field("time", FAST),
        service: b.add_text_field("service", STRING),
        trace_id: b.add_text_field("trace_id", STORED),
        span_id: b.add_text_field("span_id", STORED),
    };
    (b.build(), f)
}

/// The `kind` field of a row document (metric points have no texts).
fn kind_code(k: Signal) -> &'static str {
    match k {
        Signal::Spans => "s",
        Signal::Logs => "l",
        Signal::Metrics => "m",
    }
}

/// One day's index as searches see it.
struct Day {
    index: Index,
    reader: IndexReader,
    /// The highest WAL sequence this day's last commit holds.
    committed_seq: AtomicU64,
}

/// What the indexer thread is asked to do.
enum Job {
    /// Index rows of WAL sequence `seq` (0: read back from parts); with
    /// `replay`, days that already hold `seq` skip them.
    Add {
        docs: Vec<TextDoc>,
        seq: u64,
        replay: bool,
        /// What the docs hold ([`TextDoc::heap_bytes`]), counted in
        /// [`TextIndex::queued_bytes`] until they are indexed.
        bytes: usize,
    },
    /// Commit every day with uncommitted rows, then answer.
    Commit(SyncSender<()>),
    /// Commit a rebuilt day and clear its mark, then answer.
    FinishRebuild(i64, SyncSender<Result<(), StorageError>>),
    /// Delete the days that end at or before this time, then answer how many.
    DropBefore(i64, SyncSender<usize>),
}

/// Shared by searches and the indexer thread.
struct Shared {
    dir: PathBuf,
    schema: Schema,
    f: Fields,
    days: RwLock<BTreeMap<i64, Arc<Day>>>,
    blobs: Arc<BlobStore>,
}

/// The full-text index (see the module docs).
pub struct TextIndex {
    shared: Arc<Shared>,
    /// An empty in-memory index of `text` alone, to parse queries.
    parser_index: Index,
    jobs: Mutex<Option<SyncSender<Job>>>,
    indexer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Bytes of the docs queued and not yet indexed.
    queued: Arc<AtomicUsize>,
}

impl Shared {
    fn path(&self, day: i64) -> PathBuf {
        self.dir.join(day_name(day))
    }

    fn marker(&self, day: i64) -> PathBuf {
        self.dir.join(format!("{}.rebuilding", day_name(day)))
    }

    fn open_day(&self, path: &Path) -> Result<Day, StorageError> {
        let index = Index::open_in_dir(path).map_err(err)?;
        let same =
            serde_json::to_string(&index.schema()).ok() == serde_json::to_string(&self.schema).ok();
        if !same {
            return Err(StorageError::TextIndex("schema differs".into()));
        }
        let committed_seq = index
            .load_metas()
            .map_err(err)?
            .payload
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .and_then(|v| v["seq"].as_u64())
            .unwrap_or(0);
        Self::day_of_index(index, committed_seq)
    }

    fn day_of_index(index: Index, committed_seq: u64) -> Result<Day, StorageError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Day {
            index,
            reader,
            committed_seq: AtomicU64::new(committed_seq),
        })
    }

    /// The index of `day`, created when missing.
    fn day(&self, day: i64) -> Result<Arc<Day>, StorageError> {
        if let Some(d) = self.days.read().get(&day) {
            return Ok(d.clone());
        }
        let mut days = self.days.write();
        if let Some(d) = days.get(&day) {
            return Ok(d.clone());
        }
        let path = self.path(day);
        std::fs::create_dir_all(&path).map_err(|e| StorageError::io(&path, e))?;
        let index = Index::create_in_dir(&path, self.schema.clone()).map_err(err)?;
        let d = Arc::new(Self::day_of_index(index, 0)?);
        days.insert(day, d.clone());
        Ok(d)
    }

    fn all_days(&self) -> Vec<(i64, Arc<Day>)> {
        self.days
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Marks `day` for a rebuild at the next open, durably.
    fn mark_for_rebuild(&self, day: i64) -> Result<(), StorageError> {
        crate::part::write_file_durably(&self.marker(day), b"")
    }

    /// The content of a text (`None` when its blob is gone).
    fn content(&self, t: &Text) -> Option<String> {
        match &t.content {
            TextContent::Inline(s) => Some(s.clone()),
            TextContent::Blob(h) => match self.blobs.get(h) {
                Ok(b) => b.map(|b| {
                    String::from_utf8(b)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
                }),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable payload blob; not indexing it");
                    None
                }
            },
        }
    }
}

impl TextIndex {
    /// Opens the index under `dir` and starts its indexer thread. Returns
    /// the days to rebuild: those that could not be opened (removed) or
    /// whose rebuild was cut short.
    pub fn open(dir: &Path, blobs: Arc<BlobStore>) -> Result<(TextIndex, Vec<i64>), StorageError> {
        let writers = crate::budget::MemoryShares::default().text_writers(MAX_WRITERS);
        Self::open_within(dir, blobs, writers)
    }

    /// [`TextIndex::open`] with at most `writers.0` writers open at once,
    /// each indexing in `writers.1` bytes.
    pub fn open_within(
        dir: &Path,
        blobs: Arc<BlobStore>,
        (max_writers, writer_bytes): (usize, usize),
    ) -> Result<(TextIndex, Vec<i64>), StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let (schema, f) = schema();
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            schema,
            f,
            days: RwLock::new(BTreeMap::new()),
            blobs,
        });
        let mut rebuild = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(day) = parse_day_name(&name) else {
                continue;
            };
            let path = entry.path();
            let interrupted = shared.marker(day).exists();
            match (interrupted, shared.open_day(&path)) {
                (false, Ok(d)) => {
                    shared.days.write().insert(day, Arc::new(d));
                }
                (_, res) => {
                    if let Err(e) = res {
                        tracing::warn!(day = %name, error = %e, "unreadable text index; rebuilding it");
                    }
                    let _ = std::fs::remove_dir_all(&path);
                    rebuild.push(day);
                }
            }
        }
        // Markers of days whose index directory is gone.
        for entry in std::fs::read_dir(dir)
            .map_err(|e| StorageError::io(dir, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(day) = name.strip_suffix(".rebuilding").and_then(parse_day_name) {
                if !rebuild.contains(&day) && !shared.days.read().contains_key(&day) {
                    rebuild.push(day);
                }
            }
        }
        let mut pb = Schema::builder();
        pb.add_text_field("text", TEXT);
        let (tx, rx) = sync_channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let worker = Indexer {
            shared: shared.clone(),
            queued: queued.clone(),
            max_writers,
            writer_bytes,
            writers: HashMap::new(),
            failed: HashSet::new(),
            last_commit: Instant::now(),
        };
        let handle = std::thread::Builder::new()
            .name("tael-text-index".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StorageError::io(dir, e))?;
        Ok((
            TextIndex {
                shared,
                parser_index: Index::create_in_ram(pb.build()),
                jobs: Mutex::new(Some(tx)),
                indexer: Mutex::new(Some(handle)),
                queued,
            },
            rebuild,
        ))
    }

    /// Caps each day's committed WAL sequence at `last_seq`, the last
    /// record the WAL holds: a commit can name records whose fsync a power
    /// loss undid, whose sequence numbers are then used again.
    pub fn clamp_committed(&self, last_seq: u64) {
        for (_, d) in self.shared.all_days() {
            d.committed_seq.fetch_min(last_seq, Ordering::AcqRel);
        }
    }

    /// Queues `job`; gives it back when the indexer is gone.
    fn send(&self, job: Job) -> Result<(), Job> {
        let tx = self.jobs.lock().clone();
        match tx {
            Some(tx) => tx.send(job).map_err(|e| e.0),
            None => Err(job),
        }
    }

    /// The days that have an index.
    pub fn days(&self) -> Vec<i64> {
        self.shared.days.read().keys().copied().collect()
    }

    /// Makes sure `day` has an index (empty when none of its rows has
    /// text), so that it is not taken for a lost one.
    pub fn ensure_day(&self, day: i64) -> Result<(), StorageError> {
        self.shared.day(day).map(|_| ())
    }

    /// Queues rows applied with WAL sequence `seq` for indexing (`seq` 0:
    /// rows read back from parts by a rebuild; `replay`: from WAL replay).
    pub fn add(&self, docs: Vec<TextDoc>, seq: u64, replay: bool) {
        if docs.is_empty() {
            return;
        }
        let bytes = docs.iter().map(TextDoc::heap_bytes).sum();
        self.queued.fetch_add(bytes, Ordering::AcqRel);
        let job = Job::Add {
            docs,
            seq,
            replay,
            bytes,
        };
        if let Err(Job::Add { docs, bytes, .. }) = self.send(job) {
            self.queued.fetch_sub(bytes, Ordering::AcqRel);
            tracing::error!(seq, "the text indexer is gone; rows not indexed, their days are rebuilt at the next start");
            let days: HashSet<i64> = docs.iter().map(|d| day_of(d.time_ns)).collect();
            for day in days {
                let _ = self.shared.mark_for_rebuild(day);
            }
        }
    }

    /// Indexes everything queued so far and commits it.
    pub fn commit(&self) {
        let (tx, rx) = sync_channel(1);
        if self.send(Job::Commit(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// Deletes the days that end at or before `cutoff_ns`. How many.
    pub fn drop_before(&self, cutoff_ns: i64) -> usize {
        let (tx, rx) = sync_channel(1);
        match self.send(Job::DropBefore(cutoff_ns, tx)).is_ok() {
            true => rx.recv().unwrap_or(0),
            false => 0,
        }
    }

    /// Marks `day` as being rebuilt (its index is created empty).
    pub fn begin_rebuild(&self, day: i64) -> Result<(), StorageError> {
        self.shared.mark_for_rebuild(day)?;
        self.ensure_day(day)
    }

    /// Commits a rebuilt day (after the rows queued for it) and clears its
    /// mark.
    pub fn finish_rebuild(&self, day: i64) -> Result<(), StorageError> {
        let (tx, rx) = sync_channel(1);
        if self.send(Job::FinishRebuild(day, tx)).is_err() {
            return Err(StorageError::TextIndex("the text indexer is gone".into()));
        }
        rx.recv()
            .map_err(|_| StorageError::TextIndex("the text indexer is gone".into()))?
    }

    /// The content of a text (`None` when its blob is gone).
    pub fn content(&self, t: &Text) -> Option<String> {
        self.shared.content(t)
    }

    /// Bytes of the rows' texts queued and not yet indexed.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Days, documents (text and row) and bytes on disk.
    pub fn stats(&self) -> TextIndexStats {
        let mut s = TextIndexStats::default();
        for (day, d) in self.shared.all_days() {
            s.days += 1;
            s.docs += d.reader.searcher().num_docs();
            s.bytes += dir_bytes(&self.shared.path(day));
        }
        s
    }
}

impl Drop for TextIndex {
    /// Stops the indexer after it has indexed and committed the queue.
    fn drop(&mut self) {
        self.jobs.lock().take();
        if let Some(h) = self.indexer.lock().take() {
            let _ = h.join();
        }
    }
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Counters for `/api/v1/stats`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct TextIndexStats {
    pub days: u64,
    pub docs: u64,
    pub bytes: u64,
}

struct DayWriter {
    writer: IndexWriter,
    /// Keys of texts recently indexed in this day.
    seen: RecentKeys,
    pending_seq: u64,
    dirty: bool,
    last_used: Instant,
}

/// The indexer thread's state: the open writers.
struct Indexer {
    shared: Arc<Shared>,
    /// [`TextIndex::queued`].
    queued: Arc<AtomicUsize>,
    max_writers: usize,
    writer_bytes: usize,
    writers: HashMap<i64, DayWriter>,
    /// Days marked for rebuild since the open (their writes went wrong).
    failed: HashSet<i64>,
    last_commit: Instant,
}

impl Indexer {
    fn run(mut self, rx: Receiver<Job>) {
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(Job::Add {
                    docs,
                    seq,
                    replay,
                    bytes,
                }) => {
                    self.add(docs, seq, replay);
                    self.queued.fetch_sub(bytes, Ordering::AcqRel);
                }
                Ok(Job::Commit(done)) => {
                    self.commit_all();
                    let _ = done.send(());
                }
                Ok(Job::FinishRebuild(day, done)) => {
                    let _ = done.send(self.finish_rebuild(day));
                }
                Ok(Job::DropBefore(cutoff, done)) => {
                    let _ = done.send(self.drop_before(cutoff));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.last_commit.elapsed() >= COMMIT_INTERVAL {
                self.commit_all();
                self.close_idle();
            }
        }
        self.commit_all();
        for (_, w) in self.writers.drain() {
            let _ = w.writer.wait_merging_threads();
        }
    }

    /// Drops the writer of `day` (its uncommitted rows are lost) and marks
    /// the day for a rebuild at the next open.
    fn fail(&mut self, day: i64, e: &StorageError) {
        tracing::error!(day = %day_name(day), error = %e, "text index write failed; the day is rebuilt at the next start");
        self.writers.remove(&day);
        if !self.failed.insert(day) {
            return;
        }
        if let Err(e) = self.shared.mark_for_rebuild(day) {
            tracing::error!(error = %e, "cannot mark a text index day for rebuild");
        }
    }

    fn add(&mut self, docs: Vec<TextDoc>, seq: u64, replay: bool) {
        let mut by_day: BTreeMap<i64, Vec<TextDoc>> = BTreeMap::new();
        for d in docs {
            by_day.entry(day_of(d.time_ns)).or_default().push(d);
        }
        for (day, docs) in by_day {
            if let Err(e) = self.add_day(day, docs, seq, replay) {
                self.fail(day, &e);
            }
        }
    }

    fn writer(&mut self, day: i64, d: &Day) -> Result<&mut DayWriter, StorageError> {
        if !self.writers.contains_key(&day) {
            if self.writers.len() >= self.max_writers {
                // The least recently used goes.
                if let Some(old) = self
                    .writers
                    .iter()
                    .min_by_key(|(_, w)| w.last_used)
                    .map(|(k, _)| *k)
                {
                    self.close(old);
                }
            }
            let writer = d
                .index
                .writer_with_num_threads(1, self.writer_bytes)
                .map_err(err)?;
            self.writers.insert(
                day,
                DayWriter {
                    writer,
                    seen: RecentKeys::new(SEEN_KEYS),
                    pending_seq: d.committed_seq.load(Ordering::Acquire),
                    dirty: false,
                    last_used: Instant::now(),
                },
            );
        }
        self.writers
            .get_mut(&day)
            .ok_or_else(|| StorageError::TextIndex("no writer".into()))
    }

    fn add_day(
        &mut self,
        day: i64,
        docs: Vec<TextDoc>,
        seq: u64,
        replay: bool,
    ) -> Result<(), StorageError> {
        let d = self.shared.day(day)?;
        if replay && seq <= d.committed_seq.load(Ordering::Acquire) {
            return Ok(());
        }
        let (f, shared) = (self.shared.f, self.shared.clone());
        let w = self.writer(day, &d)?;
        for doc in docs {
            let mut row = TantivyDocument::new();
            row.add_text(f.kind, kind_code(doc.kind));
            for t in &doc.texts {
                row.add_u64(f.key, t.key);
                if w.seen.contains(t.key) {
                    continue;
                }
                // A blob that cannot be read now is tried again with the
                // next row that carries it.
                let Some(content) = shared.content(t) else {
                    continue;
                };
                let mut td = TantivyDocument::new();
                td.add_text(f.kind, "t");
                td.add_u64(f.key, t.key);
                match t.content {
                    TextContent::Blob(_) => td.add_text(f.bulk, &content),
                    TextContent::Inline(_) => td.add_text(f.text, &content),
                }
                w.writer.add_document(td).map_err(err)?;
                w.seen.insert(t.key);
            }
            row.add_i64(f.time, doc.time_ns);
            row.add_text(f.service, &doc.service);
            row.add_text(f.trace_id, &doc.trace_id);
            row.add_text(f.span_id, &doc.span_id);
            w.writer.add_document(row).map_err(err)?;
        }
        w.pending_seq = w.pending_seq.max(seq);
        w.dirty = true;
        w.last_used = Instant::now();
        Ok(())
    }

    fn commit_day(&mut self, day: i64) -> Result<(), StorageError> {
        let Some(w) = self.writers.get_mut(&day) else {
            return Ok(());
        };
        if !w.dirty {
            return Ok(());
        }
        let d = self.shared.day(day)?;
        let mut pc = w.writer.prepare_commit().map_err(err)?;
        pc.set_payload(&format!("{{\"seq\":{}}}", w.pending_seq));
        pc.commit().map_err(err)?;
        d.committed_seq.store(w.pending_seq, Ordering::Release);
        w.dirty = false;
        d.reader.reload().map_err(err)
    }

    fn commit_all(&mut self) {
        let days: Vec<i64> = self.writers.keys().copied().collect();
        for day in days {
            if let Err(e) = self.commit_day(day) {
                self.fail(day, &e);
            }
        }
        self.last_commit = Instant::now();
    }

    /// Commits and closes the writer of `day`.
    fn close(&mut self, day: i64) {
        if let Err(e) = self.commit_day(day) {
            self.fail(day, &e);
        }
        if let Some(w) = self.writers.remove(&day) {
            if let Err(e) = w.writer.wait_merging_threads() {
                tracing::warn!(error = %e, "text index merge failed");
            }
        }
    }

    fn close_idle(&mut self) {
        let idle: Vec<i64> = self
            .writers
            .iter()
            .filter(|(_, w)| !w.dirty && w.last_used.elapsed() >= IDLE_WRITER)
            .map(|(k, _)| *k)
            .collect();
        for day in idle {
            self.close(day);
        }
    }

    fn finish_rebuild(&mut self, day: i64) -> Result<(), StorageError> {
        self.commit_day(day)?;
        if self.failed.contains(&day) {
            // Rows were lost on the way: the mark stays for the next open.
            return Err(StorageError::TextIndex(format!(
                "the rebuild of {} failed",
                day_name(day)
            )));
        }
        let m = self.shared.marker(day);
        std::fs::remove_file(&m).map_err(|e| StorageError::io(&m, e))
    }

    fn drop_before(&mut self, cutoff_ns: i64) -> usize {
        let doomed: Vec<i64> = self
            .shared
            .days
            .read()
            .keys()
            .copied()
            .filter(|d| (d + 1).saturating_mul(DAY_NS) <= cutoff_ns)
            .collect();
        for day in &doomed {
            if let Some(w) = self.writers.remove(day) {
                let _ = w.writer.wait_merging_threads();
            }
            // Under the lock: a flush may be creating the day meanwhile.
            let mut days = self.shared.days.write();
            days.remove(day);
            let path = self.shared.path(*day);
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::error!(dir = %path.display(), error = %e, "cannot delete an expired text index day");
            }
            let _ = std::fs::remove_file(self.shared.marker(*day));
            drop(days);
        }
        doomed.len()
    }
}
