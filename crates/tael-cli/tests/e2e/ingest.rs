//! Ingest over every transport, then read back every field.

use crate::fixtures::*;
use crate::support::*;
use prost::Message;
use serde_json::{json, Value};

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

pub fn check_rich_trace(s: &Server, service: &str, tag: u8, n: u32) {
    let tid = hexs(&trace_id(tag, n));
    let (status, v) = s.get(&format!("/api/v1/traces/{tid}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["trace_id"], tid);
    assert_eq!(v["span_count"], 2);
    let root = &v["spans"][0];
    let child = &v["spans"][1];
    assert_eq!(root["span_id"], hexs(&span_id(tag, 1)));
    assert_eq!(root["parent_span_id"], Value::Null);
    assert_eq!(root["service"], service);
    assert_eq!(root["operation"], "GET /rich");
    assert_eq!(root["kind"], "server");
    assert_eq!(root["status"], "error");
    assert_eq!(root["status_message"], "it broke");
    assert_eq!(root["trace_state"], "vendor=value");
    assert_eq!(root["flags"], 1);
    assert!(
        (root["duration_ms"].as_f64().unwrap() - 5.0).abs() < 1e-9,
        "{}",
        root["duration_ms"]
    );
    assert_eq!(
        root["attributes"],
        json!({"str":"hello","bool":"true","int":"-42","double":"1.5","whole_double":"2",
               "array":"[1,\"two\"]","map":"{\"inner\":false}","bytes":"AAEC/w=="})
    );
    let typed = &root["attribute_values"];
    assert_eq!(typed["str"], "hello");
    assert_eq!(typed["bool"], true);
    assert_eq!(typed["int"], -42);
    assert!(typed["int"].is_i64());
    assert_eq!(typed["double"], 1.5);
    assert!(
        typed["whole_double"].is_f64(),
        "double 2.0 must stay a double: {}",
        typed["whole_double"]
    );
    assert_eq!(typed["array"], json!([1, "two"]));
    assert_eq!(typed["map"], json!({"inner": false}));
    assert_eq!(typed["bytes"], json!({"bytesValue": "AAEC/w=="}));
    assert_eq!(root["dropped_attributes_count"], 3);
    assert_eq!(root["dropped_events_count"], 2);
    assert_eq!(root["dropped_links_count"], 4);
    let ev = &root["events"][0];
    assert_eq!(ev["name"], "exception");
    assert_eq!(
        ev["attributes"],
        json!({"exception.message": "boom", "retry": "0.5"})
    );
    assert_eq!(ev["attribute_values"]["retry"], 0.5);
    assert_eq!(ev["dropped_attributes_count"], 1);
    let link = &root["links"][0];
    assert_eq!(link["trace_id"], hexs(&trace_id(tag, n + 1_000_000)));
    assert_eq!(link["span_id"], hexs(&span_id(tag, 99)));
    assert_eq!(link["trace_state"], "l=1");
    assert_eq!(link["flags"], 1);
    assert_eq!(link["attributes"], json!({"link.kind": "follows"}));
    assert_eq!(
        root["resource"],
        json!({"service.name": service, "host.cores": 8})
    );
    assert_eq!(root["scope"]["name"], "e2e-scope");
    assert_eq!(root["scope"]["version"], "9.9.9");
    assert_eq!(root["scope"]["attributes"], json!({"scope.attr": "x"}));
    assert_eq!(root["scope"]["dropped_attributes_count"], 2);
    assert_eq!(child["parent_span_id"], hexs(&span_id(tag, 1)));
    assert_eq!(child["kind"], "client");
    assert_eq!(child["status"], "ok");
    assert!(root["start_time"].as_str().unwrap().ends_with('Z'));
}

pub fn check_rich_logs(s: &Server, service: &str, tag: u8, n: u32) {
    let tid = hexs(&trace_id(tag, n));
    let (status, v) = s.get(&format!("/api/v1/logs?trace_id={tid}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["count"], 1, "{v}");
    let l = &v["logs"][0];
    assert_eq!(l["service"], service);
    assert_eq!(l["severity"], "error");
    assert_eq!(l["severity_text"], "ERROR");
    assert_eq!(l["severity_number"], 17);
    assert_eq!(
        l["body_value"],
        json!({"msg": "payment failed", "code": 402})
    );
    let body: Value = serde_json::from_str(l["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"msg": "payment failed", "code": 402}));
    assert_eq!(l["span_id"], hexs(&span_id(tag, 1)));
    assert_eq!(l["event_name"], "payment.failure");
    assert_eq!(l["flags"], 1);
    assert_eq!(l["dropped_attributes_count"], 1);
    assert_eq!(l["attribute_values"]["map"], json!({"inner": false}));
    assert_eq!(l["resource"]["service.name"], service);
    assert_eq!(l["scope"]["name"], "e2e-scope");
    assert_eq!(l["scope"]["dropped_attributes_count"], 2);
    let (_, v) = s.get(&format!(
        "/api/v1/logs?service={service}&body_contains=logged%20in"
    ));
    assert_eq!(v["count"], 1, "{v}");
    let p = &v["logs"][0];
    assert_eq!(p["body"], "user logged in");
    assert_eq!(p["severity"], "info");
    assert_eq!(p["severity_text"], "INFO");
    assert_eq!(p["trace_id"], Value::Null);
}

pub fn check_rich_metrics(s: &Server, service: &str) {
    let (status, v) = s.get(&format!("/api/v1/metrics?service={service}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["count"], 5, "{v}");
    let by_name = |name: &str| -> Value {
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let g = by_name("e2e.gauge");
    assert_eq!(g["metric_type"], "gauge");
    assert_eq!(g["value"], 0.25);
    assert_eq!(g["description"], "a gauge");
    assert_eq!(g["unit"], "1");
    assert_eq!(g["attributes"], json!({"route": "/pay"}));
    let sum = by_name("e2e.sum");
    assert_eq!(sum["metric_type"], "sum");
    assert_eq!(sum["value"], 7.0);
    assert_eq!(sum["temporality"], "delta");
    assert_eq!(sum["is_monotonic"], true);
    let h = by_name("e2e.histogram");
    assert_eq!(h["metric_type"], "histogram");
    assert_eq!(h["value"], 3.5);
    assert_eq!(h["temporality"], "cumulative");
    assert_eq!(h["distribution"]["count"], 6);
    assert_eq!(h["distribution"]["bucket_counts"], json!([1, 2, 3]));
    assert_eq!(h["distribution"]["explicit_bounds"], json!([0.1, 1.0]));
    assert_eq!(h["distribution"]["min"], 0.05);
    assert_eq!(h["distribution"]["max"], 2.0);
    let e = by_name("e2e.exphist");
    assert_eq!(e["metric_type"], "histogram");
    let ex = &e["distribution"]["exponential"];
    assert_eq!(ex["scale"], 3);
    assert_eq!(ex["zero_count"], 1);
    assert_eq!(ex["positive_offset"], -2);
    assert_eq!(ex["positive_bucket_counts"], json!([1, 3]));
    assert_eq!(ex["zero_threshold"], 0.001);
    let su = by_name("e2e.summary");
    assert_eq!(su["metric_type"], "summary");
    assert_eq!(su["value"], 42.0);
    assert_eq!(
        su["distribution"]["quantiles"],
        json!([{"quantile": 0.5, "value": 4.0}, {"quantile": 0.99, "value": 9.0}])
    );
}

#[test]
fn grpc_ingest_reads_back_every_field_before_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    assert_eq!(
        grpc_traces(&s.grpc, rich_traces("grpc-svc", 1, 1), false).unwrap(),
        0
    );
    assert_eq!(
        grpc_traces(&s.grpc, rich_traces("grpc-gz", 2, 1), true).unwrap(),
        0
    );
    assert_eq!(grpc_logs(&s.grpc, rich_logs("grpc-svc", 1, 1)).unwrap(), 0);
    assert_eq!(grpc_metrics(&s.grpc, rich_metrics("grpc-svc")).unwrap(), 0);
    check_rich_trace(&s, "grpc-svc", 1, 1);
    check_rich_trace(&s, "grpc-gz", 2, 1);
    check_rich_logs(&s, "grpc-svc", 1, 1);
    check_rich_metrics(&s, "grpc-svc");
    s.stop();
    // Everything was flushed to Parquet at shutdown; read it back from there.
    let s = Server::start(dir.path(), &[]);
    check_rich_trace(&s, "grpc-svc", 1, 1);
    check_rich_trace(&s, "grpc-gz", 2, 1);
    check_rich_logs(&s, "grpc-svc", 1, 1);
    check_rich_metrics(&s, "grpc-svc");
    s.kill();
    // And after a crash, from the WAL.
    let dir2 = tempfile::tempdir().unwrap();
    let s = Server::start(dir2.path(), &[]);
    grpc_traces(&s.grpc, rich_traces("crashed", 3, 1), false).unwrap();
    grpc_logs(&s.grpc, rich_logs("crashed", 3, 1)).unwrap();
    grpc_metrics(&s.grpc, rich_metrics("crashed")).unwrap();
    s.kill();
    let s = Server::start(dir2.path(), &[]);
    check_rich_trace(&s, "crashed", 3, 1);
    check_rich_logs(&s, "crashed", 3, 1);
    check_rich_metrics(&s, "crashed");
}

#[test]
fn http_protobuf_json_and_gzip_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let pb = [("content-type", "application/x-protobuf")];
    let js = [("content-type", "application/json")];
    let pbz = [
        ("content-type", "application/x-protobuf"),
        ("content-encoding", "gzip"),
    ];
    let jsz = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];

    // Protobuf on the OTLP/HTTP port; the response is protobuf too.
    let (st, h, body) = s.post(
        &s.http,
        "/v1/traces",
        &pb,
        rich_traces("http-pb", 10, 1).encode_to_vec(),
    );
    assert_eq!(st, 200);
    assert_eq!(h["content-type"], "application/x-protobuf");
    assert!(
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            body.as_slice()
        )
        .unwrap()
        .partial_success
        .is_none()
    );
    check_rich_trace(&s, "http-pb", 10, 1);

    // JSON; response is JSON.
    let json_body = serde_json::to_vec(&tael_core::otlp::json_encode::traces(&rich_traces(
        "http-json",
        11,
        1,
    )))
    .unwrap();
    let (st, h, body) = s.post(&s.http, "/v1/traces", &js, json_body.clone());
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({}));
    check_rich_trace(&s, "http-json", 11, 1);

    // gzip, both encodings, and on the REST port as well.
    let (st, _, _) = s.post(
        &s.rest,
        "/v1/traces",
        &pbz,
        gzip(&rich_traces("http-pbz", 12, 1).encode_to_vec()),
    );
    assert_eq!(st, 200);
    check_rich_trace(&s, "http-pbz", 12, 1);
    let jz = serde_json::to_vec(&tael_core::otlp::json_encode::traces(&rich_traces(
        "http-jsz", 13, 1,
    )))
    .unwrap();
    let (st, _, _) = s.post(&s.http, "/v1/traces", &jsz, gzip(&jz));
    assert_eq!(st, 200);
    check_rich_trace(&s, "http-jsz", 13, 1);

    // Logs and metrics over JSON and protobuf.
    let lj = serde_json::to_vec(&tael_core::otlp::json_encode::logs(&rich_logs(
        "http-logs",
        14,
        1,
    )))
    .unwrap();
    assert_eq!(s.post(&s.http, "/v1/logs", &js, lj).0, 200);
    check_rich_logs(&s, "http-logs", 14, 1);
    assert_eq!(
        s.post(
            &s.http,
            "/v1/logs",
            &pbz,
            gzip(&rich_logs("http-logs2", 15, 1).encode_to_vec())
        )
        .0,
        200
    );
    check_rich_logs(&s, "http-logs2", 15, 1);
    let mj = serde_json::to_vec(&tael_core::otlp::json_encode::metrics(&rich_metrics(
        "http-metrics",
    )))
    .unwrap();
    assert_eq!(s.post(&s.http, "/v1/metrics", &js, mj).0, 200);
    check_rich_metrics(&s, "http-metrics");
    assert_eq!(
        s.post(
            &s.rest,
            "/v1/metrics",
            &pb,
            rich_metrics("http-metrics2").encode_to_vec()
        )
        .0,
        200
    );
    check_rich_metrics(&s, "http-metrics2");

    // A hand-written OTLP/JSON body with ints as numbers and upper-case hex.
    let hand = json!({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"hand"}}]},
        "scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "name":"hand-made","kind":1,"startTimeUnixNano":1_700_000_000_000_000_000u64,"endTimeUnixNano":"1700000000250000000",
        "attributes":[{"key":"n","value":{"intValue":5}}]}]}]}]});
    assert_eq!(
        s.post(
            &s.http,
            "/v1/traces",
            &js,
            serde_json::to_vec(&hand).unwrap()
        )
        .0,
        200
    );
    let (st, v) = s.get("/api/v1/traces/5b8efff798038103d269b633813fc60c");
    assert_eq!(st, 200);
    assert_eq!(v["spans"][0]["duration_ms"], 250.0);
    assert_eq!(v["spans"][0]["attribute_values"]["n"], 5);
    assert_eq!(v["spans"][0]["kind"], "internal");
}

