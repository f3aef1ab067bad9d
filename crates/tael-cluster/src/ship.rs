//! Shipping the leader's WAL to the shard's standbys, and waiting for
//! their acks before a write is acked (`TAEL_WAL_REQUIRED_ACKS`).
//!
//! One task per standby reads the leader's fsynced WAL from where that
//! standby is ([`tael_storage::wal::WalCursor`]) and posts the records in
//! batches; the standby stores them through its own WAL at the same
//! sequence numbers and answers how far it is. A standby counts for acks
//! only while it is in sync: it has caught up with the leader once and
//! nothing failed since. In etcd mode the in-sync set is published
//! (`membership.rs`) before a standby counts, and before a write is acked
//! without one that dropped out.
//!
//! # Wire format: `POST /internal/wal/records`
//!
//! Headers: `authorization: Bearer <TAEL_CLUSTER_TOKEN>`,
//! `x-tael-wal-epoch: <epoch>`, `x-tael-wal-epoch-start: <first seq of that
//! epoch>`, `content-type: application/x-tael-wal`. Body: zero or more WAL
//! records, each framed exactly as in a WAL segment (`tael_storage::wal`:
//! length, CRC, sequence number, kind, payload), in sequence order; an
//! empty body asks the standby how far it is. Answers:
//!
//! - `200 {"applied_seq": N}`: the standby holds every record through N.
//! - `409 {"code": "conflict", "reason": "gap", "next_seq": N}`: the first
//!   record does not follow the standby's last; send from N.
//! - `409 {"code": "conflict", "reason": "fenced" | "diverged", "error"}`:
//!   the epoch is below the standby's fence (a newer leader exists), or the
//!   standby holds records of an older epoch that this leader numbered
//!   differently (it drops them when it restarts).
//! - `400` for a body that is not whole records or a missing header, `401`
//!   without the token.

use crate::config::RequiredAcks;
use crate::leadership::Leadership;
use crate::membership::Member;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tael_storage::wal::{encode_record, WalCursor, HEADER};
use tael_storage::{Engine, StorageError};
use tokio::sync::watch;

pub const WAL_ROUTE: &str = "/internal/wal/records";
pub const EPOCH_HEADER: &str = "x-tael-wal-epoch";
pub const EPOCH_START_HEADER: &str = "x-tael-wal-epoch-start";
pub const WAL_CONTENT_TYPE: &str = "application/x-tael-wal";
/// Payload bytes per batch posted.
const BATCH_BYTES: usize = 4 << 20;
/// A standby not heard from for this long (since it was last heard from,
/// or since the leader learned of it) no longer holds the leader's WAL
/// back from being dropped after a flush.
const HOLD_FOR: Duration = Duration::from_secs(600);

/// Where a standby is, for `/internal/cluster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StandbyState {
    /// Not heard from yet.
    Connecting,
    /// Receiving the records it misses; not counted for acks yet.
    CatchingUp,
    /// Holds every record shipped so far; counted for acks.
    InSync,
    /// The last post failed.
    Unreachable,
    /// Holds records of an older epoch that this leader numbered otherwise.
    Diverged,
    /// Needs records this leader's WAL no longer has (a whole copy).
    TooFarBehind,
    /// Follows a newer leader.
    Fenced,
}

#[derive(Debug, Clone, Serialize)]
pub struct StandbyStatus {
    pub node_id: String,
    pub url: String,
    pub state: StandbyState,
    pub acked_seq: u64,
    /// Records the leader has that this standby has not acked.
    pub lag: u64,
    pub last_ok_ms_ago: Option<u64>,
    pub last_error: Option<String>,
}

