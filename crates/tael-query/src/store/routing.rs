//! Which shard owns an item, and [`ShardedIngest`]: one [`Ingest`] over
//! several shards that splits each OTLP export by owner and sends each
//! shard its share.
//!
//! # The routing hash (stable; published for routing at the edge)
//!
//! An item's key is a 64-bit FNV-1a hash ([`fnv1a64`]: offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`, over bytes) and its shard
//! is the jump consistent hash of the key ([`jump`], Lamport and Veach,
//! 2014) over the number of shards, so growing from `n` to `n + 1` shards
//! moves only about `1 / (n + 1)` of the keys, all to the new shard.
//!
//! - A span, and a log record with a trace id: FNV-1a of the 16 trace-id
//!   bytes. Every span of a trace lands on one shard.
//! - A log record without a trace id (absent or all zero): FNV-1a of its
//!   resource's `service.name` (UTF-8; empty when absent).
//! - A metric point: FNV-1a of `service.name`, a `0xff` byte, the metric
//!   name, then for each point attribute in key order a `0xff` byte, the
//!   key, a `0xfe` byte and the protobuf encoding of its `AnyValue`. The
//!   points of one series land on one shard.
//!
//! Shards are numbered in the order they are configured; every router of
//! a cluster must list them in the same order. Adding a shard moves the
//! keys the jump hash gives it: traces stored before stay where they
//! were, and the query tier, which unions a trace over every shard, still
//! finds them whole.

use crate::store::{ExportOutcome, Ingest};
use bytes::Bytes;
use futures::future::{join_all, BoxFuture};
use futures::FutureExt;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use std::sync::Arc;
use tael_core::model::TraceComment;
use tael_core::Signal;
use tael_storage::StorageError;

