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

use super::cache::{label_hash, CachedSeries, SeriesCache};
use super::catalog::Catalog;
use super::names::{families, format_bound, label_name, Family, StoredMetric};
use super::points::Points;
use super::value::{Labels, SeriesRange, METRIC_NAME};
use crate::fasthash::{FastHash, FastMap};
use crate::window::{scan_window, TimeWindow, WindowScan};
use crate::QueryError;
use arrow::array::{Array, RecordBatch};
use promql_parser::label::{MatchOp, Matcher};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;
use tael_core::attr::json_to_flat;
use tael_core::model::Distribution;
use tael_storage::columnar::{Cols, TextCol};
use tael_storage::part::{PartRef, RowGroupFilter};
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
    /// (family index in `wanted`, bits of the `le`/`quantile` bound, or 0)
    /// → series index, or `None` when the matchers reject that series.
    series: FastMap<(usize, u64), Option<usize>>,
}

struct Loader<'a> {
    wanted: &'a [Wanted],
    matchers: Vec<Matcher>,
    groups: Vec<Group>,
    by_hash: FastMap<u64, Vec<usize>>,
    out: Vec<SeriesRange>,
    /// The family (index in `wanted`) of each series of `out`.
    origin: Vec<usize>,
    /// Samples loaded so far, and the most allowed.
    points: usize,
    max_points: usize,
}

/// Per-row ids of a text column within one batch: dictionary keys as they
/// are, plain strings interned (so equal values share an id).
fn row_ids(col: &TextCol<'_>) -> Vec<u32> {
    match col {
        TextCol::Dict(d, _) => d.keys().iter().map(|k| k.unwrap_or(0) as u32).collect(),
        TextCol::Plain(a) => {
            let mut ids: HashMap<&str, u32> = HashMap::new();
            (0..a.len())
                .map(|i| {
                    let n = ids.len() as u32;
                    *ids.entry(if a.is_valid(i) { a.value(i) } else { "" })
                        .or_insert(n)
                })
                .collect()
        }
    }
}

