//! Answers built without some shards say so. A query node's fan-out
//! records each shard that could not answer a request
//! (`tael_query::store::fanout`); this middleware runs every request in
//! a scope that collects them and, when there are any, adds to the JSON
//! object it answers with:
//!
//! ```text
//! "partial": true,
//! "failed_shards": [{"shard": "1", "error": "…"}],
//! "warnings": ["shard 1 did not answer: …"]     (Prometheus envelopes)
//! ```
//!
//! so that no route answers a silent subset. Answers of nodes with an
//! engine never change.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tael_query::store::fanout::{collect_failures, FailedShard};

/// Adds the shards that failed to a JSON object answer.
fn mark(v: &mut Value, failed: &[FailedShard]) {
    let Some(obj) = v.as_object_mut() else {
        return;
    };
    obj.insert("partial".into(), Value::Bool(true));
    obj.insert("failed_shards".into(), serde_json::json!(failed));
    // The Prometheus API's envelope has its own place for this.
    if obj.get("status").and_then(Value::as_str) == Some("success") {
        let mut warnings: Vec<Value> = obj
            .get("warnings")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        warnings.extend(
            failed
                .iter()
                .map(|f| Value::String(format!("shard {} did not answer: {}", f.shard, f.error))),
        );
        obj.insert("warnings".into(), Value::Array(warnings));
    }
}

/// The middleware (see the module doc).
pub async fn mark_partial(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/mcp") || path.starts_with("/internal/") {
        return next.run(req).await;
    }
    let (resp, failed) = collect_failures(next.run(req)).await;
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if failed.is_empty() || !json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot read an answer to mark it partial");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    mark(&mut v, &failed);
    parts.headers.remove(header::CONTENT_LENGTH);
    let out = serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec());
    Response::from_parts(parts, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_envelopes_get_warnings_too() {
        let failed = [FailedShard {
            shard: "1".into(),
            error: "down".into(),
        }];
        let mut prom = serde_json::json!({"status": "success", "data": {}});
        mark(&mut prom, &failed);
        assert_eq!(prom["partial"], true);
        assert_eq!(prom["failed_shards"][0]["shard"], "1");
        assert_eq!(prom["warnings"][0], "shard 1 did not answer: down");
        let mut rest = serde_json::json!({"spans": []});
        mark(&mut rest, &failed);
        assert_eq!(rest["partial"], true);
        assert!(rest.get("warnings").is_none());
    }
}
