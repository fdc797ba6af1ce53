//! Turns a parsed [`Query`], the request's filters and the reader's access
//! into one tantivy query.
//!
//! Every query the index runs is `text AND filters AND access`; the access
//! part is built here from the person alone, so no code path can search
//! without it.

use std::ops::Bound;
use std::sync::Arc;

use chapar_proto::roster::Person;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery,
    FuzzyTermQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{Facet, Field, IndexRecordOption};
use tantivy::{Searcher, Term};

use crate::analysis::{Word, analyze};
use crate::api::{EntryKind, SearchRequest};
use crate::coordination::Coordinated;
use crate::filter_cache::FilterCache;
use crate::query::{FilterField, Query};
use crate::schema::{EVERY_MISSION, Fields, NO_CAPTION};
use crate::stopwords::is_stop_word;

/// Weight of a match in the title, on top of the text: the index counts
/// a page's title as part of its text too, so a word in the title scores
/// in both and a title match always outweighs the same match in the text
/// alone (BM25F's idea). On the relevance benchmark (docs/benchmarks.md,
/// issue 14) 0.25 ranked best: nDCG@10 1.244× plain tantivy, against
/// 1.213× at 0 and at 0.5, 1.159× at 1 and 1.085× at 2.
const TITLE_BOOST: f32 = 0.25;
/// Weight of a stem match against an exact (folded) match: a word is
/// matched mostly by its stem (`embassies` finds `embassy`), and entries
/// with the exact form typed rank above those with another form. A word
/// whose stem is itself gets both weights. Chosen on the benchmark (4 over
/// 0.5: nDCG@10 +13 %).
const STEM_BOOST: f32 = 4.0;
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
    /// Where the access and kind filters are kept per segment.
    pub cache: &'a Arc<FilterCache>,
    /// Prefix and typo-tolerant words so far: each expands to many terms,
    /// so a query gets at most [`MAX_EXPANDED`] of them; the rest match
    /// exactly.
    pub expanded: std::cell::Cell<usize>,
    /// What the query asks for, as typed, each with the query that matches
    /// it: which of them a hit matched is reported with it.
    pub asked: std::cell::RefCell<Vec<Asked>>,
    /// Proximity bonus clauses: their scores are added to the best
    /// [`RERANK_DEPTH`] entries of the query, which are then sorted again.
    /// Scored over every match they cost more than the rest of the query
    /// (a position check per entry); the order of the first entries is
    /// what they are for.
    pub close: std::cell::RefCell<Vec<Box<dyn TantivyQuery>>>,
    /// What [`Compiler::unknown`] found, by folded form: the typo check
    /// and the compilation of a word ask the same question.
    unknown: std::cell::RefCell<std::collections::HashMap<String, bool>>,
    /// How the last single word compiled was expanded (read and reset
    /// when it is recorded in `asked`).
    expansion: std::cell::Cell<Expansion>,
}

/// How a word was matched beyond its folded form and stems (snippets
/// highlight what the query actually matched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Expansion {
    /// Folded form or stems only (also every phrase).
    #[default]
    None,
    /// As a prefix (`negot*`): any indexed form starting with it.
    Prefix,
    /// Also with typo tolerance ([`typo_distance`]).
    Typo,
}

/// One word or phrase of a query, as typed, with the query that matches it.
pub struct Asked {
    /// The word (or the phrase, without quotes) as typed.
    pub text: String,
    /// Matches the entries containing it (scores are not used).
    pub query: Box<dyn TantivyQuery>,
    /// Whether it counts: `false` for a stop word or a word over
    /// [`MAX_MATCHED_WORDS`], which the query did not search for.
    pub searched: bool,
    /// How a single word was expanded.
    pub expansion: Expansion,
}

impl Compiler<'_> {
    /// A compiler for one search by `person` on `searcher`.
    pub fn new<'a>(
        fields: &'a Fields,
        searcher: &'a Searcher,
        person: &'a Person,
        cache: &'a Arc<FilterCache>,
    ) -> Compiler<'a> {
        Compiler {
            fields,
            searcher,
            person,
            cache,
            expanded: std::cell::Cell::new(0),
            asked: std::cell::RefCell::new(Vec::new()),
            close: std::cell::RefCell::new(Vec::new()),
            unknown: std::cell::RefCell::new(std::collections::HashMap::new()),
            expansion: std::cell::Cell::new(Expansion::None),
        }
    }

    /// Starts over (a second pass of the same query).
    pub fn reset(&self) {
        self.expanded.set(0);
        self.asked.borrow_mut().clear();
        self.close.borrow_mut().clear();
        self.expansion.take();
    }
}

