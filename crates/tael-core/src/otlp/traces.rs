//! ExportTraceServiceRequest → [`Span`]s.

use super::{capped_attrs, id_hex, ns, opt_id_hex, resource_parts, scope_of, MapLimits, Mapped};
use crate::model::{Span, SpanEvent, SpanLink};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// The stored name of an OTLP span kind.
pub fn kind_name(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

/// The stored name of an OTLP status code.
pub fn status_name(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}

/// Maps every span of the request; invalid spans are rejected one by one.
/// LLM calls are priced with `prices`.
pub fn spans_from_request(
    req: &ExportTraceServiceRequest,
    limits: MapLimits,
    prices: &crate::llm::prices::PriceTable,
) -> Mapped<Span> {
    let mut out = Mapped::default();
    for rs in &req.resource_spans {
        let (resource, service) = resource_parts(rs.resource.as_ref(), limits);
        for ss in &rs.scope_spans {
            let scope = scope_of(ss.scope.as_ref(), limits);
            for s in &ss.spans {
                let ids = (|| {
                    Ok::<_, String>((
                        id_hex(&s.trace_id, 16, "trace_id")?,
                        id_hex(&s.span_id, 8, "span_id")?,
                        opt_id_hex(&s.parent_span_id, 8, "parent_span_id")?,
                    ))
                })();
                let (trace_id, span_id, parent_span_id) = match ids {
                    Ok(v) => v,
                    Err(why) => {
                        out.reject(&format!("span {:?}: {why}", s.name));
                        continue;
                    }
                };
                let (attributes, dropped) = capped_attrs(&s.attributes, limits);
                let mut events = Vec::with_capacity(s.events.len());
                for e in &s.events {
                    let (attributes, dropped) = capped_attrs(&e.attributes, limits);
                    events.push(SpanEvent {
                        name: e.name.clone(),
                        time_ns: ns(e.time_unix_nano),
                        attributes,
                        dropped_attributes_count: e
                            .dropped_attributes_count
                            .saturating_add(dropped),
                    });
                }
                let mut links = Vec::with_capacity(s.links.len());
                let mut bad_link = None;
                for l in &s.links {
                    let (attributes, dropped) = capped_attrs(&l.attributes, limits);
                    match (
                        id_hex(&l.trace_id, 16, "link trace_id"),
                        id_hex(&l.span_id, 8, "link span_id"),
                    ) {
                        (Ok(t), Ok(sp)) => links.push(SpanLink {
                            trace_id: t,
                            span_id: sp,
                            trace_state: l.trace_state.clone(),
                            flags: l.flags,
                            attributes,
                            dropped_attributes_count: l
                                .dropped_attributes_count
                                .saturating_add(dropped),
                        }),
                        (Err(e), _) | (_, Err(e)) => bad_link = Some(e),
                    }
                }
                if let Some(why) = bad_link {
                    out.reject(&format!("span {:?}: {why}", s.name));
                    continue;
                }
                let status = s.status.as_ref();
                let llm = crate::llm::extract(&attributes, &events, prices);
                out.items.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    service: service.clone(),
                    operation: s.name.clone(),
                    start_ns: ns(s.start_time_unix_nano),
                    end_ns: ns(s.end_time_unix_nano),
                    status: status_name(status.map(|x| x.code).unwrap_or(0)).to_string(),
                    status_message: status.map(|x| x.message.clone()).unwrap_or_default(),
                    kind: kind_name(s.kind).to_string(),
                    trace_state: s.trace_state.clone(),
                    flags: s.flags,
                    attributes,
                    events,
                    links,
                    resource: resource.clone(),
                    scope: scope.clone(),
                    dropped_attributes_count: s.dropped_attributes_count.saturating_add(dropped),
                    dropped_events_count: s.dropped_events_count,
                    dropped_links_count: s.dropped_links_count,
                    llm,
                });
            }
        }
    }
    out
}
