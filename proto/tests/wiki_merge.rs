//! The wiki's three-way merge and diffs: fixed examples in Uzbek (Cyrillic
//! and Latin) and Russian, CRLF and missing final newlines, golden outputs
//! that pin the diff algorithm, and properties (identity laws, no lost
//! lines, symmetry, well-formed conflicts, lossless diffs, totality).

use std::collections::{BTreeMap, BTreeSet};

use chapar_proto::wiki::diff::{self, LineChange, WordChange};
use chapar_proto::wiki::merge::{Merged, merge_many, merge3};
use proptest::prelude::*;
use sha2::Digest;

// ---------------------------------------------------------------------------
// Helpers.

/// The lines of a text without their `"\n"` (a `"\r"` stays): a conflict may
/// give a last line a newline it lacked, nothing else changes a line.
fn content_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n')
        .map(|line| line.strip_suffix('\n').unwrap_or(line))
        .collect()
}

fn multiset<'a>(lines: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        *counts.entry(line).or_insert(0) += 1;
    }
    counts
}

/// Whether `needle` is a subsequence of `hay`.
fn is_subsequence(needle: &[&str], hay: &[&str]) -> bool {
    let mut hay = hay.iter();
    needle.iter().all(|n| hay.any(|h| h == n))
}

/// The lines of `side` that are not lines of `base` (by content).
fn added_lines<'a>(base: &str, side: &'a str) -> Vec<&'a str> {
    let base: BTreeSet<&str> = content_lines(base).into_iter().collect();
    content_lines(side)
        .into_iter()
        .filter(|line| !base.contains(line))
        .collect()
}

fn is_marker(line: &str) -> bool {
    [b'<', b'|', b'=', b'>'].iter().any(|&c| {
        let run = line.bytes().take_while(|&b| b == c).count();
        run >= 7 && (run == line.len() || line.as_bytes()[run] == b' ')
    })
}

fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn diff_old(changes: &[LineChange]) -> String {
    changes.iter().filter_map(LineChange::old_line).collect()
}

fn diff_new(changes: &[LineChange]) -> String {
    changes.iter().filter_map(LineChange::new_line).collect()
}

/// splitmix64: deterministic test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const WORDS: [&str; 16] = [
    "elchixona",
    "Oʻzbekiston",
    "vazirlik",
    "hujjat",
    "элчихона",
    "вазирлик",
    "қарор",
    "ҳукумат",
    "посольство",
    "министерство",
    "соглашение",
    "встреча",
    "2026",
    "—",
    "the",
    "of",
];

fn sentence(rng: &mut Rng) -> String {
    let n = 1 + rng.below(12);
    let words: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
    format!("{}.\n", words.join(" "))
}

// ---------------------------------------------------------------------------
// Fixed examples.

const BASE: &str = "\
# Elchixona haqida
Toshkentdagi elchixona 1992-yilda ochilgan.
Элчихона раҳбари: элчи.
Посольство работает с понедельника по пятницу.
Manzil: Toshkent, Amir Temur koʻchasi.
";

#[test]
fn uzbek_and_russian_edits_merge() {
    let ours = BASE.replace("1992-yilda", "1992-yil 3-martda");
    let theirs = BASE.replace("по пятницу", "по субботу");
    let merged = merge3(BASE, &ours, &theirs, "Toshkent", "Москва");
    assert_eq!(
        merged,
        Merged {
            text: "\
# Elchixona haqida
Toshkentdagi elchixona 1992-yil 3-martda ochilgan.
Элчихона раҳбари: элчи.
Посольство работает с понедельника по субботу.
Manzil: Toshkent, Amir Temur koʻchasi.
"
            .to_owned(),
            conflicts: 0,
        }
    );
}

