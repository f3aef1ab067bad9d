//! Window diff (`/api/v1/diff`, `tael diff`): per service and operation,
//! rate, error rate and p50/p95/p99 now vs a baseline window, sorted by how
//! much worse it got.
//!
//! A baseline is written `<length>` (the window of that length that ends
//! where the current one starts) or `<length>@-<offset>` (the window of that
//! length ending `<offset>` before now, e.g. `1h@-1d` is the same hour
//! yesterday).
//!
//! `worse_by` is 10 × the rise in error rate (a fraction; only rises count)
//! plus the relative rise of p95 (`p95_now / p95_base − 1`, only rises
//! count). So +5 error-rate points weigh 0.5 and a doubled p95 weighs 1.0.
//! Groups present in only one window are marked `new` or `gone` and sort
//! after the changed ones with a positive score.

use crate::params::{DurationParam, Params};
use crate::spanstats::{paired, GroupStats, SpanStats, StatsQuery};
use crate::store::Store;
use crate::window::{last_param, last_window, TimeWindow, DEFAULT_LAST};
use crate::QueryError;
use serde::{Deserialize, Serialize};
use tael_core::duration::parse_duration_ns;

/// Parses a baseline spec (see the module docs) relative to `current`.
pub fn parse_baseline(
    spec: &str,
    current: TimeWindow,
    now_ns: i64,
) -> Result<TimeWindow, QueryError> {
    let bad = |e: String| QueryError::InvalidArgument(format!("invalid baseline {spec:?}: {e}"));
    let (len, offset) = match spec.split_once('@') {
        None => (spec, None),
        Some((len, off)) => {
            let off = off
                .trim()
                .strip_prefix('-')
                .ok_or_else(|| bad("the offset after @ must be negative, e.g. 1h@-1d".into()))?;
            (len, Some(off))
        }
    };
    let len = parse_duration_ns(len.trim()).map_err(|e| bad(e.to_string()))?;
    if len <= 0 {
        return Err(bad("the length must be positive".into()));
    }
    let window = match offset {
        None => TimeWindow::ending_at(current.from_ns, len),
        Some(off) => {
            let off = parse_duration_ns(off.trim()).map_err(|e| bad(e.to_string()))?;
            TimeWindow::ending_at(now_ns.saturating_sub(off), len)
        }
    };
    Ok(window)
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub spans: u64,
    pub rate_per_s: f64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

impl Side {
    fn of(g: &GroupStats, w: TimeWindow) -> Side {
        Side {
            spans: g.count,
            rate_per_s: g.count as f64 / w.seconds().max(1e-9),
            error_rate: g.error_rate(),
            p50_ms: g.quantile_ms(0.5),
            p95_ms: g.quantile_ms(0.95),
            p99_ms: g.quantile_ms(0.99),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    pub service: String,
    /// `None`: the whole service.
    pub operation: Option<String>,
    /// `changed`, `new` or `gone`.
    pub status: String,
    pub now: Side,
    pub baseline: Side,
    pub error_rate_delta: f64,
    pub p95_ratio: Option<f64>,
    pub rate_ratio: Option<f64>,
    pub worse_by: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffReport {
    pub now_from: String,
    pub now_to: String,
    pub baseline_from: String,
    pub baseline_to: String,
    pub service_filter: Option<String>,
    pub rows: Vec<DiffRow>,
}

fn row(
    service: &str,
    operation: Option<&str>,
    cur: &GroupStats,
    base: &GroupStats,
    now: TimeWindow,
    baseline: TimeWindow,
) -> DiffRow {
    let (n, b) = (Side::of(cur, now), Side::of(base, baseline));
    let status = match (cur.count, base.count) {
        (_, 0) => "new",
        (0, _) => "gone",
        _ => "changed",
    };
    let p95_ratio = (b.p95_ms > 0.0 && n.spans > 0).then(|| n.p95_ms / b.p95_ms);
    let rate_ratio = (b.rate_per_s > 0.0).then(|| n.rate_per_s / b.rate_per_s);
    let error_rate_delta = n.error_rate - b.error_rate;
    let worse_by = match status {
        "changed" => {
            10.0 * error_rate_delta.max(0.0) + p95_ratio.map_or(0.0, |r| (r - 1.0).max(0.0))
        }
        _ => 0.0,
    };
    DiffRow {
        service: service.to_string(),
        operation: operation.map(str::to_string),
        status: status.to_string(),
        error_rate_delta,
        p95_ratio,
        rate_ratio,
        worse_by,
        now: n,
        baseline: b,
    }
}

/// `GET /api/v1/diff`: the current window (`last`, default one hour,
/// ending now), a baseline spec (see the module docs; default: the window
/// of the same length just before) and a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffRequest {
    pub last: Option<DurationParam>,
    pub baseline: Option<String>,
    pub service: Option<String>,
}

impl DiffRequest {
    pub fn from_params(p: &Params) -> Result<DiffRequest, QueryError> {
        let req = DiffRequest {
            last: last_param(p)?,
            baseline: p.string("baseline"),
            service: p.string("service"),
        };
        req.resolve(tael_core::time::now_ns())?;
        Ok(req)
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("last", self.last.as_ref());
        p.push_opt("service", self.service.as_ref());
        p.push_opt("baseline", self.baseline.as_ref());
        p
    }

    /// The current and baseline windows when evaluated at `now_ns`.
    pub fn resolve(&self, now_ns: i64) -> Result<(TimeWindow, TimeWindow), QueryError> {
        let now = last_window(self.last.as_ref(), now_ns);
        let last_text = self.last.as_ref().map(|d| d.to_string());
        let spec = self
            .baseline
            .as_deref()
            .or(last_text.as_deref())
            .unwrap_or(DEFAULT_LAST);
        Ok((now, parse_baseline(spec, now, now_ns)?))
    }
}

/// Compares the request's current window with its baseline over the
/// store's span statistics.
pub async fn diff(store: &dyn Store, req: &DiffRequest) -> Result<DiffReport, QueryError> {
    let (now, baseline) = req.resolve(tael_core::time::now_ns())?;
    let sq = StatsQuery {
        service: req.service.clone(),
        count_traces: false,
    };
    let (cur, base) = futures::try_join!(
        store.span_stats(now, sq.clone()),
        store.span_stats(baseline, sq),
    )?;
    Ok(DiffReport::build(
        now,
        baseline,
        req.service.clone(),
        &cur,
        &base,
    ))
}

impl DiffReport {
    /// The report of two windows' (merged) statistics.
    pub fn build(
        now: TimeWindow,
        baseline: TimeWindow,
        service: Option<String>,
        cur: &SpanStats,
        base: &SpanStats,
    ) -> DiffReport {
        let groups = paired(cur, base);
        let mut rows: Vec<DiffRow> = groups
            .iter()
            .map(|((s, op), (c, b))| row(s, op.as_deref(), c, b, now, baseline))
            .collect();
        let rank = |r: &DiffRow| match r.status.as_str() {
            "changed" if r.worse_by > 0.0 => 0,
            "new" => 1,
            "gone" => 2,
            _ => 3,
        };
        rows.sort_by(|a, b| {
            rank(a)
                .cmp(&rank(b))
                .then_with(|| b.worse_by.total_cmp(&a.worse_by))
                .then_with(|| b.now.spans.cmp(&a.now.spans))
                .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
        });
        DiffReport {
            now_from: tael_core::time::format_rfc3339(now.from_ns),
            now_to: tael_core::time::format_rfc3339(now.to_ns),
            baseline_from: tael_core::time::format_rfc3339(baseline.from_ns),
            baseline_to: tael_core::time::format_rfc3339(baseline.to_ns),
            service_filter: service,
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_specs() {
        let h = 3_600_000_000_000i64;
        let now = 100 * h;
        let cur = TimeWindow::ending_at(now, h);
        assert_eq!(
            parse_baseline("1h", cur, now).unwrap(),
            TimeWindow::ending_at(now - h, h)
        );
        assert_eq!(
            parse_baseline("2h@-1d", cur, now).unwrap(),
            TimeWindow::ending_at(now - 24 * h, 2 * h)
        );
        for bad in ["", "1h@1d", "x", "1h@-y", "0s"] {
            assert!(parse_baseline(bad, cur, now).is_err(), "{bad}");
        }
    }
}
