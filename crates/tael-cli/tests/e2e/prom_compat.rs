//! PromQL against Prometheus itself: a real Prometheus (Debian's 2.42)
//! scrapes itself every second and remote-writes every sample to tael, so
//! both hold the same samples; then a broad query set is evaluated by both
//! at the same instants (and over ranges) and the answers must agree.
//! Also remote-write 2.0 and the receiver's error answers.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Prometheus {
    child: Child,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(dir: &std::path::Path, tael_rest: &str) -> Prometheus {
    let port = free_port();
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:{port}"]
remote_write:
  - url: {tael_rest}/api/v1/write
    queue_config:
      min_shards: 1
      max_shards: 1
      batch_send_deadline: 500ms
      max_samples_per_send: 10000
"#
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("pdata").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the `prometheus` binary (Debian package prometheus; .ci/run installs it)");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn get(url: &str, path: &str, params: &[(&str, String)]) -> Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{url}{path}"))
        .query(params)
        .send()
        .unwrap_or_else(|e| panic!("GET {url}{path}: {e}"));
    serde_json::from_str(&r.text().unwrap()).unwrap()
}

/// A result as label set → values (vector: one; matrix: a series).
fn normalise(v: &Value) -> (String, BTreeMap<String, Vec<(f64, String)>>) {
    let data = &v["data"];
    let kind = data["resultType"].as_str().unwrap_or("?").to_string();
    let mut out = BTreeMap::new();
    match kind.as_str() {
        "vector" => {
            for s in data["result"].as_array().unwrap() {
                let p = &s["value"];
                out.insert(
                    s["metric"].to_string(),
                    vec![(p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string())],
                );
            }
        }
        "matrix" => {
            for s in data["result"].as_array().unwrap() {
                let pts = s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string()))
                    .collect();
                out.insert(s["metric"].to_string(), pts);
            }
        }
        _ => {
            let p = &data["result"];
            out.insert(
                String::new(),
                vec![(
                    p[0].as_f64().unwrap_or(0.0),
                    p[1].as_str().unwrap_or("").to_string(),
                )],
            );
        }
    }
    (kind, out)
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

fn agree(q: &str, prom: &Value, tael: &Value) -> Result<(), String> {
    if prom["status"] != "success" {
        return Err(format!("{q}: prometheus failed: {prom}"));
    }
    if tael["status"] != "success" {
        return Err(format!("{q}: tael failed: {tael}"));
    }
    let (pk, pv) = normalise(prom);
    let (tk, tv) = normalise(tael);
    if pk != tk {
        return Err(format!(
            "{q}: result types differ: prometheus {pk}, tael {tk}"
        ));
    }
    if pv.keys().collect::<Vec<_>>() != tv.keys().collect::<Vec<_>>() {
        return Err(format!(
            "{q}: series differ:\n prometheus {:?}\n tael       {:?}",
            pv.keys().collect::<Vec<_>>(),
            tv.keys().collect::<Vec<_>>()
        ));
    }
    for (k, ps) in &pv {
        let ts = &tv[k];
        let same = ps.len() == ts.len()
            && ps
                .iter()
                .zip(ts)
                .all(|(a, b)| (a.0 - b.0).abs() < 1e-6 && close(&a.1, &b.1));
        if !same {
            return Err(format!(
                "{q}: values of {k} differ:\n prometheus {ps:?}\n tael       {ts:?}"
            ));
        }
    }
    Ok(())
}

