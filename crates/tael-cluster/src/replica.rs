//! A replica of a shard: its leadership, the shipper of its WAL (used
//! while it leads) and the receiving side of shipping (while it is a
//! standby), over the node's engine. The server's `/internal/*` routes and
//! the write gate sit on this.

use crate::bootstrap::WalRange;
use crate::config::ClusterConfig;
use crate::error::ClusterError;
use crate::gate::LeaderGatedIngest;
use crate::leadership::{ClusterStatus, Leadership, Refusal};
use crate::ship::{Shipper, StandbyStatus};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tael_query::Ingest;
use tael_storage::wal::decode_records;
use tael_storage::{Engine, StorageError};

#[derive(Clone)]
pub struct Replica {
    pub leadership: Leadership,
    pub shipper: Shipper,
    engine: Arc<Engine>,
    filled: Option<crate::bootstrap::Filled>,
}

/// `GET /internal/cluster`: the leadership, this replica's records, and
/// on the leader its standbys.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaStatus {
    #[serde(flatten)]
    pub leadership: ClusterStatus,
    /// The last WAL sequence number stored here.
    pub applied_seq: u64,
    /// Leader only: where each standby is.
    pub standbys: Vec<StandbyStatus>,
    /// How this replica was filled when it started too far behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled: Option<crate::bootstrap::Filled>,
}

/// Why shipped records were not stored.
#[derive(Debug)]
pub enum ReceiveError {
    /// The body is not whole WAL records (400).
    BadBody(String),
    /// The epoch is not the newest this replica knows (409 `fenced`).
    Fenced(String),
    /// This replica holds records the leader does not (409 `diverged`).
    Diverged(String),
    /// The first record does not follow (409 `gap` with the next number).
    Gap {
        next_seq: u64,
        message: String,
    },
    Storage(StorageError),
}

impl Replica {
    /// The replica of `cfg` over `engine`, its fence and history in
    /// `fence_dir`.
    pub fn open(
        cfg: &ClusterConfig,
        engine: Arc<Engine>,
        fence_dir: &Path,
    ) -> Result<Replica, ClusterError> {
        let progress = {
            let engine = engine.clone();
            Arc::new(move || engine.last_seq())
        };
        let leadership = Leadership::new(cfg.clone(), fence_dir, progress)?;
        let timeout =
            (cfg.leader_lease / 2).clamp(Duration::from_millis(500), Duration::from_secs(5));
        let shipper = Shipper::new(
            engine.clone(),
            leadership.clone(),
            cfg.token.clone().unwrap_or_default(),
            cfg.required_acks,
            timeout,
        )?;
        Ok(Replica {
            leadership,
            shipper,
            engine,
            filled: None,
        })
    }

    /// Records how this replica was filled before its engine opened.
    pub fn with_filled(mut self, filled: Option<crate::bootstrap::Filled>) -> Replica {
        self.filled = filled;
        self
    }

    /// The write gate over `local`.
    pub fn gate(&self, local: Arc<dyn Ingest>) -> LeaderGatedIngest {
        LeaderGatedIngest {
            local,
            leadership: self.leadership.clone(),
            shipper: self.shipper.clone(),
        }
    }

    /// Starts leadership and shipping (and, with an object store, the
    /// task that has the engine write it while this replica leads); `url`
    /// is this node's REST URL.
    pub fn start(&self, url: &str) -> Result<(), ClusterError> {
        self.leadership.start(url)?;
        self.shipper.start();
        if self.engine.objects().is_replica() {
            let task = tokio::spawn(write_store_while_leading(
                self.leadership.clone(),
                self.engine.clone(),
            ));
            self.leadership.keep_task(task);
        }
        Ok(())
    }

    pub async fn stop(&self) {
        self.shipper.stop();
        self.leadership.stop().await;
    }

    pub fn status(&self) -> ReplicaStatus {
        ReplicaStatus {
            leadership: self.leadership.status(),
            applied_seq: self.engine.last_seq(),
            standbys: self.shipper.standbys(),
            filled: self.filled.clone(),
        }
    }

    /// `GET /internal/wal/oldest`.
    pub fn wal_range(&self) -> WalRange {
        WalRange {
            oldest_seq: self.engine.oldest_wal_seq(),
            last_seq: self.engine.last_seq(),
            history: self.leadership.history(),
        }
    }

    /// `GET /internal/snapshot`: a copy of this replica's data as a stream
    /// of chunks, written on the blocking pool as the reader takes them.
    pub fn snapshot_stream(
        &self,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            let res = engine
                .write_snapshot(&mut w)
                .map_err(|e| std::io::Error::other(e.to_string()));
            if let Err(e) = res {
                tracing::error!(error = %e, "the snapshot failed");
                let _ = tx.blocking_send(Err(e));
            }
        });
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
    }

    /// Stores records shipped under `epoch` (whose records start at
    /// `epoch_start`); `body` is WAL records in their framing. Returns the
    /// last sequence number stored.
    pub async fn receive(
        &self,
        epoch: u64,
        epoch_start: u64,
        body: bytes::Bytes,
    ) -> Result<u64, ReceiveError> {
        let (records, valid) = decode_records(&body);
        if valid != body.len() {
            return Err(ReceiveError::BadBody(format!(
                "the body holds {} whole WAL records in its first {valid} of {} bytes; the rest is not a record",
                records.len(),
                body.len()
            )));
        }
        if records.windows(2).any(|w| w[1].seq != w[0].seq + 1) {
            return Err(ReceiveError::BadBody(
                "the records do not follow each other by sequence number".into(),
            ));
        }
        let last = self.engine.last_seq();
        self.leadership
            .accept_shipped(epoch, epoch_start, last)
            .map_err(|r| match r {
                Refusal::Fenced(m) => ReceiveError::Fenced(m),
                Refusal::Diverged(m) => ReceiveError::Diverged(m),
                Refusal::Failed(e) => ReceiveError::Storage(StorageError::Internal(e.to_string())),
            })?;
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.apply_shipped(&records))
            .await
            .map_err(|e| ReceiveError::Storage(StorageError::Internal(e.to_string())))?
            .map_err(|e| match e {
                StorageError::SeqGap { expected, .. } => ReceiveError::Gap {
                    next_seq: expected,
                    message: e.to_string(),
                },
                e => ReceiveError::Storage(e),
            })
    }
}

const CHUNK: usize = 1 << 20;

/// A writer that hands its bytes to a channel in chunks (blocking when
/// the reader is behind).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Has the engine write the object store while this replica leads, under
/// its epoch, and stop when it does not (checked every 200 ms; a deposed
/// leader that has not noticed yet cannot overwrite the store's manifest,
/// see `tael_storage::objects::uploads`).
async fn write_store_while_leading(leadership: Leadership, engine: Arc<Engine>) {
    let mut writing: Option<u64> = None;
    let mut stop = leadership.stopping();
    while !*stop.borrow() {
        let st = leadership.status();
        let now = match st.role {
            crate::leadership::Role::Leader => st.epoch,
            _ => None,
        };
        if now != writing {
            let engine = engine.clone();
            let done = tokio::task::spawn_blocking(move || match now {
                Some(epoch) => engine.lead_objects(epoch),
                None => {
                    engine.follow_objects();
                    Ok(())
                }
            })
            .await;
            match done {
                Ok(Ok(())) => writing = now,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot start writing the object store; retrying")
                }
                Err(e) => tracing::warn!(error = %e, "object store task failed"),
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), stop.changed()).await;
    }
}
