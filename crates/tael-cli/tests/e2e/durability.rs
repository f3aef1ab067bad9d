//! Crash (SIGKILL during ingest), restart and retention.

use crate::fixtures::*;
use crate::support::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn sigkill_during_ingest_loses_no_acknowledged_span_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    // A small memtable and a fast flush, so the kill also lands during
    // flushes and compactions, not only between WAL writes.
    let env = [
        ("TAEL_MEMTABLE_BYTES", "1MiB"),
        ("TAEL_FLUSH_INTERVAL", "200ms"),
    ];
    let s = Server::start(dir.path(), &env);
    let acked: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let endpoint = s.grpc.clone();
    let mut workers = Vec::new();
    for w in 0..3u32 {
        let (acked, stop, endpoint) = (acked.clone(), stop.clone(), endpoint.clone());
        workers.push(std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async {
                use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
                let Ok(mut c) = TraceServiceClient::connect(endpoint).await else { return };
                let mut batch = 0u32;
                while !stop.load(Ordering::Acquire) && batch < 2000 {
                    let first = (w * 1_000_000) + batch * 200;
                    let req = simple_traces("crash", 60, first, 200, now_ns());
                    // Retry what the server asks to retry, as OTLP SDKs do.
                    loop {
                        match c.export(req.clone()).await {
                            Ok(_) => {
                                acked.lock().unwrap().push(first);
                                break;
                            }
                            Err(e) if e.code() == tonic::Code::Unavailable && !stop.load(Ordering::Acquire) => {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(_) => return,
                        }
                    }
                    batch += 1;
                }
            });
        }));
    }
    assert!(eventually(Duration::from_secs(60), || acked
        .lock()
        .unwrap()
        .len()
        >= 30));
    std::thread::sleep(Duration::from_millis(300));
    s.kill();
    stop.store(true, Ordering::Release);
    for w in workers {
        let _ = w.join();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());
    let s = Server::start(dir.path(), &env);
    // Every acknowledged span is there exactly once.
    let (_, v) = s.get("/api/v1/services");
    let crash = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "crash")
        .cloned()
        .unwrap();
    let stored = crash["span_count"].as_u64().unwrap();
    assert!(
        stored >= acked.len() as u64 * 200,
        "stored {stored} < acked {}",
        acked.len() * 200
    );
    let mut counts: HashMap<String, u32> = HashMap::new();
    let (_, v) = s.get("/api/v1/traces?service=crash&limit=100000");
    for sp in v["spans"].as_array().unwrap() {
        *counts
            .entry(sp["span_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        counts.len() as u64,
        stored,
        "services count and search disagree"
    );
    for first in &acked {
        for n in *first..first + 200 {
            let id = hex::encode(span_id(60, n));
            assert_eq!(
                counts.get(&id).copied().unwrap_or(0),
                1,
                "span {n} of acked batch {first}"
            );
        }
    }
    for (id, c) in &counts {
        assert_eq!(*c, 1, "span {id} stored {c} times");
    }
    // Spot-check trace by id on acknowledged data.
    let first = acked[acked.len() / 2];
    let (st, v) = s.get(&format!(
        "/api/v1/traces/{}",
        hex::encode(trace_id(60, first + 7))
    ));
    assert_eq!(st, 200);
    assert_eq!(v["span_count"], 1);
}

#[test]
fn restart_keeps_data_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("TAEL_FLUSH_INTERVAL", "100ms")]);
    grpc_traces(
        &s.grpc,
        simple_traces("restart", 70, 1, 500, now_ns()),
        false,
    )
    .unwrap();
    let tid = hex::encode(trace_id(70, 5));
    let (st, _, _) = s.post(
        &s.rest,
        &format!("/api/v1/traces/{tid}/comments"),
        &[("content-type", "application/json")],
        br#"{"body":"looks slow","author":"agent-7","span_id":"b046464600000005"}"#.to_vec(),
    );
    assert_eq!(st, 201);
    // Wait for the flush to Parquet, then write more (memtable only).
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.path().join("MANIFEST.json"))
            .map(|m| m.contains("spans/"))
            .unwrap_or(false)
    }));
    grpc_traces(
        &s.grpc,
        simple_traces("restart", 70, 501, 10, now_ns()),
        false,
    )
    .unwrap();
    s.kill();
    let s = Server::start(dir.path(), &[]);
    let (_, v) = s.get("/api/v1/traces?service=restart&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 510);
    let (_, v) = s.get(&format!("/api/v1/traces/{tid}/comments"));
    assert_eq!(v["count"], 1);
    assert_eq!(v["comments"][0]["body"], "looks slow");
    assert_eq!(v["comments"][0]["author"], "agent-7");
    assert_eq!(v["comments"][0]["span_id"], "b046464600000005");
    let (_, v) = s.get("/api/v1/comments");
    assert_eq!(v["count"], 1);
    let (_, v) = s.get("/api/v1/services");
    let svc = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "restart")
        .cloned()
        .unwrap();
    assert_eq!(svc["span_count"], 510);
    assert_eq!(svc["trace_count"], 510);
    assert!(
        (svc["error_rate"].as_f64().unwrap() - 51.0 / 510.0).abs() < 1e-9,
        "{svc}"
    );
}

#[test]
fn retention_drops_old_partitions_and_keeps_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TAEL_FLUSH_INTERVAL", "100ms"),
        ("TAEL_TRACE_RETENTION", "1d"),
    ];
    let s = Server::start(dir.path(), &env);
    let three_days = 3 * 86_400 * 1_000_000_000u64;
    grpc_traces(
        &s.grpc,
        simple_traces("old", 80, 1, 50, now_ns() - three_days),
        false,
    )
    .unwrap();
    grpc_traces(&s.grpc, simple_traces("new", 81, 1, 50, now_ns()), false).unwrap();
    // The old spans are flushed into their own (old) hour partition, which
    // retention then drops; the new ones stay.
    assert!(eventually(Duration::from_secs(20), || {
        let (_, v) = s.get("/api/v1/traces?service=old&limit=1000");
        v["spans"].as_array().map(|a| a.is_empty()).unwrap_or(false)
    }));
    let (_, v) = s.get("/api/v1/traces?service=new&limit=1000");
    assert_eq!(v["spans"].as_array().unwrap().len(), 50);
    let (st, _) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(80, 3))));
    assert_eq!(st, 404);
    let old_dirs: Vec<_> = std::fs::read_dir(dir.path().join("spans"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        old_dirs.len(),
        1,
        "only the current hour partition remains: {old_dirs:?}"
    );
}

#[test]
fn disk_cap_drops_the_oldest_partitions_first() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TAEL_FLUSH_INTERVAL", "100ms"),
        ("TAEL_MAX_DISK_BYTES", "20KiB"),
    ];
    let s = Server::start(dir.path(), &env);
    let hour = 3_600_000_000_000u64;
    for h in (1..=5u64).rev() {
        grpc_traces(
            &s.grpc,
            simple_traces("capped", 90 + h as u8, 1, 200, now_ns() - h * hour),
            false,
        )
        .unwrap();
    }
    grpc_traces(
        &s.grpc,
        simple_traces("capped", 99, 1, 200, now_ns()),
        false,
    )
    .unwrap();
    assert!(eventually(Duration::from_secs(20), || {
        let (_, v) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(95, 1))));
        v["error"] == "trace not found"
    }));
    let (st, _) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(99, 1))));
    assert_eq!(st, 200, "the newest partition is kept");
}
