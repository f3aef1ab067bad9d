//! `tael bench query`: times the hot REST queries against a running server
//! (median and p90 of repeated runs, through HTTP like a real client):
//! trace by id, services, error traces of a service, logs by trace id,
//! full-text searches (a phrase most generated prompts hold, a missing word); and
//! the analytics: summary and anomalies of the last hour, diff, topology,
//! and SQL `count(*) … GROUP BY service`.

use crate::client::{CliError, Client};
use serde_json::{json, Value};
use std::time::Instant;
use tael_query::anomalies::AnomalyRequest;
use tael_query::api::{Endpoint, ServicesRequest};
use tael_query::diff::DiffRequest;
use tael_query::logs::LogQuery;
use tael_query::params::DurationParam;
use tael_query::sql::SqlQuery;
use tael_query::summary::SummaryRequest;
use tael_query::topology::TopologyRequest;
use tael_query::traces::{TraceLookup, TraceQuery};

fn time_it<E: Endpoint>(client: &Client, req: &E, runs: usize) -> Result<Value, CliError> {
    let mut ms = Vec::with_capacity(runs);
    let mut last = Value::Null;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = client.call(req)?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    let items = [
        "spans",
        "services",
        "logs",
        "metrics",
        "rows",
        "anomalies",
        "edges",
    ]
    .iter()
    .find_map(|k| last.get(*k).and_then(Value::as_array).map(Vec::len))
    .unwrap_or(0);
    let (path, query) = (req.path(), req.params().0);
    Ok(
        json!({ "path": path, "query": query, "runs": runs, "median_ms": pick(0.5), "p90_ms": pick(0.9), "items": items }),
    )
}

pub fn run(server: &str, runs: usize) -> Result<Value, CliError> {
    let client = Client::new(server)?;
    let runs = runs.max(1);
    let services = client.call(&ServicesRequest)?;
    let service = services["services"][0]["name"]
        .as_str()
        .unwrap_or("frontend")
        .to_string();
    let total_spans: i64 = services["services"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["span_count"].as_i64()).sum())
        .unwrap_or(0);
    let newest = |limit| TraceQuery {
        limit,
        ..Default::default()
    };
    let recent = client.call(&newest(1))?;
    let trace_id = recent["spans"][0]["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let logs = client.call(&LogQuery {
        limit: 200,
        ..Default::default()
    })?;
    let log_trace = logs["logs"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find_map(|l| l["trace_id"].as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let mut results = vec![
        time_it(&client, &TraceLookup::new(&trace_id, false)?, runs)?,
        time_it(&client, &ServicesRequest, runs)?,
        time_it(
            &client,
            &TraceQuery {
                service: Some(service.clone()),
                status: Some("error".into()),
                ..newest(20)
            },
            runs,
        )?,
    ];
    if !log_trace.is_empty() {
        let q = LogQuery {
            trace_id: Some(log_trace),
            limit: 100,
            ..Default::default()
        };
        results.push(time_it(&client, &q, runs)?);
    }
    // Full text: a phrase most generated prompts hold, and a word none does.
    for text in ["\"refund policy\"", "zebra"] {
        let q = TraceQuery {
            text: Some(text.into()),
            ..newest(20)
        };
        results.push(time_it(&client, &q, runs)?);
    }
    let last_hour = Some(DurationParam::parse("1h")?);
    let summary = SummaryRequest {
        last: last_hour.clone(),
        service: None,
    };
    results.push(time_it(&client, &summary, runs)?);
    let anomalies = AnomalyRequest {
        last: last_hour.clone(),
        ..Default::default()
    };
    results.push(time_it(&client, &anomalies, runs)?);
    let diff = DiffRequest {
        last: last_hour.clone(),
        ..Default::default()
    };
    results.push(time_it(&client, &diff, runs)?);
    results.push(time_it(
        &client,
        &TopologyRequest { last: last_hour },
        runs,
    )?);
    let sql = SqlQuery {
        q: "SELECT service, count(*) AS n FROM spans GROUP BY service".into(),
        max_rows: None,
    };
    results.push(time_it(&client, &sql, runs)?);
    Ok(json!({ "server": server, "stored_spans": total_spans, "results": results }))
}
