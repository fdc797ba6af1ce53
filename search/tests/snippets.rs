//! Snippets show why an entry matched (issue 14): each matched word is
//! highlighted once, stemmed and typo-tolerant matches included, never an
//! excluded or ignored word, and the excerpt is taken where most distinct
//! query words meet. Through a real index, and the pure function
//! ([`chapar_search::snippet::snippet`]) on random texts.

mod common;

use chapar_search::api::Snippet;
use chapar_search::compile::Expansion;
use chapar_search::snippet::{Sought, snippet};
use chapar_search::{SearchIndex, SearchResponse};
use common::*;
use proptest::prelude::*;

fn run(index: &SearchIndex, q: &str) -> SearchResponse {
    search_as(index, "dilnoza", q)
}

/// The highlighted words of a snippet.
fn lit(s: &Snippet) -> Vec<&str> {
    s.highlights.iter().map(|&(a, b)| &s.text[a..b]).collect()
}

/// The snippet of the hit titled `title`.
fn snippet_of<'r>(r: &'r SearchResponse, title: &str) -> &'r Snippet {
    &r.hits
        .iter()
        .find(|h| h.title == title)
        .unwrap_or_else(|| panic!("no hit {title:?} in {:?}", r.hits))
        .snippet
}

/// Highlights are ascending, non-empty, non-overlapping byte ranges on char
/// boundaries of the text.
fn well_formed(s: &Snippet) {
    let mut last = 0;
    for &(a, b) in &s.highlights {
        assert!(a >= last && a < b, "{:?}", s.highlights);
        assert!(s.text.get(a..b).is_some(), "char boundaries: {s:?}");
        last = b;
    }
}

#[test]
fn json_lists_each_highlight_once() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[page(
            1,
            "Embassies",
            "The embassies of the region and one embassy. Посольства и посольство.",
        )],
    );
    for q in ["embassy", "embassies", "embassy embassies", "посольство"] {
        let r = run(&index, q);
        // What `chapar search --json` prints.
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("parse");
        let hits = json["hits"].as_array().expect("hits");
        assert_eq!(hits.len(), 1, "{q}");
        let spans: Vec<(u64, u64)> = hits[0]["snippet"]["highlights"]
            .as_array()
            .expect("highlights")
            .iter()
            .map(|p| (p[0].as_u64().expect("a"), p[1].as_u64().expect("b")))
            .collect();
        let mut unique = spans.clone();
        unique.dedup();
        assert_eq!(spans, unique, "{q}: a span repeated");
        assert!(!spans.is_empty(), "{q}");
        well_formed(&r.hits[0].snippet);
    }
    let r = run(&index, "embassy");
    assert_eq!(lit(&r.hits[0].snippet), ["embassies", "embassy"]);
}

#[test]
fn stemmed_matches_are_highlighted() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[
            page(1, "English", "Staff of both embassies met on Monday."),
            page(
                2,
                "Russian",
                "Сотрудники посольства встретились в понедельник.",
            ),
            page(3, "Uzbek", "Vazir Yevropada uchrashuv oʻtkazdi."),
        ],
    );
    for (q, title, word) in [
        ("embassy", "English", "embassies"),
        ("посольство", "Russian", "посольства"),
        ("Yevropa", "Uzbek", "Yevropada"),
    ] {
        let r = run(&index, q);
        let s = snippet_of(&r, title);
        well_formed(s);
        assert_eq!(lit(s), [word], "{q}");
    }
}

#[test]
fn typo_tolerant_matches_are_highlighted() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[page(
            1,
            "Water",
            "Cotton needs irrigation; the irrigation canals were built in 1960.",
        )],
    );
    let r = run(&index, "irrigaton");
    assert!(r.fuzzy, "no entry holds the typo: a typo-tolerant pass");
    let s = snippet_of(&r, "Water");
    well_formed(s);
    assert_eq!(lit(s), ["irrigation", "irrigation"]);
    // With the word spelt right, the same words (exactly).
    let r = run(&index, "irrigation");
    assert!(!r.fuzzy);
    assert_eq!(lit(snippet_of(&r, "Water")), ["irrigation", "irrigation"]);
}

#[test]
fn prefixes_and_phrases_are_highlighted() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[page(
            1,
            "Talks",
            "Digital tools help; negotiations on digital diplomacy resumed.",
        )],
    );
    let r = run(&index, "negot*");
    assert_eq!(lit(snippet_of(&r, "Talks")), ["negotiations"]);
    // A phrase lights its words where they stand in order only.
    let r = run(&index, "\"digital diplomacy\"");
    let s = snippet_of(&r, "Talks");
    assert_eq!(lit(s), ["digital", "diplomacy"]);
    assert_eq!(
        s.highlights[0].0,
        "Digital tools help; negotiations on ".len()
    );
}

