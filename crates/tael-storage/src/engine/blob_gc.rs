//! Blob garbage collection: the live set is every blob a span's
//! `llm.payloads` or a log record's body reference names, in the memtable
//! and in the parts; the blob store drops the rest once past the grace
//! period, and everything past the payload retention.

use super::Engine;
use crate::blobs::{parse_hash, Collected, Hash};
use crate::columnar::{Cols, TextCol};
use crate::error::StorageError;
use crate::manifest::Signal;
use arrow::array::RecordBatch;
use std::collections::HashSet;
use tael_core::llm::payloads::as_blob_ref;
use tael_core::llm::LlmCall;

fn add_refs(col: &TextCol<'_>, rows: usize, signal: Signal, live: &mut HashSet<Hash>) {
    for i in 0..rows {
        let text = col.value(i);
        if text.is_empty() {
            continue;
        }
        match signal {
            Signal::Spans => {
                if let Ok(call) = serde_json::from_str::<LlmCall>(text) {
                    live.extend(call.payloads.iter().filter_map(|p| parse_hash(&p.sha256)));
                }
            }
            _ => {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
                    live.extend(as_blob_ref(&v).and_then(parse_hash));
                }
            }
        }
    }
}

/// The column that refers to blobs in a signal's rows.
fn ref_column(signal: Signal) -> Option<&'static str> {
    match signal {
        Signal::Spans => Some("llm"),
        Signal::Logs => Some("body_json"),
        Signal::Metrics => None,
    }
}

impl Engine {
    /// Every blob the stored rows refer to.
    pub fn live_blobs(&self) -> Result<HashSet<Hash>, StorageError> {
        let snap = self.snapshot();
        let mut live = HashSet::new();
        let mut visit = |b: &RecordBatch, signal: Signal, col: &str| -> Result<(), StorageError> {
            add_refs(&Cols::new(b).text(col)?, b.num_rows(), signal, &mut live);
            Ok(())
        };
        for signal in Signal::ALL {
            let Some(col) = ref_column(signal) else {
                continue;
            };
            for chunk in snap.chunks_of(signal) {
                visit(&chunk.batch, signal, col)?;
            }
            for part in snap.parts_of(signal) {
                for rg in 0..part.num_row_groups() {
                    for b in part.scan_group(rg, Some(&[col]))? {
                        visit(&b, signal, col)?;
                    }
                }
            }
        }
        Ok(live)
    }

    /// Runs blob garbage collection now.
    pub fn collect_blobs(&self) -> Result<Collected, StorageError> {
        // Not while a snapshot copies the packs (`snapshot.rs`).
        let _m = self.compact_lock.lock();
        let live = self.live_blobs()?;
        let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        let now = tael_core::time::now_ns();
        *self.last_blob_gc.lock() = now;
        self.blobs.collect(
            &live,
            now,
            ns(self.cfg.blob_grace),
            ns(self.cfg.payload_retention),
        )
    }

    /// Runs blob garbage collection when its interval has passed.
    pub(crate) fn collect_blobs_if_due(&self) -> Result<(), StorageError> {
        let last = *self.last_blob_gc.lock();
        let every = i64::try_from(self.cfg.blob_gc_interval.as_nanos()).unwrap_or(i64::MAX);
        if tael_core::time::now_ns().saturating_sub(last) >= every {
            self.collect_blobs()?;
        }
        Ok(())
    }
}
