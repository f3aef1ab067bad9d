//! Filling a replica that is too far behind its leader to catch up from
//! the WAL (a new replica of a shard whose data is flushed, or one gone
//! longer than its leader kept the WAL for it), before its engine opens:
//! it asks the leader where its WAL starts (`GET /internal/wal/oldest`)
//! and, when its own records end before that, replaces its data with a
//! whole copy of the leader's (`GET /internal/snapshot`, the format is
//! documented in `tael_storage::engine::snapshot`) and takes the leader's
//! epoch history. Shipping then goes on from the copy's end.
//!
//! With an object store (`TAEL_OBJECT_STORE`), the copy the leader keeps
//! there is taken first, when the leader's WAL goes on from where it ends
//! (the leader keeps its WAL back to what the store's manifest covers):
//! the leader then only streams the WAL tail. A copy is taken only when
//! none of its records was numbered again by a later leadership (a
//! deposed leader's last copy may hold records it flushed but never
//! acked), and only when, once downloaded, the leader's WAL still goes on
//! from its end.

use crate::config::{ClusterConfig, Mode};
use crate::error::ClusterError;
use crate::etcd::Etcd;
use crate::history::{EpochStart, History};
use crate::leadership::LeaderInfo;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use tael_storage::{Engine, EngineConfig};

pub const OLDEST_ROUTE: &str = "/internal/wal/oldest";
pub const SNAPSHOT_ROUTE: &str = "/internal/snapshot";

/// `GET /internal/wal/oldest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalRange {
    /// The first record the replica can still ship.
    pub oldest_seq: u64,
    /// Its last record.
    pub last_seq: u64,
    /// Its epoch history.
    pub history: Vec<EpochStart>,
}

/// How a replica was filled before its engine opened (in
/// `GET /internal/cluster` as `filled`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Filled {
    /// `object_store` (the leader's copy there) or `leader` (its snapshot).
    pub from: String,
    /// The WAL sequence number the copy covers; the rest came from the
    /// leader's WAL.
    pub covered_seq: u64,
    pub bytes: u64,
    /// How long the copy took.
    pub secs: f64,
}

/// The leader's REST URL, unless this replica is (or was last) the leader.
async fn leader_url(cfg: &ClusterConfig) -> Result<Option<String>, ClusterError> {
    match cfg.mode() {
        Mode::StaticStandby => Ok(cfg.wal_leader.clone()),
        Mode::Etcd => {
            let etcd = Etcd::new(cfg.etcd_endpoints.clone(), Duration::from_secs(2))?;
            let key = format!("{}leader", cfg.shard_prefix());
            let Some(kv) = etcd.get(&key).await? else {
                return Ok(None);
            };
            let l: LeaderInfo = serde_json::from_slice(&kv.value)
                .map_err(|e| ClusterError::Etcd(format!("the leader key holds no leader: {e}")))?;
            Ok((l.node_id != cfg.node_id).then_some(l.url))
        }
        Mode::StaticLeader | Mode::Single => Ok(None),
    }
}

/// Fills the data of `engine` from the object store or the leader when it
/// is too far behind (see the module docs); how, or `None` when nothing
/// was needed or no leader could be asked.
pub async fn fill_if_too_far_behind(
    cfg: &ClusterConfig,
    engine: &EngineConfig,
    fence_dir: &Path,
) -> Result<Option<Filled>, ClusterError> {
    let Some(leader) = leader_url(cfg).await? else {
        return Ok(None);
    };
    let token = cfg.token.clone().unwrap_or_default();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| ClusterError::Config(e.to_string()))?;
    let failed = |e: String| ClusterError::Etcd(format!("{leader}: {e}"));
    let range: WalRange = match http
        .get(format!("{leader}{OLDEST_ROUTE}"))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r.json().await.map_err(|e| failed(e.to_string()))?,
        Ok(r) => return Err(failed(format!("{} from {OLDEST_ROUTE}", r.status()))),
        // A leader that is not there yet: shipping finds out later.
        Err(e) => {
            tracing::info!(leader = %leader, error = %e, "cannot ask the leader where its WAL starts");
            return Ok(None);
        }
    };
    let mine = stored_seq(engine).await?;
    if mine + 1 >= range.oldest_seq {
        return Ok(None);
    }
    let ask_range = {
        let (http, leader, token) = (http.clone(), leader.clone(), token.clone());
        move || -> Option<WalRange> {
            let (http, leader, token) = (http.clone(), leader.clone(), token.clone());
            let ask = async move {
                let r = http
                    .get(format!("{leader}{OLDEST_ROUTE}"))
                    .bearer_auth(&token)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .ok()?;
                r.error_for_status().ok()?.json().await.ok()
            };
            tokio::runtime::Handle::current().block_on(ask)
        }
    };
    match fill_from_store(engine, fence_dir, ask_range).await {
        Ok(Some(filled)) => return Ok(Some(filled)),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot fill this replica from the object store; asking the leader")
        }
    }
    tracing::warn!(
        mine,
        leader_oldest = range.oldest_seq,
        "too far behind the leader for its WAL: copying its data"
    );
    let started = std::time::Instant::now();
    let mut resp = http
        .get(format!("{leader}{SNAPSHOT_ROUTE}"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("{} from {SNAPSHOT_ROUTE}", resp.status())));
    }
    let spool = engine.data_dir.with_extension("snapshot");
    let io = |e: std::io::Error| ClusterError::Fence {
        path: spool.display().to_string(),
        source: e,
    };
    let mut file = std::fs::File::create(&spool).map_err(io)?;
    let mut bytes = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string()))? {
        file.write_all(&chunk).map_err(io)?;
        bytes += chunk.len() as u64;
    }
    file.sync_all().map_err(io)?;
    drop(file);
    let (data, wal, from) = (
        engine.data_dir.clone(),
        engine.wal_dir.clone(),
        spool.clone(),
    );
    let covered = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&data)?;
        let mut f = std::fs::File::open(&from)?;
        tael_storage::install_snapshot(&data, &wal, &mut f).map_err(std::io::Error::other)
    })
    .await
    .map_err(|e| ClusterError::Config(e.to_string()))?
    .map_err(io)?;
    let _ = std::fs::remove_file(&spool);
    replace_history(fence_dir, range.history, covered)?;
    tracing::info!(covered, bytes, "filled from the leader's copy");
    Ok(Some(Filled {
        from: "leader".into(),
        covered_seq: covered,
        bytes,
        secs: started.elapsed().as_secs_f64(),
    }))
}

