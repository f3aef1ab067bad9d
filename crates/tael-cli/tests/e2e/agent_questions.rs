//! Five questions about the seeded incident (which service got slower, the
//! root cause span of an error trace, the cost by model, the logs of the
//! failing request, the dependency that errors), answered through MCP
//! (tests/python/agent_questions.py, the official client) and through the
//! CLI with the skill's commands. Both must reach the incident's answers;
//! the calls and the bytes an agent reads on each path are printed as the
//! table in BENCHMARKS.md ("Agent questions").

use crate::incident;
use crate::support::*;
use serde_json::{json, Value};

/// A CLI path: each command's stdout is what the agent reads.
struct CliPath {
    calls: usize,
    bytes: usize,
}

impl CliPath {
    fn new() -> Self {
        CliPath { calls: 0, bytes: 0 }
    }

    #[track_caller]
    fn run(&mut self, rest: &str, args: &[&str]) -> Value {
        let (code, out, err) = cli(args, &[("TAEL_SERVER", rest)]);
        assert_eq!(code, 0, "tael {args:?}: {err}");
        self.calls += 1;
        self.bytes += out.len();
        serde_json::from_str(&out).unwrap()
    }

    fn report(&self, answer: Value) -> Value {
        json!({ "calls": self.calls, "bytes": self.bytes, "answer": answer })
    }
}

const ERROR_TRACE: [&str; 8] = [
    "query", "traces", "--status", "error", "--last", "1h", "--limit", "1",
];

fn cli_answers(rest: &str) -> Value {
    let mut out = serde_json::Map::new();

    let mut p = CliPath::new();
    let v = p.run(rest, &["anomalies", "--last", "15m"]);
    let slower = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "latency_p95")
        .map(|a| a["service"].clone());
    out.insert("slower_service".into(), p.report(json!(slower)));

    let mut p = CliPath::new();
    let id = p.run(rest, &ERROR_TRACE)["spans"][0]["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    let trace = p.run(rest, &["get", "trace", &id]);
    let spans = trace["spans"].as_array().unwrap();
    let failed = |s: &&Value| s["status"] == "error";
    let origins: Vec<String> = spans
        .iter()
        .filter(failed)
        .filter(|s| {
            !spans
                .iter()
                .filter(failed)
                .any(|c| c["parent_span_id"] == s["span_id"])
        })
        .map(|s| {
            format!(
                "{} {}",
                s["service"].as_str().unwrap(),
                s["operation"].as_str().unwrap()
            )
        })
        .collect();
    out.insert("root_cause".into(), p.report(json!(origins)));

    let mut p = CliPath::new();
    let v = p.run(rest, &["llm", "usage", "--last", "24h", "--by", "model"]);
    let costs: serde_json::Map<String, Value> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                g["cost_usd"].clone(),
            )
        })
        .collect();
    out.insert("cost_by_model".into(), p.report(Value::Object(costs)));

    let mut p = CliPath::new();
    let id = p.run(rest, &ERROR_TRACE)["spans"][0]["trace_id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = p.run(rest, &["query", "logs", "--trace-id", &id]);
    let bodies: Vec<Value> = v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].clone())
        .collect();
    out.insert("failing_request_logs".into(), p.report(json!(bodies)));

    let mut p = CliPath::new();
    let v = p.run(rest, &["topology", "--last", "1h"]);
    let edge = v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .max_by(|a, b| {
            a["error_rate"]
                .as_f64()
                .partial_cmp(&b["error_rate"].as_f64())
                .unwrap()
        })
        .map(|e| json!([e["from"], e["to"]]));
    out.insert("erroring_dependency".into(), p.report(json!(edge)));
    Value::Object(out)
}

/// Both paths found the incident's answers.
#[track_caller]
fn check(inc: &incident::Incident, path: &str, r: &Value) {
    let q = |k: &str| &r[k]["answer"];
    assert_eq!(q("slower_service"), inc.slower_service, "{path}: {r}");
    let origins = q("root_cause").as_array().unwrap();
    assert!(!origins.is_empty(), "{path}: {r}");
    for o in origins {
        assert!(
            o.as_str().unwrap().ends_with(inc.root_cause_operation),
            "{path}: {o}"
        );
    }
    let costs = q("cost_by_model").as_object().unwrap();
    let costliest = costs
        .iter()
        .max_by(|a, b| a.1.as_f64().partial_cmp(&b.1.as_f64()).unwrap())
        .unwrap()
        .0;
    assert_eq!(costliest, inc.costliest_model, "{path}: {r}");
    assert!(
        q("failing_request_logs")
            .to_string()
            .contains(inc.failing_log),
        "{path}: {r}"
    );
    assert_eq!(
        q("erroring_dependency"),
        &json!([inc.erroring_edge.0, inc.erroring_edge.1]),
        "{path}: {r}"
    );
}

#[test]
fn five_incident_questions_through_mcp_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let inc = incident::seed(&s.grpc);
    let mcp = python_script("agent_questions.py", &[&format!("{}/mcp", s.rest)]);
    check(&inc, "mcp", &mcp);
    let cli = cli_answers(&s.rest);
    check(&inc, "cli", &cli);

    println!("| question | MCP calls | MCP bytes | CLI calls | CLI bytes |");
    println!("|---|---:|---:|---:|---:|");
    for q in [
        "slower_service",
        "root_cause",
        "cost_by_model",
        "failing_request_logs",
        "erroring_dependency",
    ] {
        println!(
            "| {q} | {} | {} | {} | {} |",
            mcp[q]["calls"], mcp[q]["bytes"], cli[q]["calls"], cli[q]["bytes"]
        );
    }
    s.stop();
}
