//! The Jaeger query APIs against a seeded server: the exact requests
//! Grafana's Jaeger data source and the Jaeger UI send
//! (`golden/jaeger/requests.json`), each answer compared field by field
//! with its golden file; the api_v3 gRPC `QueryService` through a client
//! generated from the same proto; and `jaeger-mcp`, a third-party Jaeger
//! client, listing services and operations and fetching a trace.
//!
//! Regenerate the golden answers with
//! `TAEL_UPDATE_GOLDEN=1 cargo nextest run -p tael-cli -E 'test(jaeger_golden)'`.
//! Times in them are relative to the seed's base time (see [`normalize`]).

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;
use std::collections::BTreeSet;
use tael_server::jaeger::proto as jp;

const MS: u64 = 1_000_000;

/// The seeded traces and the time they are relative to.
struct Seed {
    /// Base time (ns), a whole second 30 minutes ago.
    t0: u64,
    /// frontend GET /checkout → checkout POST /orders → SELECT orders (error).
    checkout: String,
    /// frontend GET /health alone.
    health: String,
    /// checkout POST /orders alone, http.status_code 500.
    failed_order: String,
}

fn resource_of(service: &str, host: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", V::StringValue(service.into())),
            kv("host.name", V::StringValue(host.into())),
        ],
        ..Default::default()
    })
}

fn spans_of(service: &str, host: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: resource_of(service, host),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "shop".into(),
                version: "1.2.0".into(),
                ..Default::default()
            }),
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: &[u8],
    id: u32,
    parent: Option<u32>,
    name: &str,
    kind: i32,
    start: u64,
    dur_ms: u64,
    error: bool,
) -> Span {
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(0x1a, id),
        parent_span_id: parent.map(|p| span_id(0x1a, p)).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur_ms * MS,
        status: Some(Status {
            code: if error { 2 } else { 1 },
            message: if error {
                "connection refused".into()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    }
}

fn seed(server: &Server) -> Seed {
    let t0 = (now_ns() / 1_000_000_000 - 1800) * 1_000_000_000;
    let (a, b, c) = (trace_id(0x1a, 1), trace_id(0x1a, 2), trace_id(0x1a, 3));
    let mut root = span(&a, 1, None, "GET /checkout", 2, t0, 120, false);
    root.attributes = vec![
        kv("http.method", V::StringValue("GET".into())),
        kv("http.status_code", V::IntValue(200)),
        kv("sampled", V::BoolValue(true)),
        kv("ratio", V::DoubleValue(0.25)),
        kv("payload", V::BytesValue(vec![1, 2, 3])),
    ];
    root.trace_state = "vendor=x".into();
    let mut order = span(&a, 2, Some(1), "POST /orders", 2, t0 + 10 * MS, 100, false);
    order.events = vec![span::Event {
        time_unix_nano: t0 + 20 * MS,
        name: "order.validated".into(),
        attributes: vec![kv("items", V::IntValue(3))],
        dropped_attributes_count: 0,
    }];
    order.links = vec![span::Link {
        trace_id: c.clone(),
        span_id: span_id(0x1a, 5),
        ..Default::default()
    }];
    let mut select = span(&a, 3, Some(2), "SELECT orders", 3, t0 + 30 * MS, 40, true);
    select.attributes = vec![kv("db.system", V::StringValue("postgresql".into()))];
    let health = span(&b, 4, None, "GET /health", 2, t0 + 60_000 * MS, 2, false);
    let mut failed = span(&c, 5, None, "POST /orders", 2, t0 + 120_000 * MS, 300, true);
    failed.attributes = vec![kv("http.status_code", V::IntValue(500))];
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            spans_of("frontend", "web-1", vec![root, health]),
            spans_of("checkout", "app-1", vec![order, select, failed]),
        ],
    };
    assert_eq!(grpc_traces(&server.grpc, req, false).unwrap(), 0);
    let s = Seed {
        t0,
        checkout: hex::encode(&a),
        health: hex::encode(&b),
        failed_order: hex::encode(&c),
    };
    assert!(eventually(std::time::Duration::from_secs(10), || {
        server.get(&format!("/api/v1/traces/{}", s.failed_order)).0 == 200
    }));
    s
}

