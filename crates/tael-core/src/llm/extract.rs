//! Reading an [`LlmCall`] out of a span's attributes and events, whichever
//! convention wrote them. Each fact is looked up under every key the
//! conventions use for it, first match wins (OTel GenAI's current key, then
//! its deprecated forms, then OpenInference, OpenLLMetry and Vercel AI SDK
//! keys).

use super::prices::PriceTable;
use super::LlmCall;
use crate::model::{Attrs, SpanEvent};
use serde_json::Value;

/// A cheap test on a span's attribute and event JSON text (as stored): can
/// it be an LLM or agent call? `false` means [`extract`] would find none.
pub fn looks_like_llm(attributes_json: &str, events_json: &str) -> bool {
    // Markers without their opening quote: one pass over the quotes of the
    // attribute JSON (most spans have a few short attributes).
    const MARKERS: &[&[u8]] = &[
        b"gen_ai.",
        b"llm.",
        b"openinference.",
        b"traceloop.",
        b"ai.model.",
        b"ai.operationId\"",
        b"ai.usage.",
    ];
    let a = attributes_json.as_bytes();
    let quoted_marker = memchr::memchr_iter(b'"', a).any(|i| {
        let rest = &a[i + 1..];
        MARKERS.iter().any(|m| rest.starts_with(m))
    });
    quoted_marker || events_json.contains("\"n\":\"gen_ai.")
}

/// Which convention recognises the span, if any.
fn convention(a: &Attrs, events: &[SpanEvent]) -> Option<&'static str> {
    let has = |p: &str| a.keys().any(|k| k.starts_with(p));
    if a.contains_key("openinference.span.kind") {
        return Some("openinference");
    }
    if has("traceloop.")
        || has("gen_ai.prompt.")
        || has("gen_ai.completion.")
        || a.contains_key("llm.request.type")
        || has("llm.usage.")
    {
        return Some("openllmetry");
    }
    if has("gen_ai.") || events.iter().any(|e| e.name.starts_with("gen_ai.")) {
        return Some("gen_ai");
    }
    if a.contains_key("llm.model_name") || has("llm.token_count.") || has("llm.input_messages.") {
        return Some("openinference");
    }
    if a.contains_key("ai.model.id") || a.contains_key("ai.operationId") || has("ai.usage.") {
        return Some("vercel_ai");
    }
    None
}

/// A non-empty text value (numbers and booleans in their JSON form).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A number (JSON number, or a string holding one).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

/// A token count (a non-negative integer).
fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|x| *x >= 0.0 && x.fract() == 0.0 && *x < 1e18)
                .map(|x| x as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse::<bool>().ok(),
        _ => None,
    }
}

/// The first of `keys` whose value `read` accepts.
fn first<T>(a: &Attrs, keys: &[&str], read: impl Fn(&Value) -> Option<T>) -> Option<T> {
    keys.iter().find_map(|k| a.get(*k).and_then(&read))
}

/// A value of a JSON object held in an attribute (as a JSON string or an
/// OTLP kvlist), e.g. `temperature` in `llm.invocation_parameters`.
fn nested(a: &Attrs, key: &str, field: &str) -> Option<Value> {
    match a.get(key)? {
        Value::String(s) => serde_json::from_str::<Value>(s).ok()?.get(field).cloned(),
        Value::Object(m) => m.get(field).cloned(),
        _ => None,
    }
}

/// Finish reasons: a JSON array, a JSON-array string, or one string.
fn reasons(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        Value::String(s) if s.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<Value>>(s)
                .map(|items| items.iter().filter_map(text).collect())
                .unwrap_or_default()
        }
        other => text(other).into_iter().collect(),
    }
}

