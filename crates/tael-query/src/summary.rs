//! The window summary (`/api/v1/summary`, `tael summarize`): tael 0.5's
//! report fields, built above the [`Store`] from three mergeable partials,
//! each folded by the aggregate scan (spans: the span-statistics fold;
//! logs: counts per severity; metrics: points and distinct names), so
//! memory is bounded by the number of groups, not the window.
//!
//! Percentiles are exact up to 1024 spans per group and within 0.5% beyond
//! (see [`crate::sketch`]).

use crate::params::{DurationParam, Params};
use crate::spanstats::{GroupStats, SpanStats, StatsQuery};
use crate::store::Store;
use crate::window::{last_param, last_window, scan_window, Interner, TimeWindow, WindowScan};
use crate::QueryError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tael_storage::columnar::Cols;
use tael_storage::{Signal, Snapshot};

/// How many services and error operations the report lists.
pub const TOP_N: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub span_count: u64,
    pub trace_count: u64,
    pub error_count: u64,
    pub error_rate: f64,
    pub avg_ms: f64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub service: String,
    pub span_count: u64,
    pub error_count: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorOperation {
    pub service: String,
    pub operation: String,
    pub error_count: u64,
    pub span_count: u64,
}

/// Log records per severity (`error` counts error and fatal, as tael 0.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSummary {
    pub total: u64,
    pub error: u64,
    pub warn: u64,
    pub info: u64,
    pub debug: u64,
    pub trace: u64,
    pub fatal: u64,
    pub unspecified: u64,
}

impl LogSummary {
    /// Adds another store's counts of the same window.
    pub fn merge(&mut self, o: &LogSummary) {
        self.total += o.total;
        self.error += o.error;
        self.warn += o.warn;
        self.info += o.info;
        self.debug += o.debug;
        self.trace += o.trace;
        self.fatal += o.fatal;
        self.unspecified += o.unspecified;
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub point_count: u64,
    pub unique_names: u64,
}

/// Metric points of a window and the distinct names they have (mergeable:
/// the names are a set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricStats {
    pub point_count: u64,
    pub names: BTreeSet<String>,
}

impl MetricStats {
    pub fn merge(&mut self, o: MetricStats) {
        self.point_count += o.point_count;
        self.names.extend(o.names);
    }
}

/// `GET /api/v1/summary`: the window (`last`, default one hour, ending
/// now) and an optional service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SummaryRequest {
    pub last: Option<DurationParam>,
    pub service: Option<String>,
}

