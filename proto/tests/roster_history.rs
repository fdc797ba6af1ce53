//! A person's standing changes over time (clearance lowered, role removed,
//! another mission, a new key); what they signed is judged by their
//! standing when they signed it, so a node that receives an old document
//! late judges it as a node that received it early. A newer roster may
//! not rewrite the past.

mod common;

use chapar_proto::roster::{accept_update, affected_since, check_succession};
use chapar_proto::*;
use common::{T0, id, key, pk, root};

const CHANGE: u64 = T0 + 1_000_000;

fn sign_at(seed: u8, at: u64, body: Body) -> Document {
    Document::sign(&key(seed), at, body).expect("sign")
}

fn secret_page() -> Body {
    Body::WikiRevision(WikiRevision {
        classification: Classification::Secret,
        ..common::wiki()
    })
}

fn changed(f: impl FnOnce(&mut Person)) -> Roster {
    let mut r = common::roster(2);
    r.change_person(&id("dilnoza"), CHANGE, f).expect("change");
    r
}

fn check(r: &Roster, doc: &Document) -> Result<(), PolicyError> {
    Trust::new(pk(&root()), r.clone()).check(doc).map(|_| ())
}

#[test]
fn a_lowered_clearance_keeps_what_was_signed_before() {
    let r = changed(|p| p.clearance = Classification::Restricted);
    let before = sign_at(22, CHANGE - 1, secret_page());
    let after = sign_at(22, CHANGE, secret_page());
    assert_eq!(check(&r, &before), Ok(()));
    assert!(matches!(
        check(&r, &after),
        Err(PolicyError::AboveClearance { .. })
    ));
    // The same verdicts as the roster before the change, for the past.
    assert_eq!(check(&common::roster(1), &before), Ok(()));
}

#[test]
fn a_removed_role_and_a_new_mission_apply_from_their_time() {
    // dilnoza (mfa, editor) loses the editor role.
    let r = changed(|p| p.roles = Roles::of(&[Role::Reader]));
    assert_eq!(check(&r, &sign_at(22, CHANGE - 1, secret_page())), Ok(()));
    assert!(matches!(
        check(&r, &sign_at(22, CHANGE + 5, secret_page())),
        Err(PolicyError::MissingRole { .. })
    ));
    // aziza (drafter) moves from emb-tokyo to emb-berlin.
    let mut r = common::roster(2);
    r.change_person(&id("aziza"), CHANGE, |p| p.mission = id("emb-berlin"))
        .expect("move");
    let tokyo = Body::Cable(common::cable());
    let berlin = Body::Cable(Cable {
        originator: id("emb-berlin"),
        action: vec![id("mfa")],
        info: vec![],
        ..common::cable()
    });
    assert_eq!(check(&r, &sign_at(20, CHANGE - 1, tokyo.clone())), Ok(()));
    assert!(matches!(
        check(&r, &sign_at(20, CHANGE, tokyo)),
        Err(PolicyError::WrongMission { .. })
    ));
    assert_eq!(check(&r, &sign_at(20, CHANGE, berlin.clone())), Ok(()));
    assert!(matches!(
        check(&r, &sign_at(20, CHANGE - 1, berlin)),
        Err(PolicyError::WrongMission { .. })
    ));
}

#[test]
fn a_rotated_key_signs_only_in_its_own_time() {
    let new_key = pk(&key(77));
    let r = changed(|p| p.signing_key = new_key);
    let wiki = || Body::WikiRevision(common::wiki());
    assert_eq!(check(&r, &sign_at(22, CHANGE - 1, wiki())), Ok(()));
    assert_eq!(check(&r, &sign_at(77, CHANGE, wiki())), Ok(()));
    for (seed, at) in [(22, CHANGE), (77, CHANGE - 1)] {
        assert!(
            matches!(
                check(&r, &sign_at(seed, at, wiki())),
                Err(PolicyError::KeyNotInForce { .. })
            ),
            "key {seed} at {at}"
        );
    }
    // The old key cannot go to anyone else.
    let mut r2 = r.clone();
    assert!(matches!(
        r2.change_person(&id("erkin"), CHANGE + 10, |p| p.signing_key = pk(&key(22))),
        Err(RosterError::Duplicate { .. })
    ));
}

