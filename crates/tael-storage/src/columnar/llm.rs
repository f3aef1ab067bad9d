//! The LLM columns of the spans schema (after the OTLP columns), written
//! from a span's [`LlmCall`] at ingest. Every column is null on spans that
//! are not LLM or agent calls; `llm` holds the whole call as JSON (the
//! span's `llm` object, "" when none) and the typed columns hold what SQL,
//! summaries and `tael llm usage` group and sum by:
//!
//! | column | type |
//! |---|---|
//! | llm | utf8 (JSON, "" when not a call) |
//! | llm_provider, llm_model, llm_operation | utf8, nullable |
//! | llm_input_tokens, llm_output_tokens, llm_total_tokens, llm_cached_input_tokens, llm_reasoning_tokens | int64, nullable |
//! | llm_cost_usd | float64, nullable (the cost used) |
//! | llm_cost_source | utf8, nullable (`client` / `price_table`) |
//! | llm_conversation_id, llm_agent_name, llm_tool_name | utf8, nullable |
//! | llm_ttft_ms | float64, nullable |

use arrow::array::{ArrayRef, Float64Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field};
use std::sync::Arc;
use tael_core::llm::LlmCall;

/// The LLM fields, in schema order.
pub fn fields() -> Vec<Field> {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    let float = |n: &str| Field::new(n, DataType::Float64, true);
    vec![
        Field::new("llm", DataType::Utf8, false),
        text("llm_provider"),
        text("llm_model"),
        text("llm_operation"),
        int("llm_input_tokens"),
        int("llm_output_tokens"),
        int("llm_total_tokens"),
        int("llm_cached_input_tokens"),
        int("llm_reasoning_tokens"),
        float("llm_cost_usd"),
        text("llm_cost_source"),
        text("llm_conversation_id"),
        text("llm_agent_name"),
        text("llm_tool_name"),
        float("llm_ttft_ms"),
    ]
}

/// Builders of the LLM columns.
pub struct LlmBuilders {
    json: StringBuilder,
    provider: StringBuilder,
    model: StringBuilder,
    operation: StringBuilder,
    tokens: [Int64Builder; 5],
    cost: Float64Builder,
    cost_source: StringBuilder,
    conversation: StringBuilder,
    agent: StringBuilder,
    tool: StringBuilder,
    ttft: Float64Builder,
}

fn opt_i64(v: Option<u64>) -> Option<i64> {
    v.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl LlmBuilders {
    pub fn new(rows: usize) -> Self {
        let s = || StringBuilder::with_capacity(rows, 0);
        LlmBuilders {
            // A call's JSON takes ~0.5–1.5 KB: room for a few calls per
            // hundred spans before the buffer grows (doubling touches
            // fresh memory each time).
            json: StringBuilder::with_capacity(rows, rows * 32),
            provider: s(),
            model: s(),
            operation: s(),
            tokens: std::array::from_fn(|_| Int64Builder::with_capacity(rows)),
            cost: Float64Builder::with_capacity(rows),
            cost_source: s(),
            conversation: s(),
            agent: s(),
            tool: s(),
            ttft: Float64Builder::with_capacity(rows),
        }
    }

    /// One span's LLM columns (all null when it is not a call).
    pub fn append(&mut self, call: Option<&LlmCall>) {
        let Some(c) = call else {
            self.json.append_value("");
            for b in [
                &mut self.provider,
                &mut self.model,
                &mut self.operation,
                &mut self.cost_source,
                &mut self.conversation,
                &mut self.agent,
                &mut self.tool,
            ] {
                b.append_null();
            }
            for b in &mut self.tokens {
                b.append_null();
            }
            self.cost.append_null();
            self.ttft.append_null();
            return;
        };
        self.json
            .append_value(serde_json::to_string(c).unwrap_or_default());
        self.provider.append_value(&c.provider);
        self.model.append_value(&c.model);
        self.operation
            .append_option(c.operation_name.as_deref().or(Some(c.operation.as_str())));
        let counts = [
            c.input_tokens,
            c.output_tokens,
            c.total_tokens,
            c.cached_input_tokens,
            c.reasoning_tokens,
        ];
        for (b, n) in self.tokens.iter_mut().zip(counts) {
            b.append_option(opt_i64(n));
        }
        self.cost.append_option(c.cost_usd);
        self.cost_source.append_option(c.cost_source.as_deref());
        self.conversation
            .append_option(c.conversation_id.as_deref());
        self.agent.append_option(c.agent_name.as_deref());
        self.tool.append_option(c.tool_name.as_deref());
        self.ttft.append_option(c.ttft_ms);
    }

    /// The columns, in [`fields`] order.
    pub fn finish(mut self) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(self.json.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.model.finish()),
            Arc::new(self.operation.finish()),
        ];
        for b in &mut self.tokens {
            out.push(Arc::new(b.finish()));
        }
        out.extend([
            Arc::new(self.cost.finish()) as ArrayRef,
            Arc::new(self.cost_source.finish()),
            Arc::new(self.conversation.finish()),
            Arc::new(self.agent.finish()),
            Arc::new(self.tool.finish()),
            Arc::new(self.ttft.finish()),
        ]);
        out
    }
}

/// The call a stored `llm` value holds (`None` for "" or unreadable JSON).
pub fn parse(json: &str) -> Option<LlmCall> {
    if json.is_empty() {
        return None;
    }
    serde_json::from_str(json).ok()
}
