//! Parquet parts: writing (sorted, zstd, page statistics, bloom filter on
//! `trace_id`, fsynced with its directory) and reading with pruning by
//! row-group statistics and bloom filters. A part's location (see
//! `crate::objects`) is `<signal>/<YYYYMMDDHH>/part-<id>.parquet`; spans
//! parts have a `part-<id>.rollup.json` sidecar (see `rollup.rs`). Parts
//! are written as local files in the data dir, published through the
//! engine's [`Objects`] handle, and read from their local files (fetched
//! first when only the object store has them).
//!
//! Sort orders: spans by (trace_id, start_ns) within each row group, whose
//! rows are a row group's worth of arrival order, so the spans of a trace
//! that arrived together sit in one row group and next to each other
//! (reading a trace whole is the commonest agent query: the `trace_id`
//! bloom filter finds its row groups; service filters read the small
//! dictionary-encoded `service`/`status` columns instead of pruning row
//! groups by them), and row groups keep to narrow time ranges; logs the
//! same by (trace_id, time_ns) (logs without a trace come first in each
//! row group, in time order); metrics by (name, service, time_ns) over the
//! whole part, so a metric's points share few row groups. Row groups
//! hold 8192 rows, data pages 1024 (see `PAGE_ROWS`). Zstd level 1, except
//! the columns in `UNCOMPRESSED`.

use crate::error::StorageError;
use crate::manifest::{PartMeta, Signal};
use crate::objects::Objects;
use crate::wal::sync_dir;
use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::async_reader::MetadataFetch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::basic::{Compression, ZstdLevel};
use parquet::bloom_filter::Sbbf;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader, RowGroupMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

pub const ROW_GROUP_ROWS: usize = 8192;
/// Rows per data page.
pub const PAGE_ROWS: usize = 1024;
const HOUR_NS: i64 = 3_600_000_000_000;

/// Start of the hour containing `t`.
pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR_NS) * HOUR_NS
}

fn hour_dir_name(hour_ns: i64) -> String {
    let text = tael_core::time::format_rfc3339(hour_ns);
    // "2026-11-28T02:00:00Z" → "2026112802"
    text.chars()
        .filter(|c| c.is_ascii_digit())
        .take(10)
        .collect()
}

/// Relative path of a part file.
pub fn part_rel_path(signal: Signal, hour_ns: i64, id: u64) -> String {
    format!(
        "{}/{}/part-{id:012}.parquet",
        signal.name(),
        hour_dir_name(hour_ns)
    )
}

/// Location of the rollup sidecar of a part (its location with
/// `.rollup.json` for `.parquet`).
pub fn rollup_location(part_location: &str) -> String {
    let stem = part_location
        .strip_suffix(".parquet")
        .unwrap_or(part_location);
    format!("{stem}.rollup.json")
}

/// The location of the part a location belongs to: the part itself, or
/// the part of a rollup sidecar (the inverse of [`rollup_location`]).
pub fn part_location_of(location: &str) -> String {
    match location.strip_suffix(".rollup.json") {
        Some(stem) => format!("{stem}.parquet"),
        None => location.to_string(),
    }
}

/// The part sort order of a signal.
pub fn sort_key_names(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::Spans => &["trace_id", "start_ns"],
        Signal::Logs => &["trace_id", "time_ns"],
        Signal::Metrics => &["name", "service", "time_ns"],
    }
}

