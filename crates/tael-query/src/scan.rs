//! The scan loop behind every newest-first search (traces, logs, metrics):
//! candidate rows from memtable
//! chunks and from Parquet row groups (pruned by time, statistics and bloom
//! filters, reading only the columns the filters need), ranked newest first,
//! then only the winners are decoded whole (reading just their pages).

use crate::topn::TopN;
use crate::QueryError;
use arrow::array::RecordBatch;
use std::collections::BTreeMap;
use tael_storage::columnar::Cols;
use tael_storage::engine::time_values;
use tael_storage::part::{PartRef, RowGroupFilter};
use tael_storage::{Signal, Snapshot};

/// Where a candidate row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Loc {
    Mem { chunk: usize, row: usize },
    Part { part: usize, rg: usize, row: usize },
}

/// Tests the rows of one batch: returns a mask. `wanted(i)` says whether
/// row `i` could still make the result (skip costly checks when not).
pub(crate) type Matcher<'a> =
    &'a dyn Fn(&RecordBatch, &dyn Fn(usize) -> bool) -> Result<Vec<bool>, QueryError>;

/// What to search for.
pub(crate) struct Search<'a> {
    pub signal: Signal,
    /// Rows at or after this time (ns) only.
    pub since_ns: Option<i64>,
    /// Rows before this time (ns) only.
    pub until_ns: Option<i64>,
    /// Columns the matcher reads; `None` = all columns.
    pub columns: Option<Vec<&'static str>>,
    /// Row-group pruning for parts.
    pub row_groups: RowGroupFilter<'a>,
    /// Tests the rows of a batch (memtable chunk or row group).
    pub matcher: Matcher<'a>,
}

