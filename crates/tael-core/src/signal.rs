//! The three kinds of telemetry tael stores, and every name each one goes
//! by: its table and directory name, its byte in WAL records, its OTLP
//! collector service and OTLP/HTTP path, and the `partial_success` field
//! that counts its rejected items.

use serde::{Deserialize, Serialize};

/// A signal: spans (from trace exports), log records or metric points.
///
/// Serialised as `"spans"`, `"logs"`, `"metrics"` (the manifest stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Spans,
    Logs,
    Metrics,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Spans, Signal::Logs, Signal::Metrics];

    /// The table (SQL), directory (parts) and manifest name.
    pub const fn name(self) -> &'static str {
        match self {
            Signal::Spans => "spans",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// The kind byte of a WAL record holding an export of this signal
    /// (an OTLP `Export*ServiceRequest`, protobuf-encoded). Part of the WAL
    /// format: never renumber.
    pub const fn wal_byte(self) -> u8 {
        match self {
            Signal::Spans => 1,
            Signal::Logs => 2,
            Signal::Metrics => 3,
        }
    }

    /// The signal of a WAL record's kind byte.
    pub fn from_wal_byte(b: u8) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.wal_byte() == b)
    }

    /// The OTLP collector gRPC service that exports this signal.
    pub const fn otlp_service(self) -> &'static str {
        match self {
            Signal::Spans => "opentelemetry.proto.collector.trace.v1.TraceService",
            Signal::Logs => "opentelemetry.proto.collector.logs.v1.LogsService",
            Signal::Metrics => "opentelemetry.proto.collector.metrics.v1.MetricsService",
        }
    }

    /// The OTLP/HTTP path of exports of this signal.
    pub const fn otlp_http_path(self) -> &'static str {
        match self {
            Signal::Spans => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }

    /// The OTLP `partial_success` field (JSON name) counting rejected items.
    pub const fn rejected_field(self) -> &'static str {
        match self {
            Signal::Spans => "rejectedSpans",
            Signal::Logs => "rejectedLogRecords",
            Signal::Metrics => "rejectedDataPoints",
        }
    }

    /// The column that places a row in time (and in an hour partition).
    pub const fn time_column(self) -> &'static str {
        match self {
            Signal::Spans => "start_ns",
            Signal::Logs | Signal::Metrics => "time_ns",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_bytes_round_trip_and_never_change() {
        let bytes: Vec<u8> = Signal::ALL.iter().map(|s| s.wal_byte()).collect();
        assert_eq!(bytes, vec![1, 2, 3]);
        for s in Signal::ALL {
            assert_eq!(Signal::from_wal_byte(s.wal_byte()), Some(s));
        }
        assert_eq!(Signal::from_wal_byte(0), None);
        assert_eq!(
            serde_json::to_string(&Signal::ALL).unwrap(),
            r#"["spans","logs","metrics"]"#
        );
    }
}