struct Peer {
    node_id: String,
    url: String,
    acked: AtomicU64,
    /// Counted for acks.
    in_sync: AtomicBool,
    /// In the in-sync set published in etcd (may take over).
    published: AtomicBool,
    /// The leader's last record when the standby started to count: it is
    /// published once it holds that much (what was acked without it).
    joined_at: AtomicU64,
    status: Mutex<(StandbyState, Option<Instant>, Option<String>)>,
    /// When this leader first knew of it.
    first_seen: Instant,
    stop: watch::Sender<bool>,
}

/// What one step of a standby's loop did.
enum Stepped {
    /// Asked the standby how far it is.
    Asked,
    /// Sent it records.
    Shipped,
    /// It has everything.
    Idle,
}

enum ShipError {
    Gap(u64),
    Fenced(String),
    Diverged(String),
    TooFarBehind(String),
    Failed(String),
}

struct Inner {
    engine: Arc<Engine>,
    leadership: Leadership,
    http: reqwest::Client,
    token: String,
    required: RequiredAcks,
    timeout: Duration,
    peers: Mutex<BTreeMap<String, Arc<Peer>>>,
    /// The leader's newest record (peer tasks wait on it).
    tip: watch::Sender<u64>,
    /// Bumped whenever a standby acks or joins or leaves the in-sync set.
    acked: watch::Sender<u64>,
    /// An epoch a standby said is not the newest: no acks under it.
    deposed: AtomicU64,
    /// Serialises changes of the in-sync set.
    in_sync_lock: tokio::sync::Mutex<()>,
    stop: watch::Sender<bool>,
}

/// The leader side of WAL shipping (idle while this replica does not
/// lead).
#[derive(Clone)]
pub struct Shipper {
    inner: Arc<Inner>,
}

impl Shipper {
    /// A shipper of `engine`'s WAL, posting with `token` and waiting up to
    /// `timeout` for a standby's answer.
    pub fn new(
        engine: Arc<Engine>,
        leadership: Leadership,
        token: String,
        required: RequiredAcks,
        timeout: Duration,
    ) -> Result<Shipper, crate::ClusterError> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| crate::ClusterError::Config(e.to_string()))?;
        let tip = engine.last_seq();
        // Nothing goes before the standbys have said how far they are.
        engine.hold_wal(Some(1));
        Ok(Shipper {
            inner: Arc::new(Inner {
                engine,
                leadership,
                http,
                token,
                required,
                timeout,
                peers: Mutex::new(BTreeMap::new()),
                tip: watch::channel(tip).0,
                acked: watch::channel(0).0,
                deposed: AtomicU64::new(0),
                in_sync_lock: tokio::sync::Mutex::new(()),
                stop: watch::channel(false).0,
            }),
        })
    }

    /// Starts finding standbys and shipping to them.
    pub fn start(&self) {
        tokio::spawn(self.inner.clone().discover(self.inner.stop.subscribe()));
    }

    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
        for p in self.inner.peers.lock().values() {
            let _ = p.stop.send(true);
        }
    }

    /// Waits until enough standbys hold record `seq` for it to be acked.
    pub async fn replicated(&self, seq: u64) -> Result<(), StorageError> {
        let i = &self.inner;
        if seq == 0 {
            return Ok(());
        }
        i.tip.send_modify(|t| *t = (*t).max(seq));
        let mut rx = i.acked.subscribe();
        let deadline = tokio::time::Instant::now() + i.timeout * 2;
        loop {
            if let Ok(epoch) = i.leadership.write_epoch() {
                if i.deposed.load(Ordering::Relaxed) == epoch {
                    return Err(StorageError::NotLeader {
                        reason: "a standby follows a newer leader".into(),
                        leader: None,
                    });
                }
            }
            let (have, need) = i.acks(seq);
            if have >= need {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Err(StorageError::Unavailable(format!(
                    "the write is stored on the leader, but {have} of the {need} standbys it needs confirmed it in time; retry"
                )));
            }
        }
    }

    /// [`Shipper::replicated`] for every record stored so far.
    pub async fn replicated_tip(&self) -> Result<(), StorageError> {
        self.replicated(self.inner.engine.last_seq()).await
    }

    pub fn standbys(&self) -> Vec<StandbyStatus> {
        let tip = self.inner.engine.last_seq();
        let now = Instant::now();
        self.inner
            .peers
            .lock()
            .values()
            .map(|p| {
                let (state, ok, err) = p.status.lock().clone();
                let acked = p.acked.load(Ordering::Relaxed);
                StandbyStatus {
                    node_id: p.node_id.clone(),
                    url: p.url.clone(),
                    state,
                    acked_seq: acked,
                    lag: tip.saturating_sub(acked),
                    last_ok_ms_ago: ok.map(|t| now.duration_since(t).as_millis() as u64),
                    last_error: err,
                }
            })
            .collect()
    }
}