#[test]
fn uzbek_and_russian_edits_conflict() {
    let ours = BASE.replace("элчи.", "элчи ва маслаҳатчи.");
    let theirs = BASE.replace("понедельника", "вторника");
    let merged = merge3(BASE, &ours, &theirs, "Toshkent", "Москва");
    assert_eq!(merged.conflicts, 1);
    assert_eq!(
        merged.text,
        "\
# Elchixona haqida
Toshkentdagi elchixona 1992-yilda ochilgan.
<<<<<<< Toshkent
Элчихона раҳбари: элчи ва маслаҳатчи.
Посольство работает с понедельника по пятницу.
||||||| base
Элчихона раҳбари: элчи.
Посольство работает с понедельника по пятницу.
=======
Элчихона раҳбари: элчи.
Посольство работает с вторника по пятницу.
>>>>>>> Москва
Manzil: Toshkent, Amir Temur koʻchasi.
"
    );
}

#[test]
fn crlf_lines_merge_and_crlf_changes_count() {
    let base = "a\r\nb\r\nc\r\nd\r\n";
    let ours = "A\r\nb\r\nc\r\nd\r\n";
    let theirs = "a\r\nb\r\nc\r\nD\r\n";
    assert_eq!(
        merge3(base, ours, theirs, "o", "t"),
        Merged {
            text: "A\r\nb\r\nc\r\nD\r\n".to_owned(),
            conflicts: 0
        }
    );
    // Turning one line's CRLF into LF is an edit like any other.
    let lf = "a\r\nb\nc\r\nd\r\n";
    let merged = merge3(base, lf, "a\r\nB\r\nc\r\nd\r\n", "o", "t");
    assert_eq!(merged.conflicts, 1);
    assert_eq!(
        merged.text,
        "a\r\n<<<<<<< o\nb\n||||||| base\nb\r\n=======\nB\r\n>>>>>>> t\nc\r\nd\r\n"
    );
}

#[test]
fn missing_final_newline() {
    // One side appends to a text without a final newline; the other edits
    // the first line: clean.
    let merged = merge3("a\nb\nc", "a\nb\nc\nd", "A\nb\nc", "o", "t");
    assert_eq!(
        merged,
        Merged {
            text: "A\nb\nc\nd".to_owned(),
            conflicts: 0
        }
    );
    // Both change the unterminated last line: the markers still start lines.
    let merged = merge3("a\nb", "a\nB", "a\nβ", "o", "t");
    assert_eq!(
        merged.text,
        "a\n<<<<<<< o\nB\n||||||| base\nb\n=======\nβ\n>>>>>>> t\n"
    );
    // Only adding the final newline is a change of that line.
    let merged = merge3("a\nb", "a\nb\n", "a\nb", "o", "t");
    assert_eq!(
        merged,
        Merged {
            text: "a\nb\n".to_owned(),
            conflicts: 0
        }
    );
}

#[test]
fn only_newlines_and_empty_texts() {
    assert_eq!(merge3("", "", "", "o", "t").text, "");
    assert_eq!(merge3("\n\n", "\n", "\n\n\n", "o", "t").conflicts, 1);
    assert_eq!(
        merge3("\n\n\n", "\n\n", "\n\n\n", "o", "t"),
        Merged {
            text: "\n\n".to_owned(),
            conflicts: 0
        }
    );
    // Everything deleted on one side, untouched on the other.
    assert_eq!(merge3("a\nb\n", "", "a\nb\n", "o", "t").text, "");
}

#[test]
fn two_missions_create_the_same_title() {
    let tashkent = "# Viza tartibi\nViza 10 kunda beriladi.\n";
    let moscow = "# Визовый режим\nВиза выдаётся за 10 дней.";
    let merged = merge3("", tashkent, moscow, "emb-tashkent", "emb-moscow");
    assert_eq!(merged.conflicts, 1);
    assert_eq!(
        merged.text,
        format!(
            "<<<<<<< emb-tashkent\n{tashkent}||||||| base\n=======\n{moscow}\n>>>>>>> emb-moscow\n"
        )
    );
}

