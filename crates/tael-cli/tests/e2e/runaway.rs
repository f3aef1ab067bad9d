//! Runaway SQL against the real server with 50k spans stored: a query
//! that would take hours is answered 503 at its deadline even after a
//! large query ran first, `SELECT 1` answers right after, the server's
//! CPU is back near idle within two seconds; with the concurrency limit
//! full the next query gets 429 with `Retry-After` while ingest, health
//! checks and the hot routes keep answering.

use crate::fixtures::*;
use crate::support::*;
use std::time::{Duration, Instant};

const RUNAWAY: &str = "SELECT count(*) FROM spans a, spans b, spans c \
                       WHERE a.duration_ms * b.duration_ms * c.duration_ms < 0";

/// CPU seconds the process has used (user + system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

fn sql(base: &str, q: &str) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .get(format!("{base}/api/v1/sql"))
        .query(&[("q", q)])
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().unwrap_or(serde_json::Value::Null))
}

#[test]
fn runaway_sql_is_cancelled_at_its_deadline_and_extra_queries_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[("TAEL_SQL_TIMEOUT", "3s"), ("TAEL_SQL_MAX_CONCURRENT", "2")],
    );
    let pid = server.child.id();
    let start = now_ns() - 600_000_000_000;
    for batch in 0..10 {
        let req = simple_traces("api", 0x5c, batch * 5000, 5000, start);
        assert_eq!(grpc_traces(&server.grpc, req, false).unwrap(), 0);
    }
    let (st, _, v) = sql(&server.rest, "SELECT count(*) AS n FROM spans");
    assert_eq!((st, v["rows"][0]["n"].as_i64()), (200, Some(50_000)), "{v}");

    // A large answer first (it is cut at the row limit), then the runaway.
    let (st, _, v) = sql(&server.rest, "SELECT * FROM spans LIMIT 1000000");
    assert_eq!((st, &v["truncated"]), (200, &serde_json::json!(true)));
    let t = Instant::now();
    let (st, _, v) = sql(&server.rest, RUNAWAY);
    let took = t.elapsed();
    assert_eq!(st, 503, "{v}");
    assert_eq!(v["code"], "timeout");
    assert!(
        took < Duration::from_secs(5),
        "503 after {took:?} (timeout 3 s)"
    );
    let t = Instant::now();
    let (st, _, _) = sql(&server.rest, "SELECT 1");
    assert_eq!(st, 200);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "SELECT 1 took {:?}",
        t.elapsed()
    );
    // The cancelled query's operators stop: the CPU goes back near idle.
    let deadline = Instant::now() + Duration::from_secs(2);
    let idle = loop {
        let before = cpu_seconds(pid);
        std::thread::sleep(Duration::from_millis(400));
        let used = (cpu_seconds(pid) - before) / 0.4;
        if used < 0.3 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(
        idle,
        "the server still computes after the runaway's deadline"
    );

    // Two runaways fill the limit; the third is refused, not queued.
    let runaways: Vec<_> = (0..2)
        .map(|_| {
            let base = server.rest.clone();
            std::thread::spawn(move || sql(&base, RUNAWAY).0)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (st, h, v) = sql(&server.rest, "SELECT 1");
    assert_eq!(st, 429, "{v}");
    assert_eq!(v["code"], "overloaded");
    assert!(h.get("retry-after").is_some());
    // Meanwhile the rest of the server answers at once.
    for i in 0..5 {
        let t = Instant::now();
        let req = simple_traces("api", 0x5d, i * 100, 100, start);
        assert_eq!(grpc_traces(&server.grpc, req, false).unwrap(), 0);
        assert!(server.healthy());
        let (st, _) = server.get("/api/v1/services");
        assert_eq!(st, 200);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "took {:?}",
            t.elapsed()
        );
    }
    for r in runaways {
        assert_eq!(r.join().unwrap(), 503);
    }
    // A slot frees once its query has stopped (within a batch).
    assert!(
        eventually(Duration::from_secs(3), || sql(&server.rest, "SELECT 1").0
            == 200),
        "the slots are not free again"
    );
}
