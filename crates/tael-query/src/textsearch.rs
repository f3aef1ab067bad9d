//! Full-text search of spans and log records through the text index
//! (`tael_storage::text`), and the snippets that show why a row matched.
//!
//! The index gives the newest rows whose texts match; each is then found
//! in storage (memtable chunks, or the Parquet row groups its time and
//! trace id allow, read for those three columns only), decoded, and held
//! to the query's other filters. When too few pass, the index is asked for
//! more (four times as many each round) until it has no more to give.

use crate::scan::{materialize, Loc};
use crate::QueryError;
use std::collections::{HashMap, HashSet};
use tael_core::model::{LogRecord, Span};
use tael_storage::columnar::logs;
use tael_storage::columnar::spans::SpanCols;
use tael_storage::columnar::Cols;
use tael_storage::part::{PartRef, RowGroupFilter};
use tael_storage::text::docs::{log_text, span_texts};
use tael_storage::text::{day_of, PhraseCheck, Text, TextContent, TextHit, TextQuery, TextSnippet};
use tael_storage::{Engine, Signal, Snapshot};

/// The most index hits asked for in one round.
const MAX_HITS: usize = 100_000;

/// Why a row matched: where the text is and a highlighted extract.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextMatch {
    /// The attribute (`event/attribute` for event attributes,
    /// `status_message`, or `body`) whose text matched.
    pub field: String,
    #[serde(flatten)]
    pub snippet: TextSnippet,
}

/// A search of one kind of row: the index query and the filters the index
/// does not apply.
pub(crate) struct RowSearch<'a, T> {
    pub query: TextQuery<'a>,
    /// The query's other filters, on a decoded row.
    pub passes: &'a dyn Fn(&T) -> bool,
    pub decode: &'a crate::scan::Decode<'a, T>,
    /// Whether the row is the one `hit` names (its time, trace and span
    /// ids already match).
    pub is_hit: &'a dyn Fn(&T, &TextHit) -> bool,
    /// The row's searchable texts.
    pub texts: &'a dyn Fn(&T) -> Vec<Text>,
}

/// A query's phrases held to the payloads its hits name, each payload
/// read and checked once per search (a system prompt shared by many rows
/// is one payload).
struct PhraseVerdicts {
    check: PhraseCheck,
    /// Text key → whether it holds the phrases.
    known: HashMap<u64, bool>,
}

impl PhraseVerdicts {
    /// Whether one of the texts `hit` found in a row holds up to the
    /// query's phrases: texts with positions were matched exactly by the
    /// index; a payload (indexed without positions) is checked on its
    /// content.
    fn hold(&mut self, engine: &Engine, texts: Vec<Text>, hit: &TextHit) -> bool {
        texts
            .iter()
            .filter(|t| hit.keys.contains(&t.key))
            .any(|t| match &t.content {
                TextContent::Inline(_) => true,
                TextContent::Blob(_) => *self.known.entry(t.key).or_insert_with(|| {
                    engine
                        .text_index()
                        .content(t)
                        .is_some_and(|c| self.check.matches(&c))
                }),
            })
    }
}

