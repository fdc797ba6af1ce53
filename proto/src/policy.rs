//! Who may write what: the single place that decides whether a document's
//! author was allowed to write it, given the roster in force.
//!
//! | kind | who may author it |
//! |---|---|
//! | roster | the ministry root key only |
//! | wiki revision | a person with the `editor` role, cleared for its classification and holding its caption |
//! | cable | a `drafter` of the originating mission, cleared for its classification and holding its caption |
//! | cable clearance | a person with the `clearer` role |
//! | cable release | a `releaser` of the originating mission, cleared and holding the caption; the embedded draft must itself be authorized |
//! | receipt | a node or person of the receiving mission (nodes: delivery receipts only) |
//!
//! Revocations apply to documents created at or after their effective time.

use std::collections::HashMap;

use thiserror::Error;

use crate::document::{Body, Document, Kind, VerifyError};
use crate::receipt::ReceiptStatus;
use crate::roster::{Node, Person, Role, Roster, Subject};
use crate::types::{Caption, Classification, Id, PublicKey};

/// Who signed a document, as the roster knows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author<'a> {
    /// The ministry root.
    Root,
    /// A person.
    Person(&'a Person),
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

    /// Verifies the signature strictly, then [`Trust::authorize`]s.
    pub fn check(&self, doc: &Document) -> Result<Author<'_>, PolicyError> {
        doc.verify()?;
        self.authorize(doc)
    }

    /// Decides whether the document's author may have written it: the key
    /// is in the roster, not revoked at the document's creation time, and
    /// their role, mission, clearance and captions allow this document.
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
                self.person_may_write(p, body)?;
                Ok(author)
            }
        }
    }

    fn person_may_write(&self, p: &Person, body: &Body) -> Result<(), PolicyError> {
        let kind = body.kind();
        let need = |role: Role| {
            if p.roles.has(role) {
                Ok(())
            } else {
                Err(PolicyError::MissingRole {
                    person: p.id.clone(),
                    role,
                    kind,
                })
            }
        };
        match body {
            Body::Roster(_) => Err(PolicyError::RosterNotFromRoot),
            Body::WikiRevision(w) => {
                need(Role::Editor)?;
                may_handle(p, w.classification, w.caption.as_ref())
            }
            Body::Cable(c) => {
                need(Role::Drafter)?;
                same_mission(&p.id, &p.mission, &c.originator)?;
                may_handle(p, c.classification, c.caption.as_ref())
            }
            Body::CableClearance(_) => need(Role::Clearer),
            Body::CableRelease(r) => {
                need(Role::Releaser)?;
                same_mission(&p.id, &p.mission, &r.cable().originator)?;
                may_handle(p, r.cable().classification, r.cable().caption.as_ref())?;
                // The draft inside must itself have been written by someone
                // allowed to draft it.
                self.authorize(r.draft()).map(|_| ())
            }
            Body::Receipt(r) => same_mission(&p.id, &p.mission, &r.mission),
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
    p: &Person,
    classification: Classification,
    caption: Option<&Caption>,
) -> Result<(), PolicyError> {
    if classification > p.clearance {
        return Err(PolicyError::AboveClearance {
            who: p.id.clone(),
            clearance: p.clearance,
            classification,
        });
    }
    if let Some(c) = caption
        && !p.holds(c)
    {
        return Err(PolicyError::CaptionNotHeld {
            who: p.id.clone(),
            caption: c.clone(),
        });
    }
    Ok(())
}
