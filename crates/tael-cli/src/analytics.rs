//! Analytics commands: `query sql`, `summarize`, `anomalies`, `diff`,
//! `topology`, `correlate` (thin clients of the REST routes) and their
//! `--format table` renderings. `watch` lives in `watch.rs`.

use crate::client::{CliError, Client};
use crate::output::{list, num, s, short, table};
use crate::{duration_arg, print, Format};
use clap::{Args, Subcommand};
use serde_json::Value;
use tael_query::anomalies::AnomalyRequest;
use tael_query::api::SchemaRequest;
use tael_query::correlate::CorrelateRequest;
use tael_query::diff::DiffRequest;
use tael_query::sql::SqlQuery;
use tael_query::summary::SummaryRequest;
use tael_query::topology::TopologyRequest;

/// Window flags shared by the analytics commands.
#[derive(Args, Debug, Clone)]
pub struct WindowArgs {
    /// Window ending now, e.g. 15m, 1h, 1d [server default: 1h].
    #[arg(long)]
    pub last: Option<String>,
    /// Only this service.
    #[arg(long)]
    pub service: Option<String>,
}

impl WindowArgs {
    pub fn summary(&self) -> Result<SummaryRequest, CliError> {
        Ok(SummaryRequest {
            last: duration_arg("--last", &self.last)?,
            service: self.service.clone(),
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum AnalyticsCmd {
    /// Spans, traces, errors, latency percentiles, top services and error
    /// operations, log and metric counts of a window.
    Summarize(WindowArgs),
    /// Error-rate, latency and throughput anomalies of a window against the
    /// baseline window just before it, per service and operation.
    Anomalies {
        #[command(flatten)]
        window: WindowArgs,
        /// Baseline length, ending where the window starts [default: 6 × --last].
        #[arg(long)]
        baseline: Option<String>,
        /// Spans a group needs in each window to be judged [default: 20].
        #[arg(long)]
        min_samples: Option<u64>,
    },
    /// Rate, error rate and p50/p95/p99 now vs a baseline, per service and
    /// operation, worst first.
    Diff {
        #[command(flatten)]
        window: WindowArgs,
        /// `1h` (the hour before the window) or `1h@-1d` (the hour ending a day ago)
        /// [default: the --last window just before].
        #[arg(long)]
        baseline: Option<String>,
    },
    /// The service dependency graph of a window with calls, error rate and
    /// latency per edge.
    Topology {
        /// Window ending now [server default: 1h].
        #[arg(long)]
        last: Option<String>,
    },
    /// LLM calls: usage, tokens and cost.
    Llm {
        #[command(subcommand)]
        what: crate::llm::LlmCmd,
    },
    /// A trace with its logs, the metrics of its services around it, and comments.
    Correlate {
        /// Trace id.
        #[arg(required_unless_present = "trace")]
        trace_id: Option<String>,
        /// Trace id (tael 0.5 spelling).
        #[arg(long)]
        trace: Option<String>,
    },
}

pub fn run(format: Format, client: &Client, cmd: &AnalyticsCmd) -> Result<(), CliError> {
    match cmd {
        AnalyticsCmd::Summarize(w) => {
            let v = client.call(&w.summary()?)?;
            print(format, &v, summary_table);
        }
        AnalyticsCmd::Anomalies {
            window,
            baseline,
            min_samples,
        } => {
            let w = window.summary()?;
            let q = AnomalyRequest {
                last: w.last,
                service: w.service,
                baseline: duration_arg("--baseline", baseline)?,
                min_samples: *min_samples,
            };
            print(format, &client.call(&q)?, anomalies_table);
        }
        AnalyticsCmd::Diff { window, baseline } => {
            let w = window.summary()?;
            let q = DiffRequest {
                last: w.last,
                service: w.service,
                baseline: baseline.clone(),
            };
            print(format, &client.call(&q)?, diff_table);
        }
        AnalyticsCmd::Topology { last } => {
            let q = TopologyRequest {
                last: duration_arg("--last", last)?,
            };
            print(format, &client.call(&q)?, topology_text);
        }
        AnalyticsCmd::Llm { what } => crate::llm::run(format, client, what)?,
        AnalyticsCmd::Correlate { trace_id, trace } => {
            // The server checks the id.
            let q = CorrelateRequest {
                trace_id: trace
                    .as_ref()
                    .or(trace_id.as_ref())
                    .cloned()
                    .unwrap_or_default(),
            };
            print(format, &client.call(&q)?, correlate_text);
        }
    }
    Ok(())
}

/// `tael query sql`.
pub fn sql(
    format: Format,
    client: &Client,
    query: &Option<String>,
    schema: bool,
    max_rows: Option<usize>,
) -> Result<(), CliError> {
    if schema {
        let v = client.call(&SchemaRequest)?;
        print(format, &v, schema_text);
        return Ok(());
    }
    let Some(q) = query else {
        return Err(CliError::usage(
            "give a SQL query, or --schema for the tables",
        ));
    };
    let v = client.call(&SqlQuery {
        q: q.clone(),
        max_rows,
    })?;
    print(format, &v, sql_table);
    Ok(())
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(x) => short(x, 60),
        Value::Null => "NULL".into(),
        other => other.to_string(),
    }
}

fn sql_table(v: &Value) -> String {
    let cols: Vec<String> = list(v, "columns").iter().map(|c| s(c, "name")).collect();
    let rows: Vec<Vec<String>> = list(v, "rows")
        .iter()
        .map(|r| cols.iter().map(|c| cell(&r[c.as_str()])).collect())
        .collect();
    let headers: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut out = table(&headers, &rows);
    if v["truncated"].as_bool() == Some(true) {
        out.push_str(&format!("(truncated at {} rows)\n", rows.len()));
    }
    out
}

fn schema_text(v: &Value) -> String {
    let mut out = String::new();
    for t in list(v, "tables") {
        out.push_str(&format!("{} — {}\n", s(t, "name"), s(t, "description")));
        let rows: Vec<Vec<String>> = list(t, "columns")
            .iter()
            .map(|c| vec![s(c, "name"), s(c, "type"), s(c, "description")])
            .collect();
        out.push_str(&table(&["column", "type", "meaning"], &rows));
        out.push('\n');
    }
    out
}

fn summary_table(v: &Value) -> String {
    let t = &v["traces"];
    let mut out = format!(
        "window {}s: {} spans, {} traces, {} errors ({}%), avg {} ms, p50 {} ms, p95 {} ms, p99 {} ms, max {} ms\n\n",
        num(v, "window_seconds", 0),
        s(t, "span_count"),
        s(t, "trace_count"),
        s(t, "error_count"),
        t["error_rate"].as_f64().map(|r| format!("{:.2}", r * 100.0)).unwrap_or_default(),
        num(t, "avg_ms", 1),
        num(t, "p50_ms", 1),
        num(t, "p95_ms", 1),
        num(t, "p99_ms", 1),
        num(t, "max_ms", 1),
    );
    let rows: Vec<Vec<String>> = list(v, "top_services")
        .iter()
        .map(|r| {
            vec![
                s(r, "service"),
                s(r, "span_count"),
                num(r, "error_rate", 4),
                num(r, "p50_ms", 1),
                num(r, "p95_ms", 1),
                num(r, "p99_ms", 1),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "service",
            "spans",
            "error rate",
            "p50 ms",
            "p95 ms",
            "p99 ms",
        ],
        &rows,
    ));
    let rows: Vec<Vec<String>> = list(v, "top_error_operations")
        .iter()
        .map(|r| vec![s(r, "service"), s(r, "operation"), s(r, "error_count")])
        .collect();
    out.push('\n');
    out.push_str(&table(&["service", "operation", "errors"], &rows));
    let l = &v["logs"];
    out.push_str(&format!(
        "\nlogs: {} ({} error, {} warn, {} info, {} debug); metrics: {} points, {} names\n",
        s(l, "total"),
        s(l, "error"),
        s(l, "warn"),
        s(l, "info"),
        s(l, "debug"),
        s(&v["metrics"], "point_count"),
        s(&v["metrics"], "unique_names"),
    ));
    out
}

fn anomalies_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "anomalies")
        .iter()
        .map(|a| vec![s(a, "severity"), s(a, "kind"), s(a, "description")])
        .collect();
    table(&["severity", "kind", "description"], &rows)
}

fn diff_table(v: &Value) -> String {
    let rows: Vec<Vec<String>> = list(v, "rows")
        .iter()
        .map(|r| {
            let (n, b) = (&r["now"], &r["baseline"]);
            vec![
                s(r, "service"),
                s(r, "operation"),
                s(r, "status"),
                format!("{} → {}", num(b, "rate_per_s", 2), num(n, "rate_per_s", 2)),
                format!("{} → {}", num(b, "error_rate", 3), num(n, "error_rate", 3)),
                format!("{} → {}", num(b, "p95_ms", 1), num(n, "p95_ms", 1)),
                num(r, "worse_by", 2),
            ]
        })
        .collect();
    table(
        &[
            "service",
            "operation",
            "status",
            "rate/s",
            "error rate",
            "p95 ms",
            "worse by",
        ],
        &rows,
    )
}

fn topology_text(v: &Value) -> String {
    let mut out = String::new();
    for e in list(v, "edges") {
        out.push_str(&format!(
            "{} → {}  calls {}  errors {}%  p50 {} ms  p95 {} ms  p99 {} ms\n",
            s(e, "from"),
            s(e, "to"),
            s(e, "calls"),
            e["error_rate"]
                .as_f64()
                .map(|r| format!("{:.2}", r * 100.0))
                .unwrap_or_default(),
            num(e, "p50_ms", 1),
            num(e, "p95_ms", 1),
            num(e, "p99_ms", 1),
        ));
    }
    if out.is_empty() {
        out.push_str("(no cross-service calls in the window)\n");
    }
    let roots: Vec<String> = list(v, "nodes")
        .iter()
        .filter(|n| n["root_spans"].as_u64().unwrap_or(0) > 0)
        .map(|n| s(n, "service"))
        .collect();
    out.push_str(&format!("entry services: {}\n", roots.join(", ")));
    out
}

fn correlate_text(v: &Value) -> String {
    format!(
        "trace {}: {} spans over {} ms, {} errors, services {}\n{} logs, {} metric points, {} comments\n",
        s(v, "trace_id"),
        s(v, "span_count"),
        num(v, "duration_ms", 1),
        s(v, "error_count"),
        list(v, "services").iter().map(cell).collect::<Vec<_>>().join(", "),
        list(v, "logs").len(),
        list(v, "metrics").len(),
        list(v, "comments").len(),
    )
}
