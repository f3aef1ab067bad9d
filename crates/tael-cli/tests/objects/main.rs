//! Multi-process object-store tests: a real S3-compatible server (moto's,
//! PyPI `moto[server]`) reached through a TCP proxy the tests can cut, and
//! `tael serve` with `TAEL_OBJECT_STORE`, all on loopback ports, started and
//! stopped by the tests. A test binary of its own so that the rest of the
//! suite stays fast.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

#[path = "../e2e/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod moto;
mod proxy;
mod single_node;
#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;
