//! Prometheus remote-write receiver (`POST /api/v1/write`): 1.0
//! (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`,
//! chosen by `Content-Type`), snappy block-compressed protobuf.
//!
//! Samples are stored as OTLP metrics through the normal ingest path (WAL,
//! memtable, parts): each series becomes a gauge point per sample named by
//! `__name__`, with every other label as an attribute, under a resource
//! marked `tael.remote_write` whose `service.name` is the `job` label (so
//! tael's `service` is the job), and PromQL returns exactly the labels that
//! were sent. Staleness markers are stored as points flagged "no
//! recorded value". Native histograms become OTLP exponential histograms
//! (custom-bucket ones explicit-bucket histograms). Exemplars are not
//! stored. Answers: 204 with `X-Prometheus-Remote-Write-{Samples,
//! Histograms,Exemplars}-Written`; 400 for malformed input or rejected
//! series (the valid rest is kept); 413 beyond the size limits; 415 for an
//! unsupported content type or encoding, so 2.0 senders fall back to 1.0.

use crate::error::ApiError;
use crate::ingest::{export, Encoding};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use prost::Message;
use std::collections::BTreeMap;
use tael_core::{ErrorCode, Signal};

/// Scope name of the points remote-write stores.
pub const SCOPE: &str = "prometheus.remote_write";
/// Resource attribute marking remote-write samples (PromQL then adds no
/// labels of its own; see `tael_query::promql::series`).
pub const REMOTE_WRITE_MARK: &str = tael_query::promql::series::REMOTE_WRITE_MARK;
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Remote-write 1.0 messages (`prometheus.WriteRequest`, the subset tael
/// reads), public for senders such as the load tool.
pub mod v1 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        pub labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub exemplars: Vec<Exemplar>,
        #[prost(message, repeated, tag = "4")]
        pub histograms: Vec<super::Histogram>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Label {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(int64, tag = "2")]
        pub timestamp: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(double, tag = "2")]
        pub value: f64,
    }
}

mod v2 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<super::v1::Sample>,
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<super::Histogram>,
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<super::v1::Exemplar>,
        #[prost(int64, tag = "6")]
        pub created_timestamp: i64,
    }
}

/// A native histogram (the same message in 1.x and 2.0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub count_int: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub count_float: Option<f64>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(uint64, optional, tag = "6")]
    pub zero_count_int: Option<u64>,
    #[prost(double, optional, tag = "7")]
    pub zero_count_float: Option<f64>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// Most buckets (and widest index range) a native histogram may span.
const MAX_BUCKET_SPAN: i64 = 1 << 16;

/// Bucket counts by Prometheus bucket index, from spans and deltas or
/// counts. The spans must cover exactly the deltas (or counts) given and
/// stay within [`MAX_BUCKET_SPAN`] indexes.
fn expand(
    spans: &[BucketSpan],
    deltas: &[i64],
    counts: &[f64],
) -> Result<BTreeMap<i32, u64>, String> {
    let total: i64 = spans.iter().map(|s| s.length as i64).sum();
    let given = if deltas.is_empty() {
        counts.len()
    } else {
        deltas.len()
    } as i64;
    if total != given {
        return Err(format!(
            "bucket spans cover {total} buckets but {given} counts were sent"
        ));
    }
    let mut out = BTreeMap::new();
    let (mut idx, mut first): (i64, Option<i64>) = (0, None);
    let mut running: i64 = 0;
    let mut k = 0usize;
    for (si, s) in spans.iter().enumerate() {
        idx = if si == 0 {
            s.offset as i64
        } else {
            idx + s.offset as i64
        };
        for _ in 0..s.length {
            let lo = *first.get_or_insert(idx);
            if (idx - lo).abs() > MAX_BUCKET_SPAN || idx < i32::MIN as i64 || idx > i32::MAX as i64
            {
                return Err(format!("bucket indexes span more than {MAX_BUCKET_SPAN}"));
            }
            let c = if !deltas.is_empty() {
                running = running.saturating_add(deltas[k]);
                running.max(0) as u64
            } else {
                counts[k].max(0.0).round() as u64
            };
            out.insert(idx as i32, c);
            idx += 1;
            k += 1;
        }
    }
    Ok(out)
}

