//! Live feeds: the spans and log records of every export, as they become
//! durable, for the SSE routes (`/api/v1/traces/live`, `/api/v1/logs/live`)
//! and whatever else follows the data as it arrives.
//!
//! A feed per signal numbers its events: each stored row gets the next id,
//! so ids only grow and one export's rows are consecutive. A feed keeps
//! its newest events in a bounded ring of stored batches (the same Arrow
//! columns the memtable holds, so buffering costs no copy) of at least
//! `capacity` events; a subscriber is a cursor into that ring, so a slow
//! subscriber costs no memory of its own beyond the one batch it is
//! sending. Rows are decoded (and filtered) by each subscriber, off the
//! ingest path.
//!
//! What a subscriber can be told besides events:
//! - [`LiveEvent::Gap`]: it resumed after an id the ring no longer holds
//!   (or one of an earlier server process); `missed` events of the feed
//!   are gone, counted before the subscriber's filter.
//! - [`LiveEvent::Lagged`]: it read more slowly than the feed grew and the
//!   ring moved past it; `dropped` events of the feed were skipped.
//!
//! Ids start at the process's start time in microseconds, so the ids of a
//! restarted server continue above those of the one before (unless it
//! published more than one event per microsecond of its uptime).

use crate::logs::LogQuery;
use crate::params::Params;
use crate::traces::TraceQuery;
use crate::QueryError;
use arrow::array::RecordBatch;
use futures::stream::BoxStream;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use tael_core::model::{LogRecord, Span};
use tael_storage::blobs::BlobStore;
use tael_storage::Signal;
use tokio::sync::watch;

/// The route of the spans stream.
pub const TRACES_LIVE_ROUTE: &str = "/api/v1/traces/live";
/// The route of the logs stream.
pub const LOGS_LIVE_ROUTE: &str = "/api/v1/logs/live";

/// Events a feed keeps for resuming, per signal, by default.
pub const DEFAULT_LIVE_BUFFER: usize = 10_000;

/// What a live stream yields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LiveEvent<T> {
    /// First, once: the stream follows the events after this id (resuming
    /// after it misses nothing of what the stream would have sent).
    Start { after: u64 },
    /// One stored item and its feed id.
    Item { id: u64, item: T },
    /// Resumed after events the buffer no longer holds. `exact` is false
    /// when the last id came from an earlier server process (then more
    /// than `missed` may be gone).
    Gap { missed: u64, exact: bool },
    /// The subscriber fell behind and the feed moved past it.
    Lagged { dropped: u64 },
}

/// Parameters of the search routes that a live stream has no use for.
const NOT_LIVE: [(&str, &str); 5] = [
    ("last", "a live stream starts now; resume with Last-Event-ID"),
    ("since", "a live stream starts now; resume with Last-Event-ID"),
    ("until", "a live stream has no end time"),
    ("limit", "a live stream has no limit; close it when done"),
    (
        "text",
        "full-text search runs over the index, not a live stream; use body_contains (logs) or search afterwards",
    ),
];

fn refuse_not_live(p: &Params) -> Result<(), QueryError> {
    for (key, why) in NOT_LIVE {
        if p.get(key).is_some() {
            return Err(QueryError::InvalidArgument(format!(
                "{key} does not apply to a live stream: {why}"
            )));
        }
    }
    Ok(())
}

fn without_limit(p: Params) -> Params {
    Params(p.0.into_iter().filter(|(k, _)| k != "limit").collect())
}

/// The filters of `GET /api/v1/traces/live`: those of `/api/v1/traces`
/// (service, operation, status, min/max_duration_ms, attribute) without
/// the time window, the limit and full-text search.
#[derive(Debug, Clone)]
pub struct LiveSpanFilter(TraceQuery);

impl LiveSpanFilter {
    pub fn from_params(p: &Params) -> Result<LiveSpanFilter, QueryError> {
        refuse_not_live(p)?;
        Ok(LiveSpanFilter(TraceQuery::from_params(p)?))
    }

