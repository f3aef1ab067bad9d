//! The live SSE routes and `tael tail` against the real binary: filters,
//! monotonic ids, `retry:` and heartbeats, resume with `Last-Event-ID`,
//! the `gap` event once the buffer has moved on, the `lagged` event for a
//! reader that does not read, clear 400s, and open streams ending with an
//! `end` event when the server stops.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::Value;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tael_client::{BlockingEventStream, SseEvent};
use tael_query::params::Params;

const IDLE: Duration = Duration::from_secs(20);

fn params(pairs: &[(&str, &str)]) -> Params {
    Params(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn next(s: &mut BlockingEventStream<'_>) -> SseEvent {
    s.next_event()
        .expect("stream readable")
        .expect("stream open")
}

fn id(ev: &SseEvent) -> u64 {
    ev.id.as_deref().unwrap().parse().unwrap()
}

fn data(ev: &SseEvent) -> Value {
    serde_json::from_str(&ev.data).unwrap()
}

fn logs(service: &str, first: u32, count: u32) -> ExportLogsServiceRequest {
    let now = now_ns();
    let records = (first..first + count)
        .map(|i| LogRecord {
            time_unix_nano: now + i as u64,
            severity_number: if i % 4 == 0 { 17 } else { 9 },
            body: Some(AnyValue {
                value: Some(V::StringValue(format!(
                    "request {i} {}",
                    if i % 4 == 0 { "failed" } else { "ok" }
                ))),
            }),
            ..Default::default()
        })
        .collect();
    service_logs(service, records)
}

#[test]
fn live_streams_filter_resume_and_end_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[("TAEL_LIVE_BUFFER", "1000"), ("TAEL_LIVE_HEARTBEAT", "1s")],
    );
    let c = &s.client;
    let route = "/api/v1/traces/live";
    let errors = params(&[("service", "checkout"), ("status", "error")]);
    let mut live = c.live(route, &errors, None, IDLE).unwrap();
    // Only checkout's error spans (every tenth) pass the filter.
    let now = now_ns();
    grpc_traces(&s.grpc, simple_traces("other", 1, 0, 100, now), false).unwrap();
    grpc_traces(&s.grpc, simple_traces("checkout", 2, 0, 100, now), false).unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let ev = next(&mut live);
        assert_eq!(ev.event, "span");
        let span = data(&ev);
        assert_eq!(span["service"], "checkout");
        assert_eq!(span["status"], "error");
        seen.push((id(&ev), span["span_id"].as_str().unwrap().to_string()));
    }
    assert_eq!(live.retry(), Some(Duration::from_secs(3)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");

    // Resume after the fifth: exactly the last five, same ids.
    let after = seen[4].0.to_string();
    let mut resumed = c.live(route, &errors, Some(&after), IDLE).unwrap();
    for want in &seen[5..] {
        let ev = next(&mut resumed);
        assert_eq!(
            (id(&ev), data(&ev)["span_id"].as_str().unwrap()),
            (want.0, want.1.as_str())
        );
    }

    // Heartbeats are comments on the wire.
    let raw = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap();
    let mut resp = raw.get(format!("{}{route}", s.rest)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut wire = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !wire.contains("\n: heartbeat\n") {
        assert!(
            Instant::now() < deadline,
            "no heartbeat within 10 s: {wire}"
        );
        let n = resp.read(&mut buf).unwrap();
        assert!(n > 0, "stream closed: {wire}");
        wire.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(wire.starts_with("retry: 3000\n"), "{wire}");

    // Once 1,000+ newer spans pushed it out, resuming is a gap.
    for b in 0..4 {
        grpc_traces(&s.grpc, simple_traces("other", 3, b * 500, 500, now), false).unwrap();
    }
    let first = seen[0].0.to_string();
    let mut gapped = c.live(route, &params(&[]), Some(&first), IDLE).unwrap();
    let gap = next(&mut gapped);
    assert_eq!(gap.event, "gap");
    assert!(gap.id.is_none());
    let g = data(&gap);
    assert_eq!(g["exact"], true);
    assert!(g["missed"].as_u64().unwrap() > 100, "{g}");
    let ev = next(&mut gapped);
    assert_eq!(ev.event, "span");
    assert_eq!(id(&ev), seen[0].0 + g["missed"].as_u64().unwrap() + 1);

    // Logs: their own feed and filters.
    let failed = params(&[("service", "api"), ("body_contains", "failed")]);
    let mut log_live = c.live("/api/v1/logs/live", &failed, None, IDLE).unwrap();
    grpc_logs(&s.grpc, logs("api", 0, 40)).unwrap();
    grpc_logs(&s.grpc, logs("web", 0, 40)).unwrap();
    for _ in 0..10 {
        let ev = next(&mut log_live);
        assert_eq!(ev.event, "log");
        let rec = data(&ev);
        assert_eq!(rec["service"], "api");
        assert!(rec["body"].as_str().unwrap().contains("failed"), "{rec}");
    }

    // Mistakes are 400s with a reason, and the server stays up.
    for (query, needle) in [
        ("status=bogus", "status"),
        ("text=timeout", "full-text"),
        ("last=5m", "Last-Event-ID"),
        ("last_event_id=abc", "Last-Event-ID"),
    ] {
        let (code, body) = s.get(&format!("{route}?{query}"));
        assert_eq!(code, 400, "{query}: {body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    assert!(s.healthy());

    // Stopping ends every open stream with `end`, and the server exits.
    let child = s.child.id();
    send_signal(child, "TERM");
    for stream in [&mut live, &mut log_live] {
        let end = loop {
            let ev = next(stream);
            if ev.event == "end" {
                break ev;
            }
        };
        assert_eq!(data(&end)["reason"], "shutdown");
        assert!(stream.next_event().unwrap().is_none(), "closed after end");
    }
    drop((live, log_live, resumed, gapped, resp));
    s.stop();
}

#[test]
fn a_reader_that_does_not_read_is_told_it_lagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("TAEL_LIVE_BUFFER", "500")]);
    let mut live = s
        .client
        .live("/api/v1/traces/live", &params(&[]), None, IDLE)
        .unwrap();
    // 24,000 spans of ~2 KiB while nothing reads: far more than the
    // socket buffers hold, so the server's side of the stream stalls.
    let now = now_ns();
    for b in 0..24u32 {
        let mut req = simple_traces("bulk", 4, b * 1000, 1000, now);
        for span in &mut req.resource_spans[0].scope_spans[0].spans {
            span.attributes.push(kv(
                "blob",
                V::StringValue(format!("{:x}", span.span_id[7]).repeat(2048)),
            ));
        }
        grpc_traces(&s.grpc, req, false).unwrap();
    }
    let mut items = 0u64;
    let mut dropped = 0u64;
    let mut last = 0u64;
    while items + dropped < 24_000 {
        let ev = next(&mut live);
        match ev.event.as_str() {
            "span" => {
                let i = id(&ev);
                assert!(i > last, "ids only grow");
                last = i;
                items += 1;
            }
            "lagged" => dropped += data(&ev)["dropped"].as_u64().unwrap(),
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(items + dropped, 24_000, "every event sent or counted");
    assert!(dropped > 0, "the slow reader was told it lagged");
    assert!(s.healthy());
    drop(live);
    s.stop();
}

/// Runs `tael tail …` while `feed` sends data every 200 ms until it exits.
fn tail_while(s: &Server, args: &[&str], mut feed: impl FnMut(u32)) -> (i32, Vec<Value>, String) {
    let mut child = Command::new(BIN)
        .args(["tail"])
        .args(args)
        .args(["--server", &s.rest])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "tail did not exit");
        feed(round);
        round += 1;
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let lines = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (status.code().unwrap_or(-1), lines, err)
}

#[test]
fn tail_prints_json_lines_and_stops_on_a_condition() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // The first error span of checkout ends the tail (every tenth span of
    // a batch is an error; other services never match).
    let (code, lines, err) = tail_while(
        &s,
        &[
            "traces",
            "--service",
            "checkout",
            "--exit-on",
            "status == error",
        ],
        |r| {
            let now = now_ns();
            grpc_traces(&s.grpc, simple_traces("other", 5, r * 20, 20, now), false).unwrap();
            grpc_traces(
                &s.grpc,
                simple_traces("checkout", 6, r * 20 + 1, 9, now),
                false,
            )
            .unwrap();
            if r >= 3 {
                grpc_traces(
                    &s.grpc,
                    simple_traces("checkout", 6, 1000 + r * 10, 1, now),
                    false,
                )
                .unwrap();
            }
        },
    );
    assert_eq!(code, 0, "{err}");
    assert!(lines.iter().all(|l| l["service"] == "checkout"));
    assert_eq!(lines.last().unwrap()["status"], "error");
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l["status"] != "error"));

    let (code, lines, err) =
        tail_while(&s, &["logs", "--severity", "ERROR", "--count", "3"], |r| {
            grpc_logs(&s.grpc, logs("api", r * 8, 8)).unwrap();
        });
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["severity"] == "error"), "{lines:?}");

    // Nothing matches: --timeout gives up with exit code 6.
    let (code, _, _) = tail_while(
        &s,
        &[
            "traces",
            "--service",
            "nobody",
            "--exit-on",
            "duration_ms > 0",
            "--timeout",
            "1s",
        ],
        |_| {},
    );
    assert_eq!(code, 6);
    let (code, _, err) = tail_while(&s, &["traces", "--status", "bogus"], |_| {});
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = tail_while(&s, &["traces", "--exit-on", "status >"], |_| {});
    assert_eq!(code, 2, "{err}");
    s.stop();
}
