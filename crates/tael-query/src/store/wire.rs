//! The store's wire format: one [`Store`] method call as JSON, so that a
//! store on another node answers it. A query node's remote store sends a
//! [`StoreCall`] as the body of `POST /internal/v1/store` ([`STORE_ROUTE`]);
//! the node asked answers it with [`answer_call`] over its own store.
//!
//! A call is `{"method": "<snake_case name>", …its arguments}`; searches
//! carry their filters as the query-string parameters of the matching REST
//! route (`params`: `[[key, value], …]`), so they are read and validated by
//! the same code. The answer is the method's result as JSON: rows as the
//! search routes write them, and the mergeable partials (span statistics
//! with their sketches and trace sets, the service graph, LLM usage, the
//! rollup) in their serde form, so the asking node merges them exactly.
//! PromQL series carry each value as its IEEE-754 bits (`u64`), which keeps
//! NaN staleness markers. Errors are the REST API's JSON errors, with the
//! stable `code`.
//!
//! Payloads are not calls: a remote store reads them from
//! `GET /api/v1/blobs/{sha256}`; live streams use the live routes.

use crate::llm_usage::{LlmGrouping, LlmStats};
use crate::logs::LogQuery;
use crate::metrics::MetricQuery;
use crate::params::Params;
use crate::promql::series::Loaded;
use crate::promql::value::{Labels, SeriesRange};
use crate::spanstats::StatsQuery;
use crate::sql::table_scan::{encode_ipc, TableScan};
use crate::sql::SqlQuery;
use crate::store::{SeriesQuery, SeriesSelector, Store};
use crate::traces::{TraceLookup, TraceQuery};
use crate::window::TimeWindow;
use crate::QueryError;
use promql_parser::label::{MatchOp, Matcher};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The route a store call is posted to.
pub const STORE_ROUTE: &str = "/internal/v1/store";

/// One call of a [`Store`] method.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum StoreCall {
    /// `GET /api/v1/traces` parameters.
    SearchSpans {
        params: Params,
    },
    GetTrace {
        trace_id: String,
        with_payloads: bool,
    },
    /// `GET /api/v1/logs` parameters.
    SearchLogs {
        params: Params,
    },
    /// `GET /api/v1/metrics` parameters.
    SearchMetrics {
        params: Params,
    },
    TraceComments {
        trace_id: String,
    },
    RecentComments {
        limit: usize,
    },
    ServiceRollup,
    SpanStats {
        window: TimeWindow,
        service: Option<String>,
        count_traces: bool,
    },
    LogStats {
        window: TimeWindow,
        service: Option<String>,
    },
    MetricStats {
        window: TimeWindow,
        service: Option<String>,
    },
    ServiceGraph {
        window: TimeWindow,
    },
    Operations {
        window: TimeWindow,
        service: Option<String>,
    },
    /// `by`: a grouping name of `llm_usage::GROUPINGS`.
    LlmStats {
        window: TimeWindow,
        by: String,
    },
    MetricCatalog,
    Series {
        selectors: Vec<WireSelector>,
        max_samples: usize,
        timeout_ms: u64,
    },
    Sql {
        query: SqlQuery,
    },
    /// Answered as an Arrow IPC stream, not JSON.
    Scan {
        scan: TableScan,
    },
    SqlSchema,
    Stats,
}

/// A PromQL label matcher: `[name, op, value]`, op one of `=`, `!=`,
/// `=~`, `!~`.
pub type WireMatcher = (String, String, String);

/// One selector of a [`StoreCall::Series`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireSelector {
    pub matchers: Vec<WireMatcher>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One loaded series: its labels and `[ms, value bits]` samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireSeries {
    pub labels: Vec<(String, String)>,
    pub points: Vec<(i64, u64)>,
}

fn matcher_to_wire(m: &Matcher) -> WireMatcher {
    let op = match &m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::Re(_) => "=~",
        MatchOp::NotRe(_) => "!~",
    };
    (m.name.clone(), op.to_string(), m.value.clone())
}

fn matcher_from_wire((name, op, value): WireMatcher) -> Result<Matcher, QueryError> {
    let op = match op.as_str() {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" | "!~" => {
            let re = regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                QueryError::InvalidArgument(format!("invalid regex matcher {value:?}: {e}"))
            })?;
            match op.as_str() {
                "=~" => MatchOp::Re(re),
                _ => MatchOp::NotRe(re),
            }
        }
        other => {
            return Err(QueryError::InvalidArgument(format!(
                "invalid matcher operator {other:?}: expected =, !=, =~ or !~"
            )))
        }
    };
    Ok(Matcher::new(op, &name, &value))
}

