//! The tiers over a replicated shard: shard 0 is two replicas on a real
//! etcd, shard 1 a single node. The ingest node lists shard 0's standby
//! first, so its writes there are refused with `x-tael-leader` and follow
//! it; when the leader is killed, writes through the ingest node go on at
//! the new leader (retried while the shard elects it), and the query node
//! reads everything acked from whichever replica answers. A second query
//! node finds shard 0's replicas in etcd (`TAEL_SHARD_COUNT`) instead of a
//! list, and follows the change of leader.

use crate::etcd::Etcd;
use crate::fixtures::{now_ns, simple_traces};
use crate::replicas::{elected_pair, TOKEN};
use crate::support::{eventually, grpc_traces, Server};
use std::time::Duration;

fn orders(s: &Server) -> usize {
    let (_, v) = s.get("/api/v1/traces?service=orders&limit=1000");
    v["spans"].as_array().map_or(0, Vec::len)
}

#[test]
fn the_ingest_tier_follows_the_leader_of_a_replicated_shard() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let (leader, standby) = elected_pair(dir.path(), &etcd);
    let single = Server::start(&dir.path().join("s1"), &[]);
    let shards = format!("{}|{},{}", standby.rest, leader.rest, single.rest);
    let tier = |name: &str, role: &str| {
        Server::start(
            &dir.path().join(name),
            &[
                ("TAEL_NODE_ROLE", role),
                ("TAEL_SHARDS", shards.as_str()),
                ("TAEL_CLUSTER_TOKEN", TOKEN),
            ],
        )
    };
    let ingest = tier("ingest", "ingest");
    let query = tier("query", "query");
    // A query node that follows shard 0's replicas in etcd instead.
    let follower = Server::start(
        &dir.path().join("follower"),
        &[
            ("TAEL_NODE_ROLE", "query"),
            ("TAEL_ETCD_ENDPOINTS", etcd.url.as_str()),
            ("TAEL_SHARD_COUNT", "1"),
            ("TAEL_CLUSTER_TOKEN", TOKEN),
        ],
    );

    let now = now_ns() - 1_000_000_000;
    let first = simple_traces("orders", 0x51, 0, 60, now);
    assert_eq!(grpc_traces(&ingest.grpc, first, false).unwrap(), 0);
    // Shard 0's share reached its leader, and its standby.
    let on_shard0 = orders(&leader);
    assert!(on_shard0 > 0 && on_shard0 < 60, "{on_shard0}");
    assert!(
        eventually(Duration::from_secs(10), || orders(&standby) == on_shard0),
        "the standby holds shard 0's share: {}",
        orders(&standby)
    );
    assert_eq!(orders(&single), 60 - on_shard0);
    assert_eq!(orders(&query), 60);
    assert!(
        eventually(Duration::from_secs(10), || orders(&follower) == on_shard0),
        "the follower reads shard 0 from its members in etcd: {}",
        orders(&follower)
    );

    // The leader dies: the standby takes over, and writes through the
    // ingest node go on (retried while the shard has no leader).
    leader.kill();
    let second = simple_traces("orders", 0x51, 1000, 60, now + 1_000_000);
    assert_eq!(grpc_traces(&ingest.grpc, second, false).unwrap(), 0);
    assert!(
        eventually(Duration::from_secs(10), || orders(&query) == 120),
        "every acked span through the query node: {}",
        orders(&query)
    );
    let (_, v) = query.get("/api/v1/traces?service=orders&limit=1000");
    assert!(
        v.get("partial").is_none(),
        "a replica answered for shard 0: {v}"
    );
    let now_on_shard0 = orders(&standby);
    assert!(now_on_shard0 > on_shard0, "{now_on_shard0}");
    assert!(
        eventually(Duration::from_secs(10), || orders(&follower)
            == now_on_shard0),
        "the follower reads the new leader: {}",
        orders(&follower)
    );
    follower.stop();
    query.stop();
    ingest.stop();
}
