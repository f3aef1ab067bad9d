//! [`RemoteIngest`]: an [`Ingest`] that stores on another tael node (one
//! shard, reachable at one or more replica URLs) through its internal
//! routes (`POST /internal/v1/export/{signal}`, `POST
//! /internal/v1/comments`). Writes go to the shard's leader: a replica
//! that refuses because it is a standby names the leader in
//! `x-tael-leader`, and the write follows it; an unavailable or busy
//! replica is retried (the next replica, with backoff) until
//! [`RETRY_FOR`] has passed, which covers a leader election.

use crate::{check, Client, ClientError, Replicas};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use std::time::{Duration, Instant};
use tael_core::model::TraceComment;
use tael_core::{ErrorCode, Signal};
use tael_query::store::{ExportOutcome, Ingest};
use tael_storage::StorageError;

/// How long a write is retried while the shard cannot take it.
pub const RETRY_FOR: Duration = Duration::from_secs(10);

/// The header naming a shard's leader on a write a standby refused.
const LEADER_HEADER: &str = "x-tael-leader";

/// One shard's writes on other nodes (see the module doc).
pub struct RemoteIngest {
    replicas: Replicas,
    /// Where writes go first: the leader as last learned (else the first
    /// replica).
    leader: Mutex<Option<Client>>,
}

/// A failed attempt: retry (maybe at the leader it names) or give up.
enum Attempt {
    Retry { leader: Option<String>, why: String },
    Fail(StorageError),
}

fn attempt_error(e: ClientError, leader: Option<String>) -> Attempt {
    match e {
        ClientError::Server { code, message, .. } => match code {
            ErrorCode::Unavailable | ErrorCode::Overloaded | ErrorCode::Timeout => Attempt::Retry {
                leader,
                why: message,
            },
            ErrorCode::InvalidArgument
            | ErrorCode::PayloadTooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::Unprocessable => Attempt::Fail(StorageError::InvalidArgument(message)),
            _ => Attempt::Fail(StorageError::Internal(format!(
                "the shard answered: {message}"
            ))),
        },
        ClientError::Unreachable { .. } => Attempt::Retry {
            leader: None,
            why: e.to_string(),
        },
        other => Attempt::Fail(StorageError::Internal(other.to_string())),
    }
}

impl RemoteIngest {
    /// Writes to the shard whose replicas are `replicas`.
    pub fn new(replicas: Replicas) -> RemoteIngest {
        RemoteIngest {
            replicas,
            leader: Mutex::new(None),
        }
    }

    /// Posts `body` to `path` at the leader, following and retrying (see
    /// the module doc); the answer's body.
    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Bytes, StorageError> {
        let started = Instant::now();
        let mut next = 0usize;
        let mut delay = Duration::from_millis(50);
        loop {
            let list = self.replicas.list();
            let current = self.leader.lock().clone().or_else(|| list.first().cloned());
            let Some(c) = current else {
                if started.elapsed() >= RETRY_FOR {
                    return Err(StorageError::Unavailable(
                        "no replica of the shard is known".into(),
                    ));
                }
                tokio::time::sleep(delay).await;
                continue;
            };
            let sent = c
                .post_bytes(path, &[("content-type", content_type)], body.clone())
                .await;
            let leader = sent.as_ref().ok().and_then(|r| {
                r.headers
                    .get(LEADER_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            });
            let (leader, why) = match sent.and_then(check) {
                Ok(raw) => return Ok(raw.body),
                Err(e) => match attempt_error(e, leader) {
                    Attempt::Fail(e) => return Err(e),
                    Attempt::Retry { leader, why } => (leader, why),
                },
            };
            if started.elapsed() >= RETRY_FOR {
                return Err(StorageError::Unavailable(format!(
                    "the shard at {} cannot take writes: {why}",
                    c.base()
                )));
            }
            let named = leader.as_deref().and_then(|l| {
                let l = l.trim_end_matches('/');
                list.iter()
                    .find(|r| r.base() == l)
                    .cloned()
                    .or_else(|| self.replicas.client_of(l).ok())
            });
            let to = match named {
                Some(l) if l.base() != c.base() => Some(l),
                _ => {
                    // Try the replica after this one, with a pause once
                    // round the list.
                    let at = list
                        .iter()
                        .position(|r| r.base() == c.base())
                        .unwrap_or(next);
                    next = (at + 1) % list.len().max(1);
                    if next == 0 {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(1));
                    }
                    list.get(next).cloned()
                }
            };
            *self.leader.lock() = to;
        }
    }
}

impl Ingest for RemoteIngest {
    fn export(
        &self,
        signal: Signal,
        request: Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>> {
        async move {
            let path = format!("/internal/v1/export/{}", signal.name());
            let body = self
                .post(&path, "application/x-protobuf", request.to_vec())
                .await?;
            serde_json::from_slice(&body).map_err(|e| {
                StorageError::Internal(format!("unreadable export outcome from a shard: {e}"))
            })
        }
        .boxed()
    }

    fn add_comment(
        &self,
        comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>> {
        async move {
            let json = serde_json::to_vec(&comment)
                .map_err(|e| StorageError::Internal(format!("cannot write a comment: {e}")))?;
            let body = self
                .post("/internal/v1/comments", "application/json", json)
                .await?;
            serde_json::from_slice(&body).map_err(|e| {
                StorageError::Internal(format!("unreadable comment from a shard: {e}"))
            })
        }
        .boxed()
    }
}
