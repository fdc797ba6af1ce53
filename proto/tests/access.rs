//! Need to know: which nodes may hold and which people may see each kind.

mod common;

use chapar_proto::access::{node_may_hold, person_may_reach, person_may_read};
use chapar_proto::*;
use common::{T0, id, key, pk};

fn node(mission: &str, role: NodeRole, accreditation: Classification) -> Node {
    Node {
        id: id("n"),
        mission: id(mission),
        role,
        accreditation,
        signing_key: pk(&key(90)),
        endpoint: None,
    }
}

fn person(mission: &str, clearance: Classification, captions: &[&str]) -> Person {
    Person {
        id: id("p"),
        name: "P".into(),
        mission: id(mission),
        signing_key: pk(&key(91)),
        clearance,
        captions: captions
            .iter()
            .map(|c| Caption::new(*c).expect("caption"))
            .collect(),
        roles: Roles::of(&[Role::Reader]),
    }
}

#[test]
fn nodes_hold_only_what_concerns_them() {
    use Classification::*;
    let docs = common::all_kinds();
    let [roster, wiki, draft, clearance, release, receipt] = &docs[..] else {
        panic!("six kinds")
    };
    // The cable: emb-tokyo -> action mfa, info emb-berlin, CONFIDENTIAL.
    let origin = node("emb-tokyo", NodeRole::Mission, Secret);
    let action = node("mfa", NodeRole::Mission, Secret);
    let info = node("emb-berlin", NodeRole::Mission, Confidential);
    let bystander = node("emb-paris", NodeRole::Mission, TopSecret);
    let hub = node("mfa", NodeRole::Hub, TopSecret);
    let low_hub = node("mfa", NodeRole::Hub, Restricted);
    let low_info = node("emb-berlin", NodeRole::Mission, Restricted);

    for n in [
        &origin, &action, &info, &bystander, &hub, &low_hub, &low_info,
    ] {
        assert!(node_may_hold(n, roster), "everyone holds the roster");
        assert!(
            node_may_hold(n, wiki),
            "an UNCLASSIFIED page goes everywhere"
        );
    }
    let expect = |n: &Node, d: &Document, want: bool| {
        assert_eq!(
            node_may_hold(n, d),
            want,
            "{} at {:?} {}",
            d.kind(),
            n.mission,
            n.accreditation
        )
    };
    // A draft stays at its mission and the hub: addressees get the release.
    for (n, want) in [
        (&origin, true),
        (&action, false),
        (&info, false),
        (&bystander, false),
        (&hub, true),
        (&low_hub, false),
    ] {
        expect(n, draft, want);
        // A clearance goes where its draft goes.
        expect(n, clearance, want);
    }
    for (n, want) in [
        (&origin, true),
        (&action, true),
        (&info, true),
        (&bystander, false),
        (&hub, true),
        (&low_hub, false),
        (&low_info, false),
    ] {
        expect(n, release, want);
    }
    // Receipt from mfa about emb-tokyo's cable.
    for (n, want) in [
        (&origin, true),
        (&action, true),
        (&info, false),
        (&bystander, false),
        (&hub, true),
        // The cable is CONFIDENTIAL: so is its receipt.
        (&low_hub, false),
    ] {
        expect(n, receipt, want);
    }
    // A SECRET wiki page skips nodes accredited lower.
    let secret = Document::sign(
        &key(22),
        T0,
        Body::WikiRevision(WikiRevision {
            classification: Secret,
            ..common::wiki()
        }),
    )
    .expect("sign");
    expect(&info, &secret, false);
    expect(&origin, &secret, true);
}

#[test]
fn people_see_only_what_clearance_captions_and_mission_allow() {
    use Classification::*;
    let docs = common::all_kinds();
    let release = &docs[4];
    let nodis_page = Document::sign(
        &key(22),
        T0,
        Body::WikiRevision(WikiRevision {
            classification: Secret,
            caption: Some(Caption::new("NODIS").expect("c")),
            ..common::wiki()
        }),
    )
    .expect("sign");
    let cleared_nodis = person("emb-paris", TopSecret, &["NODIS"]);
    let cleared = person("emb-paris", TopSecret, &[]);
    let low = person("emb-paris", Confidential, &["NODIS"]);
    assert!(person_may_read(&cleared_nodis, &nodis_page));
    assert!(!person_may_read(&cleared, &nodis_page), "caption not held");
    assert!(!person_may_read(&low, &nodis_page), "clearance too low");
    // The CONFIDENTIAL release: its missions' cleared people only.
    assert!(person_may_read(
        &person("emb-berlin", Confidential, &[]),
        release
    ));
    assert!(person_may_read(&person("mfa", Secret, &[]), release));
    assert!(!person_may_read(
        &person("emb-berlin", Restricted, &[]),
        release
    ));
    assert!(
        !person_may_read(&cleared_nodis, release),
        "not addressed to emb-paris"
    );
    // The draft: the originating mission only.
    assert!(person_may_read(&person("emb-tokyo", Secret, &[]), &docs[2]));
    assert!(!person_may_read(&person("mfa", TopSecret, &[]), &docs[2]));
}

#[test]
fn stored_routing_decides_like_the_document() {
    use Classification::*;
    use chapar_proto::access::Routing;
    let nodes = [
        node("emb-tokyo", NodeRole::Mission, Secret),
        node("mfa", NodeRole::Mission, Restricted),
        node("emb-berlin", NodeRole::Mission, Confidential),
        node("emb-paris", NodeRole::Mission, TopSecret),
        node("mfa", NodeRole::Hub, TopSecret),
        node("mfa", NodeRole::Hub, Unclassified),
    ];
    for doc in common::all_kinds() {
        let routing = Routing::of(&doc);
        let back = Routing::from_bytes(&routing.to_bytes(), "routing").expect("decode");
        assert_eq!(back, routing);
        for n in &nodes {
            assert_eq!(
                back.allows(n),
                node_may_hold(n, &doc),
                "{} {:?}",
                doc.kind(),
                n.mission
            );
        }
    }
}

