//! Full-text search through the real server and CLI: LLM payloads (inline
//! and in the blob store), status and exception messages and log bodies
//! are found newest first with a highlighted snippet, from the memtable,
//! after a crash (WAL replay, no duplicates), from parts, and after the
//! index is deleted (rebuilt from stored rows); bad queries are 400s; old
//! days go with retention.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span, Status};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const MS: u64 = 1_000_000;

fn st(v: &str) -> V {
    V::StringValue(v.into())
}

fn chat(tag: u32, start: u64, prompt: &str) -> Span {
    Span {
        trace_id: trace_id(90, tag),
        span_id: span_id(90, tag),
        name: "chat gpt-4o".into(),
        kind: 3,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 40 * MS,
        attributes: vec![
            kv("gen_ai.operation.name", st("chat")),
            kv("gen_ai.provider.name", st("openai")),
            kv("gen_ai.request.model", st("gpt-4o")),
            kv("gen_ai.input.messages", st(prompt)),
            kv("gen_ai.output.messages", st("[]")),
        ],
        ..Default::default()
    }
}

fn log(start: u64, tag: u32, severity: i32, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: start,
        severity_number: severity,
        trace_id: trace_id(91, tag),
        body: Some(AnyValue {
            value: Some(st(body)),
        }),
        ..Default::default()
    }
}

fn untraced(time: u64, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time,
        severity_number: 9,
        body: Some(AnyValue {
            value: Some(st(body)),
        }),
        ..Default::default()
    }
}

