//! Starting the real `tael` binary on ephemeral ports, and clients for it
//! (the typed REST client of `tael-client`, raw where a test checks the
//! exact answer).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tael_client::BlockingClient;
use tael_query::api::Method;
use tael_query::params::Params;

pub const BIN: &str = env!("CARGO_BIN_EXE_tael");

/// `tael serve` on a data dir, every listener on port 0.
pub fn serve_args(data_dir: &Path) -> Vec<String> {
    serve_args_on(data_dir, "127.0.0.1:0")
}

/// `tael serve` on a data dir, the REST API on `rest`, the others on port 0.
pub fn serve_args_on(data_dir: &Path, rest: &str) -> Vec<String> {
    [
        "serve",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--rest-api-addr",
        rest,
        "--otlp-grpc-addr",
        "127.0.0.1:0",
        "--otlp-http-addr",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec()
}

pub struct Server {
    pub child: Child,
    pub rest: String,
    pub grpc: String,
    pub http: String,
    /// The REST API's typed client.
    pub client: BlockingClient,
    /// Raw posts to the REST and OTLP/HTTP listeners, a connection each
    /// (bad-input tests send bodies the server refuses unread).
    raw_rest: BlockingClient,
    raw_otlp_http: BlockingClient,
}

impl Server {
    /// Starts `tael serve` on port 0 with a data dir and extra env vars.
    /// (The child is waited for by `Drop`, which clippy cannot see.)
    #[allow(clippy::zombie_processes)]
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_on(data_dir, "127.0.0.1:0", env)
    }

    /// [`Server::start`] with the REST API on `rest`.
    #[allow(clippy::zombie_processes)]
    pub fn start_on(data_dir: &Path, rest: &str, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(serve_args_on(data_dir, rest))
            .env_remove("TAEL_WAL_DIR")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tael serve");
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader.read_line(&mut line).expect("read server stdout");
            assert!(n > 0, "server exited before listening");
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["event"] == "listening" {
                    // Keep draining stdout so the server never blocks on it.
                    std::thread::spawn(move || {
                        let mut sink = String::new();
                        while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                            sink.clear();
                        }
                    });
                    let rest = format!("http://{}", v["rest"].as_str().unwrap());
                    let http = format!("http://{}", v["otlp_http"].as_str().unwrap());
                    return Server {
                        child,
                        client: BlockingClient::new(&rest).unwrap(),
                        raw_rest: BlockingClient::unpooled(&rest).unwrap(),
                        raw_otlp_http: BlockingClient::unpooled(&http).unwrap(),
                        rest,
                        grpc: format!("http://{}", v["otlp_grpc"].as_str().unwrap()),
                        http,
                    };
                }
            }
            assert!(Instant::now() < deadline, "server did not start");
        }
    }

    /// `GET` of a REST path (with its query string): the status and the
    /// body as JSON (a JSON string when it is not JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .send(Method::Get, path, &Params::new(), None)
            .expect("GET");
        (r.status, r.json())
    }

    /// `POST` of raw bytes to the REST (`self.rest`) or OTLP/HTTP
    /// (`self.http`) listener.
    pub fn post(
        &self,
        base: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let client = match base {
            b if b == self.http => &self.raw_otlp_http,
            b if b == self.rest => &self.raw_rest,
            other => panic!("no listener at {other}"),
        };
        let r = client.post_bytes(path, headers, body).expect("POST");
        (r.status, r.headers, r.body.to_vec())
    }

    pub fn healthy(&self) -> bool {
        self.client
            .send(Method::Get, "/healthz", &Params::new(), None)
            .is_ok_and(|r| r.status == 200)
    }

    /// Stops the server gracefully (SIGTERM) and waits for it.
    pub fn stop(mut self) {
        send_signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("server did not stop on SIGTERM");
    }

    /// Kills the server with SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal with the `kill` command (no libc dependency).
pub fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn grpc_traces(
    endpoint: &str,
    req: ExportTraceServiceRequest,
    gzip: bool,
) -> Result<i64, tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    runtime().block_on(async {
        let mut c = TraceServiceClient::connect(endpoint.to_string())
            .await
            .map_err(|e| tonic::Status::unavailable(format!("connect {endpoint}: {e}")))?;
        if gzip {
            c = c.send_compressed(tonic::codec::CompressionEncoding::Gzip);
        }
        let r = c.export(req).await?.into_inner();
        Ok(r.partial_success.map(|p| p.rejected_spans).unwrap_or(0))
    })
}

pub fn grpc_logs(endpoint: &str, req: ExportLogsServiceRequest) -> Result<i64, tonic::Status> {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    runtime().block_on(async {
        let mut c = LogsServiceClient::connect(endpoint.to_string())
            .await
            .expect("connect");
        let r = c.export(req).await?.into_inner();
        Ok(r.partial_success
            .map(|p| p.rejected_log_records)
            .unwrap_or(0))
    })
}

pub fn grpc_metrics(
    endpoint: &str,
    req: ExportMetricsServiceRequest,
) -> Result<i64, tonic::Status> {
    use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
    runtime().block_on(async {
        let mut c = MetricsServiceClient::connect(endpoint.to_string())
            .await
            .expect("connect");
        let r = c.export(req).await?.into_inner();
        Ok(r.partial_success
            .map(|p| p.rejected_data_points)
            .unwrap_or(0))
    })
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Runs the `tael` CLI; returns (exit code, stdout, stderr).
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("TAEL_SERVER");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tael");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs the `tael` CLI, which must exit 0, and parses what it printed as
/// JSON.
#[track_caller]
pub fn cli_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let (code, out, err) = cli(args, env);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Polls until `f` returns true or the timeout passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// The package directory the tests run in (cargo and nextest set it), not
/// the one they were built in: a shared target directory reuses a test
/// binary built in another checkout of the same sources.
pub fn package_dir() -> String {
    std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string())
}

/// Runs a Python client of `tests/python/` (its packages are in
/// requirements.txt), which must exit 0, and parses the JSON report it
/// prints.
#[track_caller]
pub fn python_script(script: &str, args: &[&str]) -> Value {
    let path = format!("{}/tests/python/{script}", package_dir());
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("run python3 (see tests/python/requirements.txt)");
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("client report")
}

/// A loopback port free now, for a server whose address others must know
/// before it starts. Taken below the kernel's ephemeral range
/// (`ip_local_port_range`, 32768–60999 by default), so that no outgoing
/// connection can be given it as its source port before the server binds.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..1000 {
        let n = seed.wrapping_add(NEXT.fetch_add(7_919, Ordering::Relaxed));
        let port = 20_000 + (n % 12_768) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below the ephemeral range");
}
