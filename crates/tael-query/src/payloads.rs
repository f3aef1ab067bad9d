//! Putting payloads back: spans and log records as returned by the queries
//! hold references to the blob store where payloads were moved at ingest
//! (`tael_storage::offload`); with `with_payloads` the front ends ask for
//! the original values instead. A payload whose blob is gone (past the
//! payload retention) keeps its reference.

use crate::QueryError;
use serde_json::Value;
use tael_core::llm::payloads::as_blob_ref;
use tael_core::model::{Attrs, LogRecord, Span};
use tael_storage::blobs::parse_hash;
use tael_storage::Engine;

/// The content of the blob `v` refers to, when it is a reference and the
/// blob is there and sound (a corrupt blob keeps its reference, logged).
fn resolve(engine: &Engine, v: &Value) -> Result<Option<Value>, QueryError> {
    let Some(hash) = as_blob_ref(v).and_then(parse_hash) else {
        return Ok(None);
    };
    match engine.blobs().get(&hash) {
        Ok(content) => {
            Ok(content.map(|bytes| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
        }
        Err(e) => {
            tracing::error!(error = %e, "unreadable payload blob; keeping its reference");
            Ok(None)
        }
    }
}

fn inline_attrs(engine: &Engine, attrs: &mut Attrs) -> Result<(), QueryError> {
    for v in attrs.values_mut() {
        if let Some(content) = resolve(engine, v)? {
            *v = content;
        }
    }
    Ok(())
}

/// Replaces blob references in LLM spans' attributes and event attributes
/// with the payloads.
pub fn inline_spans(engine: &Engine, spans: &mut [Span]) -> Result<(), QueryError> {
    for s in spans.iter_mut() {
        if s.llm.as_ref().is_none_or(|l| l.payloads.is_empty()) {
            continue;
        }
        inline_attrs(engine, &mut s.attributes)?;
        for e in &mut s.events {
            inline_attrs(engine, &mut e.attributes)?;
        }
    }
    Ok(())
}

/// Replaces blob-referenced log bodies with the bodies.
pub fn inline_logs(engine: &Engine, logs: &mut [LogRecord]) -> Result<(), QueryError> {
    for l in logs.iter_mut() {
        if let Some(content) = resolve(engine, &l.body)? {
            l.body = content;
        }
    }
    Ok(())
}