/// Writes the corpus: three chats (the oldest prompt large enough for the
/// blob store), an error span, an exception, and three log records.
fn ingest(s: &Server, start: u64) {
    let big = format!(
        "[{{\"role\":\"user\",\"content\":\"What is the refund policy for damaged parcels? {}\"}}]",
        "Please quote the terms in full. ".repeat(80)
    );
    let mut failed = Span {
        trace_id: trace_id(90, 4),
        span_id: span_id(90, 4),
        name: "SELECT orders".into(),
        kind: 3,
        start_time_unix_nano: start + 30 * MS,
        end_time_unix_nano: start + 31 * MS,
        status: Some(Status {
            message: "connection refused by payments-db".into(),
            code: status::StatusCode::Error as i32,
        }),
        ..Default::default()
    };
    let mut thrown = failed.clone();
    thrown.span_id = span_id(90, 5);
    thrown.status = None;
    thrown.start_time_unix_nano = start + 35 * MS;
    thrown.events = vec![span::Event {
        name: "exception".into(),
        time_unix_nano: start + 35 * MS,
        attributes: vec![
            kv("exception.type", st("TimeoutError")),
            kv("exception.message", st("upstream inventory timed out")),
        ],
        dropped_attributes_count: 0,
    }];
    failed.attributes = vec![kv("db.system", st("postgresql"))];
    let spans = vec![
        chat(1, start, &big),
        chat(
            2,
            start + 10 * MS,
            "[{\"role\":\"user\",\"content\":\"refund policy?\"}]",
        ),
        chat(
            3,
            start + 20 * MS,
            "[{\"role\":\"user\",\"content\":\"shipping times\"}]",
        ),
        failed,
        thrown,
    ];
    assert_eq!(
        grpc_traces(&s.grpc, service_traces("shop", spans), false).unwrap(),
        0
    );
    let big_body = format!(
        "refund worker crashed\n{}",
        "  at refunds.rs:42\n".repeat(200)
    );
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("shop"),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![
                    log(start + MS, 1, 17, &big_body),
                    log(start + 2 * MS, 2, 9, "refund issued for order 42"),
                    log(start + 3 * MS, 3, 9, "parcel shipped"),
                    // Alike in time and (absent) ids: told apart by body.
                    untraced(start + 4 * MS, "ticket 7 opened"),
                    untraced(start + 4 * MS, "ticket 8 opened"),
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    assert_eq!(grpc_logs(&s.grpc, logs).unwrap(), 0);
}

fn span_names(v: &Value) -> Vec<String> {
    v["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["span_id"].as_str().unwrap().to_string())
        .collect()
}

fn sid(n: u32) -> String {
    hex::encode(span_id(90, n))
}

fn check(s: &Server) {
    // Newest first, each with where it matched and a snippet.
    let v = cli_json(
        &[
            "query",
            "traces",
            "--text",
            "refund policy",
            "--server",
            &s.rest,
        ],
        &[],
    );
    assert_eq!(span_names(&v), [sid(2), sid(1)], "{v}");
    for sp in v["spans"].as_array().unwrap() {
        assert_eq!(sp["match"]["field"], "gen_ai.input.messages", "{sp}");
        let snippet = sp["match"]["snippet"].as_str().unwrap();
        assert!(snippet.contains("**refund** **policy**"), "{snippet}");
        let frag = sp["match"]["fragment"].as_str().unwrap();
        let h = &sp["match"]["highlights"][0];
        let (a, b) = (
            h[0].as_u64().unwrap() as usize,
            h[1].as_u64().unwrap() as usize,
        );
        assert_eq!(&frag[a..b], "refund");
    }
    // The blob-stored prompt, by a phrase only it holds.
    let (_, v) = s.get("/api/v1/traces?text=%22quote%20the%20terms%22");
    assert_eq!(span_names(&v), [sid(1)], "{v}");
    // Payloads are indexed without positions: a phrase whose words it
    // holds in another order is held to the phrase on its content.
    let (_, v) = s.get("/api/v1/traces?text=%22terms%20quote%22");
    assert_eq!(span_names(&v), Vec::<String>::new(), "{v}");
    let (_, v) = s.get("/api/v1/traces?text=%22quote%20the%20ter%22*");
    assert_eq!(span_names(&v), [sid(1)], "{v}");
    let (_, v) = s.get("/api/v1/traces?text=%22policy%20refund%22%20OR%20%22damaged%20parcels%22");
    assert_eq!(span_names(&v), [sid(1)], "{v}");
    // Status and exception messages; `:` is text.
    let (_, v) = s.get("/api/v1/traces?text=refused");
    assert_eq!(span_names(&v), [sid(4)], "{v}");
    assert_eq!(v["spans"][0]["match"]["field"], "status_message");
    let (_, v) = s.get("/api/v1/traces?text=inventory%20timed");
    assert_eq!(span_names(&v), [sid(5)], "{v}");
    assert_eq!(
        v["spans"][0]["match"]["field"],
        "exception/exception.message"
    );
    let (_, v) = s.get("/api/v1/traces?text=refused%20by:%20payments");
    assert_eq!(span_names(&v), [sid(4)], "{v}");
    let (_, v) = s.get("/api/v1/traces?text=refused%20OR%20shipping");
    assert_eq!(span_names(&v), [sid(4), sid(3)], "{v}");
    // The other filters still apply.
    let (_, v) = s.get("/api/v1/traces?text=refund&service=other");
    assert_eq!(span_names(&v), Vec::<String>::new());
    let (_, v) = s.get("/api/v1/traces?text=refund&min_duration_ms=1000");
    assert_eq!(span_names(&v), Vec::<String>::new());
    let (_, v) = s.get("/api/v1/traces?text=refund&limit=1");
    assert_eq!(span_names(&v), [sid(2)]);
    // Logs: bodies inline and in the blob store.
    let v = cli_json(
        &["query", "logs", "--text", "refund", "--server", &s.rest],
        &[],
    );
    assert_eq!(v["count"], 2, "{v}");
    assert_eq!(
        v["logs"][0]["match"]["snippet"],
        "**refund** issued for order 42"
    );
    assert_eq!(v["logs"][1]["match"]["field"], "body");
    let (_, v) = s.get("/api/v1/logs?text=refund&severity=error");
    assert_eq!(v["count"], 1, "{v}");
    assert!(v["logs"][0]["match"]["snippet"]
        .as_str()
        .unwrap()
        .starts_with("**refund** worker crashed"));
    let (_, v) = s.get("/api/v1/logs?text=%22worker%20crashed%22");
    assert_eq!(v["count"], 1, "{v}");
    let (_, v) = s.get("/api/v1/logs?text=%22crashed%20worker%22");
    assert_eq!(v["count"], 0, "{v}");
    let (_, v) = s.get("/api/v1/logs?text=parcel");
    assert_eq!(v["count"], 1, "{v}");
    let (_, v) = s.get("/api/v1/logs?text=ticket%20opened");
    assert_eq!(v["count"], 2, "{v}");
    let (_, v) = s.get("/api/v1/logs?text=%22ticket%208%22");
    assert_eq!(v["count"], 1, "{v}");
    assert_eq!(v["logs"][0]["match"]["fragment"], "ticket 8 opened");
}

fn bad_queries_are_refused(s: &Server) {
    for q in ["(refund", "%22unclosed", "refund%5E"] {
        let (code, v) = s.get(&format!("/api/v1/traces?text={q}"));
        assert_eq!(code, 400, "{q}: {v}");
        assert!(v["error"].as_str().unwrap().contains("text query"), "{v}");
        assert_eq!(s.get(&format!("/api/v1/logs?text={q}")).0, 400);
    }
    let (code, _, err) = cli(
        &["query", "logs", "--text", "(refund", "--server", &s.rest],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(s.healthy());
}

#[test]
fn payloads_messages_and_log_bodies_are_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ns() - 60_000 * MS;
    let s = Server::start(dir.path(), &[]);
    ingest(&s, start);
    check(&s);
    bad_queries_are_refused(&s);
    // A crash: the WAL is replayed, the index already holds those rows.
    s.kill();
    let s = Server::start(dir.path(), &[]);
    check(&s);
    // From parts (a graceful stop flushes).
    s.stop();
    let parts = |d: &Path| {
        std::fs::read_dir(d.join("spans"))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    assert!(parts(dir.path()) > 0);
    let s = Server::start(dir.path(), &[]);
    check(&s);
    s.stop();
    // Lost: rebuilt from the stored rows and blobs.
    std::fs::remove_dir_all(dir.path().join("text")).unwrap();
    let s = Server::start(dir.path(), &[]);
    assert!(eventually(Duration::from_secs(30), || {
        s.get("/api/v1/logs?text=parcel").1["count"] == 1
    }));
    check(&s);
}

#[test]
fn retention_drops_old_index_days() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[("TAEL_TRACE_RETENTION", "2d"), ("TAEL_LOG_RETENTION", "2d")],
    );
    let day = 86_400_000 * MS;
    let old = now_ns() - 3 * day;
    let spans = vec![
        chat(
            1,
            old,
            "[{\"role\":\"user\",\"content\":\"an ancient refund\"}]",
        ),
        chat(
            2,
            now_ns() - 1000 * MS,
            "[{\"role\":\"user\",\"content\":\"a recent refund\"}]",
        ),
    ];
    assert_eq!(
        grpc_traces(&s.grpc, service_traces("shop", spans), false).unwrap(),
        0
    );
    let days = || {
        std::fs::read_dir(dir.path().join("text"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count()
    };
    // Indexed (a search waits for the indexer): two days, both found.
    let (_, v) = s.get("/api/v1/traces?text=refund");
    assert_eq!(span_names(&v), [sid(2), sid(1)], "{v}");
    assert_eq!(days(), 2);
    assert!(
        eventually(Duration::from_secs(30), || days() == 1),
        "{}",
        days()
    );
    let (_, v) = s.get("/api/v1/traces?text=refund");
    assert_eq!(span_names(&v), [sid(2)], "{v}");
}
