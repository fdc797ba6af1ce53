//! The text analysis chain: one tokenizer for Uzbek (Latin and Cyrillic
//! script), Russian and English, so that one field and one query serve all
//! of them.
//!
//! Per word (see ADR 0008 for the reasons):
//!
//! 1. **Tokenize**: a word is a maximal run of alphanumeric characters
//!    (digits are words too). An apostrophe-like character between two
//!    letters stays inside the word (Uzbek `oʻ`, `gʻ`, the tutuq belgisi in
//!    `maʼno`); a leading or trailing one does not. Combining marks stay
//!    with the letter they follow. Offsets are byte offsets into the text.
//!    Words of more than [`MAX_WORD_CHARS`] characters are dropped.
//! 2. **Lowercase**, composing decomposed letters (`и` + U+0306 = `й`) and
//!    dropping stress accents on Cyrillic.
//! 3. **Unify apostrophes**: every form becomes ASCII `'`.
//! 4. **Transliterate** Cyrillic to Uzbek Latin (1995 alphabet), so that
//!    `Ўзбекистон` and `Oʻzbekiston` give one key, `o'zbekiston`.
//! 5. **Stem**, stacked at the word's position: a Latin word yields its
//!    English (Porter2) stem and its Uzbek stem ([`crate::uzbek`]); a
//!    Cyrillic word without Uzbek-only letters its Russian Snowball stem,
//!    *kept in Cyrillic* (a namespace of its own: no folded form or Latin
//!    stem is ever Cyrillic), and the Uzbek stem of its folded form; a
//!    Cyrillic word with Uzbek-only letters (`ў қ ғ ҳ`) its Uzbek stem.
//!    In a text written in Uzbek Cyrillic ([`uzbek_cyrillic`]: those
//!    letters are at least one in forty of its Cyrillic letters), no
//!    Cyrillic word gets a Russian stem: most Uzbek words have none of the
//!    four letters, and the Russian stemmer only mangles them.
//!
//! The result of steps 2–4 is the *folded* form ([`fold`]); the tokenizer
//! emits it, then the word's stems, for each word.

use std::mem;
use std::sync::{Arc, Mutex, PoisonError};

use frostem::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer, TokenizerManager};

use chapar_proto::fold::{
    is_apostrophe, is_combining_mark, lowercase, transliterate, trim_apostrophes,
};

use crate::uzbek;

/// Name under which the tokenizer is registered with tantivy.
pub const TOKENIZER: &str = "chapar";

/// Words with more characters than this are dropped (tantivy's
/// `RemoveLongFilter` idea): they are base64 blobs, hashes or URLs glued
/// together, never something a person types in a query.
pub const MAX_WORD_CHARS: usize = 64;

/// The tantivy tokenizer of the chain: implements
/// [`tantivy::tokenizer::Tokenizer`].
///
/// It keeps reusable buffers, so that it tokenizes without allocating per
/// token, and a stem cache (half a MiB, taken once a tokenizer has stemmed
/// a few dozen words). tantivy clones the registered tokenizer for each
/// segment writer and each query: a clone starts with empty buffers but
/// shares a pool of stem caches with the tokenizer it was cloned from, and a
/// dropped tokenizer gives its cache back to the pool, so that the next
/// segment writer starts warm.
#[derive(Default)]
pub struct ChaparTokenizer {
    token: Token,
    analyzer: Analyzer,
}

impl Clone for ChaparTokenizer {
    fn clone(&self) -> Self {
        Self {
            token: Token::default(),
            analyzer: Analyzer {
                cache: StemCache {
                    slots: Vec::new(),
                    seen: 0,
                    pool: Arc::clone(&self.analyzer.cache.pool),
                },
                ..Analyzer::default()
            },
        }
    }
}

/// Registers [`ChaparTokenizer`] under [`TOKENIZER`].
pub fn register(manager: &TokenizerManager) {
    manager.register(TOKENIZER, ChaparTokenizer::default());
}

