//! A seeded incident for the agent-facing tests (the skill's commands, the
//! five questions through MCP and the CLI). Each order is a trace:
//! frontend `GET /checkout` → checkout `POST /orders` → payments `charge`,
//! inventory `reserve` (→ its own `SELECT stock` client span) and an LLM
//! `chat` span (gpt-4o for a third of the orders, gpt-4o-mini for the
//! rest). A healthy baseline runs from 100 to 20 minutes ago; in the last
//! 10 minutes `charge` takes ten times as long, and a quarter of the orders
//! fail at `SELECT stock` (connection refused). Checkout degrades
//! gracefully for half of those, so the erroring dependency is
//! checkout → inventory, and the root cause span of every error trace is
//! `SELECT stock`. Every order logs; the failing ones log the refusal.
//! Health-check logs without a trace add noise, and a request-duration
//! histogram per service feeds PromQL.

use crate::fixtures::*;
use crate::support::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;
const MIN: u64 = 60_000 * MS;
const BASELINE_ORDERS: u32 = 600;
const INCIDENT_ORDERS: u32 = 200;

/// What the seeded incident's answers are.
pub struct Incident {
    /// An order that failed (its trace id).
    pub error_trace: String,
    /// The service whose own spans got slower.
    pub slower_service: &'static str,
    /// The operation of the root cause span of every error trace.
    pub root_cause_operation: &'static str,
    /// The costliest model.
    pub costliest_model: &'static str,
    /// The dependency edge with the highest error rate (caller, callee).
    pub erroring_edge: (&'static str, &'static str),
    /// A body fragment of the failing order's error log.
    pub failing_log: &'static str,
}

struct Order {
    n: u32,
    start: u64,
    incident: bool,
}

impl Order {
    fn stock_fails(&self) -> bool {
        self.incident && self.n.is_multiple_of(4)
    }
    /// Checkout falls back for every other stock failure.
    fn checkout_fails(&self) -> bool {
        self.stock_fails() && self.n.is_multiple_of(8)
    }
    fn model(&self) -> &'static str {
        if self.n.is_multiple_of(3) {
            "gpt-4o"
        } else {
            "gpt-4o-mini"
        }
    }
}

fn sid(n: u32, k: u8) -> Vec<u8> {
    span_id(0xC0 + k, n)
}

fn status(fails: bool, message: &str) -> Option<Status> {
    Some(Status {
        code: if fails { 2 } else { 1 },
        message: if fails { message.into() } else { String::new() },
    })
}

fn text(s: &str) -> V {
    V::StringValue(s.into())
}

/// The spans of one order, by service.
fn order_spans(o: &Order) -> BTreeMap<&'static str, Vec<Span>> {
    let tid = trace_id(0xC1, o.n);
    let charge_ms = if o.incident {
        400 + u64::from(o.n % 50)
    } else {
        40 + u64::from(o.n % 5)
    };
    let t = o.start;
    // checkout: 5 ms, charge, reserve (5 + stock 20), chat 300, 5 ms.
    let charge_at = t + 10 * MS;
    let reserve_at = charge_at + charge_ms * MS;
    let chat_at = reserve_at + 25 * MS;
    let checkout_end = chat_at + 305 * MS;
    let span = |k: u8,
                parent: Option<u8>,
                name: &str,
                kind: i32,
                start: u64,
                end: u64,
                status: Option<Status>,
                attributes: Vec<KeyValue>| Span {
        trace_id: tid.clone(),
        span_id: sid(o.n, k),
        parent_span_id: parent.map(|p| sid(o.n, p)).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        status,
        attributes,
        ..Default::default()
    };
    let (tokens_in, tokens_out) = (800 + i64::from(o.n % 400), 200 + i64::from(o.n % 100));
    let mut by = BTreeMap::new();
    by.insert(
        "frontend",
        vec![span(
            0,
            None,
            "GET /checkout",
            2,
            t,
            checkout_end + 5 * MS,
            status(o.checkout_fails(), "HTTP 500"),
            vec![kv("http.route", text("/checkout"))],
        )],
    );
    by.insert(
        "checkout",
        vec![
            span(
                1,
                Some(0),
                "POST /orders",
                2,
                t + 5 * MS,
                checkout_end,
                status(o.checkout_fails(), "inventory unavailable"),
                vec![kv("order.id", V::IntValue(i64::from(o.n)))],
            ),
            span(
                4,
                Some(1),
                &format!("chat {}", o.model()),
                3,
                chat_at,
                chat_at + 300 * MS,
                status(false, ""),
                vec![
                    kv("gen_ai.operation.name", text("chat")),
                    kv("gen_ai.provider.name", text("openai")),
                    kv("gen_ai.request.model", text(o.model())),
                    kv("gen_ai.response.model", text(o.model())),
                    kv("gen_ai.usage.input_tokens", V::IntValue(tokens_in)),
                    kv("gen_ai.usage.output_tokens", V::IntValue(tokens_out)),
                    kv(
                        "gen_ai.input.messages",
                        text(&format!(
                            r#"[{{"role":"user","parts":[{{"type":"text","content":"Order {} asks about our refund policy for damaged items."}}]}}]"#,
                            o.n
                        )),
                    ),
                ],
            ),
        ],
    );
    by.insert(
        "payments",
        vec![span(
            2,
            Some(1),
            "charge",
            2,
            charge_at,
            charge_at + charge_ms * MS,
            status(false, ""),
            vec![kv("payment.method", text("card"))],
        )],
    );
    by.insert(
        "inventory",
        vec![
            span(
                3,
                Some(1),
                "reserve",
                2,
                reserve_at,
                reserve_at + 25 * MS,
                status(o.stock_fails(), "stock lookup failed"),
                vec![],
            ),
            span(
                5,
                Some(3),
                "SELECT stock",
                3,
                reserve_at + 2 * MS,
                reserve_at + 22 * MS,
                status(
                    o.stock_fails(),
                    "connection refused: stock-db:5432 (too many connections)",
                ),
                vec![
                    kv("db.system", text("postgresql")),
                    kv("server.address", text("stock-db")),
                    kv(
                        "db.statement",
                        text("SELECT qty FROM stock WHERE sku = $1 FOR UPDATE"),
                    ),
                ],
            ),
        ],
    );
    by
}

