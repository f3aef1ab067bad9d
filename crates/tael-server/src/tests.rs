//! Router tests (requests through the axum router in process, no sockets)
//! and the in-process harness with several nodes at once.

use crate::config::IngestLimits;
use crate::testing::{test_config, TestNode};
use crate::{AppState, Node};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tael_query::api::ServicesRequest;
use tower::ServiceExt;

fn limits() -> IngestLimits {
    test_config(std::path::Path::new("/unused")).ingest
}

fn app(state: AppState) -> axum::Router {
    crate::rest::routes()
        .merge(crate::otlp_http::routes())
        .with_state(state)
}

async fn answer(
    app: &axum::Router,
    req: Request<Body>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, body, headers)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_mistakes_are_4xx_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::build(&test_config(dir.path())).await.unwrap();
    let app = app(AppState::new(&node, &limits()));
    let cases = [
        (
            "/api/v1/traces?limit=0",
            400,
            "invalid_argument",
            "invalid limit",
        ),
        (
            "/api/v1/traces?status=weird",
            400,
            "invalid_argument",
            "invalid status",
        ),
        (
            "/api/v1/traces/xyz",
            400,
            "invalid_argument",
            "invalid trace id",
        ),
        (
            "/api/v1/logs?last=soon",
            400,
            "invalid_argument",
            "last: invalid duration",
        ),
        (
            "/api/v1/summary?last=0s",
            400,
            "invalid_argument",
            "last must be positive",
        ),
        (
            "/api/v1/llm/usage?by=colour",
            400,
            "invalid_argument",
            "by=\"colour\"",
        ),
        (
            "/api/v1/correlate",
            400,
            "invalid_argument",
            "trace (a trace id) is required",
        ),
        (
            "/api/v1/sql?q=DROP%20TABLE%20spans",
            400,
            "invalid_argument",
            "read-only",
        ),
        (
            "/api/v1/blobs/abc",
            400,
            "invalid_argument",
            "invalid sha256",
        ),
        (
            "/api/v1/traces/0af7651916cd43dd8448eb211c80319c",
            404,
            "not_found",
            "trace not found",
        ),
        (
            "/no/such/route",
            404,
            "not_found",
            "no route for GET /no/such/route",
        ),
    ];
    for (uri, status, code, message) in cases {
        let (st, body, _) = answer(&app, get(uri)).await;
        assert_eq!(st.as_u16(), status, "{uri}: {body}");
        assert_eq!(body["code"], code, "{uri}: {body}");
        let text = body["error"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{uri}: {body}");
    }
    let (st, body, _) = answer(
        &app,
        post(
            "/api/v1/traces/0af7651916cd43dd8448eb211c80319c/comments",
            "application/json",
            "{",
        ),
    )
    .await;
    assert_eq!(
        (st.as_u16(), body["code"].as_str()),
        (400, Some("invalid_argument"))
    );
    let (st, _, _) = answer(&app, post("/v1/traces", "text/plain", "x")).await;
    assert_eq!(st.as_u16(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_ingest_bound_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::build(&test_config(dir.path())).await.unwrap();
    let mut state = AppState::new(&node, &limits());
    state.ingest_permits = Arc::new(tokio::sync::Semaphore::new(0));
    let app = app(state);
    let (st, _, headers) = answer(
        &app,
        post("/v1/traces", "application/x-protobuf", Vec::<u8>::new()),
    )
    .await;
    assert_eq!(st.as_u16(), 429);
    assert_eq!(headers["retry-after"], "1");
}

#[test]
fn internal_errors_are_masked() {
    use axum::response::IntoResponse;
    let e = crate::error::ApiError::from(tael_query::QueryError::Internal(
        "secret path /var/lib/x exploded".into(),
    ));
    let resp = e.clone().into_response();
    assert_eq!(resp.status().as_u16(), 500);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bytes = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "internal error");
    assert_eq!(body["code"], "internal");
    assert_eq!(e.to_grpc().message(), "internal error");
}

/// A trace export of one span of `service`.
fn one_span(service: &str, trace: u8) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let now = tael_core::time::now_ns() as u64;
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![trace; 16],
                    span_id: vec![trace; 8],
                    name: "op".into(),
                    start_time_unix_nano: now,
                    end_time_unix_nano: now + 1_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_nodes_in_one_process_share_nothing() {
    let a = TestNode::start().await;
    let b = TestNode::start_with(|c| c.store.promql_cache_bytes = 0).await;
    for (node, service) in [(&a, "alpha"), (&b, "beta")] {
        let http = tael_client::Client::new(&node.otlp_http).unwrap();
        let r = http
            .post_bytes(
                "/v1/traces",
                &[("content-type", "application/x-protobuf")],
                one_span(service, service.len() as u8),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    for (node, service) in [(&a, "alpha"), (&b, "beta")] {
        let services = node.client().call(&ServicesRequest).await.unwrap().services;
        let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec![service]);
    }
    assert_ne!(a.dir(), b.dir());
    a.stop().await;
    // The other node is unaffected by its neighbour's shutdown.
    let left = b.client().call(&ServicesRequest).await.unwrap();
    assert_eq!(left.services.len(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_beyond_the_concurrency_limit_is_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.store.promql_max_concurrent = 1;
    let node = Node::build(&config).await.unwrap();
    let state = AppState::new(&node, &limits());
    let app = app(state.clone());
    let (status, _, _) = answer(&app, get("/api/v1/query?query=vector(1)")).await;
    assert_eq!(status, 200);
    // With the only slot taken, the next query is refused, not queued.
    let held = state.store.promql_slot().unwrap();
    for uri in [
        "/api/v1/query?query=vector(1)",
        "/api/v1/query_range?query=vector(1)&start=0&end=60&step=15",
    ] {
        let (status, body, headers) = answer(&app, get(uri)).await;
        assert_eq!(status, 429, "{uri}: {body}");
        assert_eq!(body["errorType"], "unavailable");
        assert!(headers.get("retry-after").is_some());
    }
    // Other routes do not wait for PromQL slots.
    let (status, _, _) = answer(&app, get("/api/v1/services")).await;
    assert_eq!(status, 200);
    drop(held);
    let (status, _, _) = answer(&app, get("/api/v1/query?query=vector(1)")).await;
    assert_eq!(status, 200);
}
