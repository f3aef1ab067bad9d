//! Memtables: what has been acknowledged but not yet flushed to Parquet, per
//! signal, as chunks of rows (one chunk per ingested batch, shared with
//! query snapshots by `Arc`, so a query never holds a lock while it scans).
//! Also the recent-item filter that drops exact re-deliveries (client retries).

use crate::rollup::Rollup;
use serde_json::Value;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use tael_core::model::{Attrs, LogRecord, MetricPoint, Span};

/// Unflushed rows of all three signals.
#[derive(Debug, Default, Clone)]
pub struct Memtable {
    pub spans: Vec<Arc<Vec<Span>>>,
    pub logs: Vec<Arc<Vec<LogRecord>>>,
    pub metrics: Vec<Arc<Vec<MetricPoint>>>,
    pub rollup: Rollup,
    /// Approximate heap bytes held.
    pub bytes: usize,
    pub rows: usize,
    /// Wall-clock ns of the first insert (0 when empty).
    pub first_insert_ns: i64,
}

impl Memtable {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn touch(&mut self, rows: usize, bytes: usize) {
        if self.rows == 0 {
            self.first_insert_ns = tael_core::time::now_ns();
        }
        self.rows += rows;
        self.bytes += bytes;
    }

    pub fn push_spans(&mut self, spans: Vec<Span>) {
        if spans.is_empty() {
            return;
        }
        let bytes: usize = spans.iter().map(span_bytes).sum();
        for s in &spans {
            self.rollup.add(
                &s.service,
                &s.trace_id,
                s.duration_ms(),
                s.status == "error",
            );
        }
        self.touch(spans.len(), bytes);
        self.spans.push(Arc::new(spans));
    }

    pub fn push_logs(&mut self, logs: Vec<LogRecord>) {
        if logs.is_empty() {
            return;
        }
        let bytes: usize = logs.iter().map(log_bytes).sum();
        self.touch(logs.len(), bytes);
        self.logs.push(Arc::new(logs));
    }

    pub fn push_metrics(&mut self, points: Vec<MetricPoint>) {
        if points.is_empty() {
            return;
        }
        let bytes: usize = points.iter().map(metric_bytes).sum();
        self.touch(points.len(), bytes);
        self.metrics.push(Arc::new(points));
    }
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::String(s) => 24 + s.len(),
        Value::Array(a) => 24 + a.iter().map(value_bytes).sum::<usize>(),
        Value::Object(m) => attrs_bytes(m),
        _ => 16,
    }
}

fn attrs_bytes(a: &Attrs) -> usize {
    a.iter().map(|(k, v)| 48 + k.len() + value_bytes(v)).sum()
}

fn span_bytes(s: &Span) -> usize {
    320 + s.operation.len()
        + s.status_message.len()
        + s.trace_state.len()
        + attrs_bytes(&s.attributes)
        + s.events
            .iter()
            .map(|e| 64 + e.name.len() + attrs_bytes(&e.attributes))
            .sum::<usize>()
        + s.links
            .iter()
            .map(|l| 128 + attrs_bytes(&l.attributes))
            .sum::<usize>()
}

fn log_bytes(l: &LogRecord) -> usize {
    256 + value_bytes(&l.body)
        + l.severity_text.len()
        + l.event_name.len()
        + attrs_bytes(&l.attributes)
}

fn metric_bytes(m: &MetricPoint) -> usize {
    256 + m.name.len()
        + m.description.len()
        + m.unit.len()
        + attrs_bytes(&m.attributes)
        + m.distribution
            .as_ref()
            .map(|d| {
                64 + 8 * (d.bucket_counts.len() + d.explicit_bounds.len()) + 16 * d.quantiles.len()
            })
            .unwrap_or(0)
        + m.exemplars.iter().map(value_bytes).sum::<usize>()
}

/// Identity of a span for re-delivery detection: (trace_id, span_id).
pub fn span_key(s: &Span) -> u64 {
    let mut h = DefaultHasher::new();
    0u8.hash(&mut h);
    s.trace_id.hash(&mut h);
    s.span_id.hash(&mut h);
    h.finish()
}

/// Identity of a log record: all of its content.
pub fn log_key(l: &LogRecord) -> u64 {
    let mut h = DefaultHasher::new();
    1u8.hash(&mut h);
    l.time_ns.hash(&mut h);
    l.observed_ns.hash(&mut h);
    l.trace_id.hash(&mut h);
    l.span_id.hash(&mut h);
    l.service.hash(&mut h);
    l.severity_number.hash(&mut h);
    l.severity_text.hash(&mut h);
    l.event_name.hash(&mut h);
    l.body.to_string().hash(&mut h);
    Value::Object(l.attributes.clone()).to_string().hash(&mut h);
    h.finish()
}

/// Identity of a metric point: series, timestamps and value.
pub fn metric_key(m: &MetricPoint) -> u64 {
    let mut h = DefaultHasher::new();
    2u8.hash(&mut h);
    m.name.hash(&mut h);
    m.service.hash(&mut h);
    m.metric_type.hash(&mut h);
    m.time_ns.hash(&mut h);
    m.start_ns.hash(&mut h);
    m.value.to_bits().hash(&mut h);
    Value::Object(m.attributes.clone()).to_string().hash(&mut h);
    Value::Object((*m.resource).clone())
        .to_string()
        .hash(&mut h);
    m.distribution
        .as_ref()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .hash(&mut h);
    h.finish()
}

/// Remembers the keys of the last `capacity` items and filters repeats.
#[derive(Debug)]
pub struct RecentKeys {
    set: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl RecentKeys {
    pub fn new(capacity: usize) -> Self {
        RecentKeys {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Keeps the items not seen recently; remembers them. Returns how many
    /// were dropped as repeats.
    pub fn filter<T>(&mut self, items: &mut Vec<T>, key: impl Fn(&T) -> u64) -> usize {
        if self.capacity == 0 {
            return 0;
        }
        let before = items.len();
        items.retain(|it| {
            let k = key(it);
            if self.set.insert(k) {
                self.order.push_back(k);
                true
            } else {
                false
            }
        });
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        before - items.len()
    }
}
