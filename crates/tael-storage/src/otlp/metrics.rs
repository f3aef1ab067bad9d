//! `ExportMetricsServiceRequest` protobuf → a metrics batch (the part
//! schema in `columnar::metrics`, one row per data point) in one pass, as
//! `traces` does for spans. The mapping is the one
//! `tael_core::otlp::reference::metrics_from_request` specifies (a property test holds
//! the two equal): the `distribution` and `exemplars` JSON are written
//! here field by field in the order serde writes them there.

use super::json_text::{write_attrs, write_object, write_str};
use super::wire::{push_fixed64, push_varints, sint32, Reader, WireError};
use super::{for_each_item, Budget, Decoded, ResourceInfo, Rows, ScopeInfo, SharedCols};
use crate::columnar;
use crate::manifest::Signal;
use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch};
use arrow::array::{StringBuilder, UInt32Builder};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tael_core::otlp::{ns, MapLimits};

/// Column builders in schema order.
struct Builders {
    time_ns: Int64Builder,
    start_ns: Int64Builder,
    service: StringBuilder,
    name: StringBuilder,
    description: StringBuilder,
    unit: StringBuilder,
    metric_type: StringBuilder,
    value: Float64Builder,
    temporality: StringBuilder,
    is_monotonic: BooleanBuilder,
    distribution: StringBuilder,
    attributes: StringBuilder,
    shared: SharedCols,
    exemplars: StringBuilder,
    flags: UInt32Builder,
}

impl Builders {
    fn new(rows: usize) -> Self {
        let s = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        Builders {
            time_ns: Int64Builder::with_capacity(rows),
            start_ns: Int64Builder::with_capacity(rows),
            service: s(12),
            name: s(24),
            description: s(0),
            unit: s(2),
            metric_type: s(5),
            value: Float64Builder::with_capacity(rows),
            temporality: s(8),
            is_monotonic: BooleanBuilder::with_capacity(rows),
            distribution: s(0),
            attributes: s(48),
            shared: SharedCols::new(rows),
            exemplars: s(0),
            flags: UInt32Builder::with_capacity(rows),
        }
    }

    fn finish(mut self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.time_ns.finish()),
            Arc::new(self.start_ns.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.description.finish()),
            Arc::new(self.unit.finish()),
            Arc::new(self.metric_type.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.is_monotonic.finish()),
            Arc::new(self.distribution.finish()),
            Arc::new(self.attributes.finish()),
        ];
        cols.extend(self.shared.finish());
        cols.extend([
            Arc::new(self.exemplars.finish()) as ArrayRef,
            Arc::new(self.flags.finish()),
        ]);
        RecordBatch::try_new(columnar::metrics::schema(), cols)
    }
}

fn temporality_name(t: i32) -> &'static str {
    match t {
        1 => "delta",
        2 => "cumulative",
        _ => "unspecified",
    }
}

/// Appends a JSON number the way serde_json writes an `f64` (non-finite
/// values become `null`).
fn write_f64(out: &mut Vec<u8>, d: f64) {
    let _ = serde_json::to_writer(&mut *out, &d);
}

fn write_u64s(out: &mut Vec<u8>, vs: &[u64]) {
    let _ = serde_json::to_writer(&mut *out, vs);
}

/// The fields every data point kind has.
#[derive(Default)]
struct PointCommon<'a> {
    attributes: Vec<&'a [u8]>,
    start: u64,
    time: u64,
    flags: u32,
    exemplars: Vec<&'a [u8]>,
}

/// A histogram-like point's summary numbers.
#[derive(Default)]
struct Dist {
    count: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    bucket_counts: Vec<u64>,
    explicit_bounds: Vec<u64>,
}

