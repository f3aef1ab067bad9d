//! `tael`: the server (`tael serve`) and a thin client of its REST API.
//! Every command prints JSON by default (`--format table` for people).
//! Exit codes: 0 ok, 1 other failure, 2 usage error (or a 400/422 from the
//! server), 3 not found, 4 server unreachable, 5 server error, 6 a `watch` or
//! `tail` timed out before its `--exit-on` condition held.

/// mimalloc: less time in malloc/free on the ingest path than glibc's
/// allocator, and far less fragmentation growth (RSS) under many threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's option setter (linked in by the `mimalloc` crate).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (v2 and v3).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keeps freed memory for a quarter of a second before returning it to
/// the OS (mimalloc defaults to 10 ms). Each flush frees the memtable it
/// wrote while ingest allocates the next one: memory returned at once is
/// faulted in and zeroed again by the kernel (13% of the server's CPU
/// during log ingest at 10 ms). Much longer delays keep freed memtables
/// resident, which the memory budget (`TAEL_MEMORY_LIMIT`) counts as the
/// process's memory: at 10 s, 1M logs peaked ~80 MiB higher for no gain in
/// throughput (BENCHMARKS.md, "Memory under ingest"). An idle server gives
/// its memory back. `MIMALLOC_PURGE_DELAY` in the environment wins.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option store in mimalloc, valid at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 250) };
    }
}

mod analytics;
mod bench;
mod client;
mod condition;
mod filters;
mod live;
mod llm;
mod output;
mod serve;
mod skill;
mod tail;
mod watch;

use clap::{Args, Parser, Subcommand, ValueEnum};
use client::{exit, CliError, Client};
use serde_json::{json, Value};

use tael_core::duration::parse_duration_ns;
use tael_query::api::{
    MetricsQueryRequest, NewComment, RecentCommentsRequest, ServicesRequest, TraceCommentsRequest,
};
use tael_query::logs::LogQuery;
use tael_query::metrics::MetricQuery;
use tael_query::params::{DurationParam, Params, Since};
use tael_query::traces::{TraceLookup, TraceQuery};

#[derive(Parser, Debug)]
#[command(
    name = "tael",
    version,
    about = "Observability for AI agents: OTLP in, answers out (JSON by default)"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
pub(crate) struct Global {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value = "json")]
    format: Format,
    /// Server URL (default http://127.0.0.1:7701).
    #[arg(long, global = true, env = "TAEL_SERVER", conflicts_with = "port_rest")]
    server: Option<String>,
    /// Shorthand for --server http://127.0.0.1:N (with `serve`: the REST port).
    #[arg(long, global = true)]
    pub port_rest: Option<u16>,
    /// With `serve`: shorthand for --otlp-grpc-addr 127.0.0.1:N.
    #[arg(long, global = true)]
    pub port_otel: Option<u16>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Table,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (embedded storage, no other setup).
    Serve(serve::ServeArgs),
    /// Query traces, logs or metrics.
    Query {
        #[command(subcommand)]
        what: QueryCmd,
    },
    /// Fetch one thing whole.
    Get {
        #[command(subcommand)]
        what: GetCmd,
    },
    /// List services with span count, trace count, average duration and error rate.
    Services,
    /// Comment on traces.
    Comment {
        #[command(subcommand)]
        what: CommentCmd,
    },
    #[command(flatten)]
    Analytics(analytics::AnalyticsCmd),
    /// Print a summary every tick with the change since the last one; stop
    /// when an --exit-on condition holds.
    Watch(watch::WatchArgs),
    /// Follow spans or log records as they are stored (one JSON line
    /// each); stop when an --exit-on condition holds.
    Tail {
        #[command(subcommand)]
        what: tail::TailCmd,
    },
    /// A terminal UI: the live traces feed, services, a trace's waterfall,
    /// span details with payloads and comments.
    Live {
        #[command(flatten)]
        filters: filters::SpanFilters,
    },
    /// Serve MCP over stdin/stdout, as a client of the running server
    /// (--server / TAEL_SERVER): `claude mcp add tael -- tael mcp`.
    Mcp,
    /// The Claude Code skill that teaches an agent this CLI.
    Skill {
        #[command(subcommand)]
        what: skill::SkillCmd,
    },
    /// A replica's view of its shard (needs the cluster token).
    Cluster {
        #[command(subcommand)]
        what: ClusterCmd,
    },
    /// Server health.
    Server {
        #[command(subcommand)]
        what: ServerCmd,
    },
    /// Load generator and benchmarks.
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
}

