//! Every decoder a peer, a person or a file reaches is total: arbitrary
//! bytes, and valid encodings with bytes flipped, inserted, deleted,
//! appended or cut, give a value or a typed error — never a panic. What
//! decodes is canonical (it encodes back to the same bytes).
//!
//! The same decoders are fuzzed with libFuzzer in `fuzz/` (see
//! `docs/fuzzing.md`); this runs on every `cargo test`.

mod common;

use std::sync::LazyLock;

use chapar_proto::access::Routing;
use chapar_proto::keys::{public_key_from_pem, signing_key_from_pem, signing_key_to_pem};
use chapar_proto::reconcile::{Item, ReconcileConfig, Reconciler, Tree, canonical_form};
use chapar_proto::wire::{MAX_FRAME, Message};
use chapar_proto::{Decode, DocId, Document, Encode, Kind};
use proptest::prelude::*;

/// The reconciliation settings every property uses (small messages, so
/// that a valid message is quick to find and to answer).
const CONFIG: ReconcileConfig = ReconcileConfig {
    max_message_bytes: 4096,
    initial_buckets: 4,
    buckets: 4,
    id_list_threshold: 4,
};

/// A few hundred items, as a node's set to reconcile against.
static TREE: LazyLock<Tree> = LazyLock::new(|| {
    let mut tree = Tree::new();
    for i in 0u64..300 {
        let mut id = [0u8; 32];
        id[0] = (i % 7) as u8;
        id[1] = (i * 37 % 251) as u8;
        id[31] = i as u8;
        tree.insert(Item::new(common::T0 + i * 1_000 * (i % 3 + 1), DocId(id)));
    }
    tree
});

/// Feeds `bytes` to every decoder of this crate; each must return, and
/// whatever decodes must be canonical.
fn feed(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(doc) = Document::decode(bytes) {
        prop_assert_eq!(doc.reencode(), bytes);
        let routing = Routing::of(&doc);
        prop_assert_eq!(
            Routing::from_bytes(&routing.to_bytes(), "routing"),
            Ok(routing)
        );
    }
    for &kind in Kind::ALL {
        if let Ok(doc) = Document::decode_kind(bytes, kind, "document") {
            prop_assert_eq!(doc.kind(), kind);
        }
    }
    if let Some(header) = bytes.first_chunk::<4>() {
        let _ = Message::check_frame_len(*header);
    }
    if let Ok(message) = Message::from_frame_body(bytes) {
        prop_assert_eq!(message.to_bytes(), bytes);
    }
    if let Ok(again) = canonical_form(bytes, CONFIG.max_message_bytes) {
        prop_assert_eq!(again, bytes);
    }
    let mut responder = Reconciler::new(CONFIG);
    if let Ok(step) = responder.respond(&TREE, bytes) {
        prop_assert!(
            step.reply
                .is_none_or(|r| r.len() <= CONFIG.max_message_bytes)
        );
    }
    let mut initiator = Reconciler::new(CONFIG);
    initiator.initiate(&TREE);
    let _ = initiator.respond(&TREE, bytes);
    if let Some((&code, rest)) = bytes.split_first() {
        let _ = Kind::from_code(code);
        if let Ok(routing) = Routing::from_bytes(rest, "routing") {
            prop_assert_eq!(routing.to_bytes(), rest);
        }
    }
    let text = String::from_utf8_lossy(bytes);
    if let Ok(key) = signing_key_from_pem(&text) {
        let pem = signing_key_to_pem(&key).expect("a key read writes back");
        prop_assert_eq!(signing_key_from_pem(&pem).ok(), Some(key));
    }
    let _ = public_key_from_pem(&text);
    Ok(())
}

