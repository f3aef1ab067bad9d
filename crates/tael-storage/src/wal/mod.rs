//! Write-ahead log: segment files of length- and CRC-framed records, written
//! with group commit and fsynced before the caller is acknowledged.
//!
//! # On-disk format
//!
//! The WAL directory holds segment files named `wal-<first_seq:020>.log`.
//! Each segment is a sequence of records:
//!
//! ```text
//! +----------------+----------------+----------------+-----------+-------------+
//! | len: u32 LE    | crc: u32 LE    | seq: u64 LE    | kind: u8  | payload     |
//! | payload bytes  | crc32 (IEEE) of seq ‖ kind ‖ payload          | len bytes   |
//! +----------------+----------------+----------------+-----------+-------------+
//! ```
//!
//! `seq` increases by one per record across segments. `kind` says what the
//! payload is (the engine writes `tael_core::Signal::wal_byte`: 1 a trace export,
//! 2 logs, 3 metrics, each an OTLP `Export*ServiceRequest` in protobuf;
//! 4 a trace comment as JSON, `crate::engine::COMMENT_WAL_KIND`). A record whose header or payload is
//! incomplete, or whose CRC does not match, ends the segment: on open, a torn
//! tail of the newest segment is truncated away (it was never acknowledged,
//! since acknowledgement follows the fsync). Segments are dropped once every
//! record in them is covered by durable Parquet parts (see `Engine::flush`).
//!
//! # Recycling
//!
//! A dropped segment is renamed `free-<n>.wal` and reused, overwritten in
//! place, as a later segment (up to [`RECYCLED`] files; more are deleted
//! gradually, see `crate::slow_delete`). Deleting them instead freed ~64
//! MiB of blocks per flush, and on a disk mounted with `discard` the
//! discards stalled the WAL's `fdatasync`s for up to a second. Overwriting
//! allocated blocks also spares each `fdatasync` an inode write. So a
//! segment may hold stale bytes of an earlier use after its last record.
//! Reading stops at the first record that is torn, fails its CRC, or does
//! not carry the next sequence number (the first record of a segment
//! carries the number in its name; stale records always carry older
//! numbers). A closed segment followed by the segment that starts at its
//! last sequence number plus one is complete, whatever follows its
//! records.
//!
//! # Reading the tail
//!
//! A leader ships its records to standbys in this same framing (see
//! `tail`): a [`WalCursor`] reads fsynced records onward from a sequence
//! number, and a standby appends them at the sequence numbers they carry
//! ([`Wal::append_at`]), so that every replica numbers the same record
//! alike.
//!
//! # Group commit
//!
//! Writers append under a mutex, then wait until a sync covers their record.
//! The first waiter becomes the syncer: it calls `fdatasync` for everything
//! written so far, while later writers keep appending; they are covered by
//! the next sync. One fsync thus acknowledges every request that arrived
//! while the previous one ran.

use crate::error::StorageError;
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod tail;
pub use tail::WalCursor;

/// Bytes of a record's header (the framing above).
pub const HEADER: usize = 17;
/// Dropped segments kept for reuse.
pub const RECYCLED: usize = 4;
/// Largest payload accepted (a decompressed request is capped well below).
pub const MAX_RECORD: usize = 256 << 20;

/// One record read back from the WAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Encodes one record into `out` (the framing above).
pub fn encode_record(seq: u64, kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(payload);
    out.extend_from_slice(&record_header(seq, kind, payload.len(), &crc));
    out.extend_from_slice(payload);
}

/// The header of a record (the framing above) whose payload of `len`
/// bytes has CRC state `payload_crc` (so the payload's CRC can be taken
/// before its sequence number is known).
fn record_header(seq: u64, kind: u8, len: usize, payload_crc: &crc32fast::Hasher) -> [u8; HEADER] {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(&[kind]);
    h.combine(payload_crc);
    let mut out = [0u8; HEADER];
    out[0..4].copy_from_slice(&(len as u32).to_le_bytes());
    out[4..8].copy_from_slice(&h.finalize().to_le_bytes());
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    out[16] = kind;
    out
}

