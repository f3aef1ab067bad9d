//! The ingest path shared by OTLP gRPC, OTLP/HTTP and remote-write:
//! decompress within limits, bring OTLP/JSON to protobuf, admit within
//! the in-flight bound, and hand the export to the node's [`Ingest`]
//! (which stores it durably and reports partial success).
//!
//! [`Ingest`]: tael_query::Ingest

use crate::error::ApiError;
use crate::AppState;
use bytes::Bytes;
use std::io::Read;
use tael_core::otlp;
use tael_core::{ErrorCode, Signal};
use tael_query::store::ExportOutcome;

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

/// The protobuf of an OTLP/JSON export (transcoded in one pass).
fn json_to_protobuf(signal: Signal, body: &[u8]) -> Result<Bytes, ApiError> {
    Ok(match signal {
        Signal::Spans => otlp::json::traces_to_protobuf(body)?,
        Signal::Logs => otlp::json::logs_to_protobuf(body)?,
        Signal::Metrics => otlp::json::metrics_to_protobuf(body)?,
    }
    .into())
}

/// Stores one export request (already decompressed) durably and reports
/// partial success. At most `max_inflight_requests` are stored at once;
/// beyond that the answer is 429 / UNAVAILABLE so that clients retry.
pub async fn export(
    state: &AppState,
    signal: Signal,
    enc: Encoding,
    body: Bytes,
) -> Result<ExportOutcome, ApiError> {
    let _permit = state
        .ingest_permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                ErrorCode::Overloaded,
                "too many export requests in flight; retry shortly",
            )
        })?;
    // The WAL keeps protobuf: OTLP/JSON is transcoded first.
    let protobuf = match enc {
        Encoding::Protobuf => body,
        Encoding::Json => {
            tokio::task::spawn_blocking(move || json_to_protobuf(signal, &body)).await??
        }
    };
    Ok(state.ingest.export(signal, protobuf).await?)
}
