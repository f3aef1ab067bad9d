//! Leadership of a shard on an etcd lease. Every replica runs the same
//! loop:
//!
//! 1. grant a lease of `TAEL_LEADER_LEASE` and try to create the leader
//!    key `/tael/<cluster>/shards/<id>/leader` on it (a transaction that
//!    succeeds only when the key is absent). The value is
//!    `{"node_id", "url"}`; the key's creation revision is the epoch.
//! 2. Won: raise the durable fence to the epoch (refusing to lead when the
//!    fence is already higher, i.e. etcd lost its data), then renew the
//!    lease every third of its TTL. The replica may ack writes only until
//!    `sent + TTL − margin`, where `sent` is when the last successful
//!    renewal was sent: the lease cannot have expired in etcd before that
//!    instant, so a leader that cannot reach etcd stops acking before a
//!    successor can be elected. When the deadline passes, or etcd says the
//!    lease is gone, it steps down and starts again at 1.
//! 3. Lost: revoke its own lease; when the key names this replica itself
//!    (left from before a restart), delete it and go to 1. Otherwise raise
//!    the fence to the leader's epoch and read the leader key every
//!    quarter lease (at most 1 s); when the key is gone (the leader's
//!    lease lapsed, or it resigned), go to 1.
//!
//! Before step 1 a replica checks that it may lead (`membership.rs`): it
//! must be in the shard's in-sync set, and no live member of that set may
//! hold more records. On winning, before it acks anything, it records where
//! its epoch starts in its history (`history.rs`) and in etcd.
//!
//! On shutdown a leader deletes its key (only if it is still its own) and
//! revokes its lease, so that a standby takes over at its next poll.
//!
//! Static mode (`TAEL_WAL_STANDBYS` / `TAEL_WAL_LEADER`, no etcd) has no
//! loop: the role and epoch are the configured ones.

use crate::config::{ClusterConfig, Mode};
use crate::error::ClusterError;
use crate::etcd::{Created, Etcd, Kv};
use crate::fence::Fence;
use crate::history::History;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tael_storage::StorageError;
use tokio::sync::watch;

/// Why shipped records are refused.
#[derive(Debug)]
pub enum Refusal {
    /// Their epoch is not the newest this replica knows.
    Fenced(String),
    /// This replica holds records the leader does not.
    Diverged(String),
    /// The fence or history could not be written.
    Failed(ClusterError),
}

/// What this replica is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Not leading, and no leader known to be alive (starting, or etcd
    /// unreachable).
    Candidate,
    Leader,
    Standby,
}

/// The replica that leads, as its key says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaderInfo {
    pub node_id: String,
    /// Its REST URL.
    pub url: String,
    /// The key's creation revision (not in the stored value).
    #[serde(default)]
    pub epoch: u64,
}

#[derive(Debug)]
struct State {
    role: Role,
    leader: Option<LeaderInfo>,
    /// Leader only: acks are allowed before this instant.
    ack_deadline: Option<Instant>,
    /// Leader only: its lease, for resigning.
    lease: Option<i64>,
    etcd_ok_at: Option<Instant>,
    etcd_error: Option<String>,
}

/// The number of records this replica has stored (its WAL's last
/// sequence number).
pub type Progress = Arc<dyn Fn() -> u64 + Send + Sync>;

pub(crate) struct Inner {
    pub(crate) cfg: ClusterConfig,
    /// `/tael/<cluster>/shards/<id>/`.
    pub(crate) prefix: String,
    pub(crate) key: String,
    /// None in static mode.
    pub(crate) etcd: Option<Etcd>,
    fence: Fence,
    pub(crate) history: History,
    pub(crate) url: Mutex<String>,
    state: Mutex<State>,
    pub(crate) progress: Progress,
}

