//! Whole copies of a replica's durable data, for a standby too far behind
//! its leader to catch up from the WAL (the leader has flushed and dropped
//! the records it lacks).
//!
//! # Format
//!
//! A stream of bytes:
//!
//! ```text
//! "TAELSNAP1\n"
//! then per file:  u32 LE path length (> 0) | path (UTF-8, relative to the
//!                 data dir) | u64 LE file length | the file's bytes
//! then:           u32 LE 0 | u64 LE flushed_seq | u32 LE crc32 of every
//!                 byte before it
//! ```
//!
//! The copy holds the manifest (first: every part and blob it needs is
//! copied after it), the parts with their sidecars, the blob packs and the
//! comments. The text index is not copied (the receiving engine rebuilds
//! it from the parts), nor the WAL: the copy covers records up to
//! `flushed_seq`, and the standby takes the rest from the leader's WAL,
//! which is kept from `flushed_seq + 1` on for [`PIN_FOR`].

use super::Engine;
use crate::error::StorageError;
use crate::manifest::Manifest;
use crate::objects::Objects;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MAGIC: &[u8] = b"TAELSNAP1\n";
/// How long the WAL after a copy is kept for the standby that fetched it.
pub const PIN_FOR: Duration = Duration::from_secs(300);
/// Files a copy leaves out (by their first path component).
const NOT_COPIED: &[&str] = &["LOCK", "cluster", "text", "wal", "MANIFEST.json"];

/// Counts and checksums what goes through it.
struct Summed<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Summed<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes)
    }
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let first = rel
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().to_string());
        if first.as_deref().is_some_and(|f| NOT_COPIED.contains(&f)) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".tmp") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            files_under(root, &path, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

impl Engine {
    /// Writes a copy of this replica's durable data to `out` (see the
    /// module docs): flushes first, holds compaction, retention and blob
    /// collection while it copies, and keeps the WAL after the copy for
    /// [`PIN_FOR`]. Returns the sequence number it covers.
    pub fn write_snapshot(&self, out: &mut dyn Write) -> Result<u64, StorageError> {
        self.flush()?;
        let _held = self.compact_lock.lock();
        let data_dir = self.cfg.data_dir.clone();
        let manifest_path = data_dir.join("MANIFEST.json");
        let manifest =
            std::fs::read(&manifest_path).map_err(|e| StorageError::io(&manifest_path, e))?;
        let flushed = serde_json::from_slice::<Manifest>(&manifest)
            .map_err(|e| StorageError::Corrupt(format!("manifest: {e}")))?
            .flushed_seq;
        *self.snapshot_pin.lock() = Some((flushed + 1, Instant::now()));
        let io = |e: std::io::Error| StorageError::io(&data_dir, e);
        let mut w = Summed {
            inner: out,
            crc: crc32fast::Hasher::new(),
        };
        w.put(MAGIC).map_err(io)?;
        let put_file =
            |w: &mut Summed<&mut dyn Write>, rel: &str, bytes: &mut dyn Read, len: u64| {
                w.put(&(rel.len() as u32).to_le_bytes())?;
                w.put(rel.as_bytes())?;
                w.put(&len.to_le_bytes())?;
                let mut left = len;
                let mut buf = vec![0u8; 1 << 20];
                while left > 0 {
                    let n = bytes.read(&mut buf[..(left.min(1 << 20) as usize)])?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    w.put(&buf[..n])?;
                    left -= n as u64;
                }
                Ok::<(), std::io::Error>(())
            };
        put_file(
            &mut w,
            "MANIFEST.json",
            &mut manifest.as_slice(),
            manifest.len() as u64,
        )
        .map_err(io)?;
        let mut files = Vec::new();
        files_under(&data_dir, &data_dir, &mut files).map_err(io)?;
        files.sort();
        for rel in files {
            let path = data_dir.join(&rel);
            let Ok(mut f) = std::fs::File::open(&path) else {
                // Gone since it was listed (an orphan removed): not needed.
                continue;
            };
            // The length now: a pack still written to is copied as far as
            // it is, which holds every blob the copied parts refer to.
            let len = f.metadata().map_err(|e| StorageError::io(&path, e))?.len();
            let rel = rel.to_string_lossy().to_string();
            put_file(&mut w, &rel, &mut f, len).map_err(|e| StorageError::io(&path, e))?;
        }
        w.put(&0u32.to_le_bytes()).map_err(io)?;
        w.put(&flushed.to_le_bytes()).map_err(io)?;
        let crc = w.crc.clone().finalize();
        w.inner.write_all(&crc.to_le_bytes()).map_err(io)?;
        w.inner.flush().map_err(io)?;
        Ok(flushed)
    }

    /// The first WAL sequence number this replica can still ship.
    pub fn oldest_wal_seq(&self) -> u64 {
        self.wal.oldest_seq()
    }

    /// Whether a copy made lately still needs the WAL from some number on.
    pub(crate) fn snapshot_hold(&self) -> u64 {
        let mut pin = self.snapshot_pin.lock();
        match *pin {
            Some((from, at)) if at.elapsed() < PIN_FOR => from,
            _ => {
                *pin = None;
                u64::MAX
            }
        }
    }

    /// The last WAL sequence number the engine of `cfg` holds, read
    /// without opening it (the manifest's and the WAL's).
    pub fn stored_seq(cfg: &super::EngineConfig) -> Result<u64, StorageError> {
        let flushed = match cfg.data_dir.join("MANIFEST.json").exists() {
            true => {
                Manifest::load(&Objects::open(
                    &cfg.data_dir,
                    &cfg.backend,
                    cfg.cache_bytes,
                )?)?
                .flushed_seq
            }
            false => 0,
        };
        Ok(flushed.max(crate::wal::Wal::last_seq_in(&cfg.wal_dir)?))
    }
}

fn read_exact(r: &mut dyn Read, n: usize, crc: &mut crc32fast::Hasher) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)
        .map_err(|e| format!("the copy ends early: {e}"))?;
    crc.update(&buf);
    Ok(buf)
}