/// Writes `header` then `payload` (one `writev` unless the kernel takes
/// part of it).
fn write_all_vectored(
    mut file: &std::fs::File,
    header: &[u8],
    payload: &[u8],
) -> std::io::Result<()> {
    use std::io::IoSlice;
    let total = header.len() + payload.len();
    let mut done = 0;
    while done < total {
        let n = if done < header.len() {
            file.write_vectored(&[IoSlice::new(&header[done..]), IoSlice::new(payload)])?
        } else {
            file.write(&payload[done - header.len()..])?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        done += n;
    }
    Ok(())
}

/// Decodes records from a buffer; returns them and the length of the valid
/// prefix (anything after it is torn or corrupt).
pub fn decode_records(buf: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while buf.len() - pos >= HEADER {
        let len = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap_or([0; 4])) as usize;
        let crc = u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap_or([0; 4]));
        if len > MAX_RECORD || buf.len() - pos - HEADER < len {
            break;
        }
        let body = &buf[pos + 8..pos + HEADER + len];
        if crc32fast::hash(body) != crc {
            break;
        }
        let seq = u64::from_le_bytes(body[0..8].try_into().unwrap_or([0; 8]));
        out.push(Record {
            seq,
            kind: body[8],
            payload: body[9..].to_vec(),
        });
        pos += HEADER + len;
    }
    (out, pos)
}

fn segment_name(first_seq: u64) -> String {
    format!("wal-{first_seq:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

fn free_name(n: u64) -> String {
    format!("free-{n:020}.wal")
}

fn parse_free_name(name: &str) -> Option<u64> {
    name.strip_prefix("free-")?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

/// Dropped segments waiting for reuse, as (number, path), lowest first.
fn list_free(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    list_numbered(dir, parse_free_name)
}

/// The records of one segment that start at `first_seq` and follow each
/// other by sequence number, and the length of the bytes they take.
fn continuous_records(buf: &[u8], first_seq: u64) -> (Vec<Record>, usize) {
    let (mut recs, _) = decode_records(buf);
    let keep = recs
        .iter()
        .enumerate()
        .take_while(|(i, r)| r.seq == first_seq + *i as u64)
        .count();
    recs.truncate(keep);
    let len = recs.iter().map(|r| HEADER + r.payload.len()).sum();
    (recs, len)
}

/// The bytes of the segment at `path` that starts at `first_seq`, its
/// continuous records and the length they take.
fn read_segment(
    path: &Path,
    first_seq: u64,
) -> Result<(Vec<u8>, Vec<Record>, usize), StorageError> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(|e| StorageError::io(path, e))?;
    let (recs, valid) = continuous_records(&buf, first_seq);
    Ok((buf, recs, valid))
}

/// Lists segments as (first_seq, path), oldest first.
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    list_numbered(dir, parse_segment_name)
}

/// The files of `dir` whose names `parse` gives a number, as (number,
/// path), lowest first.
fn list_numbered(
    dir: &Path,
    parse: fn(&str) -> Option<u64>,
) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        if let Some(n) = entry.file_name().to_str().and_then(parse) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Fsyncs a directory so that created, renamed or deleted entries persist.
pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(dir, e))
}

/// Bytes a failed WAL must be able to write before it takes appends again.
const PROBE_BYTES: usize = 64 << 10;

struct Segment {
    first_seq: u64,
    file: Arc<File>,
    bytes: u64,
}

struct WriteState {
    current: Segment,
    /// Closed segments: (first_seq, last_seq, path).
    closed: Vec<(u64, u64, PathBuf)>,
    next_seq: u64,
    failed: Option<String>,
}

struct SyncState {
    synced_seq: u64,
    syncing: bool,
}

/// The write-ahead log.
pub struct Wal {
    dir: PathBuf,
    segment_bytes: u64,
    /// Dropped segments to reuse (see "Recycling"), and the next free number.
    free: Mutex<(Vec<PathBuf>, u64)>,
    /// How many dropped segments are kept for reuse (at most [`RECYCLED`]).
    keep_free: std::sync::atomic::AtomicUsize,
    write: Mutex<WriteState>,
    sync: Mutex<SyncState>,
    synced: Condvar,
}

