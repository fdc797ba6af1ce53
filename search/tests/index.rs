//! The index end to end: languages (on the project's parallel Uzbek
//! fixture in `corpus/uzbek`), query features, wiki current view and
//! history, commit positions, repair of a damaged index, and the segment
//! count under a trickle.

mod common;

use chapar_proto::{Classification, Document};
use chapar_search::api::{EntryKind, SearchRequest, Sort};
use chapar_search::{Rebuilt, SearchIndex, SearchResponse};
use common::*;

fn run(index: &SearchIndex, q: &str) -> SearchResponse {
    let trust = trust();
    let req = SearchRequest {
        query: q.into(),
        limit: 100,
        facets: true,
        ..SearchRequest::default()
    };
    index
        .search(&req, &person(&trust, "dilnoza"))
        .expect("search")
}

fn titles(r: &SearchResponse) -> Vec<String> {
    let mut t: Vec<String> = r.hits.iter().map(|h| h.title.clone()).collect();
    t.sort();
    t
}

#[test]
fn uzbek_latin_and_cyrillic_find_each_other_on_the_fixture() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    let latin = page(
        1,
        "Raqamli diplomatiya (lotin)",
        &uzbek_corpus("axborot-almashinuvi-latin.txt"),
    );
    let cyrillic = page(
        2,
        "Рақамли дипломатия (кирилл)",
        &uzbek_corpus("axborot-almashinuvi-cyrillic.txt"),
    );
    let other = page(
        3,
        "Consular handbook",
        "Passports, visas and notarial acts at the embassy.",
    );
    index_all(&index, &trust, &[latin, cyrillic, other]);
    let both = vec![
        "Raqamli diplomatiya (lotin)".to_string(),
        "Рақамли дипломатия (кирилл)".to_string(),
    ];
    for q in [
        "raqamli diplomatiya",
        "рақамли дипломатия",
        "\"raqamli diplomatiya\"",
    ] {
        assert_eq!(titles(&run(&index, q)), both, "{q}");
    }
    // Every apostrophe form and the Cyrillic spelling: the same documents.
    let forms = [
        "O‘zbekiston",
        "O'zbekiston",
        "Oʻzbekiston",
        "O’zbekiston",
        "O`zbekiston",
        "Ўзбекистон",
    ];
    // Both texts name Uzbekistan (the Latin one with ʻ, ` and ’).
    for f in forms {
        assert_eq!(titles(&run(&index, f)), both, "{f}");
    }
    // Snippets quote the matched words of the text, highlighted.
    let r = run(&index, "рақамли дипломатия");
    for h in &r.hits {
        assert!(
            !h.snippet.highlights.is_empty(),
            "{}: no highlight",
            h.title
        );
        for (a, b) in &h.snippet.highlights {
            assert!(
                h.snippet.text.get(*a..*b).is_some(),
                "highlight on a char boundary"
            );
        }
    }
}

#[test]
fn russian_and_english_match_inflected_forms() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[
            page(
                1,
                "Сообщение",
                "Сотрудники посольства в Токио провели встречу.",
            ),
            page(
                2,
                "Embassies",
                "The embassies of Central Asia met in Tokyo.",
            ),
            page(3, "Weather", "Nothing to see here."),
        ],
    );
    assert_eq!(titles(&run(&index, "посольство")), ["Сообщение"]);
    assert_eq!(titles(&run(&index, "embassy")), ["Embassies"]);
    assert_eq!(titles(&run(&index, "EMBASSIES")), ["Embassies"]);
}

