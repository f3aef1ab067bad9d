//! Two shards, an ingest node and a query node beside a single node given
//! the same data: every read route answers through the query node as the
//! single node answers (the JSON compared), the ingest node spread the
//! data over both shards by the published hash, and with a shard down the
//! answers say they are partial instead of being a silent subset.
//! Prometheus remote-write through the ingest node and PromQL through the
//! query node answer as one node does.

use crate::dataset::{trace_hex, DataSet, TRACES};
use crate::fixtures::now_ns;
use crate::support::{
    cli_json, eventually, grpc_logs, grpc_metrics, grpc_traces, python_script, Server,
};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Keys whose values depend on when a request was answered, not on the
/// data (report windows end at "now"): these and any `*_from` / `*_to`.
const CLOCK_KEYS: &[&str] = &["window", "from", "to", "generated_at", "now"];

fn without_clock(v: &mut Value) {
    match v {
        Value::Object(m) => {
            // A comment's id and time are the receiving node's.
            if m.remove("created_at").is_some() {
                m.remove("id");
            }
            m.retain(|k, _| {
                !(CLOCK_KEYS.contains(&k.as_str()) || k.ends_with("_from") || k.ends_with("_to"))
            });
            m.values_mut().for_each(without_clock);
        }
        Value::Array(a) => a.iter_mut().for_each(without_clock),
        _ => {}
    }
}

/// The first place two answers differ, as a path.
pub(crate) fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let d = first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    format!("{at}.{k}"),
                );
                if d.is_some() {
                    return d;
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}[{i}]"))),
        // Sums of fractions (costs) may round differently when added
        // in another order.
        (Value::Number(x), Value::Number(y)) if close(x.as_f64(), y.as_f64()) => None,
        _ if a == b => None,
        _ => Some(format!(
            "{at}: {} vs {}",
            truncate(a.to_string()),
            truncate(b.to_string())
        )),
    }
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        _ => false,
    }
}

