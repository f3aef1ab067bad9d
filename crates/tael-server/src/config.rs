//! Server configuration: one struct with defaults, filled from flags > env
//! (`TAEL_*`) > defaults. Bad values are startup errors, never silent
//! fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tael_core::duration::parse_duration_ns;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Everything `tael serve` can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// OTLP gRPC listener (`TAEL_OTLP_GRPC_ADDR`, default 127.0.0.1:4317).
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP listener (`TAEL_OTLP_HTTP_ADDR`, default 127.0.0.1:4318);
    /// `None` (value `off`) serves OTLP/HTTP only on the REST listener.
    pub otlp_http_addr: Option<SocketAddr>,
    /// REST API listener (`TAEL_REST_API_ADDR`, default 127.0.0.1:7701).
    pub rest_api_addr: SocketAddr,
    /// `TAEL_DATA_DIR`, default `~/.tael/data`.
    pub data_dir: PathBuf,
    /// `TAEL_WAL_DIR`, default `<data_dir>/../wal` (`~/.tael/wal`).
    pub wal_dir: PathBuf,
    /// Largest request body on the wire (`TAEL_MAX_REQUEST_BYTES`, 16 MiB).
    pub max_request_bytes: usize,
    /// Largest request body after decompression (`TAEL_MAX_DECOMPRESSED_BYTES`, 64 MiB).
    pub max_decompressed_bytes: usize,
    /// Memtable bytes that trigger a flush (`TAEL_MEMTABLE_BYTES`, 64 MiB).
    pub memtable_bytes: usize,
    /// Oldest unflushed data age that triggers a flush (`TAEL_FLUSH_INTERVAL`, 30s).
    pub flush_interval: Duration,
    /// Retention per signal (`TAEL_TRACE_RETENTION`, `TAEL_LOG_RETENTION`,
    /// `TAEL_METRIC_RETENTION`; default 30d; `TAEL_TRACE_RETENTION_DAYS` as in tael 0.5).
    pub span_retention: Duration,
    pub log_retention: Duration,
    pub metric_retention: Duration,
    /// Total disk cap for parts (`TAEL_MAX_DISK_BYTES`, unset = none).
    pub max_disk_bytes: Option<u64>,
    /// Attributes kept per item (`TAEL_MAX_ATTRIBUTES`, 1024).
    pub max_attributes: usize,
    /// Export requests stored at once (`TAEL_MAX_INFLIGHT_REQUESTS`, 256);
    /// more are answered 429 / UNAVAILABLE so that clients retry.
    pub max_inflight_requests: usize,
    /// SQL query time limit (`TAEL_SQL_TIMEOUT`, 30s).
    pub sql_timeout: Duration,
    /// Memory a SQL query may hold (`TAEL_SQL_MEMORY_LIMIT`, 512 MiB).
    pub sql_memory_bytes: usize,
    /// Rows a SQL query returns at most (`TAEL_SQL_MAX_ROWS`, 10000); more
    /// are reported as `truncated`.
    pub sql_max_rows: usize,
    /// Bytes of decoded PromQL series kept from Parquet parts
    /// (`TAEL_PROMQL_CACHE_BYTES`, 256 MiB; 0 = no cache).
    pub promql_cache_bytes: usize,
    /// The LLM price table: the built-in one, with the entries of the JSON
    /// file `TAEL_PRICES_FILE` applied (see `tael_core::llm::prices`).
    pub prices: tael_core::llm::prices::PriceTable,
    /// LLM payloads and string log bodies of at least this many bytes go to
    /// the blob store (`TAEL_BLOB_MIN_BYTES`, 1KiB; at least 64 bytes).
    pub blob_min_bytes: usize,
    /// How long payloads are kept (`TAEL_PAYLOAD_RETENTION`, 30d; may be
    /// shorter than the span retention).
    pub payload_retention: Duration,
    /// Unreferenced blobs younger than this are kept (`TAEL_BLOB_GRACE`, 1h).
    pub blob_grace: Duration,
    /// How often blob garbage collection runs (`TAEL_BLOB_GC_INTERVAL`, 10m).
    pub blob_gc_interval: Duration,
    /// Print the startup banner and install a log subscriber.
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
        let day = Duration::from_secs(86_400);
        ServerConfig {
            otlp_grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            otlp_http_addr: Some(SocketAddr::from(([127, 0, 0, 1], 4318))),
            rest_api_addr: SocketAddr::from(([127, 0, 0, 1], 7701)),
            data_dir: base.join("data"),
            wal_dir: base.join("wal"),
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            memtable_bytes: 64 << 20,
            flush_interval: Duration::from_secs(30),
            span_retention: day * 30,
            log_retention: day * 30,
            metric_retention: day * 30,
            max_disk_bytes: None,
            max_attributes: 1024,
            max_inflight_requests: 256,
            sql_timeout: Duration::from_secs(30),
            sql_memory_bytes: 512 << 20,
            sql_max_rows: 10_000,
            promql_cache_bytes: 256 << 20,
            prices: tael_core::llm::prices::PriceTable::builtin(),
            blob_min_bytes: 1024,
            payload_retention: day * 30,
            blob_grace: Duration::from_secs(3600),
            blob_gc_interval: Duration::from_secs(600),
            banner: true,
        }
    }
}

