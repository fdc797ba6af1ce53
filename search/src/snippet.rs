//! Snippets: the excerpt of a hit's text shown under its title, with the
//! words that made it match highlighted.
//!
//! Pure over a text and what the query sought ([`Sought`]): no index, no
//! other document. A text word is a match when the query matched it the
//! way the compiled query does ([`crate::compile`]):
//!
//! - a word: any of the text word's indexed forms (folded form, stems)
//!   equals one of the query word's (`embassy` lights `embassies`,
//!   `посольство` lights `посольства`, `Yevropa` lights `Yevropada`);
//! - a word searched with typo tolerance: also a form within the word's
//!   typo distance ([`crate::compile::typo_distance`], transpositions
//!   counting one, as tantivy's fuzzy query counts them);
//! - a prefix (`negot*`): a form starting with it;
//! - a phrase: its words, where they stand in order (folded forms, as the
//!   phrase query matches them).
//!
//! Exclusions and stop words that were not searched for are not sought,
//! so they are never highlighted.
//!
//! The excerpt is the window of at most `max_chars` characters holding the
//! most *distinct* sought words (ties: more matched words, then the
//! earliest), widened with context on both sides and cut at whitespace
//! (never inside a character). With no match, it is the start of the text.
//! Each matched word in it is one highlight: byte ranges into the excerpt,
//! ascending, never overlapping, never repeated.

use std::collections::HashMap;

use crate::analysis::{ChaparTokenizer, analyze};
use crate::api::Snippet;
use crate::compile::{Expansion, MAX_PHRASE_WORDS, typo_distance};

use tantivy::tokenizer::{TokenStream, Tokenizer};

/// Bytes of a text searched for matches. Analysing costs about 20 µs per
/// kilobyte and runs for every hit shown, so a long text (a 1 MB
/// attachment pasted into a page) is only searched at its start: a match
/// further on leaves the snippet at the start of the text, unhighlighted.
pub const MAX_SCANNED_BYTES: usize = 64 * 1024;

/// What one word or phrase of a query matches in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sought {
    /// A single word.
    Word {
        /// Its folded form, then its stems.
        forms: Vec<String>,
        /// How it was expanded.
        expansion: Expansion,
        /// Characters of the folded form (typo tolerance: the edit
        /// distance allowed derives from it).
        chars: Vec<char>,
    },
    /// Words in order: (position relative to the first, folded form).
    Phrase(Vec<(usize, String)>),
}

impl Sought {
    /// What `text`, a word or phrase as typed, seeks in a text when
    /// compiled with `expansion`; `None` if it holds no word.
    pub fn new(text: &str, expansion: Expansion) -> Option<Sought> {
        let words = analyze(text);
        match words.as_slice() {
            [] => None,
            [w] => Some(Sought::Word {
                forms: std::iter::once(w.folded.clone())
                    .chain(w.stems.iter().cloned())
                    .collect(),
                expansion,
                chars: w.folded.chars().collect(),
            }),
            [first, ..] => Some(Sought::Phrase(
                words
                    .iter()
                    .take(MAX_PHRASE_WORDS)
                    .map(|w| (w.position - first.position, w.folded.clone()))
                    .collect(),
            )),
        }
    }
}

/// A word of the text that matched (or may, for phrase words).
struct Found {
    position: usize,
    from: usize,
    to: usize,
    /// Indices of the [`Sought`] it matches.
    sought: Vec<u32>,
    /// (phrase index, word index in the phrase) whose folded form it has.
    phrase_words: Vec<(u32, u32)>,
}

