//! Line and word differences between two texts: `chapar wiki diff A B`, a
//! page's history view, and the three-way [`merge`](super::merge).
//!
//! The types describe a diff, they do not print it, so the terminal printer
//! and the HTML printer (other crates) show the same changes.
//!
//! - **Lossless.** A line keeps its terminator (`"\n"` or `"\r\n"`); only the
//!   last line of a text may lack one. Joining the old side of a diff gives
//!   back the old text byte for byte, the new side the new text. So a
//!   printer can show a CRLF change or a missing final newline, and nothing
//!   is normalised away behind the reader's back.
//! - **Words.** A word is a run of Unicode letters and digits (with their
//!   combining marks, and an apostrophe between two letters, as in Uzbek
//!   Latin `oʻzbek` or `O'zbekiston`); a run of white space is one token;
//!   any other character is a token of its own. This suits Cyrillic and
//!   Latin alike and never splits a character.
//! - **Changed lines.** In a block of removed and added lines, the leading
//!   lines are paired while they stay similar (counting non-space
//!   characters, twice the unchanged ones are at least half of the two lines
//!   together): such a pair is one [`LineChange::Changed`] carrying its
//!   word-level spans, so both printers highlight the same words. The rest
//!   of the block stays [`LineChange::Removed`] then [`LineChange::Added`].
//! - **Deterministic, no deadline.** Lines (and words) are numbered by first
//!   appearance and diffed with `similar`'s Myers (the Git-style variant whose
//!   search is bounded by a work limit computed from the input sizes, never
//!   by the clock). The same inputs give the same diff on every node; a
//!   deadline would make the result depend on the machine's speed. The
//!   output depends on the `similar` version, which `Cargo.lock` pins; the
//!   golden tests catch a change.
//! - **Bounded.** Myers costs `O((N + M) · D)`; on a huge changed region
//!   with a huge edit distance (two unrelated 4 MiB texts of a million
//!   one-letter lines) that is tens of seconds. A changed region of more
//!   than [`DIRECT_ITEMS`] lines (or words) is first probed under a fixed
//!   step budget, leaving out the lines only one side has (an edit that
//!   writes new lines is cheap however large); past the budget, the region
//!   is one block, all replaced. Ordinary pages never get near it (a
//!   20,000-line page edited in 1,000 places diffs in milliseconds).

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Range;

use similar::{Algorithm, DiffTag, capture_diff_slices};

/// One line of a line diff.
///
/// Every `String` is one line with its terminator (`"\n"` or `"\r\n"`),
/// except the last line of a text, which may have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineChange {
    /// A line both texts share.
    Same(String),
    /// A line only the old text has.
    Removed(String),
    /// A line only the new text has.
    Added(String),
    /// A line edited in place: the old line is the [`WordChange::Same`] and
    /// [`WordChange::Removed`] spans, the new line the `Same` and
    /// [`WordChange::Added`] spans, in order.
    Changed(Vec<WordChange>),
}

impl LineChange {
    /// The line as it is in the old text, if the old text has it.
    pub fn old_line(&self) -> Option<String> {
        match self {
            LineChange::Same(line) | LineChange::Removed(line) => Some(line.clone()),
            LineChange::Added(_) => None,
            LineChange::Changed(spans) => Some(old_side(spans)),
        }
    }

    /// The line as it is in the new text, if the new text has it.
    pub fn new_line(&self) -> Option<String> {
        match self {
            LineChange::Same(line) | LineChange::Added(line) => Some(line.clone()),
            LineChange::Removed(_) => None,
            LineChange::Changed(spans) => Some(new_side(spans)),
        }
    }
}

/// One span of a word diff.
///
/// Consecutive spans never have the same variant; where both texts differ
/// the `Removed` span comes before the `Added` one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordChange {
    /// Text both sides share.
    Same(String),
    /// Text only the old side has.
    Removed(String),
    /// Text only the new side has.
    Added(String),
}