impl Dist {
    /// `{"count":…,"sum":…,"min":…,"max":…,"bucket_counts":[…],"explicit_bounds":[…]`
    /// (absent and empty members left out); the caller closes the object.
    fn write_open(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"count\":");
        let _ = serde_json::to_writer(&mut *out, &self.count);
        for (name, v) in [("sum", self.sum), ("min", self.min), ("max", self.max)] {
            if let Some(v) = v {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                write_f64(out, v);
            }
        }
        if !self.bucket_counts.is_empty() {
            out.extend_from_slice(b",\"bucket_counts\":");
            write_u64s(out, &self.bucket_counts);
        }
        if !self.explicit_bounds.is_empty() {
            out.extend_from_slice(b",\"explicit_bounds\":[");
            for (i, b) in self.explicit_bounds.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_f64(out, f64::from_bits(*b));
            }
            out.push(b']');
        }
    }
}

/// Writes the exemplars JSON array ("" when there are none).
fn write_exemplars(out: &mut Vec<u8>, exemplars: &[&[u8]]) -> Result<(), WireError> {
    if exemplars.is_empty() {
        return Ok(());
    }
    out.push(b'[');
    for (i, e) in exemplars.iter().enumerate() {
        let (mut attrs, mut time, mut value) = (Vec::new(), 0u64, None);
        let (mut span_id, mut trace_id) = (&[][..], &[][..]);
        let mut r = Reader::new(e);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                7 => attrs.push(v.bytes("Exemplar.filtered_attributes")?),
                2 => time = v.fixed64("Exemplar.time_unix_nano")?,
                3 => value = Some(f64::from_bits(v.fixed64("Exemplar.as_double")?).into()),
                6 => value = Some(ExemplarValue::Int(v.fixed64("Exemplar.as_int")? as i64)),
                4 => span_id = v.bytes("Exemplar.span_id")?,
                5 => trace_id = v.bytes("Exemplar.trace_id")?,
                _ => {}
            }
        }
        if i > 0 {
            out.push(b',');
        }
        // Keys in byte order, as a serde_json object writes them.
        out.extend_from_slice(b"{\"filtered_attributes\":");
        write_object(out, &attrs, 1, None)?;
        out.extend_from_slice(b",\"span_id\":\"");
        out.extend_from_slice(hex::encode(span_id).as_bytes());
        out.extend_from_slice(b"\",\"timestamp\":");
        write_str(out, &tael_core::time::format_rfc3339(ns(time)));
        out.extend_from_slice(b",\"trace_id\":\"");
        out.extend_from_slice(hex::encode(trace_id).as_bytes());
        out.extend_from_slice(b"\",\"value\":");
        match value {
            Some(ExemplarValue::Double(d)) => write_f64(out, d),
            Some(ExemplarValue::Int(n)) => {
                let _ = serde_json::to_writer(&mut *out, &n);
            }
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

enum ExemplarValue {
    Double(f64),
    Int(i64),
}

impl From<f64> for ExemplarValue {
    fn from(d: f64) -> Self {
        ExemplarValue::Double(d)
    }
}

/// One decoded data point, ready to append.
struct Point {
    metric_type: &'static str,
    value: f64,
    temporality: &'static str,
    is_monotonic: Option<bool>,
}

impl Point {
    /// A histogram point (explicit or exponential): its value is the sum.
    fn histogram(d: &Dist, temporality: i32) -> Point {
        Point {
            metric_type: "histogram",
            value: d.sum.unwrap_or(0.0),
            temporality: temporality_name(temporality),
            is_monotonic: None,
        }
    }
}

/// Per-request decoding state.
struct Decoder {
    b: Builders,
    rows: Rows,
    limits: MapLimits,
    attrs: Vec<u8>,
    dist: Vec<u8>,
    exemplars: Vec<u8>,
}

/// The metric a point belongs to.
struct MetricInfo<'a> {
    name: &'a str,
    description: &'a str,
    unit: &'a str,
    kind: u32,
}

impl Decoder {
    fn reject(&mut self, why: String) {
        self.rows.reject(&why);
    }

