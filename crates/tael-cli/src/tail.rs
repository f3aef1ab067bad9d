//! `tael tail traces|logs`: follows a live stream (`/api/v1/traces/live`,
//! `/api/v1/logs/live`) and prints each span or log record as one JSON line
//! on stdout, as it is stored. `gap` and `lagged` notices go to stderr as
//! JSON lines. A dropped connection or a stopping server is resumed with
//! `Last-Event-ID` (for up to 30 s of failed attempts).
//!
//! `--exit-on 'status == error and service == checkout'` stops (exit 0)
//! after the first record for which a condition holds; fields are the
//! record's keys (`service`, `status`, `duration_ms`, `severity` …) or
//! `attributes.<key>` / `resource.<key>` (the rest is the whole key,
//! dots included). `--count N` stops after N records; `--timeout` gives up
//! with exit code 6.

use crate::client::{exit, CliError};
use crate::condition::{parse_exit_on, Condition};
use crate::filters::{LogFilters, SpanFilters};
use crate::Format;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tael_client::{BlockingClient, ClientError};
use tael_query::live::{LiveLogFilter, LiveSpanFilter, LOGS_LIVE_ROUTE, TRACES_LIVE_ROUTE};
use tael_query::params::Params;

#[derive(Subcommand, Debug)]
pub enum TailCmd {
    /// Spans as they are stored.
    Traces {
        #[command(flatten)]
        filters: SpanFilters,
        #[command(flatten)]
        until: Until,
    },
    /// Log records as they are stored.
    Logs {
        #[command(flatten)]
        filters: LogFilters,
        #[command(flatten)]
        until: Until,
    },
}

/// When a tail stops.
#[derive(Args, Debug)]
pub struct Until {
    /// Stop (exit 0) after the first record for which this holds, e.g.
    /// 'status == error and service == checkout' (repeatable).
    #[arg(long = "exit-on")]
    exit_on: Vec<String>,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Give up after this long (exit 6), e.g. 5m.
    #[arg(long)]
    timeout: Option<String>,
}

/// Silence after which a connection is given up and resumed (the server
/// sends a heartbeat every 15 s by default).
const IDLE: Duration = Duration::from_secs(45);
/// How long reconnecting may fail before the tail gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(30);

/// A record's field for `--exit-on` (absent is `None`).
fn record_field(rec: &Value, field: &str) -> Option<Value> {
    for prefix in ["attributes.", "resource."] {
        if let Some(key) = field.strip_prefix(prefix) {
            return rec[prefix.trim_end_matches('.')].get(key).cloned();
        }
    }
    rec.get(field).cloned()
}

fn one_line(kind: &str, rec: &Value) -> String {
    let s = |k: &str| rec[k].as_str().unwrap_or("").to_string();
    match kind {
        "span" => format!(
            "{} {} {} {:.1} ms {} {}",
            s("trace_id"),
            s("service"),
            s("operation"),
            rec["duration_ms"].as_f64().unwrap_or(0.0),
            s("status"),
            s("span_id")
        ),
        _ => format!(
            "{} {} {} {}",
            s("timestamp"),
            s("service"),
            s("severity"),
            rec["body"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| rec["body"].to_string())
        ),
    }
}

pub fn run(format: Format, url: &str, cmd: &TailCmd) -> Result<(), CliError> {
    let (route, kind, params, until) = match cmd {
        TailCmd::Traces { filters, until } => {
            let f = LiveSpanFilter::from_query(filters.query()?)
                .map_err(|e| CliError::usage(e.to_string()))?;
            (TRACES_LIVE_ROUTE, "span", f.to_params(), until)
        }
        TailCmd::Logs { filters, until } => {
            let f = LiveLogFilter::from_query(filters.query())
                .map_err(|e| CliError::usage(e.to_string()))?;
            (LOGS_LIVE_ROUTE, "log", f.to_params(), until)
        }
    };
    let conditions = parse_exit_on(&until.exit_on)?;
    let timeout = until
        .timeout
        .as_deref()
        .map(|t| crate::watch::positive_duration("--timeout", t))
        .transpose()?;
    let tail = Tail {
        client: BlockingClient::new(url)?,
        route,
        kind,
        params,
        conditions,
        count: until.count,
        deadline: timeout.map(|t| Instant::now() + t),
        format,
    };
    tail.run()
}

