//! Leadership on etcd: two replicas elect one leader, the standby refuses
//! writes and names the leader, `/internal/cluster` needs the token, the
//! standby takes over within lease + 2 s when the leader is killed, a
//! leader cut off from etcd stops acking inside its lease and resumes when
//! etcd is back, and a replica will not start clustered without a token.

use crate::etcd::Etcd;
use crate::replicas::{leader_of, replica, role, spans, status, LEASE};
use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tael_client::BlockingClient;
use tael_query::params::Params;

#[test]
fn the_standby_names_the_leader_and_takes_over_when_it_dies() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let a = replica(&dir.path().join("a"), &etcd, "a");
    let b = replica(&dir.path().join("b"), &etcd, "b");
    let (leader, standby, standby_dir) = match leader_of(&[&a, &b], Duration::from_secs(15)) {
        0 => (a, b, dir.path().join("b")),
        _ => (b, a, dir.path().join("a")),
    };
    let st = status(&standby);
    assert_eq!(st["leader"]["url"], leader.rest, "{st}");
    // Only a standby in sync may take over.
    assert!(
        eventually(Duration::from_secs(10), || status(&leader)["standbys"][0]
            ["state"]
            == "in_sync"),
        "{}",
        status(&leader)
    );
    let epoch = st["epoch"].as_u64().unwrap();
    assert_eq!(status(&leader)["epoch"].as_u64(), Some(epoch));
    assert!(status(&leader)["ack_deadline_ms"].as_u64().unwrap() > 0);

    // /internal/* is closed without the token.
    let (code, body) = standby.get("/internal/cluster");
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("unauthenticated")),
        "{body}"
    );
    let wrong = BlockingClient::new(&standby.rest)
        .unwrap()
        .with_bearer("not-the-token-at-all")
        .send(
            tael_query::api::Method::Get,
            "/internal/cluster",
            &Params::new(),
            None,
        )
        .unwrap();
    assert_eq!(wrong.status, 401);

    // Writes: the leader takes them; the standby refuses and names it.
    assert_eq!(
        grpc_traces(&leader.grpc, spans(1, 0, 50), false).unwrap(),
        0
    );
    let refused = grpc_traces(&standby.grpc, spans(1, 50, 50), false).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert_eq!(
        refused
            .metadata()
            .get("x-tael-leader")
            .and_then(|v| v.to_str().ok()),
        Some(leader.rest.as_str())
    );
    let body = prost::Message::encode_to_vec(&spans(1, 100, 5));
    let (code, headers, _) = standby.post(
        &standby.http,
        "/v1/traces",
        &[("content-type", "application/x-protobuf")],
        body,
    );
    assert_eq!(code, 503);
    assert_eq!(headers["x-tael-leader"], leader.rest.as_str());
    assert!(headers.contains_key("retry-after"));

    // Failover: the standby leads within lease + 2 s, at a higher epoch,
    // and has stored that epoch.
    let killed = Instant::now();
    leader.kill();
    let deadline = killed + LEASE + Duration::from_secs(2);
    while role(&standby) != "leader" {
        assert!(
            Instant::now() < deadline,
            "no takeover within lease + 2 s: {}",
            status(&standby)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("takeover after {:?}", killed.elapsed());
    let st = status(&standby);
    let new_epoch = st["epoch"].as_u64().unwrap();
    assert!(new_epoch > epoch, "{st}");
    assert_eq!(st["fence"].as_u64(), Some(new_epoch));
    let fence = std::fs::read_to_string(standby_dir.join("cluster/EPOCH")).unwrap();
    assert_eq!(fence.trim(), format!("tael-epoch 1 {new_epoch}"));
    assert_eq!(
        grpc_traces(&standby.grpc, spans(1, 200, 50), false).unwrap(),
        0
    );
    standby.stop();
}

#[test]
fn a_leader_cut_off_from_etcd_stops_acking_inside_its_lease_and_resumes() {
    let mut etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let a = replica(dir.path(), &etcd, "a");
    leader_of(&[&a], Duration::from_secs(15));
    let mut acked = 0u32;
    let mut send = |n: u32| {
        let r = grpc_traces(&a.grpc, spans(2, n * 10, 10), false);
        if r.is_ok() {
            acked += 10;
        }
        r
    };
    for n in 0..5 {
        send(n).unwrap();
    }
    etcd.kill();
    let cut = Instant::now();
    let mut n = 5;
    let refused = loop {
        match send(n) {
            Ok(_) => assert!(
                cut.elapsed() < LEASE,
                "still acking {:?} after etcd went",
                cut.elapsed()
            ),
            Err(e) => break e,
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    eprintln!("stopped acking {:?} after etcd went", cut.elapsed());
    // Still refusing a little later (the lease cannot be proven).
    std::thread::sleep(Duration::from_millis(500));
    assert!(send(n + 1).is_err());

    etcd.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while role(&a) != "leader" {
        assert!(
            Instant::now() < deadline,
            "did not lead again: {}",
            status(&a)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    send(n + 2).unwrap();
    let acked = acked as u64;
    // Everything acked is stored (span_count of the service); at most the
    // one batch refused after it was written is there unacked.
    let stored = a.get("/api/v1/services").1["services"][0]["span_count"]
        .as_u64()
        .unwrap();
    assert!(
        (acked..=acked + 10).contains(&stored),
        "acked {acked}, stored {stored}"
    );
    a.stop();
}

#[test]
fn a_replica_will_not_start_clustered_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(serve_args(dir.path()))
        .env("TAEL_ETCD_ENDPOINTS", "http://127.0.0.1:9")
        .env_remove("TAEL_CLUSTER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("a clustered replica without a token started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("TAEL_CLUSTER_TOKEN"), "{err}");
}
