//! The query and ingest roles: a node without an engine whose `Store` is
//! a fan-out over remote stores of its shards, and whose `Ingest` is, on
//! an ingest node, a router over the shards' leaders
//! (`tael_query::store::routing`) or, on a query node, refuses writes.
//! The shards' replicas come from `TAEL_SHARDS`, or are followed in etcd
//! (`TAEL_ETCD_ENDPOINTS` with `TAEL_SHARD_COUNT`): every second each
//! shard's members are read again, its leader first.

use crate::config::{NodeRole, ServerConfig};
use crate::ServerError;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use tael_client::{RemoteIngest, RemoteStore, Replicas};
use tael_cluster::etcd::Etcd;
use tael_cluster::membership::shard_replicas;
use tael_core::model::TraceComment;
use tael_core::Signal;
use tael_query::store::fanout::{FanoutConfig, FanoutStore, Shard};
use tael_query::store::routing::{IngestShard, ShardedIngest};
use tael_query::store::ExportOutcome;
use tael_query::{Ingest, Store};
use tael_storage::StorageError;

/// A query node's writes: refused, saying where they go.
struct NoWrites;

const NO_WRITES: &str = "this is a query node: send telemetry to an ingest node or to a shard";

impl Ingest for NoWrites {
    fn export(
        &self,
        _signal: Signal,
        _request: bytes::Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>> {
        async { Err(StorageError::InvalidArgument(NO_WRITES.into())) }.boxed()
    }

    fn add_comment(
        &self,
        _comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>> {
        async { Err(StorageError::InvalidArgument(NO_WRITES.into())) }.boxed()
    }
}

/// The shards' names: their number (their index in `TAEL_SHARDS`, or
/// their shard id in etcd).
fn shard_name(i: usize) -> String {
    i.to_string()
}

/// How often a node following etcd reads each shard's members again.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// What a query or ingest node reads from and writes to, and the task
/// that follows the shards' membership in etcd (when it does).
pub struct Tier {
    pub store: Arc<dyn Store>,
    pub ingest: Arc<dyn Ingest>,
    pub directory: Option<tokio::task::JoinHandle<()>>,
}

/// Keeps each shard's replica list as etcd has it (leader first), for as
/// long as the node runs.
async fn follow_membership(etcd: Etcd, cluster: String, shards: Vec<Replicas>) {
    loop {
        for (i, replicas) in shards.iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            match shard_replicas(&etcd, &cluster, id).await {
                Ok(urls) if urls != replicas.urls() => {
                    tracing::info!(shard = i, replicas = ?urls, "shard membership");
                    if let Err(e) = replicas.set(&urls) {
                        tracing::warn!(shard = i, error = %e, "a member's URL is not usable");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(shard = i, error = %e, "cannot read a shard's members"),
            }
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// The store and ingest of a query or ingest node.
pub fn build(config: &ServerConfig) -> Result<Tier, ServerError> {
    let tier = &config.tier;
    let token = config.cluster.token.as_deref();
    let setup = |e: tael_client::ClientError| ServerError::Serve(e.to_string());
    let static_lists: Vec<Vec<String>> = match tier.shard_count {
        Some(n) => vec![Vec::new(); n as usize],
        None => tier.shards.clone(),
    };
    let mut lists = Vec::with_capacity(static_lists.len());
    let mut stores = Vec::with_capacity(static_lists.len());
    let mut ingests = Vec::with_capacity(static_lists.len());
    for (i, urls) in static_lists.iter().enumerate() {
        let replicas = Replicas::new(urls, tier.shard_timeout, token).map_err(setup)?;
        stores.push(Shard {
            name: shard_name(i),
            store: Arc::new(RemoteStore::new(replicas.clone())),
        });
        ingests.push(IngestShard {
            name: shard_name(i),
            ingest: Arc::new(RemoteIngest::new(replicas.clone())),
        });
        lists.push(replicas);
    }
    let directory = match tier.shard_count {
        None => None,
        Some(_) => {
            let etcd = Etcd::new(
                config.cluster.etcd_endpoints.clone(),
                Duration::from_secs(5),
            )
            .map_err(|e| ServerError::Serve(e.to_string()))?;
            Some(tokio::spawn(follow_membership(
                etcd,
                config.cluster.cluster.clone(),
                lists,
            )))
        }
    };
    let fanout = FanoutStore::new(
        stores,
        FanoutConfig {
            shard_timeout: tier.shard_timeout,
            max_promql: config.store.promql_max_concurrent,
            sql: config.store.sql.clone(),
        },
    )
    .map_err(|e| ServerError::Serve(e.to_string()))?;
    let ingest: Arc<dyn Ingest> = match config.role {
        NodeRole::Ingest => Arc::new(ShardedIngest::new(ingests)),
        _ => Arc::new(NoWrites),
    };
    Ok(Tier {
        store: Arc::new(fanout),
        ingest,
        directory,
    })
}
