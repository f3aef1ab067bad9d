//! Service topology (`/api/v1/topology`, `tael topology`): the dependency
//! graph of a window, from parent/child span pairs whose services differ.
//! An edge `a → b` counts the spans of `b` whose parent span belongs to
//! `a`; its error rate and latency are those of the child (callee) spans.
//! Parents are looked up among the spans of the same window, so a child
//! whose parent started before the window is counted as unresolved.
//!
//! A store answers with its [`ServiceGraph`] (node and edge statistics);
//! graphs of stores that each hold whole traces merge exactly.

use crate::params::{DurationParam, Params};
use crate::spanstats::GroupStats;
use crate::store::Store;
use crate::window::{last_param, last_window, scan_window, Interner, TimeWindow, WindowScan};
use crate::QueryError;
use arrow::array::Array;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use tael_storage::columnar::Cols;
use tael_storage::rollup::trace_hash;
use tael_storage::{Signal, Snapshot};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub service: String,
    pub spans: u64,
    pub error_rate: f64,
    /// Spans without a parent (trace entry points).
    pub root_spans: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The node and edge statistics of a window's service graph.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServiceGraph {
    /// Per service: its spans (count, errors) and how many are roots.
    pub nodes: BTreeMap<String, (GroupStats, u64)>,
    /// Per (caller, callee) service pair: the callee spans.
    #[serde(with = "crate::store::wire::pairs")]
    pub edges: BTreeMap<(String, String), GroupStats>,
    /// Child spans whose parent is not in the window.
    pub unresolved_parents: u64,
}

impl ServiceGraph {
    /// Adds the graph of another store's traces.
    pub fn merge(&mut self, o: ServiceGraph) {
        for (k, (g, roots)) in o.nodes {
            let n = self.nodes.entry(k).or_default();
            n.0.merge(&g);
            n.1 += roots;
        }
        for (k, g) in o.edges {
            self.edges.entry(k).or_default().merge(&g);
        }
        self.unresolved_parents += o.unresolved_parents;
    }
}

/// `GET /api/v1/topology`: the window (`last`, default one hour, ending now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyRequest {
    pub last: Option<DurationParam>,
}

impl TopologyRequest {
    pub fn from_params(p: &Params) -> Result<TopologyRequest, QueryError> {
        Ok(TopologyRequest {
            last: last_param(p)?,
        })
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("last", self.last.as_ref());
        p
    }
}

/// The service graph a request asks for.
pub async fn topology(store: &dyn Store, req: &TopologyRequest) -> Result<Topology, QueryError> {
    let window = last_window(req.last.as_ref(), tael_core::time::now_ns());
    let graph = store.service_graph(window).await?;
    Ok(Topology::build(window, &graph))
}

/// The node and edge statistics of the spans of `window`.
pub(crate) fn service_graph(
    snap: &Snapshot,
    window: TimeWindow,
) -> Result<ServiceGraph, QueryError> {
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
    scan_window(snap, &scan, &mut |batch, mask| {
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
    let name = |id: &u32| names.name(*id).to_string();
    Ok(ServiceGraph {
        nodes: nodes.iter().map(|(s, n)| (name(s), n.clone())).collect(),
        edges: edges
            .into_iter()
            .map(|((f, t), g)| ((name(&f), name(&t)), g))
            .collect(),
        unresolved_parents: unresolved,
    })
}

impl Topology {
    /// The graph of `window` from its (merged) statistics.
    pub fn build(window: TimeWindow, graph: &ServiceGraph) -> Topology {
        let mut edges: Vec<Edge> = graph
            .edges
            .iter()
            .map(|((f, t), g)| Edge {
                from: f.clone(),
                to: t.clone(),
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
        let nodes: Vec<Node> = graph
            .nodes
            .iter()
            .map(|(s, (g, roots))| Node {
                service: s.clone(),
                spans: g.count,
                error_rate: g.error_rate(),
                root_spans: *roots,
            })
            .collect();
        Topology {
            from: tael_core::time::format_rfc3339(window.from_ns),
            to: tael_core::time::format_rfc3339(window.to_ns),
            nodes,
            edges,
            unresolved_parents: graph.unresolved_parents,
        }
    }
}
