//! The part series cache: every series of one stored metric in one Parquet
//! part, decoded once into time-sorted samples (kept compact, see
//! [`super::points`]) with their Prometheus labels. Parts never change
//! (compaction writes new ones under new ids), so an entry stays valid for
//! as long as its part is in a snapshot; entries of parts that left the
//! snapshot are dropped, and the least recently used ones go when the cache
//! is over its byte budget (`TAEL_PROMQL_CACHE_BYTES`, a sixteenth of the
//! memory limit by default; 0 turns it off). Each store owns its cache
//! (part ids are only unique within one engine).
//!
//! A selector then costs, per part, a label match per cached series and,
//! per matching series, decoding its samples up to the end of the query's
//! window, instead of decoding and grouping every row of the metric.
//! Entries missing for a query are built on all cores, one part per
//! thread.
//!
//! A series is in many parts (one per flush while it is written), so its
//! label sets are interned: every entry shares one copy, counted once in
//! the budget, and dropped when no entry uses it any more. An entry's
//! bytes are its points; the labels take more room than the points of a
//! series that a part holds a few minutes of.

use super::names::{Family, StoredMetric};
use super::points::Points;
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
    pub points: Points,
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

/// One interned label set, with its name-less form.
struct Interned {
    labels: Arc<Labels>,
    unnamed: Arc<Labels>,
    bytes: usize,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(u64, StoredMetric), Entry>,
    /// Label sets by [`label_hash`].
    labels: HashMap<u64, Vec<Interned>>,
    /// Entries' points plus the interned label sets.
    bytes: usize,
    tick: u64,
}

impl Cache {
    /// Makes `s` share the interned copy of its labels, interning them
    /// if new.
    fn intern(&mut self, s: &mut CachedSeries) {
        let same = self.labels.entry(s.hash).or_default();
        if let Some(i) = same.iter().find(|i| *i.labels == *s.labels) {
            s.labels = i.labels.clone();
            s.unnamed = i.unnamed.clone();
            return;
        }
        let bytes = labels_size(&s.labels) + labels_size(&s.unnamed);
        same.push(Interned {
            labels: s.labels.clone(),
            unnamed: s.unnamed.clone(),
            bytes,
        });
        self.bytes += bytes;
    }

    /// Drops the label sets no entry uses (only the interner holds them).
    fn sweep_labels(&mut self) {
        let mut freed = 0;
        self.labels.retain(|_, same| {
            same.retain(|i| {
                let used = Arc::strong_count(&i.labels) > 1;
                if !used {
                    freed += i.bytes;
                }
                used
            });
            !same.is_empty()
        });
        self.bytes -= freed;
    }
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
    c.sweep_labels();
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
            // Its series' label sets go once nothing else uses them.
            drop(e);
            c.sweep_labels();
        }
    }
}

/// Approximate heap bytes of a label set.
fn labels_size(l: &Labels) -> usize {
    40 + l
        .0
        .iter()
        .map(|(k, v)| 48 + k.len() + v.len())
        .sum::<usize>()
}

/// Approximate heap bytes of a part's series without their labels.
fn size_of(series: &[CachedSeries]) -> usize {
    series
        .iter()
        .map(|s| std::mem::size_of::<CachedSeries>() + s.points.heap_bytes())
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
            // Their label sets go in the sweep that `evict` starts with.
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
        for (i, mut series) in built.into_iter().flatten() {
            let bytes = size_of(&series);
            if bytes <= budget {
                for s in &mut series {
                    c.intern(s);
                }
            }
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

    fn series(job: &str) -> CachedSeries {
        let labels = Labels::new(vec![
            ("__name__".into(), "up".into()),
            ("job".into(), job.into()),
        ]);
        CachedSeries {
            family: Family::Value,
            hash: label_hash(&labels),
            unnamed: Arc::new(labels.drop_name()),
            labels: Arc::new(labels),
            points: Points::encode(&[(1, 1.0)]),
        }
    }

    #[test]
    fn label_sets_are_kept_once_and_go_with_their_last_user() {
        let mut c = Cache::default();
        let (mut a, mut b, mut other) = (series("api"), series("api"), series("db"));
        c.intern(&mut a);
        let one = c.bytes;
        assert!(one > 0);
        c.intern(&mut b);
        assert!(Arc::ptr_eq(&a.labels, &b.labels) && Arc::ptr_eq(&a.unnamed, &b.unnamed));
        assert_eq!(c.bytes, one, "the second copy is not counted");
        c.intern(&mut other);
        assert!(c.bytes > one);
        drop(other);
        c.sweep_labels();
        assert_eq!(c.bytes, one);
        drop(a);
        c.sweep_labels();
        assert_eq!(c.bytes, one, "still used by b");
        drop(b);
        c.sweep_labels();
        assert_eq!(c.bytes, 0);
        assert!(c.labels.is_empty());
    }

    #[test]
    fn fast_hash_separates_label_sets() {
        let a = Labels::new(vec![("a".into(), "bc".into())]);
        let b = Labels::new(vec![("ab".into(), "c".into())]);
        let c = Labels::new(vec![("a".into(), "bc".into())]);
        assert_ne!(label_hash(&a), label_hash(&b));
        assert_eq!(label_hash(&a), label_hash(&c));
    }
}