/// One analysed word of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Index of the word in the text, counting from 0. Dropped words (too
    /// long, or nothing left after folding) keep their place, so a phrase
    /// never matches across them.
    pub position: usize,
    /// Byte offset of the word's first character in the text.
    pub offset_from: usize,
    /// Byte offset just past the word's last character in the text.
    pub offset_to: usize,
    /// The folded form (see [`fold`]): the search key.
    pub folded: String,
    /// The word's stems, in the order the tokenizer emits them (English or
    /// Russian, then Uzbek): deduplicated, never empty strings, never equal
    /// to `folded`. At most [`MAX_STEMS`]. A Russian stem is in Cyrillic
    /// (see the module documentation); English and Uzbek stems share the
    /// folded forms' Latin keys, so that `yevropa` (a folded form) meets
    /// the Uzbek stem of `Yevropada`.
    pub stems: Vec<String>,
}

/// Most stems a word carries: two stemmers apply to any word.
pub const MAX_STEMS: usize = 2;

/// Analyses `text` the same way the tokenizer does (for building queries
/// and for tests).
pub fn analyze(text: &str) -> Vec<Word> {
    let mut tokenizer = ChaparTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut words: Vec<Word> = Vec::new();
    while let Some(token) = stream.next() {
        // The stream emits a word's folded form, then its stems at the
        // same position: a further token at a position is a stem.
        match words.last_mut() {
            Some(last) if last.position == token.position => {
                last.stems.push(token.text.clone());
            }
            _ => words.push(Word {
                position: token.position,
                offset_from: token.offset_from,
                offset_to: token.offset_to,
                folded: token.text.clone(),
                stems: Vec::new(),
            }),
        }
    }
    words
}

/// The folded (search key) form of one word (see [`chapar_proto::fold`]):
/// lowercase, apostrophes unified, Cyrillic transliterated to Uzbek Latin.
/// Use [`analyze`] on a text: characters that separate words are only
/// lowercased here.
pub use chapar_proto::fold::fold;

// ---------------------------------------------------------------------------
// The token stream.

/// Token stream of [`ChaparTokenizer`].
pub struct ChaparTokenStream<'a> {
    text: &'a str,
    /// Byte offset where the search for the next word starts.
    cursor: usize,
    /// Position of the next word.
    position: usize,
    /// The current word's stems still to emit: `analyzer.stems[next_stem..
    /// stem_count]`.
    next_stem: usize,
    stem_count: usize,
    token: &'a mut Token,
    analyzer: &'a mut Analyzer,
}

impl Tokenizer for ChaparTokenizer {
    type TokenStream<'a> = ChaparTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> ChaparTokenStream<'a> {
        self.token.reset();
        self.analyzer.uzbek_text = uzbek_cyrillic(text);
        ChaparTokenStream {
            text,
            cursor: 0,
            position: 0,
            next_stem: 0,
            stem_count: 0,
            token: &mut self.token,
            analyzer: &mut self.analyzer,
        }
    }
}

