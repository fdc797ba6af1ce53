//! The three-way merge of page texts (diff3): a page with several heads
//! (edits made concurrently, offline, in different missions) shows their
//! merge against the common ancestor, computed alike by every node.
//!
//! # Rules, and why
//!
//! - **Line based, like `git merge-file` and GNU `diff3 -m`**, the tools
//!   editors know. Each side is diffed against the base (line diff of
//!   [`diff`](super::diff)); the changed line ranges of the base are then
//!   compared. A region changed by one side only takes that side's lines; a
//!   region both sides changed to the same lines takes them once; any other
//!   region both sides changed is a conflict.
//! - **Adjacent changes conflict.** Two changes merge cleanly only when at
//!   least one unchanged base line separates them; changes that overlap or
//!   touch (one ends where the other starts, including two insertions at the
//!   same place) form one region. This is the rule of git, GNU diff3 and
//!   MediaWiki, so it surprises nobody; it is one sentence long; and edits
//!   of neighbouring lines are often one thought (a sentence wrapped over two
//!   lines, a table row and its neighbour), while an insertion at a boundary
//!   has no defined order against an edit of the line after it.
//! - **Conflicts are shown whole, with the base** (`git merge-file --diff3`):
//!
//!   ```text
//!   <<<<<<< {ours_label}
//!   ...the region as ours has it...
//!   ||||||| base
//!   ...the region as the base has it...
//!   =======
//!   ...the region as theirs has it...
//!   >>>>>>> {theirs_label}
//!   ```
//!
//!   The base section tells "ours deleted this" from "theirs added this",
//!   which the two sides alone cannot. Lines both sides share at the edges
//!   of a region are not trimmed out of it (git's "zealous" mode is not
//!   used): two missions creating the same title offline get both texts,
//!   entire, in one conflict.
//! - **Markers are unambiguous.** They are 7 characters long, unless a line
//!   inside the conflict starts with 7 or more `<`, `|`, `=` or `>` (a
//!   Markdown heading underline, or an earlier conflict nested by
//!   [`merge_many`]): then they are one longer than the longest such run.
//!   The length is chosen per conflict, so the output stays linear in the
//!   input; lines outside conflicts are left as they are (a page quoting a
//!   git conflict keeps it), and [`Merged::conflicts`] is the count to
//!   trust. Every marker starts its own line: a section whose last line has
//!   no newline gets one before the next marker. Markers end with `"\n"`.
//!   In a label, control characters (CR and LF among them) and U+2028/U+2029
//!   become spaces, so a label cannot add lines; an empty label leaves the
//!   marker bare.
//! - **No text is lost.** Every line either side added is in the output,
//!   and only lines one side deleted (and the other left alone) are dropped.
//!   Lines are compared byte for byte, terminator included: a CRLF/LF
//!   change, or a final line gaining a newline, is a change like any other.
//! - **Deterministic and total.** No clock, no deadline, no randomness
//!   reaches the output: the same inputs give byte-identical output on every
//!   node (a deadline would make the result depend on the machine's speed,
//!   and nodes would disagree). No input panics.
//!
//! # Cost
//!
//! Splitting and numbering lines is linear. The two diffs are `similar`'s
//! Myers, `O((N + M) · D)` for `D` differing lines, with no deadline; its
//! search is bounded by a work limit computed from the input sizes (as
//! git's xdiff), and a changed region of more than
//! [`DIRECT_ITEMS`](super::diff::DIRECT_ITEMS) lines whose edit does not
//! fit a fixed step budget is taken as one block (see [`diff`](super::diff)),
//! so no input of a page's size takes more than about a second, and typical
//! edits of a 4 MiB page take milliseconds. Rendering is linear; the output
//! is at most the three inputs together plus the markers.

use std::collections::HashSet;

use super::diff::{Block, edit_blocks, intern, split_lines};

/// The result of a three-way merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged text; overlapping changes are kept both, between conflict markers.
    pub text: String,
    /// How many conflicting regions the text holds (0: merged cleanly).
    pub conflicts: usize,
}

impl Merged {
    fn clean(text: &str) -> Self {
        Merged {
            text: text.to_owned(),
            conflicts: 0,
        }
    }
}