/// The old side of word spans: the `Same` and `Removed` text, in order.
pub fn old_side(spans: &[WordChange]) -> String {
    let mut text = String::new();
    for span in spans {
        match span {
            WordChange::Same(s) | WordChange::Removed(s) => text.push_str(s),
            WordChange::Added(_) => {}
        }
    }
    text
}

/// The new side of word spans: the `Same` and `Added` text, in order.
pub fn new_side(spans: &[WordChange]) -> String {
    let mut text = String::new();
    for span in spans {
        match span {
            WordChange::Same(s) | WordChange::Added(s) => text.push_str(s),
            WordChange::Removed(_) => {}
        }
    }
    text
}

/// A group of changes with up to `context` unchanged lines around them, as
/// in a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// The old text's lines this hunk covers (zero-based line indices).
    pub old: Range<usize>,
    /// The new text's lines this hunk covers (zero-based line indices).
    pub new: Range<usize>,
    /// The hunk's lines in order: its context is [`LineChange::Same`].
    pub changes: Vec<LineChange>,
}

impl Hunk {
    /// The unified-diff header, `@@ -l,s +l,s @@`, with GNU diff's rules
    /// (one-based lines; `,1` left out; an empty side names the line before).
    pub fn header(&self) -> String {
        format!(
            "@@ -{} +{} @@",
            unified_range(&self.old),
            unified_range(&self.new)
        )
    }
}

fn unified_range(range: &Range<usize>) -> String {
    match range.len() {
        0 => format!("{},0", range.start),
        1 => format!("{}", range.start + 1),
        len => format!("{},{}", range.start + 1, len),
    }
}

/// The line diff of two texts: every line of both, in order, as
/// [`LineChange::Same`], [`LineChange::Removed`], [`LineChange::Added`] or,
/// for a similar pair of lines, [`LineChange::Changed`].
///
/// Identical texts give only `Same` lines; an empty text has no lines.
pub fn lines(old: &str, new: &str) -> Vec<LineChange> {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let ids = intern(&[&old_lines, &new_lines]);
    let blocks = edit_blocks(&ids[0], &ids[1]);
    let mut out = Vec::with_capacity(old_lines.len().max(new_lines.len()));
    let mut at = 0;
    for block in &blocks {
        push_same(&mut out, &old_lines[at..block.old.start]);
        push_block(
            &mut out,
            &old_lines[block.old.clone()],
            &new_lines[block.new.clone()],
        );
        at = block.old.end;
    }
    push_same(&mut out, &old_lines[at..]);
    out
}

/// The word diff of two texts (or lines): spans tagged
/// [`WordChange::Same`], [`WordChange::Removed`] and [`WordChange::Added`].
///
/// Words are runs of letters and digits; see the [module docs](self). The
/// lines are diffed first and words are matched only inside each block of
/// changed lines, as a reader looks for them (and a long text with scattered
/// edits stays cheap). [`old_side`] of the result is `old`, [`new_side`] is
/// `new`.
pub fn words(old: &str, new: &str) -> Vec<WordChange> {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let ids = intern(&[&old_lines, &new_lines]);
    let blocks = edit_blocks(&ids[0], &ids[1]);
    let mut out: Vec<WordChange> = Vec::new();
    let mut at = 0;
    for block in &blocks {
        push_span(&mut out, WordChange::Same, &old_lines[at..block.old.start]);
        word_spans(
            &mut out,
            &old_lines[block.old.clone()].concat(),
            &new_lines[block.new.clone()].concat(),
        );
        at = block.old.end;
    }
    push_span(&mut out, WordChange::Same, &old_lines[at..]);
    out
}

/// Appends the word diff of `old` and `new` to `out`.
fn word_spans(out: &mut Vec<WordChange>, old: &str, new: &str) {
    let old_words = split_words(old);
    let new_words = split_words(new);
    let ids = intern(&[&old_words, &new_words]);
    let blocks = edit_blocks(&ids[0], &ids[1]);
    let mut at = 0;
    for block in &blocks {
        push_span(out, WordChange::Same, &old_words[at..block.old.start]);
        push_span(out, WordChange::Removed, &old_words[block.old.clone()]);
        push_span(out, WordChange::Added, &new_words[block.new.clone()]);
        at = block.old.end;
    }
    push_span(out, WordChange::Same, &old_words[at..]);
}

