//! The committed test vectors in `docs/vectors/` must match what this build
//! produces byte for byte, so the documentation cannot drift from the code.
//! Regenerate them (after a deliberate format change) with
//! `CHAPAR_BLESS_VECTORS=1 cargo test -p chapar-proto --test vectors`.

mod common;
mod support;

use std::fmt::Write as _;
use std::path::PathBuf;

use chapar_proto::*;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

fn hexs(b: &[u8]) -> String {
    hex::encode(b)
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Decoded fields, one `field.<name>: <value>` line each, so an independent
/// decoder can compare what it parsed.
fn fields(doc: &Document) -> String {
    let mut f: Vec<(&str, String)> = vec![
        ("kind", doc.kind().to_string()),
        ("created_ms", doc.created_ms().to_string()),
    ];
    match doc.body() {
        Body::Cable(c) => {
            f.push(("originator", c.originator.to_string()));
            f.push(("action", join(&c.action)));
            f.push(("info", join(&c.info)));
            f.push(("precedence", c.precedence.to_string()));
            f.push(("classification", c.classification.to_string()));
            f.push((
                "caption",
                c.caption
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ));
            f.push(("tags", join(&c.tags)));
            f.push(("subject", c.subject.clone()));
            f.push(("references", join(&c.references)));
            f.push(("body_utf8_hex", hexs(c.body.as_bytes())));
        }
        Body::WikiRevision(w) => {
            f.push(("page", w.page.to_string()));
            f.push(("parents", join(&w.parents)));
            f.push(("title", w.title.clone()));
            f.push(("classification", w.classification.to_string()));
            f.push(("summary", w.summary.clone()));
            f.push(("body_utf8_hex", hexs(w.body.as_bytes())));
        }
        Body::CableClearance(c) => {
            f.push(("cable", c.cable.to_string()));
            f.push(("originator", c.originator.to_string()));
            f.push(("note", c.note.clone()));
            f.push(("classification", c.marking.classification.to_string()));
            f.push((
                "caption",
                c.marking
                    .caption
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ));
        }
        Body::CableRelease(r) => {
            f.push(("draft_id", r.draft().id().to_string()));
            f.push(("draft_author", r.draft().author().to_hex()));
            f.push(("clearances", join(&r.clearances)));
        }
        Body::Receipt(r) => {
            f.push(("cable", r.cable.to_string()));
            f.push(("originator", r.originator.to_string()));
            f.push(("mission", r.mission.to_string()));
            f.push(("status", r.status.to_string()));
            f.push(("classification", r.marking.classification.to_string()));
            f.push((
                "caption",
                r.marking
                    .caption
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
            ));
        }
        Body::Roster(r) => {
            f.push(("version", r.version.to_string()));
            f.push(("ministry", r.ministry.clone()));
            f.push((
                "missions",
                join(&r.missions.iter().map(|m| m.id.clone()).collect::<Vec<_>>()),
            ));
            f.push((
                "nodes",
                join(&r.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>()),
            ));
            f.push((
                "people",
                join(&r.people.iter().map(|p| p.id.clone()).collect::<Vec<_>>()),
            ));
            f.push(("revocation_count", r.revocations.len().to_string()));
            f.push((
                "history",
                join(
                    &r.history
                        .iter()
                        .map(|h| h.person.clone())
                        .collect::<Vec<_>>(),
                ),
            ));
        }
    }
    f.into_iter()
        .map(|(k, v)| format!("field.{k}: {v}\n"))
        .collect()
}

fn seed_of(doc: &Document) -> u8 {
    (0u8..=255)
        .find(|s| common::pk(&common::key(*s)) == *doc.author())
        .expect("fixture keys are seeded with one repeated byte")
}

fn valid_vector(name: &str, doc: &Document) -> String {
    crafted_vector(name, doc, None)
}

/// A valid vector; `crafted` (a comment) for a signature its author made
/// by hand rather than by RFC 8032 signing: re-signing with the seed does
/// not reproduce it (`deterministic_signature: false`).
fn crafted_vector(name: &str, doc: &Document, crafted: Option<&str>) -> String {
    let b = doc.as_bytes();
    let mut s = String::new();
    writeln!(s, "# chapar wire-format test vector: {name} (valid)").ok();
    writeln!(
        s,
        "# The author's ed25519 secret seed is 32 bytes of 0x{:02x}.",
        seed_of(doc)
    )
    .ok();
    if let Some(why) = crafted {
        writeln!(s, "# {why}").ok();
    }
    writeln!(s, "valid: true").ok();
    if crafted.is_some() {
        writeln!(s, "deterministic_signature: false").ok();
    }
    writeln!(s, "author_seed: {}", hexs(&[seed_of(doc); 32])).ok();
    writeln!(s, "author_public_key: {}", doc.author().to_hex()).ok();
    writeln!(s, "document: {}", hexs(b)).ok();
    writeln!(s, "signed_message: {}", hexs(&doc.signed_message())).ok();
    writeln!(s, "signature: {}", hexs(&b[b.len() - 64..])).ok();
    writeln!(s, "doc_id: {}", doc.id()).ok();
    s + &fields(doc)
}

fn invalid_vector(name: &str, why: &str, bytes: &[u8], expect: &str) -> String {
    format!(
        "# chapar wire-format test vector: {name} (must be rejected)\n# {why}\nvalid: false\ndocument: {}\nexpect: {expect}\n",
        hexs(bytes)
    )
}

fn expected() -> Vec<(String, String)> {
    let docs = common::all_kinds();
    let names = [
        "roster",
        "wiki-revision",
        "cable",
        "cable-clearance",
        "cable-release",
        "receipt",
    ];
    let mut out: Vec<(String, String)> = names
        .iter()
        .zip(&docs)
        .map(|(n, d)| (format!("{n}.vec"), valid_vector(n, d)))
        .collect();

    // A roster in which two people's standing changed: their earlier
    // terms travel with it.
    let mut with_history = common::roster(4);
    with_history
        .change_person(&common::id("dilnoza"), common::T0 + 50, |p| {
            p.clearance = Classification::Confidential
        })
        .expect("change");
    with_history
        .change_person(&common::id("aziza"), common::T0 + 60, |p| {
            p.signing_key = common::pk(&common::key(30))
        })
        .expect("change");
    out.push((
        "roster-with-history.vec".into(),
        valid_vector(
            "roster with history",
            &Document::sign(&common::root(), common::T0 + 60, Body::Roster(with_history))
                .expect("sign"),
        ),
    ));
    // Envelope version 1, still read: a clearance without a marking.
    let mut v1_body = chapar_proto::codec::Writer::default();
    docs[2].id().encode(&mut v1_body);
    common::id("emb-tokyo").encode(&mut v1_body);
    v1_body.str("cleared before version 2");
    out.push((
        "clearance-version-1.vec".into(),
        valid_vector(
            "clearance of envelope version 1",
            &common::version_1(
                &common::key(21),
                Kind::CableClearance,
                &v1_body.into_bytes(),
            ),
        ),
    ));
    let author = common::key(seed_of(&docs[2]));
    out.push((
        "torsion-r.vec".into(),
        crafted_vector(
            "torsion in R",
            &support::with_torsion_in_r(&docs[2], &author, 1),
            Some(
                "Signed by the author with R = [r]B + T, T of order 8: the cofactored equation holds, the cofactorless one does not. Valid under chapar's rule (ZIP-215).",
            ),
        ),
    ));
    out.push((
        "small-order-r.vec".into(),
        crafted_vector(
            "small-order R",
            &support::with_small_order_r(&docs[2], &author, 2),
            Some(
                "Signed by the author with R a point of order 4 and S = k·a: valid under chapar's rule (ZIP-215), refused by strict verification.",
            ),
        ),
    ));
    let cable = docs[2].as_bytes();
    let mut nonmin = cable.to_vec();
    // created is at offset 38; re-encode its first group with a needless
    // continuation: append 0x00 after setting the high bit of the last byte.
    let created_len = {
        let mut n = 0;
        while nonmin[38 + n] & 0x80 != 0 {
            n += 1;
        }
        n + 1
    };
    nonmin[38 + created_len - 1] |= 0x80;
    nonmin.insert(38 + created_len, 0x00);
    out.push((
        "invalid-non-minimal-varint.vec".into(),
        invalid_vector(
            "non-minimal varint",
            "The created time is padded with a needless zero group.",
            &nonmin,
            "decode error: non-minimal integer",
        ),
    ));
    let mut trailing = cable.to_vec();
    trailing.push(0);
    out.push((
        "invalid-trailing-byte.vec".into(),
        invalid_vector(
            "trailing byte",
            "One extra byte after the signature.",
            &trailing,
            "decode error: trailing bytes",
        ),
    ));
    let mut version = cable.to_vec();
    version[4] = 3;
    out.push((
        "invalid-unknown-version.vec".into(),
        invalid_vector(
            "unknown version",
            "Format version byte is 3.",
            &version,
            "decode error: unsupported version",
        ),
    ));
    let mut badsig = cable.to_vec();
    let n = badsig.len();
    badsig[n - 40] ^= 0x01;
    out.push((
        "invalid-bad-signature.vec".into(),
        invalid_vector(
            "bad signature",
            "One bit of the signature's S half flipped; decodes, must not verify.",
            &badsig,
            "signature error: does not verify",
        ),
    ));
    let mut high_s = cable.to_vec();
    // S + L: the same scalar, a second encoding of it.
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let v = u16::from(high_s[n - 32 + i]) + u16::from(*l) + carry;
        high_s[n - 32 + i] = v as u8;
        carry = v >> 8;
    }
    out.push((
        "invalid-non-canonical-s.vec".into(),
        invalid_vector(
            "non-canonical S",
            "S replaced by S + L, the same scalar mod L: a second signature for the same document, refused.",
            &high_s,
            "signature error: non-canonical S",
        ),
    ));
    let mut weak = cable.to_vec();
    weak[6..38].copy_from_slice(&{
        let mut k = [0u8; 32];
        k[0] = 1;
        k
    });
    weak[n - 64..].copy_from_slice(&{
        let mut s = [0u8; 64];
        s[0] = 1;
        s
    });
    out.push((
        "invalid-weak-key.vec".into(),
        invalid_vector(
            "weak key",
            "Author is the identity point, R the identity, S zero: lax verification accepts this for any message.",
            &weak,
            "signature error: weak key",
        ),
    ));
    out
}