impl TokenStream for ChaparTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next_stem < self.stem_count {
            // Same position and offsets as the folded token: only the text
            // changes. Swapping keeps both buffers alive for reuse.
            if let Some(stem) = self.analyzer.stems.get_mut(self.next_stem) {
                mem::swap(&mut self.token.text, stem);
                self.next_stem += 1;
                return true;
            }
        }
        while let Some(span) = next_word(self.text, self.cursor) {
            let (from, to) = (span.from, span.to);
            self.cursor = to;
            let position = self.position;
            self.position += 1;
            let Some(word) = self.text.get(from..to) else {
                // Unreachable: `next_word` returns char boundaries.
                continue;
            };
            if is_too_long(word) {
                continue;
            }
            self.token.text.clear();
            let stem_count = self
                .analyzer
                .analyze_word(word, &span, &mut self.token.text);
            if self.token.text.is_empty() {
                // A word of only `ъ`/`ь` folds to nothing: never index "".
                continue;
            }
            self.token.offset_from = from;
            self.token.offset_to = to;
            self.token.position = position;
            self.token.position_length = 1;
            self.next_stem = 0;
            self.stem_count = stem_count;
            return true;
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

fn is_too_long(word: &str) -> bool {
    // Bytes bound characters from above, so the count is only needed for
    // the rare long word.
    word.len() > MAX_WORD_CHARS && word.chars().count() > MAX_WORD_CHARS
}

// ---------------------------------------------------------------------------
// Step 1: finding words.

/// A character that starts or continues a word. ʻ and ʼ are Unicode letters
/// (Lm), hence the explicit exclusion: they only count between letters.
fn is_word_char(c: char) -> bool {
    common_letter(c) || (c.is_alphanumeric() && !is_apostrophe(c))
}

fn is_letter(c: char) -> bool {
    common_letter(c) || (c.is_alphabetic() && !is_apostrophe(c))
}

/// Cyrillic (U+0400–U+04FF, letters only) and Latin-1/Extended-A/B
/// letters: nearly every non-ASCII character of the data. Answered by
/// range checks instead of the Unicode tables, which cost a binary search
/// per character.
fn common_letter(c: char) -> bool {
    matches!(c,
        '\u{0400}'..='\u{0481}' | '\u{048A}'..='\u{04FF}'
        | '\u{00C0}'..='\u{00D6}' | '\u{00D8}'..='\u{00F6}' | '\u{00F8}'..='\u{024F}')
}

/// The character at byte `i` of `text` (a char boundary) and its length.
fn char_at(text: &str, i: usize) -> Option<(char, usize)> {
    let b = *text.as_bytes().get(i)?;
    if b < 0x80 {
        return Some((char::from(b), 1));
    }
    let c = text.get(i..)?.chars().next()?;
    Some((c, c.len_utf8()))
}

/// A word found in a text, with what the scan learnt about it for free.
struct Span {
    from: usize,
    to: usize,
    /// Only ASCII bytes: the fast path applies.
    ascii: bool,
    /// Contains a backtick, to become `'` (only tracked for ASCII words).
    backtick: bool,
}

/// The first word at or after byte `from` (a char boundary) of `text`.
fn next_word(text: &str, mut from: usize) -> Option<Span> {
    let bytes = text.as_bytes();
    // Skip to the start of a word.
    let (start, first) = loop {
        let b = *bytes.get(from)?;
        if b < 0x80 {
            if b.is_ascii_alphanumeric() {
                break (from, char::from(b));
            }
            from += 1;
        } else {
            let (c, len) = char_at(text, from)?;
            if is_word_char(c) {
                break (from, c);
            }
            from += len;
        }
    };
    let mut span = Span {
        from: start,
        to: start + first.len_utf8(),
        ascii: first.is_ascii(),
        backtick: false,
    };
    // Whether the character before `span.to` is a letter (a combining mark
    // counts as its base), for the apostrophe rule. The loop over ASCII
    // runs does not track it: it is read from the last byte when that byte
    // is ASCII, else taken from here, where it was noted with the offset
    // the character ended at.
    let mut wide = (span.to, common_letter(first) || first.is_alphabetic());
    let after_letter = |span: &Span, wide: (usize, bool)| {
        if wide.0 == span.to {
            wide.1
        } else {
            span.to
                .checked_sub(1)
                .and_then(|i| bytes.get(i))
                .is_some_and(u8::is_ascii_alphabetic)
        }
    };
    loop {
        // The ASCII letters and digits that are most of any text.
        while bytes.get(span.to).is_some_and(u8::is_ascii_alphanumeric) {
            span.to += 1;
        }
        let Some((c, len)) = char_at(text, span.to) else {
            break;
        };
        if is_apostrophe(c) {
            // Inside the word only between two letters.
            match char_at(text, span.to + len) {
                Some((next, next_len)) if after_letter(&span, wide) && is_letter(next) => {
                    span.backtick |= c == '`';
                    span.ascii &= c.is_ascii() && next.is_ascii();
                    span.to += len + next_len;
                    wide = (span.to, true);
                }
                _ => break,
            }
        } else if c.is_ascii() {
            break;
        } else if is_word_char(c) {
            span.ascii = false;
            span.to += len;
            wide = (span.to, is_letter(c));
        } else if is_combining_mark(c) {
            // Part of the letter before it.
            let letter = after_letter(&span, wide);
            span.ascii = false;
            span.to += len;
            wide = (span.to, letter);
        } else {
            break;
        }
    }
    Some(span)
}

// ---------------------------------------------------------------------------
// Steps 2–5: folding and stemming one word.

/// Which stemmer applies to a word.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    /// Latin: English and Uzbek stems.
    English,
    /// Cyrillic without Uzbek-only letters: Russian and Uzbek stems.
    Russian,
    /// Cyrillic with Uzbek-only letters: the Uzbek stem.
    Uzbek,
    None,
}

