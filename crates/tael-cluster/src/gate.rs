//! The write gate: an [`Ingest`] over the local one that takes a write
//! only while this replica leads its shard, and acks it only once it is
//! durable here and on the standbys `TAEL_WAL_REQUIRED_ACKS` asks for
//! (`ship.rs`), if this replica still leads under the same epoch, inside
//! its lease. Anything else is `StorageError::NotLeader` (503 with
//! `Retry-After` and, when known, `x-tael-leader`; gRPC `UNAVAILABLE`).

use crate::leadership::Leadership;
use crate::ship::Shipper;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use tael_core::model::TraceComment;
use tael_query::store::ExportOutcome;
use tael_query::Ingest;
use tael_storage::{Signal, StorageError};

pub struct LeaderGatedIngest {
    pub local: Arc<dyn Ingest>,
    pub leadership: Leadership,
    pub shipper: Shipper,
}

impl Ingest for LeaderGatedIngest {
    fn export(
        &self,
        signal: Signal,
        request: Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>> {
        async move {
            let epoch = self.leadership.write_epoch()?;
            let outcome = self.local.export(signal, request).await?;
            self.shipper.replicated(outcome.seq).await?;
            self.leadership.confirm(epoch)?;
            Ok(outcome)
        }
        .boxed()
    }

    fn add_comment(
        &self,
        comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>> {
        async move {
            let epoch = self.leadership.write_epoch()?;
            let stored = self.local.add_comment(comment).await?;
            self.shipper.replicated_tip().await?;
            self.leadership.confirm(epoch)?;
            Ok(stored)
        }
        .boxed()
    }
}