const INSTANT: &[&str] = &[
    "up",
    "prometheus_http_requests_total",
    r#"prometheus_http_requests_total{handler!="/metrics"}"#,
    r#"prometheus_http_requests_total{code=~"2..", handler=~"/api.*|/metrics"}"#,
    r#"{__name__=~"up|scrape_samples_scraped"}"#,
    r#"prometheus_http_requests_total{handler!~"/api/v1/.*"}"#,
    "rate(prometheus_http_requests_total[20s])",
    "irate(prometheus_http_requests_total[20s])",
    "increase(prometheus_tsdb_head_samples_appended_total[20s])",
    "delta(process_resident_memory_bytes[20s])",
    "idelta(go_memstats_alloc_bytes[20s])",
    "deriv(process_resident_memory_bytes[20s])",
    "predict_linear(go_memstats_alloc_bytes[20s], 60)",
    "sum by (handler) (rate(prometheus_http_requests_total[20s]))",
    "sum without (instance, code) (prometheus_http_requests_total)",
    "avg by (job) (rate(prometheus_http_requests_total[20s]))",
    "min(scrape_duration_seconds)",
    "max by (job) (process_resident_memory_bytes)",
    "count by (__name__) ({job=\"prometheus\", __name__=~\"prometheus_tsdb.*\"})",
    "stddev(rate(prometheus_http_requests_total[20s]))",
    "stdvar by (job) (go_goroutines)",
    "topk(3, prometheus_http_requests_total)",
    "bottomk(2, prometheus_http_requests_total)",
    "quantile(0.9, prometheus_http_requests_total)",
    "count_values(\"value\", up)",
    "group by (code) (prometheus_http_requests_total)",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[20s])))",
    "histogram_quantile(0.5, prometheus_http_request_duration_seconds_bucket)",
    "histogram_quantile(0.99, sum by (le, handler) (prometheus_http_response_size_bytes_bucket))",
    "go_gc_duration_seconds",
    "go_gc_duration_seconds_count",
    "avg_over_time(go_goroutines[20s])",
    "min_over_time(go_goroutines[20s])",
    "max_over_time(go_goroutines[20s])",
    "sum_over_time(scrape_samples_scraped[20s])",
    "count_over_time(up[20s])",
    "last_over_time(go_goroutines[20s])",
    "present_over_time(up[20s])",
    "quantile_over_time(0.5, go_memstats_alloc_bytes[20s])",
    "stddev_over_time(go_memstats_alloc_bytes[20s])",
    "changes(go_goroutines[20s])",
    "resets(go_memstats_alloc_bytes[20s])",
    "up offset 5s",
    "rate(prometheus_http_requests_total[10s] offset 5s)",
    "prometheus_http_requests_total / on (instance, job) group_left up",
    "up / on (instance, job) group_right prometheus_build_info",
    "prometheus_http_requests_total * ignoring (code, handler) group_left up",
    "up * 2 + 1",
    "2 ^ up",
    "-up",
    "up == 1",
    "prometheus_http_requests_total > 3",
    "1 < prometheus_http_requests_total",
    "prometheus_http_requests_total > bool 3",
    "process_resident_memory_bytes / process_virtual_memory_bytes",
    "go_memstats_alloc_bytes % 1000",
    "prometheus_http_requests_total and on (handler) prometheus_http_requests_total{handler=\"/metrics\"}",
    "up or vector(5)",
    "prometheus_http_requests_total unless prometheus_http_requests_total{handler=\"/metrics\"}",
    "abs(-go_goroutines)",
    "ceil(scrape_duration_seconds * 1000)",
    "floor(scrape_duration_seconds * 1000)",
    "round(scrape_duration_seconds * 1000, 0.5)",
    "clamp(go_goroutines, 10, 20)",
    "clamp_min(go_goroutines, 100)",
    "clamp_max(go_goroutines, 5)",
    "sqrt(go_goroutines)",
    "ln(go_goroutines)",
    "exp(up)",
    "sgn(up - 2)",
    r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
    r#"label_join(up, "both", "-", "job", "instance")"#,
    "time()",
    "vector(1)",
    "scalar(up)",
    "absent(up)",
    r#"absent(nonexistent_metric{job="x"})"#,
    "absent_over_time(nonexistent_metric[20s])",
    "timestamp(up)",
    "sort_desc(prometheus_http_requests_total)",
    "max_over_time(rate(prometheus_http_requests_total[5s])[20s:2s])",
    "avg_over_time(up[20s:1s])",
    "hour(vector(time()))",
    "day_of_week()",
    "sum(rate(prometheus_http_requests_total[20s])) by (code) / ignoring (code) group_left sum(rate(prometheus_http_requests_total[20s]))",
];

const RANGE: &[&str] = &[
    "up",
    "rate(prometheus_http_requests_total[10s])",
    "sum by (code) (increase(prometheus_http_requests_total[10s]))",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "go_goroutines > bool 10",
    "time()",
];