    /// Appends one row; `dist`/`exemplars` hold their JSON (empty: none).
    fn append(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        m: &MetricInfo<'_>,
        c: &PointCommon<'_>,
        p: Point,
        raw: &[u8],
    ) -> Result<(), WireError> {
        self.attrs.clear();
        write_attrs(&mut self.attrs, &c.attributes, self.limits.max_attributes)?;
        let mut h = DefaultHasher::new();
        2u8.hash(&mut h);
        res.attributes.hash(&mut h);
        scope.name.hash(&mut h);
        scope.version.hash(&mut h);
        (m.name, m.description, m.unit, m.kind).hash(&mut h);
        raw.hash(&mut h);
        let time = ns(c.time);
        self.rows.add(h.finish(), time);
        let b = &mut self.b;
        b.time_ns.append_value(time);
        b.start_ns.append_value(ns(c.start));
        b.service.append_value(&res.service);
        b.name.append_value(m.name);
        b.description.append_value(m.description);
        b.unit.append_value(m.unit);
        b.metric_type.append_value(p.metric_type);
        b.value.append_value(p.value);
        b.temporality.append_value(p.temporality);
        b.is_monotonic.append_option(p.is_monotonic);
        match self.dist.is_empty() {
            true => b.distribution.append_null(),
            false => b.distribution.append_value(text(&self.dist)),
        }
        b.attributes.append_value(text(&self.attrs));
        b.shared.append(res, scope);
        b.exemplars.append_value(text(&self.exemplars));
        b.flags.append_value(c.flags);
        Ok(())
    }

