//! Where the tools get their data: [`Backend`] sends a request of
//! `tael_query::api` and reads its typed answer. [`LocalBackend`] answers
//! in process over the node's `Store` and `Ingest` (the `/mcp` route);
//! [`RemoteBackend`] sends the same request to a running server's REST
//! API (`tael mcp` over stdio). The tools are written once, over this.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;
use tael_client::{Client, ClientError};
use tael_core::model::TraceComment;
use tael_core::ErrorCode;
use tael_query::api::{new_comment_id, NewComment};
use tael_query::store::fanout::record_failure;
use tael_query::{Answer, Ingest, QueryError, Store};

/// A failed call, as the tool reports it.
#[derive(Debug, Clone)]
pub struct BackendError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<QueryError> for BackendError {
    fn from(e: QueryError) -> Self {
        let code = e.code();
        BackendError {
            code,
            message: public_message(code, e.to_string()),
        }
    }
}

impl From<ClientError> for BackendError {
    fn from(e: ClientError) -> Self {
        let message = match &e {
            ClientError::Server { message, .. } => message.clone(),
            other => other.to_string(),
        };
        BackendError {
            code: e.code(),
            message,
        }
    }
}

/// Internal errors keep their detail in the log, not in the answer.
fn public_message(code: ErrorCode, message: String) -> String {
    if code == ErrorCode::Internal {
        tracing::error!(error = %message, "MCP tool failed");
        "internal error".into()
    } else {
        message
    }
}

/// What the tools read and write.
pub trait Backend: Clone + Send + Sync + 'static {
    /// The answer of one read route.
    fn call<R: Answer>(&self, req: R) -> BoxFuture<'_, Result<R::Response, BackendError>>
    where
        R::Response: Send;

    /// A stored payload by its sha256 (64 hex), `None` when absent.
    fn blob(&self, sha256: String) -> BoxFuture<'_, Result<Option<Vec<u8>>, BackendError>>;

    /// Stores a comment; the stored comment comes back.
    fn add_comment(&self, c: NewComment) -> BoxFuture<'_, Result<TraceComment, BackendError>>;
}

/// This node's store, in process.
#[derive(Clone)]
pub struct LocalBackend {
    pub store: Arc<dyn Store>,
    pub ingest: Arc<dyn Ingest>,
}

impl Backend for LocalBackend {
    fn call<R: Answer>(&self, req: R) -> BoxFuture<'_, Result<R::Response, BackendError>>
    where
        R::Response: Send,
    {
        async move { Ok(req.answer(self.store.as_ref()).await?) }.boxed()
    }

    fn blob(&self, sha256: String) -> BoxFuture<'_, Result<Option<Vec<u8>>, BackendError>> {
        async move {
            let h = parse_sha256(&sha256)?;
            Ok(self.store.blob(h).await?)
        }
        .boxed()
    }

    fn add_comment(&self, c: NewComment) -> BoxFuture<'_, Result<TraceComment, BackendError>> {
        async move {
            let comment = c.into_comment(new_comment_id(), tael_core::time::now_ns());
            self.ingest
                .add_comment(comment)
                .await
                .map_err(|e| BackendError::from(QueryError::from(e)))
        }
        .boxed()
    }
}

/// A running server, over its REST API.
#[derive(Clone)]
pub struct RemoteBackend {
    pub client: Client,
}

impl Backend for RemoteBackend {
    fn call<R: Answer>(&self, req: R) -> BoxFuture<'_, Result<R::Response, BackendError>>
    where
        R::Response: Send,
    {
        async move {
            let v = self.client.call_json(&req).await?;
            // A query node's answer built without some shards: the tool
            // result says so too.
            for f in v
                .get("failed_shards")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let text = |k: &str| f.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
                record_failure(text("shard"), text("error"));
            }
            serde_json::from_value(v).map_err(|e| BackendError {
                code: ErrorCode::Internal,
                message: format!("unexpected answer from {}: {e}", req.path()),
            })
        }
        .boxed()
    }

    fn blob(&self, sha256: String) -> BoxFuture<'_, Result<Option<Vec<u8>>, BackendError>> {
        async move {
            parse_sha256(&sha256)?;
            Ok(self.client.blob(&sha256).await?)
        }
        .boxed()
    }

    fn add_comment(&self, c: NewComment) -> BoxFuture<'_, Result<TraceComment, BackendError>> {
        async move { Ok(self.client.call(&c).await?.comment) }.boxed()
    }
}

/// A sha256 as 64 hex characters.
pub fn parse_sha256(s: &str) -> Result<[u8; 32], BackendError> {
    tael_storage::blobs::parse_hash(s.trim()).ok_or_else(|| BackendError {
        code: ErrorCode::InvalidArgument,
        message: format!("invalid sha256 {s:?}: expected 64 hex characters"),
    })
}
