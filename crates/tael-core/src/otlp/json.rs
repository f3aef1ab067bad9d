//! OTLP/JSON (the OTLP/HTTP `application/json` encoding) transcoded
//! straight to the protobuf of the same request, in one streaming pass over
//! the JSON: no value tree, no intermediate request structs. The protobuf
//! is what the WAL keeps and what the column decoders read.
//!
//! The OTLP JSON rules: field names in lowerCamelCase (snake_case accepted
//! too), trace and span ids as hex (empty = absent), 64-bit integers as
//! strings or numbers, enums as integers or their names, `bytesValue` as
//! base64, doubles also as `"NaN"`, `"Infinity"`, `"-Infinity"`, `null` as
//! absent, unknown fields ignored. Errors name the JSON path of the
//! offending field (`$.resourceSpans[0].scopeSpans[0].spans[3].traceId`).
//!
//! Each message is a table of its fields ([`Msg`]): JSON names, protobuf
//! field number and how the value is written ([`Kind`]); the same tables
//! write protobuf back as OTLP/JSON ([`traces_to_json`] …). A nested message
//! is written in place after a one-byte length that is widened once its
//! size is known (most attributes fit in 127 bytes).

use crate::CoreError;
use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

mod schema;
mod to_json;
use schema::{Field, Kind, Msg};
pub use to_json::{logs_to_json, metrics_to_json, traces_to_json};

type R<T> = Result<T, CoreError>;

/// The protobuf of an OTLP/JSON trace export body.
pub fn traces_to_protobuf(body: &[u8]) -> R<Vec<u8>> {
    transcode(body, &schema::TRACES)
}

/// The protobuf of an OTLP/JSON logs export body.
pub fn logs_to_protobuf(body: &[u8]) -> R<Vec<u8>> {
    transcode(body, &schema::LOGS)
}

/// The protobuf of an OTLP/JSON metrics export body.
pub fn metrics_to_protobuf(body: &[u8]) -> R<Vec<u8>> {
    transcode(body, &schema::METRICS)
}

fn decoded<T: Message + Default>(protobuf: Vec<u8>) -> R<T> {
    T::decode(protobuf.as_slice())
        .map_err(|e| CoreError::InvalidArgument(format!("invalid OTLP/JSON: {e}")))
}

/// Decodes an OTLP/JSON trace export body.
pub fn decode_traces(body: &[u8]) -> R<ExportTraceServiceRequest> {
    decoded(traces_to_protobuf(body)?)
}

/// Decodes an OTLP/JSON logs export body.
pub fn decode_logs(body: &[u8]) -> R<ExportLogsServiceRequest> {
    decoded(logs_to_protobuf(body)?)
}

/// Decodes an OTLP/JSON metrics export body.
pub fn decode_metrics(body: &[u8]) -> R<ExportMetricsServiceRequest> {
    decoded(metrics_to_protobuf(body)?)
}