/// The newest `limit` rows that match, newest first.
pub(crate) fn search<T: Send>(
    engine: &Engine,
    s: &RowSearch<'_, T>,
    limit: usize,
    time_of: &dyn Fn(&T) -> i64,
) -> Result<Vec<T>, QueryError> {
    // A few more than asked for: some may fail the other filters.
    let mut want = limit + limit / 4 + 4;
    let mut phrases = engine
        .text_index()
        .phrase_check(s.query.text)?
        .map(|check| PhraseVerdicts {
            check,
            known: HashMap::new(),
        });
    loop {
        let mut q = s.query.clone();
        q.limit = want;
        let hits = engine.text_index().search(&q)?;
        let snap = engine.snapshot();
        let signal = q.kind;
        let parts: Vec<&PartRef> = snap.parts_of(signal).collect();
        let mut found = locate(&snap, signal, &parts, &hits.hits)?;
        found.sort_by_key(|(_, i)| std::cmp::Reverse(hits.hits[*i].time_ns));
        // Rows are decoded newest first, only as many as may still make
        // the result (reading one row of a row group decodes its pages).
        let mut decoded: HashMap<Loc, T> = HashMap::new();
        let mut read: HashSet<Loc> = HashSet::new();
        let mut out: Vec<T> = Vec::new();
        let mut taken_hits: HashSet<usize> = HashSet::new();
        for (at, &(loc, hit_ix)) in found.iter().enumerate() {
            if out.len() >= limit {
                break;
            }
            if !read.contains(&loc) {
                // As many as are missing; after a batch whose rows failed
                // the other filters, at least a few dozen, so that such
                // rows do not cost a read each.
                let need = match read.is_empty() {
                    true => limit - out.len(),
                    false => (limit - out.len()).max(64),
                };
                let mut batch: Vec<Loc> = Vec::with_capacity(need);
                let mut in_batch: HashSet<Loc> = HashSet::with_capacity(need);
                for (l, _) in &found[at..] {
                    if batch.len() >= need {
                        break;
                    }
                    if !read.contains(l) && in_batch.insert(*l) {
                        batch.push(*l);
                    }
                }
                batch.sort_unstable();
                let rows = materialize(&snap, signal, &parts, &batch, s.decode)?;
                read.extend(batch.iter().copied());
                decoded.extend(batch.into_iter().zip(rows));
            }
            // One row per hit (a re-delivered copy is the same row) and
            // one hit per row (records alike in time and ids are told
            // apart by their texts).
            if taken_hits.contains(&hit_ix) {
                continue;
            }
            let hit = &hits.hits[hit_ix];
            let ok = decoded.get(&loc).is_some_and(|row| {
                (s.is_hit)(row, hit)
                    && (s.passes)(row)
                    && phrases
                        .as_mut()
                        .is_none_or(|p| p.hold(engine, (s.texts)(row), hit))
            });
            if let Some(row) = ok.then(|| decoded.remove(&loc)).flatten() {
                taken_hits.insert(hit_ix);
                out.push(row);
            }
        }
        if out.len() >= limit || hits.complete || want >= MAX_HITS {
            out.sort_by_key(|r| std::cmp::Reverse(time_of(r)));
            out.truncate(limit);
            return Ok(out);
        }
        want = (want * 4).min(MAX_HITS);
    }
}

/// Where the rows of `hits` are, each with the index of its hit.
fn locate(
    snap: &Snapshot,
    signal: Signal,
    parts: &[&PartRef],
    hits: &[TextHit],
) -> Result<Vec<(Loc, usize)>, QueryError> {
    let time_col = signal.time_column();
    let mut by_time: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, h) in hits.iter().enumerate() {
        by_time.entry(h.time_ns).or_default().push(i);
    }
    let same = |h: &TextHit, trace: &str, span: &str| h.trace_id == trace && h.span_id == span;
    let mut out = Vec::new();
    for (ci, chunk) in snap.chunks_of(signal).iter().enumerate() {
        let c = Cols::new(&chunk.batch);
        let (t, trace, span) = (c.i64(time_col)?, c.text("trace_id")?, c.text("span_id")?);
        for row in 0..chunk.batch.num_rows() {
            let Some(ixs) = by_time.get(&t.value(row)) else {
                continue;
            };
            for &i in ixs {
                if same(&hits[i], trace.value(row), span.value(row)) {
                    out.push((Loc::Mem { chunk: ci, row }, i));
                }
            }
        }
    }
    // Part rows: by row group, each read once for the hits it may hold.
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_unstable_by_key(|i| hits[*i].time_ns);
    let mut groups: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for (pi, p) in parts.iter().enumerate() {
        let from = order.partition_point(|i| hits[*i].time_ns < p.meta.min_time_ns);
        let to = order.partition_point(|i| hits[*i].time_ns <= p.meta.max_time_ns);
        for &i in order.get(from..to).unwrap_or(&[]) {
            let h = &hits[i];
            let filter = RowGroupFilter {
                min_time: Some((time_col, h.time_ns)),
                max_time: Some((time_col, h.time_ns)),
                // Rows without a trace id hold it as null, which statistics
                // leave out: only a real id can prune.
                equals: match h.trace_id.is_empty() {
                    true => Vec::new(),
                    false => vec![("trace_id", h.trace_id.as_str())],
                },
                bloom: (!h.trace_id.is_empty()).then_some(("trace_id", h.trace_id.as_str())),
            };
            for rg in p.row_groups(&filter)? {
                groups.entry((pi, rg)).or_default().push(i);
            }
        }
    }
    let mut groups: Vec<((usize, usize), Vec<usize>)> = groups.into_iter().collect();
    groups.sort_unstable_by_key(|(k, _)| *k);
    for ((pi, rg), ixs) in groups {
        let mut by_time: HashMap<i64, Vec<usize>> = HashMap::new();
        for i in ixs {
            by_time.entry(hits[i].time_ns).or_default().push(i);
        }
        let mut offset = 0;
        for batch in parts[pi].scan_group(rg, Some(&[time_col, "trace_id", "span_id"]))? {
            let c = Cols::new(&batch);
            let (t, trace, span) = (c.i64(time_col)?, c.text("trace_id")?, c.text("span_id")?);
            for row in 0..batch.num_rows() {
                let Some(ixs) = by_time.get(&t.value(row)) else {
                    continue;
                };
                for &i in ixs {
                    if same(&hits[i], trace.value(row), span.value(row)) {
                        let loc = Loc::Part {
                            part: pi,
                            rg,
                            row: offset + row,
                        };
                        out.push((loc, i));
                    }
                }
            }
            offset += batch.num_rows();
        }
    }
    Ok(out)
}

