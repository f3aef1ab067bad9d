//! The process's memory budget: how `TAEL_MEMORY_LIMIT` is divided among
//! the parts that grow with load ([`MemoryShares`]), what each part holds
//! now ([`MemoryGauges`]), and the admission check that refuses an export
//! (retryable, 503 / `UNAVAILABLE`) before a part would outgrow its share
//! or the process its limit.
//!
//! The parts, and their default shares of the limit L:
//!
//! | part                | share | bounded by                                   |
//! |---------------------|-------|----------------------------------------------|
//! | memtables           | 3L/16 | admission (active + frozen); flush at L/16   |
//! | exports in flight   | L/16  | admission (4 × the protobuf of each export)  |
//! | text queue          | L/32  | admission (texts queued for the indexer)     |
//! | text writers        | L/8   | tantivy's indexing memory, split per writer  |
//! | blob cache          | L/32  | the recently written blobs kept for reads    |
//! | PromQL cache        | L/16  | decoded series (LRU), label sets shared      |
//! | SQL                 | L/4   | one DataFusion pool all running queries share |
//! | recent keys         | fixed | the dedup window (24 B per key)              |
//!
//! The rest (about a fifth) is headroom for what is not counted: flush
//! buffers (one row group), request bodies being read, decoders' scratch,
//! threads and the allocator's slack. The process's anonymous resident
//! memory is shown beside the shares (`process_bytes`) but does not refuse
//! exports: memory that no part counts (and that nothing admitted would
//! free) would then stop ingest for good.

use std::sync::atomic::{AtomicUsize, Ordering};

const MIB: usize = 1 << 20;

/// The default `TAEL_MEMORY_LIMIT`.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 * MIB;
/// The smallest limit accepted.
pub const MIN_MEMORY_LIMIT: usize = 256 * MIB;
/// Bytes one key of a recent-keys window holds (hash set + queue).
pub const RECENT_KEY_BYTES: usize = 24;
/// A decoded export holds about this many times its protobuf size (the
/// columns, the protobuf itself and its WAL record).
const EXPORT_EXPANSION: usize = 4;

/// How the memory limit is divided, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryShares {
    pub limit: usize,
    /// Active and frozen memtables together (exports are refused beyond).
    pub memtables: usize,
    pub exports_in_flight: usize,
    pub text_queue: usize,
    pub text_writers: usize,
    pub blob_cache: usize,
    pub promql_cache: usize,
    /// Every SQL query running at once together.
    pub sql: usize,
    pub recent_keys: usize,
}

impl MemoryShares {
    /// The default division of `limit` (see the module docs), with a
    /// dedup window of `dedup_keys` keys.
    pub fn of_limit(limit: usize, dedup_keys: usize) -> MemoryShares {
        MemoryShares {
            limit,
            memtables: limit / 16 * 3,
            exports_in_flight: limit / 16,
            text_queue: limit / 32,
            text_writers: limit / 8,
            blob_cache: limit / 32,
            promql_cache: limit / 16,
            sql: limit / 4,
            recent_keys: dedup_keys.saturating_mul(RECENT_KEY_BYTES),
        }
    }

    /// The memtable size that triggers a flush when none is set: a third
    /// of the memtables' share (one flushing, one filling, room to spare).
    pub fn flush_bytes(&self) -> usize {
        self.memtables / 3
    }

    /// The parts and their shares, in the order the docs list them.
    pub fn parts(&self) -> [(&'static str, usize); 8] {
        self.parts_using(None).map(|(name, share, _)| (name, share))
    }

    /// The parts, their shares and, given what is held now, what the
    /// parts counted as they grow hold (the one list of the parts).
    fn parts_using(&self, held: Option<&MemoryHeld>) -> [(&'static str, usize, Option<usize>); 8] {
        let h = |f: fn(&MemoryHeld) -> usize| held.map(f);
        [
            ("memtables", self.memtables, h(|h| h.memtables)),
            (
                "exports_in_flight",
                self.exports_in_flight,
                h(|h| h.exports_in_flight),
            ),
            ("text_queue", self.text_queue, h(|h| h.text_queue)),
            ("text_writers", self.text_writers, None),
            ("blob_cache", self.blob_cache, h(|h| h.blob_cache)),
            ("promql_cache", self.promql_cache, None),
            ("sql", self.sql, None),
            ("recent_keys", self.recent_keys, None),
        ]
    }

    /// The budget as `/api/v1/stats` shows it, with what is `held` now.
    pub fn stats(&self, held: &MemoryHeld) -> MemoryStats {
        MemoryStats {
            limit_bytes: self.limit,
            process_bytes: process_bytes(),
            parts: self
                .parts_using(Some(held))
                .into_iter()
                .map(|(name, share, used)| MemoryPart {
                    name: name.to_string(),
                    share_bytes: share,
                    used_bytes: used,
                })
                .collect(),
        }
    }

    /// The sum of the counted parts.
    pub fn counted(&self) -> usize {
        self.parts().iter().map(|p| p.1).sum()
    }

    /// What the counted parts may take at most: seven eighths of the
    /// limit (the rest is for what is not counted).
    pub fn countable(&self) -> usize {
        self.limit / 8 * 7
    }

    /// Why this division does not fit its limit, if it does not.
    pub fn problem(&self) -> Option<String> {
        if self.limit < MIN_MEMORY_LIMIT {
            return Some(format!(
                "TAEL_MEMORY_LIMIT must be at least {} MiB",
                MIN_MEMORY_LIMIT / MIB
            ));
        }
        if self.counted() <= self.countable() {
            return None;
        }
        let parts: Vec<String> = self
            .parts()
            .iter()
            .map(|(name, b)| format!("{name} {} MiB", b.div_ceil(MIB)))
            .collect();
        Some(format!(
            "the memory parts ({}) add up to {} MiB, over the {} MiB that TAEL_MEMORY_LIMIT={} MiB leaves for them (seven eighths); raise the limit or lower TAEL_MEMTABLE_BYTES, TAEL_PROMQL_CACHE_BYTES or TAEL_SQL_MEMORY_LIMIT",
            parts.join(", "),
            self.counted().div_ceil(MIB),
            self.countable() / MIB,
            self.limit / MIB
        ))
    }

    /// Tantivy writers the text share allows (at most `max`; one at
    /// least) and the indexing memory of each.
    pub fn text_writers(&self, max: usize) -> (usize, usize) {
        // Tantivy's smallest budget for one indexing thread.
        const WRITER_MIN: usize = 15 * MIB;
        let n = (self.text_writers / WRITER_MIN).clamp(1, max.max(1));
        (n, (self.text_writers / n).max(WRITER_MIN))
    }
}

impl Default for MemoryShares {
    fn default() -> Self {
        MemoryShares::of_limit(DEFAULT_MEMORY_LIMIT, 1 << 20)
    }
}

/// The budget as `/api/v1/stats` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryStats {
    pub limit_bytes: usize,
    /// The process's anonymous resident bytes (absent where the OS does
    /// not say).
    pub process_bytes: Option<usize>,
    pub parts: Vec<MemoryPart>,
}

/// One part of the budget.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemoryPart {
    pub name: String,
    pub share_bytes: usize,
    /// What it holds now, for the parts that are counted as they grow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<usize>,
}

