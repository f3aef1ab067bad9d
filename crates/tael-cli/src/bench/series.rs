//! `tael bench series`: backfills realistic time series for PromQL
//! benchmarks — `--series` monotonic counters `bench_requests_total`,
//! spread over 10 services and 10 shards (`shard` = series mod 10), one
//! point per `--interval` over the last `--duration` — then times PromQL
//! through `/api/v1/query` and `/api/v1/query_range`.
//!
//! The points go over OTLP gRPC (cumulative sums of `bench.requests`,
//! unit `{request}`, which tael names `bench_requests_total`) or as
//! Prometheus remote-write 1.0 (labels `__name__`, `job` and `service` =
//! the service, `series`, `shard`), so the same samples and the same
//! queries can be sent to Prometheus-compatible peers. Each of
//! `--concurrency` senders owns a share of the series and sends each
//! series' points in time order, as remote-write receivers require.

use super::gen::{i, kv, s};
use crate::client::{CliError, Client};
use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tael_core::duration::parse_duration_ns;
use tael_query::params::Params;
use tael_server::remote_write::v1 as rw;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SeriesProtocol {
    /// OTLP metrics over gRPC.
    Otlp,
    /// Prometheus remote-write 1.0 (snappy protobuf over HTTP).
    RemoteWrite,
}

#[derive(Args, Debug, Clone)]
pub struct SeriesArgs {
    #[arg(long, value_enum, default_value = "otlp")]
    pub protocol: SeriesProtocol,
    /// Where the points go (default http://127.0.0.1:4317 for OTLP,
    /// http://127.0.0.1:7701/api/v1/write for remote-write).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Prometheus-compatible query API base URL (for the query timings).
    #[arg(long, default_value = "http://127.0.0.1:7701")]
    pub server: String,
    #[arg(long, default_value_t = 10_000)]
    pub series: u64,
    #[arg(long, default_value = "15s")]
    pub interval: String,
    /// History to backfill, ending at `--end`.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// End of the history (Unix seconds; default now): the same value
    /// sends the same samples to several stores.
    #[arg(long)]
    pub end: Option<f64>,
    /// Points per request.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Senders at once, each with its own share of the series.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u64,
    /// Only time the queries (the data is already there).
    #[arg(long)]
    pub skip_load: bool,
    /// Only load the points (no query timings).
    #[arg(long)]
    pub skip_queries: bool,
    /// Runs per query.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Evaluation time of the queries (Unix seconds; default `--end`): with
    /// `--skip-load`, the `at` an earlier load reported.
    #[arg(long)]
    pub at: Option<f64>,
}

/// One sample of one counter.
#[derive(Clone, Copy)]
struct Point {
    series: u64,
    t_ns: u64,
    value: i64,
}

fn service_of(series: u64) -> String {
    format!("service-{}", series % 10)
}

