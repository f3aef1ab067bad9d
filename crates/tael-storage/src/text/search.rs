//! Searching the index: finding the keys of the texts that match, then the
//! newest rows that carry one, day by day from the newest; and highlighting
//! the matches in a row's texts.

use super::*;
use std::collections::BTreeMap;
use std::ops::Bound;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, QueryParser, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Order, Searcher, Term};

/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;

/// Distinct matching texts a day may contribute to one search.
const MAX_KEYS: usize = 1_000_000;
/// Up to this many keys, rows are found through their key terms.
pub(super) const FEW_KEYS: usize = 256;

/// A row a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextHit {
    pub time_ns: i64,
    pub trace_id: String,
    pub span_id: String,
    /// The keys of the row's texts that matched.
    pub keys: Vec<u64>,
}

/// What a search found, newest first.
#[derive(Debug, Clone, Default)]
pub struct TextHits {
    pub hits: Vec<TextHit>,
    /// Whether these are all the rows that match (otherwise ask for more).
    pub complete: bool,
}

/// A search of the rows of one kind.
#[derive(Debug, Clone)]
pub struct TextQuery<'a> {
    /// Tantivy query syntax over the texts: words (all must match), "a
    /// phrase", OR, -excluded, "a phrase prefi"*; `:` is taken as text.
    pub text: &'a str,
    pub kind: Signal,
    pub service: Option<&'a str>,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    pub limit: usize,
}

/// A highlighted extract of a text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextSnippet {
    /// The extract with each match in `**`.
    pub snippet: String,
    /// The extract as it is.
    pub fragment: String,
    /// Byte ranges of the matches in `fragment`.
    pub highlights: Vec<[usize; 2]>,
}

/// A text query in tantivy's syntax. There is one field, so `:` can only
/// be text (where the tokenizer splits anyway), never the field syntax:
/// "error: timeout" works.
fn query_syntax(text: &str) -> String {
    text.replace(':', " ")
}

