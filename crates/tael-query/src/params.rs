//! Query-string parameters: the one codec between the REST API's query
//! strings and the typed queries. Each query type reads itself from
//! [`Params`] (`from_params`, on the server) and writes itself back
//! (`to_params`, in the client), so both halves of the contract are one
//! piece of code. Every malformed value is an `InvalidArgument` that says
//! which parameter was wrong and what is accepted.
//!
//! Conventions: an empty value counts as absent; when a key is given twice
//! the last non-empty value wins (except for the repeatable keys, read with
//! [`Params::all`]); durations take the forms of
//! `tael_core::duration` (`500ms`, `15m`, `1h30m`, bare seconds); times are
//! RFC 3339 with nanoseconds.

use crate::QueryError;
use tael_core::duration::{parse_duration_ms_bare_ms, parse_duration_ns};
use tael_core::time::{format_rfc3339, parse_rfc3339};

/// Largest `limit` a list route accepts.
pub const MAX_LIMIT: usize = 100_000;

fn bad(msg: String) -> QueryError {
    QueryError::InvalidArgument(msg)
}

/// Query-string parameters in order (repeated keys kept).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// Parses a raw query string (`None`: no query string).
    pub fn parse(raw: Option<&str>) -> Result<Params, QueryError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
            .map(Params)
            .map_err(|e| bad(format!("invalid query string: {e}")))
    }

    /// The last non-empty value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_string)
    }

    /// Every value of a repeatable key, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`, from 1 to [`MAX_LIMIT`] (`default` when absent).
    pub fn limit(&self, default: usize) -> Result<usize, QueryError> {
        match self.get("limit") {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(bad(format!(
                    "invalid limit {v:?}: expected a whole number from 1 to {MAX_LIMIT}"
                ))),
            },
        }
    }

    /// A duration in ms, a bare number meaning ms.
    pub fn duration_ms(&self, key: &str) -> Result<Option<f64>, QueryError> {
        self.get(key)
            .map(|v| parse_duration_ms_bare_ms(v).map_err(|e| bad(format!("{key}: {e}"))))
            .transpose()
    }

    /// A positive whole number.
    pub fn positive(&self, key: &str) -> Result<Option<usize>, QueryError> {
        self.get(key)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("{key} must be a positive whole number")))
            })
            .transpose()
    }

    /// `true`/`1` or `false`/`0` (false when absent).
    pub fn flag(&self, key: &str) -> Result<bool, QueryError> {
        match self.get(key) {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(bad(format!("{key}={other:?}: expected true or false"))),
        }
    }

    /// A duration parameter (`last`, `baseline`): any accepted form.
    pub fn duration(&self, key: &str) -> Result<Option<DurationParam>, QueryError> {
        self.get(key)
            .map(|v| DurationParam::parse(v).map_err(|e| bad(format!("{key}: {e}"))))
            .transpose()
    }

    /// A positive duration parameter (a window length).
    pub fn positive_duration(&self, key: &str) -> Result<Option<DurationParam>, QueryError> {
        match self.duration(key)? {
            Some(d) if d.ns() <= 0 => Err(bad(format!("{key} must be positive"))),
            other => Ok(other),
        }
    }

    /// An RFC 3339 time.
    pub fn time(&self, key: &str) -> Result<Option<i64>, QueryError> {
        self.get(key)
            .map(|v| {
                parse_rfc3339(v.trim()).ok_or_else(|| {
                    bad(format!(
                        "{key}={v:?}: expected an RFC 3339 time such as 2026-12-03T10:00:00Z"
                    ))
                })
            })
            .transpose()
    }

    /// The start of a search: `since` (a time) or `last` (a duration
    /// ending now); at most one of them.
    pub fn since(&self) -> Result<Option<Since>, QueryError> {
        match (self.duration("last")?, self.time("since")?) {
            (Some(_), Some(_)) => Err(bad("give last or since, not both".into())),
            (Some(d), None) => Ok(Some(Since::Last(d))),
            (None, Some(t)) => Ok(Some(Since::At(t))),
            (None, None) => Ok(None),
        }
    }

    pub fn push(&mut self, key: &str, value: impl ToString) {
        self.0.push((key.to_string(), value.to_string()));
    }

    pub fn push_opt<T: ToString>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.push(key, v);
        }
    }

    /// Writes `since` back (`last` or `since`).
    pub fn push_since(&mut self, since: Option<&Since>) {
        match since {
            Some(Since::Last(d)) => self.push("last", d),
            Some(Since::At(t)) => self.push("since", format_rfc3339(*t)),
            None => {}
        }
    }

    /// `true` when set (absent otherwise, which reads back as false).
    pub fn push_flag(&mut self, key: &str, value: bool) {
        if value {
            self.push(key, "true");
        }
    }
}