fn transcode(body: &[u8], root: &'static Msg) -> R<Vec<u8>> {
    let mut t = Transcoder {
        out: Vec::with_capacity(body.len() / 2),
        path: Vec::new(),
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = MsgSeed {
        t: &mut t,
        msg: root,
    }
    .deserialize(&mut de);
    let parsed = parsed.and_then(|()| de.end());
    match (parsed, t.failure) {
        (_, Some(f)) => Err(CoreError::InvalidArgument(f)),
        (Err(e), None) => Err(CoreError::InvalidArgument(format!(
            "invalid OTLP/JSON: {e}"
        ))),
        (Ok(()), None) => Ok(t.out),
    }
}

/// One step of the JSON path.
enum Step {
    Field(&'static str),
    Index(usize),
}

struct Transcoder {
    out: Vec<u8>,
    path: Vec<Step>,
    /// The first error, with its path (serde's own error then only stops
    /// the parse).
    failure: Option<String>,
}

impl Transcoder {
    fn fail<E: de::Error>(&mut self, what: &str) -> E {
        let mut p = String::from("$");
        for s in &self.path {
            match s {
                Step::Field(f) => {
                    p.push('.');
                    p.push_str(f);
                }
                Step::Index(i) => p.push_str(&format!("[{i}]")),
            }
        }
        let msg = format!("invalid OTLP/JSON at {p}: {what}");
        self.failure.get_or_insert(msg.clone());
        E::custom(msg)
    }

    fn varint(&mut self, v: u64) {
        prost::encoding::encode_varint(v, &mut self.out);
    }

    fn key(&mut self, tag: u32, wire: u8) {
        self.varint(((tag as u64) << 3) | wire as u64);
    }

    fn bytes_field(&mut self, tag: u32, b: &[u8]) {
        self.key(tag, 2);
        self.varint(b.len() as u64);
        self.out.extend_from_slice(b);
    }

    /// Starts a length-delimited field whose length is patched by
    /// [`Self::close`].
    fn open(&mut self, tag: u32) -> usize {
        self.key(tag, 2);
        self.out.push(0);
        self.out.len()
    }

    fn close(&mut self, start: usize) {
        let len = self.out.len() - start;
        if len < 0x80 {
            self.out[start - 1] = len as u8;
            return;
        }
        let mut prefix = Vec::with_capacity(10);
        prost::encoding::encode_varint(len as u64, &mut prefix);
        self.out[start - 1] = prefix[0];
        self.out.splice(start..start, prefix[1..].iter().copied());
    }
}

/// A JSON scalar, as serde hands it over.
#[derive(Clone, Copy)]
enum Scalar<'s> {
    U(u64),
    I(i64),
    F(f64),
    S(&'s str),
    B(bool),
}

impl Scalar<'_> {
    fn unsigned(&self) -> Option<u64> {
        match *self {
            Scalar::U(u) => Some(u),
            Scalar::I(i) => u64::try_from(i).ok(),
            Scalar::F(f) => (f.fract() == 0.0 && (0.0..1.9e19).contains(&f)).then_some(f as u64),
            Scalar::S(s) => s.trim().parse().ok(),
            Scalar::B(_) => None,
        }
    }

    fn signed(&self) -> Option<i64> {
        match *self {
            Scalar::U(u) => i64::try_from(u).ok(),
            Scalar::I(i) => Some(i),
            Scalar::F(f) => (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64),
            Scalar::S(s) => s.trim().parse().ok(),
            Scalar::B(_) => None,
        }
    }

    fn u64(&self) -> Result<u64, String> {
        self.unsigned()
            .ok_or_else(|| "expected an unsigned integer".into())
    }

    fn u32(&self) -> Result<u32, String> {
        u32::try_from(self.u64()?).map_err(|_| "out of range for uint32".into())
    }

    fn i64(&self) -> Result<i64, String> {
        self.signed().ok_or_else(|| "expected an integer".into())
    }

    fn i32(&self) -> Result<i32, String> {
        i32::try_from(self.i64()?).map_err(|_| "out of range for int32".into())
    }

    fn double(&self) -> Option<f64> {
        match *self {
            Scalar::U(u) => Some(u as f64),
            Scalar::I(i) => Some(i as f64),
            Scalar::F(f) => Some(f),
            Scalar::S("NaN") => Some(f64::NAN),
            Scalar::S("Infinity") => Some(f64::INFINITY),
            Scalar::S("-Infinity") => Some(f64::NEG_INFINITY),
            Scalar::S(s) => s.trim().parse().ok(),
            Scalar::B(_) => None,
        }
    }
}

/// Writes one scalar value of field `f`; `Err` says what was expected.
fn write_scalar(t: &mut Transcoder, f: &Field, v: &Scalar<'_>) -> Result<(), String> {
    match f.kind {
        Kind::Str => match v {
            Scalar::S(s) => t.bytes_field(f.tag, s.as_bytes()),
            _ => return Err(String::from("expected a string")),
        },
        Kind::Id(len) => {
            let Scalar::S(s) = v else {
                return Err(String::from("expected a hex string"));
            };
            if !s.is_empty() {
                if s.len() != len * 2 {
                    return Err(format!(
                        "expected {} hex characters, got {}",
                        len * 2,
                        s.len()
                    ));
                }
                let mut b = [0u8; 16];
                let b = &mut b[..len];
                hex::decode_to_slice(s, b).map_err(|_| String::from("expected a hex string"))?;
                t.bytes_field(f.tag, b);
            }
        }
        Kind::Base64 => {
            let Scalar::S(s) = v else {
                return Err(String::from("expected a base64 string"));
            };
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
                .map_err(|_| String::from("expected base64"))?;
            t.bytes_field(f.tag, &b);
        }
        Kind::Fixed64 => {
            let u = v.u64()?;
            t.key(f.tag, 1);
            t.out.extend_from_slice(&u.to_le_bytes());
        }
        Kind::Fixed32 => {
            let u = v.u32()?;
            t.key(f.tag, 5);
            t.out.extend_from_slice(&u.to_le_bytes());
        }
        Kind::UInt32 => {
            let u = v.u32()?;
            t.key(f.tag, 0);
            t.varint(u as u64);
        }
        Kind::UInt64 => {
            let u = v.u64()?;
            t.key(f.tag, 0);
            t.varint(u);
        }
        Kind::Int64 => {
            let i = v.i64()?;
            t.key(f.tag, 0);
            t.varint(i as u64);
        }
        Kind::Int32 | Kind::Enum(_) => {
            // An enum also by name (its index); a numeric string is a number.
            let i = match (f.kind, *v) {
                (Kind::Enum(names), Scalar::S(s)) if s.parse::<i64>().is_err() => names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(s))
                    .ok_or_else(|| format!("unknown enum value {s:?}"))?
                    as i32,
                _ => v.i32()?,
            };
            t.key(f.tag, 0);
            t.varint(i as i64 as u64);
        }
        Kind::SFixed64 => {
            let i = v.i64()?;
            t.key(f.tag, 1);
            t.out.extend_from_slice(&i.to_le_bytes());
        }
        Kind::SInt32 => {
            let i = v.i32()?;
            t.key(f.tag, 0);
            t.varint(((i << 1) ^ (i >> 31)) as u32 as u64);
        }

        Kind::Double => {
            let d = v
                .double()
                .ok_or_else(|| String::from("expected a number"))?;
            t.key(f.tag, 1);
            t.out.extend_from_slice(&d.to_le_bytes());
        }
        Kind::Bool => match *v {
            Scalar::B(b) => {
                t.key(f.tag, 0);
                t.out.push(b as u8);
            }
            _ => return Err(String::from("expected a bool")),
        },
        Kind::LaxBool => {
            if let Scalar::B(true) = *v {
                t.key(f.tag, 0);
                t.out.push(1);
            }
        }
        Kind::Msg(_) => return Err(String::from("expected an object")),
    }
    Ok(())
}

