//! One node over an S3 bucket: what it stores reaches the bucket, an
//! outage of the store (at run time and at start) costs no ingest and no
//! data, and a node whose data dir is wiped comes back from the bucket.

use crate::fixtures::{kv, rich_traces, service_logs, simple_traces, trace_id};
use crate::moto::Moto;
use crate::proxy::Proxy;
use crate::support::{eventually, grpc_logs, grpc_traces, Server};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const BUCKET: &str = "tael";
const PREFIX: &str = "shard-0";

/// Long, distinct log bodies (2 KiB and more: they go to the blob store),
/// each naming its number with a word no other holds.
fn long_logs(first: u32, count: u32) -> Vec<LogRecord> {
    (first..first + count)
        .map(|n| {
            let mut body = format!("checkout audit record{n} ");
            while body.len() < 2048 {
                body.push_str(&format!(
                    "line {} of record {n} says the basket was fine; ",
                    body.len()
                ));
            }
            LogRecord {
                time_unix_nano: crate::fixtures::now_ns() - 1_000_000,
                severity_number: 9,
                body: Some(AnyValue {
                    value: Some(V::StringValue(body)),
                }),
                trace_id: trace_id(77, n),
                attributes: vec![kv("n", V::IntValue(n as i64))],
                ..Default::default()
            }
        })
        .collect()
}

fn env<'a>(proxy: &'a str, wal: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("TAEL_OBJECT_STORE", "s3://tael/shard-0"),
        ("AWS_ENDPOINT_URL", proxy),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("TAEL_WAL_DIR", wal),
        ("TAEL_FLUSH_INTERVAL", "1s"),
    ]
}

fn storage(s: &Server) -> Value {
    s.get("/api/v1/stats").1["storage"].clone()
}

/// Everything stored is flushed and every write is in the store.
fn settled(s: &Server) -> bool {
    let st = storage(s);
    st["memtable_rows"] == 0 && st["object_store"]["pending"] == 0 && st["parts"].as_u64() > Some(0)
}

/// Stores batch `b`: 20 simple spans, one rich trace, 5 long logs.
fn ingest(s: &Server, b: u32) {
    let now = crate::fixtures::now_ns() - 60_000_000_000;
    grpc_traces(
        &s.grpc,
        simple_traces("checkout", 50, b * 100, 20, now),
        false,
    )
    .unwrap();
    grpc_traces(&s.grpc, rich_traces("payments", 60, b), false).unwrap();
    grpc_logs(&s.grpc, service_logs("checkout", long_logs(b * 100, 5))).unwrap();
}

/// The answers a wiped node must give again, as JSON.
fn answers(s: &Server) -> Vec<Value> {
    [
        "/api/v1/traces?limit=500&last=1h",
        "/api/v1/logs?limit=500&last=1h",
        "/api/v1/services",
        "/api/v1/sql?q=SELECT%20service,%20count(*)%20AS%20n%20FROM%20spans%20GROUP%20BY%20service%20ORDER%20BY%20service",
        "/api/v1/logs?text=record302&last=1h",
    ]
    .iter()
    .map(|path| {
        let (status, v) = s.get(path);
        assert_eq!(status, 200, "{path}: {v}");
        v
    })
    .chain(std::iter::once(
        s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(60, 2)))).1,
    ))
    .collect()
}

