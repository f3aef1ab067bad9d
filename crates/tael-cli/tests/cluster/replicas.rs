//! Replicas of one shard on a test's etcd: starting one, reading its
//! cluster status, waiting for its leader.

use crate::etcd::Etcd;
use crate::fixtures::*;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tael_client::BlockingClient;
use tael_query::params::Params;

pub const TOKEN: &str = "test-cluster-token-0123456789";
pub const LEASE: Duration = Duration::from_secs(2);

pub fn replica(dir: &Path, etcd: &Etcd, node: &str) -> Server {
    Server::start(
        dir,
        &[
            ("TAEL_ETCD_ENDPOINTS", &etcd.url),
            ("TAEL_CLUSTER_TOKEN", TOKEN),
            ("TAEL_NODE_ID", node),
            ("TAEL_LEADER_LEASE", "2s"),
        ],
    )
}

pub fn status(s: &Server) -> Value {
    BlockingClient::new(&s.rest)
        .unwrap()
        .with_bearer(TOKEN)
        .get_json("/internal/cluster", &Params::new())
        .unwrap()
}

pub fn role(s: &Server) -> String {
    status(s)["role"].as_str().unwrap().to_string()
}

/// Waits until exactly one of `replicas` leads; its index.
pub fn leader_of(replicas: &[&Server], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let roles: Vec<String> = replicas.iter().map(|s| role(s)).collect();
        let leaders: Vec<usize> = (0..roles.len()).filter(|i| roles[*i] == "leader").collect();
        if leaders.len() == 1 && roles.iter().filter(|r| *r == "standby").count() == roles.len() - 1
        {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no single leader: {roles:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn spans(
    tag: u8,
    first: u32,
    n: u32,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    simple_traces("orders", tag, first, n, now_ns() - 1_000_000_000)
}

/// Replicas `a` and `b` of shard 0 (data dirs under `dir`), once one of
/// them leads: (leader, standby).
pub fn elected_pair(dir: &Path, etcd: &Etcd) -> (Server, Server) {
    let a = replica(&dir.join("a"), etcd, "a");
    let b = replica(&dir.join("b"), etcd, "b");
    match leader_of(&[&a, &b], Duration::from_secs(15)) {
        0 => (a, b),
        _ => (b, a),
    }
}