impl TextIndex {
    fn kind_query(&self, code: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(self.shared.f.kind, code),
            IndexRecordOption::Basic,
        ))
    }

    /// The keys of the text documents `searcher` sees that match `query`.
    /// More than [`MAX_KEYS`] is an error (the query is too broad to turn
    /// into a key set).
    fn keys_matching(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<HashSet<u64>, StorageError> {
        let q = BooleanQuery::new(vec![
            (Occur::Must, self.kind_query("t")),
            (Occur::Must, query.box_clone()),
        ]);
        let weight = q
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(err)?;
        let mut keys = HashSet::new();
        for seg in searcher.segment_readers() {
            let col = seg.fast_fields().u64("key").map_err(err)?;
            weight
                .for_each_no_score(seg, &mut |docs| {
                    // Past the cap, stop growing (the error follows).
                    if keys.len() <= MAX_KEYS {
                        keys.extend(docs.iter().filter_map(|d| col.first(*d)));
                    }
                })
                .map_err(err)?;
            if keys.len() > MAX_KEYS {
                return Err(StorageError::InvalidArgument(format!(
                    "the text query matches more than {MAX_KEYS} distinct texts in a day; add words or use a phrase"
                )));
            }
        }
        Ok(keys)
    }

    /// The newest `limit` row documents of `q`'s kind (and service and
    /// time range) that carry one of `keys`: through the key terms when
    /// there are few, else by reading the key column of every such row (a
    /// set of many terms costs more to intersect with the term dictionary
    /// than the column costs to read).
    fn newest_rows(
        &self,
        searcher: &Searcher,
        q: &TextQuery<'_>,
        keys: &HashSet<u64>,
        limit: usize,
    ) -> Result<Vec<(i64, DocAddress)>, StorageError> {
        let f = self.shared.f;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, self.kind_query(kind_code(q.kind)))];
        if let Some(s) = q.service {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.service, s),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        if q.since_ns.is_some() || q.until_ns.is_some() {
            let bound = |t: Option<i64>, inclusive: bool| match t {
                None => Bound::Unbounded,
                Some(t) if inclusive => Bound::Included(Term::from_field_i64(f.time, t)),
                Some(t) => Bound::Excluded(Term::from_field_i64(f.time, t)),
            };
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    bound(q.since_ns, true),
                    bound(q.until_ns, false),
                )),
            ));
        }
        if keys.len() <= FEW_KEYS {
            clauses.push((
                Occur::Must,
                Box::new(TermSetQuery::new(
                    keys.iter().map(|k| Term::from_field_u64(f.key, *k)),
                )),
            ));
            return searcher
                .search(
                    &BooleanQuery::new(clauses),
                    &TopDocs::with_limit(limit).order_by_fast_field::<i64>("time", Order::Desc),
                )
                .map_err(err);
        }
        let weight = BooleanQuery::new(clauses)
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(err)?;
        // A min-heap of the newest `limit`.
        let mut top: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u32, u32)>> =
            std::collections::BinaryHeap::with_capacity(limit + 1);
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let key_col = seg.fast_fields().u64("key").map_err(err)?;
            let time_col = seg.fast_fields().i64("time").map_err(err)?;
            weight
                .for_each_no_score(seg, &mut |docs| {
                    for &d in docs {
                        let t = time_col.first(d).unwrap_or(i64::MIN);
                        if top.len() >= limit && top.peek().is_some_and(|m| m.0 .0 >= t) {
                            continue;
                        }
                        if key_col.values_for_doc(d).any(|k| keys.contains(&k)) {
                            top.push(std::cmp::Reverse((t, ord as u32, d)));
                            if top.len() > limit {
                                top.pop();
                            }
                        }
                    }
                })
                .map_err(err)?;
        }
        let mut out: Vec<(i64, DocAddress)> = top
            .into_iter()
            .map(|std::cmp::Reverse((t, ord, d))| (t, DocAddress::new(ord, d)))
            .collect();
        out.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        Ok(out)
    }

    fn parse(&self, text: &str) -> Result<Box<dyn Query>, StorageError> {
        if text.trim().is_empty() {
            return Err(StorageError::InvalidArgument("empty text query".into()));
        }
        let mut parser = QueryParser::for_index(&self.parser_index, vec![self.shared.f.text]);
        parser.set_conjunction_by_default();
        parser
            .parse_query(&query_syntax(text))
            .map_err(|e| StorageError::InvalidArgument(format!("invalid text query {text:?}: {e}")))
    }

    /// `text` (accepted by [`TextIndex::parse`]) as the bulk field and the
    /// phrase check read it, with the analyzer that split its words.
    fn bulk_expr(text: &str) -> Option<(bulk::Expr, TextAnalyzer)> {
        let mut analyzer = bulk::analyzer();
        let expr = bulk::Expr::parse(&mut analyzer, &query_syntax(text))?;
        Some((expr, analyzer))
    }

    /// `text` over both text fields: with positions, and the distinct
    /// terms of payloads ([`super::bulk`]).
    fn parse_both(&self, text: &str) -> Result<Box<dyn Query>, StorageError> {
        let positional = self.parse(text)?;
        let Some((expr, _)) = Self::bulk_expr(text) else {
            return Ok(positional);
        };
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Should, positional),
            (Occur::Should, expr.bulk_query(self.shared.f.bulk)),
        ])))
    }

    /// What a payload found by `text` must still pass: its phrases (see
    /// [`super::bulk`]); `None` when `text` has none.
    pub fn phrase_check(&self, text: &str) -> Result<Option<PhraseCheck>, StorageError> {
        self.parse(text)?;
        Ok(Self::bulk_expr(text)
            .filter(|(expr, _)| expr.has_phrase())
            .map(|(expr, analyzer)| PhraseCheck { expr, analyzer }))
    }

    /// The newest rows whose texts match (see [`TextQuery`]): a payload
    /// found through a phrase is a candidate the caller holds to
    /// [`TextIndex::phrase_check`]. Commits first, so every acknowledged
    /// row is searched.
    pub fn search(&self, q: &TextQuery<'_>) -> Result<TextHits, StorageError> {
        let query = self.parse_both(q.text)?;
        self.commit();
        let limit = q.limit.max(1);
        let first = q.since_ns.map(day_of).unwrap_or(i64::MIN);
        let last = q
            .until_ns
            .map(|t| day_of(t.saturating_sub(1)))
            .unwrap_or(i64::MAX);
        let mut out = TextHits {
            hits: Vec::new(),
            complete: true,
        };
        let days: Vec<(i64, Arc<Day>)> = self
            .shared
            .all_days()
            .into_iter()
            .rev()
            .filter(|(day, _)| (first..=last).contains(day))
            .collect();
        for (_, d) in days {
            if out.hits.len() >= limit {
                out.complete = false;
                break;
            }
            let searcher = d.reader.searcher();
            let keys = self.keys_matching(&searcher, &*query)?;
            if keys.is_empty() {
                continue;
            }
            let top = self.newest_rows(&searcher, q, &keys, limit)?;
            if top.len() >= limit {
                out.complete = false;
            }
            for (time_ns, addr) in top {
                let doc: TantivyDocument = searcher.doc(addr).map_err(err)?;
                let row_keys = searcher
                    .segment_reader(addr.segment_ord)
                    .fast_fields()
                    .u64("key")
                    .map_err(err)?;
                let matched: Vec<u64> = row_keys
                    .values_for_doc(addr.doc_id)
                    .filter(|k| keys.contains(k))
                    .collect();
                let text_of = |f: Field| {
                    doc.get_first(f)
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                out.hits.push(TextHit {
                    time_ns,
                    trace_id: text_of(self.shared.f.trace_id),
                    span_id: text_of(self.shared.f.span_id),
                    keys: matched,
                });
            }
        }
        out.hits.sort_by_key(|h| std::cmp::Reverse(h.time_ns));
        out.hits.truncate(limit);
        Ok(out)
    }

    /// A highlighter of `text` (the query of a search).
    pub fn highlighter(&self, text: &str) -> Result<Highlighter<'_>, StorageError> {
        Ok(Highlighter {
            index: self,
            query: self.parse(text)?,
            generators: HashMap::new(),
        })
    }
}

