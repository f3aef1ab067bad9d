//! The ingest path shared by OTLP gRPC and OTLP/HTTP: decompress within
//! limits, decode (protobuf or OTLP/JSON), map (lossless, item-level
//! rejection), then store durably on a blocking thread and report partial
//! success.

use crate::error::ApiError;
use crate::AppState;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
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

/// A decoded export request of any signal, with its protobuf bytes (what
/// the WAL stores).
pub enum Export {
    Traces(ExportTraceServiceRequest),
    Logs(ExportLogsServiceRequest),
    Metrics(ExportMetricsServiceRequest),
}

impl Export {
    /// Decodes a protobuf body.
    pub fn decode_protobuf(kind: SignalKind, body: &[u8]) -> Result<Export, ApiError> {
        let bad =
            |e: prost::DecodeError| ApiError::bad_request(format!("invalid OTLP protobuf: {e}"));
        Ok(match kind {
            SignalKind::Traces => {
                Export::Traces(ExportTraceServiceRequest::decode(body).map_err(bad)?)
            }
            SignalKind::Logs => Export::Logs(ExportLogsServiceRequest::decode(body).map_err(bad)?),
            SignalKind::Metrics => {
                Export::Metrics(ExportMetricsServiceRequest::decode(body).map_err(bad)?)
            }
        })
    }

    /// Decodes an OTLP/JSON body.
    pub fn decode_json(kind: SignalKind, body: &[u8]) -> Result<Export, ApiError> {
        Ok(match kind {
            SignalKind::Traces => Export::Traces(otlp::json::decode_traces(body)?),
            SignalKind::Logs => Export::Logs(otlp::json::decode_logs(body)?),
            SignalKind::Metrics => Export::Metrics(otlp::json::decode_metrics(body)?),
        })
    }
}

/// Maps and stores an export. `raw` is the protobuf encoding when the
/// request arrived as protobuf (saves re-encoding it for the WAL).
pub async fn store(
    state: &AppState,
    export: Export,
    raw: Option<Bytes>,
) -> Result<ExportOutcome, ApiError> {
    let engine = state.engine.clone();
    let limits = state.map_limits;
    tokio::task::spawn_blocking(move || -> Result<ExportOutcome, ApiError> {
        let payload = |m: &dyn Fn() -> Vec<u8>| raw.clone().map(|b| b.to_vec()).unwrap_or_else(m);
        let (accepted, rejected, error_message) = match export {
            Export::Traces(req) => {
                let mapped = otlp::spans_from_request(&req, limits);
                let n = mapped.items.len();
                if n > 0 {
                    engine.ingest_spans(&payload(&|| req.encode_to_vec()), mapped.items)?;
                }
                (n, mapped.rejected, mapped.error_message)
            }
            Export::Logs(req) => {
                let mapped = otlp::logs_from_request(&req, limits);
                let n = mapped.items.len();
                if n > 0 {
                    engine.ingest_logs(&payload(&|| req.encode_to_vec()), mapped.items)?;
                }
                (n, mapped.rejected, mapped.error_message)
            }
            Export::Metrics(req) => {
                let mapped = otlp::metrics_from_request(&req, limits);
                let n = mapped.items.len();
                if n > 0 {
                    engine.ingest_metrics(&payload(&|| req.encode_to_vec()), mapped.items)?;
                }
                (n, mapped.rejected, mapped.error_message)
            }
        };
        Ok(ExportOutcome {
            accepted,
            rejected,
            error_message,
        })
    })
    .await?
}
