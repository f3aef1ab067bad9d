//! The tools beside traces: services, the analytics reports (summary,
//! anomalies, diff, service graph, LLM usage, correlate), logs, metrics
//! (catalog and PromQL), SQL, payloads and the one write, add_comment.
//! Each builds its request through the route's own codec and shapes the
//! answer to the budget.

use crate::backend::Backend;
use crate::budget::{budget, fit_report, limit, Cursor, Page};
use crate::error::ToolError;
use crate::hints;
use crate::params::{push_window, Window};
use crate::traces::round3;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tael_query::api::{MetricCatalogRequest, MetricsQueryRequest, NewComment, ServicesRequest};
use tael_query::logs::LogQuery;
use tael_query::params::Params;
use tael_query::sql::SqlQuery;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListServices {
    /// Case-insensitive substring of the service name.
    pub pattern: Option<String>,
    /// Services per answer (default 50, at most 500).
    pub limit: Option<u64>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn list_services<B: Backend>(b: &B, a: ListServices) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let n = limit(a.limit, 50, 500, "limit")?;
    let mut all = b.call(ServicesRequest).await?.services;
    if let Some(p) = &a.pattern {
        let p = p.to_ascii_lowercase();
        all.retain(|s| s.name.to_ascii_lowercase().contains(&p));
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.span_count));
    let total = all.len();
    let rows: Vec<Value> = all
        .iter()
        .take(n)
        .map(|s| {
            json!({ "name": s.name, "spans": s.span_count, "traces": s.trace_count,
                    "avg_ms": round3(s.avg_duration_ms), "error_rate": round3(s.error_rate) })
        })
        .collect();
    let mut page = Page::new("services", max_bytes);
    if total == 0 {
        page = page.field(
            "hints",
            json!(["no service matched; drop pattern, or nothing has been ingested yet"]),
        );
    }
    Ok(page
        .finish(rows, total > n, Some(total), "", &|_| None)
        .answer)
}

/// Window and scope of the analytics reports.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ReportArgs {
    /// How far back from now: 15m, 1h (default), 1d.
    pub last: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// For find_anomalies: the baseline length before the window (default 4×last);
    /// for diff: the baseline window, e.g. 1h@-1d (the same hour yesterday).
    pub baseline: Option<String>,
    /// For llm_usage: group by model (default), service, conversation, agent or tool.
    pub by: Option<String>,
    /// Items per list (default 10, at most 50).
    pub top: Option<u64>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

impl ReportArgs {
    fn params(&self) -> Result<Params, ToolError> {
        let mut p = Params::new();
        if let Some(l) = &self.last {
            crate::params::duration("last", l)?;
        }
        p.push_opt("last", self.last.as_ref());
        p.push_opt("service", self.service.as_ref());
        Ok(p)
    }
}

/// Which analytics report.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    Summary,
    Anomalies,
    Diff,
    Graph,
    LlmUsage,
}

