//! Analytics through the real server and CLI: SQL (read-only, limits,
//! schema), summary, anomalies, diff, topology, correlate and watch, over
//! data in the memtable and again from Parquet parts.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde_json::{json, Value};

const MS: u64 = 1_000_000;
const MIN: u64 = 60_000 * MS;

/// Traces frontend `GET /checkout` → checkout `POST /pay` → payments
/// `charge`, one per minute slot `i` from `start`. Every `err_every`-th
/// charge fails (0: none); charges take `pay_ms`.
fn chain_traces(
    tag: u8,
    n: u32,
    start: u64,
    err_every: u32,
    pay_ms: u64,
) -> ExportTraceServiceRequest {
    let mut by_service: Vec<(&str, Vec<Span>)> = vec![
        ("frontend", vec![]),
        ("checkout", vec![]),
        ("payments", vec![]),
    ];
    for i in 0..n {
        let t0 = start + i as u64 * (MIN / 8);
        let tid = trace_id(tag, i);
        let sid = |k: u32| span_id(tag, i * 4 + k);
        let failed = err_every > 0 && i % err_every == 0;
        let span = |k: u32, parent: Option<u32>, name: &str, ms: u64, err: bool| Span {
            trace_id: tid.clone(),
            span_id: sid(k),
            parent_span_id: parent.map(sid).unwrap_or_default(),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: t0 + k as u64 * MS,
            end_time_unix_nano: t0 + k as u64 * MS + ms * MS,
            status: Some(Status {
                code: if err { 2 } else { 0 },
                message: String::new(),
            }),
            attributes: vec![kv("slot", V::IntValue(i as i64))],
            ..Default::default()
        };
        by_service[0]
            .1
            .push(span(0, None, "GET /checkout", 400, false));
        by_service[1]
            .1
            .push(span(1, Some(0), "POST /pay", 350, false));
        by_service[2]
            .1
            .push(span(2, Some(1), "charge", pay_ms, failed));
    }
    traces_by_service(by_service)
}

/// Baseline hour (90–30 min ago… placed 2h–1h ago): healthy payments;
/// current hour: payments fail every 3rd call and take 3× longer.
fn load(s: &Server) -> u64 {
    let now = now_ns();
    grpc_traces(
        &s.grpc,
        chain_traces(60, 200, now - 110 * MIN, 0, 100),
        false,
    )
    .unwrap();
    grpc_traces(
        &s.grpc,
        chain_traces(61, 200, now - 50 * MIN, 3, 300),
        false,
    )
    .unwrap();
    now
}

fn sql(s: &Server, q: &str) -> (u16, Value) {
    let (status, _, body) = s.post(
        &s.rest,
        "/api/v1/sql",
        &[("content-type", "application/json")],
        serde_json::to_vec(&json!({ "q": q })).unwrap(),
    );
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn sql_and_reports_over_memtable_and_parts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    load(&s);
    check_reports(&s);
    s.stop();
    let s = Server::start(dir.path(), &[]);
    check_reports(&s);
}