#[test]
fn clearances_and_receipts_carry_their_cables_marking() {
    use Classification::*;
    // A SECRET//NODIS draft of emb-tokyo.
    let cable = Cable {
        classification: Secret,
        caption: Some(Caption::new("NODIS").expect("caption")),
        ..common::cable()
    };
    let draft = Document::sign(&key(20), T0, Body::Cable(cable.clone())).expect("draft");
    let clearance = Document::sign(
        &key(21),
        T0 + 1,
        Body::CableClearance(CableClearance {
            cable: draft.id(),
            originator: id("emb-tokyo"),
            note: "cleared; see para 3 on the talks".into(),
            marking: cable.marking(),
        }),
    )
    .expect("clearance");
    let receipt = Document::sign(
        &key(21),
        T0 + 2,
        Body::Receipt(Receipt {
            cable: draft.id(),
            originator: id("emb-tokyo"),
            mission: id("mfa"),
            status: ReceiptStatus::Read,
            marking: cable.marking(),
        }),
    )
    .expect("receipt");
    let low_origin = node("emb-tokyo", NodeRole::Mission, Confidential);
    let origin = node("emb-tokyo", NodeRole::Mission, Secret);
    for doc in [&draft, &clearance, &receipt] {
        assert!(!node_may_hold(&low_origin, doc), "{}", doc.kind());
        assert!(node_may_hold(&origin, doc), "{}", doc.kind());
        for (p, want) in [
            (person("emb-tokyo", Secret, &["NODIS"]), true),
            (person("emb-tokyo", Secret, &[]), false),
            (person("emb-tokyo", Confidential, &["NODIS"]), false),
        ] {
            assert_eq!(person_may_read(&p, doc), want, "{} {p:?}", doc.kind());
        }
    }
    assert!(!person_may_read(
        &person("emb-tokyo", Secret, &[]),
        &receipt
    ));
    assert!(person_may_read(
        &person("mfa", TopSecret, &["NODIS"]),
        &receipt
    ));

    // Version 1 carried no marking: taken as TOP SECRET, fail closed.
    let mut body = chapar_proto::codec::Writer::default();
    draft.id().encode(&mut body);
    id("emb-tokyo").encode(&mut body);
    body.str("an old clearance");
    let old = common::version_1(&key(21), Kind::CableClearance, &body.into_bytes());
    assert_eq!(old.version(), 1);
    assert_eq!(old.reencode(), old.as_bytes());
    assert_eq!(old.verify(), Ok(()));
    match old.body() {
        Body::CableClearance(c) => assert_eq!(c.marking, Marking::VERSION_1),
        other => panic!("{other:?}"),
    }
    assert!(!node_may_hold(&origin, &old));
    assert!(node_may_hold(
        &node("emb-tokyo", NodeRole::Mission, TopSecret),
        &old
    ));
    assert!(!person_may_read(
        &person("emb-tokyo", Secret, &["NODIS"]),
        &old
    ));
    assert!(person_may_read(&person("emb-tokyo", TopSecret, &[]), &old));
}

/// A listing rules documents out by their stored routing before decoding
/// any: that must never hide one the person may read, and with no caption
/// in play it must decide exactly as the document does.
#[test]
fn routing_rules_out_only_what_the_person_may_not_read() {
    use Classification::*;
    use chapar_proto::access::Routing;
    let mut docs = common::all_kinds();
    docs.push(
        Document::sign(
            &key(22),
            T0,
            Body::WikiRevision(WikiRevision {
                classification: Secret,
                caption: Some(Caption::new("NODIS").expect("c")),
                ..common::wiki()
            }),
        )
        .expect("sign"),
    );
    let people = [
        person("emb-tokyo", Secret, &[]),
        person("emb-tokyo", Secret, &["NODIS"]),
        person("mfa", TopSecret, &["NODIS"]),
        person("emb-berlin", Confidential, &[]),
        person("emb-paris", TopSecret, &[]),
        person("emb-berlin", Restricted, &["NODIS"]),
        person("emb-x", Unclassified, &[]),
    ];
    let mut ruled_out = 0;
    for doc in &docs {
        let routing = Routing::from_bytes(&Routing::of(doc).to_bytes(), "routing").expect("decode");
        for p in &people {
            let reach = person_may_reach(p, &routing);
            let read = person_may_read(p, doc);
            assert!(
                reach || !read,
                "{} hidden from {:?} by its routing",
                doc.kind(),
                p.mission
            );
            if !has_caption(doc) {
                // Nothing but the routing can tell them apart here.
                assert_eq!(reach, read, "{} for {:?}", doc.kind(), p.mission);
            }
            ruled_out += usize::from(!reach);
        }
    }
    assert!(ruled_out > 0, "the fixture must exercise the prefilter");
}

fn has_caption(doc: &Document) -> bool {
    match doc.body() {
        Body::WikiRevision(w) => w.caption.is_some(),
        Body::Cable(c) => c.caption.is_some(),
        Body::CableRelease(r) => r.cable().caption.is_some(),
        Body::CableClearance(c) => c.marking.caption.is_some(),
        Body::Receipt(r) => r.marking.caption.is_some(),
        Body::Roster(_) => false,
    }
}
