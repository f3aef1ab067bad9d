//! The trace tools, from broad to deep: `search_traces` (one summary row
//! per trace), `get_trace_overview` (the tree, no attributes),
//! `get_trace_errors`, `get_critical_path` and `get_span_details` (full
//! data of chosen spans only).

use crate::backend::Backend;
use crate::budget::{limit, Cursor, Page};
use crate::error::ToolError;
use crate::hints;
use crate::params::{push_window, Window};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use tael_core::model::Span;
use tael_core::time::format_rfc3339;
use tael_query::params::Params;
use tael_query::traces::{TraceLookup, TraceQuery};

/// Rows of spans asked of the store per round of a trace search.
const SPANS_PER_ROUND: usize = 1000;
/// Rounds of one search (each goes further back in time).
const ROUNDS: usize = 8;
/// Hex digits of a trace's key in a cursor's `seen` list.
const SEEN_KEY: usize = 12;

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SearchTraces {
    /// Only traces with a span of this service (see list_services).
    pub service: Option<String>,
    /// Substring of a span's operation name.
    pub operation: Option<String>,
    /// `error`, `ok` or `unset`: traces with a span of this status.
    pub status: Option<String>,
    /// Spans at least this long: 250ms, 2s, or a number of ms.
    pub min_duration: Option<String>,
    /// Spans at most this long.
    pub max_duration: Option<String>,
    /// Span attributes that must equal these values, e.g. {"http.route": "/pay"}.
    pub attributes: Option<BTreeMap<String, String>>,
    /// Full-text query over LLM prompts/completions, status and exception messages.
    pub text: Option<String>,
    #[serde(flatten)]
    pub window: Window,
    /// Traces per answer (default 20, at most 100).
    pub limit: Option<u64>,
    /// next_cursor of the previous answer, to get the next page.
    pub cursor: Option<String>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

/// A trace's summary from all its spans.
fn summary_row(id: &str, spans: &[Span], hit: Option<&Value>) -> Value {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let root = spans
        .iter()
        .filter(|s| s.parent_span_id.as_deref().is_none_or(|p| !ids.contains(p)))
        .min_by_key(|s| s.start_ns);
    let start = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    let errors = spans.iter().filter(|s| s.status == "error").count();
    let llm: Vec<_> = spans.iter().filter_map(|s| s.llm.as_ref()).collect();
    let mut row = json!({
        "trace_id": id,
        "root_service": root.map(|s| s.service.as_str()),
        "root_operation": root.map(|s| s.operation.as_str()),
        "start": format_rfc3339(start),
        "duration_ms": round3((end - start) as f64 / 1e6),
        "span_count": spans.len(),
        "error_count": errors,
        "services": services.iter().take(10).collect::<Vec<_>>(),
    });
    if !llm.is_empty() {
        let cost: f64 = llm.iter().filter_map(|c| c.cost_usd).sum();
        row["llm_calls"] = json!(llm.len());
        row["llm_cost_usd"] = json!(round6(cost));
    }
    if let Some(m) = hit {
        row["match"] = m.clone();
    }
    row
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A trace's key in a cursor's `seen` list: a hash of the whole id (ids
/// often share long prefixes).
fn seen_key(trace_id: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(trace_id.as_bytes())[..SEEN_KEY / 2])
}

pub async fn search_traces<B: Backend>(b: &B, a: SearchTraces) -> Result<Value, ToolError> {
    let max_bytes = crate::budget::budget(a.max_bytes)?;
    let want = limit(a.limit, 20, 100, "limit")?;
    let cur = Cursor::decode(a.cursor.as_deref())?;
    let mut p = Params::new();
    p.push_opt("service", a.service.as_ref());
    p.push_opt("operation", a.operation.as_ref());
    p.push_opt("status", a.status.as_ref());
    p.push_opt("min_duration_ms", a.min_duration.as_ref());
    p.push_opt("max_duration_ms", a.max_duration.as_ref());
    p.push_opt("text", a.text.as_ref());
    for (k, v) in a.attributes.iter().flatten() {
        p.push("attribute", format!("{k}={v}"));
    }
    let window = push_window(&mut p, &a.window)?;
    p.push("limit", SPANS_PER_ROUND);
    let mut q = TraceQuery::from_params(&p)?;
    let seen: HashSet<&str> = cur.seen.iter().map(String::as_str).collect();
    // The window's end and the cursor's, whichever is earlier.
    let mut until = match (cur.until_ns, q.until_ns) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // Traces in order of their newest matching span: (id, that span's
    // start, its text match).
    let mut found: Vec<(String, i64, Option<Value>)> = Vec::new();
    let mut listed: HashSet<String> = HashSet::new();
    let mut more = false;
    for _ in 0..ROUNDS {
        q.until_ns = until;
        let hits = b.call(q.clone()).await?.spans;
        let n = hits.len();
        let oldest = hits.last().map(|h| h.item.start_ns);
        for h in hits {
            let id = h.item.trace_id.clone();
            if seen.contains(seen_key(&id).as_str()) || !listed.insert(id.clone()) {
                continue;
            }
            let m = h
                .text_match
                .as_ref()
                .and_then(|m| serde_json::to_value(m).ok());
            found.push((id, h.item.start_ns, m));
        }
        if found.len() > want {
            more = true;
            break;
        }
        if n < SPANS_PER_ROUND {
            break;
        }
        // More spans than one round holds: go on from the oldest seen.
        more = true;
        until = oldest;
    }
    let more = more || found.len() > want;
    found.truncate(want);
    if found.is_empty() && cur == Cursor::default() {
        let services = hints::services(b).await;
        return Ok(hints::empty(
            "traces",
            window,
            &services,
            a.service.as_deref(),
        ));
    }
    let fetched =
        futures::future::join_all(found.iter().map(|(id, _, _)| fetch_trace(b, id))).await;
    let mut rows = Vec::with_capacity(found.len());
    for ((id, _, m), spans) in found.iter().zip(fetched) {
        rows.push(summary_row(id, &spans?, m.as_ref()));
    }
    let cursor = |taken: usize| -> Option<String> {
        let last = found.get(taken.checked_sub(1)?)?;
        let mut seen = cur.seen.clone();
        seen.extend(found[..taken].iter().map(|(id, _, _)| seen_key(id)));
        Some(
            Cursor {
                until_ns: Some(last.1.saturating_add(1)),
                seen,
                offset: 0,
            }
            .encode(),
        )
    };
    let page = Page::new("traces", max_bytes).field("window", window.to_json());
    Ok(page
        .finish(
            rows,
            more,
            None,
            "get_trace_overview for the tree, get_span_details for data",
            &cursor,
        )
        .answer)
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TraceArgs {
    /// The trace id: 32 hex characters.
    pub trace_id: String,
    /// next_cursor of the previous answer (get_trace_overview only).
    pub cursor: Option<String>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

/// Every span of a trace; a missing trace is a tool error with a hint.
pub async fn fetch_trace<B: Backend>(b: &B, id: &str) -> Result<Vec<Span>, ToolError> {
    let lookup = TraceLookup::new(id, false).map_err(|e| {
        ToolError::invalid(
            "trace_id",
            e.to_string(),
            "trace ids are 32 hex characters, as search_traces returns them".into(),
        )
    })?;
    match b.call(lookup).await {
        Ok(r) => Ok(r.spans),
        Err(e) if e.code == tael_core::ErrorCode::NotFound => Err(ToolError::not_found(
            format!("no trace {id}"),
            "find trace ids with search_traces (widen last if the trace is older)".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The children of each span (by span id), and the roots: spans whose
/// parent is not in the trace.
pub type Tree<'a> = (HashMap<&'a str, Vec<&'a Span>>, Vec<&'a Span>);

pub fn tree(spans: &[Span]) -> Tree<'_> {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&Span>> = HashMap::new();
    let mut roots = Vec::new();
    for s in spans {
        match s.parent_span_id.as_deref().filter(|p| ids.contains(p)) {
            Some(p) => children.entry(p).or_default().push(s),
            None => roots.push(s),
        }
    }
    (children, roots)
}

/// The spans in depth-first order (children by start time), with depths.
pub fn depth_first(spans: &[Span]) -> Vec<(usize, &Span)> {
    let (mut children, mut roots) = tree(spans);
    for v in children.values_mut() {
        v.sort_by_key(|s| (s.start_ns, s.span_id.as_str()));
    }
    roots.sort_by_key(|s| (s.start_ns, s.span_id.as_str()));
    let mut out = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, &Span)> = roots.into_iter().rev().map(|s| (0, s)).collect();
    while let Some((d, s)) = stack.pop() {
        out.push((d, s));
        if let Some(kids) = children.get(s.span_id.as_str()) {
            stack.extend(kids.iter().rev().map(|k| (d + 1, *k)));
        }
    }
    out
}

fn trace_head(id: &str, spans: &[Span]) -> Map<String, Value> {
    let row = summary_row(id, spans, None);
    let mut m = row.as_object().cloned().unwrap_or_default();
    m.remove("services");
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    m.insert("service_count".into(), json!(services.len()));
    m
}

pub async fn overview<B: Backend>(b: &B, a: TraceArgs) -> Result<Value, ToolError> {
    let max_bytes = crate::budget::budget(a.max_bytes)?;
    let cur = Cursor::decode(a.cursor.as_deref())?;
    let spans = fetch_trace(b, &a.trace_id).await?;
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let order = depth_first(&spans);
    let rows: Vec<Value> = order
        .iter()
        .skip(cur.offset)
        .map(|(d, s)| {
            let mut r = json!({
                "span_id": s.span_id,
                "parent_id": s.parent_span_id,
                "depth": d,
                "service": s.service,
                "name": s.operation,
                "start_ms": round3((s.start_ns - t0) as f64 / 1e6),
                "duration_ms": round3(s.duration_ms()),
                "status": s.status,
            });
            if let Some(l) = &s.llm {
                r["llm"] =
                    json!({ "model": l.model, "tokens": l.total_tokens, "cost_usd": l.cost_usd });
            }
            r
        })
        .collect();
    let mut page = Page::new("spans", max_bytes);
    page.head = trace_head(&a.trace_id, &spans);
    let offset = cur.offset;
    let f = page.finish(rows, false, Some(order.len()), "", &|taken| {
        Some(
            Cursor {
                offset: offset + taken,
                ..Default::default()
            }
            .encode(),
        )
    });
    let mut v = f.answer;
    v["offset"] = json!(offset);
    Ok(v)
}

/// One span's full data, compact: flat attributes, no empty fields.
pub fn span_detail(s: &Span, t0: i64) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("attribute_values");
        m.remove("trace_id");
        m.insert(
            "start_ms".into(),
            json!(round3((s.start_ns - t0) as f64 / 1e6)),
        );
        for k in ["events", "links"] {
            if let Some(Value::Array(a)) = m.get_mut(k) {
                for e in a.iter_mut() {
                    if let Value::Object(e) = e {
                        e.remove("attribute_values");
                    }
                }
            }
        }
        if let Some(Value::Object(scope)) = m.get_mut("scope") {
            scope.retain(|k, _| k == "name" || k == "version");
        }
        m.retain(|_, x| !is_empty(x));
    }
    v
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(_) => false,
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SpanDetailsArgs {
    /// The trace id: 32 hex characters.
    pub trace_id: String,
    /// Span ids (16 hex) from get_trace_overview or get_trace_errors; at most 20.
    pub span_ids: Vec<String>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn span_details<B: Backend>(b: &B, a: SpanDetailsArgs) -> Result<Value, ToolError> {
    let max_bytes = crate::budget::budget(a.max_bytes)?;
    if a.span_ids.is_empty() || a.span_ids.len() > 20 {
        return Err(ToolError::invalid(
            "span_ids",
            format!("{} span ids given", a.span_ids.len()),
            "give 1 to 20 span ids; get them from get_trace_overview".into(),
        ));
    }
    let spans = fetch_trace(b, &a.trace_id).await?;
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let wanted: Vec<String> = a.span_ids.iter().map(|s| s.to_ascii_lowercase()).collect();
    let rows: Vec<Value> = wanted
        .iter()
        .filter_map(|id| spans.iter().find(|s| s.span_id == *id))
        .map(|s| span_detail(s, t0))
        .collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|id| !spans.iter().any(|s| s.span_id == **id))
        .collect();
    let mut page = Page::new("spans", max_bytes).field("trace_id", a.trace_id.clone());
    if !missing.is_empty() {
        page = page.field("missing", json!(missing)).field(
            "hints",
            json!(["some span ids are not in this trace; list them with get_trace_overview"]),
        );
    }
    let n = rows.len();
    Ok(page
        .finish(
            rows,
            false,
            Some(n),
            "LLM prompts and completions: get_payload with the sha256 in llm.payloads; other values are cut at 512 bytes",
            &|_| None,
        )
        .answer)
}

pub async fn errors<B: Backend>(b: &B, a: TraceArgs) -> Result<Value, ToolError> {
    let max_bytes = crate::budget::budget(a.max_bytes)?;
    let spans = fetch_trace(b, &a.trace_id).await?;
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let errs: Vec<&Span> = depth_first(&spans)
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| s.status == "error")
        .collect();
    let total = errs.len();
    // Where a failure began: an error span none of whose children errored.
    // Those are kept first when more than 20 errors must be cut, and the
    // rows stay in tree order.
    let failed_parents: HashSet<&str> = errs
        .iter()
        .filter_map(|s| s.parent_span_id.as_deref())
        .collect();
    let origin = |s: &Span| !failed_parents.contains(s.span_id.as_str());
    let mut kept: Vec<(usize, &Span)> = errs.iter().copied().enumerate().collect();
    kept.sort_by_key(|(i, s)| (!origin(s), *i));
    kept.truncate(20);
    kept.sort_by_key(|(i, _)| *i);
    let rows: Vec<Value> = kept
        .into_iter()
        .map(|(_, s)| {
            let mut path = vec![s.operation.as_str()];
            let mut p = s.parent_span_id.as_deref();
            while let Some(parent) = p.and_then(|id| by_id.get(id)) {
                if path.len() >= 8 {
                    break;
                }
                path.push(parent.operation.as_str());
                p = parent.parent_span_id.as_deref();
            }
            path.reverse();
            let exceptions: Vec<Value> = s
                .events
                .iter()
                .filter(|e| e.name == "exception")
                .map(|e| {
                    let get = |k: &str| e.attributes.get(k).cloned().unwrap_or(Value::Null);
                    json!({ "type": get("exception.type"), "message": get("exception.message"),
                            "stacktrace": get("exception.stacktrace") })
                })
                .collect();
            json!({
                "span_id": s.span_id,
                "service": s.service,
                "name": s.operation,
                "path": path.join(" > "),
                "start_ms": round3((s.start_ns - t0) as f64 / 1e6),
                "duration_ms": round3(s.duration_ms()),
                "status_message": s.status_message,
                "root_cause": origin(s),
                "exceptions": exceptions,
            })
        })
        .collect();
    let mut page = Page::new("errors", max_bytes)
        .field("trace_id", a.trace_id.clone())
        .field("total_error_count", total);
    if total == 0 {
        page = page.field(
            "hints",
            json!(["no span of this trace has status error; get_critical_path shows where its time went"]),
        );
    }
    Ok(page
        .finish(
            rows,
            total > 20,
            Some(total),
            "get_span_details with the span id",
            &|_| None,
        )
        .answer)
}
