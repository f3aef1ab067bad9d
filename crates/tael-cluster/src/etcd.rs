//! etcd v3 through its JSON gateway (`POST /v3/<service>/<method>`, served
//! on the client port by etcd 3.4 and later). In its JSON, keys and values
//! are base64 and 64-bit numbers are strings; fields at their default (0,
//! false, empty) are left out. Only what leadership needs is here: leases,
//! a create-if-absent transaction, reads and a guarded delete. Each call
//! tries the endpoints in turn, starting with the last one that answered.

use crate::error::ClusterError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One key as etcd holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Kv {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The revision that created the key (the epoch of a leader key).
    pub create_revision: i64,
    pub mod_revision: i64,
    /// The lease the key is attached to (0: none).
    pub lease: i64,
}

/// What a create-if-absent transaction did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// The key was created at this revision.
    Yes { revision: i64 },
    /// The key was there already.
    Exists(Kv),
}

pub struct Etcd {
    http: reqwest::Client,
    endpoints: Vec<String>,
    preferred: AtomicUsize,
}

/// A 64-bit number of the gateway's JSON (a string, or a number).
fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A base64 field of the gateway's JSON (absent: empty).
fn bytes_of(v: &Value) -> Result<Vec<u8>, ClusterError> {
    match v.as_str() {
        Some(s) => B64
            .decode(s)
            .map_err(|e| ClusterError::Etcd(format!("a key or value that is not base64: {e}"))),
        None => Ok(Vec::new()),
    }
}

fn kv(v: &Value) -> Result<Kv, ClusterError> {
    Ok(Kv {
        key: bytes_of(&v["key"])?,
        value: bytes_of(&v["value"])?,
        create_revision: num(&v["create_revision"]),
        mod_revision: num(&v["mod_revision"]),
        lease: num(&v["lease"]),
    })
}

impl Etcd {
    /// A client of `endpoints` (`http://host:port`), each call bounded by
    /// `timeout`.
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Result<Etcd, ClusterError> {
        if endpoints.is_empty() {
            return Err(ClusterError::Config("no etcd endpoint".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ClusterError::Etcd(e.to_string()))?;
        Ok(Etcd {
            http,
            endpoints,
            preferred: AtomicUsize::new(0),
        })
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, ClusterError> {
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = String::new();
        for k in 0..self.endpoints.len() {
            let i = (first + k) % self.endpoints.len();
            let url = format!("{}{path}", self.endpoints[i]);
            let resp = match self.http.post(&url).json(&body).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{url}: {e}");
                    continue;
                }
            };
            let status = resp.status();
            let v: Value = match resp.json().await {
                Ok(v) => v,
                Err(e) => {
                    last = format!("{url}: {e}");
                    continue;
                }
            };
            if !status.is_success() {
                // The gateway answers errors as {"error"|"message", "code"}.
                let msg = v["message"].as_str().or(v["error"].as_str()).unwrap_or("");
                return Err(ClusterError::Etcd(format!("{url}: {status} {msg}")));
            }
            self.preferred.store(i, Ordering::Relaxed);
            return Ok(v);
        }
        Err(ClusterError::Etcd(format!("no endpoint answered ({last})")))
    }

    /// A new lease of `ttl` seconds: (id, the TTL granted).
    pub async fn grant(&self, ttl: i64) -> Result<(i64, i64), ClusterError> {
        let v = self.call("/v3/lease/grant", json!({ "TTL": ttl })).await?;
        let id = num(&v["ID"]);
        match id {
            0 => Err(ClusterError::Etcd(format!(
                "lease grant without an id: {v}"
            ))),
            _ => Ok((id, num(&v["TTL"]))),
        }
    }

    /// Renews a lease; the TTL it has now (0: it had expired).
    pub async fn keep_alive(&self, id: i64) -> Result<i64, ClusterError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        Ok(num(&v["result"]["TTL"]))
    }

