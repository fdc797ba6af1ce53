//! Who may write what: the single place that decides whether a document's
//! author was allowed to write it, given the roster in force.
//!
//! | kind | who may author it |
//! |---|---|
//! | roster | the ministry root key only |
//! | wiki revision | a person with the `editor` role, cleared for its classification and holding its caption |
//! | cable | a `drafter` of the originating mission, cleared for its classification and holding its caption |
//! | cable clearance | a person with the `clearer` role, cleared for the cable's marking |
//! | cable release | a `releaser` of the originating mission, cleared and holding the caption; the embedded draft must itself be authorized |
//! | receipt | a node or person of the receiving mission (nodes: delivery receipts only, accredited for the cable's classification; people cleared for its marking) |
//!
//! A person is judged by their standing when the document was created
//! ([`Roster::standing_at`]): a later change of role, clearance, caption,
//! mission or key never makes what they signed before it invalid, so no
//! node refuses for ever what another accepted. Revocations apply to
//! documents created at or after their effective time.

use std::collections::HashMap;

use thiserror::Error;

use crate::document::{Body, Document, Kind, VerifyError};
use crate::receipt::ReceiptStatus;
use crate::roster::{Node, Role, Roster, Standing, Subject};
use crate::types::{Caption, Classification, Id, Marking, PublicKey};

/// How far a document's `created` may lie from the clock of the node that
/// receives it (ADR 0017): ahead of it, on every arrival; behind it, when a
/// person submits their own document.
pub const CLOCK_TOLERANCE_MS: u64 = 10 * 60 * 1000;

/// How a document reaches a node, for [`check_time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Submitted by its author: the first node to see it.
    FirstIngest,
    /// From a peer (it may be old: a catch-up brings history).
    Replication,
}

/// Whether `doc`'s claimed creation time is believable at `now_ms` (the
/// receiving node's clock). A document is never more than
/// [`CLOCK_TOLERANCE_MS`] ahead: a forged or skewed clock cannot date it
/// into the future (where it would, say, pin a wiki page). At first
/// ingest it is not more than that behind either: a person cannot date a
/// document into the past, before a revocation or a change of their
/// standing took effect. A replicated document ahead of the clock is
/// refused only until its time comes; the peer offers it again, so nodes
/// converge. Rosters are the root's and are not bounded.
pub fn check_time(doc: &Document, now_ms: u64, arrival: Arrival) -> Result<(), PolicyError> {
    if doc.kind() == Kind::Roster {
        return Ok(());
    }
    let created = doc.created_ms();
    let ahead = created.saturating_sub(now_ms);
    let behind = now_ms.saturating_sub(created);
    if ahead > CLOCK_TOLERANCE_MS
        || (arrival == Arrival::FirstIngest && behind > CLOCK_TOLERANCE_MS)
    {
        return Err(PolicyError::Clock {
            created_ms: created,
            now_ms,
        });
    }
    Ok(())
}

/// Who signed a document, as the roster knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author<'a> {
    /// The ministry root.
    Root,
    /// A person.
    Person(&'a crate::roster::Person),
    /// A node.
    Node(&'a Node),
}

/// Why an author may not have written a document.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] VerifyError),
    /// No roster entry has this key.
    #[error("author key {0} is not in the roster")]
    UnknownAuthor(PublicKey),
    /// The author was revoked before the document's creation time.
    #[error("{subject} is revoked (since {since_ms} ms): {reason}")]
    Revoked {
        /// What was revoked.
        subject: String,
        /// Effective time of the revocation.
        since_ms: u64,
        /// The recorded reason.
        reason: String,
    },
    /// Only the root signs rosters.
    #[error("a roster must be signed by the ministry root key")]
    RosterNotFromRoot,
    /// The root signs rosters only.
    #[error("the ministry root key signs rosters only, not a {0}")]
    RootAuthoredOther(Kind),
    /// The person lacks the role needed for this kind.
    #[error("{person} lacks the {role} role needed to write a {kind}")]
    MissingRole {
        /// Person id.
        person: Id,
        /// Role needed.
        role: Role,
        /// Document kind.
        kind: Kind,
    },
    /// Content above the author's clearance.
    #[error("{who} is cleared to {clearance}, below the document's {classification}")]
    AboveClearance {
        /// Author id.
        who: Id,
        /// Their clearance.
        clearance: Classification,
        /// The document's classification.
        classification: Classification,
    },
    /// A caption the author does not hold.
    #[error("{who} does not hold the {caption} caption")]
    CaptionNotHeld {
        /// Author id.
        who: Id,
        /// Caption on the document.
        caption: Caption,
    },
    /// Writing for another mission.
    #[error("{who} belongs to mission {own}, not {claimed}")]
    WrongMission {
        /// Author id.
        who: Id,
        /// Their mission.
        own: Id,
        /// The mission the document speaks for.
        claimed: Id,
    },
    /// The key is the person's, but not the one they signed with at the
    /// document's creation time (a key rotated out, or not yet in).
    #[error("{person}'s key {key} was not their signing key at {at_ms} ms")]
    KeyNotInForce {
        /// Person id.
        person: Id,
        /// The key that signed.
        key: PublicKey,
        /// The document's creation time.
        at_ms: u64,
    },
    /// A node signing a receipt for a cable it may not hold.
    #[error("node {node} is accredited to {accreditation}, below the cable's {classification}")]
    NodeNotAccredited {
        /// Node id.
        node: Id,
        /// Its accreditation.
        accreditation: Classification,
        /// The cable's classification.
        classification: Classification,
    },
    /// A document dated too far from the receiving node's clock.
    #[error("document dated {created_ms} ms, more than {} s from this node's clock ({now_ms} ms): check the signer's clock", CLOCK_TOLERANCE_MS / 1000)]
    Clock {
        /// The document's `created`.
        created_ms: u64,
        /// The receiving node's clock.
        now_ms: u64,
    },
    /// A person submitting a document someone else signed.
    #[error(
        "{person} may submit only documents they signed themselves, not one signed by {author}"
    )]
    NotSubmitter {
        /// The person connected.
        person: Id,
        /// The key that signed the document.
        author: PublicKey,
    },
    /// Nodes sign delivery receipts only.
    #[error("node {node} may sign delivery receipts only, not a {what}")]
    NodeNotAllowed {
        /// Node id.
        node: Id,
        /// What it tried to sign.
        what: String,
    },
}

