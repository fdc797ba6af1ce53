//! Fixtures for the search tests: a small ministry (roster and keys) and
//! signed wiki pages and cables, with a fixed seed.
#![allow(dead_code)]

use chapar_proto::keys::signing_key_from_seed;
use chapar_proto::*;
use chapar_search::SearchIndex;
use ed25519_dalek::SigningKey;

pub const T0: u64 = 1_763_000_000_000;

pub fn key(n: u8) -> SigningKey {
    signing_key_from_seed([n; 32])
}

pub fn id(s: &str) -> Id {
    Id::new(s).expect("valid id")
}

/// Missions of the fixture ministry.
pub const MISSIONS: [&str; 3] = ["mfa", "emb-tokyo", "emb-berlin"];

/// People: (id, mission, clearance, captions, seed). Every one may write
/// (editor, drafter, releaser) so documents can be signed by anyone.
pub const PEOPLE: [(&str, &str, Classification, &[&str], u8); 6] = [
    (
        "dilnoza",
        "mfa",
        Classification::TopSecret,
        &["NODIS", "EXDIS"],
        20,
    ),
    ("bobur", "mfa", Classification::Secret, &[], 21),
    ("aziza", "emb-tokyo", Classification::Secret, &["EXDIS"], 22),
    ("erkin", "emb-tokyo", Classification::Restricted, &[], 23),
    (
        "fumiko",
        "emb-berlin",
        Classification::Confidential,
        &[],
        24,
    ),
    (
        "gulnora",
        "emb-berlin",
        Classification::Unclassified,
        &[],
        25,
    ),
];

pub fn trust() -> Trust {
    let mut r = Roster::new("Ministry of Foreign Affairs", [0xca; 32]);
    r.version = 1;
    for (mid, country, kind) in [
        ("mfa", "UZ", MissionKind::Ministry),
        ("emb-tokyo", "JP", MissionKind::Embassy),
        ("emb-berlin", "DE", MissionKind::Embassy),
    ] {
        r.add_mission(Mission {
            id: id(mid),
            name: format!("Mission {mid}"),
            country: Country::new(country).expect("country"),
            kind,
        })
        .expect("mission");
    }
    for (pid, mission, clearance, captions, seed) in PEOPLE {
        r.add_person(Person {
            id: id(pid),
            name: pid.to_uppercase(),
            mission: id(mission),
            signing_key: PublicKey(key(seed).verifying_key().to_bytes()),
            clearance,
            captions: captions
                .iter()
                .map(|c| Caption::new(*c).expect("caption"))
                .collect(),
            roles: Roles::of(&[Role::Reader, Role::Editor, Role::Drafter, Role::Releaser]),
        })
        .expect("person");
    }
    let root = key(1);
    Trust::new(PublicKey(root.verifying_key().to_bytes()), r)
}

pub fn person(trust: &Trust, pid: &str) -> Person {
    trust.roster().person(&id(pid)).expect("person").clone()
}

/// The signing key of the first person of `mission`.
pub fn writer_of(mission: &str) -> SigningKey {
    let seed = PEOPLE
        .iter()
        .find(|p| p.1 == mission)
        .map(|p| p.4)
        .expect("mission has people");
    key(seed)
}

#[allow(clippy::too_many_arguments)] // a fixture: every field spelled out at the call
pub fn wiki(
    author: &SigningKey,
    created: u64,
    page: [u8; 16],
    parents: Vec<DocId>,
    title: &str,
    body: &str,
    classification: Classification,
    caption: Option<&str>,
) -> Document {
    Document::sign(
        author,
        created,
        Body::WikiRevision(WikiRevision {
            page: PageId(page),
            parents,
            title: title.into(),
            classification,
            caption: caption.map(|c| Caption::new(c).expect("caption")),
            body: body.into(),
            summary: format!("edit at {created}"),
        }),
    )
    .expect("sign wiki")
}

pub struct CableSpec<'a> {
    pub originator: &'a str,
    pub action: Vec<&'a str>,
    pub info: Vec<&'a str>,
    pub classification: Classification,
    pub caption: Option<&'a str>,
    pub tags: Vec<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
}

/// A draft and its release (signed by the originating mission's writer).
pub fn cable(spec: &CableSpec<'_>, created: u64) -> (Document, Document) {
    let ids = |v: &[&str]| {
        let mut out: Vec<Id> = v.iter().map(|m| id(m)).collect();
        out.sort();
        out
    };
    let mut tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|t| Tag::new(*t).expect("tag"))
        .collect();
    tags.sort();
    let c = Cable {
        originator: id(spec.originator),
        action: ids(&spec.action),
        info: ids(&spec.info),
        precedence: Precedence::Routine,
        classification: spec.classification,
        caption: spec.caption.map(|c| Caption::new(c).expect("caption")),
        tags,
        subject: spec.subject.into(),
        references: vec![],
        body: spec.body.into(),
    };
    let w = writer_of(spec.originator);
    let draft = Document::sign(&w, created, Body::Cable(c)).expect("sign draft");
    let release = Document::sign(
        &w,
        created + 1,
        Body::CableRelease(CableRelease::new(draft.clone(), vec![]).expect("release")),
    )
    .expect("sign release");
    (draft, release)
}

/// A small deterministic generator (xorshift64*), so fixtures need no
/// extra crate and are the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// Opens a fresh index in a temp dir.
pub fn fresh_index() -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (index, _) = SearchIndex::open(&dir.path().join("search")).expect("open index");
    (dir, index)
}

/// Adds `docs` and commits.
pub fn index_all(index: &SearchIndex, trust: &Trust, docs: &[Document]) {
    for d in docs {
        index.add(d, trust).expect("add");
    }
    index.commit(b"test").expect("commit");
}

/// A file of the repository's `corpus/uzbek` directory.
pub fn uzbek_corpus(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus/uzbek")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e} (see corpus/README.md)", p.display()))
}

/// First revision of page `[n; 16]` by the ministry's writer, so classified.
pub fn classified_page(n: u8, title: &str, body: &str, c: Classification) -> Document {
    wiki(
        &writer_of("mfa"),
        T0 + u64::from(n),
        [n; 16],
        vec![],
        title,
        body,
        c,
        None,
    )
}

/// An UNCLASSIFIED [`classified_page`].
pub fn page(n: u8, title: &str, body: &str) -> Document {
    classified_page(n, title, body, Classification::Unclassified)
}

/// Up to 100 hits of `q` for the person `who` of the fixture roster.
pub fn search_as(index: &SearchIndex, who: &str, q: &str) -> chapar_search::SearchResponse {
    let req = chapar_search::SearchRequest {
        query: q.into(),
        limit: 100,
        ..chapar_search::SearchRequest::default()
    };
    index.search(&req, &person(&trust(), who)).expect("search")
}
