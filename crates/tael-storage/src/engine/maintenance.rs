//! Maintenance of the engine: flushing memtables to Parquet parts,
//! compacting small parts, and enforcing retention and the disk cap, plus
//! the thread that runs them.

use super::*;

/// Largest part that compaction produces, in rows.
const COMPACT_MAX_ROWS: u64 = 4_000_000;

impl Engine {
    /// Whether a flush is due (size or age).
    pub fn flush_due(&self) -> bool {
        let st = self.state.read();
        if st.frozen.is_some() {
            return true;
        }
        if st.active.is_empty() {
            return false;
        }
        let age = tael_core::time::now_ns() - st.active.first_insert_ns;
        st.active.bytes >= self.cfg.memtable_bytes
            || age >= self.cfg.flush_interval.as_nanos() as i64
    }

    /// A graceful stop's last step: flushes the memtable, then gives back
    /// the WAL's spare segments, so that the WAL dir holds one empty
    /// segment and the next start has nothing to replay; then waits (at
    /// most a minute) for the object store's queue while it moves.
    pub fn close(&self) -> Result<(), StorageError> {
        self.flush()?;
        self.wal.release_free()?;
        self.objects
            .settle_for_stop(std::time::Duration::from_secs(60));
        Ok(())
    }

    /// Flushes the memtable to Parquet parts (see the module docs).
    pub fn flush(&self) -> Result<(), StorageError> {
        let _m = self.flush_lock.lock();
        let pending = self.state.read().frozen.clone();
        let (frozen, upto) = match pending {
            Some(p) => p,
            None => self.wal.seal_with(|last| {
                let mut st = self.state.write();
                let mem = Arc::new(std::mem::take(&mut st.active));
                st.frozen = Some((mem.clone(), last));
                (mem, last)
            })?,
        };
        let started = std::time::Instant::now();
        let mut new_parts = Vec::new();
        let mut new_rollups = Vec::new();
        for signal in Signal::ALL {
            let chunks = frozen.chunks(signal);
            if chunks.is_empty() {
                continue;
            }
            let batches: Vec<&RecordBatch> = chunks.iter().map(|c| &c.batch).collect();
            let by_hour = sorted_rows_by_hour(signal, &batches)?;
            // A part holding every span of the memtable has the memtable's
            // rollup (kept as rows were added); others are counted here.
            let whole = by_hour.len() == 1;
            for (hour, order) in by_hour {
                let id = self.alloc_part_id();
                let rel = part_rel_path(signal, hour, id);
                let mut w =
                    PartWriter::create(&self.objects.local_path(&rel), signal, schema_of(signal))?;
                let mut rollup = match whole {
                    true => frozen.rollup.clone(),
                    false => Rollup::default(),
                };
                let (mut min, mut max) = (i64::MAX, i64::MIN);
                // One row group at a time: memory holds one row group of the
                // new part, not a sorted copy of the whole memtable.
                for slice in order.chunks(ROW_GROUP_ROWS) {
                    for batch in gather(&batches, slice)? {
                        let t = time_values(signal, &batch)?;
                        min = min.min(arrow::compute::min(t).unwrap_or(min));
                        max = max.max(arrow::compute::max(t).unwrap_or(max));
                        if signal == Signal::Spans && !whole {
                            rollup.add_spans(&batch)?;
                        }
                        w.write(&batch)?;
                    }
                }
                let rollup = (signal == Signal::Spans).then_some(rollup);
                let meta = self.finish_part(signal, hour, id, 0, w, (min, max), rollup.as_ref())?;
                if let Some(r) = rollup {
                    new_rollups.push((meta.id, r));
                }
                new_parts.push(meta);
            }
        }
        let parts = new_parts.len();
        // The new parts may refer to blobs: those must be durable before
        // the WAL that could re-create them goes.
        self.blobs.sync()?;
        // So is the text index of the rows up to `upto`.
        self.ensure_text_days(&new_parts);
        self.text.commit();
        self.commit(new_parts, new_rollups, &[], Some(upto))?;
        self.wal.drop_through(self.droppable_through(upto))?;
        tracing::info!(
            rows = frozen.rows,
            bytes = frozen.bytes,
            parts,
            ms = started.elapsed().as_millis() as u64,
            "flushed"
        );
        Ok(())
    }

