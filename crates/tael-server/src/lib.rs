//! tael-server: the server as a library. A [`Node`] is what a role needs
//! behind the front ends (for a shard: its engine, its maintenance threads,
//! and the [`LocalStore`] that is both its `Store` and its `Ingest`);
//! [`serve`] puts the front ends on listeners (OTLP gRPC, OTLP/HTTP, the
//! REST API with the Prometheus API and remote-write). [`start`] does both
//! from a [`ServerConfig`] and returns the bound addresses (port 0 works);
//! [`run`] is what `tael serve` calls (banner, signals); [`run_embedded`]
//! is the quiet variant for programs that embed tael.

pub mod analytics;
pub mod cluster;
pub mod config;
pub mod error;
pub mod grpc;
mod http_listener;
pub mod ingest;
pub mod internal;
pub mod jaeger;
pub mod live;
pub mod otlp_http;
pub mod partial;
pub mod prometheus;
pub mod remote_write;
pub mod rest;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod tier;

pub use config::{ConfigError, NodeRole, ServerConfig};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tael_query::{Ingest, LocalStore, Store};
use tael_storage::{Engine, StorageError};
use thiserror::Error;
use tokio::sync::watch;

/// The `Host` names `/mcp` accepts (its DNS-rebinding guard): the
/// loopback names, the address the REST API is bound to when it is
/// neither loopback nor a wildcard, and the configured extra names.
fn mcp_allowed_hosts(rest: std::net::SocketAddr, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(String::from)
        .collect();
    if !rest.ip().is_unspecified() && !rest.ip().is_loopback() {
        hosts.push(rest.ip().to_string());
    }
    hosts.extend(extra.iter().cloned());
    hosts
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// What the node reads from.
    pub store: Arc<dyn Store>,
    /// Where the node writes.
    pub ingest: Arc<dyn Ingest>,
    pub max_request_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub ready: Arc<AtomicBool>,
    /// Bounds the export requests being stored at once (429 beyond).
    pub ingest_permits: Arc<tokio::sync::Semaphore>,
    /// Time between heartbeats on the live streams.
    pub live_heartbeat: std::time::Duration,
    /// Becomes true when the server stops (ends the live streams).
    pub shutdown: watch::Receiver<bool>,
    /// The shard's replica (leadership, WAL shipping), when the node is one.
    pub cluster: Option<tael_cluster::Replica>,
    /// The bearer token `/internal/*` requires.
    pub cluster_token: Option<Arc<str>>,
}

