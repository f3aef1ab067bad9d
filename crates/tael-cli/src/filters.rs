//! The filter flags that `query traces|logs` and `tail traces|logs`
//! share, and the query each set makes (the search adds its window, limit
//! and text; a tail sends the filters alone).

use crate::client::CliError;
use clap::Args;
use tael_core::duration::parse_duration_ms_bare_ms;
use tael_query::logs::LogQuery;
use tael_query::traces::TraceQuery;

/// Which spans.
#[derive(Args, Debug)]
pub struct SpanFilters {
    #[arg(long)]
    service: Option<String>,
    /// Substring of the operation name.
    #[arg(long)]
    operation: Option<String>,
    /// e.g. 250 (ms), 500ms, 2s, 1m.
    #[arg(long)]
    min_duration: Option<String>,
    #[arg(long)]
    max_duration: Option<String>,
    /// ok, error or unset.
    #[arg(long)]
    status: Option<String>,
    /// key=value, the span attribute's flat value (repeatable).
    #[arg(long = "attribute")]
    attributes: Vec<String>,
}

impl SpanFilters {
    /// The query of these filters: no window, no text, limit 1. Values the
    /// server checks (status) are sent as given.
    pub fn query(&self) -> Result<TraceQuery, CliError> {
        Ok(TraceQuery {
            service: self.service.clone(),
            operation: self.operation.clone(),
            min_duration_ms: ms_arg("--min-duration", &self.min_duration)?,
            max_duration_ms: ms_arg("--max-duration", &self.max_duration)?,
            status: self.status.clone(),
            since: None,
            until_ns: None,
            attributes: attribute_args(&self.attributes)?,
            text: None,
            limit: 1,
        })
    }
}

/// Which log records.
#[derive(Args, Debug)]
pub struct LogFilters {
    #[arg(long)]
    service: Option<String>,
    /// trace, debug, info, warn, error or fatal.
    #[arg(long)]
    severity: Option<String>,
    /// Case-sensitive substring of the body.
    #[arg(long)]
    body_contains: Option<String>,
    #[arg(long)]
    trace_id: Option<String>,
}

impl LogFilters {
    /// The query of these filters: no window, no text, limit 1.
    pub fn query(&self) -> LogQuery {
        LogQuery {
            service: self.service.clone(),
            severity: self.severity.clone(),
            body_contains: self.body_contains.clone(),
            trace_id: self.trace_id.clone(),
            text: None,
            since: None,
            until_ns: None,
            limit: 1,
            with_payloads: false,
        }
    }
}

fn ms_arg(flag: &str, v: &Option<String>) -> Result<Option<f64>, CliError> {
    v.as_ref()
        .map(|s| parse_duration_ms_bare_ms(s).map_err(|e| CliError::usage(format!("{flag}: {e}"))))
        .transpose()
}

/// `--attribute key=value` flags as (key, value) pairs.
fn attribute_args(raw: &[String]) -> Result<Vec<(String, String)>, CliError> {
    raw.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::usage(format!(
                "--attribute {a:?}: expected key=value"
            ))),
        })
        .collect()
}
