//! Correlate (`/api/v1/correlate`, `tael correlate`): a trace with the
//! logs that carry its id, the metric points of the services it touched
//! around its time span, and its comments.
//!
//! Metrics are taken from `[start − margin, end + margin]` (margin
//! [`METRIC_MARGIN_NS`], one minute: metric exporters report every 10–60 s,
//! so a point describing the trace's time is usually written after it).

use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::params::{Params, Since};
use crate::store::Store;
use crate::traces::{checked_trace_id, TraceLookup};
use crate::QueryError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};

pub const METRIC_MARGIN_NS: i64 = 60_000_000_000;
/// Most logs and metric points returned.
pub const MAX_ITEMS: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `GET /api/v1/correlate?trace=<id>` (`trace_id` also accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelateRequest {
    /// 32 lower-case hex characters.
    pub trace_id: String,
}

impl CorrelateRequest {
    pub fn from_params(p: &Params) -> Result<CorrelateRequest, QueryError> {
        let id = p
            .get("trace")
            .or_else(|| p.get("trace_id"))
            .ok_or_else(|| QueryError::InvalidArgument("trace (a trace id) is required".into()))?;
        Ok(CorrelateRequest {
            trace_id: checked_trace_id(id, "trace id")?,
        })
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push("trace", &self.trace_id);
        p
    }
}

/// Correlates one trace; `None` when the trace is unknown.
pub async fn correlate(
    store: &dyn Store,
    req: &CorrelateRequest,
) -> Result<Option<CorrelateReport>, QueryError> {
    let trace_id = req.trace_id.clone();
    let spans = store.get_trace(TraceLookup::new(&trace_id, false)?).await?;
    let (Some(start), Some(end)) = (
        spans.iter().map(|s| s.start_ns).min(),
        spans.iter().map(|s| s.end_ns.max(s.start_ns)).max(),
    ) else {
        return Ok(None);
    };
    let services: Vec<String> = spans
        .iter()
        .map(|s| s.service.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let logs = LogQuery {
        trace_id: Some(trace_id.clone()),
        limit: MAX_ITEMS,
        ..Default::default()
    };
    let metrics = MetricQuery {
        services: services.clone(),
        since: Some(Since::At(start.saturating_sub(METRIC_MARGIN_NS))),
        until_ns: Some(end.saturating_add(METRIC_MARGIN_NS).saturating_add(1)),
        limit: MAX_ITEMS,
        ..Default::default()
    };
    let (logs, mut metrics, comments) = futures::try_join!(
        store.search_logs(logs),
        store.search_metrics(metrics),
        store.trace_comments(trace_id.clone()),
    )?;
    metrics.reverse();
    Ok(Some(CorrelateReport {
        span_count: spans.len(),
        start_time: tael_core::time::format_rfc3339(start),
        end_time: tael_core::time::format_rfc3339(end),
        duration_ms: (end - start) as f64 / 1e6,
        error_count: spans.iter().filter(|s| s.status == "error").count(),
        comments,
        trace_id,
        services,
        spans,
        logs: logs.into_iter().map(|h| h.item).collect(),
        metrics,
    }))
}
