//! OTLP gRPC: the trace, logs and metrics collector services, accepting
//! gzip, with a configurable max message size (applied after decompression).

use crate::ingest::{store, Export};
use crate::AppState;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct Otlp {
    state: AppState,
}

#[tonic::async_trait]
impl TraceService for Otlp {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let out = store(&self.state, Export::Traces(request.into_inner()), None)
            .await
            .map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (out.rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: out.rejected as i64,
                error_message: out.error_message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let out = store(&self.state, Export::Logs(request.into_inner()), None)
            .await
            .map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (out.rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: out.rejected as i64,
                error_message: out.error_message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Otlp {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let out = store(&self.state, Export::Metrics(request.into_inner()), None)
            .await
            .map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (out.rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: out.rejected as i64,
                error_message: out.error_message,
            }),
        }))
    }
}

/// tonic answers a message over the size limit with OUT_OF_RANGE and an
/// undecodable message with INTERNAL; OTLP clients and tael's error codes
/// expect RESOURCE_EXHAUSTED and INVALID_ARGUMENT (INTERNAL would also make
/// them drop data they could not have sent correctly anyway, silently).
fn remap_decode_errors(
    mut resp: tonic::codegen::http::Response<tonic::body::Body>,
) -> tonic::codegen::http::Response<tonic::body::Body> {
    let h = resp.headers_mut();
    let status = h.get("grpc-status").map(|v| v.as_bytes().to_vec());
    let message = h
        .get("grpc-message")
        .map(|m| String::from_utf8_lossy(m.as_bytes()).replace("%20", " "))
        .unwrap_or_default();
    let remapped = match status.as_deref() {
        Some(b"11") if message.contains("too large") => Some("8"),
        Some(b"13") if message.contains("failed to decode") => Some("3"),
        _ => None,
    };
    if let Some(code) = remapped {
        h.insert(
            "grpc-status",
            tonic::codegen::http::HeaderValue::from_static(code),
        );
    }
    resp
}

/// Serves the three OTLP services on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let max = state.max_decompressed_bytes;
    let svc = Otlp { state };
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(remap_decode_errors))
        .add_service(
            TraceServiceServer::new(svc.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
        .add_service(
            LogsServiceServer::new(svc.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
        .add_service(
            MetricsServiceServer::new(svc)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
