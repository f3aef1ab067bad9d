//! WAL shipping: a standby holds what its leader holds (spans, logs with
//! blob bodies, comments), the failover drill under load (SIGKILL the
//! leader, nothing acked lost, the old leader comes back as a standby with
//! the same data), static mode, required acks with a paused standby, and
//! what `/internal/wal/records` does with stale epochs and bad input.

use crate::etcd::Etcd;
use crate::fixtures::*;
use crate::replicas::{elected_pair, leader_of, replica, role, spans, status, LEASE, TOKEN};
use crate::support::*;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tael_query::params::Params;

fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
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
    const BATCHES: u32 = 25;
    const SPANS: u32 = 100;
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let names = ["a", "b", "c"];
    let dirs: Vec<_> = names.iter().map(|n| dir.path().join(n)).collect();
    let mut servers: Vec<Option<Server>> = names
        .iter()
        .zip(&dirs)
        .map(|(n, d)| Some(replica(d, &etcd, n)))
        .collect();
    let all: Vec<&Server> = servers.iter().map(|s| s.as_ref().unwrap()).collect();
    let li = leader_of(&all, Duration::from_secs(15));
    let leader = servers[li].take().unwrap();
    let live: Vec<Server> = servers.into_iter().flatten().collect();
    // Both standbys count for acks before the load starts.
    assert!(
        eventually(Duration::from_secs(10), || {
            let st = status(&leader);
            st["standbys"]
                .as_array()
                .is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["state"] == "in_sync"))
        }),
        "{}",
        status(&leader)
    );

    // Load through a retrying client; the leader dies a third of the way.
    let mut endpoints = vec![leader.grpc.clone()];
    endpoints.extend(live.iter().map(|s| s.grpc.clone()));
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
    let deadline = killed + LEASE + Duration::from_secs(2);
    let new = loop {
        if let Some(i) = (0..live.len()).find(|i| role(&live[*i]) == "leader") {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader within lease + 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("new leader {:?} after the kill", killed.elapsed());
    for w in workers {
        w.join().unwrap();
    }
    let total = (WORKERS as u32 * BATCHES * SPANS) as u64;
    let (new_leader, other) = (&live[new], &live[1 - new]);
    caught_up(new_leader, other, Duration::from_secs(15));
    for s in &live {
        let stored = s.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
        assert_eq!(
            stored,
            Some(total),
            "every acked span on every live replica, once"
        );
    }
    assert_eq!(answers(other), answers(new_leader));

    // The old leader comes back, drops what it alone held, catches up.
    let back = replica(&dirs[li], &etcd, names[li]);
    assert!(eventually(Duration::from_secs(15), || role(&back) == "standby"));
    caught_up(new_leader, &back, Duration::from_secs(30));
    assert_eq!(answers(&back), answers(new_leader));
    back.stop();
    for s in live {
        s.stop();
    }
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
    // The same through the CLI, as JSON and as a table.
    let env = [
        ("TAEL_SERVER", leader.rest.as_str()),
        ("TAEL_CLUSTER_TOKEN", TOKEN),
    ];
    let v = cli_json(&["cluster", "status"], &env);
    assert_eq!(
        (v["role"].as_str(), v["standbys"][0]["acked_seq"].as_u64()),
        (Some("leader"), st["applied_seq"].as_u64()),
        "{v}"
    );
    let (code, table, _) = cli(&["cluster", "status", "--format", "table"], &env);
    assert_eq!(code, 0);
    assert!(
        table.contains("in_sync") && table.contains(&standby_url),
        "{table}"
    );

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
fn required_acks_count_standbys_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (leader_addr, s1_addr, s2_addr) = (free_addr(), free_addr(), free_addr());
    let leader_url = format!("http://{leader_addr}");
    let standbys = format!("http://{s1_addr},http://{s2_addr}");
    let standby = |name: &str, addr: &str| {
        Server::start_on(
            &dir.path().join(name),
            addr,
            &[
                ("TAEL_CLUSTER_TOKEN", TOKEN),
                ("TAEL_WAL_LEADER", &leader_url),
            ],
        )
    };
    let start_leader = |acks: &str| {
        Server::start_on(
            &dir.path().join("l"),
            &leader_addr,
            &[
                ("TAEL_CLUSTER_TOKEN", TOKEN),
                ("TAEL_WAL_STANDBYS", &standbys),
                ("TAEL_WAL_REQUIRED_ACKS", acks),
                ("TAEL_LEADER_LEASE", "2s"),
            ],
        )
    };
    let in_sync = |l: &Server, n: usize| {
        eventually(Duration::from_secs(10), || {
            status(l)["standbys"]
                .as_array()
                .is_some_and(|s| s.iter().filter(|s| s["state"] == "in_sync").count() == n)
        })
    };
    let count = |s: &Server| s.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    let s1 = standby("s1", &s1_addr);
    let s2 = standby("s2", &s2_addr);

    // 1 of 2: with one standby killed, writes go on.
    let leader = start_leader("1");
    assert!(in_sync(&leader, 2), "{}", status(&leader));
    grpc_traces(&leader.grpc, spans(40, 0, 100), false).unwrap();
    s2.kill();
    grpc_traces(&leader.grpc, spans(41, 0, 100), false).unwrap();
    leader.stop();

    // 2 of 2: with one standby down, a write fails with 503; once the
    // standby is back the client's retry is acked, stored once everywhere.
    let leader = start_leader("2");
    assert!(in_sync(&leader, 1), "{}", status(&leader));
    let refused = grpc_traces(&leader.grpc, spans(42, 0, 100), false).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        refused.message().contains("standbys"),
        "{}",
        refused.message()
    );
    let s2 = standby("s2", &s2_addr);
    assert!(in_sync(&leader, 2), "{}", status(&leader));
    grpc_traces(&leader.grpc, spans(42, 0, 100), false).unwrap();
    caught_up(&leader, &s1, Duration::from_secs(10));
    caught_up(&leader, &s2, Duration::from_secs(10));
    for s in [&leader, &s1, &s2] {
        assert_eq!(count(s), Some(300));
    }
    assert_eq!(answers(&s2), answers(&leader));
    leader.stop();

    // Asynchronous: a paused standby does not hold acks back, and gets
    // everything once it runs again.
    let leader = start_leader("0");
    assert!(in_sync(&leader, 2));
    send_signal(s1.child.id(), "STOP");
    let t = Instant::now();
    grpc_traces(&leader.grpc, spans(43, 0, 100), false).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    send_signal(s1.child.id(), "CONT");
    caught_up(&leader, &s1, Duration::from_secs(10));
    assert_eq!(answers(&s1), answers(&leader));
    leader.stop();
    s1.stop();
    s2.stop();
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
    // A truncated record, a wrong CRC, a wrong token: 4xx, nothing stored.
    let mut torn = record(2, 1, &export);
    torn.pop();
    assert_eq!(send(&s, &h("5"), torn).0, 400);
    let mut bad_crc = record(2, 1, &export);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert_eq!(send(&s, &h("5"), bad_crc).0, 400);
    let mut wrong = h("5");
    wrong[0].1 = "Bearer not-the-cluster-token".into();
    assert_eq!(send(&s, &wrong, record(2, 1, &export)).0, 401);
    assert_eq!(status(&s)["applied_seq"].as_u64(), Some(1));
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
    let (leader, standby) = elected_pair(dir.path(), &etcd);
    assert!(eventually(Duration::from_secs(10), || {
        status(&leader)["standbys"][0]["state"] == "in_sync"
    }));
    grpc_traces(&leader.grpc, spans(30, 0, 20), false).unwrap();
    let old_epoch = status(&leader)["epoch"].as_u64().unwrap();

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
    // What it would ship under its old epoch is refused.
    let auth = format!("Bearer {TOKEN}");
    let epoch = old_epoch.to_string();
    let (code, v) = post_records(
        &standby,
        &[
            ("authorization", &auth),
            ("x-tael-wal-epoch", &epoch),
            ("x-tael-wal-epoch-start", "1"),
        ],
        Vec::new(),
    );
    assert_eq!((code, v["reason"].as_str()), (409, Some("fenced")), "{v}");
    assert!(eventually(Duration::from_secs(10), || role(&leader) == "standby"));
    caught_up(&standby, &leader, Duration::from_secs(15));
    assert_eq!(answers(&leader), answers(&standby));
    let stored = standby.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    assert_eq!(stored, Some(40), "the refused batch is nowhere");
    leader.stop();
    standby.stop();
}