impl Loader<'_> {
    fn group(&mut self, name: &str, attrs: &str, res: &str, svc: &str) -> usize {
        let h = FastHash.hash_one((name, attrs, res, svc));
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
            series: FastMap::default(),
        });
        self.by_hash.entry(h).or_default().push(id);
        id
    }

    /// The series of (group, family, extra label), created on first use.
    fn series(&mut self, g: usize, w: usize, extra: Option<(&str, f64)>) -> Option<usize> {
        let bits = extra.map_or(0, |e| e.1.to_bits());
        if let Some(s) = self.groups[g].series.get(&(w, bits)) {
            return *s;
        }
        let mut pairs = self.groups[g].base.clone();
        pairs.push((METRIC_NAME.to_string(), self.wanted[w].name.clone()));
        if let Some((k, v)) = extra {
            pairs.push((k.to_string(), format_bound(v)));
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
            self.origin.push(w);
            self.out.len() - 1
        });
        self.groups[g].series.insert((w, bits), idx);
        idx
    }

    fn push(&mut self, s: Option<usize>, t: i64, v: f64) {
        if let Some(s) = s {
            self.out[s].points.push((t, v));
            self.points += 1;
        }
    }

    /// A staleness marker on every series of family `w` in group `g`
    /// (a stale histogram point carries no buckets to name them).
    fn stale_all(&mut self, g: usize, w: usize, t: i64) {
        let ids: Vec<usize> = self.groups[g]
            .series
            .iter()
            .filter(|(k, _)| k.0 == w)
            .filter_map(|(_, s)| *s)
            .collect();
        for s in ids {
            self.push(Some(s), t, stale_nan());
        }
    }

    /// The wanted families of rows of this stored metric.
    fn families_of(&self, m: &StoredMetric) -> Vec<usize> {
        (0..self.wanted.len())
            .filter(|w| self.wanted[*w].metric == *m)
            .collect()
    }

    fn batch(
        &mut self,
        batch: &RecordBatch,
        mask: &[bool],
        window: TimeWindow,
    ) -> Result<(), QueryError> {
        let c = Cols::new(batch);
        let (names, types) = (c.text("name")?, c.text("metric_type")?);
        let (units, temps) = (c.text("unit")?, c.text("temporality")?);
        let mono = c.bool("is_monotonic")?;
        let (attrs, res, svc) = (
            c.text("attributes")?,
            c.text("resource")?,
            c.text("service")?,
        );
        let (time, value, flags) = (c.i64("time_ns")?, c.f64("value")?, c.u32("flags")?);
        let dist = c.str("distribution")?;
        let (name_ids, type_ids) = (row_ids(&names), row_ids(&types));
        let (unit_ids, temp_ids) = (row_ids(&units), row_ids(&temps));
        let (attr_ids, res_ids, svc_ids) = (row_ids(&attrs), row_ids(&res), row_ids(&svc));
        // Wanted families per stored metric (name, type, unit, temporality,
        // monotonic) and groups per (name, type, attributes, resource,
        // service), looked up once per distinct value.
        let mut fams: FastMap<(u32, u32, u32, u32, bool), Vec<usize>> = FastMap::default();
        let mut groups: FastMap<(u32, u32, u32, u32, u32), usize> = FastMap::default();
        for (i, keep) in mask.iter().enumerate() {
            if !keep || !window.contains(time.value(i)) {
                continue;
            }
            let is_mono = mono.is_valid(i) && mono.value(i);
            let nt = (name_ids[i], type_ids[i]);
            let mk = (nt.0, nt.1, unit_ids[i], temp_ids[i], is_mono);
            let ws = fams.entry(mk).or_insert_with(|| {
                self.families_of(&StoredMetric {
                    name: names.value(i).to_string(),
                    unit: units.value(i).to_string(),
                    metric_type: types.value(i).to_string(),
                    monotonic: is_mono,
                    temporality: temps.value(i).to_string(),
                })
            });
            if ws.is_empty() {
                continue;
            }
            let gk = (nt.0, nt.1, attr_ids[i], res_ids[i], svc_ids[i]);
            let g = match groups.get(&gk) {
                Some(g) => *g,
                None => {
                    let g = self.group(names.value(i), attrs.value(i), res.value(i), svc.value(i));
                    groups.insert(gk, g);
                    g
                }
            };
            let t = time.value(i).div_euclid(1_000_000);
            let stale = flags.value(i) & 1 == 1;
            let needs_dist = ws.iter().any(|w| {
                matches!(
                    self.wanted[*w].family,
                    Family::Bucket | Family::Count | Family::Quantile
                )
            });
            let d: Option<Distribution> = match needs_dist && dist.is_valid(i) {
                true => serde_json::from_str(dist.value(i)).ok(),
                false => None,
            };
            let or_stale = |v: f64| if stale { stale_nan() } else { v };
            for &w in ws.iter() {
                match self.wanted[w].family {
                    Family::Value | Family::Sum => {
                        let s = self.series(g, w, None);
                        self.push(s, t, or_stale(value.value(i)));
                    }
                    Family::Count => {
                        let s = self.series(g, w, None);
                        match (&d, stale) {
                            (_, true) => self.push(s, t, stale_nan()),
                            (Some(d), false) => self.push(s, t, d.count as f64),
                            (None, false) => {}
                        }
                    }
                    Family::Bucket | Family::Quantile if stale && d.is_none() => {
                        self.stale_all(g, w, t)
                    }
                    Family::Bucket => {
                        let Some(d) = &d else { continue };
                        let mut cum = 0u64;
                        for (b, n) in d.bucket_counts.iter().enumerate() {
                            cum = cum.saturating_add(*n);
                            let le = d.explicit_bounds.get(b).copied().unwrap_or(f64::INFINITY);
                            let s = self.series(g, w, Some(("le", le)));
                            self.push(s, t, or_stale(cum as f64));
                        }
                    }
                    Family::Quantile => {
                        let Some(d) = &d else { continue };
                        for q in &d.quantiles {
                            let s = self.series(g, w, Some(("quantile", q.quantile)));
                            self.push(s, t, or_stale(q.value));
                        }
                    }
                }
            }
            if self.points > self.max_points {
                return Err(super::eval::exec_err(
                    "query processing would load too many samples",
                ));
            }
        }
        Ok(())
    }
}