    /// The filters of a search request (its window, limit and text unused).
    pub fn from_query(q: TraceQuery) -> Result<LiveSpanFilter, QueryError> {
        LiveSpanFilter::from_params(&without_limit(q.to_params()))
    }

    pub fn to_params(&self) -> Params {
        without_limit(self.0.to_params())
    }

    pub fn passes(&self, s: &Span) -> bool {
        self.0.passes(s, None)
    }
}

/// The filters of `GET /api/v1/logs/live`: those of `/api/v1/logs`
/// (service, severity, body_contains, trace_id) without the time window,
/// the limit and full-text search.
#[derive(Debug, Clone)]
pub struct LiveLogFilter(LogQuery);

impl LiveLogFilter {
    pub fn from_params(p: &Params) -> Result<LiveLogFilter, QueryError> {
        refuse_not_live(p)?;
        Ok(LiveLogFilter(LogQuery::from_params(p)?))
    }

    pub fn from_query(q: LogQuery) -> Result<LiveLogFilter, QueryError> {
        LiveLogFilter::from_params(&without_limit(q.to_params()))
    }

    pub fn to_params(&self) -> Params {
        without_limit(self.0.to_params())
    }

    pub fn passes(&self, l: &LogRecord, blobs: &BlobStore) -> bool {
        self.0.passes(l, None, blobs)
    }
}

struct Entry {
    first_id: u64,
    batch: RecordBatch,
}

impl Entry {
    fn end(&self) -> u64 {
        self.first_id + self.batch.num_rows() as u64
    }
}

struct Ring {
    entries: VecDeque<Entry>,
    /// Events in `entries`.
    events: u64,
    /// The id the next event gets.
    next_id: u64,
}

/// What a subscriber reads next.
enum Step {
    /// Rows `from_row..` of a batch, the first of them with id `first_id`.
    Rows {
        batch: RecordBatch,
        from_row: usize,
        first_id: u64,
    },
    /// The ring moved past the cursor by this many events.
    Skipped(u64),
    /// Nothing after the cursor yet.
    Wait,
}

/// The live feed of one signal.
pub struct Feed {
    ring: Mutex<Ring>,
    capacity: u64,
    /// The first id of this process.
    base: u64,
    /// The id of the next event (changes wake subscribers).
    published: watch::Sender<u64>,
}

impl Feed {
    /// A feed that keeps at least `capacity` events (the newest batch is
    /// always kept whole).
    pub fn new(capacity: usize) -> Feed {
        let base = u64::try_from(tael_core::time::now_ns() / 1_000).unwrap_or(1);
        Feed::starting_at(capacity, base)
    }

