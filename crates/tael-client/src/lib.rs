//! tael-client: the typed client of the REST API. A request is one of the
//! request types of `tael_query::api` (each knows its route, method and
//! parameters); [`Client::call`] sends it and reads the route's typed
//! answer, [`Client::call_json`] the answer as JSON (what the CLI prints).
//! Error answers come back as [`ClientError::Server`] with the server's
//! stable error code (`"code"` in the body; from the HTTP status when a
//! body has none).
//!
//! [`Client`] is async (tokio); [`BlockingClient`] wraps it with its own
//! current-thread runtime for synchronous callers (the CLI, tests).

pub mod remote;
pub mod remote_ingest;
pub mod replicas;
pub mod sse;

pub use remote::RemoteStore;
pub use remote_ingest::RemoteIngest;
pub use replicas::Replicas;
pub use sse::{EventStream, SseEvent, SseParser};

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;
use tael_core::ErrorCode;
use tael_query::api::{Endpoint, Method};
use tael_query::params::Params;

/// Default time one request may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://host:port` or `https://…`.
    #[error("invalid server URL {0:?}: expected http://host:port")]
    InvalidUrl(String),
    /// No answer: connection refused, reset, timed out.
    #[error("cannot reach the tael server at {base}: {source}")]
    Unreachable {
        base: String,
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Server {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    /// A success whose body is not the route's answer.
    #[error("unexpected answer from {path}: {message}")]
    Decode { path: String, message: String },
    /// The HTTP client itself could not be set up.
    #[error("cannot build the HTTP client: {0}")]
    Setup(String),
}

impl ClientError {
    /// The error code of the failure (`Unavailable` when unreachable).
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::InvalidUrl(_) => ErrorCode::InvalidArgument,
            ClientError::Unreachable { .. } => ErrorCode::Unavailable,
            ClientError::Server { code, .. } => *code,
            ClientError::Decode { .. } | ClientError::Setup(_) => ErrorCode::Internal,
        }
    }
}

/// An answer as it came: status, headers and body bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl RawResponse {
    /// The body as JSON (a JSON string of the text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }
}

