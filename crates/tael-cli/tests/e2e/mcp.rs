//! MCP through the official Python `mcp` client (tests/python/mcp_client.py),
//! over streamable HTTP at `/mcp` and over stdio (`tael mcp`), against a
//! server seeded with a 5,000-span trace, 100 small traces and 10,000 log
//! lines: every tool answers, every answer fits the 32 KiB budget, cursors
//! page through everything exactly once, mistakes are tool errors with a
//! hint.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use serde_json::Value;
use std::collections::HashSet;

const BIG_SPANS: u32 = 5000;
const LOGS: u32 = 10_000;

/// One trace of 5,000 spans: an 8-ary tree of nested intervals, an error
/// every 500 spans, long SQL attributes.
fn big_trace(start: u64) -> (String, Vec<Span>) {
    let tid = trace_id(0xB1, 1);
    let spans = (0..BIG_SPANS)
        .map(|i| Span {
            trace_id: tid.clone(),
            span_id: span_id(0xB1, i + 1),
            parent_span_id: if i == 0 {
                vec![]
            } else {
                span_id(0xB1, (i - 1) / 8 + 1)
            },
            name: format!("step-{}", i % 37),
            kind: 1,
            start_time_unix_nano: start + i as u64 * 1000,
            end_time_unix_nano: start + 10_000_000_000 - i as u64 * 1000,
            status: Some(Status {
                code: if i % 500 == 7 { 2 } else { 0 },
                message: if i % 500 == 7 {
                    format!("db timeout at step {i}")
                } else {
                    String::new()
                },
            }),
            attributes: vec![kv(
                "db.statement",
                V::StringValue(format!("SELECT {i} /* {} */", "x".repeat(2000))),
            )],
            ..Default::default()
        })
        .collect();
    (hex::encode(&tid), spans)
}

fn logs(start: u64, first: u32, count: u32) -> ExportLogsServiceRequest {
    let records = (first..first + count)
        .map(|i| LogRecord {
            // Pairs share a timestamp: cursors must not lose or repeat them.
            time_unix_nano: start - (i / 2) as u64 * 1000,
            severity_number: if i % 7 == 0 { 17 } else { 9 },
            body: Some(AnyValue {
                value: Some(V::StringValue(format!(
                    "log-{i:05} {}",
                    "payload ".repeat((i % 97) as usize)
                ))),
            }),
            ..Default::default()
        })
        .collect();
    service_logs("api", records)
}

fn check_common(r: &Value) {
    let tools: Vec<&str> = r["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "list_services",
        "summarize",
        "find_anomalies",
        "diff",
        "service_graph",
        "search_traces",
        "get_trace_overview",
        "get_trace_errors",
        "get_critical_path",
        "get_span_details",
        "search_logs",
        "query_promql",
        "list_metrics",
        "run_sql",
        "correlate",
        "llm_usage",
        "get_payload",
        "add_comment",
    ] {
        assert!(tools.contains(&t), "{t} missing from {tools:?}");
    }
    let names: Vec<&str> = r["services"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"checkout") && names.contains(&"payments"),
        "{names:?}"
    );
    let bad = &r["bad_trace"];
    assert_eq!(bad["is_error"], true, "{bad}");
    assert_eq!(bad["value"]["error"]["code"], "invalid_argument", "{bad}");
    assert!(
        bad["value"]["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("32 hex"),
        "{bad}"
    );
    let miss = &r["misspelt_service"]["value"];
    assert!(
        miss["hints"].to_string().contains("checkout"),
        "a near miss names the real service: {miss}"
    );
}

#[test]
fn mcp_tools_answer_within_budget_over_http_and_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let now = now_ns();
    let (big_id, spans) = big_trace(now - 60_000_000_000);
    for chunk in spans.chunks(1000) {
        grpc_traces(&s.grpc, service_traces("checkout", chunk.to_vec()), false).unwrap();
    }
    grpc_traces(
        &s.grpc,
        simple_traces("payments", 0x77, 0, 100, now - 30_000_000_000),
        false,
    )
    .unwrap();
    for first in (0..LOGS).step_by(1000) {
        grpc_logs(&s.grpc, logs(now - 1_000_000, first, 1000)).unwrap();
    }

    let url = format!("{}/mcp", s.rest);
    let r = python_script("mcp_client.py", &[&url, "auto", &big_id]);
    check_common(&r);
    eprintln!(
        "mcp: largest answer {} B; pages: traces {}, overview {}, logs {}",
        r["max_answer_bytes"],
        r["traces_pages"]["calls"],
        r["overview_pages"]["calls"],
        r["logs_pages"]["calls"]
    );
    assert!(
        r["max_answer_bytes"].as_u64().unwrap() <= 32 * 1024,
        "{}",
        r["max_answer_bytes"]
    );

    // Cursors: every trace, span and log line exactly once.
    let once = |pages: &Value, want: usize, what: &str| {
        let ids: Vec<&str> = pages["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len(), "{what}: a row came twice");
        assert_eq!(
            ids.len(),
            want,
            "{what}: {} of {want} in {} calls",
            ids.len(),
            pages["calls"]
        );
        assert!(pages["calls"].as_u64().unwrap() > 1, "{what} needed paging");
    };
    once(&r["traces_pages"], 100, "search_traces");
    once(
        &r["overview_pages"],
        BIG_SPANS as usize,
        "get_trace_overview",
    );
    once(&r["logs_pages"], LOGS as usize, "search_logs");

    let calls = r["calls"].as_array().unwrap();
    let get = |tool: &str| calls.iter().find(|c| c["tool"] == tool).unwrap();
    for c in &calls[..calls.len() - 1] {
        assert_eq!(c["is_error"], false, "{c}");
    }
    let errors = &get("get_trace_errors")["value"];
    assert_eq!(errors["total_error_count"], 10, "{errors}");
    assert!(errors["errors"][0]["status_message"]
        .as_str()
        .unwrap()
        .starts_with("db timeout"));
    let cp = &get("get_critical_path")["value"];
    assert!(cp["critical_path_ms"].as_f64().unwrap() > 9000.0, "{cp}");
    let sql = &get("run_sql")["value"];
    assert_eq!(sql["rows"][0]["service"], "checkout", "{sql}");
    assert_eq!(sql["rows"][0]["n"], BIG_SPANS, "{sql}");
    assert_eq!(get("add_comment")["value"]["comment"]["author"], "agent");
    let bad_duration = calls.last().unwrap();
    assert_eq!(bad_duration["is_error"], true);
    assert!(
        bad_duration["value"]["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("15m"),
        "{bad_duration}"
    );
    let details = &r["details"]["value"];
    assert_eq!(details["returned"], 3, "{details}");
    let stmt = details["spans"][0]["attributes"]["db.statement"]
        .as_str()
        .unwrap();
    assert!(
        stmt.len() < 600 && stmt.ends_with('…'),
        "long values are cut: {}",
        stmt.len()
    );
    assert!(
        details["omitted"][0]["bytes"].as_u64().unwrap() > 2000,
        "{details}"
    );

    let legacy = python_script("mcp_client.py", &[&url, "legacy"]);
    check_common(&legacy);
    assert_eq!(legacy["protocol"], "2025-11-25", "{legacy}");
    let stdio = python_script(
        "mcp_client.py",
        &[&format!("stdio:{BIN}:{}", s.rest), "auto"],
    );
    check_common(&stdio);
    s.stop();
}
