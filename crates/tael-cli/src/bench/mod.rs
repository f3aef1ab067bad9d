//! `tael bench ingest`: a load generator that sends realistic OTLP traffic
//! over gRPC or HTTP (protobuf or JSON, optional gzip) with batch,
//! concurrency and rate knobs, and reports items/s, latency percentiles and
//! errors as JSON.

mod encoded;
pub mod gen;
mod query;
mod series;

use crate::client::CliError;
use clap::{Args, Subcommand, ValueEnum};
use encoded::EncodedTraces;
use gen::Generator;
use prost::Message;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Send OTLP traffic to a running server and report throughput.
    Ingest(IngestArgs),
    /// Time the hot REST queries (trace by id, services, error traces, logs by trace id).
    Query {
        /// REST API URL.
        #[arg(long, default_value = "http://127.0.0.1:7701")]
        server: String,
        /// Runs per query.
        #[arg(long, default_value_t = 50)]
        runs: usize,
    },
    /// Backfill counter series and time PromQL instant and range queries.
    Series(series::SeriesArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum SignalArg {
    Traces,
    Logs,
    Metrics,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    #[arg(long, value_enum, default_value = "traces")]
    pub signal: SignalArg,
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: Protocol,
    /// Endpoint (default http://127.0.0.1:4317 for gRPC, http://127.0.0.1:4318 for HTTP).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Items (spans, log records, data points) per request.
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Total requests to send.
    #[arg(long, default_value_t = 200)]
    pub requests: u64,
    /// Stop after this long even if requests remain (e.g. 30s).
    #[arg(long)]
    pub duration: Option<String>,
    /// Target items per second overall (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Share of traces that contain an LLM span with 1–8 KiB prompt and completion.
    #[arg(long, default_value_t = 0.2)]
    pub llm_ratio: f64,
    /// LLM payloads: `distinct` (every prompt and completion sent is new,
    /// as in real traffic) or `reused` (the requests re-sent from each
    /// worker's pool keep theirs, so the server's blob store deduplicates
    /// them).
    #[arg(long, value_enum, default_value_t = PayloadMode::Distinct)]
    pub payloads: PayloadMode,
    /// Gzip request bodies.
    #[arg(long)]
    pub gzip: bool,
    /// With --protocol http: send OTLP/JSON instead of protobuf.
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Logs: link records to the first N traces of each worker of an
    /// earlier `--signal traces` run with the same --seed and --concurrency
    /// (0 = random trace ids).
    #[arg(long, default_value_t = 0)]
    pub link_traces: u64,
}

/// Whether re-sent requests carry new LLM payloads.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    Distinct,
    Reused,
}

/// How long a request is retried while the server asks to retry.
const RETRY_FOR: Duration = Duration::from_secs(30);
const RETRY_PAUSE: Duration = Duration::from_millis(10);
/// Generated requests kept per worker and refreshed for reuse.
const POOL: usize = 8;

pub fn run(cmd: &BenchCmd) -> Result<(), CliError> {
    match cmd {
        BenchCmd::Ingest(a) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| CliError::other(format!("cannot start the runtime: {e}")))?;
            let report = rt.block_on(ingest(a.clone()))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            Ok(())
        }
        BenchCmd::Series(a) => {
            let report = series::run(a)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            Ok(())
        }
        BenchCmd::Query { server, runs } => {
            let report = query::run(server, *runs)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            Ok(())
        }
    }
}

#[derive(Clone)]
enum Payload {
    /// Kept encoded: refreshed by patching (see [`encoded`]).
    Traces(EncodedTraces),
    Logs(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest),
    Metrics(opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest),
}

impl Payload {
    fn make(
        g: &mut Generator,
        signal: SignalArg,
        batch: usize,
    ) -> Result<(Payload, usize), CliError> {
        Ok(match signal {
            SignalArg::Traces => {
                let r = g.traces(batch);
                let n = gen::count_spans(&r);
                let enc = EncodedTraces::new(&r).map_err(CliError::other)?;
                (Payload::Traces(enc), n)
            }
            SignalArg::Logs => (Payload::Logs(g.logs(batch)), batch),
            SignalArg::Metrics => {
                let r = g.metrics(batch);
                let n = r
                    .resource_metrics
                    .iter()
                    .flat_map(|x| &x.scope_metrics)
                    .map(|x| x.metrics.len())
                    .sum();
                (Payload::Metrics(r), n)
            }
        })
    }

