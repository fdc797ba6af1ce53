//! Access control inside search: for people with different clearances,
//! captions and missions, over the same index, the result lists, totals
//! and facet counts are exactly what `person_may_read` allows of what the
//! query matches — computed here independently of the index.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chapar_proto::access::person_may_read;
use chapar_proto::{Body, Classification, Document, Person};
use chapar_search::api::{EntryKind, SearchRequest};
use common::*;

const VOCAB: [&str; 6] = ["alpha", "bravo", "delta", "kilo", "lima", "oscar"];
const TAGS: [&str; 4] = ["PREL", "ECON", "PGOV", "UZ"];
const CLASSES: [Classification; 5] = [
    Classification::Unclassified,
    Classification::Restricted,
    Classification::Confidential,
    Classification::Secret,
    Classification::TopSecret,
];

/// One indexed document and what the test knows of it.
struct Known {
    doc: Document,
    kind: EntryKind,
    words: Vec<&'static str>,
    mission: String,
    tags: Vec<String>,
}

fn corpus() -> Vec<Known> {
    let mut rng = Rng(0x5eed_cafe);
    let mut out = Vec::new();
    let captions = [None, None, None, Some("NODIS"), Some("EXDIS")];
    for i in 0..80u64 {
        let words: Vec<&'static str> = (0..3).map(|_| *rng.pick(&VOCAB)).collect();
        let body = words.join(" ");
        let class = *rng.pick(&CLASSES);
        let caption = *rng.pick(&captions);
        let mission = *rng.pick(&MISSIONS);
        if i % 2 == 0 {
            let mut page = [0u8; 16];
            page[..8].copy_from_slice(&i.to_be_bytes());
            let doc = wiki(
                &writer_of(mission),
                T0 + i,
                page,
                vec![],
                &format!("page {i}"),
                &body,
                class,
                caption,
            );
            out.push(Known {
                doc,
                kind: EntryKind::Wiki,
                words,
                mission: mission.into(),
                tags: vec![],
            });
        } else {
            let others: Vec<&str> = MISSIONS.iter().copied().filter(|m| *m != mission).collect();
            let action = vec![*rng.pick(&others)];
            let info: Vec<&str> = others
                .iter()
                .copied()
                .filter(|m| !action.contains(m) && rng.below(2) == 0)
                .collect();
            let mut tags: Vec<&str> = TAGS.iter().copied().filter(|_| rng.below(2) == 0).collect();
            tags.dedup();
            let spec = CableSpec {
                originator: mission,
                action,
                info,
                classification: class,
                caption,
                tags: tags.clone(),
                subject: "cable",
                body: &body,
            };
            let (draft, release) = cable(&spec, T0 + i * 10);
            let tags: Vec<String> = {
                let mut t: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
                t.sort();
                t
            };
            out.push(Known {
                doc: draft,
                kind: EntryKind::Draft,
                words: words.clone(),
                mission: mission.into(),
                tags: tags.clone(),
            });
            out.push(Known {
                doc: release,
                kind: EntryKind::Cable,
                words,
                mission: mission.into(),
                tags,
            });
        }
    }
    out
}

/// The queries and which word lists they match.
fn matches(query: &str, words: &[&str]) -> bool {
    let has = |w: &str| words.contains(&w);
    match query {
        "" => true,
        "alpha" => has("alpha"),
        // Words side by side are a question: either answers it (those with
        // both rank first, see tests/questions.rs).
        "alpha bravo" => has("alpha") || has("bravo"),
        "alpha OR oscar" => has("alpha") || has("oscar"),
        "-alpha" => !has("alpha"),
        "kilo -lima" => has("kilo") && !has("lima"),
        "\"delta kilo\"" => words.windows(2).any(|w| w == ["delta", "kilo"]),
        other => panic!("no expectation for {other:?}"),
    }
}

fn expected<'a>(
    corpus: &'a [Known],
    person: &Person,
    query: &str,
    kinds: &[EntryKind],
) -> Vec<&'a Known> {
    corpus
        .iter()
        .filter(|k| kinds.contains(&k.kind))
        .filter(|k| matches(query, &k.words))
        .filter(|k| person_may_read(person, &k.doc))
        .collect()
}

fn counts<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i.to_string()).or_insert(0) += 1;
    }
    m
}