fn otlp_request(points: &[Point], start_ns: u64) -> ExportMetricsServiceRequest {
    let mut by_service: Vec<Vec<pm::NumberDataPoint>> = vec![Vec::new(); 10];
    for p in points {
        by_service[(p.series % 10) as usize].push(pm::NumberDataPoint {
            attributes: vec![
                kv("series", i(p.series as i64)),
                kv("shard", i((p.series % 10) as i64)),
            ],
            start_time_unix_nano: start_ns,
            time_unix_nano: p.t_ns,
            value: Some(pm::number_data_point::Value::AsInt(p.value)),
            ..Default::default()
        });
    }
    ExportMetricsServiceRequest {
        resource_metrics: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .map(|(svc, data_points)| pm::ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(s(&format!("service-{svc}"))),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_metrics: vec![pm::ScopeMetrics {
                    scope: None,
                    metrics: vec![pm::Metric {
                        name: "bench.requests".into(),
                        unit: "{request}".into(),
                        data: Some(pm::metric::Data::Sum(pm::Sum {
                            data_points,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// A remote-write 1.0 body (snappy block-compressed), labels sorted by
/// name as the protocol requires.
fn remote_write_body(points: &[Point]) -> Result<Vec<u8>, CliError> {
    let label = |name: &str, value: String| rw::Label {
        name: name.into(),
        value,
    };
    let req = rw::WriteRequest {
        timeseries: points
            .iter()
            .map(|p| rw::TimeSeries {
                labels: vec![
                    label("__name__", "bench_requests_total".into()),
                    label("job", service_of(p.series)),
                    label("series", p.series.to_string()),
                    label("service", service_of(p.series)),
                    label("shard", (p.series % 10).to_string()),
                ],
                samples: vec![rw::Sample {
                    value: p.value as f64,
                    timestamp: (p.t_ns / 1_000_000) as i64,
                }],
                ..Default::default()
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .map_err(|e| CliError::other(format!("snappy: {e}")))
}

/// Where a sender's points go.
enum Sink {
    Otlp(MetricsServiceClient<tonic::transport::Channel>),
    RemoteWrite { http: reqwest::Client, url: String },
}

/// How often a request the receiver asks to retry (gRPC UNAVAILABLE, HTTP
/// 429/503) is sent again, 10 ms apart.
const RETRIES: usize = 3000;

impl Sink {
    async fn connect(a: &SeriesArgs, endpoint: &str) -> Result<Sink, CliError> {
        Ok(match a.protocol {
            SeriesProtocol::Otlp => Sink::Otlp(
                MetricsServiceClient::connect(endpoint.to_string())
                    .await
                    .map_err(|e| CliError::other(format!("cannot connect to {endpoint}: {e}")))?
                    .max_encoding_message_size(64 << 20),
            ),
            SeriesProtocol::RemoteWrite => Sink::RemoteWrite {
                http: reqwest::Client::new(),
                url: endpoint.to_string(),
            },
        })
    }

    async fn send(&mut self, points: &[Point], start_ns: u64) -> Result<(), CliError> {
        if points.is_empty() {
            return Ok(());
        }
        let pause = || tokio::time::sleep(Duration::from_millis(10));
        match self {
            Sink::Otlp(client) => {
                let req = otlp_request(points, start_ns);
                for _ in 0..RETRIES {
                    match client.export(req.clone()).await {
                        Ok(_) => return Ok(()),
                        Err(e) if e.code() == tonic::Code::Unavailable => pause().await,
                        Err(e) => return Err(CliError::other(format!("export failed: {e}"))),
                    }
                }
            }
            Sink::RemoteWrite { http, url } => {
                let body = remote_write_body(points)?;
                for _ in 0..RETRIES {
                    let resp = http
                        .post(url.as_str())
                        .header("content-type", "application/x-protobuf")
                        .header("content-encoding", "snappy")
                        .header("x-prometheus-remote-write-version", "0.1.0")
                        .body(body.clone())
                        .send()
                        .await
                        .map_err(|e| CliError::other(format!("POST {url}: {e}")))?;
                    let status = resp.status();
                    if status.is_success() {
                        return Ok(());
                    }
                    if status.as_u16() != 429 && status.as_u16() != 503 {
                        let text = resp.text().await.unwrap_or_default();
                        return Err(CliError::other(format!(
                            "remote-write to {url} failed: HTTP {status}: {text}"
                        )));
                    }
                    pause().await
                }
            }
        }
        Err(CliError::other("the receiver kept asking to retry"))
    }
}

async fn load(a: &SeriesArgs, interval_ns: u64, duration_ns: u64) -> Result<u64, CliError> {
    let endpoint = a.endpoint.clone().unwrap_or_else(|| match a.protocol {
        SeriesProtocol::Otlp => "http://127.0.0.1:4317".into(),
        SeriesProtocol::RemoteWrite => "http://127.0.0.1:7701/api/v1/write".into(),
    });
    let end = end_ns(a);
    let start = end.saturating_sub(duration_ns);
    let steps = duration_ns / interval_ns;
    let senders = a.concurrency.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for sender in 0..senders {
        let mut sink = Sink::connect(a, &endpoint).await?;
        let (series, batch_len) = (a.series, a.batch.max(1));
        tasks.spawn(async move {
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(batch_len);
            for step in 0..=steps {
                let t_ns = start + step * interval_ns;
                for series in (sender..series).step_by(senders as usize) {
                    // Each counter grows by a series-specific rate (1–10/s).
                    let rate = 1 + series % 10;
                    let value = (step * (interval_ns / 1_000_000_000) * rate) as i64;
                    batch.push(Point {
                        series,
                        t_ns,
                        value,
                    });
                    if batch.len() >= batch_len {
                        sink.send(&batch, start).await?;
                        sent += batch.len() as u64;
                        batch.clear();
                    }
                }
            }
            sink.send(&batch, start).await?;
            Ok::<u64, CliError>(sent + batch.len() as u64)
        });
    }
    let mut sent = 0;
    while let Some(done) = tasks.join_next().await {
        sent += done.map_err(|e| CliError::other(format!("a sender failed: {e}")))??;
    }
    Ok(sent)
}

fn time_query(client: &Client, path: &str, q: &Params, runs: usize) -> Result<Value, CliError> {
    let mut ms = Vec::with_capacity(runs);
    let mut last = Value::Null;
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        last = client.get(path, q)?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    // The first run also pays for what the server then caches (decoded
    // series of new parts).
    let first = ms[0];
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    let result = last["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // What was answered, to compare stores: the number of samples and
    // their sum (instant vectors have `value`, range matrices `values`).
    let samples: Vec<f64> = result
        .iter()
        .flat_map(|r| {
            let one = r.get("value").into_iter();
            let many = r["values"].as_array().into_iter().flatten();
            one.chain(many)
                .filter_map(|v| v[1].as_str().and_then(|x| x.parse::<f64>().ok()))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(json!({
        "path": path, "query": q.0, "first_ms": first, "median_ms": pick(0.5),
        "p90_ms": pick(0.9), "result_series": result.len(),
        "result_samples": samples.len(), "result_sum": samples.iter().sum::<f64>()
    }))
}

fn end_ns(a: &SeriesArgs) -> u64 {
    a.end
        .map(|s| (s * 1e9) as u64)
        .unwrap_or_else(|| tael_core::time::now_ns() as u64)
}

pub fn run(a: &SeriesArgs) -> Result<Value, CliError> {
    let ns = |flag: &str, v: &str| {
        parse_duration_ns(v)
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n as u64)
            .ok_or_else(|| CliError::usage(format!("{flag}: invalid duration {v:?}")))
    };
    let (interval, duration) = (
        ns("--interval", &a.interval)?,
        ns("--duration", &a.duration)?,
    );
    let protocol = match a.protocol {
        SeriesProtocol::Otlp => "otlp",
        SeriesProtocol::RemoteWrite => "remote-write",
    };
    let mut report = json!({
        "protocol": protocol, "series": a.series, "interval": a.interval,
        "duration": a.duration, "concurrency": a.concurrency
    });
    if !a.skip_load {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::other(format!("cannot start the runtime: {e}")))?;
        let t0 = Instant::now();
        let points = rt.block_on(load(a, interval, duration))?;
        let secs = t0.elapsed().as_secs_f64();
        report["loaded_points"] = json!(points);
        report["load_points_per_s"] = json!(points as f64 / secs);
    }
    if a.skip_queries {
        return Ok(report);
    }
    let client = Client::new(&a.server)?;
    let now = a.at.unwrap_or_else(|| end_ns(a) as f64 / 1e9);
    report["at"] = json!(now);
    let instant = |q: &str| {
        let mut p = Params::new();
        p.push("query", q);
        p.push("time", format!("{now:.3}"));
        p
    };
    let range = |q: &str| {
        let mut p = Params::new();
        p.push("query", q);
        p.push("start", format!("{:.3}", now - 3600.0));
        p.push("end", format!("{now:.3}"));
        p.push("step", "15");
        p
    };
    report["results"] = json!([
        time_query(
            &client,
            "/api/v1/query",
            &instant("sum by (service) (rate(bench_requests_total[5m]))"),
            a.runs
        )?,
        time_query(
            &client,
            "/api/v1/query",
            &instant("bench_requests_total"),
            a.runs
        )?,
        time_query(
            &client,
            "/api/v1/query_range",
            &range("sum by (service) (rate(bench_requests_total{shard=\"0\"}[5m]))"),
            a.runs
        )?,
        time_query(
            &client,
            "/api/v1/query_range",
            &range("rate(bench_requests_total{shard=\"0\"}[5m])"),
            a.runs
        )?,
    ]);
    Ok(report)
}