#[derive(Subcommand, Debug)]
enum QueryCmd {
    /// Spans matching filters, newest first.
    Traces {
        #[command(flatten)]
        filters: filters::SpanFilters,
        /// Time window, e.g. 15m, 1h, 2d, 1h30m.
        #[arg(long)]
        last: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Full-text query over LLM payloads, status and exception messages:
        /// words (all must match), "a phrase", OR, -word, "phrase prefi"*. Each span
        /// gets a `match` with a highlighted snippet.
        #[arg(long)]
        text: Option<String>,
    },
    /// Log records, newest first.
    Logs {
        #[command(flatten)]
        filters: filters::LogFilters,
        /// Full-text query over the body (same syntax as `query traces --text`).
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        last: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Put back bodies the server moved to its blob store.
        #[arg(long)]
        with_payloads: bool,
    },
    /// Read-only SQL over spans, logs, metrics and comments (--schema lists the columns).
    Sql {
        /// The query, e.g. "SELECT service, count(*) FROM spans GROUP BY service".
        query: Option<String>,
        /// Print the tables and what each column means.
        #[arg(long)]
        schema: bool,
        /// Rows returned at most (the server caps this too; more are reported as truncated).
        #[arg(long)]
        max_rows: Option<usize>,
    },
    /// Metric points, newest first; or a PromQL query (--query), instant or
    /// over --start/--end/--step.
    Metrics {
        /// PromQL, e.g. 'sum by (service) (rate(http_server_request_duration_seconds_count[5m]))'.
        #[arg(long)]
        query: Option<String>,
        /// With --query: range start (RFC 3339, Unix seconds, or a duration ago such as 1h).
        #[arg(long)]
        start: Option<String>,
        /// With --query: range end [default: now]; or the instant of an instant query.
        #[arg(long)]
        end: Option<String>,
        /// With --query: range step, e.g. 15s.
        #[arg(long)]
        step: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// gauge, sum, histogram, summary.
        #[arg(long = "type")]
        metric_type: Option<String>,
        #[arg(long)]
        last: Option<String>,
        #[arg(long, default_value_t = 500)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
enum GetCmd {
    /// All spans of a trace, in start order.
    Trace {
        trace_id: String,
        /// Put back the LLM payloads (prompts, completions …) the server
        /// keeps in its blob store.
        #[arg(long)]
        with_payloads: bool,
    },
}

#[derive(Subcommand, Debug)]
enum CommentCmd {
    /// Add a comment to a trace.
    Add {
        trace_id: String,
        body: String,
        #[arg(long, default_value = "cli")]
        author: String,
        #[arg(long)]
        span_id: Option<String>,
    },
    /// List the comments of a trace (or the newest across traces with --all).
    List {
        trace_id: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterCmd {
    /// Node, shard, role, epoch, leader, lease deadline and etcd health
    /// (GET /internal/cluster).
    Status {
        /// The cluster's bearer token.
        #[arg(long, env = "TAEL_CLUSTER_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Subcommand, Debug)]
enum ServerCmd {
    /// Whether the server answers /healthz.
    Status,
}

/// A duration flag as the REST API takes it (`--last`, `--baseline`).
pub(crate) fn duration_arg(
    flag: &str,
    v: &Option<String>,
) -> Result<Option<DurationParam>, CliError> {
    v.as_deref()
        .map(|s| DurationParam::parse(s).map_err(|e| CliError::usage(format!("{flag}: {e}"))))
        .transpose()
}

/// `--last` of a search: where it starts.
fn since_arg(last: &Option<String>) -> Result<Option<Since>, CliError> {
    Ok(duration_arg("--last", last)?.map(Since::Last))
}

/// A time flag: RFC 3339, Unix seconds, or a duration ago (`1h`) → Unix seconds.
fn time_param(flag: &str, v: &str, now_ns: i64) -> Result<String, CliError> {
    if v.trim().parse::<f64>().is_ok() {
        return Ok(v.trim().to_string());
    }
    if let Some(ns) = tael_core::time::parse_rfc3339(v.trim()) {
        return Ok(format!("{}", ns as f64 / 1e9));
    }
    parse_duration_ns(v)
        .map(|ago| format!("{}", (now_ns - ago) as f64 / 1e9))
        .map_err(|_| {
            CliError::usage(format!(
                "{flag} {v:?}: expected RFC 3339, Unix seconds, or a duration ago such as 1h"
            ))
        })
}

fn server_url(g: &Global) -> String {
    match (&g.server, g.port_rest) {
        (Some(s), _) => s.clone(),
        (None, Some(p)) => format!("http://127.0.0.1:{p}"),
        (None, None) => "http://127.0.0.1:7701".to_string(),
    }
}

pub(crate) fn print(format: Format, v: &Value, table: fn(&Value) -> String) {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        Format::Table => print!("{}", table(v)),
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let g = &cli.global;
    match &cli.command {
        Command::Serve(a) => serve::run(g, a),
        Command::Bench { what } => bench::run(what),
        Command::Mcp => mcp(&server_url(g)),
        Command::Skill { what } => {
            if let Some(v) = skill::run(what)? {
                print(g.format, &v, |v| {
                    format!("{}\n", v["path"].as_str().unwrap_or(""))
                });
            }
            Ok(())
        }
        Command::Tail { what } => tail::run(g.format, &server_url(g), what),
        Command::Live { filters } => live::run(&server_url(g), filters),
        Command::Server {
            what: ServerCmd::Status,
        } => {
            let url = server_url(g);
            let client = Client::new(&url)?;
            let v = match client.get("/healthz", &Params::new()) {
                Ok(resp) => json!({ "status": "healthy", "server": url, "response": resp }),
                Err(e) if e.code == exit::UNREACHABLE => {
                    print(
                        g.format,
                        &json!({ "status": "unreachable", "server": url, "error": e.message }),
                        |v| format!("{}\n", v["status"].as_str().unwrap_or("")),
                    );
                    return Err(CliError {
                        code: exit::UNREACHABLE,
                        message: e.message,
                    });
                }
                Err(e) => json!({ "status": "unhealthy", "server": url, "error": e.message }),
            };
            print(g.format, &v, |v| {
                format!("{}\n", v["status"].as_str().unwrap_or(""))
            });
            Ok(())
        }
        cmd => {
            let client = Client::new(&server_url(g))?;
            match cmd {
                Command::Query { what } => query(g.format, &client, what),
                Command::Get {
                    what:
                        GetCmd::Trace {
                            trace_id,
                            with_payloads,
                        },
                } => {
                    let v = client.call(&TraceLookup::new(trace_id, *with_payloads)?)?;
                    print(g.format, &v, output::trace_tree);
                    Ok(())
                }
                Command::Services => {
                    let v = client.call(&ServicesRequest)?;
                    print(g.format, &v, output::services_table);
                    Ok(())
                }
                Command::Comment { what } => comment(g.format, &client, what),
                Command::Cluster {
                    what: ClusterCmd::Status { token },
                } => {
                    let v = client
                        .with_bearer(token)
                        .get(tael_server::cluster::CLUSTER_ROUTE, &Params::new())?;
                    print(g.format, &v, output::cluster_table);
                    Ok(())
                }
                Command::Analytics(a) => analytics::run(g.format, &client, a),
                Command::Watch(a) => watch::run(g.format, &client, a),
                _ => Err(CliError::other("unreachable command")),
            }
        }
    }
}

/// `tael mcp`: the MCP tool set over stdio, answering from the server at
/// `url` through its REST API.
fn mcp(url: &str) -> Result<(), CliError> {
    let client = tael_client::Client::new(url).map_err(|e| CliError::usage(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(e.to_string()))?;
    rt.block_on(tael_mcp::serve_stdio(tael_mcp::RemoteBackend { client }))
        .map_err(|e| CliError::other(format!("MCP over stdio: {e}")))
}

fn query(format: Format, client: &Client, what: &QueryCmd) -> Result<(), CliError> {
    match what {
        QueryCmd::Traces {
            filters,
            last,
            limit,
            text,
        } => {
            let q = TraceQuery {
                since: since_arg(last)?,
                text: text.clone(),
                limit: *limit,
                ..filters.query()?
            };
            print(format, &client.call(&q)?, output::spans_table);
        }
        QueryCmd::Logs {
            filters,
            text,
            last,
            limit,
            with_payloads,
        } => {
            let q = LogQuery {
                text: text.clone(),
                since: since_arg(last)?,
                limit: *limit,
                with_payloads: *with_payloads,
                ..filters.query()
            };
            print(format, &client.call(&q)?, output::logs_table);
        }
        QueryCmd::Metrics {
            query: Some(promql),
            start,
            end,
            step,
            ..
        } => {
            let mut q = MetricsQueryRequest {
                query: promql.clone(),
                ..Default::default()
            };
            let now = tael_core::time::now_ns();
            let when = |flag: &str, v: &Option<String>| -> Result<Option<String>, CliError> {
                v.as_ref().map(|s| time_param(flag, s, now)).transpose()
            };
            match (when("--start", start)?, when("--end", end)?) {
                (Some(s), e) => {
                    q.start = Some(s);
                    q.end = e;
                    q.step = step.clone();
                }
                (None, Some(e)) if step.is_none() => q.time = Some(e),
                (None, _) if step.is_some() => return Err(CliError::usage("--step needs --start")),
                (None, _) => {}
            }
            print(format, &client.call(&q)?, output::promql_table);
        }
        QueryCmd::Metrics {
            service,
            name,
            metric_type,
            last,
            limit,
            ..
        } => {
            let q = MetricQuery {
                service: service.clone(),
                name: name.clone(),
                metric_type: metric_type.clone(),
                since: since_arg(last)?,
                limit: *limit,
                ..Default::default()
            };
            print(format, &client.call(&q)?, output::metrics_table);
        }
        QueryCmd::Sql {
            query,
            schema,
            max_rows,
        } => analytics::sql(format, client, query, *schema, *max_rows)?,
    }
    Ok(())
}

fn comment(format: Format, client: &Client, what: &CommentCmd) -> Result<(), CliError> {
    match what {
        CommentCmd::Add {
            trace_id,
            body,
            author,
            span_id,
        } => {
            // The server checks the ids.
            let c = NewComment {
                trace_id: trace_id.clone(),
                body: body.clone(),
                author: Some(author.clone()),
                span_id: span_id.clone(),
            };
            let v = client.call(&c)?;
            print(format, &v, |v| {
                output::comments_table(&json!({ "comments": [v["comment"].clone()] }))
            });
        }
        CommentCmd::List {
            trace_id,
            all,
            limit,
        } => {
            let v = match (trace_id, all) {
                (Some(t), false) => client.call(&TraceCommentsRequest {
                    trace_id: t.clone(),
                })?,
                (None, true) => client.call(&RecentCommentsRequest { limit: *limit })?,
                _ => {
                    return Err(CliError::usage(
                        "give a trace id, or --all for the newest comments across traces",
                    ))
                }
            };
            print(format, &v, output::comments_table);
        }
    }
    Ok(())
}

/// A client command whose reader goes away (`tael query … | head`) ends
/// quietly, as other command-line tools do, instead of panicking on the
/// next print. Not for `serve`: a server must see a closed socket as an
/// error, not die of it.
fn quiet_on_closed_stdout() {
    // SAFETY: restoring the default disposition of one signal at startup,
    // before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    tune_allocator();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if !matches!(cli.command, Command::Serve(_)) {
        quiet_on_closed_stdout();
    }
    if let Err(e) = run(cli) {
        eprintln!("Error: {e}");
        std::process::exit(e.code);
    }
}
