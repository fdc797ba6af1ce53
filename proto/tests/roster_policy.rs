//! Roster acceptance (forgery, downgrade, replay) and the authorization
//! policy (roles, missions, clearance, captions, revocation).

mod common;

use chapar_proto::roster::accept_update;
use chapar_proto::*;
use common::{T0, id, key, pk, root};

fn trust(roster: Roster) -> Trust {
    Trust::new(pk(&root()), roster)
}

#[test]
fn roster_updates_must_be_newer_and_from_the_root() {
    let root_pk = pk(&root());
    let v1 = common::roster_doc(1);
    let v2 = common::roster_doc(2);
    let held = accept_update(&root_pk, None, &v1).expect("first roster");
    assert_eq!(held.version, 1);
    let held = accept_update(&root_pk, Some(&held), &v2).expect("newer roster");
    assert_eq!(held.version, 2);

    // Replay of the same version and downgrade are refused.
    for old in [&v2, &v1] {
        assert!(matches!(
            accept_update(&root_pk, Some(&held), old),
            Err(RosterError::NotNewer { held: 2, .. })
        ));
    }

    // A roster signed by anyone else (here a legitimate person) is forged.
    let forged =
        Document::sign(&key(22), T0, Body::Roster(common::roster(9))).expect("sign forged");
    assert!(matches!(
        accept_update(&root_pk, Some(&held), &forged),
        Err(RosterError::NotSignedByRoot { .. })
    ));

    // A roster claiming the root as author but with a broken signature.
    let mut b = common::roster_doc(3).into_bytes();
    let n = b.len();
    b[n - 1] ^= 1;
    let tampered = Document::decode(&b).expect("still well-formed");
    assert!(matches!(
        accept_update(&root_pk, Some(&held), &tampered),
        Err(RosterError::Signature(VerifyError::BadSignature))
    ));

    // Not a roster at all.
    let cable = &common::all_kinds()[2];
    assert!(matches!(
        accept_update(&root_pk, Some(&held), cable),
        Err(RosterError::NotRoster(Kind::Cable))
    ));
}

#[test]
fn every_sample_document_is_authorized() {
    let t = trust(common::roster(1));
    for d in common::all_kinds() {
        let author = t.check(&d).unwrap_or_else(|e| panic!("{}: {e}", d.kind()));
        match d.kind() {
            Kind::Roster => assert_eq!(author, Author::Root),
            Kind::Receipt => assert!(matches!(author, Author::Node(_))),
            _ => assert!(matches!(author, Author::Person(_))),
        }
    }
}

