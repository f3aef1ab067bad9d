//! Traces search (spans matching filters, newest first) and trace by id:
//! the queries, their query-string codec, and their evaluation over an
//! engine snapshot.

use crate::params::{Params, Since};
use crate::scan::{filter_columns, materialize, newest, Loc, RowMask, Search};
use crate::QueryError;
use arrow::array::{Array, RecordBatch};
use std::collections::HashSet;
use tael_core::attr::json_to_flat;
use tael_core::model::Span;
use tael_storage::columnar::spans::SpanCols;
use tael_storage::columnar::Cols;
use tael_storage::part::{PartRef, RowGroupFilter};
use tael_storage::text::TextQuery;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/traces`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceQuery {
    pub service: Option<String>,
    /// Case-sensitive substring of the operation name.
    pub operation: Option<String>,
    pub min_duration_ms: Option<f64>,
    pub max_duration_ms: Option<f64>,
    /// `ok`, `error` or `unset` (any case).
    pub status: Option<String>,
    /// Only spans that started at or after this time.
    pub since: Option<Since>,
    /// Only spans that started before this time (ns; `until`, RFC 3339).
    pub until_ns: Option<i64>,
    /// Each pair must equal the span attribute's flat value.
    pub attributes: Vec<(String, String)>,
    /// A full-text query (tantivy syntax) over the span's searchable texts
    /// (`tael_storage::text::docs`): LLM payloads, status message and
    /// exception messages.
    pub text: Option<String>,
    pub limit: usize,
}

impl TraceQuery {
    /// Reads the query from `GET /api/v1/traces` parameters (validated).
    pub fn from_params(p: &Params) -> Result<TraceQuery, QueryError> {
        let mut attributes = Vec::new();
        for v in p.all("attribute") {
            match v.split_once('=') {
                Some((key, val)) if !key.is_empty() => {
                    attributes.push((key.to_string(), val.to_string()))
                }
                _ => {
                    return Err(QueryError::InvalidArgument(format!(
                        "invalid attribute filter {v:?}: expected key=value"
                    )))
                }
            }
        }
        TraceQuery {
            service: p.string("service"),
            operation: p.string("operation"),
            min_duration_ms: p.duration_ms("min_duration_ms")?,
            max_duration_ms: p.duration_ms("max_duration_ms")?,
            status: p.string("status"),
            since: p.since()?,
            until_ns: p.time("until")?,
            attributes,
            text: p.string("text"),
            limit: p.limit(100)?,
        }
        .validate()
    }

    /// The parameters [`TraceQuery::from_params`] reads back.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("service", self.service.as_ref());
        p.push_opt("operation", self.operation.as_ref());
        p.push_opt("min_duration_ms", self.min_duration_ms);
        p.push_opt("max_duration_ms", self.max_duration_ms);
        p.push_opt("status", self.status.as_ref());
        p.push_since(self.since.as_ref());
        p.push_opt("until", self.until_ns.map(tael_core::time::format_rfc3339));
        p.push_opt("text", self.text.as_ref());
        p.push("limit", self.limit);
        for (k, v) in &self.attributes {
            p.push("attribute", format!("{k}={v}"));
        }
        p
    }

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
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(self)
    }
}

impl TraceQuery {
    fn needs_full_rows(&self) -> bool {
        !self.attributes.is_empty()
    }

    fn attributes_match(&self, s: &Span) -> bool {
        self.attributes.iter().all(|(k, v)| {
            s.attributes
                .get(k)
                .is_some_and(|val| json_to_flat(val) == *v)
        })
    }

    /// Every filter but the text, on a decoded span (text searches).
    pub(crate) fn passes(&self, s: &Span, since_ns: Option<i64>) -> bool {
        let dur = s.duration_ms();
        self.service.as_ref().is_none_or(|x| *x == s.service)
            && self.status.as_ref().is_none_or(|x| *x == s.status)
            && self
                .operation
                .as_ref()
                .is_none_or(|op| s.operation.contains(op.as_str()))
            && self.min_duration_ms.is_none_or(|m| dur >= m)
            && self.max_duration_ms.is_none_or(|m| dur <= m)
            && since_ns.is_none_or(|t| s.start_ns >= t)
            && self.until_ns.is_none_or(|t| s.start_ns < t)
            && self.attributes_match(s)
    }

    /// Tests the spans of one batch.
    fn matches(
        &self,
        batch: &RecordBatch,
        wanted: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<bool>, QueryError> {
        let mut mask = RowMask::new(batch.num_rows(), wanted);
        mask.text_eq(batch, "service", self.service.as_deref())?;
        mask.text_eq(batch, "status", self.status.as_deref())?;
        if let Some(op) = self.operation.as_deref() {
            mask.text(batch, "operation", |v| v.contains(op))?;
        }
        if self.min_duration_ms.is_some() || self.max_duration_ms.is_some() {
            let c = Cols::new(batch);
            let (start, end) = (c.i64("start_ns")?, c.i64("end_ns")?);
            mask.rows(|i| {
                let dur = (end.value(i) - start.value(i)) as f64 / 1e6;
                Ok(!(self.min_duration_ms.is_some_and(|m| dur < m)
                    || self.max_duration_ms.is_some_and(|m| dur > m)))
            })?;
        }
        if self.needs_full_rows() {
            let cols = SpanCols::new(batch)?;
            mask.rows(|i| Ok(self.attributes_match(&cols.row(i)?)))?;
        }
        Ok(mask.into_vec())
    }

    /// The columns the filters read (`None`: whole rows).
    fn columns(&self) -> Option<Vec<&'static str>> {
        if self.needs_full_rows() {
            return None;
        }
        let duration = self.min_duration_ms.is_some() || self.max_duration_ms.is_some();
        Some(filter_columns([
            (self.service.is_some(), "service"),
            (self.status.is_some(), "status"),
            (self.operation.is_some(), "operation"),
            (duration, "start_ns"),
            (duration, "end_ns"),
        ]))
    }
}

/// Spans matching the query, newest first by start time, at most `limit`.
/// With `text`, through the full-text index.
pub fn search_spans(engine: &Engine, q: &TraceQuery) -> Result<Vec<Span>, QueryError> {
    let since_ns = q.since.as_ref().map(|s| s.at(tael_core::time::now_ns()));
    if let Some(text) = &q.text {
        let tq = TextQuery {
            text,
            kind: Signal::Spans,
            service: q.service.as_deref(),
            since_ns,
            until_ns: q.until_ns,
            limit: q.limit,
        };
        return crate::textsearch::spans(engine, tq, &|s| q.passes(s, since_ns), q.limit);
    }
    let snap = engine.snapshot();
    let mut equals = Vec::new();
    if let Some(s) = &q.service {
        equals.push(("service", s.as_str()));
    }
    if let Some(s) = &q.status {
        equals.push(("status", s.as_str()));
    }
    let search = Search {
        signal: Signal::Spans,
        since_ns,
        until_ns: q.until_ns,
        columns: q.columns(),
        row_groups: RowGroupFilter {
            min_time: since_ns.map(|t| ("start_ns", t)),
            max_time: q.until_ns.map(|t| ("start_ns", t - 1)),
            equals,
            bloom: None,
        },
        matcher: &|b, w| q.matches(b, w),
    };
    newest(&snap, &search, q.limit, &|b, i| {
        Ok(SpanCols::new(b)?.row(i)?)
    })
}

/// Whether a string is a valid trace id (32 hex characters).
pub fn valid_trace_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A trace id checked and in lower case (`what` names it in the error).
pub fn checked_trace_id(id: &str, what: &str) -> Result<String, QueryError> {
    if valid_trace_id(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(QueryError::InvalidArgument(format!(
            "invalid {what} {id:?}: expected 32 hex characters"
        )))
    }
}

/// A span id checked and in lower case (`what` names it in the error).
pub fn checked_span_id(id: &str, what: &str) -> Result<String, QueryError> {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(QueryError::InvalidArgument(format!(
            "invalid {what} {id:?}: expected 16 hex characters"
        )))
    }
}

/// `GET /api/v1/traces/{id}`: one trace whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLookup {
    /// 32 lower-case hex characters.
    pub trace_id: String,
    /// Put back the payloads that ingest moved to the blob store.
    pub with_payloads: bool,
}

impl TraceLookup {
    pub fn new(trace_id: &str, with_payloads: bool) -> Result<TraceLookup, QueryError> {
        Ok(TraceLookup {
            trace_id: checked_trace_id(trace_id, "trace id")?,
            with_payloads,
        })
    }

    /// Reads the options of the route (the id comes from the path).
    pub fn from_params(trace_id: &str, p: &Params) -> Result<TraceLookup, QueryError> {
        let with_payloads = p.flag("with_payloads")?;
        TraceLookup::new(trace_id, with_payloads)
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_flag("with_payloads", self.with_payloads);
        p
    }
}

/// All spans of a trace in start order (empty when unknown). Re-delivered
/// copies of a span are returned once.
pub fn get_trace(engine: &Engine, trace_id: &str) -> Result<Vec<Span>, QueryError> {
    let trace_id = checked_trace_id(trace_id, "trace id")?;
    let snap = engine.snapshot();
    let mut locs = Vec::new();
    for (ci, chunk) in snap.spans.iter().enumerate() {
        let ids = Cols::new(&chunk.batch).str("trace_id")?;
        for i in 0..ids.len() {
            if ids.value(i) == trace_id {
                locs.push(Loc::Mem { chunk: ci, row: i });
            }
        }
    }
    let parts: Vec<&PartRef> = snap.parts_of(Signal::Spans).collect();
    let mut rg_count = 0usize;
    for (pi, part) in parts.iter().enumerate() {
        let filter = RowGroupFilter {
            min_time: None,
            equals: Vec::new(),
            bloom: Some(("trace_id", &trace_id)),
            ..Default::default()
        };
        for rg in part.row_groups(&filter)? {
            rg_count += 1;
            let mut offset = 0;
            for batch in part.read_group(rg, Some(&["trace_id"]))? {
                let ids = Cols::new(&batch).str("trace_id")?;
                for i in 0..ids.len() {
                    if ids.value(i) == trace_id {
                        locs.push(Loc::Part {
                            part: pi,
                            rg,
                            row: offset + i,
                        });
                    }
                }
                offset += batch.num_rows();
            }
        }
    }
    tracing::debug!(
        parts = parts.len(),
        candidate_row_groups = rg_count,
        rows = locs.len(),
        "trace lookup"
    );
    let spans = materialize(&snap, Signal::Spans, &parts, &locs, &|b, i| {
        Ok(SpanCols::new(b)?.row(i)?)
    })?;
    Ok(in_trace_order(spans))
}

/// The spans of one trace in start order (then by span id), each span once
/// however many times it was stored or found.
pub fn in_trace_order(spans: impl IntoIterator<Item = Span>) -> Vec<Span> {
    let mut seen = HashSet::new();
    let mut out: Vec<Span> = spans
        .into_iter()
        .filter(|s| seen.insert(s.span_id.clone()))
        .collect();
    out.sort_by(|a, b| {
        a.start_ns
            .cmp(&b.start_ns)
            .then_with(|| a.span_id.cmp(&b.span_id))
    });
    out
}
