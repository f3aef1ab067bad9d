//! The tool set: each tool is a thin call into [`crate::traces`] or
//! [`crate::reports`] over the [`Backend`], its description written for a
//! model (when to use it, in a sentence, and its nearest neighbour).

use crate::backend::Backend;
use crate::error::ToolError;
use crate::reports::{self, Report, ReportArgs};
use crate::traces;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use tael_query::store::fanout::collect_failures;

/// The server's instructions: the usual path of an investigation.
pub const INSTRUCTIONS: &str = include_str!("instructions.md");

/// tael's MCP server over one backend.
#[derive(Clone)]
pub struct TaelMcp<B: Backend> {
    pub backend: B,
}

/// A tool's result. Over a query node, an answer built without some
/// shards says so: `"partial": true` and `failed_shards` beside its own
/// fields, as the REST answers do.
async fn answer(
    r: impl std::future::Future<Output = Result<Value, ToolError>>,
) -> Result<CallToolResult, rmcp::ErrorData> {
    let (r, failed) = collect_failures(r).await;
    Ok(match r {
        Ok(mut v) => {
            if let (Some(obj), false) = (v.as_object_mut(), failed.is_empty()) {
                obj.insert("partial".into(), Value::Bool(true));
                obj.insert("failed_shards".into(), serde_json::json!(failed));
            }
            CallToolResult::structured(v)
        }
        Err(e) => CallToolResult::structured_error(e.to_json()),
    })
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct NoArgs {}

#[tool_router(vis = "pub")]
impl<B: Backend> TaelMcp<B> {
    #[tool(
        description = "List the services that sent data, busiest first, with span and trace counts, average latency and error rate. Start here to learn the service names the other tools filter on.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_services(
        &self,
        Parameters(a): Parameters<reports::ListServices>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::list_services(&self.backend, a)).await
    }

    #[tool(
        description = "Health of a window (default the last hour): per service request counts, error rates and latency percentiles, top errors, log severities, metric counts. Use first in an incident; find_anomalies says what changed.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn summarize(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::report(&self.backend, Report::Summary, a)).await
    }

    #[tool(
        description = "Operations whose latency or error rate in the window (last, default 15m) departs from the baseline before it, worst first. Use to find which service got slower or started failing; diff compares two chosen windows instead.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn find_anomalies(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::report(&self.backend, Report::Anomalies, a)).await
    }

    #[tool(
        description = "Compare the window (last, default 1h) with a baseline window (baseline, e.g. 1h@-1d for the same hour yesterday): per operation changes in rate, errors and latency. Use after a deploy; find_anomalies needs no baseline choice.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn diff(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::report(&self.backend, Report::Diff, a)).await
    }

    #[tool(
        description = "The service dependency graph of a window: nodes and caller→callee edges with call counts, error rates and latency. Use to find the dependency that errors or is slow.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn service_graph(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::report(&self.backend, Report::Graph, a)).await
    }

    #[tool(
        description = "LLM tokens, cost and latency of a window grouped by model (default), service, conversation, agent or tool (by=...). Use for cost questions; search_traces finds the expensive traces.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn llm_usage(
        &self,
        Parameters(a): Parameters<ReportArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::report(&self.backend, Report::LlmUsage, a)).await
    }

    #[tool(
        description = "Find traces: one summary row per trace (root service and operation, start, duration, span and error counts, services, LLM cost), newest first, never the spans. Filter by service, operation, status=error, min_duration, attributes or full text. Then open one with get_trace_overview.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_traces(
        &self,
        Parameters(a): Parameters<traces::SearchTraces>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(traces::search_traces(&self.backend, a)).await
    }

    #[tool(
        description = "One trace as a compact tree in depth-first order: span ids, parent, depth, service, name, start offset, duration, status; no attributes. Pages with next_cursor on big traces. For data of chosen spans use get_span_details.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_trace_overview(
        &self,
        Parameters(a): Parameters<traces::TraceArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(traces::overview(&self.backend, a)).await
    }

    #[tool(
        description = "The error spans of one trace (at most 20, with total_error_count): where in the tree, status message and exceptions; root_cause marks the error spans none of whose children failed, where the failure began. Use to find the root cause span of a failed request.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_trace_errors(
        &self,
        Parameters(a): Parameters<traces::TraceArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(traces::errors(&self.backend, a)).await
    }

    #[tool(
        description = "The critical path of one trace: the chain of spans that decided its duration, with each span's self time on it. Use to see where a slow request spent its time.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_critical_path(
        &self,
        Parameters(a): Parameters<traces::TraceArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(async {
            traces::fetch_trace(&self.backend, &a.trace_id)
                .await
                .map(|spans| crate::criticalpath::to_json(&a.trace_id, &spans))
        })
        .await
    }

    #[tool(
        description = "Full data of chosen spans of one trace (1 to 20 span ids): attributes, events, links, resource, LLM call with payload hashes. Long values are cut; get_payload pages prompts and completions.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_span_details(
        &self,
        Parameters(a): Parameters<traces::SpanDetailsArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(traces::span_details(&self.backend, a)).await
    }

    #[tool(
        description = "Search log records newest first by service, severity (one level), body substring, full text or trace_id (the logs of one request). Pages with next_cursor.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_logs(
        &self,
        Parameters(a): Parameters<reports::SearchLogs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::search_logs(&self.backend, a)).await
    }

    #[tool(
        description = "One trace with what happened around it: its summary and error spans, its logs, the metrics of its services at the time, and its comments. Use after search_traces to see a request whole.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn correlate(
        &self,
        Parameters(a): Parameters<reports::CorrelateArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::correlate(&self.backend, a)).await
    }

    #[tool(
        description = "The stored metrics: OTLP name, type, unit and the PromQL names to use in query_promql.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_metrics(
        &self,
        Parameters(a): Parameters<reports::ListMetrics>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::list_metrics(&self.backend, a)).await
    }

    #[tool(
        description = "Evaluate PromQL, instant (default now) or over a range (last or start/end, step); at most 20 series of 120 points. Take names from list_metrics.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn query_promql(
        &self,
        Parameters(a): Parameters<reports::QueryPromql>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::query_promql(&self.backend, a)).await
    }

    #[tool(
        description = "The SQL tables (spans, logs, metrics), their columns and what each means. Read before run_sql.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn sql_schema(
        &self,
        Parameters(_a): Parameters<NoArgs>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::sql_schema(&self.backend)).await
    }

    #[tool(
        description = "Run one read-only SQL query (DataFusion dialect) over spans, logs and metrics; rows capped by max_rows. Use for questions no other tool answers; aggregate in SQL rather than fetching rows.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn run_sql(
        &self,
        Parameters(a): Parameters<reports::RunSql>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::run_sql(&self.backend, a)).await
    }

    #[tool(
        description = "A stored LLM prompt or completion by its sha256, a byte range at a time (offset, max_bytes; next_offset continues).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_payload(
        &self,
        Parameters(a): Parameters<reports::GetPayload>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::get_payload(&self.backend, a)).await
    }

    #[tool(
        description = "Write a comment on a trace (optionally one span): a finding or root cause for whoever looks next. The only tool that writes.",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_comment(
        &self,
        Parameters(a): Parameters<reports::AddComment>,
    ) -> Result<CallToolResult, rmcp::ErrorData> {
        answer(reports::add_comment(&self.backend, a)).await
    }
}
