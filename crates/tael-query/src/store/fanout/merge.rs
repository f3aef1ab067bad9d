//! How a fan-out combines what its shards answer: newest-first lists,
//! PromQL series, live streams.

use crate::live::LiveEvent;
use crate::promql::series::Loaded;
use futures::stream::{BoxStream, StreamExt};
use std::collections::BTreeMap;

/// The newest `limit` of several newest-first lists (ties keep shard
/// order).
pub(super) fn newest<T>(lists: Vec<Vec<T>>, limit: usize, time: impl Fn(&T) -> i64) -> Vec<T> {
    let mut all: Vec<T> = lists.into_iter().flatten().collect();
    all.sort_by_key(|x| std::cmp::Reverse(time(x)));
    all.truncate(limit);
    all
}

/// Each selector's series over all shards: a series (by labels) held by
/// several shards gets the samples of all, in time order, one per
/// timestamp.
pub(super) fn union_series(answers: Vec<Vec<Loaded>>, selectors: usize) -> Vec<Loaded> {
    let mut out = Vec::with_capacity(selectors);
    for i in 0..selectors {
        let mut by_labels = BTreeMap::new();
        for answer in &answers {
            let Some(loaded) = answer.get(i) else {
                continue;
            };
            for (j, s) in loaded.series.iter().enumerate() {
                let unnamed = loaded.unnamed.get(j).cloned().flatten();
                let e = by_labels
                    .entry(s.labels.clone())
                    .or_insert_with(|| (Vec::new(), unnamed));
                e.0.extend_from_slice(&s.points);
            }
        }
        let mut loaded = Loaded::default();
        for (labels, (mut points, unnamed)) in by_labels {
            points.sort_by_key(|p| p.0);
            points.dedup_by_key(|p| p.0);
            loaded
                .series
                .push(crate::promql::value::SeriesRange { labels, points });
            loaded.unnamed.push(unnamed);
        }
        out.push(loaded);
    }
    out
}

/// How long a merged live stream waits for every shard's stream to start
/// before it starts itself (a shard that is down joins when it is back).
const SHARDS_START_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The shards' live streams as one: the query node numbers the items
/// itself (ids grow; they start from this process's clock like a feed's).
/// It starts once every shard's stream has started (or after
/// [`SHARDS_START_WITHIN`]), so nothing a shard stores after the merged
/// start is missed. Each shard's own stream resumes after its own ids when
/// it reconnects; a client resuming the merged stream (`last_id`) gets a
/// `gap` that is not exact, because merged ids do not name a position in
/// every shard.
pub(super) fn merged_live<T: Send + 'static>(
    streams: Vec<BoxStream<'static, LiveEvent<T>>>,
    last_id: Option<u64>,
) -> BoxStream<'static, LiveEvent<T>> {
    futures::stream::once(async move {
        let deadline = tokio::time::Instant::now() + SHARDS_START_WITHIN;
        let mut started = Vec::with_capacity(streams.len());
        for mut s in streams {
            // A shard's first event is its start; anything else is kept.
            let first = match tokio::time::timeout_at(deadline, s.next()).await {
                Ok(Some(LiveEvent::Start { .. })) | Ok(None) | Err(_) => None,
                Ok(Some(other)) => Some(other),
            };
            started.push(futures::stream::iter(first).chain(s).boxed());
        }
        let base = u64::try_from(tael_core::time::now_ns() / 1_000).unwrap_or(1);
        let after = last_id.map_or(base, |l| l.max(base));
        let mut next = after;
        let head = futures::stream::iter(std::iter::once(LiveEvent::Start { after }).chain(
            last_id.map(|_| LiveEvent::Gap {
                missed: 0,
                exact: false,
            }),
        ));
        let body = futures::stream::select_all(started).filter_map(move |ev| {
            let out = match ev {
                LiveEvent::Start { .. } => None,
                LiveEvent::Item { item, .. } => {
                    next += 1;
                    Some(LiveEvent::Item { id: next, item })
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