/// The columns of the filters that are set, from (is set, column) pairs.
pub(crate) fn filter_columns<const N: usize>(
    filters: [(bool, &'static str); N],
) -> Vec<&'static str> {
    filters
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
}

/// A row mask built filter by filter (each filter only narrows it).
pub(crate) struct RowMask(Vec<bool>);

impl RowMask {
    /// Starts from the rows that could still make the result.
    pub fn new(rows: usize, wanted: &dyn Fn(usize) -> bool) -> Self {
        RowMask((0..rows).map(wanted).collect())
    }

    /// Keeps the rows whose text column `name` equals `want` (no-op when
    /// `want` is `None`).
    pub fn text_eq(
        &mut self,
        batch: &RecordBatch,
        name: &str,
        want: Option<&str>,
    ) -> Result<(), QueryError> {
        match want {
            Some(w) => self.text(batch, name, |v| v == w),
            None => Ok(()),
        }
    }

    /// Keeps the rows whose text column `name` satisfies `pred`. Plain and
    /// dictionary columns both work.
    pub fn text(
        &mut self,
        batch: &RecordBatch,
        name: &str,
        pred: impl Fn(&str) -> bool,
    ) -> Result<(), QueryError> {
        if !self.0.iter().any(|b| *b) {
            return Ok(());
        }
        let hit = Cols::new(batch).text(name)?.mask(pred);
        for (m, h) in self.0.iter_mut().zip(hit) {
            *m &= h;
        }
        Ok(())
    }

    /// Keeps the rows where `pred(i)` holds (evaluated only on kept rows).
    pub fn rows(
        &mut self,
        pred: impl Fn(usize) -> Result<bool, QueryError>,
    ) -> Result<(), QueryError> {
        for (i, m) in self.0.iter_mut().enumerate() {
            if *m {
                *m = pred(i)?;
            }
        }
        Ok(())
    }

    pub fn into_vec(self) -> Vec<bool> {
        self.0
    }
}

fn wanted(top: &TopN<Loc>, s: &Search<'_>, t: i64) -> bool {
    top.wants(t) && s.since_ns.is_none_or(|x| t >= x) && s.until_ns.is_none_or(|x| t < x)
}

/// The newest `limit` matching rows, decoded with `decode`, newest first.
pub(crate) fn newest<T: Send>(
    snap: &Snapshot,
    s: &Search<'_>,
    limit: usize,
    decode: &Decode<'_, T>,
) -> Result<Vec<T>, QueryError> {
    let mut top: TopN<Loc> = TopN::new(limit);
    let deadline = crate::deadline::current();
    let chunks = snap.chunks_of(s.signal);
    for (ci, chunk) in chunks.iter().enumerate() {
        crate::deadline::check(deadline)?;
        if s.since_ns.is_some_and(|t| chunk.max_time_ns < t) || top.full_above(chunk.max_time_ns) {
            continue;
        }
        let t = time_values(s.signal, &chunk.batch)?;
        let mask = (s.matcher)(&chunk.batch, &|i| wanted(&top, s, t.value(i)))?;
        for (i, hit) in mask.into_iter().enumerate() {
            if hit && wanted(&top, s, t.value(i)) {
                top.push(t.value(i), Loc::Mem { chunk: ci, row: i });
            }
        }
    }
    let parts: Vec<&PartRef> = snap.parts_of(s.signal).collect();
    let mut order: Vec<usize> = (0..parts.len())
        .filter(|i| s.since_ns.is_none_or(|t| parts[*i].meta.max_time_ns >= t))
        .filter(|i| s.until_ns.is_none_or(|t| parts[*i].meta.min_time_ns < t))
        .collect();
    order.sort_by_key(|i| std::cmp::Reverse(parts[*i].meta.max_time_ns));
    let mut cols = s.columns.clone();
    if let Some(c) = &mut cols {
        c.push(s.signal.time_column());
    }
    for pi in order {
        let part = parts[pi];
        if top.full_above(part.meta.max_time_ns) {
            break;
        }
        let time_col = s.signal.time_column();
        let mut rgs: Vec<(usize, i64)> = part
            .row_groups(&s.row_groups)?
            .into_iter()
            .map(|rg| (rg, part.row_group_max_i64(rg, time_col).unwrap_or(i64::MAX)))
            .collect();
        rgs.sort_by_key(|(_, max)| std::cmp::Reverse(*max));
        for (rg, rg_max) in rgs {
            if top.full_above(rg_max) {
                break;
            }
            crate::deadline::check(deadline)?;
            let mut offset = 0;
            // Column subsets are read for filtering (text columns as
            // dictionaries); full rows as they are stored.
            let batches = match cols.as_deref() {
                Some(c) => part.scan_group(rg, Some(c))?,
                None => part.read_group(rg, None)?,
            };
            for batch in batches {
                let t = time_values(s.signal, &batch)?;
                let mask = (s.matcher)(&batch, &|i| wanted(&top, s, t.value(i)))?;
                for (i, hit) in mask.into_iter().enumerate() {
                    if hit && wanted(&top, s, t.value(i)) {
                        top.push(
                            t.value(i),
                            Loc::Part {
                                part: pi,
                                rg,
                                row: offset + i,
                            },
                        );
                    }
                }
                offset += batch.num_rows();
            }
        }
    }
    materialize(snap, s.signal, &parts, &top.into_sorted(), decode)
}

/// Decodes a row of a batch.
pub(crate) type Decode<'a, T> = dyn Fn(&RecordBatch, usize) -> Result<T, QueryError> + Sync + 'a;

/// Decodes rows at `locs`, in that order; part rows are read per row group,
/// only their pages, row groups on every core.
pub(crate) fn materialize<T: Send>(
    snap: &Snapshot,
    signal: Signal,
    parts: &[&PartRef],
    locs: &[Loc],
    decode: &Decode<'_, T>,
) -> Result<Vec<T>, QueryError> {
    let mut wanted: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for l in locs {
        if let Loc::Part { part, rg, row } = l {
            wanted.entry((*part, *rg)).or_default().push(*row);
        }
    }
    let groups: Vec<((usize, usize), Vec<usize>)> = wanted
        .into_iter()
        .map(|(k, mut rows)| {
            rows.sort_unstable();
            rows.dedup();
            (k, rows)
        })
        .collect();
    let folds = crate::parallel::fold_items(groups.len(), &Vec::new, &|got, gi| {
        let ((part, rg), rows) = &groups[gi];
        let batches = parts[*part].read_rows(*rg, rows)?;
        let mut it = rows.iter();
        for b in &batches {
            for i in 0..b.num_rows() {
                if let Some(row) = it.next() {
                    got.push(((*part, *rg, *row), decode(b, i)?));
                }
            }
        }
        Ok(())
    })?;
    let mut fetched: BTreeMap<(usize, usize, usize), T> = folds.into_iter().flatten().collect();
    let chunks = snap.chunks_of(signal);
    let mut out = Vec::with_capacity(locs.len());
    for l in locs {
        match *l {
            Loc::Mem { chunk, row } => out.push(decode(&chunks[chunk].batch, row)?),
            Loc::Part { part, rg, row } => {
                if let Some(v) = fetched.remove(&(part, rg, row)) {
                    out.push(v);
                }
            }
        }
    }
    Ok(out)
}
