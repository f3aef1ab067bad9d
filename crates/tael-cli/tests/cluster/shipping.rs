//! WAL shipping: a standby holds what its leader holds (spans, logs with
//! blob bodies, comments), the failover drill under load (SIGKILL the
//! leader, nothing acked lost, the old leader comes back as a standby with
//! the same data), static mode, required acks with a paused standby, and
//! what `/internal/wal/records` does with stale epochs and bad input.

use crate::etcd::Etcd;
use crate::fixtures::*;
use crate::leadership::{leader_of, replica, role, spans, status, TOKEN};
use crate::support::*;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tael_query::params::Params;

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// What a client reads of a replica's data: services with their counts,
/// the newest traces, logs and comments.
fn answers(s: &Server) -> Value {
    let get = |p: &str| {
        let (code, v) = s.get(p);
        assert_eq!(code, 200, "{p}: {v}");
        v
    };
    json!({
        "services": get("/api/v1/services"),
        "traces": get("/api/v1/traces?limit=1000&last=1d"),
        "logs": get("/api/v1/logs?limit=1000&last=1d"),
        "comments": get("/api/v1/comments"),
    })
}

/// Waits until `standby` holds as many records as `leader`.
fn caught_up(leader: &Server, standby: &Server, within: Duration) {
    let ok = eventually(within, || {
        let l = status(leader)["applied_seq"].as_u64();
        l.is_some() && status(standby)["applied_seq"].as_u64() == l
    });
    assert!(
        ok,
        "the standby did not catch up: leader {} standby {}",
        status(leader),
        status(standby)
    );
}

