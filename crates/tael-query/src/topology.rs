//! Service topology (`/api/v1/topology`, `tael topology`): the dependency
//! graph of a window, from parent/child span pairs whose services differ.
//! An edge `a → b` counts the spans of `b` whose parent span belongs to
//! `a`; its error rate and latency are those of the child (callee) spans.
//! Parents are looked up among the spans of the same window, so a child
//! whose parent started before the window is counted as unresolved.

use crate::spanstats::GroupStats;
use crate::window::{scan_window, Interner, TimeWindow, WindowScan};
use crate::QueryError;
use arrow::array::Array;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use tael_storage::columnar::Cols;
use tael_storage::rollup::trace_hash;
use tael_storage::{Engine, Signal};

#[derive(Debug, Serialize)]
pub struct Node {
    pub service: String,
    pub spans: u64,
    pub error_rate: f64,
    /// Spans without a parent (trace entry points).
    pub root_spans: u64,
}

#[derive(Debug, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Topology {
    pub from: String,
    pub to: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    /// Child spans whose parent is not in the window.
    pub unresolved_parents: u64,
}

fn span_key(trace: u64, span_hex: &str) -> (u64, u64) {
    (trace, u64::from_str_radix(span_hex, 16).unwrap_or(0))
}

struct Child {
    parent: (u64, u64),
    service: u32,
    error: bool,
    duration_ns: i64,
}

/// The service graph of `window`.
pub fn topology(engine: &Engine, window: TimeWindow) -> Result<Topology, QueryError> {
    let snap = engine.snapshot();
    let mut names = Interner::default();
    let mut owner: HashMap<(u64, u64), u32> = HashMap::new();
    let mut children: Vec<Child> = Vec::new();
    let mut nodes: BTreeMap<u32, (GroupStats, u64)> = BTreeMap::new();
    let scan = WindowScan {
        signal: Signal::Spans,
        window,
        columns: &[
            "trace_id",
            "span_id",
            "parent_span_id",
            "service",
            "status",
            "duration_ns",
        ],
        equals: Vec::new(),
    };
    scan_window(&snap, &scan, &mut |batch, mask| {
        let c = Cols::new(batch);
        let (traces, spans, parents) = (
            c.str("trace_id")?,
            c.str("span_id")?,
            c.str("parent_span_id")?,
        );
        let services = names.column(&c.text("service")?);
        let errors = c.text("status")?.mask(|s| s == "error");
        let dur = c.i64("duration_ns")?;
        for i in 0..batch.num_rows() {
            if !mask[i] {
                continue;
            }
            let t = trace_hash(traces.value(i));
            owner.insert(span_key(t, spans.value(i)), services[i]);
            let node = nodes.entry(services[i]).or_default();
            node.0.count += 1;
            node.0.errors += errors[i] as u64;
            let parent = (!parents.is_null(i))
                .then(|| parents.value(i))
                .filter(|p| !p.is_empty());
            match parent {
                None => node.1 += 1,
                Some(p) => children.push(Child {
                    parent: span_key(t, p),
                    service: services[i],
                    error: errors[i],
                    duration_ns: dur.value(i).max(0),
                }),
            }
        }
        Ok(())
    })?;
    let mut edges: BTreeMap<(u32, u32), GroupStats> = BTreeMap::new();
    let mut unresolved = 0u64;
    for ch in &children {
        match owner.get(&ch.parent) {
            None => unresolved += 1,
            Some(&from) if from != ch.service => {
                let e = edges.entry((from, ch.service)).or_default();
                e.count += 1;
                e.errors += ch.error as u64;
                e.latency.add(ch.duration_ns);
            }
            Some(_) => {}
        }
    }
    let mut edges: Vec<Edge> = edges
        .into_iter()
        .map(|((f, t), g)| Edge {
            from: names.name(f).to_string(),
            to: names.name(t).to_string(),
            calls: g.count,
            errors: g.errors,
            error_rate: g.error_rate(),
            p50_ms: g.quantile_ms(0.5),
            p95_ms: g.quantile_ms(0.95),
            p99_ms: g.quantile_ms(0.99),
        })
        .collect();
    edges.sort_by(|a, b| {
        b.calls
            .cmp(&a.calls)
            .then_with(|| (&a.from, &a.to).cmp(&(&b.from, &b.to)))
    });
    let mut nodes: Vec<Node> = nodes
        .into_iter()
        .map(|(s, (g, roots))| Node {
            service: names.name(s).to_string(),
            spans: g.count,
            error_rate: g.error_rate(),
            root_spans: roots,
        })
        .collect();
    nodes.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(Topology {
        from: tael_core::time::format_rfc3339(window.from_ns),
        to: tael_core::time::format_rfc3339(window.to_ns),
        nodes,
        edges,
        unresolved_parents: unresolved,
    })
}
