//! Which attributes of an LLM call hold payloads (prompts, completions,
//! system instructions, tool arguments, results and definitions), in each
//! convention, and how a stored span refers to a payload moved to the blob
//! store.
//!
//! A moved attribute value is replaced by the typed-JSON object
//! `{"blobRef": "<sha256 hex>", "bytes": <raw length>}`, and the call's
//! `payloads` list names it: `{"kind", "key", "event"?, "sha256", "bytes"}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The key of a blob reference object.
pub const BLOB_REF: &str = "blobRef";

/// A payload moved to the blob store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// `input`, `output`, `system`, `tool_arguments`, `tool_result` or
    /// `tool_definitions`.
    pub kind: String,
    /// The attribute it was.
    pub key: String,
    /// The span event it was an attribute of, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub sha256: String,
    pub bytes: u64,
}

/// The payload kind of a span attribute, if it holds one.
pub fn payload_kind(key: &str) -> Option<&'static str> {
    const EXACT: &[(&str, &str)] = &[
        ("gen_ai.input.messages", "input"),
        ("gen_ai.prompt", "input"),
        ("input.value", "input"),
        ("ai.prompt", "input"),
        ("ai.prompt.messages", "input"),
        ("traceloop.entity.input", "input"),
        ("gen_ai.output.messages", "output"),
        ("gen_ai.completion", "output"),
        ("output.value", "output"),
        ("ai.response.text", "output"),
        ("ai.response.object", "output"),
        ("traceloop.entity.output", "output"),
        ("gen_ai.system_instructions", "system"),
        ("gen_ai.tool.call.arguments", "tool_arguments"),
        ("ai.toolCall.args", "tool_arguments"),
        ("gen_ai.tool.call.result", "tool_result"),
        ("ai.toolCall.result", "tool_result"),
        ("gen_ai.tool.definitions", "tool_definitions"),
    ];
    if let Some((_, kind)) = EXACT.iter().find(|(k, _)| *k == key) {
        return Some(kind);
    }
    // Indexed forms: gen_ai.prompt.N.content, llm.input_messages.N.message.content …
    let indexed = |prefix: &str, suffix: &str| {
        key.strip_prefix(prefix)
            .and_then(|rest| rest.split_once('.'))
            .is_some_and(|(n, rest)| n.parse::<u32>().is_ok() && rest.ends_with(suffix))
    };
    if indexed("gen_ai.prompt.", "content")
        || indexed("llm.input_messages.", "content")
        || indexed("llm.input_messages.", "text")
        || indexed("llm.prompts.", "text")
    {
        return Some("input");
    }
    if indexed("gen_ai.completion.", "content")
        || indexed("llm.output_messages.", "content")
        || indexed("llm.output_messages.", "text")
        || indexed("llm.choices.", "text")
    {
        return Some("output");
    }
    if key.contains(".tool_calls.") && key.ends_with(".arguments") {
        return Some("tool_arguments");
    }
    if indexed("llm.tools.", "json_schema") {
        return Some("tool_definitions");
    }
    None
}

/// The payload kind of an attribute of a GenAI content event (deprecated
/// `gen_ai.user.message`, `gen_ai.choice`, `gen_ai.content.prompt` …).
pub fn event_payload_kind(event: &str, key: &str) -> Option<&'static str> {
    if !event.starts_with("gen_ai.") {
        return None;
    }
    // Events of the current conventions carry the span attribute names
    // (`gen_ai.client.inference.operation.details`).
    if let Some(kind) = payload_kind(key) {
        return Some(kind);
    }
    if !matches!(
        key,
        "content"
            | "message"
            | "gen_ai.prompt"
            | "gen_ai.completion"
            | "gen_ai.input.messages"
            | "gen_ai.output.messages"
            | "tool_calls"
    ) {
        return None;
    }
    Some(match event {
        "gen_ai.system.message" => "system",
        "gen_ai.choice" | "gen_ai.assistant.message" | "gen_ai.content.completion" => "output",
        "gen_ai.tool.message" => "tool_result",
        _ => "input",
    })
}

/// The reference object that replaces a moved value.
pub fn blob_ref(sha256: &str, bytes: u64) -> Value {
    let mut m = Map::new();
    m.insert(BLOB_REF.into(), Value::String(sha256.into()));
    m.insert("bytes".into(), Value::from(bytes));
    Value::Object(m)
}

/// The sha256 a value refers to, when it is a reference object.
pub fn as_blob_ref(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 2 && m.contains_key("bytes") => m.get(BLOB_REF)?.as_str(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_keys_of_every_convention() {
        for (k, want) in [
            ("gen_ai.input.messages", Some("input")),
            ("gen_ai.prompt.3.content", Some("input")),
            ("gen_ai.prompt.3.role", None),
            ("llm.input_messages.0.message.content", Some("input")),
            (
                "llm.input_messages.0.message.contents.1.message_content.text",
                Some("input"),
            ),
            ("llm.output_messages.0.message.content", Some("output")),
            (
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
                Some("tool_arguments"),
            ),
            ("gen_ai.completion.0.content", Some("output")),
            ("output.value", Some("output")),
            ("gen_ai.system_instructions", Some("system")),
            ("gen_ai.tool.call.result", Some("tool_result")),
            ("ai.toolCall.args", Some("tool_arguments")),
            ("llm.tools.2.tool.json_schema", Some("tool_definitions")),
            ("gen_ai.request.model", None),
            ("http.request.body", None),
        ] {
            assert_eq!(payload_kind(k), want, "{k}");
        }
        assert_eq!(
            event_payload_kind("gen_ai.choice", "message"),
            Some("output")
        );
        assert_eq!(
            event_payload_kind("gen_ai.user.message", "content"),
            Some("input")
        );
        assert_eq!(
            event_payload_kind("gen_ai.system.message", "content"),
            Some("system")
        );
        assert_eq!(event_payload_kind("exception", "content"), None);
        assert_eq!(event_payload_kind("gen_ai.choice", "index"), None);
        let details = "gen_ai.client.inference.operation.details";
        assert_eq!(
            event_payload_kind(details, "gen_ai.output.messages"),
            Some("output")
        );
        assert_eq!(
            event_payload_kind(details, "gen_ai.system_instructions"),
            Some("system")
        );
        let r = blob_ref("ab", 3);
        assert_eq!(as_blob_ref(&r), Some("ab"));
        assert_eq!(as_blob_ref(&serde_json::json!({"blobRef": "ab"})), None);
    }
}