/// A replica's leadership: shared by the write gate, `/internal/cluster`
/// and the loop that keeps it.
#[derive(Clone)]
pub struct Leadership {
    pub(crate) inner: Arc<Inner>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// `GET /internal/cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatus {
    pub cluster: String,
    pub shard_id: u32,
    pub node_id: String,
    pub url: String,
    pub role: Role,
    /// The current leader's epoch (this replica's own when it leads).
    pub epoch: Option<u64>,
    /// The highest epoch this replica has stored.
    pub fence: u64,
    pub leader: Option<LeaderInfo>,
    /// Leader only: how much longer it may ack without renewing its lease.
    pub ack_deadline_ms: Option<u64>,
    pub lease_ms: u64,
    pub etcd: EtcdStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct EtcdStatus {
    pub endpoints: Vec<String>,
    /// Milliseconds since etcd last answered.
    pub last_ok_ms_ago: Option<u64>,
    pub last_error: Option<String>,
}

impl Inner {
    /// The etcd client (leadership loops run only in etcd mode).
    pub(crate) fn etcd(&self) -> Result<&Etcd, ClusterError> {
        self.etcd
            .as_ref()
            .ok_or_else(|| ClusterError::Config("not in etcd mode".into()))
    }

    fn margin(&self) -> Duration {
        (self.cfg.leader_lease / 5).max(Duration::from_millis(500))
    }

    pub(crate) fn poll(&self) -> Duration {
        (self.cfg.leader_lease / 4).min(Duration::from_secs(1))
    }

    pub(crate) fn etcd_ok(&self) {
        let mut s = self.state.lock();
        s.etcd_ok_at = Some(Instant::now());
        s.etcd_error = None;
    }

    pub(crate) fn etcd_failed(&self, e: &ClusterError) {
        self.state.lock().etcd_error = Some(e.to_string());
    }

    /// Not leading any more (the last known leader is kept for redirects).
    fn step_down(&self) {
        let mut s = self.state.lock();
        if s.role == Role::Leader {
            tracing::warn!(node = %self.cfg.node_id, "stepping down as leader");
            s.leader = None;
        }
        s.role = Role::Candidate;
        s.ack_deadline = None;
        s.lease = None;
    }

