//! A zero-copy reader of the protobuf wire format, just enough for OTLP:
//! varint, fixed64, length-delimited and fixed32 fields, unknown fields
//! (groups included) skipped. It checks what prost checks when decoding
//! OTLP (truncation, bad wire types of known fields, over-long varints,
//! UTF-8 of string fields, nesting depth), so a request prost would refuse
//! is refused here too.

use std::fmt;

/// Why a payload cannot be stored: not valid protobuf, or (`too_large`)
/// it would decode to more column data than a request may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    pub message: String,
    pub too_large: bool,
}

impl WireError {
    pub fn new(message: impl Into<String>) -> Self {
        WireError {
            message: message.into(),
            too_large: false,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, WireError> {
    Err(WireError::new(msg))
}

/// Nesting deeper than this is refused (prost's default recursion limit).
pub const MAX_DEPTH: usize = 100;

/// One field's value as it is on the wire.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    fn wire_name(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "64-bit",
            Value::Bytes(_) => "length-delimited",
            Value::Fixed32(_) => "32-bit",
        }
    }

    fn mismatch<T>(&self, field: &str, want: &str) -> Result<T, WireError> {
        err(format!(
            "{field}: invalid wire type {} (expected {want})",
            self.wire_name()
        ))
    }

    /// A length-delimited field (bytes or an embedded message).
    pub fn bytes(self, field: &str) -> Result<&'a [u8], WireError> {
        match self {
            Value::Bytes(b) => Ok(b),
            v => v.mismatch(field, "length-delimited"),
        }
    }

    /// A `string` field: length-delimited and valid UTF-8.
    pub fn str(self, field: &str) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes(field)?).or_else(|_| {
            err(format!(
                "{field}: invalid string value: data is not UTF-8 encoded"
            ))
        })
    }

    /// A varint field (int32/int64/uint32/uint64/bool/enum).
    pub fn varint(self, field: &str) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            v => v.mismatch(field, "varint"),
        }
    }

    /// A `fixed64` or `double` field.
    pub fn fixed64(self, field: &str) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            v => v.mismatch(field, "64-bit"),
        }
    }

    /// A `fixed32` field.
    pub fn fixed32(self, field: &str) -> Result<u32, WireError> {
        match self {
            Value::Fixed32(v) => Ok(v),
            v => v.mismatch(field, "32-bit"),
        }
    }
}

/// Iterates the fields of one message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return err("buffer underflow");
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return err("invalid varint");
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        err("invalid varint")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => err("buffer underflow"),
        }
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return err(format!("invalid key value: {key}"));
        }
        let tag = (key >> 3) as u32;
        if tag == 0 {
            return err("invalid tag value: 0");
        }
        Ok((tag, (key & 7) as u8))
    }

    /// Skips a group whose start tag was just read (up to its end tag).
    fn skip_group(&mut self, tag: u32, depth: usize) -> Result<(), WireError> {
        if depth > MAX_DEPTH {
            return err("recursion limit reached");
        }
        loop {
            if self.pos >= self.buf.len() {
                return err("unexpected end of group");
            }
            let (t, wt) = self.key()?;
            match wt {
                4 if t == tag => return Ok(()),
                4 => return err("unexpected end group tag"),
                3 => self.skip_group(t, depth + 1)?,
                _ => {
                    self.value(wt)?;
                }
            }
        }
    }

    fn value(&mut self, wire_type: u8) -> Result<Value<'a>, WireError> {
        Ok(match wire_type {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            2 => {
                let n = self.varint()?;
                let n = usize::try_from(n).or_else(|_| err("length too large"))?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            }
            wt => return err(format!("invalid wire type value: {wt}")),
        })
    }

    /// Bytes read so far: the end of the last field returned.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Decodes a packed repeated varint field (its length-delimited bytes).
    pub fn packed_varints(bytes: &[u8], out: &mut Vec<u64>) -> Result<(), WireError> {
        let mut r = Reader::new(bytes);
        while r.pos < r.buf.len() {
            out.push(r.varint()?);
        }
        Ok(())
    }

    /// The next field (tag and value); `None` at the end of the message.
    /// Groups (a deprecated encoding no OTLP field uses) are skipped.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        loop {
            if self.pos >= self.buf.len() {
                return Ok(None);
            }
            let (tag, wt) = self.key()?;
            match wt {
                3 => self.skip_group(tag, 1)?,
                4 => return err("unexpected end group tag"),
                _ => return Ok(Some((tag, self.value(wt)?))),
            }
        }
    }
}

