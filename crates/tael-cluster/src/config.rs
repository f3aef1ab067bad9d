//! The cluster settings of a replica (read by `tael-server`'s settings
//! table: `TAEL_CLUSTER`, `TAEL_SHARD_ID`, `TAEL_NODE_ID`,
//! `TAEL_ETCD_ENDPOINTS`, `TAEL_LEADER_LEASE`, `TAEL_CLUSTER_TOKEN`,
//! `TAEL_ADVERTISE_URL`). With no etcd endpoint a node is not clustered
//! and behaves as a single node.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's name: the etcd key prefix is `/tael/<cluster>/`.
    pub cluster: String,
    /// The shard this replica belongs to.
    pub shard_id: u32,
    /// This replica's name, unique in its shard (default: the host name).
    pub node_id: String,
    /// etcd client URLs (`http://host:2379`); empty = not clustered.
    pub etcd_endpoints: Vec<String>,
    /// The leader's lease: a leader that cannot renew it within this long
    /// is replaced, and stops acking writes before it can have expired.
    pub leader_lease: Duration,
    /// The bearer token every `/internal/*` request must carry; required
    /// whenever clustering is configured.
    pub token: Option<String>,
    /// The REST URL other replicas and clients reach this one at
    /// (default: `http://` and the bound REST address).
    pub advertise_url: Option<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            cluster: "tael".into(),
            shard_id: 0,
            node_id: host_name(),
            etcd_endpoints: Vec::new(),
            leader_lease: Duration::from_secs(5),
            token: None,
            advertise_url: None,
        }
    }
}

impl ClusterConfig {
    /// Whether this node is a replica of a clustered shard.
    pub fn enabled(&self) -> bool {
        !self.etcd_endpoints.is_empty()
    }

    /// The rules that tie the settings together (one line each).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        if self.token.as_deref().is_none_or(|t| t.len() < 16) {
            out.push(
                "TAEL_CLUSTER_TOKEN (16 characters or more) is required when TAEL_ETCD_ENDPOINTS is set: /internal/* must never be open"
                    .to_string(),
            );
        }
        if self.leader_lease < Duration::from_secs(2) {
            out.push("TAEL_LEADER_LEASE must be at least 2s (etcd's shortest lease)".into());
        }
        if self.node_id.is_empty() {
            out.push("TAEL_NODE_ID must not be empty".into());
        }
        out
    }

    /// Lease seconds as etcd takes them (whole seconds, rounded up).
    pub fn lease_secs(&self) -> i64 {
        let ms = self.leader_lease.as_millis() as i64;
        (ms + 999) / 1000
    }
}

/// A name: letters, digits, `.`, `_` and `-` (keys and ids).
pub fn parse_name(v: &str) -> Result<String, String> {
    let v = v.trim();
    let ok = !v.is_empty()
        && v.len() <= 128
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    match ok {
        true => Ok(v.to_string()),
        false => Err("expected letters, digits, '.', '_' or '-' (at most 128)".into()),
    }
}

/// A comma-separated list of `http://host:port` URLs.
pub fn parse_urls(v: &str) -> Result<Vec<String>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(parse_url)
        .collect()
}

/// An `http://` or `https://` URL without a trailing slash.
pub fn parse_url(v: &str) -> Result<String, String> {
    let u = v.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or_else(|| format!("{u:?}: expected http://host:port"))?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err(format!("{u:?}: expected http://host:port"));
    }
    Ok(u.to_string())
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else
/// `tael`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| parse_name(h).is_ok())
        .unwrap_or_else(|| "tael".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustering_needs_a_token_and_a_real_lease() {
        let mut c = ClusterConfig::default();
        assert!(c.problems().is_empty(), "a single node needs nothing");
        c.etcd_endpoints = vec!["http://127.0.0.1:2379".into()];
        assert_eq!(c.problems().len(), 1, "{:?}", c.problems());
        c.token = Some("0123456789abcdef".into());
        assert!(c.problems().is_empty());
        c.leader_lease = Duration::from_millis(1500);
        assert_eq!(c.problems().len(), 1);
        c.leader_lease = Duration::from_millis(2500);
        assert_eq!(c.lease_secs(), 3);
    }

    #[test]
    fn urls_and_names() {
        assert_eq!(
            parse_urls("http://a:1/, https://b:2").unwrap(),
            ["http://a:1", "https://b:2"]
        );
        assert!(parse_urls("a:1").is_err());
        assert!(parse_name("node-1.a_b").is_ok());
        assert!(parse_name("a/b").is_err());
        assert!(parse_name("").is_err());
    }
}
