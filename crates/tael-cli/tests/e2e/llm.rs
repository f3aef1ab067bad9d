//! LLM calls through the real server and CLI: spans written by each
//! convention come back with their typed `llm` object (tokens, computed or
//! client cost), the `llm_*` SQL columns, `/api/v1/llm/usage` and
//! `tael llm usage`, from the memtable and from parts after a restart;
//! `TAEL_PRICES_FILE` overrides prices and a bad one stops startup.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};
use serde_json::Value;
use std::time::Duration;

const MS: u64 = 1_000_000;

fn s(v: &str) -> V {
    V::StringValue(v.into())
}

fn s_(v: &str) -> V {
    s(v)
}

fn strings(items: &[&str]) -> V {
    V::ArrayValue(ArrayValue {
        values: items
            .iter()
            .map(|x| AnyValue { value: Some(s(x)) })
            .collect(),
    })
}

/// Four calls in one trace of service `agent-app`, one per convention.
fn llm_trace(start: u64) -> ExportTraceServiceRequest {
    let tid = trace_id(77, 1);
    let call = |k: u32, name: &str, ms: u64, err: bool, attributes: Vec<KeyValue>| Span {
        trace_id: tid.clone(),
        span_id: span_id(77, k),
        parent_span_id: if k == 0 { vec![] } else { span_id(77, 0) },
        name: name.into(),
        kind: if k == 0 { 1 } else { 3 },
        start_time_unix_nano: start + k as u64 * MS,
        end_time_unix_nano: start + k as u64 * MS + ms * MS,
        status: Some(Status {
            code: if err { 2 } else { 0 },
            message: String::new(),
        }),
        attributes,
        events: if k == 1 {
            vec![span::Event {
                name: "gen_ai.user.message".into(),
                time_unix_nano: start + MS,
                attributes: vec![kv("content", s("What is the refund policy?"))],
                dropped_attributes_count: 0,
            }]
        } else {
            vec![]
        },
        ..Default::default()
    };
    let spans = vec![
        call(
            0,
            "invoke_agent support",
            900,
            false,
            vec![
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.agent.name", s("support")),
                kv("gen_ai.conversation.id", s("conv-42")),
            ],
        ),
        call(
            1,
            "chat gpt-4o-mini",
            400,
            false,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.provider.name", s("openai")),
                kv("gen_ai.request.model", s("gpt-4o-mini")),
                kv("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
                kv("gen_ai.usage.input_tokens", V::IntValue(1_000_000)),
                kv("gen_ai.usage.output_tokens", V::IntValue(100_000)),
                kv("gen_ai.response.finish_reasons", strings(&["stop"])),
                kv("gen_ai.conversation.id", s("conv-42")),
                kv("gen_ai.response.time_to_first_chunk", V::DoubleValue(0.12)),
            ],
        ),
        call(
            2,
            "ChatAnthropic",
            300,
            true,
            vec![
                kv("openinference.span.kind", s("LLM")),
                kv("llm.model_name", s("claude-3-5-haiku-20241022")),
                kv("llm.provider", s("anthropic")),
                kv("llm.token_count.prompt", V::IntValue(2000)),
                kv("llm.token_count.completion", V::IntValue(500)),
                kv("session.id", s("conv-42")),
            ],
        ),
        call(
            3,
            "openai.chat",
            200,
            false,
            vec![
                kv("gen_ai.system", s("openai")),
                kv("llm.request.type", s("chat")),
                kv("gen_ai.request.model", s("gpt-4o-mini")),
                kv("gen_ai.usage.prompt_tokens", V::IntValue(10)),
                kv("gen_ai.usage.completion_tokens", V::IntValue(5)),
                kv("gen_ai.usage.cost", V::DoubleValue(0.5)),
            ],
        ),
        call(
            4,
            "ai.generateText.doGenerate",
            100,
            false,
            vec![
                kv("ai.operationId", s("ai.generateText.doGenerate")),
                kv("ai.model.id", s("unpriced-model")),
                kv("ai.model.provider", s("acme.chat")),
                kv("ai.usage.promptTokens", V::IntValue(7)),
                kv("ai.usage.completionTokens", V::IntValue(3)),
            ],
        ),
    ];
    service_traces("agent-app", spans)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|x| (x - b).abs() <= 1e-9 * b.abs().max(1.0))
}

fn llm_of<'a>(trace: &'a Value, name: &str) -> &'a Value {
    let spans = trace["spans"].as_array().expect("spans");
    let span = spans
        .iter()
        .find(|s| s["operation"] == name)
        .unwrap_or_else(|| panic!("no span {name}"));
    &span["llm"]
}

