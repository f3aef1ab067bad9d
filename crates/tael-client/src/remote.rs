//! [`RemoteStore`]: a [`Store`] whose data lives on another tael node (one
//! shard, reachable at one or more replica URLs). Each method is one
//! `POST /internal/v1/store` call (`tael_query::store::wire`); payloads
//! come from `GET /api/v1/blobs/{sha256}` and live streams from the live
//! routes. A call goes to the replica that answered last and, when it
//! cannot answer (unreachable, 503), to the next one, so reads go on while
//! any replica of the shard is up. Live streams reconnect on their own,
//! resuming after the last id they read.

use crate::{check, Client, ClientError, Replicas};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tael_core::model::{LogRecord, MetricPoint, Span, TraceComment};
use tael_core::ErrorCode;
use tael_query::live::{
    LiveEvent, LiveLogFilter, LiveSpanFilter, LOGS_LIVE_ROUTE, TRACES_LIVE_ROUTE,
};
use tael_query::llm_usage::{LlmGrouping, LlmStats};
use tael_query::logs::LogQuery;
use tael_query::metrics::MetricQuery;
use tael_query::operations::OperationSet;
use tael_query::params::Params;
use tael_query::promql::names::StoredMetric;
use tael_query::promql::series::Loaded;
use tael_query::spanstats::{SpanStats, StatsQuery};
use tael_query::sql::table_scan::{decode_ipc, TableScan};
use tael_query::sql::{SqlQuery, SqlResult, TableInfo};
use tael_query::store::wire::{loaded_from_wire, StoreCall, WireSeries, STORE_ROUTE};
use tael_query::store::{Hit, ScannedRows, SeriesQuery, StoreStats};
use tael_query::summary::{LogSummary, MetricStats};
use tael_query::topology::ServiceGraph;
use tael_query::traces::{TraceLookup, TraceQuery};
use tael_query::window::TimeWindow;
use tael_query::{QueryError, Store};
use tael_storage::rollup::Rollup;

/// The error a shard's failure is to the asking node.
pub fn query_error(e: ClientError) -> QueryError {
    match e {
        ClientError::Server { code, message, .. } => match code {
            // A misconfigured token is this shard failing, not the query.
            ErrorCode::Unauthenticated => {
                QueryError::Internal(format!("the shard refused the cluster token: {message}"))
            }
            code => QueryError::from_code(code, message),
        },
        ClientError::Unreachable { .. } => QueryError::Unavailable(e.to_string()),
        other => QueryError::Internal(other.to_string()),
    }
}

fn unreadable(base: &str, e: impl std::fmt::Display) -> QueryError {
    QueryError::Internal(format!("{base} answered something unreadable: {e}"))
}

/// One shard on other nodes (see the module doc).
pub struct RemoteStore {
    replicas: Replicas,
    /// The replica to try first: the one that answered last.
    preferred: AtomicUsize,
    /// Longest silence of a live stream before it reconnects.
    live_idle: Duration,
}

impl RemoteStore {
    /// A store of the shard whose replicas are `replicas`.
    pub fn new(replicas: Replicas) -> RemoteStore {
        RemoteStore {
            replicas,
            preferred: AtomicUsize::new(0),
            live_idle: Duration::from_secs(45),
        }
    }

    /// The shard's replicas.
    pub fn replicas(&self) -> &Replicas {
        &self.replicas
    }