#[test]
fn the_history_survives_encoding_and_version_1_rosters_have_none() {
    let mut r = changed(|p| p.clearance = Classification::Restricted);
    r.change_person(&id("dilnoza"), CHANGE + 50, |p| {
        p.roles = Roles::of(&[Role::Reader])
    })
    .expect("second change");
    assert_eq!(r.earlier_terms(&id("dilnoza")).len(), 2);
    let doc = Document::sign(&root(), CHANGE, Body::Roster(r.clone())).expect("sign");
    let back = Document::decode(doc.as_bytes()).expect("decode");
    assert_eq!(back.body(), &Body::Roster(r));
    assert_eq!(back.reencode(), doc.as_bytes());
    // Version 1 had no history: its layout is version 2's without the
    // (here empty) history at the end.
    let plain = common::roster(3);
    let v2 = Body::Roster(plain.clone()).to_bytes();
    assert_eq!(v2.last(), Some(&0), "an empty history");
    let old = common::version_1(&root(), Kind::Roster, &v2[..v2.len() - 1]);
    assert_eq!(old.version(), 1);
    assert_eq!(old.body(), &Body::Roster(plain));
    assert_eq!(old.reencode(), old.as_bytes());
    assert_eq!(old.verify(), Ok(()));
    // A change that does not move the standing (a new display name) keeps
    // no term.
    let mut r = common::roster(2);
    r.change_person(&id("erkin"), CHANGE, |p| p.name = "Erkin R.".into())
        .expect("rename");
    assert!(r.history.is_empty());
    // Terms must move forward in time.
    let mut r = changed(|p| p.clearance = Classification::Restricted);
    assert!(matches!(
        r.change_person(&id("dilnoza"), CHANGE, |p| p.clearance =
            Classification::Secret),
        Err(RosterError::RewritesHistory(_))
    ));
}

#[test]
fn a_newer_roster_may_not_rewrite_the_past() {
    let root_pk = pk(&root());
    let held = common::roster(1);
    let sign =
        |r: &Roster, at: u64| Document::sign(&root(), at, Body::Roster(r.clone())).expect("sign");

    // A proper change, closed at the time the roster is made: accepted.
    let good = changed(|p| p.clearance = Classification::Restricted);
    assert!(accept_update(&root_pk, Some(&held), &sign(&good, CHANGE)).is_ok());
    // The same roster made after the term it closes: a retroactive change.
    assert!(matches!(
        accept_update(&root_pk, Some(&held), &sign(&good, CHANGE + 1)),
        Err(RosterError::RewritesHistory(_))
    ));
    // A standing changed with no term kept.
    let mut silent = common::roster(2);
    silent.people[2].clearance = Classification::Restricted;
    assert!(matches!(
        check_succession(&held, &silent, T0),
        Err(RosterError::RewritesHistory(_))
    ));
    // A person dropped.
    let mut dropped = common::roster(2);
    dropped.people.remove(4);
    assert!(matches!(
        check_succession(&held, &dropped, T0),
        Err(RosterError::RewritesHistory(_))
    ));
    // An earlier term edited after the fact.
    let mut edited = good.clone();
    edited.history[0].earlier[0].clearance = Classification::TopSecret;
    assert!(matches!(
        check_succession(
            &good,
            &{
                let mut e = edited.clone();
                e.version = 3;
                e
            },
            CHANGE
        ),
        Err(RosterError::RewritesHistory(_))
    ));
    // Renames and additions are free.
    let mut renamed = common::roster(2);
    renamed.people[0].name = "Aziza K.".into();
    assert_eq!(check_succession(&held, &renamed, T0), Ok(()));
}

#[test]
fn affected_since_names_the_first_time_a_verdict_can_change() {
    let base = common::roster(1);
    assert_eq!(affected_since(&base, &common::roster(2)), None);
    let closed = changed(|p| p.clearance = Classification::Restricted);
    assert_eq!(affected_since(&base, &closed), Some(CHANGE));
    let mut revoked = common::roster(2);
    revoked
        .revoke(Revocation {
            subject: Subject::Person(id("erkin")),
            effective_ms: CHANGE + 7,
            reason: "left".into(),
        })
        .expect("revoke");
    assert_eq!(affected_since(&base, &revoked), Some(CHANGE + 7));
    // A compromised key: everything it ever signed.
    let mut compromised = revoked.clone();
    compromised.revocations[0].effective_ms = 0;
    assert_eq!(affected_since(&revoked, &compromised), Some(0));
    // A revocation lifted, or pushed later, voids nothing.
    assert_eq!(affected_since(&compromised, &revoked), None);
    assert_eq!(affected_since(&revoked, &base), None);
}

