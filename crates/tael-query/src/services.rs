//! Services with span count, trace count, average duration and error rate
//! over all stored data, from rollups (never a scan).

use tael_core::model::ServiceInfo;
use tael_storage::Engine;

/// Services sorted by span count (descending), then name.
pub fn list_services(engine: &Engine) -> Vec<ServiceInfo> {
    let rollup = engine.services_rollup();
    let mut out: Vec<ServiceInfo> = rollup
        .services
        .iter()
        .map(|(name, r)| ServiceInfo {
            name: name.clone(),
            span_count: r.span_count as i64,
            trace_count: r.traces.count() as i64,
            avg_duration_ms: if r.span_count > 0 {
                r.duration_sum_ms / r.span_count as f64
            } else {
                0.0
            },
            error_rate: if r.span_count > 0 {
                r.error_count as f64 / r.span_count as f64
            } else {
                0.0
            },
        })
        .collect();
    out.sort_by(|a, b| {
        b.span_count
            .cmp(&a.span_count)
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}
