//! Turns a parsed [`Query`], the request's filters and the reader's access
//! into one tantivy query.
//!
//! Every query the index runs is `text AND filters AND access`; the access
//! part is built here from the person alone, so no code path can search
//! without it.

use std::ops::Bound;

use chapar_proto::roster::Person;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur,
    PhraseQuery, Query as TantivyQuery, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use crate::analysis::{Word, analyze};
use crate::api::{EntryKind, SearchRequest};
use crate::query::{FilterField, Query};
use crate::schema::{EVERY_MISSION, Fields, NO_CAPTION};

/// Weight of a match in the title against one in the text.
const TITLE_BOOST: f32 = 3.0;
/// Weight of a stem match against an exact (folded) match: `embassies`
/// ranks documents saying `embassies` above those saying `embassy`.
const STEM_BOOST: f32 = 0.5;
/// Weight of a typo-tolerant match.
const FUZZY_BOOST: f32 = 0.3;

/// Shortest prefix (in characters) searched as a prefix.
pub const MIN_PREFIX: usize = 3;

/// How words are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Folded form or stem.
    Exact,
    /// Also within a small edit distance (typo tolerance).
    Fuzzy,
}

/// Builds queries over one schema.
pub struct Compiler<'a> {
    /// The schema's fields.
    pub fields: &'a Fields,
    /// The view searched: typo tolerance applies only to words it does
    /// not contain.
    pub searcher: &'a Searcher,
    /// Who searches: what "does not contain" is judged over.
    pub person: &'a Person,
    /// Prefix and typo-tolerant words so far: each expands to many terms,
    /// so a query gets at most [`MAX_EXPANDED`] of them; the rest match
    /// exactly.
    pub expanded: std::cell::Cell<usize>,
}

/// Most words of one query searched as prefixes or with typo tolerance.
pub const MAX_EXPANDED: usize = 8;
/// Most words of one phrase (or one hyphenated word) matched in order;
/// the rest of a longer phrase is dropped (matching its start only).
pub const MAX_PHRASE_WORDS: usize = 16;

type Boxed = Box<dyn TantivyQuery>;

fn term_query(t: Term) -> Boxed {
    Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs))
}

