//! Analytics routes on :7701: SQL (`/api/v1/sql`, its schema), summary,
//! anomalies, diff, topology, correlate and LLM usage. Windows are given as
//! `last` (a duration ending now); the reports are built above the node's
//! store from its partials (`tael_query::{summary, anomalies, …}`); every
//! caller mistake is a 400 `{"error", "code"}`.

use crate::error::ApiError;
use crate::rest::params;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use tael_query::anomalies::AnomalyRequest;
use tael_query::api::{Endpoint, SchemaRequest, SchemaResponse, SqlResponse};
use tael_query::correlate::CorrelateRequest;
use tael_query::diff::DiffRequest;
use tael_query::llm_usage::UsageRequest;
use tael_query::sql::SqlQuery;
use tael_query::summary::SummaryRequest;
use tael_query::topology::TopologyRequest;

type Answer<T> = Result<Json<T>, ApiError>;

async fn sql_get(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answer<SqlResponse> {
    let q = SqlQuery::from_params(&params(raw)?)?;
    Ok(Json(st.store.sql(q).await?.into()))
}

async fn sql_post(State(st): State<AppState>, body: axum::body::Bytes) -> Answer<SqlResponse> {
    let q = SqlQuery::from_json(&body)?;
    Ok(Json(st.store.sql(q).await?.into()))
}

async fn sql_schema(State(st): State<AppState>) -> Answer<SchemaResponse> {
    Ok(Json(SchemaResponse {
        tables: st.store.sql_schema().await?,
    }))
}

async fn summary(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::summary::SummaryReport> {
    let req = SummaryRequest::from_params(&params(raw)?)?;
    Ok(Json(
        tael_query::summary::summarize(st.store.as_ref(), &req).await?,
    ))
}

async fn anomalies(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::anomalies::AnomalyReport> {
    let req = AnomalyRequest::from_params(&params(raw)?)?;
    let q = req.resolve(tael_core::time::now_ns());
    Ok(Json(
        tael_query::anomalies::find_anomalies(st.store.as_ref(), &q).await?,
    ))
}

async fn diff(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::diff::DiffReport> {
    let req = DiffRequest::from_params(&params(raw)?)?;
    Ok(Json(tael_query::diff::diff(st.store.as_ref(), &req).await?))
}

async fn topology(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::topology::Topology> {
    let req = TopologyRequest::from_params(&params(raw)?)?;
    Ok(Json(
        tael_query::topology::topology(st.store.as_ref(), &req).await?,
    ))
}

async fn correlate(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::correlate::CorrelateReport> {
    let req = CorrelateRequest::from_params(&params(raw)?)?;
    match tael_query::correlate::correlate(st.store.as_ref(), &req).await? {
        Some(r) => Ok(Json(r)),
        None => Err(ApiError::not_found("trace not found")),
    }
}

async fn llm_usage(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answer<tael_query::llm_usage::UsageReport> {
    let req = UsageRequest::from_params(&params(raw)?)?;
    Ok(Json(
        tael_query::llm_usage::usage(st.store.as_ref(), &req).await?,
    ))
}

/// The analytics routes (merged into the REST router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(SqlQuery::ROUTE, get(sql_get).post(sql_post))
        .route(SchemaRequest::ROUTE, get(sql_schema))
        .route(SummaryRequest::ROUTE, get(summary))
        .route(AnomalyRequest::ROUTE, get(anomalies))
        .route(DiffRequest::ROUTE, get(diff))
        .route(TopologyRequest::ROUTE, get(topology))
        .route(CorrelateRequest::ROUTE, get(correlate))
        .route(UsageRequest::ROUTE, get(llm_usage))
}
