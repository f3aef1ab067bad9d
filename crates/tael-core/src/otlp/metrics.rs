//! ExportMetricsServiceRequest → [`MetricPoint`]s (one per data point).

use super::{capped_attrs, ns, resource_parts, scope_of, MapLimits, Mapped};
use crate::model::{Attrs, Distribution, ExponentialBuckets, MetricPoint, Quantile, Scope};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar, Metric, NumberDataPoint,
};
use serde_json::{json, Value};

fn temporality_name(t: i32) -> &'static str {
    match t {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    }
}

fn exemplars_json(ex: &[Exemplar]) -> Vec<Value> {
    ex.iter()
        .map(|e| {
            let value = match e.value {
                Some(exemplar::Value::AsDouble(d)) => json!(d),
                Some(exemplar::Value::AsInt(i)) => json!(i),
                None => Value::Null,
            };
            json!({
                "timestamp": crate::time::format_rfc3339(ns(e.time_unix_nano)),
                "value": value,
                "trace_id": hex::encode(&e.trace_id),
                "span_id": hex::encode(&e.span_id),
                "filtered_attributes": crate::attr::kvs_to_json_map(&e.filtered_attributes),
            })
        })
        .collect()
}

struct Ctx<'a> {
    service: &'a str,
    resource: &'a std::sync::Arc<Attrs>,
    scope: &'a std::sync::Arc<Scope>,
    metric: &'a Metric,
    limits: MapLimits,
}

impl Ctx<'_> {
    /// A point of this metric with the fields every data point kind shares.
    fn point(
        &self,
        metric_type: &str,
        attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
        (start, time): (u64, u64),
        flags: u32,
    ) -> MetricPoint {
        let (attributes, _dropped) = capped_attrs(attrs, self.limits);
        MetricPoint {
            time_ns: ns(time),
            start_ns: ns(start),
            flags,
            service: self.service.to_string(),
            name: self.metric.name.clone(),
            description: self.metric.description.clone(),
            unit: self.metric.unit.clone(),
            metric_type: metric_type.to_string(),
            attributes,
            resource: self.resource.clone(),
            scope: self.scope.clone(),
            ..Default::default()
        }
    }

    fn number(&self, metric_type: &str, dp: &NumberDataPoint) -> Option<MetricPoint> {
        let value = match dp.value? {
            number_data_point::Value::AsDouble(d) => d,
            number_data_point::Value::AsInt(i) => i as f64,
        };
        let times = (dp.start_time_unix_nano, dp.time_unix_nano);
        let mut p = self.point(metric_type, &dp.attributes, times, dp.flags);
        p.value = value;
        p.exemplars = exemplars_json(&dp.exemplars);
        Some(p)
    }
}

/// Maps every data point of the request. Points without a value are
/// rejected (counted for `partial_success`).
pub fn metrics_from_request(
    req: &ExportMetricsServiceRequest,
    limits: MapLimits,
) -> Mapped<MetricPoint> {
    let mut out = Mapped::default();
    for rm in &req.resource_metrics {
        let (resource, service) = resource_parts(rm.resource.as_ref(), limits);
        for sm in &rm.scope_metrics {
            let scope = scope_of(sm.scope.as_ref(), limits);
            for metric in &sm.metrics {
                let ctx = Ctx {
                    service: &service,
                    resource: &resource,
                    scope: &scope,
                    metric,
                    limits,
                };
                let Some(data) = metric.data.as_ref() else {
                    out.reject(&format!("metric {:?}: no data", metric.name));
                    continue;
                };
                match data {
                    Data::Gauge(g) => {
                        for dp in &g.data_points {
                            match ctx.number("gauge", dp) {
                                Some(p) => out.items.push(p),
                                None => out.reject(&format!(
                                    "metric {:?}: data point without value",
                                    metric.name
                                )),
                            }
                        }
                    }
                    Data::Sum(s) => {
                        for dp in &s.data_points {
                            match ctx.number("sum", dp) {
                                Some(mut p) => {
                                    p.temporality =
                                        temporality_name(s.aggregation_temporality).into();
                                    p.is_monotonic = Some(s.is_monotonic);
                                    out.items.push(p);
                                }
                                None => out.reject(&format!(
                                    "metric {:?}: data point without value",
                                    metric.name
                                )),
                            }
                        }
                    }
                    Data::Histogram(h) => {
                        for dp in &h.data_points {
                            let times = (dp.start_time_unix_nano, dp.time_unix_nano);
                            let mut p = ctx.point("histogram", &dp.attributes, times, dp.flags);
                            p.value = dp.sum.unwrap_or(0.0);
                            p.temporality = temporality_name(h.aggregation_temporality).into();
                            p.exemplars = exemplars_json(&dp.exemplars);
                            p.distribution = Some(Distribution {
                                count: dp.count,
                                sum: dp.sum,
                                min: dp.min,
                                max: dp.max,
                                bucket_counts: dp.bucket_counts.clone(),
                                explicit_bounds: dp.explicit_bounds.clone(),
                                ..Default::default()
                            });
                            out.items.push(p);
                        }
                    }
                    Data::ExponentialHistogram(h) => {
                        for dp in &h.data_points {
                            let times = (dp.start_time_unix_nano, dp.time_unix_nano);
                            let mut p = ctx.point("histogram", &dp.attributes, times, dp.flags);
                            p.value = dp.sum.unwrap_or(0.0);
                            p.temporality = temporality_name(h.aggregation_temporality).into();
                            p.exemplars = exemplars_json(&dp.exemplars);
                            let pos = dp.positive.as_ref();
                            let neg = dp.negative.as_ref();
                            p.distribution = Some(Distribution {
                                count: dp.count,
                                sum: dp.sum,
                                min: dp.min,
                                max: dp.max,
                                exponential: Some(ExponentialBuckets {
                                    scale: dp.scale,
                                    zero_count: dp.zero_count,
                                    zero_threshold: dp.zero_threshold,
                                    positive_offset: pos.map(|b| b.offset).unwrap_or(0),
                                    positive_bucket_counts: pos
                                        .map(|b| b.bucket_counts.clone())
                                        .unwrap_or_default(),
                                    negative_offset: neg.map(|b| b.offset).unwrap_or(0),
                                    negative_bucket_counts: neg
                                        .map(|b| b.bucket_counts.clone())
                                        .unwrap_or_default(),
                                }),
                                ..Default::default()
                            });
                            out.items.push(p);
                        }
                    }
                    Data::Summary(s) => {
                        for dp in &s.data_points {
                            let times = (dp.start_time_unix_nano, dp.time_unix_nano);
                            let mut p = ctx.point("summary", &dp.attributes, times, dp.flags);
                            p.value = dp.sum;
                            p.distribution = Some(Distribution {
                                count: dp.count,
                                sum: Some(dp.sum),
                                quantiles: dp
                                    .quantile_values
                                    .iter()
                                    .map(|q| Quantile {
                                        quantile: q.quantile,
                                        value: q.value,
                                    })
                                    .collect(),
                                ..Default::default()
                            });
                            out.items.push(p);
                        }
                    }
                }
            }
        }
    }
    out
}