#[test]
fn roles_missions_clearance_and_captions_are_enforced() {
    let t = trust(common::roster(1));
    let sign = |seed: u8, body: Body| Document::sign(&key(seed), T0, body).expect("sign");

    // A reader may not draft.
    let d = sign(23, Body::Cable(Cable { ..common::cable() }));
    assert!(matches!(
        t.authorize(&d),
        Err(PolicyError::MissingRole {
            role: Role::Drafter,
            ..
        })
    ));
    // A drafter may not draft for another mission.
    let d = sign(
        20,
        Body::Cable(Cable {
            originator: id("emb-berlin"),
            info: vec![],
            ..common::cable()
        }),
    );
    assert!(matches!(
        t.authorize(&d),
        Err(PolicyError::WrongMission { .. })
    ));
    // Nor above their clearance.
    let d = sign(
        20,
        Body::Cable(Cable {
            classification: Classification::TopSecret,
            ..common::cable()
        }),
    );
    assert!(matches!(
        t.authorize(&d),
        Err(PolicyError::AboveClearance { .. })
    ));
    // Nor under a caption they do not hold.
    let d = sign(
        20,
        Body::Cable(Cable {
            caption: Some(Caption::new("NODIS").expect("c")),
            ..common::cable()
        }),
    );
    assert!(matches!(
        t.authorize(&d),
        Err(PolicyError::CaptionNotHeld { .. })
    ));
    // The editor holds NODIS: a NODIS wiki page is fine, a drafter's is not.
    let nodis = WikiRevision {
        caption: Some(Caption::new("NODIS").expect("c")),
        ..common::wiki()
    };
    assert!(
        t.authorize(&sign(22, Body::WikiRevision(nodis.clone())))
            .is_ok()
    );
    assert!(matches!(
        t.authorize(&sign(20, Body::WikiRevision(nodis))),
        Err(PolicyError::MissingRole {
            role: Role::Editor,
            ..
        })
    ));
    // Clearances and releases need their roles.
    let cl = Body::CableClearance(CableClearance {
        cable: DocId([1; 32]),
        originator: id("emb-tokyo"),
        note: String::new(),
        marking: common::cable().marking(),
    });
    assert!(matches!(
        t.authorize(&sign(20, cl.clone())),
        Err(PolicyError::MissingRole {
            role: Role::Clearer,
            ..
        })
    ));
    assert!(t.authorize(&sign(21, cl)).is_ok());
    let draft = sign(20, Body::Cable(common::cable()));
    let rel = Body::CableRelease(CableRelease::new(draft, vec![]).expect("release"));
    assert!(matches!(
        t.authorize(&sign(22, rel.clone())),
        Err(PolicyError::MissingRole {
            role: Role::Releaser,
            ..
        })
    ));
    // The releaser must belong to the originating mission (bobur is at mfa)...
    assert!(matches!(
        t.authorize(&sign(21, rel.clone())),
        Err(PolicyError::WrongMission { .. })
    ));
    // ... and fumiko at emb-tokyo may release it.
    assert!(t.authorize(&sign(24, rel.clone())).is_ok());
    // A release of a draft its author was not allowed to write is refused:
    // erkin (a reader) "drafted" it.
    let bad_draft = sign(23, Body::Cable(common::cable()));
    let bad_rel = Body::CableRelease(CableRelease::new(bad_draft, vec![]).expect("release"));
    assert!(matches!(
        t.authorize(&sign(24, bad_rel)),
        Err(PolicyError::MissingRole {
            role: Role::Drafter,
            ..
        })
    ));
    // A release must embed a cable, nothing else.
    assert!(CableRelease::new(sign(22, Body::WikiRevision(common::wiki())), vec![]).is_err());
    // Nodes sign delivery receipts for their own mission only.
    let rc = |mission: &str, status| {
        Body::Receipt(Receipt {
            cable: DocId([1; 32]),
            originator: id("emb-tokyo"),
            mission: id(mission),
            status,
            marking: common::cable().marking(),
        })
    };
    assert!(
        t.authorize(&sign(11, rc("emb-tokyo", ReceiptStatus::Delivered)))
            .is_ok()
    );
    assert!(matches!(
        t.authorize(&sign(11, rc("mfa", ReceiptStatus::Delivered))),
        Err(PolicyError::WrongMission { .. })
    ));
    assert!(matches!(
        t.authorize(&sign(11, rc("emb-tokyo", ReceiptStatus::Read))),
        Err(PolicyError::NodeNotAllowed { .. })
    ));
    assert!(matches!(
        t.authorize(&sign(11, rel)),
        Err(PolicyError::NodeNotAllowed { .. })
    ));
    // People sign read receipts for their own mission, if cleared for
    // the cable (CONFIDENTIAL): fumiko is, erkin (RESTRICTED) is not.
    assert!(
        t.authorize(&sign(24, rc("emb-tokyo", ReceiptStatus::Read)))
            .is_ok()
    );
    assert!(matches!(
        t.authorize(&sign(23, rc("emb-tokyo", ReceiptStatus::Read))),
        Err(PolicyError::AboveClearance { .. })
    ));
    // A node signs delivery receipts only for cables it may hold.
    let secret_rc = Body::Receipt(Receipt {
        cable: DocId([2; 32]),
        originator: id("mfa"),
        mission: id("emb-tokyo"),
        status: ReceiptStatus::Delivered,
        marking: Marking {
            classification: Classification::TopSecret,
            caption: None,
        },
    });
    assert!(matches!(
        t.authorize(&sign(11, secret_rc)),
        Err(PolicyError::NodeNotAccredited { .. })
    ));
    // The root signs rosters only; nobody else signs rosters.
    assert!(matches!(
        t.authorize(&sign(1, Body::WikiRevision(common::wiki()))),
        Err(PolicyError::RootAuthoredOther(_))
    ));
    assert!(matches!(
        t.authorize(&sign(22, Body::Roster(common::roster(5)))),
        Err(PolicyError::RosterNotFromRoot)
    ));
    // Unknown key.
    assert!(matches!(
        t.authorize(&sign(99, Body::WikiRevision(common::wiki()))),
        Err(PolicyError::UnknownAuthor(_))
    ));
}

