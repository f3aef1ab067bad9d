//! REST semantics (filters, ordering, envelopes) and the CLI (JSON by
//! default, tables, exit codes, env vars).

use crate::fixtures::*;
use crate::support::*;
use serde_json::Value;

#[test]
fn trace_search_filters_and_orders_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let t0 = now_ns() - 10_000_000_000;
    grpc_traces(&s.grpc, simple_traces("search-a", 100, 0, 100, t0), false).unwrap();
    grpc_traces(&s.grpc, simple_traces("search-b", 101, 0, 20, t0), false).unwrap();
    check_trace_search(&s);
    // The same answers once the spans sit in Parquet parts (filters then
    // read dictionary-encoded columns).
    s.stop();
    let s = Server::start(dir.path(), &[]);
    check_trace_search(&s);
}

fn check_trace_search(s: &Server) {
    let (_, v) = s.get("/api/v1/traces?service=search-a&limit=5");
    let spans = v["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 5);
    let starts: Vec<&str> = spans
        .iter()
        .map(|x| x["start_time"].as_str().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted, "newest first");
    assert_eq!(spans[0]["attributes"]["n"], "99");
    let (_, v) = s.get("/api/v1/traces?service=search-a&status=ERROR&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 10);
    let (_, v) = s.get("/api/v1/traces?service=search-a&min_duration_ms=45&limit=1000");
    assert!(v["spans"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["duration_ms"].as_f64().unwrap() >= 45.0));
    assert_eq!(v["spans"].as_array().unwrap().len(), 12);
    let (_, v) = s.get("/api/v1/traces?service=search-a&max_duration_ms=2ms&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 4);
    let (_, v) = s.get("/api/v1/traces?service=search-a&operation=op-1&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 33);
    let (_, v) = s.get("/api/v1/traces?attribute=n=42&attribute=n=42");
    assert_eq!(
        v["spans"].as_array().unwrap().len(),
        1,
        "only search-a has n=42: {v}"
    );
    let (_, v) = s.get("/api/v1/traces?attribute=n=42&attribute=n=43");
    assert_eq!(
        v["spans"].as_array().unwrap().len(),
        0,
        "attribute filters are ANDed: {v}"
    );
    let (_, v) = s.get("/api/v1/traces?service=search-b&attribute=n=7");
    assert_eq!(v["spans"].as_array().unwrap().len(), 1);
    let (_, v) = s.get("/api/v1/traces?last=1s&service=search-a");
    assert_eq!(
        v["spans"].as_array().unwrap().len(),
        0,
        "spans started 10s ago are outside last=1s"
    );
    let (_, v) = s.get("/api/v1/traces?last=1m&service=search-a&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 100);
    let (_, v) = s.get("/api/v1/services");
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["search-a", "search-b"]);
    assert_eq!(v["services"][0]["span_count"], 100);
    assert_eq!(v["services"][0]["trace_count"], 100);
    assert_eq!(v["services"][0]["error_rate"], 0.1);
}

#[test]
fn cli_prints_json_tables_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    grpc_traces(&s.grpc, rich_traces("cli-svc", 110, 1), false).unwrap();
    grpc_logs(&s.grpc, rich_logs("cli-svc", 110, 1)).unwrap();
    grpc_metrics(&s.grpc, rich_metrics("cli-svc")).unwrap();
    let env = [("TAEL_SERVER", s.rest.as_str())];
    let tid = hex::encode(trace_id(110, 1));

    let v = cli_json(&["services"], &env);
    assert_eq!(v["services"][0]["name"], "cli-svc");

    let (code, out, _) = cli(&["--server", &s.rest, "get", "trace", &tid], &[]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["span_count"], 2);
    let (code, out, _) = cli(&["get", "trace", &tid, "--format", "table"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("GET /rich") && out.contains("SELECT") && out.contains("[error]"),
        "{out}"
    );

    let (code, out, _) = cli(
        &[
            "query",
            "traces",
            "--service",
            "cli-svc",
            "--status",
            "error",
            "--last",
            "1h30m",
            "--format",
            "table",
        ],
        &env,
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("Trace ID") && out.contains("GET /rich"),
        "{out}"
    );
    let (code, out, _) = cli(
        &[
            "query",
            "traces",
            "--min-duration",
            "4ms",
            "--attribute",
            "str=hello",
        ],
        &env,
    );
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["spans"].as_array().unwrap().len(), 1);
    let (code, out, _) = cli(&["query", "logs", "--trace-id", &tid], &env);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 1);
    let (code, out, _) = cli(
        &[
            "query", "metrics", "--name", "e2e.sum", "--type", "sum", "--format", "table",
        ],
        &env,
    );
    assert_eq!(code, 0);
    assert!(out.contains("e2e.sum"), "{out}");

    let (code, out, _) = cli(
        &[
            "comment",
            "add",
            &tid,
            "root cause: db",
            "--author",
            "agent",
        ],
        &env,
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["comment"]["author"],
        "agent"
    );
    let (code, out, _) = cli(&["comment", "list", &tid], &env);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 1);
    let (code, out, _) = cli(&["comment", "list", "--all", "--format", "table"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("root cause: db"));

    // Exit codes.
    let (code, _, err) = cli(&["get", "trace", "0123456789abcdef0123456789abcdef"], &env);
    assert_eq!(code, 3, "not found: {err}");
    assert!(err.contains("trace not found"));
    let (code, _, err) = cli(&["query", "traces", "--last", "1fortnight"], &env);
    assert_eq!(code, 2, "usage: {err}");
    let (code, _, _) = cli(&["query", "traces", "--min-duration", "1x"], &env);
    assert_eq!(code, 2);
    let (code, _, err) = cli(&["query", "traces", "--status", "weird"], &env);
    assert_eq!(code, 2, "server 400 is a usage error: {err}");
    let (code, _, _) = cli(&["no-such-command"], &env);
    assert_eq!(code, 2);
    let (code, _, err) = cli(&["services", "--server", "http://127.0.0.1:1"], &[]);
    assert_eq!(code, 4, "unreachable: {err}");
    let (code, out, _) = cli(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
    let (code, out, _) = cli(&["server", "status"], &env);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "healthy"
    );
}

#[test]
fn serve_rejects_bad_configuration_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (k, v) in [
        ("TAEL_MAX_DISK_BYTES", "lots"),
        ("TAEL_TRACE_RETENTION", "forever"),
        ("TAEL_REST_API_ADDR", "nowhere"),
    ] {
        let (code, _, err) = cli(&["serve", "--data-dir", d], &[(k, v)]);
        assert_eq!(code, 2, "{k}={v}: {err}");
        assert!(err.contains(k), "{err}");
    }
    let (code, _, err) = cli(&["serve", "--data-dir", d, "--storage", "duckdb"], &[]);
    assert_eq!(code, 2, "{err}");
}
