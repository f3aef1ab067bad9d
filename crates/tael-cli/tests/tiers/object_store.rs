//! The whole picture on loopback: two shards of two replicas each, their
//! leadership in a real etcd and their shared copy in a real S3-compatible
//! server (moto's, behind a proxy the test cuts), an ingest node and a
//! query node that find the shards in etcd, and a single node given the
//! same data. Every read route through the query node answers as the
//! single node does; an outage of the object store costs no ingest and
//! uploads resume after it; a wiped replica is filled from the object
//! store (its leader's WAL giving the rest) and, once it leads, answers
//! every route as before; a shard whose replicas are all gone makes the
//! answers partial.

use crate::dataset::DataSet;
use crate::etcd::Etcd;
use crate::fixtures::{now_ns, simple_traces};
use crate::moto::Moto;
use crate::proxy::Proxy;
use crate::query_tier::{answer, first_difference, load, routes};
use crate::replicas::{leader_of, status, TOKEN};
use crate::support::{eventually, grpc_traces, Server};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const BUCKET: &str = "tael";

/// Replica `node` of shard `shard`, its data dir under `dir`.
fn replica(dir: &Path, etcd: &Etcd, store: &str, shard: u32, node: &str) -> Server {
    let shard = shard.to_string();
    Server::start(
        &dir.join(format!("shard{shard}-{node}")),
        &[
            ("TAEL_ETCD_ENDPOINTS", &etcd.url),
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_SHARD_ID", &shard),
            ("TAEL_NODE_ID", node),
            ("TAEL_LEADER_LEASE", "2s"),
            ("TAEL_OBJECT_STORE", "s3://tael/cluster"),
            ("AWS_ENDPOINT_URL", store),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("TAEL_FLUSH_INTERVAL", "1s"),
        ],
    )
}

/// The two replicas of a shard once one leads: (leader, standby).
fn pair(dir: &Path, etcd: &Etcd, store: &str, shard: u32) -> (Server, Server) {
    let a = replica(dir, etcd, store, shard, "a");
    let b = replica(dir, etcd, store, shard, "b");
    match leader_of(&[&a, &b], Duration::from_secs(20)) {
        0 => (a, b),
        _ => (b, a),
    }
}

fn object_store(s: &Server) -> Value {
    s.get("/api/v1/stats").1["storage"]["object_store"].clone()
}

/// A leader has flushed everything and the store holds its copy, under
/// its current epoch.
fn uploaded(leader: &Server) -> bool {
    let st = leader.get("/api/v1/stats").1["storage"].clone();
    let o = &st["object_store"];
    st["memtable_rows"] == 0
        && o["pending"] == 0
        && o["replica"]["leading"] == true
        && o["replica"]["epoch"] == status(leader)["epoch"]
        && o["replica"]["stored_flushed_seq"].as_u64() > Some(0)
}

fn spans_of(s: &Server, service: &str) -> usize {
    let (_, v) = s.get(&format!("/api/v1/traces?service={service}&limit=5000"));
    v["spans"].as_array().map_or(0, Vec::len)
}

/// Every read route answers through `query` as through `single`.
fn same_answers(query: &Server, single: &Server, data: &DataSet) {
    for path in routes(data) {
        let (want_status, want) = answer(single, &path);
        let (got_status, got) = answer(query, &path);
        assert_eq!(want_status, 200, "{path}: {want}");
        assert_eq!(got_status, want_status, "{path}: {got}");
        if let Some(d) = first_difference(&got, &want, String::new()) {
            panic!("{path} differs at {d}");
        }
    }
}

