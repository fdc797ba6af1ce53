//! Questions typed as sentences get ranked answers (issue 14): entries with
//! all the words first, then most; stop words of English, Russian and
//! Uzbek need not match; each hit says which words it matched; titles weigh
//! more than text; words standing close rank higher — and none of it lets a
//! person learn about entries they may not read.

mod common;

use chapar_proto::Classification;
use chapar_search::api::SearchRequest;
use chapar_search::{SearchIndex, SearchResponse};
use common::*;

fn ranked(r: &SearchResponse) -> Vec<&str> {
    r.hits.iter().map(|h| h.title.as_str()).collect()
}

fn visa_index() -> (tempfile::TempDir, SearchIndex) {
    let (dir, index) = fresh_index();
    index_all(
        &index,
        &trust(),
        &[
            page(
                1,
                "Berlin report",
                "Our embassy reported progress in the visa facilitation talks with Germany.",
            ),
            page(2, "Germany", "Trade with Germany grew."),
            page(
                3,
                "Visa regime",
                "Visa facilitation was discussed with several partners.",
            ),
            page(4, "Weather", "Nothing to see here."),
            page(
                5,
                "Reports",
                "The embassies report about cotton; visa questions were not raised.",
            ),
        ],
    );
    (dir, index)
}

#[test]
fn a_question_in_a_sentence_finds_answers_ranked_by_how_much_they_cover() {
    let (_d, index) = visa_index();
    let r = search_as(
        &index,
        "gulnora",
        "what did our embassies report about visa facilitation talks with Germany",
    );
    // Every entry with a content word answers; the one with all of them
    // first; "what", "did", "our", "about", "with" need not match.
    assert_eq!(r.total, 4, "{:?}", ranked(&r));
    assert_eq!(r.hits[0].title, "Berlin report");
    assert!(!ranked(&r).contains(&"Weather"));
    for w in ["what", "did", "our", "about", "with"] {
        assert!(
            r.ignored.iter().any(|i| i == w),
            "{w} ignored: {:?}",
            r.ignored
        );
    }
    assert_eq!(
        r.words,
        [
            "embassies",
            "report",
            "visa",
            "facilitation",
            "talks",
            "Germany"
        ]
    );
}

#[test]
fn short_questions_rank_entries_with_all_their_words_first_then_most() {
    let (_d, index) = fresh_index();
    index_all(
        &index,
        &trust(),
        &[
            // One word, many times, in a short text: the best BM25 score of
            // any single word here.
            page(
                1,
                "Cotton",
                "cotton cotton cotton cotton cotton cotton cotton",
            ),
            page(
                2,
                "Long",
                &format!(
                    "{} cotton exports to Japan {}",
                    "filler ".repeat(200),
                    "filler ".repeat(200)
                ),
            ),
            page(3, "Two words", "cotton exports were discussed at length"),
            page(4, "None", "nothing relevant"),
        ],
    );
    let r = search_as(&index, "gulnora", "cotton exports japan");
    // All three words (even in a long text) before two, before one.
    assert_eq!(ranked(&r), ["Long", "Two words", "Cotton"]);
    let matched: Vec<Vec<String>> = r.hits.iter().map(|h| h.matched.clone()).collect();
    assert_eq!(
        matched,
        [
            vec!["cotton", "exports", "japan"],
            vec!["cotton", "exports"],
            vec!["cotton"],
        ]
    );
}

#[test]
fn the_words_a_hit_misses_can_be_shown() {
    let (_d, index) = visa_index();
    let r = search_as(&index, "gulnora", "visa Germany");
    let json: serde_json::Value = serde_json::to_value(&r).expect("json");
    assert_eq!(json["words"], serde_json::json!(["visa", "Germany"]));
    for hit in json["hits"].as_array().expect("hits") {
        let matched = hit["matched"].as_array().expect("matched");
        assert!(!matched.is_empty(), "{hit}");
    }
    let trade = r
        .hits
        .iter()
        .find(|h| h.title == "Germany")
        .expect("Germany");
    assert_eq!(trade.matched, ["Germany"]);
}

