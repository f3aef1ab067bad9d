//! One etcd member on free loopback ports, its data in a temporary
//! directory; stopped (and its data removed) when dropped.

use crate::support::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client_port: u16,
    peer_port: u16,
    pub url: String,
}

impl Etcd {
    pub fn start() -> Etcd {
        let (client_port, peer_port) = (free_port(), free_port());
        let mut e = Etcd {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client_port,
            peer_port,
            url: format!("http://127.0.0.1:{client_port}"),
        };
        e.restart();
        e
    }

    /// Starts the member again on the same data and ports (after
    /// [`Etcd::kill`]).
    pub fn restart(&mut self) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = Command::new("etcd")
            .args([
                "--name",
                "e1",
                "--data-dir",
                self.dir.path().to_str().unwrap(),
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--initial-cluster",
                &format!("e1={peer}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd (Debian package etcd-server; .ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let http = reqwest::blocking::Client::new();
        while Instant::now() < deadline {
            let ok = http
                .get(format!("{}/health", self.url))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd did not start");
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}
