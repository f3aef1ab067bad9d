//! Realistic OTLP traffic for the load generator: several services, nested
//! spans (server → client → server → db), ~3% errors with exception events,
//! optional LLM spans carrying 1–8 KiB prompts and completions, logs linked
//! to traces, and gauges, sums and histograms.

use super::encoded::EncodedTraces;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use std::collections::BTreeMap;

const SERVICES: &[&str] = &[
    "frontend",
    "checkout",
    "payments",
    "inventory",
    "users",
    "search",
    "shipping",
    "llm-gateway",
];
const ROUTES: &[&str] = &[
    "/api/cart",
    "/api/checkout",
    "/api/pay",
    "/api/items/{id}",
    "/api/users/{id}",
    "/api/search",
    "/api/ship",
];
const WORDS: &[&str] = &[
    "refund",
    "policy",
    "order",
    "customer",
    "shipping",
    "delay",
    "invoice",
    "account",
    "password",
    "reset",
    "summarize",
    "the",
    "a",
    "please",
    "explain",
    "why",
    "payment",
    "failed",
    "retry",
    "inventory",
    "latency",
    "error",
];

pub fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

pub fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.to_string())
}

pub fn i(v: i64) -> any_value::Value {
    any_value::Value::IntValue(v)
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.version", s("1.4.2")),
            kv("deployment.environment", s("bench")),
            kv("host.name", s("bench-host-1")),
        ],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "tael-bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

fn text(rng: &mut StdRng, bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 16);
    while out.len() < bytes {
        out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        out.push(' ');
    }
    out
}

/// Words of the distinct-payload text: 20,000 pronounceable words, made
/// once.
fn vocabulary() -> &'static [String] {
    static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        const ON: &[&str] = &[
            "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "st", "tr",
        ];
        const NUCLEUS: &[&str] = &["a", "e", "i", "o", "u", "ea", "ou"];
        (0..20_000u64)
            .map(|k| {
                let mut x = splitmix(k + 1);
                let syllables = 1 + (x % 3) as usize;
                let mut w = String::new();
                for _ in 0..syllables {
                    x = splitmix(x);
                    w.push_str(ON[(x % ON.len() as u64) as usize]);
                    w.push_str(NUCLEUS[((x >> 8) % NUCLEUS.len() as u64) as usize]);
                }
                w
            })
            .collect()
    })
}

/// Fills `buf` with prose-like ASCII text: words drawn with a Zipf-like
/// law from [`vocabulary`] (a few are very common, most rare, as in
/// natural language) and now and then a number (ids, amounts), padded
/// with spaces to the exact length.
pub fn fill_text(rng: &mut impl rand::Rng, buf: &mut [u8]) {
    let words = vocabulary();
    let ln_n = (words.len() as f64).ln();
    let mut pos = 0;
    // Tokens are copied as bytes: the load tool shares the server's cores,
    // so its inner loop allocates nothing.
    let mut digits = itoa::Buffer::new();
    while pos < buf.len() {
        let token: &[u8] = if rng.random_range(0..40) == 0 {
            digits.format(rng.random_range(0..10_000_000u32)).as_bytes()
        } else {
            let rank = (rng.random::<f64>() * ln_n).exp() as usize - 1;
            words[rank.min(words.len() - 1)].as_bytes()
        };
        for &b in token.iter().chain(std::iter::once(&b' ')) {
            if pos == buf.len() {
                break;
            }
            buf[pos] = b;
            pos += 1;
        }
    }
}