    /// Finishes a part file, writes its rollup, and describes it.
    #[allow(clippy::too_many_arguments)]
    fn finish_part(
        &self,
        signal: Signal,
        hour: i64,
        id: u64,
        level: u32,
        writer: PartWriter,
        (min, max): (i64, i64),
        rollup: Option<&Rollup>,
    ) -> Result<PartMeta, StorageError> {
        let rel = part_rel_path(signal, hour, id);
        if let Some(r) = rollup {
            let bytes = serde_json::to_vec(r).map_err(|e| StorageError::Corrupt(e.to_string()))?;
            let location = rollup_location(&rel);
            write_file_durably(&self.objects.local_path(&location), &bytes)?;
            self.objects.publish(&location)?;
        }
        let rows = writer.rows();
        let bytes = writer.finish()?;
        self.objects.publish(&rel)?;
        Ok(PartMeta {
            id,
            signal,
            path: rel,
            hour_ns: hour,
            min_time_ns: min,
            max_time_ns: max,
            rows,
            bytes,
            level,
        })
    }

    /// Merges the parts of partitions that have at least
    /// `compact_min_parts` parts, or more than one part once the hour is over.
    pub fn compact(&self) -> Result<usize, StorageError> {
        let _m = self.compact_lock.lock();
        let parts = self.state.read().parts.clone();
        let current_hour = hour_of(tael_core::time::now_ns());
        let mut groups: BTreeMap<(Signal, i64), Vec<PartRef>> = BTreeMap::new();
        for p in parts.iter() {
            groups
                .entry((p.meta.signal, p.meta.hour_ns))
                .or_default()
                .push(p.clone());
        }
        let mut merged = 0;
        for ((signal, hour), mut group) in groups {
            let closed = hour < current_hour - 3_600_000_000_000;
            // Bounded work and output size: merge the smallest parts, up to
            // COMPACT_MAX_ROWS rows; while the hour is open, only parts of
            // similar size (size tiers), so big parts are not rewritten for
            // every small flush.
            group.sort_by_key(|p| (p.meta.rows, p.meta.id));
            let smallest = group.first().map(|p| p.meta.rows).unwrap_or(0).max(1);
            let mut total = 0;
            group.retain(|p| {
                total += p.meta.rows;
                total <= COMPACT_MAX_ROWS && (closed || p.meta.rows <= smallest * 4)
            });
            if group.len() < 2 || (!closed && group.len() < self.cfg.compact_min_parts) {
                continue;
            }
            let id = self.alloc_part_id();
            let level = group.iter().map(|p| p.meta.level).max().unwrap_or(0) + 1;
            let rel = part_rel_path(signal, hour, id);
            let mut w =
                PartWriter::create(&self.objects.local_path(&rel), signal, schema_of(signal))?;
            // Small row groups (from flushes at low ingest rates) are decoded
            // and written again, so they merge into full ones; the others are
            // copied as encoded (each stays sorted inside): no decoding or
            // compressing, memory holds one column chunk at a time. Small
            // ones go first: a part cannot take batches after a copied
            // row group. The rollup is the merge of the inputs' rollups.
            let mut rollup = Rollup::default();
            let inputs = self.state.read().rollups.clone();
            let row_groups: Vec<(&PartRef, usize)> = group
                .iter()
                .flat_map(|p| (0..p.num_row_groups()).map(move |rg| (p, rg)))
                .collect();
            let small = |p: &PartRef, rg: usize| p.row_group_rows(rg) < ROW_GROUP_ROWS / 2;
            for (p, rg) in row_groups.iter().filter(|(p, rg)| small(p, *rg)) {
                for batch in p.read_group(*rg, None)? {
                    w.write(&batch)?;
                }
            }
            for (p, rg) in row_groups.iter().filter(|(p, rg)| !small(p, *rg)) {
                w.copy_row_group(p, *rg)?;
            }
            for p in &group {
                if let Some(r) = inputs.get(&p.meta.id) {
                    rollup.merge(r);
                }
            }
            let min = group.iter().map(|p| p.meta.min_time_ns).min().unwrap_or(0);
            let max = group.iter().map(|p| p.meta.max_time_ns).max().unwrap_or(0);
            let rollup = (signal == Signal::Spans).then_some(rollup);
            let meta = self.finish_part(signal, hour, id, level, w, (min, max), rollup.as_ref())?;
            let retired: Vec<u64> = group.iter().map(|p| p.meta.id).collect();
            let rollups = rollup.map(|r| vec![(meta.id, r)]).unwrap_or_default();
            self.commit(vec![meta], rollups, &retired, None)?;
            merged += group.len();
        }
        Ok(merged)
    }