fn check(s: &Server) {
    let tid = hex::encode(trace_id(77, 1));
    let (st, trace) = s.get(&format!("/api/v1/traces/{tid}"));
    assert_eq!(st, 200, "{trace}");
    // OTel GenAI: computed from the price table (gpt-4o-mini: 0.15 / 0.60 per 1M).
    let chat = llm_of(&trace, "chat gpt-4o-mini");
    assert_eq!(chat["provider"], "openai");
    assert_eq!(chat["model"], "gpt-4o-mini-2024-07-18");
    assert_eq!(chat["input_tokens"], 1_000_000);
    assert_eq!(chat["total_tokens"], 1_100_000);
    assert!(close(&chat["cost_usd"], 0.15 + 0.06), "{chat}");
    assert_eq!(chat["cost_source"], "price_table");
    assert_eq!(chat["finish_reasons"], serde_json::json!(["stop"]));
    assert!(close(&chat["ttft_ms"], 120.0), "{chat}");
    assert_eq!(chat["conversation_id"], "conv-42");
    // The span keeps its OTLP kind and its attributes.
    let span = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["operation"] == "chat gpt-4o-mini")
        .unwrap();
    assert_eq!(span["kind"], "client");
    assert_eq!(span["attributes"]["gen_ai.request.model"], "gpt-4o-mini");
    // OpenInference (claude-3-5-haiku: 0.80 / 4.00).
    let oi = llm_of(&trace, "ChatAnthropic");
    assert_eq!(oi["convention"], "openinference");
    assert!(
        close(&oi["cost_usd"], (2000.0 * 0.80 + 500.0 * 4.0) / 1e6),
        "{oi}"
    );
    // OpenLLMetry with a client-reported cost: that one is used.
    let ol = llm_of(&trace, "openai.chat");
    assert_eq!(ol["convention"], "openllmetry");
    assert!(close(&ol["cost_usd"], 0.5));
    assert_eq!(ol["cost_source"], "client");
    assert!(ol["computed_cost_usd"].is_number());
    // Vercel AI SDK, unpriced model: tokens but no cost.
    let v = llm_of(&trace, "ai.generateText.doGenerate");
    assert_eq!(
        (v["provider"].as_str(), v["total_tokens"].as_u64()),
        (Some("acme"), Some(10))
    );
    assert!(v.get("cost_usd").is_none(), "{v}");
    // The agent span.
    let agent = llm_of(&trace, "invoke_agent support");
    assert_eq!(
        (agent["agent_name"].as_str(), agent["operation"].as_str()),
        (Some("support"), Some("other"))
    );

    // SQL over the typed columns.
    let (st, v) = s.get(
        "/api/v1/sql?q=SELECT%20llm_model%2C%20llm_input_tokens%2C%20llm_cost_usd%20FROM%20spans%20WHERE%20llm_provider%20%3D%20%27anthropic%27",
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["rows"][0]["llm_model"], "claude-3-5-haiku-20241022");
    assert_eq!(v["rows"][0]["llm_input_tokens"], 2000);
    let (st, v) = s.get(
        "/api/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20spans%20WHERE%20llm%20%3C%3E%20%27%27",
    );
    assert_eq!((st, v["rows"][0]["n"].as_i64()), (200, Some(5)), "{v}");

    // Usage per model and per conversation.
    let (st, u) = s.get("/api/v1/llm/usage?last=1h&by=model");
    assert_eq!(st, 200, "{u}");
    // Model calls only: the agent span is not one.
    assert_eq!(u["total"]["calls"], 4);
    assert_eq!(u["total"]["errors"], 1);
    assert_eq!(u["total"]["input_tokens"], 1_000_000 + 2000 + 10 + 7);
    let want_cost = 0.21 + (2000.0 * 0.80 + 500.0 * 4.0) / 1e6 + 0.5;
    assert!(close(&u["total"]["cost_usd"], want_cost), "{u}");
    assert_eq!(u["total"]["priced_calls"], 3);
    let groups = u["groups"].as_array().unwrap();
    assert_eq!(groups[0]["key"], "gpt-4o-mini", "costliest first: {u}");
    assert_eq!(groups[0]["calls"], 1);
    let (st, u) = s.get("/api/v1/llm/usage?last=1h&by=conversation");
    assert_eq!(st, 200);
    let conv = u["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "conv-42")
        .expect("conv-42");
    assert_eq!(conv["calls"], 2);
    assert!(close(&conv["ttft_p50_ms"], 120.0), "{conv}");
    let (_, top) = s.get("/api/v1/llm/usage?by=model&limit=1");
    assert_eq!(top["groups"].as_array().map(Vec::len), Some(1), "{top}");
    assert_eq!(top["group_count"], 4);
    assert_eq!(top["total"]["calls"], 4);
    let (st, e) = s.get("/api/v1/llm/usage?by=colour");
    assert_eq!(st, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("model"), "{e}");

    // The CLI.
    let v = cli_json(
        &[
            "llm", "usage", "--server", &s.rest, "--last", "1h", "--by", "service",
        ],
        &[],
    );
    assert_eq!(v["groups"][0]["key"], "agent-app");
    let (code, out, _) = cli(
        &["llm", "usage", "--server", &s.rest, "--format", "table"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("gpt-4o-mini") && out.contains("TOTAL"),
        "{out}"
    );
    let (code, _, err) = cli(
        &["llm", "usage", "--server", &s.rest, "--by", "colour"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn llm_calls_are_typed_priced_and_summed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let start = now_ns() - 60_000 * MS;
    assert_eq!(grpc_traces(&s.grpc, llm_trace(start), false).unwrap(), 0);
    check(&s);
    // Again from Parquet parts.
    s.stop();
    let s = Server::start(dir.path(), &[]);
    check(&s);
}

#[test]
fn a_prices_file_overrides_the_table_and_a_bad_one_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    let prices = dir.path().join("prices.json");
    std::fs::write(
        &prices,
        r#"{"version": "test-1", "models": [{"model": "gpt-4o-mini", "input": 1.0, "output": 2.0},
            {"model": "unpriced-model", "input": 100, "output": 100}]}"#,
    )
    .unwrap();
    let p = prices.to_str().unwrap();
    let s = Server::start(&dir.path().join("data"), &[("TAEL_PRICES_FILE", p)]);
    assert_eq!(
        grpc_traces(&s.grpc, llm_trace(now_ns() - 60_000 * MS), false).unwrap(),
        0
    );
    let (_, trace) = s.get(&format!("/api/v1/traces/{}", hex::encode(trace_id(77, 1))));
    let chat = llm_of(&trace, "chat gpt-4o-mini");
    assert!(close(&chat["cost_usd"], 1.0 + 0.2), "{chat}");
    assert_eq!(chat["price_version"], "2025-10-01+test-1");
    let v = llm_of(&trace, "ai.generateText.doGenerate");
    assert!(close(&v["cost_usd"], 10.0 * 100.0 / 1e6), "{v}");
    s.stop();

    std::fs::write(
        &prices,
        r#"{"version": "x", "models": [{"model": "m", "input": -1, "output": 1}]}"#,
    )
    .unwrap();
    let args = serve_args(&dir.path().join("d2"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = cli(&args, &[("TAEL_PRICES_FILE", p)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TAEL_PRICES_FILE"), "{err}");
}

/// Runs the instrumented Python OpenAI client (tests/python) against a stub
/// of the OpenAI API, exporting to `s` over OTLP/HTTP; returns its report.
#[test]
fn real_openai_instrumentations_are_recognised_and_priced() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    for (flavour, convention, name) in [
        ("openai-v2", "gen_ai", "chat gpt-4o-mini"),
        ("openinference", "openinference", "ChatCompletion"),
    ] {
        let r = python_script("llm_client.py", &[&s.http, flavour]);
        let tid = r["trace_id"].as_str().unwrap();
        let trace = cli_json(
            &["get", "trace", tid, "--with-payloads", "--server", &s.rest],
            &[],
        );
        let llm = llm_of(&trace, name);
        assert_eq!(llm["convention"], convention, "{llm}");
        assert_eq!(llm["provider"], "openai");
        assert_eq!(llm["model"], "gpt-4o-mini-2024-07-18");
        assert_eq!(
            (llm["input_tokens"].as_u64(), llm["output_tokens"].as_u64()),
            (Some(1200), Some(300))
        );
        // gpt-4o-mini: 1200 × 0.15 + 300 × 0.60 per 1M.
        assert!(close(&llm["cost_usd"], 0.00036), "{llm}");
        assert_eq!(llm["cost_source"], "price_table");
        assert!(close(&llm["temperature"], 0.3), "{llm}");
        // The prompt and completion came back: as log events of the trace
        // (openai-v2) or as span attributes (OpenInference).
        let (_, logs) = s.get(&format!("/api/v1/logs?trace_id={tid}"));
        // openai-v2 writes its content events without a time: they take
        // their observed time instead of 1970.
        for l in logs["logs"].as_array().unwrap() {
            assert!(!l["timestamp"].as_str().unwrap().starts_with("1970"), "{l}");
        }
        let everything = format!("{trace}{logs}");
        for text in [&r["prompt"], &r["completion"], &r["system"]] {
            assert!(
                everything.contains(text.as_str().unwrap()),
                "{flavour}: {text} missing"
            );
        }
    }
    // OpenInference puts the (long) system message in span attributes: it
    // was moved to the blob store, and is a reference without --with-payloads.
    let oi = python_script("llm_client.py", &[&s.http, "openinference"]);
    let (_, t) = s.get(&format!(
        "/api/v1/traces/{}",
        oi["trace_id"].as_str().unwrap()
    ));
    let call = t["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| sp["operation"] == "ChatCompletion")
        .unwrap();
    let payloads = call["llm"]["payloads"].as_array().expect("payloads moved");
    assert!(
        payloads.iter().any(|p| p["kind"] == "input"),
        "{payloads:?}"
    );
    let sha = payloads[0]["sha256"].as_str().unwrap();
    let (st, _) = s.get(&format!("/api/v1/blobs/{sha}"));
    assert_eq!(st, 200);
    let (_, u) = s.get("/api/v1/llm/usage?by=service");
    assert_eq!(u["total"]["calls"], 3, "{u}");
    assert_eq!(u["total"]["input_tokens"], 3600);
}

/// A JSON messages payload of about `len` bytes.
fn messages(role: &str, topic: &str, len: usize) -> String {
    let text: String = format!("{topic}: ")
        .chars()
        .chain("the parcel refund policy says ".chars().cycle())
        .take(len)
        .collect();
    serde_json::json!([{"role": role, "parts": [{"type": "text", "content": text}]}]).to_string()
}

#[test]
fn payloads_go_to_the_blob_store_once_and_come_back() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let start = now_ns() - 30_000 * MS;
    let prompt = messages("user", "refunds", 5000);
    let answer = messages("assistant", "answer", 3000);
    let event_text: String = "Is a dented box damaged? ".repeat(80);
    let tid = trace_id(88, 1);
    let call = |k: u32| Span {
        trace_id: tid.clone(),
        span_id: span_id(88, k),
        name: "chat gpt-4o".into(),
        kind: 3,
        start_time_unix_nano: start + k as u64 * MS,
        end_time_unix_nano: start + k as u64 * MS + 50 * MS,
        attributes: vec![
            kv("gen_ai.operation.name", s_("chat")),
            kv("gen_ai.provider.name", s_("openai")),
            kv("gen_ai.request.model", s_("gpt-4o")),
            kv("gen_ai.input.messages", s_(&prompt)),
            kv("gen_ai.output.messages", s_(&answer)),
            kv("gen_ai.system_instructions", s_("Be brief.")),
        ],
        events: vec![span::Event {
            name: "gen_ai.user.message".into(),
            time_unix_nano: start,
            attributes: vec![kv("content", s_(&event_text))],
            dropped_attributes_count: 0,
        }],
        ..Default::default()
    };
    let req = service_traces("chat-app", vec![call(1), call(2)]);
    assert_eq!(grpc_traces(&s.grpc, req, false).unwrap(), 0);
    let body: String = "stack frame at refund_service.py line 42\n".repeat(300);
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("chat-app"),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![LogRecord {
                    time_unix_nano: start,
                    trace_id: tid.clone(),
                    body: Some(AnyValue {
                        value: Some(s_(&body)),
                    }),
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    assert_eq!(grpc_logs(&s.grpc, logs).unwrap(), 0);
    let hex_tid = hex::encode(&tid);

    let check = |s: &Server| {
        // Stored: references in place of the large values, listed in llm.payloads.
        let (_, t) = s.get(&format!("/api/v1/traces/{hex_tid}"));
        let span = &t["spans"][0];
        let input = &span["attribute_values"]["gen_ai.input.messages"];
        let sha = input["blobRef"]
            .as_str()
            .expect("input moved to a blob")
            .to_string();
        assert_eq!(input["bytes"], prompt.len());
        assert_eq!(
            span["attribute_values"]["gen_ai.system_instructions"],
            "Be brief."
        );
        let payloads = span["llm"]["payloads"].as_array().unwrap();
        let kinds: Vec<&str> = payloads
            .iter()
            .map(|p| p["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.len(), 3, "{payloads:?}");
        for k in ["input", "output"] {
            assert!(kinds.contains(&k), "{kinds:?}");
        }
        assert!(
            payloads.iter().any(|p| p["event"] == "gen_ai.user.message"),
            "{payloads:?}"
        );
        // The blob route.
        let resp = reqwest::blocking::get(format!("{}/api/v1/blobs/{sha}", s.rest)).unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(resp.text().unwrap(), prompt);
        assert_eq!(s.get("/api/v1/blobs/xyz").0, 400);
        assert_eq!(s.get(&format!("/api/v1/blobs/{}", "0".repeat(64))).0, 404);
        assert_eq!(
            s.get(&format!("/api/v1/traces/{hex_tid}?with_payloads=maybe"))
                .0,
            400
        );
        // --with-payloads puts everything back.
        let t = cli_json(
            &[
                "get",
                "trace",
                &hex_tid,
                "--with-payloads",
                "--server",
                &s.rest,
            ],
            &[],
        );
        for span in t["spans"].as_array().unwrap() {
            assert_eq!(
                span["attribute_values"]["gen_ai.input.messages"],
                prompt.as_str()
            );
            assert_eq!(
                span["attribute_values"]["gen_ai.output.messages"],
                answer.as_str()
            );
            assert_eq!(
                span["events"][0]["attribute_values"]["content"],
                event_text.as_str()
            );
        }
        // The log body.
        let (_, l) = s.get(&format!("/api/v1/logs?trace_id={hex_tid}"));
        assert!(l["logs"][0]["body_value"]["blobRef"].is_string(), "{l}");
        let (_, l) = s.get(&format!(
            "/api/v1/logs?trace_id={hex_tid}&with_payloads=true"
        ));
        assert_eq!(l["logs"][0]["body_value"], body.as_str());
        let l = cli_json(
            &[
                "query",
                "logs",
                "--trace-id",
                &hex_tid,
                "--with-payloads",
                "--server",
                &s.rest,
            ],
            &[],
        );
        assert_eq!(l["logs"][0]["body"], body.as_str());
        // Text search still finds what moved to the blob store.
        let found = cli_json(
            &[
                "query",
                "traces",
                "--text",
                "refunds: the parcel",
                "--server",
                &s.rest,
            ],
            &[],
        );
        assert_eq!(found["spans"].as_array().map(Vec::len), Some(2), "{found}");
        let (_, l) = s.get("/api/v1/logs?body_contains=refund_service.py%20line%2042");
        assert_eq!(l["count"], 1, "{l}");
        // Each distinct payload is stored once: prompt, answer, event text, body.
        let (_, st) = s.get("/api/v1/stats");
        assert_eq!(st["storage"]["blobs"], 4, "{st}");
        let raw = (prompt.len() + answer.len() + event_text.len() + body.len()) as u64;
        assert!(
            st["storage"]["blob_bytes"].as_u64().unwrap() * 5 < raw,
            "compressed: {st}"
        );
    };
    check(&s);
    s.stop();
    let s = Server::start(dir.path(), &[]);
    check(&s);
}

#[test]
fn payload_retention_can_be_shorter_than_span_retention() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("TAEL_PAYLOAD_RETENTION", "2s"),
            ("TAEL_BLOB_GC_INTERVAL", "1s"),
            ("TAEL_BLOB_GRACE", "1s"),
        ],
    );
    let prompt = messages("user", "retention", 4000);
    let tid = trace_id(89, 1);
    let req = service_traces(
        "chat-app",
        vec![Span {
            trace_id: tid.clone(),
            span_id: span_id(89, 1),
            name: "chat gpt-4o".into(),
            kind: 3,
            start_time_unix_nano: now_ns() - 1000 * MS,
            end_time_unix_nano: now_ns() - 900 * MS,
            attributes: vec![
                kv("gen_ai.provider.name", s_("openai")),
                kv("gen_ai.request.model", s_("gpt-4o")),
                kv("gen_ai.usage.input_tokens", V::IntValue(1000)),
                kv("gen_ai.input.messages", s_(&prompt)),
            ],
            ..Default::default()
        }],
    );
    assert_eq!(grpc_traces(&s.grpc, req, false).unwrap(), 0);
    let hex_tid = hex::encode(&tid);
    let (_, t) = s.get(&format!("/api/v1/traces/{hex_tid}"));
    let sha = t["spans"][0]["llm"]["payloads"][0]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(s.get(&format!("/api/v1/blobs/{sha}")).0, 200);
    // Past the payload retention the blob goes; the span and its llm facts stay.
    assert!(
        eventually(Duration::from_secs(15), || s
            .get(&format!("/api/v1/blobs/{sha}"))
            .0
            == 404),
        "payload not collected"
    );
    let (st, t) = s.get(&format!("/api/v1/traces/{hex_tid}?with_payloads=true"));
    assert_eq!(st, 200);
    let span = &t["spans"][0];
    assert_eq!(span["llm"]["input_tokens"], 1000);
    assert_eq!(
        span["attribute_values"]["gen_ai.input.messages"]["blobRef"],
        sha.as_str()
    );
}