/// Parses a socket address; `host:port` with a name such as `localhost` is
/// resolved.
pub fn parse_addr(name: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    use std::net::ToSocketAddrs;
    v.parse::<SocketAddr>()
        .ok()
        .or_else(|| v.to_socket_addrs().ok().and_then(|mut a| a.next()))
        .ok_or_else(|| ConfigError(format!("{name}={v:?} is not a host:port address")))
}

fn parse_bytes(name: &str, v: &str) -> Result<u64, ConfigError> {
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
                _ => {
                    return Err(ConfigError(format!(
                        "{name}={v:?}: expected bytes such as 512MiB or 10GiB"
                    )))
                }
            };
            (&s[..i], mult)
        }
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name}={v:?}: expected bytes such as 512MiB or 10GiB"
            ))
        })
}

fn parse_dur(name: &str, v: &str) -> Result<Duration, ConfigError> {
    parse_duration_ns(v)
        .map(|ns| Duration::from_nanos(ns as u64))
        .map_err(|e| ConfigError(format!("{name}: {e}")))
}

impl ServerConfig {
    /// Defaults overridden by `TAEL_*` environment variables.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Defaults overridden by the given variable lookup (testable).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = ServerConfig::default();
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("TAEL_OTLP_GRPC_ADDR") {
            c.otlp_grpc_addr = parse_addr("TAEL_OTLP_GRPC_ADDR", &v)?;
        }
        if let Some(v) = var("TAEL_OTLP_HTTP_ADDR") {
            c.otlp_http_addr = parse_optional_addr("TAEL_OTLP_HTTP_ADDR", &v)?;
        }
        if let Some(v) = var("TAEL_REST_API_ADDR") {
            c.rest_api_addr = parse_addr("TAEL_REST_API_ADDR", &v)?;
        }
        if let Some(v) = var("TAEL_DATA_DIR") {
            c.data_dir = PathBuf::from(v);
            c.wal_dir = c.data_dir.join("wal");
        }
        if let Some(v) = var("TAEL_WAL_DIR") {
            c.wal_dir = PathBuf::from(v);
        }
        if let Some(v) = var("TAEL_MAX_REQUEST_BYTES") {
            c.max_request_bytes = parse_bytes("TAEL_MAX_REQUEST_BYTES", &v)? as usize;
        }
        if let Some(v) = var("TAEL_MAX_DECOMPRESSED_BYTES") {
            c.max_decompressed_bytes = parse_bytes("TAEL_MAX_DECOMPRESSED_BYTES", &v)? as usize;
        }
        if let Some(v) = var("TAEL_MEMTABLE_BYTES") {
            c.memtable_bytes = parse_bytes("TAEL_MEMTABLE_BYTES", &v)? as usize;
        }
        if let Some(v) = var("TAEL_FLUSH_INTERVAL") {
            c.flush_interval = parse_dur("TAEL_FLUSH_INTERVAL", &v)?;
        }
        if let Some(v) = var("TAEL_TRACE_RETENTION_DAYS") {
            let days: u64 = v.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "TAEL_TRACE_RETENTION_DAYS={v:?} is not a whole number of days"
                ))
            })?;
            c.span_retention = Duration::from_secs(days * 86_400);
        }
        if let Some(v) = var("TAEL_TRACE_RETENTION") {
            c.span_retention = parse_dur("TAEL_TRACE_RETENTION", &v)?;
        }
        if let Some(v) = var("TAEL_LOG_RETENTION") {
            c.log_retention = parse_dur("TAEL_LOG_RETENTION", &v)?;
        }
        if let Some(v) = var("TAEL_METRIC_RETENTION") {
            c.metric_retention = parse_dur("TAEL_METRIC_RETENTION", &v)?;
        }
        if let Some(v) = var("TAEL_MAX_DISK_BYTES") {
            c.max_disk_bytes = Some(parse_bytes("TAEL_MAX_DISK_BYTES", &v)?);
        }
        if let Some(v) = var("TAEL_MAX_ATTRIBUTES") {
            c.max_attributes = v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("TAEL_MAX_ATTRIBUTES={v:?} is not a number")))?;
        }
        if let Some(v) = var("TAEL_MAX_INFLIGHT_REQUESTS") {
            c.max_inflight_requests =
                v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ConfigError(format!(
                        "TAEL_MAX_INFLIGHT_REQUESTS={v:?} is not a positive number"
                    ))
                })?;
        }
        if let Some(v) = var("TAEL_SQL_TIMEOUT") {
            c.sql_timeout = parse_dur("TAEL_SQL_TIMEOUT", &v)?;
        }
        if let Some(v) = var("TAEL_SQL_MEMORY_LIMIT") {
            c.sql_memory_bytes = parse_bytes("TAEL_SQL_MEMORY_LIMIT", &v)? as usize;
        }
        if let Some(v) = var("TAEL_SQL_MAX_ROWS") {
            c.sql_max_rows = v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!("TAEL_SQL_MAX_ROWS={v:?} is not a positive number"))
            })?;
        }
        if let Some(path) = var("TAEL_PRICES_FILE").filter(|p| !p.trim().is_empty()) {
            let text = std::fs::read_to_string(path.trim())
                .map_err(|e| ConfigError(format!("TAEL_PRICES_FILE={path:?}: {e}")))?;
            c.prices = tael_core::llm::prices::PriceTable::builtin()
                .with_file(&text)
                .map_err(|e| ConfigError(format!("TAEL_PRICES_FILE={path:?}: {e}")))?;
        }
        if let Some(v) = var("TAEL_BLOB_MIN_BYTES") {
            c.blob_min_bytes = parse_bytes("TAEL_BLOB_MIN_BYTES", &v)? as usize;
        }
        if let Some(v) = var("TAEL_PAYLOAD_RETENTION") {
            c.payload_retention = parse_dur("TAEL_PAYLOAD_RETENTION", &v)?;
        }
        if let Some(v) = var("TAEL_BLOB_GRACE") {
            c.blob_grace = parse_dur("TAEL_BLOB_GRACE", &v)?;
        }
        if let Some(v) = var("TAEL_BLOB_GC_INTERVAL") {
            c.blob_gc_interval = parse_dur("TAEL_BLOB_GC_INTERVAL", &v)?;
        }
        if let Some(v) = var("TAEL_PROMQL_CACHE_BYTES") {
            c.promql_cache_bytes = parse_bytes("TAEL_PROMQL_CACHE_BYTES", &v)? as usize;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_request_bytes < 1024 {
            return Err(ConfigError(
                "max request bytes must be at least 1KiB".into(),
            ));
        }
        if self.max_decompressed_bytes < self.max_request_bytes {
            return Err(ConfigError(
                "max decompressed bytes must be at least the max request bytes".into(),
            ));
        }
        if self.memtable_bytes < 1 << 20 {
            return Err(ConfigError("memtable bytes must be at least 1MiB".into()));
        }
        if self.sql_timeout.is_zero() {
            return Err(ConfigError("the SQL timeout must be positive".into()));
        }
        if self.sql_memory_bytes < 1 << 20 {
            return Err(ConfigError(
                "the SQL memory limit must be at least 1MiB".into(),
            ));
        }
        if self.blob_min_bytes < 64 {
            return Err(ConfigError(
                "TAEL_BLOB_MIN_BYTES must be at least 64 bytes".into(),
            ));
        }
        if self.blob_gc_interval.is_zero() {
            return Err(ConfigError("TAEL_BLOB_GC_INTERVAL must be positive".into()));
        }
        if self.payload_retention.is_zero() {
            return Err(ConfigError(
                "TAEL_PAYLOAD_RETENTION must be positive".into(),
            ));
        }
        if self.max_attributes == 0 {
            return Err(ConfigError("max attributes must be at least 1".into()));
        }
        Ok(())
    }
}

/// An address, or `off`/`none`/`disabled` for no listener.
pub fn parse_optional_addr(name: &str, v: &str) -> Result<Option<SocketAddr>, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "off" | "none" | "disabled" | "false" => Ok(None),
        _ => parse_addr(name, v).map(Some),
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
        assert_eq!(c.rest_api_addr.port(), 9000);
        assert!(c.otlp_http_addr.is_none());
        assert_eq!(c.max_disk_bytes, Some(2 << 30));
        assert!(cfg(&[("TAEL_REST_API_ADDR", "nope")]).is_err());
        assert!(cfg(&[("TAEL_TRACE_RETENTION", "forever")]).is_err());
        assert!(cfg(&[("TAEL_MAX_DISK_BYTES", "12 parsecs")]).is_err());
        assert_eq!(
            cfg(&[("TAEL_TRACE_RETENTION_DAYS", "2")])
                .unwrap()
                .span_retention,
            Duration::from_secs(172_800)
        );
    }
}
