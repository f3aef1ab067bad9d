//! OTLP gRPC: the trace, logs and metrics collector services, accepting
//! gzip, with a configurable max message size (applied after decompression).

use crate::ingest::{store, Export};
use crate::AppState;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{MetricsService, MetricsServiceServer};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
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
        let out = store(&self.state, Export::Traces(request.into_inner()), None).await.map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (out.rejected > 0).then(|| ExportTracePartialSuccess {
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
        let out = store(&self.state, Export::Logs(request.into_inner()), None).await.map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (out.rejected > 0).then(|| ExportLogsPartialSuccess {
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
        let out = store(&self.state, Export::Metrics(request.into_inner()), None).await.map_err(|e| e.to_grpc())?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (out.rejected > 0).then(|| ExportMetricsPartialSuccess {
                rejected_data_points: out.rejected as i64,
                error_message: out.error_message,
            }),
        }))
    }
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
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await
}
