//! Filling a replica from the object store: the leader's copy that the
//! store holds (its manifest at the shard's prefix, the objects under the
//! manifest's `epoch-<E>/`, see [`super::uploads`]) downloaded into an
//! empty directory, before the replica's engine opens. What it holds:
//! the manifest (its `epoch` cleared: locally it names no epoch), every
//! part with its rollup sidecar, the blob packs and the comments. The text
//! index is rebuilt from the parts by the engine; the WAL after the
//! manifest's `flushed_seq` comes from the leader.
//!
//! Files are streamed to disk (never whole in memory) and fsynced (also
//! the download of one evicted part, `Objects::fetch`); a part
//! the store no longer has (the leader compacted it away after a newer
//! manifest) fails the copy, which the caller may try again.

use super::remote::{self, key};
use super::uploads::{epoch_of_manifest, epoch_prefix};
use super::Backend;
use crate::error::StorageError;
use crate::manifest::Manifest;
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// What was copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// The WAL sequence number the copy covers.
    pub flushed_seq: u64,
    /// The leader's epoch that wrote it.
    pub epoch: u64,
    pub files: u64,
    pub bytes: u64,
}

/// Downloads the store's copy of a replica's `backend` into `dir` (which
/// should be empty) when `wanted(epoch, flushed_seq)` says it is of use
/// (it is asked after the manifest is read, before anything else is
/// fetched). `None`: no copy, or not wanted. A copy that changed hands
/// while it was read (the manifest names another epoch at the end: the
/// objects read may be gone) or lost a listed blob pack meanwhile is an
/// error; the caller may try again.
pub fn download(
    backend: &Backend,
    dir: &Path,
    wanted: impl FnOnce(u64, u64) -> bool + Send + 'static,
) -> Result<Option<Copied>, StorageError> {
    let Backend::Store {
        store,
        network,
        prefix,
        replica: true,
        ..
    } = backend
    else {
        return Ok(None);
    };
    let io = network.then(remote::IoRuntime::start).transpose()?;
    let (store, prefix, dir) = (store.clone(), prefix.clone(), dir.to_path_buf());
    remote::run(io.as_ref().map(|r| r.handle()), async move {
        let Some(mut m) = manifest(&store, &prefix).await? else {
            return Ok(None);
        };
        if !wanted(m.epoch, m.flushed_seq) {
            return Ok(None);
        }
        let data = epoch_prefix(&prefix, m.epoch);
        let mut copied = Copied {
            flushed_seq: m.flushed_seq,
            epoch: m.epoch,
            ..Copied::default()
        };
        let mut count = |n: Option<u64>| {
            if let Some(n) = n {
                copied.files += 1;
                copied.bytes += n;
            }
        };
        for p in &m.parts {
            let n = fetch(&store, &data, &p.path, &dir).await?;
            if n.is_none() {
                return Err(StorageError::Unavailable(format!(
                    "{}: the store's copy no longer has it (compacted meanwhile)",
                    p.path
                )));
            }
            count(n);
            count(fetch(&store, &data, &crate::part::rollup_location(&p.path), &dir).await?);
        }
        let packs = super::list(store.clone(), data.clone(), "blobs".into()).await?;
        for (location, _) in packs {
            let n = fetch(&store, &data, &location, &dir).await?;
            if n.is_none() {
                return Err(StorageError::Unavailable(format!(
                    "{location}: gone from the store's copy while it was read"
                )));
            }
            count(n);
        }
        count(fetch(&store, &data, crate::comments::LOCATION, &dir).await?);
        let now = manifest(&store, &prefix).await?.map(|m| m.epoch);
        if now != Some(m.epoch) {
            return Err(StorageError::Unavailable(format!(
                "the store's copy changed hands while it was read (epoch {} then {now:?})",
                m.epoch
            )));
        }
        m.epoch = 0;
        let bytes = serde_json::to_vec(&m).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        crate::part::write_file_durably(&dir.join("MANIFEST.json"), &bytes)?;
        Ok(Some(copied))
    })
}

/// The store's manifest under `prefix`, with the epoch it names.
async fn manifest(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
) -> Result<Option<Manifest>, StorageError> {
    let got = match store.get(&key(prefix, "MANIFEST.json")).await {
        Ok(got) => got.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|e| super::store_error("cannot read", "MANIFEST.json", e))?;
    let mut m: Manifest = serde_json::from_slice(&got)
        .map_err(|e| StorageError::Corrupt(format!("the store's MANIFEST.json: {e}")))?;
    m.epoch = epoch_of_manifest(&got);
    Ok(Some(m))
}

/// Streams the object of `location` under `prefix` to `<dir>/<location>`
/// (durably: a temporary file beside it, fsynced, renamed over it); its
/// size, `None` when the store has no such object.
pub(crate) async fn fetch(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    location: &str,
    dir: &Path,
) -> Result<Option<u64>, StorageError> {
    let failed = |e: object_store::Error| super::store_error("cannot read", location, e);
    let got = match store.get(&key(prefix, location)).await {
        Ok(got) => got,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    let path = dir.join(location);
    let parent = path
        .parent()
        .ok_or_else(|| StorageError::Corrupt(format!("{location}: no parent")))?;
    std::fs::create_dir_all(parent).map_err(|e| StorageError::io(parent, e))?;
    let tmp = path.with_extension("download");
    let mut file = std::fs::File::create(&tmp).map_err(|e| StorageError::io(&tmp, e))?;
    let mut stream = got.into_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(failed(e));
            }
        };
        if let Err(e) = file.write_all(&chunk) {
            let _ = std::fs::remove_file(&tmp);
            return Err(StorageError::io(&tmp, e));
        }
        n += chunk.len() as u64;
    }
    let done = file
        .sync_all()
        .map_err(|e| StorageError::io(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e)));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    crate::wal::sync_dir(parent)?;
    Ok(Some(n))
}