/// What the lowercasing pass saw in a word.
#[derive(Default)]
struct Scripts {
    latin: bool,
    cyrillic: bool,
    /// ў қ ғ ҳ: the word is Uzbek, and Russian stemming would be wrong.
    uzbek_only: bool,
    other: bool,
    digit: bool,
}

impl Scripts {
    fn note(&mut self, c: char) {
        match c {
            'a'..='z' => self.latin = true,
            '0'..='9' => self.digit = true,
            '\'' => {}
            'ў' | 'қ' | 'ғ' | 'ҳ' => {
                self.cyrillic = true;
                self.uzbek_only = true;
            }
            '\u{0400}'..='\u{04FF}' => self.cyrillic = true,
            '\u{00C0}'..='\u{024F}' if c.is_alphabetic() => self.latin = true,
            _ if c.is_numeric() => self.digit = true,
            _ => self.other = true,
        }
    }

    fn lang(&self) -> Lang {
        if self.digit || self.other {
            Lang::None
        } else if self.cyrillic {
            if self.latin {
                Lang::None
            } else if self.uzbek_only {
                Lang::Uzbek
            } else {
                Lang::Russian
            }
        } else if self.latin {
            Lang::English
        } else {
            Lang::None
        }
    }
}

/// Reusable state of the chain.
#[derive(Default)]
struct Analyzer {
    /// The lowercased word, still in its own script (the Russian stemmer's
    /// input).
    lower: String,
    /// The current word's stems: `stems[..n]` of the last analysed word
    /// (the token stream swaps them out, so the others hold spare buffers).
    stems: [String; MAX_STEMS],
    cache: StemCache,
    /// The text being analysed is Uzbek Cyrillic ([`uzbek_cyrillic`]).
    uzbek_text: bool,
}

/// Whether `text` is written in Uzbek Cyrillic: it has at least two of the
/// letters Uzbek has and Russian does not (`ў қ ғ ҳ`, any case), and they
/// are at least one in forty of its Cyrillic letters (in the Uzbek
/// fixture, one in twenty-one; a Russian text naming `Ўзбекистон` and
/// `Қозоғистон` in two lines, one in fifty-seven). Below that the words are
/// judged one by one, as before. One pass over the bytes: the letters are
/// recognised by their UTF-8 encodings, Cyrillic letters by their lead
/// bytes (U+0400–U+04FF is `D0`–`D3`).
pub fn uzbek_cyrillic(text: &str) -> bool {
    let b = text.as_bytes();
    let (mut cyrillic, mut uzbek) = (0usize, 0usize);
    for (i, &lead) in b.iter().enumerate() {
        if !(0xD0..=0xD3).contains(&lead) {
            continue;
        }
        cyrillic += 1;
        // Ў ў (U+040E, U+045E); Ғ ғ Қ қ Ҳ ҳ (U+0492–3, U+049A–B, U+04B2–3).
        if matches!(
            (lead, b.get(i + 1)),
            (0xD0, Some(0x8E))
                | (0xD1, Some(0x9E))
                | (0xD2, Some(0x92 | 0x93 | 0x9A | 0x9B | 0xB2 | 0xB3))
        ) {
            uzbek += 1;
        }
    }
    uzbek >= 2 && uzbek * 40 >= cyrillic
}

