//! Reading the WAL's fsynced records onward from a sequence number, for
//! shipping them to standbys. A cursor keeps its segment file open and its
//! byte offset, so that reading on costs one positioned read per record
//! (from the page cache, as a rule) whatever the segment's size.

use super::{Record, Wal, HEADER, MAX_RECORD};
use crate::error::StorageError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Where a reader of the WAL is: the next sequence number it wants and,
/// once found, the segment and byte offset holding it.
pub struct WalCursor {
    next_seq: u64,
    at: Option<Position>,
}

struct Position {
    file: File,
    path: PathBuf,
    /// The segment's last sequence number when it is closed.
    last: Option<u64>,
    offset: u64,
}

impl WalCursor {
    /// A cursor whose first record read will be `seq`.
    pub fn at(seq: u64) -> WalCursor {
        WalCursor {
            next_seq: seq.max(1),
            at: None,
        }
    }

    /// The sequence number the next read starts at.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// One record's header as read from a segment.
struct Header {
    len: usize,
    crc: u32,
    seq: u64,
}

fn read_header(file: &File, offset: u64) -> Option<Header> {
    let mut h = [0u8; HEADER];
    file.read_exact_at(&mut h, offset).ok()?;
    let len = u32::from_le_bytes(h[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(h[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(h[8..16].try_into().ok()?);
    (len <= MAX_RECORD).then_some(Header { len, crc, seq })
}

impl Wal {
    /// Reads fsynced records from `cursor` on, up to about `max_bytes` of
    /// payload (at least one record when there is one), and moves the
    /// cursor past them. Empty when the cursor is at the end.
    /// [`StorageError::WalDropped`] when its records are no longer kept.
    pub fn read_tail(
        &self,
        cursor: &mut WalCursor,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        let synced = self.synced_seq();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut relocated = false;
        while cursor.next_seq <= synced && (out.is_empty() || bytes < max_bytes) {
            if cursor.at.is_none() {
                cursor.at = Some(self.locate(cursor.next_seq)?);
            }
            let Some(at) = cursor.at.as_mut() else {
                continue;
            };
            match read_record(at, cursor.next_seq) {
                Some(rec) => {
                    relocated = false;
                    bytes += rec.payload.len();
                    cursor.next_seq += 1;
                    if at.last.is_some_and(|l| rec.seq >= l) {
                        cursor.at = None;
                    }
                    out.push(rec);
                }
                // The segment was closed (or dropped and reused) since the
                // cursor opened it: find the record's segment again, once.
                None if !relocated => {
                    relocated = true;
                    cursor.at = None;
                }
                None => {
                    let path = at.path.display().to_string();
                    return Err(StorageError::Corrupt(format!(
                        "WAL record {} is not readable in {path}",
                        cursor.next_seq
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Opens the segment holding `seq` at that record.
    fn locate(&self, seq: u64) -> Result<Position, StorageError> {
        let (first, last, path) = self
            .segment_of(seq)
            .map_err(|oldest| StorageError::WalDropped { asked: seq, oldest })?;
        let file = match File::open(&path) {
            Ok(f) => f,
            // Dropped since it was listed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let oldest = self.segment_of(u64::MAX).map_or_else(|o| o, |s| s.0);
                return Err(StorageError::WalDropped { asked: seq, oldest });
            }
            Err(e) => return Err(StorageError::io(&path, e)),
        };
        let mut offset = 0u64;
        let mut at = first;
        while at < seq {
            match read_header(&file, offset) {
                Some(h) if h.seq == at => {
                    offset += (HEADER + h.len) as u64;
                    at += 1;
                }
                _ => {
                    return Err(StorageError::Corrupt(format!(
                        "WAL segment {} ends before record {seq}",
                        path.display()
                    )))
                }
            }
        }
        Ok(Position {
            file,
            path,
            last,
            offset,
        })
    }
}

/// The record `seq` at `at`'s offset, advancing it; `None` when what is
/// there is not that record, intact.
fn read_record(at: &mut Position, seq: u64) -> Option<Record> {
    let h = read_header(&at.file, at.offset)?;
    if h.seq != seq {
        return None;
    }
    let mut body = vec![0u8; 9 + h.len];
    at.file.read_exact_at(&mut body, at.offset + 8).ok()?;
    if crc32fast::hash(&body) != h.crc {
        return None;
    }
    at.offset += (HEADER + h.len) as u64;
    let kind = body[8];
    body.drain(..9);
    Some(Record {
        seq,
        kind,
        payload: body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u64) -> Vec<u8> {
        format!("record {i} ")
            .repeat((i % 7 + 1) as usize)
            .into_bytes()
    }

    #[test]
    fn a_cursor_reads_every_record_once_across_segments_and_stops_at_dropped_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 200).unwrap();
        for i in 1..=50u64 {
            let (seq, _) = wal.append(2, &payload(i), |_| ()).unwrap();
            assert_eq!(seq, i);
        }
        let mut cur = WalCursor::at(1);
        let mut seen = Vec::new();
        loop {
            let got = wal.read_tail(&mut cur, 64).unwrap();
            if got.is_empty() {
                break;
            }
            seen.extend(got);
        }
        assert_eq!(seen.len(), 50);
        for (i, r) in seen.iter().enumerate() {
            assert_eq!(
                (r.seq, r.kind, &r.payload),
                (i as u64 + 1, 2, &payload(i as u64 + 1))
            );
        }
        // More written later is read on from where the cursor stopped.
        wal.append(3, b"late", |_| ()).unwrap();
        let got = wal.read_tail(&mut cur, 64).unwrap();
        assert_eq!((got.len(), got[0].seq), (1, 51));

        // Once segments are dropped, a cursor before them is told so.
        let last = wal.seal().unwrap();
        wal.drop_through(30).unwrap();
        match wal.read_tail(&mut WalCursor::at(3), 64) {
            Err(StorageError::WalDropped { asked: 3, oldest }) => {
                assert!(oldest > 3 && oldest <= 31)
            }
            other => panic!("{other:?}"),
        }
        let mut cur = WalCursor::at(31);
        let got = wal.read_tail(&mut cur, usize::MAX).unwrap();
        assert_eq!(got.first().map(|r| r.seq), Some(31));
        assert_eq!(got.last().map(|r| r.seq), Some(last));
    }

    #[test]
    fn append_at_takes_only_the_next_number() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(wal.append_at(1, 2, b"a", |s| s).unwrap(), (1, 1));
        match wal.append_at(3, 2, b"c", |s| s) {
            Err(StorageError::SeqGap {
                expected: 2,
                got: 3,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            wal.append_at(1, 2, b"a", |s| s),
            Err(StorageError::SeqGap {
                expected: 2,
                got: 1
            })
        ));
        assert_eq!(wal.append_at(2, 2, b"b", |s| s).unwrap().0, 2);
        assert_eq!(wal.synced_seq(), 2);
    }

    #[test]
    fn truncating_after_a_record_keeps_the_numbering() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (wal, _) = Wal::open(dir.path(), 150).unwrap();
            for i in 1..=30u64 {
                wal.append(2, &payload(i), |_| ()).unwrap();
            }
        }
        assert_eq!(Wal::truncate_after(dir.path(), 17).unwrap(), 13);
        let (wal, recs) = Wal::open(dir.path(), 150).unwrap();
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=17).collect::<Vec<_>>()
        );
        assert_eq!(wal.append(2, b"next", |_| ()).unwrap().0, 18);
        drop(wal);
        assert_eq!(Wal::truncate_after(dir.path(), 18).unwrap(), 0);
        assert_eq!(Wal::open(dir.path(), 150).unwrap().1.len(), 18);
    }
}