#[test]
fn results_totals_and_facets_are_exactly_what_each_person_may_read() {
    let trust = trust();
    let corpus = corpus();
    let (_dir, index) = fresh_index();
    let docs: Vec<Document> = corpus.iter().map(|k| k.doc.clone()).collect();
    index_all(&index, &trust, &docs);

    let kind_sets: [&[EntryKind]; 2] = [
        &[EntryKind::Wiki, EntryKind::Cable],
        &[EntryKind::Wiki, EntryKind::Cable, EntryKind::Draft],
    ];
    let queries = [
        "",
        "alpha",
        "alpha bravo",
        "alpha OR oscar",
        "-alpha",
        "kilo -lima",
        "\"delta kilo\"",
    ];
    let mut distinct_totals = BTreeSet::new();
    for (pid, ..) in PEOPLE {
        let person = person(&trust, pid);
        for kinds in kind_sets {
            for q in queries {
                let want = expected(&corpus, &person, q, kinds);
                let mut got_ids = BTreeSet::new();
                let mut total = None;
                let mut facets = None;
                for page in 0..3 {
                    let req = SearchRequest {
                        query: q.into(),
                        kinds: if kinds.len() == 2 {
                            vec![]
                        } else {
                            kinds.to_vec()
                        },
                        limit: 50,
                        offset: page * 50,
                        facets: page == 0,
                        ..SearchRequest::default()
                    };
                    let resp = index.search(&req, &person).expect("search");
                    total = Some(resp.total);
                    if page == 0 {
                        facets = resp.facets;
                    }
                    for h in resp.hits {
                        assert!(got_ids.insert(h.id.clone()), "{pid} {q:?}: {} twice", h.id);
                    }
                }
                let want_ids: BTreeSet<String> = want.iter().map(|k| k.doc.id().to_hex()).collect();
                assert_eq!(got_ids, want_ids, "{pid} {q:?} {kinds:?}: result list");
                assert_eq!(total, Some(want.len() as u64), "{pid} {q:?}: total");
                let f = facets.expect("facets asked for");
                let as_map = |v: &[(String, u64)]| v.iter().cloned().collect::<BTreeMap<_, _>>();
                assert_eq!(
                    as_map(&f.kind),
                    counts(want.iter().map(|k| k.kind.as_str())),
                    "{pid} {q:?}: kind facet"
                );
                assert_eq!(
                    as_map(&f.mission),
                    counts(want.iter().map(|k| k.mission.as_str())),
                    "{pid} {q:?}: mission facet"
                );
                assert_eq!(
                    as_map(&f.tag),
                    counts(want.iter().flat_map(|k| k.tags.iter().map(String::as_str))),
                    "{pid} {q:?}: tag facet"
                );
                distinct_totals.insert((q, want.len()));
            }
        }
    }
    // The fixture must actually separate people: the same query gives
    // different totals to different people.
    assert!(
        queries
            .iter()
            .all(|q| distinct_totals.iter().filter(|(x, _)| x == q).count() >= 2),
        "fixture too uniform: {distinct_totals:?}"
    );
}

#[test]
fn snippets_and_titles_never_come_from_unreadable_documents() {
    let trust = trust();
    let (_dir, index) = fresh_index();
    let secret = wiki(
        &writer_of("mfa"),
        T0,
        [7; 16],
        vec![],
        "Kilo plans",
        "kilo secretword appears here",
        Classification::Secret,
        Some("NODIS"),
    );
    let open = wiki(
        &writer_of("mfa"),
        T0 + 1,
        [8; 16],
        vec![],
        "Kilo open",
        "kilo public text",
        Classification::Unclassified,
        None,
    );
    index_all(&index, &trust, &[secret.clone(), open]);
    let gulnora = person(&trust, "gulnora");
    let dilnoza = person(&trust, "dilnoza");
    for q in [
        "secretword",
        "kilo",
        "\"kilo secretword\"",
        "secret*",
        "secretwrd",
    ] {
        let req = SearchRequest {
            query: q.into(),
            facets: true,
            ..SearchRequest::default()
        };
        let r = index.search(&req, &gulnora).expect("search");
        // Everything but the echo of the person's own query words.
        let mut shown = r.clone();
        shown.words.clear();
        shown.ignored.clear();
        let text = serde_json::to_string(&shown).expect("json");
        assert!(
            !text.contains("secretword") && !text.contains("Kilo plans"),
            "{q}: {text}"
        );
        assert!(r.hits.iter().all(|h| h.id != secret.id().to_hex()));
        let r = index.search(&req, &dilnoza).expect("search");
        assert!(
            r.hits.iter().any(|h| h.id == secret.id().to_hex()),
            "{q}: cleared reader must find it"
        );
    }
    // Whether typo tolerance kicks in must not tell a word exists in
    // hidden documents: the same for a word only they contain and a word
    // nobody wrote.
    let fuzzy = |q: &str| {
        let req = SearchRequest {
            query: q.into(),
            ..SearchRequest::default()
        };
        index.search(&req, &gulnora).expect("search").fuzzy
    };
    assert_eq!(fuzzy("secretword"), fuzzy("qwzxyvword"));
    assert!(
        fuzzy("secretword"),
        "an unknown word gets a typo-tolerant pass"
    );
    // The document itself passes the same rule.
    let Body::WikiRevision(_) = secret.body() else {
        unreachable!()
    };
    assert!(!person_may_read(&gulnora, &secret));
}

