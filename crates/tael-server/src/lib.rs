//! tael-server: the server as a library. It opens the storage engine,
//! starts the maintenance thread, and serves OTLP gRPC, OTLP/HTTP and the
//! REST API. [`run`] is what `tael serve` calls (banner, logs, signals);
//! [`run_embedded`] is the quiet variant for programs that embed tael;
//! [`start`] returns a handle with the bound addresses (port 0 works).

pub mod analytics;
pub mod config;
pub mod error;
pub mod grpc;
pub mod ingest;
pub mod otlp_http;
pub mod prometheus;
pub mod remote_write;
pub mod rest;

pub use config::{ConfigError, ServerConfig};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tael_core::otlp::MapLimits;
use tael_storage::{Engine, EngineConfig, StorageError};
use thiserror::Error;
use tokio::sync::watch;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub ready: Arc<AtomicBool>,
    /// Bounds the export requests being stored at once (429 beyond).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
    /// Limits of every SQL query.
    pub sql_limits: tael_query::sql::SqlLimits,
}

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(String),
}

/// A running server.
pub struct RunningServer {
    pub rest_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    maintenance_stop: Arc<AtomicBool>,
    maintenance: Vec<std::thread::JoinHandle<()>>,
    _lock: std::fs::File,
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Opens storage and starts every listener; returns once they are bound.
/// Raises the soft limit on open files to the hard limit: the blob store
/// keeps every pack open, beside the client connections and Parquet parts.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                tracing::debug!(
                    from = lim.rlim_cur,
                    to = lim.rlim_max,
                    "raised the open files limit"
                );
            }
        }
    }
}

pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    raise_open_files_limit();
    let mut ec = EngineConfig::new(config.data_dir.clone(), config.wal_dir.clone());
    ec.memtable_bytes = config.memtable_bytes;
    ec.flush_interval = config.flush_interval;
    ec.span_retention = config.span_retention;
    ec.log_retention = config.log_retention;
    ec.metric_retention = config.metric_retention;
    ec.max_disk_bytes = config.max_disk_bytes;
    ec.blob_min_bytes = config.blob_min_bytes;
    ec.payload_retention = config.payload_retention;
    ec.blob_grace = config.blob_grace;
    ec.blob_gc_interval = config.blob_gc_interval;
    ec.map_limits = MapLimits {
        max_attributes: config.max_attributes,
    };
    tael_query::promql::set_series_cache_bytes(config.promql_cache_bytes);
    tael_core::llm::prices::install(config.prices.clone());
    let (engine, lock) = tokio::task::spawn_blocking(move || Engine::open(ec))
        .await
        .map_err(|e| ServerError::Serve(e.to_string()))??;
    let state = AppState {
        engine: engine.clone(),
        max_request_bytes: config.max_request_bytes,
        max_decompressed_bytes: config.max_decompressed_bytes,
        ready: Arc::new(AtomicBool::new(false)),
        ingest_permits: Arc::new(tokio::sync::Semaphore::new(config.max_inflight_requests)),
        sql_limits: tael_query::sql::SqlLimits {
            timeout: config.sql_timeout,
            memory_bytes: config.sql_memory_bytes,
            max_rows: config.sql_max_rows,
        },
    };
    let rest_listener = bind(config.rest_api_addr).await?;
    let grpc_listener = bind(config.otlp_grpc_addr).await?;
    let http_listener = match config.otlp_http_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let rest_addr = rest_listener
        .local_addr()
        .map_err(|e| ServerError::Serve(e.to_string()))?;
    let otlp_grpc_addr = grpc_listener
        .local_addr()
        .map_err(|e| ServerError::Serve(e.to_string()))?;
    let otlp_http_addr = http_listener.as_ref().and_then(|l| l.local_addr().ok());

    let (tx, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = Vec::new();
    let rest_app = rest::routes()
        .merge(otlp_http::routes())
        .with_state(state.clone());
    tasks.push(tokio::spawn({
        let shutdown = stopped(rx.clone());
        async move {
            axum::serve(rest_listener, rest_app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string())
        }
    }));
    if let Some(listener) = http_listener {
        let app = otlp_http::routes()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .with_state(state.clone());
        let shutdown = stopped(rx.clone());
        tasks.push(tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    tasks.push(tokio::spawn({
        let state = state.clone();
        let shutdown = stopped(rx.clone());
        async move {
            grpc::serve(state, grpc_listener, shutdown)
                .await
                .map_err(|e| e.to_string())
        }
    }));
    let maintenance_stop = Arc::new(AtomicBool::new(false));
    let maintenance = engine.spawn_maintenance(maintenance_stop.clone());
    state.ready.store(true, Ordering::Release);
    Ok(RunningServer {
        rest_addr,
        otlp_grpc_addr,
        otlp_http_addr,
        engine,
        shutdown: tx,
        tasks,
        maintenance_stop,
        maintenance,
        _lock: lock,
    })
}

impl RunningServer {
    /// Stops the listeners (draining in-flight requests), stops maintenance
    /// and flushes the memtable so the next start has nothing to replay.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        let mut first_err = None;
        for t in self.tasks.drain(..) {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => first_err = first_err.or(Some(e)),
                Err(e) => first_err = first_err.or(Some(e.to_string())),
            }
        }
        self.maintenance_stop.store(true, Ordering::Release);
        for m in self.maintenance.drain(..) {
            let _ = tokio::task::spawn_blocking(move || m.join()).await;
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.flush())
            .await
            .map_err(|e| ServerError::Serve(e.to_string()))??;
        match first_err {
            Some(e) => Err(ServerError::Serve(e)),
            None => Ok(()),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs until Ctrl-C or SIGTERM, printing a banner (and one JSON line with
/// the bound addresses, for scripts) when `config.banner` is set.
pub async fn run(config: ServerConfig) -> Result<(), ServerError> {
    let banner = config.banner;
    let data_dir = config.data_dir.clone();
    let wal_dir = config.wal_dir.clone();
    let server = start(config).await?;
    if banner {
        let http = server
            .otlp_http_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".into());
        println!(
            "{}",
            serde_json::json!({
                "event": "listening",
                "rest": server.rest_addr.to_string(),
                "otlp_grpc": server.otlp_grpc_addr.to_string(),
                "otlp_http": http,
                "data_dir": data_dir.display().to_string(),
                "wal_dir": wal_dir.display().to_string(),
                "version": env!("CARGO_PKG_VERSION"),
            })
        );
        println!("tael {} is running", env!("CARGO_PKG_VERSION"));
        println!("  REST API:   http://{}", server.rest_addr);
        println!("  OTLP gRPC:  http://{}", server.otlp_grpc_addr);
        println!("  OTLP/HTTP:  http://{http} (also on the REST port)");
        println!("  data: {}  wal: {}", data_dir.display(), wal_dir.display());
        println!("Send telemetry with:");
        println!(
            "  export OTEL_EXPORTER_OTLP_ENDPOINT=http://{}",
            server.otlp_grpc_addr
        );
        println!("  export OTEL_EXPORTER_OTLP_PROTOCOL=grpc");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

/// [`run`] without banner: for programs that embed the server.
pub async fn run_embedded(mut config: ServerConfig) -> Result<(), ServerError> {
    config.banner = false;
    run(config).await
}