#[test]
fn excluded_and_ignored_words_are_not_highlighted() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[page(
            1,
            "Stamps",
            "The embassy stamps a passport and a visa.",
        )],
    );
    // Found by `embassy`; `passport` is excluded (in the other branch).
    let r = run(&index, "(visa -passport) OR embassy");
    let s = snippet_of(&r, "Stamps");
    assert!(!lit(s).contains(&"passport"), "{s:?}");
    assert!(lit(s).contains(&"embassy"), "{s:?}");
    // `the` and `a` are stop words beside `embassy`: not searched.
    let r = run(&index, "the embassy a");
    assert_eq!(r.ignored, ["the", "a"]);
    assert_eq!(lit(snippet_of(&r, "Stamps")), ["embassy"]);
}

#[test]
fn the_window_is_where_most_distinct_words_meet() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    let filler = "The delegation reviewed the agenda of the session at length. ".repeat(30);
    let body = format!(
        "Cotton was mentioned first. {filler}Later the cotton quota, the water treaty \
         and the border were agreed together. {filler}"
    );
    index_all(&index, &trust, &[page(1, "Long", &body)]);
    let r = run(&index, "cotton water treaty");
    let s = snippet_of(&r, "Long");
    well_formed(s);
    assert_eq!(lit(s), ["cotton", "water", "treaty"]);
    assert!(s.text.chars().count() <= 240, "{}", s.text.len());
    // Context before the words, starting at a word.
    let at = body.find(&s.text).expect("a slice of the body");
    assert!(at > 0 && body[..at].ends_with(' '), "{:?}", s.text);
    // One word alone: the first place it appears, from the text's start.
    let r = run(&index, "cotton");
    let s = snippet_of(&r, "Long");
    assert!(s.text.starts_with("Cotton was mentioned first."), "{s:?}");
    assert_eq!(lit(s), ["Cotton"]);
}

#[test]
fn cyrillic_snippets_are_whole_characters() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    let filler = "Делегация обсудила повестку дня заседания. ".repeat(20);
    let body = format!("{filler}Ўзбекистон ва Россия сув шартномаси имзоланди. {filler}");
    index_all(&index, &trust, &[page(1, "Сув", &body)]);
    let r = run(&index, "шартнома Oʻzbekiston");
    let s = snippet_of(&r, "Сув");
    well_formed(s);
    assert_eq!(lit(s), ["Ўзбекистон", "шартномаси"]);
    assert!(body.contains(&s.text));
}

/// A random text of Latin, Cyrillic and Uzbek letters, apostrophes,
/// combining marks, digits, spaces and punctuation.
fn text_strategy() -> impl Strategy<Value = Vec<String>> {
    let letters: Vec<char> = "abcoʻgʼ'zеёжзийклмнопўқғҳъьЁЎ\u{301}0123456789"
        .chars()
        .collect();
    let word = proptest::collection::vec(proptest::sample::select(letters), 1..12)
        .prop_map(|cs| cs.into_iter().collect::<String>());
    let sep = proptest::sample::select(vec![" ", "  ", ", ", ". ", "\n", "-", " — ", "«"]);
    proptest::collection::vec((word, sep), 0..120).prop_map(|v| {
        v.into_iter()
            .flat_map(|(w, s)| [w, s.to_string()])
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn snippets_never_split_a_character(
        parts in text_strategy(),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        typo in any::<bool>(),
        max_chars in 1usize..300,
    ) {
        let text: String = parts.concat();
        // Query words taken from the text (every other part is a word).
        let words: Vec<&String> = parts.iter().step_by(2).collect();
        let sought: Vec<Sought> = if words.is_empty() {
            Vec::new()
        } else {
            picks
                .iter()
                .filter_map(|i| {
                    let w = words[i.index(words.len())];
                    let e = if typo { Expansion::Typo } else { Expansion::None };
                    Sought::new(w, e)
                })
                .collect()
        };
        let s = snippet(&text, &sought, max_chars);
        prop_assert!(text.contains(&s.text));
        prop_assert!(s.text.chars().count() <= max_chars);
        let mut last = 0;
        for &(a, b) in &s.highlights {
            prop_assert!(a >= last && a < b, "{:?}", s.highlights);
            prop_assert!(s.text.get(a..b).is_some());
            last = b;
        }
        // A word of the text sought, and room for a word: something lit.
        if !sought.is_empty() && max_chars >= 64 {
            prop_assert!(!s.highlights.is_empty(), "{:?} in {text:?}", sought);
        }
    }
}