#[test]
fn markdown_underlines_lengthen_the_markers() {
    let base = "Title\n=====\n";
    let ours = "Sarlavha\n========\n";
    let theirs = "Заголовок\n=========\n";
    let merged = merge3(base, ours, theirs, "o", "t");
    assert_eq!(
        merged.text,
        "<<<<<<<<<< o\nSarlavha\n========\n|||||||||| base\nTitle\n=====\n\
         ==========\nЗаголовок\n=========\n>>>>>>>>>> t\n"
    );
}

#[test]
fn merge_many_three_embassies() {
    let base = "a\nb\nc\nd\ne\nf\ng\n";
    let heads = [
        ("r1-tashkent", "A\nb\nc\nd\ne\nf\ng\n"),
        ("r2-moscow", "a\nb\nc\nD\ne\nf\ng\n"),
        ("r3-berlin", "a\nb\nc\nd\ne\nf\nG\n"),
    ];
    assert_eq!(
        merge_many(base, &heads),
        Merged {
            text: "A\nb\nc\nD\ne\nf\nG\n".to_owned(),
            conflicts: 0
        }
    );
    // Two of them edit the same line.
    let heads = [
        ("r1", "A\nb\nc\nd\ne\nf\ng\n"),
        ("r2", "a\nb\nc\nD\ne\nf\ng\n"),
        ("r3", "a\nb\nc\nΔ\ne\nf\ng\n"),
    ];
    let merged = merge_many(base, &heads);
    assert_eq!(merged.conflicts, 1);
    assert_eq!(
        merged.text,
        "A\nb\nc\n<<<<<<< r1 + r2\nD\n||||||| base\nd\n=======\nΔ\n>>>>>>> r3\ne\nf\ng\n"
    );
}

// ---------------------------------------------------------------------------
// Golden outputs: they pin the diff algorithm (and so the `similar`
// version). Every node must compute the same current text for a page; if an
// upgrade changes these, all nodes must upgrade together.

fn golden_inputs() -> (String, String, String) {
    let mut rng = Rng(0x5eed);
    let base: Vec<String> = (0..3000).map(|_| sentence(&mut rng)).collect();
    let mut ours = base.clone();
    let mut theirs = base.clone();
    for _ in 0..150 {
        let at = rng.below(ours.len());
        match rng.below(3) {
            0 => ours[at] = sentence(&mut rng),
            1 => {
                ours.remove(at);
            }
            _ => ours.insert(at, sentence(&mut rng)),
        }
        let at = rng.below(theirs.len());
        match rng.below(3) {
            0 => theirs[at] = sentence(&mut rng),
            1 => {
                theirs.remove(at);
            }
            _ => theirs.insert(at, sentence(&mut rng)),
        }
    }
    (base.concat(), ours.concat(), theirs.concat())
}

#[test]
fn golden_merge() {
    let (base, ours, theirs) = golden_inputs();
    let merged = merge3(&base, &ours, &theirs, "ours", "theirs");
    assert_eq!(
        (merged.conflicts, sha256_hex(&merged.text)),
        (GOLDEN_CONFLICTS, GOLDEN_MERGE.to_owned()),
        "the merge of the golden inputs changed: did the diff algorithm change?"
    );
}

#[test]
fn golden_diff() {
    let (base, ours, _) = golden_inputs();
    let rendered = format!("{:?}", diff::hunks(&base, &ours, 3));
    assert_eq!(
        sha256_hex(&rendered),
        GOLDEN_HUNKS,
        "the hunks of the golden inputs changed: did the diff algorithm change?"
    );
}

const GOLDEN_CONFLICTS: usize = 16;
const GOLDEN_MERGE: &str = "3914fa43c88e20fa5496b0399032a057a4272aafb552cdc51927fe5d0b42460d";
const GOLDEN_HUNKS: &str = "08e0f948e05d6928814ad8499441847394f9fd70d43c8401edbc1f236bb2adb5";

