//! Deleting large files (retired parts, WAL segments beyond those kept for
//! reuse) without stalling the disk. On a filesystem mounted with `discard`,
//! unlinking a 64 MiB file discards all its blocks at once: ~50 ms in
//! which the device serves little else, so the WAL's `fdatasync`s (and
//! every ingest waiting on them) stall behind it. Here one background
//! thread per process shrinks each queued file in [`CHUNK`] steps with a
//! pause between them, then unlinks it (as RocksDB's delete scheduler
//! does).
//!
//! Callers first make the file unreachable (a retired part is no longer in
//! the manifest; a dropped WAL segment is a `free-<n>.wal` file),
//! so a file left half-deleted by a crash is an orphan that the next start
//! removes.

use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;
use std::time::Duration;

/// Bytes freed per step.
pub const CHUNK: u64 = 8 << 20;
/// Pause between steps: at most ~400 MB/s of frees.
const PAUSE: Duration = Duration::from_millis(20);

static QUEUE: OnceLock<Mutex<Sender<PathBuf>>> = OnceLock::new();

fn queue() -> &'static Mutex<Sender<PathBuf>> {
    QUEUE.get_or_init(|| {
        let (tx, rx) = channel::<PathBuf>();
        let spawned = std::thread::Builder::new()
            .name("tael-delete".into())
            .spawn(move || {
                for path in rx {
                    delete_gradually(&path, PAUSE);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the file deleter; deleting inline");
        }
        Mutex::new(tx)
    })
}

/// Deletes `path` in the background, gradually when it is large. A file
/// that cannot be queued is deleted now.
pub fn delete(path: PathBuf) {
    if let Err(e) = queue().lock().send(path) {
        delete_gradually(&e.0, Duration::ZERO);
    }
}

/// Shrinks `path` by [`CHUNK`] at a time, `pause` apart, then removes it
/// (and its directory, when that is left empty).
/// Failures are logged: the file is unreachable already, and at worst
/// stays until the next start's orphan sweep.
pub fn delete_gradually(path: &Path, pause: Duration) {
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
        let mut len = f.metadata().map(|m| m.len()).unwrap_or(0);
        while len > CHUNK {
            len -= CHUNK;
            if f.set_len(len).is_err() {
                break;
            }
            std::thread::sleep(pause);
        }
    }
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %e, "cannot delete a file");
        }
    }
    // A partition directory goes with its last file (this only succeeds
    // when the directory is empty).
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(3 * CHUNK + 5).unwrap();
        drop(f);
        let small = dir.path().join("small");
        std::fs::write(&small, b"x").unwrap();
        delete_gradually(&big, Duration::ZERO);
        assert!(!big.exists());
        delete(small.clone());
        for _ in 0..200 {
            if !small.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!small.exists(), "queued delete ran");
        // Missing files are not an error.
        delete_gradually(&dir.path().join("gone"), Duration::ZERO);
    }
}