#[test]
fn revoked_author_is_rejected_from_the_effective_time() {
    let mut roster = common::roster(2);
    roster
        .revoke(Revocation {
            subject: Subject::Person(id("dilnoza")),
            effective_ms: T0 + 1_000,
            reason: "left the service".into(),
        })
        .expect("revoke");
    roster
        .revoke(Revocation {
            subject: Subject::Node(id("tokyo-1")),
            effective_ms: 0,
            reason: "stolen".into(),
        })
        .expect("revoke node");
    let t = trust(roster);
    let before =
        Document::sign(&key(22), T0 + 999, Body::WikiRevision(common::wiki())).expect("sign");
    let after =
        Document::sign(&key(22), T0 + 1_000, Body::WikiRevision(common::wiki())).expect("sign");
    assert!(
        t.check(&before).is_ok(),
        "documents written before the revocation stay valid"
    );
    let err = t.check(&after).expect_err("revoked");
    assert!(matches!(err, PolicyError::Revoked { .. }));
    assert!(err.to_string().contains("left the service"), "{err}");
    // Effective 0 (compromised key) voids everything ever signed.
    let receipt = Document::sign(
        &key(11),
        1,
        Body::Receipt(Receipt {
            cable: DocId([1; 32]),
            originator: id("emb-tokyo"),
            mission: id("emb-tokyo"),
            status: ReceiptStatus::Delivered,
            marking: common::cable().marking(),
        }),
    )
    .expect("sign");
    assert!(matches!(
        t.check(&receipt),
        Err(PolicyError::Revoked { .. })
    ));
}

#[test]
fn roster_edits_keep_invariants() {
    let mut r = common::roster(1);
    let err = r
        .add_node(Node {
            id: id("ghost"),
            mission: id("emb-nowhere"),
            role: NodeRole::Mission,
            accreditation: Classification::Secret,
            signing_key: pk(&key(50)),
            endpoint: None,
        })
        .expect_err("unknown mission");
    assert!(err.to_string().contains("emb-nowhere"), "{err}");
    let dup = r.missions[0].clone();
    assert!(matches!(
        r.add_mission(dup),
        Err(RosterError::Duplicate {
            what: "mission",
            ..
        })
    ));
    // A signing key may not be reused.
    let mut p = r.people[0].clone();
    p.id = id("zed");
    assert!(matches!(
        r.add_person(p),
        Err(RosterError::Duplicate {
            what: "signing key",
            ..
        })
    ));
    assert!(matches!(
        r.revoke(Revocation {
            subject: Subject::Person(id("nobody")),
            effective_ms: 0,
            reason: String::new()
        }),
        Err(RosterError::Unknown { what: "person", .. })
    ));
    // Lists stay sorted, so the roster still encodes canonically.
    r.add_mission(Mission {
        id: id("a-first"),
        name: "Consulate".into(),
        country: Country::new("TR").expect("c"),
        kind: MissionKind::Consulate,
    })
    .expect("mission");
    assert_eq!(r.missions[0].id, id("a-first"));
    r.validate().expect("valid");
    let bytes = r.to_bytes();
    assert_eq!(Roster::from_bytes(&bytes, "roster").expect("decode"), r);
}

#[test]
fn decoder_refuses_inconsistent_rosters() {
    // A roster whose person names a mission that is not listed.
    let mut r = common::roster(1);
    r.people[0].mission = id("emb-nowhere");
    let bytes = r.to_bytes();
    assert!(matches!(
        Roster::from_bytes(&bytes, "roster"),
        Err(DecodeError::Invalid {
            field: "person mission",
            ..
        })
    ));
    // Unsorted missions.
    let mut r = common::roster(1);
    r.missions.swap(0, 1);
    assert!(matches!(
        Roster::from_bytes(&r.to_bytes(), "roster"),
        Err(DecodeError::NotAscending {
            field: "roster missions"
        })
    ));
    // Version 0.
    let mut r = common::roster(1);
    r.version = 0;
    assert!(Document::sign(&root(), 1, Body::Roster(r)).is_err());
}