/// Answers with times relative to the seed: v1 µs fields (`startTime`,
/// `timestamp`) minus t0 in µs, OTLP and summary ns strings minus t0.
fn normalize(v: &mut Value, t0: u64) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match (k.as_str(), &*x) {
                    ("startTime" | "timestamp", Value::Number(n)) => {
                        *x = Value::from(n.as_i64().unwrap() - (t0 / 1000) as i64);
                    }
                    (
                        "startTimeUnixNano"
                        | "endTimeUnixNano"
                        | "timeUnixNano"
                        | "minStartTimeUnixNano"
                        | "maxEndTimeUnixNano",
                        Value::String(s),
                    ) => {
                        let ns: i64 = s.parse().unwrap();
                        *x = Value::String((ns - t0 as i64).to_string());
                    }
                    _ => normalize(x, t0),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| normalize(x, t0)),
        _ => {}
    }
}

fn rfc3339(ns: u64) -> String {
    tael_core::time::format_rfc3339(ns as i64)
}

/// A request's path with the seed's values put in.
fn expand(path: &str, s: &Seed) -> String {
    let end = s.t0 + 600_000 * MS;
    let start = s.t0 - 60_000 * MS;
    path.replace("${CHECKOUT_TRACE}", &s.checkout)
        .replace("${HEALTH_TRACE}", &s.health)
        .replace("${FAILED_TRACE}", &s.failed_order)
        .replace("${START_US}", &(start / 1000).to_string())
        .replace("${END_US}", &(end / 1000).to_string())
        .replace("${END_MS}", &(end / MS).to_string())
        .replace("${START_RFC3339}", &rfc3339(start).replace(':', "%3A"))
        .replace("${END_RFC3339}", &rfc3339(end).replace(':', "%3A"))
}

fn golden_dir() -> String {
    format!("{}/tests/e2e/golden/jaeger", package_dir())
}

