//! OTLP protobuf written as OTLP/JSON in one pass over the wire bytes,
//! by the same message tables the JSON transcoder reads ([`super::schema`]):
//! lowerCamelCase names, ids as hex, 64-bit integers as decimal strings,
//! enums as integers, bytes as base64, non-finite doubles as `"NaN"`,
//! `"Infinity"`, `"-Infinity"`. Fields absent on the wire are absent in
//! the JSON; unknown fields are dropped. A repeated field is one array
//! even when its elements are not contiguous on the wire.

use super::schema::{Field, Kind, Msg};
use crate::otlp::wire::{push_fixed64, push_varints, sint32, Reader, Value, MAX_DEPTH};
use crate::CoreError;
use base64::Engine;
use std::io::Write;

/// OTLP/JSON of an `ExportTraceServiceRequest`'s protobuf.
pub fn traces_to_json(protobuf: &[u8]) -> Result<Vec<u8>, CoreError> {
    to_json(&super::schema::TRACES, protobuf)
}

/// OTLP/JSON of an `ExportLogsServiceRequest`'s protobuf.
pub fn logs_to_json(protobuf: &[u8]) -> Result<Vec<u8>, CoreError> {
    to_json(&super::schema::LOGS, protobuf)
}

/// OTLP/JSON of an `ExportMetricsServiceRequest`'s protobuf.
pub fn metrics_to_json(protobuf: &[u8]) -> Result<Vec<u8>, CoreError> {
    to_json(&super::schema::METRICS, protobuf)
}

fn to_json(root: &'static Msg, protobuf: &[u8]) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::with_capacity(protobuf.len() * 2);
    message(root, protobuf, &mut out, 0)
        .map_err(|e| CoreError::InvalidArgument(format!("invalid OTLP protobuf: {e}")))?;
    Ok(out)
}

fn message(msg: &'static Msg, buf: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".into());
    }
    let mut fields: Vec<(u32, Value<'_>)> = Vec::new();
    let mut r = Reader::new(buf);
    while let Some(f) = r.next_field().map_err(|e| e.to_string())? {
        fields.push(f);
    }
    out.push(b'{');
    let mut first = true;
    for f in msg.0 {
        let mut values = fields
            .iter()
            .filter(|(tag, _)| *tag == f.tag)
            .map(|(_, v)| *v);
        let Some(one) = values.next() else {
            continue;
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(f.camel.as_bytes());
        out.extend_from_slice(b"\":");
        if f.repeated {
            out.push(b'[');
            let mut n = 0;
            for v in std::iter::once(one).chain(values) {
                elements(f, v, out, depth, &mut n)?;
            }
            out.push(b']');
        } else {
            // The last occurrence wins, as in protobuf.
            let v = values.next_back().unwrap_or(one);
            value(f, v, out, depth)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// The elements one wire value of a repeated field holds (several for a
/// packed encoding), each after a comma when `n` elements came before.
fn elements(
    f: &Field,
    v: Value<'_>,
    out: &mut Vec<u8>,
    depth: usize,
    n: &mut usize,
) -> Result<(), String> {
    let mut unpacked = Vec::new();
    let values: Vec<Value<'_>> = match f.kind {
        Kind::Fixed64 | Kind::Double => {
            push_fixed64(&mut unpacked, v, f.camel).map_err(|e| e.to_string())?;
            unpacked.into_iter().map(Value::Fixed64).collect()
        }
        Kind::UInt64 => {
            push_varints(&mut unpacked, v, f.camel).map_err(|e| e.to_string())?;
            unpacked.into_iter().map(Value::Varint).collect()
        }
        _ => vec![v],
    };
    for v in values {
        if *n > 0 {
            out.push(b',');
        }
        *n += 1;
        value(f, v, out, depth)?;
    }
    Ok(())
}

fn value(f: &Field, v: Value<'_>, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    let wrong = || format!("{}: unexpected wire type", f.camel);
    let quoted = |out: &mut Vec<u8>, s: &dyn std::fmt::Display| {
        let _ = write!(out, "\"{s}\"");
    };
    match (f.kind, v) {
        (Kind::Msg(m), Value::Bytes(b)) => message(m, b, out, depth + 1)?,
        (Kind::Str, Value::Bytes(b)) => {
            let s = std::str::from_utf8(b).map_err(|_| format!("{}: invalid UTF-8", f.camel))?;
            serde_json::to_writer(&mut *out, s).map_err(|e| e.to_string())?;
        }
        (Kind::Id(_), Value::Bytes(b)) => quoted(out, &hex::encode(b)),
        (Kind::Base64, Value::Bytes(b)) => {
            quoted(out, &base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Kind::Fixed64 | Kind::UInt64, Value::Fixed64(x) | Value::Varint(x)) => quoted(out, &x),
        (Kind::SFixed64 | Kind::Int64, Value::Fixed64(x) | Value::Varint(x)) => {
            quoted(out, &(x as i64))
        }
        (Kind::Fixed32, Value::Fixed32(x)) => {
            let _ = write!(out, "{x}");
        }
        (Kind::UInt32, Value::Varint(x)) => {
            let _ = write!(out, "{}", x as u32);
        }
        (Kind::Int32 | Kind::Enum(_), Value::Varint(x)) => {
            let _ = write!(out, "{}", x as i64 as i32);
        }
        (Kind::SInt32, Value::Varint(x)) => {
            let _ = write!(out, "{}", sint32(x));
        }
        (Kind::Double, Value::Fixed64(bits)) => {
            let d = f64::from_bits(bits);
            if d.is_nan() {
                out.extend_from_slice(b"\"NaN\"");
            } else if d.is_infinite() {
                out.extend_from_slice(if d > 0.0 {
                    b"\"Infinity\""
                } else {
                    b"\"-Infinity\""
                });
            } else {
                let _ = write!(
                    out,
                    "{}",
                    serde_json::Number::from_f64(d).ok_or_else(wrong)?
                );
            }
        }
        (Kind::Bool | Kind::LaxBool, Value::Varint(x)) => {
            out.extend_from_slice(if x != 0 { b"true" } else { b"false" })
        }
        _ => return Err(wrong()),
    }
    Ok(())
}