/// The GenAI operation name, from whichever convention reports one.
fn operation_name(a: &Attrs) -> Option<String> {
    if let Some(op) = first(a, &["gen_ai.operation.name"], text) {
        return Some(op);
    }
    if let Some(kind) = first(a, &["openinference.span.kind"], text) {
        let k = kind.to_ascii_lowercase();
        return Some(
            match k.as_str() {
                "llm" => "chat",
                "embedding" => "embeddings",
                "tool" => "execute_tool",
                "agent" => "invoke_agent",
                "retriever" => "retrieval",
                "reranker" => "rerank",
                other => other,
            }
            .to_string(),
        );
    }
    if let Some(t) = first(a, &["llm.request.type"], text) {
        return Some(
            match t.as_str() {
                "completion" => "text_completion",
                "embedding" => "embeddings",
                other => other,
            }
            .to_string(),
        );
    }
    if let Some(kind) = first(a, &["traceloop.span.kind"], text) {
        return Some(
            match kind.as_str() {
                "workflow" => "invoke_workflow",
                "agent" => "invoke_agent",
                "tool" => "execute_tool",
                other => other,
            }
            .to_string(),
        );
    }
    // Vercel AI SDK: `ai.generateText` wraps one or more provider calls
    // (`ai.generateText.doGenerate`); only those are model calls.
    let op = first(a, &["ai.operationId"], text)?;
    let rest = op.trim_start_matches("ai.");
    let (base, step) = rest.split_once('.').unwrap_or((rest, ""));
    let provider_call = step.starts_with("do");
    Some(match base {
        "generateText" | "streamText" | "generateObject" | "streamObject" if provider_call => {
            "chat".to_string()
        }
        "embed" | "embedMany" if provider_call => "embeddings".to_string(),
        "toolCall" => "execute_tool".to_string(),
        other => format!("ai.{other}"),
    })
}

/// tael 0.5's operation vocabulary.
fn legacy_operation(name: Option<&str>) -> &'static str {
    match name {
        None | Some("chat") | Some("generate_content") => "chat",
        Some("text_completion") | Some("completion") => "completion",
        Some("embeddings") | Some("embedding") => "embedding",
        Some("execute_tool") | Some("tool") => "tool",
        Some(_) => "other",
    }
}

/// The entity name OpenLLMetry gives a span of this `traceloop.span.kind`.
fn traceloop_entity(a: &Attrs, kind: &str) -> Option<String> {
    (first(a, &["traceloop.span.kind"], text).as_deref() == Some(kind))
        .then(|| first(a, &["traceloop.entity.name"], text))
        .flatten()
}

fn finish_reasons(a: &Attrs, events: &[SpanEvent]) -> Vec<String> {
    for k in [
        "gen_ai.response.finish_reasons",
        "gen_ai.response.finish_reason",
        "ai.response.finishReason",
    ] {
        if let Some(v) = a.get(k) {
            let r = reasons(v);
            if !r.is_empty() {
                return r;
            }
        }
    }
    // OpenLLMetry: gen_ai.completion.{i}.finish_reason.
    let mut indexed: Vec<(usize, String)> = a
        .iter()
        .filter_map(|(k, v)| {
            let i = k
                .strip_prefix("gen_ai.completion.")?
                .strip_suffix(".finish_reason")?
                .parse()
                .ok()?;
            Some((i, text(v)?))
        })
        .collect();
    if !indexed.is_empty() {
        indexed.sort();
        return indexed.into_iter().map(|(_, r)| r).collect();
    }
    // Deprecated choice events.
    events
        .iter()
        .filter(|e| e.name == "gen_ai.choice")
        .filter_map(|e| e.attributes.get("finish_reason").and_then(text))
        .collect()
}