/// FNV-1a, 64 bits.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The jump consistent hash of `key` over `buckets` (≥ 1) buckets.
pub fn jump(mut key: u64, buckets: usize) -> usize {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    let n = buckets.max(1) as i64;
    while j < n {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as usize
}

/// The shard of a trace (its 16 id bytes; other lengths hash as given).
pub fn trace_shard(trace_id: &[u8], shards: usize) -> usize {
    jump(fnv1a64(&[trace_id]), shards)
}

fn service_name(resource: Option<&Resource>) -> &str {
    resource
        .into_iter()
        .flat_map(|r| &r.attributes)
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn has_trace(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().any(|b| *b != 0)
}

/// The shard of a metric point's series.
fn series_shard(service: &str, metric: &str, attributes: &[KeyValue], shards: usize) -> usize {
    let mut attrs: Vec<&KeyValue> = attributes.iter().collect();
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    let values: Vec<Vec<u8>> = attrs
        .iter()
        .map(|kv| {
            kv.value
                .as_ref()
                .map(|v| v.encode_to_vec())
                .unwrap_or_default()
        })
        .collect();
    let mut parts: Vec<&[u8]> = vec![service.as_bytes(), &[0xff], metric.as_bytes()];
    for (kv, v) in attrs.iter().zip(&values) {
        parts.extend([&[0xff][..], kv.key.as_bytes(), &[0xfe][..], v.as_slice()]);
    }
    jump(fnv1a64(&parts), shards)
}

fn invalid(signal: Signal, e: prost::DecodeError) -> StorageError {
    StorageError::InvalidArgument(format!("invalid OTLP {} export: {e}", signal.name()))
}

/// A level of an OTLP export (a resource's scopes, a scope's items): a
/// copy of it can hold any subset of its children.
trait Nested: Clone {
    type Child: Clone;
    fn children(&self) -> &[Self::Child];
    fn with_children(&self, children: Vec<Self::Child>) -> Self;
}

macro_rules! nested {
    ($parent:ty, $field:ident, $child:ty) => {
        impl Nested for $parent {
            type Child = $child;
            fn children(&self) -> &[$child] {
                &self.$field
            }
            fn with_children(&self, children: Vec<$child>) -> Self {
                let mut copy = Self {
                    $field: Vec::new(),
                    ..self.clone()
                };
                copy.$field = children;
                copy
            }
        }
    };
}

nested!(ResourceSpans, scope_spans, ScopeSpans);
nested!(ScopeSpans, spans, Span);
nested!(ResourceLogs, scope_logs, ScopeLogs);
nested!(ScopeLogs, log_records, LogRecord);
nested!(ResourceMetrics, scope_metrics, ScopeMetrics);
nested!(ScopeMetrics, metrics, Metric);

/// Per shard, a copy of `parent` with the pieces of its children that
/// shard owns (`None` when it owns none); `pieces` says which shard owns
/// what of one child.
fn split_children<N: Nested>(
    parent: &N,
    shards: usize,
    pieces: impl Fn(&N::Child) -> Vec<(usize, N::Child)>,
) -> Vec<Option<N>> {
    let mut per: Vec<Vec<N::Child>> = vec![Vec::new(); shards];
    for child in parent.children() {
        for (i, piece) in pieces(child) {
            per[i].push(piece);
        }
    }
    per.into_iter()
        .map(|c| (!c.is_empty()).then(|| parent.with_children(c)))
        .collect()
}

/// The shards' copies as (shard, copy) pieces.
fn owned<T>(per: Vec<Option<T>>) -> Vec<(usize, T)> {
    per.into_iter()
        .enumerate()
        .filter_map(|(i, x)| x.map(|x| (i, x)))
        .collect()
}

/// Each shard's resources of an export, encoded as `wrap` makes them an
/// export (`None`: nothing for that shard).
fn encode_per_shard<R, M: Message>(
    per: Vec<Vec<R>>,
    wrap: impl Fn(Vec<R>) -> M,
) -> Vec<Option<Vec<u8>>> {
    per.into_iter()
        .map(|r| (!r.is_empty()).then(|| wrap(r).encode_to_vec()))
        .collect()
}

/// The resources of an export split by `split`, gathered per shard.
fn per_shard<R>(
    resources: Vec<R>,
    shards: usize,
    split: impl Fn(&R) -> Vec<Option<R>>,
) -> Vec<Vec<R>> {
    let mut out: Vec<Vec<R>> = (0..shards).map(|_| Vec::new()).collect();
    for r in &resources {
        for (i, part) in owned(split(r)) {
            out[i].push(part);
        }
    }
    out
}

/// Splits a trace export into one export per shard (`None`: nothing for
/// that shard).
pub fn split_traces(req: ExportTraceServiceRequest, shards: usize) -> Vec<Option<Vec<u8>>> {
    let per = per_shard(req.resource_spans, shards, |rs| {
        split_children(rs, shards, |ss| {
            owned(split_children(ss, shards, |span| {
                vec![(trace_shard(&span.trace_id, shards), span.clone())]
            }))
        })
    });
    encode_per_shard(per, |resource_spans| ExportTraceServiceRequest {
        resource_spans,
    })
}

/// Splits a log export by owner (trace id, else service).
pub fn split_logs(req: ExportLogsServiceRequest, shards: usize) -> Vec<Option<Vec<u8>>> {
    let per = per_shard(req.resource_logs, shards, |rl| {
        let service = jump(
            fnv1a64(&[service_name(rl.resource.as_ref()).as_bytes()]),
            shards,
        );
        split_children(rl, shards, |sl| {
            owned(split_children(sl, shards, |log| {
                let i = match has_trace(&log.trace_id) {
                    true => trace_shard(&log.trace_id, shards),
                    false => service,
                };
                vec![(i, log.clone())]
            }))
        })
    });
    encode_per_shard(per, |resource_logs| ExportLogsServiceRequest {
        resource_logs,
    })
}

/// A metric's points split by series: one copy of the metric per shard
/// that owns some of its points.
fn split_metric(m: &Metric, service: &str, shards: usize) -> Vec<Option<Metric>> {
    macro_rules! by_points {
        ($variant:ident, $data:expr) => {{
            let mut per: Vec<Option<Metric>> = vec![None; shards];
            for p in &$data.data_points {
                let i = series_shard(service, &m.name, &p.attributes, shards);
                let copy = per[i].get_or_insert_with(|| {
                    let mut d = $data.clone();
                    d.data_points.clear();
                    Metric {
                        data: Some(metric::Data::$variant(d)),
                        ..m.clone()
                    }
                });
                if let Some(metric::Data::$variant(d)) = &mut copy.data {
                    d.data_points.push(p.clone());
                }
            }
            per
        }};
    }
    match &m.data {
        Some(metric::Data::Gauge(d)) => by_points!(Gauge, d),
        Some(metric::Data::Sum(d)) => by_points!(Sum, d),
        Some(metric::Data::Histogram(d)) => by_points!(Histogram, d),
        Some(metric::Data::ExponentialHistogram(d)) => by_points!(ExponentialHistogram, d),
        Some(metric::Data::Summary(d)) => by_points!(Summary, d),
        // No points: the engine judges it; its owner is the name's.
        None => {
            let mut per = vec![None; shards];
            per[series_shard(service, &m.name, &[], shards)] = Some(m.clone());
            per
        }
    }
}

/// Splits a metric export by series.
pub fn split_metrics(req: ExportMetricsServiceRequest, shards: usize) -> Vec<Option<Vec<u8>>> {
    let per = per_shard(req.resource_metrics, shards, |rm| {
        let service = service_name(rm.resource.as_ref()).to_string();
        split_children(rm, shards, |sm| {
            owned(split_children(sm, shards, |m| {
                owned(split_metric(m, &service, shards))
            }))
        })
    });
    encode_per_shard(per, |resource_metrics| ExportMetricsServiceRequest {
        resource_metrics,
    })
}

/// Splits an export of `signal` (its protobuf request) by owner.
pub fn split(
    signal: Signal,
    request: &[u8],
    shards: usize,
) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
    let shards = shards.max(1);
    Ok(match signal {
        Signal::Spans => split_traces(
            ExportTraceServiceRequest::decode(request).map_err(|e| invalid(signal, e))?,
            shards,
        ),
        Signal::Logs => split_logs(
            ExportLogsServiceRequest::decode(request).map_err(|e| invalid(signal, e))?,
            shards,
        ),
        Signal::Metrics => split_metrics(
            ExportMetricsServiceRequest::decode(request).map_err(|e| invalid(signal, e))?,
            shards,
        ),
    })
}

/// One shard a router writes to.
#[derive(Clone)]
pub struct IngestShard {
    pub name: String,
    pub ingest: Arc<dyn Ingest>,
}

/// An [`Ingest`] that splits every export by owner and stores each share
/// on its shard (see the module doc). The outcome sums the shards'
/// outcomes; when a shard fails, the export fails (the client retries it
/// whole, and the shards that stored their share drop the re-delivery).
pub struct ShardedIngest {
    shards: Vec<IngestShard>,
}

impl ShardedIngest {
    pub fn new(shards: Vec<IngestShard>) -> ShardedIngest {
        ShardedIngest { shards }
    }
}

impl Ingest for ShardedIngest {
    fn export(
        &self,
        signal: Signal,
        request: Bytes,
    ) -> BoxFuture<'_, Result<ExportOutcome, StorageError>> {
        async move {
            let shares = split(signal, &request, self.shards.len())?;
            let sent = join_all(self.shards.iter().zip(shares).filter_map(|(s, share)| {
                share.map(|b| async move { (s, s.ingest.export(signal, Bytes::from(b)).await) })
            }))
            .await;
            let mut out = ExportOutcome::default();
            let mut messages = Vec::new();
            for (shard, outcome) in sent {
                let o = outcome.map_err(|e| match e {
                    StorageError::InvalidArgument(m) => StorageError::InvalidArgument(m),
                    other => StorageError::Unavailable(format!("shard {}: {other}", shard.name)),
                })?;
                out.stored += o.stored;
                out.duplicates += o.duplicates;
                out.rejected += o.rejected;
                out.seq = out.seq.max(o.seq);
                if !o.error_message.is_empty() {
                    messages.push(o.error_message);
                }
            }
            out.error_message = messages.join("; ");
            Ok(out)
        }
        .boxed()
    }

    fn add_comment(
        &self,
        comment: TraceComment,
    ) -> BoxFuture<'_, Result<TraceComment, StorageError>> {
        async move {
            let id = hex::decode(&comment.trace_id).map_err(|_| {
                StorageError::InvalidArgument(format!(
                    "invalid trace id {:?}: expected 32 hex characters",
                    comment.trace_id
                ))
            })?;
            let Some(shard) = self.shards.get(trace_shard(&id, self.shards.len())) else {
                return Err(StorageError::Unavailable("no shard to store on".into()));
            };
            shard.ingest.add_comment(comment).await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