/// An async client of one tael server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// Sent as `Authorization: Bearer …` (the cluster's internal routes).
    bearer: Option<String>,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`).
    pub fn new(base: &str) -> Result<Client, ClientError> {
        Client::with_timeout(base, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(base: &str, timeout: Duration) -> Result<Client, ClientError> {
        Client::build(base, reqwest::Client::builder().timeout(timeout))
    }

    /// A client that opens a connection per request: for callers that send
    /// what a server refuses before reading it (an oversize body), after
    /// which the server closes the connection.
    pub fn unpooled(base: &str) -> Result<Client, ClientError> {
        Client::build(
            base,
            reqwest::Client::builder()
                .timeout(DEFAULT_TIMEOUT)
                .pool_max_idle_per_host(0),
        )
    }

    fn build(base: &str, builder: reqwest::ClientBuilder) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::InvalidUrl(base));
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(Client {
            base,
            http,
            bearer: None,
        })
    }

    /// The same client, sending `Authorization: Bearer <token>` on every
    /// request.
    pub fn with_bearer(mut self, token: &str) -> Client {
        self.bearer = Some(token.to_string());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `req` and reads the route's typed answer.
    pub async fn call<E: Endpoint>(&self, req: &E) -> Result<E::Response, ClientError> {
        let path = req.path();
        let raw = self.send_endpoint(req).await?;
        decode(&path, &raw)
    }

    /// Sends `req` and returns the answer as JSON (a body that is not JSON
    /// as a JSON string).
    pub async fn call_json<E: Endpoint>(&self, req: &E) -> Result<Value, ClientError> {
        Ok(self.send_endpoint(req).await?.json())
    }

    async fn send_endpoint<E: Endpoint>(&self, req: &E) -> Result<RawResponse, ClientError> {
        let raw = self
            .send(E::METHOD, &req.path(), &req.params(), req.body().as_ref())
            .await?;
        check(raw)
    }

    /// `GET` of any path, the answer as JSON (errors as [`ClientError`]).
    pub async fn get_json(&self, path: &str, params: &Params) -> Result<Value, ClientError> {
        Ok(check(self.send(Method::Get, path, params, None).await?)?.json())
    }

    /// A stored payload by its sha256 (`None` when the server has none).
    pub async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let path = format!("/api/v1/blobs/{}", tael_query::api::path_segment(sha256));
        match check(self.send(Method::Get, &path, &Params::new(), None).await?) {
            Ok(raw) => Ok(Some(raw.body.to_vec())),
            Err(ClientError::Server {
                code: ErrorCode::NotFound,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends a request and returns the answer whatever its status (only a
    /// request that got no answer is an error).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        params: &Params,
        json: Option<&Value>,
    ) -> Result<RawResponse, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        };
        if !params.0.is_empty() {
            req = req.query(&params.0);
        }
        if let Some(body) = json {
            req = req.json(body);
        }
        self.finish(req).await
    }

    /// Sends a `POST` of raw bytes with the given headers (OTLP/HTTP,
    /// remote-write); the answer whatever its status.
    pub async fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req).await
    }

    /// Opens the event stream at `path` (a live route), resuming after
    /// `last_event_id` when given. `idle` bounds the wait for any byte
    /// (heartbeats included); a stream silent that long fails as
    /// unreachable. An error status is [`ClientError::Server`].
    pub async fn live(
        &self,
        path: &str,
        params: &Params,
        last_event_id: Option<&str>,
        idle: Duration,
    ) -> Result<EventStream, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            base: self.base.clone(),
            source,
        };
        // Its own HTTP client: the shared one bounds whole requests.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(idle)
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        let mut req = http
            .get(format!("{}{path}", self.base))
            .header("accept", "text/event-stream");
        if !params.0.is_empty() {
            req = req.query(&params.0);
        }
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(unreachable)?;
            return Err(check(RawResponse {
                status,
                headers,
                body,
            })
            .err()
            .unwrap_or(ClientError::Decode {
                path: path.to_string(),
                message: format!("status {status} is not a stream"),
            }));
        }
        Ok(EventStream {
            base: self.base.clone(),
            resp,
            parser: SseParser::default(),
            ready: Default::default(),
        })
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> Result<RawResponse, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            base: self.base.clone(),
            source,
        };
        let req = match &self.bearer {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(unreachable)?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }
}

/// A success answer, or the server's error as [`ClientError::Server`].
fn check(raw: RawResponse) -> Result<RawResponse, ClientError> {
    if (200..300).contains(&raw.status) {
        return Ok(raw);
    }
    let text = String::from_utf8_lossy(&raw.body).into_owned();
    let body: Option<Value> = serde_json::from_str(&text).ok();
    let field = |k: &str| body.as_ref().and_then(|b| b.get(k)).and_then(Value::as_str);
    let code = field("code")
        .and_then(ErrorCode::from_name)
        .unwrap_or_else(|| ErrorCode::from_http_status(raw.status));
    let message = match field("error") {
        Some(m) => m.to_string(),
        None if text.is_empty() => reqwest::StatusCode::from_u16(raw.status)
            .map(|s| s.to_string())
            .unwrap_or_else(|_| raw.status.to_string()),
        None => text,
    };
    Err(ClientError::Server {
        status: raw.status,
        code,
        message,
    })
}

fn decode<T: DeserializeOwned>(path: &str, raw: &RawResponse) -> Result<T, ClientError> {
    serde_json::from_slice(&raw.body).map_err(|e| ClientError::Decode {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// A [`Client`] for synchronous callers: each call runs on the client's
/// own current-thread runtime (so it must not be called from inside an
/// async task).
pub struct BlockingClient {
    rt: tokio::runtime::Runtime,
    inner: Client,
}

impl BlockingClient {
    pub fn new(base: &str) -> Result<BlockingClient, ClientError> {
        BlockingClient::with_timeout(base, DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(base: &str, timeout: Duration) -> Result<BlockingClient, ClientError> {
        BlockingClient::wrap(Client::with_timeout(base, timeout)?)
    }

    /// See [`Client::unpooled`].
    pub fn unpooled(base: &str) -> Result<BlockingClient, ClientError> {
        BlockingClient::wrap(Client::unpooled(base)?)
    }

    /// See [`Client::with_bearer`].
    pub fn with_bearer(self, token: &str) -> BlockingClient {
        BlockingClient {
            rt: self.rt,
            inner: self.inner.with_bearer(token),
        }
    }

    fn wrap(inner: Client) -> Result<BlockingClient, ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Setup(e.to_string()))?;
        Ok(BlockingClient { rt, inner })
    }

    pub fn base(&self) -> &str {
        self.inner.base()
    }

    /// The async client (for use on other runtimes).
    pub fn client(&self) -> &Client {
        &self.inner
    }

    pub fn call<E: Endpoint>(&self, req: &E) -> Result<E::Response, ClientError> {
        self.rt.block_on(self.inner.call(req))
    }

    pub fn call_json<E: Endpoint>(&self, req: &E) -> Result<Value, ClientError> {
        self.rt.block_on(self.inner.call_json(req))
    }

    pub fn get_json(&self, path: &str, params: &Params) -> Result<Value, ClientError> {
        self.rt.block_on(self.inner.get_json(path, params))
    }

    pub fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, ClientError> {
        self.rt.block_on(self.inner.blob(sha256))
    }

    pub fn send(
        &self,
        method: Method,
        path: &str,
        params: &Params,
        json: Option<&Value>,
    ) -> Result<RawResponse, ClientError> {
        self.rt
            .block_on(self.inner.send(method, path, params, json))
    }

    pub fn post_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        self.rt.block_on(self.inner.post_bytes(path, headers, body))
    }

    /// See [`Client::live`].
    pub fn live(
        &self,
        path: &str,
        params: &Params,
        last_event_id: Option<&str>,
        idle: Duration,
    ) -> Result<BlockingEventStream<'_>, ClientError> {
        let inner = self
            .rt
            .block_on(self.inner.live(path, params, last_event_id, idle))?;
        Ok(BlockingEventStream {
            rt: &self.rt,
            inner,
        })
    }
}

/// An [`EventStream`] read synchronously.
pub struct BlockingEventStream<'a> {
    rt: &'a tokio::runtime::Runtime,
    inner: EventStream,
}

impl BlockingEventStream<'_> {
    /// The next event; `None` when the server closed the stream.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, ClientError> {
        self.rt.block_on(self.inner.next())
    }

    pub fn last_id(&self) -> Option<&str> {
        self.inner.last_id()
    }

    pub fn retry(&self) -> Option<Duration> {
        self.inner.retry()
    }
}
