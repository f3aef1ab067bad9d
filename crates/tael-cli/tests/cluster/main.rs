//! Multi-process cluster tests: a real etcd (Debian's `etcd-server`) and
//! several `tael serve` replicas, all on loopback ports, started and
//! stopped by the tests. A test binary of its own so that the rest of the
//! suite stays fast.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod etcd;
#[path = "../e2e/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod leadership;
mod replicas;
mod shipping;
#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
