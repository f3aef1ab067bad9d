//! Output: pretty JSON by default, plain-text tables with `--format table`.

use serde_json::Value;

/// A simple left-aligned text table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no rows)\n");
    }
    out
}

pub(crate) fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub(crate) fn short(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_string()
    } else {
        text.chars().take(n).collect::<String>() + "…"
    }
}

pub(crate) fn num(v: &Value, key: &str, digits: usize) -> String {
    v.get(key)
        .and_then(Value::as_f64)
        .map(|f| format!("{f:.digits$}"))
        .unwrap_or_default()
}

pub(crate) fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub fn spans_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "spans")
        .iter()
        .map(|sp| {
            vec![
                s(sp, "start_time"),
                short(&s(sp, "trace_id"), 12),
                s(sp, "span_id"),
                s(sp, "service"),
                short(&s(sp, "operation"), 40),
                num(sp, "duration_ms", 2),
                s(sp, "status"),
            ]
        })
        .collect();
    table(
        &[
            "Start",
            "Trace ID",
            "Span ID",
            "Service",
            "Operation",
            "Duration (ms)",
            "Status",
        ],
        &rows,
    )
}

pub fn logs_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "logs")
        .iter()
        .map(|l| {
            vec![
                s(l, "timestamp"),
                s(l, "service"),
                s(l, "severity"),
                short(&s(l, "body").replace('\n', " "), 60),
                short(&s(l, "trace_id"), 12),
            ]
        })
        .collect();
    table(&["Time", "Service", "Severity", "Body", "Trace ID"], &rows)
}

pub fn metrics_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "metrics")
        .iter()
        .map(|m| {
            vec![
                s(m, "timestamp"),
                s(m, "service"),
                s(m, "name"),
                s(m, "metric_type"),
                s(m, "value"),
                s(m, "unit"),
            ]
        })
        .collect();
    table(&["Time", "Service", "Name", "Type", "Value", "Unit"], &rows)
}

pub fn services_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "services")
        .iter()
        .map(|x| {
            vec![
                s(x, "name"),
                s(x, "span_count"),
                s(x, "trace_count"),
                num(x, "avg_duration_ms", 2),
                x.get("error_rate")
                    .and_then(Value::as_f64)
                    .map(|e| format!("{:.2}%", e * 100.0))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "Service",
            "Spans",
            "Traces",
            "Avg Duration (ms)",
            "Error Rate",
        ],
        &rows,
    )
}

pub fn comments_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "comments")
        .iter()
        .map(|c| {
            vec![
                s(c, "created_at"),
                short(&s(c, "trace_id"), 12),
                s(c, "span_id"),
                s(c, "author"),
                short(&s(c, "body"), 60),
            ]
        })
        .collect();
    table(&["Created", "Trace ID", "Span ID", "Author", "Body"], &rows)
}

/// A trace as an indented tree (children under their parents).
pub fn trace_tree(v: &Value) -> String {
    let spans = list(v, "spans");
    let ids: std::collections::HashSet<String> = spans.iter().map(|sp| s(sp, "span_id")).collect();
    let mut out = format!("trace {} ({} spans)\n", s(v, "trace_id"), spans.len());
    fn walk(
        spans: &[Value],
        parent: Option<&str>,
        ids: &std::collections::HashSet<String>,
        depth: usize,
        out: &mut String,
    ) {
        for sp in spans {
            let p = sp.get("parent_span_id").and_then(Value::as_str);
            let is_child = match parent {
                None => p.is_none_or(|p| !ids.contains(p)),
                Some(x) => p == Some(x),
            };
            if is_child {
                let status = s(sp, "status");
                out.push_str(&format!(
                    "{}{} {}  {} ms{}\n",
                    "  ".repeat(depth),
                    s(sp, "service"),
                    s(sp, "operation"),
                    num(sp, "duration_ms", 2),
                    if status == "error" { "  [error]" } else { "" }
                ));
                let id = s(sp, "span_id");
                if depth < 64 {
                    walk(spans, Some(&id), ids, depth + 1, out);
                }
            }
        }
    }
    walk(spans, None, &ids, 1, &mut out);
    out
}

/// PromQL results of `/api/v1/metrics/query`: one row per series (the
/// value, or the last value of a range with its point count).
pub fn promql_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "series")
        .iter()
        .map(|x| {
            let labels = x["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            let (value, points) = match x["values"].as_array() {
                Some(vals) => (
                    vals.last().map(|p| p[1].to_string()).unwrap_or_default(),
                    vals.len().to_string(),
                ),
                None => (x["value"].to_string(), "1".into()),
            };
            vec![s(x, "metric"), labels, value, points]
        })
        .collect();
    table(&["metric", "labels", "value", "points"], &rows)
}

/// `tael cluster status --format table`.
pub fn cluster_table(v: &Value) -> String {
    let s = |k: &str| match &v[k] {
        Value::Null => "-".to_string(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    };
    let mut out = format!(
        "node {} (shard {}) is {} at epoch {}, fence {}; leader {} {}; may ack for {} ms; holds records through {}\n",
        s("node_id"),
        s("shard_id"),
        s("role"),
        s("epoch"),
        s("fence"),
        v["leader"]["node_id"].as_str().unwrap_or("-"),
        v["leader"]["url"].as_str().unwrap_or(""),
        s("ack_deadline_ms"),
        s("applied_seq"),
    );
    let standbys: Vec<Vec<String>> = v["standbys"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    let f = |k: &str| match &x[k] {
                        Value::Null => "-".to_string(),
                        Value::String(t) => t.clone(),
                        other => other.to_string(),
                    };
                    vec![f("node_id"), f("url"), f("state"), f("acked_seq"), f("lag")]
                })
                .collect()
        })
        .unwrap_or_default();
    if !standbys.is_empty() {
        out.push_str(&table(
            &["standby", "url", "state", "acked_seq", "lag"],
            &standbys,
        ));
    }
    out
}