    /// Drops parts older than each signal's retention, then the oldest hour
    /// partitions while the parts exceed `max_disk_bytes`.
    pub fn enforce_retention(&self) -> Result<usize, StorageError> {
        let _m = self.compact_lock.lock();
        let now = tael_core::time::now_ns();
        let parts = self.state.read().parts.clone();
        let mut doomed: Vec<u64> = Vec::new();
        for p in parts.iter() {
            let keep = match p.meta.signal {
                Signal::Spans => self.cfg.span_retention,
                Signal::Logs => self.cfg.log_retention,
                Signal::Metrics => self.cfg.metric_retention,
            };
            if p.meta.max_time_ns < now.saturating_sub(keep.as_nanos() as i64) {
                doomed.push(p.meta.id);
            }
        }
        if let Some(cap) = self.cfg.max_disk_bytes {
            // Segments kept for reuse count toward the cap: they go first.
            let part_bytes: u64 = parts.iter().map(|p| p.meta.bytes).sum();
            if part_bytes + self.wal.free_bytes() > cap {
                self.wal.release_free()?;
            }
            let mut live: Vec<&PartRef> = parts
                .iter()
                .filter(|p| !doomed.contains(&p.meta.id))
                .collect();
            live.sort_by_key(|p| (p.meta.hour_ns, p.meta.id));
            let mut total: u64 = live.iter().map(|p| p.meta.bytes).sum();
            let mut i = 0;
            while total > cap && i < live.len() {
                let hour = live[i].meta.hour_ns;
                while i < live.len() && live[i].meta.hour_ns == hour {
                    total -= live[i].meta.bytes;
                    doomed.push(live[i].meta.id);
                    i += 1;
                }
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        self.commit(Vec::new(), Vec::new(), &doomed, None)?;
        tracing::info!(parts = doomed.len(), "retention dropped parts");
        Ok(doomed.len())
    }

    /// Starts the maintenance threads, which stop when `stop` is set: a
    /// flusher (woken when the memtable fills, or on its interval) and a
    /// compactor (compaction and retention), so a long compaction never
    /// holds back flushes (and so ingest).
    pub fn spawn_maintenance(
        self: &Arc<Self>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let flusher = {
            let engine = self.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tael-flush".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        if engine.flush_due() {
                            let res = engine.flush();
                            if let Err(e) = &res {
                                tracing::error!(error = %e, "flush failed; will retry");
                            }
                            *engine.flush_failure.lock() = res.err().map(|e| e.to_string());
                        }
                        let mut wanted = engine.flush_wanted.lock();
                        if !*wanted {
                            engine
                                .flush_signal
                                .wait_for(&mut wanted, engine.cfg.maintenance_interval);
                        }
                        *wanted = false;
                    }
                })
        };
        let compactor = {
            let engine = self.clone();
            std::thread::Builder::new()
                .name("tael-compact".into())
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Acquire) {
                        // Independent: a failing compaction must not stop retention
                        // from freeing disk.
                        if let Err(e) = engine.compact() {
                            tracing::error!(error = %e, "compaction failed; will retry");
                        }
                        if let Err(e) = engine.enforce_retention() {
                            tracing::error!(error = %e, "retention failed; will retry");
                        }
                        if let Err(e) = engine.collect_blobs_if_due() {
                            tracing::error!(error = %e, "blob GC failed; will retry");
                        }
                        engine.maintain_text();
                        let mut slept = Duration::ZERO;
                        while slept < engine.cfg.maintenance_interval
                            && !stop.load(std::sync::atomic::Ordering::Acquire)
                        {
                            std::thread::sleep(Duration::from_millis(50));
                            slept += Duration::from_millis(50);
                        }
                    }
                })
        };
        [flusher, compactor]
            .into_iter()
            .map(|t| t.unwrap_or_else(|e| panic!("cannot start a maintenance thread: {e}")))
            .collect()
    }
}