/// The changes between two texts grouped into hunks with up to `context`
/// unchanged lines before and after each change, as `diff -U context`
/// does: changes at most `2 * context` lines apart share a hunk.
///
/// Identical texts give no hunks.
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    let old_lines = split_lines(old);
    let new_lines = split_lines(new);
    let ids = intern(&[&old_lines, &new_lines]);
    let blocks = edit_blocks(&ids[0], &ids[1]);
    let mut hunks = Vec::new();
    let mut rest = blocks.as_slice();
    while let Some(first) = rest.first() {
        // The blocks of one hunk: the next starts at most 2 * context
        // unchanged lines after the previous ends.
        let mut count = 1;
        while let Some(next) = rest.get(count) {
            let gap = next.old.start - rest[count - 1].old.end;
            if gap > context.saturating_mul(2) {
                break;
            }
            count += 1;
        }
        let (group, tail) = rest.split_at(count);
        rest = tail;
        let last = &group[count - 1];
        let before = context.min(first.old.start).min(first.new.start);
        let after = context
            .min(old_lines.len() - last.old.end)
            .min(new_lines.len() - last.new.end);
        let old_range = first.old.start - before..last.old.end + after;
        let new_range = first.new.start - before..last.new.end + after;
        let mut changes = Vec::new();
        let mut at = old_range.start;
        for block in group {
            push_same(&mut changes, &old_lines[at..block.old.start]);
            push_block(
                &mut changes,
                &old_lines[block.old.clone()],
                &new_lines[block.new.clone()],
            );
            at = block.old.end;
        }
        push_same(&mut changes, &old_lines[at..old_range.end]);
        hunks.push(Hunk {
            old: old_range,
            new: new_range,
            changes,
        });
    }
    hunks
}

fn push_same(out: &mut Vec<LineChange>, lines: &[&str]) {
    out.extend(
        lines
            .iter()
            .map(|line| LineChange::Same((*line).to_owned())),
    );
}

/// One block of removed and added lines: the leading similar pairs become
/// `Changed`, the rest `Removed` then `Added`.
fn push_block(out: &mut Vec<LineChange>, old: &[&str], new: &[&str]) {
    let mut paired = 0;
    for (old_line, new_line) in old.iter().zip(new) {
        let mut spans = Vec::new();
        word_spans(&mut spans, old_line, new_line);
        if !similar_lines(&spans) {
            break;
        }
        out.push(LineChange::Changed(spans));
        paired += 1;
    }
    out.extend(
        old[paired..]
            .iter()
            .map(|line| LineChange::Removed((*line).to_owned())),
    );
    out.extend(
        new[paired..]
            .iter()
            .map(|line| LineChange::Added((*line).to_owned())),
    );
}

/// Whether the lines are similar: counting non-space characters, twice the
/// unchanged ones are at least half of both lines together (a Dice
/// coefficient of at least 1/2).
fn similar_lines(spans: &[WordChange]) -> bool {
    let count = |s: &str| s.chars().filter(|c| !c.is_whitespace()).count();
    let (mut same, mut removed, mut added) = (0usize, 0usize, 0usize);
    for span in spans {
        match span {
            WordChange::Same(s) => same += count(s),
            WordChange::Removed(s) => removed += count(s),
            WordChange::Added(s) => added += count(s),
        }
    }
    let both = (same + removed).saturating_add(same + added);
    same > 0 && same.saturating_mul(4) >= both
}

fn push_span(out: &mut Vec<WordChange>, make: fn(String) -> WordChange, tokens: &[&str]) {
    if tokens.is_empty() {
        return;
    }
    let text = tokens.concat();
    match (out.last_mut(), make(text)) {
        (Some(WordChange::Same(last)), WordChange::Same(more))
        | (Some(WordChange::Removed(last)), WordChange::Removed(more))
        | (Some(WordChange::Added(last)), WordChange::Added(more)) => last.push_str(&more),
        (_, span) => out.push(span),
    }
}

