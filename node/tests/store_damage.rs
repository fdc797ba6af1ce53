//! A store whose segment files were damaged on disk (flipped bits, cut
//! short, garbage appended): opening it, reading documents and scanning
//! either succeed with the documents that were written or give a typed
//! error. Nothing panics, and no damaged record is ever handed out as a
//! document.

use std::path::{Path, PathBuf};

use chapar_node::store::{Position, Store};
use chapar_proto::{Body, Classification, DocId, Document, PageId, WikiRevision};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const DOCS: u64 = 12;

fn wiki(n: u64) -> Document {
    let mut page = [0u8; 16];
    page[..8].copy_from_slice(&n.to_be_bytes());
    let rev = WikiRevision {
        page: PageId(page),
        parents: Vec::new(),
        title: format!("Page {n}"),
        classification: Classification::Restricted,
        caption: None,
        body: "Hisobot: muzokaralar yaxshi o'tdi. ".repeat(1 + n as usize % 5),
        summary: String::new(),
    };
    Document::sign(
        &SigningKey::from_bytes(&[7; 32]),
        1 + n,
        Body::WikiRevision(rev),
    )
    .expect("sign")
}

/// A store written once, in two batches, and closed: the template every
/// case copies.
fn template() -> (tempfile::TempDir, Vec<Document>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs: Vec<Document> = (0..DOCS).map(wiki).collect();
    let store = Store::open(dir.path()).expect("open");
    let (a, b) = docs.split_at(docs.len() / 2);
    store.insert_batch(a).expect("first batch");
    store.insert_batch(b).expect("second batch");
    store.close().expect("close");
    (dir, docs)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join("segments"))
        .expect("segments dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    out.sort();
    out
}

/// What is done to the segment bytes.
#[derive(Debug, Clone)]
enum Damage {
    /// XOR these bytes in at these fractions of the file.
    Flip(Vec<(u16, u8)>),
    /// Keep only this fraction of the file.
    Cut(u16),
    /// Append these bytes.
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        prop::collection::vec((any::<u16>(), 1u8..), 1..4).prop_map(Damage::Flip),
        any::<u16>().prop_map(Damage::Cut),
        prop::collection::vec(any::<u8>(), 1..300).prop_map(Damage::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    let at = |f: u16, len: usize| (f as usize * len) / (u16::MAX as usize + 1);
    match d {
        Damage::Flip(flips) => {
            let len = bytes.len();
            for (f, x) in flips {
                bytes[at(*f, len)] ^= x;
            }
        }
        Damage::Cut(f) => bytes.truncate(at(*f, bytes.len())),
        Damage::Append(extra) => bytes.extend_from_slice(extra),
    }
}

proptest! {
    // Each case opens a sled database: a few dozen cover the three kinds
    // of damage at many offsets without slowing the suite.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn damaged_segments_give_the_written_documents_or_a_typed_error(d in damage()) {
        let (tpl, docs) = template();
        let case = tempfile::tempdir().expect("tempdir");
        copy_dir(tpl.path(), case.path());
        let seg = segments(case.path()).into_iter().next().expect("a segment");
        let mut bytes = std::fs::read(&seg).expect("read segment");
        apply(&mut bytes, &d);
        std::fs::write(&seg, &bytes).expect("write segment");

        // Refusing to open is a correct answer to damage (with a message);
        // what must never happen is a panic or a wrong document.
        let store = match Store::open(case.path()) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(!e.to_string().is_empty());
                return Ok(());
            }
        };
        let ids: Vec<DocId> = docs.iter().map(Document::id).collect();
        for (doc, id) in docs.iter().zip(&ids) {
            if let Ok(Some(got)) = store.get(id) {
                prop_assert_eq!(got.as_bytes(), doc.as_bytes(), "a damaged record was handed out");
            }
        }
        for item in store.scan(Position::START).take(DOCS as usize + 8) {
            match item {
                Ok((got, _)) => prop_assert!(
                    ids.contains(&got.id()),
                    "scan yielded a document that was never written"
                ),
                Err(_) => break,
            }
        }
        let _ = store.check();
        store.close().expect("close");
    }
}
