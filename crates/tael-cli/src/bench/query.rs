//! `tael bench query`: times the hot REST queries against a running server
//! (median and p90 of repeated runs, through HTTP like a real client):
//! trace by id, services, error traces of a service, logs by trace id,
//! full-text searches (a phrase most generated prompts hold, a missing word); and
//! the analytics: summary and anomalies of the last hour, diff, topology,
//! and SQL `count(*) … GROUP BY service`.

use crate::client::{CliError, Client};
use serde_json::{json, Value};
use std::time::Instant;

fn time_it(
    client: &Client,
    path: &str,
    query: &[(String, String)],
    runs: usize,
) -> Result<Value, CliError> {
    let mut ms = Vec::with_capacity(runs);
    let mut last = Value::Null;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = client.get(path, query)?;
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
    Ok(
        json!({ "path": path, "query": query, "runs": runs, "median_ms": pick(0.5), "p90_ms": pick(0.9), "items": items }),
    )
}

pub fn run(server: &str, runs: usize) -> Result<Value, CliError> {
    let client = Client::new(server)?;
    let runs = runs.max(1);
    let services = client.get("/api/v1/services", &[])?;
    let service = services["services"][0]["name"]
        .as_str()
        .unwrap_or("frontend")
        .to_string();
    let total_spans: i64 = services["services"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["span_count"].as_i64()).sum())
        .unwrap_or(0);
    let recent = client.get("/api/v1/traces", &[("limit".into(), "1".into())])?;
    let trace_id = recent["spans"][0]["trace_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let logs = client.get("/api/v1/logs", &[("limit".into(), "200".into())])?;
    let log_trace = logs["logs"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find_map(|l| l["trace_id"].as_str().map(str::to_string))
        })
        .unwrap_or_default();
    let mut results = vec![
        time_it(&client, &format!("/api/v1/traces/{trace_id}"), &[], runs)?,
        time_it(&client, "/api/v1/services", &[], runs)?,
        time_it(
            &client,
            "/api/v1/traces",
            &[
                ("service".into(), service.clone()),
                ("status".into(), "error".into()),
                ("limit".into(), "20".into()),
            ],
            runs,
        )?,
    ];
    if !log_trace.is_empty() {
        results.push(time_it(
            &client,
            "/api/v1/logs",
            &[("trace_id".into(), log_trace)],
            runs,
        )?);
    }
    // Full text: a phrase most generated prompts hold, and a word none does.
    for text in ["\"refund policy\"", "zebra"] {
        results.push(time_it(
            &client,
            "/api/v1/traces",
            &[("text".into(), text.into()), ("limit".into(), "20".into())],
            runs,
        )?);
    }
    let last_hour = [("last".to_string(), "1h".to_string())];
    results.push(time_it(&client, "/api/v1/summary", &last_hour, runs)?);
    results.push(time_it(&client, "/api/v1/anomalies", &last_hour, runs)?);
    results.push(time_it(&client, "/api/v1/diff", &last_hour, runs)?);
    results.push(time_it(&client, "/api/v1/topology", &last_hour, runs)?);
    results.push(time_it(
        &client,
        "/api/v1/sql",
        &[(
            "q".into(),
            "SELECT service, count(*) AS n FROM spans GROUP BY service".into(),
        )],
        runs,
    )?);
    Ok(json!({ "server": server, "stored_spans": total_spans, "results": results }))
}