/// How a text word's forms are compared with the sought ones.
struct Matcher<'s> {
    /// Exact forms of words (folded forms and stems) → sought indices.
    exact: HashMap<&'s str, Vec<u32>>,
    /// Prefixes → sought index.
    prefixes: Vec<(&'s str, u32)>,
    /// Typo-tolerant words: (folded characters, distance, sought index).
    typos: Vec<(&'s [char], usize, u32)>,
    /// Phrase words' folded forms → (phrase index, word index).
    phrase_words: HashMap<&'s str, Vec<(u32, u32)>>,
}

impl<'s> Matcher<'s> {
    fn new(sought: &'s [Sought]) -> Matcher<'s> {
        let mut m = Matcher {
            exact: HashMap::new(),
            prefixes: Vec::new(),
            typos: Vec::new(),
            phrase_words: HashMap::new(),
        };
        for (i, s) in sought.iter().enumerate() {
            let i = i as u32;
            match s {
                Sought::Word {
                    forms,
                    expansion: Expansion::Prefix,
                    ..
                } => {
                    if let Some(folded) = forms.first() {
                        m.prefixes.push((folded, i));
                    }
                }
                Sought::Word {
                    forms,
                    expansion,
                    chars,
                } => {
                    for f in forms {
                        m.exact.entry(f).or_default().push(i);
                    }
                    let distance = usize::from(typo_distance(chars.len()));
                    if *expansion == Expansion::Typo && distance > 0 {
                        m.typos.push((chars, distance, i));
                    }
                }
                Sought::Phrase(words) => {
                    for (j, (_, folded)) in words.iter().enumerate() {
                        m.phrase_words
                            .entry(folded)
                            .or_default()
                            .push((i, j as u32));
                    }
                }
            }
        }
        m
    }

    /// Notes in `found` what the form `form` of a text word matches;
    /// `folded`: it is the word's folded form (phrases match only those).
    fn form(&self, form: &str, folded: bool, found: &mut Found, buf: &mut Vec<char>) {
        if let Some(ids) = self.exact.get(form) {
            found.sought.extend_from_slice(ids);
        }
        for &(prefix, i) in &self.prefixes {
            if form.starts_with(prefix) {
                found.sought.push(i);
            }
        }
        if !self.typos.is_empty() {
            buf.clear();
            buf.extend(form.chars());
            for &(chars, distance, i) in &self.typos {
                if within(chars, buf, distance) {
                    found.sought.push(i);
                }
            }
        }
        if folded {
            if let Some(ids) = self.phrase_words.get(form) {
                found.phrase_words.extend_from_slice(ids);
            }
        }
    }
}

/// Whether `a` and `b` are at most `max` edits apart (insertions,
/// deletions, substitutions, and transpositions of neighbours: optimal
/// string alignment, as tantivy's fuzzy query with transpositions).
fn within(a: &[char], b: &[char], max: usize) -> bool {
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    // Three rows of the dynamic programme.
    let n = b.len();
    let mut before: Vec<usize> = vec![0; n + 1];
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut row: Vec<usize> = vec![0; n + 1];
    for (i, &ca) in a.iter().enumerate() {
        row[0] = i + 1;
        let mut best = row[0];
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut d = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
            if i > 0 && j > 0 && ca == b[j - 1] && a[i - 1] == cb {
                d = d.min(before[j - 1] + 1);
            }
            row[j + 1] = d;
            best = best.min(d);
        }
        if best > max {
            return false;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[n] <= max
}

/// The largest char boundary of `text` at or below `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Snippets of the hits of one query: what it seeks, compiled once, and a
/// tokenizer reused from hit to hit.
pub struct Snippets<'s> {
    sought: &'s [Sought],
    matcher: Matcher<'s>,
    max_chars: usize,
    tokenizer: ChaparTokenizer,
}

impl<'s> Snippets<'s> {
    /// Snippets of at most `max_chars` characters for a query seeking
    /// `sought`, analysing texts with `tokenizer` (a clone of a long-lived
    /// one shares its stem caches, which a new one has to build).
    pub fn new(sought: &'s [Sought], max_chars: usize, tokenizer: ChaparTokenizer) -> Self {
        Snippets {
            sought,
            matcher: Matcher::new(sought),
            max_chars,
            tokenizer,
        }
    }

    /// The snippet of `text` (see the module documentation).
    pub fn snippet(&mut self, text: &str) -> Snippet {
        let found = matches(text, self.sought, &self.matcher, &mut self.tokenizer);
        excerpt(text, &found, self.sought.len(), self.max_chars)
    }
}

/// The snippet of `text` for a query seeking `sought`, of at most
/// `max_chars` characters (see the module documentation).
pub fn snippet(text: &str, sought: &[Sought], max_chars: usize) -> Snippet {
    Snippets::new(sought, max_chars, ChaparTokenizer::default()).snippet(text)
}

/// The words of `text` (its first [`MAX_SCANNED_BYTES`]) that match
/// `sought`, in order: (byte from, byte to, sought indices).
fn matches(
    text: &str,
    sought: &[Sought],
    matcher: &Matcher<'_>,
    tokenizer: &mut ChaparTokenizer,
) -> Vec<(usize, usize, Vec<u32>)> {
    if sought.is_empty() {
        return Vec::new();
    }
    let scanned = &text[..floor_boundary(text, MAX_SCANNED_BYTES)];
    let cut = scanned.len() < text.len();
    let mut found: Vec<Found> = Vec::new();
    let mut current: Option<Found> = None;
    let mut buf = Vec::new();
    // A word cut by the end of what is scanned may be another word.
    let keep = |c: &Found| {
        let matched = !c.sought.is_empty() || !c.phrase_words.is_empty();
        matched && !(cut && c.to == scanned.len())
    };
    let mut stream = tokenizer.token_stream(scanned);
    // The stream gives each word's folded form, then its stems at the
    // same position.
    while let Some(token) = stream.next() {
        let folded = current
            .as_ref()
            .is_none_or(|c| c.position != token.position);
        if folded {
            found.extend(current.take().filter(keep));
            current = Some(Found {
                position: token.position,
                from: token.offset_from,
                to: token.offset_to,
                sought: Vec::new(),
                phrase_words: Vec::new(),
            });
        }
        if let Some(c) = current.as_mut() {
            matcher.form(&token.text, folded, c, &mut buf);
        }
    }
    found.extend(current.take().filter(keep));
    resolve_phrases(&mut found, sought);
    found
        .into_iter()
        .filter_map(|mut f| {
            f.sought.sort_unstable();
            f.sought.dedup();
            (!f.sought.is_empty()).then_some((f.from, f.to, f.sought))
        })
        .collect()
}

/// Marks the words of every place a phrase stands in order as matching it.
fn resolve_phrases(found: &mut [Found], sought: &[Sought]) {
    let mut places: Vec<(usize, u32)> = Vec::new();
    for f in found.iter() {
        for &(phrase, word) in &f.phrase_words {
            if word != 0 {
                continue;
            }
            let Some(Sought::Phrase(words)) = sought.get(phrase as usize) else {
                continue;
            };
            // Every word of the phrase at its place (found is in position
            // order; dropped words keep their positions, so a phrase does
            // not match across them).
            let at: Option<Vec<usize>> = words
                .iter()
                .enumerate()
                .map(|(j, (rel, _))| {
                    let i = found
                        .binary_search_by_key(&(f.position + rel), |g| g.position)
                        .ok()?;
                    found[i]
                        .phrase_words
                        .contains(&(phrase, j as u32))
                        .then_some(i)
                })
                .collect();
            if let Some(at) = at {
                places.extend(at.into_iter().map(|i| (i, phrase)));
            }
        }
    }
    for (i, phrase) in places {
        found[i].sought.push(phrase);
    }
}

/// The excerpt of `text` around the best window of `found`, with its
/// matched words highlighted.
fn excerpt(
    text: &str,
    found: &[(usize, usize, Vec<u32>)],
    sought: usize,
    max_chars: usize,
) -> Snippet {
    // Character offsets of the matched words, counted in one pass.
    let mut chars = Vec::with_capacity(found.len());
    let (mut byte, mut count) = (0, 0);
    for (from, to, _) in found {
        count += text[byte..*from].chars().count();
        let start = count;
        count += text[*from..*to].chars().count();
        byte = *to;
        chars.push((start, count));
    }
    let (a, b) = match best_window(found, &chars, sought, max_chars) {
        Some((i, j)) => (found[i].0, found[j].1),
        None => (0, 0),
    };
    let (start, end) = place(text, a, b, max_chars);
    Snippet {
        text: text[start..end].to_string(),
        highlights: found
            .iter()
            .filter(|(from, to, _)| *from >= start && *to <= end)
            .map(|(from, to, _)| (from - start, to - start))
            .collect(),
    }
}

/// The first and last matched word (indices into `found`) of the window
/// of at most `max_chars` characters with the most distinct sought words,
/// then the most matched words, then the earliest.
fn best_window(
    found: &[(usize, usize, Vec<u32>)],
    chars: &[(usize, usize)],
    sought: usize,
    max_chars: usize,
) -> Option<(usize, usize)> {
    let mut counts = vec![0u32; sought];
    let mut distinct = 0usize;
    let mut best: Option<((usize, usize), (usize, usize))> = None;
    // The window [i, j): every matched word from the i-th on that ends
    // within max_chars of where the i-th starts.
    let mut j = 0;
    for i in 0..found.len() {
        if j < i {
            j = i;
        }
        while j < found.len() && (j == i || chars[j].1 - chars[i].0 <= max_chars) {
            for &s in &found[j].2 {
                let c = &mut counts[s as usize];
                distinct += usize::from(*c == 0);
                *c += 1;
            }
            j += 1;
        }
        let score = (distinct, j - i);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, (i, j - 1)));
        }
        for &s in &found[i].2 {
            let c = &mut counts[s as usize];
            *c -= 1;
            distinct -= usize::from(*c == 0);
        }
    }
    best.map(|(_, w)| w)
}