impl StoreCall {
    /// The call of [`Store::series`].
    pub fn series(q: &SeriesQuery) -> StoreCall {
        StoreCall::Series {
            selectors: q
                .selectors
                .iter()
                .map(|s| WireSelector {
                    matchers: s.matchers.iter().map(matcher_to_wire).collect(),
                    from_ms: s.from_ms,
                    to_ms: s.to_ms,
                })
                .collect(),
            max_samples: q.max_samples,
            timeout_ms: u64::try_from(q.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The series of a [`StoreCall::Series`] answer, back as the store's type.
pub fn loaded_from_wire(wire: Vec<Vec<WireSeries>>) -> Vec<Loaded> {
    wire.into_iter()
        .map(|series| Loaded {
            unnamed: vec![None; series.len()],
            series: series
                .into_iter()
                .map(|s| SeriesRange {
                    labels: Arc::new(Labels::new(s.labels)),
                    points: s
                        .points
                        .into_iter()
                        .map(|(t, bits)| (t, f64::from_bits(bits)))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

fn loaded_to_wire(loaded: Vec<Loaded>) -> Vec<Vec<WireSeries>> {
    loaded
        .into_iter()
        .map(|l| {
            l.series
                .into_iter()
                .map(|s| WireSeries {
                    labels: s.labels.0.clone(),
                    points: s.points.iter().map(|(t, v)| (*t, v.to_bits())).collect(),
                })
                .collect()
        })
        .collect()
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, QueryError> {
    serde_json::to_vec(v).map_err(|e| QueryError::Internal(format!("cannot write an answer: {e}")))
}

/// The content type of every answer but a scan's.
pub const JSON: &str = "application/json";
/// The content type of a scan's answer.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// Runs `call` on `store` and returns its answer: the content type and
/// the bytes.
pub async fn answer_call(
    store: &dyn Store,
    call: StoreCall,
) -> Result<(&'static str, Vec<u8>), QueryError> {
    if let StoreCall::Scan { scan } = call {
        let (schema, batches) = store.scan(scan).await?;
        return Ok((ARROW_STREAM, encode_ipc(&schema, &batches)?));
    }
    Ok((JSON, answer_json(store, call).await?))
}

async fn answer_json(store: &dyn Store, call: StoreCall) -> Result<Vec<u8>, QueryError> {
    match call {
        StoreCall::SearchSpans { params } => json(
            &store
                .search_spans(TraceQuery::from_params(&params)?)
                .await?,
        ),
        StoreCall::GetTrace {
            trace_id,
            with_payloads,
        } => json(
            &store
                .get_trace(TraceLookup::new(&trace_id, with_payloads)?)
                .await?,
        ),
        StoreCall::SearchLogs { params } => {
            json(&store.search_logs(LogQuery::from_params(&params)?).await?)
        }
        StoreCall::SearchMetrics { params } => json(
            &store
                .search_metrics(MetricQuery::from_params(&params)?)
                .await?,
        ),
        StoreCall::TraceComments { trace_id } => json(&store.trace_comments(trace_id).await?),
        StoreCall::RecentComments { limit } => json(&store.recent_comments(limit).await?),
        StoreCall::ServiceRollup => json(&store.service_rollup().await?),
        StoreCall::SpanStats {
            window,
            service,
            count_traces,
        } => json(
            &store
                .span_stats(
                    window,
                    StatsQuery {
                        service,
                        count_traces,
                    },
                )
                .await?,
        ),
        StoreCall::LogStats { window, service } => json(&store.log_stats(window, service).await?),
        StoreCall::MetricStats { window, service } => {
            json(&store.metric_stats(window, service).await?)
        }
        StoreCall::ServiceGraph { window } => json(&store.service_graph(window).await?),
        StoreCall::Operations { window, service } => {
            json(&store.operations(window, service).await?)
        }
        StoreCall::LlmStats { window, by } => {
            let stats: LlmStats = store.llm_stats(window, LlmGrouping::parse(&by)?).await?;
            json(&stats)
        }
        StoreCall::MetricCatalog => json(&store.metric_catalog().await?),
        StoreCall::Series {
            selectors,
            max_samples,
            timeout_ms,
        } => {
            let mut out = Vec::with_capacity(selectors.len());
            for s in selectors {
                out.push(SeriesSelector {
                    matchers: s
                        .matchers
                        .into_iter()
                        .map(matcher_from_wire)
                        .collect::<Result<_, _>>()?,
                    from_ms: s.from_ms,
                    to_ms: s.to_ms,
                });
            }
            let q = SeriesQuery {
                selectors: out,
                max_samples,
                timeout: Duration::from_millis(timeout_ms),
            };
            json(&loaded_to_wire(store.series(q).await?))
        }
        StoreCall::Sql { query } => json(&store.sql(query).await?),
        StoreCall::Scan { .. } => Err(QueryError::Internal(
            "a scan is answered as Arrow, not JSON".into(),
        )),
        StoreCall::SqlSchema => json(&store.sql_schema().await?),
        StoreCall::Stats => json(&store.stats().await?),
    }
}

/// Serde of a map whose keys are not strings (JSON object keys must be) as
/// a list of `[key, value]` pairs.
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn matchers_round_trip() {
        let cases = [
            ("=", "a", false),
            ("!=", "b", true),
            ("=~", "d.*", true),
            ("!~", "d|e", true),
        ];
        for (op, value, matches_dx) in cases {
            let wire = (String::from("job"), op.to_string(), value.to_string());
            let m = matcher_from_wire(wire.clone()).unwrap();
            assert_eq!(matcher_to_wire(&m), wire);
            assert_eq!(m.is_match("dx"), matches_dx, "{op}{value}");
        }
        assert!(matcher_from_wire(("a".into(), "~".into(), "x".into())).is_err());
        assert!(matcher_from_wire(("a".into(), "=~".into(), "(".into())).is_err());
    }

    #[test]
    fn series_keep_nan_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let loaded = vec![Loaded {
            series: vec![SeriesRange {
                labels: Arc::new(Labels::new(vec![("job".into(), "a".into())])),
                points: vec![(1, 1.5), (2, stale)],
            }],
            unnamed: vec![None],
        }];
        let bytes = serde_json::to_vec(&loaded_to_wire(loaded)).unwrap();
        let back = loaded_from_wire(serde_json::from_slice(&bytes).unwrap());
        assert_eq!(back[0].series[0].points[0], (1, 1.5));
        assert_eq!(back[0].series[0].points[1].1.to_bits(), stale.to_bits());
        assert_eq!(back[0].unnamed.len(), 1);
    }
}
