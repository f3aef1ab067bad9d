//! The cluster settings of a replica (read by `tael-server`'s settings
//! table: `TAEL_CLUSTER`, `TAEL_SHARD_ID`, `TAEL_NODE_ID`,
//! `TAEL_ETCD_ENDPOINTS`, `TAEL_LEADER_LEASE`, `TAEL_CLUSTER_TOKEN`,
//! `TAEL_ADVERTISE_URL`, and for WAL shipping `TAEL_WAL_REQUIRED_ACKS`,
//! `TAEL_WAL_STANDBYS`, `TAEL_WAL_LEADER`, `TAEL_WAL_EPOCH`). With none of
//! etcd, standbys or a leader set a node is not clustered and behaves as a
//! single node.

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
    /// How many standbys must have a write before the leader acks it.
    pub required_acks: RequiredAcks,
    /// Static mode, on the leader: the standbys' REST URLs.
    pub wal_standbys: Vec<String>,
    /// Static mode, on a standby: the leader's REST URL.
    pub wal_leader: Option<String>,
    /// Static mode: the leader's epoch (raise it when promoting a standby).
    pub wal_epoch: u64,
}

/// `TAEL_WAL_REQUIRED_ACKS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredAcks {
    /// Every standby in sync (the default).
    All,
    /// This many standbys (0: asynchronous shipping).
    Count(usize),
}

impl RequiredAcks {
    pub fn parse(v: &str) -> Result<RequiredAcks, String> {
        match v.trim() {
            "all" | "" => Ok(RequiredAcks::All),
            n => n
                .parse()
                .map(RequiredAcks::Count)
                .map_err(|_| format!("{n:?}: expected all or a number of standbys")),
        }
    }
}

/// How a replica learns who leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not clustered.
    Single,
    /// Leadership through etcd.
    Etcd,
    /// Static: this node leads and ships to `TAEL_WAL_STANDBYS`.
    StaticLeader,
    /// Static: this node is a standby of `TAEL_WAL_LEADER`.
    StaticStandby,
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
            required_acks: RequiredAcks::All,
            wal_standbys: Vec::new(),
            wal_leader: None,
            wal_epoch: 1,
        }
    }
}

impl ClusterConfig {
    /// Whether this node is a replica of a clustered shard.
    pub fn enabled(&self) -> bool {
        self.mode() != Mode::Single
    }

    pub fn mode(&self) -> Mode {
        if !self.etcd_endpoints.is_empty() {
            Mode::Etcd
        } else if self.wal_leader.is_some() {
            Mode::StaticStandby
        } else if !self.wal_standbys.is_empty() {
            Mode::StaticLeader
        } else {
            Mode::Single
        }
    }

    /// The rules that tie the settings together (one line each).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        if self.token.as_deref().is_none_or(|t| t.len() < 16) {
            out.push(
                "TAEL_CLUSTER_TOKEN (16 characters or more) is required when TAEL_ETCD_ENDPOINTS, TAEL_WAL_STANDBYS or TAEL_WAL_LEADER is set: /internal/* must never be open"
                    .to_string(),
            );
        }
        let static_set = !self.wal_standbys.is_empty() || self.wal_leader.is_some();
        if !self.etcd_endpoints.is_empty() && static_set {
            out.push("TAEL_WAL_STANDBYS and TAEL_WAL_LEADER are for static mode, without TAEL_ETCD_ENDPOINTS (etcd finds the standbys)".into());
        }
        if !self.wal_standbys.is_empty() && self.wal_leader.is_some() {
            out.push("a node is a static leader (TAEL_WAL_STANDBYS) or a static standby (TAEL_WAL_LEADER), not both".into());
        }
        if self.wal_epoch == 0 {
            out.push("TAEL_WAL_EPOCH must be 1 or more".into());
        }
        if self.leader_lease < Duration::from_secs(2) {
            out.push("TAEL_LEADER_LEASE must be at least 2s (etcd's shortest lease)".into());
        }
        if self.node_id.is_empty() {
            out.push("TAEL_NODE_ID must not be empty".into());
        }
        out
    }

    /// The etcd prefix of this replica's shard:
    /// `/tael/<cluster>/shards/<id>/` (see `membership.rs` for the keys).
    pub fn shard_prefix(&self) -> String {
        shard_prefix_of(&self.cluster, self.shard_id)
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

/// The etcd prefix of shard `shard` of cluster `cluster`.
pub fn shard_prefix_of(cluster: &str, shard: u32) -> String {
    format!("/tael/{cluster}/shards/{shard}/")
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
        c.wal_standbys = vec!["http://127.0.0.1:7702".into()];
        assert_eq!(c.problems().len(), 1, "etcd and static at once");
        c.etcd_endpoints.clear();
        assert_eq!(c.mode(), Mode::StaticLeader);
        assert!(c.problems().is_empty());
        c.wal_leader = Some("http://127.0.0.1:7703".into());
        assert_eq!(c.problems().len(), 1, "leader and standby at once");
    }

    #[test]
    fn required_acks() {
        assert_eq!(RequiredAcks::parse("all"), Ok(RequiredAcks::All));
        assert_eq!(RequiredAcks::parse("0"), Ok(RequiredAcks::Count(0)));
        assert_eq!(RequiredAcks::parse(" 2 "), Ok(RequiredAcks::Count(2)));
        assert!(RequiredAcks::parse("most").is_err());
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