/// The rows at `locs` as batches: one, unless their text exceeds a 32-bit
/// Arrow offset (rows with huge values), then split until each fits.
fn gather(
    batches: &[&RecordBatch],
    locs: &[(usize, usize)],
) -> Result<Vec<RecordBatch>, StorageError> {
    match arrow::compute::interleave_record_batch(batches, locs) {
        Ok(b) => Ok(vec![b]),
        Err(arrow::error::ArrowError::OffsetOverflowError(_)) if locs.len() > 1 => {
            let (a, b) = locs.split_at(locs.len() / 2);
            let mut out = gather(batches, a)?;
            out.extend(gather(batches, b)?);
            Ok(out)
        }
        Err(e) => Err(e.into()),
    }
}

/// Order-preserving `u64` sort keys of one column over all `batches`, as
/// one or more key columns compared in order: integers shifted to unsigned
/// order; trace ids (when all are empty or 32 lower-case hex digits) as a
/// "present" flag and their two 64-bit halves; other text
/// replaced by the rank of its value among the distinct values (cheap to
/// compare, unlike strings). Nulls sort first, as in arrow's default order.
fn sort_keys(batches: &[&RecordBatch], name: &str) -> Result<Vec<Vec<u64>>, StorageError> {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Int64Type};
    let missing = || StorageError::Corrupt(format!("column {name} missing"));
    let first = batches.first().and_then(|b| b.column_by_name(name));
    match first.map(|c| c.data_type().clone()) {
        None if batches.is_empty() => Ok(Vec::new()),
        Some(DataType::Int64) => {
            let mut out = Vec::new();
            for b in batches {
                let col = b.column_by_name(name).ok_or_else(missing)?;
                let ints = col.as_primitive_opt::<Int64Type>().ok_or_else(missing)?;
                out.extend(ints.values().iter().map(|v| (*v as u64) ^ (1 << 63)));
            }
            Ok(vec![out])
        }
        Some(DataType::Utf8) => {
            let mut cols = Vec::with_capacity(batches.len());
            for b in batches {
                let col = b.column_by_name(name).ok_or_else(missing)?;
                cols.push(col.as_string_opt::<i32>().ok_or_else(missing)?);
            }
            let ids = match name {
                "trace_id" => hex_id_keys(&cols),
                _ => None,
            };
            Ok(ids.unwrap_or_else(|| vec![rank_keys(&cols)]))
        }
        _ => Err(missing()),
    }
}

/// Keys of text that is all ids (see [`sort_keys`]): flag (0 null, 1
/// empty, 2 an id), high and low halves; `None` if a value is no id.
fn hex_id_keys(cols: &[&arrow::array::StringArray]) -> Option<Vec<Vec<u64>>> {
    let rows: usize = cols.iter().map(|c| arrow::array::Array::len(*c)).sum();
    let mut keys = vec![
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    ];
    let half = |h: &[u8]| -> Option<u64> {
        let mut v = 0u64;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = (v << 4) | u64::from(d);
        }
        Some(v)
    };
    for c in cols {
        for v in c.iter() {
            let k = match v.map(str::as_bytes) {
                None => [0, 0, 0],
                Some([]) => [1, 0, 0],
                Some(b) if b.len() == 32 => [2, half(&b[..16])?, half(&b[16..])?],
                Some(_) => return None,
            };
            for (col, k) in keys.iter_mut().zip(k) {
                col.push(k);
            }
        }
    }
    Some(keys)
}

