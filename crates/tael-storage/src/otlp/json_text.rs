//! Typed attribute JSON written straight from protobuf `AnyValue` /
//! `KeyValue` bytes, byte-for-byte what `tael_core::attr` produces from
//! decoded structs (see the typed form documented there): objects with
//! keys in byte order and the last duplicate key winning, doubles with a
//! fraction or exponent, non-finite doubles and bytes wrapped in
//! `{"doubleValue": …}` / `{"bytesValue": base64}`, an absent value `null`.

use super::wire::{Reader, Value, WireError, MAX_DEPTH};
use base64::Engine;

/// Appends `s` as a JSON string (serde_json's escaping).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_f64(out: &mut Vec<u8>, d: f64) {
    if d.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &d);
    } else {
        let text = if d.is_nan() {
            "NaN"
        } else if d > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        out.extend_from_slice(b"{\"doubleValue\":\"");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

/// The string of an encoded `AnyValue` whose (last) member is
/// `string_value`; `None` for any other kind of value.
pub fn any_as_str(bytes: &[u8]) -> Result<Option<&str>, WireError> {
    let mut last = None;
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        if (1..=8).contains(&tag) {
            last = Some((tag, v));
        }
    }
    match last {
        Some((1, v)) => Ok(Some(v.str("AnyValue.string_value")?)),
        _ => Ok(None),
    }
}

/// Writes the typed JSON of one encoded `AnyValue`.
pub fn write_any(out: &mut Vec<u8>, bytes: &[u8], depth: usize) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::new("recursion limit reached"));
    }
    // A oneof: the last member on the wire wins.
    let mut last: Option<(u32, Value)> = None;
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        if (1..=8).contains(&tag) {
            last = Some((tag, v));
        }
    }
    match last {
        None => out.extend_from_slice(b"null"),
        Some((1, v)) => write_str(out, v.str("AnyValue.string_value")?),
        Some((2, v)) => out.extend_from_slice(if v.varint("AnyValue.bool_value")? != 0 {
            b"true"
        } else {
            b"false"
        }),
        Some((3, v)) => {
            let i = v.varint("AnyValue.int_value")? as i64;
            let _ = serde_json::to_writer(&mut *out, &i);
        }
        Some((4, v)) => write_f64(out, f64::from_bits(v.fixed64("AnyValue.double_value")?)),
        Some((5, v)) => {
            out.push(b'[');
            let mut first = true;
            let mut r = Reader::new(v.bytes("AnyValue.array_value")?);
            while let Some((tag, v)) = r.next_field()? {
                if tag == 1 {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_any(out, v.bytes("ArrayValue.values")?, depth + 2)?;
                }
            }
            out.push(b']');
        }
        Some((6, v)) => {
            let mut kvs = Vec::new();
            let mut r = Reader::new(v.bytes("AnyValue.kvlist_value")?);
            while let Some((tag, v)) = r.next_field()? {
                if tag == 1 {
                    kvs.push(v.bytes("KeyValueList.values")?);
                }
            }
            write_object(out, &kvs, depth + 2, None)?;
        }
        Some((7, v)) => {
            let b = v.bytes("AnyValue.bytes_value")?;
            out.extend_from_slice(b"{\"bytesValue\":\"");
            let mut text = String::new();
            base64::engine::general_purpose::STANDARD.encode_string(b, &mut text);
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\"}");
        }
        Some((_, v)) => {
            let i = v.varint("AnyValue.string_value_strindex")? as i32;
            out.extend_from_slice(b"{\"stringValueStrindex\":");
            let _ = serde_json::to_writer(&mut *out, &i);
            out.push(b'}');
        }
    }
    Ok(())
}

/// A decoded `KeyValue`: its key and its encoded value (if any).
struct Entry<'a> {
    key: &'a str,
    value: Option<&'a [u8]>,
}

fn entry(bytes: &[u8]) -> Result<Entry<'_>, WireError> {
    let mut e = Entry {
        key: "",
        value: None,
    };
    let mut r = Reader::new(bytes);
    while let Some((tag, v)) = r.next_field()? {
        match tag {
            1 => e.key = v.str("KeyValue.key")?,
            2 => e.value = Some(v.bytes("KeyValue.value")?),
            3 => {
                v.varint("KeyValue.key_strindex")?;
            }
            _ => {}
        }
    }
    Ok(e)
}

/// Moves values out while attributes are written: given a key and its
/// encoded `AnyValue`, returns the JSON to write in its place, or `None` to
/// write the value itself.
pub type Divert<'a> =
    &'a mut dyn FnMut(&str, &[u8]) -> Result<Option<serde_json::Value>, WireError>;

/// Writes a JSON object from encoded `KeyValue`s (keys sorted, the last
/// duplicate wins); `{}` when there are none. `divert` may replace the
/// values of this level (not of nested maps).
pub fn write_object(
    out: &mut Vec<u8>,
    kvs: &[&[u8]],
    depth: usize,
    mut divert: Option<Divert<'_>>,
) -> Result<(), WireError> {
    let mut entries = kvs
        .iter()
        .map(|b| entry(b))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| a.key.cmp(b.key));
    out.push(b'{');
    let mut first = true;
    for (i, e) in entries.iter().enumerate() {
        if entries.get(i + 1).is_some_and(|n| n.key == e.key) {
            // A later duplicate wins; still check this one is well formed.
            if let Some(v) = e.value {
                write_any(&mut Vec::new(), v, depth + 1)?;
            }
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, e.key);
        out.push(b':');
        match e.value {
            Some(v) => {
                let instead = match divert.as_mut() {
                    Some(d) => d(e.key, v)?,
                    None => None,
                };
                match instead {
                    Some(j) => {
                        let _ = serde_json::to_writer(&mut *out, &j);
                    }
                    None => write_any(out, v, depth + 1)?,
                }
            }
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    Ok(())
}

/// The stored form of an attribute list capped at `max` entries: "" when
/// empty, else a JSON object. Entries past the cap are still checked, and
/// their number is returned (to add to `dropped_attributes_count`).
pub fn write_attrs(out: &mut Vec<u8>, kvs: &[&[u8]], max: usize) -> Result<u32, WireError> {
    write_attrs_diverting(out, kvs, max, None)
}

/// [`write_attrs`], with `divert` replacing values of the entries kept.
pub fn write_attrs_diverting(
    out: &mut Vec<u8>,
    kvs: &[&[u8]],
    max: usize,
    divert: Option<Divert<'_>>,
) -> Result<u32, WireError> {
    let kept = kvs.len().min(max);
    if kept > 0 {
        write_object(out, &kvs[..kept], 1, divert)?;
    }
    if kept < kvs.len() {
        write_object(&mut Vec::new(), &kvs[kept..], 1, None)?;
    }
    Ok((kvs.len() - kept) as u32)
}
