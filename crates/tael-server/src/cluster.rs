//! The cluster's internal routes (`/internal/*`). They are never open:
//! each request must carry `Authorization: Bearer <TAEL_CLUSTER_TOKEN>`
//! (401 otherwise, compared in constant time), and a node that is not a
//! replica answers 404.
//!
//! `GET /internal/cluster`: this replica's shard, role, epoch and fence,
//! the leader, how long it may still ack without renewing its lease, and
//! when etcd last answered (`tael_cluster::ClusterStatus`).

use crate::error::ApiError;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::routing::get;
use axum::{Json, Router};
use tael_cluster::{ClusterStatus, Leadership};
use tael_core::ErrorCode;

/// The route of the cluster status.
pub const CLUSTER_ROUTE: &str = "/internal/cluster";

/// Equal bytes, in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The replica's leadership, once the caller has shown the token.
pub fn authorized<'a>(st: &'a AppState, headers: &HeaderMap) -> Result<&'a Leadership, ApiError> {
    let (Some(leadership), Some(token)) = (&st.cluster, &st.cluster_token) else {
        return Err(ApiError::not_found(
            "this node is not a replica of a clustered shard",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.trim().as_bytes(), token.as_bytes()) => Ok(leadership),
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
) -> Result<Json<ClusterStatus>, ApiError> {
    Ok(Json(authorized(&st, &headers)?.status()))
}

pub fn routes() -> Router<AppState> {
    Router::new().route(CLUSTER_ROUTE, get(status))
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
        assert!(!same(b"0123456789abcdef", b"0123456789abcdeF"));
        assert!(!same(b"0123", b"01234"));
    }
}
