//! The rows of a trace's waterfall: spans in depth-first order (children
//! by start time, under their parent), each with its depth, its bar in
//! terminal columns to the trace's time scale, and whether it is on the
//! critical path (the chain of work that decided the trace's end; see
//! `tael_mcp::criticalpath`).

use std::collections::{HashMap, HashSet};
use tael_core::model::Span;

/// One waterfall row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index into the trace's spans.
    pub span: usize,
    pub depth: usize,
    pub critical: bool,
}

/// A trace laid out for the waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct Waterfall {
    pub rows: Vec<Row>,
    pub start_ns: i64,
    pub end_ns: i64,
}

impl Waterfall {
    pub fn new(spans: &[Span]) -> Waterfall {
        // The path's segments are the spans with time of their own on it;
        // their ancestors are on the chain too (a parent whose children
        // cover it has no segment of its own).
        let parent: HashMap<&str, &str> = spans
            .iter()
            .filter_map(|s| Some((s.span_id.as_str(), s.parent_span_id.as_deref()?)))
            .collect();
        let mut critical: HashSet<&str> = HashSet::new();
        for seg in tael_mcp::criticalpath::critical_path(spans) {
            let mut id = seg.span.span_id.as_str();
            while critical.insert(id) {
                match parent.get(id) {
                    Some(p) => id = p,
                    None => break,
                }
            }
        }
        let index: HashMap<*const Span, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s as *const Span, i))
            .collect();
        let rows = tael_mcp::traces::depth_first(spans)
            .into_iter()
            .filter_map(|(depth, s)| {
                Some(Row {
                    span: *index.get(&(s as *const Span))?,
                    depth,
                    critical: critical.contains(s.span_id.as_str()),
                })
            })
            .collect();
        Waterfall {
            rows,
            start_ns: spans.iter().map(|s| s.start_ns).min().unwrap_or(0),
            end_ns: spans.iter().map(|s| s.end_ns).max().unwrap_or(0),
        }
    }

    /// The columns `[from, to)` of a span's bar in a bar area `width`
    /// columns wide: times to scale, at least one column.
    pub fn bar(&self, s: &Span, width: u16) -> (u16, u16) {
        if width == 0 {
            return (0, 0);
        }
        let total = (self.end_ns - self.start_ns).max(1) as f64;
        let col = |t: i64| -> u16 {
            let x = ((t - self.start_ns) as f64 / total * width as f64).round();
            x.clamp(0.0, width as f64) as u16
        };
        let from = col(s.start_ns).min(width - 1);
        let to = col(s.end_ns).max(from + 1).min(width);
        (from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn span(id: &str, parent: Option<&str>, start: i64, end: i64) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_string),
            start_ns: start,
            end_ns: end,
            operation: id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_depth_first_and_bars_to_scale() {
        // Stored out of order: the waterfall puts each child under its
        // parent, earlier siblings first.
        let spans = vec![
            span("c2", Some("root"), 60, 100),
            span("gc", Some("c1"), 10, 30),
            span("root", None, 0, 100),
            span("c1", Some("root"), 0, 50),
        ];
        let w = Waterfall::new(&spans);
        let order: Vec<(&str, usize)> = w
            .rows
            .iter()
            .map(|r| (spans[r.span].span_id.as_str(), r.depth))
            .collect();
        assert_eq!(order, [("root", 0), ("c1", 1), ("gc", 2), ("c2", 1)]);
        assert_eq!(w.bar(&spans[2], 50), (0, 50));
        assert_eq!(w.bar(&spans[3], 50), (0, 25));
        assert_eq!(w.bar(&spans[1], 50), (5, 15));
        assert_eq!(w.bar(&spans[0], 50), (30, 50));
        // Back from the root's end: c2 (60..100), then c1 up to 50, and
        // inside c1 its child gc (10..30).
        let critical: Vec<&str> = w
            .rows
            .iter()
            .filter(|r| r.critical)
            .map(|r| spans[r.span].span_id.as_str())
            .collect();
        assert_eq!(critical, ["root", "c1", "gc", "c2"]);
    }

    #[test]
    fn a_zero_length_span_still_has_a_column() {
        let spans = vec![span("a", None, 0, 100), span("b", Some("a"), 100, 100)];
        let w = Waterfall::new(&spans);
        assert_eq!(w.bar(&spans[1], 20), (19, 20));
        assert_eq!(w.bar(&spans[0], 0), (0, 0));
    }
}