    /// Runs `f` on the preferred replica, then on the others while the
    /// answer says the replica cannot answer.
    async fn on_replicas<T, F>(&self, f: F) -> Result<T, QueryError>
    where
        F: Fn(&Client) -> BoxFuture<'_, Result<T, QueryError>>,
    {
        let replicas = self.replicas.list();
        if replicas.is_empty() {
            return Err(QueryError::Unavailable(
                "no replica of this shard is known yet".into(),
            ));
        }
        let first = self.preferred.load(Ordering::Relaxed) % replicas.len();
        let mut last = None;
        for k in 0..replicas.len() {
            let i = (first + k) % replicas.len();
            match f(&replicas[i]).await {
                Ok(v) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) if matches!(e.code(), ErrorCode::Unavailable) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| QueryError::Unavailable("no replica answered".into())))
    }

    /// The raw answer of one call.
    async fn raw(&self, call: &StoreCall) -> Result<(String, Bytes), QueryError> {
        let body = serde_json::to_vec(call)
            .map_err(|e| QueryError::Internal(format!("cannot write a store call: {e}")))?;
        self.on_replicas(|c| {
            let body = body.clone();
            async move {
                let raw = c
                    .post_bytes(STORE_ROUTE, &[("content-type", "application/json")], body)
                    .await
                    .and_then(check)
                    .map_err(query_error)?;
                Ok((c.base().to_string(), raw.body))
            }
            .boxed()
        })
        .await
    }

    /// One call's JSON answer as `T`.
    async fn call<T: DeserializeOwned>(&self, call: StoreCall) -> Result<T, QueryError> {
        let (base, body) = self.raw(&call).await?;
        serde_json::from_slice(&body).map_err(|e| unreadable(&base, e))
    }

    /// A live route's items, reconnecting (and resuming) on failure.
    fn live<T: DeserializeOwned + Send + 'static>(
        &self,
        route: &'static str,
        event: &'static str,
        params: Params,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<T>> {
        let replicas = self.replicas.clone();
        let idle = self.live_idle;
        struct State {
            last: Option<u64>,
            stream: Option<crate::EventStream>,
            replica: usize,
            started: bool,
        }
        let state = State {
            last: last_id,
            stream: None,
            replica: self.preferred.load(Ordering::Relaxed),
            started: false,
        };
        futures::stream::unfold(state, move |mut st| {
            let replicas = replicas.clone();
            let params = params.clone();
            async move {
                loop {
                    let Some(stream) = st.stream.as_mut() else {
                        let list = replicas.list();
                        let Some(c) = list.get(st.replica % list.len().max(1)) else {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        };
                        let last = st.last.map(|l| l.to_string());
                        let opened = match c.live(route, &params, last.as_deref(), idle).await {
                            // A fresh stream's first block names where the
                            // shard's feed stands: the start, and where a
                            // reconnect resumes.
                            Ok(mut s) if st.last.is_none() => match s.started().await {
                                Ok(Some(id)) if id.parse::<u64>().is_ok() => {
                                    st.last = id.parse().ok();
                                    Ok(s)
                                }
                                // Closed (or no id) before it said where it
                                // starts: open it again.
                                Ok(_) => Err(crate::ClientError::Decode {
                                    path: route.to_string(),
                                    message: "the live stream named no start".into(),
                                }),
                                Err(e) => Err(e),
                            },
                            other => other,
                        };
                        match opened {
                            Ok(s) => {
                                st.stream = Some(s);
                                if !std::mem::replace(&mut st.started, true) {
                                    let after = st.last.unwrap_or(0);
                                    return Some((LiveEvent::Start { after }, st));
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "live stream of a shard: reconnecting");
                                st.replica += 1;
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                        continue;
                    };
                    let ev = match stream.next().await {
                        Ok(Some(ev)) => ev,
                        Ok(None) | Err(_) => {
                            st.stream = None;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    };
                    // The first block names the id the stream follows
                    // (it has no data, so it is no event of its own).
                    if st.last.is_none() {
                        st.last = stream.last_id().and_then(|i| i.parse().ok());
                    }
                    let id = ev.id.as_deref().and_then(|i| i.parse::<u64>().ok());
                    let out = match ev.event.as_str() {
                        e if e == event => match (id, serde_json::from_str::<T>(&ev.data)) {
                            (Some(id), Ok(item)) => {
                                st.last = Some(id);
                                Some(LiveEvent::Item { id, item })
                            }
                            (_, Err(e)) => {
                                tracing::warn!(error = %e, "unreadable live item from a shard");
                                None
                            }
                            (None, Ok(_)) => None,
                        },
                        "gap" => serde_json::from_str::<serde_json::Value>(&ev.data)
                            .ok()
                            .map(|v| LiveEvent::Gap {
                                missed: v["missed"].as_u64().unwrap_or(0),
                                exact: v["exact"].as_bool().unwrap_or(false),
                            }),
                        "lagged" => serde_json::from_str::<serde_json::Value>(&ev.data)
                            .ok()
                            .map(|v| LiveEvent::Lagged {
                                dropped: v["dropped"].as_u64().unwrap_or(0),
                            }),
                        // `end`: the shard is stopping; reconnect.
                        _ => None,
                    };
                    if let Some(out) = out {
                        return Some((out, st));
                    }
                }
            }
        })
        .boxed()
    }
}

impl Store for RemoteStore {
    fn search_spans(&self, q: TraceQuery) -> BoxFuture<'_, Result<Vec<Hit<Span>>, QueryError>> {
        self.call(StoreCall::SearchSpans {
            params: q.to_params(),
        })
        .boxed()
    }

    fn get_trace(&self, q: TraceLookup) -> BoxFuture<'_, Result<Vec<Span>, QueryError>> {
        self.call(StoreCall::GetTrace {
            trace_id: q.trace_id,
            with_payloads: q.with_payloads,
        })
        .boxed()
    }

    fn search_logs(&self, q: LogQuery) -> BoxFuture<'_, Result<Vec<Hit<LogRecord>>, QueryError>> {
        self.call(StoreCall::SearchLogs {
            params: q.to_params(),
        })
        .boxed()
    }

    fn search_metrics(
        &self,
        q: MetricQuery,
    ) -> BoxFuture<'_, Result<Vec<MetricPoint>, QueryError>> {
        self.call(StoreCall::SearchMetrics {
            params: q.to_params(),
        })
        .boxed()
    }

    fn blob(&self, sha256: [u8; 32]) -> BoxFuture<'_, Result<Option<Vec<u8>>, QueryError>> {
        let hex = hex::encode(sha256);
        async move {
            self.on_replicas(|c| {
                let hex = hex.clone();
                async move { c.blob(&hex).await.map_err(query_error) }.boxed()
            })
            .await
        }
        .boxed()
    }

    fn trace_comments(
        &self,
        trace_id: String,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        self.call(StoreCall::TraceComments { trace_id }).boxed()
    }

    fn recent_comments(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceComment>, QueryError>> {
        self.call(StoreCall::RecentComments { limit }).boxed()
    }

    fn service_rollup(&self) -> BoxFuture<'_, Result<Rollup, QueryError>> {
        self.call(StoreCall::ServiceRollup).boxed()
    }

    fn span_stats(
        &self,
        window: TimeWindow,
        q: StatsQuery,
    ) -> BoxFuture<'_, Result<SpanStats, QueryError>> {
        self.call(StoreCall::SpanStats {
            window,
            service: q.service,
            count_traces: q.count_traces,
        })
        .boxed()
    }

    fn log_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<LogSummary, QueryError>> {
        self.call(StoreCall::LogStats { window, service }).boxed()
    }

    fn metric_stats(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<MetricStats, QueryError>> {
        self.call(StoreCall::MetricStats { window, service })
            .boxed()
    }

    fn service_graph(&self, window: TimeWindow) -> BoxFuture<'_, Result<ServiceGraph, QueryError>> {
        self.call(StoreCall::ServiceGraph { window }).boxed()
    }

    fn operations(
        &self,
        window: TimeWindow,
        service: Option<String>,
    ) -> BoxFuture<'_, Result<OperationSet, QueryError>> {
        self.call(StoreCall::Operations { window, service }).boxed()
    }

    fn llm_stats(
        &self,
        window: TimeWindow,
        by: LlmGrouping,
    ) -> BoxFuture<'_, Result<LlmStats, QueryError>> {
        self.call(StoreCall::LlmStats {
            window,
            by: by.name().to_string(),
        })
        .boxed()
    }

    fn metric_catalog(&self) -> BoxFuture<'_, Result<BTreeSet<StoredMetric>, QueryError>> {
        self.call(StoreCall::MetricCatalog).boxed()
    }

    fn series(&self, q: SeriesQuery) -> BoxFuture<'_, Result<Vec<Loaded>, QueryError>> {
        async move {
            let wire: Vec<Vec<WireSeries>> = self.call(StoreCall::series(&q)).await?;
            Ok(loaded_from_wire(wire))
        }
        .boxed()
    }

    fn sql(&self, query: SqlQuery) -> BoxFuture<'_, Result<SqlResult, QueryError>> {
        self.call(StoreCall::Sql { query }).boxed()
    }

    fn scan(&self, scan: TableScan) -> BoxFuture<'_, Result<ScannedRows, QueryError>> {
        async move {
            let (base, body) = self.raw(&StoreCall::Scan { scan }).await?;
            decode_ipc(&body).map_err(|e| unreadable(&base, e))
        }
        .boxed()
    }

    fn sql_schema(&self) -> BoxFuture<'_, Result<Vec<TableInfo>, QueryError>> {
        self.call(StoreCall::SqlSchema).boxed()
    }

    fn stats(&self) -> BoxFuture<'_, Result<StoreStats, QueryError>> {
        self.call(StoreCall::Stats).boxed()
    }

    fn live_spans(
        &self,
        filter: LiveSpanFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<Span>> {
        self.live(TRACES_LIVE_ROUTE, "span", filter.to_params(), last_id)
    }

    fn live_logs(
        &self,
        filter: LiveLogFilter,
        last_id: Option<u64>,
    ) -> BoxStream<'static, LiveEvent<LogRecord>> {
        self.live(LOGS_LIVE_ROUTE, "log", filter.to_params(), last_id)
    }
}
