//! Traces search (spans matching filters, newest first) and trace by id.

use crate::topn::TopN;
use crate::QueryError;
use std::collections::HashSet;
use tael_core::attr::json_to_flat;
use tael_core::model::Span;
use tael_storage::columnar::spans::SpanCols;
use tael_storage::part::RowGroupFilter;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/traces`.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub service: Option<String>,
    /// Case-sensitive substring of the operation name.
    pub operation: Option<String>,
    pub min_duration_ms: Option<f64>,
    pub max_duration_ms: Option<f64>,
    /// `ok`, `error` or `unset` (any case).
    pub status: Option<String>,
    /// Only spans that started at or after this time (ns).
    pub since_ns: Option<i64>,
    /// Each pair must equal the span attribute's flat value.
    pub attributes: Vec<(String, String)>,
    /// Case-insensitive substring over the operation, status message,
    /// attributes and events.
    pub text: Option<String>,
    pub limit: usize,
}

impl TraceQuery {
    /// Normalises and validates the filters.
    pub fn validate(mut self) -> Result<Self, QueryError> {
        if let Some(s) = &self.status {
            let norm = s.trim().to_ascii_lowercase();
            if !matches!(norm.as_str(), "ok" | "error" | "unset") {
                return Err(QueryError::InvalidArgument(format!(
                    "invalid status {s:?}: expected ok, error or unset"
                )));
            }
            self.status = Some(norm);
        }
        for (name, v) in [
            ("min_duration_ms", self.min_duration_ms),
            ("max_duration_ms", self.max_duration_ms),
        ] {
            if v.is_some_and(|x| !x.is_finite() || x < 0.0) {
                return Err(QueryError::InvalidArgument(format!(
                    "{name} must be a non-negative number"
                )));
            }
        }
        self.text = self
            .text
            .map(|t| t.to_lowercase())
            .filter(|t| !t.is_empty());
        Ok(self)
    }
}

struct Cheap<'a> {
    service: &'a str,
    operation: &'a str,
    start_ns: i64,
    end_ns: i64,
    status: &'a str,
}

impl TraceQuery {
    fn cheap_match(&self, s: &Cheap<'_>) -> bool {
        if self.service.as_deref().is_some_and(|x| x != s.service) {
            return false;
        }
        if self
            .operation
            .as_deref()
            .is_some_and(|x| !s.operation.contains(x))
        {
            return false;
        }
        if self.status.as_deref().is_some_and(|x| x != s.status) {
            return false;
        }
        if self.since_ns.is_some_and(|t| s.start_ns < t) {
            return false;
        }
        let dur = (s.end_ns - s.start_ns) as f64 / 1e6;
        if self.min_duration_ms.is_some_and(|m| dur < m)
            || self.max_duration_ms.is_some_and(|m| dur > m)
        {
            return false;
        }
        true
    }

    fn full_match(&self, s: &Span) -> bool {
        for (k, v) in &self.attributes {
            match s.attributes.get(k) {
                Some(val) if json_to_flat(val) == *v => {}
                _ => return false,
            }
        }
        if let Some(t) = &self.text {
            let hay = |x: &str| x.to_lowercase().contains(t.as_str());
            let hit = hay(&s.operation)
                || hay(&s.status_message)
                || s.attributes
                    .iter()
                    .any(|(k, v)| hay(k) || hay(&json_to_flat(v)))
                || s.events
                    .iter()
                    .any(|e| hay(&e.name) || e.attributes.values().any(|v| hay(&json_to_flat(v))));
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Spans matching the query, newest first by start time, at most `limit`.
pub fn search_spans(engine: &Engine, q: &TraceQuery) -> Result<Vec<Span>, QueryError> {
    let snap = engine.snapshot();
    let mut top: TopN<Span> = TopN::new(q.limit);
    for chunk in &snap.spans {
        for s in chunk.iter() {
            let cheap = Cheap {
                service: &s.service,
                operation: &s.operation,
                start_ns: s.start_ns,
                end_ns: s.end_ns,
                status: &s.status,
            };
            if top.wants(s.start_ns) && q.cheap_match(&cheap) && q.full_match(s) {
                top.push(s.start_ns, s.clone());
            }
        }
    }
    let mut parts: Vec<_> = snap
        .parts_of(Signal::Spans)
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
        if let Some(s) = &q.status {
            equals.push(("status", s.as_str()));
        }
        let filter = RowGroupFilter {
            min_time: q.since_ns.map(|t| ("start_ns", t)),
            equals,
            bloom: None,
        };
        let rgs = part.row_groups(&filter)?;
        for batch in part.read(rgs)? {
            let cols = SpanCols::new(&batch)?;
            for i in 0..cols.len() {
                let cheap = Cheap {
                    service: cols.service.value(i),
                    operation: cols.operation.value(i),
                    start_ns: cols.start_ns.value(i),
                    end_ns: cols.end_ns.value(i),
                    status: cols.status.value(i),
                };
                if !top.wants(cheap.start_ns) || !q.cheap_match(&cheap) {
                    continue;
                }
                let span = cols.row(i)?;
                if q.full_match(&span) {
                    top.push(span.start_ns, span);
                }
            }
        }
    }
    Ok(top.into_sorted())
}

/// Whether a string is a valid trace id (32 hex characters).
pub fn valid_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// All spans of a trace in start order (empty when unknown). Re-delivered
/// copies of a span are returned once.
pub fn get_trace(engine: &Engine, trace_id: &str) -> Result<Vec<Span>, QueryError> {
    if !valid_trace_id(trace_id) {
        return Err(QueryError::InvalidArgument(format!(
            "invalid trace id {trace_id:?}: expected 32 hex characters"
        )));
    }
    let trace_id = trace_id.to_ascii_lowercase();
    let snap = engine.snapshot();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for chunk in &snap.spans {
        for s in chunk.iter() {
            if s.trace_id == trace_id && seen.insert(s.span_id.clone()) {
                out.push(s.clone());
            }
        }
    }
    for part in snap.parts_of(Signal::Spans) {
        let filter = RowGroupFilter {
            min_time: None,
            equals: Vec::new(),
            bloom: Some(("trace_id", &trace_id)),
        };
        let rgs = part.row_groups(&filter)?;
        for batch in part.read(rgs)? {
            let cols = SpanCols::new(&batch)?;
            for i in 0..cols.len() {
                if cols.trace_id.value(i) == trace_id
                    && seen.insert(cols.span_id.value(i).to_string())
                {
                    out.push(cols.row(i)?);
                }
            }
        }
    }
    out.sort_by(|a, b| {
        a.start_ns
            .cmp(&b.start_ns)
            .then_with(|| a.span_id.cmp(&b.span_id))
    });
    Ok(out)
}
