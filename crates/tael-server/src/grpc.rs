//! OTLP gRPC: the trace, logs and metrics collector `Export` methods,
//! accepting gzip, with a configurable max message size (applied after
//! decompression), and beside them Jaeger's api_v3 `QueryService`
//! ([`crate::jaeger::api_v3`]).
//!
//! The services take the request message as raw bytes (a pass-through
//! codec) and decode it themselves, so the exact protobuf the client sent is
//! what the WAL stores: nothing is re-encoded on the ack path.

use crate::ingest::{export, Encoding};
use crate::jaeger::api_v3::QueryApi;
use crate::jaeger::proto::query_service_server::QueryServiceServer;
use crate::AppState;
use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use tael_core::Signal;
use tael_query::store::ExportOutcome;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http;
use tonic::{Request, Response, Status};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A codec that hands message bytes through untouched (also used by the
/// load generator's client).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Which collector service a [`RawExport`] serves.
pub trait OtlpSignal: Send + Sync + 'static {
    const SIGNAL: Signal;
}

pub struct Traces;
pub struct Logs;
pub struct Metrics;

impl OtlpSignal for Traces {
    const SIGNAL: Signal = Signal::Spans;
}

impl OtlpSignal for Logs {
    const SIGNAL: Signal = Signal::Logs;
}

impl OtlpSignal for Metrics {
    const SIGNAL: Signal = Signal::Metrics;
}

/// Whether `path` is `/<service>/Export`.
fn is_export_path(path: &str, service: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(service))
        .is_some_and(|rest| rest == "/Export")
}

/// Partial success in all three export responses: field 1 =
/// `partial_success { 1: rejected count (int64), 2: error_message }`.
#[derive(Clone, PartialEq, prost::Message)]
struct PartialSuccess {
    #[prost(int64, tag = "1")]
    rejected: i64,
    #[prost(string, tag = "2")]
    error_message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ExportResponse {
    #[prost(message, optional, tag = "1")]
    partial_success: Option<PartialSuccess>,
}

/// The protobuf export response for an outcome (same layout for every signal).
pub fn export_response(out: &ExportOutcome) -> Vec<u8> {
    ExportResponse {
        partial_success: (out.rejected > 0).then(|| PartialSuccess {
            rejected: out.rejected as i64,
            error_message: out.error_message.clone(),
        }),
    }
    .encode_to_vec()
}

struct ExportHandler {
    state: AppState,
    kind: Signal,
}

impl tonic::server::UnaryService<Bytes> for ExportHandler {
    type Response = Bytes;
    type Future = BoxFuture<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let kind = self.kind;
        Box::pin(async move {
            let body = request.into_inner();
            let out = export(&state, kind, Encoding::Protobuf, body)
                .await
                .map_err(|e| e.to_grpc())?;
            Ok(Response::new(Bytes::from(export_response(&out))))
        })
    }
}

/// One OTLP collector service (its `Export` method) over raw bytes.
pub struct RawExport<S> {
    state: AppState,
    signal: PhantomData<S>,
}

impl<S> Clone for RawExport<S> {
    fn clone(&self) -> Self {
        RawExport {
            state: self.state.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: OtlpSignal> tonic::server::NamedService for RawExport<S> {
    const NAME: &'static str = S::SIGNAL.otlp_service();
}

impl<S: OtlpSignal> tower::Service<http::Request<tonic::body::Body>> for RawExport<S> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move {
            if !is_export_path(req.uri().path(), S::SIGNAL.otlp_service()) {
                return Ok(
                    Status::unimplemented(format!("no method {}", req.uri().path())).into_http(),
                );
            }
            let max = state.max_decompressed_bytes;
            let handler = ExportHandler {
                state,
                kind: S::SIGNAL,
            };
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max)
                .max_encoding_message_size(max);
            Ok(grpc.unary(handler, req).await)
        })
    }
}

/// tonic answers a message over the size limit with OUT_OF_RANGE; OTLP
/// clients and tael's error codes expect RESOURCE_EXHAUSTED for "too large".
fn remap_too_large(
    mut resp: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let h = resp.headers_mut();
    let out_of_range = h.get("grpc-status").is_some_and(|v| v.as_bytes() == b"11");
    let too_large = h.get("grpc-message").is_some_and(|m| {
        String::from_utf8_lossy(m.as_bytes())
            .replace("%20", " ")
            .contains("too large")
    });
    if out_of_range && too_large {
        h.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    resp
}

/// Serves the three OTLP services and Jaeger's api_v3 `QueryService` on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        // Export requests are large (hundreds of KiB): with HTTP/2's default
        // 64 KiB windows a client stalls on flow control several times per
        // request. Larger windows let a whole request arrive in one go.
        .initial_stream_window_size(Some(8 << 20))
        .initial_connection_window_size(Some(32 << 20))
        .max_frame_size(Some(1 << 20))
        .layer(tower::util::MapResponseLayer::new(remap_too_large))
        .add_service(RawExport::<Traces> {
            state: state.clone(),
            signal: PhantomData,
        })
        .add_service(RawExport::<Logs> {
            state: state.clone(),
            signal: PhantomData,
        })
        .add_service(RawExport::<Metrics> {
            state: state.clone(),
            signal: PhantomData,
        })
        .add_service(
            QueryServiceServer::new(QueryApi { store: state.store })
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}
