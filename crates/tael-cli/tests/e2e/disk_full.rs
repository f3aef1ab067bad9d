//! A full disk, survived and recovered from without a restart: the data
//! and WAL dirs on a small tmpfs mounted by the test (CI runs as root; the
//! test says so and skips where mounting is impossible). Ingest fills it
//! and is refused as unavailable; `/readyz` and `/api/v1/stats` say why;
//! once the tmpfs is made larger ingest is acknowledged again by the same
//! process; after a restart exactly the acknowledged spans are stored.

use crate::fixtures::*;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BATCH: u32 = 2000;

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn stored(server: &Server) -> (i64, i64) {
    let (st, v) = server.get(
        "/api/v1/sql?q=SELECT%20count(*)%20AS%20n%2C%20count(DISTINCT%20span_id)%20AS%20d%20FROM%20spans",
    );
    assert_eq!(st, 200, "{v}");
    (
        v["rows"][0]["n"].as_i64().unwrap(),
        v["rows"][0]["d"].as_i64().unwrap(),
    )
}

#[test]
fn a_full_disk_is_survived_and_recovered_from_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let Some(fs) = Tmpfs::mount(&mnt, "40m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the disk-full test did not run"
        );
        return;
    };
    let data = mnt.join("tael");
    let env = [("TAEL_MEMTABLE_BYTES", "4MiB")];
    let server = Server::start(&data, &env);
    let start = now_ns() - 60_000_000_000;
    let mut acked: u64 = 0;
    let mut n: u32 = 0;
    // Fill the disk: every batch has new ids; count what is acknowledged.
    let mut refusals = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while refusals < 10 {
        assert!(
            Instant::now() < deadline,
            "the disk never filled ({acked} spans acked)"
        );
        let req = simple_traces("fill", 0x6d, n, BATCH, start);
        n += BATCH;
        match grpc_traces(&server.grpc, req, false) {
            Ok(0) => {
                acked += BATCH as u64;
                refusals = 0;
            }
            Ok(rejected) => panic!("{rejected} spans rejected as invalid"),
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                refusals += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert!(acked > 0);
    assert!(server.healthy(), "the server stays up");
    let (st, v) = server.get("/readyz");
    assert_eq!(st, 503, "not ready while storage fails: {v}");
    let why = v["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("storage"), "{why}");
    let (_, stats) = server.get("/api/v1/stats");
    assert!(
        stats["storage"]["failure"].is_string(),
        "stats say why: {stats}"
    );

    // Room again: the same process takes writes again, on its own.
    fs.resize("400m");
    assert!(
        eventually(Duration::from_secs(30), || server.get("/readyz").0 == 200),
        "still not ready after space came back: {}",
        server.get("/readyz").1
    );
    for _ in 0..5 {
        let req = simple_traces("fill", 0x6d, n, BATCH, start);
        n += BATCH;
        assert_eq!(grpc_traces(&server.grpc, req, false).unwrap(), 0);
        acked += BATCH as u64;
    }
    let (_, stats) = server.get("/api/v1/stats");
    assert!(stats["storage"]["failure"].is_null(), "{stats}");
    let (count, distinct) = stored(&server);
    assert_eq!(
        (count as u64, distinct as u64),
        (acked, acked),
        "stored spans = acked spans"
    );

    // After a restart (the WAL replayed, torn records cut): the same.
    server.stop();
    let server = Server::start(&data, &env);
    let (count, distinct) = stored(&server);
    assert_eq!(
        (count as u64, distinct as u64),
        (acked, acked),
        "after restart"
    );
    server.stop();
}