/// Dense OTLP buckets (offset, counts); OTLP index = Prometheus index − 1.
fn dense(b: &BTreeMap<i32, u64>) -> Option<pm::exponential_histogram_data_point::Buckets> {
    let (first, last) = (*b.keys().next()?, *b.keys().next_back()?);
    let mut counts = vec![0u64; (last as i64 - first as i64) as usize + 1];
    for (i, c) in b {
        counts[(*i as i64 - first as i64) as usize] = *c;
    }
    Some(pm::exponential_histogram_data_point::Buckets {
        offset: first.saturating_sub(1),
        bucket_counts: counts,
    })
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_string())),
        }),
        ..Default::default()
    }
}

/// A decoded series: labels and its samples / histograms.
struct Series {
    labels: Vec<(String, String)>,
    samples: Vec<v1::Sample>,
    histograms: Vec<Histogram>,
    exemplars: usize,
}

#[derive(Default)]
struct Converted {
    request: ExportMetricsServiceRequest,
    samples: u64,
    histograms: u64,
    rejected: Vec<String>,
}

fn convert(series: Vec<Series>) -> Converted {
    let mut out = Converted::default();
    // Per job (which becomes the resource's service.name), per name.
    let mut by_job: BTreeMap<String, BTreeMap<String, Vec<pm::Metric>>> = BTreeMap::new();
    for s in series {
        let Some(name) = s
            .labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .map(|(_, v)| v.clone())
        else {
            out.rejected.push("series without __name__".into());
            continue;
        };
        if name.is_empty() {
            out.rejected.push("series with an empty __name__".into());
            continue;
        }
        let attributes: Vec<KeyValue> = s
            .labels
            .iter()
            .filter(|(k, v)| k != "__name__" && !k.is_empty() && !v.is_empty())
            .map(|(k, v)| kv(k, v))
            .collect();
        let ns = |ms: i64| (ms.max(0) as u64).saturating_mul(1_000_000);
        let points: Vec<pm::NumberDataPoint> = s
            .samples
            .iter()
            .map(|x| {
                let stale = x.value.to_bits() == STALE_NAN_BITS;
                pm::NumberDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: ns(x.timestamp),
                    value: Some(pm::number_data_point::Value::AsDouble(x.value)),
                    flags: stale as u32,
                    ..Default::default()
                }
            })
            .collect();
        out.samples += points.len() as u64;
        let job = s
            .labels
            .iter()
            .find(|(k, _)| k == "job")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let metrics = by_job
            .entry(job)
            .or_default()
            .entry(name.clone())
            .or_default();
        if !points.is_empty() {
            metrics.push(pm::Metric {
                name: name.clone(),
                data: Some(pm::metric::Data::Gauge(pm::Gauge {
                    data_points: points,
                })),
                ..Default::default()
            });
        }
        let mut exp = Vec::new();
        let mut explicit = Vec::new();
        for h in &s.histograms {
            if !((-4..=8).contains(&h.schema) || h.schema == -53) {
                out.rejected.push(format!(
                    "{name}: unsupported native histogram schema {}",
                    h.schema
                ));
                continue;
            }
            let count = h
                .count_int
                .unwrap_or_else(|| h.count_float.unwrap_or(0.0).max(0.0).round() as u64);
            let pos = match expand(&h.positive_spans, &h.positive_deltas, &h.positive_counts) {
                Ok(p) => p,
                Err(e) => {
                    out.rejected.push(format!("{name}: {e}"));
                    continue;
                }
            };
            if h.schema == -53 {
                let mut counts = vec![0u64; h.custom_values.len() + 1];
                for (i, c) in pos {
                    if let Some(slot) = counts.get_mut(i.max(0) as usize) {
                        *slot = c;
                    }
                }
                explicit.push(pm::HistogramDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: ns(h.timestamp),
                    count,
                    sum: Some(h.sum),
                    bucket_counts: counts,
                    explicit_bounds: h.custom_values.clone(),
                    ..Default::default()
                });
            } else {
                let neg = match expand(&h.negative_spans, &h.negative_deltas, &h.negative_counts) {
                    Ok(n) => n,
                    Err(e) => {
                        out.rejected.push(format!("{name}: {e}"));
                        continue;
                    }
                };
                exp.push(pm::ExponentialHistogramDataPoint {
                    attributes: attributes.clone(),
                    time_unix_nano: ns(h.timestamp),
                    count,
                    sum: Some(h.sum),
                    scale: h.schema,
                    zero_count: h.zero_count_int.unwrap_or_else(|| {
                        h.zero_count_float.unwrap_or(0.0).max(0.0).round() as u64
                    }),
                    zero_threshold: h.zero_threshold,
                    positive: dense(&pos),
                    negative: dense(&neg),
                    ..Default::default()
                });
            }
        }
        out.histograms += (exp.len() + explicit.len()) as u64;
        let cumulative = pm::AggregationTemporality::Cumulative as i32;
        if !exp.is_empty() {
            metrics.push(pm::Metric {
                name: name.clone(),
                data: Some(pm::metric::Data::ExponentialHistogram(
                    pm::ExponentialHistogram {
                        data_points: exp,
                        aggregation_temporality: cumulative,
                    },
                )),
                ..Default::default()
            });
        }
        if !explicit.is_empty() {
            metrics.push(pm::Metric {
                name,
                data: Some(pm::metric::Data::Histogram(pm::Histogram {
                    data_points: explicit,
                    aggregation_temporality: cumulative,
                })),
                ..Default::default()
            });
        }
        let _ = s.exemplars;
    }
    out.request = ExportMetricsServiceRequest {
        resource_metrics: by_job
            .into_iter()
            .map(|(job, by_name)| {
                let mut attributes = vec![KeyValue {
                    key: REMOTE_WRITE_MARK.into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::BoolValue(true)),
                    }),
                    ..Default::default()
                }];
                if !job.is_empty() {
                    attributes.push(kv("service.name", &job));
                }
                pm::ResourceMetrics {
                    resource: Some(opentelemetry_proto::tonic::resource::v1::Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_metrics: vec![pm::ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: SCOPE.into(),
                            ..Default::default()
                        }),
                        metrics: by_name.into_values().flatten().collect(),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }
            })
            .collect(),
    };
    out
}

