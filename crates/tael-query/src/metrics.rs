//! Metric points search: newest first.

use crate::scan::{newest, Search};
use crate::QueryError;
use arrow::array::RecordBatch;
use tael_core::model::MetricPoint;
use tael_storage::columnar::metrics;
use tael_storage::columnar::Cols;
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

    fn matches(
        &self,
        batch: &RecordBatch,
        wanted: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<bool>, QueryError> {
        let c = Cols::new(batch);
        let (service, name, kind) = (c.str("service")?, c.str("name")?, c.str("metric_type")?);
        Ok((0..batch.num_rows())
            .map(|i| {
                wanted(i)
                    && self
                        .service
                        .as_deref()
                        .is_none_or(|x| x == service.value(i))
                    && self.name.as_deref().is_none_or(|x| x == name.value(i))
                    && self
                        .metric_type
                        .as_deref()
                        .is_none_or(|x| x == kind.value(i))
            })
            .collect())
    }
}

/// Metric points matching the query, newest first, at most `limit`.
pub fn search_metrics(engine: &Engine, q: &MetricQuery) -> Result<Vec<MetricPoint>, QueryError> {
    let snap = engine.snapshot();
    let mut equals = Vec::new();
    if let Some(s) = &q.name {
        equals.push(("name", s.as_str()));
    }
    let search = Search {
        signal: Signal::Metrics,
        since_ns: q.since_ns,
        columns: Some(vec!["service", "name", "metric_type"]),
        row_groups: RowGroupFilter {
            min_time: q.since_ns.map(|t| ("time_ns", t)),
            equals,
            bloom: None,
        },
        matcher: &|b, w| q.matches(b, w),
    };
    newest(&snap, &search, q.limit, &|b, i| Ok(metrics::row(b, i)?))
}