    fn metric(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        bytes: &[u8],
        budget: &mut Budget,
    ) -> Result<(), WireError> {
        let mut m = MetricInfo {
            name: "",
            description: "",
            unit: "",
            kind: 0,
        };
        let mut data = None;
        let mut r = Reader::new(bytes);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => m.name = v.str("Metric.name")?,
                2 => m.description = v.str("Metric.description")?,
                3 => m.unit = v.str("Metric.unit")?,
                5 | 7 | 9 | 10 | 11 => data = Some((tag, v.bytes("Metric.data")?)),
                12 => {
                    // Not stored, but checked as prost would.
                    write_object(&mut Vec::new(), &[v.bytes("Metric.metadata")?], 1, None)?;
                }
                _ => {}
            }
        }
        let Some((kind, data)) = data else {
            self.reject(format!("metric {:?}: no data", m.name));
            return Ok(());
        };
        m.kind = kind;
        let (mut points, mut temporality, mut monotonic) = (Vec::new(), 0i32, false);
        let mut r = Reader::new(data);
        while let Some((tag, v)) = r.next_field()? {
            match (tag, kind) {
                (1, _) => points.push(v.bytes("data_points")?),
                (2, 7 | 9 | 10) => temporality = v.varint("aggregation_temporality")? as i32,
                (3, 7) => monotonic = v.varint("Sum.is_monotonic")? != 0,
                _ => {}
            }
        }
        // Every point row repeats the resource, scope and metric text.
        let shared = res.shared_len() + scope.shared_len() + m.name.len() + m.description.len();
        for point in points {
            budget.spend(shared + m.unit.len())?;
            self.dist.clear();
            self.exemplars.clear();
            match kind {
                5 | 7 => self.number(res, scope, &m, point, temporality, monotonic)?,
                9 => self.histogram(res, scope, &m, point, temporality)?,
                10 => self.exponential(res, scope, &m, point, temporality)?,
                _ => self.summary(res, scope, &m, point)?,
            }
        }
        Ok(())
    }

    fn number(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        m: &MetricInfo<'_>,
        bytes: &[u8],
        temporality: i32,
        monotonic: bool,
    ) -> Result<(), WireError> {
        let mut c = PointCommon::default();
        let mut value = None;
        let mut r = Reader::new(bytes);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                7 => c.attributes.push(v.bytes("NumberDataPoint.attributes")?),
                2 => c.start = v.fixed64("NumberDataPoint.start_time_unix_nano")?,
                3 => c.time = v.fixed64("NumberDataPoint.time_unix_nano")?,
                4 => value = Some(f64::from_bits(v.fixed64("NumberDataPoint.as_double")?)),
                6 => value = Some(v.fixed64("NumberDataPoint.as_int")? as i64 as f64),
                5 => c.exemplars.push(v.bytes("NumberDataPoint.exemplars")?),
                8 => c.flags = v.varint("NumberDataPoint.flags")? as u32,
                _ => {}
            }
        }
        let Some(value) = value else {
            self.reject(format!("metric {:?}: data point without value", m.name));
            return Ok(());
        };
        write_exemplars(&mut self.exemplars, &c.exemplars)?;
        let sum = m.kind == 7;
        let p = Point {
            metric_type: if sum { "sum" } else { "gauge" },
            value,
            temporality: if sum {
                temporality_name(temporality)
            } else {
                ""
            },
            is_monotonic: sum.then_some(monotonic),
        };
        self.append(res, scope, m, &c, p, bytes)
    }

    fn histogram(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        m: &MetricInfo<'_>,
        bytes: &[u8],
        temporality: i32,
    ) -> Result<(), WireError> {
        let mut c = PointCommon::default();
        let mut d = Dist::default();
        let mut r = Reader::new(bytes);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                9 => c.attributes.push(v.bytes("HistogramDataPoint.attributes")?),
                2 => c.start = v.fixed64("HistogramDataPoint.start_time_unix_nano")?,
                3 => c.time = v.fixed64("HistogramDataPoint.time_unix_nano")?,
                4 => d.count = v.fixed64("HistogramDataPoint.count")?,
                5 => d.sum = Some(f64::from_bits(v.fixed64("HistogramDataPoint.sum")?)),
                6 => push_fixed64(&mut d.bucket_counts, v, "HistogramDataPoint.bucket_counts")?,
                7 => push_fixed64(
                    &mut d.explicit_bounds,
                    v,
                    "HistogramDataPoint.explicit_bounds",
                )?,
                8 => c.exemplars.push(v.bytes("HistogramDataPoint.exemplars")?),
                10 => c.flags = v.varint("HistogramDataPoint.flags")? as u32,
                11 => d.min = Some(f64::from_bits(v.fixed64("HistogramDataPoint.min")?)),
                12 => d.max = Some(f64::from_bits(v.fixed64("HistogramDataPoint.max")?)),
                _ => {}
            }
        }
        write_exemplars(&mut self.exemplars, &c.exemplars)?;
        d.write_open(&mut self.dist);
        self.dist.push(b'}');
        self.append(res, scope, m, &c, Point::histogram(&d, temporality), bytes)
    }

    fn exponential(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        m: &MetricInfo<'_>,
        bytes: &[u8],
        temporality: i32,
    ) -> Result<(), WireError> {
        let mut c = PointCommon::default();
        let mut d = Dist::default();
        let (mut scale, mut zero_count, mut zero_threshold) = (0i32, 0u64, 0f64);
        let (mut positive, mut negative) = ((0i32, Vec::new()), (0i32, Vec::new()));
        let mut r = Reader::new(bytes);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                1 => c
                    .attributes
                    .push(v.bytes("ExponentialHistogramDataPoint.attributes")?),
                2 => c.start = v.fixed64("ExponentialHistogramDataPoint.start_time_unix_nano")?,
                3 => c.time = v.fixed64("ExponentialHistogramDataPoint.time_unix_nano")?,
                4 => d.count = v.fixed64("ExponentialHistogramDataPoint.count")?,
                5 => {
                    d.sum = Some(f64::from_bits(
                        v.fixed64("ExponentialHistogramDataPoint.sum")?,
                    ))
                }
                6 => scale = sint32(v.varint("ExponentialHistogramDataPoint.scale")?),
                7 => zero_count = v.fixed64("ExponentialHistogramDataPoint.zero_count")?,
                8 => positive = buckets(v.bytes("ExponentialHistogramDataPoint.positive")?)?,
                9 => negative = buckets(v.bytes("ExponentialHistogramDataPoint.negative")?)?,
                10 => c.flags = v.varint("ExponentialHistogramDataPoint.flags")? as u32,
                11 => c
                    .exemplars
                    .push(v.bytes("ExponentialHistogramDataPoint.exemplars")?),
                12 => {
                    d.min = Some(f64::from_bits(
                        v.fixed64("ExponentialHistogramDataPoint.min")?,
                    ))
                }
                13 => {
                    d.max = Some(f64::from_bits(
                        v.fixed64("ExponentialHistogramDataPoint.max")?,
                    ))
                }
                14 => {
                    zero_threshold =
                        f64::from_bits(v.fixed64("ExponentialHistogramDataPoint.zero_threshold")?)
                }
                _ => {}
            }
        }
        write_exemplars(&mut self.exemplars, &c.exemplars)?;
        let out = &mut self.dist;
        d.write_open(out);
        out.extend_from_slice(b",\"exponential\":{\"scale\":");
        let _ = serde_json::to_writer(&mut *out, &scale);
        out.extend_from_slice(b",\"zero_count\":");
        let _ = serde_json::to_writer(&mut *out, &zero_count);
        out.extend_from_slice(b",\"zero_threshold\":");
        write_f64(out, zero_threshold);
        out.extend_from_slice(b",\"positive_offset\":");
        let _ = serde_json::to_writer(&mut *out, &positive.0);
        out.extend_from_slice(b",\"positive_bucket_counts\":");
        write_u64s(out, &positive.1);
        out.extend_from_slice(b",\"negative_offset\":");
        let _ = serde_json::to_writer(&mut *out, &negative.0);
        out.extend_from_slice(b",\"negative_bucket_counts\":");
        write_u64s(out, &negative.1);
        out.extend_from_slice(b"}}");
        self.append(res, scope, m, &c, Point::histogram(&d, temporality), bytes)
    }

    fn summary(
        &mut self,
        res: &ResourceInfo,
        scope: &ScopeInfo<'_>,
        m: &MetricInfo<'_>,
        bytes: &[u8],
    ) -> Result<(), WireError> {
        let mut c = PointCommon::default();
        let (mut count, mut sum, mut quantiles) = (0u64, 0f64, Vec::new());
        let mut r = Reader::new(bytes);
        while let Some((tag, v)) = r.next_field()? {
            match tag {
                7 => c.attributes.push(v.bytes("SummaryDataPoint.attributes")?),
                2 => c.start = v.fixed64("SummaryDataPoint.start_time_unix_nano")?,
                3 => c.time = v.fixed64("SummaryDataPoint.time_unix_nano")?,
                4 => count = v.fixed64("SummaryDataPoint.count")?,
                5 => sum = f64::from_bits(v.fixed64("SummaryDataPoint.sum")?),
                6 => {
                    let (mut q, mut value) = (0f64, 0f64);
                    let mut r = Reader::new(v.bytes("SummaryDataPoint.quantile_values")?);
                    while let Some((tag, v)) = r.next_field()? {
                        match tag {
                            1 => q = f64::from_bits(v.fixed64("ValueAtQuantile.quantile")?),
                            2 => value = f64::from_bits(v.fixed64("ValueAtQuantile.value")?),
                            _ => {}
                        }
                    }
                    quantiles.push((q, value));
                }
                8 => c.flags = v.varint("SummaryDataPoint.flags")? as u32,
                _ => {}
            }
        }
        let d = Dist {
            count,
            sum: Some(sum),
            ..Default::default()
        };
        let out = &mut self.dist;
        d.write_open(out);
        if !quantiles.is_empty() {
            out.extend_from_slice(b",\"quantiles\":[");
            for (i, (q, v)) in quantiles.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"quantile\":");
                write_f64(out, *q);
                out.extend_from_slice(b",\"value\":");
                write_f64(out, *v);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
        let p = Point {
            metric_type: "summary",
            value: sum,
            temporality: "",
            is_monotonic: None,
        };
        self.append(res, scope, m, &c, p, bytes)
    }
}