pub async fn report<B: Backend>(b: &B, which: Report, a: ReportArgs) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let top = limit(a.top, 10, 50, "top")?;
    let mut p = a.params()?;
    let v = match which {
        Report::Summary => to_value(
            &b.call(tael_query::summary::SummaryRequest::from_params(&p)?)
                .await?,
        ),
        Report::Anomalies => {
            p.push_opt("baseline", a.baseline.as_ref());
            to_value(
                &b.call(tael_query::anomalies::AnomalyRequest::from_params(&p)?)
                    .await?,
            )
        }
        Report::Diff => {
            p.push_opt("baseline", a.baseline.as_ref());
            to_value(
                &b.call(tael_query::diff::DiffRequest::from_params(&p)?)
                    .await?,
            )
        }
        Report::Graph => to_value(
            &b.call(tael_query::topology::TopologyRequest::from_params(&p)?)
                .await?,
        ),
        Report::LlmUsage => {
            p.push_opt("by", a.by.as_ref());
            p.push("limit", top);
            to_value(
                &b.call(tael_query::llm_usage::UsageRequest::from_params(&p)?)
                    .await?,
            )
        }
    };
    Ok(fit_report(
        v,
        top,
        max_bytes,
        "raise top or max_bytes, or narrow with service",
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CorrelateArgs {
    /// The trace id: 32 hex characters.
    pub trace_id: String,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn correlate<B: Backend>(b: &B, a: CorrelateArgs) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let mut p = Params::new();
    p.push("trace_id", &a.trace_id);
    let req = tael_query::correlate::CorrelateRequest::from_params(&p)?;
    let r = match b.call(req).await {
        Ok(r) => r,
        Err(e) if e.code == tael_core::ErrorCode::NotFound => {
            return Err(ToolError::not_found(
                format!("no trace {}", a.trace_id),
                "find trace ids with search_traces".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let errors: Vec<Value> = r
        .spans
        .iter()
        .filter(|s| s.status == "error")
        .map(|s| json!({ "span_id": s.span_id, "service": s.service, "name": s.operation, "status_message": s.status_message }))
        .collect();
    let v = json!({
        "trace_id": r.trace_id, "span_count": r.span_count, "services": r.services,
        "start": r.start_time, "duration_ms": round3(r.duration_ms), "error_count": r.error_count,
        "error_spans": errors,
        "logs": r.logs.iter().map(log_row).collect::<Vec<_>>(),
        "metrics": r.metrics.iter().map(|m| json!({ "time": tael_core::time::format_rfc3339(m.time_ns),
            "service": m.service, "name": m.name, "value": m.value, "unit": m.unit })).collect::<Vec<_>>(),
        "comments": r.comments,
    });
    Ok(fit_report(
        v,
        20,
        max_bytes,
        "search_logs with trace_id for every log of the trace",
    ))
}

fn log_row(l: &tael_core::model::LogRecord) -> Value {
    let mut r = json!({
        "time": tael_core::time::format_rfc3339(l.time_ns),
        "service": l.service,
        "severity": l.severity,
        "body": l.body_text(),
    });
    if let Some(t) = &l.trace_id {
        r["trace_id"] = json!(t);
    }
    if let Some(s) = &l.span_id {
        r["span_id"] = json!(s);
    }
    r
}

/// The key of a log row in a cursor's `seen` list.
fn log_key(l: &tael_core::model::LogRecord) -> String {
    let mut h = Sha256::new();
    h.update(l.time_ns.to_le_bytes());
    h.update(l.service.as_bytes());
    h.update(l.body_text().as_bytes());
    h.update(l.span_id.as_deref().unwrap_or("").as_bytes());
    hex::encode(&h.finalize()[..6])
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct SearchLogs {
    /// Only this service.
    pub service: Option<String>,
    /// Only this severity: trace, debug, info, warn, error or fatal.
    pub severity: Option<String>,
    /// Case-sensitive substring of the body.
    pub body_contains: Option<String>,
    /// Full-text query over bodies (words, "phrases", -exclusions).
    pub text: Option<String>,
    /// Only the logs of this trace (32 hex).
    pub trace_id: Option<String>,
    #[serde(flatten)]
    pub window: Window,
    /// Records per answer (default 20, at most 200).
    pub limit: Option<u64>,
    /// Add each record's attributes (default false).
    pub with_attributes: Option<bool>,
    /// next_cursor of the previous answer, to get the next page.
    pub cursor: Option<String>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn search_logs<B: Backend>(b: &B, a: SearchLogs) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let want = limit(a.limit, 20, 200, "limit")?;
    let cur = Cursor::decode(a.cursor.as_deref())?;
    let mut p = Params::new();
    p.push_opt("service", a.service.as_ref());
    p.push_opt("severity", a.severity.as_ref());
    p.push_opt("body_contains", a.body_contains.as_ref());
    p.push_opt("text", a.text.as_ref());
    p.push_opt("trace_id", a.trace_id.as_ref());
    let window = push_window(&mut p, &a.window)?;
    // The records already returned at the boundary time come again.
    p.push("limit", want + cur.seen.len() + 1);
    let mut q = LogQuery::from_params(&p)?;
    if let Some(u) = cur.until_ns {
        q.until_ns = Some(q.until_ns.map_or(u, |x| x.min(u)));
    }
    let logs: Vec<_> = b
        .call(q)
        .await?
        .logs
        .into_iter()
        .map(|h| h.item)
        .filter(|l| !cur.seen.contains(&log_key(l)))
        .collect();
    let more = logs.len() > want;
    let logs: Vec<_> = logs.into_iter().take(want).collect();
    if logs.is_empty() && cur == Cursor::default() {
        let services = hints::services(b).await;
        return Ok(hints::empty(
            "logs",
            window,
            &services,
            a.service.as_deref(),
        ));
    }
    let with_attrs = a.with_attributes.unwrap_or(false);
    let rows: Vec<Value> = logs
        .iter()
        .map(|l| {
            let mut r = log_row(l);
            if with_attrs {
                r["attributes"] = to_value(&tael_core::attr::flatten(&l.attributes));
            }
            r
        })
        .collect();
    let cursor = |taken: usize| -> Option<String> {
        let last = logs.get(taken.checked_sub(1)?)?;
        // Records at the last time returned, so the next page skips them.
        let mut seen: Vec<String> = logs[..taken]
            .iter()
            .filter(|l| l.time_ns == last.time_ns)
            .map(log_key)
            .collect();
        if cur.until_ns == Some(last.time_ns + 1) {
            seen.extend(cur.seen.iter().cloned());
        }
        Some(
            Cursor {
                until_ns: Some(last.time_ns + 1),
                seen,
                offset: 0,
            }
            .encode(),
        )
    };
    let page = Page::new("logs", max_bytes).field("window", window.to_json());
    Ok(page
        .finish(
            rows,
            more,
            None,
            "search_logs with a narrower filter, or get_payload for bodies stored as blobs",
            &cursor,
        )
        .answer)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListMetrics {
    /// Case-insensitive substring of the metric name (OTLP or PromQL).
    pub pattern: Option<String>,
    /// Metrics per answer (default 50, at most 500).
    pub limit: Option<u64>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn list_metrics<B: Backend>(b: &B, a: ListMetrics) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let n = limit(a.limit, 50, 500, "limit")?;
    let mut all = b.call(MetricCatalogRequest).await?.metrics;
    if let Some(p) = &a.pattern {
        let p = p.to_ascii_lowercase();
        all.retain(|m| {
            m.name.to_ascii_lowercase().contains(&p) || m.promql.iter().any(|x| x.contains(&p))
        });
    }
    let total = all.len();
    let rows: Vec<Value> = all.iter().take(n).map(to_value).collect();
    Ok(Page::new("metrics", max_bytes)
        .finish(rows, total > n, Some(total), "", &|_| None)
        .answer)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct QueryPromql {
    /// A PromQL expression over the PromQL names list_metrics gives.
    pub query: String,
    /// Evaluate over the last duration as a range (e.g. 1h); omit with time for an instant query.
    pub last: Option<String>,
    /// Range start, RFC 3339 (a range query).
    pub start: Option<String>,
    /// Range end, RFC 3339 (default now).
    pub end: Option<String>,
    /// Range step: 30s, 1m (default range/250, at least 1s).
    pub step: Option<String>,
    /// Instant query time, RFC 3339 (default now).
    pub time: Option<String>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

/// Series and points one PromQL answer shows at most.
const MAX_SERIES: usize = 20;
const MAX_POINTS: usize = 120;

pub async fn query_promql<B: Backend>(b: &B, a: QueryPromql) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let mut start = a.start.clone();
    if let (None, Some(l)) = (&start, &a.last) {
        let d = crate::params::duration("last", l)?;
        start = Some(tael_core::time::format_rfc3339(
            tael_core::time::now_ns() - d.ns(),
        ));
    }
    let req = MetricsQueryRequest {
        query: a.query.clone(),
        time: a.time.clone(),
        start,
        end: a.end.clone(),
        step: a.step.clone(),
    };
    let r = b.call(req).await.map_err(|e| {
        ToolError::from(e).with_hint("check the names with list_metrics (PromQL names: dots become _, counters end in _total, histograms have _bucket/_sum/_count)")
    })?;
    let total = r.series.len();
    let mut thinned = false;
    let rows: Vec<Value> = r
        .series
        .into_iter()
        .take(MAX_SERIES)
        .map(|mut s| {
            if let Some(Value::Array(pts)) = s.get_mut("values") {
                if pts.len() > MAX_POINTS {
                    let stride = pts.len().div_ceil(MAX_POINTS);
                    let kept: Vec<Value> = pts.iter().step_by(stride).cloned().collect();
                    s["points_total"] = json!(pts.len());
                    s["values"] = Value::Array(kept);
                    thinned = true;
                }
            }
            s
        })
        .collect();
    let mut page = Page::new("series", max_bytes).field("query", a.query.clone());
    if thinned {
        page = page.field(
            "downsampled",
            json!(format!("series with more than {MAX_POINTS} points show every n-th point; raise step for fewer")),
        );
    }
    if total == 0 {
        page = page.field(
            "hints",
            json!(["no series matched; list_metrics gives the PromQL names"]),
        );
    }
    Ok(page
        .finish(rows, total > MAX_SERIES, Some(total), "", &|_| None)
        .answer)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct RunSql {
    /// A read-only SQL query over the tables spans, logs, metrics (see sql_schema).
    pub query: String,
    /// Rows at most (default 100, at most 1000).
    pub max_rows: Option<u64>,
    /// Byte budget of the answer (default 32768).
    pub max_bytes: Option<u64>,
}

pub async fn run_sql<B: Backend>(b: &B, a: RunSql) -> Result<Value, ToolError> {
    let max_bytes = budget(a.max_bytes)?;
    let n = limit(a.max_rows, 100, 1000, "max_rows")?;
    let r = b
        .call(SqlQuery {
            q: a.query.clone(),
            max_rows: Some(n),
        })
        .await
        .map_err(|e| {
            ToolError::from(e)
                .with_hint("sql_schema lists the tables and columns; only SELECT is allowed")
        })?;
    let rows: Vec<Value> = r.rows.into_iter().map(Value::Object).collect();
    let page = Page::new("rows", max_bytes).field("columns", to_value(&r.columns));
    let more = r.truncated;
    Ok(page
        .finish(
            rows,
            more,
            None,
            "add LIMIT/OFFSET, select fewer columns or aggregate",
            &|_| None,
        )
        .answer)
}

pub async fn sql_schema<B: Backend>(b: &B) -> Result<Value, ToolError> {
    let r = b.call(tael_query::api::SchemaRequest).await?;
    Ok(fit_report(
        to_value(&r),
        200,
        crate::budget::MAX_MAX_BYTES,
        "",
    ))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetPayload {
    /// The payload's sha256 (64 hex), from llm.payloads of get_span_details.
    pub sha256: String,
    /// Byte offset to start at (default 0; next_offset of the previous answer).
    pub offset: Option<u64>,
    /// Bytes to return (default 8192, at most 65536).
    pub max_bytes: Option<u64>,
}

pub async fn get_payload<B: Backend>(b: &B, a: GetPayload) -> Result<Value, ToolError> {
    let want = limit(a.max_bytes, 8192, 65536, "max_bytes")?;
    let bytes = b.blob(a.sha256.clone()).await?.ok_or_else(|| {
        ToolError::not_found(
            format!("no payload {}", a.sha256),
            "take the sha256 from llm.payloads in get_span_details".into(),
        )
    })?;
    let total = bytes.len();
    let mut start = (a.offset.unwrap_or(0) as usize).min(total);
    let text = String::from_utf8_lossy(&bytes);
    if text.len() != total {
        // Not UTF-8: hex of the slice.
        let end = (start + want / 2).min(total);
        return Ok(
            json!({ "sha256": a.sha256, "total_bytes": total, "offset": start,
            "encoding": "hex", "data": hex::encode(&bytes[start..end]),
            "next_offset": (end < total).then_some(end) }),
        );
    }
    while start < total && !text.is_char_boundary(start) {
        start += 1;
    }
    let mut end = (start + want).min(total);
    while end < total && !text.is_char_boundary(end) {
        end -= 1;
    }
    Ok(
        json!({ "sha256": a.sha256, "total_bytes": total, "offset": start,
        "returned_bytes": end - start, "text": &text[start..end],
        "next_offset": (end < total).then_some(end) }),
    )
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddComment {
    /// The trace id: 32 hex characters.
    pub trace_id: String,
    /// The comment (a finding, a root cause, a next step).
    pub body: String,
    /// The span the comment is about (16 hex), if one.
    pub span_id: Option<String>,
    /// Who writes it (default "agent").
    pub author: Option<String>,
}

pub async fn add_comment<B: Backend>(b: &B, a: AddComment) -> Result<Value, ToolError> {
    let mut body = serde_json::Map::new();
    body.insert("body".into(), json!(a.body));
    body.insert(
        "author".into(),
        json!(a.author.unwrap_or_else(|| "agent".into())),
    );
    if let Some(s) = a.span_id {
        body.insert("span_id".into(), json!(s));
    }
    let raw = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let c: NewComment = NewComment::from_json(&a.trace_id, &raw)?;
    let saved = b.add_comment(c).await?;
    Ok(json!({ "comment": saved }))
}
