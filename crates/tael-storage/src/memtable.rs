//! Memtables: what has been acknowledged but not yet flushed to Parquet, per
//! signal, as Arrow chunks in the part schema (one chunk per ingested batch,
//! converted on the ingest thread, shared with query snapshots by `Arc`, so
//! a query never holds a lock while it scans and a flush only concatenates).
//! Also the recent-item filter that drops exact re-deliveries (client retries).

use crate::error::StorageError;
use crate::manifest::Signal;
use crate::rollup::Rollup;
use arrow::array::{BooleanArray, RecordBatch};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

/// One ingested batch in columnar form (the part schema of its signal).
#[derive(Debug)]
pub struct MemChunk {
    pub batch: RecordBatch,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
}

pub type Chunk = Arc<MemChunk>;

/// A batch ready to be applied: rows in columnar form plus each row's
/// identity key (for re-delivery detection) and time.
pub struct Prepared {
    pub signal: Signal,
    pub batch: RecordBatch,
    pub keys: Vec<u64>,
    pub min_time_ns: i64,
    pub max_time_ns: i64,
}

impl Prepared {
    pub fn rows(&self) -> usize {
        self.batch.num_rows()
    }
}

/// Unflushed rows of all three signals.
#[derive(Debug, Default, Clone)]
pub struct Memtable {
    pub spans: Vec<Chunk>,
    pub logs: Vec<Chunk>,
    pub metrics: Vec<Chunk>,
    pub rollup: Rollup,
    /// Heap bytes held by the chunks.
    pub bytes: usize,
    pub rows: usize,
    /// Wall-clock ns of the first insert (0 when empty).
    pub first_insert_ns: i64,
}

impl Memtable {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn chunks(&self, signal: Signal) -> &[Chunk] {
        match signal {
            Signal::Spans => &self.spans,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
        }
    }

    /// Adds the rows of `p` that `keep` selects (all when `None`); returns
    /// them (`None` when none were kept).
    pub fn push(
        &mut self,
        p: Prepared,
        keep: Option<&[bool]>,
    ) -> Result<Option<RecordBatch>, StorageError> {
        let batch = match keep {
            None => p.batch,
            Some(mask) => {
                arrow::compute::filter_record_batch(&p.batch, &BooleanArray::from(mask.to_vec()))?
            }
        };
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(None);
        }
        if p.signal == Signal::Spans {
            self.rollup.add_spans(&batch)?;
        }
        if self.rows == 0 {
            self.first_insert_ns = tael_core::time::now_ns();
        }
        self.rows += rows;
        self.bytes += batch.get_array_memory_size();
        let chunk = Arc::new(MemChunk {
            batch: batch.clone(),
            min_time_ns: p.min_time_ns,
            max_time_ns: p.max_time_ns,
        });
        match p.signal {
            Signal::Spans => self.spans.push(chunk),
            Signal::Logs => self.logs.push(chunk),
            Signal::Metrics => self.metrics.push(chunk),
        }
        Ok(Some(batch))
    }
}

/// Identity of a span for re-delivery detection: (trace_id, span_id) in hex.
pub fn span_key(trace_id: &str, span_id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    0u8.hash(&mut h);
    trace_id.hash(&mut h);
    span_id.hash(&mut h);
    h.finish()
}

/// Hashes a `u64` that is already a hash to itself (the keys of
/// `RecentKeys` are SipHash outputs; hashing them again is wasted work).
#[derive(Default, Clone, Copy)]
pub struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Remembers the keys of the last `capacity` items and filters repeats.
#[derive(Debug)]
pub struct RecentKeys {
    set: HashSet<u64, BuildHasherDefault<PreHashed>>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentKeys {
    pub fn new(capacity: usize) -> Self {
        RecentKeys {
            set: HashSet::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Whether `k` was seen recently.
    pub fn contains(&self, k: u64) -> bool {
        self.set.contains(&k)
    }

    /// Whether `k` was not seen recently (and remembers it).
    pub fn insert(&mut self, k: u64) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let fresh = self.set.insert(k);
        if fresh {
            self.order.push_back(k);
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
        fresh
    }

    /// Which keys were not seen recently (and remembers them). `None` when
    /// all are new.
    pub fn admit(&mut self, keys: &[u64]) -> Option<Vec<bool>> {
        let mut mask: Option<Vec<bool>> = None;
        for (i, k) in keys.iter().enumerate() {
            let fresh = self.insert(*k);
            match (&mut mask, fresh) {
                (Some(m), f) => m.push(f),
                (None, false) => {
                    let mut m = vec![true; i];
                    m.push(false);
                    mask = Some(m);
                }
                (None, true) => {}
            }
        }
        mask
    }
}