#[test]
fn query_language_features() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[
            page(
                1,
                "Trade talks",
                "Negotiations on cotton exports to Japan continued.",
            ),
            page(2, "Water", "Cotton irrigation and the Aral Sea."),
            page(3, "Visas", "Visa regime for Japanese tourists."),
            page(4, "Cotton exports", "Annual figures."),
        ],
    );
    // Words side by side are a question: entries with both first (the
    // title weighs more than the text), then those with one.
    let ranked: Vec<String> = run(&index, "cotton exports")
        .hits
        .iter()
        .map(|h| h.title.clone())
        .collect();
    assert_eq!(ranked, ["Cotton exports", "Trade talks", "Water"]);
    assert_eq!(
        titles(&run(&index, "\"cotton exports\"")),
        ["Cotton exports", "Trade talks"]
    );
    assert_eq!(
        titles(&run(&index, "\"exports cotton\"")),
        Vec::<String>::new()
    );
    assert_eq!(
        titles(&run(&index, "cotton -japan")),
        ["Cotton exports", "Water"]
    );
    assert_eq!(titles(&run(&index, "aral OR visa")), ["Visas", "Water"]);
    assert_eq!(titles(&run(&index, "negot*")), ["Trade talks"]);
    // Too short to be a prefix (it would union every term starting so):
    // taken as the word itself.
    assert_eq!(run(&index, "ne*").total, 0);
    assert_eq!(titles(&run(&index, "aral*")), ["Water"]);
    // A group in parentheses must match, and so must a lone word beside it.
    assert_eq!(titles(&run(&index, "(aral OR tourists) cotton")), ["Water"]);
    // Typo tolerance: for a word no readable entry contains.
    let typo = run(&index, "irrigaton");
    assert!(typo.fuzzy);
    assert_eq!(titles(&typo), ["Water"]);
    assert!(!run(&index, "irrigation").fuzzy);
    // Inline and request filters.
    assert_eq!(run(&index, "kind:cable cotton").total, 0);
    assert_eq!(run(&index, "kind:wiki cotton").total, 3);
    // A malformed request is a clear error.
    let mut req = SearchRequest {
        query: "x".into(),
        limit: 1000,
        ..SearchRequest::default()
    };
    let err = index
        .search(&req, &person(&trust, "dilnoza"))
        .expect_err("limit over the maximum");
    assert!(err.to_string().contains("limit"), "{err}");
    req.limit = 10;
    req.classifications = vec!["SECRETISH".into()];
    let err = index
        .search(&req, &person(&trust, "dilnoza"))
        .expect_err("bad classification");
    assert!(err.to_string().contains("SECRETISH"), "{err}");
}

#[test]
fn filters_sorting_and_paging() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    let mut docs = Vec::new();
    for i in 0..25u64 {
        let spec = CableSpec {
            originator: if i % 2 == 0 {
                "emb-tokyo"
            } else {
                "emb-berlin"
            },
            action: vec!["mfa"],
            info: vec![],
            classification: if i % 5 == 0 {
                Classification::Secret
            } else {
                Classification::Unclassified
            },
            caption: None,
            tags: if i % 3 == 0 {
                vec!["ECON", "UZ"]
            } else {
                vec!["PREL"]
            },
            subject: "weekly report",
            body: "cotton harvest figures",
        };
        let (_, release) = cable(&spec, T0 + i * 1000);
        docs.push(release);
    }
    index_all(&index, &trust, &docs);
    let reader = person(&trust, "bobur"); // mfa, SECRET: sees every release
    let base = SearchRequest {
        query: "cotton".into(),
        kinds: vec![EntryKind::Cable],
        limit: 10,
        facets: true,
        ..SearchRequest::default()
    };
    let all = index.search(&base, &reader).expect("search");
    assert_eq!(all.total, 25);
    let f = all.facets.expect("facets");
    assert_eq!(
        f.mission,
        vec![
            ("emb-tokyo".to_string(), 13),
            ("emb-berlin".to_string(), 12)
        ]
    );
    let by = |req: SearchRequest| index.search(&req, &reader).expect("search");
    assert_eq!(
        by(SearchRequest {
            tags: vec!["ECON".into()],
            ..base.clone()
        })
        .total,
        9
    );
    assert_eq!(
        by(SearchRequest {
            tags: vec!["econ".into(), "UZ".into()],
            ..base.clone()
        })
        .total,
        9
    );
    assert_eq!(
        by(SearchRequest {
            missions: vec!["emb-berlin".into()],
            ..base.clone()
        })
        .total,
        12
    );
    assert_eq!(
        by(SearchRequest {
            classifications: vec!["secret".into()],
            ..base.clone()
        })
        .total,
        5
    );
    assert_eq!(
        by(SearchRequest {
            authors: vec!["aziza".into()],
            ..base.clone()
        })
        .total,
        13
    );
    let window = by(SearchRequest {
        from_ms: Some(T0 + 5_000),
        to_ms: Some(T0 + 10_000),
        ..base.clone()
    });
    assert_eq!(window.total, 5, "from inclusive, to exclusive");
    // Newest first, paged without overlap or gaps.
    let mut seen = Vec::new();
    for page in 0..3 {
        let r = by(SearchRequest {
            sort: Sort::Newest,
            offset: page * 10,
            ..base.clone()
        });
        seen.extend(r.hits.iter().map(|h| h.created_ms));
    }
    assert_eq!(seen.len(), 25);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seen:?}"
    );
    let oldest = by(SearchRequest {
        sort: Sort::Oldest,
        ..base.clone()
    });
    assert_eq!(oldest.hits[0].created_ms, T0 + 1);
}

