//! Moving payloads out of ingested rows into the blob store, after decode
//! and before the WAL append (WAL replay does it again; content addressing
//! makes that idempotent):
//!
//! - spans that are LLM calls (`llm` ≠ ""): every payload attribute (see
//!   `tael_core::llm::payloads`) and payload attribute of a GenAI content
//!   event whose string value has at least `min_bytes` bytes is replaced by
//!   a reference object, and the call's `payloads` list names it;
//! - log records whose string body has at least `min_bytes` bytes: `body`
//!   becomes "" and `body_json` the reference object (structured bodies
//!   stay inline).
//!
//! Rows without payloads are left byte for byte as decoded.

use crate::blobs::BlobStore;
use crate::columnar::json_to_attrs;
use crate::error::StorageError;
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use serde_json::Value;
use std::sync::Arc;
use tael_core::llm::payloads::{blob_ref, event_payload_kind, payload_kind, PayloadRef};
use tael_core::llm::LlmCall;
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

/// Replaces the large payload values of `attrs` (kinds by `kind_of`) with
/// blob references, recording them in `refs`. Whether anything moved.
fn move_values(
    attrs: &mut Attrs,
    kind_of: impl Fn(&str) -> Option<&'static str>,
    event: Option<&str>,
    blobs: &BlobStore,
    min_bytes: usize,
    refs: &mut Vec<PayloadRef>,
) -> Result<bool, StorageError> {
    let mut moved = false;
    for (key, value) in attrs.iter_mut() {
        let Some(kind) = kind_of(key) else { continue };
        let Value::String(text) = value else { continue };
        if text.len() < min_bytes || text.len() > crate::blobs::MAX_BLOB_BYTES {
            continue;
        }
        let hash = hex::encode(blobs.put(text.as_bytes())?);
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
    Ok(moved)
}

/// Moves the payloads of a spans batch's LLM rows (see the module doc).
pub fn spans(
    batch: RecordBatch,
    blobs: &BlobStore,
    min_bytes: usize,
) -> Result<RecordBatch, StorageError> {
    let (ai, attrs) = column(&batch, "attributes")?;
    let (ei, events) = column(&batch, "events")?;
    let (li, llm) = column(&batch, "llm")?;
    let mut new_attrs: Vec<Option<String>> = vec![None; batch.num_rows()];
    let mut new_events: Vec<Option<String>> = vec![None; batch.num_rows()];
    let mut new_llm: Vec<Option<String>> = vec![None; batch.num_rows()];
    let mut any = false;
    for i in 0..batch.num_rows() {
        if llm.value(i).is_empty() {
            continue;
        }
        let Ok(mut call) = serde_json::from_str::<LlmCall>(llm.value(i)) else {
            continue;
        };
        let mut refs = Vec::new();
        let mut a = json_to_attrs(attrs.value(i));
        if move_values(&mut a, payload_kind, None, blobs, min_bytes, &mut refs)? {
            new_attrs[i] = Some(serde_json::to_string(&a).unwrap_or_default());
        }
        if !events.value(i).is_empty() {
            if let Ok(mut evs) =
                serde_json::from_str::<Vec<serde_json::Map<String, Value>>>(events.value(i))
            {
                let mut changed = false;
                for ev in &mut evs {
                    let name = ev
                        .get("n")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    if let Some(Value::Object(ea)) = ev.get_mut("a") {
                        let kind_of = |k: &str| event_payload_kind(&name, k);
                        changed |=
                            move_values(ea, kind_of, Some(&name), blobs, min_bytes, &mut refs)?;
                    }
                }
                if changed {
                    new_events[i] = Some(serde_json::to_string(&evs).unwrap_or_default());
                }
            }
        }
        if !refs.is_empty() {
            call.payloads = refs;
            new_llm[i] = Some(serde_json::to_string(&call).unwrap_or_default());
            any = true;
        }
    }
    if !any {
        return Ok(batch);
    }
    let replace = |old: &StringArray, new: Vec<Option<String>>| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            new.iter()
                .enumerate()
                .map(|(i, n)| n.as_deref().unwrap_or(old.value(i)).to_string()),
        ))
    };
    let mut cols = batch.columns().to_vec();
    cols[ai] = replace(attrs, new_attrs);
    cols[ei] = replace(events, new_events);
    cols[li] = replace(llm, new_llm);
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

/// Moves large log bodies (see the module doc).
pub fn logs(
    batch: RecordBatch,
    blobs: &BlobStore,
    min_bytes: usize,
) -> Result<RecordBatch, StorageError> {
    let (bi, body) = column(&batch, "body")?;
    let (ji, body_json) = column(&batch, "body_json")?;
    let mut moved: Vec<Option<String>> = vec![None; batch.num_rows()];
    for (i, m) in moved.iter_mut().enumerate() {
        let text = body.value(i);
        // Structured bodies stay inline (their typed JSON is the record).
        if body_json.is_valid(i)
            || text.len() < min_bytes
            || text.len() > crate::blobs::MAX_BLOB_BYTES
        {
            continue;
        }
        let hash = hex::encode(blobs.put(text.as_bytes())?);
        *m = Some(blob_ref(&hash, text.len() as u64).to_string());
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
