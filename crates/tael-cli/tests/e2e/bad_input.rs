//! Bad input gets the right status and a message; the server stays up.

use crate::fixtures::*;
use crate::support::*;
use prost::Message;
use serde_json::Value;

fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).to_string())
}

#[test]
fn otlp_http_rejects_bad_bodies_with_the_right_status() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("TAEL_MAX_REQUEST_BYTES", "1MiB"),
            ("TAEL_MAX_DECOMPRESSED_BYTES", "4MiB"),
        ],
    );
    let pb = [("content-type", "application/x-protobuf")];
    let good = rich_traces("bad-input", 40, 1).encode_to_vec();

    // Truncated protobuf.
    let (st, h, body) = s.post(&s.http, "/v1/traces", &pb, good[..good.len() / 2].to_vec());
    assert_eq!(st, 400);
    assert_eq!(h["content-type"], "application/x-protobuf");
    let status = RpcStatus::decode(body.as_slice()).unwrap();
    assert_eq!(status.code, 3);
    assert!(
        status.message.contains("invalid OTLP protobuf"),
        "{}",
        status.message
    );

    // Wrong content type.
    let (st, _, body) = s.post(
        &s.http,
        "/v1/traces",
        &[("content-type", "text/plain")],
        good.clone(),
    );
    assert_eq!(st, 415);
    assert!(error_text(&body).contains("unsupported content type"));
    let (st, _, _) = s.post(
        &s.http,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "br"),
        ],
        good.clone(),
    );
    assert_eq!(st, 415);

    // Oversize body on the wire.
    let (st, _, body) = s.post(&s.http, "/v1/traces", &pb, vec![0u8; 2 << 20]);
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&body));

    // Gzip bomb: 100 MiB of zeros compress to ~100 KiB.
    let bomb = gzip(&vec![0u8; 100 << 20]);
    assert!(bomb.len() < 1 << 20);
    let (st, _, body) = s.post(
        &s.http,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        bomb,
    );
    assert_eq!(st, 413, "{}", String::from_utf8_lossy(&body));
    // Not gzip at all.
    let (st, _, _) = s.post(
        &s.http,
        "/v1/traces",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        b"{}".to_vec(),
    );
    assert_eq!(st, 400);

    // Invalid UTF-8 in a protobuf string field (span name, field 5).
    let mut req = rich_traces("bad-utf8", 41, 1);
    req.resource_spans[0].scope_spans[0].spans[0].name = "PLACEHOLDER".into();
    let mut bytes = req.encode_to_vec();
    let at = bytes.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    let (st, _, _) = s.post(&s.http, "/v1/traces", &pb, bytes);
    assert_eq!(st, 400);
    // Invalid UTF-8 in JSON.
    let (st, _, body) = s.post(
        &s.http,
        "/v1/traces",
        &[("content-type", "application/json")],
        b"{\"resourceSpans\":\"\xff\xfe\"}".to_vec(),
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&body));
    // JSON of the wrong shape names the field.
    let (st, _, body) = s.post(
        &s.http,
        "/v1/traces",
        &[("content-type", "application/json")],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#.to_vec(),
    );
    assert_eq!(st, 400);
    assert!(
        error_text(&body).contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{}",
        error_text(&body)
    );

    // 10k attributes: accepted, capped, the cap counted as dropped.
    let mut req = rich_traces("many-attrs", 42, 1);
    req.resource_spans[0].scope_spans[0].spans[0].attributes = (0..10_000)
        .map(|i| {
            kv(
                &format!("k{i}"),
                opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i),
            )
        })
        .collect();
    req.resource_spans[0].scope_spans[0].spans[0].dropped_attributes_count = 0;
    let (st, _, _) = s.post(&s.http, "/v1/traces", &pb, req.encode_to_vec());
    assert_eq!(st, 200);
    let (_, v) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(42, 1))));
    let root = &v["spans"][0];
    assert_eq!(root["attributes"].as_object().unwrap().len(), 1024);
    assert_eq!(root["dropped_attributes_count"], 10_000 - 1024);

    assert!(s.healthy());
    // The good request still works after all of that.
    assert_eq!(s.post(&s.http, "/v1/traces", &pb, good).0, 200);
    check_after(&s);
}

fn check_after(s: &Server) {
    crate::ingest::check_rich_trace(s, "bad-input", 40, 1);
}

#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

