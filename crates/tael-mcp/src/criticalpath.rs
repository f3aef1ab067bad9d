//! The critical path of a trace: the chain of work that decided its end
//! time. From the root's end, walk back: the child that finished last
//! before the current point is on the path, recursively; time no child
//! covers is the parent's own ("self") time.

use crate::traces::round3;
use serde_json::{json, Value};
use std::collections::HashMap;
use tael_core::model::Span;

/// One stretch of the path: a span and the time it alone accounts for.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment<'a> {
    pub span: &'a Span,
    pub from_ns: i64,
    pub to_ns: i64,
}

/// The segments of the path, in time order.
pub fn critical_path(spans: &[Span]) -> Vec<Segment<'_>> {
    let (children, roots) = crate::traces::tree(spans);
    let Some(root) = roots
        .into_iter()
        .max_by_key(|s| (s.end_ns - s.start_ns, s.end_ns))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(root, root.end_ns, &children, &mut out, 0);
    out.reverse();
    out
}

/// Appends, latest first, the segments of `span` up to `until`.
fn walk<'a>(
    span: &'a Span,
    until: i64,
    children: &HashMap<&str, Vec<&'a Span>>,
    out: &mut Vec<Segment<'a>>,
    depth: usize,
) {
    let mut cursor = until.min(span.end_ns);
    let mut kids: Vec<&Span> = children
        .get(span.span_id.as_str())
        .cloned()
        .unwrap_or_default();
    kids.sort_by_key(|k| std::cmp::Reverse(k.end_ns));
    for k in kids {
        if cursor <= span.start_ns {
            break;
        }
        // Only children that ran before the current point matter.
        if k.start_ns >= cursor || depth > 10_000 {
            continue;
        }
        let end = k.end_ns.min(cursor);
        if end < cursor {
            out.push(Segment {
                span,
                from_ns: end,
                to_ns: cursor,
            });
        }
        walk(k, end, children, out, depth + 1);
        cursor = k.start_ns.max(span.start_ns);
    }
    if cursor > span.start_ns {
        out.push(Segment {
            span,
            from_ns: span.start_ns,
            to_ns: cursor,
        });
    }
}

/// The path as the tool answers it: segments (adjacent stretches of one
/// span merged) and the spans by their self time on the path.
pub fn to_json(trace_id: &str, spans: &[Span]) -> Value {
    let t0 = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let mut merged: Vec<Segment> = Vec::new();
    for s in critical_path(spans) {
        match merged.last_mut() {
            Some(l) if l.span.span_id == s.span.span_id && l.to_ns == s.from_ns => {
                l.to_ns = s.to_ns
            }
            _ => merged.push(s),
        }
    }
    let on_path: i64 = merged.iter().map(|s| s.to_ns - s.from_ns).sum();
    let mut by_span: HashMap<&str, (i64, &Span)> = HashMap::new();
    for s in &merged {
        by_span
            .entry(s.span.span_id.as_str())
            .or_insert((0, s.span))
            .0 += s.to_ns - s.from_ns;
    }
    let mut top: Vec<(i64, &Span)> = by_span.into_values().collect();
    top.sort_by_key(|(t, s)| (std::cmp::Reverse(*t), s.span_id.clone()));
    let ms = |ns: i64| round3(ns as f64 / 1e6);
    json!({
        "trace_id": trace_id,
        "total_duration_ms": ms(t1 - t0),
        "critical_path_ms": ms(on_path),
        "segments": merged.iter().take(200).map(|s| json!({
            "span_id": s.span.span_id, "service": s.span.service, "name": s.span.operation,
            "start_offset_ms": ms(s.from_ns - t0), "end_offset_ms": ms(s.to_ns - t0),
            "self_ms": ms(s.to_ns - s.from_ns), "status": s.span.status,
        })).collect::<Vec<_>>(),
        "segment_count": merged.len(),
        "top_self_time": top.iter().take(10).map(|(t, s)| json!({
            "span_id": s.span_id, "service": s.service, "name": s.operation,
            "self_ms": ms(*t), "share": round3(*t as f64 / on_path.max(1) as f64),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: i64, end: i64) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(String::from),
            start_ns: start,
            end_ns: end,
            ..Default::default()
        }
    }

    #[test]
    fn the_path_follows_the_last_finishing_child() {
        // root 0..100; a 10..40; b 30..90 (finishes last); b1 40..80 inside b.
        let spans = vec![
            span("root", None, 0, 100),
            span("a", Some("root"), 10, 40),
            span("b", Some("root"), 30, 90),
            span("b1", Some("b"), 40, 80),
        ];
        let path: Vec<(&str, i64, i64)> = critical_path(&spans)
            .iter()
            .map(|s| (s.span.span_id.as_str(), s.from_ns, s.to_ns))
            .collect();
        assert_eq!(
            path,
            vec![
                ("root", 0, 10),
                ("a", 10, 30),
                ("b", 30, 40),
                ("b1", 40, 80),
                ("b", 80, 90),
                ("root", 90, 100),
            ]
        );
    }
}