/// Tells which entries one query matches, entry by entry (for the words a
/// hit contains) or whether any entry does.
pub struct Matcher {
    weight: Box<dyn tantivy::query::Weight>,
}

impl Matcher {
    /// Prepares `q` on `searcher`, without scoring.
    pub fn new(searcher: &Searcher, q: &dyn TantivyQuery) -> tantivy::Result<Matcher> {
        Ok(Matcher {
            weight: q.weight(tantivy::query::EnableScoring::disabled_from_searcher(
                searcher,
            ))?,
        })
    }

    /// Whether the live entry at `addr` matches.
    pub fn matches(&self, searcher: &Searcher, addr: tantivy::DocAddress) -> tantivy::Result<bool> {
        use tantivy::DocSet;
        let seg = searcher.segment_reader(addr.segment_ord);
        let mut scorer = self.weight.scorer(seg, 1.0)?;
        // A scorer starts on its first match and only moves forward.
        let doc = scorer.doc();
        Ok(doc == addr.doc_id || (doc < addr.doc_id && scorer.seek(addr.doc_id) == addr.doc_id))
    }

    /// Whether any live entry matches; stops at the first.
    pub fn any(&self, searcher: &Searcher) -> tantivy::Result<bool> {
        use tantivy::{DocSet, TERMINATED};
        for seg in searcher.segment_readers() {
            let mut scorer = self.weight.scorer(seg, 1.0)?;
            let alive = seg.alive_bitset();
            let mut doc = scorer.doc();
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    return Ok(true);
                }
                doc = scorer.advance();
            }
        }
        Ok(false)
    }
}

/// What `clauses` add to the score of each entry of `hits` (their scores
/// where they match, as `Should` clauses of the query would have added).
/// Scorers are made once per clause and segment and moved forward in
/// entry order.
pub fn proximity_bonus(
    searcher: &Searcher,
    clauses: &[Box<dyn TantivyQuery>],
    hits: &[(f32, tantivy::DocAddress)],
) -> tantivy::Result<Vec<f32>> {
    use tantivy::DocSet;
    use tantivy::query::Scorer as _;
    let mut bonus = vec![0.0f32; hits.len()];
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by_key(|&i| (hits[i].1.segment_ord, hits[i].1.doc_id));
    for clause in clauses {
        let weight = clause.weight(tantivy::query::EnableScoring::enabled_from_searcher(
            searcher,
        ))?;
        let mut current: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
        for &i in &order {
            let addr = hits[i].1;
            if current
                .as_ref()
                .is_none_or(|(seg, _)| *seg != addr.segment_ord)
            {
                let seg = searcher.segment_reader(addr.segment_ord);
                current = Some((addr.segment_ord, weight.scorer(seg, 1.0)?));
            }
            let Some((_, scorer)) = current.as_mut() else {
                continue;
            };
            let mut doc = scorer.doc();
            if doc < addr.doc_id {
                doc = scorer.seek(addr.doc_id);
            }
            if doc == addr.doc_id {
                bonus[i] += scorer.score();
            }
        }
    }
    Ok(bonus)
}

/// One distinct plain word of a group.
struct Distinct<'q> {
    /// As typed (the first time).
    text: &'q str,
    /// Typed as `word*`.
    prefix: bool,
    /// A stop word of English, Russian or Uzbek.
    stop: bool,
    /// How often it was typed.
    typed: usize,
    /// The indexed form that stands for it in proximity clauses (its stem,
    /// or its folded form): single words that are not stop words only.
    proximity_key: Option<String>,
}

/// The distinct words of a group (by folded form), in typed order.
fn distinct_words<'q>(words: &[(&'q str, bool)]) -> Vec<Distinct<'q>> {
    let mut at: std::collections::HashMap<(Vec<String>, bool), usize> =
        std::collections::HashMap::new();
    let mut out: Vec<Distinct<'q>> = Vec::new();
    for &(text, prefix) in words {
        let analyzed = analyze(text);
        let key: Vec<String> = analyzed.iter().map(|w| w.folded.clone()).collect();
        let Some(first) = analyzed.first() else {
            continue;
        };
        if let Some(&i) = at.get(&(key.clone(), prefix)) {
            out[i].typed += 1;
            continue;
        }
        let single = analyzed.len() == 1 && !prefix;
        let stop = single && is_stop_word(&first.folded);
        at.insert((key, prefix), out.len());
        out.push(Distinct {
            text,
            prefix,
            stop,
            typed: 1,
            proximity_key: (single && !stop)
                .then(|| first.stems.first().unwrap_or(&first.folded).clone()),
        });
    }
    out
}