/// An exponential histogram's `Buckets`: (offset, counts).
fn buckets(bytes: &[u8]) -> Result<(i32, Vec<u64>), WireError> {
    let (mut offset, mut counts) = (0i32, Vec::new());
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        match tag {
            1 => offset = sint32(v.varint("Buckets.offset")?),
            2 => push_varints(&mut counts, v, "Buckets.bucket_counts")?,
            _ => {}
        }
    }
    Ok((offset, counts))
}

fn text(b: &[u8]) -> &str {
    // Only ever holds JSON written from validated UTF-8.
    std::str::from_utf8(b).unwrap_or("")
}

/// Decodes a metrics export into a metrics batch (one row per data point).
/// Points without a value and metrics without data are rejected one by
/// one; a malformed payload is an error.
pub fn decode_metrics(payload: &[u8], limits: MapLimits) -> Result<Decoded, WireError> {
    let mut d = Decoder {
        b: Builders::new(payload.len() / 120 + 1),
        rows: Rows::default(),
        limits,
        attrs: Vec::new(),
        dist: Vec::new(),
        exemplars: Vec::new(),
    };
    let mut budget = Budget::for_payload(payload.len());
    for_each_item(
        payload,
        "metrics",
        limits,
        &mut budget,
        |res, scope, metric, budget| d.metric(res, scope, metric, budget),
    )?;
    d.rows.finish(Signal::Metrics, d.b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use prost::encoding::{bytes, double, fixed64, string, uint64};
    use prost::Message;

    fn nest(tag: u32, inner: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        bytes::encode(tag, &inner, &mut out);
        out
    }

    /// Repeated scalars may arrive unpacked (one field per value); prost
    /// accepts both encodings and so must the decoder.
    #[test]
    fn unpacked_repeated_fields_are_read() {
        let mut point = Vec::new();
        fixed64::encode(4, &3u64, &mut point);
        for c in [1u64, 2] {
            fixed64::encode(6, &c, &mut point);
        }
        double::encode(7, &0.5f64, &mut point);
        let mut exp_point = Vec::new();
        let mut buckets = Vec::new();
        for c in [7u64, 8] {
            uint64::encode(2, &c, &mut buckets);
        }
        exp_point.extend(nest(8, buckets));
        let mut metric = Vec::new();
        string::encode(1, &"h".to_string(), &mut metric);
        metric.extend(nest(9, nest(1, point)));
        let mut exp_metric = Vec::new();
        string::encode(1, &"e".to_string(), &mut exp_metric);
        exp_metric.extend(nest(10, nest(1, exp_point)));
        let mut scope = nest(2, metric);
        scope.extend(nest(2, exp_metric));
        let payload = nest(1, nest(2, scope));
        let got = decode_metrics(&payload, MapLimits::default()).unwrap();
        let req = ExportMetricsServiceRequest::decode(&payload[..]).unwrap();
        let mapped = tael_core::otlp::reference::metrics_from_request(&req, MapLimits::default());
        let refs: Vec<_> = mapped.items.iter().collect();
        let want = columnar::metrics::to_batch(&refs).unwrap();
        assert_eq!(got.prepared.batch, want);
        let dist = got.prepared.batch.column_by_name("distribution").unwrap();
        let text = format!("{dist:?}");
        assert!(text.contains("bucket_counts\\\":[1,2]"), "{text}");
        assert!(text.contains("positive_bucket_counts\\\":[7,8]"), "{text}");
    }
}
