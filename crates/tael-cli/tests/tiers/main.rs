//! Multi-process tests of the query and ingest tiers: shards, an ingest
//! node that routes writes to them and a query node that answers over
//! them, each a real `tael serve` on loopback ports, started and stopped
//! by the tests, beside a single node given the same data, and a real
//! etcd for replicated shards and an S3-compatible server (moto's) for
//! their shared object store. A test binary
//! of its own so that the rest of the suite stays fast.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod dataset;
#[path = "../cluster/etcd.rs"]
mod etcd;
#[path = "../e2e/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
#[path = "../objects/moto.rs"]
mod moto;
mod object_store;
#[path = "../objects/proxy.rs"]
mod proxy;
mod query_tier;
#[path = "../cluster/replicas.rs"]
#[allow(dead_code)]
mod replicas;
mod replicated;
#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
