//! LLM usage of a window (`/api/v1/llm/usage`, `tael llm usage`): per
//! model, service, conversation, provider, operation, agent or tool, the
//! calls, errors, tokens, cost, latency and time to first token of the
//! model calls (spans whose `llm_operation` is one of [`MODEL_OPERATIONS`];
//! agent, tool and workflow spans are left out, since their usage, when
//! they report any, sums that of the model calls under them), folded by the
//! parallel aggregate scan over the spans' `llm_*` columns. Latency and TTFT percentiles use
//! the span-statistics [`Sketch`] (exact up to 1024 values, 0.5% beyond).

use crate::params::{DurationParam, Params};
use crate::sketch::Sketch;
use crate::store::Store;
use crate::window::{
    last_param, last_window, scan_window_parallel, Interner, TimeWindow, WindowScan,
};
use crate::QueryError;
use arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tael_storage::columnar::Cols;
use tael_storage::{Signal, Snapshot};

/// The operations that are model calls.
pub const MODEL_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "completion",
    "embedding",
];

/// What usage is grouped by: (name accepted by `by`, spans column).
pub const GROUPINGS: &[(&str, &str)] = &[
    ("model", "llm_model"),
    ("service", "service"),
    ("conversation", "llm_conversation_id"),
    ("provider", "llm_provider"),
    ("operation", "llm_operation"),
    ("agent", "llm_agent_name"),
    ("tool", "llm_tool_name"),
];

/// What usage is grouped by: one of [`GROUPINGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmGrouping {
    name: &'static str,
    column: &'static str,
}

