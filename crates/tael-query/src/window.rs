//! Time windows and the aggregate scan: every memtable chunk and Parquet row
//! group that may hold rows of a window, read with only the columns an
//! aggregate needs (low-cardinality text as dictionaries), never whole rows.
//! Summaries, anomalies, diffs and the topology are folds over this scan.

use crate::parallel::fold_items;
use crate::params::{DurationParam, Params};
use crate::QueryError;
use arrow::array::{Array, RecordBatch};
use std::collections::HashMap;
use tael_storage::columnar::{Cols, TextCol};
use tael_storage::memtable::Chunk;
use tael_storage::part::{PartRef, RowGroupFilter};
use tael_storage::{Signal, Snapshot};

/// A half-open time range `[from_ns, to_ns)` in ns since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeWindow {
    pub from_ns: i64,
    pub to_ns: i64,
}

impl TimeWindow {
    /// The `len_ns` nanoseconds that end at `end_ns`.
    pub fn ending_at(end_ns: i64, len_ns: i64) -> TimeWindow {
        TimeWindow {
            from_ns: end_ns.saturating_sub(len_ns),
            to_ns: end_ns,
        }
    }

    /// The window of the same length that ends where this one starts.
    pub fn before(&self) -> TimeWindow {
        TimeWindow::ending_at(self.from_ns, self.len_ns())
    }

    pub fn len_ns(&self) -> i64 {
        self.to_ns.saturating_sub(self.from_ns)
    }

    pub fn seconds(&self) -> f64 {
        self.len_ns() as f64 / 1e9
    }

    pub fn contains(&self, t: i64) -> bool {
        t >= self.from_ns && t < self.to_ns
    }
}

/// Length of the analytics routes' window when `last` is not given.
pub const DEFAULT_LAST: &str = "1h";

/// The analytics routes' window: `last` (a positive duration, default one
/// hour) ending at `now_ns`.
pub fn last_window(last: Option<&DurationParam>, now_ns: i64) -> TimeWindow {
    let ns = match last {
        Some(d) => d.ns(),
        None => DEFAULT_LAST_NS,
    };
    TimeWindow::ending_at(now_ns, ns)
}

const DEFAULT_LAST_NS: i64 = 3_600_000_000_000;

/// Reads `last` as the analytics routes take it (positive).
pub fn last_param(p: &Params) -> Result<Option<DurationParam>, QueryError> {
    p.positive_duration("last")
}

/// What an aggregate scan reads.
pub(crate) struct WindowScan<'a> {
    pub signal: Signal,
    pub window: TimeWindow,
    /// Columns the fold reads (the time column is always added).
    pub columns: &'a [&'static str],
    /// Row groups whose statistics exclude one of these values are skipped.
    pub equals: Vec<(&'a str, &'a str)>,
}

/// A fold over the batches of a scan: a batch and its in-window row mask.
pub(crate) type Visit<'a> = dyn FnMut(&RecordBatch, &[bool]) -> Result<(), QueryError> + 'a;

/// One unit of an aggregate scan: a memtable chunk or a part's row group.
enum Work<'a> {
    Chunk(&'a Chunk),
    RowGroup(&'a PartRef, usize),
}

/// The chunks and row groups that may hold rows of the window.
fn work<'a>(snap: &'a Snapshot, s: &WindowScan<'_>) -> Result<Vec<Work<'a>>, QueryError> {
    let time_col = s.signal.time_column();
    let mut out: Vec<Work<'a>> = snap
        .chunks_of(s.signal)
        .iter()
        .filter(|c| c.max_time_ns >= s.window.from_ns && c.min_time_ns < s.window.to_ns)
        .map(Work::Chunk)
        .collect();
    let filter = RowGroupFilter {
        min_time: Some((time_col, s.window.from_ns)),
        max_time: Some((time_col, s.window.to_ns.saturating_sub(1))),
        equals: s.equals.clone(),
        bloom: None,
    };
    for part in snap.parts_of(s.signal) {
        if part.meta.max_time_ns < s.window.from_ns || part.meta.min_time_ns >= s.window.to_ns {
            continue;
        }
        for rg in part.row_groups(&filter)? {
            out.push(Work::RowGroup(part, rg));
        }
    }
    Ok(out)
}

/// Reads one unit of work and calls `visit` with each batch that has rows
/// in the window, with its row mask.
fn read(w: &Work<'_>, s: &WindowScan<'_>, visit: &mut Visit<'_>) -> Result<(), QueryError> {
    let time_col = s.signal.time_column();
    let mut one = |batch: &RecordBatch| -> Result<(), QueryError> {
        let t = Cols::new(batch).i64(time_col)?;
        let mask: Vec<bool> = t.values().iter().map(|v| s.window.contains(*v)).collect();
        if mask.iter().any(|m| *m) {
            visit(batch, &mask)?;
        }
        Ok(())
    };
    match w {
        Work::Chunk(c) => one(&c.batch),
        Work::RowGroup(part, rg) => {
            let mut cols: Vec<&str> = s.columns.to_vec();
            cols.push(time_col);
            for batch in part.scan_group(*rg, Some(&cols))? {
                one(&batch)?;
            }
            Ok(())
        }
    }
}

/// A parallel fold's visitor: its state, a batch and its in-window mask.
pub(crate) type ParallelVisit<'a, S> =
    dyn Fn(&mut S, &RecordBatch, &[bool]) -> Result<(), QueryError> + Sync + 'a;

/// Calls `visit` with each batch that may hold rows of the window, and a
/// row mask of the rows inside it. Batches carry only the scan's columns.
pub(crate) fn scan_window(
    snap: &Snapshot,
    s: &WindowScan<'_>,
    visit: &mut Visit<'_>,
) -> Result<(), QueryError> {
    let deadline = crate::deadline::current();
    for w in work(snap, s)? {
        crate::deadline::check(deadline)?;
        read(&w, s, visit)?;
    }
    Ok(())
}

/// [`scan_window`] on every core: each thread folds the chunks and row
/// groups it takes into its own state (made by `init`); the states are
/// returned for the caller to merge.
pub(crate) fn scan_window_parallel<S: Send>(
    snap: &Snapshot,
    s: &WindowScan<'_>,
    init: &(dyn Fn() -> S + Sync),
    visit: &ParallelVisit<'_, S>,
) -> Result<Vec<S>, QueryError> {
    let work = work(snap, s)?;
    fold_items(work.len(), init, &|state: &mut S, i| {
        read(&work[i], s, &mut |b, m| visit(state, b, m))
    })
}

/// Interns strings as dense ids, so folds group by integers.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<String, u32>,
    pub names: Vec<String>,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The interned id of every row of a text column (a dictionary column
    /// interns each distinct value once). Null rows get the id of "".
    pub fn column(&mut self, col: &TextCol<'_>) -> Vec<u32> {
        match col {
            TextCol::Plain(a) => (0..a.len())
                .map(|i| self.id(if a.is_valid(i) { a.value(i) } else { "" }))
                .collect(),
            TextCol::Dict(d, values) => {
                let map: Vec<u32> = (0..values.len())
                    .map(|i| self.id(values.value(i)))
                    .collect();
                let empty = self.id("");
                d.keys()
                    .iter()
                    .map(|k| {
                        k.and_then(|k| map.get(k as usize).copied())
                            .unwrap_or(empty)
                    })
                    .collect()
            }
        }
    }
}