/// What the parts counted as they grow hold now.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryHeld {
    pub memtables: usize,
    pub exports_in_flight: usize,
    pub text_queue: usize,
    pub blob_cache: usize,
}

/// The bytes reserved by exports being decoded and stored.
#[derive(Debug, Default)]
pub struct MemoryGauges {
    pub in_flight: AtomicUsize,
}

/// A reservation of in-flight bytes, given back when dropped.
pub struct InFlight<'a> {
    gauges: &'a MemoryGauges,
    bytes: usize,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.gauges
            .in_flight
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl MemoryGauges {
    /// Reserves what an export of `payload_bytes` will hold while it is
    /// stored, within `share`. An export larger than the whole share is
    /// let in alone (it could never be otherwise; its size is bounded by
    /// the request limits).
    pub fn reserve(&self, payload_bytes: usize, share: usize) -> Result<InFlight<'_>, String> {
        let want = payload_bytes.saturating_mul(EXPORT_EXPANSION).min(share);
        let mut used = self.in_flight.load(Ordering::Acquire);
        loop {
            if used > 0 && used + want > share {
                return Err(format!(
                    "exports in flight hold {} MiB of their {} MiB",
                    used.div_ceil(MIB),
                    share / MIB
                ));
            }
            match self.in_flight.compare_exchange_weak(
                used,
                used + want,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Ok(InFlight {
                        gauges: self,
                        bytes: want,
                    })
                }
                Err(now) => used = now,
            }
        }
    }
}

/// The process's anonymous resident bytes: `RssAnon` of
/// `/proc/self/status` (Linux; `None` elsewhere), the resident pages that
/// are not mapped files (parts and the text index are read through
/// mappings).
pub fn process_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: usize = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_division_fits_with_headroom() {
        let s = MemoryShares::default();
        assert_eq!(s.problem(), None);
        assert!(s.counted() <= s.limit * 3 / 4 + s.recent_keys);
        assert_eq!(s.flush_bytes(), 32 * MIB);
        assert_eq!(s.text_writers(3), (3, 64 * MIB / 3));
        let small = MemoryShares::of_limit(MIN_MEMORY_LIMIT, 1 << 16);
        assert_eq!(small.problem(), None);
        assert_eq!(small.text_writers(3), (2, 16 * MIB));
        assert_eq!(MemoryShares::of_limit(200 * MIB, 0).text_writers(3).0, 1);
        assert!(MemoryShares::of_limit(64 * MIB, 0).problem().is_some());
    }

    #[test]
    fn parts_over_the_limit_are_named() {
        let s = MemoryShares {
            promql_cache: 400 * MIB,
            ..MemoryShares::default()
        };
        let why = s.problem().expect("over");
        assert!(why.contains("promql_cache 400 MiB"), "{why}");
    }

    #[test]
    fn reservations_stay_within_the_share_and_are_given_back() {
        let g = MemoryGauges::default();
        let a = g.reserve(MIB, 8 * MIB).expect("first");
        let b = g.reserve(MIB, 8 * MIB).expect("second");
        assert_eq!(g.in_flight.load(Ordering::Acquire), 8 * MIB);
        assert!(g.reserve(1, 8 * MIB).is_err());
        drop(a);
        drop(b);
        assert_eq!(g.in_flight.load(Ordering::Acquire), 0);
        // Larger than the share: let in alone.
        let big = g.reserve(100 * MIB, 8 * MIB).expect("alone");
        assert!(g.reserve(1, 8 * MIB).is_err());
        drop(big);
        assert!(process_bytes().is_none_or(|b| b > 0));
    }
}
