//! Metric points search: newest first.

use crate::topn::TopN;
use crate::QueryError;
use tael_core::model::MetricPoint;
use tael_storage::columnar::metrics::MetricCols;
use tael_storage::part::RowGroupFilter;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/metrics`.
#[derive(Debug, Clone, Default)]
pub struct MetricQuery {
    pub service: Option<String>,
    pub name: Option<String>,
    pub metric_type: Option<String>,
    pub since_ns: Option<i64>,
    pub limit: usize,
}

impl MetricQuery {
    pub fn validate(mut self) -> Result<Self, QueryError> {
        if let Some(t) = &self.metric_type {
            let norm = t.trim().to_ascii_lowercase();
            if !matches!(
                norm.as_str(),
                "gauge" | "sum" | "histogram" | "summary" | "unknown"
            ) {
                return Err(QueryError::InvalidArgument(format!(
                    "invalid metric_type {t:?}: expected gauge, sum, histogram, summary or unknown"
                )));
            }
            self.metric_type = Some(norm);
        }
        Ok(self)
    }

    fn matches(&self, service: &str, name: &str, metric_type: &str, time_ns: i64) -> bool {
        self.service.as_deref().is_none_or(|x| x == service)
            && self.name.as_deref().is_none_or(|x| x == name)
            && self.metric_type.as_deref().is_none_or(|x| x == metric_type)
            && self.since_ns.is_none_or(|t| time_ns >= t)
    }
}

/// Metric points matching the query, newest first, at most `limit`.
pub fn search_metrics(engine: &Engine, q: &MetricQuery) -> Result<Vec<MetricPoint>, QueryError> {
    let snap = engine.snapshot();
    let mut top: TopN<MetricPoint> = TopN::new(q.limit);
    for chunk in &snap.metrics {
        for m in chunk.iter() {
            if top.wants(m.time_ns) && q.matches(&m.service, &m.name, &m.metric_type, m.time_ns) {
                top.push(m.time_ns, m.clone());
            }
        }
    }
    let mut parts: Vec<_> = snap
        .parts_of(Signal::Metrics)
        .filter(|p| q.since_ns.is_none_or(|t| p.meta.max_time_ns >= t))
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.meta.max_time_ns));
    for part in parts {
        if top.full_above(part.meta.max_time_ns) {
            break;
        }
        let mut equals = Vec::new();
        if let Some(s) = &q.name {
            equals.push(("name", s.as_str()));
        }
        let filter = RowGroupFilter {
            min_time: q.since_ns.map(|t| ("time_ns", t)),
            equals,
            bloom: None,
        };
        let rgs = part.row_groups(&filter)?;
        for batch in part.read(rgs)? {
            let cols = MetricCols::new(&batch)?;
            for i in 0..cols.len() {
                let t = cols.time_ns.value(i);
                if top.wants(t)
                    && q.matches(
                        cols.service.value(i),
                        cols.name.value(i),
                        cols.metric_type.value(i),
                        t,
                    )
                {
                    top.push(t, cols.row(i)?);
                }
            }
        }
    }
    Ok(top.into_sorted())
}
