//! The epoch history of a replica's WAL: under which leadership epoch each
//! run of its records was written. A leader adds `(epoch, first seq it
//! writes)` when it starts leading; a standby adds the same pair, as the
//! leader sends it, when it first stores a record of a newer epoch. Two
//! replicas hold the same records up to a sequence number when their
//! histories agree up to it, which is how a replica finds records that
//! only it has from an older leadership (written, never acked, then the
//! leader died) and that a successor numbered differently.
//!
//! On disk: `<data-dir>/cluster/HISTORY`, lines `<epoch> <first_seq>`
//! (decimal), oldest first; a line is appended and fsynced before the
//! records it announces are stored. A torn last line is ignored.

use crate::error::ClusterError;
use parking_lot::Mutex;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One leadership's run of records: from `first_seq` on, up to the next
/// entry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochStart {
    pub epoch: u64,
    pub first_seq: u64,
}

pub struct History {
    path: PathBuf,
    entries: Mutex<Vec<EpochStart>>,
}

fn io(path: &Path, source: std::io::Error) -> ClusterError {
    ClusterError::Fence {
        path: path.display().to_string(),
        source,
    }
}

impl History {
    /// Opens (or starts, empty) the history in `dir`.
    pub fn open(dir: &Path) -> Result<History, ClusterError> {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let path = dir.join("HISTORY");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path, e)),
        };
        let mut entries = Vec::new();
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let mut f = line.split_whitespace().map(str::parse::<u64>);
            match (f.next(), f.next()) {
                (Some(Ok(epoch)), Some(Ok(first_seq))) => {
                    entries.push(EpochStart { epoch, first_seq })
                }
                _ => {
                    return Err(ClusterError::CorruptFence {
                        path: path.display().to_string(),
                        message: format!(
                            "expected \"<epoch> <first_seq>\", found {:?}",
                            line.trim()
                        ),
                    })
                }
            }
        }
        Ok(History {
            path,
            entries: Mutex::new(entries),
        })
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<EpochStart> {
        self.entries.lock().clone()
    }

    /// Replaces the history in `dir` with `entries` (a replica filled from
    /// its leader's copy takes the leader's history): written to a
    /// temporary file, fsynced, renamed over.
    pub fn replace(dir: &Path, entries: &[EpochStart]) -> Result<(), ClusterError> {
        let text: String = entries
            .iter()
            .map(|e| format!("{} {}\n", e.epoch, e.first_seq))
            .collect();
        Ok(tael_storage::part::write_file_durably(
            &dir.join("HISTORY"),
            text.as_bytes(),
        )?)
    }

    /// The newest entry.
    pub fn last(&self) -> Option<EpochStart> {
        self.entries.lock().last().copied()
    }

    /// The epoch that wrote record `seq` (0 before any entry).
    pub fn epoch_at(&self, seq: u64) -> u64 {
        let entries = self.entries.lock();
        entries
            .iter()
            .rev()
            .find(|e| e.first_seq <= seq)
            .map_or(0, |e| e.epoch)
    }

    /// Records that `epoch` writes from `first_seq` on (durably before it
    /// returns). An epoch already recorded is left as it is.
    pub fn begin(&self, epoch: u64, first_seq: u64) -> Result<(), ClusterError> {
        let mut entries = self.entries.lock();
        if entries.last().is_some_and(|e| e.epoch >= epoch) {
            return Ok(());
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| io(&self.path, e))?;
        f.write_all(format!("{epoch} {first_seq}\n").as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| io(&self.path, e))?;
        entries.push(EpochStart { epoch, first_seq });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_answer_which_epoch_wrote_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::open(dir.path()).unwrap();
        assert_eq!((h.last(), h.epoch_at(5)), (None, 0));
        h.begin(3, 1).unwrap();
        h.begin(7, 40).unwrap();
        h.begin(7, 55).unwrap();
        h.begin(5, 60).unwrap();
        let h = History::open(dir.path()).unwrap();
        assert_eq!(
            h.last(),
            Some(EpochStart {
                epoch: 7,
                first_seq: 40
            })
        );
        assert_eq!(
            (
                h.epoch_at(1),
                h.epoch_at(39),
                h.epoch_at(40),
                h.epoch_at(900)
            ),
            (3, 3, 7, 7)
        );
        std::fs::write(dir.path().join("HISTORY"), "3 1\n7 4").unwrap();
        assert_eq!(
            History::open(dir.path()).unwrap().last().map(|e| e.epoch),
            Some(3)
        );
        std::fs::write(dir.path().join("HISTORY"), "x y\n").unwrap();
        assert!(History::open(dir.path()).is_err());
        let taken = [
            EpochStart {
                epoch: 4,
                first_seq: 1,
            },
            EpochStart {
                epoch: 9,
                first_seq: 70,
            },
        ];
        History::replace(dir.path(), &taken).unwrap();
        assert_eq!(History::open(dir.path()).unwrap().entries(), taken);
    }
}