fn now_ns() -> u64 {
    tael_core::time::now_ns() as u64
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The id of the `k`-th trace of `worker` in a run with `seed`: the logs of
/// a later run with the same seed link to the traces of this one.
pub fn trace_id_for(seed: u64, worker: u64, k: u64) -> Vec<u8> {
    let a = splitmix(seed ^ (worker << 48) ^ k);
    let b = splitmix(a ^ 0x5bd1_e995);
    let mut id = [a.to_be_bytes(), b.to_be_bytes()].concat();
    id[0] |= 1;
    id
}

/// The root span id of that trace.
pub fn root_span_id_for(seed: u64, worker: u64, k: u64) -> Vec<u8> {
    let mut id = splitmix(seed ^ (worker << 48) ^ k ^ 0x7f4a_7c15)
        .to_be_bytes()
        .to_vec();
    id[0] |= 1;
    id
}

/// Generates traffic; `llm_ratio` is the share of traces with an LLM call.
pub struct Generator {
    rng: StdRng,
    pub llm_ratio: f64,
    seed: u64,
    worker: u64,
    next_trace: u64,
    /// Logs link to traces `0..link_traces` of workers `0..link_workers`.
    pub link_traces: u64,
    pub link_workers: u64,
}

impl Generator {
    pub fn new(seed: u64, worker: u64, llm_ratio: f64) -> Self {
        use rand::SeedableRng;
        Generator {
            rng: StdRng::seed_from_u64(splitmix(seed ^ (worker << 32))),
            llm_ratio,
            seed,
            worker,
            next_trace: 0,
            link_traces: 0,
            link_workers: 1,
        }
    }

    fn id<const N: usize>(&mut self) -> Vec<u8> {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b[0] |= 1;
        b.to_vec()
    }

    /// About `n` spans in whole traces, grouped by service.
    pub fn traces(&mut self, n: usize) -> ExportTraceServiceRequest {
        let mut by_service: BTreeMap<&'static str, Vec<Span>> = BTreeMap::new();
        let mut count = 0;
        while count < n {
            let trace_id = trace_id_for(self.seed, self.worker, self.next_trace);
            let root_id = root_span_id_for(self.seed, self.worker, self.next_trace);
            self.next_trace += 1;
            let start = now_ns() - self.rng.random_range(0..5_000_000_000u64);
            let width = self.rng.random_range(2..6usize);
            let root_service = SERVICES[self.rng.random_range(0..SERVICES.len() - 1)];
            let route = ROUTES[self.rng.random_range(0..ROUTES.len())];
            let total = self.rng.random_range(20_000_000..400_000_000u64);
            let root = self.span(
                &trace_id,
                &root_id,
                None,
                &format!("GET {route}"),
                2,
                start,
                total,
                route,
            );
            by_service.entry(root_service).or_default().push(root);
            count += 1;
            let mut t = start + 1_000_000;
            for _ in 0..width {
                if count >= n {
                    break;
                }
                let callee = SERVICES[self.rng.random_range(0..SERVICES.len() - 1)];
                let client_id = self.id::<8>();
                let dur = total / (width as u64 + 1);
                let client = self.span(
                    &trace_id,
                    &client_id,
                    Some(&root_id),
                    &format!("POST {callee}"),
                    3,
                    t,
                    dur,
                    route,
                );
                by_service.entry(root_service).or_default().push(client);
                let server_id = self.id::<8>();
                let server = self.span(
                    &trace_id,
                    &server_id,
                    Some(&client_id),
                    &format!("handle {callee}"),
                    2,
                    t + 200_000,
                    dur - 400_000,
                    route,
                );
                by_service.entry(callee).or_default().push(server);
                let db_id = self.id::<8>();
                let mut db = self.span(
                    &trace_id,
                    &db_id,
                    Some(&server_id),
                    "SELECT",
                    3,
                    t + 500_000,
                    dur / 3,
                    route,
                );
                db.attributes.push(kv("db.system", s("postgresql")));
                db.attributes
                    .push(kv("db.statement", s("SELECT * FROM items WHERE id = $1")));
                by_service.entry(callee).or_default().push(db);
                count += 3;
                t += dur;
            }
            if self.rng.random_bool(self.llm_ratio.clamp(0.0, 1.0)) {
                let llm_id = self.id::<8>();
                let mut llm = self.span(
                    &trace_id,
                    &llm_id,
                    Some(&root_id),
                    "chat gpt-4o-mini",
                    3,
                    t,
                    total / 2,
                    route,
                );
                let p = self.rng.random_range(1024..8192);
                let c = self.rng.random_range(1024..8192);
                let prompt = text(&mut self.rng, p);
                let completion = text(&mut self.rng, c);
                llm.attributes.extend([
                    kv("gen_ai.provider.name", s("openai")),
                    kv("gen_ai.operation.name", s("chat")),
                    kv("gen_ai.request.model", s("gpt-4o-mini")),
                    kv("gen_ai.response.model", s("gpt-4o-mini-2024-07-18")),
                    kv("gen_ai.usage.input_tokens", i(p as i64 / 4)),
                    kv("gen_ai.usage.output_tokens", i(c as i64 / 4)),
                    kv("gen_ai.prompt.0.role", s("user")),
                    kv("gen_ai.prompt.0.content", s(&prompt)),
                    kv("gen_ai.completion.0.role", s("assistant")),
                    kv("gen_ai.completion.0.content", s(&completion)),
                ]);
                by_service.entry("llm-gateway").or_default().push(llm);
                count += 1;
            }
        }
        ExportTraceServiceRequest {
            resource_spans: by_service
                .into_iter()
                .map(|(svc, spans)| ResourceSpans {
                    resource: Some(resource(svc)),
                    scope_spans: vec![ScopeSpans {
                        scope: Some(scope()),
                        spans,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        trace_id: &[u8],
        span_id: &[u8],
        parent: Option<&[u8]>,
        name: &str,
        kind: i32,
        start: u64,
        dur: u64,
        route: &str,
    ) -> Span {
        let error = self.rng.random_bool(0.03);
        let code = if error { 500 } else { 200 };
        let mut events = Vec::new();
        if error {
            events.push(span::Event {
                time_unix_nano: start + dur / 2,
                name: "exception".into(),
                attributes: vec![
                    kv("exception.type", s("TimeoutError")),
                    kv("exception.message", s("upstream timed out")),
                ],
                dropped_attributes_count: 0,
            });
        }
        Span {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: name.to_string(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: start + dur,
            attributes: vec![
                kv("http.request.method", s("GET")),
                kv("http.route", s(route)),
                kv("http.response.status_code", i(code)),
                kv(
                    "user.tier",
                    s(if self.rng.random_bool(0.2) {
                        "premium"
                    } else {
                        "free"
                    }),
                ),
            ],
            events,
            status: Some(Status {
                code: if error { 2 } else { 0 },
                message: if error {
                    "upstream timed out".into()
                } else {
                    String::new()
                },
            }),
            ..Default::default()
        }
    }

    /// `n` log records, most linked to a trace.
    pub fn logs(&mut self, n: usize) -> ExportLogsServiceRequest {
        let mut by_service: BTreeMap<&'static str, Vec<LogRecord>> = BTreeMap::new();
        let now = now_ns();
        for _ in 0..n {
            let svc = SERVICES[self.rng.random_range(0..SERVICES.len())];
            let sev = match self.rng.random_range(0..100) {
                0..=2 => 17,
                3..=9 => 13,
                10..=29 => 5,
                _ => 9,
            };
            let len = self.rng.random_range(40..200);
            let body = text(&mut self.rng, len);
            let linked = self.rng.random_bool(0.8);
            let (trace_id, span_id) = match (linked, self.link_traces) {
                (false, _) => (Vec::new(), Vec::new()),
                (true, 0) => (self.id::<16>(), self.id::<8>()),
                (true, n) => {
                    let k = self.rng.random_range(0..n);
                    let w = self.rng.random_range(0..self.link_workers.max(1));
                    (
                        trace_id_for(self.seed, w, k),
                        root_span_id_for(self.seed, w, k),
                    )
                }
            };
            by_service.entry(svc).or_default().push(LogRecord {
                time_unix_nano: now - self.rng.random_range(0..5_000_000_000u64),
                observed_time_unix_nano: now,
                severity_number: sev,
                body: Some(AnyValue {
                    value: Some(s(&body)),
                }),
                attributes: vec![
                    kv("code.function", s("handle_request")),
                    kv("thread.id", i(self.rng.random_range(1..64))),
                ],
                trace_id,
                span_id,
                ..Default::default()
            });
        }
        ExportLogsServiceRequest {
            resource_logs: by_service
                .into_iter()
                .map(|(svc, log_records)| ResourceLogs {
                    resource: Some(resource(svc)),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(scope()),
                        log_records,
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    /// About `n` data points: gauges, monotonic sums and histograms.
    pub fn metrics(&mut self, n: usize) -> ExportMetricsServiceRequest {
        let now = now_ns();
        let mut metrics = Vec::new();
        let mut count = 0;
        let mut series = 0u64;
        while count < n {
            let attrs = vec![
                kv(
                    "http.route",
                    s(ROUTES[(series % ROUTES.len() as u64) as usize]),
                ),
                kv("series", i(series as i64)),
            ];
            series += 1;
            let t = now - self.rng.random_range(0..1_000_000_000u64);
            let number = |v: pm::number_data_point::Value| pm::NumberDataPoint {
                attributes: attrs.clone(),
                start_time_unix_nano: now - 60_000_000_000,
                time_unix_nano: t,
                value: Some(v),
                ..Default::default()
            };
            metrics.push(pm::Metric {
                name: "process.cpu.utilization".into(),
                unit: "1".into(),
                data: Some(pm::metric::Data::Gauge(pm::Gauge {
                    data_points: vec![number(pm::number_data_point::Value::AsDouble(
                        self.rng.random::<f64>(),
                    ))],
                })),
                ..Default::default()
            });
            metrics.push(pm::Metric {
                name: "http.server.request.count".into(),
                unit: "{request}".into(),
                data: Some(pm::metric::Data::Sum(pm::Sum {
                    data_points: vec![number(pm::number_data_point::Value::AsInt(
                        self.rng.random_range(0..1_000_000),
                    ))],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                })),
                ..Default::default()
            });
            let counts: Vec<u64> = (0..6).map(|_| self.rng.random_range(0..100)).collect();
            metrics.push(pm::Metric {
                name: "http.server.request.duration".into(),
                unit: "s".into(),
                data: Some(pm::metric::Data::Histogram(pm::Histogram {
                    data_points: vec![pm::HistogramDataPoint {
                        attributes: attrs.clone(),
                        start_time_unix_nano: now - 60_000_000_000,
                        time_unix_nano: t,
                        count: counts.iter().sum(),
                        sum: Some(self.rng.random_range(0.0..50.0)),
                        bucket_counts: counts,
                        explicit_bounds: vec![0.005, 0.01, 0.05, 0.1, 0.5],
                        min: Some(0.001),
                        max: Some(0.9),
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                })),
                ..Default::default()
            });
            count += 3;
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![pm::ResourceMetrics {
                resource: Some(resource("frontend")),
                scope_metrics: vec![pm::ScopeMetrics {
                    scope: Some(scope()),
                    metrics,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

/// Number of items (spans, log records, data points) in a request.
pub fn count_spans(r: &ExportTraceServiceRequest) -> usize {
    r.resource_spans
        .iter()
        .flat_map(|x| &x.scope_spans)
        .map(|x| x.spans.len())
        .sum()
}

impl Generator {
    fn next_trace_id(&mut self) -> Vec<u8> {
        let id = trace_id_for(self.seed, self.worker, self.next_trace);
        self.next_trace += 1;
        id
    }

    /// Makes a generated request new again (cheaply, for reuse, patching
    /// its encoding in place): fresh trace ids, span ids XOR-ed with a
    /// random mask (parents too, so the tree is kept), timestamps moved
    /// forward by `shift_ns`, and with `new_payloads` new text in every
    /// LLM prompt and completion.
    pub fn refresh_traces(&mut self, r: &mut EncodedTraces, shift_ns: u64, new_payloads: bool) {
        let mut mask = [0u8; 8];
        self.rng.fill_bytes(&mut mask);
        mask[0] &= 0x7f;
        let mut new_ids: std::collections::HashMap<[u8; 16], [u8; 16]> =
            std::collections::HashMap::new();
        for i in 0..r.spans.len() {
            if let Some(old) = r.trace_id(i) {
                let id = *new_ids.entry(old).or_insert_with(|| {
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&self.next_trace_id());
                    id
                });
                r.set_trace_id(i, &id);
            }
            r.mask_span_ids(i, &mask);
            r.shift_times(i, shift_ns);
            if new_payloads {
                let rng = &mut self.rng;
                r.rewrite_payloads(i, &mut |buf| fill_text(rng, buf));
            }
        }
    }

    /// Makes a generated logs request new again: new trace links and times.
    pub fn refresh_logs(&mut self, r: &mut ExportLogsServiceRequest, shift_ns: u64) {
        for rl in &mut r.resource_logs {
            for sl in &mut rl.scope_logs {
                for l in &mut sl.log_records {
                    l.time_unix_nano += shift_ns;
                    l.observed_time_unix_nano += shift_ns;
                    if !l.trace_id.is_empty() {
                        let (t, s) = if self.link_traces > 0 {
                            let k = self.rng.random_range(0..self.link_traces);
                            let w = self.rng.random_range(0..self.link_workers.max(1));
                            (
                                trace_id_for(self.seed, w, k),
                                root_span_id_for(self.seed, w, k),
                            )
                        } else {
                            (self.id::<16>(), self.id::<8>())
                        };
                        l.trace_id = t;
                        l.span_id = s;
                    }
                }
            }
        }
    }

    /// Makes a generated metrics request new again: times moved forward.
    pub fn refresh_metrics(r: &mut ExportMetricsServiceRequest, shift_ns: u64) {
        use pm::metric::Data;
        for rm in &mut r.resource_metrics {
            for sm in &mut rm.scope_metrics {
                for m in &mut sm.metrics {
                    match &mut m.data {
                        Some(Data::Gauge(g)) => g
                            .data_points
                            .iter_mut()
                            .for_each(|p| p.time_unix_nano += shift_ns),
                        Some(Data::Sum(s)) => s
                            .data_points
                            .iter_mut()
                            .for_each(|p| p.time_unix_nano += shift_ns),
                        Some(Data::Histogram(h)) => h
                            .data_points
                            .iter_mut()
                            .for_each(|p| p.time_unix_nano += shift_ns),
                        _ => {}
                    }
                }
            }
        }
    }
}