impl AppState {
    /// The state of a node's front ends.
    pub fn new(node: &Node, limits: &config::IngestLimits) -> AppState {
        AppState {
            store: node.store.clone(),
            ingest: node.ingest.clone(),
            max_request_bytes: limits.max_request_bytes,
            max_decompressed_bytes: limits.max_decompressed_bytes,
            ready: Arc::new(AtomicBool::new(false)),
            ingest_permits: Arc::new(tokio::sync::Semaphore::new(limits.max_inflight_requests)),
            live_heartbeat: std::time::Duration::from_secs(15),
            shutdown: watch::channel(false).1,
            cluster: node.cluster.clone(),
            cluster_token: None,
        }
    }
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

/// What a node holds behind its front ends.
pub struct Node {
    pub role: NodeRole,
    pub store: Arc<dyn Store>,
    pub ingest: Arc<dyn Ingest>,
    /// The node's own engine (a shard has one).
    pub engine: Option<Arc<Engine>>,
    /// The shard's replica, when the node is one (its writes go through
    /// the leader gate).
    pub cluster: Option<tael_cluster::Replica>,
    maintenance_stop: Arc<AtomicBool>,
    maintenance: Vec<std::thread::JoinHandle<()>>,
    /// A query or ingest node's task following its shards in etcd.
    directory: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Builds the node of `config.role`: for a shard, opens the engine
    /// (replaying its WAL) and starts its maintenance threads.
    pub async fn build(config: &ServerConfig) -> Result<Node, ServerError> {
        config.validate()?;
        raise_open_files_limit();
        match config.role {
            NodeRole::Shard => {
                let fence_dir = config.engine.data_dir.join("cluster");
                let mut ec = config.engine.clone();
                let mut filled = None;
                if config.cluster.enabled() {
                    ec.backend = ec.backend.for_shard(config.cluster.shard_id);
                    let found = tael_cluster::bootstrap::fill_if_too_far_behind(
                        &config.cluster,
                        &ec,
                        &fence_dir,
                    )
                    .await;
                    filled = match found {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot fill this replica from its leader's copy; starting with what it has");
                            None
                        }
                    };
                    ec.wal_keep_through =
                        tael_cluster::membership::keep_through(&config.cluster, &fence_dir)
                            .await
                            .map_err(|e| ServerError::Serve(e.to_string()))?;
                }
                let engine = tokio::task::spawn_blocking(move || Engine::open(ec))
                    .await
                    .map_err(|e| ServerError::Serve(e.to_string()))??;
                let local = LocalStore::new(engine.clone(), config.store.clone())
                    .map_err(|e| ServerError::Serve(e.to_string()))?;
                let maintenance_stop = Arc::new(AtomicBool::new(false));
                let maintenance = engine.spawn_maintenance(maintenance_stop.clone());
                let mut ingest: Arc<dyn Ingest> = Arc::new(local.clone());
                let cluster = match config.cluster.enabled() {
                    false => None,
                    true => {
                        let replica = tael_cluster::Replica::open(
                            &config.cluster,
                            engine.clone(),
                            &fence_dir,
                        )
                        .map_err(|e| ServerError::Serve(e.to_string()))?
                        .with_filled(filled);
                        ingest = Arc::new(replica.gate(ingest));
                        Some(replica)
                    }
                };
                Ok(Node {
                    role: config.role,
                    store: Arc::new(local),
                    ingest,
                    engine: Some(engine),
                    cluster,
                    maintenance_stop,
                    maintenance,
                    directory: None,
                })
            }
            NodeRole::Query | NodeRole::Ingest => {
                let tier = tier::build(config)?;
                Ok(Node {
                    role: config.role,
                    store: tier.store,
                    ingest: tier.ingest,
                    engine: None,
                    cluster: None,
                    maintenance_stop: Arc::new(AtomicBool::new(false)),
                    maintenance: Vec::new(),
                    directory: tier.directory,
                })
            }
        }
    }

    /// Stops maintenance, flushes the memtable and gives back the WAL's
    /// spare segments, so the next start has nothing to replay.
    async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(d) = self.directory.take() {
            d.abort();
        }
        if let Some(c) = &self.cluster {
            c.stop().await;
        }
        self.maintenance_stop.store(true, Ordering::Release);
        for m in self.maintenance.drain(..) {
            let _ = tokio::task::spawn_blocking(move || m.join()).await;
        }
        if let Some(engine) = self.engine.take() {
            tokio::task::spawn_blocking(move || engine.close())
                .await
                .map_err(|e| ServerError::Serve(e.to_string()))??;
        }
        Ok(())
    }
}