#[test]
fn stop_words_of_each_language_need_not_match_but_alone_they_are_searched() {
    let (_d, index) = fresh_index();
    index_all(
        &index,
        &trust(),
        &[
            page(1, "Hisobot", "Elchixona viza masalasini ko'rib chiqdi."),
            page(2, "Отчёт", "Посольство рассмотрело визовый вопрос."),
            page(3, "The", "The the the."),
        ],
    );
    // Uzbek: "bilan", "uchun", "va" are stop words.
    let r = search_as(&index, "gulnora", "elchixona bilan viza uchun va");
    assert_eq!(ranked(&r), ["Hisobot"]);
    // Russian: "что", "и", "в" are stop words, in either script.
    let r = search_as(&index, "gulnora", "что посольство и в");
    assert_eq!(ranked(&r), ["Отчёт"]);
    // Nothing but stop words: they are what was asked, filters or not.
    let r = search_as(&index, "gulnora", "the");
    assert_eq!(ranked(&r), ["The"]);
    assert!(r.ignored.is_empty());
    assert_eq!(
        ranked(&search_as(&index, "gulnora", "kind:wiki the")),
        ["The"]
    );
}

#[test]
fn phrases_exclusions_or_and_filters_keep_their_meaning() {
    let (_d, index) = visa_index();
    // A phrase must match, and at least one of the plain words beside it.
    let r = search_as(&index, "gulnora", "\"visa facilitation\" Germany");
    assert_eq!(ranked(&r), ["Berlin report"]);
    let r = search_as(&index, "gulnora", "\"visa facilitation\" Germany partners");
    let mut t = ranked(&r);
    t.sort_unstable();
    assert_eq!(t, ["Berlin report", "Visa regime"]);
    // An exclusion excludes, whatever else matches.
    let r = search_as(&index, "gulnora", "visa Germany -cotton");
    assert!(!ranked(&r).contains(&"Reports"));
    assert_eq!(r.hits[0].title, "Berlin report");
    // OR is a choice between its sides.
    let r = search_as(&index, "gulnora", "weather OR cotton");
    let mut t = ranked(&r);
    t.sort_unstable();
    assert_eq!(t, ["Reports", "Weather"]);
    // A filter restricts.
    assert_eq!(
        search_as(&index, "gulnora", "kind:cable visa Germany").total,
        0
    );
}

#[test]
fn a_query_with_no_readable_word_finds_nothing_and_typos_are_still_forgiven() {
    let (_d, index) = visa_index();
    assert_eq!(search_as(&index, "gulnora", "zzyzx qwxq").total, 0);
    let r = search_as(&index, "gulnora", "facilitaton Germany");
    assert!(r.fuzzy);
    assert_eq!(r.hits[0].title, "Berlin report");
    assert!(r.hits[0].matched.iter().any(|w| w == "facilitaton"));
    assert!(!search_as(&index, "gulnora", "facilitation Germany").fuzzy);
}

#[test]
fn a_title_match_outweighs_the_same_match_in_the_text() {
    let (_d, index) = fresh_index();
    let body = "The delegation met twice and agreed on a calendar.";
    index_all(
        &index,
        &trust(),
        &[
            page(
                1,
                "Meeting notes",
                &format!("{body} Samarkand was mentioned."),
            ),
            page(2, "Samarkand", &format!("{body} It was mentioned.")),
        ],
    );
    assert_eq!(
        ranked(&search_as(&index, "gulnora", "samarkand")),
        ["Samarkand", "Meeting notes"]
    );
}

#[test]
fn words_standing_close_together_rank_higher() {
    let (_d, index) = fresh_index();
    let filler = "and then the delegation moved on to other business ".repeat(4);
    index_all(
        &index,
        &trust(),
        &[
            page(1, "Far", &format!("water {filler} rights")),
            // Longer, so only the words' closeness can rank it first.
            page(2, "Near", &format!("water rights {filler} in the end")),
        ],
    );
    assert_eq!(
        ranked(&search_as(&index, "gulnora", "water rights")),
        ["Near", "Far"]
    );
}

#[test]
fn hidden_entries_change_nothing_a_person_sees() {
    // The same readable pages, with and without secret pages full of the
    // query's words: the unclassified reader's answer (hits, matched words,
    // snippets, totals, typo decision) is the same. (BM25's statistics do
    // span the whole index, so the order of hits with equal coverage may
    // differ; here coverage decides it.)
    let readable = [
        page(1, "Berlin report", "visa talks with Germany"),
        page(2, "Germany", "trade with Germany"),
    ];
    let secret = [
        classified_page(
            10,
            "Secret visa",
            "visa visa talks talks Germany zarafshon",
            Classification::Secret,
        ),
        classified_page(11, "Secret", "facilitaton", Classification::Secret),
    ];
    let (_a, plain) = fresh_index();
    index_all(&plain, &trust(), &readable);
    let (_b, mixed) = fresh_index();
    let mut all = readable.to_vec();
    all.extend(secret);
    index_all(&mixed, &trust(), &all);
    for q in [
        "visa talks Germany",
        "zarafshon visa",
        "facilitaton Germany",
        "what about zarafshon",
    ] {
        let a = search_as(&plain, "gulnora", q);
        let b = search_as(&mixed, "gulnora", q);
        let view = |r: &SearchResponse| {
            (
                r.total,
                r.fuzzy,
                r.hits
                    .iter()
                    .map(|h| (h.title.clone(), h.matched.clone(), h.snippet.clone()))
                    .collect::<Vec<_>>(),
                r.words.clone(),
                r.ignored.clone(),
            )
        };
        assert_eq!(view(&a), view(&b), "{q}");
    }
}

