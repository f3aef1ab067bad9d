//! Logs search: newest first, with a bloom-filter path for `trace_id`.

use crate::topn::TopN;
use crate::QueryError;
use tael_core::model::{parse_severity, LogRecord};
use tael_storage::columnar::logs::LogCols;
use tael_storage::part::RowGroupFilter;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub service: Option<String>,
    pub severity: Option<String>,
    /// Case-sensitive substring of the body text.
    pub body_contains: Option<String>,
    pub trace_id: Option<String>,
    pub since_ns: Option<i64>,
    pub limit: usize,
}

impl LogQuery {
    pub fn validate(mut self) -> Result<Self, QueryError> {
        if let Some(s) = &self.severity {
            let norm = parse_severity(s).ok_or_else(|| {
                QueryError::InvalidArgument(format!(
                    "invalid severity {s:?}: expected trace, debug, info, warn, error, fatal or unspecified"
                ))
            })?;
            self.severity = Some(norm.to_string());
        }
        if let Some(t) = &self.trace_id {
            if !crate::traces::valid_trace_id(t) {
                return Err(QueryError::InvalidArgument(format!(
                    "invalid trace_id {t:?}: expected 32 hex characters"
                )));
            }
            self.trace_id = Some(t.to_ascii_lowercase());
        }
        Ok(self)
    }

    fn matches(
        &self,
        service: &str,
        severity: &str,
        body: &str,
        trace_id: Option<&str>,
        time_ns: i64,
    ) -> bool {
        self.service.as_deref().is_none_or(|x| x == service)
            && self.severity.as_deref().is_none_or(|x| x == severity)
            && self
                .body_contains
                .as_deref()
                .is_none_or(|x| body.contains(x))
            && self.trace_id.as_deref().is_none_or(|x| Some(x) == trace_id)
            && self.since_ns.is_none_or(|t| time_ns >= t)
    }
}

/// Log records matching the query, newest first, at most `limit`.
pub fn search_logs(engine: &Engine, q: &LogQuery) -> Result<Vec<LogRecord>, QueryError> {
    let snap = engine.snapshot();
    let mut top: TopN<LogRecord> = TopN::new(q.limit);
    for chunk in &snap.logs {
        for l in chunk.iter() {
            if top.wants(l.time_ns)
                && q.matches(
                    &l.service,
                    &l.severity,
                    &l.body_text(),
                    l.trace_id.as_deref(),
                    l.time_ns,
                )
            {
                top.push(l.time_ns, l.clone());
            }
        }
    }
    let mut parts: Vec<_> = snap
        .parts_of(Signal::Logs)
        .filter(|p| q.since_ns.is_none_or(|t| p.meta.max_time_ns >= t))
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.meta.max_time_ns));
    for part in parts {
        if top.full_above(part.meta.max_time_ns) {
            break;
        }
        let mut equals = Vec::new();
        if let Some(s) = &q.service {
            equals.push(("service", s.as_str()));
        }
        if let Some(s) = &q.severity {
            equals.push(("severity", s.as_str()));
        }
        let filter = RowGroupFilter {
            min_time: q.since_ns.map(|t| ("time_ns", t)),
            equals,
            bloom: q.trace_id.as_deref().map(|t| ("trace_id", t)),
        };
        let rgs = part.row_groups(&filter)?;
        for batch in part.read(rgs)? {
            let cols = LogCols::new(&batch)?;
            for i in 0..cols.len() {
                let t = cols.time_ns.value(i);
                let trace = if arrow_is_null(cols.trace_id, i) {
                    None
                } else {
                    Some(cols.trace_id.value(i))
                };
                if top.wants(t)
                    && q.matches(
                        cols.service.value(i),
                        cols.severity.value(i),
                        cols.body.value(i),
                        trace,
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

fn arrow_is_null(a: &arrow::array::StringArray, i: usize) -> bool {
    use arrow::array::Array;
    a.is_null(i)
}