/// The listeners of the front ends, bound.
pub struct Listeners {
    pub rest: tokio::net::TcpListener,
    pub otlp_grpc: tokio::net::TcpListener,
    pub otlp_http: Option<tokio::net::TcpListener>,
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

impl Listeners {
    /// Binds the addresses of `listen`.
    pub async fn bind(listen: &config::Listen) -> Result<Listeners, ServerError> {
        Ok(Listeners {
            rest: bind(listen.rest_api_addr).await?,
            otlp_grpc: bind(listen.otlp_grpc_addr).await?,
            otlp_http: match listen.otlp_http_addr {
                Some(a) => Some(bind(a).await?),
                None => None,
            },
        })
    }
}

/// A running server.
pub struct RunningServer {
    pub rest_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: Option<SocketAddr>,
    /// The node's engine, when it has one.
    pub engine: Option<Arc<Engine>>,
    /// What the front ends read from.
    pub store: Arc<dyn Store>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
    node: Node,
}

/// Serves `node` on `listeners` with the front-end settings of `config`
/// until [`RunningServer::shutdown`].
pub async fn serve(
    node: Node,
    listeners: Listeners,
    config: &ServerConfig,
) -> Result<RunningServer, ServerError> {
    let (tx, rx) = watch::channel(false);
    let mut state = AppState::new(&node, &config.ingest);
    state.live_heartbeat = config.api.live_heartbeat;
    state.shutdown = rx.clone();
    state.cluster_token = config.cluster.token.as_deref().map(Arc::from);
    let local_addr = |l: &tokio::net::TcpListener| {
        l.local_addr()
            .map_err(|e| ServerError::Serve(e.to_string()))
    };
    let rest_addr = local_addr(&listeners.rest)?;
    let otlp_grpc_addr = local_addr(&listeners.otlp_grpc)?;
    let otlp_http_addr = match &listeners.otlp_http {
        Some(l) => Some(local_addr(l)?),
        None => None,
    };
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let mut tasks = Vec::new();
    let http = |app: axum::Router, listener: tokio::net::TcpListener| {
        let shutdown = stopped(rx.clone());
        tokio::spawn(async move {
            axum::serve(http_listener::JsonErrorListener(listener), app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(|e| e.to_string())
        })
    };
    let mcp = tael_mcp::http_service(
        tael_mcp::LocalBackend {
            store: state.store.clone(),
            ingest: state.ingest.clone(),
        },
        mcp_allowed_hosts(rest_addr, &config.api.mcp_allowed_hosts),
    );
    tasks.push(http(
        rest::routes()
            .merge(otlp_http::routes())
            .merge(live::routes())
            .merge(cluster::routes())
            .merge(internal::routes())
            .with_state(state.clone())
            .nest_service("/mcp", mcp)
            .layer(axum::middleware::from_fn(partial::mark_partial))
            .layer(axum::middleware::from_fn(error::limit_header_bytes))
            .layer(axum::middleware::map_response(error::json_errors)),
        listeners.rest,
    ));
    if let Some(listener) = listeners.otlp_http {
        let app = otlp_http::routes()
            .route("/healthz", axum::routing::get(rest::healthz))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn(error::limit_header_bytes))
            .layer(axum::middleware::map_response(error::json_errors));
        tasks.push(http(app, listener));
    }
    tasks.push(tokio::spawn({
        let state = state.clone();
        let shutdown = stopped(rx.clone());
        async move {
            grpc::serve(state, listeners.otlp_grpc, shutdown)
                .await
                .map_err(|e| e.to_string())
        }
    }));
    if let Some(c) = &node.cluster {
        c.start(&format!("http://{rest_addr}"))
            .map_err(|e| ServerError::Serve(e.to_string()))?;
    }
    state.ready.store(true, Ordering::Release);
    Ok(RunningServer {
        rest_addr,
        otlp_grpc_addr,
        otlp_http_addr,
        engine: node.engine.clone(),
        store: node.store.clone(),
        shutdown: tx,
        tasks,
        node,
    })
}

/// Builds the node of `config`, binds its listeners and serves it;
/// returns once they are bound.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let node = Node::build(&config).await?;
    let listeners = Listeners::bind(&config.listen).await?;
    serve(node, listeners, &config).await
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
        drop(self.engine.take());
        self.node.stop().await?;
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
    let data_dir = config.engine.data_dir.clone();
    let wal_dir = config.engine.wal_dir.clone();
    let object_store = match &config.engine.backend {
        tael_storage::objects::Backend::Store { url, .. } => Some(url.clone()),
        tael_storage::objects::Backend::DataDir => None,
    };
    let role = config.role;
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
                "role": role.name(),
                "rest": server.rest_addr.to_string(),
                "otlp_grpc": server.otlp_grpc_addr.to_string(),
                "otlp_http": http,
                "data_dir": data_dir.display().to_string(),
                "wal_dir": wal_dir.display().to_string(),
                "object_store": object_store,
                "version": env!("CARGO_PKG_VERSION"),
            })
        );
        println!("tael {} is running", env!("CARGO_PKG_VERSION"));
        println!("  REST API:   http://{}", server.rest_addr);
        println!("  OTLP gRPC:  http://{}", server.otlp_grpc_addr);
        println!("  OTLP/HTTP:  http://{http} (also on the REST port)");
        println!("  data: {}  wal: {}", data_dir.display(), wal_dir.display());
        if let Some(url) = &object_store {
            println!("  object store: {url} (the data dir is its cache)");
        }
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