const COLUMNS: &[&str] = &[
    "name",
    "metric_type",
    "unit",
    "temporality",
    "is_monotonic",
    "attributes",
    "resource",
    "service",
    "value",
    "flags",
    "distribution",
];

impl<'a> Loader<'a> {
    fn new(wanted: &'a [Wanted], matchers: Vec<Matcher>, max_points: usize) -> Self {
        Loader {
            wanted,
            matchers,
            groups: Vec::new(),
            by_hash: FastMap::default(),
            out: Vec::new(),
            origin: Vec::new(),
            points: 0,
            max_points,
        }
    }

    /// The series loaded, each oldest first with one point per time.
    fn finish(mut self) -> (Vec<SeriesRange>, Vec<usize>) {
        for s in &mut self.out {
            s.points.sort_by_key(|p| p.0);
            s.points.dedup_by_key(|p| p.0);
        }
        (self.out, self.origin)
    }
}

/// Every series of `m` in one part (all of its families, all times): what
/// the part series cache holds.
fn part_series(part: &PartRef, m: &StoredMetric) -> Result<Vec<CachedSeries>, QueryError> {
    let wanted: Vec<Wanted> = families(m)
        .into_iter()
        .map(|(family, name, _)| Wanted {
            metric: m.clone(),
            family,
            name,
        })
        .collect();
    let mut loader = Loader::new(&wanted, Vec::new(), usize::MAX);
    let filter = RowGroupFilter {
        equals: vec![("name", m.name.as_str())],
        ..Default::default()
    };
    let all = TimeWindow {
        from_ns: i64::MIN,
        to_ns: i64::MAX,
    };
    let mut cols = COLUMNS.to_vec();
    cols.push("time_ns");
    for rg in part.row_groups(&filter)? {
        for batch in part.scan_group(rg, Some(&cols))? {
            let mask = vec![true; batch.num_rows()];
            loader.batch(&batch, &mask, all)?;
        }
    }
    let (out, origin) = loader.finish();
    Ok(out
        .into_iter()
        .zip(origin)
        .filter(|(s, _)| !s.points.is_empty())
        .map(|(s, w)| CachedSeries {
            family: wanted[w].family,
            hash: label_hash(&s.labels),
            unnamed: Arc::new(s.labels.drop_name()),
            labels: s.labels,
            points: Points::encode(&s.points),
        })
        .collect())
}

/// Series from several sources merged by label set.
struct Merged {
    out: Vec<SeriesRange>,
    /// Each series' labels without `__name__`, where known.
    unnamed: Vec<Option<Arc<Labels>>>,
    by_hash: FastMap<u64, Vec<usize>>,
    /// Series that got points from more than one source (to re-sort).
    mixed: Vec<bool>,
    points: usize,
}

impl Merged {
    fn new(first: Vec<SeriesRange>) -> Merged {
        let mut m = Merged {
            by_hash: FastMap::default(),
            mixed: vec![false; first.len()],
            unnamed: vec![None; first.len()],
            points: first.iter().map(|s| s.points.len()).sum(),
            out: first,
        };
        for (i, s) in m.out.iter().enumerate() {
            m.by_hash.entry(label_hash(&s.labels)).or_default().push(i);
        }
        m
    }

    fn add(&mut self, s: &CachedSeries, points: &[(i64, f64)]) {
        self.points += points.len();
        let ids = self.by_hash.entry(s.hash).or_default();
        if let Some(&i) = ids.iter().find(|&&i| self.out[i].labels == s.labels) {
            self.out[i].points.extend_from_slice(points);
            self.mixed[i] = true;
            return;
        }
        ids.push(self.out.len());
        self.out.push(SeriesRange {
            labels: s.labels.clone(),
            points: points.to_vec(),
        });
        self.mixed.push(false);
        self.unnamed.push(Some(s.unnamed.clone()));
    }

