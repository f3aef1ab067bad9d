//! Parameters many tools share: the time window (`last`, or `start` and
//! `end`), read into the query-string form the request codecs of
//! `tael_query` validate, so a tool accepts exactly what the REST route
//! accepts.

use crate::error::{ToolError, DURATION_FORMS};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use tael_core::time::{format_rfc3339, now_ns, parse_rfc3339};
use tael_query::params::{DurationParam, Params};

/// The window searched.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
pub struct Window {
    /// How far back from now: 15m, 1h (default), 2d. Ignored when start is given.
    pub last: Option<String>,
    /// Window start, RFC 3339 (e.g. 2026-12-03T10:00:00Z).
    pub start: Option<String>,
    /// Window end, RFC 3339 (default now).
    pub end: Option<String>,
}

/// The window a tool used, echoed in its answer.
#[derive(Debug, Clone, Copy)]
pub struct UsedWindow {
    pub from_ns: i64,
    pub to_ns: Option<i64>,
}

impl UsedWindow {
    pub fn to_json(self) -> Value {
        json!({ "start": format_rfc3339(self.from_ns),
                "end": self.to_ns.map(format_rfc3339).unwrap_or_else(|| "now".into()) })
    }
}

/// A duration parameter, checked.
pub fn duration(field: &str, v: &str) -> Result<DurationParam, ToolError> {
    DurationParam::parse(v)
        .map_err(|e| ToolError::invalid(field, e.to_string(), DURATION_FORMS.into()))
}

fn time(field: &str, v: &str) -> Result<i64, ToolError> {
    parse_rfc3339(v.trim()).ok_or_else(|| {
        ToolError::invalid(
            field,
            format!("{field}={v:?} is not an RFC 3339 time"),
            "write times like 2026-12-03T10:00:00Z, or use last=1h".into(),
        )
    })
}

/// Adds the window to search parameters (`since`, `until`); default the
/// last hour.
pub fn push_window(p: &mut Params, w: &Window) -> Result<UsedWindow, ToolError> {
    let now = now_ns();
    let to_ns = w.end.as_deref().map(|e| time("end", e)).transpose()?;
    let from_ns = match (&w.start, &w.last) {
        (Some(s), _) => time("start", s)?,
        (None, Some(l)) => to_ns
            .unwrap_or(now)
            .saturating_sub(duration("last", l)?.ns()),
        (None, None) => to_ns.unwrap_or(now) - 3_600_000_000_000,
    };
    if to_ns.is_some_and(|t| t <= from_ns) {
        return Err(ToolError::invalid(
            "end",
            "end is not after start".into(),
            "give an end later than start, or omit end for now".into(),
        ));
    }
    p.push("since", format_rfc3339(from_ns));
    p.push_opt("until", to_ns.map(format_rfc3339));
    Ok(UsedWindow { from_ns, to_ns })
}
