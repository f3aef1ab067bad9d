//! The compact form of one cached series' samples (the part series cache,
//! [`super::cache`]): an hour of a 15 s counter takes about 4 bytes a
//! sample instead of 16, so the cache holds four times the series. Decoded
//! sequentially, only over the time window a query asks for.
//!
//! Format, per sample, oldest first (times strictly increasing):
//!
//! - time (ms): the change of the gap to the previous sample (the first
//!   sample's gap is its time, the gap before it 0), zigzag, as a LEB128
//!   varint: regular scrapes cost one byte;
//! - value: its IEEE-754 bits XOR the previous value's (0 before the
//!   first), as one control byte `lead << 4 | len` (`lead`: leading zero
//!   bytes, `len`: bytes that follow) and then those `len` bytes, most
//!   significant first; the `8 - lead - len` bytes after them are zero. An
//!   unchanged value is the one byte `0x80`.
//!
//! Arithmetic on times wraps, so any i64 round-trips; values round-trip
//! bit for bit (NaN staleness markers included).

/// Samples `(ms, value)` of one series, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Points {
    bytes: Box<[u8]>,
    len: usize,
    first_ms: i64,
    last_ms: i64,
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Points {
    /// `points` (times strictly increasing) in the compact form.
    pub fn encode(points: &[(i64, f64)]) -> Points {
        let mut out = Vec::with_capacity(points.len() * 4);
        let (mut prev_t, mut prev_gap, mut prev_bits) = (0i64, 0i64, 0u64);
        for &(t, v) in points {
            let gap = t.wrapping_sub(prev_t);
            push_varint(&mut out, zigzag(gap.wrapping_sub(prev_gap)));
            (prev_t, prev_gap) = (t, gap);
            let x = v.to_bits() ^ prev_bits;
            prev_bits = v.to_bits();
            let bytes = x.to_be_bytes();
            let lead = (x.leading_zeros() / 8) as usize;
            let trail = match x {
                0 => 0,
                _ => (x.trailing_zeros() / 8) as usize,
            };
            let len = 8 - lead - trail;
            out.push(((lead as u8) << 4) | len as u8);
            out.extend_from_slice(&bytes[lead..lead + len]);
        }
        Points {
            bytes: out.into_boxed_slice(),
            len: points.len(),
            first_ms: points.first().map_or(0, |p| p.0),
            last_ms: points.last().map_or(0, |p| p.0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn iter(&self) -> PointIter<'_> {
        PointIter {
            bytes: &self.bytes,
            at: 0,
            left: self.len,
            t: 0,
            gap: 0,
            bits: 0,
        }
    }

    /// Appends the samples with `from_ms <= t <= to_ms` to `out`; how many.
    pub fn extend_window(&self, from_ms: i64, to_ms: i64, out: &mut Vec<(i64, f64)>) -> usize {
        if self.len == 0 || self.last_ms < from_ms || self.first_ms > to_ms {
            return 0;
        }
        let before = out.len();
        out.extend(
            self.iter()
                .skip_while(|p| p.0 < from_ms)
                .take_while(|p| p.0 <= to_ms),
        );
        out.len() - before
    }
}

/// The samples of [`Points`], decoded in order.
pub struct PointIter<'a> {
    bytes: &'a [u8],
    at: usize,
    left: usize,
    t: i64,
    gap: i64,
    bits: u64,
}

impl PointIter<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

impl Iterator for PointIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.gap = self.gap.wrapping_add(unzigzag(self.varint()?));
        self.t = self.t.wrapping_add(self.gap);
        let control = self.byte()?;
        let (lead, len) = ((control >> 4) as usize, (control & 0x0f) as usize);
        let mut bytes = [0u8; 8];
        let dst = bytes.get_mut(lead..lead + len)?;
        let src = self.bytes.get(self.at..self.at + len)?;
        dst.copy_from_slice(src);
        self.at += len;
        self.bits ^= u64::from_be_bytes(bytes);
        Some((self.t, f64::from_bits(self.bits)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    #[test]
    fn a_regular_counter_takes_a_few_bytes_a_sample() {
        let points: Vec<(i64, f64)> = (0..240)
            .map(|i| (1_796_000_000_000 + i * 15_000, (i * 45) as f64))
            .collect();
        let p = Points::encode(&points);
        assert!(same(&p.iter().collect::<Vec<_>>(), &points));
        assert!(p.heap_bytes() <= 5 * points.len(), "{}", p.heap_bytes());
        let mut w = Vec::new();
        let from = points[10].0;
        let to = points[20].0;
        assert_eq!(p.extend_window(from, to, &mut w), 11);
        assert!(same(&w, &points[10..=20]));
        let after = points[239].0 + 1;
        assert_eq!(p.extend_window(after, i64::MAX, &mut w), 0);
        assert_eq!(p.extend_window(i64::MIN, points[0].0 - 1, &mut w), 0);
    }

    proptest! {
        #[test]
        fn any_samples_round_trip_bit_for_bit(
            mut times in proptest::collection::btree_set(any::<i64>(), 0..200),
            bits in proptest::collection::vec(any::<u64>(), 200),
            from in any::<i64>(),
            span in any::<u32>(),
        ) {
            let ts: Vec<i64> = std::mem::take(&mut times).into_iter().collect();
            let points: Vec<(i64, f64)> =
                ts.iter().zip(&bits).map(|(t, b)| (*t, f64::from_bits(*b))).collect();
            let p = Points::encode(&points);
            prop_assert_eq!(p.len(), points.len());
            prop_assert!(same(&p.iter().collect::<Vec<_>>(), &points));
            let to = from.saturating_add(i64::from(span));
            let mut w = Vec::new();
            p.extend_window(from, to, &mut w);
            let want: Vec<(i64, f64)> =
                points.iter().copied().filter(|q| q.0 >= from && q.0 <= to).collect();
            prop_assert!(same(&w, &want));
        }
    }
}
