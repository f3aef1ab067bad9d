//! OTLP protobuf decoded straight into Arrow batches in the part schemas
//! (`columnar`), without materialising prost structs or model rows — the
//! ingest hot path. `wire` reads the protobuf wire format, `json_text`
//! writes typed attribute JSON from it, `traces`, `logs` and
//! `metrics` build the batches of each signal.
//! Invalid items are rejected one by one (OTLP partial success); a
//! malformed payload is an error.

pub mod json_text;
pub mod logs;
pub mod metrics;
pub mod traces;
/// The protobuf wire reader (in `tael-core`, shared with its OTLP/JSON encoder).
pub use tael_core::otlp::wire;

#[cfg(test)]
mod proptests;

pub use logs::decode_logs;
pub use metrics::decode_metrics;
pub use traces::decode_traces;
pub use wire::WireError;

use crate::memtable::Prepared;
use arrow::array::{ArrayRef, StringBuilder, UInt32Builder};
use json_text::write_attrs;
use std::sync::Arc;
use tael_core::otlp::MapLimits;
use wire::Reader;

/// A decoded export: the rows to store and what was rejected.
pub struct Decoded {
    pub prepared: Prepared,
    /// Items not kept (invalid ids …).
    pub rejected: u64,
    /// The first few reasons, for `partial_success.error_message`.
    pub error_message: String,
    /// Each row's searchable texts (row number, texts; rows with none left
    /// out) when the decoder read them on the way (spans), else `None`.
    pub texts: Option<Vec<(usize, Vec<crate::text::docs::Text>)>>,
}

/// What a decoder keeps besides its columns: each stored row's identity
/// key (re-delivery detection) and time, and the rejected items.
#[derive(Default)]
pub(crate) struct Rows {
    keys: Vec<u64>,
    times: TimeRange,
    rejected: u64,
    error_message: String,
}

impl Rows {
    /// Counts an invalid item (and keeps the first few reasons).
    pub fn reject(&mut self, why: &str) {
        tael_core::otlp::note_rejection(&mut self.rejected, &mut self.error_message, why);
    }

    /// Records a stored row.
    pub fn add(&mut self, key: u64, time: i64) {
        self.keys.push(key);
        self.times.add(time);
    }

    /// The decoded export, once the columns are built.
    pub fn finish(
        self,
        signal: crate::manifest::Signal,
        batch: Result<arrow::array::RecordBatch, arrow::error::ArrowError>,
    ) -> Result<Decoded, WireError> {
        let batch =
            batch.map_err(|e| WireError::new(format!("building the {signal:?} batch: {e}")))?;
        Ok(Decoded {
            prepared: Prepared {
                signal,
                batch,
                keys: self.keys,
                min_time_ns: self.times.min,
                max_time_ns: self.times.max,
            },
            rejected: self.rejected,
            error_message: self.error_message,
            texts: None,
        })
    }
}

/// The resource and scope columns every signal has (adjacent, in this
/// order, in all three part schemas).
pub(crate) struct SharedCols {
    resource: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    scope_attributes: StringBuilder,
    scope_dropped: UInt32Builder,
}

impl SharedCols {
    pub fn new(rows: usize) -> Self {
        SharedCols {
            resource: StringBuilder::with_capacity(rows, rows * 64),
            scope_name: StringBuilder::with_capacity(rows, rows * 16),
            scope_version: StringBuilder::with_capacity(rows, rows * 4),
            scope_attributes: StringBuilder::with_capacity(rows, 0),
            scope_dropped: UInt32Builder::with_capacity(rows),
        }
    }

    pub fn append(&mut self, res: &ResourceInfo, scope: &ScopeInfo<'_>) {
        self.resource.append_value(&res.attributes);
        self.scope_name.append_value(scope.name);
        self.scope_version.append_value(scope.version);
        self.scope_attributes.append_value(&scope.attributes);
        self.scope_dropped.append_value(scope.dropped);
    }

    /// `resource, scope_name, scope_version, scope_attributes,
    /// scope_dropped_attributes_count`.
    pub fn finish(&mut self) -> [ArrayRef; 5] {
        [
            Arc::new(self.resource.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.scope_attributes.finish()),
            Arc::new(self.scope_dropped.finish()),
        ]
    }
}

/// Min and max of item times.
struct TimeRange {
    min: i64,
    max: i64,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange {
            min: i64::MAX,
            max: i64::MIN,
        }
    }
}

impl TimeRange {
    fn add(&mut self, t: i64) {
        self.min = self.min.min(t);
        self.max = self.max.max(t);
    }
}

/// Lower-case hex of an id of `N / 2` bytes, on the stack.
pub(crate) struct HexId<const N: usize>([u8; N]);

impl<const N: usize> HexId<N> {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Hex of an id already checked to be `N / 2` bytes long.
pub(crate) fn hex_id<const N: usize>(bytes: &[u8]) -> HexId<N> {
    let mut buf = [b'0'; N];
    let _ = hex::encode_to_slice(bytes, &mut buf);
    HexId(buf)
}

/// Typed JSON text of a capped attribute list ("" when empty) and how many
/// entries the cap dropped.
fn attrs_text(kvs: &[&[u8]], limits: MapLimits) -> Result<(String, u32), WireError> {
    let mut out = Vec::new();
    let dropped = write_attrs(&mut out, kvs, limits.max_attributes)?;
    let text = String::from_utf8(out).map_err(|e| WireError::new(e.to_string()))?;
    Ok((text, dropped))
}

/// Bounds the text one request may decode to. Resource, scope and metric
/// text is copied into every row of its items, so a small request with a
/// huge resource and many tiny items would decode to gigabytes (and
/// overflow Arrow's 32-bit offsets); each row's copy of shared text is
/// charged here, and past the allowance the request is refused as too
/// large (413 / RESOURCE_EXHAUSTED).
pub(crate) struct Budget {
    left: usize,
    limit: usize,
}

impl Budget {
    /// 64 MiB plus eight times the payload.
    pub fn for_payload(len: usize) -> Self {
        let limit = len.saturating_mul(8).saturating_add(64 << 20);
        Budget { left: limit, limit }
    }