#[test]
fn jaeger_golden_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let s = seed(&server);
    let requests: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/requests.json", golden_dir())).unwrap(),
    )
    .unwrap();
    let update = std::env::var_os("TAEL_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for r in &requests {
        let name = r["name"].as_str().unwrap();
        let path = expand(r["path"].as_str().unwrap(), &s);
        let (status, mut body) = match r["method"].as_str() {
            Some("POST") => {
                let body = r["body"].to_string();
                let body = expand(&body, &s).replace("%3A", ":");
                let (st, _, b) = server.post(
                    &server.rest,
                    &path,
                    &[("content-type", "application/json")],
                    body.into_bytes(),
                );
                (st, serde_json::from_slice(&b).unwrap())
            }
            _ => server.get(&path),
        };
        let want_status = r["status"].as_u64().unwrap_or(200) as u16;
        if status != want_status {
            failures.push(format!(
                "{name}: {path} answered {status}, want {want_status}: {body}"
            ));
            continue;
        }
        normalize(&mut body, s.t0);
        let file = format!("{}/{name}.json", golden_dir());
        if update {
            std::fs::write(&file, serde_json::to_string_pretty(&body).unwrap() + "\n").unwrap();
            continue;
        }
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("missing {file}")),
        )
        .unwrap();
        if body != want {
            failures.push(format!(
                "{name}: {path}\n got: {}\nwant: {}",
                serde_json::to_string(&body).unwrap(),
                serde_json::to_string(&want).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the answers mean, checked apart from the golden files (so a
/// regenerated golden file cannot hide a wrong answer).
#[test]
fn jaeger_answers_mean_what_jaeger_means() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let s = seed(&server);
    let (st, v) = server.get("/api/services");
    assert_eq!(st, 200);
    assert_eq!(v["data"], serde_json::json!(["checkout", "frontend"]));
    // Search by tag finds the trace with a matching span and returns it whole.
    let (st, v) = server.get(&expand(
        "/api/traces?service=checkout&tags=%7B%22db.system%22%3A%22postgresql%22%7D&start=${START_US}&end=${END_US}",
        &s,
    ));
    assert_eq!(st, 200, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["traceID"], s.checkout);
    assert_eq!(data[0]["spans"].as_array().unwrap().len(), 3);
    assert_eq!(data[0]["processes"].as_object().unwrap().len(), 2);
    // error=true, a resource tag, an exact operation, durations, limit.
    for (query, want) in [
        (
            "tags=%7B%22error%22%3A%22true%22%7D",
            vec![&s.failed_order, &s.checkout],
        ),
        (
            "tags=%7B%22host.name%22%3A%22app-1%22%7D&limit=1",
            vec![&s.failed_order],
        ),
        (
            "operation=POST%20%2Forders&minDuration=200ms",
            vec![&s.failed_order],
        ),
        ("operation=POST%20%2F", vec![]),
        ("tag=http.status_code:500", vec![&s.failed_order]),
        ("maxDuration=50ms", vec![&s.checkout]),
    ] {
        let path = expand(
            &format!("/api/traces?service=checkout&{query}&start=${{START_US}}&end=${{END_US}}"),
            &s,
        );
        let (st, v) = server.get(&path);
        assert_eq!(st, 200, "{path}: {v}");
        let got: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = want.iter().map(|s| s.as_str()).collect();
        assert_eq!(got, want, "{path}");
    }
    // A window that ends before the traces finds nothing (v1: empty data).
    let (st, v) = server.get(&format!(
        "/api/traces?service=checkout&start=1000&end={}",
        s.t0 / 1000 - 1
    ));
    assert_eq!((st, v["data"].as_array().unwrap().len()), (200, 0));
    // Mistakes are 400s in the envelope, and the server stays up.
    for bad in [
        "/api/traces?limit=20",
        "/api/traces?service=checkout&minDuration=fast",
        "/api/traces?service=checkout&minDuration=2s&maxDuration=1s",
        "/api/traces?service=checkout&tags=notjson",
        "/api/traces?service=checkout&start=yesterday",
        "/api/traces/not-a-trace-id",
        "/api/operations",
        "/api/dependencies?endTs=soon",
        "/api/v3/traces?query.serviceName=checkout",
        "/api/v3/traces?query.startTimeMin=2026-01-01T00%3A00%3A00Z&query.startTimeMax=later",
        "/api/v3/traces/xyz",
        "/api/v3/dependencies",
    ] {
        let (st, v) = server.get(bad);
        assert_eq!(st, 400, "{bad}: {v}");
        let msg = if bad.starts_with("/api/v3") {
            assert_eq!(v["error"]["httpCode"], 400, "{bad}");
            assert_eq!(v["error"]["grpcCode"], 3, "{bad}");
            v["error"]["message"].as_str().unwrap().to_string()
        } else {
            assert_eq!(v["errors"][0]["code"], 400, "{bad}");
            assert!(v["data"].is_null());
            v["errors"][0]["msg"].as_str().unwrap().to_string()
        };
        assert!(!msg.is_empty(), "{bad}");
    }
    let (_, v) = server.get("/api/traces?limit=20");
    assert_eq!(v["errors"][0]["msg"], "parameter 'service' is required");
    assert!(server.healthy());
}

async fn grpc_client(
    server: &Server,
) -> jp::query_service_client::QueryServiceClient<tonic::transport::Channel> {
    let ch = tonic::transport::Endpoint::from_shared(server.grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    jp::query_service_client::QueryServiceClient::new(ch)
}

fn ts(ns: u64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as i32,
    })
}

#[test]
fn jaeger_grpc_query_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let s = seed(&server);
    runtime().block_on(async {
        let mut c = grpc_client(&server).await;
        let services = c
            .get_services(jp::GetServicesRequest {})
            .await
            .unwrap()
            .into_inner()
            .services;
        assert_eq!(services, ["checkout", "frontend"]);
        let ops = c
            .get_operations(jp::GetOperationsRequest {
                service: "checkout".into(),
                span_kind: "client".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .operations;
        assert_eq!(ops.len(), 1);
        assert_eq!(
            (ops[0].name.as_str(), ops[0].span_kind.as_str()),
            ("SELECT orders", "client")
        );

        let query = jp::TraceQueryParameters {
            service_name: "checkout".into(),
            start_time_min: ts(s.t0 - 60_000 * MS),
            start_time_max: ts(s.t0 + 600_000 * MS),
            ..Default::default()
        };
        let mut stream = c
            .find_traces(jp::FindTracesRequest {
                query: Some(query.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        let mut found = Vec::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            let ids: BTreeSet<String> = chunk
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|ss| &ss.spans)
                .map(|sp| hex::encode(&sp.trace_id))
                .collect();
            assert_eq!(ids.len(), 1, "one trace per message");
            found.extend(ids);
        }
        assert_eq!(found, [s.failed_order.clone(), s.checkout.clone()]);

        let mut stream = c
            .get_trace(jp::GetTraceRequest {
                trace_id: s.checkout.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let trace = stream.message().await.unwrap().unwrap();
        assert!(stream.message().await.unwrap().is_none());
        let services: Vec<String> = trace
            .resource_spans
            .iter()
            .map(|r| {
                let attrs = &r.resource.as_ref().unwrap().attributes;
                let name = attrs.iter().find(|kv| kv.key == "service.name").unwrap();
                match name.value.as_ref().unwrap().value.as_ref().unwrap() {
                    V::StringValue(s) => s.clone(),
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(services, ["frontend", "checkout"]);
        let spans: Vec<&Span> = trace
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|ss| &ss.spans)
            .collect();
        assert_eq!(spans.len(), 3);
        let select = spans.iter().find(|sp| sp.name == "SELECT orders").unwrap();
        assert_eq!(select.parent_span_id, span_id(0x1a, 2));
        assert_eq!(select.status.as_ref().unwrap().code, 2);
        assert_eq!(
            select.end_time_unix_nano - select.start_time_unix_nano,
            40 * MS
        );

        let deps = c
            .get_dependencies(jp::GetDependenciesRequest {
                start_time: ts(s.t0 - 60_000 * MS),
                end_time: ts(s.t0 + 600_000 * MS),
            })
            .await
            .unwrap()
            .into_inner()
            .dependencies;
        assert_eq!(deps.len(), 1);
        assert_eq!(
            (
                deps[0].parent.as_str(),
                deps[0].child.as_str(),
                deps[0].call_count
            ),
            ("frontend", "checkout", 1)
        );

        let mut sums = c
            .find_trace_summaries(jp::FindTraceSummariesRequest {
                query: Some(query.clone()),
            })
            .await
            .unwrap()
            .into_inner();
        let chunk = sums.message().await.unwrap().unwrap();
        let checkout = chunk
            .summaries
            .iter()
            .find(|x| x.trace_id == s.checkout)
            .unwrap();
        assert_eq!(checkout.root_service_name, "frontend");
        assert_eq!(checkout.root_operation_name, "GET /checkout");
        assert_eq!((checkout.span_count, checkout.error_span_count), (3, 1));
        assert_eq!(checkout.services.len(), 2);

        // Mistakes are gRPC codes, not hangs or crashes.
        let no_window = c
            .find_traces(jp::FindTracesRequest {
                query: Some(jp::TraceQueryParameters {
                    service_name: "checkout".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(no_window.code(), tonic::Code::InvalidArgument);
        let with_filter = c
            .find_traces(jp::FindTracesRequest {
                query: Some(jp::TraceQueryParameters {
                    filter: b"\x0a\x02eq".to_vec(),
                    ..query.clone()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(with_filter.code(), tonic::Code::InvalidArgument);
        let missing = c
            .get_trace(jp::GetTraceRequest {
                trace_id: "0123456789abcdef0123456789abcdef".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(missing.code(), tonic::Code::NotFound);
        let bad_id = c
            .get_trace(jp::GetTraceRequest {
                trace_id: "nope".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_id.code(), tonic::Code::InvalidArgument);
    });
    assert!(server.healthy());
}

/// The venv with `jaeger-mcp` 0.6.1 (it needs `mcp<2`, so it cannot share
/// the tests' environment): `TAEL_JAEGER_MCP_VENV`, made here when absent.
fn jaeger_mcp_bin() -> String {
    let venv = std::env::var("TAEL_JAEGER_MCP_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/tael/jaeger-mcp-venv",
            std::env::var("HOME").unwrap()
        )
    });
    let bin = format!("{venv}/bin/jaeger-mcp");
    if !std::path::Path::new(&bin).exists() {
        let ok = std::process::Command::new("python3")
            .args(["-m", "venv", &venv])
            .status()
            .unwrap()
            .success()
            && std::process::Command::new(format!("{venv}/bin/pip"))
                .args(["install", "--quiet", "jaeger-mcp==0.6.1"])
                .status()
                .unwrap()
                .success();
        assert!(ok, "could not make the jaeger-mcp venv at {venv}");
    }
    bin
}

#[test]
fn jaeger_mcp_third_party_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let s = seed(&server);
    let bin = jaeger_mcp_bin();
    let report = python_script(
        "jaeger_mcp_client.py",
        &[
            &bin,
            &server.rest,
            &s.checkout,
            &((s.t0 - 60_000 * MS) / 1000).to_string(),
        ],
    );
    assert_eq!(
        report["services"],
        serde_json::json!(["checkout", "frontend"])
    );
    assert_eq!(
        report["operations"],
        serde_json::json!(["POST /orders", "SELECT orders"])
    );
    let found: BTreeSet<&str> = report["search_trace_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([s.checkout.as_str(), s.failed_order.as_str()])
    );
    assert_eq!(report["trace_span_count"], 3);
    assert_eq!(
        report["trace_services"],
        serde_json::json!(["checkout", "frontend"])
    );
    assert_eq!(report["error_spans"], 1);
}
