//! The ingest path shared by OTLP gRPC and OTLP/HTTP: decompress within
//! limits, decode (protobuf or OTLP/JSON), map (lossless, item-level
//! rejection), then store durably on a blocking thread and report partial
//! success.

use crate::error::ApiError;
use crate::AppState;
use bytes::Bytes;
use prost::Message;
use std::io::Read;
use tael_core::otlp;
use tael_core::ErrorCode;

/// Which signal a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Traces,
    Logs,
    Metrics,
}

impl SignalKind {
    /// The OTLP `partial_success` field name for rejected items.
    pub fn rejected_field(self) -> &'static str {
        match self {
            SignalKind::Traces => "rejectedSpans",
            SignalKind::Logs => "rejectedLogRecords",
            SignalKind::Metrics => "rejectedDataPoints",
        }
    }
}

/// The result of one export: how many items were rejected and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    pub accepted: usize,
    pub rejected: u64,
    pub error_message: String,
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
pub fn gunzip_limited(body: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let decoder = flate2::read::MultiGzDecoder::new(body);
    let n = decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("invalid gzip body: {e}")))?;
    if n > limit {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("decompressed body exceeds the limit of {limit} bytes"),
        ));
    }
    Ok(out)
}

/// How an export body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Stores one export request (already decompressed) durably and reports
/// partial success. At most `max_inflight_requests` are stored at once;
/// beyond that the answer is 429 / UNAVAILABLE so that clients retry.
pub async fn export(
    state: &AppState,
    kind: SignalKind,
    enc: Encoding,
    body: Bytes,
) -> Result<ExportOutcome, ApiError> {
    let permit = state
        .ingest_permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                ErrorCode::Overloaded,
                "too many export requests in flight; retry shortly",
            )
        })?;
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || -> Result<ExportOutcome, ApiError> {
        let _permit = permit;
        // Decoded straight from protobuf into columns by the engine;
        // OTLP/JSON is re-encoded as protobuf first (the WAL keeps protobuf).
        let protobuf: Bytes = match (enc, kind) {
            (Encoding::Protobuf, _) => body,
            (Encoding::Json, SignalKind::Traces) => {
                otlp::json::decode_traces(&body)?.encode_to_vec().into()
            }
            (Encoding::Json, SignalKind::Logs) => {
                otlp::json::decode_logs(&body)?.encode_to_vec().into()
            }
            (Encoding::Json, SignalKind::Metrics) => {
                otlp::json::decode_metrics(&body)?.encode_to_vec().into()
            }
        };
        let out = match kind {
            SignalKind::Traces => engine.ingest_traces(&protobuf)?,
            SignalKind::Logs => engine.ingest_logs(&protobuf)?,
            SignalKind::Metrics => engine.ingest_metrics(&protobuf)?,
        };
        Ok(ExportOutcome {
            accepted: out.accepted + out.duplicates,
            rejected: out.rejected,
            error_message: out.error_message,
        })
    })
    .await?
}
