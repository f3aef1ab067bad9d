//! Logs search: newest first, with a bloom-filter path for `trace_id`; the
//! query, its query-string codec and its evaluation.

use crate::params::{Params, Since};
use crate::payloads::ref_text;
use crate::scan::{filter_columns, newest, RowMask, Search};
use crate::QueryError;
use arrow::array::RecordBatch;
use tael_core::model::{parse_severity, LogRecord};
use tael_storage::blobs::BlobStore;
use tael_storage::columnar::logs;
use tael_storage::columnar::Cols;
use tael_storage::part::RowGroupFilter;
use tael_storage::text::TextQuery;
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/logs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    pub service: Option<String>,
    pub severity: Option<String>,
    /// Case-sensitive substring of the body text.
    pub body_contains: Option<String>,
    pub trace_id: Option<String>,
    /// A full-text query (tantivy syntax) over the body.
    pub text: Option<String>,
    pub since: Option<Since>,
    /// Only records before this time (ns; `until`, RFC 3339).
    pub until_ns: Option<i64>,
    pub limit: usize,
    /// Put back bodies that ingest moved to the blob store.
    pub with_payloads: bool,
}

impl LogQuery {
    /// Reads the query from `GET /api/v1/logs` parameters (validated).
    pub fn from_params(p: &Params) -> Result<LogQuery, QueryError> {
        let q = LogQuery {
            service: p.string("service"),
            severity: p.string("severity"),
            body_contains: p.string("body_contains"),
            trace_id: p.string("trace_id"),
            text: p.string("text"),
            since: p.since()?,
            until_ns: p.time("until")?,
            limit: p.limit(100)?,
            with_payloads: false,
        }
        .validate()?;
        Ok(LogQuery {
            with_payloads: p.flag("with_payloads")?,
            ..q
        })
    }

    /// The parameters [`LogQuery::from_params`] reads back.
    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_flag("with_payloads", self.with_payloads);
        p.push_opt("service", self.service.as_ref());
        p.push_opt("severity", self.severity.as_ref());
        p.push_opt("body_contains", self.body_contains.as_ref());
        p.push_opt("text", self.text.as_ref());
        p.push_opt("trace_id", self.trace_id.as_ref());
        p.push_since(self.since.as_ref());
        p.push_opt("until", self.until_ns.map(tael_core::time::format_rfc3339));
        p.push("limit", self.limit);
        p
    }

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
            self.trace_id = Some(crate::traces::checked_trace_id(t, "trace_id")?);
        }
        self.text = self
            .text
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Ok(self)
    }

    fn matches(
        &self,
        batch: &RecordBatch,
        wanted: &dyn Fn(usize) -> bool,
        blobs: &BlobStore,
    ) -> Result<Vec<bool>, QueryError> {
        let mut mask = RowMask::new(batch.num_rows(), wanted);
        mask.text_eq(batch, "service", self.service.as_deref())?;
        mask.text_eq(batch, "severity", self.severity.as_deref())?;
        mask.text_eq(batch, "trace_id", self.trace_id.as_deref())?;
        if let Some(needle) = self.body_contains.as_deref() {
            let c = Cols::new(batch);
            let (body, refs) = (c.text("body")?, c.text("body_json")?);
            // A body moved to the blob store ("" here) is searched there.
            mask.rows(|i| {
                let b = body.value(i);
                Ok(b.contains(needle)
                    || (b.is_empty()
                        && serde_json::from_str::<serde_json::Value>(refs.value(i))
                            .ok()
                            .and_then(|v| ref_text(blobs, &v))
                            .is_some_and(|content| content.contains(needle))))
            })?;
        }
        Ok(mask.into_vec())
    }

    /// Every filter but the text, on a decoded record (text searches).
    pub(crate) fn passes(&self, l: &LogRecord, since_ns: Option<i64>, blobs: &BlobStore) -> bool {
        self.service.as_ref().is_none_or(|x| *x == l.service)
            && self.severity.as_ref().is_none_or(|x| *x == l.severity)
            && self
                .trace_id
                .as_ref()
                .is_none_or(|x| l.trace_id.as_ref() == Some(x))
            && since_ns.is_none_or(|t| l.time_ns >= t)
            && self.until_ns.is_none_or(|t| l.time_ns < t)
            && self.body_contains.as_deref().is_none_or(|needle| {
                let body = ref_text(blobs, &l.body).unwrap_or_else(|| l.body_text());
                body.contains(needle)
            })
    }

    /// The columns the filters read.
    fn columns(&self) -> Vec<&'static str> {
        filter_columns([
            (self.service.is_some(), "service"),
            (self.severity.is_some(), "severity"),
            (self.trace_id.is_some(), "trace_id"),
            (self.body_contains.is_some(), "body"),
            (self.body_contains.is_some(), "body_json"),
        ])
    }
}

/// Log records matching the query, newest first, at most `limit`.
/// With `text`, through the full-text index.
pub fn search_logs(engine: &Engine, q: &LogQuery) -> Result<Vec<LogRecord>, QueryError> {
    let since_ns = q.since.as_ref().map(|s| s.at(tael_core::time::now_ns()));
    if let Some(text) = &q.text {
        let tq = TextQuery {
            text,
            kind: Signal::Logs,
            service: q.service.as_deref(),
            since_ns,
            until_ns: q.until_ns,
            limit: q.limit,
        };
        let passes = |l: &LogRecord| q.passes(l, since_ns, engine.blobs());
        return crate::textsearch::log_records(engine, tq, &passes, q.limit);
    }
    let snap = engine.snapshot();
    let mut equals = Vec::new();
    if let Some(s) = &q.service {
        equals.push(("service", s.as_str()));
    }
    if let Some(s) = &q.severity {
        equals.push(("severity", s.as_str()));
    }
    let search = Search {
        signal: Signal::Logs,
        since_ns,
        until_ns: q.until_ns,
        columns: Some(q.columns()),
        row_groups: RowGroupFilter {
            min_time: since_ns.map(|t| ("time_ns", t)),
            max_time: q.until_ns.map(|t| ("time_ns", t - 1)),
            equals,
            bloom: q.trace_id.as_deref().map(|t| ("trace_id", t)),
        },
        matcher: &|b, w| q.matches(b, w, engine.blobs()),
    };
    newest(&snap, &search, q.limit, &|b, i| Ok(logs::row(b, i)?))
}
