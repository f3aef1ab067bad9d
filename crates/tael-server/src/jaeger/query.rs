//! What the Jaeger APIs ask of a store, answered once for all of them (v1
//! JSON, api_v3 over HTTP and the gRPC `QueryService`): services,
//! operations, trace search, trace by id, dependencies and trace
//! summaries, over the node's [`Store`].
//!
//! Search follows Jaeger's semantics: a trace is found when one of its
//! spans matches every filter (service, exact operation name, tags,
//! duration, start time), and the answer is whole traces, newest first.
//! A tag matches a span attribute or a resource attribute of the same
//! flat value; `error`, `span.kind`, `otel.status_code` and
//! `otel.status_description` match the span fields Jaeger derives them
//! from.

use std::collections::{BTreeMap, HashSet};
use tael_core::attr::json_to_flat;
use tael_core::model::Span;
use tael_query::params::Since;
use tael_query::traces::{TraceLookup, TraceQuery};
use tael_query::window::TimeWindow;
use tael_query::{QueryError, Store};

/// Spans one search may read while collecting its traces.
const MAX_SCANNED_SPANS: usize = 200_000;

/// A Jaeger trace search.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceSearch {
    pub service: Option<String>,
    /// The exact operation name.
    pub operation: Option<String>,
    pub tags: Vec<(String, String)>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    /// Traces to return.
    pub limit: usize,
}

impl TraceSearch {
    fn span_matches(&self, s: &Span) -> bool {
        self.operation.as_ref().is_none_or(|op| *op == s.operation)
            && self.tags.iter().all(|(k, v)| tag_matches(s, k, v))
    }

    /// The store query that finds candidate spans (`limit` of them).
    fn store_query(&self, limit: usize) -> TraceQuery {
        let error_tag = self
            .tags
            .iter()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.as_str());
        TraceQuery {
            service: self.service.clone(),
            operation: self.operation.clone(),
            min_duration_ms: self.min_duration_ns.map(|d| d as f64 / 1e6),
            max_duration_ms: self.max_duration_ns.map(|d| d as f64 / 1e6),
            status: (error_tag == Some("true")).then(|| "error".to_string()),
            since: Some(Since::At(self.start_ns)),
            until_ns: Some(self.end_ns),
            attributes: Vec::new(),
            text: None,
            limit,
        }
    }
}

/// Whether span `s` carries tag `key` = `value` as Jaeger would show it.
fn tag_matches(s: &Span, key: &str, value: &str) -> bool {
    match key {
        "error" => (s.status == "error") == (value == "true"),
        "span.kind" => s.kind == value,
        "otel.status_code" => s.status.eq_ignore_ascii_case(value),
        "otel.status_description" => s.status_message == value,
        _ => s
            .attributes
            .get(key)
            .or_else(|| s.resource.get(key))
            .is_some_and(|v| json_to_flat(v) == value),
    }
}

/// The service names that have spans, sorted.
pub async fn services(store: &dyn Store) -> Result<Vec<String>, QueryError> {
    Ok(store.service_rollup().await?.services.into_keys().collect())
}

/// The operations of a service (of every service when `None`) in all the
/// stored spans, of one span kind when given: (name, kind) with the kind
/// as Jaeger names it (empty for unspecified).
pub async fn operations(
    store: &dyn Store,
    service: Option<&str>,
    kind: Option<&str>,
) -> Result<Vec<(String, String)>, QueryError> {
    let all_time = TimeWindow {
        from_ns: i64::MIN,
        to_ns: i64::MAX,
    };
    let set = store
        .operations(all_time, service.map(str::to_string))
        .await?;
    let mut out: Vec<(String, String)> = set
        .operations
        .into_iter()
        .map(|o| (o.name, jaeger_kind(&o.kind).to_string()))
        .filter(|(_, k)| kind.is_none_or(|want| want.eq_ignore_ascii_case(k)))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Jaeger's name of a stored span kind.
pub fn jaeger_kind(kind: &str) -> &str {
    match kind {
        "unspecified" => "",
        k => k,
    }
}

/// The whole traces with a span that matches, newest first (by their
/// newest matching span), at most `q.limit` of them.
pub async fn find_traces(store: &dyn Store, q: &TraceSearch) -> Result<Vec<Vec<Span>>, QueryError> {
    let mut ids: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut limit = (q.limit * 8).clamp(100, MAX_SCANNED_SPANS);
    loop {
        let hits = store.search_spans(q.store_query(limit)).await?;
        let exhausted = hits.len() < limit;
        for h in &hits {
            let s = &h.item;
            if ids.len() < q.limit && q.span_matches(s) && seen.insert(s.trace_id.clone()) {
                ids.push(s.trace_id.clone());
            }
        }
        if ids.len() >= q.limit || exhausted || limit >= MAX_SCANNED_SPANS {
            break;
        }
        limit = (limit * 4).min(MAX_SCANNED_SPANS);
    }
    let mut traces = Vec::with_capacity(ids.len());
    for id in ids {
        let spans = trace(store, &id).await?;
        if !spans.is_empty() {
            traces.push(spans);
        }
    }
    Ok(traces)
}

/// A trace id as Jaeger clients send it: 32 hex characters, or 16 for a
/// 64-bit id (zero-padded on the left).
pub fn parse_trace_id(id: &str) -> Result<String, QueryError> {
    let id = id.trim();
    let padded = match id.len() {
        1..=16 if id.bytes().all(|b| b.is_ascii_hexdigit()) => format!("{id:0>32}"),
        _ => id.to_string(),
    };
    tael_query::traces::checked_trace_id(&padded, "trace id")
}

/// The spans of one trace (empty when nobody stored it).
pub async fn trace(store: &dyn Store, id: &str) -> Result<Vec<Span>, QueryError> {
    store.get_trace(TraceLookup::new(id, false)?).await
}

/// Caller → callee service pairs of a window with their call counts.
pub async fn dependencies(
    store: &dyn Store,
    window: TimeWindow,
) -> Result<Vec<(String, String, u64)>, QueryError> {
    let graph = store.service_graph(window).await?;
    Ok(graph
        .edges
        .into_iter()
        .map(|((from, to), g)| (from, to, g.count))
        .collect())
}

/// The lightweight facts of one trace a search result row shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub trace_id: String,
    pub root_service: String,
    pub root_operation: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub spans: usize,
    pub error_spans: usize,
    /// Spans whose parent is not in the trace.
    pub orphans: usize,
    /// Per service: (spans, error spans), by name.
    pub services: BTreeMap<String, (usize, usize)>,
}