/// L, the order of the prime-order subgroup, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn committed_vectors_match_this_build() {
    let dir = vectors_dir();
    let bless = std::env::var_os("CHAPAR_BLESS_VECTORS").is_some();
    for (name, content) in expected() {
        let path = dir.join(&name);
        if bless {
            std::fs::create_dir_all(&dir).expect("create docs/vectors");
            std::fs::write(&path, &content).expect("write vector");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run CHAPAR_BLESS_VECTORS=1 cargo test -p chapar-proto --test vectors",
                path.display()
            )
        });
        assert_eq!(
            committed,
            content,
            "{} differs from this build's encoding",
            path.display()
        );
    }
}

#[test]
fn invalid_vectors_are_rejected_as_documented() {
    for (name, content) in expected() {
        let doc_hex = content
            .lines()
            .find_map(|l| l.strip_prefix("document: "))
            .expect("document line");
        let bytes = hex::decode(doc_hex).expect("hex");
        let expect = content.lines().find_map(|l| l.strip_prefix("expect: "));
        let result = Document::decode(&bytes).map(|d| d.verify());
        match expect {
            None => assert_eq!(result, Ok(Ok(())), "{name}"),
            Some(e) if e.starts_with("decode error") => {
                assert!(result.is_err(), "{name}: {result:?}")
            }
            Some(e) => assert!(matches!(result, Ok(Err(_))), "{name} ({e}): {result:?}"),
        }
    }
}