/// The shortest conflict marker, as git's.
pub const MARKER_LEN: usize = 7;

/// The label of the base section of a conflict.
pub const BASE_LABEL: &str = "base";

/// Merges `ours` and `theirs`, both edits of `base`, line by line (diff3).
///
/// See the [module docs](self) for the rules. `merge3(b, x, x, ..)`,
/// `merge3(b, x, b, ..)` and `merge3(b, b, x, ..)` all give `x` with no
/// conflict.
pub fn merge3(
    base: &str,
    ours: &str,
    theirs: &str,
    ours_label: &str,
    theirs_label: &str,
) -> Merged {
    // The laws the general case also obeys, without the work.
    if ours == theirs || theirs == base {
        return Merged::clean(ours);
    }
    if ours == base {
        return Merged::clean(theirs);
    }

    let base_lines = split_lines(base);
    let ours_lines = split_lines(ours);
    let theirs_lines = split_lines(theirs);
    let ids = intern(&[&base_lines, &ours_lines, &theirs_lines]);
    let ours_blocks = edit_blocks(&ids[0], &ids[1]);
    let theirs_blocks = edit_blocks(&ids[0], &ids[2]);
    let ours_label = clean_label(ours_label);
    let theirs_label = clean_label(theirs_label);

    let mut out = Output::with_capacity(ours.len().max(theirs.len()));
    let mut conflicts = 0;
    // `at`: the base lines before it are written; `o`, `t`: the next block
    // of each side.
    let (mut at, mut o, mut t) = (0, 0, 0);
    loop {
        let start = match (ours_blocks.get(o), theirs_blocks.get(t)) {
            (None, None) => break,
            (Some(a), None) => a.old.start,
            (None, Some(b)) => b.old.start,
            (Some(a), Some(b)) => a.old.start.min(b.old.start),
        };
        // Grow the region over every block of either side that overlaps or
        // touches it (the adjacency rule).
        let (o0, t0) = (o, t);
        let mut end = start;
        loop {
            let mut grew = false;
            if let Some(block) = ours_blocks.get(o).filter(|b| b.old.start <= end) {
                end = end.max(block.old.end);
                o += 1;
                grew = true;
            }
            if let Some(block) = theirs_blocks.get(t).filter(|b| b.old.start <= end) {
                end = end.max(block.old.end);
                t += 1;
                grew = true;
            }
            if !grew {
                break;
            }
        }
        out.lines(&base_lines[at..start]);
        let region = start..end;
        match (&ours_blocks[o0..o], &theirs_blocks[t0..t]) {
            (mine, []) => out.lines(&ours_lines[side_range(mine, &region)]),
            ([], other) => out.lines(&theirs_lines[side_range(other, &region)]),
            (mine, other) => {
                let mine = side_range(mine, &region);
                let other = side_range(other, &region);
                if ids[1][mine.clone()] == ids[2][other.clone()] {
                    out.lines(&ours_lines[mine]);
                } else {
                    conflicts += 1;
                    out.conflict(
                        [
                            (&ours_label, &ours_lines[mine]),
                            (BASE_LABEL, &base_lines[region]),
                            ("", &theirs_lines[other]),
                        ],
                        &theirs_label,
                    );
                }
            }
        }
        at = end;
    }
    out.lines(&base_lines[at..]);
    Merged {
        text: out.text,
        conflicts,
    }
}

/// Merges several heads of a page against their common ancestor `base`, in
/// the given order (the caller sorts them): `heads` are `(label, text)`.
///
/// The first head's text is merged with each following head in turn by
/// [`merge3`] against `base`. A head whose text equals an earlier head's is
/// already in the result and is not merged again (merging it again would
/// only nest a conflict it is part of). The accumulated side is labelled
/// with the labels of the heads it holds, joined by `" + "` (`"a + b"`).
/// `conflicts` is the sum over the steps, so it is 0 exactly when every step
/// merged cleanly; a conflict of an earlier step stays in the text (as it
/// is, or nested inside a later one) and is counted once per step that made
/// it. No heads give `base`; one head gives its text.
pub fn merge_many(base: &str, heads: &[(&str, &str)]) -> Merged {
    let Some(((first_label, first_text), rest)) = heads.split_first() else {
        return Merged::clean(base);
    };
    let mut merged = Merged::clean(first_text);
    let mut label = clean_label(first_label);
    let mut seen: HashSet<&str> = HashSet::new();
    seen.insert(first_text);
    for (head_label, head_text) in rest {
        if seen.insert(head_text) {
            let step = merge3(base, &merged.text, head_text, &label, head_label);
            merged.text = step.text;
            merged.conflicts += step.conflicts;
        }
        label.push_str(" + ");
        label.push_str(&clean_label(head_label));
    }
    merged
}

