//! Putting payloads back: spans and log records as returned by the queries
//! hold references to the blob store where payloads were moved at ingest
//! (`tael_storage::offload`); with `with_payloads` the front ends ask for
//! the original values instead. A payload whose blob is gone (past the
//! payload retention) keeps its reference.

use serde_json::Value;
use tael_core::llm::payloads::as_blob_ref;
use tael_core::model::{Attrs, LogRecord, Span};
use tael_storage::blobs::{parse_hash, BlobStore};
use tael_storage::Engine;

/// The text of the blob `sha256` (hex) when it is there and sound; an
/// unreadable blob is logged and treated as absent (its reference stays).
/// Payload inlining and the text searches read payloads through this.
pub(crate) fn blob_text(blobs: &BlobStore, sha256: &str) -> Option<String> {
    let hash = parse_hash(sha256)?;
    match blobs.get(&hash) {
        Ok(content) => content.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => {
            tracing::error!(error = %e, "unreadable payload blob; keeping its reference");
            None
        }
    }
}

/// The content `v` refers to, when it is a blob reference.
pub(crate) fn ref_text(blobs: &BlobStore, v: &Value) -> Option<String> {
    as_blob_ref(v).and_then(|sha| blob_text(blobs, sha))
}

fn inline_attrs(blobs: &BlobStore, attrs: &mut Attrs) {
    for v in attrs.values_mut() {
        if let Some(content) = ref_text(blobs, v) {
            *v = Value::String(content);
        }
    }
}

/// Replaces blob references in LLM spans' attributes and event attributes
/// with the payloads.
pub fn inline_spans(engine: &Engine, spans: &mut [Span]) {
    for s in spans.iter_mut() {
        if s.llm.as_ref().is_none_or(|l| l.payloads.is_empty()) {
            continue;
        }
        inline_attrs(engine.blobs(), &mut s.attributes);
        for e in &mut s.events {
            inline_attrs(engine.blobs(), &mut e.attributes);
        }
    }
}

/// Replaces blob-referenced log bodies with the bodies.
pub fn inline_logs(engine: &Engine, logs: &mut [LogRecord]) {
    for l in logs.iter_mut() {
        if let Some(content) = ref_text(engine.blobs(), &l.body) {
            l.body = Value::String(content);
        }
    }
}