/// Highlights the matches of one query in texts of the rows it found.
pub struct Highlighter<'a> {
    index: &'a TextIndex,
    query: Box<dyn Query>,
    /// Per day: term weights come from the day the row is in.
    generators: HashMap<i64, Option<SnippetGenerator>>,
}

impl Highlighter<'_> {
    /// The best extract of `text` (a text of a row of `day`), when the
    /// query matches in it.
    pub fn snippet(&mut self, day: i64, text: &str) -> Option<TextSnippet> {
        let gen = self.generators.entry(day).or_insert_with(|| {
            let d = self.index.shared.days.read().get(&day).cloned()?;
            let f = self.index.shared.f;
            let searcher = d.reader.searcher();
            // Each term weighs by how rare it is in the day, payloads (the
            // bulk field) counted; a term no text of the day holds is left
            // out, as tantivy's own generator does.
            let mut terms: BTreeMap<String, f32> = BTreeMap::new();
            let mut failed = false;
            self.query.query_terms(&mut |term, _| {
                let value = term.value();
                let Some(word) = value.as_str().filter(|_| term.field() == f.text) else {
                    return;
                };
                let freq = |field| searcher.doc_freq(&Term::from_field_text(field, word));
                match (freq(f.text), freq(f.bulk)) {
                    (Ok(a), Ok(b)) if a + b > 0 => {
                        terms.insert(word.to_string(), 1.0 / (1.0 + (a + b) as f32));
                    }
                    (Ok(_), Ok(_)) => {}
                    _ => failed = true,
                }
            });
            if failed {
                return None;
            }
            let tokenizer = searcher.index().tokenizer_for_field(f.text).ok()?;
            Some(SnippetGenerator::new(
                terms,
                tokenizer,
                f.text,
                SNIPPET_CHARS,
            ))
        });
        let s = gen.as_ref()?.snippet(text);
        if s.highlighted().is_empty() {
            return None;
        }
        let fragment = s.fragment().to_string();
        let mut marked = String::with_capacity(fragment.len() + 8);
        let mut at = 0;
        let mut highlights = Vec::new();
        for r in s.highlighted() {
            let (a, b) = (r.start.min(fragment.len()), r.end.min(fragment.len()));
            if a < at || !fragment.is_char_boundary(a) || !fragment.is_char_boundary(b) {
                continue;
            }
            marked.push_str(&fragment[at..a]);
            marked.push_str("**");
            marked.push_str(&fragment[a..b]);
            marked.push_str("**");
            at = b;
            highlights.push([a, b]);
        }
        marked.push_str(&fragment[at..]);
        Some(TextSnippet {
            snippet: marked,
            fragment,
            highlights,
        })
    }
}