fn truncate(s: String) -> String {
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every read route with parameters that select from the data set.
pub(crate) fn routes(data: &DataSet) -> Vec<String> {
    let since = tael_core::time::format_rfc3339(data.start_ns as i64);
    let t_ms = (data.start_ns / 1_000_000) + 10 * 60_000;
    let t_s = t_ms as f64 / 1000.0;
    let start_s = data.start_ns as f64 / 1e9;
    let sql = [
        "SELECT service, count(*) AS n, sum(duration_ns) AS d FROM spans GROUP BY service ORDER BY service",
        "SELECT trace_id, span_id, duration_ms FROM spans WHERE service = 'payments' ORDER BY duration_ms DESC, span_id LIMIT 7",
        "SELECT s.service, count(*) AS logs FROM logs l JOIN spans s ON l.trace_id = s.trace_id AND s.kind = 'server' GROUP BY s.service ORDER BY s.service",
        "SELECT severity, count(*) AS n FROM logs GROUP BY severity ORDER BY severity",
        "SELECT count(*) AS n, count(DISTINCT trace_id) AS t FROM spans",
        "SELECT name, count(*) AS n, max(value) AS top FROM metrics GROUP BY name ORDER BY name",
        // Filters pushed to the shards, and a limit with them.
        "SELECT count(*) AS n FROM spans WHERE service IN ('checkout', 'payments') AND duration_ns BETWEEN 1000000 AND 90000000 AND operation LIKE 'p%' AND parent_span_id IS NOT NULL",
        "SELECT span_id FROM spans WHERE status = 'error' AND NOT (service = 'frontend') ORDER BY span_id LIMIT 3",
        "SELECT count(*) AS n FROM (SELECT trace_id FROM spans WHERE kind = 'server' LIMIT 10) t",
        "SELECT count(*) AS n FROM logs WHERE upper(body) LIKE '%DECLINED%'",
    ];
    let promql = [
        "sum(queue_depth)",
        "sum by (host) (rate(orders_total[5m]))",
        "max_over_time(queue_depth{host=\"h3\"}[10m])",
        "count(orders_total) by (service_name)",
    ];
    let mut out = vec![
        format!("/api/v1/traces?limit=40&since={since}"),
        "/api/v1/traces?service=checkout&limit=15".to_string(),
        "/api/v1/traces?status=error&limit=100".to_string(),
        "/api/v1/traces?min_duration_ms=50&limit=25".to_string(),
        "/api/v1/traces?attribute=n%3D14&limit=10".to_string(),
        "/api/v1/services".to_string(),
        "/api/v1/logs?limit=60".to_string(),
        "/api/v1/logs?service=inventory&limit=100".to_string(),
        "/api/v1/logs?severity=error&limit=100".to_string(),
        "/api/v1/metrics?limit=50".to_string(),
        "/api/v1/metrics?name=orders&limit=200".to_string(),
        "/api/v1/metrics/catalog".to_string(),
        "/api/v1/summary?last=1h".to_string(),
        "/api/v1/summary?last=1h&service=checkout".to_string(),
        "/api/v1/topology?last=1h".to_string(),
        "/api/v1/anomalies?last=1h".to_string(),
        "/api/v1/llm/usage?last=1h".to_string(),
        "/api/v1/llm/usage?last=1h&by=service".to_string(),
        format!("/api/v1/correlate?trace_id={}", trace_hex(9)),
        "/api/v1/sql/schema".to_string(),
        "/api/v1/labels".to_string(),
        "/api/v1/label/host/values".to_string(),
        "/api/v1/series?match[]=queue_depth".to_string(),
        "/api/v1/metadata".to_string(),
        "/api/services".to_string(),
        "/api/operations?service=checkout".to_string(),
        "/api/v3/services".to_string(),
    ];
    for n in [0, 7, 9, 44, 89] {
        out.push(format!("/api/v1/traces/{}", trace_hex(n)));
        out.push(format!("/api/traces/{}", trace_hex(n)));
        out.push(format!("/api/v1/traces/{}/comments", trace_hex(n)));
    }
    for q in sql {
        out.push(format!("/api/v1/sql?q={}", encode(q)));
    }
    for q in promql {
        out.push(format!("/api/v1/query?query={}&time={t_s}", encode(q)));
        out.push(format!(
            "/api/v1/query_range?query={}&start={start_s}&end={t_s}&step=60",
            encode(q)
        ));
    }
    out
}

pub(crate) fn answer(s: &Server, path: &str) -> (u16, Value) {
    let (status, mut v) = s.get(path);
    without_clock(&mut v);
    (status, v)
}

pub(crate) fn load(to: &Server, data: &DataSet) {
    for t in &data.traces {
        assert_eq!(grpc_traces(&to.grpc, t.clone(), false).unwrap(), 0);
    }
    for l in &data.logs {
        assert_eq!(grpc_logs(&to.grpc, l.clone()).unwrap(), 0);
    }
    for m in &data.metrics {
        assert_eq!(grpc_metrics(&to.grpc, m.clone()).unwrap(), 0);
    }
    for n in [7, 44] {
        let body = json!({"body": format!("looked at order {n}"), "author": "oncall"});
        let (status, _, _) = to.post(
            &to.rest,
            &format!("/api/v1/traces/{}/comments", trace_hex(n)),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        );
        assert_eq!(status, 201);
    }
}

fn memtable_rows(s: &Server) -> u64 {
    s.get("/api/v1/stats").1["storage"]["memtable_rows"]
        .as_u64()
        .unwrap_or(0)
}

/// Two shards, an ingest node and a query node over them, and a single
/// node beside them.
struct Tier {
    s0: Server,
    s1: Server,
    ingest: Server,
    query: Server,
    single: Server,
}

fn start_tier(dir: &Path) -> Tier {
    let shard = |i: usize| Server::start(&dir.join(format!("shard{i}")), &[]);
    let (s0, s1) = (shard(0), shard(1));
    let shards = format!("{},{}", s0.rest, s1.rest);
    let role = |name: &str, role: &str| {
        Server::start(
            &dir.join(name),
            &[
                ("TAEL_NODE_ROLE", role),
                ("TAEL_SHARDS", shards.as_str()),
                ("TAEL_SHARD_TIMEOUT", "5s"),
            ],
        )
    };
    Tier {
        ingest: role("ingest", "ingest"),
        query: role("query", "query"),
        single: Server::start(&dir.join("single"), &[]),
        s0,
        s1,
    }
}

/// Prometheus remote-write through the ingest node (split by series) and
/// PromQL through the query node answer as one node given the same
/// samples does.
#[test]
fn remote_write_through_the_ingest_tier_answers_promql_like_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_tier(dir.path());
    let end = (now_ns() / 1_000_000_000).to_string();
    let run = |write: &Server, read: &Server| {
        let endpoint = format!("{}/api/v1/write", write.rest);
        cli_json(
            &[
                "bench",
                "series",
                "--series",
                "40",
                "--duration",
                "10m",
                "--runs",
                "1",
                "--protocol",
                "remote-write",
                "--endpoint",
                &endpoint,
                "--server",
                &read.rest,
                "--end",
                &end,
            ],
            &[],
        )
    };
    let one = run(&t.single, &t.single);
    let tier = run(&t.ingest, &t.query);
    assert_eq!(tier["loaded_points"], one["loaded_points"], "{tier}");
    let (ro, rt) = (
        one["results"].as_array().unwrap(),
        tier["results"].as_array().unwrap(),
    );
    assert!(!ro.is_empty());
    for (o, r) in ro.iter().zip(rt) {
        assert!(o["result_series"].as_u64().unwrap() > 0, "{o}");
        for k in ["result_series", "result_samples"] {
            assert_eq!(o[k], r[k], "{}: {o} vs {r}", o["query"]);
        }
        assert!(
            close(o["result_sum"].as_f64(), r["result_sum"].as_f64()),
            "{}: {o} vs {r}",
            o["query"]
        );
    }
    let (r0, r1) = (memtable_rows(&t.s0), memtable_rows(&t.s1));
    assert!(
        r0 > 0 && r1 > 0,
        "the series are on both shards: {r0} and {r1}"
    );
}

