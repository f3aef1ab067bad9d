//! OTLP → model mapping. Lossless: resource and scope attributes, links,
//! status message, trace_state, flags, typed and nested values, structured
//! log bodies, histogram buckets, exponential histograms, summary quantiles,
//! temporality and monotonicity all survive. Invalid items are rejected one
//! by one (counted for OTLP `partial_success`); the rest of a batch is kept.
//!
//! [`reference`] is the mapping written plainly over the decoded protobuf
//! types: the specification the ingest decoders of `tael-storage` (which
//! read the wire bytes straight into columns) are property-tested against.
//! Ingest never runs it; a mapping fix goes into both. OTLP/JSON is [`json`]
//! (decoding) and [`json_encode`].

pub mod from_model;
pub mod json;
pub mod json_encode;
mod logs;
mod metrics;
#[cfg(test)]
mod proptests;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod traces;
pub mod wire;

pub use traces::{kind_name, status_name};

/// The reference OTLP → model mapping (see the module docs).
pub mod reference {
    pub use super::logs::logs_from_request;
    pub use super::metrics::metrics_from_request;
    pub use super::traces::spans_from_request;
}

use crate::attr::kvs_to_json_map;
use crate::model::{Attrs, Scope};
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::sync::Arc;

/// Per-item limits applied while mapping.
#[derive(Debug, Clone, Copy)]
pub struct MapLimits {
    /// Attributes kept per span/event/link/log/point; the rest are dropped
    /// and counted in `dropped_attributes_count`.
    pub max_attributes: usize,
}

impl Default for MapLimits {
    fn default() -> Self {
        MapLimits {
            max_attributes: 1024,
        }
    }
}

/// The result of mapping one export request.
#[derive(Debug, Default)]
pub struct Mapped<T> {
    pub items: Vec<T>,
    /// Items that were invalid and not kept.
    pub rejected: u64,
    /// Why (the first few reasons), for `partial_success.error_message`.
    pub error_message: String,
}

impl<T> Mapped<T> {
    pub(crate) fn reject(&mut self, why: &str) {
        note_rejection(&mut self.rejected, &mut self.error_message, why);
    }
}

/// Counts one rejected item and keeps the first few reasons (joined by
/// "; ") for `partial_success.error_message`.
pub fn note_rejection(count: &mut u64, message: &mut String, why: &str) {
    *count += 1;
    if *count <= 3 {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(why);
    }
}

/// Typed attributes, capped; returns (map, dropped count added by the cap).
pub(crate) fn capped_attrs(kvs: &[KeyValue], limits: MapLimits) -> (Attrs, u32) {
    if kvs.len() <= limits.max_attributes {
        return (kvs_to_json_map(kvs), 0);
    }
    let kept = &kvs[..limits.max_attributes];
    (kvs_to_json_map(kept), (kvs.len() - kept.len()) as u32)
}

pub(crate) fn resource_parts(
    resource: Option<&Resource>,
    limits: MapLimits,
) -> (Arc<Attrs>, String) {
    let attrs: Attrs = resource
        .map(|r| capped_attrs(&r.attributes, limits).0)
        .unwrap_or_default();
    let service = service_name(&attrs);
    (Arc::new(attrs), service)
}

/// The service of a resource: `service.name` as flat text, "unknown" when
/// absent or empty.
pub fn service_name(resource: &Attrs) -> String {
    match resource.get("service.name").map(crate::attr::json_to_flat) {
        Some(s) if !s.is_empty() => s,
        _ => "unknown".to_string(),
    }
}

pub(crate) fn scope_of(scope: Option<&InstrumentationScope>, limits: MapLimits) -> Arc<Scope> {
    Arc::new(match scope {
        None => Scope::default(),
        Some(s) => {
            let (attributes, dropped) = capped_attrs(&s.attributes, limits);
            Scope {
                name: s.name.clone(),
                version: s.version.clone(),
                attributes,
                dropped_attributes_count: s.dropped_attributes_count.saturating_add(dropped),
            }
        }
    })
}

/// Unsigned nanoseconds → signed, saturating.
pub fn ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Hex of an id, validating its length and that it is not all zero.
pub(crate) fn id_hex(bytes: &[u8], len: usize, what: &str) -> Result<String, String> {
    check_id(bytes, len, what)?;
    Ok(hex::encode(bytes))
}

/// Checks an id's length and that it is not all zero.
pub fn check_id(bytes: &[u8], len: usize, what: &str) -> Result<(), String> {
    if bytes.len() != len {
        return Err(format!("{what} must be {len} bytes, got {}", bytes.len()));
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err(format!("{what} must not be all zero"));
    }
    Ok(())
}

/// Whether an optional id is absent (empty or all zero).
fn id_absent(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == 0)
}

/// Hex of an optional id: empty or all-zero means absent.
pub(crate) fn opt_id_hex(bytes: &[u8], len: usize, what: &str) -> Result<Option<String>, String> {
    Ok(check_opt_id(bytes, len, what)?.then(|| hex::encode(bytes)))
}

/// Checks an optional id (empty or all zero means absent); whether present.
pub fn check_opt_id(bytes: &[u8], len: usize, what: &str) -> Result<bool, String> {
    if id_absent(bytes) {
        return Ok(false);
    }
    check_id(bytes, len, what).map(|_| true)
}
