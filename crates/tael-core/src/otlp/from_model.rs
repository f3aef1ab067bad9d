//! Stored spans back to OTLP protobuf types (`TracesData`): the inverse of
//! the trace mapping, for APIs that answer in OTLP (Jaeger api_v3 over
//! HTTP and gRPC). Spans are grouped under their resource and scope, in
//! the order they first appear; typed attribute JSON (see [`crate::attr`])
//! becomes `AnyValue`s again.

use crate::model::{Attrs, Scope, Span};
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as PV, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pt;
use serde_json::Value;
use std::sync::Arc;

/// The OTLP span kind of a stored kind name (0 for unknown names).
pub fn kind_code(name: &str) -> i32 {
    match name {
        "internal" => 1,
        "server" => 2,
        "client" => 3,
        "producer" => 4,
        "consumer" => 5,
        _ => 0,
    }
}

/// The OTLP status code of a stored status name.
pub fn status_code(name: &str) -> i32 {
    match name {
        "ok" => 1,
        "error" => 2,
        _ => 0,
    }
}

/// One typed JSON value as an OTLP value (`null` is an empty value).
pub fn json_to_any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::String(s) => Some(PV::StringValue(s.clone())),
        Value::Bool(b) => Some(PV::BoolValue(*b)),
        Value::Number(n) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => PV::IntValue(i),
            (_, Some(f)) => PV::DoubleValue(f),
            _ => PV::StringValue(n.to_string()),
        }),
        Value::Array(a) => Some(PV::ArrayValue(ArrayValue {
            values: a.iter().map(json_to_any).collect(),
        })),
        Value::Object(m) => Some(match single(m) {
            Some(("bytesValue", Value::String(b))) => {
                match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) => PV::BytesValue(bytes),
                    Err(_) => PV::StringValue(b.clone()),
                }
            }
            Some(("doubleValue", Value::String(d))) => PV::DoubleValue(match d.as_str() {
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => f64::NAN,
            }),
            Some(("stringValueStrindex", Value::Number(i))) => {
                PV::StringValueStrindex(i.as_i64().unwrap_or(0) as i32)
            }
            _ => PV::KvlistValue(KeyValueList {
                values: attrs_to_kvs(m),
            }),
        }),
    };
    AnyValue { value }
}

fn single(m: &serde_json::Map<String, Value>) -> Option<(&str, &Value)> {
    let mut it = m.iter();
    match (it.next(), it.next()) {
        (Some((k, v)), None) => Some((k.as_str(), v)),
        _ => None,
    }
}

/// A typed attribute map as OTLP key/values (in the map's order).
pub fn attrs_to_kvs(m: &Attrs) -> Vec<KeyValue> {
    m.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(json_to_any(v)),
            ..Default::default()
        })
        .collect()
}

fn id_bytes(hex_id: &str) -> Vec<u8> {
    hex::decode(hex_id).unwrap_or_default()
}

fn span(s: &Span) -> pt::Span {
    pt::Span {
        trace_id: id_bytes(&s.trace_id),
        span_id: id_bytes(&s.span_id),
        trace_state: s.trace_state.clone(),
        parent_span_id: s
            .parent_span_id
            .as_deref()
            .map(id_bytes)
            .unwrap_or_default(),
        flags: s.flags,
        name: s.operation.clone(),
        kind: kind_code(&s.kind),
        start_time_unix_nano: s.start_ns.max(0) as u64,
        end_time_unix_nano: s.end_ns.max(0) as u64,
        attributes: attrs_to_kvs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_ns.max(0) as u64,
                name: e.name.clone(),
                attributes: attrs_to_kvs(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pt::span::Link {
                trace_id: id_bytes(&l.trace_id),
                span_id: id_bytes(&l.span_id),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to_kvs(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(pt::Status {
            message: s.status_message.clone(),
            code: status_code(&s.status),
        }),
    }
}

fn scope(s: &Scope) -> Option<InstrumentationScope> {
    (s != &Scope::default()).then(|| InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: attrs_to_kvs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
    })
}

/// The index of `key`'s group in `groups`, a new empty group at the end
/// when there is none yet. Keys are shared values (a batch's spans share
/// one resource), so pointers are compared before contents.
pub fn group_of<K: PartialEq, V: Default>(groups: &mut Vec<(Arc<K>, V)>, key: &Arc<K>) -> usize {
    match groups
        .iter()
        .position(|(k, _)| Arc::ptr_eq(k, key) || **k == **key)
    {
        Some(i) => i,
        None => {
            groups.push((key.clone(), V::default()));
            groups.len() - 1
        }
    }
}

type ScopeGroups = Vec<(Arc<Scope>, Vec<pt::Span>)>;

/// The spans as OTLP `TracesData`: one `ResourceSpans` per distinct
/// resource, one `ScopeSpans` per distinct scope inside it.
pub fn traces_data(spans: &[Span]) -> pt::TracesData {
    let mut groups: Vec<(Arc<Attrs>, ScopeGroups)> = Vec::new();
    for s in spans {
        let gi = group_of(&mut groups, &s.resource);
        let scopes = &mut groups[gi].1;
        let si = group_of(scopes, &s.scope);
        scopes[si].1.push(span(s));
    }
    pt::TracesData {
        resource_spans: groups
            .into_iter()
            .map(|(resource, scopes)| pt::ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs_to_kvs(&resource),
                    ..Default::default()
                }),
                scope_spans: scopes
                    .into_iter()
                    .map(|(sc, spans)| pt::ScopeSpans {
                        scope: scope(&sc),
                        spans,
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::json_encode;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use proptest::prelude::*;

    proptest! {
        /// Mapping an export to spans and back gives spans that map to the
        /// same stored spans: nothing the store keeps is lost on the way out.
        #[test]
        fn stored_spans_survive_the_way_back(req in crate::otlp::testing::trace_request()) {
            let limits = crate::otlp::MapLimits::default();
            let prices = crate::llm::prices::PriceTable::builtin();
            let first = crate::otlp::traces::spans_from_request(&req, limits, &prices).items;
            let back = traces_data(&first);
            let again = crate::otlp::traces::spans_from_request(
                &ExportTraceServiceRequest { resource_spans: back.resource_spans.clone() },
                limits,
                &prices,
            )
            .items;
            prop_assert_eq!(&first, &again);
            // The JSON encoder takes the same shape.
            let json = json_encode::traces_data(&back);
            prop_assert!(json.get("resourceSpans").is_some());
        }
    }

    #[test]
    fn typed_values_map_back() {
        let v: Value = serde_json::json!({
            "s": "x", "b": true, "i": 7, "d": 1.5, "n": null,
            "a": [1, "two"], "m": {"k": 1},
            "bytes": {"bytesValue": "AQI="}, "nan": {"doubleValue": "NaN"}
        });
        let Value::Object(m) = v else { unreachable!() };
        let kvs = attrs_to_kvs(&m);
        let back = crate::attr::kvs_to_json_map(&kvs);
        assert_eq!(back.get("s"), m.get("s"));
        assert_eq!(back.get("i"), m.get("i"));
        assert_eq!(back.get("d"), m.get("d"));
        assert_eq!(back.get("a"), m.get("a"));
        assert_eq!(back.get("m"), m.get("m"));
        assert_eq!(back.get("bytes"), m.get("bytes"));
        assert_eq!(back.get("nan"), m.get("nan"));
        assert_eq!(back.get("n"), Some(&Value::Null));
    }
}