impl Analyzer {
    /// Folds `word` (found as `span`) into `folded` (which must be empty),
    /// writes the word's stems to `self.stems` and returns how many there
    /// are (see [`Word::stems`]).
    fn analyze_word(&mut self, word: &str, span: &Span, folded: &mut String) -> usize {
        let lang = if span.ascii {
            // The common case: lowercase and unify the ASCII apostrophes,
            // nothing else. The span starts and ends with a letter or digit.
            folded.push_str(word);
            folded.make_ascii_lowercase();
            if span.backtick {
                *folded = folded.replace('`', "'");
            }
            // Most words stop here: no stemmer can change them.
            if !(english_may_change(folded) || uzbek::may_change(folded))
                || folded.bytes().any(|b| b.is_ascii_digit())
            {
                return 0;
            }
            Lang::English
        } else {
            self.fold_into(word, folded)
        };
        let mut n = 0;
        match lang {
            Lang::None => return 0,
            Lang::English => {
                let stem = &mut self.stems[0];
                stem.clear();
                if english_may_change(folded) && self.cache.stem(folded, stem, english_stem) {
                    n = keep_stem(&mut self.stems, n, folded);
                }
            }
            Lang::Russian if self.uzbek_text => {}
            Lang::Russian => {
                // In Cyrillic: a namespace of its own, so it is kept even
                // when it is the word itself (`город`, the stem of
                // `города`), and it never meets a Latin key by accident.
                // Not for words of one or two letters (`в`, `на`): the
                // stemmer leaves those alone, and they are many.
                if self.lower.chars().nth(2).is_some() {
                    let stem = &mut self.stems[0];
                    stem.clear();
                    if !self.cache.stem(&self.lower, stem, russian_stem) {
                        stem.push_str(&self.lower);
                    }
                    n = keep_stem(&mut self.stems, n, folded);
                }
            }
            Lang::Uzbek => {}
        }
        if uzbek::may_change(folded) {
            let stem = uzbek::stem(folded);
            if let Some(slot) = self.stems.get_mut(n) {
                slot.clear();
                slot.push_str(&stem);
                n = keep_stem(&mut self.stems, n, folded);
            }
        }
        n
    }

    /// Steps 2–4: writes the folded form of `word` to `folded` and says
    /// which stemmer applies.
    fn fold_into(&mut self, word: &str, folded: &mut String) -> Lang {
        if word.is_ascii() {
            // The common case: lowercase and unify the two ASCII
            // apostrophes, nothing else.
            folded.push_str(word);
            folded.make_ascii_lowercase();
            let bytes = word.as_bytes();
            if bytes.contains(&b'`') {
                *folded = folded.replace('`', "'");
            }
            trim_apostrophes(folded);
            let digit = bytes.iter().any(u8::is_ascii_digit);
            return if !digit && bytes.iter().any(u8::is_ascii_alphabetic) {
                Lang::English
            } else {
                Lang::None
            };
        }
        self.lower.clear();
        let mut scripts = Scripts::default();
        lowercase(word, &mut self.lower, |c| scripts.note(c));
        if scripts.cyrillic {
            transliterate(&self.lower, folded);
        } else {
            folded.push_str(&self.lower);
        }
        trim_apostrophes(folded);
        scripts.lang()
    }
}

