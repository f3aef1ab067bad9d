//! The behaviour every [`Store`] and [`Ingest`] must have, with known
//! answers: [`store_test_suite`] writes a small fixture (three services'
//! traces, one of them an LLM call with a payload, logs, metric points, a
//! comment) through the `Ingest` and checks what each `Store` method and
//! each report built above it answers. It runs against the local store
//! now, and against any other implementation (a remote client, a fan-out
//! over shards) the same way. The store must start empty.

#![allow(clippy::unwrap_used)] // test support: a failed unwrap is a failed test

use crate::anomalies::AnomalyRequest;
use crate::correlate::CorrelateRequest;
use crate::llm_usage::{LlmGrouping, UsageRequest};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::params::{DurationParam, Since};
use crate::spanstats::StatsQuery;
use crate::sql::SqlQuery;
use crate::store::{Ingest, SeriesQuery, SeriesSelector, Store};
use crate::summary::SummaryRequest;
use crate::topology::TopologyRequest;
use crate::traces::{TraceLookup, TraceQuery};
use crate::window::TimeWindow;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use std::time::Duration;
use tael_core::model::TraceComment;
use tael_core::{ErrorCode, Signal};

/// Trace ids of the fixture.
pub const CHECKOUT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
pub const HOME_TRACE: &str = "1bf7651916cd43dd8448eb211c80319d";
pub const LLM_TRACE: &str = "2cf7651916cd43dd8448eb211c80319e";

const MS: u64 = 1_000_000;

fn text(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn int(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![text("service.name", service)],
        ..Default::default()
    })
}

struct SpanSpec<'a> {
    trace: &'a str,
    id: &'a str,
    parent: &'a str,
    name: &'a str,
    start_ns: u64,
    dur_ms: u64,
    error: bool,
    attributes: Vec<KeyValue>,
}

fn span(s: SpanSpec<'_>) -> Span {
    Span {
        trace_id: hex::decode(s.trace).unwrap_or_default(),
        span_id: hex::decode(s.id).unwrap_or_default(),
        parent_span_id: hex::decode(s.parent).unwrap_or_default(),
        name: s.name.into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.start_ns + s.dur_ms * MS,
        attributes: s.attributes,
        status: Some(Status {
            code: if s.error { 2 } else { 1 },
            message: if s.error {
                "card declined".into()
            } else {
                String::new()
            },
        }),
        ..Default::default()
    }
}

fn traces(by_service: Vec<(&str, Vec<Span>)>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: resource(service),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

/// The prompt of the fixture's LLM call (over the blob threshold).
pub fn llm_prompt() -> String {
    "Explain the refund policy for damaged parcels. ".repeat(40)
}

fn fixture_traces(now: u64) -> Vec<u8> {
    let t0 = now - 10 * 60_000 * MS;
    let t1 = now - 5 * 60_000 * MS;
    let t2 = now - 2 * 60_000 * MS;
    let checkout = CHECKOUT_TRACE;
    traces(vec![
        (
            "frontend",
            vec![
                span(SpanSpec {
                    trace: checkout,
                    id: "a000000000000001",
                    parent: "",
                    name: "GET /checkout",
                    start_ns: t0,
                    dur_ms: 100,
                    error: false,
                    attributes: vec![text("http.route", "/checkout")],
                }),
                span(SpanSpec {
                    trace: HOME_TRACE,
                    id: "b000000000000001",
                    parent: "",
                    name: "GET /home",
                    start_ns: t1,
                    dur_ms: 10,
                    error: false,
                    attributes: vec![text("http.route", "/home")],
                }),
            ],
        ),
        (
            "checkout",
            vec![span(SpanSpec {
                trace: checkout,
                id: "a000000000000002",
                parent: "a000000000000001",
                name: "POST /pay",
                start_ns: t0 + 10 * MS,
                dur_ms: 40,
                error: true,
                attributes: vec![text("http.route", "/pay")],
            })],
        ),
        (
            "payments",
            vec![span(SpanSpec {
                trace: checkout,
                id: "a000000000000003",
                parent: "a000000000000002",
                name: "charge",
                start_ns: t0 + 20 * MS,
                dur_ms: 20,
                error: false,
                attributes: Vec::new(),
            })],
        ),
        (
            "llm-app",
            vec![span(SpanSpec {
                trace: LLM_TRACE,
                id: "c000000000000001",
                parent: "",
                name: "chat gpt-4o-mini",
                start_ns: t2,
                dur_ms: 500,
                error: false,
                attributes: vec![
                    text("gen_ai.operation.name", "chat"),
                    text("gen_ai.provider.name", "openai"),
                    text("gen_ai.request.model", "gpt-4o-mini"),
                    int("gen_ai.usage.input_tokens", 1200),
                    int("gen_ai.usage.output_tokens", 300),
                    text("gen_ai.prompt.0.content", &llm_prompt()),
                ],
            })],
        ),
    ])
}

fn log(time_ns: u64, severity: i32, body: &str, trace: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: time_ns,
        observed_time_unix_nano: time_ns,
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(body.into())),
        }),
        trace_id: hex::decode(trace).unwrap_or_default(),
        ..Default::default()
    }
}