#[test]
fn replicated_shards_share_an_object_store_and_a_wiped_replica_comes_back_from_it() {
    let etcd = Etcd::start();
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let mut proxy = Proxy::start(moto.port);
    let store = proxy.url();
    let dir = tempfile::tempdir().unwrap();
    let (l0, s0) = pair(dir.path(), &etcd, &store, 0);
    let (l1, s1) = pair(dir.path(), &etcd, &store, 1);
    let tier = |name: &str, role: &str| {
        Server::start(
            &dir.path().join(name),
            &[
                ("TAEL_NODE_ROLE", role),
                ("TAEL_ETCD_ENDPOINTS", etcd.url.as_str()),
                ("TAEL_SHARD_COUNT", "2"),
                ("TAEL_CLUSTER_TOKEN", TOKEN),
                ("TAEL_SHARD_TIMEOUT", "5s"),
            ],
        )
    };
    let ingest = tier("ingest", "ingest");
    let query = tier("query", "query");
    let single = Server::start(&dir.path().join("single"), &[]);
    for node in [&ingest, &query] {
        assert!(
            eventually(Duration::from_secs(15), || {
                let (status, v) = node.get("/api/v1/services");
                status == 200 && v.get("partial").is_none()
            }),
            "the tier finds both shards in etcd"
        );
    }

    // Load through the ingest node; the query node answers as one node.
    let data = DataSet::new(now_ns() - 15 * 60 * 1_000_000_000);
    load(&single, &data);
    load(&ingest, &data);
    same_answers(&query, &single, &data);
    // Each leader's copy reaches the store, under its epoch.
    for (shard, leader) in [(0, &l0), (1, &l1)] {
        assert!(
            eventually(Duration::from_secs(30), || uploaded(leader)),
            "shard {shard}: {}",
            object_store(leader)
        );
        let epoch = status(leader)["epoch"].as_u64().unwrap();
        let keys = moto.list(BUCKET, &format!("cluster/shards/{shard}/"));
        let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            names.contains(&format!("cluster/shards/{shard}/MANIFEST.json").as_str()),
            "{names:?}"
        );
        let under = format!("cluster/shards/{shard}/epoch-{epoch}/spans/");
        assert!(names.iter().any(|k| k.starts_with(&under)), "{names:?}");
        let m: Value = serde_json::from_slice(
            &moto.get(BUCKET, &format!("cluster/shards/{shard}/MANIFEST.json")),
        )
        .unwrap();
        assert_eq!(m["epoch"].as_u64(), Some(epoch), "{m}");
    }
    // Standbys write nothing there.
    for standby in [&s0, &s1] {
        let o = object_store(standby);
        assert_eq!(o["replica"]["leading"], false, "{o}");
        assert_eq!(o["uploaded"], 0, "{o}");
    }

    // The object store goes away: ingest goes on, the leaders say what
    // waits, and once it is back their uploads resume.
    proxy.cut();
    let now = now_ns() - 2_000_000_000;
    for b in 0..4 {
        let batch = simple_traces("orders", 0x63, b * 100, 100, now);
        assert_eq!(grpc_traces(&single.grpc, batch.clone(), false).unwrap(), 0);
        assert_eq!(grpc_traces(&ingest.grpc, batch, false).unwrap(), 0);
    }
    assert!(
        eventually(Duration::from_secs(30), || {
            let o = object_store(&l0);
            o["pending"].as_u64() > Some(0) && o["error"].is_string()
        }),
        "{}",
        object_store(&l0)
    );
    assert_eq!(spans_of(&query, "orders"), 400);
    proxy.restore();
    for leader in [&l0, &l1] {
        assert!(
            eventually(Duration::from_secs(60), || uploaded(leader)),
            "{}",
            object_store(leader)
        );
    }

    // Shard 0's standby is wiped. Its leader restarts (a graceful stop
    // leaves its WAL empty: the WAL alone cannot fill a new replica any
    // more) and writes its copy again at its new epoch.
    let s0_dir = dir.path().join(format!(
        "shard0-{}",
        status(&s0)["node_id"].as_str().unwrap()
    ));
    let l0_node = status(&l0)["node_id"].as_str().unwrap().to_string();
    let s0_node = status(&s0)["node_id"].as_str().unwrap().to_string();
    s0.stop();
    std::fs::remove_dir_all(&s0_dir).unwrap();
    l0.stop();
    let l0 = replica(dir.path(), &etcd, &store, 0, &l0_node);
    leader_of(&[&l0], Duration::from_secs(20));
    assert!(
        eventually(Duration::from_secs(60), || uploaded(&l0)),
        "{}",
        object_store(&l0)
    );
    // Spans after the restart live only in the new leader's WAL.
    let late = simple_traces("late", 0x64, 0, 50, now_ns() - 1_000_000_000);
    assert_eq!(grpc_traces(&single.grpc, late.clone(), false).unwrap(), 0);
    assert_eq!(grpc_traces(&ingest.grpc, late, false).unwrap(), 0);
    let s0 = replica(dir.path(), &etcd, &store, 0, &s0_node);
    let filled = status(&s0)["filled"].clone();
    assert_eq!(filled["from"], "object_store", "{}", status(&s0));
    assert!(filled["bytes"].as_u64() > Some(0), "{filled}");
    assert!(
        eventually(Duration::from_secs(30), || status(&s0)["role"] == "standby"
            && status(&s0)["applied_seq"] == status(&l0)["applied_seq"]),
        "the wiped replica catches up from its leader's WAL: {} vs {}",
        status(&s0),
        status(&l0)
    );
    // It takes over, and the query node answers every route as before.
    assert!(
        eventually(Duration::from_secs(20), || {
            status(&l0)["standbys"][0]["state"] == "in_sync"
        }),
        "{}",
        status(&l0)
    );
    l0.kill();
    leader_of(&[&s0], Duration::from_secs(20));
    assert!(
        eventually(Duration::from_secs(20), || spans_of(&query, "late") == 50
            && query.get("/api/v1/services").1.get("partial").is_none()),
        "{}",
        query.get("/api/v1/services").1
    );
    assert_eq!(spans_of(&query, "orders"), 400);
    same_answers(&query, &single, &data);
    // The new leader's copy replaces the old one in the store.
    assert!(
        eventually(Duration::from_secs(60), || uploaded(&s0)),
        "{}",
        object_store(&s0)
    );

    // Shard 1 is gone altogether: answers are marked partial.
    l1.kill();
    s1.kill();
    let (status, v) = query.get("/api/v1/traces?limit=100");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["partial"], true, "{v}");
    assert_eq!(v["failed_shards"][0]["shard"], "1", "{v}");
    query.stop();
    ingest.stop();
    s0.stop();
    single.stop();
}