/// Splits a text into lines, each with its `"\n"` (so `"\r\n"` stays whole);
/// the last line may have none. An empty text has no lines.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Splits a text into word, white-space and single-character tokens; the
/// tokens joined are the text.
fn split_words(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let mut end = start + c.len_utf8();
        if c.is_alphanumeric() {
            while let Some(&(at, next)) = chars.peek() {
                let joins = next.is_alphanumeric()
                    || is_combining_mark(next)
                    || (is_apostrophe(next)
                        && text[at + next.len_utf8()..]
                            .chars()
                            .next()
                            .is_some_and(char::is_alphanumeric));
                if !joins {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
        } else if c.is_whitespace() {
            while let Some(&(at, next)) = chars.peek() {
                if !next.is_whitespace() {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
        } else {
            // A lone character keeps its combining marks.
            while let Some(&(at, next)) = chars.peek() {
                if !is_combining_mark(next) {
                    break;
                }
                end = at + next.len_utf8();
                chars.next();
            }
        }
        tokens.push(&text[start..end]);
    }
    tokens
}

fn is_combining_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

/// Apostrophes written inside words: ASCII `'`, `’` (U+2019), and the
/// modifier letters `ʻ` (U+02BB, Uzbek Latin `oʻ`, `gʻ`) and `ʼ` (U+02BC)
/// (the two modifier letters are letters already; listed for clarity).
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BB}' | '\u{02BC}')
}

/// Up to this many items, [`intern`] scans instead of hashing.
const SMALL_INTERN: usize = 32;

/// Numbers the items of several sequences by first appearance, so equal
/// items get equal numbers and the diff compares integers. The numbering
/// depends only on the sequences, not on the hash map's random keys.
pub(crate) fn intern<T: Hash + Eq + Copy>(sequences: &[&[T]]) -> Vec<Vec<usize>> {
    let total: usize = sequences.iter().map(|items| items.len()).sum();
    if total <= SMALL_INTERN {
        // A few items (a pair of lines): a scan beats a hash map.
        let mut seen: Vec<T> = Vec::with_capacity(total);
        return sequences
            .iter()
            .map(|items| {
                items
                    .iter()
                    .map(|item| {
                        seen.iter().position(|s| s == item).unwrap_or_else(|| {
                            seen.push(*item);
                            seen.len() - 1
                        })
                    })
                    .collect()
            })
            .collect();
    }
    let mut ids: HashMap<T, usize> = HashMap::new();
    sequences
        .iter()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let next = ids.len();
                    *ids.entry(*item).or_insert(next)
                })
                .collect()
        })
        .collect()
}

/// A maximal run of differences between two sequences: `old` replaced by
/// `new` (one of them may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// The old sequence's items.
    pub(crate) old: Range<usize>,
    /// The new sequence's items.
    pub(crate) new: Range<usize>,
}

/// Changed middles (what is left once the common start and end are cut
/// off) of up to this many items, both sides together, are diffed by
/// `similar`'s Myers outright: its worst case there is a few hundred
/// milliseconds.
pub const DIRECT_ITEMS: usize = 1 << 16;

/// Work budget of the edit-distance probe for larger middles: this many
/// steps (diagonal visits plus comparisons), a few tens of milliseconds.
pub const PROBE_BUDGET: usize = 1 << 24;

/// The blocks of differences between two sequences, in order; between
/// consecutive blocks at least one item is unchanged.
///
/// `similar`'s Myers without a deadline: the result depends only on the
/// input. Its cost grows with the edit distance, and on a huge middle with a
/// huge edit distance (say two unrelated 4 MiB texts of a million
/// one-letter lines) it would take tens of seconds. So a middle of more than
/// [`DIRECT_ITEMS`] items is first probed with Myers' greedy search under a
/// fixed work budget ([`PROBE_BUDGET`], counted in steps, not time), leaving
/// out the items only one side has: if the shortest edit script is found
/// within it, the edit is small and `similar` diffs the middle quickly; if not, the whole middle is one block (all of
/// it replaced). Either way the result depends only on the input.
pub(crate) fn edit_blocks(old: &[usize], new: &[usize]) -> Vec<Block> {
    edit_blocks_bounded(old, new, DIRECT_ITEMS, PROBE_BUDGET)
}