/// Whether the English stemmer can change `folded`. Porter2 leaves words
/// of up to two letters alone, and every suffix it removes or rewrites ends
/// in one of `c d e g i l m n r s t y` (or an apostrophe, which a word never
/// ends with): a word ending otherwise (`with`, `which`, `how`, `also`) is
/// its own stem. Checked against the stemmer by a unit test.
fn english_may_change(folded: &str) -> bool {
    folded.len() > 2
        && matches!(
            folded.as_bytes().last(),
            Some(b'c' | b'd' | b'e' | b'g' | b'i' | b'l' | b'm' | b'n' | b'r' | b's' | b't' | b'y')
        )
}

fn english_stem(lower: &str, out: &mut String) {
    out.push_str(&Stemmer::new(Algorithm::English).stem(lower));
}

fn russian_stem(lower: &str, out: &mut String) {
    // Computed on the Cyrillic word and left in Cyrillic (ADR 0008, "Uzbek
    // stems and stem namespaces"): transliterated, `дипломатия` would give
    // `diplomat` and meet the English word.
    out.push_str(&Stemmer::new(Algorithm::Russian).stem(lower));
}

/// Decides whether the stem just written to `stems[n]` is worth a token:
/// only if non-empty, different from the folded form and from the stems
/// before it. Returns the new count of stems (`n + 1` if kept; the slot is
/// cleared otherwise).
fn keep_stem(stems: &mut [String; MAX_STEMS], n: usize, folded: &str) -> usize {
    let (before, rest) = stems.split_at_mut(n);
    let Some(stem) = rest.first_mut() else {
        return n;
    };
    trim_apostrophes(stem);
    if stem.is_empty() || stem == folded || before.iter().any(|b| b == stem) {
        stem.clear();
        n
    } else {
        n + 1
    }
}

// ---------------------------------------------------------------------------
// The stem cache.

/// Number of sets of the stem cache (a power of two), of two slots each.
/// The 193 UN speeches of the benchmark corpus have ~14,000 distinct words.
const CACHE_SETS: usize = 8192;
/// Bytes per slot; a set (two slots) is one 64-byte cache line.
const SLOT: usize = 32;
/// Where a slot's key starts: after key length, prefix length, tail length.
const KEY_AT: usize = 3;
/// Longest key a slot holds (longer words are stemmed every time: rare
/// in English, Russian words of more than 12 letters).
const KEY_MAX: usize = 24;
/// Where a slot's stem tail starts.
const TAIL_AT: usize = KEY_AT + KEY_MAX;
/// Longest stem tail a slot holds.
const TAIL_MAX: usize = SLOT - TAIL_AT;
/// Stemmed words before the cache is taken: a tokenizer that only ever
/// sees short queries never pays for it.
const CACHE_AFTER: u32 = 64;
/// Prefix length marking "the stem is the key itself".
const NO_STEM: u8 = u8::MAX;
/// Caches a pool keeps (one per tokenizer that was in use at once: indexing
/// threads and concurrent queries); more are freed.
const POOL_MAX: usize = 8;

