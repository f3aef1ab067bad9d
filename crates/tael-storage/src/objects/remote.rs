//! Object stores named by URL (`TAEL_OBJECT_STORE`), and the runtime their
//! requests run on.
//!
//! | URL                      | Store                 | Settings from        |
//! |--------------------------|-----------------------|----------------------|
//! | `s3://bucket/prefix`     | S3 and S3-compatible  | `AWS_*`              |
//! | `gs://bucket/prefix`     | Google Cloud Storage  | `GOOGLE_*`           |
//! | `az://container/prefix`  | Azure Blob Storage    | `AZURE_*`            |
//! | `file:///path`           | a directory (a mount) | —                    |
//!
//! Credentials, region and endpoint come from the standard variables of
//! each cloud, as `object_store`'s builders read them
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for S3-compatible servers …). An `http://` endpoint
//! is allowed when it is given explicitly. The path of the URL is the
//! prefix of the node's objects: the key of a location (see the parent
//! module) is `<prefix>/<location>` ([`key`]). (The prefix is applied
//! here rather than by `object_store`'s `PrefixStore`, whose `head`
//! answers with the unprefixed store's key, which DataFusion's listing
//! then does not recognise.)
//!
//! A network store's client needs a Tokio runtime, while the engine calls
//! it from plain threads: [`IoRuntime`] is a one-thread runtime of the
//! store's own, and [`run`] hands it a request and waits for the answer.
//! Its own retries are bounded (a few, within seconds) so that a store
//! that cannot be reached is reported quickly: the upload queue retries
//! on its own schedule.

use super::Backend;
use crate::error::StorageError;
use object_store::{ClientConfigKey, ObjectStore};
use std::sync::Arc;
use std::time::Duration;

/// Retries inside one request: a short burst; the queue retries beyond.
fn retry() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
    }
}

/// Client settings the environment did not give: bounded connect and
/// request times, and plain HTTP when the endpoint is `http://`.
fn client_settings(
    get: impl Fn(ClientConfigKey) -> Option<String>,
    endpoint: Option<String>,
) -> Vec<(ClientConfigKey, &'static str)> {
    let mut out = Vec::new();
    for (key, value) in [
        (ClientConfigKey::ConnectTimeout, "5s"),
        (ClientConfigKey::Timeout, "60s"),
    ] {
        if get(key).is_none() {
            out.push((key, value));
        }
    }
    let http = endpoint.is_some_and(|e| e.trim().to_ascii_lowercase().starts_with("http://"));
    if http {
        out.push((ClientConfigKey::AllowHttp, "true"));
    }
    out
}

/// Builds a cloud store from `url`: the environment's settings, the client
/// settings they lack ([`client_settings`], `endpoint` naming the key that
/// may hold an `http://` endpoint), bounded retries.
macro_rules! cloud_store {
    ($builder:ident, $key:ident, $url:expr, $endpoint:expr) => {{
        let mut b = $builder::from_env().with_url($url);
        let endpoint: Option<$key> = $endpoint;
        let endpoint = endpoint.and_then(|k| b.get_config_value(&k));
        for (k, v) in client_settings(|k| b.get_config_value(&$key::Client(k)), endpoint) {
            b = b.with_config($key::Client(k), v);
        }
        b.with_retry(retry()).build()
    }};
}

impl Backend {
    /// The store a URL names (see the module docs); a bad URL or setting
    /// is an error saying which.
    pub fn from_url(text: &str) -> Result<Backend, String> {
        let text = text.trim();
        let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        let prefix = url.path().trim_matches('/').to_string();
        let bad = |e: object_store::Error| format!("{text}: {e}");
        let (store, network): (Arc<dyn ObjectStore>, bool) = match url.scheme() {
            "s3" | "s3a" => {
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
                let s = cloud_store!(AmazonS3Builder, K, text, Some(K::Endpoint)).map_err(bad)?;
                (Arc::new(s), true)
            }
            "gs" => {
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
                let s = cloud_store!(GoogleCloudStorageBuilder, K, text, None).map_err(bad)?;
                (Arc::new(s), true)
            }
            "az" | "azure" | "abfs" | "abfss" => {
                use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
                let s =
                    cloud_store!(MicrosoftAzureBuilder, K, text, Some(K::Endpoint)).map_err(bad)?;
                (Arc::new(s), true)
            }
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|_| format!("{text}: not a local path"))?;
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let s = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(bad)?;
                return Ok(Backend::Store {
                    store: Arc::new(s),
                    url: text.to_string(),
                    network: false,
                    prefix: String::new(),
                    replica: false,
                });
            }
            "memory" => return Ok(Backend::in_memory()),
            other => {
                return Err(format!(
                    "{text}: unknown object store scheme {other:?} (s3, gs, az or file)"
                ));
            }
        };
        Ok(Backend::Store {
            store,
            url: text.to_string(),
            network,
            prefix,
            replica: false,
        })
    }
}

/// The store key of `location` under `prefix`.
pub fn key(prefix: &str, location: &str) -> object_store::path::Path {
    match prefix.is_empty() {
        true => object_store::path::Path::from(location),
        false => object_store::path::Path::from(format!("{prefix}/{location}")),
    }
}

/// The location of a store key under `prefix` (`None`: not under it).
pub fn location_of(prefix: &str, key: &str) -> Option<String> {
    match prefix.is_empty() {
        true => Some(key.to_string()),
        false => key
            .strip_prefix(prefix)?
            .strip_prefix('/')
            .map(String::from),
    }
}

/// A one-thread Tokio runtime for a network store's requests. Dropping it
/// stops its thread (which drops the runtime outside any async context).
#[derive(Debug)]
pub struct IoRuntime {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IoRuntime {
    pub fn start() -> Result<IoRuntime, StorageError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StorageError::Internal(format!("object store runtime: {e}")))?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("tael-objects-io".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                })
            })
            .map_err(|e| StorageError::Internal(format!("object store runtime: {e}")))?;
        Ok(IoRuntime {
            handle,
            _stop: stop,
        })
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        self.handle.clone()
    }
}

/// Drives `f` to completion from a plain thread: on `io` when given (a
/// network store), else right here.
pub fn run<T: Send + 'static>(
    io: Option<tokio::runtime::Handle>,
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    match io {
        Some(h) => match futures::executor::block_on(h.spawn(f)) {
            Ok(v) => v,
            // The task panicked: the same panic here.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => unreachable!("the runtime outlives the handles given out"),
        },
        None => futures::executor::block_on(f),
    }
}