/// Columns whose values are (nearly) unique per row: no dictionary.
const HIGH_CARDINALITY: &[&str] = &[
    "trace_id",
    "span_id",
    "parent_span_id",
    "attributes",
    "events",
    "links",
    "body",
    "body_json",
    "exemplars",
    "distribution",
    "observed_ns",
    "end_ns",
    "duration_ns",
    "value",
];
/// Columns stored without compression. Dictionary-encoded columns with a
/// handful of distinct values (or constant): their pages are a few bytes of
/// RLE indices, so compressing them saves nothing, while a point lookup
/// (trace by id) would pay a zstd context and a decompression per column
/// chunk it touches (about half of its time at 1M spans).
const UNCOMPRESSED: &[&str] = &[
    "service",
    "operation",
    "status",
    "status_message",
    "kind",
    "trace_state",
    "flags",
    "resource",
    "scope_name",
    "scope_version",
    "scope_attributes",
    "scope_dropped_attributes_count",
    "dropped_attributes_count",
    "dropped_events_count",
    "dropped_links_count",
    "severity",
    "severity_text",
    "severity_number",
    "event_name",
    "name",
    "description",
    "unit",
    "metric_type",
    "temporality",
    "is_monotonic",
];
/// Text columns with few distinct values, read as Arrow dictionaries by
/// filter scans. `attributes` and `resource` repeat per metric series (the
/// PromQL loader groups rows by them); no other scan reads them.
const DICTIONARY_READ: &[&str] = &[
    "attributes",
    "resource",
    "service",
    "operation",
    "status",
    "kind",
    "severity",
    "severity_text",
    "name",
    "metric_type",
];
/// Columns no query prunes on: no statistics (min/max of JSON is useless).
const NO_STATISTICS: &[&str] = &[
    "trace_id",
    "span_id",
    "parent_span_id",
    "attributes",
    "events",
    "links",
    "resource",
    "scope_attributes",
    "body",
    "body_json",
    "exemplars",
    "distribution",
    "status_message",
    "trace_state",
];

fn writer_props(signal: Signal) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Small pages: a lookup of a few rows (trace by id) decompresses
        // only the pages that hold them (via the offset index).
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS);
    for c in HIGH_CARDINALITY {
        b = b.set_column_dictionary_enabled((*c).into(), false);
    }
    for c in NO_STATISTICS {
        b = b.set_column_statistics_enabled((*c).into(), EnabledStatistics::None);
    }
    for c in UNCOMPRESSED {
        b = b.set_column_compression((*c).into(), Compression::UNCOMPRESSED);
    }
    if signal == Signal::Spans {
        // Span times are read by every duration filter and newest-first
        // scan; plain int64 costs ~16 B/span on disk and no decompression.
        for c in ["start_ns", "end_ns"] {
            b = b.set_column_compression(c.into(), Compression::UNCOMPRESSED);
        }
    }
    if matches!(signal, Signal::Spans | Signal::Logs) {
        b = b
            .set_column_bloom_filter_enabled("trace_id".into(), true)
            .set_column_bloom_filter_fpp("trace_id".into(), 0.01)
            .set_column_bloom_filter_max_ndv("trace_id".into(), ROW_GROUP_ROWS as u64);
    }
    b.build()
}

/// Where a part's bytes go: encoded from Arrow batches, or (once a row
/// group has been copied in as is) the plain Parquet file writer.
enum Sink {
    Arrow(ArrowWriter<File>),
    Raw(SerializedFileWriter<File>),
}

/// Writes a part file batch by batch (batches already in part order) or
/// by copying encoded row groups of other parts (compaction), then fsyncs
/// it and its directory and moves it into place.
pub struct PartWriter {
    path: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    rows: u64,
    /// File bytes written when writeback was last started.
    writeback_at: usize,
}

/// Part bytes written between two starts of writeback.
const WRITEBACK_BYTES: usize = 4 << 20;