/// A page whose head is above a reader's clearance: they still find its
/// older revision they may read, are told a head is hidden from them, and
/// see nothing of the hidden head (title, text). Someone who may read no
/// revision of a page learns nothing of it, not even that it has heads.
#[test]
fn a_hidden_head_is_announced_but_never_shown() {
    let trust = trust();
    let w = writer_of("mfa");
    let open = wiki(
        &w,
        T0 + 1,
        [42; 16],
        vec![],
        "Visa facilitation",
        "public text papaya",
        Classification::Unclassified,
        None,
    );
    let secret = wiki(
        &w,
        T0 + 2,
        [42; 16],
        vec![open.id()],
        "Visa facilitation talks with Germany",
        "secret text quince",
        Classification::Secret,
        None,
    );
    let other = wiki(
        &w,
        T0 + 3,
        [43; 16],
        vec![],
        "Operation lantern",
        "secret only",
        Classification::Secret,
        None,
    );
    let (_dir, index) = fresh_index();
    index_all(&index, &trust, &[open.clone(), secret.clone(), other]);
    let ask = |who: &str, page: [u8; 16], kind: EntryKind| {
        index
            .search(
                &SearchRequest {
                    kinds: vec![kind],
                    pages: vec![chapar_proto::PageId(page).to_string()],
                    limit: 10,
                    ..SearchRequest::default()
                },
                &person(&trust, who),
            )
            .expect("search")
    };
    // gulnora (UNCLASSIFIED): no head she may read, one hidden; her
    // history has the open revision only.
    let heads = ask("gulnora", [42; 16], EntryKind::Wiki);
    assert_eq!((heads.total, heads.hidden_heads), (0, 1));
    let hist = ask("gulnora", [42; 16], EntryKind::Revision);
    assert_eq!(hist.total, 1);
    assert_eq!(hist.hits[0].id, open.id().to_hex());
    assert!(hist.hits.iter().all(|h| !h.title.contains("Germany")));
    // bobur (SECRET) sees the head, nothing hidden.
    let heads = ask("bobur", [42; 16], EntryKind::Wiki);
    assert_eq!((heads.total, heads.hidden_heads), (1, 0));
    assert_eq!(heads.hits[0].id, secret.id().to_hex());
    // A page gulnora may read nothing of: no count at all.
    let probe = ask("gulnora", [43; 16], EntryKind::Wiki);
    assert_eq!((probe.total, probe.hidden_heads), (0, 0));
}

/// "What links here" and categories come from the one link parser, over
/// what the person may read: a secret page's links are not counted for
/// someone who may not read it.
#[test]
fn backlinks_and_categories_follow_the_link_parser_and_access() {
    let trust = trust();
    let w = writer_of("mfa");
    let page = |n: u8, title: &str, body: &str, c: Classification| {
        wiki(&w, T0 + u64::from(n), [n; 16], vec![], title, body, c, None)
    };
    let target = page(
        50,
        "Visa policy",
        "The policy.",
        Classification::Unclassified,
    );
    let open = page(
        51,
        "Schengen notes",
        "See [[visa_policy#Fees|the fees]].\n\n[[Category:Visas]]\n\n`[[Not a link]]`",
        Classification::Unclassified,
    );
    let redirect = page(
        52,
        "Visa rules",
        "#REDIRECT [[Visa policy]]",
        Classification::Unclassified,
    );
    let secret = page(
        53,
        "Operation lantern",
        "Depends on [[Visa Policy]]. [[Category:Visas]]",
        Classification::Secret,
    );
    let (_dir, index) = fresh_index();
    index_all(
        &index,
        &trust,
        &[target, open.clone(), redirect.clone(), secret.clone()],
    );
    let ask = |who: &str, req: SearchRequest| -> Vec<String> {
        let mut ids: Vec<String> = index
            .search(&SearchRequest { limit: 20, ..req }, &person(&trust, who))
            .expect("search")
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect();
        ids.sort();
        ids
    };
    let links_here = || SearchRequest {
        links_to: vec!["VISA POLICY".into()],
        ..SearchRequest::default()
    };
    let in_visas = || SearchRequest {
        categories: vec!["visas".into()],
        ..SearchRequest::default()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        ask("gulnora", links_here()),
        sorted(vec![open.id().to_hex(), redirect.id().to_hex()])
    );
    assert_eq!(
        ask("bobur", links_here()),
        sorted(vec![
            open.id().to_hex(),
            redirect.id().to_hex(),
            secret.id().to_hex()
        ])
    );
    assert_eq!(ask("gulnora", in_visas()), vec![open.id().to_hex()]);
    assert_eq!(
        ask("bobur", in_visas()),
        sorted(vec![open.id().to_hex(), secret.id().to_hex()])
    );
    // A link inside code is not a link.
    let code = SearchRequest {
        links_to: vec!["Not a link".into()],
        ..SearchRequest::default()
    };
    assert!(ask("bobur", code).is_empty());
}
