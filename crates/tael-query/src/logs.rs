//! Logs search: newest first, with a bloom-filter path for `trace_id`.

use crate::payloads::ref_text;
use crate::scan::{filter_columns, newest, RowMask, Search};
use crate::QueryError;
use arrow::array::RecordBatch;
use tael_core::model::{parse_severity, LogRecord};
use tael_storage::blobs::BlobStore;
use tael_storage::columnar::logs;
use tael_storage::columnar::Cols;
use tael_storage::part::RowGroupFilter;
use tael_storage::text::{DocKind, TextQuery};
use tael_storage::{Engine, Signal};

/// Filters of `GET /api/v1/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub service: Option<String>,
    pub severity: Option<String>,
    /// Case-sensitive substring of the body text.
    pub body_contains: Option<String>,
    pub trace_id: Option<String>,
    /// A full-text query (tantivy syntax) over the body.
    pub text: Option<String>,
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
    fn passes(&self, l: &LogRecord, blobs: &BlobStore) -> bool {
        self.service.as_ref().is_none_or(|x| *x == l.service)
            && self.severity.as_ref().is_none_or(|x| *x == l.severity)
            && self
                .trace_id
                .as_ref()
                .is_none_or(|x| l.trace_id.as_ref() == Some(x))
            && self.since_ns.is_none_or(|t| l.time_ns >= t)
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
    if let Some(text) = &q.text {
        let tq = TextQuery {
            text,
            kind: DocKind::Log,
            service: q.service.as_deref(),
            since_ns: q.since_ns,
            until_ns: None,
            limit: q.limit,
        };
        let passes = |l: &LogRecord| q.passes(l, engine.blobs());
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
        since_ns: q.since_ns,
        until_ns: None,
        columns: Some(q.columns()),
        row_groups: RowGroupFilter {
            min_time: q.since_ns.map(|t| ("time_ns", t)),
            equals,
            bloom: q.trace_id.as_deref().map(|t| ("trace_id", t)),
            ..Default::default()
        },
        matcher: &|b, w| q.matches(b, w, engine.blobs()),
    };
    newest(&snap, &search, q.limit, &|b, i| Ok(logs::row(b, i)?))
}