impl SummaryRequest {
    pub fn from_params(p: &Params) -> Result<SummaryRequest, QueryError> {
        Ok(SummaryRequest {
            last: last_param(p)?,
            service: p.string("service"),
        })
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("last", self.last.as_ref());
        p.push_opt("service", self.service.as_ref());
        p
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryReport {
    pub window_seconds: f64,
    pub from: String,
    pub to: String,
    pub service_filter: Option<String>,
    pub traces: TraceSummary,
    pub top_services: Vec<ServiceSummary>,
    pub top_error_operations: Vec<ErrorOperation>,
    pub logs: LogSummary,
    pub metrics: MetricSummary,
}

impl From<&GroupStats> for TraceSummary {
    fn from(g: &GroupStats) -> Self {
        TraceSummary {
            span_count: g.count,
            trace_count: 0,
            error_count: g.errors,
            error_rate: g.error_rate(),
            avg_ms: g.mean_ms(),
            max_ms: g.max_ms(),
            p50_ms: g.quantile_ms(0.5),
            p95_ms: g.quantile_ms(0.95),
            p99_ms: g.quantile_ms(0.99),
        }
    }
}

/// Per-service rows, busiest first (then by name).
pub fn service_rows(stats: &SpanStats) -> Vec<ServiceSummary> {
    let mut rows: Vec<ServiceSummary> = stats
        .services()
        .into_iter()
        .map(|(service, g)| ServiceSummary {
            service,
            span_count: g.count,
            error_count: g.errors,
            error_rate: g.error_rate(),
            p50_ms: g.quantile_ms(0.5),
            p95_ms: g.quantile_ms(0.95),
            p99_ms: g.quantile_ms(0.99),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.span_count
            .cmp(&a.span_count)
            .then_with(|| a.service.cmp(&b.service))
    });
    rows
}

/// Log records per severity in `window` (optionally of one service).
pub(crate) fn log_stats(
    snap: &Snapshot,
    window: TimeWindow,
    service: Option<&str>,
) -> Result<LogSummary, QueryError> {
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    let mut names = Interner::default();
    let mut columns = vec!["severity"];
    if service.is_some() {
        columns.push("service");
    }
    let scan = WindowScan {
        signal: Signal::Logs,
        window,
        columns: &columns,
        equals: service.map(|s| vec![("service", s)]).unwrap_or_default(),
    };
    scan_window(snap, &scan, &mut |batch, mask| {
        let c = Cols::new(batch);
        let sev = names.column(&c.text("severity")?);
        let keep = match service {
            Some(s) => c.text("service")?.mask(|v| v == s),
            None => vec![true; batch.num_rows()],
        };
        for i in 0..batch.num_rows() {
            if mask[i] && keep[i] {
                *counts.entry(sev[i]).or_default() += 1;
            }
        }
        Ok(())
    })?;
    let mut out = LogSummary::default();
    for (id, n) in counts {
        out.total += n;
        match names.name(id) {
            "error" => out.error += n,
            "fatal" => {
                out.fatal += n;
                out.error += n;
            }
            "warn" => out.warn += n,
            "info" => out.info += n,
            "debug" => out.debug += n,
            "trace" => out.trace += n,
            _ => out.unspecified += n,
        }
    }
    Ok(out)
}

/// Metric points and their distinct names in `window`.
pub(crate) fn metric_stats(
    snap: &Snapshot,
    window: TimeWindow,
    service: Option<&str>,
) -> Result<MetricStats, QueryError> {
    let mut names = Interner::default();
    let mut seen = std::collections::HashSet::new();
    let mut out = MetricStats::default();
    let scan = WindowScan {
        signal: Signal::Metrics,
        window,
        columns: &["name", "service"],
        equals: service.map(|s| vec![("service", s)]).unwrap_or_default(),
    };
    scan_window(snap, &scan, &mut |batch, mask| {
        let c = Cols::new(batch);
        let ids = names.column(&c.text("name")?);
        let keep = match service {
            Some(s) => c.text("service")?.mask(|v| v == s),
            None => vec![true; batch.num_rows()],
        };
        for i in 0..batch.num_rows() {
            if mask[i] && keep[i] {
                out.point_count += 1;
                seen.insert(ids[i]);
            }
        }
        Ok(())
    })?;
    out.names = seen
        .into_iter()
        .map(|id| names.name(id).to_string())
        .collect();
    Ok(out)
}

/// The summary a request asks for, from the store's partials.
pub async fn summarize(
    store: &dyn Store,
    req: &SummaryRequest,
) -> Result<SummaryReport, QueryError> {
    let window = last_window(req.last.as_ref(), tael_core::time::now_ns());
    let service = req.service.clone();
    let stats_query = StatsQuery {
        service: service.clone(),
        count_traces: true,
    };
    let (spans, logs, metrics) = futures::try_join!(
        store.span_stats(window, stats_query),
        store.log_stats(window, service.clone()),
        store.metric_stats(window, service.clone()),
    )?;
    Ok(SummaryReport::build(
        window, service, &spans, logs, &metrics,
    ))
}

impl SummaryReport {
    /// The report of `window` from its (merged) partials.
    pub fn build(
        window: TimeWindow,
        service: Option<String>,
        stats: &SpanStats,
        logs: LogSummary,
        metrics: &MetricStats,
    ) -> SummaryReport {
        let mut traces = TraceSummary::from(&stats.total());
        traces.trace_count = stats.trace_count().unwrap_or(0);
        let mut top_services = service_rows(stats);
        top_services.truncate(TOP_N);
        let mut top_error_operations: Vec<ErrorOperation> = stats
            .operations()
            .filter(|o| o.stats.errors > 0)
            .map(|o| ErrorOperation {
                service: o.service.to_string(),
                operation: o.operation.to_string(),
                error_count: o.stats.errors,
                span_count: o.stats.count,
            })
            .collect();
        top_error_operations.sort_by(|a, b| {
            b.error_count
                .cmp(&a.error_count)
                .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
        });
        top_error_operations.truncate(TOP_N);
        SummaryReport {
            window_seconds: window.seconds(),
            from: tael_core::time::format_rfc3339(window.from_ns),
            to: tael_core::time::format_rfc3339(window.to_ns),
            service_filter: service,
            traces,
            top_services,
            top_error_operations,
            logs,
            metrics: MetricSummary {
                point_count: metrics.point_count,
                unique_names: metrics.names.len() as u64,
            },
        }
    }
}
