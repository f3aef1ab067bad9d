//! The metric catalog: which metrics (name, unit, type, monotonicity,
//! temporality) each memtable chunk and each Parquet part holds. Chunks and
//! parts never change, so their entries are computed once and cached (a
//! chunk by its allocation, held weakly so the address cannot be reused
//! while cached; a part by id) in the store's [`CatalogCache`]. Selector
//! resolution reads the catalog, and the loader skips chunks and parts
//! that do not hold a wanted metric.

use super::names::StoredMetric;
use crate::QueryError;
use arrow::array::{Array, RecordBatch};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};
use tael_storage::columnar::Cols;
use tael_storage::memtable::{Chunk, MemChunk};
use tael_storage::{Signal, Snapshot};

type Metrics = Arc<BTreeSet<StoredMetric>>;

#[derive(Default)]
struct Cache {
    chunks: HashMap<usize, (Weak<MemChunk>, Metrics)>,
    parts: HashMap<u64, Metrics>,
}

/// One store's catalog entries of the chunks and parts it last saw.
#[derive(Default)]
pub struct CatalogCache(Mutex<Cache>);

const COLUMNS: [&str; 5] = ["name", "unit", "metric_type", "is_monotonic", "temporality"];

fn add_batch(batch: &RecordBatch, out: &mut BTreeSet<StoredMetric>) -> Result<(), QueryError> {
    let c = Cols::new(batch);
    let (names, types) = (c.text("name")?, c.text("metric_type")?);
    let (unit, temporality, mono) = (
        c.str("unit")?,
        c.str("temporality")?,
        c.bool("is_monotonic")?,
    );
    let mut seen: HashSet<(&str, &str, &str, bool, &str)> = HashSet::new();
    let mut last = None;
    for i in 0..batch.num_rows() {
        let key = (
            names.value(i),
            unit.value(i),
            types.value(i),
            mono.is_valid(i) && mono.value(i),
            temporality.value(i),
        );
        // Rows are sorted by name: most repeat the row before.
        if last == Some(key) {
            continue;
        }
        last = Some(key);
        if seen.insert(key) {
            out.insert(StoredMetric {
                name: key.0.to_string(),
                unit: key.1.to_string(),
                metric_type: key.2.to_string(),
                monotonic: key.3,
                temporality: key.4.to_string(),
            });
        }
    }
    Ok(())
}

fn chunk_metrics(chunk: &Chunk) -> Result<Metrics, QueryError> {
    let mut out = BTreeSet::new();
    add_batch(&chunk.batch, &mut out)?;
    Ok(Arc::new(out))
}

fn part_metrics(part: &tael_storage::part::PartHandle) -> Result<Metrics, QueryError> {
    let mut out = BTreeSet::new();
    for rg in 0..part.num_row_groups() {
        for b in part.scan_group(rg, Some(&COLUMNS))? {
            add_batch(&b, &mut out)?;
        }
    }
    Ok(Arc::new(out))
}

/// Where each metric of a snapshot lives.
pub struct Catalog {
    /// Per memtable chunk (snapshot order).
    pub chunks: Vec<Metrics>,
    /// Per part (in `snap.parts_of(Metrics)` order).
    pub parts: Vec<Metrics>,
}

impl Catalog {
    pub fn of(snap: &Snapshot, cache: &CatalogCache) -> Result<Catalog, QueryError> {
        let chunks_in = snap.chunks_of(Signal::Metrics);
        let parts_in: Vec<_> = snap.parts_of(Signal::Metrics).collect();
        let mut chunks = Vec::with_capacity(chunks_in.len());
        let mut parts = Vec::with_capacity(parts_in.len());
        let mut fresh = Cache::default();
        {
            let c = cache.0.lock();
            for ch in chunks_in {
                let key = Arc::as_ptr(ch) as usize;
                if let Some((w, m)) = c.chunks.get(&key) {
                    if w.upgrade().is_some_and(|a| Arc::ptr_eq(&a, ch)) {
                        fresh.chunks.insert(key, (w.clone(), m.clone()));
                    }
                }
            }
            for p in &parts_in {
                if let Some(m) = c.parts.get(&p.meta.id) {
                    fresh.parts.insert(p.meta.id, m.clone());
                }
            }
        }
        for ch in chunks_in {
            let key = Arc::as_ptr(ch) as usize;
            let m = match fresh.chunks.get(&key) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = chunk_metrics(ch)?;
                    fresh.chunks.insert(key, (Arc::downgrade(ch), m.clone()));
                    m
                }
            };
            chunks.push(m);
        }
        for p in &parts_in {
            let m = match fresh.parts.get(&p.meta.id) {
                Some(m) => m.clone(),
                None => {
                    let m = part_metrics(p)?;
                    fresh.parts.insert(p.meta.id, m.clone());
                    m
                }
            };
            parts.push(m);
        }
        *cache.0.lock() = fresh;
        Ok(Catalog { chunks, parts })
    }

    /// Every distinct stored metric.
    pub fn all(&self) -> BTreeSet<StoredMetric> {
        self.chunks
            .iter()
            .chain(self.parts.iter())
            .flat_map(|m| m.iter().cloned())
            .collect()
    }
}
