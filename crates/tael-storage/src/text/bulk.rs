//! Texts indexed without positions: the `bulk` field, which holds the
//! payloads kept in the blob store (prompts and completions, most of the
//! bytes indexed). A term's postings there say which texts hold it, not
//! where or how often, so a payload costs one posting per distinct term
//! instead of a position per word, and merges copy no positions.
//!
//! A search finds these texts through [`Expr::bulk_query`], the user's
//! query with each phrase read as all of its words (and a phrase's last
//! word as a prefix when it is one). That is exact for words, exclusions
//! and OR, and a superset for phrases: a text found through a phrase is
//! then held to the phrase by [`PhraseCheck`] on its content, which the
//! caller reads anyway to show the match.
//!
//! Ranges and sets of terms (`[a TO b]`, `IN [..]`) only search texts with
//! positions (log bodies and inline texts).

use std::collections::HashMap;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhrasePrefixQuery, Query, TermQuery,
};
use tantivy::query_grammar::{UserInputAst, UserInputLeaf};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::Term;

/// The analyzer of the text fields ("default": words split at anything
/// not alphanumeric, words of 40 bytes or more dropped, lower case).
pub(super) fn analyzer() -> TextAnalyzer {
    TokenizerManager::default()
        .get("default")
        .unwrap_or_default()
}

/// A text query as the bulk field and the phrase check read it.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    /// `*`: every text.
    All,
    /// A leaf only the positional field answers (a range, a set).
    Other,
    /// One literal: its words with their positions, the slop, and whether
    /// the last word is a prefix. One word is a term; more, a phrase.
    Words {
        words: Vec<(usize, String)>,
        slop: u32,
        prefix: bool,
    },
    Bool(Vec<(Occur, Expr)>),
}

impl Expr {
    /// `text` in tantivy's query syntax (already accepted by the query
    /// parser), literals split into words by `analyzer`.
    pub(super) fn parse(analyzer: &mut TextAnalyzer, text: &str) -> Option<Expr> {
        let ast = tantivy::query_grammar::parse_query(text).ok()?;
        Some(Self::of_ast(analyzer, ast))
    }

    fn of_ast(analyzer: &mut TextAnalyzer, ast: UserInputAst) -> Expr {
        match ast {
            // The parser's default is conjunction.
            UserInputAst::Clause(cs) => Expr::Bool(
                cs.into_iter()
                    .map(|(o, a)| (o.unwrap_or(Occur::Must), Self::of_ast(analyzer, a)))
                    .collect(),
            ),
            UserInputAst::Boost(a, _) => Self::of_ast(analyzer, *a),
            UserInputAst::Leaf(leaf) => match *leaf {
                UserInputLeaf::Literal(l) => {
                    let mut words = Vec::new();
                    let mut stream = analyzer.token_stream(&l.phrase);
                    while stream.advance() {
                        let t = stream.token();
                        words.push((t.position, t.text.clone()));
                    }
                    Expr::Words {
                        words,
                        slop: l.slop,
                        prefix: l.prefix,
                    }
                }
                UserInputLeaf::All => Expr::All,
                _ => Expr::Other,
            },
        }
    }

    /// Whether a text found through [`Expr::bulk_query`] may still fail
    /// the query (it has a phrase).
    pub(super) fn has_phrase(&self) -> bool {
        match self {
            Expr::Words { words, .. } => words.len() > 1,
            Expr::Bool(cs) => cs.iter().any(|(_, e)| e.has_phrase()),
            Expr::All | Expr::Other => false,
        }
    }

    /// The query over `field` (a field of distinct terms) that finds every
    /// text this one matches, phrases read as all of their words.
    pub(super) fn bulk_query(&self, field: Field) -> Box<dyn Query> {
        self.bulk(field).unwrap_or_else(|| Box::new(EmptyQuery))
    }

    fn bulk(&self, field: Field) -> Option<Box<dyn Query>> {
        let term = |w: &str| Term::from_field_text(field, w);
        match self {
            Expr::All => Some(Box::new(AllQuery)),
            Expr::Other => Some(Box::new(EmptyQuery)),
            Expr::Words {
                words,
                prefix,
                slop: _,
            } => {
                let last = words.len().checked_sub(1)?;
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = words
                    .iter()
                    .enumerate()
                    .map(|(i, (_, w))| {
                        let q: Box<dyn Query> = match *prefix && i == last {
                            true => Box::new(PhrasePrefixQuery::new(vec![term(w)])),
                            false => Box::new(TermQuery::new(term(w), IndexRecordOption::Basic)),
                        };
                        (Occur::Must, q)
                    })
                    .collect();
                match clauses.len() {
                    1 => clauses.pop().map(|(_, q)| q),
                    _ => Some(Box::new(BooleanQuery::new(clauses))),
                }
            }
            Expr::Bool(cs) => {
                let clauses: Vec<(Occur, Box<dyn Query>)> = cs
                    .iter()
                    .filter_map(|(o, e)| Some((*o, e.bulk(field)?)))
                    .collect();
                (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<_>)
            }
        }
    }
}

/// Holds texts found through the bulk field to the query's phrases (see
/// the module docs).
pub struct PhraseCheck {
    pub(super) expr: Expr,
    pub(super) analyzer: TextAnalyzer,
}

