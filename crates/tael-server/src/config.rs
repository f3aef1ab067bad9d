//! Server configuration: one struct ([`ServerConfig`]) that nests the
//! engine's and the local store's settings, with every default written
//! once (`EngineConfig::new`, `LocalStoreConfig::default`, and here for the
//! listeners), and one table of settings ([`SETTINGS`]) that reads it from
//! a TOML file, `TAEL_*` environment variables and command-line flags, in
//! that order (a flag beats the environment, which beats the file).
//!
//! Every setting has a file key (`memtable_bytes = "64MiB"`), an
//! environment variable (`TAEL_MEMTABLE_BYTES`) and a flag
//! (`--memtable-bytes`). Values are always strings in the same forms
//! (durations `30s`, sizes `64MiB`, addresses `host:port`); a file may also
//! give numbers and booleans. A bad value is never replaced by a default:
//! loading reports every bad value of every source at once, then the
//! rules that tie settings together ([`ServerConfig::validate`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tael_cluster::config::{parse_name, parse_url, parse_urls, RequiredAcks};
use tael_cluster::ClusterConfig;
use tael_core::duration::parse_duration_ns;
use tael_core::llm::prices::PriceTable;
use tael_query::LocalStoreConfig;
use tael_storage::budget::MemoryShares;
use tael_storage::EngineConfig;
use thiserror::Error;

/// Every problem found while loading (one line each).
#[derive(Debug, Error)]
#[error("invalid configuration: {}", .0.join("; "))]
pub struct ConfigError(pub Vec<String>);

impl ConfigError {
    pub fn one(message: impl Into<String>) -> ConfigError {
        ConfigError(vec![message.into()])
    }
}

/// What a node does. One binary serves every role; which one is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// Stores data in its own engine and answers from it (a single node,
    /// or one shard of several).
    Shard,
    /// No engine: answers every read route over the shards of
    /// `TAEL_SHARDS`, merging their answers; takes no writes.
    Query,
    /// No engine: splits every write by owner and forwards each share to
    /// its shard's leader (`tael_query::store::routing`); answers reads
    /// over the same shards as a query node does.
    Ingest,
}

impl NodeRole {
    pub fn parse(v: &str) -> Result<NodeRole, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "shard" => Ok(NodeRole::Shard),
            "query" => Ok(NodeRole::Query),
            "ingest" => Ok(NodeRole::Ingest),
            other => Err(format!(
                "unknown role {other:?}: expected shard, query or ingest"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeRole::Shard => "shard",
            NodeRole::Query => "query",
            NodeRole::Ingest => "ingest",
        }
    }
}

/// The shards a query or ingest node works over.
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// Each shard's replica REST URLs, in shard order (the routing hash
    /// numbers shards in this order).
    pub shards: Vec<Vec<String>>,
    /// With etcd instead of `shards`: shards `0..count` of the cluster,
    /// their replicas followed in etcd.
    pub shard_count: Option<u32>,
    /// Time one shard's answer may take.
    pub shard_timeout: Duration,
}

/// Parses `TAEL_SHARDS`: shards separated by `,`, each the REST URLs of
/// its replicas separated by `|`.
pub fn parse_shards(v: &str) -> Result<Vec<Vec<String>>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|shard| {
            shard
                .split('|')
                .map(|u| parse_url(u.trim()))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

/// Where the node listens.
#[derive(Debug, Clone)]
pub struct Listen {
    /// REST API (and OTLP/HTTP, remote-write, the Prometheus API).
    pub rest_api_addr: SocketAddr,
    /// OTLP gRPC.
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP on a port of its own; `None` serves it only on the REST
    /// listener.
    pub otlp_http_addr: Option<SocketAddr>,
}

/// Bounds of what ingest accepts.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Largest request body on the wire.
    pub max_request_bytes: usize,
    /// Largest request body after decompression (also the gRPC message
    /// limit).
    pub max_decompressed_bytes: usize,
    /// Export requests stored at once; more are answered 429 / UNAVAILABLE
    /// so that clients retry.
    pub max_inflight_requests: usize,
}

/// Settings of the REST API's own routes.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Time between heartbeats on the live streams.
    pub live_heartbeat: Duration,
    /// `Host` names `/mcp` accepts besides the loopback names and the
    /// bound address (for a server reached by a DNS name).
    pub mcp_allowed_hosts: Vec<String>,
}