/// The lines of a side that stand for the base `region`, given the side's
/// blocks inside it (at least one): outside its blocks a side equals the
/// base line for line.
fn side_range(blocks: &[Block], region: &std::ops::Range<usize>) -> std::ops::Range<usize> {
    match (blocks.first(), blocks.last()) {
        (Some(first), Some(last)) => {
            // `region` starts at or before the first block and ends at or
            // after the last; the lines in between are unchanged.
            let start = first
                .new
                .start
                .saturating_sub(first.old.start.saturating_sub(region.start));
            let end = last.new.end + region.end.saturating_sub(last.old.end);
            start..end
        }
        _ => 0..0,
    }
}

/// A label fit for a marker line: control characters and line or paragraph
/// separators become spaces.
fn clean_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// The merged text being written.
struct Output {
    text: String,
    /// Whether the text is empty or ends with a newline.
    at_line_start: bool,
}

impl Output {
    fn with_capacity(capacity: usize) -> Self {
        Output {
            text: String::with_capacity(capacity),
            at_line_start: true,
        }
    }

    fn lines(&mut self, lines: &[&str]) {
        for line in lines {
            // Only a text's last line lacks a newline, and nothing but a
            // conflict marker follows it (the adjacency rule); the guard
            // keeps lines apart all the same.
            debug_assert!(self.at_line_start, "a line follows one without newline");
            self.end_line();
            self.text.push_str(line);
            self.at_line_start = line.ends_with('\n');
        }
    }

    fn end_line(&mut self) {
        if !self.at_line_start {
            self.text.push('\n');
            self.at_line_start = true;
        }
    }

    /// Writes a conflict: `<` ours, `|` base, `=` theirs, then `>`.
    fn conflict(&mut self, sections: [(&str, &[&str]); 3], theirs_label: &str) {
        let len = marker_len(sections.iter().map(|(_, lines)| *lines));
        for (marker, (label, lines)) in [b'<', b'|', b'='].into_iter().zip(sections) {
            self.marker(marker, len, label);
            self.lines(lines);
        }
        self.marker(b'>', len, theirs_label);
    }

    fn marker(&mut self, marker: u8, len: usize, label: &str) {
        self.end_line();
        self.text
            .extend(std::iter::repeat_n(char::from(marker), len));
        if !label.is_empty() {
            self.text.push(' ');
            self.text.push_str(label);
        }
        self.text.push('\n');
    }
}