fn keys(moto: &Moto) -> Vec<String> {
    moto.list(BUCKET, &format!("{PREFIX}/"))
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn a_node_keeps_its_data_in_an_s3_bucket_through_outages_and_a_wipe() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let mut proxy = Proxy::start(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wal = dir.path().join("wal");
    let (url, wal_s) = (proxy.url(), wal.to_str().unwrap().to_string());
    let env = env(&url, &wal_s);
    let long = Duration::from_secs(60);

    // Parts, blob packs and the manifest reach the bucket.
    let s = Server::start(&data, &env);
    ingest(&s, 1);
    assert!(eventually(long, || settled(&s)), "{}", storage(&s));
    let k = keys(&moto);
    let has = |k: &[String], dir: &str, ext: &str| {
        k.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}/{dir}/")) && k.ends_with(ext))
    };
    assert!(has(&k, "spans", ".parquet"), "{k:?}");
    assert!(has(&k, "logs", ".parquet"), "{k:?}");
    assert!(has(&k, "blobs", ".blob"), "{k:?}");
    assert_eq!(
        moto.get(BUCKET, &format!("{PREFIX}/MANIFEST.json")),
        std::fs::read(data.join("MANIFEST.json")).unwrap()
    );

    // The store cut off: ingest is acknowledged, the writes wait, and
    // /readyz and the stats say so.
    proxy.cut();
    ingest(&s, 2);
    assert!(
        eventually(long, || {
            let u = &storage(&s)["object_store"];
            u["pending"].as_u64() > Some(0) && u["error"].is_string()
        }),
        "{}",
        storage(&s)
    );
    let (status, ready) = s.get("/readyz");
    let ready = ready.as_str().unwrap_or_default().to_string();
    assert_eq!(status, 200);
    assert!(
        ready.starts_with("ready; ") && ready.contains("wait for the object store"),
        "{ready}"
    );
    assert!(eventually(long, || {
        let (_, v) = s.get("/api/v1/logs?text=record200&last=1h");
        v["logs"].as_array().map(Vec::len) == Some(1)
    }));

    // Back: the queue drains by itself.
    proxy.restore();
    assert!(eventually(long, || settled(&s)), "{}", storage(&s));
    assert!(storage(&s)["object_store"]["error"].is_null());

    // A start while the store is down: the node opens from its data dir,
    // ingests, and uploads once the store is back.
    s.stop();
    proxy.cut();
    let s = Server::start(&data, &env);
    ingest(&s, 3);
    proxy.restore();
    assert!(eventually(long, || settled(&s)), "{}", storage(&s));
    let before = answers(&s);
    assert_eq!(
        before[3]["rows"][0],
        serde_json::json!({"service": "checkout", "n": 60})
    );
    assert_eq!(
        before[4]["logs"].as_array().unwrap().len(),
        1,
        "{}",
        before[4]
    );
    s.stop();

    // The data dir wiped (the WAL is empty after a graceful stop): the
    // node comes back from the bucket with the same answers.
    assert_wal_empty(&wal);
    std::fs::remove_dir_all(&data).unwrap();
    let s = Server::start(&data, &env);
    let mut after = Vec::new();
    assert!(
        eventually(long, || {
            after = answers(&s);
            after == before
        }),
        "before: {before:?}\nafter: {after:?}"
    );
    // Nothing stored was uploaded again (the manifest is, and a fresh
    // blob pack may be).
    assert!(eventually(long, || settled(&s)));
    let manifest = std::fs::read(data.join("MANIFEST.json")).unwrap().len() as u64;
    let up = storage(&s)["object_store"].clone();
    assert!(
        up["uploaded_bytes"].as_u64().unwrap() <= manifest + 4096,
        "{up}"
    );
    s.stop();
}

/// The WAL holds no record (its segments are empty).
fn assert_wal_empty(wal: &Path) {
    for f in std::fs::read_dir(wal).unwrap().flatten() {
        let name = f.file_name().to_string_lossy().to_string();
        if name.starts_with("wal-") {
            assert_eq!(f.metadata().unwrap().len(), 0, "{name}");
        }
    }
}

/// The local `.parquet` files under a data dir.
fn local_parts(data: &Path) -> usize {
    fn walk(dir: &Path, n: &mut usize) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, n);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(data, &mut n);
    n
}

#[test]
fn parts_evicted_from_a_capped_cache_are_read_back_from_the_bucket() {
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let proxy = Proxy::start(moto.port);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (url, wal) = (proxy.url(), dir.path().join("wal"));
    let wal = wal.to_str().unwrap().to_string();
    let mut env = env(&url, &wal);
    // A cap below one part: every uploaded copy goes.
    env.push(("TAEL_CACHE_BYTES", "1"));
    let long = Duration::from_secs(60);
    let s = Server::start(&data, &env);
    for b in 1..=3 {
        ingest(&s, b);
        assert!(eventually(long, || settled(&s)), "{}", storage(&s));
    }
    let st = storage(&s);
    assert!(st["object_store"]["evicted"].as_u64() > Some(0), "{st}");
    assert_eq!(st["object_store"]["cache_limit"], 1);
    assert_eq!(local_parts(&data), 0);
    // Every route reads what it needs back from the bucket.
    let (_, v) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(60, 2))));
    assert_eq!(v["spans"].as_array().map(Vec::len), Some(2), "{v}");
    let (_, v) = s.get("/api/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20spans");
    assert_eq!(v["rows"][0]["n"], 66, "{v}");
    let (_, v) = s.get("/api/v1/logs?text=record301&last=1h");
    assert_eq!(v["logs"].as_array().map(Vec::len), Some(1), "{v}");
    // Reads downloaded copies; the cap evicts them again.
    assert!(eventually(long, || local_parts(&data) <= 1));
    s.stop();
}