/// `GET /api/v1/traces/live` on the query node streams the spans stored
/// on every shard (each shard's stream followed by the query node).
/// The span events of a live stream (event id, span id) until `n` came,
/// and any other events.
async fn live_spans(
    stream: &mut tael_client::EventStream,
    n: usize,
) -> (Vec<(String, String)>, Vec<String>) {
    let (mut spans, mut other) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while spans.len() < n {
        let ev = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the spans within 30 s")
            .unwrap()
            .expect("the stream stays open");
        match ev.event.as_str() {
            "span" => {
                let span: Value = serde_json::from_str(&ev.data).unwrap();
                let id = span["span_id"].as_str().unwrap().to_string();
                spans.push((ev.id.unwrap(), id));
            }
            _ => other.push(format!("{}: {}", ev.event, ev.data)),
        }
    }
    (spans, other)
}

#[test]
fn a_live_stream_through_the_query_node_carries_every_shards_spans_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let t = start_tier(dir.path());
    let client = tael_client::Client::new(&t.query.rest).unwrap();
    let grpc = t.ingest.grpc.clone();
    let params = tael_query::params::Params::parse(Some("service=live")).unwrap();
    crate::support::runtime().block_on(async move {
        let open = |last: Option<String>| {
            let (client, params) = (client.clone(), params.clone());
            async move {
                let mut stream = client
                    .live(
                        tael_query::live::TRACES_LIVE_ROUTE,
                        &params,
                        last.as_deref(),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap();
                // The stream's first block (an id, no event) comes once
                // the query node follows every shard.
                assert!(stream.started().await.unwrap().is_some());
                stream
            }
        };
        let mut stream = open(None).await;
        let sender = std::thread::spawn(move || {
            let req = crate::fixtures::simple_traces("live", 0x61, 0, 40, now_ns());
            grpc_traces(&grpc, req, false).unwrap()
        });
        let (spans, _) = live_spans(&mut stream, 40).await;
        assert_eq!(sender.join().unwrap(), 0);
        let distinct: std::collections::BTreeSet<&String> = spans.iter().map(|s| &s.1).collect();
        assert_eq!(distinct.len(), 40);
        // Resumed after the 15th: exactly the other 25, and no gap.
        drop(stream);
        let mut resumed = open(Some(spans[14].0.clone())).await;
        let (again, other) = live_spans(&mut resumed, 25).await;
        let want: std::collections::BTreeSet<&String> = spans[15..].iter().map(|s| &s.1).collect();
        let got: std::collections::BTreeSet<&String> = again.iter().map(|s| &s.1).collect();
        assert_eq!(got, want);
        assert!(other.is_empty(), "{other:?}");
        // An id the query node never gave: a gap that is not exact.
        let mut unknown = open(Some("7".into())).await;
        let ev = tokio::time::timeout(Duration::from_secs(10), unknown.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(ev.event, "gap", "{ev:?}");
        assert!(ev.data.contains("\"exact\":false"), "{ev:?}");
    });
    let (r0, r1) = (memtable_rows(&t.s0), memtable_rows(&t.s1));
    assert!(r0 > 0 && r1 > 0, "spans of both shards: {r0} and {r1}");
}

#[test]
fn the_query_tier_answers_like_one_node_and_says_when_a_shard_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let Tier {
        s0,
        s1,
        ingest,
        query,
        single,
    } = start_tier(dir.path());

    let data = DataSet::new(now_ns() - 15 * 60 * 1_000_000_000);
    load(&single, &data);
    load(&ingest, &data);

    // The ingest node split the data by owner: both shards hold some, and
    // every trace lies whole on the shard the published hash names.
    let (r0, r1) = (memtable_rows(&s0), memtable_rows(&s1));
    assert!(r0 > 0 && r1 > 0, "both shards hold data: {r0} and {r1}");
    assert_eq!(r0 + r1, memtable_rows(&single));
    for n in 0..TRACES {
        let id = crate::fixtures::trace_id(0x42, n);
        let owner = tael_query::store::routing::trace_shard(&id, 2);
        let (on, off) = match owner {
            0 => (&s0, &s1),
            _ => (&s1, &s0),
        };
        let path = format!("/api/v1/traces/{}", trace_hex(n));
        assert_eq!(
            on.get(&path).1["span_count"],
            3,
            "trace {n} on shard {owner}"
        );
        assert_eq!(off.get(&path).0, 404, "trace {n} only on shard {owner}");
    }

    // Every read route: the query node's answer is the single node's.
    for path in routes(&data) {
        let (want_status, want) = answer(&single, &path);
        let (got_status, got) = answer(&query, &path);
        assert_eq!(got_status, want_status, "{path}: {got}");
        assert_eq!(want_status, 200, "{path}: {want}");
        if let Some(d) = first_difference(&got, &want, String::new()) {
            panic!("{path} differs at {d}");
        }
    }
    // The ingest node answers reads over the same shards.
    let path = format!("/api/v1/traces/{}", trace_hex(44));
    assert_eq!(answer(&ingest, &path), answer(&single, &path));
    // A query node takes no writes, and says where they go.
    let (status, _, body) = query.post(
        &query.rest,
        &format!("/api/v1/traces/{}/comments", trace_hex(1)),
        &[("content-type", "application/json")],
        br#"{"body": "x"}"#.to_vec(),
    );
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("query node"));

    // One shard down: answers come from the other, marked partial.
    s1.kill();
    let (status, v) = query.get("/api/v1/traces?limit=200");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["partial"], true, "{v}");
    assert_eq!(v["failed_shards"][0]["shard"], "1", "{v}");
    let spans = v["spans"].as_array().unwrap().len() as u64;
    assert!(spans > 0 && spans < u64::from(TRACES) * 3, "{spans}");
    let (_, v) = query.get("/api/v1/summary?last=1h");
    assert_eq!(v["partial"], true, "{v}");
    let (status, v) = query.get(&format!(
        "/api/v1/sql?q={}",
        encode("SELECT count(*) AS n FROM spans")
    ));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["partial"], true, "{v}");
    let (_, v) = query.get(&format!(
        "/api/v1/query?query={}",
        encode("sum(queue_depth)")
    ));
    assert_eq!(v["status"], "success", "{v}");
    assert!(
        v["warnings"][0].as_str().unwrap().contains("shard 1"),
        "{v}"
    );
    assert_eq!(query.get("/readyz").0, 200);
    // Jaeger's gRPC query service says it in its metadata.
    let md = crate::support::runtime().block_on(async {
        use tael_server::jaeger::proto::query_service_client::QueryServiceClient;
        use tael_server::jaeger::proto::GetServicesRequest;
        let channel = tonic::transport::Endpoint::from_shared(query.grpc.clone())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = QueryServiceClient::new(channel);
        c.get_services(GetServicesRequest {})
            .await
            .unwrap()
            .metadata()
            .clone()
    });
    assert_eq!(md.get("x-tael-partial").unwrap(), "true");
    assert_eq!(md.get("x-tael-failed-shards").unwrap(), "1");
    // So do MCP's tool results, from the node's /mcp and from `tael mcp`.
    for target in [
        format!("{}/mcp", query.rest),
        format!("stdio:{}:{}", crate::support::BIN, query.rest),
    ] {
        let v = python_script("mcp_tool.py", &[&target, "list_services"]);
        assert_eq!(v["is_error"], false, "{target}: {v}");
        assert_eq!(v["result"]["partial"], true, "{target}: {v}");
        assert_eq!(
            v["result"]["failed_shards"][0]["shard"], "1",
            "{target}: {v}"
        );
    }
    // A write owned by the missing shard is refused (the client keeps it
    // and retries), not dropped.
    let lost = (1000..)
        .find(|n| {
            tael_query::store::routing::trace_shard(&crate::fixtures::trace_id(0x42, *n), 2) == 1
        })
        .unwrap();
    let req = crate::fixtures::simple_traces("late", 0x42, lost, 1, now_ns());
    let refused = grpc_traces(&ingest.grpc, req, false).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    // No shard: an error, and not ready.
    s0.kill();
    assert!(eventually(Duration::from_secs(10), || query
        .get("/readyz")
        .0
        == 503));
    let (status, v) = query.get("/api/v1/traces");
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "unavailable", "{v}");
    query.stop();
    ingest.stop();
    single.stop();
}