/// The marker length for a conflict holding these lines: [`MARKER_LEN`], or
/// one more than the longest run of one marker character opening a line.
fn marker_len<'a>(sections: impl Iterator<Item = &'a [&'a str]>) -> usize {
    let mut len = MARKER_LEN;
    for line in sections.flatten() {
        let bytes = line.as_bytes();
        if let Some(&first) = bytes.first() {
            if matches!(first, b'<' | b'|' | b'=' | b'>') {
                let run = bytes.iter().take_while(|&&b| b == first).count();
                if run >= MARKER_LEN {
                    len = len.max(run + 1);
                }
            }
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merge(base: &str, ours: &str, theirs: &str) -> Merged {
        merge3(base, ours, theirs, "ours", "theirs")
    }

    #[test]
    fn disjoint_changes_merge() {
        let m = merge("a\nb\nc\nd\ne\n", "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n");
        assert_eq!(m, Merged::clean("A\nb\nc\nd\nE\n"));
    }

    #[test]
    fn one_unchanged_line_is_enough() {
        let m = merge("a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n");
        assert_eq!(m, Merged::clean("A\nb\nC\n"));
    }

    #[test]
    fn adjacent_changes_conflict() {
        let m = merge("a\nb\nc\n", "A\nb\nc\n", "a\nB\nc\n");
        assert_eq!(m.conflicts, 1);
        assert_eq!(
            m.text,
            "<<<<<<< ours\nA\nb\n||||||| base\na\nb\n=======\na\nB\n>>>>>>> theirs\nc\n"
        );
    }

    #[test]
    fn insertions_at_the_same_place_conflict() {
        let m = merge("a\nb\n", "a\nx\nb\n", "a\ny\nb\n");
        assert_eq!(
            m.text,
            "a\n<<<<<<< ours\nx\n||||||| base\n=======\ny\n>>>>>>> theirs\nb\n"
        );
        assert_eq!(m.conflicts, 1);
    }

    #[test]
    fn same_change_taken_once() {
        let m = merge("a\nb\nc\n", "a\nB\nc\nd\n", "a\nB\nc\n");
        assert_eq!(m, Merged::clean("a\nB\nc\nd\n"));
    }

    #[test]
    fn delete_against_edit_conflicts() {
        let m = merge("a\nb\nc\n", "a\nc\n", "a\nB\nc\n");
        assert_eq!(
            m.text,
            "a\n<<<<<<< ours\n||||||| base\nb\n=======\nB\n>>>>>>> theirs\nc\n"
        );
    }

    #[test]
    fn new_page_created_twice() {
        let m = merge3("", "Салом\n", "Hello\nworld", "Тошкент", "London");
        assert_eq!(m.conflicts, 1);
        assert_eq!(
            m.text,
            "<<<<<<< Тошкент\nСалом\n||||||| base\n=======\nHello\nworld\n>>>>>>> London\n"
        );
    }

    #[test]
    fn missing_newline_before_marker() {
        let m = merge("a\n", "a\nb", "a\nc");
        assert_eq!(
            m.text,
            "a\n<<<<<<< ours\nb\n||||||| base\n=======\nc\n>>>>>>> theirs\n"
        );
    }

    #[test]
    fn labels_are_one_line() {
        let m = merge3("a\n", "b\n", "c\n", "x\ny\r", "\u{2028}z");
        assert!(m.text.starts_with("<<<<<<< x y \n"));
        assert!(m.text.ends_with(">>>>>>>  z\n"));
        let m = merge3("a\n", "b\n", "c\n", "", "");
        assert!(m.text.starts_with("<<<<<<<\n"));
        assert!(m.text.ends_with(">>>>>>>\n"));
    }

    #[test]
    fn markers_outgrow_content() {
        let m = merge("T\n=======\n", "Title\n========\n", "Head\n=======\n");
        assert_eq!(
            m.text,
            "<<<<<<<<< ours\nTitle\n========\n||||||||| base\nT\n=======\n\
             =========\nHead\n=======\n>>>>>>>>> theirs\n"
        );
    }

    #[test]
    fn merge_many_folds_in_order() {
        let base = "a\nb\nc\nd\ne\n";
        let heads = [
            ("r1", "A\nb\nc\nd\ne\n"),
            ("r2", "a\nb\nC\nd\ne\n"),
            ("r3", "a\nb\nc\nd\nE\n"),
        ];
        assert_eq!(merge_many(base, &heads), Merged::clean("A\nb\nC\nd\nE\n"));
        assert_eq!(merge_many(base, &[]), Merged::clean(base));
        assert_eq!(merge_many(base, &heads[1..2]), Merged::clean(heads[1].1));
    }

    #[test]
    fn merge_many_labels_and_counts() {
        let base = "a\n";
        let heads = [("r1", "x\n"), ("r2", "y\n"), ("r3", "z\n")];
        let m = merge_many(base, &heads);
        assert_eq!(m.conflicts, 2);
        assert!(m.text.starts_with("<<<<<<<< r1 + r2\n<<<<<<< r1\nx\n"));
        assert!(m.text.ends_with("========\nz\n>>>>>>>> r3\n"));
        // A repeated head is not merged again.
        let twice = [("r1", "x\n"), ("r2", "y\n"), ("r3", "y\n")];
        let m = merge_many(base, &twice);
        assert_eq!(m, merge3(base, "x\n", "y\n", "r1", "r2"));
    }
}