/// Everything `tael serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub role: NodeRole,
    pub listen: Listen,
    pub ingest: IngestLimits,
    pub api: ApiSettings,
    /// The storage engine (data and WAL dirs, memtable, retention, blobs,
    /// attribute limits, prices).
    pub engine: EngineConfig,
    /// The local store (SQL limits, PromQL cache).
    pub store: LocalStoreConfig,
    /// Replication of the shard (off unless etcd endpoints are given).
    pub cluster: ClusterConfig,
    /// The shards of a query or ingest node.
    pub tier: TierConfig,
    /// Print the startup banner.
    pub banner: bool,
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl Default for ServerConfig {
    fn default() -> Self {
        let base = home_dir().join(".tael");
        let mut c = ServerConfig {
            role: NodeRole::Shard,
            listen: Listen {
                rest_api_addr: SocketAddr::from(([127, 0, 0, 1], 7701)),
                otlp_grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
                otlp_http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 4318))),
            },
            ingest: IngestLimits {
                max_request_bytes: 16 << 20,
                max_decompressed_bytes: 64 << 20,
                max_inflight_requests: 256,
            },
            api: ApiSettings {
                live_heartbeat: Duration::from_secs(15),
                mcp_allowed_hosts: Vec::new(),
            },
            engine: EngineConfig::new(base.join("data"), base.join("wal")),
            store: LocalStoreConfig::default(),
            cluster: ClusterConfig::default(),
            tier: TierConfig {
                shards: Vec::new(),
                shard_count: None,
                shard_timeout: Duration::from_secs(30),
            },
            banner: true,
        };
        c.divide_memory(|_| false);
        c
    }
}

/// Parses a socket address; `host:port` with a name such as `localhost` is
/// resolved.
pub fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    v.trim()
        .parse::<SocketAddr>()
        .ok()
        .or_else(|| v.trim().to_socket_addrs().ok().and_then(|mut a| a.next()))
        .ok_or_else(|| "not a host:port address".to_string())
}

/// An address, or `off`/`none`/`disabled` for no listener.
pub fn parse_optional_addr(v: &str) -> Result<Option<SocketAddr>, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "disabled" | "false" => Ok(None),
        _ => parse_addr(v).map(Some),
    }
}

/// A size: a whole number of bytes, or with a unit (`KiB`, `MiB`, `GiB`,
/// `TiB`; `k`, `m`, `g`, `t`, `kb` … mean the same powers of two).
pub fn parse_bytes(v: &str) -> Result<u64, String> {
    let bad = || "expected bytes such as 512MiB or 10GiB".to_string();
    let s = v.trim();
    let (num, mult) = match s.find(|c: char| !c.is_ascii_digit()) {
        None => (s, 1u64),
        Some(i) => {
            let mult = match s[i..].trim().to_ascii_lowercase().as_str() {
                "b" => 1,
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                "t" | "tb" | "tib" => 1 << 40,
                _ => return Err(bad()),
            };
            (&s[..i], mult)
        }
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

fn parse_size(v: &str) -> Result<usize, String> {
    parse_bytes(v).and_then(|b| usize::try_from(b).map_err(|_| "too large".to_string()))
}

fn parse_dur(v: &str) -> Result<Duration, String> {
    parse_duration_ns(v)
        .map(|ns| Duration::from_nanos(ns as u64))
        .map_err(|e| e.to_string())
}

fn parse_positive(v: &str) -> Result<usize, String> {
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "not a positive number".to_string())
}

/// A comma-separated list of host names (no ports, no schemes).
fn parse_hosts(v: &str) -> Result<Vec<String>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let ok = h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            match ok {
                true => Ok(h.to_ascii_lowercase()),
                false => Err(format!("{h:?} is not a host name")),
            }
        })
        .collect()
}