#[test]
fn a_page_is_indexed_by_its_heads_whatever_the_arrival_order() {
    let trust = trust();
    let w = writer_of("mfa");
    let r1 = wiki(
        &w,
        T0 + 1,
        [9; 16],
        vec![],
        "Page",
        "first draft zulu",
        Classification::Unclassified,
        None,
    );
    let r2 = wiki(
        &w,
        T0 + 2,
        [9; 16],
        vec![r1.id()],
        "Page",
        "second yankee",
        Classification::Unclassified,
        None,
    );
    // Two editors offline: two heads on r2, then a merge naming both.
    let h1 = wiki(
        &w,
        T0 + 3,
        [9; 16],
        vec![r2.id()],
        "Page",
        "head one xray",
        Classification::Unclassified,
        None,
    );
    let h2 = wiki(
        &w,
        T0 + 4,
        [9; 16],
        vec![r2.id()],
        "Page",
        "head two whiskey",
        Classification::Unclassified,
        None,
    );
    let mut parents = vec![h1.id(), h2.id()];
    parents.sort();
    let merged = wiki(
        &w,
        T0 + 3,
        [9; 16],
        parents,
        "Page",
        "merged victor",
        Classification::Unclassified,
        None,
    );
    let orders: [&[&Document]; 3] = [
        &[&r1, &r2, &h1, &h2, &merged],
        &[&merged, &h2, &h1, &r2, &r1],
        &[&h1, &r1, &merged, &r2, &h2],
    ];
    for (n, order) in orders.iter().enumerate() {
        let (_dir, index) = fresh_index();
        // One commit per document in the first order, one for all in the
        // others: both paths decide alike.
        for d in order.iter() {
            index.add(d, &trust).expect("add");
            if n == 0 {
                index.commit(b"x").expect("commit");
            }
        }
        index.commit(b"x").expect("commit");
        let r = run(&index, "page");
        assert_eq!(r.total, 1, "order {n}: one entry per page");
        assert_eq!(r.hits[0].id, merged.id().to_hex(), "order {n}");
        assert_eq!(run(&index, "victor").total, 1);
        assert_eq!(run(&index, "zulu").total, 0, "old text is not the page");
        // History lists every revision, newest first.
        let hist = index
            .search(
                &SearchRequest {
                    kinds: vec![EntryKind::Revision],
                    pages: vec![chapar_proto::PageId([9; 16]).to_string()],
                    sort: Sort::Newest,
                    limit: 10,
                    ..SearchRequest::default()
                },
                &person(&trust, "gulnora"),
            )
            .expect("history");
        assert_eq!(hist.total, 5, "order {n}");
        assert!(hist.hits.iter().all(|h| h.kind == EntryKind::Revision));
    }
    // Concurrent heads without a merge: both are the page (the history
    // rule, `chapar_proto::wiki::history`), in every arrival order and
    // whatever clock their authors set (h2 claims a time far ahead).
    let h2_future = wiki(
        &w,
        T0 + 10_000_000_000,
        [9; 16],
        vec![r2.id()],
        "Page",
        "head two whiskey",
        Classification::Unclassified,
        None,
    );
    let docs = [&r1, &r2, &h1, &h2_future];
    let mut want = vec![h1.id().to_hex(), h2_future.id().to_hex()];
    want.sort();
    for perm in permutations(4) {
        for per_doc_commit in [false, true] {
            let (_dir, index) = fresh_index();
            for &i in &perm {
                index.add(docs[i], &trust).expect("add");
                if per_doc_commit {
                    index.commit(b"x").expect("commit");
                }
            }
            index.commit(b"x").expect("commit");
            let r = run(&index, "page");
            let mut got: Vec<String> = r.hits.iter().map(|h| h.id.clone()).collect();
            got.sort();
            assert_eq!(got, want, "order {perm:?}, commit per doc {per_doc_commit}");
        }
    }
}

