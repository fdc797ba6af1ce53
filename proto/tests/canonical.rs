//! Canonical encoding: round trips, and refusal of every non-canonical form.

mod common;

use chapar_proto::codec::Writer;
use chapar_proto::document::{FORMAT_VERSION, MAX_DOCUMENT};
use chapar_proto::*;
use proptest::prelude::*;

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

fn id_strategy() -> impl Strategy<Value = Id> {
    "[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?".prop_map(|s| Id::new(s).expect("valid id"))
}

fn tag_strategy() -> impl Strategy<Value = Tag> {
    "[A-Z0-9_]{1,8}".prop_map(|s| Tag::new(s).expect("valid tag"))
}

fn classification() -> impl Strategy<Value = Classification> {
    prop::sample::select(Classification::ALL.to_vec())
}

fn cable_strategy() -> impl Strategy<Value = Cable> {
    (
        id_strategy(),
        prop::collection::vec(id_strategy(), 1..5),
        prop::collection::vec(id_strategy(), 0..5),
        prop::sample::select(Precedence::ALL.to_vec()),
        classification(),
        prop::option::of("[A-Z]{3,8}"),
        prop::collection::vec(tag_strategy(), 0..6),
        "\\PC{1,80}",
        prop::collection::vec(any::<[u8; 32]>(), 0..4),
        "\\PC{0,400}",
    )
        .prop_filter_map(
            "subject must not be blank",
            |(
                originator,
                action,
                info,
                precedence,
                classification,
                caption,
                tags,
                subject,
                refs,
                body,
            )| {
                let action = sorted(action);
                let info: Vec<Id> = sorted(info)
                    .into_iter()
                    .filter(|m| action.binary_search(m).is_err())
                    .collect();
                let cable = Cable {
                    originator,
                    action,
                    info,
                    precedence,
                    classification,
                    caption: caption.map(|c| Caption::new(c).expect("caption")),
                    tags: sorted(tags),
                    subject,
                    references: sorted(refs).into_iter().map(DocId).collect(),
                    body,
                };
                cable.validate().ok().map(|_| cable)
            },
        )
}

fn wiki_strategy() -> impl Strategy<Value = WikiRevision> {
    (
        any::<[u8; 16]>(),
        prop::collection::vec(any::<[u8; 32]>(), 0..4),
        "\\PC{1,60}",
        classification(),
        "\\PC{0,500}",
        "\\PC{0,60}",
    )
        .prop_filter_map(
            "title must not be blank",
            |(page, parents, title, classification, body, summary)| {
                let w = WikiRevision {
                    page: PageId(page),
                    parents: sorted(parents).into_iter().map(DocId).collect(),
                    title,
                    classification,
                    caption: None,
                    body,
                    summary,
                };
                w.validate().ok().map(|_| w)
            },
        )
}

