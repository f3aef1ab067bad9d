//! One test per convention, with the attributes real instrumentations write.

use super::*;
use serde_json::json;

fn attrs(v: Value) -> Attrs {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("test attributes are an object"),
    }
}

fn run(v: Value) -> Option<LlmCall> {
    extract(&attrs(v), &[], &PriceTable::builtin())
}

#[test]
fn plain_spans_are_not_llm_calls() {
    assert_eq!(run(json!({"http.route": "/x", "ai": 1, "llm": "no"})), None);
    assert!(!looks_like_llm(r#"{"http.route":"/x"}"#, ""));
    assert!(looks_like_llm(r#"{"gen_ai.system":"openai"}"#, ""));
    assert!(looks_like_llm("", r#"[{"n":"gen_ai.user.message","t":1}]"#));
}

#[test]
fn otel_genai_current_conventions() {
    let c = run(json!({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "gen_ai.usage.reasoning.output_tokens": 50,
        "gen_ai.response.finish_reasons": ["stop", "length"],
        "gen_ai.conversation.id": "conv-1",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.request.stream": true,
        "gen_ai.response.time_to_first_chunk": 0.25
    }))
    .unwrap();
    assert_eq!(c.convention, "gen_ai");
    assert_eq!(
        (c.provider.as_str(), c.model.as_str()),
        ("openai", "gpt-4o-2024-08-06")
    );
    assert_eq!(c.request_model.as_deref(), Some("gpt-4o"));
    assert_eq!(
        (c.operation.as_str(), c.operation_name.as_deref()),
        ("chat", Some("chat"))
    );
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.total_tokens),
        (Some(1200), Some(300), Some(1500))
    );
    assert_eq!(
        (c.cached_input_tokens, c.reasoning_tokens),
        (Some(200), Some(50))
    );
    assert_eq!(c.finish_reasons, vec!["stop", "length"]);
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(c.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(
        (c.temperature, c.max_tokens, c.streaming),
        (Some(0.2), Some(512), Some(true))
    );
    assert_eq!(c.ttft_ms, Some(250.0));
    // 1000 × 2.50 + 200 × 1.25 + 300 × 10, per 1M
    let want = (1000.0 * 2.50 + 200.0 * 1.25 + 300.0 * 10.0) / 1e6;
    assert!((c.computed_cost_usd.unwrap() - want).abs() < 1e-12);
    assert_eq!(c.cost_usd, c.computed_cost_usd);
    assert_eq!(c.cost_source.as_deref(), Some("price_table"));
}

#[test]
fn otel_genai_deprecated_names_agents_and_tools() {
    let c = run(json!({
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.prompt_tokens": "100",
        "gen_ai.usage.completion_tokens": 20,
        "gen_ai.response.finish_reasons": "[\"end_turn\"]",
        "gen_ai.usage.cost": 0.01
    }))
    .unwrap();
    assert_eq!(
        (c.provider.as_str(), c.model.as_str()),
        ("anthropic", "claude-3-5-sonnet-20241022")
    );
    assert_eq!((c.input_tokens, c.output_tokens), (Some(100), Some(20)));
    assert_eq!(c.finish_reasons, vec!["end_turn"]);
    assert_eq!(
        (c.cost_usd, c.cost_source.as_deref()),
        (Some(0.01), Some("client"))
    );
    assert!(c.computed_cost_usd.is_some());
    assert_eq!(c.operation, "chat");

    let agent = run(json!({
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "planner",
        "gen_ai.agent.id": "ag-7",
        "gen_ai.conversation.id": "c9"
    }))
    .unwrap();
    assert_eq!(
        (agent.operation.as_str(), agent.operation_name.as_deref()),
        ("other", Some("invoke_agent"))
    );
    assert_eq!(
        (agent.agent_name.as_deref(), agent.agent_id.as_deref()),
        (Some("planner"), Some("ag-7"))
    );
    assert_eq!((agent.cost_usd, agent.total_tokens), (None, None));

    let tool = run(json!({
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_1"
    }))
    .unwrap();
    assert_eq!(
        (
            tool.operation.as_str(),
            tool.tool_name.as_deref(),
            tool.tool_call_id.as_deref()
        ),
        ("tool", Some("get_weather"), Some("call_1"))
    );

    let emb = run(json!({
        "gen_ai.operation.name": "embeddings",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 1_000_000
    }))
    .unwrap();
    assert_eq!(emb.operation, "embedding");
    assert!((emb.cost_usd.unwrap() - 0.02).abs() < 1e-12);
}

#[test]
fn content_events_alone_mark_a_call() {
    let events = vec![
        SpanEvent {
            name: "gen_ai.user.message".into(),
            ..Default::default()
        },
        SpanEvent {
            name: "gen_ai.choice".into(),
            attributes: attrs(json!({"finish_reason": "stop", "index": 0})),
            ..Default::default()
        },
    ];
    let c = extract(&Attrs::new(), &events, &PriceTable::builtin()).unwrap();
    assert_eq!(c.convention, "gen_ai");
    assert_eq!(c.finish_reasons, vec!["stop"]);
    assert_eq!(c.model, "");
}

#[test]
fn openinference() {
    let c = run(json!({
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini",
        "llm.provider": "openai",
        "llm.token_count.prompt": 1000,
        "llm.token_count.completion": 500,
        "llm.token_count.total": 1500,
        "llm.token_count.prompt_details.cache_read": 100,
        "llm.invocation_parameters": "{\"temperature\": 0.7, \"max_tokens\": 256}",
        "llm.input_messages.0.message.role": "user",
        "input.value": "hi",
        "session.id": "s-1"
    }))
    .unwrap();
    assert_eq!(c.convention, "openinference");
    assert_eq!(
        (c.provider.as_str(), c.model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!(
        (c.operation.as_str(), c.operation_name.as_deref()),
        ("chat", Some("chat"))
    );
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.total_tokens),
        (Some(1000), Some(500), Some(1500))
    );
    assert_eq!(c.cached_input_tokens, Some(100));
    assert_eq!((c.temperature, c.max_tokens), (Some(0.7), Some(256)));
    assert_eq!(c.conversation_id.as_deref(), Some("s-1"));
    let want = (900.0 * 0.15 + 100.0 * 0.075 + 500.0 * 0.60) / 1e6;
    assert!((c.cost_usd.unwrap() - want).abs() < 1e-12);

    let tool = run(json!({"openinference.span.kind": "TOOL", "tool.name": "search"})).unwrap();
    assert_eq!(
        (tool.operation_name.as_deref(), tool.tool_name.as_deref()),
        (Some("execute_tool"), Some("search"))
    );
    let chain = run(json!({"openinference.span.kind": "CHAIN", "input.value": "x"})).unwrap();
    assert_eq!(
        (chain.operation.as_str(), chain.operation_name.as_deref()),
        ("other", Some("chain"))
    );
    let cost =
        run(json!({"llm.model_name": "m", "llm.cost.prompt": 0.1, "llm.cost.completion": 0.2}))
            .unwrap();
    assert_eq!(cost.convention, "openinference");
    assert!((cost.cost_usd.unwrap() - 0.3).abs() < 1e-12);
}

#[test]
fn openllmetry() {
    let c = run(json!({
        "gen_ai.system": "OpenAI",
        "llm.request.type": "chat",
        "gen_ai.request.model": "gpt-3.5-turbo",
        "gen_ai.response.model": "gpt-3.5-turbo-0125",
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "Tell me a joke",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "…",
        "gen_ai.completion.1.finish_reason": "length",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 30,
        "llm.usage.total_tokens": 40,
        "llm.is_streaming": false
    }))
    .unwrap();
    assert_eq!(c.convention, "openllmetry");
    assert_eq!(c.model, "gpt-3.5-turbo-0125");
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.total_tokens),
        (Some(10), Some(30), Some(40))
    );
    assert_eq!(c.finish_reasons, vec!["stop", "length"]);
    assert_eq!(c.streaming, Some(false));
    let agent =
        run(json!({"traceloop.span.kind": "agent", "traceloop.entity.name": "triage"})).unwrap();
    assert_eq!(
        (agent.operation_name.as_deref(), agent.agent_name.as_deref()),
        (Some("invoke_agent"), Some("triage"))
    );
    let emb = run(
        json!({"llm.request.type": "embedding", "gen_ai.request.model": "text-embedding-3-large"}),
    )
    .unwrap();
    assert_eq!(emb.operation, "embedding");
}

#[test]
fn vercel_ai_sdk() {
    let c = run(json!({
        "ai.operationId": "ai.streamText.doStream",
        "ai.model.id": "claude-3-5-haiku-latest",
        "ai.model.provider": "anthropic.messages",
        "ai.usage.promptTokens": 2000,
        "ai.usage.completionTokens": 100,
        "ai.response.finishReason": "stop",
        "ai.response.msToFirstChunk": 412.5,
        "ai.settings.maxTokens": 1024,
        "ai.telemetry.metadata.sessionId": "sess"
    }))
    .unwrap();
    assert_eq!(c.convention, "vercel_ai");
    assert_eq!(
        (c.provider.as_str(), c.model.as_str()),
        ("anthropic", "claude-3-5-haiku-latest")
    );
    assert_eq!(
        (c.operation_name.as_deref(), c.streaming),
        (Some("chat"), Some(true))
    );
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.total_tokens),
        (Some(2000), Some(100), Some(2100))
    );
    assert_eq!(
        (c.finish_reason.as_deref(), c.ttft_ms, c.max_tokens),
        (Some("stop"), Some(412.5), Some(1024))
    );
    assert_eq!(c.conversation_id.as_deref(), Some("sess"));
    assert!((c.cost_usd.unwrap() - (2000.0 * 0.80 + 100.0 * 4.0) / 1e6).abs() < 1e-12);
    // The wrapper around provider calls is not a model call itself.
    let wrapper = run(json!({"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": 5})).unwrap();
    assert_eq!(
        (
            wrapper.operation_name.as_deref(),
            wrapper.operation.as_str()
        ),
        (Some("ai.generateText"), "other")
    );
    let tool = run(json!({"ai.operationId": "ai.toolCall", "ai.toolCall.name": "lookup", "ai.toolCall.id": "t1"})).unwrap();
    assert_eq!(
        (
            tool.operation.as_str(),
            tool.tool_name.as_deref(),
            tool.tool_call_id.as_deref()
        ),
        ("tool", Some("lookup"), Some("t1"))
    );
}

#[test]
fn odd_values_are_ignored_not_fatal() {
    let c = run(json!({
        "gen_ai.system": "openai",
        "gen_ai.usage.input_tokens": -5,
        "gen_ai.usage.output_tokens": "many",
        "gen_ai.request.temperature": "hot",
        "gen_ai.response.finish_reasons": "[not json",
        "gen_ai.usage.total_tokens": 7
    }))
    .unwrap();
    assert_eq!(
        (c.input_tokens, c.output_tokens, c.total_tokens),
        (None, None, Some(7))
    );
    assert_eq!(c.temperature, None);
    assert!(c.finish_reasons.is_empty());
    assert_eq!(c.cost_usd, None);
}
