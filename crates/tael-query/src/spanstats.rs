//! Span statistics of a time window per (service, operation): span count,
//! error count and a latency [`Sketch`], folded from the aggregate scan
//! (columns `service`, `operation`, `status`, `duration_ns`, `start_ns`,
//! plus `trace_id` only when distinct traces are counted). Summary,
//! anomalies, diff and watch are all views of this one fold.

use crate::fasthash::{FastMap, FastSet};
use crate::sketch::Sketch;
use crate::window::{scan_window_parallel, Interner, TimeWindow, WindowScan};
use crate::QueryError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use tael_storage::columnar::Cols;
use tael_storage::rollup::trace_hash;
use tael_storage::{Signal, Snapshot};

/// Counts and latency of a group of spans.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupStats {
    pub count: u64,
    pub errors: u64,
    /// Span durations in ns.
    pub latency: Sketch,
}

impl GroupStats {
    pub fn merge(&mut self, o: &GroupStats) {
        self.count += o.count;
        self.errors += o.errors;
        self.latency.merge(&o.latency);
    }

    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }

    /// The `q` latency quantile in ms (0 when empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.quantile(q).unwrap_or(0.0) / 1e6
    }

    pub fn mean_ms(&self) -> f64 {
        self.latency.mean().unwrap_or(0.0) / 1e6
    }

    pub fn max_ms(&self) -> f64 {
        self.latency.max().unwrap_or(0) as f64 / 1e6
    }
}

/// Per (service, operation) statistics of a window.
#[derive(Debug, Default)]
pub struct SpanStats {
    pub window: Option<TimeWindow>,
    names: Interner,
    index: FastMap<(u32, u32), usize>,
    stats: Vec<((u32, u32), GroupStats)>,
    /// Distinct trace-id hashes (only when asked for).
    traces: Option<FastSet<u64>>,
}

/// Options of a span-statistics fold.
#[derive(Debug, Clone, Default)]
pub struct StatsQuery {
    /// Only this service.
    pub service: Option<String>,
    /// Count distinct traces (reads the `trace_id` column).
    pub count_traces: bool,
}

impl SpanStats {
    /// Folds the spans that started inside `window`, on every core.
    pub fn collect(
        snap: &Snapshot,
        window: TimeWindow,
        q: &StatsQuery,
    ) -> Result<SpanStats, QueryError> {
        let mut columns = vec!["service", "operation", "status", "duration_ns"];
        if q.count_traces {
            columns.push("trace_id");
        }
        let scan = WindowScan {
            signal: Signal::Spans,
            window,
            columns: &columns,
            equals: q
                .service
                .as_deref()
                .map(|s| vec![("service", s)])
                .unwrap_or_default(),
        };
        let init = || SpanStats {
            window: Some(window),
            traces: q.count_traces.then(FastSet::default),
            ..Default::default()
        };
        let parts = scan_window_parallel(snap, &scan, &init, &|st: &mut SpanStats, b, m| {
            st.fold(b, m, q)
        })?;
        let mut out = init();
        for p in parts {
            out.absorb(p);
        }
        out.sort();
        Ok(out)
    }

    /// Merges the statistics of the same window from another store (or
    /// another part of the data): counts add, sketches and trace sets
    /// merge, so the result equals one fold over both.
    pub fn merge(&mut self, o: SpanStats) {
        self.absorb(o);
        self.sort();
    }

