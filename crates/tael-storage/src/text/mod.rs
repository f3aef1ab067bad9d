//! The full-text index over payloads and log bodies (tantivy).
//!
//! Layout: `<data>/text/<YYYY-MM-DD>/`, one tantivy index per UTC day of
//! the rows' time (span start, log time), so retention drops whole days.
//! One schema holds three kinds of documents:
//!
//! - text (`kind` = "t"): one per distinct text per day: `key` (the first
//!   8 bytes of the text's sha256, so a payload moved to the blob store has
//!   its blob's key) and `text` (tokenised, not stored). A system prompt
//!   sent by a thousand calls is tokenised once a day;
//! - span ("s") and log ("l") rows: `key` (one per text of the row, see
//!   [`docs`]), `time` (ns), `service`, `trace_id` and `span_id` (stored).
//!
//! A search finds the keys of the matching texts, then the newest rows that
//! carry one of them.
//!
//! Consistency: rows are indexed as they are applied (after their WAL
//! append) and committed every few seconds, before a search (a search sees
//! every acknowledged write) and before a flush lets the WAL go. A commit
//! records the highest WAL sequence it holds (commit payload `{"seq":N}`),
//! so WAL replay skips what a day already holds. Hits are only used once
//! their rows are found in storage, so a hit whose row is gone (retention,
//! a crash between commit and fsync) is dropped. A day whose index is
//! missing, unreadable or was being rebuilt is rebuilt from the stored rows
//! (see `crate::engine`); `<day>.rebuilding` marks one under way.

pub mod docs;
mod search;
#[cfg(test)]
mod tests;

pub use docs::{DocKind, Text, TextContent, TextDoc};
pub use search::{Highlighter, TextHit, TextHits, TextQuery, TextSnippet};

use crate::blobs::BlobStore;
use crate::error::StorageError;
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, Value as _, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument, Term,
};

pub const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// Indexing memory of one day's writer.
const WRITER_BYTES: usize = 48 << 20;
/// Days with an open writer at most (backfills touch many).
const MAX_WRITERS: usize = 3;
/// A writer with nothing to commit for this long is closed.
const IDLE_WRITER: Duration = Duration::from_secs(60);
/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;

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
        kind: b.add_text_field("kind", STRING),
        key: b.add_u64_field("key", INDEXED | FAST),
        time: b.add_i64_field("time", INDEXED | FAST),
        service: b.add_text_field("service", STRING),
        trace_id: b.add_text_field("trace_id", STRING | STORED),
        span_id: b.add_text_field("span_id", STORED),
    };
    (b.build(), f)
}

fn kind_code(k: DocKind) -> &'static str {
    match k {
        DocKind::Span => "s",
        DocKind::Log => "l",
    }
}

struct DayWriter {
    writer: IndexWriter,
    /// Keys of the texts this day holds (committed or not).
    seen: HashSet<u64>,
    pending_seq: u64,
    dirty: bool,
    last_used: Instant,
}

struct DayState {
    writer: Option<DayWriter>,
    committed_seq: u64,
}

struct Day {
    index: Index,
    reader: IndexReader,
    state: Mutex<DayState>,
}

/// The full-text index (see the module docs).
pub struct TextIndex {
    dir: PathBuf,
    schema: Schema,
    f: Fields,
    /// An empty in-memory index of `text` alone, to parse queries.
    parser_index: Index,
    days: RwLock<BTreeMap<i64, Arc<Day>>>,
    blobs: Arc<BlobStore>,
}

impl TextIndex {
    /// Opens the index under `dir`. Returns the days to rebuild: those
    /// that could not be opened (removed) or whose rebuild was cut short.
    pub fn open(dir: &Path, blobs: Arc<BlobStore>) -> Result<(TextIndex, Vec<i64>), StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let (schema, f) = schema();
        let mut pb = Schema::builder();
        pb.add_text_field("text", TEXT);
        let parser_index = Index::create_in_ram(pb.build());
        let idx = TextIndex {
            dir: dir.to_path_buf(),
            schema,
            f,
            parser_index,
            days: RwLock::new(BTreeMap::new()),
            blobs,
        };
        let mut rebuild = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(day) = parse_day_name(&name) else {
                continue;
            };
            let path = entry.path();
            let interrupted = idx.marker(day).exists();
            match (interrupted, idx.open_day(&path)) {
                (false, Ok(d)) => {
                    idx.days.write().insert(day, Arc::new(d));
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
        Ok((idx, rebuild))
    }

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
        self.day_of_index(index, committed_seq)
    }