/// The summary of a (non-empty) trace. The root is the earliest span
/// without a parent; with none, the earliest span.
pub fn summarize(spans: &[Span]) -> Summary {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let root = spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .min_by_key(|s| s.start_ns)
        .or_else(|| spans.iter().min_by_key(|s| s.start_ns));
    let mut services: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in spans {
        let e = services.entry(s.service.clone()).or_default();
        e.0 += 1;
        e.1 += (s.status == "error") as usize;
    }
    Summary {
        trace_id: spans
            .first()
            .map(|s| s.trace_id.clone())
            .unwrap_or_default(),
        root_service: root.map(|s| s.service.clone()).unwrap_or_default(),
        root_operation: root.map(|s| s.operation.clone()).unwrap_or_default(),
        start_ns: spans.iter().map(|s| s.start_ns).min().unwrap_or(0),
        end_ns: spans.iter().map(|s| s.end_ns).max().unwrap_or(0),
        spans: spans.len(),
        error_spans: spans.iter().filter(|s| s.status == "error").count(),
        orphans: spans
            .iter()
            .filter(|s| {
                s.parent_span_id
                    .as_deref()
                    .is_some_and(|p| !ids.contains(p))
            })
            .count(),
        services,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_trace_ids_are_padded() {
        assert_eq!(
            parse_trace_id("00000000000000ab").unwrap(),
            "000000000000000000000000000000ab"
        );
        assert_eq!(parse_trace_id("AB").unwrap(), format!("{:0>32}", "ab"));
        assert!(parse_trace_id("xyz").is_err());
        assert!(parse_trace_id("").is_err());
    }

    #[test]
    fn tags_match_span_and_resource_attributes_and_derived_fields() {
        let mut s = Span {
            status: "error".into(),
            kind: "server".into(),
            ..Default::default()
        };
        s.attributes.insert("http.status_code".into(), 500.into());
        std::sync::Arc::make_mut(&mut s.resource).insert("host".into(), "a".into());
        assert!(tag_matches(&s, "http.status_code", "500"));
        assert!(tag_matches(&s, "host", "a"));
        assert!(!tag_matches(&s, "host", "b"));
        assert!(tag_matches(&s, "error", "true"));
        assert!(!tag_matches(&s, "error", "false"));
        assert!(tag_matches(&s, "span.kind", "server"));
        assert!(tag_matches(&s, "otel.status_code", "ERROR"));
    }

    #[test]
    fn summary_finds_root_and_orphans() {
        let span = |id: &str, parent: Option<&str>, start: i64, svc: &str| Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            start_ns: start,
            end_ns: start + 10,
            service: svc.into(),
            operation: format!("op-{id}"),
            ..Default::default()
        };
        let s = summarize(&[
            span("b", Some("a"), 5, "db"),
            span("a", None, 1, "api"),
            span("c", Some("zz"), 7, "db"),
        ]);
        assert_eq!(s.root_operation, "op-a");
        assert_eq!(s.orphans, 1);
        assert_eq!((s.start_ns, s.end_ns), (1, 17));
        assert_eq!(s.services.get("db"), Some(&(2, 0)));
    }
}
