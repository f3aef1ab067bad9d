//! Per-service span rollups: span count, error count, summed duration and a
//! mergeable distinct-trace counter. Kept incrementally for the memtable and
//! written beside each spans part (`part-N.rollup.json`), so `services` reads
//! kilobytes instead of the history.
//!
//! The trace counter is exact up to [`EXACT_LIMIT`] distinct trace ids (it
//! keeps their 64-bit hashes) and switches to a HyperLogLog with 2^12
//! registers (≈1.6% standard error) beyond that.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

pub const EXACT_LIMIT: usize = 4096;
const HLL_P: u32 = 12;
const HLL_M: usize = 1 << HLL_P;

/// 64-bit hash of a trace id (FNV-1a followed by a finaliser).
pub fn trace_hash(trace_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trace_id.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Distinct-count of trace ids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TraceSet {
    Exact(HashSet<u64>),
    Hll(Vec<u8>),
}

impl Default for TraceSet {
    fn default() -> Self {
        TraceSet::Exact(HashSet::new())
    }
}

fn hll_add(regs: &mut [u8], h: u64) {
    let idx = (h >> (64 - HLL_P)) as usize;
    let rest = h << HLL_P | (1 << (HLL_P - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if regs[idx] < rank {
        regs[idx] = rank;
    }
}

impl TraceSet {
    pub fn insert(&mut self, h: u64) {
        match self {
            TraceSet::Exact(set) => {
                set.insert(h);
                if set.len() > EXACT_LIMIT {
                    let mut regs = vec![0u8; HLL_M];
                    for x in set.iter() {
                        hll_add(&mut regs, *x);
                    }
                    *self = TraceSet::Hll(regs);
                }
            }
            TraceSet::Hll(regs) => hll_add(regs, h),
        }
    }

    pub fn merge(&mut self, other: &TraceSet) {
        match other {
            TraceSet::Exact(set) => {
                for h in set {
                    self.insert(*h);
                }
            }
            TraceSet::Hll(oregs) => {
                if let TraceSet::Exact(set) = self {
                    let mut regs = vec![0u8; HLL_M];
                    for x in set.iter() {
                        hll_add(&mut regs, *x);
                    }
                    *self = TraceSet::Hll(regs);
                }
                if let TraceSet::Hll(regs) = self {
                    for (a, b) in regs.iter_mut().zip(oregs) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            TraceSet::Exact(s) => s.len() as u64,
            TraceSet::Hll(regs) => {
                let m = HLL_M as f64;
                let sum: f64 = regs.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
                let zeros = regs.iter().filter(|r| **r == 0).count();
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let est = alpha * m * m / sum;
                if est <= 2.5 * m && zeros > 0 {
                    (m * (m / zeros as f64).ln()).round() as u64
                } else {
                    est.round() as u64
                }
            }
        }
    }
}

/// Rollup of one service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceRollup {
    pub span_count: u64,
    pub error_count: u64,
    pub duration_sum_ms: f64,
    pub traces: TraceSet,
}

/// Rollups of every service in a part or memtable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rollup {
    pub services: BTreeMap<String, ServiceRollup>,
}

impl Rollup {
    pub fn add(&mut self, service: &str, trace_id: &str, duration_ms: f64, is_error: bool) {
        let r = match self.services.get_mut(service) {
            Some(r) => r,
            None => self.services.entry(service.to_string()).or_default(),
        };
        r.span_count += 1;
        r.error_count += is_error as u64;
        r.duration_sum_ms += duration_ms;
        r.traces.insert(trace_hash(trace_id));
    }

    /// Adds every span of a batch in the spans schema.
    pub fn add_spans(
        &mut self,
        batch: &arrow::array::RecordBatch,
    ) -> Result<(), crate::StorageError> {
        let cols = crate::columnar::spans::SpanCols::new(batch)?;
        for i in 0..cols.len() {
            let dur = (cols.end_ns.value(i) - cols.start_ns.value(i)) as f64 / 1e6;
            self.add(
                cols.service.value(i),
                cols.trace_id.value(i),
                dur,
                cols.status.value(i) == "error",
            );
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Rollup) {
        for (name, o) in &other.services {
            let r = self.services.entry(name.clone()).or_default();
            r.span_count += o.span_count;
            r.error_count += o.error_count;
            r.duration_sum_ms += o.duration_sum_ms;
            r.traces.merge(&o.traces);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_approximate() {
        let mut s = TraceSet::default();
        for i in 0..1000 {
            s.insert(trace_hash(&format!("{i:032x}")));
            s.insert(trace_hash(&format!("{i:032x}")));
        }
        assert_eq!(s.count(), 1000);
        for i in 0..100_000 {
            s.insert(trace_hash(&format!("{i:032x}")));
        }
        let c = s.count() as f64;
        assert!((c - 100_000.0).abs() / 100_000.0 < 0.05, "{c}");
        let mut other = TraceSet::default();
        for i in 100_000..101_000 {
            other.insert(trace_hash(&format!("{i:032x}")));
        }
        s.merge(&other);
        let c = s.count() as f64;
        assert!((c - 101_000.0).abs() / 101_000.0 < 0.05, "{c}");
    }
}