/// The trust in force at a node: the root key and the roster it signed,
/// indexed by signing key.
#[derive(Debug, Clone)]
pub struct Trust {
    root: PublicKey,
    roster: Roster,
    by_key: HashMap<PublicKey, Signer>,
}

#[derive(Debug, Clone, Copy)]
enum Signer {
    Person(usize),
    Node(usize),
}

impl Trust {
    /// Trust in `roster`, which the caller obtained through
    /// [`crate::roster::accept_update`] (or from its own admin state).
    pub fn new(root: PublicKey, roster: Roster) -> Trust {
        let mut by_key = HashMap::with_capacity(roster.people.len() + roster.nodes.len());
        for (i, p) in roster.people.iter().enumerate() {
            by_key.insert(p.signing_key, Signer::Person(i));
            for t in roster.earlier_terms(&p.id) {
                by_key.insert(t.signing_key, Signer::Person(i));
            }
        }
        for (i, n) in roster.nodes.iter().enumerate() {
            by_key.insert(n.signing_key, Signer::Node(i));
        }
        Trust {
            root,
            roster,
            by_key,
        }
    }

    /// The ministry root key.
    pub fn root(&self) -> &PublicKey {
        &self.root
    }

    /// The roster in force.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The roster entry for a signing key.
    pub fn author_of(&self, key: &PublicKey) -> Option<Author<'_>> {
        if key == &self.root {
            return Some(Author::Root);
        }
        self.by_key.get(key).map(|s| match *s {
            Signer::Person(i) => Author::Person(&self.roster.people[i]),
            Signer::Node(i) => Author::Node(&self.roster.nodes[i]),
        })
    }

    /// Whether `person` (the connected person) may submit `doc`: only a
    /// document they signed themselves (with any of their keys), or a
    /// roster (which anyone may deliver: the root signed it). A person
    /// cannot relay another's documents, so a revoked person, who can no
    /// longer connect, cannot have theirs submitted by someone else.
    pub fn check_submitter(&self, person: &Id, doc: &Document) -> Result<(), PolicyError> {
        match (doc.kind(), self.author_of(doc.author())) {
            (Kind::Roster, _) => Ok(()),
            (_, Some(Author::Person(p))) if &p.id == person => Ok(()),
            _ => Err(PolicyError::NotSubmitter {
                person: person.clone(),
                author: *doc.author(),
            }),
        }
    }

    /// Verifies the signature strictly, then [`Trust::authorize`]s.
    pub fn check(&self, doc: &Document) -> Result<Author<'_>, PolicyError> {
        doc.verify()?;
        self.authorize(doc)
    }

    /// Decides whether the document's author may have written it: the key
    /// is in the roster, not revoked at the document's creation time, and
    /// their standing then (key, role, mission, clearance, captions)
    /// allows this document.
    ///
    /// Does not check the signature: call it on documents that passed
    /// [`Document::verify`] or [`crate::document::verify_batch`].
    pub fn authorize(&self, doc: &Document) -> Result<Author<'_>, PolicyError> {
        let at = doc.created_ms();
        let author = self
            .author_of(doc.author())
            .ok_or(PolicyError::UnknownAuthor(*doc.author()))?;
        match (author, doc.body()) {
            (Author::Root, Body::Roster(_)) => Ok(author),
            (Author::Root, _) => Err(PolicyError::RootAuthoredOther(doc.kind())),
            (_, Body::Roster(_)) => Err(PolicyError::RosterNotFromRoot),
            (Author::Node(node), body) => {
                self.not_revoked(Subject::Node(node.id.clone()), at)?;
                match body {
                    Body::Receipt(r) if r.status == ReceiptStatus::Delivered => {
                        same_mission(&node.id, &node.mission, &r.mission)?;
                        if r.marking.classification > node.accreditation {
                            return Err(PolicyError::NodeNotAccredited {
                                node: node.id.clone(),
                                accreditation: node.accreditation,
                                classification: r.marking.classification,
                            });
                        }
                        Ok(author)
                    }
                    other => Err(PolicyError::NodeNotAllowed {
                        node: node.id.clone(),
                        what: match other {
                            Body::Receipt(_) => "read receipt".into(),
                            b => b.kind().to_string(),
                        },
                    }),
                }
            }
            (Author::Person(p), body) => {
                self.not_revoked(Subject::Person(p.id.clone()), at)?;
                let standing = self.roster.standing_at(p, at);
                if standing.signing_key != doc.author() {
                    return Err(PolicyError::KeyNotInForce {
                        person: p.id.clone(),
                        key: *doc.author(),
                        at_ms: at,
                    });
                }
                self.person_may_write(&p.id, &standing, body)?;
                Ok(author)
            }
        }
    }

    fn person_may_write(&self, who: &Id, p: &Standing<'_>, body: &Body) -> Result<(), PolicyError> {
        let kind = body.kind();
        let need = |role: Role| {
            if p.roles.has(role) {
                Ok(())
            } else {
                Err(PolicyError::MissingRole {
                    person: who.clone(),
                    role,
                    kind,
                })
            }
        };
        match body {
            Body::Roster(_) => Err(PolicyError::RosterNotFromRoot),
            Body::WikiRevision(w) => {
                need(Role::Editor)?;
                may_handle(who, p, w.classification, w.caption.as_ref())
            }
            Body::Cable(c) => {
                need(Role::Drafter)?;
                same_mission(who, p.mission, &c.originator)?;
                may_handle(who, p, c.classification, c.caption.as_ref())
            }
            Body::CableClearance(c) => {
                need(Role::Clearer)?;
                may_handle_marking(who, p, &c.marking)
            }
            Body::CableRelease(r) => {
                need(Role::Releaser)?;
                same_mission(who, p.mission, &r.cable().originator)?;
                may_handle(who, p, r.cable().classification, r.cable().caption.as_ref())?;
                // The draft inside must itself have been written by someone
                // allowed to draft it.
                self.authorize(r.draft()).map(|_| ())
            }
            Body::Receipt(r) => {
                same_mission(who, p.mission, &r.mission)?;
                may_handle_marking(who, p, &r.marking)
            }
        }
    }

    fn not_revoked(&self, subject: Subject, at_ms: u64) -> Result<(), PolicyError> {
        match self.roster.revocation(&subject) {
            Some(r) if r.applies_at(at_ms) => Err(PolicyError::Revoked {
                subject: subject.to_string(),
                since_ms: r.effective_ms,
                reason: r.reason.clone(),
            }),
            _ => Ok(()),
        }
    }
}

fn same_mission(who: &Id, own: &Id, claimed: &Id) -> Result<(), PolicyError> {
    if own == claimed {
        Ok(())
    } else {
        Err(PolicyError::WrongMission {
            who: who.clone(),
            own: own.clone(),
            claimed: claimed.clone(),
        })
    }
}

fn may_handle(
    who: &Id,
    p: &Standing<'_>,
    classification: Classification,
    caption: Option<&Caption>,
) -> Result<(), PolicyError> {
    if classification > p.clearance {
        return Err(PolicyError::AboveClearance {
            who: who.clone(),
            clearance: p.clearance,
            classification,
        });
    }
    if let Some(c) = caption
        && !p.holds(c)
    {
        return Err(PolicyError::CaptionNotHeld {
            who: who.clone(),
            caption: c.clone(),
        });
    }
    Ok(())
}

fn may_handle_marking(who: &Id, p: &Standing<'_>, m: &Marking) -> Result<(), PolicyError> {
    may_handle(who, p, m.classification, m.caption.as_ref())
}
