//! Need to know: which node may *hold* a document, and which person may
//! *see* it. Both are functions of the document alone (plus the roster
//! entry), so every node decides alike, and the sending node can filter
//! before any byte leaves it.
//!
//! | kind | nodes that hold it | people who see it |
//! |---|---|---|
//! | roster | every node | everyone |
//! | wiki revision | accredited for its classification | cleared for it and holding its caption |
//! | cable (draft) | the originating mission's nodes, hubs | people of the originating mission, cleared, holding the caption |
//! | cable clearance | the originating mission's nodes, hubs — if accredited for the cable | people of the originating mission, cleared for the cable, holding its caption |
//! | cable release (draft inside) | the originator's and every addressee's nodes, hubs — if accredited for the cable | people of those missions, cleared, holding the caption |
//! | receipt | the originating and the receiving mission's nodes, hubs — if accredited for the cable | people of those two missions, cleared for the cable, holding its caption |
//!
//! A clearance and a receipt carry their cable's marking (classification
//! and caption), so they go only where the cable may go; those of envelope
//! version 1 carry none and are taken as TOP SECRET (fail closed).
//!
//! Hubs (the ministry archive) hold everything their accreditation allows;
//! accreditation always applies, to hubs too.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::document::{Body, Document};
use crate::roster::{Node, NodeRole, Person};
use crate::types::{Caption, Classification, Id};

/// Most missions a document's audience can name (originator plus action and
/// info addressees of a cable).
const MAX_AUDIENCE: usize = 1 + 2 * crate::cable::MAX_ADDRESSEES;

/// Where a document may go, in a few bytes: its classification and the
/// missions it concerns. A node stores this beside each document so that
/// it can select what a peer may hold without decoding every document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// Classification governing the document.
    pub classification: Classification,
    /// Missions it concerns, ascending; `None` for every mission.
    pub audience: Option<Vec<Id>>,
}

impl Routing {
    /// The routing of `doc`.
    pub fn of(doc: &Document) -> Routing {
        let (classification, _) = marking(doc);
        let audience = audience(doc).map(|ms| {
            let mut v: Vec<Id> = ms.into_iter().cloned().collect();
            v.sort();
            v.dedup();
            v
        });
        Routing {
            classification,
            audience,
        }
    }

    /// Whether `node` may hold a document with this routing.
    pub fn allows(&self, node: &Node) -> bool {
        self.classification <= node.accreditation
            && (node.role == NodeRole::Hub
                || self
                    .audience
                    .as_ref()
                    .is_none_or(|ms| ms.binary_search(&node.mission).is_ok()))
    }
}

impl Encode for Routing {
    fn encode(&self, w: &mut Writer) {
        self.classification.encode(w);
        w.option(self.audience.as_ref(), |w, ms| w.seq(ms));
    }
}

impl Decode for Routing {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Routing {
            classification: Classification::decode(r)?,
            audience: r.option("routing audience", |r| {
                r.set("routing audience", MAX_AUDIENCE)
            })?,
        })
    }
}

/// The classification and caption governing a document, if it has any.
fn marking(doc: &Document) -> (Classification, Option<&Caption>) {
    match doc.body() {
        Body::WikiRevision(w) => (w.classification, w.caption.as_ref()),
        Body::Cable(c) => (c.classification, c.caption.as_ref()),
        Body::CableRelease(r) => (r.cable().classification, r.cable().caption.as_ref()),
        Body::CableClearance(c) => (c.marking.classification, c.marking.caption.as_ref()),
        Body::Receipt(r) => (r.marking.classification, r.marking.caption.as_ref()),
        Body::Roster(_) => (Classification::Unclassified, None),
    }
}

/// Which missions a document concerns; `None` means "every mission".
fn audience(doc: &Document) -> Option<Vec<&Id>> {
    match doc.body() {
        Body::Roster(_) | Body::WikiRevision(_) => None,
        Body::Cable(c) => Some(vec![&c.originator]),
        Body::CableClearance(c) => Some(vec![&c.originator]),
        Body::CableRelease(r) => {
            let c = r.cable();
            Some(
                std::iter::once(&c.originator)
                    .chain(&c.action)
                    .chain(&c.info)
                    .collect(),
            )
        }
        Body::Receipt(r) => Some(vec![&r.originator, &r.mission]),
    }
}

/// Whether `node` is entitled to hold `doc`. The sending side filters with
/// it before any byte leaves; the receiving side refuses what fails it.
pub fn node_may_hold(node: &Node, doc: &Document) -> bool {
    Routing::of(doc).allows(node)
}

/// Whether `person` may see `doc` — in a listing, a fetch, a search result,
/// a snippet or a facet count alike.
pub fn person_may_read(person: &Person, doc: &Document) -> bool {
    let (classification, caption) = marking(doc);
    reaches(
        person,
        classification,
        audience(doc).map(|ms| ms.into_iter()),
    ) && caption.is_none_or(|c| person.holds(c))
}

/// Whether a document with this routing *may* be one `person` can see:
/// `false` settles it (its classification is above their clearance, or it
/// concerns other missions only); `true` leaves it to [`person_may_read`]
/// on the document, which also checks the caption (not in the routing).
/// A node filters a listing with it from its index, without decoding the
/// documents it rules out.
pub fn person_may_reach(person: &Person, routing: &Routing) -> bool {
    reaches(
        person,
        routing.classification,
        routing.audience.as_ref().map(|ms| ms.iter()),
    )
}

/// The part of [`person_may_read`] that a document's [`Routing`] decides.
fn reaches<'a>(
    person: &Person,
    classification: Classification,
    audience: Option<impl Iterator<Item = &'a Id>>,
) -> bool {
    classification <= person.clearance
        && audience.is_none_or(|mut missions| missions.any(|m| *m == person.mission))
}