/// Replaces the data of `data_dir` and `wal_dir` with a copy read from
/// `input` (see the module docs): files go to a new directory first and
/// replace the old ones only once the whole copy checked out; the WAL
/// then starts empty at `flushed_seq + 1`. `cluster/` (the fence and the
/// history) is kept. Returns `flushed_seq`.
pub fn install_snapshot(
    data_dir: &Path,
    wal_dir: &Path,
    input: &mut dyn Read,
) -> Result<u64, StorageError> {
    let staging = data_dir.with_extension("incoming");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| StorageError::io(&staging, e))?;
    let res =
        receive(&staging, input).and_then(|flushed| swap_in(data_dir, wal_dir, &staging, flushed));
    let _ = std::fs::remove_dir_all(&staging);
    res
}

/// Replaces the data of `data_dir` and `wal_dir` with the copy the object
/// store of a replica's `backend` holds (see [`crate::objects::copy`]),
/// when `wanted(epoch, flushed_seq)` before it is downloaded and
/// `still_wanted(flushed_seq)` once it is: downloaded to a new directory
/// first, it replaces the old data only once whole; the WAL then starts
/// empty at `flushed_seq + 1`. `cluster/` is kept. `None`: no copy, or not
/// wanted.
pub fn install_from_store(
    data_dir: &Path,
    wal_dir: &Path,
    backend: &crate::objects::Backend,
    wanted: impl FnOnce(u64, u64) -> bool + Send + 'static,
    still_wanted: impl FnOnce(u64) -> bool,
) -> Result<Option<crate::objects::copy::Copied>, StorageError> {
    let staging = data_dir.with_extension("incoming");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| StorageError::io(&staging, e))?;
    std::fs::create_dir_all(data_dir).map_err(|e| StorageError::io(data_dir, e))?;
    let res = crate::objects::copy::download(backend, &staging, wanted).and_then(|c| match c {
        Some(c) if still_wanted(c.flushed_seq) => {
            swap_in(data_dir, wal_dir, &staging, c.flushed_seq).map(|_| Some(c))
        }
        _ => Ok(None),
    });
    let _ = std::fs::remove_dir_all(&staging);
    res
}