    /// Ends a lease now, deleting its keys. An unknown lease is not an
    /// error (it expired already).
    pub async fn revoke(&self, id: i64) -> Result<(), ClusterError> {
        match self
            .call("/v3/lease/revoke", json!({ "ID": id.to_string() }))
            .await
        {
            Err(ClusterError::Etcd(m)) if m.contains("not found") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Creates `key` with `value` on `lease` unless it exists.
    pub async fn create(
        &self,
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> Result<Created, ClusterError> {
        let k = b64(key.as_bytes());
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
                    "success": [{ "request_put": { "key": k, "value": b64(value), "lease": lease.to_string() } }],
                    "failure": [{ "request_range": { "key": k } }],
                }),
            )
            .await?;
        if v["succeeded"].as_bool() == Some(true) {
            return Ok(Created::Yes {
                revision: num(&v["header"]["revision"]),
            });
        }
        let kvs = &v["responses"][0]["response_range"]["kvs"];
        match kvs.get(0) {
            Some(found) => Ok(Created::Exists(kv(found)?)),
            // Deleted between the compare and the range: try again.
            None => Err(ClusterError::Etcd(format!("{key} vanished during create"))),
        }
    }

    /// The key, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<Kv>, ClusterError> {
        let v = self
            .call("/v3/kv/range", json!({ "key": b64(key.as_bytes()) }))
            .await?;
        v["kvs"].get(0).map(kv).transpose()
    }

    /// Puts `key` (on `lease` unless 0).
    pub async fn put(&self, key: &str, value: &[u8], lease: i64) -> Result<(), ClusterError> {
        let mut body = json!({ "key": b64(key.as_bytes()), "value": b64(value) });
        if lease != 0 {
            body["lease"] = json!(lease.to_string());
        }
        self.call("/v3/kv/put", body).await.map(|_| ())
    }

    /// Puts `key` only while `guard` is the key created at
    /// `guard_revision` (a leader writing under its own leadership).
    pub async fn put_if_created(
        &self,
        key: &str,
        value: &[u8],
        guard: &str,
        guard_revision: i64,
    ) -> Result<bool, ClusterError> {
        let put = json!({ "request_put": { "key": b64(key.as_bytes()), "value": b64(value) } });
        self.if_created(guard, guard_revision, put).await
    }

    /// Runs the request `op` only while `guard` is the key created at
    /// `revision`; whether it ran.
    async fn if_created(
        &self,
        guard: &str,
        revision: i64,
        op: Value,
    ) -> Result<bool, ClusterError> {
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{ "key": b64(guard.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": revision.to_string() }],
                    "success": [op],
                }),
            )
            .await?;
        Ok(v["succeeded"].as_bool() == Some(true))
    }

    /// Every key that starts with `prefix`.
    pub async fn get_prefix(&self, prefix: &str) -> Result<Vec<Kv>, ClusterError> {
        let mut end = prefix.as_bytes().to_vec();
        match end.last_mut() {
            Some(b) if *b < 0xff => *b += 1,
            _ => return Err(ClusterError::Config(format!("bad key prefix {prefix:?}"))),
        }
        let v = self
            .call(
                "/v3/kv/range",
                json!({ "key": b64(prefix.as_bytes()), "range_end": b64(&end) }),
            )
            .await?;
        match v["kvs"].as_array() {
            Some(kvs) => kvs.iter().map(kv).collect(),
            None => Ok(Vec::new()),
        }
    }

    /// Deletes `key` if it is still the one created at `create_revision`
    /// (a leader giving up only its own leadership).
    pub async fn delete_if_created(
        &self,
        key: &str,
        create_revision: i64,
    ) -> Result<bool, ClusterError> {
        let delete = json!({ "request_delete_range": { "key": b64(key.as_bytes()) } });
        self.if_created(key, create_revision, delete).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_json_reads_as_kv() {
        let v = json!({"key": "L3RhZWwveA==", "create_revision": "2", "mod_revision": "5", "version": "1", "value": "bjE=", "lease": "7587"});
        assert_eq!(
            kv(&v).unwrap(),
            Kv {
                key: b"/tael/x".to_vec(),
                value: b"n1".to_vec(),
                create_revision: 2,
                mod_revision: 5,
                lease: 7587
            }
        );
        assert_eq!(num(&json!(12)), 12);
        assert_eq!(num(&Value::Null), 0);
        assert!(kv(&json!({"value": "***"})).is_err());
    }
}