/// Spans through the index (see [`crate::traces::search_spans`]).
pub(crate) fn spans(
    engine: &Engine,
    query: TextQuery<'_>,
    passes: &dyn Fn(&Span) -> bool,
    limit: usize,
) -> Result<Vec<Span>, QueryError> {
    let s = RowSearch {
        query,
        passes,
        decode: &|b, i| Ok(SpanCols::new(b)?.row(i)?),
        is_hit: &|_, _| true,
        texts: &|sp: &Span| span_texts(sp).into_iter().map(|(_, t)| t).collect(),
    };
    search(engine, &s, limit, &|sp: &Span| sp.start_ns)
}

/// Log records through the index (see [`crate::logs::search_logs`]).
pub(crate) fn log_records(
    engine: &Engine,
    query: TextQuery<'_>,
    passes: &dyn Fn(&LogRecord) -> bool,
    limit: usize,
) -> Result<Vec<LogRecord>, QueryError> {
    let s = RowSearch {
        query,
        passes,
        decode: &|b, i| Ok(logs::row(b, i)?),
        // Records sharing a time and ids: the one whose body matched.
        is_hit: &|l: &LogRecord, h: &TextHit| log_text(l).is_some_and(|t| h.keys.contains(&t.key)),
        texts: &|l: &LogRecord| log_text(l).into_iter().collect(),
    };
    search(engine, &s, limit, &|l: &LogRecord| l.time_ns)
}

/// The first of `texts` the query matches in, highlighted.
fn first_match(
    engine: &Engine,
    hl: &mut tael_storage::text::Highlighter<'_>,
    day: i64,
    texts: Vec<(String, Text)>,
) -> Option<TextMatch> {
    texts.into_iter().find_map(|(field, t)| {
        let content = engine.text_index().content(&t)?;
        let snippet = hl.snippet(day, &content)?;
        Some(TextMatch { field, snippet })
    })
}

/// Why each span matched `text` (`None` where no text of it shows a match
/// the highlighter can mark, e.g. a query of excluded words only).
pub fn span_matches(
    engine: &Engine,
    text: &str,
    spans: &[Span],
) -> Result<Vec<Option<TextMatch>>, QueryError> {
    let mut hl = engine.text_index().highlighter(text)?;
    Ok(spans
        .iter()
        .map(|s| first_match(engine, &mut hl, day_of(s.start_ns), span_texts(s)))
        .collect())
}

/// Why each log record matched `text`.
pub fn log_matches(
    engine: &Engine,
    text: &str,
    records: &[LogRecord],
) -> Result<Vec<Option<TextMatch>>, QueryError> {
    let mut hl = engine.text_index().highlighter(text)?;
    Ok(records
        .iter()
        .map(|l| {
            let texts = log_text(l).map(|t| ("body".to_string(), t));
            first_match(
                engine,
                &mut hl,
                day_of(l.time_ns),
                texts.into_iter().collect(),
            )
        })
        .collect())
}