fn check_reports(s: &Server) {
    // SQL, GET and POST.
    let (st, v) = sql(
        s,
        "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["count"], 3);
    assert_eq!(v["truncated"], false);
    assert_eq!(v["rows"][0], json!({"service": "checkout", "n": 400}));
    assert_eq!(v["columns"][1]["name"], "n");
    let (st, v) = s.get("/api/v1/sql?q=SELECT%20count(*)%20AS%20c%20FROM%20spans%20WHERE%20attr(attributes,%20%27slot%27)%20=%20%277%27");
    assert_eq!((st, &v["rows"][0]["c"]), (200, &json!(6)), "{v}");
    let (_, v) = sql(
        s,
        "SELECT max(duration_ms) AS m, min(start_time) AS t FROM spans WHERE service = 'payments'",
    );
    assert_eq!(v["rows"][0]["m"], json!(300.0));
    assert!(v["rows"][0]["t"].as_str().unwrap().ends_with('Z'), "{v}");

    // Summary of the current hour.
    let (st, v) = s.get("/api/v1/summary?last=1h");
    assert_eq!(st, 200, "{v}");
    let t = &v["traces"];
    assert_eq!(
        (t["span_count"].as_u64(), t["trace_count"].as_u64()),
        (Some(600), Some(200))
    );
    assert_eq!(t["error_count"], 67, "{v}");
    assert_eq!(t["max_ms"], json!(400.0));
    assert_eq!(v["top_services"].as_array().unwrap().len(), 3);
    assert_eq!(v["top_error_operations"][0]["operation"], "charge");
    let (_, v) = s.get("/api/v1/summary?last=1h&service=payments");
    assert_eq!(v["traces"]["span_count"], 200);
    assert_eq!(v["traces"]["p50_ms"], json!(300.0));

    // Anomalies: the baseline (the hour before) is healthy.
    let (st, v) = s.get("/api/v1/anomalies?last=1h&baseline=1h");
    assert_eq!(st, 200, "{v}");
    let kinds: Vec<(String, String, String)> = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["service"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("payments".into(), "error_rate".into(), "critical".into())),
        "{v}"
    );
    assert!(
        kinds.contains(&("payments".into(), "latency_p95".into(), "critical".into())),
        "{v}"
    );
    assert!(kinds.iter().all(|k| k.0 == "payments"), "{v}");
    assert!(v["anomalies"][0]["severity"] == "critical");

    // Diff: payments got worse, first.
    let (st, v) = s.get("/api/v1/diff?last=1h&baseline=1h");
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rows"][0]["service"], "payments", "{v}");
    assert!(v["rows"][0]["worse_by"].as_f64().unwrap() > 2.0);
    assert_eq!(v["rows"][0]["baseline"]["p95_ms"], json!(100.0));
    let (st, _) = s.get("/api/v1/diff?last=1h&baseline=1h@1d");
    assert_eq!(st, 400);

    // Topology of the current hour.
    let (_, v) = s.get("/api/v1/topology?last=1h");
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{v}");
    let pay = edges.iter().find(|e| e["to"] == "payments").unwrap();
    assert_eq!(
        (pay["from"].as_str(), pay["calls"].as_u64()),
        (Some("checkout"), Some(200))
    );
    assert_eq!(pay["errors"], 67);
    assert_eq!(v["unresolved_parents"], 0);
}

#[test]
fn sql_is_read_only_and_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("TAEL_SQL_MAX_ROWS", "50"),
            ("TAEL_SQL_MEMORY_LIMIT", "1MiB"),
            ("TAEL_SQL_TIMEOUT", "2s"),
        ],
    );
    load(&s);
    for bad in [
        "DROP TABLE spans",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO spans SELECT * FROM spans",
        "COPY (SELECT 1) TO '/tmp/tael-sql-copy.csv'",
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "SELECT * FROM '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
        "SELECT 1; SELECT 2",
        "SELECT nope FROM spans",
        "",
    ] {
        let (st, v) = sql(&s, bad);
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{bad}: {v}"
        );
    }
    assert!(!std::path::Path::new("/tmp/tael-sql-copy.csv").exists());
    let (st, v) = sql(&s, "SELECT span_id FROM spans");
    assert_eq!(st, 200);
    assert_eq!(
        (v["count"].as_u64(), &v["truncated"]),
        (Some(50), &json!(true))
    );
    let (st, v) = sql(
        &s,
        "SELECT a.attributes, b.attributes FROM spans a JOIN spans b ON a.service = b.service ORDER BY 1, 2",
    );
    assert_eq!(st, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("memory"), "{v}");
    // The deadline, on a server whose memory limit cannot be what stops
    // the runaway first (under 1 MiB, its join buffers may be).
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = Server::start(dir2.path(), &[("TAEL_SQL_TIMEOUT", "2s")]);
    load(&s2);
    let (st, v) = sql(
        &s2,
        "SELECT count(*) FROM spans a, spans b, spans c WHERE a.span_id || b.span_id > c.span_id",
    );
    assert_eq!(st, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("within"), "{v}");
    assert!(s2.healthy());
    let (st, v) = sql(&s, "EXPLAIN SELECT count(*) FROM spans");
    assert_eq!(st, 200, "{v}");
    assert!(s.healthy());
    let (_, v) = s.get("/api/v1/sql/schema");
    let tables: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["spans", "logs", "metrics", "comments"]);
    for t in v["tables"].as_array().unwrap() {
        for c in t["columns"].as_array().unwrap() {
            assert!(
                c["description"].is_string(),
                "undocumented column {c} in {}",
                t["name"]
            );
        }
    }
}

