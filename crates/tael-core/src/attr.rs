//! Attribute values: the lossless typed JSON form tael stores and serves, and
//! the flat `string → string` form kept for tael 0.5 compatibility.
//!
//! Typed form (stored in Parquet as JSON text, served as `attribute_values`,
//! `resource`, scope attributes …):
//! string → JSON string; bool → JSON bool; int → JSON integer; double → JSON
//! number with a fraction or exponent (`1.0`, never `1`; NaN/±Inf become the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"` wrapped as `{"doubleValue": …}`);
//! array → JSON array; kvlist → JSON object; bytes → `{"bytesValue": base64}`.
//! An absent value is JSON `null`.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as PV, AnyValue, KeyValue};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Typed JSON for one OTLP value.
pub fn any_to_json(v: Option<&AnyValue>) -> Value {
    let Some(inner) = v.and_then(|a| a.value.as_ref()) else {
        return Value::Null;
    };
    match inner {
        PV::StringValue(s) => Value::String(s.clone()),
        PV::BoolValue(b) => Value::Bool(*b),
        PV::IntValue(i) => Value::from(*i),
        PV::DoubleValue(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => Value::Number(n),
            None => {
                let text = if d.is_nan() {
                    "NaN"
                } else if *d > 0.0 {
                    "Infinity"
                } else {
                    "-Infinity"
                };
                let mut m = Map::new();
                m.insert("doubleValue".into(), Value::String(text.into()));
                Value::Object(m)
            }
        },
        PV::ArrayValue(a) => Value::Array(a.values.iter().map(|x| any_to_json(Some(x))).collect()),
        PV::KvlistValue(kv) => Value::Object(kvs_to_json_map(&kv.values)),
        // Only used by the profiles signal (an index into its string table).
        PV::StringValueStrindex(i) => {
            let mut m = Map::new();
            m.insert("stringValueStrindex".into(), Value::from(*i));
            Value::Object(m)
        }
        PV::BytesValue(b) => {
            let mut m = Map::new();
            m.insert(
                "bytesValue".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            );
            Value::Object(m)
        }
    }
}

/// Typed JSON object for a key/value list (last duplicate key wins).
pub fn kvs_to_json_map(kvs: &[KeyValue]) -> Map<String, Value> {
    let mut m = Map::new();
    for kv in kvs {
        m.insert(kv.key.clone(), any_to_json(kv.value.as_ref()));
    }
    m
}

/// The flat string rendering of one typed value (tael 0.5 `attributes`):
/// strings as-is, numbers and bools as text, doubles in shortest form
/// (`1` for 1.0, as tael 0.5 did), arrays and maps as compact JSON.
pub fn json_to_flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                n.as_f64().map(|f| f.to_string()).unwrap_or_default()
            }
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("bytesValue") => {
            match m.get("bytesValue") {
                Some(Value::String(s)) => s.clone(),
                _ => v.to_string(),
            }
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("doubleValue") => {
            match m.get("doubleValue") {
                Some(Value::String(s)) => s.clone(),
                _ => v.to_string(),
            }
        }
        other => other.to_string(),
    }
}

/// Flat map from a typed map.
pub fn flatten(m: &Map<String, Value>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), json_to_flat(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn av(v: PV) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn typed_and_flat_forms() {
        let arr = av(PV::ArrayValue(ArrayValue {
            values: vec![av(PV::IntValue(1)), av(PV::StringValue("x".into()))],
        }));
        let map = av(PV::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(av(PV::BoolValue(true))),
                ..Default::default()
            }],
        }));
        assert_eq!(any_to_json(Some(&arr)).to_string(), r#"[1,"x"]"#);
        assert_eq!(any_to_json(Some(&map)).to_string(), r#"{"k":true}"#);
        assert_eq!(
            any_to_json(Some(&av(PV::DoubleValue(1.0)))).to_string(),
            "1.0"
        );
        assert_eq!(
            json_to_flat(&any_to_json(Some(&av(PV::DoubleValue(1.0))))),
            "1"
        );
        assert_eq!(
            json_to_flat(&any_to_json(Some(&av(PV::BytesValue(vec![1, 2]))))),
            "AQI="
        );
        assert_eq!(
            json_to_flat(&any_to_json(Some(&av(PV::DoubleValue(f64::NAN))))),
            "NaN"
        );
    }
}
