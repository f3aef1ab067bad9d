//! Services with span count, trace count, average duration and error rate
//! over all stored data, from the store's rollup (never a scan; rollups of
//! several stores merge).

use crate::store::Store;
use crate::QueryError;
use tael_core::model::ServiceInfo;
use tael_storage::rollup::Rollup;

/// The services of a store.
pub async fn services(store: &dyn Store) -> Result<Vec<ServiceInfo>, QueryError> {
    Ok(list_services(&store.service_rollup().await?))
}

/// Services sorted by span count (descending), then name.
pub fn list_services(rollup: &Rollup) -> Vec<ServiceInfo> {
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