    /// Orders the groups by (service, operation) name.
    fn sort(&mut self) {
        let names = &self.names;
        self.stats.sort_by(|a, b| {
            let name = |k: (u32, u32)| (names.name(k.0), names.name(k.1));
            name(a.0).cmp(&name(b.0))
        });
        self.index = self
            .stats
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i))
            .collect();
    }

    /// Adds the in-window rows of one batch.
    fn fold(
        &mut self,
        batch: &arrow::array::RecordBatch,
        mask: &[bool],
        q: &StatsQuery,
    ) -> Result<(), QueryError> {
        let c = Cols::new(batch);
        let services = self.names.column(&c.text("service")?);
        let ops = self.names.column(&c.text("operation")?);
        let status = c.text("status")?.mask(|s| s == "error");
        let dur = c.i64("duration_ns")?;
        let want = q.service.as_deref().map(|s| self.names.id(s));
        let ids = match self.traces.is_some() {
            true => Some(c.str("trace_id")?),
            false => None,
        };
        // Rows of a group often come in runs, so the map is consulted once
        // per run.
        let mut last: Option<((u32, u32), usize)> = None;
        for i in 0..batch.num_rows() {
            if !mask[i] || want.is_some_and(|w| services[i] != w) {
                continue;
            }
            let key = (services[i], ops[i]);
            let idx = match last {
                Some((k, idx)) if k == key => idx,
                _ => {
                    let next = self.stats.len();
                    let idx = *self.index.entry(key).or_insert(next);
                    if idx == next {
                        self.stats.push((key, GroupStats::default()));
                    }
                    last = Some((key, idx));
                    idx
                }
            };
            let g = &mut self.stats[idx].1;
            g.count += 1;
            g.errors += status[i] as u64;
            g.latency.add(dur.value(i).max(0));
            if let (Some(ids), Some(set)) = (ids, self.traces.as_mut()) {
                set.insert(trace_hash(ids.value(i)));
            }
        }
        Ok(())
    }

    /// Adds another fold of the same window (groups left unsorted).
    fn absorb(&mut self, o: SpanStats) {
        for ((s, op), g) in o.stats {
            let key = (
                self.names.id(o.names.name(s)),
                self.names.id(o.names.name(op)),
            );
            match self.index.get(&key) {
                Some(&i) => self.stats[i].1.merge(&g),
                None => {
                    self.index.insert(key, self.stats.len());
                    self.stats.push((key, g));
                }
            }
        }
        match (self.traces.as_mut(), o.traces) {
            (Some(a), Some(b)) if a.len() < b.len() => {
                let small = std::mem::replace(a, b);
                a.extend(small);
            }
            (Some(a), Some(b)) => a.extend(b),
            _ => {}
        }
    }
}

/// The wire form of [`SpanStats`] (a store's answer to another node):
/// `{"window": …, "groups": [[service, operation, stats], …],
/// "traces": [hash, …] | null}`.
#[derive(Serialize, Deserialize)]
struct SpanStatsWire {
    window: Option<TimeWindow>,
    groups: Vec<(String, String, GroupStats)>,
    traces: Option<Vec<u64>>,
}

impl Serialize for SpanStats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SpanStatsWire {
            window: self.window,
            groups: self
                .operations()
                .map(|o| (o.service.into(), o.operation.into(), o.stats.clone()))
                .collect(),
            traces: self.traces.as_ref().map(|t| t.iter().copied().collect()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SpanStats {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = SpanStatsWire::deserialize(d)?;
        let mut out = SpanStats {
            window: wire.window,
            traces: wire.traces.map(|t| t.into_iter().collect()),
            ..Default::default()
        };
        for (service, operation, g) in wire.groups {
            let key = (out.names.id(&service), out.names.id(&operation));
            match out.index.get(&key) {
                Some(&i) => out.stats[i].1.merge(&g),
                None => {
                    out.index.insert(key, out.stats.len());
                    out.stats.push((key, g));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// One (service, operation) group of a [`SpanStats`].
pub struct OperationStats<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub stats: &'a GroupStats,
}

impl SpanStats {
    /// Every (service, operation) group.
    pub fn operations(&self) -> impl Iterator<Item = OperationStats<'_>> {
        self.stats.iter().map(|((s, o), g)| OperationStats {
            service: self.names.name(*s),
            operation: self.names.name(*o),
            stats: g,
        })
    }

    /// Groups merged per service, by service name.
    pub fn services(&self) -> BTreeMap<String, GroupStats> {
        let mut out: BTreeMap<String, GroupStats> = BTreeMap::new();
        for op in self.operations() {
            out.entry(op.service.to_string())
                .or_default()
                .merge(op.stats);
        }
        out
    }

    /// All spans of the window.
    pub fn total(&self) -> GroupStats {
        let mut t = GroupStats::default();
        for (_, g) in &self.stats {
            t.merge(g);
        }
        t
    }

    /// Distinct traces (when the fold counted them).
    pub fn trace_count(&self) -> Option<u64> {
        self.traces.as_ref().map(|t| t.len() as u64)
    }
}

/// A group key: (service, operation), operation `None` for a whole service.
pub type GroupKey = (String, Option<String>);

/// Two windows' groups side by side, per service and per (service,
/// operation); a group absent from one window is empty there.
pub fn paired(cur: &SpanStats, base: &SpanStats) -> BTreeMap<GroupKey, (GroupStats, GroupStats)> {
    let mut groups: BTreeMap<GroupKey, (GroupStats, GroupStats)> = BTreeMap::new();
    for (is_cur, stats) in [(true, cur), (false, base)] {
        let mut put = |key: GroupKey, g: GroupStats| {
            let e = groups.entry(key).or_default();
            if is_cur {
                e.0 = g
            } else {
                e.1 = g
            }
        };
        for (s, g) in stats.services() {
            put((s, None), g);
        }
        for o in stats.operations() {
            put(
                (o.service.to_string(), Some(o.operation.to_string())),
                o.stats.clone(),
            );
        }
    }
    groups
}