/// Questions of at most this many words (stop words aside) rank entries
/// containing all of them first, then most (coordination). Longer ones
/// rank by the sum of their words' scores alone: on the benchmark, strict
/// coordination at every length lost 28 % nDCG@10, while up to 4 words it
/// gained 0.5 %.
pub const COORDINATED_WORDS: usize = 4;
/// The score a found word adds under coordination: more than any BM25 sum
/// of the words, so the count of words found decides first.
const WORD_FOUND: f32 = 10_000.0;
/// How many of the best entries (by the query's own score) the proximity
/// bonus may reorder. Deeper pages are ordered by that score alone.
pub const RERANK_DEPTH: usize = 200;
/// Questions of at most this many words get proximity clauses.
pub const PROXIMITY_WORDS: usize = 8;
/// How far apart (in positions) two neighbouring query words may stand
/// and still count as close.
pub const PROXIMITY_SLOP: u32 = 3;
/// Weight of two neighbouring query words standing close in the text. Any
/// weight cost a little on the benchmark (CISI's questions are long and
/// conceptual: 0.1 → −0.3 %, 1 → −3 %); 0.2 breaks ties between entries of
/// equal word scores towards the one where the words meet.
const PROXIMITY_BOOST: f32 = 0.2;

/// Most distinct words of one query that are searched for; a question
/// pasted as a paragraph is matched by its first ones (stop words do not
/// count), and the response names the words it left out.
pub const MAX_MATCHED_WORDS: usize = 32;

