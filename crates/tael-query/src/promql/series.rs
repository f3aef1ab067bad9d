//! Loading the series a selector asks for: resolve its metric-name
//! matchers against the catalog's families (both spellings, see
//! [`super::names`]), read the matching rows of the chunks and parts that
//! hold those metrics in the time range, and group them into series with
//! Prometheus labels:
//!
//! - `__name__`: the family's normalised name;
//! - from the resource, when it has `service.name` (and is not marked as
//!   remote-write, whose samples keep exactly the labels they were sent with): `job`
//!   (`service.namespace/service.name`, or `service.name`), `instance`
//!   (`service.instance.id`) and `service` (tael's service);
//! - every data-point attribute, key normalised (`http.route` →
//!   `http_route`), value in tael's flat string form; attributes win over
//!   the resource labels;
//! - `le` on histogram buckets (cumulative counts), `quantile` on summary
//!   quantiles.
//!
//! A point flagged "no recorded value" (OTLP flag 1, which remote-write
//! staleness markers are stored as) becomes a staleness marker.

use super::catalog::Catalog;
use super::names::{families, format_bound, label_name, Family, StoredMetric};
use super::value::{Labels, SeriesRange, METRIC_NAME};
use crate::window::{scan_window, TimeWindow, WindowScan};
use crate::QueryError;
use arrow::array::{Array, RecordBatch};
use promql_parser::label::{MatchOp, Matcher};
use serde_json::{Map, Value};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tael_core::attr::json_to_flat;
use tael_core::model::Distribution;
use tael_storage::columnar::Cols;
use tael_storage::{Signal, Snapshot};

/// Resource attribute of remote-write samples: their labels are exactly
/// their attributes (no `job`/`instance`/`service` from the resource).
pub const REMOTE_WRITE_MARK: &str = "tael.remote_write";

/// The bit pattern of Prometheus's staleness marker (a NaN).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// A family a selector wants.
#[derive(Debug, Clone)]
struct Wanted {
    metric: StoredMetric,
    family: Family,
    name: String,
}

/// The families whose normalised or raw name satisfies every name matcher.
fn resolve(all: &BTreeSet<StoredMetric>, name_matchers: &[&Matcher]) -> Vec<Wanted> {
    let mut out = Vec::new();
    for m in all {
        for (family, norm, raw) in families(m) {
            let hit = |n: &str| name_matchers.iter().all(|x| x.is_match(n));
            if hit(&norm) || hit(&raw) {
                out.push(Wanted {
                    metric: m.clone(),
                    family,
                    name: norm,
                });
            }
        }
    }
    out
}

/// A label matcher on normalised label names.
fn label_matcher(m: &Matcher) -> Matcher {
    let mut m = m.clone();
    if m.name != METRIC_NAME {
        m.name = label_name(&m.name);
    }
    m
}

fn parse_obj(text: &str) -> Map<String, Value> {
    if text.is_empty() {
        return Map::new();
    }
    serde_json::from_str(text).unwrap_or_default()
}

/// Labels of a series without `__name__`, `le` and `quantile`.
pub fn base_labels(attributes: &str, resource: &str, service: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let res = parse_obj(resource);
    let remote_write = res.contains_key(REMOTE_WRITE_MARK);
    if let Some(name) = res
        .get("service.name")
        .map(json_to_flat)
        .filter(|_| !remote_write)
    {
        let job = match res.get("service.namespace").map(json_to_flat) {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name,
        };
        pairs.push(("job".to_string(), job));
        if let Some(id) = res.get("service.instance.id") {
            pairs.push(("instance".to_string(), json_to_flat(id)));
        }
        pairs.push(("service".to_string(), service.to_string()));
    }
    for (k, v) in parse_obj(attributes) {
        pairs.push((label_name(&k), json_to_flat(&v)));
    }
    pairs
}

/// One distinct (metric, attributes, resource, service) of the rows.
struct Group {
    key: (String, String, String, String),
    base: Vec<(String, String)>,
    /// (family index in `wanted`, extra label value) → series index, or
    /// `None` when the matchers reject that series.
    series: HashMap<(usize, String), Option<usize>>,
}