/// Starts writeback of `file`'s dirty pages without waiting for it (Linux
/// `sync_file_range`; elsewhere nothing), as RocksDB's `bytes_per_sync`
/// does: the final fsync then has little left to write, and a part's
/// burst of tens of MiB no longer holds up the WAL fsyncs queued behind
/// it on the disk (a 100–600 ms stall of every ingest request otherwise).
fn start_writeback(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `file` is an open descriptor for the call's duration, and
        // the call only schedules I/O of its pages. A failure is harmless:
        // the fsync in `finish` writes whatever is left.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

impl PartWriter {
    pub fn create(
        path: &Path,
        signal: Signal,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<PartWriter, StorageError> {
        let dir = path
            .parent()
            .ok_or_else(|| StorageError::Corrupt("part path has no parent".into()))?;
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let tmp = path.with_extension("parquet.tmp");
        let file = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
        let writer = ArrowWriter::try_new(file, schema, Some(writer_props(signal)))?;
        Ok(PartWriter {
            path: path.to_path_buf(),
            tmp,
            sink: Some(Sink::Arrow(writer)),
            rows: 0,
            writeback_at: 0,
        })
    }

    /// Starts writeback when enough has been written since the last start.
    fn maybe_start_writeback(&mut self) {
        let (written, file) = match &self.sink {
            Some(Sink::Arrow(w)) => (w.bytes_written(), w.inner()),
            Some(Sink::Raw(w)) => (w.bytes_written(), w.inner()),
            None => return,
        };
        if written >= self.writeback_at + WRITEBACK_BYTES {
            start_writeback(file);
            self.writeback_at = written;
        }
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), StorageError> {
        self.rows += batch.num_rows() as u64;
        match &mut self.sink {
            Some(Sink::Arrow(w)) => w.write(batch)?,
            _ => {
                return Err(StorageError::Corrupt(
                    "batches cannot follow copied row groups in a part".into(),
                ))
            }
        }
        self.maybe_start_writeback();
        Ok(())
    }

    /// Appends row group `rg` of `src` without decoding it: its encoded
    /// column chunks, statistics, page index and bloom filters are copied
    /// byte for byte (the schema and writer settings are the same).
    pub fn copy_row_group(&mut self, src: &PartHandle, rg: usize) -> Result<(), StorageError> {
        let raw = match self.sink.take() {
            Some(Sink::Arrow(w)) => w.into_serialized_writer()?.0,
            Some(Sink::Raw(w)) => w,
            None => return Err(StorageError::Corrupt("part writer already failed".into())),
        };
        let mut raw = raw;
        let copied = src.copy_row_group_to(rg, &mut raw);
        self.sink = Some(Sink::Raw(raw));
        self.rows += copied?;
        self.maybe_start_writeback();
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Finishes the file durably; returns its size in bytes.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        let file = match self.sink.take() {
            Some(Sink::Arrow(w)) => w.into_inner()?,
            Some(Sink::Raw(w)) => w.into_inner()?,
            None => return Err(StorageError::Corrupt("part writer already failed".into())),
        };
        file.sync_all()
            .map_err(|e| StorageError::io(&self.tmp, e))?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| StorageError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(bytes)
    }
}

impl Drop for PartWriter {
    /// A part abandoned before `finish` (an error mid-flush) leaves no
    /// temporary file behind.
    fn drop(&mut self) {
        if self.sink.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a small file durably (tmp + fsync + rename + fsync dir).
pub fn write_file_durably(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| StorageError::Corrupt("path has no parent".into()))?;
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| StorageError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
    sync_dir(dir)
}

/// A part that queries can read. Dropping the last handle of a part that
/// compaction or retention has retired deletes its files, so a query that
/// took a snapshot never sees a file vanish under it.
pub struct PartHandle {
    pub meta: PartMeta,
    /// The local file (`meta.path` is the location).
    pub path: PathBuf,
    objects: Arc<Objects>,
    reader_meta: ArrowReaderMetadata,
    /// The same metadata with low-cardinality text columns read as Arrow
    /// dictionaries (see [`PartHandle::scan_group`]); built on first use.
    scan_meta: OnceLock<ArrowReaderMetadata>,
    trace_blooms: OnceLock<Vec<Option<Sbbf>>>,
    retired: AtomicBool,
}

impl std::fmt::Debug for PartHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartHandle")
            .field("meta", &self.meta)
            .finish()
    }
}

impl Drop for PartHandle {
    fn drop(&mut self) {
        if self.retired.load(Ordering::Acquire) {
            // No longer in the manifest: an orphan if a crash comes first
            // (removed at the next open).
            let rollup = rollup_location(&self.meta.path);
            for location in [&self.meta.path, &rollup] {
                if let Err(e) = self.objects.delete_object(location) {
                    tracing::warn!(%location, error = %e, "cannot delete a retired object");
                }
            }
            let _ = std::fs::remove_file(self.objects.local_path(&rollup));
            // The directory goes with the part's file, when left empty.
            crate::slow_delete::delete(self.path.clone());
        }
    }
}

/// Row-group predicate helpers.
#[derive(Default)]
pub struct RowGroupFilter<'a> {
    /// Keep row groups whose `time_col` max is ≥ this.
    pub min_time: Option<(&'a str, i64)>,
    /// Keep row groups whose `time_col` min is ≤ this.
    pub max_time: Option<(&'a str, i64)>,
    /// Keep row groups whose min ≤ value ≤ max for each (column, value).
    pub equals: Vec<(&'a str, &'a str)>,
    /// Keep row groups whose bloom filter on this column may contain this.
    pub bloom: Option<(&'a str, &'a str)>,
}

fn col_index(rg: &RowGroupMetaData, name: &str) -> Option<usize> {
    rg.columns()
        .iter()
        .position(|c| c.column_path().string() == name)
}

/// A part in the object store, read by byte ranges (its footer and page
/// index, when it has no local copy).
struct StoredPart {
    store: Arc<dyn object_store::ObjectStore>,
    key: object_store::path::Path,
}

impl MetadataFetch for StoredPart {
    fn fetch(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        use futures::FutureExt;
        use object_store::ObjectStoreExt;
        async move {
            self.store
                .get_range(&self.key, range)
                .await
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
        }
        .boxed()
    }
}

impl PartHandle {
    /// Opens the part at `meta.path` (a location of `objects`).
    pub fn open(objects: &Arc<Objects>, meta: PartMeta) -> Result<PartHandle, StorageError> {
        let path = objects.local_path(&meta.path);
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        // Without a local copy, only the footer (and page index) is read
        // from the store: a node starting on an empty cache downloads a
        // part when a read needs its data.
        let size = meta.bytes;
        let remote_options = options.clone();
        let remote = objects.with_remote(&meta.path, move |store, key| async move {
            let footer = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Optional)
                .load_and_finish(StoredPart { store, key }, size)
                .await?;
            ArrowReaderMetadata::try_new(Arc::new(footer), remote_options)
        });
        let reader_meta = match remote {
            Some(m) => m?,
            None => ArrowReaderMetadata::load(&objects.open_file(&meta.path)?, options)?,
        };
        Ok(PartHandle {
            meta,
            path,
            objects: objects.clone(),
            reader_meta,
            scan_meta: OnceLock::new(),
            trace_blooms: OnceLock::new(),
            retired: AtomicBool::new(false),
        })
    }

    /// Marks the part for deletion once no snapshot holds it.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub fn num_row_groups(&self) -> usize {
        self.reader_meta.metadata().num_row_groups()
    }

    /// Rows in row group `rg`.
    pub fn row_group_rows(&self, rg: usize) -> usize {
        self.reader_meta.metadata().row_group(rg).num_rows() as usize
    }

    /// The `trace_id` bloom filter of every row group, read once and kept.
    fn trace_blooms(&self) -> Result<&Vec<Option<Sbbf>>, StorageError> {
        if let Some(b) = self.trace_blooms.get() {
            return Ok(b);
        }
        let file = self.objects.open_file(&self.meta.path)?;
        let mut blooms = Vec::new();
        for rg in self.reader_meta.metadata().row_groups() {
            blooms.push(match col_index(rg, "trace_id") {
                Some(ci) => Sbbf::read_from_column_chunk(rg.column(ci), &file)?,
                None => None,
            });
        }
        Ok(self.trace_blooms.get_or_init(|| blooms))
    }

    /// Writes row group `rg` as is into `out` (see
    /// [`PartWriter::copy_row_group`]); returns its row count.
    fn copy_row_group_to(
        &self,
        rg: usize,
        out: &mut SerializedFileWriter<File>,
    ) -> Result<u64, StorageError> {
        let md = self.reader_meta.metadata();
        let rgm = md.row_group(rg);
        let file = self.objects.open_file(&self.meta.path)?;
        let trace_col = col_index(rgm, "trace_id");
        let blooms = match trace_col {
            Some(_) => Some(self.trace_blooms()?),
            None => None,
        };
        let page_index = |ci: usize| {
            let column = md
                .column_index()
                .and_then(|x| x.get(rg))
                .and_then(|x| x.get(ci))
                .cloned();
            let offset = md
                .offset_index()
                .and_then(|x| x.get(rg))
                .and_then(|x| x.get(ci))
                .cloned();
            (column, offset)
        };
        let mut w = out.next_row_group()?;
        for (ci, cm) in rgm.columns().iter().enumerate() {
            let (column_index, offset_index) = page_index(ci);
            let bloom_filter = match (trace_col, blooms) {
                (Some(t), Some(b)) if t == ci => b.get(rg).cloned().flatten(),
                _ => None,
            };
            let close = ColumnCloseResult {
                bytes_written: cm.compressed_size() as u64,
                rows_written: rgm.num_rows() as u64,
                metadata: cm.clone(),
                bloom_filter,
                column_index,
                offset_index,
            };
            w.append_column(&file, close)?;
        }
        w.close()?;
        Ok(rgm.num_rows() as u64)
    }

    /// Row groups that may hold matching rows.
    pub fn row_groups(&self, f: &RowGroupFilter<'_>) -> Result<Vec<usize>, StorageError> {
        let md = self.reader_meta.metadata();
        let blooms = match f.bloom {
            Some(("trace_id", _)) => Some(self.trace_blooms()?),
            _ => None,
        };
        let mut keep = Vec::new();
        for (i, rg) in md.row_groups().iter().enumerate() {
            if let Some((col, min_time)) = f.min_time {
                if let Some(Statistics::Int64(s)) =
                    col_index(rg, col).and_then(|c| rg.column(c).statistics())
                {
                    if s.max_opt().is_some_and(|m| *m < min_time) {
                        continue;
                    }
                }
            }
            if let Some((col, max_time)) = f.max_time {
                if let Some(Statistics::Int64(s)) =
                    col_index(rg, col).and_then(|c| rg.column(c).statistics())
                {
                    if s.min_opt().is_some_and(|m| *m > max_time) {
                        continue;
                    }
                }
            }
            let pruned = f.equals.iter().any(|(col, value)| {
                match col_index(rg, col).and_then(|c| rg.column(c).statistics()) {
                    Some(Statistics::ByteArray(s)) => {
                        let v = value.as_bytes();
                        s.min_opt().is_some_and(|m| v < m.data())
                            || s.max_opt().is_some_and(|m| v > m.data())
                    }
                    _ => false,
                }
            });
            if pruned {
                continue;
            }
            if let (Some(blooms), Some((_, value))) = (blooms, f.bloom) {
                if let Some(Some(sbbf)) = blooms.get(i) {
                    if !sbbf.check(&value) {
                        continue;
                    }
                }
            }
            keep.push(i);
        }
        Ok(keep)
    }

    fn builder(&self) -> Result<ParquetRecordBatchReaderBuilder<File>, StorageError> {
        self.builder_with(self.reader_meta.clone())
    }

    fn builder_with(
        &self,
        meta: ArrowReaderMetadata,
    ) -> Result<ParquetRecordBatchReaderBuilder<File>, StorageError> {
        let file = self.objects.open_file(&self.meta.path)?;
        Ok(
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta)
                .with_batch_size(ROW_GROUP_ROWS),
        )
    }

    /// Reads row group `rg` (all columns, or only `columns`).
    fn read_group_with(
        &self,
        meta: ArrowReaderMetadata,
        rg: usize,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let mut b = self.builder_with(meta)?.with_row_groups(vec![rg]);
        if let Some(cols) = columns {
            b = b.with_projection(self.projection(cols));
        }
        b.build()?.map(|r| r.map_err(StorageError::from)).collect()
    }

    fn projection(&self, columns: &[&str]) -> ProjectionMask {
        let schema = self.reader_meta.metadata().file_metadata().schema_descr();
        let leaves: Vec<usize> = (0..schema.num_columns())
            .filter(|i| columns.contains(&schema.column(*i).name()))
            .collect();
        ProjectionMask::leaves(schema, leaves)
    }

    /// The max of an int64 column in a row group, from its statistics.
    pub fn row_group_max_i64(&self, rg: usize, column: &str) -> Option<i64> {
        let g = self.reader_meta.metadata().row_groups().get(rg)?;
        match col_index(g, column).and_then(|c| g.column(c).statistics()) {
            Some(Statistics::Int64(s)) => s.max_opt().copied(),
            _ => None,
        }
    }

    /// Reads one row group; only `columns` when given (in schema order).
    pub fn read_group(
        &self,
        rg: usize,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        self.read_group_with(self.reader_meta.clone(), rg, columns)
    }

    /// Reads row group `rg` for a filter scan: like [`PartHandle::read_group`]
    /// but the low-cardinality text columns (`DICTIONARY_READ`) come back as
    /// `Dictionary(Int32, Utf8)` arrays, so a filter tests each distinct
    /// value once instead of materialising a string per row (read them
    /// through `columnar::Cols::text`).
    pub fn scan_group(
        &self,
        rg: usize,
        columns: Option<&[&str]>,
    ) -> Result<Vec<RecordBatch>, StorageError> {
        let meta = match self.scan_meta.get() {
            Some(m) => m.clone(),
            None => {
                let fields: Vec<arrow::datatypes::FieldRef> = self
                    .reader_meta
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| match DICTIONARY_READ.contains(&f.name().as_str()) {
                        true => Arc::new(f.as_ref().clone().with_data_type(
                            arrow::datatypes::DataType::Dictionary(
                                Box::new(arrow::datatypes::DataType::Int32),
                                Box::new(arrow::datatypes::DataType::Utf8),
                            ),
                        )),
                        false => f.clone(),
                    })
                    .collect();
                let schema = Arc::new(arrow::datatypes::Schema::new(fields));
                let m = ArrowReaderMetadata::try_new(
                    self.reader_meta.metadata().clone(),
                    ArrowReaderOptions::new().with_schema(schema),
                )?;
                self.scan_meta.get_or_init(|| m).clone()
            }
        };
        self.read_group_with(meta, rg, columns)
    }

    /// Reads the given rows (ascending indices within the row group) with
    /// all columns, decoding only the pages that hold them.
    pub fn read_rows(&self, rg: usize, rows: &[usize]) -> Result<Vec<RecordBatch>, StorageError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let total = self.reader_meta.metadata().row_group(rg).num_rows() as usize;
        let ranges = rows.iter().map(|r| *r..*r + 1);
        let selection = RowSelection::from_consecutive_ranges(ranges, total);
        self.builder()?
            .with_row_groups(vec![rg])
            .with_row_selection(selection)
            .build()?
            .map(|r| r.map_err(StorageError::from))
            .collect()
    }

    /// Reads the whole part.
    pub fn read_all(&self) -> Result<Vec<RecordBatch>, StorageError> {
        self.builder()?
            .build()?
            .map(|r| r.map_err(StorageError::from))
            .collect()
    }
}

pub type PartRef = Arc<PartHandle>;
