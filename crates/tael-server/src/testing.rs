//! An in-process harness for tests: any number of nodes in one process,
//! each on its own temporary directories and port-0 listeners, each with
//! a typed client. Nothing is shared between nodes (no process-wide
//! state holds configuration or caches), so several nodes in one test
//! behave as several processes would.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use crate::{start, RunningServer, ServerConfig};
use std::path::Path;

/// A config for a node under test: data and WAL under `dir`, every
/// listener on an ephemeral loopback port, no banner.
pub fn test_config(dir: &Path) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.engine.data_dir = dir.join("data");
    c.engine.wal_dir = dir.join("wal");
    c.listen.rest_api_addr = ([127, 0, 0, 1], 0).into();
    c.listen.otlp_grpc_addr = ([127, 0, 0, 1], 0).into();
    c.listen.otlp_http_addr = Some(([127, 0, 0, 1], 0).into());
    c.banner = false;
    c
}

/// A node running in this process.
pub struct TestNode {
    pub server: RunningServer,
    /// `http://` base URLs of its listeners.
    pub rest: String,
    pub otlp_grpc: String,
    pub otlp_http: String,
    dir: tempfile::TempDir,
}

impl TestNode {
    /// Starts a node with the test config.
    pub async fn start() -> TestNode {
        TestNode::start_with(|_| {}).await
    }

    /// Starts a node with the test config changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestNode {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let server = start(config).await.expect("node starts");
        let url = |a: std::net::SocketAddr| format!("http://{a}");
        TestNode {
            rest: url(server.rest_addr),
            otlp_grpc: url(server.otlp_grpc_addr),
            otlp_http: server.otlp_http_addr.map(url).unwrap_or_default(),
            server,
            dir,
        }
    }

    /// A typed client of the node's REST API.
    pub fn client(&self) -> tael_client::Client {
        tael_client::Client::new(&self.rest).expect("client")
    }

    /// Where the node keeps its data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the node gracefully (its directories go with it).
    pub async fn stop(self) {
        self.server.shutdown().await.expect("node stops");
    }
}
