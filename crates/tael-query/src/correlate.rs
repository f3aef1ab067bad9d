//! Correlate (`/api/v1/correlate`, `tael correlate`): a trace with the
//! logs that carry its id, the metric points of the services it touched
//! around its time span, and its comments.
//!
//! Metrics are taken from `[start − margin, end + margin]` (margin
//! [`METRIC_MARGIN_NS`], one minute: metric exporters report every 10–60 s,
//! so a point describing the trace's time is usually written after it).

use crate::logs::{search_logs, LogQuery};
use crate::metrics::{search_metrics, MetricQuery};
use crate::traces::get_trace;
use crate::QueryError;
use serde::Serialize;
use std::collections::BTreeSet;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};
use tael_storage::Engine;

pub const METRIC_MARGIN_NS: i64 = 60_000_000_000;
/// Most logs and metric points returned.
pub const MAX_ITEMS: usize = 500;

#[derive(Debug, Serialize)]
pub struct CorrelateReport {
    pub trace_id: String,
    pub span_count: usize,
    pub services: Vec<String>,
    pub start_time: String,
    pub end_time: String,
    pub duration_ms: f64,
    pub error_count: usize,
    pub spans: Vec<Span>,
    pub logs: Vec<LogRecord>,
    pub metrics: Vec<MetricPoint>,
    pub comments: Vec<TraceComment>,
}

/// Correlates one trace; `None` when the trace is unknown.
pub fn correlate(engine: &Engine, trace_id: &str) -> Result<Option<CorrelateReport>, QueryError> {
    let spans = get_trace(engine, trace_id)?;
    let (Some(start), Some(end)) = (
        spans.iter().map(|s| s.start_ns).min(),
        spans.iter().map(|s| s.end_ns.max(s.start_ns)).max(),
    ) else {
        return Ok(None);
    };
    let trace_id = trace_id.to_ascii_lowercase();
    let services: Vec<String> = spans
        .iter()
        .map(|s| s.service.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let logs = search_logs(
        engine,
        &LogQuery {
            trace_id: Some(trace_id.clone()),
            limit: MAX_ITEMS,
            ..Default::default()
        },
    )?;
    let mut metrics = search_metrics(
        engine,
        &MetricQuery {
            services: services.clone(),
            since_ns: Some(start.saturating_sub(METRIC_MARGIN_NS)),
            until_ns: Some(end.saturating_add(METRIC_MARGIN_NS).saturating_add(1)),
            limit: MAX_ITEMS,
            ..Default::default()
        },
    )?;
    metrics.reverse();
    Ok(Some(CorrelateReport {
        span_count: spans.len(),
        start_time: tael_core::time::format_rfc3339(start),
        end_time: tael_core::time::format_rfc3339(end),
        duration_ms: (end - start) as f64 / 1e6,
        error_count: spans.iter().filter(|s| s.status == "error").count(),
        comments: engine.comments().for_trace(&trace_id),
        trace_id,
        services,
        spans,
        logs,
        metrics,
    }))
}
