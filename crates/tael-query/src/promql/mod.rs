//! PromQL over tael's metrics: instant and range queries, series, label
//! names and values, metadata — what the Prometheus HTTP API serves.
//! Parsing is `promql-parser`'s; how OTel metrics appear as Prometheus
//! series is in [`names`] and [`series`]; evaluation semantics in [`eval`].
//!
//! Queries run above the [`Store`]: the store loads the series the
//! selectors need ([`Store::series`], with [`load_series`] for a local
//! snapshot), and evaluation runs here on the blocking pool.

mod aggregate;
mod binary;
mod cache;
mod catalog;
pub mod eval;
mod functions;
pub mod names;
mod points;
pub mod series;
pub mod value;

use crate::fasthash::{FastHash, FastMap};
use crate::store::{SeriesQuery, SeriesSelector, Store};
use crate::QueryError;
use cache::SeriesCache;
use catalog::{Catalog, CatalogCache};
use eval::Evaluator;
use promql_parser::label::Matcher;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;
use series::Loaded;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tael_storage::Snapshot;
use value::{Labels, QueryResult, SeriesRange, Value, METRIC_NAME};

/// Most steps a range query may have (as Prometheus: 11,000 points per series).
pub const MAX_STEPS: i64 = 11_000;

/// Earliest and latest evaluation times accepted (ms): years 0 to 9999,
/// so that offsets and ranges never overflow.
pub const MIN_TIME_MS: i64 = -62_167_219_200_000;
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// Default query time limit (Prometheus's default `timeout`).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn check_time(what: &str, t: i64) -> Result<i64, QueryError> {
    if (MIN_TIME_MS..=MAX_TIME_MS).contains(&t) {
        Ok(t)
    } else {
        Err(QueryError::InvalidArgument(format!(
            "{what} is out of range (years 0 to 9999)"
        )))
    }
}

/// Parses a PromQL expression (errors are the caller's: 400). The parser
/// panics on some absurd durations (`x[1e30]`); that is a parse error too.
pub fn parse(q: &str) -> Result<Expr, QueryError> {
    let q = q.to_string();
    let parsed = std::panic::catch_unwind(move || promql_parser::parser::parse(&q));
    match parsed {
        Ok(Ok(e)) => Ok(e),
        Ok(Err(e)) => Err(QueryError::InvalidArgument(format!("parse error: {e}"))),
        Err(_) => Err(QueryError::InvalidArgument(
            "parse error: a duration or number is out of range".into(),
        )),
    }
}

/// What a store keeps between PromQL queries: decoded part series (within
/// a byte budget, see [`cache`]) and the metric catalog of its chunks and
/// parts.
pub struct PromqlCaches {
    series: SeriesCache,
    catalog: CatalogCache,
}

impl PromqlCaches {
    /// Caches keeping at most `series_bytes` of decoded series (0: none).
    pub fn new(series_bytes: usize) -> PromqlCaches {
        PromqlCaches {
            series: SeriesCache::new(series_bytes),
            catalog: CatalogCache::default(),
        }
    }
}

/// Loads the series of every selector of `q` from a snapshot, within the
/// sample budget and time limit.
pub fn load_series(
    snap: &Snapshot,
    caches: &PromqlCaches,
    q: &SeriesQuery,
) -> Result<Vec<Loaded>, QueryError> {
    let deadline = std::time::Instant::now() + q.timeout;
    let catalog = Catalog::of(snap, &caches.catalog)?;
    let mut loaded = 0usize;
    let mut out = Vec::with_capacity(q.selectors.len());
    for sel in &q.selectors {
        let l = series::load(
            snap,
            &catalog,
            &caches.series,
            &sel.matchers,
            sel.from_ms,
            sel.to_ms,
            q.max_samples.saturating_sub(loaded),
        )?;
        loaded += l.series.iter().map(|s| s.points.len()).sum::<usize>();
        if std::time::Instant::now() > deadline {
            return Err(QueryError::Timeout(format!(
                "query timed out after {:?}",
                q.timeout
            )));
        }
        out.push(l);
    }
    Ok(out)
}