fn fixture_logs(now: u64) -> Vec<u8> {
    let at = |min: u64| now - min * 60_000 * MS;
    let records = |service: &str, logs: Vec<LogRecord>| ResourceLogs {
        resource: resource(service),
        scope_logs: vec![ScopeLogs {
            log_records: logs,
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![
            records(
                "checkout",
                vec![log(
                    at(10) + 15 * MS,
                    17,
                    "payment declined: card expired",
                    CHECKOUT_TRACE,
                )],
            ),
            records(
                "frontend",
                vec![log(at(5), 9, "request served", HOME_TRACE)],
            ),
            records("payments", vec![log(at(3), 13, "slow disk", "")]),
        ],
    }
    .encode_to_vec()
}

fn gauge_point(time_ns: u64, v: f64) -> pm::NumberDataPoint {
    pm::NumberDataPoint {
        time_unix_nano: time_ns,
        value: Some(pm::number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn fixture_metrics(now: u64) -> Vec<u8> {
    let at = |min: u64| now - min * 60_000 * MS;
    let metric = |name: &str, data: pm::metric::Data| pm::Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    };
    let resource_metrics = |service: &str, metrics: Vec<pm::Metric>| pm::ResourceMetrics {
        resource: resource(service),
        scope_metrics: vec![pm::ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![
            resource_metrics(
                "payments",
                vec![metric(
                    "queue.depth",
                    pm::metric::Data::Gauge(pm::Gauge {
                        data_points: vec![gauge_point(at(1), 7.0)],
                    }),
                )],
            ),
            resource_metrics(
                "checkout",
                vec![metric(
                    "pool.in_use",
                    pm::metric::Data::Gauge(pm::Gauge {
                        data_points: vec![gauge_point(at(10), 3.0)],
                    }),
                )],
            ),
            resource_metrics(
                "frontend",
                vec![metric(
                    "http.requests",
                    pm::metric::Data::Sum(pm::Sum {
                        data_points: vec![gauge_point(at(2), 10.0), gauge_point(at(1), 16.0)],
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    }),
                )],
            ),
        ],
    }
    .encode_to_vec()
}

/// Waits until `f` holds (the text index takes new rows in the
/// background), or fails after a few seconds.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never held");
}

fn last_hour() -> Option<DurationParam> {
    DurationParam::parse("1h").ok()
}

/// Writes the fixture through `ingest` and checks every answer of
/// `store` (see the module docs).
pub async fn store_test_suite(store: &dyn Store, ingest: &dyn Ingest) {
    load_fixture(ingest).await;
    check_fixture(store).await;
}

/// Writes the fixture (checking what each write answers).
pub async fn load_fixture(ingest: &dyn Ingest) {
    let now = tael_core::time::now_ns() as u64;
    // Ingest: stored, re-deliveries dropped, garbage refused.
    let out = ingest
        .export(Signal::Spans, fixture_traces(now).into())
        .await
        .unwrap();
    assert_eq!((out.stored, out.duplicates, out.rejected), (5, 0, 0));
    let again = ingest
        .export(Signal::Spans, fixture_traces(now).into())
        .await
        .unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 5));
    let bad = ingest
        .export(Signal::Spans, vec![0xff, 0xff, 0xff].into())
        .await
        .unwrap_err();
    assert_eq!(bad.code(), ErrorCode::InvalidArgument);
    let logs = ingest
        .export(Signal::Logs, fixture_logs(now).into())
        .await
        .unwrap();
    assert_eq!(logs.stored, 3);
    let metrics = ingest
        .export(Signal::Metrics, fixture_metrics(now).into())
        .await
        .unwrap();
    assert_eq!(metrics.stored, 4);
    let comment = fixture_comment(now);
    assert_eq!(ingest.add_comment(comment.clone()).await.unwrap(), comment);
}

/// Checks every answer of a store that holds the fixture (written within
/// the last few minutes).
pub async fn check_fixture(store: &dyn Store) {
    check_rows(store).await;
    check_comments(store).await;
    check_partials(store).await;
    check_reports(store).await;
    check_promql_and_sql(store).await;
}

fn fixture_comment(now: u64) -> TraceComment {
    TraceComment {
        id: "3f1b1c52-54f5-4a3e-8a57-8d2f1c5b7e01".into(),
        trace_id: CHECKOUT_TRACE.into(),
        span_id: Some("a000000000000002".into()),
        author: "agent".into(),
        body: "root cause: card processor".into(),
        created_at: tael_core::time::format_rfc3339(now as i64),
    }
}

async fn check_rows(store: &dyn Store) {
    let all = store
        .search_spans(TraceQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    let starts: Vec<i64> = all.iter().map(|h| h.item.start_ns).collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert_eq!(all[0].item.operation, "chat gpt-4o-mini");
    let search = |q: TraceQuery| async move {
        store
            .search_spans(TraceQuery { limit: 100, ..q })
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.item.operation)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        search(TraceQuery {
            service: Some("checkout".into()),
            ..Default::default()
        })
        .await,
        vec!["POST /pay"]
    );
    assert_eq!(
        search(TraceQuery {
            status: Some("error".into()),
            ..Default::default()
        })
        .await,
        vec!["POST /pay"]
    );
    assert_eq!(
        search(TraceQuery {
            min_duration_ms: Some(30.0),
            max_duration_ms: Some(200.0),
            ..Default::default()
        })
        .await,
        vec!["POST /pay", "GET /checkout"]
    );
    assert_eq!(
        search(TraceQuery {
            attributes: vec![("http.route".into(), "/home".into())],
            ..Default::default()
        })
        .await,
        vec!["GET /home"]
    );
    let one = store
        .search_spans(TraceQuery {
            limit: 2,
            since: Some(Since::Last(DurationParam::parse("6m").unwrap())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.len(), 2, "the two spans of the last six minutes");

    let trace = store
        .get_trace(TraceLookup::new(CHECKOUT_TRACE, false).unwrap())
        .await
        .unwrap();
    let ops: Vec<&str> = trace.iter().map(|s| s.operation.as_str()).collect();
    assert_eq!(ops, vec!["GET /checkout", "POST /pay", "charge"]);
    assert_eq!(trace[1].parent_span_id.as_deref(), Some("a000000000000001"));
    let unknown = TraceLookup::new(&"0".repeat(32), false).unwrap();
    assert!(store.get_trace(unknown).await.unwrap().is_empty());

    // The LLM call's prompt went to the blob store and comes back.
    let llm = store
        .get_trace(TraceLookup::new(LLM_TRACE, false).unwrap())
        .await
        .unwrap();
    let call = llm[0].llm.as_ref().expect("an LLM call");
    assert_eq!(
        (call.model.as_str(), call.input_tokens),
        ("gpt-4o-mini", Some(1200))
    );
    let payload = &call.payloads[0];
    let hash = tael_storage::blobs::parse_hash(&payload.sha256).unwrap();
    let blob = store.blob(hash).await.unwrap().expect("the prompt blob");
    assert_eq!(blob, llm_prompt().into_bytes());
    assert_eq!(store.blob([7; 32]).await.unwrap(), None);
    let inlined = store
        .get_trace(TraceLookup::new(LLM_TRACE, true).unwrap())
        .await
        .unwrap();
    assert_eq!(
        inlined[0].attributes["gen_ai.prompt.0.content"],
        serde_json::Value::String(llm_prompt())
    );

    let logs = |q: LogQuery| async move {
        store
            .search_logs(LogQuery { limit: 100, ..q })
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.item.body_text())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        logs(LogQuery::default()).await,
        vec![
            "slow disk",
            "request served",
            "payment declined: card expired"
        ]
    );
    assert_eq!(
        logs(LogQuery {
            trace_id: Some(CHECKOUT_TRACE.into()),
            ..Default::default()
        })
        .await,
        vec!["payment declined: card expired"]
    );
    assert_eq!(
        logs(LogQuery {
            severity: Some("warn".into()),
            ..Default::default()
        })
        .await,
        vec!["slow disk"]
    );
    assert_eq!(
        logs(LogQuery {
            body_contains: Some("served".into()),
            ..Default::default()
        })
        .await,
        vec!["request served"]
    );
    // Full text: the hit carries its match.
    eventually("a text search finds the declined payment", || async {
        let hits = store
            .search_logs(LogQuery {
                text: Some("declined".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        hits.len() == 1
            && hits[0]
                .text_match
                .as_ref()
                .is_some_and(|m| m.field == "body" && m.snippet.snippet.contains("**declined**"))
    })
    .await;
    eventually("a text search finds the prompt", || async {
        let hits = store
            .search_spans(TraceQuery {
                text: Some("\"refund policy\"".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        hits.len() == 1 && hits[0].text_match.is_some()
    })
    .await;

    let points = store
        .search_metrics(MetricQuery {
            name: Some("queue.depth".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!(
        (points[0].service.as_str(), points[0].value),
        ("payments", 7.0)
    );
    let of_services = store
        .search_metrics(MetricQuery {
            services: vec!["frontend".into()],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(of_services.len(), 2);
}

async fn check_comments(store: &dyn Store) {
    let of_trace = store.trace_comments(CHECKOUT_TRACE.into()).await.unwrap();
    assert_eq!(of_trace.len(), 1);
    assert_eq!(of_trace[0].body, "root cause: card processor");
    assert_eq!(of_trace[0].span_id.as_deref(), Some("a000000000000002"));
    assert!(store
        .trace_comments(HOME_TRACE.into())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.recent_comments(10).await.unwrap(), of_trace);
}

async fn check_partials(store: &dyn Store) {
    let services = crate::services::services(store).await.unwrap();
    let names: Vec<(&str, i64, i64)> = services
        .iter()
        .map(|s| (s.name.as_str(), s.span_count, s.trace_count))
        .collect();
    assert_eq!(
        names,
        vec![
            ("frontend", 2, 2),
            ("checkout", 1, 1),
            ("llm-app", 1, 1),
            ("payments", 1, 1)
        ]
    );
    assert_eq!(services[1].error_rate, 1.0);

    let window = TimeWindow::ending_at(tael_core::time::now_ns(), 3_600_000_000_000);
    let stats = store
        .span_stats(
            window,
            StatsQuery {
                service: None,
                count_traces: true,
            },
        )
        .await
        .unwrap();
    let total = stats.total();
    assert_eq!((total.count, total.errors), (5, 1));
    assert_eq!(stats.trace_count(), Some(3));
    assert_eq!(total.max_ms(), 500.0);
    let pay = stats
        .operations()
        .find(|o| o.operation == "POST /pay")
        .expect("POST /pay");
    assert_eq!((pay.service, pay.stats.count), ("checkout", 1));
    assert_eq!(pay.stats.quantile_ms(0.5), 40.0);

    let logs = store.log_stats(window, None).await.unwrap();
    assert_eq!((logs.total, logs.error, logs.warn, logs.info), (3, 1, 1, 1));
    let of_checkout = store
        .log_stats(window, Some("checkout".into()))
        .await
        .unwrap();
    assert_eq!(of_checkout.total, 1);
    let metrics = store.metric_stats(window, None).await.unwrap();
    assert_eq!(metrics.point_count, 4);
    assert_eq!(
        metrics.names.iter().map(String::as_str).collect::<Vec<_>>(),
        vec!["http.requests", "pool.in_use", "queue.depth"]
    );

    let graph = store.service_graph(window).await.unwrap();
    let edges: Vec<(&str, &str, u64)> = graph
        .edges
        .iter()
        .map(|((f, t), g)| (f.as_str(), t.as_str(), g.count))
        .collect();
    assert_eq!(
        edges,
        vec![("checkout", "payments", 1), ("frontend", "checkout", 1)]
    );
    assert_eq!(graph.unresolved_parents, 0);
    assert_eq!(graph.nodes["frontend"].1, 2, "two root spans");

    let catalog = store.metric_catalog().await.unwrap();
    assert!(catalog.iter().any(|m| m.name == "queue.depth"));
    let none_before = TimeWindow::ending_at(window.from_ns, 3_600_000_000_000);
    let empty = store
        .span_stats(none_before, StatsQuery::default())
        .await
        .unwrap();
    assert_eq!(empty.total().count, 0);
}

async fn check_reports(store: &dyn Store) {
    let summary = crate::summary::summarize(
        store,
        &SummaryRequest {
            last: last_hour(),
            service: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (
            summary.traces.span_count,
            summary.traces.trace_count,
            summary.traces.error_count
        ),
        (5, 3, 1)
    );
    assert_eq!((summary.logs.total, summary.logs.error), (3, 1));
    assert_eq!(
        (summary.metrics.point_count, summary.metrics.unique_names),
        (4, 3)
    );
    assert_eq!(summary.top_error_operations[0].operation, "POST /pay");

    let topology = crate::topology::topology(store, &TopologyRequest { last: last_hour() })
        .await
        .unwrap();
    assert_eq!(topology.edges.len(), 2);
    assert_eq!(topology.nodes.len(), 4);

    // Everything is new against the empty hour before.
    let diff = crate::diff::diff(
        store,
        &crate::diff::DiffRequest {
            last: last_hour(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!diff.rows.is_empty());
    assert!(
        diff.rows.iter().all(|r| r.status == "new"),
        "{:?}",
        diff.rows
    );
    let anomalies = crate::anomalies::find_anomalies(
        store,
        &AnomalyRequest {
            last: last_hour(),
            ..Default::default()
        }
        .resolve(tael_core::time::now_ns()),
    )
    .await
    .unwrap();
    assert!(anomalies.anomalies.is_empty(), "too few spans to judge");

    let usage = crate::llm_usage::usage(
        store,
        &UsageRequest {
            last: last_hour(),
            by: LlmGrouping::parse("model").unwrap(),
            limit: 10,
        },
    )
    .await
    .unwrap();
    assert_eq!(usage.groups.len(), 1);
    let g = &usage.groups[0];
    assert_eq!(
        (g.key.as_str(), g.calls, g.input_tokens, g.output_tokens),
        ("gpt-4o-mini", 1, 1200, 300)
    );
    assert!(g.cost_usd > 0.0, "priced from the built-in table");

    let correlated = crate::correlate::correlate(
        store,
        &CorrelateRequest {
            trace_id: CHECKOUT_TRACE.into(),
        },
    )
    .await
    .unwrap()
    .expect("the checkout trace");
    assert_eq!(correlated.span_count, 3);
    assert_eq!(
        correlated.services,
        vec!["checkout", "frontend", "payments"]
    );
    assert_eq!(correlated.logs.len(), 1);
    let near: Vec<&str> = correlated.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        near,
        vec!["pool.in_use"],
        "the points of its services around it"
    );
    assert_eq!(correlated.comments.len(), 1);
    let unknown = CorrelateRequest {
        trace_id: "0".repeat(32),
    };
    assert!(crate::correlate::correlate(store, &unknown)
        .await
        .unwrap()
        .is_none());
}

async fn check_promql_and_sql(store: &dyn Store) {
    let now_ms = tael_core::time::now_ns() / 1_000_000;
    let timeout = Duration::from_secs(30);
    let r = crate::promql::instant_query(store, "sum(queue_depth)", now_ms, timeout)
        .await
        .unwrap();
    match r {
        crate::promql::value::QueryResult::Vector { samples, .. } => {
            assert_eq!(samples.len(), 1);
            assert_eq!(samples[0].value, 7.0);
        }
        other => panic!("expected a vector, got {other:?}"),
    }
    let matchers = crate::promql::parse("http_requests_total{job=\"frontend\"}").unwrap();
    let promql_parser::parser::Expr::VectorSelector(vs) = matchers else {
        panic!("a selector");
    };
    let mut m = vs.matchers.matchers.clone();
    m.push(promql_parser::label::Matcher::new(
        promql_parser::label::MatchOp::Equal,
        "__name__",
        "http_requests_total",
    ));
    let loaded = store
        .series(SeriesQuery {
            selectors: vec![SeriesSelector {
                matchers: m,
                from_ms: now_ms - 3_600_000,
                to_ms: now_ms,
            }],
            max_samples: 1000,
            timeout,
        })
        .await
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].series.len(), 1);
    let values: Vec<f64> = loaded[0].series[0].points.iter().map(|p| p.1).collect();
    assert_eq!(values, vec![10.0, 16.0]);

    let sql = store
        .sql(SqlQuery {
            q: "SELECT service, count(*) AS n FROM spans GROUP BY service ORDER BY service".into(),
            max_rows: None,
        })
        .await
        .unwrap();
    let rows: Vec<(String, i64)> = sql
        .rows
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default().to_string(),
                r["n"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("checkout".to_string(), 1),
            ("frontend".to_string(), 2),
            ("llm-app".to_string(), 1),
            ("payments".to_string(), 1)
        ]
    );
    let capped = store
        .sql(SqlQuery {
            q: "SELECT * FROM spans".into(),
            max_rows: Some(2),
        })
        .await
        .unwrap();
    assert_eq!((capped.rows.len(), capped.truncated), (2, true));
    let refused = store
        .sql(SqlQuery {
            q: "DROP TABLE spans".into(),
            max_rows: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::InvalidArgument);
    let tables: Vec<String> = store
        .sql_schema()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    for t in ["spans", "logs", "metrics", "comments"] {
        assert!(tables.iter().any(|n| n == t), "{t} in {tables:?}");
    }
    let stats = store.stats().await.unwrap();
    // The fixture's rows: in the memtable, or flushed into parts (a part
    // per signal at least).
    // A node's own engine, or a query node's shards (each answered).
    let storages: Vec<_> = stats
        .storage
        .into_iter()
        .chain(
            stats
                .shards
                .into_iter()
                .map(|s| s.storage.expect("every shard answered")),
        )
        .collect();
    assert!(!storages.is_empty(), "storage counters");
    let rows: u64 = storages.iter().map(|s| s.memtable_rows as u64).sum();
    let parts: u64 = storages.iter().map(|s| s.parts as u64).sum();
    assert!(rows == 12 || parts >= 3, "{storages:?}");
}
