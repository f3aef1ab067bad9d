//! Moving payloads out of ingested rows into the blob store, before the WAL
//! append (WAL replay does it again; content addressing makes that
//! idempotent):
//!
//! - spans that are LLM calls, while the wire decoder builds them: every
//!   payload attribute (see `tael_core::llm::payloads`) whose string value
//!   has at least `min_bytes` bytes goes straight from the wire bytes to
//!   the blob store while the attribute JSON is written
//!   ([`Offload::divert_attr`]; a span that turns out not to be an LLM call
//!   gets its attributes written again, whole), and so does each such
//!   payload attribute of a GenAI content event ([`Offload::span`]). Each
//!   is replaced by a reference object and named in the call's `payloads`;
//! - log records, after decode ([`logs`]): a string body of at least
//!   `min_bytes` bytes moves, `body` becomes "" and `body_json` the
//!   reference object (structured bodies stay inline).
//!
//! A payload the blob store cannot take stays inline (logged), so nothing
//! is lost. Rows without payloads are left byte for byte as decoded.

use crate::blobs::BlobStore;
use crate::error::StorageError;
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use serde_json::{Map, Value};
use std::sync::Arc;
use tael_core::llm::payloads::{blob_ref, event_payload_kind, payload_kind, PayloadRef};
use tael_core::model::Attrs;

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<(usize, &'a StringArray), StorageError> {
    let i = b
        .schema()
        .index_of(name)
        .map_err(|_| StorageError::Corrupt(format!("batch has no {name} column")))?;
    let a = b
        .column(i)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| StorageError::Corrupt(format!("{name} is not text")))?;
    Ok((i, a))
}

/// Where and from what size payloads are moved.
#[derive(Clone, Copy)]
pub struct Offload<'a> {
    pub blobs: &'a BlobStore,
    pub min_bytes: usize,
}

impl Offload<'_> {
    /// Stores `text` when it is large enough to move (and not too large),
    /// returning its hash; `None` keeps it inline (a store failure is
    /// logged).
    fn store(&self, text: &str) -> Option<String> {
        if text.len() < self.min_bytes || text.len() > crate::blobs::MAX_BLOB_BYTES {
            return None;
        }
        match self.blobs.put(text.as_bytes()) {
            Ok(h) => Some(hex::encode(h)),
            Err(e) => {
                tracing::error!(error = %e, "cannot store a payload blob; keeping it inline");
                None
            }
        }
    }

    /// Replaces the large payload values of `attrs` (kinds by `kind_of`)
    /// with blob references, recording them in `refs`. Whether anything
    /// moved. A value the blob store cannot take stays inline (logged).
    fn move_values(
        &self,
        attrs: &mut Attrs,
        kind_of: impl Fn(&str) -> Option<&'static str>,
        event: Option<&str>,
        refs: &mut Vec<PayloadRef>,
    ) -> bool {
        let mut moved = false;
        for (key, value) in attrs.iter_mut() {
            // Size first: most values are short, and classifying keys is not
            // free.
            let Value::String(text) = value else { continue };
            if text.len() < self.min_bytes {
                continue;
            }
            let Some(kind) = kind_of(key) else { continue };
            let Some(hash) = self.store(text) else {
                continue;
            };
            let bytes = text.len() as u64;
            *value = blob_ref(&hash, bytes);
            refs.push(PayloadRef {
                kind: kind.to_string(),
                key: key.clone(),
                event: event.map(String::from),
                sha256: hash,
                bytes,
            });
            moved = true;
        }
        moved
    }

    /// While a span's attributes are written (see
    /// `crate::otlp::json_text::Divert`): stores the value of payload
    /// attribute `key` (`value`: its encoded `AnyValue`) when it is a large
    /// enough string, records it in `refs`, and returns its reference.
    pub fn divert_attr(
        &self,
        key: &str,
        value: &[u8],
        refs: &mut Vec<PayloadRef>,
    ) -> Result<Option<Value>, crate::otlp::WireError> {
        // The encoded value is longer than its string: most attributes
        // stop here, before the key is classified.
        if value.len() < self.min_bytes {
            return Ok(None);
        }
        let Some(kind) = payload_kind(key) else {
            return Ok(None);
        };
        let Some(text) = crate::otlp::json_text::any_as_str(value)? else {
            return Ok(None);
        };
        let Some(hash) = self.store(text) else {
            return Ok(None);
        };
        let bytes = text.len() as u64;
        let r = blob_ref(&hash, bytes);
        refs.push(PayloadRef {
            kind: kind.to_string(),
            key: key.to_string(),
            event: None,
            sha256: hash,
            bytes,
        });
        Ok(Some(r))
    }

    /// Moves the payloads of an LLM span: its payload attributes (`attrs`,
    /// parsed) left inline and the payload attributes of its GenAI content
    /// events (`events_json`, rewritten when one moved). The moved payloads.
    pub fn span(&self, attrs: &mut Attrs, events_json: &mut Vec<u8>) -> Vec<PayloadRef> {
        let mut refs = Vec::new();
        self.move_values(attrs, payload_kind, None, &mut refs);
        let marker = b"\"n\":\"gen_ai.";
        if events_json.windows(marker.len()).any(|w| w == marker) {
            if let Ok(mut evs) = serde_json::from_slice::<Vec<Map<String, Value>>>(events_json) {
                let mut changed = false;
                for ev in &mut evs {
                    let name = ev
                        .get("n")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if let Some(Value::Object(ea)) = ev.get_mut("a") {
                        let kind_of = |k: &str| event_payload_kind(&name, k);
                        changed |= self.move_values(ea, kind_of, Some(&name), &mut refs);
                    }
                }
                if changed {
                    events_json.clear();
                    let _ = serde_json::to_writer(&mut *events_json, &evs);
                }
            }
        }
        refs
    }
}

/// Moves large log bodies (see the module doc).
pub fn logs(batch: RecordBatch, offload: Offload<'_>) -> Result<RecordBatch, StorageError> {
    let (bi, body) = column(&batch, "body")?;
    let (ji, body_json) = column(&batch, "body_json")?;
    let mut moved: Vec<Option<String>> = vec![None; batch.num_rows()];
    for (i, m) in moved.iter_mut().enumerate() {
        let text = body.value(i);
        // Structured bodies stay inline (their typed JSON is the record).
        if body_json.is_valid(i) {
            continue;
        }
        *m = offload
            .store(text)
            .map(|h| blob_ref(&h, text.len() as u64).to_string());
    }
    if moved.iter().all(Option::is_none) {
        return Ok(batch);
    }
    let new_body: ArrayRef = Arc::new(StringArray::from_iter_values((0..batch.num_rows()).map(
        |i| {
            if moved[i].is_some() {
                ""
            } else {
                body.value(i)
            }
        },
    )));
    let new_json: ArrayRef = Arc::new(StringArray::from_iter((0..batch.num_rows()).map(|i| {
        match &moved[i] {
            Some(r) => Some(r.clone()),
            None => body_json
                .is_valid(i)
                .then(|| body_json.value(i).to_string()),
        }
    })));
    let mut cols = batch.columns().to_vec();
    cols[bi] = new_body;
    cols[ji] = new_json;
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}