    fn day_of_index(&self, index: Index, committed_seq: u64) -> Result<Day, StorageError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Day {
            index,
            reader,
            state: Mutex::new(DayState {
                writer: None,
                committed_seq,
            }),
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
        let d = Arc::new(self.day_of_index(index, 0)?);
        days.insert(day, d.clone());
        Ok(d)
    }

    /// The days that have an index.
    pub fn days(&self) -> Vec<i64> {
        self.days.read().keys().copied().collect()
    }

    /// Makes sure `day` has an index (empty when none of its rows has
    /// text), so that it is not taken for a lost one.
    pub fn ensure_day(&self, day: i64) -> Result<(), StorageError> {
        self.day(day).map(|_| ())
    }

    fn open_writer<'a>(
        &self,
        d: &Day,
        st: &'a mut DayState,
    ) -> Result<&'a mut DayWriter, StorageError> {
        if st.writer.is_none() {
            let writer = d
                .index
                .writer_with_num_threads(1, WRITER_BYTES)
                .map_err(err)?;
            let seen = self.committed_keys(&d.reader.searcher())?;
            st.writer = Some(DayWriter {
                writer,
                seen,
                pending_seq: st.committed_seq,
                dirty: false,
                last_used: Instant::now(),
            });
        }
        st.writer
            .as_mut()
            .ok_or_else(|| StorageError::TextIndex("no writer".into()))
    }

    fn committed_keys(&self, searcher: &Searcher) -> Result<HashSet<u64>, StorageError> {
        self.keys_matching(searcher, None)
    }

    /// The content of a text (`None` when its blob is gone).
    pub fn content(&self, t: &Text) -> Option<String> {
        match &t.content {
            TextContent::Inline(s) => Some(s.clone()),
            TextContent::Blob(h) => match self.blobs.get(h) {
                Ok(b) => b.map(|b| String::from_utf8_lossy(&b).into_owned()),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable payload blob; not indexing it");
                    None
                }
            },
        }
    }

    /// Indexes rows applied with WAL sequence `seq` (0: rows read back from
    /// parts by a rebuild). Days that already committed `seq` skip them
    /// (WAL replay).
    pub fn add(&self, docs: &[TextDoc], seq: u64) -> Result<(), StorageError> {
        let mut by_day: BTreeMap<i64, Vec<&TextDoc>> = BTreeMap::new();
        for d in docs {
            by_day.entry(day_of(d.time_ns)).or_default().push(d);
        }
        let opened = by_day.len();
        for (day, docs) in by_day {
            let d = self.day(day)?;
            let mut st = d.state.lock();
            if seq != 0 && seq <= st.committed_seq {
                continue;
            }
            let w = self.open_writer(&d, &mut st)?;
            for doc in docs {
                let mut row = TantivyDocument::new();
                row.add_text(self.f.kind, kind_code(doc.kind));
                for t in &doc.texts {
                    row.add_u64(self.f.key, t.key);
                    if w.seen.contains(&t.key) {
                        continue;
                    }
                    let Some(content) = self.content(t) else {
                        continue;
                    };
                    let mut td = TantivyDocument::new();
                    td.add_text(self.f.kind, "t");
                    td.add_u64(self.f.key, t.key);
                    td.add_text(self.f.text, &content);
                    w.writer.add_document(td).map_err(err)?;
                    w.seen.insert(t.key);
                }
                row.add_i64(self.f.time, doc.time_ns);
                row.add_text(self.f.service, &doc.service);
                row.add_text(self.f.trace_id, &doc.trace_id);
                row.add_text(self.f.span_id, &doc.span_id);
                w.writer.add_document(row).map_err(err)?;
            }
            w.pending_seq = w.pending_seq.max(seq);
            w.dirty = true;
            w.last_used = Instant::now();
        }
        if opened > 0 {
            self.limit_writers()?;
        }
        Ok(())
    }

    fn commit_day(d: &Day, st: &mut DayState) -> Result<(), StorageError> {
        let Some(w) = st.writer.as_mut() else {
            return Ok(());
        };
        if !w.dirty {
            return Ok(());
        }
        let mut pc = w.writer.prepare_commit().map_err(err)?;
        pc.set_payload(&format!("{{\"seq\":{}}}", w.pending_seq));
        pc.commit().map_err(err)?;
        st.committed_seq = w.pending_seq;
        w.dirty = false;
        d.reader.reload().map_err(err)
    }

    fn all_days(&self) -> Vec<(i64, Arc<Day>)> {
        self.days
            .read()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Commits every day with uncommitted rows.
    pub fn commit(&self) -> Result<(), StorageError> {
        for (_, d) in self.all_days() {
            Self::commit_day(&d, &mut d.state.lock())?;
        }
        Ok(())
    }

    /// Closes writers beyond [`MAX_WRITERS`] (least recently used first)
    /// and those idle for [`IDLE_WRITER`], committing them first.
    fn limit_writers(&self) -> Result<(), StorageError> {
        let mut open: Vec<(Instant, Arc<Day>)> = self
            .all_days()
            .into_iter()
            .filter_map(|(_, d)| {
                let used = d.state.lock().writer.as_ref().map(|w| w.last_used)?;
                Some((used, d))
            })
            .collect();
        open.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
        for (i, (used, d)) in open.into_iter().enumerate() {
            if i >= MAX_WRITERS || used.elapsed() >= IDLE_WRITER {
                let mut st = d.state.lock();
                Self::commit_day(&d, &mut st)?;
                if let Some(w) = st.writer.take() {
                    w.writer.wait_merging_threads().map_err(err)?;
                }
            }
        }
        Ok(())
    }

    /// Periodic upkeep: commits, and closes idle writers.
    pub fn maintain(&self) -> Result<(), StorageError> {
        self.commit()?;
        self.limit_writers()
    }

    /// Deletes the days that end at or before `cutoff_ns`. How many.
    pub fn drop_before(&self, cutoff_ns: i64) -> usize {
        let doomed: Vec<(i64, Arc<Day>)> = {
            let mut days = self.days.write();
            let old: Vec<i64> = days
                .keys()
                .copied()
                .filter(|d| (d + 1).saturating_mul(DAY_NS) <= cutoff_ns)
                .collect();
            old.into_iter()
                .filter_map(|k| days.remove(&k).map(|d| (k, d)))
                .collect()
        };
        for (day, d) in &doomed {
            if let Some(w) = d.state.lock().writer.take() {
                let _ = w.writer.wait_merging_threads();
            }
            let path = self.path(*day);
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::error!(dir = %path.display(), error = %e, "cannot delete an expired text index day");
            }
        }
        doomed.len()
    }

    /// Marks `day` as being rebuilt (its index is created empty).
    pub fn begin_rebuild(&self, day: i64) -> Result<(), StorageError> {
        let m = self.marker(day);
        std::fs::write(&m, b"").map_err(|e| StorageError::io(&m, e))?;
        self.ensure_day(day)
    }

    /// Commits a rebuilt day and clears its mark.
    pub fn finish_rebuild(&self, day: i64) -> Result<(), StorageError> {
        let d = self.day(day)?;
        Self::commit_day(&d, &mut d.state.lock())?;
        let m = self.marker(day);
        std::fs::remove_file(&m).map_err(|e| StorageError::io(&m, e))
    }

    /// Days, text documents and row documents, and bytes on disk.
    pub fn stats(&self) -> TextIndexStats {
        let mut s = TextIndexStats::default();
        for (day, d) in self.all_days() {
            s.days += 1;
            s.docs += d.reader.searcher().num_docs();
            s.bytes += dir_bytes(&self.path(day));
        }
        s
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
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TextIndexStats {
    pub days: u64,
    pub docs: u64,
    pub bytes: u64,
}
