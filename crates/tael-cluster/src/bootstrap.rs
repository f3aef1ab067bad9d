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
//! the leader then only streams the WAL tail. A replica with nothing
//! stored and no leader to ask (the whole shard restarting) is filled
//! from the store's copy too.

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
        if stored_seq(engine).await? > 0 {
            return Ok(None);
        }
        return fill_from_store(engine, 0).await;
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
    match fill_from_store(engine, range.oldest_seq).await {
        Ok(Some(filled)) => {
            replace_history(fence_dir, range.history, filled.covered_seq)?;
            return Ok(Some(filled));
        }
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

/// Replaces this replica's data with the object store's copy when the
/// leader's WAL goes on from where the copy ends (its oldest record is
/// `leader_oldest`, 0 when there is no leader; see
/// `tael_storage::objects::copy`); how, `None` without a store, a copy,
/// or when the copy is too old.
async fn fill_from_store(
    engine: &EngineConfig,
    leader_oldest: u64,
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
    // it is read (its manifest lands, the old epoch's objects go).
    let mut attempt = 0;
    let copied = loop {
        let (data, wal, backend) = (data.clone(), wal.clone(), backend.clone());
        let res = tokio::task::spawn_blocking(move || {
            tael_storage::install_from_store(&data, &wal, &backend, move |flushed| {
                flushed + 1 >= leader_oldest
            })
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
    Ok(copied.map(|c| {
        tracing::info!(
            covered = c.flushed_seq,
            epoch = c.epoch,
            files = c.files,
            bytes = c.bytes,
            secs,
            "filled from the object store's copy"
        );
        Filled {
            from: "object_store".into(),
            covered_seq: c.flushed_seq,
            bytes: c.bytes,
            secs,
        }
    }))
}
