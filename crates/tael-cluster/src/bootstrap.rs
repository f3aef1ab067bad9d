//! Filling a replica that is too far behind its leader to catch up from
//! the WAL (a new replica of a shard whose data is flushed, or one gone
//! longer than its leader kept the WAL for it), before its engine opens:
//! it asks the leader where its WAL starts (`GET /internal/wal/oldest`)
//! and, when its own records end before that, replaces its data with a
//! whole copy of the leader's (`GET /internal/snapshot`, the format is
//! documented in `tael_storage::engine::snapshot`) and takes the leader's
//! epoch history. Shipping then goes on from the copy's end.

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

/// Fills the data of `engine` from the leader when it is too far behind
/// (see the module docs); the sequence number the copy covers, or `None`
/// when nothing was needed or no leader could be asked.
pub async fn fill_if_too_far_behind(
    cfg: &ClusterConfig,
    engine: &EngineConfig,
    fence_dir: &Path,
) -> Result<Option<u64>, ClusterError> {
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
    let ec = engine.clone();
    let mine = tokio::task::spawn_blocking(move || Engine::stored_seq(&ec))
        .await
        .map_err(|e| ClusterError::Config(e.to_string()))?
        .map_err(|e| ClusterError::Config(e.to_string()))?;
    if mine + 1 >= range.oldest_seq {
        return Ok(None);
    }
    tracing::warn!(
        mine,
        leader_oldest = range.oldest_seq,
        "too far behind the leader for its WAL: copying its data"
    );
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
    let history: Vec<EpochStart> = range
        .history
        .into_iter()
        .filter(|e| e.first_seq <= covered + 1)
        .collect();
    History::replace(fence_dir, &history)?;
    tracing::info!(covered, bytes, "filled from the leader's copy");
    Ok(Some(covered))
}