/// Zigzag-decodes a `sint32` varint (prost truncates to 32 bits first).
pub fn sint32(v: u64) -> i32 {
    let n = v as u32;
    ((n >> 1) as i32) ^ -((n & 1) as i32)
}

/// Appends a repeated `fixed64`/`double` field, packed or not.
pub fn push_fixed64(out: &mut Vec<u64>, v: Value<'_>, field: &str) -> Result<(), WireError> {
    match v {
        Value::Bytes(b) => {
            if b.len() % 8 != 0 {
                return Err(WireError::new(format!(
                    "{field}: packed length not a multiple of 8"
                )));
            }
            out.extend(
                b.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))),
            );
            Ok(())
        }
        v => {
            out.push(v.fixed64(field)?);
            Ok(())
        }
    }
}

/// Appends a repeated `uint64` field, packed or not.
pub fn push_varints(out: &mut Vec<u64>, v: Value<'_>, field: &str) -> Result<(), WireError> {
    match v {
        Value::Bytes(b) => Reader::packed_varints(b, out),
        v => {
            out.push(v.varint(field)?);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn reads_what_prost_writes() {
        use opentelemetry_proto::tonic::trace::v1::Span;
        let s = Span {
            trace_id: vec![1; 16],
            name: "é".into(),
            kind: -1,
            start_time_unix_nano: 7,
            flags: 3,
            ..Default::default()
        };
        let bytes = s.encode_to_vec();
        let mut r = Reader::new(&bytes);
        let mut seen = Vec::new();
        while let Some((tag, v)) = r.next_field().unwrap() {
            match tag {
                1 => assert_eq!(v.bytes("trace_id").unwrap(), &[1; 16]),
                5 => assert_eq!(v.str("name").unwrap(), "é"),
                6 => assert_eq!(v.varint("kind").unwrap() as i32, -1),
                7 => assert_eq!(v.fixed64("start").unwrap(), 7),
                16 => assert_eq!(v.fixed32("flags").unwrap(), 3),
                _ => {}
            }
            seen.push(tag);
        }
        assert_eq!(seen, vec![1, 5, 6, 7, 16]);
    }

    #[test]
    fn refuses_truncation_bad_wire_types_and_bad_utf8() {
        let mut r = Reader::new(&[0x0a, 0x05, b'a']);
        assert!(r.next_field().is_err());
        let mut r = Reader::new(&[0x0a, 0x02, 0xff, 0xfe]);
        let (_, v) = r.next_field().unwrap().unwrap();
        assert!(v.str("name").is_err());
        assert!(v.varint("kind").is_err());
        let mut r = Reader::new(&[0x00]);
        assert!(r.next_field().is_err());
        let mut r = Reader::new(&[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        ]);
        assert!(r.next_field().is_err());
    }

    #[test]
    fn skips_groups() {
        // field 9 start group { field 1 varint 5 } end group, then field 2 varint 1
        let bytes = [0x4b, 0x08, 0x05, 0x4c, 0x10, 0x01];
        let mut r = Reader::new(&bytes);
        let (tag, v) = r.next_field().unwrap().unwrap();
        assert_eq!((tag, v.varint("x").unwrap()), (2, 1));
        assert!(r.next_field().unwrap().is_none());
    }
}