#[test]
fn promql_agrees_with_prometheus_on_remote_written_samples() {
    let dir = tempfile::tempdir().unwrap();
    // Flushed every few seconds, so that queries read Parquet parts (through
    // the part series cache, series split across parts) and the memtable.
    let s = Server::start(&dir.path().join("tael"), &[("TAEL_FLUSH_INTERVAL", "4s")]);
    let p = start_prometheus(dir.path(), &s.rest);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(30), || reqwest::blocking::get(format!(
            "{}/-/ready",
            p.url
        ))
        .is_ok_and(|r| r.status().is_success())),
        "prometheus did not start"
    );
    // 35 s of samples, so that the 20 s windows are full.
    std::thread::sleep(Duration::from_secs(35).saturating_sub(started.elapsed()));
    let parts = std::fs::read_dir(dir.path().join("tael").join("metrics"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|hour| {
            std::fs::read_dir(hour.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
        .count();
    assert!(parts > 0, "no metrics part was flushed");
    // Evaluate half-way between scrapes (no sample sits on a window edge).
    let raw = get(&p.url, "/api/v1/query", &[("query", "up[5s]".into())]);
    let last_scrape = raw["data"]["result"][0]["values"]
        .as_array()
        .and_then(|v| v.last())
        .map(|p| p[0].as_f64().unwrap())
        .expect("prometheus scraped itself");
    let t = last_scrape - 3.5;
    // Wait until tael has every sample up to t (one shard: in order).
    assert!(
        eventually(Duration::from_secs(30), || {
            let v = get(
                &s.rest,
                "/api/v1/query",
                &[("query", "max(timestamp(up))".into())],
            );
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|x| x.parse::<f64>().ok())
                .is_some_and(|x| x > t + 1.0)
        }),
        "remote-write did not reach tael"
    );
    let mut failures = Vec::new();
    let mut empty = Vec::new();
    for q in INSTANT {
        let params = [("query", q.to_string()), ("time", format!("{t:.3}"))];
        let a = get(&p.url, "/api/v1/query", &params);
        let b = get(&s.rest, "/api/v1/query", &params);
        if let Err(e) = agree(q, &a, &b) {
            failures.push(e);
        }
        if normalise(&a).1.is_empty() {
            empty.push(*q);
        }
    }
    // Only the queries that ask for absence may come back empty.
    assert_eq!(empty, ["absent(up)"], "queries without any result");
    for q in RANGE {
        let params = [
            ("query", q.to_string()),
            ("start", format!("{:.3}", t - 12.0)),
            ("end", format!("{t:.3}")),
            ("step", "2".to_string()),
        ];
        let a = get(&p.url, "/api/v1/query_range", &params);
        let b = get(&s.rest, "/api/v1/query_range", &params);
        if let Err(e) = agree(&format!("range {q}"), &a, &b) {
            failures.push(e);
        }
    }
    // The metadata APIs see the same series.
    let window = [
        ("start", format!("{:.3}", t - 10.0)),
        ("end", format!("{t:.3}")),
    ];
    let mut with_match = window.to_vec();
    // `up` has the same series all along (new handler series appear as
    // this test queries Prometheus, after `t`).
    with_match.push(("match[]", "up".to_string()));
    let (a, b) = (
        get(&p.url, "/api/v1/series", &with_match),
        get(&s.rest, "/api/v1/series", &with_match),
    );
    let sorted = |v: &Value| {
        let mut x: Vec<String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect();
        x.sort();
        x
    };
    if sorted(&a) != sorted(&b) {
        failures.push(format!("series differ: {a} vs {b}"));
    }
    let (a, b) = (
        get(&p.url, "/api/v1/label/instance/values", &with_match),
        get(&s.rest, "/api/v1/label/instance/values", &with_match),
    );
    if a["data"] != b["data"] {
        failures.push(format!("label values differ: {a} vs {b}"));
    }
    // promtool talks to tael as to a Prometheus server.
    let out = Command::new("promtool")
        .args(["query", "instant", &s.rest, "count(up)"])
        .output()
        .expect("promtool (Debian package prometheus)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("=> 1 @"),
        "promtool: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("promtool")
        .args(["query", "labels", &s.rest, "job"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("prometheus"),
        "promtool labels: {out:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} queries disagree:\n{}",
        failures.len(),
        INSTANT.len() + RANGE.len(),
        failures.join("\n")
    );
}

/// The remote-write 2.0 messages the test sends, written from the spec
/// independently of the server's definitions (a wrong tag on either side
/// then fails the test instead of agreeing with itself).
mod v2 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<Histogram>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub count_int: Option<u64>,
        #[prost(double, tag = "3")]
        pub sum: f64,
        #[prost(sint32, tag = "4")]
        pub schema: i32,
        #[prost(message, repeated, tag = "11")]
        pub positive_spans: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "12")]
        pub positive_deltas: Vec<i64>,
        #[prost(int64, tag = "15")]
        pub timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, tag = "1")]
        pub offset: i32,
        #[prost(uint32, tag = "2")]
        pub length: u32,
    }
}

fn write(
    s: &Server,
    ctype: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut h = vec![("content-type", ctype)];
    if let Some(e) = encoding {
        h.push(("content-encoding", e));
    }
    s.post(&s.rest, "/api/v1/write", &h, body)
}

