//! `tael bench series`: backfills realistic time series for PromQL
//! benchmarks — `--series` monotonic counters `bench.requests` (unit
//! `{request}`, so `bench_requests_total`), spread over 10 services and 10
//! shards (`shard` = series mod 10), one point per `--interval` over the
//! last `--duration`, sent over OTLP gRPC as cumulative sums; then times
//! PromQL through `/api/v1/query` and `/api/v1/query_range`.

use super::gen::{i, kv, s};
use crate::client::{CliError, Client};
use clap::Args;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{json, Value};
use std::time::Instant;
use tael_core::duration::parse_duration_ns;
use tael_query::params::Params;

#[derive(Args, Debug, Clone)]
pub struct SeriesArgs {
    /// OTLP gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    pub endpoint: String,
    /// REST API URL (for the query timings).
    #[arg(long, default_value = "http://127.0.0.1:7701")]
    pub server: String,
    #[arg(long, default_value_t = 10_000)]
    pub series: u64,
    #[arg(long, default_value = "15s")]
    pub interval: String,
    /// History to backfill, ending now.
    #[arg(long, default_value = "1h")]
    pub duration: String,
    /// Points per request.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Only time the queries (the data is already there).
    #[arg(long)]
    pub skip_load: bool,
    /// Runs per query.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Evaluation time of the queries (Unix seconds; default now): with
    /// `--skip-load`, the `at` an earlier load reported.
    #[arg(long)]
    pub at: Option<f64>,
}

fn request(points: Vec<(u64, pm::NumberDataPoint)>) -> ExportMetricsServiceRequest {
    let mut by_service: Vec<Vec<pm::NumberDataPoint>> = vec![Vec::new(); 10];
    for (series, p) in points {
        by_service[(series % 10) as usize].push(p);
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

async fn load(a: &SeriesArgs, interval_ns: u64, duration_ns: u64) -> Result<u64, CliError> {
    let mut client = MetricsServiceClient::connect(a.endpoint.clone())
        .await
        .map_err(|e| CliError::other(format!("cannot connect to {}: {e}", a.endpoint)))?
        .max_encoding_message_size(64 << 20);
    let now = tael_core::time::now_ns() as u64;
    let start = now - duration_ns;
    let steps = duration_ns / interval_ns;
    let mut sent = 0u64;
    let mut batch = Vec::with_capacity(a.batch);
    for step in 0..=steps {
        let t = start + step * interval_ns;
        for series in 0..a.series {
            // Each counter grows by a series-specific rate (1–10/s).
            let rate = 1 + series % 10;
            let value = (step * (interval_ns / 1_000_000_000) * rate) as i64;
            batch.push((
                series,
                pm::NumberDataPoint {
                    attributes: vec![
                        kv("series", i(series as i64)),
                        kv("shard", i((series % 10) as i64)),
                    ],
                    start_time_unix_nano: start,
                    time_unix_nano: t,
                    value: Some(pm::number_data_point::Value::AsInt(value)),
                    ..Default::default()
                },
            ));
            if batch.len() >= a.batch {
                sent += batch.len() as u64;
                send(&mut client, std::mem::take(&mut batch)).await?;
            }
        }
    }
    sent += batch.len() as u64;
    send(&mut client, batch).await?;
    Ok(sent)
}

async fn send(
    client: &mut MetricsServiceClient<tonic::transport::Channel>,
    batch: Vec<(u64, pm::NumberDataPoint)>,
) -> Result<(), CliError> {
    if batch.is_empty() {
        return Ok(());
    }
    let req = request(batch);
    for _ in 0..3000 {
        match client.export(req.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            Err(e) => return Err(CliError::other(format!("export failed: {e}"))),
        }
    }
    Err(CliError::other("the server kept asking to retry"))
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
    let series = last["data"]["result"].as_array().map(Vec::len).unwrap_or(0);
    Ok(json!({
        "path": path, "query": q.0, "first_ms": first, "median_ms": pick(0.5),
        "p90_ms": pick(0.9), "result_series": series
    }))
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
    let mut report = json!({ "series": a.series, "interval": a.interval, "duration": a.duration });
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
    let client = Client::new(&a.server)?;
    let now =
        a.at.unwrap_or_else(|| tael_core::time::now_ns() as f64 / 1e9);
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