/// The positions of each word of one text.
struct Positions(HashMap<String, Vec<usize>>);

impl PhraseCheck {
    /// Whether `text` matches the query, phrases included.
    pub fn matches(&mut self, text: &str) -> bool {
        let mut of: HashMap<String, Vec<usize>> = HashMap::new();
        let mut stream = self.analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            of.entry(t.text.clone()).or_default().push(t.position);
        }
        Positions(of).eval(&self.expr).unwrap_or(false)
    }
}

impl Positions {
    /// `None` for a clause that takes no part (a literal without words).
    fn eval(&self, e: &Expr) -> Option<bool> {
        match e {
            Expr::All | Expr::Other => Some(true),
            Expr::Words {
                words,
                slop,
                prefix,
            } => match words.as_slice() {
                [] => None,
                [(_, w)] if !*prefix => Some(self.0.contains_key(w)),
                _ => Some(self.phrase(words, *slop, *prefix)),
            },
            Expr::Bool(cs) => {
                let (mut any_must, mut any_should, mut should) = (false, false, false);
                for (o, e) in cs {
                    let Some(m) = self.eval(e) else { continue };
                    match o {
                        Occur::Must if !m => return Some(false),
                        Occur::Must => any_must = true,
                        Occur::MustNot if m => return Some(false),
                        Occur::MustNot => {}
                        Occur::Should => {
                            any_should = true;
                            should |= m;
                        }
                    }
                }
                // Only exclusions match nothing, as in tantivy.
                Some(match any_must {
                    true => true,
                    false => any_should && should,
                })
            }
        }
    }

    /// Whether the words occur at their offsets from the first, each off
    /// by at most `slop` positions in all; with `prefix`, the last is a
    /// word's beginning.
    fn phrase(&self, words: &[(usize, String)], slop: u32, prefix: bool) -> bool {
        let Some((first_at, first)) = words.first() else {
            return false;
        };
        let Some(starts) = self.0.get(first) else {
            return false;
        };
        let last = words.len() - 1;
        starts.iter().any(|&start| {
            let mut budget = slop as usize;
            words.iter().enumerate().skip(1).all(|(i, (at, w))| {
                let want = start + (at - first_at);
                let cost = match prefix && i == last {
                    true => self.nearest_prefix(w, want),
                    false => self.nearest(w, want),
                };
                match cost {
                    Some(c) if c <= budget => {
                        budget -= c;
                        true
                    }
                    _ => false,
                }
            })
        })
    }

    /// How far the occurrence of `w` nearest to position `want` is.
    fn nearest(&self, w: &str, want: usize) -> Option<usize> {
        let ps = self.0.get(w)?;
        let i = ps.partition_point(|&p| p < want);
        let after = ps.get(i).map(|&p| p - want);
        let before = i.checked_sub(1).and_then(|j| ps.get(j)).map(|&p| want - p);
        after.into_iter().chain(before).min()
    }

    /// How far the word beginning with `w` nearest to `want` is.
    fn nearest_prefix(&self, w: &str, want: usize) -> Option<usize> {
        self.0
            .iter()
            .filter(|(t, _)| t.starts_with(w))
            .flat_map(|(_, ps)| ps.iter().map(|p| p.abs_diff(want)))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, text: &str) -> bool {
        let mut a = analyzer();
        let expr = Expr::parse(&mut a, query).expect("parses");
        PhraseCheck { expr, analyzer: a }.matches(text)
    }

    #[test]
    fn phrases_need_their_words_in_order() {
        assert!(check(
            "\"connection refused\"",
            "error: Connection refused by peer"
        ));
        assert!(!check("\"connection refused\"", "refused connection"));
        assert!(!check("\"connection refused\"", "connection was refused"));
        assert!(check("\"connection refused\"~1", "connection was refused"));
        // A word that splits in two is a phrase too.
        assert!(check("gpt-4", "model gpt 4 answered"));
        assert!(!check("gpt-4", "gpt answered in 4 s"));
    }

    #[test]
    fn phrase_prefixes_words_and_exclusions_combine() {
        assert!(check("\"time lim\"*", "a time limit was hit"));
        assert!(!check("\"time lim\"*", "a time was limited"));
        assert!(check("alpha \"beta gamma\"", "gamma alpha beta gamma"));
        assert!(!check("alpha \"beta gamma\"", "beta gamma"));
        assert!(!check("\"beta gamma\" -alpha", "alpha beta gamma"));
        assert!(check("\"beta gamma\" OR delta", "delta"));
        assert!(!check("-alpha", "beta"));
    }

    #[test]
    fn bulk_queries_read_phrases_as_their_words() {
        let mut a = analyzer();
        let field = Field::from_field_id(1);
        let e = Expr::parse(&mut a, "\"beta gamma\" -alpha").expect("parses");
        assert!(e.has_phrase());
        let q = format!("{:?}", e.bulk_query(field));
        assert!(q.contains("Must") && q.contains("MustNot"), "{q}");
        assert!(!q.contains("Phrase"), "{q}");
        let e = Expr::parse(&mut a, "alpha OR beta").expect("parses");
        assert!(!e.has_phrase());
    }
}