// ---------------------------------------------------------------------------
// Properties.

/// Lines from a small pool, so sides collide and overlap often; with
/// `markers`, also lines that look like conflict markers (a Markdown
/// underline, a pasted conflict).
fn line(markers: bool) -> BoxedStrategy<String> {
    let plain = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(String::new()),
        Just("Салом, дунё".to_owned()),
        Just("Oʻzbekiston Respublikasi".to_owned()),
        Just("Привет, мир".to_owned()),
        "[a-d]{1,3}",
    ];
    if markers {
        prop_oneof![
            2 => plain,
            1 => "(={6,9}|<{7,9}|>{7,8}|[|]{7}|<<<<<<< x|=======x)",
        ]
        .boxed()
    } else {
        plain.boxed()
    }
}

fn terminator() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("\n"), 1 => Just("\r\n")]
}

/// A text of up to `max` pool lines, sometimes without its final newline.
fn text_of(max: usize, markers: bool) -> impl Strategy<Value = String> {
    (
        prop::collection::vec((line(markers), terminator()), 0..max),
        any::<bool>(),
    )
        .prop_map(|(lines, cut)| {
            let mut text: String = lines
                .iter()
                .map(|(line, end)| format!("{line}{end}"))
                .collect();
            if cut && text.ends_with('\n') {
                text.pop();
            }
            text
        })
}

fn text() -> impl Strategy<Value = String> {
    text_of(14, false)
}

/// An edit of `base`: each line kept (mostly), deleted, replaced, or
/// preceded by a new line; sometimes lines appended.
fn edit_of(base: String, markers: bool) -> impl Strategy<Value = String> {
    let lines = base.split_inclusive('\n').count();
    (
        prop::collection::vec((0u8..8, line(markers), terminator()), lines..=lines),
        prop::collection::vec((line(markers), terminator()), 0..3),
    )
        .prop_map(move |(ops, tail)| {
            let mut out = String::new();
            for (old, (op, line, end)) in base.split_inclusive('\n').zip(ops) {
                match op {
                    5 => {}
                    6 => out.push_str(&format!("{line}{end}")),
                    7 => {
                        out.push_str(&format!("{line}{end}"));
                        out.push_str(old);
                    }
                    _ => out.push_str(old),
                }
            }
            if !out.is_empty() && !out.ends_with('\n') && !tail.is_empty() {
                out.push('\n');
            }
            for (line, end) in tail {
                out.push_str(&format!("{line}{end}"));
            }
            out
        })
}

/// A base and two edits of it.
fn three_way_of(max: usize, markers: bool) -> impl Strategy<Value = (String, String, String)> {
    text_of(max, markers).prop_flat_map(move |base| {
        (
            Just(base.clone()),
            edit_of(base.clone(), markers),
            edit_of(base, markers),
        )
    })
}

fn three_way() -> impl Strategy<Value = (String, String, String)> {
    three_way_of(14, false)
}

/// The run of one marker character opening a line, if any.
fn marker_run(line: &str) -> usize {
    match line.bytes().next() {
        Some(c @ (b'<' | b'|' | b'=' | b'>')) => line.bytes().take_while(|&b| b == c).count(),
        _ => 0,
    }
}