struct Loader<'a> {
    wanted: &'a [Wanted],
    matchers: Vec<Matcher>,
    groups: Vec<Group>,
    by_hash: HashMap<u64, Vec<usize>>,
    out: Vec<SeriesRange>,
}

impl Loader<'_> {
    fn group(&mut self, name: &str, attrs: &str, res: &str, svc: &str) -> usize {
        let mut h = DefaultHasher::new();
        (name, attrs, res, svc).hash(&mut h);
        let h = h.finish();
        if let Some(ids) = self.by_hash.get(&h) {
            for &id in ids {
                let k = &self.groups[id].key;
                if k.0 == name && k.1 == attrs && k.2 == res && k.3 == svc {
                    return id;
                }
            }
        }
        let id = self.groups.len();
        self.groups.push(Group {
            key: (name.into(), attrs.into(), res.into(), svc.into()),
            base: base_labels(attrs, res, svc),
            series: HashMap::new(),
        });
        self.by_hash.entry(h).or_default().push(id);
        id
    }

    /// The series of (group, family, extra label), created on first use.
    fn series(&mut self, g: usize, w: usize, extra: Option<(&str, String)>) -> Option<usize> {
        let extra_val = extra.as_ref().map(|e| e.1.clone()).unwrap_or_default();
        if let Some(s) = self.groups[g].series.get(&(w, extra_val.clone())) {
            return *s;
        }
        let mut pairs = self.groups[g].base.clone();
        pairs.push((METRIC_NAME.to_string(), self.wanted[w].name.clone()));
        if let Some((k, v)) = &extra {
            pairs.push((k.to_string(), v.clone()));
        }
        let labels = Labels::new(pairs);
        let ok = self
            .matchers
            .iter()
            .all(|m| m.is_match(labels.get(&m.name)));
        let idx = ok.then(|| {
            self.out.push(SeriesRange {
                labels: Arc::new(labels),
                points: Vec::new(),
            });
            self.out.len() - 1
        });
        self.groups[g].series.insert((w, extra_val), idx);
        idx
    }

    fn push(&mut self, s: Option<usize>, t: i64, v: f64) {
        if let Some(s) = s {
            self.out[s].points.push((t, v));
        }
    }

    fn batch(
        &mut self,
        batch: &RecordBatch,
        mask: &[bool],
        window: TimeWindow,
    ) -> Result<(), QueryError> {
        let c = Cols::new(batch);
        let names = c.text("name")?;
        let types = c.text("metric_type")?;
        let (unit, temporality, mono) = (
            c.str("unit")?,
            c.str("temporality")?,
            c.bool("is_monotonic")?,
        );
        let (attrs, res, svc) = (c.str("attributes")?, c.str("resource")?, c.text("service")?);
        let (time, value, flags) = (c.i64("time_ns")?, c.f64("value")?, c.u32("flags")?);
        let dist = c.str("distribution")?;
        for (i, keep) in mask.iter().enumerate() {
            if !keep || !window.contains(time.value(i)) {
                continue;
            }
            let name = names.value(i);
            let ws: Vec<usize> = (0..self.wanted.len())
                .filter(|w| {
                    let m = &self.wanted[*w].metric;
                    m.name == name
                        && m.metric_type == types.value(i)
                        && m.unit == unit.value(i)
                        && m.temporality == temporality.value(i)
                        && m.monotonic == (mono.is_valid(i) && mono.value(i))
                })
                .collect();
            if ws.is_empty() {
                continue;
            }
            let g = self.group(name, attrs.value(i), res.value(i), svc.value(i));
            let t = time.value(i).div_euclid(1_000_000);
            let stale = flags.value(i) & 1 == 1;
            let d: Option<Distribution> = match ws.iter().any(|w| {
                matches!(
                    self.wanted[*w].family,
                    Family::Bucket | Family::Count | Family::Quantile
                )
            }) {
                true if dist.is_valid(i) => serde_json::from_str(dist.value(i)).ok(),
                _ => None,
            };
            for w in ws {
                match self.wanted[w].family {
                    Family::Value | Family::Sum => {
                        let s = self.series(g, w, None);
                        let v = if stale {
                            super::series::stale_nan()
                        } else {
                            value.value(i)
                        };
                        self.push(s, t, v);
                    }
                    Family::Count => {
                        let s = self.series(g, w, None);
                        match (&d, stale) {
                            (_, true) => self.push(s, t, stale_nan()),
                            (Some(d), false) => self.push(s, t, d.count as f64),
                            (None, false) => {}
                        }
                    }
                    Family::Bucket => {
                        let Some(d) = &d else { continue };
                        if d.bucket_counts.is_empty() {
                            continue;
                        }
                        let mut cum = 0u64;
                        for (b, n) in d.bucket_counts.iter().enumerate() {
                            cum += n;
                            let le = d.explicit_bounds.get(b).copied().unwrap_or(f64::INFINITY);
                            let s = self.series(g, w, Some(("le", format_bound(le))));
                            self.push(s, t, if stale { stale_nan() } else { cum as f64 });
                        }
                    }
                    Family::Quantile => {
                        let Some(d) = &d else { continue };
                        for q in &d.quantiles {
                            let s = self.series(g, w, Some(("quantile", format_bound(q.quantile))));
                            self.push(s, t, if stale { stale_nan() } else { q.value });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

const COLUMNS: &[&str] = &[
    "name",
    "unit",
    "metric_type",
    "is_monotonic",
    "temporality",
    "attributes",
    "resource",
    "service",
    "value",
    "flags",
    "distribution",
];

/// Every series matching `matchers` with its samples in `[from_ms, to_ms]`
/// (ms), samples oldest first.
pub fn load(
    snap: &Snapshot,
    catalog: &Catalog,
    matchers: &[Matcher],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<SeriesRange>, QueryError> {
    let name_matchers: Vec<&Matcher> = matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
    let wanted = resolve(&catalog.all(), &name_matchers);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let stored: BTreeSet<&str> = wanted.iter().map(|w| w.metric.name.as_str()).collect();
    let holds = |m: &BTreeSet<StoredMetric>| m.iter().any(|x| stored.contains(x.name.as_str()));
    let window = TimeWindow {
        from_ns: from_ms.saturating_mul(1_000_000),
        to_ns: to_ms.saturating_add(1).saturating_mul(1_000_000),
    };
    let mut loader = Loader {
        wanted: &wanted,
        matchers: matchers
            .iter()
            .filter(|m| m.name != METRIC_NAME)
            .map(label_matcher)
            .collect(),
        groups: Vec::new(),
        by_hash: HashMap::new(),
        out: Vec::new(),
    };
    // Only the chunks and parts that hold a wanted metric are read.
    let mut sub = snap.clone();
    let mut keep_chunk = catalog.chunks.iter().map(|m| holds(m));
    sub.metrics.retain(|_| keep_chunk.next().unwrap_or(false));
    let part_ids: Vec<u64> = snap
        .parts_of(Signal::Metrics)
        .zip(&catalog.parts)
        .filter(|(_, m)| holds(m))
        .map(|(p, _)| p.meta.id)
        .collect();
    sub.parts = Arc::new(
        snap.parts
            .iter()
            .filter(|p| p.meta.signal != Signal::Metrics || part_ids.contains(&p.meta.id))
            .cloned()
            .collect(),
    );
    let only: Vec<&str> = stored.iter().copied().collect();
    let scan = WindowScan {
        signal: Signal::Metrics,
        window,
        columns: COLUMNS,
        equals: match only.as_slice() {
            [one] => vec![("name", *one)],
            _ => Vec::new(),
        },
    };
    scan_window(&sub, &scan, &mut |b, mask| loader.batch(b, mask, window))?;
    let mut out = loader.out;
    for s in &mut out {
        s.points.sort_by_key(|p| p.0);
        s.points.dedup_by_key(|p| p.0);
    }
    out.retain(|s| !s.points.is_empty());
    Ok(out)
}

/// Whether a matcher could match the empty string (Prometheus requires a
/// selector to have at least one matcher that does not).
pub fn matches_empty(m: &Matcher) -> bool {
    match &m.op {
        MatchOp::Equal => m.value.is_empty(),
        MatchOp::NotEqual => !m.value.is_empty(),
        _ => m.is_match(""),
    }
}