    fn starting_at(capacity: usize, base: u64) -> Feed {
        Feed {
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                events: 0,
                next_id: base,
            }),
            capacity: capacity.max(1) as u64,
            base,
            published: watch::channel(base).0,
        }
    }

    /// Adds the rows of one stored batch.
    pub fn publish(&self, batch: &RecordBatch) {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return;
        }
        let next = {
            let mut ring = self.ring.lock();
            let first_id = ring.next_id;
            ring.next_id += rows;
            ring.events += rows;
            ring.entries.push_back(Entry {
                first_id,
                batch: batch.clone(),
            });
            while ring.entries.len() > 1 {
                let front = ring.entries[0].batch.num_rows() as u64;
                if ring.events - front < self.capacity {
                    break;
                }
                ring.events -= front;
                ring.entries.pop_front();
            }
            ring.next_id
        };
        self.published.send_replace(next);
    }

    /// Where a subscriber starts: after the newest event, or after
    /// `last_id` (a `Last-Event-ID`), with the gap when events after it
    /// are gone.
    fn start(&self, last_id: Option<u64>) -> (u64, Option<(u64, bool)>) {
        let ring = self.ring.lock();
        let newest = ring.next_id - 1;
        let Some(last) = last_id else {
            return (newest, None);
        };
        let oldest = ring.entries.front().map_or(ring.next_id, |e| e.first_id);
        if last >= newest {
            // Nothing newer (an id above ours is not one this feed gave).
            return (newest, None);
        }
        if last + 1 >= oldest {
            return (last, None);
        }
        let exact = last + 1 >= self.base;
        let missed = oldest - last.max(self.base - 1) - 1;
        (oldest - 1, Some((missed, exact)))
    }

    fn step(&self, cursor: u64) -> Step {
        let ring = self.ring.lock();
        let want = cursor + 1;
        if want >= ring.next_id {
            return Step::Wait;
        }
        let Some(front) = ring.entries.front() else {
            return Step::Wait;
        };
        if want < front.first_id {
            return Step::Skipped(front.first_id - want);
        }
        // Entries are in id order: the one holding `want`.
        let at = ring.entries.partition_point(|e| e.end() <= want);
        match ring.entries.get(at) {
            Some(e) => Step::Rows {
                batch: e.batch.clone(),
                from_row: (want - e.first_id) as usize,
                first_id: want,
            },
            None => Step::Wait,
        }
    }

    /// The events after `last_id` (or from now), each row decoded by
    /// `decode` (`None`: filtered out).
    pub fn subscribe<T, D>(
        self: &Arc<Self>,
        last_id: Option<u64>,
        decode: D,
    ) -> BoxStream<'static, LiveEvent<T>>
    where
        T: Send + 'static,
        D: Fn(&RecordBatch, usize) -> Option<T> + Send + 'static,
    {
        let (cursor, gap) = self.start(last_id);
        let state = Subscriber {
            feed: self.clone(),
            woken: self.published.subscribe(),
            cursor,
            pending: VecDeque::new(),
            decode,
        };
        let rest = futures::stream::unfold(state, |mut s| async move {
            let ev = s.next().await;
            Some((ev, s))
        });
        let mut first = vec![LiveEvent::Start { after: cursor }];
        if let Some((missed, exact)) = gap {
            first.push(LiveEvent::Gap { missed, exact });
        }
        Box::pin(futures::StreamExt::chain(
            futures::stream::iter(first),
            rest,
        ))
    }
}

struct Subscriber<T, D> {
    feed: Arc<Feed>,
    woken: watch::Receiver<u64>,
    /// The id of the last event read from the ring.
    cursor: u64,
    /// Decoded events of the batch being sent.
    pending: VecDeque<LiveEvent<T>>,
    decode: D,
}

impl<T, D> Subscriber<T, D>
where
    D: Fn(&RecordBatch, usize) -> Option<T>,
{
    async fn next(&mut self) -> LiveEvent<T> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return ev;
            }
            // Marked seen before looking, so a publish after the look wakes.
            self.woken.borrow_and_update();
            match self.feed.step(self.cursor) {
                Step::Rows {
                    batch,
                    from_row,
                    first_id,
                } => {
                    for row in from_row..batch.num_rows() {
                        let id = first_id + (row - from_row) as u64;
                        if let Some(item) = (self.decode)(&batch, row) {
                            self.pending.push_back(LiveEvent::Item { id, item });
                        }
                    }
                    self.cursor = first_id + (batch.num_rows() - from_row) as u64 - 1;
                }
                Step::Skipped(dropped) => {
                    self.cursor += dropped;
                    return LiveEvent::Lagged { dropped };
                }
                Step::Wait => {
                    if self.woken.changed().await.is_err() {
                        // The feed is gone (never while the Arc is held).
                        std::future::pending::<()>().await;
                    }
                }
            }
        }
    }
}

/// The feeds of a store: spans and logs.
pub struct LiveFeeds {
    pub spans: Arc<Feed>,
    pub logs: Arc<Feed>,
}

impl LiveFeeds {
    pub fn new(capacity: usize) -> LiveFeeds {
        LiveFeeds {
            spans: Arc::new(Feed::new(capacity)),
            logs: Arc::new(Feed::new(capacity)),
        }
    }

