//! Keeping every answer inside a byte budget. An answer is a JSON object:
//! a list under one key, the fields around it, and the paging fields
//! `returned`, `total`, `truncated`, `next_cursor` (and `omitted`, one
//! entry per cut string, saying how long it was and where the rest is).
//! [`Page::finish`] adds rows while the serialized answer stays under the
//! budget; [`cut_strings`] shortens long strings first.
//!
//! A cursor is opaque to the agent: the hex of a small JSON object
//! ([`Cursor`]) that the tool that made it reads back.

use crate::error::ToolError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The budget when the call gives none (bytes of serialized JSON).
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024;
/// The largest budget a call may ask for.
pub const MAX_MAX_BYTES: usize = 256 * 1024;
/// The smallest budget a call may ask for.
pub const MIN_MAX_BYTES: usize = 2048;
/// Strings longer than this are cut (attribute values, bodies, payloads).
pub const STRING_CAP: usize = 512;

/// The budget of one call, checked.
pub fn budget(max_bytes: Option<u64>) -> Result<usize, ToolError> {
    match max_bytes {
        None => Ok(DEFAULT_MAX_BYTES),
        Some(b) if (MIN_MAX_BYTES as u64..=MAX_MAX_BYTES as u64).contains(&b) => Ok(b as usize),
        Some(b) => Err(ToolError::invalid(
            "max_bytes",
            format!("max_bytes={b} is out of range"),
            format!("use {MIN_MAX_BYTES}..={MAX_MAX_BYTES} (default {DEFAULT_MAX_BYTES})"),
        )),
    }
}

/// A limit with a default and a hard cap.
pub fn limit(v: Option<u64>, default: usize, cap: usize, field: &str) -> Result<usize, ToolError> {
    match v {
        None => Ok(default),
        Some(0) => Err(ToolError::invalid(
            field,
            format!("{field} must be at least 1"),
            format!("use 1..={cap} (default {default})"),
        )),
        Some(n) => Ok((n as usize).min(cap)),
    }
}

/// Where a tool stopped, for the next call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Rows strictly before this time (ns) are still to come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ns: Option<i64>,
    /// Rows already returned that may come again (short keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<String>,
    /// Rows to skip (tools that page by position).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub offset: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: Option<&str>) -> Result<Cursor, ToolError> {
        let Some(s) = s.filter(|s| !s.is_empty()) else {
            return Ok(Cursor::default());
        };
        let bad = || {
            ToolError::invalid(
                "cursor",
                "invalid cursor".to_string(),
                "pass next_cursor exactly as a previous answer of the same tool gave it, or omit it to start over".into(),
            )
        };
        let bytes = hex::decode(s).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// Shortens every string longer than `cap` bytes inside `v` (at a char
/// boundary, ending with `…`) and records each cut in `omitted` with its
/// JSON path and full length. `hint` says where the whole value is.
pub fn cut_strings(v: &mut Value, cap: usize, path: &str, hint: &str, omitted: &mut Vec<Value>) {
    match v {
        Value::String(s) if s.len() > cap => {
            let full = s.len();
            let mut end = cap;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            s.push('…');
            omitted.push(json!({ "path": path, "bytes": full, "rest": hint }));
        }
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                cut_strings(x, cap, &format!("{path}[{i}]"), hint, omitted);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                cut_strings(x, cap, &format!("{path}.{k}"), hint, omitted);
            }
        }
        _ => {}
    }
}

/// Shortens every array longer than `n` inside `v`, recording each in
/// `omitted` with its path and full length.
pub fn cap_arrays(v: &mut Value, n: usize, path: &str, omitted: &mut Vec<Value>) {
    match v {
        Value::Array(a) => {
            if a.len() > n {
                omitted.push(json!({ "path": path, "items": a.len(), "returned": n }));
                a.truncate(n);
            }
            for (i, x) in a.iter_mut().enumerate() {
                cap_arrays(x, n, &format!("{path}[{i}]"), omitted);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                cap_arrays(x, n, &format!("{path}.{k}"), omitted);
            }
        }
        _ => {}
    }
}

/// A report (no paging of its own) made to fit: strings cut, then lists
/// shortened to `top` items, then to fewer until the answer fits.
pub fn fit_report(mut report: Value, top: usize, max_bytes: usize, hint: &str) -> Value {
    let mut omitted = Vec::new();
    cut_strings(&mut report, STRING_CAP, "$", hint, &mut omitted);
    let mut n = top;
    loop {
        let mut v = report.clone();
        let mut cut = omitted.clone();
        cap_arrays(&mut v, n, "$", &mut cut);
        let truncated = !cut.is_empty();
        if let Value::Object(m) = &mut v {
            m.insert("truncated".into(), Value::Bool(truncated));
            if truncated {
                m.insert("omitted".into(), Value::Array(cut));
            }
        }
        if size(&v) <= max_bytes || n <= 1 {
            return v;
        }
        n /= 2;
    }
}

