//! Keeps the newest `limit` items seen (by a time key), cheaply rejecting
//! older ones before they are decoded.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub(crate) struct TopN<T> {
    limit: usize,
    heap: BinaryHeap<Reverse<(i64, u64)>>,
    items: Vec<Option<T>>,
    seq: u64,
}

impl<T> TopN<T> {
    pub fn new(limit: usize) -> Self {
        TopN {
            limit,
            heap: BinaryHeap::new(),
            items: Vec::new(),
            seq: 0,
        }
    }

    /// Whether an item with time `t` would be kept.
    pub fn wants(&self, t: i64) -> bool {
        self.limit > 0
            && (self.heap.len() < self.limit
                || self.heap.peek().is_some_and(|Reverse((min, _))| t > *min))
    }

    /// Whether every item at or before `t` would be rejected (so older
    /// sources can be skipped).
    pub fn full_above(&self, t: i64) -> bool {
        self.heap.len() >= self.limit && self.heap.peek().is_some_and(|Reverse((min, _))| t <= *min)
    }

    pub fn push(&mut self, t: i64, item: T) {
        if !self.wants(t) {
            return;
        }
        let id = self.seq;
        self.seq += 1;
        self.items.push(Some(item));
        self.heap.push(Reverse((t, id)));
        if self.heap.len() > self.limit {
            if let Some(Reverse((_, old))) = self.heap.pop() {
                self.items[old as usize] = None;
            }
        }
    }

    /// The kept items, newest first.
    pub fn into_sorted(mut self) -> Vec<T> {
        let mut keyed: Vec<(i64, u64)> = self.heap.drain().map(|Reverse(k)| k).collect();
        keyed.sort_by(|a, b| b.cmp(a));
        keyed
            .into_iter()
            .filter_map(|(_, id)| self.items[id as usize].take())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest() {
        let mut t = TopN::new(3);
        for x in [5, 1, 9, 3, 7, 2] {
            t.push(x, x);
        }
        assert_eq!(t.into_sorted(), vec![9, 7, 5]);
    }
}