fn traces(orders: &[Order]) -> ExportTraceServiceRequest {
    let mut by: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for o in orders {
        for (service, spans) in order_spans(o) {
            by.entry(service).or_default().extend(spans);
        }
    }
    traces_by_service(by)
}

fn log(at: u64, severity: i32, body: String, trace: Option<(&[u8], Vec<u8>)>) -> LogRecord {
    let (trace_id, span_id) = trace.map(|(t, s)| (t.to_vec(), s)).unwrap_or_default();
    LogRecord {
        time_unix_nano: at,
        observed_time_unix_nano: at,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(V::StringValue(body)),
        }),
        trace_id,
        span_id,
        ..Default::default()
    }
}

fn logs(orders: &[Order]) -> ExportLogsServiceRequest {
    let mut by: BTreeMap<&str, Vec<LogRecord>> = BTreeMap::new();
    for o in orders {
        let tid = trace_id(0xC1, o.n);
        by.entry("checkout").or_default().push(log(
            o.start + 6 * MS,
            9,
            format!("order {} received", o.n),
            Some((&tid, sid(o.n, 1))),
        ));
        if o.stock_fails() {
            by.entry("inventory").or_default().push(log(
                o.start + 30 * MS,
                17,
                format!(
                    "reserve order {} failed: connection refused: stock-db:5432 (too many connections)",
                    o.n
                ),
                Some((&tid, sid(o.n, 5))),
            ));
        }
        // Health checks: noise without a trace.
        for k in 0..3 {
            by.entry("frontend").or_default().push(log(
                o.start + k * MS,
                9,
                format!("GET /healthz 200 in {} us", 100 + o.n % 37),
                None,
            ));
        }
    }
    ExportLogsServiceRequest {
        resource_logs: by
            .into_iter()
            .flat_map(|(service, records)| service_logs(service, records).resource_logs)
            .collect(),
    }
}

/// `http.server.request.duration` (cumulative) per service, one point a
/// minute over the last 15 minutes.
fn metrics(now: u64) -> ExportMetricsServiceRequest {
    let start = now - 20 * MIN;
    let resource_metrics = ["frontend", "checkout", "payments", "inventory"]
        .iter()
        .enumerate()
        .map(|(i, service)| {
            let data_points = (0..15u64)
                .map(|m| {
                    let count = (m + 1) * 60 * (i as u64 + 1);
                    pm::HistogramDataPoint {
                        start_time_unix_nano: start,
                        time_unix_nano: now - (14 - m) * MIN,
                        count,
                        sum: Some(count as f64 * 0.05),
                        bucket_counts: vec![count / 2, count / 2, 0],
                        explicit_bounds: vec![0.05, 0.5],
                        ..Default::default()
                    }
                })
                .collect();
            pm::ResourceMetrics {
                resource: resource(service),
                scope_metrics: vec![pm::ScopeMetrics {
                    scope: scope(),
                    metrics: vec![pm::Metric {
                        name: "http.server.request.duration".into(),
                        unit: "s".into(),
                        data: Some(pm::metric::Data::Histogram(pm::Histogram {
                            data_points,
                            aggregation_temporality: 2,
                        })),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

/// Sends the incident to the server's OTLP gRPC endpoint.
pub fn seed(grpc: &str) -> Incident {
    let now = now_ns();
    let baseline = (0..BASELINE_ORDERS).map(|n| Order {
        n,
        start: now - 100 * MIN + u64::from(n) * (80 * MIN / u64::from(BASELINE_ORDERS)),
        incident: false,
    });
    let incident = (BASELINE_ORDERS..BASELINE_ORDERS + INCIDENT_ORDERS).map(|n| Order {
        n,
        start: now - 10 * MIN
            + u64::from(n - BASELINE_ORDERS) * (9 * MIN / u64::from(INCIDENT_ORDERS)),
        incident: true,
    });
    let orders: Vec<Order> = baseline.chain(incident).collect();
    for chunk in orders.chunks(100) {
        assert_eq!(grpc_traces(grpc, traces(chunk), false).unwrap(), 0);
        assert_eq!(grpc_logs(grpc, logs(chunk)).unwrap(), 0);
    }
    assert_eq!(grpc_metrics(grpc, metrics(now)).unwrap(), 0);
    let failed = orders
        .iter()
        .rev()
        .find(|o| o.checkout_fails())
        .expect("an order fails");
    Incident {
        error_trace: hex::encode(trace_id(0xC1, failed.n)),
        slower_service: "payments",
        root_cause_operation: "SELECT stock",
        costliest_model: "gpt-4o",
        erroring_edge: ("checkout", "inventory"),
        failing_log: "connection refused: stock-db:5432",
    }
}

/// Sends one more failing order (`n` ≥ 10,000 keeps clear of the seeded
/// ones), stamped now: for the tests that follow live streams.
pub fn send_failing_order(grpc: &str, n: u32) {
    let o = [Order {
        n: 10_000 + n * 8,
        start: now_ns() - 800 * MS,
        incident: true,
    }];
    assert_eq!(grpc_traces(grpc, traces(&o), false).unwrap(), 0);
    assert_eq!(grpc_logs(grpc, logs(&o)).unwrap(), 0);
}
