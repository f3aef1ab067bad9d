//! `tael watch`: polls the summary of the last `--last` every `--interval`
//! and prints one JSON line per tick with the values and their change since
//! the previous tick. `--exit-on 'error_rate > 0.01'` ends the watch (exit
//! 0) on the first tick where a condition holds, so an agent can wait for a
//! threshold; `--timeout` gives up with exit code 6 (condition not met).
//!
//! Condition grammar: `<field> <op> <number>` joined by `and` / `or` (`and`
//! binds tighter); repeated `--exit-on` flags are alternatives. A field is a
//! tick key (`span_count`, `error_rate`, `p95_ms`, `delta_error_rate`,
//! `total`, `point_count` …, looked up in traces, then logs, then metrics)
//! or a dotted path (`logs.error`). Operators: `>`, `>=`, `<`, `<=`, `==`,
//! `!=`.

use crate::client::{exit, CliError, Client};
use crate::condition::parse_exit_on;
use crate::{duration_arg, Format};
use clap::Args;
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};
use tael_core::duration::parse_duration_ns;
use tael_query::summary::SummaryRequest;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Window each tick summarises.
    #[arg(long, default_value = "1m")]
    last: String,
    #[arg(long)]
    service: Option<String>,
    /// Time between ticks, e.g. 10s.
    #[arg(long, default_value = "10s")]
    interval: String,
    /// Stop (exit 0) when this holds, e.g. 'error_rate > 0.01' (repeatable).
    #[arg(long = "exit-on")]
    exit_on: Vec<String>,
    /// Stop after this many ticks.
    #[arg(long)]
    count: Option<u64>,
    /// With --exit-on: give up after this long (exit 6).
    #[arg(long)]
    timeout: Option<String>,
}

fn lookup(tick: &Value, field: &str) -> Option<f64> {
    if field.contains('.') {
        return field
            .split('.')
            .try_fold(tick, |v, k| v.get(k))
            .and_then(Value::as_f64);
    }
    ["traces", "logs", "metrics"]
        .iter()
        .find_map(|sec| tick[sec].get(field).and_then(Value::as_f64))
}

/// A tick's field, for `--exit-on`; a field no tick has is an error.
fn tick_field(tick: &Value, field: &str) -> Result<Option<Value>, String> {
    lookup(tick, field)
        .map(|v| Some(json!(v)))
        .ok_or_else(|| format!("unknown field {field:?} in --exit-on"))
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0)
}

/// The fields a tick reports, per summary section.
const TICK_FIELDS: [(&str, &[&str]); 3] = [
    (
        "traces",
        &[
            "span_count",
            "trace_count",
            "error_count",
            "error_rate",
            "p50_ms",
            "p95_ms",
            "p99_ms",
        ],
    ),
    ("logs", &["total", "error", "warn"]),
    ("metrics", &["point_count", "unique_names"]),
];

/// Builds the tick line from a summary and the previous tick's values.
pub fn tick(summary: &Value, prev: Option<&Value>) -> Value {
    let mut line = json!({
        "timestamp": summary["to"],
        "window_seconds": summary["window_seconds"],
    });
    for (name, keys) in TICK_FIELDS {
        let src = &summary[name];
        let mut out = Map::new();
        for k in keys {
            let now = f(src, k);
            let before = prev.map(|p| f(&p[name], k)).unwrap_or(now);
            out.insert(k.to_string(), src.get(*k).cloned().unwrap_or(json!(0)));
            out.insert(format!("delta_{k}"), json!(now - before));
        }
        line[name] = Value::Object(out);
    }
    line
}

/// A positive duration flag.
pub(crate) fn positive_duration(flag: &str, v: &str) -> Result<Duration, CliError> {
    match parse_duration_ns(v) {
        Ok(ns) if ns > 0 => Ok(Duration::from_nanos(ns as u64)),
        Ok(_) => Err(CliError::usage(format!("{flag} must be positive"))),
        Err(e) => Err(CliError::usage(format!("{flag}: {e}"))),
    }
}

pub fn run(format: Format, client: &Client, a: &WatchArgs) -> Result<(), CliError> {
    let q = SummaryRequest {
        last: duration_arg("--last", &Some(a.last.clone()))?,
        service: a.service.clone(),
    };
    let interval = positive_duration("--interval", &a.interval)?;
    let timeout = a
        .timeout
        .as_deref()
        .map(|t| positive_duration("--timeout", t))
        .transpose()?;
    let conditions = parse_exit_on(&a.exit_on)?;
    let started = Instant::now();
    let mut prev: Option<Value> = None;
    let mut ticks = 0u64;
    loop {
        let summary = client.call(&q)?;
        let mut line = tick(&summary, prev.as_ref());
        ticks += 1;
        let mut matched = Vec::new();
        for c in &conditions {
            if c.holds(&|f| tick_field(&line, f))
                .map_err(CliError::usage)?
            {
                matched.push(c.text.clone());
            }
        }
        if !matched.is_empty() {
            line["matched"] = json!(matched);
        }
        match format {
            Format::Json => println!("{line}"),
            Format::Table => {
                let t = &line["traces"];
                println!(
                    "{} spans {} (Δ{}) errors {:.2}% p95 {:.1} ms logs {} metrics {}{}",
                    line["timestamp"].as_str().unwrap_or(""),
                    f(t, "span_count"),
                    f(t, "delta_span_count"),
                    f(t, "error_rate") * 100.0,
                    f(t, "p95_ms"),
                    f(&line["logs"], "total"),
                    f(&line["metrics"], "point_count"),
                    if matched.is_empty() {
                        ""
                    } else {
                        "  ← condition met"
                    },
                )
            }
        }
        if !matched.is_empty() || a.count.is_some_and(|n| ticks >= n) {
            return Ok(());
        }
        if timeout.is_some_and(|t| started.elapsed() + interval > t) {
            return Err(CliError {
                code: exit::CONDITION_NOT_MET,
                message: "watch timed out before an --exit-on condition held".into(),
            });
        }
        prev = Some(line);
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::condition::parse_condition;

    #[test]
    fn conditions() {
        let tick =
            json!({"traces": {"error_rate": 0.02, "span_count": 10.0}, "logs": {"error": 3}});
        let holds = |c: &str| parse_condition(c).unwrap().holds(&|f| tick_field(&tick, f));
        assert!(holds("error_rate > 0.01").unwrap());
        assert!(!holds("error_rate > 0.01 and span_count >= 100").unwrap());
        assert!(holds("span_count >= 100 or logs.error == 3").unwrap());
        assert!(parse_condition("nothing").is_err());
        assert!(holds("nope > 1").is_err());
    }

    #[test]
    fn deltas() {
        let s1 = json!({"to": "t1", "window_seconds": 60.0, "traces": {"span_count": 10, "error_rate": 0.1}, "logs": {}, "metrics": {}});
        let s2 = json!({"to": "t2", "window_seconds": 60.0, "traces": {"span_count": 25, "error_rate": 0.0}, "logs": {}, "metrics": {}});
        let t1 = tick(&s1, None);
        assert_eq!(t1["traces"]["delta_span_count"], json!(0.0));
        let t2 = tick(&s2, Some(&t1));
        assert_eq!(t2["traces"]["delta_span_count"], json!(15.0));
        assert_eq!(t2["traces"]["delta_error_rate"], json!(-0.1));
    }
}