/// [`edit_blocks`] with its limits as arguments (the tests use small ones).
fn edit_blocks_bounded(
    old: &[usize],
    new: &[usize],
    direct_items: usize,
    probe_budget: usize,
) -> Vec<Block> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];
    if old_mid.is_empty() && new_mid.is_empty() {
        return Vec::new();
    }
    let whole = Block {
        old: prefix..prefix + old_mid.len(),
        new: prefix..prefix + new_mid.len(),
    };
    // One side empty, or one item against another (they differ): nothing
    // to align.
    if old_mid.is_empty() || new_mid.is_empty() || (old_mid.len() == 1 && new_mid.len() == 1) {
        return vec![whole];
    }
    let direct = old_mid.len().saturating_add(new_mid.len()) <= direct_items;
    if !direct {
        // Items one side lacks match nothing: the probe leaves them out, as
        // `similar`'s own preflight does.
        let (old_kept, new_kept) = shared_items(old_mid, new_mid);
        if !edit_within(&old_kept, &new_kept, probe_budget) {
            return vec![whole];
        }
    }
    let mut blocks: Vec<Block> = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, old_mid, new_mid) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if tag == DiffTag::Equal || (old_range.is_empty() && new_range.is_empty()) {
            continue;
        }
        let old_range = old_range.start + prefix..old_range.end + prefix;
        let new_range = new_range.start + prefix..new_range.end + prefix;
        match blocks.last_mut() {
            Some(last) if last.old.end == old_range.start && last.new.end == new_range.start => {
                last.old.end = old_range.end;
                last.new.end = new_range.end;
            }
            _ => blocks.push(Block {
                old: old_range,
                new: new_range,
            }),
        }
    }
    blocks
}

/// The items of each sequence that the other has too, in order. Items are
/// dense numbers from [`intern`].
fn shared_items(old: &[usize], new: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let bound = old.iter().chain(new).max().map_or(0, |max| max + 1);
    let mut in_old = vec![false; bound];
    let mut in_new = vec![false; bound];
    old.iter().for_each(|&id| in_old[id] = true);
    new.iter().for_each(|&id| in_new[id] = true);
    (
        old.iter().copied().filter(|&id| in_new[id]).collect(),
        new.iter().copied().filter(|&id| in_old[id]).collect(),
    )
}

