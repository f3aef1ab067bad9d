//! The memory budget through the real server: with a small
//! `TAEL_MEMORY_LIMIT`, concurrent exports are refused as unavailable
//! (naming the part of the budget that is full) rather than let the
//! server outgrow it, exactly the acknowledged spans are stored,
//! `/api/v1/stats` shows the division, and a limit the parts cannot fit
//! in stops startup with a clear message.

use crate::fixtures::*;
use crate::support::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BATCH: u32 = 2000;
const SENDERS: u8 = 8;

#[test]
fn exports_beyond_the_memory_budget_are_refused_and_nothing_acked_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("TAEL_MEMORY_LIMIT", "256MiB")]);
    let (st, stats) = server.get("/api/v1/stats");
    assert_eq!(st, 200, "{stats}");
    let memory = &stats["storage"]["memory"];
    assert_eq!(memory["limit_bytes"], 256 << 20, "{memory}");
    let share = |name: &str| {
        memory["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no part {name} in {memory}"))["share_bytes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(share("memtables"), 48 << 20);
    assert_eq!(share("exports_in_flight"), 16 << 20);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = now_ns() - 60_000_000_000;
    let senders: Vec<_> = (0..SENDERS)
        .map(|i| {
            let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
            let grpc = server.grpc.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Acquire) {
                    let req = simple_traces("budget", 0x71 + i, n, BATCH, start);
                    n += BATCH;
                    match grpc_traces(&grpc, req, false) {
                        Ok(0) => {
                            acked.fetch_add(BATCH as u64, Ordering::AcqRel);
                        }
                        Ok(rejected) => panic!("{rejected} spans rejected as invalid"),
                        Err(status) => {
                            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                            assert!(status.message().contains("memory budget"), "{status:?}");
                            refused.fetch_add(1, Ordering::AcqRel);
                        }
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    while refused.load(Ordering::Acquire) < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        assert!(server.healthy(), "the server stays up");
    }
    stop.store(true, Ordering::Release);
    for s in senders {
        s.join().expect("sender");
    }
    let (acked, refused) = (
        acked.load(Ordering::Acquire),
        refused.load(Ordering::Acquire),
    );
    assert!(refused >= 5, "never refused ({acked} spans acked)");
    assert!(acked > 0);
    let (st, v) = server.get(
        "/api/v1/sql?q=SELECT%20count(*)%20AS%20n%2C%20count(DISTINCT%20span_id)%20AS%20d%20FROM%20spans",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rows"][0]["n"].as_u64(), Some(acked), "{v}");
    assert_eq!(v["rows"][0]["d"].as_u64(), Some(acked), "{v}");
    server.stop();
}

#[test]
fn a_memory_limit_its_parts_cannot_fit_in_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(serve_args(dir.path()))
        .env("TAEL_MEMORY_LIMIT", "256MiB")
        .env("TAEL_PROMQL_CACHE_BYTES", "300MiB")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("promql_cache 300 MiB"), "{err}");
    assert!(err.contains("TAEL_MEMORY_LIMIT=256 MiB"), "{err}");
}