#[test]
fn a_new_replica_of_a_shard_with_flushed_data_is_filled_from_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (leader_addr, standby_addr) = (free_addr(), free_addr());
    let leader_url = format!("http://{leader_addr}");
    let standby_url = format!("http://{standby_addr}");
    // A single node with data, flushed when it stops.
    let single = Server::start_on(&dir.path().join("l"), &leader_addr, &[]);
    grpc_traces(&single.grpc, spans(50, 0, 300), false).unwrap();
    grpc_logs(&single.grpc, big_body_logs(30)).unwrap();
    assert_eq!(
        comment(&single, &hex(&trace_id(50, 7)), "before replicas"),
        201
    );
    single.stop();
    // It becomes the leader of a shard; a new, empty standby joins.
    let leader = Server::start_on(
        &dir.path().join("l"),
        &leader_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_STANDBYS", &standby_url),
        ],
    );
    grpc_traces(&leader.grpc, spans(51, 0, 40), false).unwrap();
    let standby = Server::start_on(
        &dir.path().join("s"),
        &standby_addr,
        &[
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_WAL_LEADER", &leader_url),
        ],
    );
    caught_up(&leader, &standby, Duration::from_secs(20));
    assert!(
        eventually(Duration::from_secs(10), || {
            status(&leader)["standbys"][0]["state"] == "in_sync"
        }),
        "{}",
        status(&leader)
    );
    grpc_traces(&leader.grpc, spans(52, 0, 10), false).unwrap();
    caught_up(&leader, &standby, Duration::from_secs(10));
    assert_eq!(answers(&standby), answers(&leader));
    let stored = standby.get("/api/v1/services").1["services"][0]["span_count"].as_u64();
    assert_eq!(stored, Some(350));
    // Its text index is rebuilt from the copied parts.
    assert!(eventually(Duration::from_secs(20), || {
        let (_, v) = standby.get("/api/v1/logs?limit=5&last=1d&q=frame");
        v["logs"].as_array().is_some_and(|l| !l.is_empty())
    }));
    leader.stop();
    standby.stop();
}
