//! How a fan-out combines what its shards answer: newest-first lists,
//! PromQL series (live streams: `super::live`).

use crate::promql::series::Loaded;
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