/// Every stored metric of a snapshot.
pub fn stored_metrics(
    snap: &Snapshot,
    caches: &PromqlCaches,
) -> Result<BTreeSet<names::StoredMetric>, QueryError> {
    Ok(Catalog::of(snap, &caches.catalog)?.all())
}

/// Loads what `expr`'s selectors need from `store` into `ev`.
async fn load(
    store: &dyn Store,
    ev: &mut Evaluator,
    expr: &Expr,
    from: i64,
    to: i64,
    timeout: std::time::Duration,
) -> Result<(), QueryError> {
    let planned = ev.plan(expr, from, to)?;
    let q = SeriesQuery {
        selectors: planned.iter().map(|p| p.selector.clone()).collect(),
        max_samples: eval::MAX_SAMPLES,
        timeout,
    };
    let loaded = store.series(q).await?;
    ev.supply(planned, loaded)
}

pub(crate) fn check_unique(v: &[value::Sample]) -> Result<(), QueryError> {
    let mut seen: std::collections::HashSet<&Arc<Labels>, FastHash> =
        std::collections::HashSet::with_capacity_and_hasher(v.len(), FastHash);
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(eval::exec_err(
                "vector cannot contain metrics with the same labelset",
            ));
        }
    }
    Ok(())
}

/// Evaluates `q` at `time_ms`, within `timeout`.
pub async fn instant_query(
    store: &dyn Store,
    q: &str,
    time_ms: i64,
    timeout: std::time::Duration,
) -> Result<QueryResult, QueryError> {
    let time_ms = check_time("time", time_ms)?;
    let expr = Arc::new(parse(q)?);
    let _slot = store.promql_slot()?;
    let mut ev = Evaluator::new(time_ms, time_ms, timeout);
    load(store, &mut ev, &expr, time_ms, time_ms, timeout).await?;
    crate::blocking(move || {
        Ok(match ev.eval(&expr, time_ms)? {
            Value::Scalar(value) => QueryResult::Scalar { time_ms, value },
            Value::String(value) => QueryResult::String { time_ms, value },
            Value::Vector(samples) => {
                check_unique(&samples)?;
                QueryResult::Vector { time_ms, samples }
            }
            Value::Matrix(m) => QueryResult::Matrix(m),
        })
    })
    .await
}

