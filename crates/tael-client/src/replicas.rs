//! [`Replicas`]: the REST clients of one shard's replicas, shared by its
//! [`crate::RemoteStore`] and [`crate::RemoteIngest`]. The list is fixed
//! when it comes from `TAEL_SHARDS`; a directory following the cluster's
//! membership in etcd replaces it as replicas come and go, the leader
//! first.

use crate::{Client, ClientError};
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;

/// One shard's replicas (see the module doc).
#[derive(Debug, Clone)]
pub struct Replicas {
    clients: Arc<RwLock<Vec<Client>>>,
    timeout: Duration,
    token: Option<String>,
}

impl Replicas {
    /// The replicas at `urls` (none yet is allowed: a directory fills
    /// them), each request bounded by `timeout`, with the cluster's bearer
    /// `token` when given.
    pub fn new(
        urls: &[String],
        timeout: Duration,
        token: Option<&str>,
    ) -> Result<Replicas, ClientError> {
        let r = Replicas {
            clients: Arc::new(RwLock::new(Vec::new())),
            timeout,
            token: token.map(str::to_string),
        };
        r.set(urls)?;
        Ok(r)
    }

    /// A client of `url` with this shard's timeout and token.
    pub fn client_of(&self, url: &str) -> Result<Client, ClientError> {
        let c = Client::with_timeout(url, self.timeout)?;
        Ok(match &self.token {
            Some(t) => c.with_bearer(t),
            None => c,
        })
    }

    /// Replaces the list (clients of URLs already known are kept, with
    /// their connections).
    pub fn set(&self, urls: &[String]) -> Result<(), ClientError> {
        let old = self.list();
        let mut next = Vec::with_capacity(urls.len());
        for url in urls {
            let base = url.trim_end_matches('/');
            match old.iter().find(|c| c.base() == base) {
                Some(c) => next.push(c.clone()),
                None => next.push(self.client_of(url)?),
            }
        }
        *self.clients.write() = next;
        Ok(())
    }

    /// The replicas now, in order.
    pub fn list(&self) -> Vec<Client> {
        self.clients.read().clone()
    }

    /// The replicas' base URLs.
    pub fn urls(&self) -> Vec<String> {
        self.clients
            .read()
            .iter()
            .map(|c| c.base().to_string())
            .collect()
    }
}