/// Every order of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn pages_are_found_by_title_whatever_the_case_script_or_spacing() {
    let trust = trust();
    let w = writer_of("mfa");
    let latin = wiki(
        &w,
        T0 + 1,
        [7; 16],
        vec![],
        "Oʻzbekiston tashqi siyosati",
        "matn",
        Classification::Unclassified,
        None,
    );
    let other = wiki(
        &w,
        T0 + 2,
        [8; 16],
        vec![],
        "Oʻzbekiston tashqi siyosati 2026",
        "matn",
        Classification::Unclassified,
        None,
    );
    let (_dir, index) = fresh_index();
    for d in [&latin, &other] {
        index.add(d, &trust).expect("add");
    }
    index.commit(b"x").expect("commit");
    for typed in [
        "Oʻzbekiston tashqi siyosati",
        "o'zbekiston_tashqi_siyosati",
        "ЎЗБЕКИСТОН  ТАШҚИ СИЁСАТИ",
    ] {
        let r = index
            .search(
                &SearchRequest {
                    titles: vec![typed.into()],
                    ..SearchRequest::default()
                },
                &person(&trust, "gulnora"),
            )
            .expect("search");
        let ids: Vec<&str> = r.hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, [latin.id().to_hex().as_str()], "{typed}");
    }
}

#[test]
fn position_survives_reopen_and_a_damaged_index_is_rebuilt() {
    let trust = trust();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("search");
    {
        let (index, rebuilt) = SearchIndex::open(&path).expect("open");
        assert_eq!(rebuilt, Some(Rebuilt::Missing));
        assert_eq!(index.position().expect("position"), None);
        index_all(&index, &trust, &[page(1, "Kept", "still here")]);
        index.commit(&[1, 2, 3]).expect("commit");
        index.close().expect("close");
    }
    {
        let (index, rebuilt) = SearchIndex::open(&path).expect("reopen");
        assert_eq!(rebuilt, None);
        assert_eq!(index.position().expect("position"), Some(vec![1, 2, 3]));
        assert_eq!(run(&index, "kept").total, 1);
        index.close().expect("close");
    }
    // Garbage in meta.json: set aside, a new empty index, no failure.
    std::fs::write(path.join("meta.json"), b"{ not json").expect("damage");
    let (index, rebuilt) = SearchIndex::open(&path).expect("open damaged");
    match rebuilt {
        Some(Rebuilt::Damaged { moved_to, .. }) => assert!(moved_to.join("meta.json").exists()),
        other => panic!("expected Damaged, got {other:?}"),
    }
    assert_eq!(index.position().expect("position"), None);
    assert_eq!(index.entries(), 0);
    index_all(&index, &trust, &[page(2, "Again", "works")]);
    assert_eq!(run(&index, "again").total, 1);
    index.close().expect("close");
    // A segment file gone: set aside too.
    for e in std::fs::read_dir(&path).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(&p).expect("remove");
        }
    }
    let (index, rebuilt) = SearchIndex::open(&path).expect("open without segment file");
    assert!(
        matches!(rebuilt, Some(Rebuilt::Damaged { .. })),
        "{rebuilt:?}"
    );
    assert_eq!(index.entries(), 0);
}