    fn protobuf(&self) -> Vec<u8> {
        match self {
            Payload::Traces(r) => r.bytes.clone(),
            Payload::Logs(r) => r.encode_to_vec(),
            Payload::Metrics(r) => r.encode_to_vec(),
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The OTLP/JSON encoding of a request.
/// The request as OTLP/JSON, written straight from its protobuf (the load
/// tool must not spend the cores the server it measures needs).
fn to_otlp_json(p: &Payload) -> Result<Vec<u8>, String> {
    use tael_core::otlp::json;
    match p {
        Payload::Traces(r) => json::traces_to_json(&r.bytes),
        Payload::Logs(r) => json::logs_to_json(&r.encode_to_vec()),
        Payload::Metrics(r) => json::metrics_to_json(&r.encode_to_vec()),
    }
    .map_err(|e| e.to_string())
}

async fn ingest(a: IngestArgs) -> Result<serde_json::Value, CliError> {
    if a.batch == 0 || a.concurrency == 0 {
        return Err(CliError::usage(
            "--batch and --concurrency must be at least 1",
        ));
    }
    let deadline = match &a.duration {
        Some(d) => Some(Duration::from_nanos(
            tael_core::duration::parse_duration_ns(d)
                .map_err(|e| CliError::usage(format!("--duration: {e}")))? as u64,
        )),
        None => None,
    };
    let endpoint = a.endpoint.clone().unwrap_or_else(|| match a.protocol {
        Protocol::Grpc => "http://127.0.0.1:4317".into(),
        Protocol::Http => "http://127.0.0.1:4318".into(),
    });
    let next = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(parking_lot_free::Slot::default());
    // Each worker's pool of requests is generated before the clock starts
    // (the load tool measures the server; on a shared machine, generating
    // inside the timed window took CPU from the server and held up the
    // runtime that drives the connections). Sending refreshes them.
    let per_worker = a.requests.div_ceil(a.concurrency as u64).min(POOL as u64) as usize;
    let mut prepared = Vec::with_capacity(a.concurrency);
    for w in 0..a.concurrency {
        let mut g = Generator::new(a.seed, w as u64, a.llm_ratio);
        g.link_traces = a.link_traces;
        g.link_workers = a.concurrency as u64;
        let mut pool: Vec<(Payload, usize, std::time::Instant)> = Vec::with_capacity(POOL);
        for _ in 0..per_worker {
            let (p, n) = Payload::make(&mut g, a.signal, a.batch)?;
            pool.push((p, n, std::time::Instant::now()));
        }
        prepared.push((g, pool));
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (mut g, mut pool) in prepared {
        let a = a.clone();
        let endpoint = endpoint.clone();
        let (next, items, bytes, errors, first_error) = (
            next.clone(),
            items.clone(),
            bytes.clone(),
            errors.clone(),
            first_error.clone(),
        );
        let retries = retries.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let http = reqwest::Client::new();
            let mut grpc_channel = None;
            let mut sent_by_me = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.requests || deadline.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                if a.rate > 0 {
                    let due = Duration::from_secs_f64(i as f64 * a.batch as f64 / a.rate as f64);
                    if let Some(wait) = due.checked_sub(start.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                // A small pool of generated requests per worker, refreshed
                // (new ids, later times) for reuse: the generator then costs
                // the server's machine little more than the encoding.
                let slot = sent_by_me % POOL;
                sent_by_me += 1;
                let now = std::time::Instant::now();
                if pool.len() <= slot {
                    match Payload::make(&mut g, a.signal, a.batch) {
                        Ok((p, n)) => pool.push((p, n, now)),
                        Err(e) => {
                            first_error.set(e.message);
                            errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                } else {
                    let (p, _, made) = &mut pool[slot];
                    let shift = now.duration_since(*made).as_nanos() as u64;
                    *made = now;
                    match p {
                        Payload::Traces(r) => {
                            g.refresh_traces(r, shift, a.payloads == PayloadMode::Distinct)
                        }
                        Payload::Logs(r) => g.refresh_logs(r, shift),
                        Payload::Metrics(r) => Generator::refresh_metrics(r, shift),
                    }
                }
                let (payload, n) = (&pool[slot].0, pool[slot].1);
                let t0 = Instant::now();
                let res: Result<usize, String> = match a.protocol {
                    Protocol::Grpc => {
                        if grpc_channel.is_none() {
                            match tonic::transport::Endpoint::from_shared(endpoint.clone()) {
                                Ok(e) => match e.connect().await {
                                    Ok(c) => grpc_channel = Some(c),
                                    Err(e) => {
                                        first_error.set(format!("connect {endpoint}: {e}"));
                                        errors.fetch_add(1, Ordering::Relaxed);
                                        continue;
                                    }
                                },
                                Err(e) => {
                                    first_error.set(format!("bad endpoint {endpoint}: {e}"));
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                        }
                        // Retry what the server asks to retry (as OTLP SDKs do).
                        loop {
                            match send_grpc(grpc_channel.clone(), payload, a.gzip).await {
                                Err(e)
                                    if e.starts_with("Unavailable") && t0.elapsed() < RETRY_FOR =>
                                {
                                    retries.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(RETRY_PAUSE).await;
                                }
                                other => break other,
                            }
                        }
                    }
                    Protocol::Http => loop {
                        match send_http(&http, &endpoint, payload, a.gzip, a.json).await {
                            Err(e)
                                if (e.starts_with("HTTP 503") || e.starts_with("HTTP 429"))
                                    && t0.elapsed() < RETRY_FOR =>
                            {
                                retries.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(RETRY_PAUSE).await;
                            }
                            other => break other,
                        }
                    },
                };
                match res {
                    Ok(sent) => {
                        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                        items.fetch_add(n as u64, Ordering::Relaxed);
                        bytes.fetch_add(sent as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        first_error.set(e);
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| CliError::other(e.to_string()))?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(|x, y| x.total_cmp(y));
    let items = items.load(Ordering::Relaxed);
    Ok(json!({
        "signal": format!("{:?}", a.signal).to_lowercase(),
        "protocol": format!("{:?}", a.protocol).to_lowercase(),
        "encoding": if a.protocol == Protocol::Http && a.json { "json" } else { "protobuf" },
        "gzip": a.gzip,
        "batch": a.batch,
        "concurrency": a.concurrency,
        "llm_ratio": a.llm_ratio,
        "payloads": format!("{:?}", a.payloads).to_lowercase(),
        "requests_ok": lat.len(),
        "errors": errors.load(Ordering::Relaxed),
        "retries": retries.load(Ordering::Relaxed),
        "first_error": first_error.get(),
        "items": items,
        "elapsed_s": elapsed,
        "items_per_sec": if elapsed > 0.0 { items as f64 / elapsed } else { 0.0 },
        "bytes_sent": bytes.load(Ordering::Relaxed),
        "latency_ms": {
            "p50": percentile(&lat, 0.50),
            "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99),
            "max": lat.last().copied().unwrap_or(0.0),
        },
    }))
}

async fn send_grpc(
    channel: Option<tonic::transport::Channel>,
    payload: &Payload,
    gzip: bool,
) -> Result<usize, String> {
    use tael_server::grpc::RawCodec;
    use tonic::codegen::http::uri::PathAndQuery;
    let channel = channel.ok_or("no channel")?;
    let body = bytes::Bytes::from(payload.protobuf());
    let size = body.len();
    let path = PathAndQuery::from_static(match payload {
        Payload::Traces(_) => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        Payload::Logs(_) => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        Payload::Metrics(_) => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    });
    let mut grpc = tonic::client::Grpc::new(channel);
    if gzip {
        grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    grpc.ready()
        .await
        .map_err(|e| format!("Unavailable: {e}"))?;
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|_| size)
        .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
}

async fn send_http(
    http: &reqwest::Client,
    endpoint: &str,
    payload: &Payload,
    gzip: bool,
    json: bool,
) -> Result<usize, String> {
    use std::io::Write;
    let path = match payload {
        Payload::Traces(_) => "/v1/traces",
        Payload::Logs(_) => "/v1/logs",
        Payload::Metrics(_) => "/v1/metrics",
    };
    let (mut body, ct) = if json {
        (to_otlp_json(payload)?, "application/json")
    } else {
        (payload.protobuf(), "application/x-protobuf")
    };
    let mut req = http
        .post(format!("{}{path}", endpoint.trim_end_matches('/')))
        .header("content-type", ct);
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).map_err(|e| e.to_string())?;
        body = enc.finish().map_err(|e| e.to_string())?;
        req = req.header("content-encoding", "gzip");
    }
    let size = body.len();
    let resp = req.body(body).send().await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(size)
    } else {
        let status = resp.status();
        Err(format!(
            "HTTP {status}: {}",
            resp.text().await.unwrap_or_default()
        ))
    }
}

/// A tiny "first error wins" slot.
mod parking_lot_free {
    use std::sync::Mutex;

    #[derive(Default)]
    pub struct Slot(Mutex<Option<String>>);

    impl Slot {
        pub fn set(&self, e: String) {
            if let Ok(mut g) = self.0.lock() {
                if g.is_none() {
                    *g = Some(e);
                }
            }
        }

        pub fn get(&self) -> Option<String> {
            self.0.lock().ok().and_then(|g| g.clone())
        }
    }
}