/// Takes the leader's epoch history as far as a copy covering records
/// through `covered` goes.
fn replace_history(
    fence_dir: &Path,
    history: Vec<EpochStart>,
    covered: u64,
) -> Result<(), ClusterError> {
    let history: Vec<EpochStart> = history
        .into_iter()
        .filter(|e| e.first_seq <= covered + 1)
        .collect();
    History::replace(fence_dir, &history)
}

/// The records this replica holds (parts and WAL).
async fn stored_seq(engine: &EngineConfig) -> Result<u64, ClusterError> {
    let ec = engine.clone();
    tokio::task::spawn_blocking(move || Engine::stored_seq(&ec))
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?
        .map_err(|e| ClusterError::Config(e.to_string()))
}

/// Whether a copy of the store, written by the leader of `epoch` and
/// covering records through `flushed`, fits the leader's WAL and history
/// (`range`): its WAL goes on from the copy's end, the copy's epoch is
/// one the history knows (not a newer leader's than the one asked), and
/// no later epoch numbered any of the copy's records again.
fn copy_fits(range: &WalRange, epoch: u64, flushed: u64) -> bool {
    flushed + 1 >= range.oldest_seq
        && range.history.last().is_some_and(|l| epoch <= l.epoch)
        && !range
            .history
            .iter()
            .any(|e| e.epoch > epoch && e.first_seq <= flushed)
}

/// Replaces this replica's data with the object store's copy when it fits
/// the leader's WAL and history ([`copy_fits`]), asked of the leader
/// (`ask_range`, on the blocking pool) before each attempt and again once
/// the copy is downloaded (its WAL must still go on from the copy's end),
/// then takes the leader's history as far as the copy goes (see
/// `tael_storage::objects::copy`); how, `None` without a store, a copy,
/// an answer from the leader, or when the copy does not fit.
async fn fill_from_store(
    engine: &EngineConfig,
    fence_dir: &Path,
    ask_range: impl Fn() -> Option<WalRange> + Clone + Send + 'static,
) -> Result<Option<Filled>, ClusterError> {
    if !matches!(
        engine.backend,
        tael_storage::objects::Backend::Store { replica: true, .. }
    ) {
        return Ok(None);
    }
    let (data, wal, backend) = (
        engine.data_dir.clone(),
        engine.wal_dir.clone(),
        engine.backend.clone(),
    );
    let started = std::time::Instant::now();
    // Twice more when it fails: a new leader may replace the copy while
    // it is read (its manifest lands, the old epoch's objects go), or the
    // leader compact a part away.
    let mut attempt = 0;
    let copied = loop {
        let (data, wal, backend) = (data.clone(), wal.clone(), backend.clone());
        let ask = ask_range.clone();
        let res = tokio::task::spawn_blocking(move || {
            let Some(range) = ask() else {
                return Ok(None);
            };
            let fitting = range.clone();
            let fits = move |epoch, flushed| copy_fits(&fitting, epoch, flushed);
            let still = move |flushed: u64| ask().is_some_and(|r| flushed + 1 >= r.oldest_seq);
            tael_storage::install_from_store(&data, &wal, &backend, fits, still)
                .map(|c| c.map(|c| (c, range)))
        })
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?;
        match res {
            Ok(c) => break c,
            Err(e) if attempt < 2 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "filling from the object store failed; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                return Err(ClusterError::Config(format!(
                    "filling from the object store: {e}"
                )))
            }
        }
    };
    let secs = started.elapsed().as_secs_f64();
    let Some((c, range)) = copied else {
        return Ok(None);
    };
    replace_history(fence_dir, range.history, c.flushed_seq)?;
    tracing::info!(
        covered = c.flushed_seq,
        epoch = c.epoch,
        files = c.files,
        bytes = c.bytes,
        secs,
        "filled from the object store's copy"
    );
    Ok(Some(Filled {
        from: "object_store".into(),
        covered_seq: c.flushed_seq,
        bytes: c.bytes,
        secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_fits_when_the_wal_goes_on_from_it_and_no_later_epoch_renumbered_it() {
        let range = WalRange {
            oldest_seq: 5,
            last_seq: 20,
            history: vec![
                EpochStart {
                    epoch: 1,
                    first_seq: 1,
                },
                EpochStart {
                    epoch: 7,
                    first_seq: 15,
                },
            ],
        };
        assert!(copy_fits(&range, 1, 10));
        assert!(copy_fits(&range, 7, 18));
        // Epoch 7 numbered records from 15 again: epoch 1's copy of 16 is not its.
        assert!(!copy_fits(&range, 1, 16));
        // The leader's WAL starts after the copy's end.
        assert!(!copy_fits(&range, 7, 3));
        // A copy of an epoch the leader asked does not know (a newer one).
        assert!(!copy_fits(&range, 9, 18));
    }
}
