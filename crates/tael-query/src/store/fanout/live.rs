//! A fan-out's live streams: the shards' streams merged into one, numbered
//! by the query node, and resumable exactly.
//!
//! # Ids
//!
//! A merged stream's ids are the query node's: one counter for all its
//! streams, started from its clock in microseconds (like a feed's, so ids
//! of a later process are higher). For each of the newest
//! [`RESUME_ENTRIES`] ids it gave, the node remembers where every shard's
//! stream stood then (that shard's own feed id, or `None` before the shard
//! had started). A client resuming after an id the node remembers gets
//! each shard's stream resumed after that shard's position: nothing
//! missed, nothing twice, and a shard's own `gap` (passed through as it
//! is) when its buffer no longer holds what followed. An id the node does
//! not remember (older, or given by another process), or one taken while
//! a shard had not started, resumes from now with a `gap` that is not
//! exact.

use crate::live::LiveEvent;
use futures::stream::{BoxStream, StreamExt};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// How long a merged live stream waits for every shard's stream to start
/// before it starts itself (a shard that is down joins when it is back).
const SHARDS_START_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Merged ids remembered for resuming (about 100 bytes each with two
/// shards).
pub(super) const RESUME_ENTRIES: usize = 50_000;

/// Where each shard's stream stood at one merged id.
type Positions = Arc<Vec<Option<u64>>>;

/// The ids a fan-out gave its merged streams, and what each stood for.
#[derive(Debug)]
pub(super) struct LiveResume {
    next: AtomicU64,
    capacity: usize,
    seen: Mutex<(HashMap<u64, Positions>, VecDeque<u64>)>,
}

impl LiveResume {
    pub(super) fn new(capacity: usize) -> LiveResume {
        let base = u64::try_from(tael_core::time::now_ns() / 1_000).unwrap_or(1);
        LiveResume {
            next: AtomicU64::new(base),
            capacity: capacity.max(1),
            seen: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// A new id, standing for `at`.
    fn give(&self, at: &[Option<u64>]) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut seen = self.seen.lock();
        seen.0.insert(id, Arc::new(at.to_vec()));
        seen.1.push_back(id);
        while seen.1.len() > self.capacity {
            if let Some(old) = seen.1.pop_front() {
                seen.0.remove(&old);
            }
        }
        id
    }

    /// Where the shards stood at `id`, when it is remembered.
    fn positions(&self, id: u64) -> Option<Positions> {
        self.seen.lock().0.get(&id).cloned()
    }
}

/// The shards' live streams as one (see the module docs). `open` opens
/// each shard's stream after the position given (`None`: from now). The
/// merged stream starts once every shard's stream has started (or after
/// [`SHARDS_START_WITHIN`]), so nothing a shard stores after the merged
/// start is missed.
pub(super) fn merged_live<T: Send + 'static>(
    shards: usize,
    open: impl FnOnce(&[Option<u64>]) -> Vec<BoxStream<'static, LiveEvent<T>>>,
    last_id: Option<u64>,
    resume: Arc<LiveResume>,
) -> BoxStream<'static, LiveEvent<T>> {
    let known = last_id.and_then(|l| resume.positions(l));
    let from: Vec<Option<u64>> = match &known {
        Some(p) if p.len() == shards => p.to_vec(),
        _ => vec![None; shards],
    };
    let exact = from.iter().all(Option::is_some);
    let streams = open(&from);
    futures::stream::once(async move {
        let deadline = tokio::time::Instant::now() + SHARDS_START_WITHIN;
        let mut at = from;
        let mut started = Vec::with_capacity(streams.len());
        for (i, mut s) in streams.into_iter().enumerate() {
            // A shard's first event is its start; anything else is kept.
            let first = match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(LiveEvent::Start { after })) => {
                    at[i] = Some(after);
                    None
                }
                Ok(None) | Err(_) => None,
                Ok(Some(other)) => Some(other),
            };
            started.push(
                futures::stream::iter(first)
                    .chain(s)
                    .map(move |ev| (i, ev))
                    .boxed(),
            );
        }
        let after = resume.give(&at);
        let head = futures::stream::iter(std::iter::once(LiveEvent::Start { after }).chain(
            (last_id.is_some() && !exact).then_some(LiveEvent::Gap {
                missed: 0,
                exact: false,
            }),
        ));
        let body = futures::stream::select_all(started).filter_map(move |(i, ev)| {
            let out = match ev {
                LiveEvent::Start { after } => {
                    at[i] = Some(after);
                    None
                }
                LiveEvent::Item { id, item } => {
                    at[i] = Some(id);
                    Some(LiveEvent::Item {
                        id: resume.give(&at),
                        item,
                    })
                }
                other => Some(other),
            };
            futures::future::ready(out)
        });
        head.chain(body)
    })
    .flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(ids: &[u64]) -> Vec<LiveEvent<u64>> {
        ids.iter()
            .map(|&id| LiveEvent::Item { id, item: id })
            .collect()
    }

    /// A shard's stream: its start, then its items after `from`.
    fn shard(after: u64, all: &[u64], from: Option<u64>) -> BoxStream<'static, LiveEvent<u64>> {
        let start = from.unwrap_or(after);
        let rest: Vec<u64> = all.iter().copied().filter(|i| *i > start).collect();
        futures::stream::iter(
            std::iter::once(LiveEvent::Start { after: start }).chain(items(&rest)),
        )
        .chain(futures::stream::pending())
        .boxed()
    }

    async fn take(s: &mut BoxStream<'static, LiveEvent<u64>>, n: usize) -> Vec<LiveEvent<u64>> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(s.next().await.expect("open"));
        }
        out
    }

    #[tokio::test]
    async fn resuming_a_merged_stream_resumes_every_shard_after_its_own_position() {
        let resume = Arc::new(LiveResume::new(100));
        let (a, b) = (vec![11, 12, 13], vec![21, 22]);
        let open = |a: Vec<u64>, b: Vec<u64>| {
            move |from: &[Option<u64>]| vec![shard(10, &a, from[0]), shard(20, &b, from[1])]
        };
        let mut s = merged_live(2, open(a.clone(), b.clone()), None, resume.clone());
        let got = take(&mut s, 6).await;
        let LiveEvent::Start { after } = got[0] else {
            panic!("{got:?}")
        };
        let seen: Vec<(u64, u64)> = got[1..]
            .iter()
            .map(|e| match e {
                LiveEvent::Item { id, item } => (*id, *item),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        assert!(seen[0].0 > after);
        // Resumed after the third item: exactly the two not yet seen.
        let (cut, _) = seen[2];
        let mut again = merged_live(2, open(a.clone(), b.clone()), Some(cut), resume.clone());
        let got = take(&mut again, 3).await;
        assert!(matches!(got[0], LiveEvent::Start { .. }), "{got:?}");
        let mut rest: Vec<u64> = got[1..]
            .iter()
            .map(|e| match e {
                LiveEvent::Item { item, .. } => *item,
                other => panic!("{other:?}"),
            })
            .collect();
        rest.sort_unstable();
        let mut want: Vec<u64> = seen[3..].iter().map(|(_, item)| *item).collect();
        want.sort_unstable();
        assert_eq!(rest, want);
        // Resumed after the start: everything, and no gap.
        let mut all = merged_live(2, open(a, b), Some(after), resume.clone());
        let got = take(&mut all, 6).await;
        assert!(got[1..].iter().all(|e| matches!(e, LiveEvent::Item { .. })));
        // An id the node never gave: from now, with a gap that is not exact.
        let mut unknown = merged_live(2, open(vec![], vec![]), Some(7), resume);
        let got = take(&mut unknown, 2).await;
        assert_eq!(
            got[1],
            LiveEvent::Gap {
                missed: 0,
                exact: false
            }
        );
    }

    #[test]
    fn only_the_newest_ids_are_remembered() {
        let r = LiveResume::new(2);
        let ids: Vec<u64> = (0..3).map(|i| r.give(&[Some(i)])).collect();
        assert!(r.positions(ids[0]).is_none());
        assert_eq!(r.positions(ids[2]).unwrap().as_slice(), &[Some(2)]);
    }
}