/// How many of `n` words typed side by side an entry must contain to be
/// an answer at all. Entries containing more of them rank higher (each
/// matched word adds its score), so every word need not match: a question
/// is answered by the entries that best cover it, and a word nobody wrote
/// does not empty the answer.
pub fn min_should_match(n: usize) -> usize {
    match n {
        0..=2 => n.min(1),
        _ => 1,
    }
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

/// The forms a word is indexed under: folded, then its stems.
fn forms(w: &Word) -> impl Iterator<Item = &str> {
    std::iter::once(w.folded.as_str()).chain(w.stems.iter().map(String::as_str))
}

/// Edit distance allowed for a typo in a word of `chars` characters.
pub(crate) fn typo_distance(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

impl Compiler<'_> {
    /// The access restriction for `person`: what
    /// [`chapar_proto::access::person_may_read`] allows, as a query
    /// (answered from the filter cache).
    pub fn access(&self, person: &Person) -> Boxed {
        self.cache.filter(
            Box::new(BooleanQuery::new(self.access_clauses(person))),
            self.searcher,
        )
    }

    /// `text`, restricted to what every search of `req` by `person` may
    /// match: what they may read, of the kinds asked for (wiki pages and
    /// released cables unless the request names kinds). One cached filter:
    /// most searches share it, and a top reader's access alone passes
    /// nearly every entry.
    pub fn restricted(&self, text: Boxed, person: &Person, req: &SearchRequest) -> Boxed {
        let kinds: Vec<&str> = if req.kinds.is_empty() {
            vec![EntryKind::Wiki, EntryKind::Cable]
        } else {
            req.kinds.clone()
        }
        .iter()
        .map(|k| k.as_str())
        .collect();
        let mut clauses = self.access_clauses(person);
        clauses.push((Occur::Must, filter(self.any_facet("kind", kinds))));
        self.cache
            .restrict(text, Box::new(BooleanQuery::new(clauses)), self.searcher)
    }

    fn access_clauses(&self, person: &Person) -> Vec<(Occur, Boxed)> {
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
        vec![
            (Occur::Must, filter(Box::new(class))),
            (Occur::Must, filter(any_of(f.caption, captions))),
            (Occur::Must, filter(any_of(f.audience, audience))),
        ]
    }

    /// The request's filters beyond its kinds (which
    /// [`Compiler::restricted`] holds).
    pub fn filters(&self, req: &SearchRequest) -> Vec<Boxed> {
        let f = self.fields;
        let mut out = Vec::new();
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
        if !req.titles.is_empty() {
            out.push(filter(any_of(
                f.title_key,
                req.titles.iter().map(|t| chapar_proto::wiki::title::key(t)),
            )));
        }
        if !req.links_to.is_empty() {
            out.push(filter(any_of(
                f.links,
                req.links_to
                    .iter()
                    .map(|t| chapar_proto::wiki::title::key(t)),
            )));
        }
        if !req.categories.is_empty() {
            out.push(filter(any_of(
                f.categories,
                req.categories
                    .iter()
                    .map(|t| chapar_proto::wiki::title::key(t)),
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
            Query::Word { text, prefix } => self.asked(text, self.word(text, *prefix, m)),
            Query::Phrase(text) => self.asked(text, self.phrase(text, m)),
            Query::Filter { field, value } => filter(self.inline_filter(*field, value)),
            Query::And(items) => self.and(items, m),
            Query::Or(items) => Box::new(BooleanQuery::new(
                items
                    .iter()
                    .map(|i| (Occur::Should, self.text(i, m)))
                    .collect(),
            )),
            // A bare Not only appears inside an And (the parser adds All).
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Boxed),
                (Occur::MustNot, self.excluded(inner)),
            ])),
        }
    }

    /// What an exclusion matches (exactly). Its words are not asked for,
    /// so they are not reported as matched or missing.
    fn excluded(&self, inner: &Query) -> Boxed {
        let before = self.asked.borrow().len();
        let q = self.text(inner, Matching::Exact);
        self.asked.borrow_mut().truncate(before);
        q
    }

    /// Records `q` as what matches `text`, and returns it.
    fn asked(&self, text: &str, q: Boxed) -> Boxed {
        self.asked.borrow_mut().push(Asked {
            text: text.to_string(),
            query: q.box_clone(),
            searched: true,
            expansion: self.expansion.take(),
        });
        q
    }

    /// Items typed side by side. Phrases and filters must all match and
    /// exclusions must not; the plain words are a question: entries with
    /// more of them rank first, stop words are left out when other words
    /// remain, and [`min_should_match`] of them must match.
    fn and(&self, items: &[Query], m: Matching) -> Boxed {
        let mut clauses: Vec<(Occur, Boxed)> = Vec::new();
        let mut words: Vec<(&str, bool)> = Vec::new();
        for i in items {
            match i {
                Query::Not(inner) => clauses.push((Occur::MustNot, self.excluded(inner))),
                Query::Word { text, prefix } => words.push((text, *prefix)),
                other => clauses.push((Occur::Must, self.text(other, m))),
            }
        }
        // Text that must match beside the words (a filter is not text: a
        // stop word next to `kind:cable` is still what was asked).
        let others = items
            .iter()
            .any(|i| matches!(i, Query::Phrase(_) | Query::Or(_) | Query::And(_)));
        if let Some(q) = self.words(&words, m, others) {
            clauses.push((Occur::Must, q));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The plain words of one group: see [`Compiler::and`]. `others`: the
    /// group also holds a phrase or group that must match.
    fn words(&self, words: &[(&str, bool)], m: Matching, others: bool) -> Option<Boxed> {
        let distinct = distinct_words(words);
        let content = distinct.iter().filter(|d| !d.stop).count();
        let mut kept: Vec<Boxed> = Vec::new();
        let mut near: Vec<String> = Vec::new();
        for d in distinct {
            let used = self.asked.borrow().iter().filter(|a| a.searched).count();
            // Stop words count only when nothing else was asked.
            let searched = !(d.stop && (content > 0 || others)) && used < MAX_MATCHED_WORDS;
            if !searched {
                // Named in the response, not compiled: a word left out
                // costs nothing.
                self.asked.borrow_mut().push(Asked {
                    text: d.text.to_string(),
                    query: Box::new(EmptyQuery),
                    searched,
                    expansion: Expansion::None,
                });
                continue;
            }
            let q = self.word(d.text, d.prefix, m);
            self.asked.borrow_mut().push(Asked {
                text: d.text.to_string(),
                query: q.box_clone(),
                searched,
                expansion: self.expansion.take(),
            });
            if let Some(key) = d.proximity_key {
                near.push(key);
            }
            // A word typed twice in a pasted paragraph is what it is about.
            let q: Boxed = match d.typed {
                1 => q,
                n => Box::new(BoostQuery::new(q, n as f32)),
            };
            kept.push(q);
        }
        let n = kept.len();
        if n <= 1 {
            return kept.pop();
        }
        let words: Boxed = if content <= COORDINATED_WORDS {
            // A short question's answers are the entries with all of its
            // words, then most: each word found outweighs any score.
            Box::new(Coordinated::new(kept, WORD_FOUND))
        } else {
            let mut any = BooleanQuery::new(kept.into_iter().map(|q| (Occur::Should, q)).collect());
            any.set_minimum_number_should_match(min_should_match(n));
            Box::new(any)
        };
        // Not part of the query: evaluated on the best entries only (see
        // `Compiler::close`), which costs a phrase check per entry shown
        // instead of per entry matched.
        let close = self.proximity(&near);
        self.close.borrow_mut().extend(close);
        Some(words)
    }

    /// Bonus clauses for words typed next to each other that also stand
    /// close together in the text (within [`PROXIMITY_SLOP`] positions),
    /// for questions of at most [`PROXIMITY_WORDS`] words.
    fn proximity(&self, keys: &[String]) -> Vec<Boxed> {
        if keys.len() > PROXIMITY_WORDS {
            return Vec::new();
        }
        keys.windows(2)
            .map(|pair| {
                let terms = pair
                    .iter()
                    .map(|k| Term::from_field_text(self.fields.body, k))
                    .collect();
                let mut q = PhraseQuery::new(terms);
                q.set_slop(PROXIMITY_SLOP);
                Box::new(BoostQuery::new(Box::new(q), PROXIMITY_BOOST)) as Boxed
            })
            .collect()
    }

    /// Whether `q` has a word (outside exclusions) that appears nowhere in
    /// the index: only then can a typo explain a missing match.
    pub fn has_unknown_words(&self, q: &Query) -> bool {
        // Only words that can be searched for count, and no more of them
        // than a query searches: a pasted paragraph costs no more than its
        // first words.
        let mut budget = MAX_MATCHED_WORDS;
        self.unknown_within(q, &mut budget)
    }

    fn unknown_within(&self, q: &Query, budget: &mut usize) -> bool {
        match q {
            Query::Word {
                text,
                prefix: false,
            } => analyze(text).iter().any(|w| {
                if *budget == 0 || is_stop_word(&w.folded) {
                    return false;
                }
                *budget -= 1;
                self.unknown(w)
            }),
            Query::And(v) | Query::Or(v) => v.iter().any(|i| self.unknown_within(i, budget)),
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
        if let Some(&known) = self.unknown.borrow().get(&w.folded) {
            return known;
        }
        let answer = self.judge_unknown(w);
        self.unknown.borrow_mut().insert(w.folded.clone(), answer);
        answer
    }

    fn judge_unknown(&self, w: &Word) -> bool {
        // The text field holds the title too, so it alone settles it.
        let body = self.fields.body;
        // In no entry at all: unknown to everyone, and cheap to tell.
        let anywhere = forms(w).any(|text| {
            self.searcher
                .doc_freq(&Term::from_field_text(body, text))
                .is_ok_and(|n| n > 0)
        });
        if !anywhere {
            return true;
        }
        let terms: Vec<(Occur, Boxed)> = forms(w)
            .map(|text| {
                (
                    Occur::Should,
                    Box::new(TermQuery::new(
                        Term::from_field_text(body, text),
                        IndexRecordOption::Basic,
                    )) as Boxed,
                )
            })
            .collect();
        let q = BooleanQuery::new(vec![
            (Occur::Must, Box::new(BooleanQuery::new(terms)) as Boxed),
            (Occur::Must, self.access(self.person)),
        ]);
        // The first readable entry settles it.
        !Matcher::new(self.searcher, &q)
            .and_then(|m| m.any(self.searcher))
            .unwrap_or(false)
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
            // Every word weighs the same: one without a stem of its own is
            // its own stem, and its exact form gets both weights.
            let exact = if !w.stems.is_empty() {
                boost
            } else {
                boost * (1.0 + STEM_BOOST)
            };
            alts.push((
                Occur::Should,
                Box::new(BoostQuery::new(term_query(folded.clone()), exact)),
            ));
            // A word may have a stem per language (English or Russian, and
            // Uzbek): the best-matching one counts, so a word weighs the
            // same however many stems it has.
            let stems: Vec<Boxed> = w
                .stems
                .iter()
                .map(|stem| term_query(Term::from_field_text(field, stem)))
                .collect();
            if !stems.is_empty() {
                alts.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(
                        Box::new(DisjunctionMaxQuery::new(stems)),
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
        self.expansion.set(if prefix {
            Expansion::Prefix
        } else if fuzzy_ok {
            Expansion::Typo
        } else {
            Expansion::None
        });
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