#[test]
fn partial_success_keeps_good_items() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut req = simple_traces("partial", 20, 1, 5, now_ns());
    req.resource_spans[0].scope_spans[0].spans[2].trace_id = vec![1, 2, 3];
    req.resource_spans[0].scope_spans[0].spans[3].span_id = vec![0; 8];
    assert_eq!(grpc_traces(&s.grpc, req.clone(), false).unwrap(), 2);
    let (_, v) = s.get("/api/v1/traces?service=partial");
    assert_eq!(v["spans"].as_array().unwrap().len(), 3);
    // OTLP/HTTP JSON reports it too.
    let mut req2 = simple_traces("partial2", 21, 1, 3, now_ns());
    req2.resource_spans[0].scope_spans[0].spans[0].span_id = vec![];
    let (st, _, body) = s.post(
        &s.http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        req2.encode_to_vec(),
    );
    assert_eq!(st, 200);
    let resp =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            body.as_slice(),
        )
        .unwrap();
    let ps = resp.partial_success.unwrap();
    assert_eq!(ps.rejected_spans, 1);
    assert!(ps.error_message.contains("span_id"), "{}", ps.error_message);
}

#[test]
fn retried_batches_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let req = simple_traces("retry", 30, 1, 10, now_ns());
    grpc_traces(&s.grpc, req.clone(), false).unwrap();
    grpc_traces(&s.grpc, req.clone(), false).unwrap();
    let (_, v) = s.get("/api/v1/traces?service=retry&limit=100");
    assert_eq!(v["spans"].as_array().unwrap().len(), 10);
    let logs = rich_logs("retry", 30, 1);
    grpc_logs(&s.grpc, logs.clone()).unwrap();
    grpc_logs(&s.grpc, logs).unwrap();
    let (_, v) = s.get("/api/v1/logs?service=retry");
    assert_eq!(v["count"], 2);
    let (_, v) = s.get("/api/v1/services");
    let svc = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "retry")
        .unwrap()
        .clone();
    assert_eq!(svc["span_count"], 10);
    assert_eq!(svc["trace_count"], 10);
}