/// The convergence this buys: along a chain of rosters, each a proper
/// successor made at its time, a document created before a roster was
/// made gets the same verdict from it and from every later roster that
/// revokes nothing.
#[test]
fn verdicts_on_the_past_never_change_along_a_chain_of_rosters() {
    let mut chain = vec![(T0, common::roster(1))];
    type Change = Box<dyn Fn(&mut Person)>;
    let changes: Vec<(&str, Change)> = vec![
        (
            "dilnoza",
            Box::new(|p| p.clearance = Classification::Restricted),
        ),
        ("aziza", Box::new(|p| p.mission = id("emb-berlin"))),
        (
            "dilnoza",
            Box::new(|p| p.roles = Roles::of(&[Role::Reader])),
        ),
        ("aziza", Box::new(|p| p.signing_key = pk(&key(78)))),
        (
            "dilnoza",
            Box::new(|p| p.clearance = Classification::TopSecret),
        ),
    ];
    for (i, (who, f)) in changes.iter().enumerate() {
        let at = T0 + 1_000 * (i as u64 + 1);
        let mut r = chain.last().expect("a roster").1.clone();
        r.version += 1;
        r.change_person(&id(who), at, f).expect("change");
        check_succession(&chain.last().expect("a roster").1, &r, at).expect("successor");
        chain.push((at, r));
    }
    let docs: Vec<Document> = (0..30u64)
        .flat_map(|i| {
            let at = T0 + 250 * i;
            [
                sign_at(22, at, secret_page()),
                sign_at(20, at, Body::Cable(common::cable())),
                sign_at(78, at, Body::Cable(common::cable())),
            ]
        })
        .collect();
    for doc in &docs {
        for (k, (made, roster)) in chain.iter().enumerate() {
            if doc.created_ms() >= *made {
                continue;
            }
            let verdict = check(roster, doc).is_ok();
            for (_, later) in &chain[k..] {
                assert_eq!(
                    check(later, doc).is_ok(),
                    verdict,
                    "document at {} judged differently by roster {} and {}",
                    doc.created_ms(),
                    roster.version,
                    later.version
                );
            }
        }
    }
}

#[test]
fn a_document_is_dated_within_the_tolerance_of_the_receiving_clock() {
    use chapar_proto::policy::{CLOCK_TOLERANCE_MS, check_time};
    let now = T0 + 10 * CLOCK_TOLERANCE_MS;
    let at = |created: u64| sign_at(22, created, Body::WikiRevision(common::wiki()));
    for (created, first, replicated) in [
        (now, true, true),
        (now + CLOCK_TOLERANCE_MS, true, true),
        (now + CLOCK_TOLERANCE_MS + 1, false, false),
        (now - CLOCK_TOLERANCE_MS, true, true),
        // Backdated past the tolerance: refused from its author, but old
        // documents replicate (a catch-up brings history).
        (now - CLOCK_TOLERANCE_MS - 1, false, true),
        (T0, false, true),
    ] {
        let d = at(created);
        assert_eq!(
            check_time(&d, now, Arrival::FirstIngest).is_ok(),
            first,
            "first ingest of {created}"
        );
        assert_eq!(
            check_time(&d, now, Arrival::Replication).is_ok(),
            replicated,
            "replication of {created}"
        );
    }
    let err = check_time(&at(now + 2 * CLOCK_TOLERANCE_MS), now, Arrival::Replication)
        .expect_err("from the future");
    assert!(err.to_string().contains("clock"), "{err}");
    // The root's rosters are not bounded.
    let roster = Document::sign(
        &root(),
        now + 100 * CLOCK_TOLERANCE_MS,
        Body::Roster(common::roster(2)),
    )
    .expect("sign");
    assert!(check_time(&roster, now, Arrival::FirstIngest).is_ok());
}

#[test]
fn a_person_submits_only_what_they_signed() {
    let r = changed(|p| p.signing_key = pk(&key(77)));
    let t = Trust::new(pk(&root()), r);
    let page = |seed: u8| sign_at(seed, T0, Body::WikiRevision(common::wiki()));
    assert!(t.check_submitter(&id("dilnoza"), &page(22)).is_ok());
    // Their earlier key is still theirs.
    assert!(t.check_submitter(&id("dilnoza"), &page(77)).is_ok());
    for who in ["bobur", "aziza"] {
        assert!(matches!(
            t.check_submitter(&id(who), &page(22)),
            Err(PolicyError::NotSubmitter { .. })
        ));
    }
    // A node's or an unknown key's document is nobody's to submit.
    assert!(t.check_submitter(&id("dilnoza"), &page(10)).is_err());
    assert!(t.check_submitter(&id("dilnoza"), &page(99)).is_err());
    // Anyone may deliver the root's roster.
    assert!(
        t.check_submitter(&id("erkin"), &common::roster_doc(3))
            .is_ok()
    );
}