    pub fn spend(&mut self, bytes: usize) -> Result<(), WireError> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(WireError {
                message: format!(
                    "request would decode to more than {} bytes of repeated resource, scope \
                     and metric text",
                    self.limit
                ),
                too_large: true,
            }),
        }
    }
}

/// How many items (spans, log records, metrics) an export holds, from the
/// message headers alone (nothing is decoded); `None` when it does not
/// parse (the decoder then says why). Sizes the column builders.
pub(crate) fn count_items(payload: &[u8]) -> Option<usize> {
    let mut n = 0;
    let mut req = Reader::new(payload);
    while let Some((tag, v)) = req.next_field().ok()? {
        if tag != 1 {
            continue;
        }
        let mut r = Reader::new(v.bytes("request.resource_*").ok()?);
        while let Some((tag, v)) = r.next_field().ok()? {
            if tag != 2 {
                continue;
            }
            let mut scope = Reader::new(v.bytes("scope_*").ok()?);
            while let Some((tag, _)) = scope.next_field().ok()? {
                n += usize::from(tag == 2);
            }
        }
    }
    Some(n)
}

/// Walks an export request of any signal, calling `item` with each item's
/// encoded message. Field numbers are the same for all three signals: the
/// request's resource groups are field 1; a group holds its `resource` (1)
/// and scope groups (2); a scope group holds its `scope` (1) and items (2).
/// Each item is charged its copy of the resource and scope text.
pub(crate) fn for_each_item<'a>(
    payload: &'a [u8],
    items: &str,
    limits: MapLimits,
    budget: &mut Budget,
    mut item: impl FnMut(&ResourceInfo, &ScopeInfo<'a>, &'a [u8], &mut Budget) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut req = Reader::new(payload);
    while let Some((tag, v)) = req.next_field()? {
        if tag != 1 {
            continue;
        }
        let mut resource = None;
        let mut scopes = Vec::new();
        let mut r = Reader::new(v.bytes("request.resource_*")?);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => resource = Some(v.bytes("resource")?),
                2 => scopes.push(v.bytes("scope_*")?),
                3 => {
                    v.str("schema_url")?;
                }
                _ => {}
            }
        }
        let res = ResourceInfo::decode(resource, limits)?;
        for group in scopes {
            let mut scope = None;
            let mut members = Vec::new();
            let mut r = Reader::new(group);
            while let Some((tag, v)) = r.next_field()? {
                match tag {
                    1 => scope = Some(v.bytes("scope")?),
                    2 => members.push(v.bytes(items)?),
                    3 => {
                        v.str("schema_url")?;
                    }
                    _ => {}
                }
            }
            let scope = ScopeInfo::decode(scope, limits)?;
            let shared = res.shared_len() + scope.shared_len();
            for m in members {
                budget.spend(shared)?;
                item(&res, &scope, m, budget)?;
            }
        }
    }
    Ok(())
}

/// A resource: its attributes as stored and its service name.
pub(crate) struct ResourceInfo {
    pub attributes: String,
    pub service: String,
}

impl ResourceInfo {
    /// Bytes of text every row of this resource repeats.
    pub fn shared_len(&self) -> usize {
        self.attributes.len() + self.service.len()
    }

    /// Decodes an encoded `Resource` (absent → no attributes).
    pub fn decode(bytes: Option<&[u8]>, limits: MapLimits) -> Result<Self, WireError> {
        let mut kvs = Vec::new();
        let mut r = Reader::new(bytes.unwrap_or_default());
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => kvs.push(v.bytes("Resource.attributes")?),
                2 => {
                    v.varint("Resource.dropped_attributes_count")?;
                }
                _ => {}
            }
        }
        let (attributes, _) = attrs_text(&kvs, limits)?;
        let typed = crate::columnar::json_to_attrs(&attributes);
        Ok(ResourceInfo {
            service: tael_core::otlp::service_name(&typed),
            attributes,
        })
    }
}

/// An instrumentation scope as stored.
pub(crate) struct ScopeInfo<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub attributes: String,
    pub dropped: u32,
}

impl<'a> ScopeInfo<'a> {
    /// Bytes of text every row of this scope repeats.
    pub fn shared_len(&self) -> usize {
        self.name.len() + self.version.len() + self.attributes.len()
    }

    /// Decodes an encoded `InstrumentationScope` (absent → empty).
    pub fn decode(bytes: Option<&'a [u8]>, limits: MapLimits) -> Result<Self, WireError> {
        let mut s = ScopeInfo {
            name: "",
            version: "",
            attributes: String::new(),
            dropped: 0,
        };
        let mut kvs = Vec::new();
        let mut r = Reader::new(bytes.unwrap_or_default());
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => s.name = v.str("InstrumentationScope.name")?,
                2 => s.version = v.str("InstrumentationScope.version")?,
                3 => kvs.push(v.bytes("InstrumentationScope.attributes")?),
                4 => s.dropped = v.varint("InstrumentationScope.dropped_attributes_count")? as u32,
                _ => {}
            }
        }
        let (attributes, cap_dropped) = attrs_text(&kvs, limits)?;
        s.attributes = attributes;
        s.dropped = s.dropped.saturating_add(cap_dropped);
        Ok(s)
    }
}
