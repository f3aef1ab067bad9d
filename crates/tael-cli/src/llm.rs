//! `tael llm …`: LLM calls. `usage` is a thin client of
//! `/api/v1/llm/usage`, with a `--format table` rendering.

use crate::client::{CliError, Client};
use crate::output::{list, num, s, table};
use crate::{duration_arg, print, Format};
use clap::Subcommand;
use serde_json::Value;
use tael_query::llm_usage::{LlmGrouping, UsageRequest};

#[derive(Subcommand, Debug)]
pub enum LlmCmd {
    /// Calls, tokens, cost, error rate, p50/p95 latency and time to first
    /// token of the LLM calls of a window, per model, service or conversation.
    Usage {
        /// Window ending now, e.g. 1h, 24h, 7d [server default: 1h].
        #[arg(long)]
        last: Option<String>,
        /// model, service, conversation, provider, operation, agent or tool.
        #[arg(long, default_value = "model")]
        by: String,
        /// Groups listed at most, costliest first.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

pub fn run(format: Format, client: &Client, cmd: &LlmCmd) -> Result<(), CliError> {
    match cmd {
        LlmCmd::Usage { last, by, limit } => {
            let q = UsageRequest {
                last: duration_arg("--last", last)?,
                by: LlmGrouping::parse(by)?,
                limit: *limit,
            };
            print(format, &client.call(&q)?, usage_table);
        }
    }
    Ok(())
}

fn usage_table(v: &Value) -> String {
    let cells = |r: &Value, key: String| {
        vec![
            key,
            s(r, "calls"),
            num(r, "error_rate", 4),
            s(r, "input_tokens"),
            s(r, "output_tokens"),
            num(r, "cost_usd", 4),
            num(r, "p50_ms", 1),
            num(r, "p95_ms", 1),
            num(r, "ttft_p50_ms", 1),
        ]
    };
    let mut rows: Vec<Vec<String>> = list(v, "groups")
        .iter()
        .map(|r| {
            let key = s(r, "key");
            cells(r, if key.is_empty() { "(none)".into() } else { key })
        })
        .collect();
    rows.push(cells(&v["total"], "TOTAL".into()));
    let by = s(v, "by");
    table(
        &[
            by.as_str(),
            "calls",
            "error_rate",
            "input_tok",
            "output_tok",
            "cost_usd",
            "p50_ms",
            "p95_ms",
            "ttft_p50_ms",
        ],
        &rows,
    )
}