fn parse_prices(path: &str) -> Result<Arc<PriceTable>, String> {
    let text = std::fs::read_to_string(path.trim()).map_err(|e| e.to_string())?;
    PriceTable::builtin()
        .with_file(&text)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// One setting: its names in each source and how its value is applied.
pub struct Setting {
    /// The key in a config file; the flag is `--` and the key with `-`.
    pub key: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// What it means and its default (the `--help` text).
    pub doc: &'static str,
    apply: fn(&mut ServerConfig, &str) -> Result<(), String>,
}

impl Setting {
    /// The command-line flag (without the leading `--`).
    pub fn flag(&self) -> String {
        self.key.replace('_', "-")
    }
}

macro_rules! setting {
    ($key:literal, $env:literal, $doc:literal, |$c:ident, $v:ident| $body:expr) => {
        Setting {
            key: $key,
            env: $env,
            doc: $doc,
            apply: |$c: &mut ServerConfig, $v: &str| -> Result<(), String> {
                $body;
                Ok(())
            },
        }
    };
}

/// Every setting, in the order a source's values are applied (so an
/// alias comes before the setting it stands for).
pub const SETTINGS: &[Setting] = &[
    setting!("role", "TAEL_NODE_ROLE", "What this node does: shard (stores and answers), query (answers over TAEL_SHARDS) or ingest (routes writes to TAEL_SHARDS) [default: shard]",
        |c, v| c.role = NodeRole::parse(v)?),
    setting!("query_shards", "TAEL_QUERY_SHARDS", "tael 0.5's name of TAEL_SHARDS",
        |c, v| c.tier.shards = parse_shards(v)?),
    setting!("shards", "TAEL_SHARDS", "A query or ingest node's shards in order: comma-separated, each its replicas' REST URLs joined by | (http://a1:7701|http://a2:7701,http://b1:7701) [default: none]",
        |c, v| c.tier.shards = parse_shards(v)?),
    setting!("shard_count", "TAEL_SHARD_COUNT", "A query or ingest node with TAEL_ETCD_ENDPOINTS instead of TAEL_SHARDS: the cluster's shards are 0 to this count - 1, their replicas (leader first) followed in etcd [default: none]",
        |c, v| c.tier.shard_count = Some(u32::try_from(parse_positive(v)?).map_err(|_| "too many shards".to_string())?)),
    setting!("shard_timeout", "TAEL_SHARD_TIMEOUT", "Time a query or ingest node waits for one shard's answer; past it the answer is partial [default: 30s]",
        |c, v| c.tier.shard_timeout = parse_dur(v)?),
    setting!("rest_api_addr", "TAEL_REST_API_ADDR", "REST API listen address [default: 127.0.0.1:7701]",
        |c, v| c.listen.rest_api_addr = parse_addr(v)?),
    setting!("otlp_grpc_addr", "TAEL_OTLP_GRPC_ADDR", "OTLP gRPC listen address [default: 127.0.0.1:4317]",
        |c, v| c.listen.otlp_grpc_addr = parse_addr(v)?),
    setting!("otlp_http_addr", "TAEL_OTLP_HTTP_ADDR", "OTLP/HTTP listen address, or `off` (then only on the REST port) [default: 127.0.0.1:4318]",
        |c, v| c.listen.otlp_http_addr = parse_optional_addr(v)?),
    setting!("data_dir", "TAEL_DATA_DIR", "Data directory: parts, manifest, blobs, text index, comments [default: ~/.tael/data]",
        |c, v| c.engine.data_dir = PathBuf::from(v.trim())),
    setting!("object_store", "TAEL_OBJECT_STORE", "Shared durable tier for parts, blob packs, comments and the manifest: s3://bucket/prefix, gs://…, az://…, file:///path; credentials and endpoint from AWS_* (GOOGLE_*, AZURE_*); the data dir becomes its cache; the replicas of a shard share <prefix>/shards/<id>, written by the leader [default: none, the data dir holds everything]",
        |c, v| c.engine.backend = tael_storage::objects::Backend::from_url(v)?),
    setting!("cache_bytes", "TAEL_CACHE_BYTES", "With TAEL_OBJECT_STORE, on a single node: cap on the local copies of Parquet parts; the least recently used ones the store has are evicted and read back from it when needed [default: none]",
        |c, v| c.engine.cache_bytes = Some(parse_bytes(v)?)),
    setting!("wal_dir", "TAEL_WAL_DIR", "WAL directory [default: ~/.tael/wal, or <data-dir>/wal when only the data dir is given]",
        |c, v| c.engine.wal_dir = PathBuf::from(v.trim())),
    setting!("max_request_bytes", "TAEL_MAX_REQUEST_BYTES", "Largest request on the wire; 413 / RESOURCE_EXHAUSTED beyond [default: 16MiB]",
        |c, v| c.ingest.max_request_bytes = parse_size(v)?),
    setting!("max_decompressed_bytes", "TAEL_MAX_DECOMPRESSED_BYTES", "Largest request after gzip, also the gRPC message limit [default: 64MiB]",
        |c, v| c.ingest.max_decompressed_bytes = parse_size(v)?),
    setting!("max_inflight_requests", "TAEL_MAX_INFLIGHT_REQUESTS", "Export requests stored at once; more get 429 / UNAVAILABLE with Retry-After [default: 256]",
        |c, v| c.ingest.max_inflight_requests = parse_positive(v)?),
    setting!("memory_limit", "TAEL_MEMORY_LIMIT", "Memory the server keeps within: memtables, exports in flight, text indexing, caches and SQL each get a share, and exports are refused (503 / UNAVAILABLE, Retry-After) before one outgrows it [default: 512MiB]",
        |c, v| c.engine.memory.limit = parse_size(v)?),
    setting!("memtable_bytes", "TAEL_MEMTABLE_BYTES", "Unflushed data that triggers a flush to Parquet [default: a sixteenth of TAEL_MEMORY_LIMIT]",
        |c, v| c.engine.memtable_bytes = parse_size(v)?),
    setting!("flush_interval", "TAEL_FLUSH_INTERVAL", "Oldest unflushed data that triggers a flush [default: 30s]",
        |c, v| c.engine.flush_interval = parse_dur(v)?),
    setting!("trace_retention_days", "TAEL_TRACE_RETENTION_DAYS", "Span retention in whole days (tael 0.5's spelling of trace_retention)",
        |c, v| {
            let days: u64 = v.trim().parse().map_err(|_| "not a whole number of days".to_string())?;
            c.engine.span_retention = Duration::from_secs(days.saturating_mul(86_400));
        }),
    setting!("trace_retention", "TAEL_TRACE_RETENTION", "Age after which span hour partitions are dropped [default: 30d]",
        |c, v| c.engine.span_retention = parse_dur(v)?),
    setting!("log_retention", "TAEL_LOG_RETENTION", "Age after which log hour partitions are dropped [default: 30d]",
        |c, v| c.engine.log_retention = parse_dur(v)?),
    setting!("metric_retention", "TAEL_METRIC_RETENTION", "Age after which metric hour partitions are dropped [default: 30d]",
        |c, v| c.engine.metric_retention = parse_dur(v)?),
    setting!("max_disk_bytes", "TAEL_MAX_DISK_BYTES", "Cap on Parquet bytes; the oldest hour partitions go first [default: none]",
        |c, v| c.engine.max_disk_bytes = Some(parse_bytes(v)?)),
    setting!("max_attributes", "TAEL_MAX_ATTRIBUTES", "Attributes kept per item; the rest are counted as dropped [default: 1024]",
        |c, v| c.engine.map_limits.max_attributes = v.trim().parse().map_err(|_| "not a number".to_string())?),
    setting!("query_timeout", "TAEL_QUERY_TIMEOUT", "Time limit of a search or report (traces, logs, summary, anomalies, diff, topology …) [default: 30s]",
        |c, v| c.store.query_timeout = parse_dur(v)?),
    setting!("sql_timeout", "TAEL_SQL_TIMEOUT", "Time limit of one SQL query [default: 30s]",
        |c, v| c.store.sql.timeout = parse_dur(v)?),
    setting!("sql_max_concurrent", "TAEL_SQL_MAX_CONCURRENT", "SQL queries that may run at once; more get 429 [default: 2]",
        |c, v| c.store.sql.max_concurrent = parse_positive(v)?),
    setting!("sql_threads", "TAEL_SQL_THREADS", "Worker threads SQL runs on, apart from the rest of the server [default: the number of cores]",
        |c, v| c.store.sql.threads = parse_positive(v)?),
    setting!("sql_memory_limit", "TAEL_SQL_MEMORY_LIMIT", "Memory the SQL queries running at once may hold together for sorts, joins and aggregates [default: a quarter of TAEL_MEMORY_LIMIT]",
        |c, v| c.store.sql.memory_bytes = parse_size(v)?),
    setting!("sql_max_rows", "TAEL_SQL_MAX_ROWS", "Rows a SQL query returns at most; more are reported as truncated [default: 10000]",
        |c, v| c.store.sql.max_rows = parse_positive(v)?),
    setting!("promql_cache_bytes", "TAEL_PROMQL_CACHE_BYTES", "Decoded PromQL series kept from Parquet parts, 0 for none [default: a sixteenth of TAEL_MEMORY_LIMIT]",
        |c, v| c.store.promql_cache_bytes = parse_size(v)?),
    setting!("live_buffer", "TAEL_LIVE_BUFFER", "Events each live stream keeps for resuming with Last-Event-ID [default: 10000]",
        |c, v| c.store.live_buffer = parse_positive(v)?),
    setting!("live_heartbeat", "TAEL_LIVE_HEARTBEAT", "Time between heartbeats on the live streams [default: 15s]",
        |c, v| c.api.live_heartbeat = parse_dur(v)?),
    setting!("promql_max_concurrent", "TAEL_PROMQL_MAX_CONCURRENT", "PromQL queries evaluated at once; more get 429 [default: 4]",
        |c, v| c.store.promql_max_concurrent = parse_positive(v)?),
    setting!("mcp_allowed_hosts", "TAEL_MCP_ALLOWED_HOSTS", "Comma-separated Host names /mcp accepts besides loopback and the bound address [default: none]",
        |c, v| c.api.mcp_allowed_hosts = parse_hosts(v)?),
    setting!("prices_file", "TAEL_PRICES_FILE", "JSON file of LLM prices that override or extend the built-in table [default: none]",
        |c, v| c.engine.prices = parse_prices(v)?),
    setting!("blob_min_bytes", "TAEL_BLOB_MIN_BYTES", "LLM payloads and string log bodies this large go to the blob store [default: 1KiB]",
        |c, v| c.engine.blob_min_bytes = parse_size(v)?),
    setting!("payload_retention", "TAEL_PAYLOAD_RETENTION", "How long payload blobs are kept [default: 30d]",
        |c, v| c.engine.payload_retention = parse_dur(v)?),
    setting!("blob_grace", "TAEL_BLOB_GRACE", "Unreferenced blobs younger than this are never collected [default: 1h]",
        |c, v| c.engine.blob_grace = parse_dur(v)?),
    setting!("cluster", "TAEL_CLUSTER", "The cluster's name, the prefix of its etcd keys (/tael/<cluster>/) [default: tael]",
        |c, v| c.cluster.cluster = parse_name(v)?),
    setting!("shard_id", "TAEL_SHARD_ID", "The shard this replica belongs to [default: 0]",
        |c, v| c.cluster.shard_id = v.trim().parse().map_err(|_| "not a shard number".to_string())?),
    setting!("node_id", "TAEL_NODE_ID", "This replica's name, unique in its shard [default: the host name]",
        |c, v| c.cluster.node_id = parse_name(v)?),
    setting!("etcd_endpoints", "TAEL_ETCD_ENDPOINTS", "Comma-separated etcd client URLs; set, the replicas of a shard elect a leader there [default: none, a single node]",
        |c, v| c.cluster.etcd_endpoints = parse_urls(v)?),
    setting!("leader_lease", "TAEL_LEADER_LEASE", "The leader's etcd lease; a leader that cannot renew it stops acking before it lapses [default: 5s]",
        |c, v| c.cluster.leader_lease = parse_dur(v)?),
    setting!("cluster_token", "TAEL_CLUSTER_TOKEN", "Bearer token required on /internal/* (required when clustered, 16 characters or more) [default: none]",
        |c, v| c.cluster.token = Some(v.trim().to_string())),
    setting!("advertise_url", "TAEL_ADVERTISE_URL", "The REST URL other replicas and clients reach this node at [default: http:// and the bound REST address]",
        |c, v| c.cluster.advertise_url = Some(parse_url(v)?)),
    setting!("wal_required_acks", "TAEL_WAL_REQUIRED_ACKS", "Standbys that must have a write before the leader acks it: all, or a number (0: asynchronous) [default: all]",
        |c, v| c.cluster.required_acks = RequiredAcks::parse(v)?),
    setting!("wal_standbys", "TAEL_WAL_STANDBYS", "Static mode (no etcd), on the leader: comma-separated REST URLs of its standbys [default: none]",
        |c, v| c.cluster.wal_standbys = parse_urls(v)?),
    setting!("wal_leader", "TAEL_WAL_LEADER", "Static mode (no etcd), on a standby: the leader's REST URL [default: none]",
        |c, v| c.cluster.wal_leader = Some(parse_url(v)?)),
    setting!("wal_epoch", "TAEL_WAL_EPOCH", "Static mode: the leader's epoch; raise it when a standby is promoted [default: 1]",
        |c, v| c.cluster.wal_epoch = v.trim().parse().map_err(|_| "not an epoch number".to_string())?),
    setting!("blob_gc_interval", "TAEL_BLOB_GC_INTERVAL", "How often blob garbage collection runs [default: 10m]",
        |c, v| c.engine.blob_gc_interval = parse_dur(v)?),
];

/// The setting of a file key or flag name.
pub fn setting(key: &str) -> Option<&'static Setting> {
    let key = key.replace('-', "_");
    SETTINGS.iter().find(|s| s.key == key)
}

