//! Analytics routes on :7701: SQL (`/api/v1/sql`, its schema), summary,
//! anomalies, diff, topology, correlate and LLM usage. Windows are given as
//! `last` (a duration ending now); the reports are built above the node's
//! store from its partials (`tael_query::{summary, anomalies, …}`); every
//! caller mistake is a 400 `{"error", "code"}`.

use crate::error::ApiError;
use crate::rest::{answer, params};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use tael_query::anomalies::{AnomalyReport, AnomalyRequest};
use tael_query::api::{Endpoint, SchemaRequest, SchemaResponse, SqlResponse};
use tael_query::correlate::{CorrelateReport, CorrelateRequest};
use tael_query::diff::{DiffReport, DiffRequest};
use tael_query::llm_usage::{UsageReport, UsageRequest};
use tael_query::sql::SqlQuery;
use tael_query::summary::{SummaryReport, SummaryRequest};
use tael_query::topology::{Topology, TopologyRequest};

type Answered<T> = Result<Json<T>, ApiError>;

async fn sql_get(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<SqlResponse> {
    answer(&st, SqlQuery::from_params(&params(raw)?)?).await
}

async fn sql_post(State(st): State<AppState>, body: axum::body::Bytes) -> Answered<SqlResponse> {
    answer(&st, SqlQuery::from_json(&body)?).await
}

async fn sql_schema(State(st): State<AppState>) -> Answered<SchemaResponse> {
    answer(&st, SchemaRequest).await
}

async fn summary(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<SummaryReport> {
    answer(&st, SummaryRequest::from_params(&params(raw)?)?).await
}

async fn anomalies(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<AnomalyReport> {
    answer(&st, AnomalyRequest::from_params(&params(raw)?)?).await
}

async fn diff(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<DiffReport> {
    answer(&st, DiffRequest::from_params(&params(raw)?)?).await
}

async fn topology(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<Topology> {
    answer(&st, TopologyRequest::from_params(&params(raw)?)?).await
}

async fn correlate(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Answered<CorrelateReport> {
    answer(&st, CorrelateRequest::from_params(&params(raw)?)?).await
}

async fn llm_usage(State(st): State<AppState>, RawQuery(raw): RawQuery) -> Answered<UsageReport> {
    answer(&st, UsageRequest::from_params(&params(raw)?)?).await
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