/// A filter clause: matches like `q`, adds nothing to the score.
fn filter(q: Boxed) -> Boxed {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

/// Any of a few values. A boolean of term queries rather than a
/// `TermSetQuery`, which builds an automaton per query and marks every
/// match in a bitset — measured 40 % slower at 100,000 entries for the
/// handful of values access and kind filters have.
fn any_of(field: Field, values: impl IntoIterator<Item = String>) -> Boxed {
    Box::new(BooleanQuery::new(
        values
            .into_iter()
            .map(|v| {
                let t = Term::from_field_text(field, &v);
                (
                    Occur::Should,
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Boxed,
                )
            })
            .collect(),
    ))
}

/// Edit distance allowed for a typo in a word of `chars` characters.
fn typo_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

impl Compiler<'_> {
    /// The access restriction for `person`: what
    /// [`chapar_proto::access::person_may_read`] allows, as a query.
    pub fn access(&self, person: &Person) -> Boxed {
        let f = self.fields;
        let class = RangeQuery::new(
            Bound::Included(Term::from_field_u64(f.class, 0)),
            Bound::Included(Term::from_field_u64(
                f.class,
                u64::from(person.clearance.code()),
            )),
        );
        let captions = std::iter::once(NO_CAPTION.to_string())
            .chain(person.captions.iter().map(|c| c.to_string()));
        let audience = [EVERY_MISSION.to_string(), person.mission.to_string()];
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, filter(Box::new(class))),
            (Occur::Must, filter(any_of(f.caption, captions))),
            (Occur::Must, filter(any_of(f.audience, audience))),
        ]))
    }

    /// The request's filters (kinds default to wiki pages and released
    /// cables).
    pub fn filters(&self, req: &SearchRequest) -> Vec<Boxed> {
        let f = self.fields;
        let mut out = Vec::new();
        let kinds: Vec<&str> = if req.kinds.is_empty() {
            vec![EntryKind::Wiki, EntryKind::Cable]
        } else {
            req.kinds.clone()
        }
        .iter()
        .map(|k| k.as_str())
        .collect();
        out.push(filter(self.any_facet("kind", kinds)));
        if !req.missions.is_empty() {
            let m: Vec<String> = req
                .missions
                .iter()
                .map(|m| m.to_ascii_lowercase())
                .collect();
            out.push(filter(
                self.any_facet("mission", m.iter().map(String::as_str)),
            ));
        }
        // Every TAG asked for must be present.
        for t in &req.tags {
            out.push(filter(
                self.any_facet("tag", [t.to_ascii_uppercase().as_str()]),
            ));
        }
        if !req.pages.is_empty() {
            out.push(filter(any_of(
                f.page,
                req.pages.iter().map(|p| p.to_ascii_lowercase()),
            )));
        }
        if !req.authors.is_empty() {
            let a: Vec<String> = req.authors.iter().map(|a| a.to_ascii_lowercase()).collect();
            out.push(filter(
                self.any_facet("author", a.iter().map(String::as_str)),
            ));
        }
        if !req.classifications.is_empty() {
            let codes: Vec<Term> = req
                .classifications
                .iter()
                .filter_map(|c| {
                    c.to_ascii_uppercase()
                        .parse::<chapar_proto::Classification>()
                        .ok()
                })
                .map(|c| Term::from_field_u64(f.class, u64::from(c.code())))
                .collect();
            out.push(filter(Box::new(TermSetQuery::new(codes))));
        }
        if req.from_ms.is_some() || req.to_ms.is_some() {
            let lo = req.from_ms.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_u64(f.created, v))
            });
            let hi = req.to_ms.map_or(Bound::Unbounded, |v| {
                Bound::Excluded(Term::from_field_u64(f.created, v))
            });
            out.push(filter(Box::new(RangeQuery::new(lo, hi))));
        }
        out
    }

    /// The text part of a query.
    pub fn text(&self, q: &Query, m: Matching) -> Boxed {
        match q {
            Query::All => Box::new(AllQuery),
            Query::Word { text, prefix } => self.word(text, *prefix, m),
            Query::Phrase(text) => self.phrase(text, m),
            Query::Filter { field, value } => filter(self.inline_filter(*field, value)),
            Query::And(items) => {
                let clauses = items
                    .iter()
                    .map(|i| match i {
                        Query::Not(inner) => (Occur::MustNot, self.text(inner, Matching::Exact)),
                        other => (Occur::Must, self.text(other, m)),
                    })
                    .collect();
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(items) => Box::new(BooleanQuery::new(
                items
                    .iter()
                    .map(|i| (Occur::Should, self.text(i, m)))
                    .collect(),
            )),
            // A bare Not only appears inside an And (the parser adds All).
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Boxed),
                (Occur::MustNot, self.text(inner, Matching::Exact)),
            ])),
        }
    }

    /// Whether `q` has a word (outside exclusions) that appears nowhere in
    /// the index: only then can a typo explain a missing match.
    pub fn has_unknown_words(&self, q: &Query) -> bool {
        match q {
            Query::Word {
                text,
                prefix: false,
            } => analyze(text).iter().any(|w| self.unknown(w)),
            Query::And(v) | Query::Or(v) => v.iter().any(|i| self.has_unknown_words(i)),
            Query::Word { prefix: true, .. }
            | Query::Phrase(_)
            | Query::All
            | Query::Filter { .. }
            | Query::Not(_) => false,
        }
    }

    /// Whether neither the word nor its stem is in any title or text *the
    /// person may read*. Asked of the whole index, the answer (and so
    /// whether typo tolerance kicks in) would tell them a word exists in
    /// documents hidden from them.
    fn unknown(&self, w: &Word) -> bool {
        let f = self.fields;
        let mut terms: Vec<(Occur, Boxed)> = Vec::new();
        for text in std::iter::once(w.folded.as_str()).chain(w.stems.iter().map(String::as_str)) {
            for field in [f.title, f.body] {
                terms.push((
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, text),
                        IndexRecordOption::Basic,
                    )),
                ));
            }
        }
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(BooleanQuery::new(terms)) as Boxed),
            (Occur::Must, self.access(self.person)),
        ]);
        self.searcher
            .search(&q, &tantivy::collector::Count)
            .is_ok_and(|n| n == 0)
    }

    /// Takes one of the query's [`MAX_EXPANDED`] expansions, if any is left.
    fn expand(&self) -> bool {
        let n = self.expanded.get();
        self.expanded.set(n + 1);
        n < MAX_EXPANDED
    }

    fn inline_filter(&self, field: FilterField, value: &str) -> Boxed {
        let (root, value) = match field {
            FilterField::Kind => ("kind", value.to_ascii_lowercase()),
            FilterField::Mission => ("mission", value.to_ascii_lowercase()),
            FilterField::Tag => ("tag", value.to_ascii_uppercase()),
            FilterField::Author => ("author", value.to_ascii_lowercase()),
        };
        self.any_facet(root, [value.as_str()])
    }

    /// Entries whose facet `/<root>/<value>` is any of `values`: the
    /// facet field doubles as the filter index of kind, mission, TAGS and
    /// author, so each is indexed once.
    fn any_facet<'v>(&self, root: &str, values: impl IntoIterator<Item = &'v str>) -> Boxed {
        let field = self.fields.facet;
        Box::new(BooleanQuery::new(
            values
                .into_iter()
                .map(|v| {
                    let t = Term::from_facet(field, &Facet::from_path([root, v]));
                    (
                        Occur::Should,
                        Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Boxed,
                    )
                })
                .collect(),
        ))
    }

    /// A typed word: analysed, it may be several words (`emb-a`), matched
    /// as a phrase then.
    fn word(&self, text: &str, prefix: bool, m: Matching) -> Boxed {
        let words = analyze(text);
        match words.as_slice() {
            [] => Box::new(EmptyQuery),
            [w] => self.one_word(w, prefix, m),
            _ => self.phrase_of(&words, m),
        }
    }

    fn one_word(&self, w: &Word, prefix: bool, m: Matching) -> Boxed {
        let f = self.fields;
        // `a*` would union the postings of every term starting with `a`:
        // below MIN_PREFIX characters a prefix is taken as the word itself.
        let prefix = prefix && w.folded.chars().count() >= MIN_PREFIX && self.expand();
        let mut alts: Vec<(Occur, Boxed)> = Vec::new();
        let mut fuzzy_ok = false;
        for (field, boost) in [(f.title, TITLE_BOOST), (f.body, 1.0)] {
            let folded = Term::from_field_text(field, &w.folded);
            if prefix {
                alts.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new_prefix(folded, 0, true)),
                        boost,
                    )),
                ));
                continue;
            }
            alts.push((
                Occur::Should,
                Box::new(BoostQuery::new(term_query(folded.clone()), boost)),
            ));
            for stem in &w.stems {
                alts.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        term_query(Term::from_field_text(field, stem)),
                        boost * STEM_BOOST,
                    )),
                ));
            }
            let distance = typo_distance(w.folded.chars().count());
            if m == Matching::Fuzzy && distance > 0 && field == f.title && self.unknown(w) {
                fuzzy_ok = self.expand();
            }
            if fuzzy_ok && distance > 0 {
                alts.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(folded, distance, true)),
                        boost * FUZZY_BOOST,
                    )),
                ));
            }
        }
        Box::new(BooleanQuery::new(alts))
    }

    fn phrase(&self, text: &str, m: Matching) -> Boxed {
        let words = analyze(text);
        match words.as_slice() {
            [] => Box::new(EmptyQuery),
            [w] => self.one_word(w, false, m),
            _ => self.phrase_of(&words, m),
        }
    }

    /// Words in order, in the title or in the text (folded forms: a phrase
    /// is exact up to script, case and apostrophes).
    fn phrase_of(&self, words: &[Word], _m: Matching) -> Boxed {
        let f = self.fields;
        let words = &words[..words.len().min(MAX_PHRASE_WORDS)];
        let first = words.first().map_or(0, |w| w.position);
        let alts = [(f.title, TITLE_BOOST), (f.body, 1.0)]
            .into_iter()
            .map(|(field, boost)| {
                let terms = words
                    .iter()
                    .map(|w| (w.position - first, Term::from_field_text(field, &w.folded)))
                    .collect();
                (
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(PhraseQuery::new_with_offset(terms)),
                        boost,
                    )) as Boxed,
                )
            })
            .collect();
        Box::new(BooleanQuery::new(alts))
    }
}
