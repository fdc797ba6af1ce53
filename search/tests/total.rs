//! What a person sends to search is total: any bytes as the JSON
//! `SearchRequest` of an RPC `Search`, and mutations of valid requests, give
//! results or a typed error from a real index — never a panic. The analyzer
//! (which folds both queries and every indexed document's text) takes any
//! text. The query parser's own properties are in `query.rs`; the same
//! inputs are fuzzed in `fuzz/` (see `docs/fuzzing.md`).

mod common;

use std::sync::LazyLock;

use chapar_proto::Classification;
use chapar_proto::roster::Person;
use chapar_search::analysis::analyze;
use chapar_search::{SearchIndex, SearchRequest};
use common::CableSpec;
use proptest::prelude::*;

struct Fixture {
    _dir: tempfile::TempDir,
    index: SearchIndex,
    reader: Person,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let trust = common::trust();
    let (dir, index) = common::fresh_index();
    let mut docs = Vec::new();
    for (n, (title, body)) in [
        (
            "Raqamli diplomatiya",
            "Raqamli diplomatiya va elchixonalar. Oʻzbekiston",
        ),
        (
            "Посольство в Токио",
            "Посольство работает; embassy relations",
        ),
        ("Digital diplomacy", "Embassies report, 2024-01-05 10:30"),
    ]
    .into_iter()
    .enumerate()
    {
        docs.push(common::wiki(
            &common::writer_of("emb-tokyo"),
            common::T0 + n as u64,
            [n as u8 + 1; 16],
            vec![],
            title,
            body,
            Classification::Unclassified,
            None,
        ));
    }
    let (draft, release) = common::cable(
        &CableSpec {
            originator: "emb-tokyo",
            action: vec!["mfa"],
            info: vec!["emb-berlin"],
            classification: Classification::Secret,
            caption: Some("EXDIS"),
            tags: vec!["PREL"],
            subject: "Trade talks",
            body: "The embassy reports progress in the trade talks.",
        },
        common::T0 + 100,
    );
    docs.extend([draft, release]);
    common::index_all(&index, &trust, &docs);
    Fixture {
        _dir: dir,
        reader: common::person(&trust, "aziza"),
        index,
    }
});

/// Valid requests using every field.
const REQUESTS: [&str; 5] = [
    r#"{"query":"raqamli diplomatiya"}"#,
    r#"{"query":"trade -draft","kinds":["cable","draft"],"missions":["emb-tokyo"],"tags":["PREL"],"classifications":["SECRET"],"from_ms":0,"to_ms":9223372036854775808,"sort":"newest","offset":1,"limit":3,"facets":true}"#,
    r#"{"query":"embasy diplomcy posolstvo*","sort":"oldest","pages":["01010101010101010101010101010101"],"authors":["aziza"]}"#,
    r#"{"query":"(a OR b) \"digital diplomacy\" kind:cable tag:PREL -(-x)"}"#,
    r#"{}"#,
];

fn search(bytes: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<SearchRequest>(bytes) {
        let _ = FIXTURE.index.search(&request, &FIXTURE.reader);
    }
}

#[test]
fn every_valid_request_is_answered() {
    for r in REQUESTS {
        let request: SearchRequest = serde_json::from_str(r).expect(r);
        FIXTURE
            .index
            .search(&request, &FIXTURE.reader)
            .unwrap_or_else(|e| panic!("{r}: {e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_as_a_request(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        search(&bytes);
    }

    #[test]
    fn mutated_requests(
        which in 0..REQUESTS.len(),
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut bytes = REQUESTS[which].as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at % (bytes.len() + 1);
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => bytes[i] = byte,
                _ => bytes.truncate(i),
            }
        }
        search(&bytes);
    }

    #[test]
    fn any_query_text_is_searched(query in any::<String>()) {
        let request = SearchRequest { query, ..SearchRequest::default() };
        let _ = FIXTURE.index.search(&request, &FIXTURE.reader);
    }

    #[test]
    fn the_analyzer_takes_any_text(text in any::<String>()) {
        let words = analyze(&text);
        prop_assert!(words.windows(2).all(|w| w[0].position <= w[1].position));
    }
}
