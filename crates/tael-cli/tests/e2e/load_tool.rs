//! The load tool against the real server: `tael bench series` sends the
//! same counters over OTLP and as Prometheus remote-write and the PromQL
//! answers agree; `tael bench ingest --protocol http --json` sends
//! OTLP/JSON (written straight from protobuf) that the server stores
//! whole.

use crate::support::*;
use serde_json::Value;

fn series(args: &[&str]) -> Value {
    let mut all = vec![
        "bench",
        "series",
        "--series",
        "40",
        "--duration",
        "10m",
        "--runs",
        "2",
    ];
    all.extend_from_slice(args);
    cli_json(&all, &[])
}

#[test]
fn series_over_otlp_and_remote_write_answer_the_same() {
    let end = (tael_core::time::now_ns() / 1_000_000_000).to_string();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (Server::start(da.path(), &[]), Server::start(db.path(), &[]));
    let otlp = series(&["--endpoint", &a.grpc, "--server", &a.rest, "--end", &end]);
    let write = format!("{}/api/v1/write", b.rest);
    let rw = series(&[
        "--protocol",
        "remote-write",
        "--endpoint",
        &write,
        "--server",
        &b.rest,
        "--end",
        &end,
        "--concurrency",
        "3",
    ]);
    // 41 steps of 10 min at 15 s, 40 series.
    assert_eq!(otlp["loaded_points"], 41 * 40, "{otlp}");
    assert_eq!(rw["loaded_points"], 41 * 40, "{rw}");
    assert_eq!(rw["protocol"], "remote-write");
    let (ro, rr) = (
        otlp["results"].as_array().unwrap(),
        rw["results"].as_array().unwrap(),
    );
    assert_eq!(ro.len(), 4);
    for (o, r) in ro.iter().zip(rr) {
        assert!(o["result_series"].as_u64().unwrap() > 0, "{o}");
        for k in ["result_series", "result_samples"] {
            assert_eq!(o[k], r[k], "{}: {o} vs {r}", o["query"]);
        }
        let (so, sr) = (
            o["result_sum"].as_f64().unwrap(),
            r["result_sum"].as_f64().unwrap(),
        );
        assert!(
            (so - sr).abs() <= 1e-9 * so.abs().max(1.0),
            "{}: {so} vs {sr}",
            o["query"]
        );
    }
    a.stop();
    b.stop();
}

#[test]
fn otlp_json_from_the_load_tool_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let v = cli_json(
        &[
            "bench",
            "ingest",
            "--protocol",
            "http",
            "--json",
            "--gzip",
            "--endpoint",
            &s.http,
            "--batch",
            "200",
            "--concurrency",
            "2",
            "--requests",
            "6",
            "--llm-ratio",
            "1",
        ],
        &[],
    );
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["encoding"], "json", "{v}");
    let items = v["items"].as_u64().unwrap();
    assert!(items >= 1000, "{v}");
    let (st, q) = s.get(
        "/api/v1/sql?q=SELECT%20count(*)%20AS%20n%2C%20count(llm_model)%20AS%20llm%20FROM%20spans",
    );
    assert_eq!(st, 200, "{q}");
    assert_eq!(q["rows"][0]["n"].as_u64(), Some(items), "{q}");
    assert!(q["rows"][0]["llm"].as_u64().unwrap() > 0, "{q}");
    s.stop();
}