/// Sends `req` to whichever of `endpoints` takes it, until one acks.
fn send_until_acked(
    endpoints: &[String],
    req: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tries = 0;
    loop {
        for e in endpoints {
            tries += 1;
            if grpc_traces(e, req.clone(), false).is_ok() {
                return tries;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no replica acked a batch within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn big_body_logs(
    n: usize,
) -> opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
    let now = now_ns();
    let records = (0..n)
        .map(|i| LogRecord {
            time_unix_nano: now - 1_000_000 * i as u64,
            severity_number: 13,
            body: Some(AnyValue {
                value: Some(V::StringValue(format!(
                    "stack {i}: {}",
                    "frame at checkout.rs ".repeat(200)
                ))),
            }),
            trace_id: trace_id(9, i as u32),
            ..Default::default()
        })
        .collect();
    service_logs("checkout", records)
}

fn comment(s: &Server, trace: &str, body: &str) -> u16 {
    s.client
        .send(
            tael_query::api::Method::Post,
            &format!("/api/v1/traces/{trace}/comments"),
            &Params::new(),
            Some(&json!({ "author": "oncall", "body": body })),
        )
        .unwrap()
        .status
}

fn post_records(s: &Server, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let (code, _, b) = s.post(&s.rest, "/internal/wal/records", headers, body);
    (code, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[test]
fn failover_under_load_keeps_every_acked_write_and_the_old_leader_rejoins() {
    const WORKERS: u8 = 4;
    const BATCHES: u32 = 100;
    const SPANS: u32 = 10;
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let dirs = [dir.path().join("a"), dir.path().join("b")];
    let mut servers = [
        Some(replica(&dirs[0], &etcd, "a")),
        Some(replica(&dirs[1], &etcd, "b")),
    ];
    let li = leader_of(
        &[servers[0].as_ref().unwrap(), servers[1].as_ref().unwrap()],
        Duration::from_secs(15),
    );
    let si = 1 - li;
    let standby = servers[si].take().unwrap();
    let leader = servers[li].take().unwrap();
    // The standby counts for acks before the load starts.
    assert!(
        eventually(Duration::from_secs(10), || {
            status(&leader)["standbys"][0]["state"] == "in_sync"
        }),
        "{}",
        status(&leader)
    );

    // Load through a retrying client; the leader dies a third of the way.
    let endpoints = vec![leader.grpc.clone(), standby.grpc.clone()];
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let endpoints = endpoints.clone();
            let sent = sent.clone();
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    send_until_acked(&endpoints, &spans(10 + w, b * SPANS, SPANS));
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    while sent.load(Ordering::Relaxed) < (WORKERS as usize * BATCHES as usize) / 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Instant::now();
    leader.kill();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!(
        "load finished {:?} after the leader was killed",
        killed.elapsed()
    );
    assert_eq!(role(&standby), "leader");
    let total = (WORKERS as u32 * BATCHES * SPANS) as u64;
    let stored = standby.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    assert_eq!(
        stored,
        Some(total),
        "every acked span is on the new leader, once"
    );

    // The old leader comes back, drops what it alone held, catches up.
    let back = replica(&dirs[li], &etcd, ["a", "b"][li]);
    assert!(eventually(Duration::from_secs(15), || role(&back) == "standby"));
    caught_up(&standby, &back, Duration::from_secs(30));
    assert_eq!(answers(&back), answers(&standby));
    assert!(
        eventually(Duration::from_secs(10), || {
            status(&standby)["standbys"][0]["state"] == "in_sync"
        }),
        "{}",
        status(&standby)
    );
    back.stop();
    standby.stop();
}

#[test]
fn static_mode_ships_spans_logs_blobs_and_comments_and_standbys_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (leader_addr, standby_addr) = (free_addr(), free_addr());
    let leader_url = format!("http://{leader_addr}");
    let standby_url = format!("http://{standby_addr}");
    let standby = Server::start_on(
        &dir.path().join("s"),
        &standby_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_LEADER", &leader_url),
        ],
    );
    let leader = Server::start_on(
        &dir.path().join("l"),
        &leader_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_STANDBYS", &standby_url),
        ],
    );
    assert_eq!(
        grpc_traces(&leader.grpc, spans(1, 0, 200), false).unwrap(),
        0
    );
    grpc_logs(&leader.grpc, big_body_logs(20)).unwrap();
    grpc_logs(&leader.grpc, rich_logs("checkout", 3, 1)).unwrap();
    let trace = hex(&trace_id(1, 5));
    assert_eq!(comment(&leader, &trace, "retry storm starts here"), 201);
    caught_up(&leader, &standby, Duration::from_secs(10));
    assert_eq!(answers(&standby), answers(&leader));
    // The long bodies went to the standby's own blob store and read back.
    let (_, logs) = standby.get("/api/v1/logs?limit=5&last=1d&service=checkout&q=frame");
    assert!(
        logs["logs"].as_array().is_some_and(|l| !l.is_empty()),
        "{logs}"
    );

    // The standby refuses writes and names the leader.
    let refused = grpc_traces(&standby.grpc, spans(1, 500, 5), false).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert_eq!(
        refused
            .metadata()
            .get("x-tael-leader")
            .and_then(|v| v.to_str().ok()),
        Some(leader_url.as_str())
    );
    assert_eq!(comment(&standby, &trace, "nope"), 503);
    let st = status(&leader);
    assert_eq!(st["role"], "leader");
    assert_eq!(st["standbys"][0]["state"], "in_sync", "{st}");
    assert_eq!(st["standbys"][0]["lag"], 0, "{st}");

    // A standby that restarts picks up where it was.
    standby.stop();
    assert_eq!(
        grpc_traces(&leader.grpc, spans(2, 0, 50), false).unwrap(),
        0
    );
    let standby = Server::start_on(
        &dir.path().join("s"),
        &standby_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_LEADER", &leader_url),
        ],
    );
    caught_up(&leader, &standby, Duration::from_secs(15));
    assert_eq!(answers(&standby), answers(&leader));
    leader.stop();
    standby.stop();
}

#[test]
fn required_acks_wait_for_standbys_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (leader_addr, standby_addr) = (free_addr(), free_addr());
    let leader_url = format!("http://{leader_addr}");
    let standby_url = format!("http://{standby_addr}");
    let standby = Server::start_on(
        &dir.path().join("s"),
        &standby_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_LEADER", &leader_url),
        ],
    );
    let start_leader = |acks: &str| {
        Server::start_on(
            &dir.path().join("l"),
            &leader_addr,
            &[
                ("TAEL_CLUSTER_TOKEN", TOKEN),
                ("TAEL_WAL_STANDBYS", &standby_url),
                ("TAEL_WAL_REQUIRED_ACKS", acks),
                ("TAEL_LEADER_LEASE", "2s"),
            ],
        )
    };
    let in_sync = |l: &Server| {
        eventually(Duration::from_secs(10), || {
            status(l)["standbys"][0]["state"] == "in_sync"
        })
    };
    let mut tag = 0u8;
    let mut write = |l: &Server| {
        tag += 1;
        grpc_traces(&l.grpc, spans(tag, 0, 10), false)
    };

    // One standby required: a paused standby means no ack.
    let leader = start_leader("1");
    assert!(in_sync(&leader));
    write(&leader).unwrap();
    send_signal(standby.child.id(), "STOP");
    let refused = write(&leader).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("standbys"),
        "{}",
        refused.message()
    );
    send_signal(standby.child.id(), "CONT");
    assert!(in_sync(&leader), "{}", status(&leader));
    write(&leader).unwrap();
    caught_up(&leader, &standby, Duration::from_secs(10));
    leader.stop();

    // Asynchronous: a paused standby does not hold acks back, and gets
    // everything once it runs again.
    let leader = start_leader("0");
    assert!(in_sync(&leader));
    send_signal(standby.child.id(), "STOP");
    let t = Instant::now();
    write(&leader).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    send_signal(standby.child.id(), "CONT");
    caught_up(&leader, &standby, Duration::from_secs(10));
    assert_eq!(answers(&standby), answers(&leader));
    leader.stop();
    standby.stop();
}