/// Checks the conflicts of a `merge3(.., "o", "t")` output: each is
/// `<{n} o`, `|{n} base`, `={n}`, `>{n} t` with one length `n >= 7`, and no
/// line inside opens with `n` or more of a marker character. Returns how
/// many there are.
fn parse_conflicts(text: &str) -> Result<usize, String> {
    let lines = content_lines(text);
    let mut count = 0;
    let mut i = 0;
    while i < lines.len() {
        let n = marker_run(lines[i]);
        if n >= 7 && lines[i] == format!("{} o", "<".repeat(n)) {
            let expected = [
                format!("{} base", "|".repeat(n)),
                "=".repeat(n),
                format!("{} t", ">".repeat(n)),
            ];
            let mut next = 0;
            i += 1;
            while next < 3 {
                let line = *lines.get(i).ok_or("unterminated conflict")?;
                if line == expected[next] {
                    next += 1;
                } else if marker_run(line) >= n {
                    return Err(format!("ambiguous line {line:?} in a conflict of {n}"));
                }
                i += 1;
            }
            count += 1;
        } else {
            i += 1;
        }
    }
    Ok(count)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn identity_laws(base in text(), x in text()) {
        let clean = Merged { text: x.clone(), conflicts: 0 };
        prop_assert_eq!(merge3(&base, &x, &x, "o", "t"), clean.clone());
        prop_assert_eq!(merge3(&base, &base, &x, "o", "t"), clean.clone());
        prop_assert_eq!(merge3(&base, &x, &base, "o", "t"), clean);
    }

    #[test]
    fn deterministic((base, ours, theirs) in three_way()) {
        let first = merge3(&base, &ours, &theirs, "o", "t");
        prop_assert_eq!(&first, &merge3(&base, &ours, &theirs, "o", "t"));
        let heads = [("o", ours.as_str()), ("t", theirs.as_str()), ("b", base.as_str())];
        prop_assert_eq!(merge_many(&base, &heads), merge_many(&base, &heads));
    }

    #[test]
    fn no_added_line_is_lost((base, ours, theirs) in three_way()) {
        let merged = merge3(&base, &ours, &theirs, "o", "t");
        let out = content_lines(&merged.text);
        // In order, and each as often as the side has it.
        prop_assert!(is_subsequence(&added_lines(&base, &ours), &out));
        prop_assert!(is_subsequence(&added_lines(&base, &theirs), &out));
    }

    #[test]
    fn symmetric((base, ours, theirs) in three_way()) {
        let a = merge3(&base, &ours, &theirs, "x", "x");
        let b = merge3(&base, &theirs, &ours, "x", "x");
        prop_assert_eq!(a.conflicts, b.conflicts);
        prop_assert_eq!(multiset(content_lines(&a.text)), multiset(content_lines(&b.text)));
    }

    #[test]
    fn conflicts_are_well_formed((base, ours, theirs) in three_way()) {
        // The pool has no marker-like lines, so every marker is the merge's.
        let merged = merge3(&base, &ours, &theirs, "o", "t");
        let lines = content_lines(&merged.text);
        let markers: Vec<&str> = lines.iter().copied().filter(|l| is_marker(l)).collect();
        prop_assert_eq!(markers.len(), 4 * merged.conflicts);
        for quad in markers.chunks(4) {
            prop_assert_eq!(quad, ["<<<<<<< o", "||||||| base", "=======", ">>>>>>> t"]);
        }
    }

    #[test]
    fn markers_are_unambiguous((base, ours, theirs) in three_way_of(14, true)) {
        let merged = merge3(&base, &ours, &theirs, "o", "t");
        prop_assert_eq!(parse_conflicts(&merged.text), Ok(merged.conflicts));
    }

    #[test]
    fn new_page_twice(ours in text(), theirs in text()) {
        prop_assume!(!ours.is_empty() && !theirs.is_empty() && ours != theirs);
        let merged = merge3("", &ours, &theirs, "o", "t");
        prop_assert_eq!(merged.conflicts, 1);
        let nl = |s: &str| if s.ends_with('\n') { String::new() } else { "\n".to_owned() };
        prop_assert_eq!(
            merged.text,
            format!("<<<<<<< o\n{ours}{}||||||| base\n=======\n{theirs}{}>>>>>>> t\n", nl(&ours), nl(&theirs))
        );
    }

    #[test]
    fn merge_many_keeps_every_head((base, ours, theirs) in three_way(), extra in text()) {
        let heads = [("h1", ours.as_str()), ("h2", theirs.as_str()), ("h3", extra.as_str())];
        let merged = merge_many(&base, &heads);
        let out = content_lines(&merged.text);
        for (_, head) in heads {
            prop_assert!(is_subsequence(&added_lines(&base, head), &out));
        }
        // Two heads: exactly merge3.
        prop_assert_eq!(
            merge_many(&base, &heads[..2]),
            merge3(&base, &ours, &theirs, "h1", "h2")
        );
    }

    #[test]
    fn long_texts_keep_added_lines((base, ours, theirs) in three_way_of(300, false)) {
        let merged = merge3(&base, &ours, &theirs, "o", "t");
        let out = content_lines(&merged.text);
        prop_assert!(is_subsequence(&added_lines(&base, &ours), &out));
        prop_assert!(is_subsequence(&added_lines(&base, &theirs), &out));
        prop_assert_eq!(parse_conflicts(&merged.text), Ok(merged.conflicts));
        let swapped = merge3(&base, &theirs, &ours, "o", "t");
        prop_assert_eq!(swapped.conflicts, merged.conflicts);
    }

    #[test]
    fn line_diff_is_lossless(old in text(), new in text()) {
        let changes = diff::lines(&old, &new);
        prop_assert_eq!(diff_old(&changes), old.clone());
        prop_assert_eq!(diff_new(&changes), new.clone());
        if old == new {
            prop_assert!(changes.iter().all(|c| matches!(c, LineChange::Same(_))));
        }
    }

    #[test]
    fn word_diff_is_lossless(old in text(), new in text()) {
        let spans = diff::words(&old, &new);
        prop_assert_eq!(diff::old_side(&spans), old);
        prop_assert_eq!(diff::new_side(&spans), new);
        for pair in spans.windows(2) {
            prop_assert_ne!(std::mem::discriminant(&pair[0]), std::mem::discriminant(&pair[1]));
        }
        let non_empty = spans.iter().all(|s| match s {
            WordChange::Same(t) | WordChange::Removed(t) | WordChange::Added(t) => !t.is_empty(),
        });
        prop_assert!(non_empty);
    }

    #[test]
    fn hunks_cover_the_changes(old in text(), new in text(), context in 0usize..4) {
        let hunks = diff::hunks(&old, &new, context);
        prop_assert_eq!(hunks.is_empty(), old == new);
        let mut old_at = 0;
        let mut new_at = 0;
        let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
        let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
        for hunk in &hunks {
            // In order, apart, and the lines they say.
            prop_assert!(hunk.old.start >= old_at && hunk.new.start >= new_at);
            prop_assert_eq!(diff_old(&hunk.changes), old_lines[hunk.old.clone()].concat());
            prop_assert_eq!(diff_new(&hunk.changes), new_lines[hunk.new.clone()].concat());
            let lead = hunk.changes.iter().take_while(|c| matches!(c, LineChange::Same(_))).count();
            let trail = hunk.changes.iter().rev().take_while(|c| matches!(c, LineChange::Same(_))).count();
            prop_assert!(lead <= context && trail <= context);
            prop_assert!(lead < hunk.changes.len());
            old_at = hunk.old.end;
            new_at = hunk.new.end;
        }
        // Between hunks and around them, the texts agree.
        let all = diff::hunks(&old, &new, usize::MAX);
        prop_assert!(all.len() <= 1);
    }

    #[test]
    fn total_on_any_text(base in "\\PC*(\n\\PC*){0,4}", ours in "(?s).{0,40}", theirs in any::<String>()) {
        let merged = merge3(&base, &ours, &theirs, "o\n", "t\r");
        prop_assert!(merged.conflicts <= 1 + base.len() + ours.len() + theirs.len());
        let _ = merge_many(&base, &[("a", &ours), ("b", &theirs), ("c", &base)]);
        let _ = diff::lines(&ours, &theirs);
        let _ = diff::words(&ours, &theirs);
        let _ = diff::hunks(&base, &theirs, 1);
    }
}
