//! The JSON `SearchRequest` a person sends in an RPC `Search`, run against
//! a small real index (tantivy on a temporary directory) for a reader
//! with limited clearance.
#![no_main]

#[path = "../../search/tests/common/mod.rs"]
mod common;

use std::sync::LazyLock;

use chapar_proto::Classification;
use chapar_proto::roster::Person;
use chapar_search::{SearchIndex, SearchRequest};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    _dir: tempfile::TempDir,
    index: SearchIndex,
    reader: Person,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let trust = common::trust();
    let (dir, index) = common::fresh_index();
    let mut docs = Vec::new();
    let pages = [
        (
            "Raqamli diplomatiya",
            "Raqamli diplomatiya va elchixonalar ishi. Oʻzbekiston",
        ),
        (
            "Посольство в Токио",
            "Посольство работает с партнёрами; embassy relations",
        ),
        (
            "Digital diplomacy",
            "Embassies report on digital diplomacy, 2024-01-05 10:30",
        ),
    ];
    for (n, (title, body)) in pages.iter().enumerate() {
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
        &common::CableSpec {
            originator: "emb-tokyo",
            action: vec!["mfa"],
            info: vec!["emb-berlin"],
            classification: Classification::Secret,
            caption: Some("EXDIS"),
            tags: vec!["PREL", "ECON"],
            subject: "Trade talks",
            body: "The embassy reports progress in the trade talks.",
        },
        common::T0 + 100,
    );
    docs.extend([draft, release]);
    common::index_all(&index, &trust, &docs);
    let reader = common::person(&trust, "aziza");
    Fixture {
        _dir: dir,
        index,
        reader,
    }
});

fuzz_target!(|data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<SearchRequest>(data) else {
        return;
    };
    let _ = FIXTURE.index.search(&request, &FIXTURE.reader);
});
