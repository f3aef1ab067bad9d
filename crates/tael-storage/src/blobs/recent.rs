//! The raw content of the blobs written last, kept in memory up to a byte
//! bound (oldest out first). The text indexer reads each new payload right
//! after it is put; from here that costs a copy instead of a pack read, a
//! decompression and a hash check. Only content this process hashed itself
//! goes in, so what comes out needs no check. A collected blob may stay
//! here a while: [`super::BlobStore::get`] asks the index first.

use super::Hash;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

pub(super) struct RecentBlobs {
    max_bytes: usize,
    bytes: usize,
    content: HashMap<Hash, Arc<[u8]>>,
    /// Insertion order, for eviction.
    order: VecDeque<Hash>,
}

impl RecentBlobs {
    pub(super) fn new(max_bytes: usize) -> Self {
        RecentBlobs {
            max_bytes,
            bytes: 0,
            content: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Bytes of the content kept.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps `raw` (whose sha256 is `hash`), evicting the oldest entries
    /// past the bound. Content larger than the whole bound is not kept.
    pub(super) fn insert(&mut self, hash: Hash, raw: &[u8]) {
        if raw.len() > self.max_bytes || self.content.contains_key(&hash) {
            return;
        }
        while self.bytes + raw.len() > self.max_bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(c) = self.content.remove(&old) {
                self.bytes -= c.len();
            }
        }
        self.bytes += raw.len();
        self.content.insert(hash, Arc::from(raw));
        self.order.push_back(hash);
    }

    pub(super) fn get(&self, hash: &Hash) -> Option<Arc<[u8]>> {
        self.content.get(hash).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> Hash {
        [i; 32]
    }

    #[test]
    fn keeps_the_newest_within_the_bound() {
        let mut r = RecentBlobs::new(10);
        r.insert(h(1), b"aaaa");
        r.insert(h(2), b"bbbb");
        r.insert(h(3), b"cccc");
        assert!(r.get(&h(1)).is_none(), "oldest evicted");
        assert_eq!(r.get(&h(2)).as_deref(), Some(&b"bbbb"[..]));
        assert_eq!(r.get(&h(3)).as_deref(), Some(&b"cccc"[..]));
        assert_eq!(r.bytes, 8);
        r.insert(h(4), b"this is larger than the bound");
        assert!(r.get(&h(4)).is_none());
        r.insert(h(5), b"dddddd");
        assert_eq!(r.bytes, 10);
        assert!(r.get(&h(2)).is_none());
        assert!(r.get(&h(3)).is_some() && r.get(&h(5)).is_some());
    }
}