/// A message value: a JSON object of `msg`'s fields.
struct MsgSeed<'t> {
    t: &'t mut Transcoder,
    msg: &'static Msg,
}

impl<'de> DeserializeSeed<'de> for MsgSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MsgSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key_seed(FieldName(self.msg))? {
            match field {
                Some(f) => {
                    self.t.path.push(Step::Field(f.camel));
                    map.next_value_seed(ValueSeed {
                        t: self.t,
                        field: f,
                        in_list: false,
                    })?;
                    self.t.path.pop();
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.t.fail("expected an object"))
    }
}

/// A key of a message's object: the field it names, `None` if unknown.
struct FieldName(&'static Msg);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<&'static Field>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<&'static Field>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Self::Value, E> {
        Ok(self.0.field(k))
    }
}

/// The value of one field (or one element of a repeated field's array).
struct ValueSeed<'t> {
    t: &'t mut Transcoder,
    field: &'static Field,
    in_list: bool,
}

impl ValueSeed<'_> {
    fn scalar<E: de::Error>(self, v: Scalar<'_>) -> Result<(), E> {
        if self.field.repeated && !self.in_list {
            return Err(self.t.fail("expected an array"));
        }
        write_scalar(self.t, self.field, &v).map_err(|what| self.t.fail(&what))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an OTLP/JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.scalar(Scalar::B(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.scalar(Scalar::U(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.scalar(Scalar::I(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.scalar(Scalar::F(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.scalar(Scalar::S(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let Kind::Msg(msg) = self.field.kind else {
            return Err(self.t.fail(kind_expects(self.field.kind)));
        };
        if self.field.repeated && !self.in_list {
            return Err(self.t.fail("expected an array"));
        }
        let start = self.t.open(self.field.tag);
        MsgSeed { t: self.t, msg }.visit_map(map)?;
        self.t.close(start);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if !self.field.repeated || self.in_list {
            return Err(self.t.fail(kind_expects(self.field.kind)));
        }
        // Packed scalars share one length-delimited field.
        let packed = self
            .field
            .kind
            .packed()
            .then(|| self.t.open(self.field.tag));
        let mut i = 0;
        loop {
            self.t.path.push(Step::Index(i));
            let element = ValueSeed {
                t: self.t,
                field: self.field,
                in_list: true,
            };
            let got = match packed {
                Some(_) => seq.next_element_seed(PackedSeed(element))?,
                None => seq.next_element_seed(element)?,
            };
            self.t.path.pop();
            if got.is_none() {
                break;
            }
            i += 1;
        }
        if let Some(start) = packed {
            self.t.close(start);
        }
        Ok(())
    }
}

/// An element of a packed repeated scalar: the value without its key.
struct PackedSeed<'t>(ValueSeed<'t>);

impl<'de> DeserializeSeed<'de> for PackedSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let t = self.0.t;
        let field = self.0.field;
        let at = t.out.len();
        ValueSeed {
            t,
            field,
            in_list: true,
        }
        .deserialize(d)?;
        // Drop the key write_scalar put before the value (one byte: packed
        // fields have small tags).
        if t.out.len() > at {
            t.out.remove(at);
        } else {
            return Err(t.fail("expected a number"));
        }
        Ok(())
    }
}

fn kind_expects(k: Kind) -> &'static str {
    match k {
        Kind::Msg(_) => "expected an object",
        Kind::Str | Kind::Id(_) | Kind::Base64 => "expected a string",
        Kind::Bool | Kind::LaxBool => "expected a bool",
        Kind::Double => "expected a number",
        _ => "expected an integer",
    }
}

#[cfg(test)]
mod tests;
