//! Fixed-seed fixtures shared by the proto tests: a small ministry with a
//! hub, two embassies and people with different roles.
#![allow(dead_code)]

use chapar_proto::keys::signing_key_from_seed;
use chapar_proto::*;
use ed25519_dalek::SigningKey;

pub const T0: u64 = 1_763_000_000_000;

pub fn key(n: u8) -> SigningKey {
    signing_key_from_seed([n; 32])
}

pub fn pk(k: &SigningKey) -> PublicKey {
    PublicKey(k.verifying_key().to_bytes())
}

pub fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

pub fn root() -> SigningKey {
    key(1)
}

/// Signing keys: 10 hub node, 11 embassy node, 20 drafter (emb-tokyo),
/// 21 clearer+releaser (mfa), 22 editor with SECRET + NODIS (mfa),
/// 23 reader only (emb-tokyo), 24 releaser (emb-tokyo).
pub fn roster(version: u64) -> Roster {
    let mut r = Roster::new("Ministry of Foreign Affairs", [0xca; 32]);
    r.version = version;
    for (mid, name, country, kind) in [
        ("mfa", "Ministry HQ", "UZ", MissionKind::Ministry),
        ("emb-tokyo", "Embassy in Tokyo", "JP", MissionKind::Embassy),
        (
            "emb-berlin",
            "Embassy in Berlin",
            "DE",
            MissionKind::Embassy,
        ),
    ] {
        r.add_mission(Mission {
            id: id(mid),
            name: name.into(),
            country: Country::new(country).expect("country"),
            kind,
        })
        .expect("mission");
    }
    r.add_node(Node {
        id: id("hub"),
        mission: id("mfa"),
        role: NodeRole::Hub,
        accreditation: Classification::TopSecret,
        signing_key: pk(&key(10)),
        endpoint: Some("127.0.0.1:7400".into()),
    })
    .expect("hub");
    r.add_node(Node {
        id: id("tokyo-1"),
        mission: id("emb-tokyo"),
        role: NodeRole::Mission,
        accreditation: Classification::Secret,
        signing_key: pk(&key(11)),
        endpoint: None,
    })
    .expect("node");
    let people = [
        (
            "aziza",
            "Aziza Karimova",
            "emb-tokyo",
            20,
            Classification::Secret,
            vec![],
            vec![Role::Reader, Role::Drafter],
        ),
        (
            "bobur",
            "Bobur Toshmatov",
            "mfa",
            21,
            Classification::Secret,
            vec![],
            vec![Role::Reader, Role::Clearer, Role::Releaser],
        ),
        (
            "dilnoza",
            "Dilnoza Yusupova",
            "mfa",
            22,
            Classification::Secret,
            vec!["NODIS"],
            vec![Role::Reader, Role::Editor],
        ),
        (
            "erkin",
            "Erkin Rahimov",
            "emb-tokyo",
            23,
            Classification::Restricted,
            vec![],
            vec![Role::Reader],
        ),
        (
            "fumiko",
            "Fumiko Tanaka",
            "emb-tokyo",
            24,
            Classification::Secret,
            vec![],
            vec![Role::Reader, Role::Releaser],
        ),
    ];
    for (pid, name, mission, seed, clearance, captions, roles) in people {
        r.add_person(Person {
            id: id(pid),
            name: name.into(),
            mission: id(mission),
            signing_key: pk(&key(seed)),
            clearance,
            captions: captions
                .into_iter()
                .map(|c| Caption::new(c).expect("caption"))
                .collect(),
            roles: Roles::of(&roles),
        })
        .expect("person");
    }
    r.revoke(Revocation {
        subject: Subject::Certificate(7),
        effective_ms: T0,
        reason: "laptop lost".into(),
    })
    .expect("revoke certificate");
    r
}

pub fn roster_doc(version: u64) -> Document {
    Document::sign(&root(), T0 + version, Body::Roster(roster(version))).expect("sign roster")
}

pub fn cable() -> Cable {
    Cable {
        originator: id("emb-tokyo"),
        action: vec![id("mfa")],
        info: vec![id("emb-berlin")],
        precedence: Precedence::Immediate,
        classification: Classification::Confidential,
        caption: None,
        tags: vec![Tag::new("PREL").expect("tag"), Tag::new("UZ").expect("tag")],
        subject: "Raqamli diplomatiya: meeting with the foreign ministry".into(),
        references: vec![],
        body: "1. (C) Summary: O‘zbekiston va Yaponiya raqamli diplomatiya bo‘yicha hamkorlik qiladi. Посольство сообщает.".into(),
    }
}

pub fn wiki() -> WikiRevision {
    WikiRevision {
        page: PageId([0x42; 16]),
        parents: vec![],
        title: "Raqamli diplomatiya".into(),
        classification: Classification::Unclassified,
        caption: None,
        body: "# Raqamli diplomatiya\n\nSee [[Consular handbook]].".into(),
        summary: "new page".into(),
    }
}

/// One signed document of every kind (roster first).
pub fn all_kinds() -> Vec<Document> {
    let c = Document::sign(&key(20), T0 + 10, Body::Cable(cable())).expect("cable");
    let cl = Document::sign(
        &key(21),
        T0 + 11,
        Body::CableClearance(CableClearance {
            cable: c.id(),
            originator: id("emb-tokyo"),
            note: "cleared".into(),
            marking: cable().marking(),
        }),
    )
    .expect("clearance");
    // Aziza (drafter) cannot release; the releaser must belong to the
    // originating mission: Fumiko at emb-tokyo.
    let rel = Document::sign(
        &key(24),
        T0 + 12,
        Body::CableRelease(CableRelease::new(c.clone(), vec![cl.id()]).expect("release")),
    )
    .expect("release");
    // The hub node belongs to mfa, an action addressee.
    let rc = Document::sign(
        &key(10),
        T0 + 13,
        Body::Receipt(Receipt {
            cable: c.id(),
            originator: id("emb-tokyo"),
            mission: id("mfa"),
            status: ReceiptStatus::Delivered,
            marking: cable().marking(),
        }),
    )
    .expect("receipt");
    let w = Document::sign(&key(22), T0 + 14, Body::WikiRevision(wiki())).expect("wiki");
    vec![roster_doc(1), w, c, cl, rel, rc]
}

/// A document of envelope version 1, signed by `key`: what a node may
/// still hold from before version 2.
pub fn version_1(key: &ed25519_dalek::SigningKey, kind: Kind, body: &[u8]) -> Document {
    use ed25519_dalek::Signer;
    use sha2::{Digest, Sha256};
    let mut w = chapar_proto::codec::Writer::default();
    w.fixed(b"CHPR");
    w.u8(1);
    w.u8(kind.code());
    w.fixed(&key.verifying_key().to_bytes());
    w.varint(T0);
    w.bytes(body);
    let mut bytes = w.into_bytes();
    let mut msg = chapar_proto::document::SIGNING_CONTEXT.to_vec();
    msg.extend_from_slice(&Sha256::digest(&bytes));
    bytes.extend_from_slice(&key.sign(&msg).to_bytes());
    Document::decode(&bytes).expect("a version 1 document")
}
