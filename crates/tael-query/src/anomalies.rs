//! Anomalies (`/api/v1/anomalies`, `tael anomalies`): the current window
//! compared with the baseline window that ends where it starts (they never
//! overlap), per service and per (service, operation).
//!
//! The algorithm, applied to every group with at least `min_samples` spans
//! in the current window (and, except for throughput, in the baseline):
//!
//! - **error_rate**: the error rate rose by at least 5 percentage points and
//!   a two-proportion z-test gives z ≥ 3 (the rise is not noise). Severity
//!   by the rise: critical ≥ 25 points, warning ≥ 10, else info.
//! - **latency_p95**: p95 at least 1.5× the baseline p95 and at least 25 ms
//!   more. Severity: critical ≥ 3×, warning ≥ 2×, else info.
//! - **throughput_drop**: a group with at least `min_samples` baseline spans
//!   whose rate (spans/s) fell to 20% or less. Severity: critical ≤ 5%,
//!   else warning. (Checked without the current-window minimum: a group
//!   that went silent is the point.)
//!
//! Results are sorted critical, warning, info, then by how far past its
//! threshold each one is.

use crate::params::{DurationParam, Params};
use crate::spanstats::{paired, GroupStats, SpanStats, StatsQuery};
use crate::store::Store;
use crate::window::{last_param, last_window, TimeWindow};
use crate::QueryError;
use serde::{Deserialize, Serialize};

pub const DEFAULT_MIN_SAMPLES: u64 = 20;
const ERROR_RATE_MIN_RISE: f64 = 0.05;
const ERROR_RATE_MIN_Z: f64 = 3.0;
const LATENCY_MIN_RATIO: f64 = 1.5;
const LATENCY_MIN_RISE_MS: f64 = 25.0;
const THROUGHPUT_MAX_RATIO: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub service: String,
    /// `None` for a service-level anomaly.
    pub operation: Option<String>,
    /// `error_rate`, `latency_p95` or `throughput_drop`.
    pub kind: String,
    pub severity: Severity,
    pub current: f64,
    pub baseline: f64,
    pub delta: f64,
    pub ratio: Option<f64>,
    pub current_count: u64,
    pub baseline_count: u64,
    pub description: String,
    #[serde(skip)]
    score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyReport {
    pub current_seconds: f64,
    pub baseline_seconds: f64,
    pub current_from: String,
    pub current_to: String,
    pub baseline_from: String,
    pub baseline_to: String,
    pub service_filter: Option<String>,
    pub min_samples: u64,
    pub anomalies: Vec<Anomaly>,
}

/// Inputs of an anomaly check.
#[derive(Debug, Clone)]
pub struct AnomalyQuery {
    pub current: TimeWindow,
    pub baseline: TimeWindow,
    pub service: Option<String>,
    pub min_samples: u64,
}

/// `GET /api/v1/anomalies`: the current window (`last`, default one hour,
/// ending now), the baseline length before it (`baseline`, default six
/// times the window), a service, and the spans a group needs to be judged
/// (`min_samples`, default [`DEFAULT_MIN_SAMPLES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnomalyRequest {
    pub last: Option<DurationParam>,
    pub service: Option<String>,
    pub baseline: Option<DurationParam>,
    pub min_samples: Option<u64>,
}

impl AnomalyRequest {
    pub fn from_params(p: &Params) -> Result<AnomalyRequest, QueryError> {
        Ok(AnomalyRequest {
            last: last_param(p)?,
            baseline: p.positive_duration("baseline")?,
            service: p.string("service"),
            min_samples: p.positive("min_samples")?.map(|n| n as u64),
        })
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("last", self.last.as_ref());
        p.push_opt("service", self.service.as_ref());
        p.push_opt("baseline", self.baseline.as_ref());
        p.push_opt("min_samples", self.min_samples);
        p
    }