/// Serialized size of a value.
pub fn size(v: &Value) -> usize {
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX)
}

/// A paged answer being built.
pub struct Page {
    /// The fields around the list.
    pub head: Map<String, Value>,
    /// The list's key.
    pub key: &'static str,
    pub max_bytes: usize,
}

/// What [`Page::finish`] made.
pub struct Finished {
    pub answer: Value,
    /// Rows taken from the offered ones.
    pub taken: usize,
}

impl Page {
    pub fn new(key: &'static str, max_bytes: usize) -> Page {
        Page {
            head: Map::new(),
            key,
            max_bytes,
        }
    }

    pub fn field(mut self, k: &str, v: impl Into<Value>) -> Page {
        self.head.insert(k.into(), v.into());
        self
    }

    /// Takes `rows` in order while the answer fits. `more` says rows exist
    /// beyond those offered; `total` is the full count when known;
    /// `cursor(taken)` makes the cursor of the rest. Long strings in rows
    /// are cut first (`hint` says where the rest is).
    pub fn finish(
        self,
        rows: Vec<Value>,
        more: bool,
        total: Option<usize>,
        hint: &str,
        cursor: &dyn Fn(usize) -> Option<String>,
    ) -> Finished {
        let mut omitted = Vec::new();
        let offered = rows.len();
        let mut kept = Vec::with_capacity(offered);
        // Room for the paging fields and the longest cursor.
        let reserve = 256 + cursor(offered).map_or(0, |c| c.len());
        let mut used = size(&Value::Object(self.head.clone())) + reserve;
        for (i, mut r) in rows.into_iter().enumerate() {
            let mut cut = Vec::new();
            cut_strings(
                &mut r,
                STRING_CAP,
                &format!("$.{}[{i}]", self.key),
                hint,
                &mut cut,
            );
            let extra = size(&r) + 1 + cut.iter().map(size).sum::<usize>();
            if used + extra > self.max_bytes && !kept.is_empty() {
                break;
            }
            used += extra;
            kept.push(r);
            omitted.extend(cut);
        }
        let taken = kept.len();
        let truncated = taken < offered || more;
        let mut m = self.head;
        m.insert("returned".into(), json!(taken));
        m.insert(
            "total".into(),
            total.map(Value::from).unwrap_or(Value::Null),
        );
        m.insert("truncated".into(), json!(truncated));
        m.insert(
            "next_cursor".into(),
            if truncated {
                cursor(taken).map(Value::from).unwrap_or(Value::Null)
            } else {
                Value::Null
            },
        );
        if !omitted.is_empty() {
            m.insert("omitted".into(), Value::Array(omitted));
        }
        m.insert(self.key.into(), Value::Array(kept));
        Finished {
            answer: Value::Object(m),
            taken,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            until_ns: Some(1_764_000_000_000_000_001),
            seen: vec!["ab12".into()],
            offset: 3,
        };
        assert_eq!(Cursor::decode(Some(&c.encode())).unwrap(), c);
        assert_eq!(Cursor::decode(None).unwrap(), Cursor::default());
        assert!(Cursor::decode(Some("zz")).is_err());
    }

    #[test]
    fn long_strings_are_cut_at_a_char_boundary() {
        let mut v = json!({ "a": "é".repeat(400), "b": ["short"] });
        let mut omitted = Vec::new();
        cut_strings(&mut v, 511, "$", "get_payload", &mut omitted);
        let a = v["a"].as_str().unwrap();
        assert!(a.len() <= 514 && a.ends_with('…'));
        assert_eq!(omitted.len(), 1);
        assert_eq!(omitted[0]["bytes"], 800);
        assert_eq!(v["b"][0], "short");
    }

    #[test]
    fn pages_stop_at_the_budget_and_say_so() {
        let rows: Vec<Value> = (0..1000)
            .map(|i| json!({ "i": i, "pad": "x".repeat(100) }))
            .collect();
        let f =
            Page::new("rows", 8192)
                .field("q", "all")
                .finish(rows, false, Some(1000), "", &|n| {
                    Some(
                        Cursor {
                            offset: n,
                            ..Default::default()
                        }
                        .encode(),
                    )
                });
        assert!(size(&f.answer) <= 8192, "{}", size(&f.answer));
        assert!(f.taken > 10 && f.taken < 1000);
        assert_eq!(f.answer["truncated"], true);
        assert_eq!(f.answer["returned"], f.taken);
        let c = Cursor::decode(f.answer["next_cursor"].as_str()).unwrap();
        assert_eq!(c.offset, f.taken);
    }

    #[test]
    fn reports_shrink_until_they_fit() {
        let report = json!({ "services": (0..500).map(|i| json!({"name": format!("svc-{i}"), "p95_ms": i})).collect::<Vec<_>>() });
        let v = fit_report(report, 50, 4096, "");
        assert!(size(&v) <= 4096);
        assert_eq!(v["truncated"], true);
        assert_eq!(v["omitted"][0]["items"], 500);
    }
}
