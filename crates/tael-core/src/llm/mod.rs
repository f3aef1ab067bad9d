//! LLM and agent calls as first-class spans: recognising a span as one
//! (from any of the conventions in use: OTel GenAI, OpenInference,
//! OpenLLMetry, the Vercel AI SDK) and reading its facts into one typed
//! [`LlmCall`]: provider, models, operation, tokens (including cached and
//! reasoning tokens), finish reasons, conversation, agent, tool, request
//! settings, time to first token, and cost (client-reported and computed
//! from the price table in [`prices`]).
//!
//! The span keeps its OTLP kind and all of its attributes; the `llm` object
//! is derived from them, at ingest, by [`extract`].

mod extract;
pub mod payloads;
pub mod prices;

pub use extract::{extract, looks_like_llm};
use serde::{Deserialize, Serialize};

/// Which convention a call was recognised by (the first that matched, in
/// this order).
pub const CONVENTIONS: &[&str] = &["gen_ai", "openinference", "openllmetry", "vercel_ai"];

/// The typed facts of one LLM or agent call.
///
/// JSON shape (the `llm` object of a span; tael 0.5's fields first, `None`
/// fields omitted, `provider`/`model`/`operation` always present):
/// `{"provider","model","operation","input_tokens","output_tokens",
/// "total_tokens","cost_usd","ttft_ms","finish_reason","temperature", …}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    /// `gen_ai.provider.name` (or its older and other-convention forms);
    /// "" when not reported.
    pub provider: String,
    /// The response model when reported, else the request model; "" when
    /// neither is.
    pub model: String,
    /// tael 0.5's operation: `chat`, `completion`, `embedding`, `tool` or
    /// `other`.
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// The cost used: the client-reported one when present, else the
    /// computed one (see `cost_source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// The first finish reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,

    /// The GenAI operation name as reported (`chat`, `text_completion`,
    /// `embeddings`, `execute_tool`, `invoke_agent`, …) or mapped from the
    /// other conventions' span kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_model: Option<String>,
    /// Input tokens read from a prompt cache (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u64>,
    /// Input tokens written to a prompt cache (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Reasoning tokens (part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finish_reasons: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    /// The cost the client reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cost_usd: Option<f64>,
    /// The cost computed from the price table, when the model is priced
    /// and tokens are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_cost_usd: Option<f64>,
    /// `client` or `price_table` (which one `cost_usd` is), absent when
    /// there is no cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_source: Option<String>,
    /// The price-table version the computed cost used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_version: Option<String>,
    /// The convention the call was recognised by (one of [`CONVENTIONS`]).
    pub convention: String,
    /// Payloads moved to the blob store at ingest (see [`payloads`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payloads: Vec<payloads::PayloadRef>,
}

impl LlmCall {
    /// Prices the call with `table` and picks the cost to use: the
    /// client-reported one when present (the client knows its negotiated
    /// price), else the computed one.
    pub fn apply_prices(&mut self, table: &prices::PriceTable) {
        self.computed_cost_usd = None;
        self.price_version = None;
        if let Some(price) = table.lookup(&self.provider, &self.model) {
            if let Some(c) = price.cost(self) {
                self.computed_cost_usd = Some(c);
                self.price_version = Some(table.version.clone());
            }
        }
        (self.cost_usd, self.cost_source) = match (self.client_cost_usd, self.computed_cost_usd) {
            (Some(c), _) => (Some(c), Some("client".into())),
            (None, Some(c)) => (Some(c), Some("price_table".into())),
            (None, None) => (None, None),
        };
    }
}