/// A two-way set-associative cache from a word (folded English, or
/// lowercased Cyrillic) to its stem. A Snowball call costs 0.4–0.6 µs, more
/// than everything else the chain does to a word, and word frequencies are
/// Zipfian: the cache spares ~95% of the calls. Each look-up is one hash,
/// one cache line and at most two compares, and a collision (even a crafted
/// one) only costs a miss: no growth, no slow path. The key is the exact
/// stemmer input, so the cache never changes a result, only its cost.
///
/// Slot layout: `[key_len, prefix_len, tail_len, key (KEY_MAX bytes), tail
/// (TAIL_MAX bytes)]`; `key_len == 0` marks an empty slot. A stem is stored
/// as the length of its common prefix with the key plus an ASCII tail
/// (`embassies` → 7, ``; `embassy` → 6, `i`; `посольства` → 18 bytes, ``),
/// which keeps slots small; `prefix_len == NO_STEM` marks a word that is its
/// own stem. A new entry goes to the first slot of its set,
/// pushing the previous one to the second. (The Uzbek stemmer is a few
/// byte compares and needs no cache.)
#[derive(Default)]
struct StemCache {
    /// `CACHE_SETS * 2 * SLOT` bytes once taken, from the pool or new
    /// (`vec![0; n]` comes zeroed from the allocator: pages are only touched
    /// when used).
    slots: Vec<u8>,
    /// Stemmed words seen while the cache was not taken yet.
    seen: u32,
    /// Where `slots` come from and go back to when the cache is dropped.
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl StemCache {
    fn take_slots(&mut self) {
        let pooled = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        self.slots = pooled
            .filter(|slots| slots.len() == CACHE_SETS * 2 * SLOT)
            .unwrap_or_else(|| vec![0; CACHE_SETS * 2 * SLOT]);
    }
}

impl Drop for StemCache {
    fn drop(&mut self) {
        if self.slots.is_empty() {
            return;
        }
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_MAX {
            pool.push(mem::take(&mut self.slots));
        }
    }
}

impl StemCache {
    /// Writes to `stem` (which must be empty) the stem of the word `key`
    /// (as `compute` writes it, apostrophes trimmed), from the cache if
    /// there, and returns true; or, when the stem is `key` itself, leaves
    /// `stem` empty and returns false (the common case, answered without a
    /// copy).
    fn stem(&mut self, key: &str, stem: &mut String, compute: fn(&str, &mut String)) -> bool {
        if self.slots.is_empty() {
            if self.seen < CACHE_AFTER {
                self.seen += 1;
                return computed(key, stem, compute);
            }
            self.take_slots();
        }
        let base = set_index(key) * 2 * SLOT;
        let (Some(set), true) = (
            self.slots.get_mut(base..base + 2 * SLOT),
            key.len() <= KEY_MAX,
        ) else {
            return computed(key, stem, compute);
        };
        let (first, second) = set.split_at_mut(SLOT);
        for slot in [&*first, &*second] {
            if let Some(differs) = lookup(slot, key, stem) {
                return differs;
            }
        }
        let differs = computed(key, stem, compute);
        // The longest common prefix, on a char boundary of both (the bytes
        // before it are equal, so a boundary of one is one of the other).
        let mut prefix = stem
            .bytes()
            .zip(key.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !stem.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let tail = stem.get(prefix..).unwrap_or_default();
        if tail.len() <= TAIL_MAX && tail.is_ascii() && prefix < usize::from(NO_STEM) {
            second.copy_from_slice(first);
            // Lengths fit in a byte: KEY_MAX and TAIL_MAX are < 255, and
            // the prefix is at most the key's length.
            first[0] = key.len() as u8;
            first[1] = if differs { prefix as u8 } else { NO_STEM };
            first[2] = tail.len() as u8;
            first[KEY_AT..KEY_AT + key.len()].copy_from_slice(key.as_bytes());
            first[TAIL_AT..TAIL_AT + tail.len()].copy_from_slice(tail.as_bytes());
        }
        differs
    }
}

/// Computes the stem of `key` into `stem` (trimmed), clearing it and
/// returning false if it is `key` itself.
fn computed(key: &str, stem: &mut String, compute: fn(&str, &mut String)) -> bool {
    compute(key, stem);
    trim_apostrophes(stem);
    if stem == key {
        stem.clear();
        false
    } else {
        true
    }
}

/// If `slot` holds `key`, writes its stem to `stem` unless it is `key`
/// itself, and says which.
fn lookup(slot: &[u8], key: &str, stem: &mut String) -> Option<bool> {
    let (&[key_len, prefix_len, tail_len], rest) = slot.split_first_chunk::<KEY_AT>()?;
    if usize::from(key_len) != key.len() || rest.get(..key.len())? != key.as_bytes() {
        return None;
    }
    if prefix_len == NO_STEM {
        return Some(false);
    }
    let tail = rest.get(KEY_MAX..KEY_MAX + usize::from(tail_len))?;
    stem.push_str(key.get(..usize::from(prefix_len))?);
    // The tail is ASCII (only such tails are stored).
    stem.extend(tail.iter().map(|&b| char::from(b)));
    Some(true)
}

/// FxHash-style hash of `key`, reduced to a set index.
fn set_index(key: &str) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash: u64 = key.len() as u64;
    let mut chunks = key.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        hash = (hash.rotate_left(5) ^ word).wrapping_mul(K);
    }
    // Byte by byte rather than a copy into an array: a variable-length copy
    // is a memcpy call, and this runs for most words of a text.
    let tail = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |word, &b| (word << 8) | u64::from(b));
    hash = (hash.rotate_left(5) ^ tail).wrapping_mul(K);
    // The top bits of a multiplicative hash are the well-mixed ones.
    (hash >> (64 - CACHE_SETS.trailing_zeros())) as usize & (CACHE_SETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<(String, Vec<String>)> {
        analyze(text)
            .into_iter()
            .map(|w| (w.folded, w.stems))
            .collect()
    }

    #[test]
    fn apostrophe_only_between_letters() {
        let range = |text| next_word(text, 0).map(|span| (span.from, span.to));
        assert_eq!(range("‘o‘z’"), Some((3, 8)));
        assert_eq!(range("a'1"), Some((0, 1)));
        assert_eq!(range("  "), None);
    }

    #[test]
    fn cache_hit_gives_the_same_stem() {
        // Past CACHE_AFTER words, so that later rounds are cache hits.
        let mut analyzer = Analyzer::default();
        for _ in 0..CACHE_AFTER {
            for (word, stems) in [
                ("embassies", &["embassi"][..]),
                ("with", &[]),
                ("посольства", &["посольств"]),
                ("посольств", &["посольств"]),
                ("Yevropaning", &["yevropan", "yevropa"]),
                ("ўзбекистонда", &["o'zbekiston"]),
            ] {
                let span = next_word(word, 0).expect("a word");
                let mut folded = String::new();
                let n = analyzer.analyze_word(word, &span, &mut folded);
                assert_eq!(&analyzer.stems[..n], stems, "{word}");
            }
        }
        assert!(!analyzer.cache.slots.is_empty());
    }

    #[test]
    fn english_stemmer_leaves_words_we_skip_alone() {
        // `english_may_change` must only skip words the stemmer would leave
        // as they are: check it on a few hundred thousand pseudo-random
        // words (letters weighted towards suffix letters, apostrophes
        // inside) and on real ones.
        let english = Stemmer::new(Algorithm::English);
        let letters = b"abcdefghijklmnopqrstuvwxyzeeiinnssy'";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for _ in 0..300_000 {
            let len = 1 + (next() % 14) as usize;
            let word: String = (0..len)
                .map(|_| char::from(letters[(next() % letters.len() as u64) as usize]))
                .collect();
            // Tokens start and end with a letter, never with an apostrophe.
            if word.starts_with('\'') || word.ends_with('\'') || english_may_change(&word) {
                continue;
            }
            checked += 1;
            assert_eq!(english.stem(&word), word.as_str(), "{word}");
        }
        assert!(checked > 100_000);
        for word in [
            "with", "which", "also", "how", "who", "new", "work", "law", "sky", "news",
        ] {
            if !english_may_change(word) {
                assert_eq!(english.stem(word), word);
            }
        }
    }

    #[test]
    fn uzbek_cyrillic_gets_only_the_uzbek_stem() {
        assert_eq!(
            words("тоғда"),
            vec![("tog'da".to_string(), vec!["tog".to_string()])]
        );
    }

    #[test]
    fn set_index_in_range() {
        for key in ["", "a", "embassy", "посольство", &"x".repeat(100)] {
            assert!(set_index(key) < CACHE_SETS);
        }
    }
}