fn marking() -> impl Strategy<Value = Marking> {
    (
        classification(),
        prop::option::of(prop::sample::select(vec!["NODIS", "EXDIS", "LIMDIS"])),
    )
        .prop_map(|(classification, caption)| Marking {
            classification,
            caption: caption.map(|c| Caption::new(c).expect("caption")),
        })
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        cable_strategy().prop_map(Body::Cable),
        wiki_strategy().prop_map(Body::WikiRevision),
        (any::<[u8; 32]>(), id_strategy(), "\\PC{0,100}", marking()).prop_map(
            |(c, originator, note, marking)| {
                Body::CableClearance(CableClearance {
                    cable: DocId(c),
                    originator,
                    note,
                    marking,
                })
            }
        ),
        (
            cable_strategy(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<[u8; 32]>(), 0..5)
        )
            .prop_map(|(cable, seed, cl)| {
                let key = chapar_proto::keys::signing_key_from_seed(seed);
                let draft = Document::sign(&key, 7, Body::Cable(cable)).expect("sign draft");
                Body::CableRelease(
                    CableRelease::new(draft, sorted(cl).into_iter().map(DocId).collect())
                        .expect("release"),
                )
            }),
        (
            any::<[u8; 32]>(),
            id_strategy(),
            id_strategy(),
            prop::sample::select(ReceiptStatus::ALL.to_vec()),
            marking()
        )
            .prop_map(
                |(c, originator, mission, status, marking)| Body::Receipt(Receipt {
                    cable: DocId(c),
                    originator,
                    mission,
                    status,
                    marking
                })
            ),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Append(Vec<u8>),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Delete),
        prop::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let n = b.len();
    match m {
        Mutation::Flip(i, x) => b[i % n] ^= x,
        Mutation::Insert(i, x) => b.insert(i % (n + 1), *x),
        Mutation::Delete(i) => {
            b.remove(i % n);
        }
        Mutation::Append(extra) => b.extend_from_slice(extra),
        Mutation::Truncate(i) => b.truncate(i % n),
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sign_decode_reencode_roundtrip(body in body_strategy(), created in any::<u64>(), seed in any::<[u8; 32]>()) {
        let key = chapar_proto::keys::signing_key_from_seed(seed);
        let doc = Document::sign(&key, created, body.clone()).expect("sign");
        let decoded = Document::decode(doc.as_bytes()).expect("decode");
        prop_assert_eq!(&decoded, &doc);
        prop_assert_eq!(decoded.body(), &body);
        prop_assert_eq!(decoded.reencode(), doc.as_bytes().to_vec());
        prop_assert!(decoded.verify().is_ok());
    }

    /// Whatever bytes decode, re-encode to exactly themselves: there is no
    /// second encoding of any document.
    #[test]
    fn whatever_decodes_is_canonical(body in body_strategy(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let doc = Document::sign(&common::key(20), common::T0, body).expect("sign");
        let mut b = doc.as_bytes().to_vec();
        for m in &mutations {
            if b.is_empty() { break; }
            b = apply(&b, m);
        }
        if let Ok(d) = Document::decode(&b) {
            prop_assert_eq!(d.reencode(), b.clone());
            if b != doc.as_bytes() {
                prop_assert!(d.verify().is_err(), "a mutated document verified");
            }
        }
    }
}

/// Offset of the `created` varint in an envelope.
const CREATED_AT: usize = 4 + 1 + 1 + 32;

#[test]
fn non_minimal_integer_is_rejected() {
    let doc = Document::sign(&common::key(20), 5, Body::Cable(common::cable())).expect("sign");
    let mut b = doc.as_bytes().to_vec();
    assert_eq!(b[CREATED_AT], 5);
    // 5 as a two-byte varint: 0x85 0x00.
    b[CREATED_AT] = 0x85;
    b.insert(CREATED_AT + 1, 0x00);
    assert!(matches!(
        Document::decode(&b),
        Err(DecodeError::NonMinimalInteger {
            field: "created time"
        })
    ));
}

#[test]
fn trailing_bytes_are_rejected() {
    let doc = &common::all_kinds()[2];
    let mut b = doc.as_bytes().to_vec();
    b.push(0);
    assert!(matches!(
        Document::decode(&b),
        Err(DecodeError::TrailingBytes {
            field: "document",
            count: 1
        })
    ));
}

#[test]
fn trailing_bytes_inside_the_body_are_rejected() {
    // A body with one extra byte inside its length prefix, re-signed so that
    // only the canonical check can catch it.
    let key = common::key(20);
    let body = Body::CableClearance(CableClearance {
        cable: DocId([1; 32]),
        originator: Id::new("mfa").expect("id"),
        note: "x".into(),
        marking: Marking {
            classification: Classification::Secret,
            caption: None,
        },
    });
    let mut body_bytes = body.to_bytes();
    body_bytes.push(0);
    let mut w = Writer::default();
    w.fixed(b"CHPR");
    w.u8(FORMAT_VERSION);
    w.u8(Kind::CableClearance.code());
    w.fixed(&key.verifying_key().to_bytes());
    w.varint(1);
    w.bytes(&body_bytes);
    w.fixed(&[0u8; 64]);
    assert!(matches!(
        Document::decode(&w.into_bytes()),
        Err(DecodeError::TrailingBytes {
            field: "clearance body",
            count: 1
        })
    ));
}

#[test]
fn unknown_version_and_kind_are_rejected() {
    let doc = &common::all_kinds()[2];
    for v in [0u8, 3, 255] {
        let mut b = doc.as_bytes().to_vec();
        b[4] = v;
        assert_eq!(
            Document::decode(&b),
            Err(DecodeError::UnsupportedVersion(v))
        );
    }
    let mut b = doc.as_bytes().to_vec();
    b[5] = 99;
    assert!(matches!(
        Document::decode(&b),
        Err(DecodeError::UnknownCode {
            field: "document kind",
            code: 99
        })
    ));
    let mut b = doc.as_bytes().to_vec();
    b[0] = b'X';
    assert_eq!(Document::decode(&b), Err(DecodeError::BadMagic));
}

#[test]
fn oversize_fields_are_refused_on_both_sides() {
    let long_subject = Cable {
        subject: "x".repeat(cable::MAX_SUBJECT + 1),
        ..common::cable()
    };
    assert!(matches!(
        Document::sign(&common::key(20), 1, Body::Cable(long_subject)),
        Err(SignError::Invalid(DecodeError::TooLong {
            field: "cable subject",
            ..
        }))
    ));
    // A decoder facing a length prefix over the limit stops before reading.
    let mut w = Writer::default();
    w.fixed(&[9; 32]);
    w.str("mfa");
    w.varint(cable::MAX_NOTE as u64 + 1);
    let r = CableClearance::from_bytes(&w.into_bytes(), "clearance");
    assert!(matches!(
        r,
        Err(DecodeError::TooLong {
            field: "clearance note",
            ..
        })
    ));
    assert!(matches!(
        Document::decode(&vec![0u8; MAX_DOCUMENT + 1]),
        Err(DecodeError::TooLong {
            field: "document",
            ..
        })
    ));
}

#[test]
fn unsorted_or_overlapping_sets_are_refused() {
    let mut c = common::cable();
    c.tags.reverse();
    assert!(Document::sign(&common::key(20), 1, Body::Cable(c)).is_err());
    let mut c = common::cable();
    c.info = c.action.clone();
    assert!(Document::sign(&common::key(20), 1, Body::Cable(c)).is_err());
    let mut c = common::cable();
    c.action.clear();
    assert!(Document::sign(&common::key(20), 1, Body::Cable(c)).is_err());
}

#[test]
fn ids_are_sha256_of_the_envelope() {
    use sha2::Digest;
    for d in common::all_kinds() {
        let h: [u8; 32] = sha2::Sha256::digest(d.as_bytes()).into();
        assert_eq!(d.id(), DocId(h));
    }
}
