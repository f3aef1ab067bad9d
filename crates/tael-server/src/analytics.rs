//! Analytics routes on :7701: SQL (`/api/v1/sql`, its schema), summary,
//! anomalies, diff, topology and correlate. Windows are given as `last`
//! (a duration ending now); every caller mistake is a 400 `{"error"}`.

use crate::error::ApiError;
use crate::rest::{blocking, check_trace_id, Params};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tael_core::duration::parse_duration_ns;
use tael_query::anomalies::{AnomalyQuery, DEFAULT_MIN_SAMPLES};
use tael_query::sql::SqlSession;
use tael_query::window::TimeWindow;

/// Default window of the analytics routes.
const DEFAULT_LAST: &str = "1h";

impl Params {
    /// A positive duration parameter in ns (`default` when absent).
    fn duration(&self, key: &str, default: &str) -> Result<i64, ApiError> {
        let v = self.get(key).unwrap_or(default);
        match parse_duration_ns(v) {
            Ok(ns) if ns > 0 => Ok(ns),
            Ok(_) => Err(ApiError::bad_request(format!("{key} must be positive"))),
            Err(e) => Err(ApiError::bad_request(format!("{key}: {e}"))),
        }
    }

    /// The window `last` (default one hour) ending now.
    fn window(&self) -> Result<TimeWindow, ApiError> {
        Ok(TimeWindow::ending_at(
            tael_core::time::now_ns(),
            self.duration("last", DEFAULT_LAST)?,
        ))
    }

    fn positive(&self, key: &str) -> Result<Option<usize>, ApiError> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("{key} must be a positive whole number"))
                    })
            })
            .transpose()
    }
}

async fn run_sql(st: &AppState, q: &str, max_rows: Option<usize>) -> Result<Json<Value>, ApiError> {
    if q.trim().is_empty() {
        return Err(ApiError::bad_request("q (the SQL query) is required"));
    }
    let session = std::sync::Arc::new(SqlSession::new(&st.engine, st.sql_limits.clone()).await?);
    let r = session.run(q, max_rows).await?;
    Ok(Json(json!({
        "columns": r.columns,
        "count": r.rows.len(),
        "truncated": r.truncated,
        "rows": r.rows,
    })))
}

async fn sql_get(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let q = p.get("q").or_else(|| p.get("query")).unwrap_or_default();
    run_sql(&st, q, p.positive("max_rows")?).await
}

async fn sql_post(
    State(st): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let q = v
        .get("q")
        .or_else(|| v.get("query"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("body must be {\"q\": \"<SQL>\"}"))?;
    let max_rows = match v.get("max_rows") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_request("max_rows must be a positive whole number"))?
                as usize,
        ),
    };
    run_sql(&st, q, max_rows).await
}

async fn sql_schema(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let session = SqlSession::new(&st.engine, st.sql_limits.clone()).await?;
    Ok(Json(json!({ "tables": session.tables().await? })))
}

/// Runs a query on the blocking pool and answers its result as JSON.
async fn answer<T: serde::Serialize + Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&tael_storage::Engine) -> Result<T, tael_query::QueryError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let engine = st.engine.clone();
    let r = blocking(move || Ok(f(&engine)?)).await?;
    Ok(Json(json!(r)))
}

async fn summary(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let (window, service) = (p.window()?, p.string("service"));
    answer(&st, move |e| {
        tael_query::summary::summarize(e, window, service)
    })
    .await
}

async fn anomalies(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let current = p.window()?;
    let baseline_len = match p.get("baseline") {
        Some(_) => p.duration("baseline", "")?,
        None => current.len_ns().saturating_mul(6),
    };
    let q = AnomalyQuery {
        current,
        baseline: TimeWindow::ending_at(current.from_ns, baseline_len),
        service: p.string("service"),
        min_samples: p
            .positive("min_samples")?
            .map_or(DEFAULT_MIN_SAMPLES, |n| n as u64),
    };
    answer(&st, move |e| tael_query::anomalies::find_anomalies(e, &q)).await
}

async fn diff(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let now = p.window()?;
    // Default baseline: the window of the same length just before.
    let spec = p
        .get("baseline")
        .or_else(|| p.get("last"))
        .unwrap_or(DEFAULT_LAST);
    let baseline = tael_query::diff::parse_baseline(spec, now, now.to_ns)?;
    let service = p.string("service");
    answer(&st, move |e| {
        tael_query::diff::diff(e, now, baseline, service)
    })
    .await
}

async fn topology(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let window = p.window()?;
    answer(&st, move |e| tael_query::topology::topology(e, window)).await
}

async fn correlate(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let id = p
        .get("trace")
        .or_else(|| p.get("trace_id"))
        .ok_or_else(|| ApiError::bad_request("trace (a trace id) is required"))?;
    let id = check_trace_id(id)?;
    let engine = st.engine.clone();
    let r = blocking(move || Ok(tael_query::correlate::correlate(&engine, &id)?)).await?;
    match r {
        Some(r) => Ok(Json(json!(r))),
        None => Err(ApiError::not_found("trace not found")),
    }
}

async fn llm_usage(
    State(st): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let p = Params::parse(raw)?;
    let window = p.window()?;
    let by = p.string("by").unwrap_or_else(|| "model".into());
    tael_query::llm_usage::group_column(&by)?;
    let limit = p.positive("limit")?.unwrap_or(100);
    answer(&st, move |e| {
        tael_query::llm_usage::usage(e, window, &by, limit)
    })
    .await
}

/// The analytics routes (merged into the REST router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sql", get(sql_get).post(sql_post))
        .route("/api/v1/sql/schema", get(sql_schema))
        .route("/api/v1/summary", get(summary))
        .route("/api/v1/anomalies", get(anomalies))
        .route("/api/v1/diff", get(diff))
        .route("/api/v1/topology", get(topology))
        .route("/api/v1/correlate", get(correlate))
        .route("/api/v1/llm/usage", get(llm_usage))
}