fn decode_v1(body: &[u8]) -> Result<Vec<Series>, ApiError> {
    let req = v1::WriteRequest::decode(body)
        .map_err(|e| ApiError::bad_request(format!("invalid remote-write 1.0 request: {e}")))?;
    Ok(req
        .timeseries
        .into_iter()
        .map(|t| Series {
            labels: t.labels.into_iter().map(|l| (l.name, l.value)).collect(),
            samples: t.samples,
            histograms: t.histograms,
            exemplars: t.exemplars.len(),
        })
        .collect())
}

fn decode_v2(body: &[u8]) -> Result<Vec<Series>, ApiError> {
    let req = v2::Request::decode(body)
        .map_err(|e| ApiError::bad_request(format!("invalid remote-write 2.0 request: {e}")))?;
    if req.symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request("symbols[0] must be the empty string"));
    }
    let sym = |i: u32| {
        req.symbols
            .get(i as usize)
            .cloned()
            .ok_or_else(|| ApiError::bad_request(format!("symbol reference {i} is out of range")))
    };
    let mut out = Vec::with_capacity(req.timeseries.len());
    for t in &req.timeseries {
        if t.labels_refs.len() % 2 != 0 {
            return Err(ApiError::bad_request(
                "labels_refs must hold name/value pairs",
            ));
        }
        let labels = t
            .labels_refs
            .chunks(2)
            .map(|p| Ok((sym(p[0])?, sym(p[1])?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        out.push(Series {
            labels,
            samples: t.samples.clone(),
            histograms: t.histograms.clone(),
            exemplars: t.exemplars.len(),
        });
    }
    Ok(out)
}

fn written(resp: &mut Response, samples: u64, histograms: u64) {
    let h = resp.headers_mut();
    h.insert(
        "X-Prometheus-Remote-Write-Samples-Written",
        HeaderValue::from(samples),
    );
    h.insert(
        "X-Prometheus-Remote-Write-Histograms-Written",
        HeaderValue::from(histograms),
    );
    h.insert(
        "X-Prometheus-Remote-Write-Exemplars-Written",
        HeaderValue::from(0u64),
    );
}

/// `POST /api/v1/write`.
pub async fn write(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let text = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (ctype, cenc) = (text(header::CONTENT_TYPE), text(header::CONTENT_ENCODING));
    let proto = ctype
        .split(';')
        .skip(1)
        .find_map(|p| p.trim().strip_prefix("proto=").map(str::to_string));
    let v2 = match (ctype.split(';').next().unwrap_or("").trim(), proto.as_deref()) {
        ("application/x-protobuf" | "", None | Some("prometheus.writerequest")) => false,
        ("application/x-protobuf", Some("io.prometheus.write.v2.request")) => true,
        _ => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("unsupported content type {ctype:?}: expected application/x-protobuf (remote-write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request"),
            ))
        }
    };
    if cenc != "snappy" {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "unsupported content encoding {cenc:?}: remote-write bodies are snappy-compressed"
            ),
        ));
    }
    let len = snap::raw::decompress_len(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid snappy body: {e}")))?;
    if len > st.max_decompressed_bytes {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "decompressed body exceeds the limit of {} bytes",
                st.max_decompressed_bytes
            ),
        ));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid snappy body: {e}")))?;
    let series = if v2 {
        decode_v2(&raw)?
    } else {
        decode_v1(&raw)?
    };
    let c = convert(series);
    let outcome = export(
        &st,
        Signal::Metrics,
        Encoding::Protobuf,
        c.request.encode_to_vec().into(),
    )
    .await?;
    let mut problems = c.rejected;
    if outcome.rejected > 0 {
        problems.push(format!(
            "{} points rejected: {}",
            outcome.rejected, outcome.error_message
        ));
    }
    let mut resp = if problems.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::bad_request(problems.join("; ")).into_response()
    };
    written(
        &mut resp,
        c.samples.saturating_sub(outcome.rejected),
        c.histograms,
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_buckets_expand() {
        // Spans: 2 buckets from index -1, then a gap of 2, 1 bucket.
        let spans = vec![
            BucketSpan {
                offset: -1,
                length: 2,
            },
            BucketSpan {
                offset: 2,
                length: 1,
            },
        ];
        let b = expand(&spans, &[3, -1, 4], &[]).unwrap();
        assert_eq!(
            b.into_iter().collect::<Vec<_>>(),
            vec![(-1, 3), (0, 2), (3, 6)]
        );
        let d = dense(&expand(&spans, &[], &[1.0, 2.0, 3.0]).unwrap()).unwrap();
        assert_eq!((d.offset, d.bucket_counts), (-2, vec![1, 2, 0, 0, 3]));
        // Spans that do not match the counts, or that reach too far, are refused.
        assert!(expand(&spans, &[1, 2], &[]).is_err());
        let far = vec![
            BucketSpan {
                offset: 0,
                length: 1,
            },
            BucketSpan {
                offset: 1_000_000_000,
                length: 1,
            },
        ];
        assert!(expand(&far, &[1, 1], &[]).is_err());
        let huge = vec![BucketSpan {
            offset: 0,
            length: u32::MAX,
        }];
        assert!(expand(&huge, &[1], &[]).is_err());
    }

    #[test]
    fn staleness_and_names() {
        let c = convert(vec![
            Series {
                labels: vec![("__name__".into(), "up".into()), ("job".into(), "a".into())],
                samples: vec![
                    v1::Sample {
                        value: 1.0,
                        timestamp: 1000,
                    },
                    v1::Sample {
                        value: f64::from_bits(STALE_NAN_BITS),
                        timestamp: 2000,
                    },
                ],
                histograms: vec![],
                exemplars: 0,
            },
            Series {
                labels: vec![("job".into(), "b".into())],
                samples: vec![],
                histograms: vec![],
                exemplars: 0,
            },
        ]);
        assert_eq!((c.samples, c.rejected.len()), (2, 1));
        let rm = &c.request.resource_metrics[0];
        assert_eq!(
            rm.resource.as_ref().unwrap().attributes[1].key,
            "service.name"
        );
        let m = &rm.scope_metrics[0].metrics[0];
        let Some(pm::metric::Data::Gauge(g)) = &m.data else {
            panic!("gauge")
        };
        assert_eq!((g.data_points[0].flags, g.data_points[1].flags), (0, 1));
        assert_eq!(g.data_points[0].attributes[0].key, "job");
    }
}