/// The excerpt `[start, end)` of `text` (byte offsets on char boundaries)
/// of at most `max_chars` characters around `[a, b)`: context on both
/// sides (a quarter of the room at most before), cut after and before
/// whitespace unless at the text's ends; `[a, b)` itself is kept (if it is
/// longer than `max_chars`, it is cut).
fn place(text: &str, a: usize, b: usize, max_chars: usize) -> (usize, usize) {
    let span = text[a..b].chars().count();
    if span >= max_chars {
        let end = text[a..]
            .char_indices()
            .nth(max_chars)
            .map_or(text.len(), |(i, _)| a + i);
        return (a, end);
    }
    let room = max_chars - span;
    // Byte offsets of the char starts before `a`, nearest first, and of the
    // char ends after `b`.
    let before: Vec<usize> = text[..a]
        .char_indices()
        .rev()
        .take(room)
        .map(|(i, _)| i)
        .collect();
    let after: Vec<usize> = text[b..]
        .char_indices()
        .take(room)
        .map(|(i, c)| b + i + c.len_utf8())
        .collect();
    let mut lead = (room / 2).min(max_chars / 4).min(before.len());
    let trail = (room - lead).min(after.len());
    if trail < room - lead {
        // The text ends first: the room left goes before.
        lead = (room - trail).min(before.len());
    }
    let mut start = if lead == 0 { a } else { before[lead - 1] };
    let mut end = if trail == 0 { b } else { after[trail - 1] };
    let space = |c: char| c.is_whitespace();
    if start > 0 && !text[..start].ends_with(space) {
        // Inside a word: start after the next whitespace, or at `a`.
        start = text[start..a]
            .char_indices()
            .find(|&(_, c)| space(c))
            .map_or(a, |(i, c)| start + i + c.len_utf8());
    }
    start += text[start..a].len() - text[start..a].trim_start().len();
    if end < text.len() && !text[end..].starts_with(space) {
        end = text[b..end]
            .char_indices()
            .rev()
            .find(|&(_, c)| space(c))
            .map_or(b, |(i, _)| b + i);
    }
    end -= text[b..end].len() - text[b..end].trim_end().len();
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Sought {
        Sought::new(text, Expansion::None).expect("a word")
    }

    fn lit(s: &Snippet) -> Vec<&str> {
        s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect()
    }

    #[test]
    fn osa_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(within(&c("irrigaton"), &c("irrigation"), 2));
        assert!(within(&c("embsasy"), &c("embassy"), 1));
        assert!(!within(&c("embassy"), &c("emb"), 2));
        assert!(within(&c("abc"), &c("abc"), 0));
        assert!(!within(&c("abcd"), &c("badc"), 1));
        assert!(within(&c("abcd"), &c("badc"), 2));
        assert!(within(&c(""), &c("ab"), 2));
    }

    #[test]
    fn stems_and_folded_forms_match() {
        let s = snippet(
            "The embassies of Uzbekistan. Посольства и O‘zbekiston.",
            &[word("embassy"), word("посольство"), word("Ўзбекистон")],
            240,
        );
        assert_eq!(lit(&s), ["embassies", "Посольства", "O‘zbekiston"]);
    }

    #[test]
    fn prefix_and_typo() {
        let text = "negotiations on irrigation, not irritation";
        let prefix = Sought::new("negot", Expansion::Prefix).expect("word");
        let typo = Sought::new("irrigaton", Expansion::Typo).expect("word");
        let s = snippet(text, &[prefix, typo], 240);
        assert_eq!(lit(&s), ["negotiations", "irrigation", "irritation"]);
        // Without typo tolerance, only exact forms.
        let s = snippet(text, &[word("irrigaton")], 240);
        assert!(s.highlights.is_empty());
    }

    #[test]
    fn phrases_where_their_words_stand_in_order() {
        let s = snippet(
            "digital work and diplomacy; digital diplomacy today",
            &[Sought::new("digital diplomacy", Expansion::None).expect("phrase")],
            240,
        );
        assert_eq!(lit(&s), ["digital", "diplomacy"]);
        assert_eq!(s.highlights[0].0, "digital work and diplomacy; ".len());
    }

    #[test]
    fn window_where_most_distinct_words_meet() {
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let text = format!("alpha alpha {filler} alpha beta gamma here {filler}");
        let s = snippet(&text, &[word("alpha"), word("beta"), word("gamma")], 100);
        assert_eq!(lit(&s), ["alpha", "beta", "gamma"]);
        assert!(s.text.chars().count() <= 100);
        // Context on both sides, cut at spaces.
        let at = text.find(&s.text).expect("a slice of the text");
        assert!(at > 0 && text[..at].ends_with(' '), "{:?}", s.text);
        assert!(text[at + s.text.len()..].starts_with(' '), "{:?}", s.text);
        assert!(s.highlights[0].0 > 0);
    }

    #[test]
    fn no_match_is_the_start_cut_at_a_space() {
        let s = snippet("one two three four", &[word("five")], 9);
        assert_eq!(s.text, "one two");
        assert!(s.highlights.is_empty());
        let s = snippet("", &[word("five")], 9);
        assert_eq!(s.text, "");
    }

    #[test]
    fn a_word_cut_by_the_scan_limit_is_not_matched() {
        let mut text = "x ".repeat(MAX_SCANNED_BYTES / 2 - 2);
        text.push_str("embassies");
        assert!(text.len() > MAX_SCANNED_BYTES);
        // `emba` is the scanned end of `embassies`.
        let s = snippet(
            &text,
            &[Sought::new("emba", Expansion::None).expect("w")],
            240,
        );
        assert!(s.highlights.is_empty());
    }
}
