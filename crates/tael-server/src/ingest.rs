//! The ingest path shared by OTLP gRPC and OTLP/HTTP: decompress within
//! limits, decode (protobuf or OTLP/JSON), map (lossless, item-level
//! rejection), then store durably on a blocking thread and report partial
//! success.

use crate::error::ApiError;
use crate::AppState;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
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

fn bad_protobuf(e: prost::DecodeError) -> ApiError {
    ApiError::bad_request(format!("invalid OTLP protobuf: {e}"))
}

/// Decodes an export body into the prost request type.
fn decode<T: Message + Default>(
    enc: Encoding,
    body: &[u8],
    json: impl Fn(&[u8]) -> Result<T, tael_core::CoreError>,
) -> Result<T, ApiError> {
    match enc {
        Encoding::Protobuf => T::decode(body).map_err(bad_protobuf),
        Encoding::Json => Ok(json(body)?),
    }
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
    let permit = state.ingest_permits.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            ErrorCode::Overloaded,
            "too many export requests in flight; retry shortly",
        )
    })?;
    let engine = state.engine.clone();
    let limits = state.map_limits;
    tokio::task::spawn_blocking(move || -> Result<ExportOutcome, ApiError> {
        let _permit = permit;
        // The WAL keeps the protobuf encoding of every request.
        let protobuf = |encode: &dyn Fn() -> Vec<u8>| match enc {
            Encoding::Protobuf => body.to_vec(),
            Encoding::Json => encode(),
        };
        match kind {
            SignalKind::Traces => {
                let out = match enc {
                    Encoding::Protobuf => engine.ingest_traces(&body)?,
                    Encoding::Json => {
                        let req = otlp::json::decode_traces(&body)?;
                        engine.ingest_traces(&req.encode_to_vec())?
                    }
                };
                Ok(ExportOutcome {
                    accepted: out.accepted + out.duplicates,
                    rejected: out.rejected,
                    error_message: out.error_message,
                })
            }
            SignalKind::Logs => {
                let req: ExportLogsServiceRequest = decode(enc, &body, otlp::json::decode_logs)?;
                let mapped = otlp::logs_from_request(&req, limits);
                let accepted = mapped.items.len();
                if accepted > 0 {
                    engine.ingest_logs(&protobuf(&|| req.encode_to_vec()), mapped.items)?;
                }
                Ok(ExportOutcome {
                    accepted,
                    rejected: mapped.rejected,
                    error_message: mapped.error_message,
                })
            }
            SignalKind::Metrics => {
                let req: ExportMetricsServiceRequest =
                    decode(enc, &body, otlp::json::decode_metrics)?;
                let mapped = otlp::metrics_from_request(&req, limits);
                let accepted = mapped.items.len();
                if accepted > 0 {
                    engine.ingest_metrics(&protobuf(&|| req.encode_to_vec()), mapped.items)?;
                }
                Ok(ExportOutcome {
                    accepted,
                    rejected: mapped.rejected,
                    error_message: mapped.error_message,
                })
            }
        }
    })
    .await?
}