/// Valid encodings of everything the decoders read: documents of every
/// kind and the test vectors, messages carrying them, reconciliation
/// messages of a real session, routings, key files.
static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut docs: Vec<Vec<u8>> = common::all_kinds()
        .into_iter()
        .map(Document::into_bytes)
        .collect();
    let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors");
    for entry in std::fs::read_dir(vectors).expect("docs/vectors") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("vector");
        // The invalid vectors are near-valid documents: the mutations
        // below make many more of those.
        if !text.lines().any(|l| l == "valid: true") {
            continue;
        }
        for line in text.lines() {
            if let Some(hex) = line.strip_prefix("document: ") {
                docs.push(hex::decode(hex).expect("hex"));
            }
        }
    }
    let mut seeds = docs.clone();
    for d in &docs {
        seeds.push(
            Message::Submit {
                document: d.clone(),
            }
            .to_bytes(),
        );
        seeds.push(
            Message::Roster {
                document: d.clone(),
            }
            .to_bytes(),
        );
        if let Ok(doc) = Document::decode(d) {
            let routing = Routing::of(&doc).to_bytes();
            seeds.push([&[doc.kind().code()][..], &routing].concat());
        }
    }
    seeds.push(Message::Documents { documents: docs }.to_bytes());
    seeds.push(
        Message::Want {
            ids: vec![DocId([1; 32]), DocId([2; 32])],
        }
        .to_bytes(),
    );
    seeds.push(
        Message::Search {
            request: r#"{"query":"raqamli diplomatiya"}"#.into(),
        }
        .to_bytes(),
    );
    // A session between two different sets: every message of it.
    let mut other = Tree::new();
    for (i, item) in TREE.iter().enumerate() {
        if i % 5 != 0 {
            other.insert(item);
        }
    }
    other.insert(Item::new(common::T0 + 7, DocId([9; 32])));
    let (mut a, mut b) = (Reconciler::new(CONFIG), Reconciler::new(CONFIG));
    let mut msg = a.initiate(&TREE);
    for round in 0..20 {
        seeds.push(msg.clone());
        seeds.push(
            Message::Reconcile {
                payload: msg.clone(),
            }
            .to_bytes(),
        );
        let (side, tree) = if round % 2 == 0 {
            (&mut b, &other)
        } else {
            (&mut a, &*TREE)
        };
        match side.respond(tree, &msg).expect("a real session").reply {
            Some(reply) => msg = reply,
            None => break,
        }
    }
    let key = common::key(20);
    seeds.push(signing_key_to_pem(&key).expect("pem").into_bytes());
    seeds.push(
        chapar_proto::keys::public_key_to_pem(&common::pk(&key))
            .expect("pem")
            .into_bytes(),
    );
    seeds
});

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Append(Vec<u8>),
    Truncate(usize),
    /// A varint-like run of continuation bytes (huge lengths and counts).
    Huge(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, x)| Mutation::Insert(i, x)),
        (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Huge),
    ]
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    let n = b.len().max(1);
    match m {
        Mutation::Flip(i, x) => {
            if let Some(byte) = b.get_mut(i % n) {
                *byte ^= x;
            }
        }
        Mutation::Insert(i, x) => {
            let at = i % (b.len() + 1);
            b.splice(at..at, x.iter().copied());
        }
        Mutation::Delete(i, len) => {
            let at = i % n;
            let end = (at + len).min(b.len());
            if at < end {
                b.drain(at..end);
            }
        }
        Mutation::Append(x) => b.extend_from_slice(x),
        Mutation::Truncate(i) => b.truncate(i % n),
        Mutation::Huge(i) => {
            let at = i % (b.len() + 1);
            b.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        feed(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic_a_decoder(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..5),
    ) {
        let mut bytes = seed.get(&SEEDS).clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        feed(&bytes)?;
    }
}

#[test]
fn every_seed_is_accepted_by_its_decoder() {
    // The mutations start from valid encodings: check that they are, so
    // the property above explores near real inputs.
    let decodes = SEEDS
        .iter()
        .filter(|b| {
            Document::decode(b).is_ok()
                || Message::from_frame_body(b).is_ok()
                || canonical_form(b, MAX_FRAME).is_ok()
                || b.split_first()
                    .is_some_and(|(_, rest)| Routing::from_bytes(rest, "routing").is_ok())
                || signing_key_from_pem(&String::from_utf8_lossy(b)).is_ok()
                || public_key_from_pem(&String::from_utf8_lossy(b)).is_ok()
        })
        .count();
    assert_eq!(decodes, SEEDS.len());
}