#[test]
fn grpc_rejects_garbage_and_oversize() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("TAEL_MAX_REQUEST_BYTES", "1MiB"),
            ("TAEL_MAX_DECOMPRESSED_BYTES", "2MiB"),
        ],
    );
    // Over the decoding limit (after decompression).
    let mut req = rich_traces("big", 50, 1);
    req.resource_spans[0].scope_spans[0].spans[0].attributes = vec![kv(
        "blob",
        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue("x".repeat(3 << 20)),
    )];
    let err = grpc_traces(&s.grpc, req.clone(), false).unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    let err = grpc_traces(&s.grpc, req, true).unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    // A small request that would decode to gigabytes: a 200 KB resource
    // repeated into each of 5000 tiny spans.
    let mut req = simple_traces("amplified", 53, 0, 5000, 1_000_000_000);
    if let Some(r) = req.resource_spans[0].resource.as_mut() {
        r.attributes.push(kv(
            "pad",
            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                "x".repeat(200_000),
            ),
        ));
    }
    assert!(req.encoded_len() < 1 << 20);
    let err = grpc_traces(&s.grpc, req, false).unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
    assert!(err.message().contains("repeated resource"), "{err}");
    // Invalid UTF-8 and truncated protobuf over gRPC.
    let mut req = rich_traces("bad", 51, 1);
    req.resource_spans[0].scope_spans[0].spans[0].name = "PLACEHOLDER".into();
    let mut bytes = req.encode_to_vec();
    let at = bytes.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    bytes[at] = 0xc3;
    bytes[at + 1] = 0x28;
    let err = raw_grpc_call(&s.grpc, bytes.clone()).unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    let err = raw_grpc_call(&s.grpc, bytes[..bytes.len() - 3].to_vec()).unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err}");
    assert!(s.healthy());
    assert_eq!(
        grpc_traces(&s.grpc, rich_traces("ok", 52, 1), false).unwrap(),
        0
    );
}

/// Sends raw bytes as the message of a unary gRPC call to the trace service.
fn raw_grpc_call(endpoint: &str, bytes: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    runtime().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        grpc.unary(
            tonic::Request::new(bytes::Bytes::from(bytes)),
            path,
            tael_server::grpc::RawCodec,
        )
        .await
        .map(|r| r.into_inner().to_vec())
    })
}

/// Errors the HTTP stack answers by itself (a wrong method, a body over
/// the extractor's limit, a malformed path, an unknown route) are JSON
/// with a stable code, like every error of the handlers.
#[test]
fn errors_from_the_http_stack_are_json_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // A connection each: the server closes one whose body it refused.
    let http = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let cases: Vec<(reqwest::blocking::RequestBuilder, u16, &str)> = vec![
        (
            http.delete(format!("{}/api/v1/services", s.rest)),
            405,
            "method_not_allowed",
        ),
        (
            http.put(format!("{}/v1/traces", s.http)),
            405,
            "method_not_allowed",
        ),
        (
            http.post(format!("{}/api/v1/traces/{trace}/comments", s.rest))
                .body(vec![b'x'; 3 << 20]),
            413,
            "payload_too_large",
        ),
        (
            http.get(format!("{}/api/v1/traces/%FF%FE", s.rest)),
            400,
            "invalid_argument",
        ),
        (
            http.get(format!("{}/api/v1/nothing-here", s.rest)),
            404,
            "not_found",
        ),
        (
            http.get(format!(
                "{}/api/v1/traces?service={}",
                s.rest,
                "x".repeat(20_000)
            )),
            200,
            "",
        ),
    ];
    for (req, want, code) in cases {
        let r = req.send().unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body: Value = r.json().unwrap_or(Value::Null);
        assert_eq!(status, want, "{body}");
        if want >= 400 {
            assert!(ctype.contains("json"), "{want}: content-type {ctype:?}");
            assert_eq!(body["code"], code, "{body}");
            assert!(
                !body["error"].as_str().unwrap_or_default().is_empty(),
                "{body}"
            );
        }
    }
    // What hyper refuses before any router runs: sent as raw bytes (an
    // HTTP client would not send some of them), on both HTTP ports.
    let many_headers: String = (0..200).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let raw_cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            format!(
                "GET /api/v1/services?x={} HTTP/1.1\r\nhost: a\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            format!(
                "GET /api/v1/services HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
                "a".repeat(500_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        // Under hyper's read buffer: refused by the server's own bound.
        (
            format!(
                "GET /api/v1/services HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            format!("GET /api/v1/services HTTP/1.1\r\nhost: a\r\n{many_headers}\r\n").into_bytes(),
            431,
            "headers_too_large",
        ),
        (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400, "invalid_argument"),
        (
            b"GET /api/v1/services HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n".to_vec(),
            400,
            "invalid_argument",
        ),
    ];
    for base in [&s.rest, &s.http] {
        let addr = base.trim_start_matches("http://");
        for (req, want, code) in &raw_cases {
            let (status, head, body) = raw_exchange(addr, req);
            assert_eq!(status, *want, "{head}");
            assert!(head.contains("content-type: application/json"), "{head}");
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            assert_eq!(v["code"], *code, "{head}\r\n\r\n{body}");
            assert!(!v["error"].as_str().unwrap_or_default().is_empty(), "{v}");
        }
    }
    assert!(s.healthy());
}

/// Sends `req` on a new connection and reads the answer until the server
/// closes it: (status, head, body).
fn raw_exchange(addr: &str, req: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before it has read everything.
    let _ = c.write_all(req);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}