#[test]
fn remote_write_2_and_errors() {
    use prost::Message;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let now_ms = (crate::fixtures::now_ns() / 1_000_000) as i64;
    let req = v2::Request {
        symbols: [
            "",
            "__name__",
            "rw2_requests_total",
            "job",
            "api",
            "path",
            "/x",
            "rw2_latency",
        ]
        .map(String::from)
        .to_vec(),
        timeseries: vec![
            v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4, 5, 6],
                samples: vec![
                    v2::Sample {
                        value: 5.0,
                        timestamp: now_ms - 20_000,
                    },
                    v2::Sample {
                        value: 9.0,
                        timestamp: now_ms - 10_000,
                    },
                ],
                histograms: vec![],
            },
            v2::TimeSeries {
                labels_refs: vec![1, 7, 3, 4],
                samples: vec![],
                histograms: vec![v2::Histogram {
                    count_int: Some(6),
                    sum: 12.5,
                    schema: 0,
                    positive_spans: vec![v2::BucketSpan {
                        offset: 0,
                        length: 2,
                    }],
                    positive_deltas: vec![2, 2],
                    timestamp: now_ms - 10_000,
                }],
            },
        ],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap();
    let v2type = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (st, h, _) = write(&s, v2type, Some("snappy"), body.clone());
    assert_eq!(st, 204);
    assert_eq!(h["x-prometheus-remote-write-samples-written"], "2");
    assert_eq!(h["x-prometheus-remote-write-histograms-written"], "1");
    assert_eq!(h["x-prometheus-remote-write-exemplars-written"], "0");
    let (_, v) = s.get("/api/v1/query?query=rw2_requests_total");
    assert_eq!(
        v["data"]["result"][0]["metric"],
        serde_json::json!({"__name__": "rw2_requests_total", "job": "api", "path": "/x"})
    );
    assert_eq!(v["data"]["result"][0]["value"][1], "9");
    let (_, v) = s.get("/api/v1/query?query=rw2_latency_count");
    assert_eq!(v["data"]["result"][0]["value"][1], "6", "{v}");
    // The native histogram is stored whole (an exponential histogram).
    let (_, v) = s.get("/api/v1/metrics?name=rw2_latency");
    let d = &v["metrics"][0]["distribution"];
    assert_eq!(d["count"], 6);
    assert_eq!(
        d["exponential"]["positive_bucket_counts"],
        serde_json::json!([2, 4])
    );
    assert_eq!(v["metrics"][0]["service"], "api");

    // Refusals: an unknown proto (415, so senders fall back), no snappy
    // (415), bad snappy, bad protobuf (400); the server stays up.
    let (st, _, _) = write(
        &s,
        "application/x-protobuf;proto=io.prometheus.write.v9.Request",
        Some("snappy"),
        body.clone(),
    );
    assert_eq!(st, 415);
    let (st, _, _) = write(&s, "application/json", Some("snappy"), body.clone());
    assert_eq!(st, 415);
    let (st, _, _) = write(&s, v2type, None, req.encode_to_vec());
    assert_eq!(st, 415);
    let (st, _, _) = write(
        &s,
        "application/x-protobuf",
        Some("snappy"),
        b"not snappy at all".to_vec(),
    );
    assert_eq!(st, 400);
    let garbage = snap::raw::Encoder::new()
        .compress_vec(&[0xff, 0xff, 0xff, 0x01])
        .unwrap();
    let (st, _, _) = write(&s, "application/x-protobuf", Some("snappy"), garbage);
    assert_eq!(st, 400);
    let bad_ref = v2::Request {
        symbols: vec!["".into(), "__name__".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 99],
            samples: vec![],
            histograms: vec![],
        }],
    };
    let (st, _, _) = write(
        &s,
        v2type,
        Some("snappy"),
        snap::raw::Encoder::new()
            .compress_vec(&bad_ref.encode_to_vec())
            .unwrap(),
    );
    assert_eq!(st, 400);
    assert!(s.healthy());
    // PromQL errors use Prometheus's envelope.
    let (st, v) = s.get("/api/v1/query?query=sum(");
    assert_eq!(
        (st, v["status"].as_str(), v["errorType"].as_str()),
        (400, Some("error"), Some("bad_data"))
    );
    let (st, v) = s.get("/api/v1/query_range?query=up&start=1&end=2");
    assert_eq!((st, v["errorType"].as_str()), (400, Some("bad_data")));
}
