//! Trace comments, stored durably.
//!
//! # Format
//!
//! The object `comments.jsonl` (see `crate::objects`): one `TraceComment`
//! JSON object per line, appended to its local file and fsynced (then the
//! file published) before the comment is acknowledged. A torn last line
//! (crash mid-append) is ignored and truncated on open.

use crate::error::StorageError;
use crate::objects::Objects;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tael_core::model::TraceComment;

struct Inner {
    file: File,
    all: Vec<TraceComment>,
    ids: HashSet<String>,
    by_trace: HashMap<String, Vec<usize>>,
}

/// The location of the comments object.
pub const LOCATION: &str = "comments.jsonl";

pub struct CommentStore {
    path: PathBuf,
    objects: Arc<Objects>,
    location: String,
    inner: Mutex<Inner>,
}

impl CommentStore {
    /// Opens the comments at `location` of `objects` (fetched first when
    /// only the object store has them).
    pub fn open(objects: Arc<Objects>, location: &str) -> Result<CommentStore, StorageError> {
        objects.fetch_stored(location)?;
        let path = &objects.local_path(location);
        let text = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(StorageError::io(path, e)),
        };
        let mut all = Vec::new();
        let mut ids = HashSet::new();
        let mut by_trace: HashMap<String, Vec<usize>> = HashMap::new();
        let mut valid = 0usize;
        for line in text.split_inclusive(|b| *b == b'\n') {
            if !line.ends_with(b"\n") {
                break;
            }
            match serde_json::from_slice::<TraceComment>(line) {
                Ok(c) => {
                    by_trace
                        .entry(c.trace_id.clone())
                        .or_default()
                        .push(all.len());
                    ids.insert(c.id.clone());
                    all.push(c);
                }
                Err(e) => tracing::error!(error = %e, "skipping unreadable comment line"),
            }
            valid += line.len();
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StorageError::io(path, e))?;
        if valid < text.len() {
            file.set_len(valid as u64)
                .map_err(|e| StorageError::io(path, e))?;
        }
        Ok(CommentStore {
            path: path.to_path_buf(),
            objects,
            location: location.to_string(),
            inner: Mutex::new(Inner {
                file,
                all,
                ids,
                by_trace,
            }),
        })
    }

    /// Appends a comment durably; a comment whose id is already stored (a
    /// WAL record replayed after its comment was written) is left as it is.
    pub fn add(&self, c: TraceComment) -> Result<TraceComment, StorageError> {
        let mut line = serde_json::to_vec(&c).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        line.push(b'\n');
        let mut g = self.inner.lock();
        if g.ids.contains(&c.id) {
            return Ok(c);
        }
        g.file
            .write_all(&line)
            .and_then(|_| g.file.sync_data())
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.objects.publish(&self.location)?;
        let idx = g.all.len();
        g.by_trace.entry(c.trace_id.clone()).or_default().push(idx);
        g.ids.insert(c.id.clone());
        g.all.push(c.clone());
        Ok(c)
    }

    /// Comments of a trace in insertion order.
    pub fn for_trace(&self, trace_id: &str) -> Vec<TraceComment> {
        let g = self.inner.lock();
        g.by_trace
            .get(trace_id)
            .map(|ix| ix.iter().map(|i| g.all[*i].clone()).collect())
            .unwrap_or_default()
    }

    /// The newest `limit` comments across all traces, newest first.
    pub fn recent(&self, limit: usize) -> Vec<TraceComment> {
        let g = self.inner.lock();
        g.all.iter().rev().take(limit).cloned().collect()
    }
}