impl LlmGrouping {
    /// The grouping of a `by` name, or an error listing the valid ones.
    pub fn parse(by: &str) -> Result<LlmGrouping, QueryError> {
        GROUPINGS
            .iter()
            .find(|(name, _)| *name == by)
            .map(|(name, column)| LlmGrouping { name, column })
            .ok_or_else(|| {
                let names: Vec<&str> = GROUPINGS.iter().map(|g| g.0).collect();
                QueryError::InvalidArgument(format!(
                    "by={by:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// `GET /api/v1/llm/usage`: the window (`last`, default one hour, ending
/// now), the grouping (`by`, default `model`) and how many groups to list
/// (`limit`, default 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRequest {
    pub last: Option<DurationParam>,
    pub by: LlmGrouping,
    pub limit: usize,
}

impl UsageRequest {
    pub fn from_params(p: &Params) -> Result<UsageRequest, QueryError> {
        let last = last_param(p)?;
        let by = LlmGrouping::parse(p.get("by").unwrap_or("model"))?;
        Ok(UsageRequest {
            last,
            by,
            limit: p.positive("limit")?.unwrap_or(100),
        })
    }

    pub fn to_params(&self) -> Params {
        let mut p = Params::new();
        p.push_opt("last", self.last.as_ref());
        p.push("by", self.by.name());
        p.push("limit", self.limit);
        p
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Acc {
    calls: u64,
    errors: u64,
    tokens: [u64; 5],
    cost_usd: f64,
    priced_calls: u64,
    latency: Sketch,
    ttft: Sketch,
}

impl Acc {
    fn merge(&mut self, o: &Acc) {
        self.calls += o.calls;
        self.errors += o.errors;
        for (a, b) in self.tokens.iter_mut().zip(o.tokens) {
            *a = a.saturating_add(b);
        }
        self.cost_usd += o.cost_usd;
        self.priced_calls += o.priced_calls;
        self.latency.merge(&o.latency);
        self.ttft.merge(&o.ttft);
    }
}

/// One group's usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    /// The group's value ("" when the spans do not report it).
    pub key: String,
    pub calls: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cached_input_tokens: u64,
    pub reasoning_tokens: u64,
    /// Sum of the calls' costs (client-reported or computed).
    pub cost_usd: f64,
    /// Calls that have a cost (a priced model or a client-reported cost).
    pub priced_calls: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Time to first token, over the calls that report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
}

fn row(key: String, a: &Acc) -> UsageRow {
    let ms = |s: &Sketch, q: f64| s.quantile(q).map(|v| v / 1e6);
    UsageRow {
        key,
        calls: a.calls,
        errors: a.errors,
        error_rate: if a.calls == 0 {
            0.0
        } else {
            a.errors as f64 / a.calls as f64
        },
        input_tokens: a.tokens[0],
        output_tokens: a.tokens[1],
        total_tokens: a.tokens[2],
        cached_input_tokens: a.tokens[3],
        reasoning_tokens: a.tokens[4],
        cost_usd: a.cost_usd,
        priced_calls: a.priced_calls,
        p50_ms: ms(&a.latency, 0.5).unwrap_or(0.0),
        p95_ms: ms(&a.latency, 0.95).unwrap_or(0.0),
        ttft_p50_ms: ms(&a.ttft, 0.5),
        ttft_p95_ms: ms(&a.ttft, 0.95),
    }
}

/// The usage report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub by: String,
    pub total: UsageRow,
    /// How many groups there are (`groups` holds the first `limit`).
    pub group_count: usize,
    /// Groups, costliest first (then most calls, then by key).
    pub groups: Vec<UsageRow>,
}

#[derive(Default)]
struct Fold {
    names: Interner,
    groups: HashMap<u32, Acc>,
}

const TOKENS: [&str; 5] = [
    "llm_input_tokens",
    "llm_output_tokens",
    "llm_total_tokens",
    "llm_cached_input_tokens",
    "llm_reasoning_tokens",
];

impl Fold {
    fn add(&mut self, batch: &RecordBatch, mask: &[bool], key_col: &str) -> Result<(), QueryError> {
        let c = Cols::new(batch);
        let ops = c.text("llm_operation")?;
        let keys = self.names.column(&c.text(key_col)?);
        let errors = c.text("status")?.mask(|s| s == "error");
        let dur = c.i64("duration_ns")?;
        let tokens: Vec<&Int64Array> = TOKENS.iter().map(|t| c.i64(t)).collect::<Result<_, _>>()?;
        let cost: &Float64Array = c.f64("llm_cost_usd")?;
        let ttft: &Float64Array = c.f64("llm_ttft_ms")?;
        for i in 0..batch.num_rows() {
            if !mask[i] || !MODEL_OPERATIONS.contains(&ops.value(i)) {
                continue;
            }
            let a = self.groups.entry(keys[i]).or_default();
            a.calls += 1;
            a.errors += errors[i] as u64;
            for (sum, col) in a.tokens.iter_mut().zip(&tokens) {
                if col.is_valid(i) {
                    *sum = sum.saturating_add(col.value(i).max(0) as u64);
                }
            }
            if cost.is_valid(i) && cost.value(i).is_finite() {
                a.cost_usd += cost.value(i);
                a.priced_calls += 1;
            }
            a.latency.add(dur.value(i).max(0));
            if ttft.is_valid(i) && ttft.value(i).is_finite() && ttft.value(i) >= 0.0 {
                a.ttft.add((ttft.value(i) * 1e6) as i64);
            }
        }
        Ok(())
    }
}

/// Usage per group key of a window (mergeable).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LlmStats {
    groups: HashMap<String, Acc>,
}

impl LlmStats {
    /// Adds another store's usage of the same window and grouping.
    pub fn merge(&mut self, o: LlmStats) {
        for (k, a) in o.groups {
            self.groups.entry(k).or_default().merge(&a);
        }
    }
}

/// The usage a request asks for, from the store's statistics.
pub async fn usage(store: &dyn Store, req: &UsageRequest) -> Result<UsageReport, QueryError> {
    let window = last_window(req.last.as_ref(), tael_core::time::now_ns());
    let stats = store.llm_stats(window, req.by).await?;
    Ok(UsageReport::build(window, req.by, req.limit, &stats))
}

/// LLM usage per group of `window`.
pub(crate) fn llm_stats(
    snap: &Snapshot,
    window: TimeWindow,
    by: LlmGrouping,
) -> Result<LlmStats, QueryError> {
    let key_col = by.column;
    let mut columns = vec![
        "llm_operation",
        "status",
        "duration_ns",
        "llm_cost_usd",
        "llm_ttft_ms",
    ];
    columns.extend(TOKENS);
    if !columns.contains(&key_col) {
        columns.push(key_col);
    }
    let scan = WindowScan {
        signal: Signal::Spans,
        window,
        columns: &columns,
        equals: Vec::new(),
    };
    let folds = scan_window_parallel(snap, &scan, &Fold::default, &|f: &mut Fold, b, m| {
        f.add(b, m, key_col)
    })?;
    let mut out = LlmStats::default();
    for f in &folds {
        for (id, a) in &f.groups {
            out.groups
                .entry(f.names.name(*id).to_string())
                .or_default()
                .merge(a);
        }
    }
    Ok(out)
}

impl UsageReport {
    /// The report of `window`: the `limit` costliest groups (the total
    /// covers them all).
    pub fn build(
        window: TimeWindow,
        by: LlmGrouping,
        limit: usize,
        stats: &LlmStats,
    ) -> UsageReport {
        let merged = &stats.groups;
        let mut total = Acc::default();
        for a in merged.values() {
            total.merge(a);
        }
        let mut groups: Vec<UsageRow> = merged.iter().map(|(k, a)| row(k.clone(), a)).collect();
        groups.sort_by(|a, b| {
            b.cost_usd
                .total_cmp(&a.cost_usd)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.key.cmp(&b.key))
        });
        let group_count = groups.len();
        groups.truncate(limit);
        UsageReport {
            group_count,
            from: tael_core::time::format_rfc3339(window.from_ns),
            to: tael_core::time::format_rfc3339(window.to_ns),
            by: by.name().to_string(),
            total: row(String::new(), &total),
            groups,
        }
    }
}
