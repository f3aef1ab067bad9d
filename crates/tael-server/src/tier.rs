//! The query and ingest roles: a node without an engine whose `Store` is
//! a fan-out over remote stores of the shards of `TAEL_SHARDS`, and whose
//! `Ingest` is, on an ingest node, a router over the shards' leaders
//! (`tael_query::store::routing`) or, on a query node, refuses writes.

use crate::config::{NodeRole, ServerConfig};
use crate::ServerError;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use tael_client::{RemoteIngest, RemoteStore};
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

/// The shards' names: their index in `TAEL_SHARDS`.
fn shard_name(i: usize) -> String {
    i.to_string()
}

/// What a node reads from and writes to.
pub type Seams = (Arc<dyn Store>, Arc<dyn Ingest>);

/// The store and ingest of a query or ingest node.
pub fn build(config: &ServerConfig) -> Result<Seams, ServerError> {
    let tier = &config.tier;
    let token = config.cluster.token.as_deref();
    let setup = |e: tael_client::ClientError| ServerError::Serve(e.to_string());
    let mut stores = Vec::with_capacity(tier.shards.len());
    let mut ingests = Vec::with_capacity(tier.shards.len());
    for (i, replicas) in tier.shards.iter().enumerate() {
        stores.push(Shard {
            name: shard_name(i),
            store: Arc::new(RemoteStore::new(replicas, tier.shard_timeout, token).map_err(setup)?),
        });
        ingests.push(IngestShard {
            name: shard_name(i),
            ingest: Arc::new(
                RemoteIngest::new(replicas, tier.shard_timeout, token).map_err(setup)?,
            ),
        });
    }
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
    Ok((Arc::new(fanout), ingest))
}