/// The LLM call a span describes, or `None` when no convention recognises
/// it. Costs are computed with `prices`.
pub fn extract(a: &Attrs, events: &[SpanEvent], prices: &PriceTable) -> Option<LlmCall> {
    let convention = convention(a, events)?;
    let request_model = first(
        a,
        &[
            "gen_ai.request.model",
            "llm.request.model_name",
            "ai.model.id",
        ],
        text,
    );
    let response_model = first(
        a,
        &[
            "gen_ai.response.model",
            "llm.response.model_name",
            "ai.response.model",
        ],
        text,
    );
    let model = response_model
        .clone()
        .or_else(|| request_model.clone())
        .or_else(|| first(a, &["llm.model_name"], text))
        .unwrap_or_default();
    let provider = first(
        a,
        &[
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.provider",
            "llm.system",
        ],
        text,
    )
    .or_else(|| {
        // Vercel: "openai.chat", "anthropic.messages" …
        first(a, &["ai.model.provider"], text).map(|p| p.split('.').next().unwrap_or("").into())
    })
    .unwrap_or_default();
    let input_tokens = first(
        a,
        &[
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "llm.usage.prompt_tokens",
            "ai.usage.inputTokens",
            "ai.usage.promptTokens",
        ],
        count,
    );
    let output_tokens = first(
        a,
        &[
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "llm.usage.completion_tokens",
            "ai.usage.outputTokens",
            "ai.usage.completionTokens",
        ],
        count,
    );
    let total_tokens = match (input_tokens, output_tokens) {
        (Some(i), Some(o)) => Some(i.saturating_add(o)),
        _ => first(
            a,
            &[
                "gen_ai.usage.total_tokens",
                "llm.token_count.total",
                "llm.usage.total_tokens",
                "ai.usage.totalTokens",
                "ai.usage.tokens",
            ],
            count,
        ),
    };
    let operation_name = operation_name(a);
    let client_cost_usd = first(
        a,
        &[
            "gen_ai.usage.cost",
            "gen_ai.usage.cost_usd",
            "llm.cost.total",
            "operation.cost",
        ],
        number,
    )
    .or_else(|| {
        let p = first(a, &["llm.cost.prompt"], number)?;
        let c = first(a, &["llm.cost.completion"], number)?;
        Some(p + c)
    });
    let ttft_ms = first(
        a,
        &["gen_ai.response.time_to_first_chunk"],
        number, // seconds
    )
    .map(|s| s * 1000.0)
    .or_else(|| {
        first(
            a,
            &[
                "gen_ai.response.time_to_first_token_ms",
                "ai.response.msToFirstChunk",
                "ai.stream.msToFirstChunk",
            ],
            number,
        )
    });
    let finish_reasons = finish_reasons(a, events);
    let mut call = LlmCall {
        provider,
        model,
        operation: legacy_operation(operation_name.as_deref()).to_string(),
        input_tokens,
        output_tokens,
        total_tokens,
        cost_usd: None,
        ttft_ms,
        finish_reason: finish_reasons.first().cloned(),
        temperature: first(
            a,
            &["gen_ai.request.temperature", "ai.settings.temperature"],
            number,
        )
        .or_else(|| nested(a, "llm.invocation_parameters", "temperature").and_then(|v| number(&v))),
        operation_name,
        request_model,
        response_model,
        cached_input_tokens: first(
            a,
            &[
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
                "llm.token_count.prompt_details.cache_read",
                "ai.usage.cachedInputTokens",
            ],
            count,
        ),
        cache_creation_input_tokens: first(
            a,
            &[
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens",
                "llm.token_count.prompt_details.cache_write",
            ],
            count,
        ),
        reasoning_tokens: first(
            a,
            &[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
                "llm.token_count.completion_details.reasoning",
                "ai.usage.reasoningTokens",
            ],
            count,
        ),
        finish_reasons,
        conversation_id: first(
            a,
            &[
                "gen_ai.conversation.id",
                "session.id",
                "langfuse.session.id",
                "ai.telemetry.metadata.sessionId",
            ],
            text,
        ),
        agent_name: first(a, &["gen_ai.agent.name", "agent.name"], text)
            .or_else(|| traceloop_entity(a, "agent")),
        agent_id: first(a, &["gen_ai.agent.id"], text),
        tool_name: first(
            a,
            &["gen_ai.tool.name", "tool.name", "ai.toolCall.name"],
            text,
        )
        .or_else(|| traceloop_entity(a, "tool")),
        tool_call_id: first(
            a,
            &["gen_ai.tool.call.id", "tool_call.id", "ai.toolCall.id"],
            text,
        ),
        max_tokens: first(
            a,
            &[
                "gen_ai.request.max_tokens",
                "llm.request.max_tokens",
                "ai.settings.maxOutputTokens",
                "ai.settings.maxTokens",
            ],
            count,
        )
        .or_else(|| {
            ["max_tokens", "max_completion_tokens"]
                .iter()
                .find_map(|f| nested(a, "llm.invocation_parameters", f).and_then(|v| count(&v)))
        }),
        streaming: first(a, &["gen_ai.request.stream", "llm.is_streaming"], flag)
            .or_else(|| first(a, &["ai.operationId"], text).map(|op| op.starts_with("ai.stream"))),
        client_cost_usd,
        computed_cost_usd: None,
        cost_source: None,
        price_version: None,
        convention: convention.to_string(),
        payloads: Vec::new(),
    };
    call.apply_prices(prices);
    Some(call)
}

#[cfg(test)]
mod tests;