/// The parts the store's manifest of `shard` names that the store lacks.
fn missing_from_store(moto: &Moto, shard: u32) -> Vec<String> {
    let base = format!("cluster/shards/{shard}");
    let m: Value =
        serde_json::from_slice(&moto.get(BUCKET, &format!("{base}/MANIFEST.json"))).unwrap();
    let keys: Vec<String> = moto
        .list(BUCKET, &format!("{base}/"))
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let epoch = m["epoch"].as_u64().unwrap();
    m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{base}/epoch-{epoch}/{}", p["path"].as_str().unwrap()))
        .filter(|k| !keys.contains(k))
        .collect()
}

#[test]
fn a_paused_leader_that_was_replaced_never_overwrites_the_stores_copy() {
    let etcd = Etcd::start();
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let store = moto.url("");
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = pair(dir.path(), &etcd, &store, 0);
    let now = now_ns() - 1_000_000_000;
    let batch = |first| simple_traces("orders", 0x71, first, 200, now);
    assert_eq!(grpc_traces(&old.grpc, batch(0), false).unwrap(), 0);
    assert!(
        eventually(Duration::from_secs(30), || uploaded(&old)),
        "{}",
        object_store(&old)
    );
    // Paused with writes behind it (its next flush and manifest), it is
    // replaced; the new leader writes its copy at a higher epoch.
    assert_eq!(grpc_traces(&old.grpc, batch(200), false).unwrap(), 0);
    crate::support::send_signal(old.child.id(), "STOP");
    leader_of(&[&new], Duration::from_secs(20));
    assert_eq!(grpc_traces(&new.grpc, batch(400), false).unwrap(), 0);
    assert!(
        eventually(Duration::from_secs(30), || uploaded(&new)),
        "{}",
        object_store(&new)
    );
    let epoch = status(&new)["epoch"].as_u64().unwrap();
    // Resumed, the old leader flushes and tries to write the store.
    crate::support::send_signal(old.child.id(), "CONT");
    assert!(
        eventually(Duration::from_secs(20), || {
            status(&old)["role"] == "standby" && object_store(&old)["replica"]["leading"] == false
        }),
        "{}",
        object_store(&old)
    );
    std::thread::sleep(Duration::from_secs(2));
    let m: Value =
        serde_json::from_slice(&moto.get(BUCKET, "cluster/shards/0/MANIFEST.json")).unwrap();
    assert_eq!(m["epoch"].as_u64(), Some(epoch), "{m}");
    assert!(missing_from_store(&moto, 0).is_empty());
    assert_eq!(spans_of(&new, "orders"), 600);
    new.stop();
    old.stop();
}
