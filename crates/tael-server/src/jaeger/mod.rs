//! The Jaeger query APIs: v1 JSON ([`v1`]), api_v3 over HTTP
//! ([`v3_http`]) and the api_v3 gRPC `QueryService` ([`api_v3`]), all over
//! one implementation of what they ask of the store ([`query`]).
//!
//! [`proto`] is generated from the vendored
//! `proto/jaeger/api_v3/query_service.proto` by
//! `scripts/gen-jaeger-proto.sh` (protox and tonic-prost-build, no
//! protoc); its OTLP types are opentelemetry-proto's.

pub mod api_v3;
pub mod query;
pub mod v1;
pub mod v3_http;

/// The generated messages, client and server of `jaeger.api_v3`.
#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
pub mod proto {
    include!("proto/jaeger.api_v3.rs");
}

/// The v1 and v3 HTTP routes.
pub fn routes() -> axum::Router<crate::AppState> {
    v1::routes().merge(v3_http::routes())
}