/// Evaluates `q` at every step from `start_ms` to `end_ms`, within `timeout`.
pub async fn range_query(
    store: &dyn Store,
    q: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    timeout: std::time::Duration,
) -> Result<QueryResult, QueryError> {
    let (start_ms, end_ms) = (check_time("start", start_ms)?, check_time("end", end_ms)?);
    if step_ms <= 0 {
        return Err(QueryError::InvalidArgument(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ms < start_ms {
        return Err(QueryError::InvalidArgument(
            "end timestamp must not be before start time".into(),
        ));
    }
    if (end_ms - start_ms) / step_ms > MAX_STEPS {
        return Err(QueryError::InvalidArgument(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    let expr = Arc::new(parse(q)?);
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => {}
        other => {
            return Err(QueryError::InvalidArgument(format!(
            "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
        )))
        }
    }
    let _slot = store.promql_slot()?;
    let mut ev = Evaluator::new(start_ms, end_ms, timeout);
    load(store, &mut ev, &expr, start_ms, end_ms, timeout).await?;
    crate::blocking(move || evaluate_range(&ev, &expr, start_ms, end_ms, step_ms)).await
}

/// Every step of a range query, with the series loaded.
fn evaluate_range(
    ev: &Evaluator,
    expr: &Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<QueryResult, QueryError> {
    let mut acc: FastMap<Arc<Labels>, Vec<(i64, f64)>> = FastMap::default();
    let mut t = start_ms;
    while t <= end_ms {
        ev.check_deadline()?;
        match ev.eval(expr, t)? {
            Value::Scalar(x) => acc
                .entry(Arc::new(Labels::default()))
                .or_default()
                .push((t, x)),
            Value::Vector(v) => {
                check_unique(&v)?;
                for s in v {
                    acc.entry(s.labels).or_default().push((t, s.value));
                }
            }
            other => {
                return Err(QueryError::InvalidArgument(format!(
                    "unexpected {} result in a range query",
                    other.type_name()
                )))
            }
        }
        t += step_ms;
    }
    let mut out: Vec<SeriesRange> = acc
        .into_iter()
        .map(|(labels, points)| SeriesRange { labels, points })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryResult::Matrix(out))
}

/// Parses `match[]` selectors into matcher lists.
fn selectors(matches: &[String]) -> Result<Vec<Vec<Matcher>>, QueryError> {
    matches
        .iter()
        .map(|m| match parse(m)? {
            Expr::VectorSelector(vs) => {
                let mut ms = vs.matchers.matchers.clone();
                if let Some(n) = &vs.name {
                    ms.push(Matcher::new(
                        promql_parser::label::MatchOp::Equal,
                        METRIC_NAME,
                        n,
                    ));
                }
                Ok(ms)
            }
            _ => Err(QueryError::InvalidArgument(format!(
                "match[] must be a series selector, got {m:?}"
            ))),
        })
        .collect()
}

/// The label sets of the series matching any of `matches` (all series
/// when empty) with samples in `[start_ms, end_ms]`.
pub async fn series(
    store: &dyn Store,
    matches: &[String],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Labels>, QueryError> {
    let mut sets = selectors(matches)?;
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let mut out = BTreeSet::new();
    // One load per selector, each with the whole sample budget.
    for matchers in sets {
        let q = SeriesQuery {
            selectors: vec![SeriesSelector {
                matchers,
                from_ms: start_ms,
                to_ms: end_ms,
            }],
            max_samples: eval::MAX_SAMPLES,
            timeout: DEFAULT_TIMEOUT,
        };
        for loaded in store.series(q).await? {
            for s in loaded.series {
                out.insert((*s.labels).clone());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Label names of the matching series, sorted.
pub async fn label_names(
    store: &dyn Store,
    matches: &[String],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<String>, QueryError> {
    let names: BTreeSet<String> = series(store, matches, start_ms, end_ms)
        .await?
        .into_iter()
        .flat_map(|l| l.0.into_iter().map(|(n, _)| n))
        .collect();
    Ok(names.into_iter().collect())
}

/// Values of one label over the matching series, sorted.
pub async fn label_values(
    store: &dyn Store,
    name: &str,
    matches: &[String],
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<String>, QueryError> {
    if name == METRIC_NAME && matches.is_empty() {
        // Names come from the catalog alone, no sample is read.
        let all = store.metric_catalog().await?;
        let names: BTreeSet<String> = all
            .iter()
            .flat_map(|m| names::families(m).into_iter().map(|f| f.1))
            .collect();
        return Ok(names.into_iter().collect());
    }
    let wanted = names::label_name(name);
    let values: BTreeSet<String> = series(store, matches, start_ms, end_ms)
        .await?
        .into_iter()
        .map(|l| l.get(&wanted).to_string())
        .filter(|v| !v.is_empty())
        .collect();
    Ok(values.into_iter().collect())
}

/// Metric metadata for `/api/v1/metadata`: family name → (type, unit).
pub async fn metadata(store: &dyn Store) -> Result<BTreeMap<String, (String, String)>, QueryError> {
    let mut out = BTreeMap::new();
    for m in store.metric_catalog().await? {
        let kind = match m.metric_type.as_str() {
            "sum" if m.monotonic && m.temporality == "cumulative" => "counter",
            "sum" | "gauge" => "gauge",
            "histogram" => "histogram",
            "summary" => "summary",
            _ => "unknown",
        };
        let fams = names::families(&m);
        let name = match kind {
            "histogram" | "summary" => names::normalized_base(&m),
            _ => fams[0].1.clone(),
        };
        out.insert(name, (kind.to_string(), m.unit.clone()));
    }
    Ok(out)
}