/// Reads a copy into `staging`, checking it whole; its `flushed_seq`.
fn receive(staging: &Path, input: &mut dyn Read) -> Result<u64, StorageError> {
    let bad = |m: String| StorageError::InvalidArgument(format!("snapshot: {m}"));
    let mut crc = crc32fast::Hasher::new();
    if read_exact(input, MAGIC.len(), &mut crc).map_err(bad)? != MAGIC {
        return Err(bad("not a tael snapshot".into()));
    }
    let flushed = loop {
        let len = u32::from_le_bytes(
            read_exact(input, 4, &mut crc)
                .map_err(bad)?
                .try_into()
                .unwrap_or([0; 4]),
        );
        if len == 0 {
            let seq = read_exact(input, 8, &mut crc).map_err(bad)?;
            break u64::from_le_bytes(seq.try_into().unwrap_or([0; 8]));
        }
        let rel = String::from_utf8(read_exact(input, len as usize, &mut crc).map_err(bad)?)
            .map_err(|_| bad("a path that is not UTF-8".into()))?;
        let rel_path = Path::new(&rel);
        if rel_path.is_absolute()
            || rel_path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(bad(format!("a path outside the data dir: {rel}")));
        }
        let size = u64::from_le_bytes(
            read_exact(input, 8, &mut crc)
                .map_err(bad)?
                .try_into()
                .unwrap_or([0; 8]),
        );
        let path = staging.join(rel_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::io(parent, e))?;
        }
        let mut f = std::fs::File::create(&path).map_err(|e| StorageError::io(&path, e))?;
        let mut left = size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            input
                .read_exact(&mut buf[..n])
                .map_err(|e| bad(format!("the copy ends early in {rel}: {e}")))?;
            crc.update(&buf[..n]);
            f.write_all(&buf[..n])
                .map_err(|e| StorageError::io(&path, e))?;
            left -= n as u64;
        }
        f.sync_all().map_err(|e| StorageError::io(&path, e))?;
    };
    let mut sum = [0u8; 4];
    input
        .read_exact(&mut sum)
        .map_err(|e| bad(format!("no checksum: {e}")))?;
    if u32::from_le_bytes(sum) != crc.finalize() {
        return Err(bad("checksum mismatch".into()));
    }
    Ok(flushed)
}

/// Replaces the data with what `staging` holds (everything but the fence
/// and history goes) and starts the WAL at `flushed + 1`.
fn swap_in(
    data_dir: &Path,
    wal_dir: &Path,
    staging: &Path,
    flushed: u64,
) -> Result<u64, StorageError> {
    for entry in std::fs::read_dir(data_dir).map_err(|e| StorageError::io(data_dir, e))? {
        let entry = entry.map_err(|e| StorageError::io(data_dir, e))?;
        let name = entry.file_name();
        if name == "cluster" || name == "LOCK" {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type().map(|t| t.is_dir()) {
            Ok(true) => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        gone.map_err(|e| StorageError::io(&path, e))?;
    }
    for entry in std::fs::read_dir(staging).map_err(|e| StorageError::io(staging, e))? {
        let entry = entry.map_err(|e| StorageError::io(staging, e))?;
        let to = data_dir.join(entry.file_name());
        std::fs::rename(entry.path(), &to).map_err(|e| StorageError::io(&to, e))?;
    }
    crate::wal::Wal::reset(wal_dir, flushed + 1)?;
    crate::wal::sync_dir(data_dir)?;
    Ok(flushed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_of(files: &[(&str, &[u8])], flushed: u64) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (path, bytes) in files {
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&flushed.to_le_bytes());
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn a_copy_replaces_the_data_only_when_it_checks_out() {
        let dir = tempfile::tempdir().unwrap();
        let (data, wal) = (dir.path().join("data"), dir.path().join("data/wal"));
        std::fs::create_dir_all(data.join("cluster")).unwrap();
        std::fs::write(data.join("cluster/EPOCH"), "tael-epoch 1 4\n").unwrap();
        std::fs::write(data.join("old.txt"), "old").unwrap();
        let good = copy_of(
            &[("MANIFEST.json", b"{}"), ("spans/p.parquet", b"part")],
            41,
        );

        let mut torn = good.clone();
        torn.truncate(good.len() - 9);
        assert!(install_snapshot(&data, &wal, &mut torn.as_slice()).is_err());
        let mut flipped = good.clone();
        flipped[MAGIC.len() + 20] ^= 1;
        assert!(install_snapshot(&data, &wal, &mut flipped.as_slice()).is_err());
        let outside = copy_of(&[("../escape", b"x")], 1);
        assert!(install_snapshot(&data, &wal, &mut outside.as_slice()).is_err());
        assert!(!dir.path().join("escape").exists());
        assert!(!data.with_extension("incoming").exists());
        assert_eq!(
            std::fs::read_to_string(data.join("old.txt")).unwrap(),
            "old"
        );

        assert_eq!(
            install_snapshot(&data, &wal, &mut good.as_slice()).unwrap(),
            41
        );
        assert!(!data.join("old.txt").exists());
        assert_eq!(
            std::fs::read(data.join("spans/p.parquet")).unwrap(),
            b"part"
        );
        assert!(data.join("cluster/EPOCH").exists(), "the fence stays");
        let (w, recs) = crate::wal::Wal::open(&wal, 1 << 20).unwrap();
        assert!(recs.is_empty());
        assert_eq!(w.append(1, b"next", |_| ()).unwrap().0, 42);
    }
}
