//! What the replicas of a shard tell each other through etcd, besides the
//! leader key (all under `/tael/<cluster>/shards/<id>/`, values JSON):
//!
//! - `members/<node_id>` = `{"node_id", "url", "applied_seq"}`, on a lease
//!   of the member's own, rewritten every poll: who the replicas are (the
//!   leader ships to them) and how many records each holds.
//! - `in_sync` = `{"epoch", "nodes": [...]}`: the replicas that hold every
//!   acked record, written by the leader only (a transaction guarded by its
//!   leader key). A standby is added once it has caught up and removed
//!   before a write is acked without it, so only a member of this set may
//!   take over; among those alive, none with fewer records than another.
//! - `epochs/<epoch:020>` = `{"first_seq"}`: where each leadership's
//!   records start, written by a new leader before it acks anything. A
//!   replica that restarts drops the records of its WAL that a later epoch
//!   numbered again (written, never acked, before it lost leadership).

use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::etcd::Etcd;
use crate::history::History;
use crate::leadership::{Inner, Leadership};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A replica of the shard, as its member key says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: String,
    pub url: String,
    pub applied_seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InSync {
    epoch: u64,
    nodes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EpochKey {
    first_seq: u64,
}

impl Inner {
    fn members_prefix(&self) -> String {
        format!("{}members/", self.prefix)
    }

    fn in_sync_key(&self) -> String {
        format!("{}in_sync", self.prefix)
    }

    /// Whether this replica may try to lead now (see the module docs).
    pub(crate) async fn may_campaign(&self) -> Result<bool, ClusterError> {
        let etcd = self.etcd()?;
        let Some(kv) = etcd.get(&self.in_sync_key()).await? else {
            return Ok(true);
        };
        let set: InSync = serde_json::from_slice(&kv.value)
            .map_err(|e| ClusterError::Etcd(format!("the in-sync set is not readable: {e}")))?;
        let me = &self.cfg.node_id;
        if !set.nodes.contains(me) {
            tracing::debug!(node = %me, in_sync = ?set.nodes, "not in sync: not campaigning");
            return Ok(false);
        }
        let mine = (self.progress)();
        let ahead = members(etcd, &self.members_prefix())
            .await?
            .into_iter()
            .find(|m| &m.node_id != me && set.nodes.contains(&m.node_id) && m.applied_seq > mine);
        if let Some(m) = ahead {
            tracing::info!(node = %me, ahead = %m.node_id, "a replica with more records is alive: not campaigning");
            return Ok(false);
        }
        Ok(true)
    }

    /// Records, before any write is acked under `epoch`, where its
    /// records start: in this replica's history and in etcd; and makes
    /// this replica the in-sync set.
    pub(crate) async fn begin_epoch(&self, epoch: u64) -> Result<(), ClusterError> {
        let etcd = self.etcd()?;
        let first_seq = (self.progress)() + 1;
        self.history.begin(epoch, first_seq)?;
        let key = format!("{}epochs/{epoch:020}", self.prefix);
        let value = serde_json::to_vec(&EpochKey { first_seq })
            .map_err(|e| ClusterError::Etcd(e.to_string()))?;
        if !etcd
            .put_if_created(&key, &value, &self.key, epoch as i64)
            .await?
        {
            return Err(ClusterError::Etcd(
                "lost the leader key while taking over".into(),
            ));
        }
        self.put_in_sync(epoch, vec![self.cfg.node_id.clone()])
            .await
    }

    async fn put_in_sync(&self, epoch: u64, nodes: Vec<String>) -> Result<(), ClusterError> {
        let value = serde_json::to_vec(&InSync { epoch, nodes })
            .map_err(|e| ClusterError::Etcd(e.to_string()))?;
        match self
            .etcd()?
            .put_if_created(&self.in_sync_key(), &value, &self.key, epoch as i64)
            .await?
        {
            true => Ok(()),
            false => Err(ClusterError::Etcd("no longer the leader".into())),
        }
    }

    /// Keeps this replica's member key current until `stop`.
    pub(crate) async fn publish_member(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let key = format!("{}{}", self.members_prefix(), self.cfg.node_id);
        let mut lease = None;
        while !*stop.borrow() {
            if let Err(e) = self.put_member(&key, &mut lease).await {
                tracing::debug!(error = %e, "cannot publish the member key");
                lease = None;
            }
            let _ = tokio::time::timeout(self.poll(), stop.changed()).await;
        }
        if let (Some(l), Ok(etcd)) = (lease, self.etcd()) {
            let _ = etcd.revoke(l).await;
        }
    }

    async fn put_member(&self, key: &str, lease: &mut Option<i64>) -> Result<(), ClusterError> {
        let etcd = self.etcd()?;
        let id = match *lease {
            Some(id) if etcd.keep_alive(id).await? > 0 => id,
            _ => etcd.grant(self.cfg.lease_secs()).await?.0,
        };
        *lease = Some(id);
        let me = Member {
            node_id: self.cfg.node_id.clone(),
            url: self.url.lock().clone(),
            applied_seq: (self.progress)(),
        };
        let value = serde_json::to_vec(&me).map_err(|e| ClusterError::Etcd(e.to_string()))?;
        etcd.put(key, &value, id).await
    }
}

async fn members(etcd: &Etcd, prefix: &str) -> Result<Vec<Member>, ClusterError> {
    let kvs = etcd.get_prefix(prefix).await?;
    Ok(kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect())
}

/// The REST URLs of shard `shard`'s replicas as its members' keys say,
/// its leader first (for the query and ingest tiers, which follow the
/// membership of every shard).
pub async fn shard_replicas(
    etcd: &Etcd,
    cluster: &str,
    shard: u32,
) -> Result<Vec<String>, ClusterError> {
    let prefix = crate::config::shard_prefix_of(cluster, shard);
    let mut urls: Vec<String> = members(etcd, &format!("{prefix}members/"))
        .await?
        .into_iter()
        .map(|m| m.url)
        .filter(|u| !u.is_empty())
        .collect();
    let leader = etcd
        .get(&format!("{prefix}leader"))
        .await?
        .and_then(|kv| serde_json::from_slice::<crate::leadership::LeaderInfo>(&kv.value).ok());
    if let Some(l) = leader.filter(|l| !l.url.is_empty()) {
        urls.retain(|u| *u != l.url);
        urls.insert(0, l.url);
    }
    Ok(urls)
}

impl Leadership {
    /// The other replicas of the shard: the members in etcd, or the
    /// configured standbys in static mode (named by their URLs).
    pub async fn peers(&self) -> Result<Vec<Member>, ClusterError> {
        let i = &self.inner;
        match &i.etcd {
            Some(etcd) => Ok(members(etcd, &i.members_prefix())
                .await?
                .into_iter()
                .filter(|m| m.node_id != i.cfg.node_id)
                .collect()),
            None => Ok(i
                .cfg
                .wal_standbys
                .iter()
                .map(|u| Member {
                    node_id: u.clone(),
                    url: u.clone(),
                    applied_seq: 0,
                })
                .collect()),
        }
    }

    /// Publishes the in-sync set of `epoch`: this leader and `standbys`
    /// (etcd mode; nothing to do in static mode).
    pub async fn publish_in_sync(
        &self,
        epoch: u64,
        standbys: Vec<String>,
    ) -> Result<(), ClusterError> {
        let i = &self.inner;
        if i.etcd.is_none() {
            return Ok(());
        }
        let mut nodes = vec![i.cfg.node_id.clone()];
        nodes.extend(standbys);
        i.put_in_sync(epoch, nodes).await
    }
}

/// The last WAL sequence number a restarting replica may keep: when a
/// later leadership (in etcd) started numbering at or before records this
/// replica wrote under an older one, those records were never acked and
/// the successor has other records under their numbers. `None` when
/// nothing must go (or in static mode).
pub async fn keep_through(
    cfg: &ClusterConfig,
    fence_dir: &Path,
) -> Result<Option<u64>, ClusterError> {
    if cfg.etcd_endpoints.is_empty() {
        return Ok(None);
    }
    let mine = History::open(fence_dir)?.last().map_or(0, |e| e.epoch);
    let etcd = Etcd::new(cfg.etcd_endpoints.clone(), Duration::from_secs(2))?;
    let prefix = format!("{}epochs/", cfg.shard_prefix());
    let mut last_err = None;
    for _ in 0..10 {
        match etcd.get_prefix(&prefix).await {
            Ok(kvs) => {
                let first = kvs
                    .iter()
                    .filter_map(|kv| {
                        let epoch: u64 = std::str::from_utf8(&kv.key)
                            .ok()?
                            .strip_prefix(&prefix)?
                            .parse()
                            .ok()?;
                        let e: EpochKey = serde_json::from_slice(&kv.value).ok()?;
                        (epoch > mine).then_some(e.first_seq)
                    })
                    .min();
                return Ok(first.map(|f| f.saturating_sub(1)));
            }
            Err(e) => last_err = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last_err.unwrap_or_else(|| ClusterError::Etcd("no answer".into())))
}