#[test]
fn analytics_cli_and_correlate() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    load(&s);
    // One fresh trace with a log and metrics of its service.
    grpc_traces(
        &s.grpc,
        chain_traces(62, 1, now_ns() - 5_000 * MS, 1, 300),
        false,
    )
    .unwrap();
    grpc_logs(&s.grpc, rich_logs("payments", 62, 0)).unwrap();
    grpc_metrics(&s.grpc, rich_metrics("payments")).unwrap();
    grpc_metrics(&s.grpc, rich_metrics("elsewhere")).unwrap();
    let tid = hex::encode(trace_id(62, 0));
    s.post(
        &s.rest,
        &format!("/api/v1/traces/{tid}/comments"),
        &[("content-type", "application/json")],
        br#"{"body":"looked at it"}"#.to_vec(),
    );
    let env = [("TAEL_SERVER", s.rest.as_str())];

    let v = cli_json(&["correlate", &tid], &env);
    assert_eq!(v["span_count"], 3);
    assert_eq!(v["services"], json!(["checkout", "frontend", "payments"]));
    assert_eq!(v["logs"].as_array().unwrap().len(), 1, "{v}");
    assert!(!v["metrics"].as_array().unwrap().is_empty());
    assert!(v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["service"] == "payments"));
    assert_eq!(v["comments"][0]["body"], "looked at it");
    let (code, _, _) = cli(&["correlate", "--trace", &"0".repeat(32)], &env);
    assert_eq!(code, 3);
    let (code, _, _) = cli(&["correlate", "xyz"], &env);
    assert_eq!(code, 2);

    // PromQL through the CLI: the normalised name and the UTF-8 quoted OTel name.
    let v = cli_json(&["query", "metrics", "--query", "e2e_gauge_ratio"], &env);
    assert_eq!(v["count"], 2, "{v}");
    assert_eq!(v["series"][0]["value"], 0.25);
    assert_eq!(v["series"][0]["labels"]["route"], "/pay");
    let v = cli_json(
        &[
            "query",
            "metrics",
            "--query",
            r#"sum by (service) ({"e2e.gauge", service="payments"})"#,
        ],
        &env,
    );
    assert_eq!(
        v["series"],
        json!([{"metric": "", "labels": {"service": "payments"}, "value": 0.25, "timestamp": v["series"][0]["timestamp"]}])
    );
    let v = cli_json(
        &[
            "query",
            "metrics",
            "--query",
            "e2e_gauge_ratio",
            "--start",
            "10m",
            "--step",
            "30s",
        ],
        &env,
    );
    assert!(
        !v["series"][0]["values"].as_array().unwrap().is_empty(),
        "{v}"
    );
    let (code, _, _) = cli(&["query", "metrics", "--query", "sum("], &env);
    assert_eq!(code, 2);

    let (code, out, err) = cli(
        &[
            "query",
            "sql",
            "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY n DESC, service",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 3);
    let (code, out, _) = cli(
        &["--format", "table", "query", "sql", "SELECT 1 AS one"],
        &env,
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("one"), "{out}");
    let (code, out, _) = cli(&["--format", "table", "query", "sql", "--schema"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("duration_ms") && out.contains("attr(attributes"),
        "{out}"
    );
    let (code, _, err) = cli(&["query", "sql", "DELETE FROM spans"], &env);
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = cli(&["summarize", "--last", "1h"], &env);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["traces"]["span_count"],
        603
    );
    let (code, out, _) = cli(&["anomalies", "--last", "1h", "--baseline", "1h"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("latency_p95"));
    let (code, out, _) = cli(
        &[
            "--format",
            "table",
            "diff",
            "--last",
            "1h",
            "--baseline",
            "1h",
        ],
        &env,
    );
    assert_eq!(code, 0);
    assert!(out.lines().nth(2).unwrap().starts_with("payments"), "{out}");
    let (code, out, _) = cli(&["--format", "table", "topology", "--last", "1h"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("frontend → checkout  calls 201"), "{out}");
    assert!(out.contains("entry services: frontend"), "{out}");
    let (code, _, _) = cli(&["summarize", "--last", "forever"], &env);
    assert_eq!(code, 2);

    // watch: the condition holds on the first tick; an impossible one times out.
    let (code, out, err) = cli(
        &[
            "watch",
            "--last",
            "1h",
            "--interval",
            "1s",
            "--exit-on",
            "error_rate > 0.05",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let line: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(line["matched"], json!(["error_rate > 0.05"]));
    assert_eq!(line["traces"]["span_count"], 603);
    let (code, out, _) = cli(
        &[
            "watch",
            "--last",
            "1h",
            "--interval",
            "1s",
            "--timeout",
            "2s",
            "--exit-on",
            "span_count > 1000000",
        ],
        &env,
    );
    assert_eq!(code, 6);
    assert!(out.lines().count() >= 1);
    let (code, _, _) = cli(&["watch", "--exit-on", "errors >> 1"], &env);
    assert_eq!(code, 2);
}
