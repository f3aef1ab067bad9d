//! The part series cache: every series of one stored metric in one Parquet
//! part, decoded once into time-sorted `(ms, value)` points with their
//! Prometheus labels. Parts never change (compaction writes new ones under
//! new ids), so an entry stays valid for as long as its part is in a
//! snapshot; entries of parts that left the snapshot are dropped, and the
//! least recently used ones go when the cache is over its byte budget
//! (`TAEL_PROMQL_CACHE_BYTES`, 256 MiB by default; 0 turns it off). Each
//! store owns its cache (part ids are only unique within one engine).
//!
//! A selector then costs, per part, a label match per cached series and a
//! binary search per matching series, instead of decoding and grouping
//! every row of the metric. Entries missing for a query are built on all
//! cores, one part per thread.

use super::names::{Family, StoredMetric};
use super::value::Labels;
use crate::fasthash::FastHash;
use crate::parallel::fold_items;
use crate::QueryError;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use tael_storage::part::PartRef;

/// One series of a stored metric in one part.
pub struct CachedSeries {
    pub family: Family,
    pub labels: Arc<Labels>,
    /// `labels` without `__name__` (what most functions return).
    pub unnamed: Arc<Labels>,
    /// [`label_hash`] of `labels`.
    pub hash: u64,
    /// Oldest first, one point per time.
    pub points: Vec<(i64, f64)>,
}

pub type PartSeries = Arc<Vec<CachedSeries>>;

/// Decodes the series of a metric in a part (on a cache miss).
pub type BuildSeries<'a> =
    dyn Fn(&PartRef, &StoredMetric) -> Result<Vec<CachedSeries>, QueryError> + Sync + 'a;

pub fn label_hash(l: &Labels) -> u64 {
    FastHash.hash_one(l)
}

struct Entry {
    series: PartSeries,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(u64, StoredMetric), Entry>,
    bytes: usize,
    tick: u64,
}

/// One store's part series cache.
pub struct SeriesCache {
    cache: Mutex<Cache>,
    /// Bytes of series kept at most (0: none).
    budget: usize,
}

impl SeriesCache {
    pub fn new(budget: usize) -> SeriesCache {
        SeriesCache {
            cache: Mutex::new(Cache::default()),
            budget,
        }
    }
}

fn evict(c: &mut Cache, budget: usize) {
    while c.bytes > budget {
        let Some(oldest) = c
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(e) = c.entries.remove(&oldest) {
            c.bytes -= e.bytes;
        }
    }
}

/// Approximate heap bytes of a part's series.
fn size_of(series: &[CachedSeries]) -> usize {
    series
        .iter()
        .map(|s| {
            96 + s.points.len() * 16
                + [&s.labels, &s.unnamed]
                    .iter()
                    .flat_map(|l| l.0.iter())
                    .map(|(k, v)| 48 + k.len() + v.len())
                    .sum::<usize>()
        })
        .sum()
}

impl SeriesCache {
    /// The series of each requested (part, metric), from the cache or built
    /// with `build` (in parallel, one part per thread) and then cached.
    /// Entries of parts not in `live_parts` are dropped first.
    pub fn get_many(
        &self,
        wanted: &[(PartRef, StoredMetric)],
        live_parts: &HashSet<u64>,
        build: &BuildSeries<'_>,
    ) -> Result<Vec<PartSeries>, QueryError> {
        let budget = self.budget;
        let mut out: Vec<Option<PartSeries>> = vec![None; wanted.len()];
        {
            let mut c = self.cache.lock();
            let c = &mut *c;
            let dead: Vec<_> = c
                .entries
                .keys()
                .filter(|k| !live_parts.contains(&k.0))
                .cloned()
                .collect();
            for k in dead {
                if let Some(e) = c.entries.remove(&k) {
                    c.bytes -= e.bytes;
                }
            }
            for (i, (p, m)) in wanted.iter().enumerate() {
                c.tick += 1;
                if let Some(e) = c.entries.get_mut(&(p.meta.id, m.clone())) {
                    e.last_used = c.tick;
                    out[i] = Some(e.series.clone());
                }
            }
        }
        let missing: Vec<usize> = (0..wanted.len()).filter(|i| out[*i].is_none()).collect();
        let built = fold_items(
            missing.len(),
            &Vec::new,
            &|done: &mut Vec<(usize, Vec<CachedSeries>)>, k| {
                let i = missing[k];
                done.push((i, build(&wanted[i].0, &wanted[i].1)?));
                Ok(())
            },
        )?;
        let mut c = self.cache.lock();
        for (i, series) in built.into_iter().flatten() {
            let bytes = size_of(&series);
            let series: PartSeries = Arc::new(series);
            if bytes <= budget {
                c.tick += 1;
                let tick = c.tick;
                let key = (wanted[i].0.meta.id, wanted[i].1.clone());
                if let Some(old) = c.entries.insert(
                    key,
                    Entry {
                        series: series.clone(),
                        bytes,
                        last_used: tick,
                    },
                ) {
                    c.bytes -= old.bytes;
                }
                c.bytes += bytes;
            }
            out[i] = Some(series);
        }
        evict(&mut c, budget);
        Ok(out.into_iter().map(|s| s.unwrap_or_default()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_hash_separates_label_sets() {
        let a = Labels::new(vec![("a".into(), "bc".into())]);
        let b = Labels::new(vec![("ab".into(), "c".into())]);
        let c = Labels::new(vec![("a".into(), "bc".into())]);
        assert_ne!(label_hash(&a), label_hash(&b));
        assert_eq!(label_hash(&a), label_hash(&c));
    }
}