    async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            if let Err(e) = self.round(&mut stop).await {
                tracing::warn!(node = %self.cfg.node_id, error = %e, "leadership round failed");
                self.etcd_failed(&e);
                self.step_down();
                let _ = tokio::time::timeout(self.poll(), stop.changed()).await;
            }
        }
        self.resign().await;
    }

    async fn round(&self, stop: &mut watch::Receiver<bool>) -> Result<(), ClusterError> {
        let etcd = self.etcd()?;
        if let Some(kv) = etcd.get(&self.key).await? {
            self.etcd_ok();
            if !self.is_mine(&kv) {
                return self.follow(kv, stop).await;
            }
        } else if !self.may_campaign().await? {
            let _ = tokio::time::timeout(self.poll(), stop.changed()).await;
            return Ok(());
        }
        let sent = Instant::now();
        let (lease, ttl) = etcd.grant(self.cfg.lease_secs()).await?;
        self.etcd_ok();
        let me = serde_json::json!({ "node_id": self.cfg.node_id, "url": *self.url.lock() });
        match etcd
            .create(&self.key, me.to_string().as_bytes(), lease)
            .await
        {
            Ok(Created::Yes { revision }) => {
                let deadline = sent + Duration::from_secs(ttl.max(0) as u64);
                self.lead(lease, revision as u64, deadline, stop).await
            }
            Ok(Created::Exists(kv)) => {
                let _ = etcd.revoke(lease).await;
                if self.is_mine(&kv) {
                    // This replica's key from before a restart (of it or
                    // of etcd): nobody else leads; clear it and run again.
                    etcd.delete_if_created(&self.key, kv.create_revision)
                        .await?;
                    return Ok(());
                }
                self.follow(kv, stop).await
            }
            Err(e) => {
                let _ = etcd.revoke(lease).await;
                Err(e)
            }
        }
    }

    async fn lead(
        &self,
        lease: i64,
        epoch: u64,
        lease_end: Instant,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ClusterError> {
        let etcd = self.etcd()?;
        let fence = self.fence.raise(epoch)?;
        if fence > epoch {
            let _ = etcd.delete_if_created(&self.key, epoch as i64).await;
            let _ = etcd.revoke(lease).await;
            return Err(ClusterError::Config(format!(
                "etcd elected this replica at epoch {epoch}, below the epoch {fence} it has stored: etcd has lost its data; refusing to lead"
            )));
        }
        if let Err(e) = self.begin_epoch(epoch).await {
            let _ = etcd.delete_if_created(&self.key, epoch as i64).await;
            let _ = etcd.revoke(lease).await;
            return Err(e);
        }
        tracing::info!(node = %self.cfg.node_id, epoch, "leading shard {}", self.cfg.shard_id);
        {
            let mut s = self.state.lock();
            s.role = Role::Leader;
            s.leader = Some(LeaderInfo {
                node_id: self.cfg.node_id.clone(),
                url: self.url.lock().clone(),
                epoch,
            });
            s.ack_deadline = Some(lease_end - self.margin());
            s.lease = Some(lease);
        }
        let renew = self.cfg.leader_lease / 3;
        let mut wait = renew;
        loop {
            if tokio::time::timeout(wait, stop.changed()).await.is_ok() {
                return Ok(());
            }
            let sent = Instant::now();
            match etcd.keep_alive(lease).await {
                Ok(ttl) if ttl > 0 => {
                    self.etcd_ok();
                    self.state.lock().ack_deadline =
                        Some(sent + Duration::from_secs(ttl as u64) - self.margin());
                    wait = renew;
                }
                Ok(_) => return Err(ClusterError::Etcd("the leader's lease expired".into())),
                Err(e) => {
                    self.etcd_failed(&e);
                    let deadline = self.state.lock().ack_deadline;
                    if deadline.is_none_or(|d| Instant::now() >= d) {
                        return Err(e);
                    }
                    wait = Duration::from_millis(250);
                }
            }
        }
    }

    /// Whether a leader key names this replica.
    pub(crate) fn is_mine(&self, kv: &Kv) -> bool {
        serde_json::from_slice::<LeaderInfo>(&kv.value).is_ok_and(|l| l.node_id == self.cfg.node_id)
    }

    async fn follow(
        &self,
        mut kv: Kv,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ClusterError> {
        loop {
            let epoch = kv.create_revision as u64;
            let mut info: LeaderInfo = serde_json::from_slice(&kv.value)
                .map_err(|e| ClusterError::Etcd(format!("the leader key holds no leader: {e}")))?;
            info.epoch = epoch;
            self.fence.raise(epoch)?;
            {
                let mut s = self.state.lock();
                if s.role != Role::Standby || s.leader.as_ref() != Some(&info) {
                    tracing::info!(node = %self.cfg.node_id, leader = %info.node_id, epoch, "standby");
                }
                s.role = Role::Standby;
                s.leader = Some(info);
            }
            if tokio::time::timeout(self.poll(), stop.changed())
                .await
                .is_ok()
            {
                return Ok(());
            }
            match self.etcd()?.get(&self.key).await? {
                None => return Ok(()),
                Some(k) => kv = k,
            }
            self.etcd_ok();
        }
    }

    /// Gives up leadership at shutdown (best effort: the lease lapses
    /// anyway).
    async fn resign(&self) {
        let (lease, epoch) = {
            let s = self.state.lock();
            let epoch = s.leader.as_ref().map(|l| l.epoch);
            (s.lease, epoch.filter(|_| s.role == Role::Leader))
        };
        self.step_down();
        if let (Some(lease), Some(epoch), Ok(etcd)) = (lease, epoch, self.etcd()) {
            let _ = etcd.delete_if_created(&self.key, epoch as i64).await;
            let _ = etcd.revoke(lease).await;
        }
    }
}

impl Leadership {
    /// The leadership of this replica, its fence kept in `fence_dir`; it
    /// starts campaigning at [`Leadership::start`].
    pub fn new(
        cfg: ClusterConfig,
        fence_dir: &Path,
        progress: Progress,
    ) -> Result<Leadership, ClusterError> {
        let timeout = (cfg.leader_lease / 4).max(Duration::from_millis(300));
        let etcd = match cfg.mode() {
            Mode::Etcd => Some(Etcd::new(cfg.etcd_endpoints.clone(), timeout)?),
            _ => None,
        };
        let prefix = cfg.shard_prefix();
        let fence = Fence::open(fence_dir)?;
        let mut state = State {
            role: Role::Candidate,
            leader: None,
            ack_deadline: None,
            lease: None,
            etcd_ok_at: None,
            etcd_error: None,
        };
        match cfg.mode() {
            Mode::StaticLeader => {
                let seen = fence.raise(cfg.wal_epoch)?;
                if seen > cfg.wal_epoch {
                    return Err(ClusterError::Config(format!(
                        "this replica has seen epoch {seen}: a static leader must start with TAEL_WAL_EPOCH above it (now {})",
                        cfg.wal_epoch
                    )));
                }
                state.role = Role::Leader;
                state.leader = Some(LeaderInfo {
                    node_id: cfg.node_id.clone(),
                    url: String::new(),
                    epoch: cfg.wal_epoch,
                });
            }
            Mode::StaticStandby => {
                state.role = Role::Standby;
                state.leader = Some(LeaderInfo {
                    node_id: String::new(),
                    url: cfg.wal_leader.clone().unwrap_or_default(),
                    epoch: fence.epoch(),
                });
            }
            Mode::Etcd | Mode::Single => {}
        }
        let inner = Inner {
            key: format!("{prefix}leader"),
            prefix,
            etcd,
            fence,
            history: History::open(fence_dir)?,
            url: Mutex::new(cfg.advertise_url.clone().unwrap_or_default()),
            cfg,
            state: Mutex::new(state),
            progress,
        };
        let (stop, _) = watch::channel(false);
        Ok(Leadership {
            inner: Arc::new(inner),
            stop: Arc::new(stop),
            task: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Starts the loop; `url` is this replica's REST URL unless
    /// `TAEL_ADVERTISE_URL` gave one.
    pub fn start(&self, url: &str) -> Result<(), ClusterError> {
        let url = {
            let mut u = self.inner.url.lock();
            if u.is_empty() {
                *u = url.to_string();
            }
            u.clone()
        };
        let i = &self.inner;
        match i.cfg.mode() {
            Mode::Etcd => {
                let task = tokio::spawn(i.clone().run(self.stop.subscribe()));
                let members = tokio::spawn(i.clone().publish_member(self.stop.subscribe()));
                self.task.lock().extend([task, members]);
            }
            Mode::StaticLeader => {
                i.history.begin(i.cfg.wal_epoch, (i.progress)() + 1)?;
                let mut s = i.state.lock();
                s.ack_deadline = None;
                if let Some(l) = s.leader.as_mut() {
                    l.url = url;
                }
            }
            Mode::StaticStandby | Mode::Single => {}
        }
        Ok(())
    }

    /// Keeps a task that ends when [`Leadership::stopping`] says so; it is
    /// awaited by [`Leadership::stop`].
    pub fn keep_task(&self, task: tokio::task::JoinHandle<()>) {
        self.task.lock().push(task);
    }

    /// Turns true when the replica stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops the loop, resigning if leading.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.task.lock());
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The epoch under which a write may be acked now, or why not.
    pub fn write_epoch(&self) -> Result<u64, StorageError> {
        let s = self.inner.state.lock();
        let fixed = self.inner.cfg.mode() == Mode::StaticLeader;
        match (s.role, s.ack_deadline, &s.leader) {
            (Role::Leader, None, Some(l)) if fixed => Ok(l.epoch),
            (Role::Leader, Some(d), Some(l)) if Instant::now() < d => Ok(l.epoch),
            (Role::Leader, _, _) => Err(StorageError::NotLeader {
                reason: "the leader cannot renew its lease in etcd".into(),
                leader: None,
            }),
            (Role::Standby, _, l) => Err(StorageError::NotLeader {
                reason: "this replica is a standby".into(),
                leader: l.as_ref().map(|l| l.url.clone()),
            }),
            (Role::Candidate, _, l) => Err(StorageError::NotLeader {
                reason: "no leader is elected yet".into(),
                leader: l.as_ref().map(|l| l.url.clone()),
            }),
        }
    }

    /// Checks after a write that it may be acked: still leading under the
    /// same epoch, inside the lease.
    pub fn confirm(&self, epoch: u64) -> Result<(), StorageError> {
        match self.write_epoch()? {
            e if e == epoch => Ok(()),
            _ => Err(StorageError::NotLeader {
                reason: "leadership changed during the write".into(),
                leader: None,
            }),
        }
    }

    /// This replica's epoch history.
    pub fn history(&self) -> Vec<crate::history::EpochStart> {
        self.inner.history.entries()
    }

    /// Where this replica's records of `epoch` start (its history).
    pub fn epoch_start(&self, epoch: u64) -> Option<u64> {
        self.inner
            .history
            .last()
            .filter(|e| e.epoch == epoch)
            .map(|e| e.first_seq)
    }

    /// Checks records shipped under `epoch`, whose leader writes from
    /// `epoch_start` on, before this replica (holding `last_seq` records)
    /// stores them: refused when the epoch is below the fence (raised
    /// durably when higher), when this replica leads under another epoch,
    /// or when it holds records of an older epoch from `epoch_start` on.
    pub fn accept_shipped(
        &self,
        epoch: u64,
        epoch_start: u64,
        last_seq: u64,
    ) -> Result<(), Refusal> {
        let i = &self.inner;
        {
            let s = i.state.lock();
            if let (Role::Leader, Some(l)) = (s.role, &s.leader) {
                if l.epoch != epoch {
                    return Err(Refusal::Fenced(format!(
                        "this replica leads the shard at epoch {}",
                        l.epoch
                    )));
                }
            }
        }
        let fence = i.fence.raise(epoch).map_err(Refusal::Failed)?;
        if fence > epoch {
            return Err(Refusal::Fenced(format!(
                "epoch {epoch} is below this replica's fence {fence}: a newer leader exists"
            )));
        }
        if i.history.last().is_none_or(|e| e.epoch < epoch) {
            if last_seq >= epoch_start {
                return Err(Refusal::Diverged(format!(
                    "this replica holds records {epoch_start}..={last_seq} of an older epoch than {epoch}: it must be restarted (or rebuilt) to drop them"
                )));
            }
            i.history
                .begin(epoch, epoch_start)
                .map_err(Refusal::Failed)?;
        }
        Ok(())
    }

    pub fn role(&self) -> Role {
        self.inner.state.lock().role
    }

    pub fn status(&self) -> ClusterStatus {
        let i = &self.inner;
        let s = i.state.lock();
        let now = Instant::now();
        ClusterStatus {
            cluster: i.cfg.cluster.clone(),
            shard_id: i.cfg.shard_id,
            node_id: i.cfg.node_id.clone(),
            url: i.url.lock().clone(),
            role: s.role,
            epoch: s.leader.as_ref().map(|l| l.epoch),
            fence: i.fence.epoch(),
            leader: s.leader.clone(),
            ack_deadline_ms: s
                .ack_deadline
                .filter(|_| s.role == Role::Leader)
                .map(|d| d.saturating_duration_since(now).as_millis() as u64),
            lease_ms: i.cfg.leader_lease.as_millis() as u64,
            etcd: EtcdStatus {
                endpoints: i.cfg.etcd_endpoints.clone(),
                last_ok_ms_ago: s
                    .etcd_ok_at
                    .map(|t| now.duration_since(t).as_millis() as u64),
                last_error: s.etcd_error.clone(),
            },
        }
    }
}
