//! Metric points search: newest first; the query, its query-string codec
//! and its evaluation.

use crate::params::{Params, Since};
use crate::scan::{filter_columns, newest, RowMask, Search};
use crate::QueryError;
use arrow::array::RecordBatch;
use tael_core::model::MetricPoint;
use tael_storage::columnar::metrics;
use tael_storage::part::RowGroupFilter;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricQuery {
    pub service: Option<String>,
    pub name: Option<String>,
    pub metric_type: Option<String>,
    pub since: Option<Since>,
    /// Points before this time (ns) only (`until`, RFC 3339).
    pub until_ns: Option<i64>,
    /// Points of any of these services (empty: no restriction; the
    /// repeatable `services`).
    pub services: Vec<String>,
    pub limit: usize,
}

impl MetricQuery {
    /// Reads the query from `GET /api/v1/metrics` parameters (validated).
    pub fn from_params(p: &Params) -> Result<MetricQuery, QueryError> {
        MetricQuery {
            service: p.string("service"),
            name: p.string("name"),
            metric_type: p.string("metric_type"),
            since: p.since()?,
            until_ns: p.time("until")?,
            services: p
                .all("services")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            limit: p.limit(500)?,
        }
        .validate()
    }

    /// The parameters [`MetricQuery::from_params`] reads back.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("service", self.service.as_ref());
        p.push_opt("name", self.name.as_ref());
        p.push_opt("metric_type", self.metric_type.as_ref());
        p.push_since(self.since.as_ref());
        p.push_opt("until", self.until_ns.map(tael_core::time::format_rfc3339));
        for s in &self.services {
            p.push("services", s);
        }
        p.push("limit", self.limit);
        p
    }

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
        let mut mask = RowMask::new(batch.num_rows(), wanted);
        mask.text_eq(batch, "service", self.service.as_deref())?;
        if !self.services.is_empty() {
            mask.text(batch, "service", |v| self.services.iter().any(|s| s == v))?;
        }
        mask.text_eq(batch, "name", self.name.as_deref())?;
        mask.text_eq(batch, "metric_type", self.metric_type.as_deref())?;
        Ok(mask.into_vec())
    }

    /// The columns the filters read.
    fn columns(&self) -> Vec<&'static str> {
        filter_columns([
            (
                self.service.is_some() || !self.services.is_empty(),
                "service",
            ),
            (self.name.is_some(), "name"),
            (self.metric_type.is_some(), "metric_type"),
        ])
    }
}

/// Metric points matching the query, newest first, at most `limit`.
pub fn search_metrics(engine: &Engine, q: &MetricQuery) -> Result<Vec<MetricPoint>, QueryError> {
    let since_ns = q.since.as_ref().map(|s| s.at(tael_core::time::now_ns()));
    let snap = engine.snapshot();
    let mut equals = Vec::new();
    if let Some(s) = &q.name {
        equals.push(("name", s.as_str()));
    }
    let search = Search {
        signal: Signal::Metrics,
        since_ns,
        until_ns: q.until_ns,
        columns: Some(q.columns()),
        row_groups: RowGroupFilter {
            min_time: since_ns.map(|t| ("time_ns", t)),
            max_time: q.until_ns.map(|t| ("time_ns", t - 1)),
            equals,
            bloom: None,
        },
        matcher: &|b, w| q.matches(b, w),
    };
    newest(&snap, &search, q.limit, &|b, i| Ok(metrics::row(b, i)?))
}