#[test]
fn segments_stay_bounded_under_a_trickle_of_single_commits() {
    let trust = trust();
    // Each commit costs ~30 fsyncs on a disk; the merge policy is what is
    // tested here, so use memory-backed files where the machine has them
    // (the full 10,000-commit figure on disk is in the search bench).
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tempdir")
    } else {
        tempfile::tempdir().expect("tempdir")
    };
    let (index, _) = SearchIndex::open(&dir.path().join("search")).expect("open");
    let mut max_seen = 0;
    for i in 0..1_000u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        let d = wiki(
            &writer_of("mfa"),
            T0 + u64::from(i),
            id,
            vec![],
            &format!("trickle {i}"),
            &format!("arrival number {i}"),
            Classification::Unclassified,
            None,
        );
        index.add(&d, &trust).expect("add");
        index.commit(&i.to_be_bytes()).expect("commit");
        max_seen = max_seen.max(index.segments());
    }
    assert!(max_seen < 30, "segments reached {max_seen}");
    assert_eq!(index.entries(), 2_000, "a page and a history entry each");
}

#[test]
fn a_document_set_aside_leaves_the_index_and_its_page_falls_back() {
    let trust = trust();
    let w = writer_of("mfa");
    let rev = |at: u64, parents: Vec<chapar_proto::DocId>, body: &str| {
        wiki(
            &w,
            T0 + at,
            [7; 16],
            parents,
            "Visa policy",
            body,
            Classification::Unclassified,
            None,
        )
    };
    let r1 = rev(1, vec![], "first alpha");
    let r2 = rev(2, vec![r1.id()], "second bravo");
    let r3 = rev(3, vec![r2.id()], "third charlie");
    let other = wiki(
        &w,
        T0 + 4,
        [8; 16],
        vec![],
        "Other",
        "another page delta",
        Classification::Unclassified,
        None,
    );
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[r1.clone(), r2.clone(), r3.clone(), other.clone()],
    );
    assert_eq!(run(&index, "charlie").total, 1);
    let page = chapar_proto::PageId([7; 16]);
    let mut revisions = index.revisions_of(&page).expect("revisions");
    revisions.sort();
    let mut want = vec![r1.id(), r2.id(), r3.id()];
    want.sort();
    assert_eq!(revisions, want);

    // The current revision is set aside: the page shows the one before.
    index
        .remove(&r3, &[r1.clone(), r2.clone()], &trust)
        .expect("remove");
    index.commit(b"x").expect("commit");
    assert_eq!(run(&index, "charlie").total, 0);
    let r = run(&index, "visa");
    assert_eq!(r.total, 1, "one entry for the page");
    assert_eq!(r.hits[0].id, r2.id().to_hex());
    assert_eq!(run(&index, "bravo").total, 1);
    assert_eq!(index.revisions_of(&page).expect("revisions").len(), 2);
    // An older revision set aside: only its history entry goes.
    index
        .remove(&r1, std::slice::from_ref(&r2), &trust)
        .expect("remove");
    index.commit(b"x").expect("commit");
    assert_eq!(run(&index, "visa").hits[0].id, r2.id().to_hex());
    assert_eq!(index.revisions_of(&page).expect("revisions"), vec![r2.id()]);
    // The last one: the page is gone; other pages are untouched.
    index.remove(&r2, &[], &trust).expect("remove");
    index.commit(b"x").expect("commit");
    assert_eq!(run(&index, "visa").total, 0);
    assert_eq!(run(&index, "delta").total, 1);
}

/// A revision naming another page's head as a parent (which the history
/// rule ignores, and a node lets a person do with a head they may not
/// read) hides nothing: the other page keeps its head, in either order.
#[test]
fn naming_another_pages_head_hides_nothing() {
    let trust = trust();
    let w = writer_of("mfa");
    let a = wiki(
        &w,
        T0 + 1,
        [1; 16],
        vec![],
        "Page A",
        "alpha text",
        Classification::Unclassified,
        None,
    );
    let b = wiki(
        &w,
        T0 + 2,
        [2; 16],
        vec![a.id()],
        "Page B",
        "bravo text",
        Classification::Unclassified,
        None,
    );
    for order in [[&a, &b], [&b, &a]] {
        let (_dir, index) = fresh_index();
        for d in order {
            index.add(d, &trust).expect("add");
            index.commit(b"x").expect("commit");
        }
        let mut got: Vec<String> = run(&index, "text").hits.into_iter().map(|h| h.id).collect();
        got.sort();
        let mut want = vec![a.id().to_hex(), b.id().to_hex()];
        want.sort();
        assert_eq!(got, want, "both pages keep their heads");
    }
}