    /// The windows when evaluated at `now_ns`.
    pub fn resolve(&self, now_ns: i64) -> AnomalyQuery {
        let current = last_window(self.last.as_ref(), now_ns);
        let baseline_len = match &self.baseline {
            Some(b) => b.ns(),
            None => current.len_ns().saturating_mul(6),
        };
        AnomalyQuery {
            current,
            baseline: TimeWindow::ending_at(current.from_ns, baseline_len),
            service: self.service.clone(),
            min_samples: self.min_samples.unwrap_or(DEFAULT_MIN_SAMPLES),
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Anomalies of one group (`operation` = `None` for a whole service).
fn check_group(
    q: &AnomalyQuery,
    service: &str,
    operation: Option<&str>,
    cur: &GroupStats,
    base: &GroupStats,
    out: &mut Vec<Anomaly>,
) {
    let name = match operation {
        Some(op) => format!("{service} {op}"),
        None => service.to_string(),
    };
    let mut push =
        |kind: &str, severity, current: f64, baseline: f64, ratio, score, description| {
            out.push(Anomaly {
                service: service.to_string(),
                operation: operation.map(str::to_string),
                kind: kind.to_string(),
                severity,
                current,
                baseline,
                delta: current - baseline,
                ratio,
                current_count: cur.count,
                baseline_count: base.count,
                description,
                score,
            })
        };
    let (cur_rate, base_rate) = (
        cur.count as f64 / q.current.seconds().max(1e-9),
        base.count as f64 / q.baseline.seconds().max(1e-9),
    );
    if base.count >= q.min_samples && cur_rate <= base_rate * THROUGHPUT_MAX_RATIO {
        let ratio = cur_rate / base_rate;
        let severity = if ratio <= 0.05 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        push(
            "throughput_drop",
            severity,
            cur_rate,
            base_rate,
            Some(ratio),
            1.0 - ratio,
            format!("{name}: rate fell from {base_rate:.2}/s to {cur_rate:.2}/s"),
        );
    }
    if cur.count < q.min_samples || base.count < q.min_samples {
        return;
    }
    let (ce, be) = (cur.error_rate(), base.error_rate());
    let rise = ce - be;
    let pooled = (cur.errors + base.errors) as f64 / (cur.count + base.count) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / cur.count as f64 + 1.0 / base.count as f64)).sqrt();
    let z = if se > 0.0 { rise / se } else { 0.0 };
    if rise >= ERROR_RATE_MIN_RISE && z >= ERROR_RATE_MIN_Z {
        let severity = if rise >= 0.25 {
            Severity::Critical
        } else if rise >= 0.10 {
            Severity::Warning
        } else {
            Severity::Info
        };
        push(
            "error_rate",
            severity,
            ce,
            be,
            (be > 0.0).then(|| ce / be),
            rise / ERROR_RATE_MIN_RISE,
            format!(
                "{name}: error rate rose {} → {} ({} errors in {} spans, z = {z:.1})",
                pct(be),
                pct(ce),
                cur.errors,
                cur.count
            ),
        );
    }
    let (cp, bp) = (cur.quantile_ms(0.95), base.quantile_ms(0.95));
    if bp > 0.0 && cp >= bp * LATENCY_MIN_RATIO && cp - bp >= LATENCY_MIN_RISE_MS {
        let ratio = cp / bp;
        let severity = if ratio >= 3.0 {
            Severity::Critical
        } else if ratio >= 2.0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        push(
            "latency_p95",
            severity,
            cp,
            bp,
            Some(ratio),
            ratio / LATENCY_MIN_RATIO,
            format!("{name}: p95 latency {bp:.1} ms → {cp:.1} ms ({ratio:.1}×)"),
        );
    }
}

/// Runs the anomaly check over the store's span statistics.
pub async fn find_anomalies(
    store: &dyn Store,
    q: &AnomalyQuery,
) -> Result<AnomalyReport, QueryError> {
    if q.baseline.to_ns > q.current.from_ns {
        return Err(QueryError::InvalidArgument(
            "the baseline window must end before the current window starts".into(),
        ));
    }
    let sq = StatsQuery {
        service: q.service.clone(),
        count_traces: false,
    };
    let (cur, base) = futures::try_join!(
        store.span_stats(q.current, sq.clone()),
        store.span_stats(q.baseline, sq),
    )?;
    Ok(AnomalyReport::build(q, &cur, &base))
}

impl AnomalyReport {
    /// The report of the two windows' (merged) statistics.
    pub fn build(q: &AnomalyQuery, cur: &SpanStats, base: &SpanStats) -> AnomalyReport {
        let mut anomalies = Vec::new();
        for ((s, op), (c, b)) in &paired(cur, base) {
            check_group(q, s, op.as_deref(), c, b, &mut anomalies);
        }
        anomalies.sort_by(|a, b| {
            a.severity
                .cmp(&b.severity)
                .then_with(|| b.score.total_cmp(&a.score))
                .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
        });
        AnomalyReport {
            current_seconds: q.current.seconds(),
            baseline_seconds: q.baseline.seconds(),
            current_from: tael_core::time::format_rfc3339(q.current.from_ns),
            current_to: tael_core::time::format_rfc3339(q.current.to_ns),
            baseline_from: tael_core::time::format_rfc3339(q.baseline.from_ns),
            baseline_to: tael_core::time::format_rfc3339(q.baseline.to_ns),
            service_filter: q.service.clone(),
            min_samples: q.min_samples,
            anomalies,
        }
    }
}