struct Tail {
    client: BlockingClient,
    route: &'static str,
    kind: &'static str,
    params: Params,
    conditions: Vec<Condition>,
    count: Option<u64>,
    deadline: Option<Instant>,
    format: Format,
}

/// Why a connection ended.
enum Ended {
    /// Done: a condition held or the count was reached.
    Done,
    /// The connection closed or failed; resume.
    Dropped,
}

impl Tail {
    fn timed_out(&self) -> Result<(), CliError> {
        match self.deadline {
            Some(d) if Instant::now() >= d => Err(CliError {
                code: exit::CONDITION_NOT_MET,
                message: match (self.conditions.is_empty(), self.count) {
                    (false, _) => "tail timed out before an --exit-on condition held".into(),
                    (true, Some(n)) => format!("tail timed out before {n} records came"),
                    (true, None) => "tail timed out".into(),
                },
            }),
            _ => Ok(()),
        }
    }

    fn idle(&self) -> Duration {
        match self.deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(50), IDLE),
            None => IDLE,
        }
    }

    fn run(&self) -> Result<(), CliError> {
        let mut last_id: Option<String> = None;
        let mut seen = 0u64;
        let mut retry = Duration::from_secs(3);
        let mut failing_since: Option<Instant> = None;
        loop {
            self.timed_out()?;
            let opened =
                self.client
                    .live(self.route, &self.params, last_id.as_deref(), self.idle());
            let mut stream = match opened {
                Ok(s) => s,
                Err(e @ ClientError::Unreachable { .. }) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if last_id.is_none() || since.elapsed() > RECONNECT_FOR {
                        return Err(e.into());
                    }
                    std::thread::sleep(retry);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            failing_since = None;
            let ended = self.follow(&mut stream, &mut seen);
            if let Some(id) = stream.last_id() {
                last_id = Some(id.to_string());
            }
            if let Some(r) = stream.retry() {
                retry = r;
            }
            match ended? {
                Ended::Done => return Ok(()),
                // Resumed at once: the server may already be back.
                Ended::Dropped => {}
            }
        }
    }

    fn follow(
        &self,
        stream: &mut tael_client::BlockingEventStream<'_>,
        seen: &mut u64,
    ) -> Result<Ended, CliError> {
        loop {
            let ev = match stream.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) | Err(ClientError::Unreachable { .. }) => {
                    self.timed_out()?;
                    return Ok(Ended::Dropped);
                }
                Err(e) => return Err(e.into()),
            };
            match ev.event.as_str() {
                "gap" | "lagged" => {
                    let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
                    eprintln!("{}", json!({"event": ev.event, "data": data}));
                }
                "end" => return Ok(Ended::Dropped),
                k if k == self.kind => {
                    let rec: Value = serde_json::from_str(&ev.data).map_err(|e| {
                        CliError::other(format!("unreadable {k} event from the server: {e}"))
                    })?;
                    match self.format {
                        Format::Json => println!("{rec}"),
                        Format::Table => println!("{}", one_line(k, &rec)),
                    }
                    *seen += 1;
                    for c in &self.conditions {
                        if c.holds(&|f| Ok(record_field(&rec, f)))
                            .map_err(CliError::usage)?
                        {
                            return Ok(Ended::Done);
                        }
                    }
                    if self.count.is_some_and(|n| *seen >= n) {
                        return Ok(Ended::Done);
                    }
                }
                _ => {}
            }
            self.timed_out()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_a_record() {
        let rec = json!({"service": "a", "attributes": {"http.status_code": 500}, "resource": {"host.name": "h"}});
        assert_eq!(
            record_field(&rec, "attributes.http.status_code"),
            Some(json!(500))
        );
        assert_eq!(record_field(&rec, "resource.host.name"), Some(json!("h")));
        assert_eq!(record_field(&rec, "service"), Some(json!("a")));
        assert_eq!(record_field(&rec, "nope"), None);
    }
}