/// A duration as it was written (`15m`, `1h30m`, `90`), with its length.
/// It writes back as written, so a client forwards exactly what its user
/// gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationParam {
    text: String,
    ns: i64,
}

impl DurationParam {
    pub fn parse(text: &str) -> Result<DurationParam, tael_core::CoreError> {
        Ok(DurationParam {
            ns: parse_duration_ns(text)?,
            text: text.trim().to_string(),
        })
    }

    /// A duration of `ns` nanoseconds (written as `<ns>ns`).
    pub fn from_ns(ns: i64) -> DurationParam {
        DurationParam {
            text: format!("{ns}ns"),
            ns,
        }
    }

    pub fn ns(&self) -> i64 {
        self.ns
    }
}

impl std::fmt::Display for DurationParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where a search starts: a duration before now, or a fixed time (ns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    Last(DurationParam),
    At(i64),
}

impl Since {
    /// The start time when the query is evaluated at `now_ns`.
    pub fn at(&self, now_ns: i64) -> i64 {
        match self {
            Since::Last(d) => now_ns.saturating_sub(d.ns()),
            Since::At(t) => *t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_back() {
        let p = Params::parse(Some(
            "limit=5&last=&last=15m&attribute=a%3Db&attribute=c%3Dd",
        ))
        .unwrap();
        assert_eq!(p.limit(100).unwrap(), 5);
        let since = p.since().unwrap();
        assert_eq!(
            since,
            Some(Since::Last(DurationParam::parse("15m").unwrap()))
        );
        assert_eq!(p.all("attribute").collect::<Vec<_>>(), vec!["a=b", "c=d"]);
        let mut back = Params::new();
        back.push_since(since.as_ref());
        back.push_since(Some(&Since::At(1_700_000_000_123_456_789)));
        assert_eq!(
            back.0,
            vec![
                ("last".to_string(), "15m".to_string()),
                (
                    "since".to_string(),
                    "2023-11-14T22:13:20.123456789Z".to_string()
                )
            ]
        );
        let again = Params(back.0[1..].to_vec());
        assert_eq!(
            again.since().unwrap(),
            Some(Since::At(1_700_000_000_123_456_789))
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let err = |q: &str, f: fn(&Params) -> Result<(), QueryError>| {
            f(&Params::parse(Some(q)).unwrap()).unwrap_err().to_string()
        };
        assert!(err("limit=0", |p| p.limit(1).map(drop)).contains("from 1 to 100000"));
        assert!(err("last=soon", |p| p.since().map(drop)).starts_with("last: invalid duration"));
        assert_eq!(
            err("with_payloads=yes", |p| p.flag("with_payloads").map(drop)),
            "with_payloads=\"yes\": expected true or false"
        );
        assert_eq!(
            err("last=1h&since=2026-01-01T00:00:00Z", |p| p
                .since()
                .map(drop)),
            "give last or since, not both"
        );
        assert_eq!(
            err("last=0s", |p| p.positive_duration("last").map(drop)),
            "last must be positive"
        );
    }
}
