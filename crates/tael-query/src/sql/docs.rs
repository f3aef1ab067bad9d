//! What each SQL table and column means (`tael query sql --schema`,
//! `GET /api/v1/sql/schema`). Types come from the live tables; this file
//! holds only the words, and a test checks every column has them.

/// (table, description).
pub const TABLES: &[(&str, &str)] = &[
    (
        "spans",
        "One row per span (OTLP traces and everything tael derives from them).",
    ),
    ("logs", "One row per OTLP log record."),
    (
        "metrics",
        "One row per metric data point (OTLP metrics and Prometheus remote-write).",
    ),
    ("comments", "Comments agents and people left on traces."),
];

/// (table or "*" for any, column, description).
const COLUMNS: &[(&str, &str, &str)] = &[
    ("*", "trace_id", "Trace id, 32 lower-case hex characters."),
    ("spans", "span_id", "Span id, 16 lower-case hex characters."),
    ("logs", "span_id", "Id of the span the record was written in, if any."),
    ("comments", "span_id", "Span the comment is about, if any."),
    ("spans", "parent_span_id", "Parent span id; NULL for a root span."),
    ("*", "service", "service.name of the resource ('unknown' when missing)."),
    ("spans", "operation", "Span name."),
    ("spans", "start_ns", "Start time, ns since the Unix epoch."),
    ("spans", "end_ns", "End time, ns since the Unix epoch."),
    ("spans", "duration_ns", "end_ns - start_ns."),
    ("spans", "duration_ms", "Duration in milliseconds (float)."),
    ("spans", "start_time", "start_ns as a UTC timestamp."),
    ("spans", "end_time", "end_ns as a UTC timestamp."),
    ("spans", "status", "'ok', 'error' or 'unset'."),
    ("spans", "status_message", "Status description."),
    ("spans", "kind", "'internal', 'server', 'client', 'producer', 'consumer' or 'unspecified'."),
    ("spans", "trace_state", "W3C tracestate."),
    ("*", "flags", "OTLP flags (W3C trace flags in the low byte)."),
    ("*", "attributes", "Attributes as a typed JSON object ('' when none); read one with attr(attributes, 'key')."),
    ("*", "resource", "Resource attributes as a typed JSON object; attr(resource, 'host.name')."),
    ("spans", "events", "Span events as a JSON array of {n: name, t: time_ns, a: attributes, d: dropped count}."),
    ("spans", "links", "Span links as a JSON array of {t: trace id, s: span id, ts: trace state, f: flags, a: attributes}."),
    ("*", "scope_name", "Instrumentation scope name."),
    ("*", "scope_version", "Instrumentation scope version."),
    ("*", "scope_attributes", "Instrumentation scope attributes as a typed JSON object."),
    ("*", "scope_dropped_attributes_count", "Scope attributes the SDK dropped."),
    ("*", "dropped_attributes_count", "Attributes the SDK dropped."),
    ("spans", "dropped_events_count", "Events the SDK dropped."),
    ("spans", "dropped_links_count", "Links the SDK dropped."),
    ("spans", "llm", "The LLM or agent call as JSON (provider, model, tokens, cost, finish reasons, conversation, agent, tool …); '' when the span is not one."),
    ("spans", "llm_provider", "LLM provider (gen_ai.provider.name or its other forms); NULL when not an LLM call."),
    ("spans", "llm_model", "Model: the response model when reported, else the request model."),
    ("spans", "llm_operation", "GenAI operation: chat, text_completion, embeddings, execute_tool, invoke_agent, …"),
    ("spans", "llm_input_tokens", "Input (prompt) tokens, cached ones included."),
    ("spans", "llm_output_tokens", "Output (completion) tokens, reasoning ones included."),
    ("spans", "llm_total_tokens", "Input + output tokens (or the reported total)."),
    ("spans", "llm_cached_input_tokens", "Input tokens read from a prompt cache."),
    ("spans", "llm_reasoning_tokens", "Reasoning tokens (part of the output)."),
    ("spans", "llm_cost_usd", "Cost in USD: the client-reported one when present, else computed from the price table."),
    ("spans", "llm_cost_source", "'client' or 'price_table': which cost llm_cost_usd is."),
    ("spans", "llm_conversation_id", "Conversation or session id (gen_ai.conversation.id, session.id …)."),
    ("spans", "llm_agent_name", "Agent name (gen_ai.agent.name …)."),
    ("spans", "llm_tool_name", "Tool name (gen_ai.tool.name …)."),
    ("spans", "llm_ttft_ms", "Time to the first token or chunk, ms."),
    ("logs", "time_ns", "Record time (or observed time when unset), ns since the Unix epoch."),
    ("logs", "observed_ns", "Time the record was observed, ns since the Unix epoch."),
    ("logs", "time", "time_ns as a UTC timestamp."),
    ("logs", "severity", "'trace', 'debug', 'info', 'warn', 'error', 'fatal' or 'unspecified'."),
    ("logs", "severity_text", "Severity text as sent."),
    ("logs", "severity_number", "OTLP severity number (1-24, 0 unspecified)."),
    ("logs", "body", "Body as text (strings as is, other values as JSON); '' when a long string body was moved to the blob store (body_json then holds its reference)."),
    ("logs", "body_json", "Typed JSON of a non-string body; NULL for string bodies."),
    ("logs", "event_name", "OTLP event name."),
    ("metrics", "time_ns", "Point time, ns since the Unix epoch."),
    ("metrics", "start_ns", "Start of the point's aggregation interval (cumulative start), ns."),
    ("metrics", "time", "time_ns as a UTC timestamp."),
    ("metrics", "name", "Metric name as sent (OTel dotted names kept)."),
    ("metrics", "description", "Metric description."),
    ("metrics", "unit", "Metric unit (UCUM)."),
    ("metrics", "metric_type", "'gauge', 'sum', 'histogram' (explicit or exponential buckets, see distribution), 'summary' or 'unknown' (remote-write)."),
    ("metrics", "value", "Gauge or sum value; for histograms and summaries, the sum."),
    ("metrics", "temporality", "'cumulative', 'delta', 'unspecified', or '' for gauges."),
    ("metrics", "is_monotonic", "For sums: whether the sum only grows."),
    ("metrics", "distribution", "Histogram buckets, exponential buckets or summary quantiles as JSON."),
    ("metrics", "exemplars", "Exemplars as a JSON array."),
    ("comments", "id", "Comment id (UUID)."),
    ("comments", "author", "Who wrote it."),
    ("comments", "body", "Comment text."),
    ("comments", "created_at", "When it was written (RFC 3339, UTC)."),
];

/// The description of `table.column` (`None`: undocumented).
pub fn column(table: &str, name: &str) -> Option<&'static str> {
    COLUMNS
        .iter()
        .find(|(t, c, _)| *t == table && *c == name)
        .or_else(|| COLUMNS.iter().find(|(t, c, _)| *t == "*" && *c == name))
        .map(|(_, _, d)| *d)
}