impl Inner {
    /// (standbys in sync that hold `seq`, how many are needed).
    fn acks(&self, seq: u64) -> (usize, usize) {
        let (mut in_sync, mut have) = (0, 0);
        for p in self.peers.lock().values() {
            if p.in_sync.load(Ordering::Relaxed) {
                in_sync += 1;
                have += usize::from(p.acked.load(Ordering::Relaxed) >= seq);
            }
        }
        let need = match self.required {
            RequiredAcks::All => in_sync,
            RequiredAcks::Count(n) => n,
        };
        (have, need)
    }

    /// Keeps the set of standbys current and the WAL held for them.
    async fn discover(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            match self.leadership.write_epoch().is_ok() {
                true => match self.leadership.peers().await {
                    Ok(found) => {
                        self.update_peers(found).await;
                        self.hold_wal();
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot list the shard's replicas"),
                },
                // A standby's WAL is its own to drop.
                false => self.engine.hold_wal(None),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), stop.changed()).await;
        }
    }

    async fn update_peers(self: &Arc<Self>, found: Vec<Member>) {
        let gone: Vec<Arc<Peer>> = {
            let mut peers = self.peers.lock();
            for m in &found {
                if !peers.contains_key(&m.node_id) {
                    let peer = Arc::new(Peer {
                        node_id: m.node_id.clone(),
                        url: m.url.clone(),
                        acked: AtomicU64::new(0),
                        in_sync: AtomicBool::new(false),
                        published: AtomicBool::new(false),
                        joined_at: AtomicU64::new(0),
                        status: Mutex::new((StandbyState::Connecting, None, None)),
                        first_seen: Instant::now(),
                        stop: watch::channel(false).0,
                    });
                    tracing::info!(standby = %m.node_id, url = %m.url, "shipping the WAL to a standby");
                    tokio::spawn(self.clone().ship_to(peer.clone()));
                    peers.insert(m.node_id.clone(), peer);
                }
            }
            peers
                .values()
                .filter(|p| !found.iter().any(|m| m.node_id == p.node_id))
                .cloned()
                .collect()
        };
        for p in gone {
            if self.leave_in_sync(&p).await {
                let _ = p.stop.send(true);
                self.peers.lock().remove(&p.node_id);
                tracing::info!(standby = %p.node_id, "a standby left the shard");
            }
        }
    }

    /// Keeps the WAL from the oldest record a live standby lacks.
    fn hold_wal(&self) {
        let from = self
            .peers
            .lock()
            .values()
            .filter(|p| {
                let (state, ok, _) = *p.status.lock();
                !matches!(state, StandbyState::Diverged | StandbyState::TooFarBehind)
                    && ok.unwrap_or(p.first_seen).elapsed() < HOLD_FOR
            })
            .map(|p| p.acked.load(Ordering::Relaxed) + 1)
            .min();
        self.engine.hold_wal(from);
    }

    /// Publishes the in-sync set of etcd mode: the standbys published and
    /// `with` (added) or not `without` (removed); false when that failed.
    async fn publish(&self, with: Option<&str>, without: Option<&str>) -> bool {
        let Ok(epoch) = self.leadership.write_epoch() else {
            // Not leading: acks wait for nobody, and the set is the next
            // leader's to write.
            return true;
        };
        let nodes: Vec<String> = self
            .peers
            .lock()
            .values()
            .filter(|q| {
                let id = q.node_id.as_str();
                Some(id) != without && (Some(id) == with || q.published.load(Ordering::Relaxed))
            })
            .map(|q| q.node_id.clone())
            .collect();
        match self.leadership.publish_in_sync(epoch, nodes).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot publish the in-sync set");
                false
            }
        }
    }

    /// Takes `p` out of the in-sync set: out of the published set first,
    /// then out of the count for acks (so that no write is acked without
    /// a standby that could still take over). False when publishing
    /// failed and `p` still counts.
    async fn leave_in_sync(&self, p: &Peer) -> bool {
        if !p.in_sync.load(Ordering::Relaxed) {
            return true;
        }
        let _g = self.in_sync_lock.lock().await;
        if p.published.load(Ordering::Relaxed) {
            if !self.publish(None, Some(&p.node_id)).await {
                return false;
            }
            p.published.store(false, Ordering::Relaxed);
        }
        p.in_sync.store(false, Ordering::Relaxed);
        self.acked.send_modify(|n| *n += 1);
        true
    }

    /// Counts a caught-up `p` for acks, and publishes it once it holds
    /// every record acked before it counted.
    async fn join_in_sync(&self, p: &Peer, applied: u64) {
        if !p.in_sync.load(Ordering::Relaxed) {
            p.joined_at.store(self.engine.last_seq(), Ordering::Relaxed);
            p.in_sync.store(true, Ordering::Relaxed);
            self.acked.send_modify(|n| *n += 1);
        }
        if !p.published.load(Ordering::Relaxed) && applied >= p.joined_at.load(Ordering::Relaxed) {
            let _g = self.in_sync_lock.lock().await;
            if p.in_sync.load(Ordering::Relaxed) && self.publish(Some(&p.node_id), None).await {
                p.published.store(true, Ordering::Relaxed);
                p.status.lock().0 = StandbyState::InSync;
            }
        }
    }

    /// The loop of one standby.
    async fn ship_to(self: Arc<Self>, p: Arc<Peer>) {
        let mut stop = p.stop.subscribe();
        let mut tip = self.tip.subscribe();
        let mut cursor: Option<WalCursor> = None;
        let mut backoff = Duration::from_millis(100);
        let mut logged: Option<StandbyState> = None;
        while !*stop.borrow() {
            let Ok(epoch) = self.leadership.write_epoch() else {
                cursor = None;
                self.leave_in_sync(&p).await;
                let _ = tokio::time::timeout(Duration::from_millis(200), stop.changed()).await;
                continue;
            };
            tip.mark_unchanged();
            match self.step(&p, epoch, &mut cursor).await {
                Ok(Stepped::Shipped) => {
                    backoff = Duration::from_millis(100);
                    logged = None;
                }
                Ok(Stepped::Asked) => {}
                Ok(Stepped::Idle) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), tip.changed()).await;
                }
                Err(e) => {
                    let (state, msg) = match e {
                        ShipError::Gap(next) => {
                            cursor = Some(WalCursor::at(next));
                            continue;
                        }
                        ShipError::Fenced(m) => {
                            self.deposed.store(epoch, Ordering::Relaxed);
                            self.acked.send_modify(|n| *n += 1);
                            (StandbyState::Fenced, m)
                        }
                        ShipError::Diverged(m) => (StandbyState::Diverged, m),
                        ShipError::TooFarBehind(m) => (StandbyState::TooFarBehind, m),
                        ShipError::Failed(m) => (StandbyState::Unreachable, m),
                    };
                    if logged != Some(state) {
                        tracing::warn!(standby = %p.node_id, error = %msg, "shipping to a standby failed");
                        logged = Some(state);
                    }
                    self.leave_in_sync(&p).await;
                    {
                        let mut st = p.status.lock();
                        st.0 = state;
                        st.2 = Some(msg);
                    }
                    cursor = None;
                    let _ = tokio::time::timeout(backoff, stop.changed()).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Sends the standby what it lacks, or asks where it is.
    async fn step(
        &self,
        p: &Peer,
        epoch: u64,
        cursor: &mut Option<WalCursor>,
    ) -> Result<Stepped, ShipError> {
        let start = self.leadership.epoch_start(epoch).unwrap_or(1);
        let Some(mut cur) = cursor.take() else {
            let applied = self.post(p, epoch, start, Vec::new()).await?;
            self.acked_through(p, applied).await;
            *cursor = Some(WalCursor::at(applied + 1));
            return Ok(Stepped::Asked);
        };
        let engine = self.engine.clone();
        let (cur, read) = tokio::task::spawn_blocking(move || {
            let r = engine.read_wal(&mut cur, BATCH_BYTES);
            (cur, r)
        })
        .await
        .map_err(|e| ShipError::Failed(e.to_string()))?;
        let records = match read {
            Ok(r) => r,
            Err(e @ StorageError::WalDropped { .. }) => {
                return Err(ShipError::TooFarBehind(e.to_string()))
            }
            Err(e) => return Err(ShipError::Failed(e.to_string())),
        };
        let next = cur.next_seq();
        *cursor = Some(cur);
        let Some(last) = records.last().map(|r| r.seq) else {
            return Ok(Stepped::Idle);
        };
        let mut body = Vec::with_capacity(records.iter().map(|r| r.payload.len() + HEADER).sum());
        for r in &records {
            encode_record(r.seq, r.kind, &r.payload, &mut body);
        }
        let applied = self.post(p, epoch, start, body).await?;
        self.acked_through(p, applied).await;
        if applied < last || next != last + 1 {
            *cursor = Some(WalCursor::at(applied + 1));
        }
        Ok(Stepped::Shipped)
    }

    async fn acked_through(&self, p: &Peer, applied: u64) {
        p.acked.store(applied, Ordering::Relaxed);
        {
            let mut st = p.status.lock();
            st.1 = Some(Instant::now());
            st.2 = None;
            if st.0 != StandbyState::InSync {
                st.0 = StandbyState::CatchingUp;
            }
        }
        if p.in_sync.load(Ordering::Relaxed) || applied >= self.engine.last_seq() {
            self.join_in_sync(p, applied).await;
        }
        self.acked.send_modify(|n| *n += 1);
    }

    async fn post(
        &self,
        p: &Peer,
        epoch: u64,
        start: u64,
        body: Vec<u8>,
    ) -> Result<u64, ShipError> {
        let resp = self
            .http
            .post(format!("{}{WAL_ROUTE}", p.url))
            .bearer_auth(&self.token)
            .header(EPOCH_HEADER, epoch)
            .header(EPOCH_START_HEADER, start)
            .header(reqwest::header::CONTENT_TYPE, WAL_CONTENT_TYPE)
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| ShipError::Failed(format!("{}: {e}", p.url)))?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        let msg = v["error"].as_str().unwrap_or("").to_string();
        match status {
            200 => v["applied_seq"].as_u64().ok_or_else(|| {
                ShipError::Failed(format!("{}: an answer without applied_seq", p.url))
            }),
            409 => match v["reason"].as_str() {
                Some("gap") => v["next_seq"]
                    .as_u64()
                    .map(ShipError::Gap)
                    .ok_or_else(|| ShipError::Failed(msg.clone()))
                    .and_then(Err),
                Some("diverged") => Err(ShipError::Diverged(msg)),
                _ => Err(ShipError::Fenced(msg)),
            },
            _ => Err(ShipError::Failed(format!("{}: {status} {msg}", p.url))),
        }
    }
}