    fn finish(mut self) -> Loaded {
        for (s, mixed) in self.out.iter_mut().zip(self.mixed) {
            if mixed {
                s.points.sort_by_key(|p| p.0);
                s.points.dedup_by_key(|p| p.0);
            }
        }
        let (series, unnamed) = self
            .out
            .into_iter()
            .zip(self.unnamed)
            .filter(|(s, _)| !s.points.is_empty())
            .unzip();
        Loaded { series, unnamed }
    }
}

/// The series a selector loaded.
#[derive(Default)]
pub struct Loaded {
    pub series: Vec<SeriesRange>,
    /// Each series' labels without `__name__`, where already known (the
    /// part series cache keeps them, so queries need not derive them).
    pub unnamed: Vec<Option<Arc<Labels>>>,
}

/// Every series matching `matchers` with its samples in `[from_ms, to_ms]`
/// (ms), samples oldest first; an error beyond `max_points` samples.
/// Memtable chunks are read row by row; parts through the part series
/// cache ([`super::cache`]).
pub fn load(
    snap: &Snapshot,
    catalog: &Catalog,
    cache: &SeriesCache,
    matchers: &[Matcher],
    from_ms: i64,
    to_ms: i64,
    max_points: usize,
) -> Result<Loaded, QueryError> {
    let name_matchers: Vec<&Matcher> = matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
    let wanted = resolve(&catalog.all(), &name_matchers);
    if wanted.is_empty() {
        return Ok(Loaded::default());
    }
    let label_matchers: Vec<Matcher> = matchers
        .iter()
        .filter(|m| m.name != METRIC_NAME)
        .map(label_matcher)
        .collect();
    let stored: BTreeSet<&str> = wanted.iter().map(|w| w.metric.name.as_str()).collect();
    let holds = |m: &BTreeSet<StoredMetric>| m.iter().any(|x| stored.contains(x.name.as_str()));
    let window = TimeWindow {
        from_ns: from_ms.saturating_mul(1_000_000),
        to_ns: to_ms.saturating_add(1).saturating_mul(1_000_000),
    };
    // Memtable chunks that hold a wanted metric, read row by row.
    let mut loader = Loader::new(&wanted, label_matchers.clone(), max_points);
    let mut chunks = snap.clone();
    let mut keep_chunk = catalog.chunks.iter().map(|m| holds(m));
    chunks
        .metrics
        .retain(|_| keep_chunk.next().unwrap_or(false));
    chunks.parts = Arc::new(Vec::new());
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
    scan_window(&chunks, &scan, &mut |b, mask| loader.batch(b, mask, window))?;
    let mut merged = Merged::new(loader.finish().0);
    // Parts in the window, through the cache.
    let metrics: BTreeSet<&StoredMetric> = wanted.iter().map(|w| &w.metric).collect();
    let mut requests = Vec::new();
    for (part, held) in snap.parts_of(Signal::Metrics).zip(&catalog.parts) {
        if part.meta.max_time_ns < window.from_ns || part.meta.min_time_ns >= window.to_ns {
            continue;
        }
        for m in metrics.iter().filter(|m| held.contains(m)) {
            requests.push((part.clone(), (*m).clone()));
        }
    }
    let live: HashSet<u64> = snap.parts_of(Signal::Metrics).map(|p| p.meta.id).collect();
    let cached = cache.get_many(&requests, &live, &part_series)?;
    let mut window_points = Vec::new();
    for ((_, m), series) in requests.iter().zip(cached) {
        let families: Vec<Family> = wanted
            .iter()
            .filter(|w| w.metric == *m)
            .map(|w| w.family)
            .collect();
        for s in series.iter() {
            if !families.contains(&s.family)
                || !label_matchers
                    .iter()
                    .all(|x| x.is_match(s.labels.get(&x.name)))
            {
                continue;
            }
            window_points.clear();
            if s.points.extend_window(from_ms, to_ms, &mut window_points) > 0 {
                merged.add(s, &window_points);
            }
        }
        if merged.points > max_points {
            return Err(super::eval::exec_err(
                "query processing would load too many samples",
            ));
        }
    }
    Ok(merged.finish())
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