#[test]
fn wal_records_refuse_stale_epochs_across_restarts_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("TAEL_CLUSTER_TOKEN", TOKEN),
        ("TAEL_WAL_LEADER", "http://127.0.0.1:9"),
    ];
    let s = Server::start(dir.path(), &env);
    let auth = format!("Bearer {TOKEN}");
    let h = |epoch: &'static str| -> Vec<(&str, String)> {
        vec![
            ("authorization", auth.clone()),
            ("x-tael-wal-epoch", epoch.to_string()),
            ("x-tael-wal-epoch-start", "1".to_string()),
            ("content-type", "application/x-tael-wal".to_string()),
        ]
    };
    let send = |s: &Server, h: &[(&str, String)], body: Vec<u8>| {
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post_records(s, &h, body)
    };
    let record = |seq: u64, kind: u8, payload: &[u8]| {
        let mut out = Vec::new();
        tael_storage::wal::encode_record(seq, kind, payload, &mut out);
        out
    };
    let export = prost::Message::encode_to_vec(&spans(4, 0, 3));

    // No token, no epoch, not records, a gap, an unknown kind.
    assert_eq!(post_records(&s, &[], Vec::new()).0, 401);
    let (code, v) = send(&s, &h("5")[..1], Vec::new());
    assert_eq!(
        (code, v["code"].as_str()),
        (400, Some("invalid_argument")),
        "{v}"
    );
    assert_eq!(send(&s, &h("5"), b"not wal records".to_vec()).0, 400);
    let (code, v) = send(&s, &h("5"), record(7, 1, &export));
    assert_eq!(
        (code, v["reason"].as_str(), v["next_seq"].as_u64()),
        (409, Some("gap"), Some(1)),
        "{v}"
    );
    let (code, v) = send(&s, &h("5"), record(1, 9, b"?"));
    assert_eq!(code, 400, "{v}");

    // Epoch 5 takes records; epoch 3 is refused, before and after a restart.
    let (code, v) = send(&s, &h("5"), record(1, 1, &export));
    assert_eq!((code, v["applied_seq"].as_u64()), (200, Some(1)), "{v}");
    let (code, v) = send(&s, &h("5"), record(1, 1, &export));
    assert_eq!(
        (code, v["applied_seq"].as_u64()),
        (200, Some(1)),
        "a resend is a no-op: {v}"
    );
    let (code, v) = send(&s, &h("3"), record(2, 1, &export));
    assert_eq!((code, v["reason"].as_str()), (409, Some("fenced")), "{v}");
    s.stop();
    let s = Server::start(dir.path(), &env);
    let (code, v) = send(&s, &h("3"), record(2, 1, &export));
    assert_eq!((code, v["reason"].as_str()), (409, Some("fenced")), "{v}");
    // A newer leader that numbers from 1 again meets records of epoch 5.
    let mut h7 = h("7");
    h7[2].1 = "1".into();
    let (code, v) = send(&s, &h7, record(2, 1, &export));
    assert_eq!((code, v["reason"].as_str()), (409, Some("diverged")), "{v}");
    let stored = s.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    assert_eq!(stored, Some(3));
    assert!(s.healthy());
    s.stop();
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn a_paused_leader_acks_nothing_after_it_resumes_and_follows_the_new_one() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&dir.path().join("a"), &etcd, "a");
    let b = replica(&dir.path().join("b"), &etcd, "b");
    let (leader, standby) = match leader_of(&[&a, &b], Duration::from_secs(15)) {
        0 => (a, b),
        _ => (b, a),
    };
    assert!(eventually(Duration::from_secs(10), || {
        status(&leader)["standbys"][0]["state"] == "in_sync"
    }));
    grpc_traces(&leader.grpc, spans(30, 0, 20), false).unwrap();

    send_signal(leader.child.id(), "STOP");
    assert!(
        eventually(Duration::from_secs(10), || role(&standby) == "leader"),
        "{}",
        status(&standby)
    );
    grpc_traces(&standby.grpc, spans(31, 0, 20), false).unwrap();
    send_signal(leader.child.id(), "CONT");
    // Its lease ran out while it was paused: it must not ack.
    let refused = grpc_traces(&leader.grpc, spans(32, 0, 20), false).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(eventually(Duration::from_secs(10), || role(&leader) == "standby"));
    caught_up(&standby, &leader, Duration::from_secs(15));
    assert_eq!(answers(&leader), answers(&standby));
    let stored = standby.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    assert_eq!(stored, Some(40), "the refused batch is nowhere");
    leader.stop();
    standby.stop();
}