/// Each value's rank among the distinct values (nulls 0).
fn rank_keys(cols: &[&arrow::array::StringArray]) -> Vec<u64> {
    let mut distinct: Vec<&str> = {
        let set: std::collections::HashSet<&str> =
            cols.iter().flat_map(|c| c.iter().flatten()).collect();
        set.into_iter().collect()
    };
    distinct.sort_unstable();
    let rank: std::collections::HashMap<&str, u64> = distinct
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, i as u64 + 1))
        .collect();
    let mut out = Vec::new();
    for c in cols {
        out.extend(
            c.iter()
                .map(|v| v.and_then(|v| rank.get(v).copied()).unwrap_or(0)),
        );
    }
    out
}

/// Words of a row's sort key: an id column takes three, a time one.
const SORT_KEY_WORDS: usize = 4;

/// The rows of `batches` in part order, as (batch, row) pairs, grouped by
/// the hour partition of their time. Metrics are sorted whole; spans and
/// logs in windows of [`ROW_GROUP_ROWS`] rows of arrival order, each sorted
/// by its key, so that each window is one row group and gathering it reads
/// a few recent batches instead of the whole memtable at random.
fn sorted_rows_by_hour(
    signal: Signal,
    batches: &[&RecordBatch],
) -> Result<BTreeMap<i64, Vec<(usize, usize)>>, StorageError> {
    let mut keys = Vec::new();
    for name in sort_key_names(signal) {
        keys.extend(sort_keys(batches, name)?);
    }
    if keys.len() > SORT_KEY_WORDS {
        return Err(StorageError::Corrupt(format!(
            "{signal:?} sort key takes {} words",
            keys.len()
        )));
    }
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let key = |i: usize| -> [u64; SORT_KEY_WORDS] {
        let mut k = [0u64; SORT_KEY_WORDS];
        for (slot, col) in k.iter_mut().zip(&keys) {
            *slot = col[i];
        }
        k
    };
    let mut locate = Vec::with_capacity(rows);
    for (bi, b) in batches.iter().enumerate() {
        locate.extend((0..b.num_rows()).map(|r| (bi, r)));
    }
    let mut times = Vec::with_capacity(rows);
    for b in batches {
        times.extend_from_slice(time_values(signal, b)?.values());
    }
    let mut groups: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
    if signal == Signal::Metrics {
        // One sort over everything: a metric's points share row groups.
        let mut order: Vec<([u64; SORT_KEY_WORDS], u32)> =
            (0..rows).map(|i| (key(i), i as u32)).collect();
        order.sort_unstable();
        for (_, g) in order {
            let g = g as usize;
            groups.entry(hour_of(times[g])).or_default().push(locate[g]);
        }
        return Ok(groups);
    }
    // Spans and logs: each row group's worth of rows in arrival order,
    // sorted within (see `crate::part`'s sort orders).
    let mut by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, t) in times.iter().enumerate() {
        by_hour.entry(hour_of(*t)).or_default().push(i as u32);
    }
    for (hour, arrived) in by_hour {
        let out = groups.entry(hour).or_default();
        for window in arrived.chunks(ROW_GROUP_ROWS) {
            let mut order: Vec<([u64; SORT_KEY_WORDS], u32)> =
                window.iter().map(|&i| (key(i as usize), i)).collect();
            order.sort_unstable();
            out.extend(order.into_iter().map(|(_, g)| locate[g as usize]));
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(names: &[&str], services: &[&str], times: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("service", DataType::Utf8, false),
            Field::new("time_ns", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(names.to_vec())),
                Arc::new(StringArray::from(services.to_vec())),
                Arc::new(Int64Array::from(times.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rank_sort_matches_a_lexicographic_sort() {
        let hour = 3_600_000_000_000i64;
        let a = batch(
            &["m", "a", "m", "b"],
            &["y", "x", "x", "x"],
            &[15, 7, 19, 11],
        );
        let b = batch(&["a", "m", "ab"], &["x", "x", "z"], &[3, 12, hour + 1]);
        let groups = sorted_rows_by_hour(Signal::Metrics, &[&a, &b]).unwrap();
        let flat: Vec<(usize, usize)> = groups.values().flatten().copied().collect();
        let want_first_hour = [(1, 0), (0, 1), (0, 3), (1, 1), (0, 2), (0, 0)];
        assert_eq!(groups.len(), 2);
        assert_eq!(&flat[..6], &want_first_hour[..]);
        assert_eq!(flat[6], (1, 2));
    }

    fn logs_batch(ids: &[Option<&str>], times: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("trace_id", DataType::Utf8, true),
            Field::new("time_ns", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int64Array::from(times.to_vec())),
            ],
        )
        .unwrap()
    }

    /// Ids sort by their two halves, nulls and "" first; text that is no id
    /// sorts by rank; both as a plain (string, time) sort would.
    #[test]
    fn id_and_rank_sorts_match_a_lexicographic_sort() {
        let ids = [
            Some("ff00000000000000000000000000000a"),
            None,
            Some("0f00000000000000ffffffffffffffff"),
            Some(""),
            Some("0f000000000000010000000000000000"),
            Some("ff00000000000000000000000000000a"),
            Some("0000000000000000000000000000000b"),
        ];
        let times = [5, 9, 1, 4, 2, 3, 8];
        for odd in [None, Some("not-an-id")] {
            let mut ids = ids.to_vec();
            if let Some(v) = odd {
                ids[1] = Some(v);
            }
            let (a, b) = (
                logs_batch(&ids[..4], &times[..4]),
                logs_batch(&ids[4..], &times[4..]),
            );
            let groups = sorted_rows_by_hour(Signal::Logs, &[&a, &b]).unwrap();
            let got: Vec<(usize, usize)> = groups.values().flatten().copied().collect();
            let mut want: Vec<(Option<&str>, i64, (usize, usize))> = (0..ids.len())
                .map(|i| (ids[i], times[i], if i < 4 { (0, i) } else { (1, i - 4) }))
                .collect();
            want.sort();
            let want: Vec<(usize, usize)> = want.into_iter().map(|w| w.2).collect();
            assert_eq!(got, want, "{odd:?}");
        }
    }

    /// Logs (and spans) are sorted within row-group windows of arrival
    /// order; rows of another hour go to their own partition.
    #[test]
    fn logs_sort_within_arrival_windows() {
        let n = 2 * ROW_GROUP_ROWS + 5;
        let hour = 3_600_000_000_000i64;
        // Descending ids: each window comes out reversed.
        let ids: Vec<String> = (0..n).map(|i| format!("{:032x}", n - i)).collect();
        let mut times: Vec<i64> = vec![hour + 1; n];
        times[7] = 2 * hour; // a late row of the next hour
        let id_refs: Vec<Option<&str>> = ids.iter().map(|s| Some(s.as_str())).collect();
        let (a, b) = (
            logs_batch(&id_refs[..100], &times[..100]),
            logs_batch(&id_refs[100..], &times[100..]),
        );
        let groups = sorted_rows_by_hour(Signal::Logs, &[&a, &b]).unwrap();
        let at = |i: usize| if i < 100 { (0, i) } else { (1, i - 100) };
        assert_eq!(groups[&(2 * hour)], vec![at(7)]);
        let arrived: Vec<usize> = (0..n).filter(|&i| i != 7).collect();
        let mut want = Vec::new();
        for w in arrived.chunks(ROW_GROUP_ROWS) {
            want.extend(w.iter().rev().map(|&i| at(i)));
        }
        assert_eq!(groups[&hour], want);
    }

    /// Only trace ids take the three-word form: metrics whose names and
    /// services all look like ids still fit the key.
    #[test]
    fn id_like_metric_text_is_ranked() {
        let id = "0123456789abcdef0123456789abcdef";
        let a = batch(&[id, id], &[id, ""], &[2, 1]);
        let groups = sorted_rows_by_hour(Signal::Metrics, &[&a]).unwrap();
        let flat: Vec<(usize, usize)> = groups.values().flatten().copied().collect();
        assert_eq!(flat, vec![(0, 1), (0, 0)]);
    }
}
