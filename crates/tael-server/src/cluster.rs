//! The cluster's internal routes (`/internal/*`). They are never open:
//! each request must carry `Authorization: Bearer <TAEL_CLUSTER_TOKEN>`
//! (401 otherwise, compared in constant time), and a node that is not a
//! replica answers 404.
//!
//! `GET /internal/cluster`: this replica's shard, role, epoch and fence,
//! the leader, how long it may still ack without renewing its lease, when
//! etcd last answered, the records it holds and, on the leader, where each
//! standby is (`tael_cluster::ReplicaStatus`).
//!
//! `POST /internal/wal/records`: WAL records shipped by the leader (the
//! wire format is documented in `tael_cluster::ship`).
//!
//! `GET /internal/wal/oldest` and `GET /internal/snapshot`: where this
//! replica's WAL starts, and a whole copy of its data, for a replica too
//! far behind to catch up from the WAL (`tael_cluster::bootstrap`).

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tael_cluster::bootstrap::{OLDEST_ROUTE, SNAPSHOT_ROUTE};
use tael_cluster::ship::{EPOCH_HEADER, EPOCH_START_HEADER, WAL_ROUTE};
use tael_cluster::{ReceiveError, Replica, ReplicaStatus};
use tael_core::ErrorCode;

/// The route of the cluster status.
pub const CLUSTER_ROUTE: &str = "/internal/cluster";

/// Equal bytes, in time that depends only on the lengths.
pub(crate) fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The replica, once the caller has shown the token.
pub fn authorized<'a>(st: &'a AppState, headers: &HeaderMap) -> Result<&'a Replica, ApiError> {
    let (Some(leadership), Some(token)) = (&st.cluster, &st.cluster_token) else {
        return Err(ApiError::not_found(
            "this node is not a replica of a clustered shard",
        ));
    };
    check_bearer(headers, token)?;
    Ok(leadership)
}

/// Whether the request carries `Authorization: Bearer <token>` (401
/// otherwise, compared in constant time).
pub(crate) fn check_bearer(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same_token(g.trim().as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "wrong cluster token",
        )),
        None => Err(ApiError::new(
            ErrorCode::Unauthenticated,
            "/internal/* needs Authorization: Bearer <TAEL_CLUSTER_TOKEN>",
        )),
    }
}

async fn status(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ReplicaStatus>, ApiError> {
    Ok(Json(authorized(&st, &headers)?.status()))
}

/// A number header the shipping protocol requires.
fn number_header(headers: &HeaderMap, name: &str) -> Result<u64, ApiError> {
    let v = headers
        .get(name)
        .ok_or_else(|| ApiError::bad_request(format!("missing header {name}")))?;
    v.to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("header {name} is not a number")))
}

fn conflict(reason: &str, message: &str, next_seq: Option<u64>) -> Response {
    let mut body =
        json!({ "error": message, "code": ErrorCode::Conflict.as_str(), "reason": reason });
    if let Some(n) = next_seq {
        body["next_seq"] = json!(n);
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

async fn wal_records(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let replica = authorized(&st, &headers)?;
    let epoch = number_header(&headers, EPOCH_HEADER)?;
    let start = number_header(&headers, EPOCH_START_HEADER)?;
    match replica.receive(epoch, start, body).await {
        Ok(applied) => Ok(Json(json!({ "applied_seq": applied })).into_response()),
        Err(ReceiveError::BadBody(m)) => Err(ApiError::bad_request(m)),
        Err(ReceiveError::Fenced(m)) => Ok(conflict("fenced", &m, None)),
        Err(ReceiveError::Diverged(m)) => {
            tracing::error!(error = %m, "refusing shipped records");
            Ok(conflict("diverged", &m, None))
        }
        Err(ReceiveError::Gap { next_seq, message }) => {
            Ok(conflict("gap", &message, Some(next_seq)))
        }
        Err(ReceiveError::Storage(e)) => Err(e.into()),
    }
}

async fn wal_oldest(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<tael_cluster::bootstrap::WalRange>, ApiError> {
    Ok(Json(authorized(&st, &headers)?.wal_range()))
}

async fn snapshot(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let stream = authorized(&st, &headers)?.snapshot_stream();
    Ok((
        [(header::CONTENT_TYPE, "application/x-tael-snapshot")],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

pub fn routes() -> Router<AppState> {
    // A batch of shipped records is at least one record, which may be as
    // large as the WAL takes.
    let records = post(wal_records).layer(axum::extract::DefaultBodyLimit::max(
        tael_storage::wal::MAX_RECORD + (8 << 20),
    ));
    Router::new()
        .route(CLUSTER_ROUTE, get(status))
        .route(WAL_ROUTE, records)
        .route(OLDEST_ROUTE, get(wal_oldest))
        .route(SNAPSHOT_ROUTE, get(snapshot))
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same_token(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!same_token(b"0123", b"01234"));
    }
}