    /// Adds a stored batch of `signal` to its feed (metrics have none).
    pub fn publish(&self, signal: Signal, batch: &RecordBatch) {
        match signal {
            Signal::Spans => self.spans.publish(batch),
            Signal::Logs => self.logs.publish(batch),
            Signal::Metrics => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use futures::StreamExt;
    use std::time::Duration;

    fn batch(values: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(values))])
            .expect("batch")
    }

    fn value(b: &RecordBatch, i: usize) -> Option<i64> {
        b.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .map(|a| a.value(i))
    }

    async fn take(s: &mut BoxStream<'static, LiveEvent<i64>>, n: usize) -> Vec<LiveEvent<i64>> {
        let mut out = Vec::new();
        for _ in 0..n {
            let ev = tokio::time::timeout(Duration::from_secs(5), s.next())
                .await
                .expect("event in time")
                .expect("stream open");
            out.push(ev);
        }
        out
    }

    fn items(evs: &[LiveEvent<i64>]) -> Vec<(u64, i64)> {
        evs.iter()
            .filter_map(|e| match e {
                LiveEvent::Item { id, item } => Some((*id, *item)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn ids_grow_and_subscribers_start_now() {
        let feed = Arc::new(Feed::starting_at(100, 1000));
        feed.publish(&batch(0..3));
        let mut s = feed.subscribe(None, value);
        feed.publish(&batch(3..5));
        let evs = take(&mut s, 3).await;
        assert_eq!(evs[0], LiveEvent::Start { after: 1002 });
        assert_eq!(items(&evs), vec![(1003, 3), (1004, 4)]);
    }

    #[tokio::test]
    async fn resume_is_exact_and_filters_apply() {
        let feed = Arc::new(Feed::starting_at(100, 1000));
        feed.publish(&batch(0..10));
        let even = |b: &RecordBatch, i| value(b, i).filter(|v| v % 2 == 0);
        let mut s = feed.subscribe(Some(1004), even);
        let evs = take(&mut s, 3).await;
        assert_eq!(items(&evs), vec![(1006, 6), (1008, 8)]);
    }

    #[tokio::test]
    async fn resume_past_the_buffer_is_a_gap() {
        let feed = Arc::new(Feed::starting_at(10, 1000));
        for i in 0..5 {
            feed.publish(&batch(i * 10..i * 10 + 10));
        }
        // Kept: the last batch, ids 1040..1049.
        let mut s = feed.subscribe(Some(1005), value);
        let evs = take(&mut s, 3).await;
        assert_eq!(evs[0], LiveEvent::Start { after: 1039 });
        assert_eq!(
            evs[1],
            LiveEvent::Gap {
                missed: 34,
                exact: true
            }
        );
        assert_eq!(items(&evs[2..]), vec![(1040, 40)]);
        // An id of an earlier process: all of this one's evicted events.
        let mut s = feed.subscribe(Some(7), value);
        let evs = take(&mut s, 2).await;
        assert_eq!(
            evs[1],
            LiveEvent::Gap {
                missed: 40,
                exact: false
            }
        );
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged() {
        let feed = Arc::new(Feed::starting_at(10, 1000));
        let mut s = feed.subscribe(None, value);
        feed.publish(&batch(0..10));
        assert_eq!(items(&take(&mut s, 2).await), vec![(1000, 0)]);
        for i in 1..4 {
            feed.publish(&batch(i * 10..i * 10 + 10));
        }
        // It holds the rest of the first batch, then the ring moved on.
        let evs = take(&mut s, 11).await;
        assert_eq!(items(&evs[..9]).len(), 9);
        assert_eq!(evs[9], LiveEvent::Lagged { dropped: 20 });
        assert_eq!(items(&evs[10..]), vec![(1030, 30)]);
    }

    #[test]
    fn the_ring_stays_bounded() {
        let feed = Feed::starting_at(25, 1000);
        for i in 0..100 {
            feed.publish(&batch(i * 10..i * 10 + 10));
        }
        let ring = feed.ring.lock();
        assert!(ring.events >= 25 && ring.events < 35, "{}", ring.events);
        assert_eq!(ring.next_id, 2000);
    }
}