#[test]
fn a_pasted_paragraph_is_answered_by_its_first_words_and_names_the_rest() {
    let (_d, index) = visa_index();
    // 600 distinct words (the byte limit allows them), the question's
    // words first.
    let mut q = String::from("visa Germany");
    for i in 0..598 {
        q.push_str(&format!(" w{i}"));
    }
    assert!(q.len() <= chapar_search::query::MAX_QUERY_BYTES);
    let r = search_as(&index, "gulnora", &q);
    assert_eq!(
        r.words.len(),
        chapar_search::compile::MAX_MATCHED_WORDS,
        "{:?}",
        r.words
    );
    assert_eq!(
        r.ignored.len(),
        600 - chapar_search::compile::MAX_MATCHED_WORDS
    );
    let berlin = r
        .hits
        .iter()
        .find(|h| h.title == "Berlin report")
        .expect("answered");
    assert_eq!(berlin.matched, ["visa", "Germany"]);
    assert!(r.hits.iter().all(|h| !h.matched.is_empty()));
}

#[test]
fn pages_of_a_reranked_answer_follow_one_order() {
    let (_d, index) = fresh_index();
    let filler = "the delegation then moved on to other business ";
    let docs: Vec<_> = (1..=30u8)
        .map(|n| {
            // Some with the words together, some apart, at varied lengths.
            let body = if n % 3 == 0 {
                format!("water rights {}", filler.repeat(usize::from(n % 5) + 1))
            } else {
                format!("water {} rights", filler.repeat(usize::from(n % 4) + 1))
            };
            page(n, &format!("Page {n}"), &body)
        })
        .collect();
    index_all(&index, &trust(), &docs);
    let all: Vec<String> = search_as(&index, "gulnora", "water rights")
        .hits
        .iter()
        .map(|h| h.id.clone())
        .collect();
    assert_eq!(all.len(), 30);
    let mut paged = Vec::new();
    for p in 0..10 {
        let req = SearchRequest {
            query: "water rights".into(),
            offset: p * 3,
            limit: 3,
            ..SearchRequest::default()
        };
        let r = index
            .search(&req, &person(&trust(), "gulnora"))
            .expect("search");
        paged.extend(r.hits.into_iter().map(|h| h.id));
    }
    assert_eq!(paged, all);
}

#[test]
fn coverage_never_increases_down_a_short_questions_answer() {
    // 60 pages holding varied subsets of four words, repeated varied
    // numbers of times in texts of varied length: every hit holds at
    // least as many of the words as the next one, and exactly the pages
    // with any of them answer.
    let words = ["qalqon", "zarafshon", "paxta", "suv"];
    let (_d, index) = fresh_index();
    let mut docs = Vec::new();
    let mut with_any = 0;
    for n in 1..=60u8 {
        let mut body = String::new();
        for (i, w) in words.iter().enumerate() {
            if (n >> i) & 1 == 1 {
                for _ in 0..=(n % (i as u8 + 3)) {
                    body.push_str(w);
                    body.push(' ');
                }
            }
        }
        if !body.is_empty() {
            with_any += 1;
        }
        body.push_str(&"hisobot ".repeat(usize::from(n % 7) * 5));
        docs.push(page(n, &format!("Page {n}"), &body));
    }
    index_all(&index, &trust(), &docs);
    let r = search_as(&index, "gulnora", "qalqon zarafshon paxta suv");
    assert_eq!(r.total, with_any);
    assert_eq!(r.hits.len(), with_any as usize);
    let covered: Vec<usize> = r.hits.iter().map(|h| h.matched.len()).collect();
    assert!(covered.windows(2).all(|w| w[0] >= w[1]), "{covered:?}");
    assert_eq!(covered.first(), Some(&4));
}

#[test]
fn and_between_words_requires_both() {
    let (_d, index) = visa_index();
    let mut t: Vec<String> = search_as(&index, "gulnora", "visa AND Germany")
        .hits
        .iter()
        .map(|h| h.title.clone())
        .collect();
    t.sort_unstable();
    assert_eq!(t, ["Berlin report"]);
    // Without it, either answers.
    assert_eq!(search_as(&index, "gulnora", "visa Germany").total, 4);
}