impl Wal {
    /// Opens the WAL in `dir`, returning it and every intact record in it
    /// (oldest first) for replay. A torn tail of the newest segment is cut off.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<(Wal, Vec<Record>), StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let segs = list_segments(dir)?;
        let free = list_free(dir)?;
        let next_free = free.last().map(|(n, _)| n + 1).unwrap_or(0);
        let free: Vec<PathBuf> = match segs.is_empty() {
            false => free.into_iter().map(|(_, p)| p).collect(),
            // Without a segment the sequence starts over, and a reused
            // file's stale records could carry the numbers that follow:
            // its free files go instead.
            true => {
                for (_, p) in free {
                    crate::slow_delete::delete(p);
                }
                Vec::new()
            }
        };
        let mut records = Vec::new();
        let mut closed = Vec::new();
        let mut next_seq = 1;
        let n = segs.len();
        for (i, (first, path)) in segs.iter().enumerate() {
            let (buf, recs, valid) = read_segment(path, *first)?;
            let last = recs
                .last()
                .map(|r| r.seq)
                .unwrap_or(first.saturating_sub(1));
            // Stale bytes of an earlier use after a closed segment's
            // records are expected (see "Recycling").
            let complete = segs.get(i + 1).is_some_and(|(next, _)| *next == last + 1);
            if valid < buf.len() && !complete {
                if i + 1 == n {
                    tracing::warn!(segment = %path.display(), valid, total = buf.len(), "truncating torn WAL tail");
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(|e| StorageError::io(path, e))?;
                    f.set_len(valid as u64)
                        .and_then(|_| f.sync_all())
                        .map_err(|e| StorageError::io(path, e))?;
                } else {
                    tracing::error!(segment = %path.display(), valid, total = buf.len(), "corrupt record inside a closed WAL segment; records after it are skipped");
                }
            }
            next_seq = next_seq.max(last + 1).max(*first);
            if i + 1 < n {
                closed.push((*first, last, path.clone()));
            }
            records.extend(recs);
        }
        let current = match segs.last() {
            Some((first, path)) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| StorageError::io(path, e))?;
                let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
                Segment {
                    first_seq: *first,
                    file: Arc::new(file),
                    bytes,
                }
            }
            None => Self::create_segment(dir, next_seq, None)?,
        };
        let wal = Wal {
            dir: dir.to_path_buf(),
            segment_bytes,
            free: Mutex::new((free, next_free)),
            keep_free: std::sync::atomic::AtomicUsize::new(RECYCLED),
            write: Mutex::new(WriteState {
                current,
                closed,
                next_seq,
                failed: None,
            }),
            sync: Mutex::new(SyncState {
                synced_seq: next_seq - 1,
                syncing: false,
            }),
            synced: Condvar::new(),
        };
        Ok((wal, records))
    }

    /// Cuts the WAL in `dir` after record `seq` (before it is opened):
    /// records after it go, and the next record written is `seq + 1`.
    /// A replica uses this to drop records of an older leadership that a
    /// newer one numbered differently.
    pub fn truncate_after(dir: &Path, seq: u64) -> Result<usize, StorageError> {
        let mut dropped = 0usize;
        if !dir.exists() {
            return Ok(0);
        }
        for (first, path) in list_segments(dir)? {
            let (buf, recs, _) = read_segment(&path, first)?;
            if first > seq + 1 {
                std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
                dropped += recs.len();
                continue;
            }
            let keep: usize = recs
                .iter()
                .take_while(|r| r.seq <= seq)
                .map(|r| HEADER + r.payload.len())
                .sum();
            let cut = recs.iter().filter(|r| r.seq > seq).count();
            if keep < buf.len() {
                dropped += cut;
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StorageError::io(&path, e))?;
                f.set_len(keep as u64)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| StorageError::io(&path, e))?;
            }
        }
        sync_dir(dir)?;
        Ok(dropped)
    }

    /// Starts the segment of `first_seq`: in `recycled` (a dropped
    /// segment, overwritten from its start) when given, else a new file.
    fn create_segment(
        dir: &Path,
        first_seq: u64,
        recycled: Option<PathBuf>,
    ) -> Result<Segment, StorageError> {
        let path = dir.join(segment_name(first_seq));
        let file = match recycled {
            Some(from) => std::fs::rename(&from, &path)
                .and_then(|_| OpenOptions::new().write(true).open(&path)),
            None => OpenOptions::new().create(true).append(true).open(&path),
        }
        .map_err(|e| StorageError::io(&path, e))?;
        sync_dir(dir)?;
        Ok(Segment {
            first_seq,
            file: Arc::new(file),
            bytes: 0,
        })
    }

    /// Appends a record and runs `apply(seq)` while still holding the append
    /// lock (so that whatever `apply` records happens in sequence order), then
    /// waits until the record is fsynced. Returns the record's sequence number.
    pub fn append<T>(
        &self,
        kind: u8,
        payload: &[u8],
        apply: impl FnOnce(u64) -> T,
    ) -> Result<(u64, T), StorageError> {
        self.append_as(None, kind, payload, apply)
    }

    /// Like [`Wal::append`] for a record that must get sequence number
    /// `seq` (a record shipped from the leader): refused with
    /// [`StorageError::SeqGap`] unless `seq` is the next number.
    pub fn append_at<T>(
        &self,
        seq: u64,
        kind: u8,
        payload: &[u8],
        apply: impl FnOnce(u64) -> T,
    ) -> Result<(u64, T), StorageError> {
        self.append_as(Some(seq), kind, payload, apply)
    }

    fn append_as<T>(
        &self,
        want_seq: Option<u64>,
        kind: u8,
        payload: &[u8],
        apply: impl FnOnce(u64) -> T,
    ) -> Result<(u64, T), StorageError> {
        if payload.len() > MAX_RECORD {
            return Err(StorageError::RecordTooLarge(payload.len()));
        }
        // The payload's CRC is taken outside the lock (and combined with
        // the header's under it); header and payload are written as they
        // are, without copying the payload into one buffer.
        let mut payload_crc = crc32fast::Hasher::new();
        payload_crc.update(payload);
        let (seq, out) = {
            let mut w = self.write.lock();
            if w.failed.is_some() {
                self.recover(&mut w)?;
            }
            if w.current.bytes >= self.segment_bytes {
                self.rotate(&mut w)?;
            }
            let seq = w.next_seq;
            if let Some(want) = want_seq.filter(|want| *want != seq) {
                return Err(StorageError::SeqGap {
                    expected: seq,
                    got: want,
                });
            }
            let header = record_header(seq, kind, payload.len(), &payload_crc);
            let res = write_all_vectored(&w.current.file, &header, payload);
            if let Err(e) = res {
                // A partial write leaves a torn tail; refuse further writes
                // so that nothing is acknowledged after it.
                w.failed = Some(e.to_string());
                return Err(StorageError::io(&self.dir, e));
            }
            w.current.bytes += (HEADER + payload.len()) as u64;
            w.next_seq += 1;
            (seq, apply(seq))
        };
        self.wait_synced(seq)?;
        Ok((seq, out))
    }

    /// Makes a failed WAL writable again when the disk lets it: whatever a
    /// failed write left after the last whole record is cut off (so no
    /// torn record is ever followed by good ones), the segment is synced,
    /// and appends go on from there. Until that succeeds every append is
    /// refused as unavailable, so nothing is acknowledged meanwhile. Tried
    /// by each append while the WAL is failed (a truncate and an fsync).
    fn recover(&self, w: &mut WriteState) -> Result<(), StorageError> {
        use std::io::{Seek, SeekFrom, Write};
        let why = w.failed.clone().unwrap_or_default();
        let keep = w.current.bytes;
        let mut file = &*w.current.file;
        let res = (|| {
            file.set_len(keep)?;
            // A probe: only when this much can be written is the WAL
            // writable again (cutting the tail needs no free space).
            file.seek(SeekFrom::Start(keep))?;
            file.write_all(&[0u8; PROBE_BYTES])?;
            file.set_len(keep)?;
            file.seek(SeekFrom::Start(keep))?;
            file.sync_all()
        })();
        if let Err(e) = res {
            return Err(StorageError::Unavailable(format!(
                "WAL is failed: {why} (still: {e})"
            )));
        }
        // What was written before the failure is durable now.
        let mut s = self.sync.lock();
        s.synced_seq = s.synced_seq.max(w.next_seq - 1);
        drop(s);
        w.failed = None;
        tracing::warn!(error = %why, "WAL writes succeed again");
        Ok(())
    }

    /// Why appends are refused, while they are: a failed WAL is first
    /// probed (see [`Wal::recover`]), so this also brings it back once
    /// the disk has room again.
    pub fn failure(&self) -> Option<String> {
        let mut w = self.write.lock();
        if w.failed.is_some() {
            if let Err(e) = self.recover(&mut w) {
                return Some(e.to_string());
            }
        }
        None
    }

    fn rotate(&self, w: &mut WriteState) -> Result<(), StorageError> {
        w.current
            .file
            .sync_data()
            .map_err(|e| StorageError::io(&self.dir, e))?;
        let last = w.next_seq - 1;
        let recycled = self.free.lock().0.pop();
        let next = Self::create_segment(&self.dir, w.next_seq, recycled)?;
        let old = std::mem::replace(&mut w.current, next);
        w.closed.push((
            old.first_seq,
            last,
            self.dir.join(segment_name(old.first_seq)),
        ));
        let mut s = self.sync.lock();
        s.synced_seq = s.synced_seq.max(last);
        Ok(())
    }

    fn wait_synced(&self, seq: u64) -> Result<(), StorageError> {
        let mut s = self.sync.lock();
        loop {
            if s.synced_seq >= seq {
                return Ok(());
            }
            if s.syncing {
                self.synced.wait(&mut s);
                continue;
            }
            s.syncing = true;
            drop(s);
            let (file, target) = {
                let w = self.write.lock();
                (w.current.file.clone(), w.next_seq - 1)
            };
            let res = file.sync_data();
            s = self.sync.lock();
            s.syncing = false;
            if let Err(e) = res {
                self.synced.notify_all();
                // The write lock is taken before the sync lock everywhere.
                drop(s);
                self.write.lock().failed = Some(e.to_string());
                return Err(StorageError::io(&self.dir, e));
            }
            s.synced_seq = s.synced_seq.max(target);
            self.synced.notify_all();
        }
    }

    /// Starts a new segment, so that everything up to now can be dropped
    /// once it is durable elsewhere. Returns the last sequence number written.
    pub fn seal(&self) -> Result<u64, StorageError> {
        self.seal_with(|last| last)
    }

    /// Like [`Wal::seal`], and runs `f(last_seq)` while appends are blocked,
    /// so that `f` sees exactly the records up to `last_seq` applied.
    pub fn seal_with<T>(&self, f: impl FnOnce(u64) -> T) -> Result<T, StorageError> {
        let mut w = self.write.lock();
        if w.current.bytes > 0 {
            self.rotate(&mut w)?;
        }
        Ok(f(w.next_seq - 1))
    }

    /// Deletes closed segments whose records all have `seq <= upto`.
    pub fn drop_through(&self, upto: u64) -> Result<usize, StorageError> {
        let doomed: Vec<PathBuf> = {
            let mut w = self.write.lock();
            let (gone, keep): (Vec<_>, Vec<_>) =
                w.closed.drain(..).partition(|(_, last, _)| *last <= upto);
            w.closed = keep;
            gone.into_iter().map(|(_, _, p)| p).collect()
        };
        // Kept for reuse (see "Recycling"), beyond that deleted gradually.
        let mut extra = Vec::new();
        {
            let mut free = self.free.lock();
            for p in &doomed {
                let to = self.dir.join(free_name(free.1));
                free.1 += 1;
                std::fs::rename(p, &to).map_err(|e| StorageError::io(p, e))?;
                match free.0.len() < self.keep_free.load(std::sync::atomic::Ordering::Relaxed) {
                    true => free.0.push(to),
                    false => extra.push(to),
                }
            }
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        for p in extra {
            crate::slow_delete::delete(p);
        }
        Ok(doomed.len())
    }

    /// The last sequence number fsynced (0 for an empty log).
    pub fn synced_seq(&self) -> u64 {
        self.sync.lock().synced_seq
    }

    /// The first sequence number still held (the next one when the log
    /// holds none).
    pub fn oldest_seq(&self) -> u64 {
        let w = self.write.lock();
        w.closed.first().map_or(w.current.first_seq, |c| c.0)
    }

    /// The last sequence number of the WAL in `dir`, read without opening
    /// it (0 when it holds none).
    pub fn last_seq_in(dir: &Path) -> Result<u64, StorageError> {
        if !dir.exists() {
            return Ok(0);
        }
        let Some((first, path)) = list_segments(dir)?.pop() else {
            return Ok(0);
        };
        let (_, recs, _) = read_segment(&path, first)?;
        Ok(recs.last().map_or(first.saturating_sub(1), |r| r.seq))
    }

    /// Empties the WAL in `dir` so that its next record is `next_seq` (a
    /// replica filled from a snapshot that covers the records before).
    pub fn reset(dir: &Path, next_seq: u64) -> Result<(), StorageError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        Self::create_segment(dir, next_seq.max(1), None)?;
        Ok(())
    }

    /// The segment holding `seq` as (first_seq, last_seq if closed, path),
    /// or the first sequence number still held when `seq` was dropped.
    fn segment_of(&self, seq: u64) -> Result<(u64, Option<u64>, PathBuf), u64> {
        let w = self.write.lock();
        if let Some((first, last, path)) = w.closed.iter().find(|(f, l, _)| *f <= seq && seq <= *l)
        {
            return Ok((*first, Some(*last), path.clone()));
        }
        let oldest = w.closed.first().map_or(w.current.first_seq, |c| c.0);
        match seq >= w.current.first_seq {
            true => Ok((
                w.current.first_seq,
                None,
                self.dir.join(segment_name(w.current.first_seq)),
            )),
            false => Err(oldest),
        }
    }

    /// Bytes held by the WAL on disk.
    pub fn disk_bytes(&self) -> u64 {
        let size = |files: Vec<(u64, PathBuf)>| -> u64 {
            files
                .iter()
                .filter_map(|(_, p)| p.metadata().ok())
                .map(|m| m.len())
                .sum()
        };
        list_segments(&self.dir).map(size).unwrap_or(0) + self.free_bytes()
    }

    /// Bytes of the dropped segments kept for reuse.
    pub fn free_bytes(&self) -> u64 {
        self.free
            .lock()
            .0
            .iter()
            .filter_map(|p| p.metadata().ok())
            .map(|m| m.len())
            .sum()
    }

    /// Keeps at most `n` dropped segments for reuse (a small disk cap
    /// cannot spare [`RECYCLED`] of them); the extra ones are deleted.
    pub fn keep_free(&self, n: usize) {
        self.keep_free
            .store(n.min(RECYCLED), std::sync::atomic::Ordering::Relaxed);
        let extra: Vec<PathBuf> = {
            let mut free = self.free.lock();
            let cut = free.0.len().min(n);
            free.0.split_off(cut)
        };
        for p in extra {
            crate::slow_delete::delete(p);
        }
    }

    /// Gives back the disk the WAL holds beyond its records: the dropped
    /// segments kept for reuse are deleted, and an empty current segment
    /// (a reused one holds stale bytes) is cut to nothing. For a graceful
    /// stop after the last flush, and when the disk cap is reached.
    pub fn release_free(&self) -> Result<(), StorageError> {
        {
            let w = self.write.lock();
            if w.current.bytes == 0 {
                w.current
                    .file
                    .set_len(0)
                    .map_err(|e| StorageError::io(&self.dir, e))?;
            }
        }
        let doomed: Vec<PathBuf> = std::mem::take(&mut self.free.lock().0);
        for p in &doomed {
            std::fs::remove_file(p).map_err(|e| StorageError::io(p, e))?;
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A record kind (the WAL does not interpret it).
    const LOGS: u8 = 2;

    proptest! {
        #[test]
        fn framing_round_trips(recs in proptest::collection::vec((any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20)) {
            let mut buf = Vec::new();
            for (i, (k, p)) in recs.iter().enumerate() {
                encode_record(i as u64 + 1, *k, p, &mut buf);
            }
            let (out, valid) = decode_records(&buf);
            prop_assert_eq!(valid, buf.len());
            prop_assert_eq!(out.len(), recs.len());
            for (o, (k, p)) in out.iter().zip(recs.iter()) {
                prop_assert_eq!(o.kind, *k);
                prop_assert_eq!(&o.payload, p);
            }
        }

        #[test]
        fn torn_or_flipped_tails_never_yield_bad_records(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..10),
            cut in any::<usize>(), flip in any::<usize>(), do_flip in any::<bool>())
        {
            let mut buf = Vec::new();
            for (i, p) in payloads.iter().enumerate() {
                encode_record(i as u64 + 1, 1, p, &mut buf);
            }
            let cut = cut % (buf.len() + 1);
            let mut damaged = buf[..cut].to_vec();
            if do_flip && !damaged.is_empty() {
                let at = flip % damaged.len();
                damaged[at] ^= 0x40;
            }
            let (out, valid) = decode_records(&damaged);
            prop_assert!(valid <= damaged.len());
            // Every record returned is one that was written, in order.
            for (i, r) in out.iter().enumerate() {
                prop_assert_eq!(r.seq, i as u64 + 1);
                prop_assert_eq!(&r.payload, &payloads[i]);
            }
        }
    }

    #[test]
    fn append_reopen_and_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, recs) = Wal::open(dir.path(), 64).unwrap();
        assert!(recs.is_empty());
        for i in 0..10u8 {
            let (seq, applied) = wal.append(LOGS, &[i; 40], |s| s * 2).unwrap();
            assert_eq!(applied, seq * 2);
        }
        drop(wal);
        // Simulate a torn tail.
        let last = list_segments(dir.path()).unwrap().pop().unwrap().1;
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(&[9, 0, 0]).unwrap();
        let (wal, recs) = Wal::open(dir.path(), 64).unwrap();
        assert_eq!(recs.len(), 10);
        assert_eq!(recs[9].payload, vec![9u8; 40]);
        let (seq, _) = wal.append(LOGS, b"x", |_| ()).unwrap();
        assert_eq!(seq, 11);
        let upto = wal.seal().unwrap();
        assert_eq!(upto, 11);
        wal.drop_through(upto).unwrap();
        drop(wal);
        let (_wal, recs) = Wal::open(dir.path(), 64).unwrap();
        assert!(recs.is_empty());
    }

    /// Dropped segments are reused; their stale records (intact, CRCs
    /// and all) are never read back, whether the segment that reuses one
    /// is closed or the newest.
    #[test]
    fn recycled_segments_replay_only_their_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 1000).unwrap();
        // Records of 620 bytes: two segments of two, dropped, become free.
        for i in 0..4u8 {
            wal.append(LOGS, &[i; 603], |_| ()).unwrap();
        }
        let upto = wal.seal().unwrap();
        assert_eq!(wal.drop_through(upto).unwrap(), 2);
        assert_eq!(list_free(dir.path()).unwrap().len(), 2);
        let mut want = vec![wal.append(LOGS, b"a", |_| ()).unwrap().0];
        // Ten 62-byte records fill exactly the first old record's bytes of
        // a reused file, so an intact old record follows them: in a closed
        // segment, then in the newest.
        for round in 0..2 {
            wal.seal().unwrap();
            for i in 0..10u8 {
                want.push(wal.append(LOGS, &[i; 45], |_| ()).unwrap().0);
            }
            let (_, path) = list_segments(dir.path()).unwrap().pop().unwrap();
            let (all, _) = decode_records(&std::fs::read(&path).unwrap());
            assert_eq!(all.len(), 11, "round {round}: a stale record follows");
        }
        assert!(
            list_free(dir.path()).unwrap().is_empty(),
            "free files reused"
        );
        drop(wal);
        let (wal, recs) = Wal::open(dir.path(), 1000).unwrap();
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, want);
        // Appending after the reopen continues the sequence, and a second
        // reopen reads the same records plus the new one.
        let (seq, _) = wal.append(LOGS, b"next", |_| ()).unwrap();
        assert_eq!(seq, want.last().unwrap() + 1);
        drop(wal);
        let (_wal, recs) = Wal::open(dir.path(), 1000).unwrap();
        assert_eq!(recs.len(), want.len() + 1);
        assert_eq!(recs.last().unwrap().payload, b"next".to_vec());
    }

    /// With no segment left the sequence starts over: free files are not
    /// reused (their stale records could carry the numbers that follow).
    #[test]
    fn free_files_are_not_reused_without_a_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 100).unwrap();
        for i in 0..3u8 {
            wal.append(LOGS, &[i; 90], |_| ()).unwrap();
        }
        let upto = wal.seal().unwrap();
        wal.drop_through(upto).unwrap();
        drop(wal);
        assert!(!list_free(dir.path()).unwrap().is_empty());
        let (wal, _) = Wal::open(dir.path(), 100).unwrap();
        assert_eq!(wal.free.lock().0.len(), 3, "segments left: reused");
        drop(wal);
        for (_, p) in list_segments(dir.path()).unwrap() {
            std::fs::remove_file(p).unwrap();
        }
        let (wal, recs) = Wal::open(dir.path(), 100).unwrap();
        assert!(recs.is_empty());
        assert!(wal.free.lock().0.is_empty(), "no segment: not reused");
    }

    #[test]
    fn concurrent_appends_are_all_durable_and_ordered() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 1 << 20).unwrap();
        let wal = Arc::new(wal);
        let order = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let wal = wal.clone();
                let order = order.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        wal.append(1, &(t * 1000 + i).to_le_bytes(), |seq| {
                            order.lock().push(seq)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let order = order.lock().clone();
        assert_eq!(order, (1..=200).collect::<Vec<_>>());
        drop(wal);
        let (_, recs) = Wal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(recs.len(), 200);
    }
}