/// Whether Myers' greedy forward search (Myers 1986, the basic
/// `O((N + M) · D)` algorithm, with `O(D)` memory) reaches the end of both
/// sequences within `budget` steps; a step is one diagonal visited or one
/// pair of items compared.
fn edit_within(old: &[usize], new: &[usize], budget: usize) -> bool {
    let (n, m) = (old.len(), new.len());
    // d diagonals cost at least d * (d + 1) / 2 steps.
    let max_d = n.saturating_add(m).min(budget.isqrt().saturating_mul(2));
    // `furthest[k + max_d + 1]`: the furthest x reached on diagonal k = x - y.
    let mut furthest = vec![0usize; max_d.saturating_mul(2).saturating_add(3)];
    let mut work = 0usize;
    for d in 0..=max_d {
        // k runs over -d, -d + 2, ..., d as offsets into `furthest`.
        let low = max_d + 1 - d;
        for slot in (low..=low + 2 * d).step_by(2) {
            let mut x = if slot == low
                || (slot != low + 2 * d && furthest[slot - 1] < furthest[slot + 1])
            {
                furthest[slot + 1]
            } else {
                furthest[slot - 1] + 1
            };
            // y = x - k, k = slot - (max_d + 1); y may fall outside for a
            // diagonal beyond the new sequence's end, then nothing matches.
            let shift = max_d + 1;
            let mut y = (x + shift).checked_sub(slot);
            work += 1;
            while let Some(at) = y {
                if x < n && at < m && old[x] == new[at] {
                    x += 1;
                    y = Some(at + 1);
                    work += 1;
                } else {
                    break;
                }
            }
            if x >= n && y.is_some_and(|at| at >= m) {
                return work <= budget;
            }
            if work > budget {
                return false;
            }
            furthest[slot] = x;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_text(changes: &[LineChange]) -> String {
        changes.iter().filter_map(LineChange::old_line).collect()
    }

    fn new_text(changes: &[LineChange]) -> String {
        changes.iter().filter_map(LineChange::new_line).collect()
    }

    #[test]
    fn split_lines_keeps_terminators() {
        assert_eq!(split_lines(""), Vec::<&str>::new());
        assert_eq!(split_lines("a"), vec!["a"]);
        assert_eq!(split_lines("a\r\nb\n"), vec!["a\r\n", "b\n"]);
        assert_eq!(split_lines("\n\n"), vec!["\n", "\n"]);
    }

    #[test]
    fn words_split_on_letter_runs() {
        assert_eq!(
            split_words("Oʻzbekiston, Тошкент 2024-й!"),
            vec![
                "Oʻzbekiston",
                ",",
                " ",
                "Тошкент",
                " ",
                "2024",
                "-",
                "й",
                "!"
            ]
        );
        assert_eq!(
            split_words("O'zbek 'quoted'"),
            vec!["O'zbek", " ", "'", "quoted", "'"]
        );
        // A combining mark stays with its letter (и + breve).
        assert_eq!(split_words("и\u{306} x"), vec!["и\u{306}", " ", "x"]);
        assert_eq!(split_words(""), Vec::<&str>::new());
    }

    #[test]
    fn identical_texts() {
        assert_eq!(
            lines("a\nb\n", "a\nb\n"),
            vec![
                LineChange::Same("a\n".into()),
                LineChange::Same("b\n".into())
            ]
        );
        assert!(hunks("a\nb\n", "a\nb\n", 3).is_empty());
        assert_eq!(words("x y", "x y"), vec![WordChange::Same("x y".into())]);
        assert!(lines("", "").is_empty());
        assert!(words("", "").is_empty());
    }

    #[test]
    fn changed_line_has_word_spans() {
        let changes = lines(
            "Посол встретился с министром.\nend\n",
            "Посол встретился с заместителем министра.\nend\n",
        );
        assert_eq!(
            changes,
            vec![
                LineChange::Changed(vec![
                    WordChange::Same("Посол встретился с ".into()),
                    WordChange::Removed("министром".into()),
                    WordChange::Added("заместителем министра".into()),
                    WordChange::Same(".\n".into()),
                ]),
                LineChange::Same("end\n".into()),
            ]
        );
    }

    #[test]
    fn dissimilar_lines_stay_removed_and_added() {
        let changes = lines("alpha beta\n", "gamma delta\n");
        assert_eq!(
            changes,
            vec![
                LineChange::Removed("alpha beta\n".into()),
                LineChange::Added("gamma delta\n".into()),
            ]
        );
    }

    #[test]
    fn crlf_and_missing_newline_are_visible() {
        let changes = lines("a\r\nb", "a\nb\n");
        assert_eq!(old_text(&changes), "a\r\nb");
        assert_eq!(new_text(&changes), "a\nb\n");
        assert!(
            changes
                .iter()
                .all(|change| !matches!(change, LineChange::Same(_)))
        );
    }

    #[test]
    fn hunks_group_by_context() {
        let old: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 5\n", "")
            .replace("line 17\n", "line 17\nline 17b\n");
        let got = hunks(&old, &new, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].old, 0..8);
        assert_eq!(got[0].new, 0..7);
        assert_eq!(got[0].header(), "@@ -1,8 +1,7 @@");
        assert_eq!(got[1].old, 16..20);
        assert_eq!(got[1].new, 15..20);
        assert_eq!(got[1].header(), "@@ -17,4 +16,5 @@");
        assert_eq!(
            got[1].changes,
            vec![
                LineChange::Same("line 16\n".into()),
                LineChange::Same("line 17\n".into()),
                LineChange::Added("line 17b\n".into()),
                LineChange::Same("line 18\n".into()),
                LineChange::Same("line 19\n".into()),
            ]
        );
        // No context: the deleted line's hunk names the line before.
        let bare = hunks(&old, &new, 0);
        assert_eq!(bare.len(), 3);
        assert_eq!(bare[1].header(), "@@ -6 +5,0 @@");
        assert_eq!(bare[2].header(), "@@ -18,0 +18 @@");
        // Huge context: one hunk, the whole text.
        let all = hunks(&old, &new, usize::MAX);
        assert_eq!(all.len(), 1);
        assert_eq!(old_text(&all[0].changes), old);
        assert_eq!(new_text(&all[0].changes), new);
    }

    #[test]
    fn hunks_against_empty() {
        let got = hunks("", "a\nb\n", 3);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].header(), "@@ -0,0 +1,2 @@");
        let got = hunks("a\n", "", 3);
        assert_eq!(got[0].header(), "@@ -1 +0,0 @@");
    }

    #[test]
    fn probe_finds_small_edits_within_budget() {
        assert!(edit_within(&[], &[], 1));
        assert!(edit_within(&[0, 1, 2], &[0, 1, 2], 4));
        assert!(edit_within(&[0, 1, 2], &[0, 2], 100));
        assert!(edit_within(&[0, 1], &[2, 3], 100));
        assert!(!edit_within(&[0, 1, 0, 1, 0, 1], &[1, 0, 1, 0, 1, 0], 3));
        let a: Vec<usize> = (0..1000).map(|i| i % 3).collect();
        let b: Vec<usize> = (0..1000).map(|i| (i / 3) % 2).collect();
        assert!(!edit_within(&a, &b, 1000));
        assert!(edit_within(&a, &b, usize::MAX));
    }

    #[test]
    fn past_the_budget_the_middle_is_one_block() {
        let a: Vec<usize> = (0..1000).map(|i| i % 3).collect();
        let mut b: Vec<usize> = (0..1000).map(|i| (i / 3) % 2).collect();
        b[0] = a[0];
        *b.last_mut().unwrap() = a[999];
        // Small enough to diff outright: a real diff.
        assert!(edit_blocks_bounded(&a, &b, usize::MAX, 0).len() > 1);
        // Too large and too different: one block between the common ends.
        assert_eq!(
            edit_blocks_bounded(&a, &b, 10, 1000),
            vec![Block {
                old: 1..999,
                new: 1..999
            }]
        );
        // Large but a small edit once unshared items are left out.
        let mut c = a.clone();
        c[500] = 7;
        c.insert(200, 8);
        assert_eq!(
            edit_blocks_bounded(&a, &c, 10, 10_000),
            vec![
                Block {
                    old: 200..200,
                    new: 200..201
                },
                Block {
                    old: 500..501,
                    new: 501..502
                },
            ]
        );
    }

    #[test]
    fn words_across_lines_match_within_changed_blocks() {
        let spans = words("один\nдва три\nчетыре\n", "один\nдва 3\nчетыре\n");
        assert_eq!(
            spans,
            vec![
                WordChange::Same("один\nдва ".into()),
                WordChange::Removed("три".into()),
                WordChange::Added("3".into()),
                WordChange::Same("\nчетыре\n".into()),
            ]
        );
    }

    #[test]
    fn words_spans_alternate() {
        let spans = words("Toshkent shahri", "Toshkent shahar markazi");
        assert_eq!(old_side(&spans), "Toshkent shahri");
        assert_eq!(new_side(&spans), "Toshkent shahar markazi");
        for pair in spans.windows(2) {
            assert_ne!(
                std::mem::discriminant(&pair[0]),
                std::mem::discriminant(&pair[1])
            );
        }
    }
}