/// The environment variable naming a config file.
pub const CONFIG_FILE_ENV: &str = "TAEL_CONFIG";

/// Where configuration comes from, weakest first.
pub struct Sources<'a> {
    /// A TOML file's path and text (flat `key = value` pairs).
    pub file: Option<(&'a Path, &'a str)>,
    /// Looks up an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Flags given: (setting key or flag name, value).
    pub flags: Vec<(String, String)>,
}

/// The string form of a TOML value, for a setting's parser.
fn toml_text(v: &toml_edit::Item) -> Option<String> {
    let v = v.as_value()?;
    if let Some(s) = v.as_str() {
        return Some(s.to_string());
    }
    if let Some(i) = v.as_integer() {
        return Some(i.to_string());
    }
    if let Some(f) = v.as_float() {
        return Some(f.to_string());
    }
    v.as_bool().map(|b| b.to_string())
}

impl ServerConfig {
    /// Defaults overridden by `TAEL_*` environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(Sources {
            file: None,
            env: &|k| std::env::var(k).ok(),
            flags: Vec::new(),
        })
    }

    /// Defaults overridden by the given variable lookup (testable).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::load(Sources {
            file: None,
            env: &get,
            flags: Vec::new(),
        })
    }

    /// Defaults, then the file, then the environment, then the flags;
    /// every bad value of every source is reported.
    pub fn load(src: Sources<'_>) -> Result<Self, ConfigError> {
        let mut c = ServerConfig::default();
        let mut errors = Vec::new();
        // (source: 0 file, 1 env, 2 flags; the setting; the value; how an
        // error names it)
        let mut given: Vec<(u8, &'static Setting, String, String)> = Vec::new();
        if let Some((path, text)) = src.file {
            match text.parse::<toml_edit::DocumentMut>() {
                Err(e) => errors.push(format!("{}: not TOML: {e}", path.display())),
                Ok(doc) => {
                    for (key, item) in doc.iter() {
                        let at = format!("{} key {key}", path.display());
                        match (setting(key), toml_text(item)) {
                            (None, _) => errors.push(format!("{at}: no such setting")),
                            (Some(_), None) => {
                                errors.push(format!("{at}: expected a string, number or boolean"))
                            }
                            (Some(s), Some(v)) => given.push((0, s, v, at)),
                        }
                    }
                }
            }
        }
        for s in SETTINGS {
            if let Some(v) = (src.env)(s.env).filter(|v| !v.trim().is_empty()) {
                given.push((1, s, v, s.env.to_string()));
            }
        }
        for (name, v) in &src.flags {
            match setting(name.trim_start_matches('-')) {
                Some(s) => given.push((2, s, v.clone(), format!("--{}", s.flag()))),
                None => errors.push(format!("--{name}: no such setting")),
            }
        }
        // Weaker sources first; within one, settings in table order.
        let rank = |s: &Setting| SETTINGS.iter().position(|x| std::ptr::eq(x, s));
        given.sort_by_key(|g| (g.0, rank(g.1)));
        for (_, s, v, at) in &given {
            if let Err(e) = (s.apply)(&mut c, v) {
                errors.push(format!("{at}={v:?}: {e}"));
            }
        }
        // The WAL follows the data dir unless it is given itself.
        let set = |key: &str| given.iter().any(|g| g.1.key == key);
        if set("data_dir") && !set("wal_dir") {
            c.engine.wal_dir = c.engine.data_dir.join("wal");
        }
        c.divide_memory(set);
        errors.extend(c.problems());
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Divides the memory limit (`engine.memory.limit`) among its parts
    /// (`tael_storage::budget`): a part whose setting is not `fixed` gets
    /// its default share, and one that is fixed counts as what it takes.
    pub fn divide_memory(&mut self, fixed: impl Fn(&str) -> bool) {
        let e = &mut self.engine;
        let mut m = MemoryShares::of_limit(e.memory.limit, e.dedup_window);
        match fixed("memtable_bytes") {
            true => m.memtables = e.memtable_bytes.saturating_mul(3),
            false => e.memtable_bytes = m.flush_bytes(),
        }
        let s = &mut self.store;
        match fixed("promql_cache_bytes") {
            true => m.promql_cache = s.promql_cache_bytes,
            false => s.promql_cache_bytes = m.promql_cache,
        }
        match fixed("sql_memory_limit") {
            true => m.sql = s.sql.memory_bytes,
            false => s.sql.memory_bytes = m.sql,
        }
        e.memory = m;
    }

    /// Checks the rules that tie settings together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The rules of the query and ingest roles.
    fn tier_problems(&self, no_store: bool) -> Vec<String> {
        let mut out = Vec::new();
        let role = self.role.name();
        match self.role {
            NodeRole::Shard => {
                if !self.tier.shards.is_empty() || self.tier.shard_count.is_some() {
                    out.push("TAEL_SHARDS and TAEL_SHARD_COUNT are for query and ingest nodes: set TAEL_NODE_ROLE=query or ingest, or leave them out".into());
                }
            }
            NodeRole::Query | NodeRole::Ingest => {
                let etcd = !self.cluster.etcd_endpoints.is_empty();
                match (self.tier.shards.is_empty(), self.tier.shard_count, etcd) {
                    (false, None, false) | (true, Some(_), true) => {}
                    (false, Some(_), _) => out.push(format!("a {role} node takes its shards from TAEL_SHARDS or from etcd (TAEL_SHARD_COUNT), not both")),
                    (true, Some(_), false) => out.push(format!("TAEL_SHARD_COUNT makes a {role} node follow its shards in etcd: set TAEL_ETCD_ENDPOINTS too")),
                    (false, None, true) => out.push(format!("a {role} node with TAEL_ETCD_ENDPOINTS follows its shards there: set TAEL_SHARD_COUNT instead of TAEL_SHARDS")),
                    (true, None, _) => out.push(format!("a {role} node needs its shards: set TAEL_SHARDS (comma-separated shards, replicas joined by |), or TAEL_ETCD_ENDPOINTS and TAEL_SHARD_COUNT")),
                }
                if !no_store {
                    out.push(format!(
                        "a {role} node has no engine: TAEL_OBJECT_STORE applies to shards"
                    ));
                }
                if !self.cluster.wal_standbys.is_empty() || self.cluster.wal_leader.is_some() {
                    out.push(format!("a {role} node has no WAL: TAEL_WAL_STANDBYS and TAEL_WAL_LEADER apply to shards"));
                }
                if self.tier.shard_timeout.is_zero() {
                    out.push("TAEL_SHARD_TIMEOUT must be positive".into());
                }
            }
        }
        out
    }

    fn problems(&self) -> Vec<String> {
        let (e, s, i) = (&self.engine, &self.store, &self.ingest);
        let mut out = self.cluster.problems();
        let no_store = matches!(e.backend, tael_storage::objects::Backend::DataDir);
        if no_store && e.cache_bytes.is_some() {
            out.push(
                "TAEL_CACHE_BYTES caps the cache of an object store: set TAEL_OBJECT_STORE too"
                    .into(),
            );
        }
        if self.cluster.enabled() && e.cache_bytes.is_some() {
            out.push("TAEL_CACHE_BYTES applies to a single node: a replica keeps all its data in its data dir (its leader's copy in the object store changes hands at a failover)".into());
        }
        out.extend(e.memory.problem());
        out.extend(self.tier_problems(no_store));
        let mut check = |ok: bool, msg: &str| {
            if !ok {
                out.push(msg.to_string());
            }
        };
        check(
            i.max_request_bytes >= 1024,
            "TAEL_MAX_REQUEST_BYTES must be at least 1KiB",
        );
        check(
            i.max_decompressed_bytes >= i.max_request_bytes,
            "TAEL_MAX_DECOMPRESSED_BYTES must be at least TAEL_MAX_REQUEST_BYTES",
        );
        check(
            e.memtable_bytes >= 1 << 20,
            "TAEL_MEMTABLE_BYTES must be at least 1MiB",
        );
        check(
            !s.sql.timeout.is_zero(),
            "TAEL_SQL_TIMEOUT must be positive",
        );
        check(
            !s.query_timeout.is_zero(),
            "TAEL_QUERY_TIMEOUT must be positive",
        );
        check(
            s.sql.memory_bytes >= 1 << 20,
            "TAEL_SQL_MEMORY_LIMIT must be at least 1MiB",
        );
        check(
            e.blob_min_bytes >= 64,
            "TAEL_BLOB_MIN_BYTES must be at least 64 bytes",
        );
        check(
            !e.blob_gc_interval.is_zero(),
            "TAEL_BLOB_GC_INTERVAL must be positive",
        );
        check(
            !e.payload_retention.is_zero(),
            "TAEL_PAYLOAD_RETENTION must be positive",
        );
        check(
            e.map_limits.max_attributes > 0,
            "TAEL_MAX_ATTRIBUTES must be at least 1",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerConfig::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn env_overrides_and_errors() {
        let c = cfg(&[
            ("TAEL_REST_API_ADDR", "127.0.0.1:9000"),
            ("TAEL_OTLP_HTTP_ADDR", "off"),
            ("TAEL_MAX_DISK_BYTES", "2GiB"),
        ])
        .unwrap();
        assert_eq!(c.listen.rest_api_addr.port(), 9000);
        assert!(c.listen.otlp_http_addr.is_none());
        assert_eq!(c.engine.max_disk_bytes, Some(2 << 30));
        assert!(cfg(&[("TAEL_REST_API_ADDR", "nope")]).is_err());
        assert!(cfg(&[("TAEL_TRACE_RETENTION", "forever")]).is_err());
        assert!(cfg(&[("TAEL_MAX_DISK_BYTES", "12 parsecs")]).is_err());
        assert_eq!(
            cfg(&[("TAEL_TRACE_RETENTION_DAYS", "2")])
                .unwrap()
                .engine
                .span_retention,
            Duration::from_secs(172_800)
        );
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let err = cfg(&[
            ("TAEL_REST_API_ADDR", "nope"),
            ("TAEL_SQL_TIMEOUT", "soon"),
            ("TAEL_MEMTABLE_BYTES", "1KiB"),
            ("TAEL_NODE_ROLE", "router"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for want in [
            "TAEL_REST_API_ADDR=\"nope\"",
            "TAEL_SQL_TIMEOUT=\"soon\"",
            "TAEL_MEMTABLE_BYTES must be at least 1MiB",
            "TAEL_NODE_ROLE=\"router\": unknown role",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        assert_eq!(err.0.len(), 4, "{text}");
    }

    #[test]
    fn the_tiers_need_their_shards_and_only_they_take_them() {
        let c = cfg(&[
            ("TAEL_NODE_ROLE", "query"),
            ("TAEL_SHARDS", "http://a:7701|http://b:7701, http://c:7701"),
        ])
        .unwrap();
        assert_eq!(c.role, NodeRole::Query);
        assert_eq!(
            c.tier.shards,
            vec![
                vec!["http://a:7701".to_string(), "http://b:7701".to_string()],
                vec!["http://c:7701".to_string()]
            ]
        );
        let old = cfg(&[
            ("TAEL_NODE_ROLE", "ingest"),
            ("TAEL_QUERY_SHARDS", "http://a:7701"),
        ])
        .unwrap();
        assert_eq!(old.tier.shards.len(), 1);
        let refused = |vars: &[(&str, &str)], want: &str| {
            let text = cfg(vars).unwrap_err().to_string();
            assert!(text.contains(want), "{want} missing from {text}");
        };
        refused(
            &[("TAEL_NODE_ROLE", "query")],
            "a query node needs its shards",
        );
        refused(
            &[("TAEL_SHARDS", "http://a:7701")],
            "TAEL_SHARDS and TAEL_SHARD_COUNT are for query and ingest nodes",
        );
        refused(
            &[("TAEL_NODE_ROLE", "query"), ("TAEL_SHARD_COUNT", "2")],
            "set TAEL_ETCD_ENDPOINTS too",
        );
        refused(
            &[
                ("TAEL_NODE_ROLE", "ingest"),
                ("TAEL_SHARD_COUNT", "2"),
                ("TAEL_SHARDS", "http://a:7701"),
            ],
            "not both",
        );
        let followed = cfg(&[
            ("TAEL_NODE_ROLE", "ingest"),
            ("TAEL_SHARD_COUNT", "2"),
            ("TAEL_ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
            ("TAEL_CLUSTER_TOKEN", "0123456789abcdef0123"),
        ])
        .unwrap();
        assert_eq!(followed.tier.shard_count, Some(2));
        refused(
            &[("TAEL_NODE_ROLE", "ingest"), ("TAEL_SHARDS", "a:7701")],
            "TAEL_SHARDS=\"a:7701\"",
        );
        refused(
            &[
                ("TAEL_NODE_ROLE", "query"),
                ("TAEL_SHARDS", "http://a:7701"),
                ("TAEL_OBJECT_STORE", "file:///tmp/x"),
            ],
            "a query node has no engine",
        );
        // Replicas share an object store; a cache cap is for a single node.
        let replica = [
            ("TAEL_ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
            ("TAEL_CLUSTER_TOKEN", "0123456789abcdef0123"),
            ("TAEL_OBJECT_STORE", "file:///tmp/tael-config-test-store"),
        ];
        assert!(cfg(&replica).is_ok());
        let mut capped = replica.to_vec();
        capped.push(("TAEL_CACHE_BYTES", "1GiB"));
        refused(&capped, "TAEL_CACHE_BYTES applies to a single node");
    }

    #[test]
    fn flags_beat_env_which_beats_the_file() {
        let file = "memtable_bytes = \"8MiB\"\nsql_max_rows = 5\nflush_interval = \"5s\"\ndata_dir = \"/tmp/x\"\n";
        let env = |k: &str| match k {
            "TAEL_MEMTABLE_BYTES" => Some("16MiB".to_string()),
            "TAEL_SQL_MAX_ROWS" => Some("7".to_string()),
            _ => None,
        };
        let c = ServerConfig::load(Sources {
            file: Some((Path::new("tael.toml"), file)),
            env: &env,
            flags: vec![("memtable-bytes".into(), "32MiB".into())],
        })
        .unwrap();
        assert_eq!(c.engine.memtable_bytes, 32 << 20);
        assert_eq!(c.store.sql.max_rows, 7);
        assert_eq!(c.engine.flush_interval, Duration::from_secs(5));
        assert_eq!(c.engine.wal_dir, PathBuf::from("/tmp/x/wal"));
        let err = ServerConfig::load(Sources {
            file: Some((Path::new("tael.toml"), "memtable = 1\nsql_timeout = [1]\n")),
            env: &|_| None,
            flags: vec![("no-such-flag".into(), "1".into())],
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("tael.toml key memtable: no such setting"),
            "{err}"
        );
        assert!(
            err.contains("tael.toml key sql_timeout: expected a string"),
            "{err}"
        );
        assert!(err.contains("--no-such-flag: no such setting"), "{err}");
    }

    #[test]
    fn every_setting_has_distinct_names() {
        let mut keys = std::collections::HashSet::new();
        let mut envs = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(keys.insert(s.key), "{}", s.key);
            assert!(envs.insert(s.env), "{}", s.env);
            assert!(s.env.starts_with("TAEL_"));
            assert_eq!(setting(&s.flag()).map(|x| x.key), Some(s.key));
        }
    }

    #[test]
    fn the_memory_limit_is_divided_and_fixed_parts_must_fit() {
        let d = cfg(&[]).unwrap();
        assert_eq!(d.engine.memory.limit, 512 << 20);
        assert_eq!(d.engine.memtable_bytes, 32 << 20);
        assert_eq!(d.store.promql_cache_bytes, 32 << 20);
        assert_eq!(d.store.sql.memory_bytes, 128 << 20);
        let big = cfg(&[("TAEL_MEMORY_LIMIT", "1GiB")]).unwrap();
        assert_eq!(big.engine.memtable_bytes, 64 << 20);
        assert_eq!(big.engine.memory.memtables, 192 << 20);
        assert_eq!(big.store.sql.memory_bytes, 256 << 20);
        let fixed = cfg(&[
            ("TAEL_MEMORY_LIMIT", "1GiB"),
            ("TAEL_MEMTABLE_BYTES", "16MiB"),
        ])
        .unwrap();
        assert_eq!(fixed.engine.memtable_bytes, 16 << 20);
        assert_eq!(fixed.engine.memory.memtables, 48 << 20);
        let over = cfg(&[("TAEL_PROMQL_CACHE_BYTES", "1GiB")])
            .unwrap_err()
            .to_string();
        assert!(over.contains("promql_cache 1024 MiB"), "{over}");
        let small = cfg(&[("TAEL_MEMORY_LIMIT", "128MiB")])
            .unwrap_err()
            .to_string();
        assert!(small.contains("at least 256 MiB"), "{small}");
    }
}
