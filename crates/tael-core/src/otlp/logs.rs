//! ExportLogsServiceRequest → [`LogRecord`]s.

use super::{capped_attrs, ns, opt_id_hex, resource_parts, scope_of, MapLimits, Mapped};
use crate::attr::any_to_json;
use crate::model::{severity_name, LogRecord};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

/// Maps every log record of the request; invalid records are rejected.
pub fn logs_from_request(req: &ExportLogsServiceRequest, limits: MapLimits) -> Mapped<LogRecord> {
    let mut out = Mapped::default();
    for rl in &req.resource_logs {
        let (resource, service) = resource_parts(rl.resource.as_ref(), limits);
        for sl in &rl.scope_logs {
            let scope = scope_of(sl.scope.as_ref(), limits);
            for r in &sl.log_records {
                let ids = opt_id_hex(&r.trace_id, 16, "trace_id")
                    .and_then(|t| opt_id_hex(&r.span_id, 8, "span_id").map(|s| (t, s)));
                let (trace_id, span_id) = match ids {
                    Ok(v) => v,
                    Err(why) => {
                        out.reject(&format!("log record: {why}"));
                        continue;
                    }
                };
                let severity = severity_name(r.severity_number);
                let severity_text = if r.severity_text.is_empty() {
                    severity.to_ascii_uppercase()
                } else {
                    r.severity_text.clone()
                };
                let (attributes, dropped) = capped_attrs(&r.attributes, limits);
                out.items.push(LogRecord {
                    // Time 0 means unknown: the observed time stands in
                    // (OTLP log data model), so windows and retention see
                    // the record when it happened, not in 1970.
                    time_ns: ns(if r.time_unix_nano == 0 {
                        r.observed_time_unix_nano
                    } else {
                        r.time_unix_nano
                    }),
                    observed_ns: ns(r.observed_time_unix_nano),
                    trace_id,
                    span_id,
                    severity: severity.to_string(),
                    severity_text,
                    severity_number: r.severity_number,
                    body: any_to_json(r.body.as_ref()),
                    service: service.clone(),
                    attributes,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    flags: r.flags,
                    event_name: r.event_name.clone(),
                    dropped_attributes_count: r.dropped_attributes_count.saturating_add(dropped),
                });
            }
        }
    }
    out
}
