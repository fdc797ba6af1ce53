//! The roster: the ministry's signed list of who and what belongs to the
//! network — missions, nodes, people — and what has been revoked.
//!
//! The roster is a document like any other, signed by the ministry root key,
//! with a version that only ever increases. A node holds the newest roster it
//! has verified and replaces it only with a higher version signed by the same
//! root ([`accept_update`]); every other document is judged against it
//! ([`crate::policy::Trust`]).
//!
//! Lists are kept sorted by id (missions, nodes, people) or by subject
//! (revocations), so the encoding is canonical and lookups are binary
//! searches.

use std::fmt;

use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer, ensure_ascending, ensure_max};
use crate::document::{Body, Document, Kind, VerifyError};
use crate::types::{Caption, Classification, Country, Id, PublicKey, check_text, code_enum};

/// Maximum length of display names in bytes.
pub const MAX_NAME: usize = 256;
/// Maximum length of a node endpoint (`host:port`) in bytes.
pub const MAX_ENDPOINT: usize = 256;
/// Maximum revocation reason in bytes.
pub const MAX_REASON: usize = 1024;
/// Maximum CA fingerprints (old and new CA during a rotation, and a few spare).
pub const MAX_CAS: usize = 8;
/// Maximum size of the embedded CRL (DER).
pub const MAX_CRL: usize = 8 << 20;
/// Maximum missions.
pub const MAX_MISSIONS: usize = 10_000;
/// Maximum nodes.
pub const MAX_NODES: usize = 10_000;
/// Maximum people.
pub const MAX_PEOPLE: usize = 200_000;
/// Maximum revocations.
pub const MAX_REVOCATIONS: usize = 400_000;
/// Maximum captions held by one person.
pub const MAX_CAPTIONS: usize = 64;
/// Maximum earlier terms kept for one person.
pub const MAX_TERMS: usize = 256;

code_enum!(
    /// What kind of post a mission is.
    MissionKind, "mission kind", {
        /// The ministry headquarters.
        Ministry = 0 => "MINISTRY",
        /// An embassy.
        Embassy = 1 => "EMBASSY",
        /// A consulate or consulate general.
        Consulate = 2 => "CONSULATE",
        /// A permanent mission to an international organisation.
        PermanentMission = 3 => "PERMANENT MISSION",
    }
);

code_enum!(
    /// A node's place in the topology.
    NodeRole, "node role", {
        /// A mission's own node: holds what its mission is entitled to.
        Mission = 0 => "MISSION",
        /// A hub (the ministry's archive): stores and forwards for every
        /// mission, and holds everything up to its accreditation.
        Hub = 1 => "HUB",
    }
);

code_enum!(
    /// One thing a person may do. Roles are granted as a set ([`Roles`]).
    Role, "role", {
        /// Search and read what their clearance allows.
        Reader = 0 => "READER",
        /// Write wiki revisions.
        Editor = 1 => "EDITOR",
        /// Draft cables.
        Drafter = 2 => "DRAFTER",
        /// Clear drafted cables.
        Clearer = 3 => "CLEARER",
        /// Release cleared cables for delivery.
        Releaser = 4 => "RELEASER",
        /// Administer the ministry network.
        Admin = 5 => "ADMIN",
    }
);

/// A set of [`Role`]s, encoded as one byte with bit `code` set per role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    /// No role.
    pub const NONE: Roles = Roles(0);

    /// The set holding `roles`.
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |acc, r| acc | 1 << r.code()))
    }

    /// Whether `role` is in the set.
    pub fn has(self, role: Role) -> bool {
        self.0 & (1 << role.code()) != 0
    }

    /// The roles in the set, in code order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.iter().copied().filter(move |r| self.has(*r))
    }

    /// The raw bitmask.
    pub fn bits(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .iter()
            .map(|r| r.as_str().to_ascii_lowercase())
            .collect();
        f.write_str(&names.join(","))
    }
}

impl Encode for Roles {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.0);
    }
}

impl Decode for Roles {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bits = r.u8("roles")?;
        let known = (1u8 << Role::ALL.len()) - 1;
        if bits & !known != 0 {
            return Err(DecodeError::UnknownCode {
                field: "roles",
                code: bits.into(),
            });
        }
        Ok(Roles(bits))
    }
}

/// A diplomatic post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mission {
    /// Stable identifier, e.g. `tashkent-mfa`, `emb-washington`.
    pub id: Id,
    /// Display name.
    pub name: String,
    /// Host country.
    pub country: Country,
    /// Ministry, embassy, consulate or permanent mission.
    pub kind: MissionKind,
}

impl Encode for Mission {
    fn encode(&self, w: &mut Writer) {
        self.id.encode(w);
        w.str(&self.name);
        self.country.encode(w);
        self.kind.encode(w);
    }
}

impl Decode for Mission {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Mission {
            id: Id::decode(r)?,
            name: r.str("mission name", MAX_NAME)?,
            country: Country::decode(r)?,
            kind: MissionKind::decode(r)?,
        })
    }
}

/// A server that replicates documents for a mission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Stable identifier; its TLS certificate carries `urn:chapar:node:<id>`.
    pub id: Id,
    /// The mission that runs it.
    pub mission: Id,
    /// Hub or mission node.
    pub role: NodeRole,
    /// Highest classification the node may hold.
    pub accreditation: Classification,
    /// Key the node signs its own documents (delivery receipts) with.
    pub signing_key: PublicKey,
    /// Where peers reach it (`host:port`), if it accepts connections.
    pub endpoint: Option<String>,
}

impl Node {
    /// The SAN URI its TLS certificate must carry.
    pub fn certificate_uri(&self) -> String {
        format!("urn:chapar:node:{}", self.id)
    }
}

impl Encode for Node {
    fn encode(&self, w: &mut Writer) {
        self.id.encode(w);
        self.mission.encode(w);
        self.role.encode(w);
        self.accreditation.encode(w);
        self.signing_key.encode(w);
        w.option(self.endpoint.as_ref(), |w, e| w.str(e));
    }
}

impl Decode for Node {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Node {
            id: Id::decode(r)?,
            mission: Id::decode(r)?,
            role: NodeRole::decode(r)?,
            accreditation: Classification::decode(r)?,
            signing_key: PublicKey::decode(r)?,
            endpoint: r.option("node endpoint", |r| r.str("node endpoint", MAX_ENDPOINT))?,
        })
    }
}

/// A member of staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable identifier; their TLS certificate carries `urn:chapar:user:<id>`.
    pub id: Id,
    /// Display name.
    pub name: String,
    /// The mission they serve at.
    pub mission: Id,
    /// Key they sign documents with.
    pub signing_key: PublicKey,
    /// Highest classification they may read or write.
    pub clearance: Classification,
    /// Handling captions they hold, ascending.
    pub captions: Vec<Caption>,
    /// What they may do.
    pub roles: Roles,
}

impl Person {
    /// The SAN URI their TLS certificate must carry.
    pub fn certificate_uri(&self) -> String {
        format!("urn:chapar:user:{}", self.id)
    }

    /// Whether they hold `caption`.
    pub fn holds(&self, caption: &Caption) -> bool {
        self.captions.binary_search(caption).is_ok()
    }

    /// What they may write now: their entry's fields.
    pub fn standing(&self) -> Standing<'_> {
        Standing {
            mission: &self.mission,
            signing_key: &self.signing_key,
            clearance: self.clearance,
            captions: &self.captions,
            roles: self.roles,
        }
    }
}

impl Encode for Person {
    fn encode(&self, w: &mut Writer) {
        self.id.encode(w);
        w.str(&self.name);
        self.mission.encode(w);
        self.signing_key.encode(w);
        self.clearance.encode(w);
        w.seq(&self.captions);
        self.roles.encode(w);
    }
}

impl Decode for Person {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Person {
            id: Id::decode(r)?,
            name: r.str("person name", MAX_NAME)?,
            mission: Id::decode(r)?,
            signing_key: PublicKey::decode(r)?,
            clearance: Classification::decode(r)?,
            captions: r.set("person captions", MAX_CAPTIONS)?,
            roles: Roles::decode(r)?,
        })
    }
}

/// What a person was during one earlier stretch of time: everything that
/// decides what they could write then. Their roster entry holds what they
/// are now; a change (another mission, clearance, caption, role or key)
/// closes the entry's term and keeps it here, so that what they signed
/// before the change is judged as it was when they signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term ended here (ms since the epoch, exclusive); it began where
    /// the previous term ended, or at the beginning of time.
    pub until_ms: u64,
    /// Their mission then.
    pub mission: Id,
    /// The key they signed with then.
    pub signing_key: PublicKey,
    /// Their clearance then.
    pub clearance: Classification,
    /// The captions they held then, ascending.
    pub captions: Vec<Caption>,
    /// Their roles then.
    pub roles: Roles,
}

impl Term {
    /// The standing this term gave.
    pub fn standing(&self) -> Standing<'_> {
        Standing {
            mission: &self.mission,
            signing_key: &self.signing_key,
            clearance: self.clearance,
            captions: &self.captions,
            roles: self.roles,
        }
    }
}

impl Encode for Term {
    fn encode(&self, w: &mut Writer) {
        w.varint(self.until_ms);
        self.mission.encode(w);
        self.signing_key.encode(w);
        self.clearance.encode(w);
        w.seq(&self.captions);
        self.roles.encode(w);
    }
}

impl Decode for Term {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Term {
            until_ms: r.varint("term end")?,
            mission: Id::decode(r)?,
            signing_key: PublicKey::decode(r)?,
            clearance: Classification::decode(r)?,
            captions: r.set("term captions", MAX_CAPTIONS)?,
            roles: Roles::decode(r)?,
        })
    }
}

/// A person's earlier terms, oldest first; their roster entry is in force
/// from the end of the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The person.
    pub person: Id,
    /// Earlier terms, strictly ascending by `until_ms`; never empty.
    pub earlier: Vec<Term>,
}

impl Encode for History {
    fn encode(&self, w: &mut Writer) {
        self.person.encode(w);
        w.seq(&self.earlier);
    }
}

impl Decode for History {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(History {
            person: Id::decode(r)?,
            earlier: r.seq("person terms", MAX_TERMS)?,
        })
    }
}

/// What decides what a person may write at one moment: their roster entry
/// ([`Person::standing`]) or one of their earlier terms
/// ([`Roster::standing_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing<'a> {
    /// Their mission.
    pub mission: &'a Id,
    /// The key they sign with.
    pub signing_key: &'a PublicKey,
    /// Their clearance.
    pub clearance: Classification,
    /// The captions they hold, ascending.
    pub captions: &'a [Caption],
    /// Their roles.
    pub roles: Roles,
}

impl Standing<'_> {
    /// Whether they hold `caption`.
    pub fn holds(&self, caption: &Caption) -> bool {
        self.captions.binary_search(caption).is_ok()
    }

    /// This standing as a closed term ending at `until_ms`.
    pub fn to_term(&self, until_ms: u64) -> Term {
        Term {
            until_ms,
            mission: self.mission.clone(),
            signing_key: *self.signing_key,
            clearance: self.clearance,
            captions: self.captions.to_vec(),
            roles: self.roles,
        }
    }
}

/// What a revocation withdraws. Ordered by wire tag, then value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A node: its connections are refused and its signatures no longer
    /// accepted.
    Node(Id),
    /// A person: likewise.
    Person(Id),
    /// One certificate, by serial number (a lost laptop, a re-issued key).
    Certificate(u64),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Node(id) => write!(f, "node {id}"),
            Subject::Person(id) => write!(f, "person {id}"),
            Subject::Certificate(s) => write!(f, "certificate serial {s}"),
        }
    }
}

impl Encode for Subject {
    fn encode(&self, w: &mut Writer) {
        match self {
            Subject::Node(id) => {
                w.u8(0);
                id.encode(w);
            }
            Subject::Person(id) => {
                w.u8(1);
                id.encode(w);
            }
            Subject::Certificate(serial) => {
                w.u8(2);
                w.varint(*serial);
            }
        }
    }
}

impl Decode for Subject {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("revocation subject")? {
            0 => Ok(Subject::Node(Id::decode(r)?)),
            1 => Ok(Subject::Person(Id::decode(r)?)),
            2 => Ok(Subject::Certificate(r.varint("certificate serial")?)),
            code => Err(DecodeError::UnknownCode {
                field: "revocation subject",
                code: code.into(),
            }),
        }
    }
}

/// A withdrawal of trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What is revoked.
    pub subject: Subject,
    /// From when (ms since the Unix epoch). Documents the subject signed
    /// with an earlier `created` time stay valid (a person who left still
    /// wrote their old cables); for a compromised key the administrator
    /// sets this to 0, which voids everything the key ever signed.
    pub effective_ms: u64,
    /// Why, for the audit trail.
    pub reason: String,
}

impl Revocation {
    /// Whether the revocation applies at `at_ms`.
    pub fn applies_at(&self, at_ms: u64) -> bool {
        at_ms >= self.effective_ms
    }
}

impl Encode for Revocation {
    fn encode(&self, w: &mut Writer) {
        self.subject.encode(w);
        w.varint(self.effective_ms);
        w.str(&self.reason);
    }
}

impl Decode for Revocation {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Revocation {
            subject: Subject::decode(r)?,
            effective_ms: r.varint("revocation time")?,
            reason: r.str("revocation reason", MAX_REASON)?,
        })
    }
}

/// The ministry's list of missions, nodes, people and revocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// Strictly increasing with every change; starts at 1.
    pub version: u64,
    /// The ministry's name.
    pub ministry: String,
    /// SHA-256 fingerprints of the trusted CA certificates (DER), ascending.
    /// More than one only while a CA is being rotated.
    pub ca_fingerprints: Vec<[u8; 32]>,
    /// The CA's current certificate revocation list (DER), empty if none
    /// has been issued. Carried here so that it replicates with the roster.
    pub crl: Vec<u8>,
    /// Missions, ascending by id.
    pub missions: Vec<Mission>,
    /// Nodes, ascending by id.
    pub nodes: Vec<Node>,
    /// People, ascending by id.
    pub people: Vec<Person>,
    /// Revocations, ascending by subject.
    pub revocations: Vec<Revocation>,
    /// Earlier terms of the people whose standing changed, ascending by
    /// person (envelope version 2; none in version 1).
    pub history: Vec<History>,
}

/// Why a roster could not be changed or accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RosterError {
    /// The document is not a roster.
    #[error("expected a roster document, got a {0}")]
    NotRoster(Kind),
    /// The roster was signed by a key other than the ministry root.
    #[error("roster signed by {found}, not by the ministry root {root}: refusing a forged roster")]
    NotSignedByRoot {
        /// Key that signed it.
        found: PublicKey,
        /// The root key we trust.
        root: PublicKey,
    },
    /// The signature does not verify.
    #[error("roster signature invalid: {0}")]
    Signature(#[from] VerifyError),
    /// Not newer than the roster held.
    #[error(
        "roster version {offered} is not newer than the version {held} already held (replay or downgrade refused)"
    )]
    NotNewer {
        /// Version held.
        held: u64,
        /// Version offered.
        offered: u64,
    },
    /// The content breaks a roster rule.
    #[error("invalid roster: {0}")]
    Invalid(#[from] DecodeError),
    /// An edit named something that does not exist.
    #[error("unknown {what} {id:?}; `chapar admin roster show` lists what exists")]
    Unknown {
        /// "mission", "node" or "person".
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// An edit would add something that exists already.
    #[error("{what} {id:?} already exists")]
    Duplicate {
        /// "mission", "node", "person" or "revocation".
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// A newer roster rewrites what an older one said about the past, so
    /// nodes holding documents signed under the older one would judge them
    /// differently from nodes that receive them later.
    #[error(
        "roster rewrites the past: {0}; a change must close the person's term at a time no earlier than the roster's own"
    )]
    RewritesHistory(String),
}

impl Roster {
    /// An empty roster, version 1, trusting the given CA.
    pub fn new(ministry: impl Into<String>, ca_fingerprint: [u8; 32]) -> Roster {
        Roster {
            version: 1,
            ministry: ministry.into(),
            ca_fingerprints: vec![ca_fingerprint],
            crl: Vec::new(),
            missions: Vec::new(),
            nodes: Vec::new(),
            people: Vec::new(),
            revocations: Vec::new(),
            history: Vec::new(),
        }
    }

    /// The mission with this id.
    pub fn mission(&self, id: &Id) -> Option<&Mission> {
        find(&self.missions, id, |m| &m.id)
    }

    /// The node with this id.
    pub fn node(&self, id: &Id) -> Option<&Node> {
        find(&self.nodes, id, |n| &n.id)
    }

    /// The person with this id.
    pub fn person(&self, id: &Id) -> Option<&Person> {
        find(&self.people, id, |p| &p.id)
    }

    /// The revocation of `subject`, if any.
    pub fn revocation(&self, subject: &Subject) -> Option<&Revocation> {
        self.revocations
            .binary_search_by(|r| r.subject.cmp(subject))
            .ok()
            .map(|i| &self.revocations[i])
    }

    /// Whether `subject` is revoked at `at_ms`.
    pub fn is_revoked(&self, subject: &Subject, at_ms: u64) -> bool {
        self.revocation(subject)
            .is_some_and(|r| r.applies_at(at_ms))
    }

    /// The earlier terms of `person`, oldest first (empty if their standing
    /// never changed).
    pub fn earlier_terms(&self, person: &Id) -> &[Term] {
        self.history
            .binary_search_by(|h| h.person.cmp(person))
            .map(|i| &self.history[i].earlier[..])
            .unwrap_or(&[])
    }

    /// What `p` could write at `at_ms`: the earlier term in force then, or
    /// their entry.
    pub fn standing_at<'a>(&'a self, p: &'a Person, at_ms: u64) -> Standing<'a> {
        self.earlier_terms(&p.id)
            .iter()
            .find(|t| at_ms < t.until_ms)
            .map(Term::standing)
            .unwrap_or_else(|| p.standing())
    }

    /// Changes person `id` from `effective_ms` on: their current standing
    /// becomes an earlier term ending then, and `change` edits their entry
    /// (mission, clearance, captions, roles, signing key, name). What they
    /// signed before `effective_ms` is still judged by the old standing.
    /// `effective_ms` must be later than their last change.
    pub fn change_person(
        &mut self,
        id: &Id,
        effective_ms: u64,
        change: impl FnOnce(&mut Person),
    ) -> Result<(), RosterError> {
        let i = self
            .people
            .binary_search_by(|p| p.id.cmp(id))
            .map_err(|_| unknown("person", id.as_str()))?;
        if let Some(last) = self.earlier_terms(id).last()
            && effective_ms <= last.until_ms
        {
            return Err(RosterError::RewritesHistory(format!(
                "{id}'s standing last changed at {} ms, not before {effective_ms} ms",
                last.until_ms
            )));
        }
        let mut person = self.people[i].clone();
        let term = person.standing().to_term(effective_ms);
        change(&mut person);
        person.captions.sort();
        person.captions.dedup();
        check_text("person name", &person.name, MAX_NAME, true)?;
        self.require_mission(&person.mission)?;
        if person.signing_key != self.people[i].signing_key {
            self.require_unused_key(&person.signing_key)?;
        }
        let standing_changed = person.standing() != self.people[i].standing();
        self.people[i] = person;
        if standing_changed {
            match self.history.binary_search_by(|h| h.person.cmp(id)) {
                Ok(h) => self.history[h].earlier.push(term),
                Err(h) => self.history.insert(
                    h,
                    History {
                        person: id.clone(),
                        earlier: vec![term],
                    },
                ),
            }
        }
        Ok(())
    }

    /// Adds a mission, keeping the list sorted.
    pub fn add_mission(&mut self, m: Mission) -> Result<(), RosterError> {
        check_text("mission name", &m.name, MAX_NAME, true)?;
        insert_sorted(&mut self.missions, m, |m| &m.id, "mission")
    }

    /// Adds a node of an existing mission.
    pub fn add_node(&mut self, n: Node) -> Result<(), RosterError> {
        self.require_mission(&n.mission)?;
        self.require_unused_key(&n.signing_key)?;
        insert_sorted(&mut self.nodes, n, |n| &n.id, "node")
    }

    /// Adds a person of an existing mission.
    pub fn add_person(&mut self, mut p: Person) -> Result<(), RosterError> {
        check_text("person name", &p.name, MAX_NAME, true)?;
        self.require_mission(&p.mission)?;
        self.require_unused_key(&p.signing_key)?;
        p.captions.sort();
        p.captions.dedup();
        insert_sorted(&mut self.people, p, |p| &p.id, "person")
    }

    /// Records a revocation. Revoking a node or person that is not listed
    /// is refused (it is almost always a typo).
    pub fn revoke(&mut self, rev: Revocation) -> Result<(), RosterError> {
        match &rev.subject {
            Subject::Node(id) if self.node(id).is_none() => {
                return Err(unknown("node", id.as_str()));
            }
            Subject::Person(id) if self.person(id).is_none() => {
                return Err(unknown("person", id.as_str()));
            }
            _ => {}
        }
        check_text("revocation reason", &rev.reason, MAX_REASON, false)?;
        match self
            .revocations
            .binary_search_by(|r| r.subject.cmp(&rev.subject))
        {
            Ok(_) => Err(RosterError::Duplicate {
                what: "revocation",
                id: rev.subject.to_string(),
            }),
            Err(i) => {
                self.revocations.insert(i, rev);
                Ok(())
            }
        }
    }

    /// Checks every rule a decoder enforces: limits, order, references
    /// between entries, distinct signing keys.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version == 0 {
            return Err(DecodeError::Invalid {
                field: "roster version",
                reason: "versions start at 1".into(),
            });
        }
        check_text("ministry name", &self.ministry, MAX_NAME, true)?;
        if self.ca_fingerprints.is_empty() {
            return Err(DecodeError::Invalid {
                field: "roster CA fingerprints",
                reason: "at least one CA must be trusted".into(),
            });
        }
        ensure_max(
            "roster CA fingerprints",
            self.ca_fingerprints.len(),
            MAX_CAS,
        )?;
        ensure_max("roster CRL", self.crl.len(), MAX_CRL)?;
        ensure_max("roster missions", self.missions.len(), MAX_MISSIONS)?;
        ensure_max("roster nodes", self.nodes.len(), MAX_NODES)?;
        ensure_max("roster people", self.people.len(), MAX_PEOPLE)?;
        ensure_max(
            "roster revocations",
            self.revocations.len(),
            MAX_REVOCATIONS,
        )?;
        ensure_ascending(&self.ca_fingerprints, "roster CA fingerprints")?;
        ensure_ascending_by(&self.missions, |m| &m.id, "roster missions")?;
        ensure_ascending_by(&self.nodes, |n| &n.id, "roster nodes")?;
        ensure_ascending_by(&self.people, |p| &p.id, "roster people")?;
        ensure_ascending_by(&self.revocations, |r| &r.subject, "roster revocations")?;
        for m in &self.missions {
            check_text("mission name", &m.name, MAX_NAME, true)?;
        }
        for n in &self.nodes {
            self.require_listed_mission(&n.mission, "node mission")?;
        }
        for p in &self.people {
            check_text("person name", &p.name, MAX_NAME, true)?;
            self.require_listed_mission(&p.mission, "person mission")?;
            ensure_ascending(&p.captions, "person captions")?;
        }
        ensure_max("roster history", self.history.len(), MAX_PEOPLE)?;
        ensure_ascending_by(&self.history, |h| &h.person, "roster history")?;
        for h in &self.history {
            if self.person(&h.person).is_none() {
                return Err(DecodeError::Invalid {
                    field: "roster history",
                    reason: format!("person {} is not listed", h.person),
                });
            }
            if h.earlier.is_empty() {
                return Err(DecodeError::Invalid {
                    field: "roster history",
                    reason: format!("{} has an empty history", h.person),
                });
            }
            if !h.earlier.windows(2).all(|w| w[0].until_ms < w[1].until_ms) {
                return Err(DecodeError::NotAscending {
                    field: "person terms",
                });
            }
            for t in &h.earlier {
                self.require_listed_mission(&t.mission, "term mission")?;
                ensure_ascending(&t.captions, "term captions")?;
            }
        }
        // A key signs for one node or one person (in any of their terms).
        let mut keys: Vec<(&PublicKey, Option<&Id>)> = self
            .nodes
            .iter()
            .map(|n| (&n.signing_key, None))
            .chain(self.people.iter().map(|p| (&p.signing_key, Some(&p.id))))
            .chain(
                self.history
                    .iter()
                    .flat_map(|h| h.earlier.iter().map(|t| (&t.signing_key, Some(&h.person)))),
            )
            .collect();
        keys.sort_unstable();
        keys.dedup_by(|a, b| a.0 == b.0 && a.1.is_some() && a.1 == b.1);
        if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(DecodeError::Invalid {
                field: "roster signing keys",
                reason: format!("key {} is listed twice", w[0].0),
            });
        }
        Ok(())
    }

    fn require_listed_mission(&self, id: &Id, field: &'static str) -> Result<(), DecodeError> {
        match self.mission(id) {
            Some(_) => Ok(()),
            None => Err(DecodeError::Invalid {
                field,
                reason: format!("mission {id} is not listed"),
            }),
        }
    }

    fn require_mission(&self, id: &Id) -> Result<(), RosterError> {
        self.mission(id)
            .map(|_| ())
            .ok_or_else(|| unknown("mission", id.as_str()))
    }

    fn require_unused_key(&self, key: &PublicKey) -> Result<(), RosterError> {
        let used = self.nodes.iter().any(|n| &n.signing_key == key)
            || self.people.iter().any(|p| &p.signing_key == key)
            || self
                .history
                .iter()
                .flat_map(|h| &h.earlier)
                .any(|t| &t.signing_key == key);
        if used {
            return Err(RosterError::Duplicate {
                what: "signing key",
                id: key.to_hex(),
            });
        }
        Ok(())
    }
}

fn unknown(what: &'static str, id: &str) -> RosterError {
    RosterError::Unknown {
        what,
        id: id.to_owned(),
    }
}

fn find<'a, T>(items: &'a [T], id: &Id, key: impl Fn(&T) -> &Id) -> Option<&'a T> {
    items
        .binary_search_by(|x| key(x).cmp(id))
        .ok()
        .map(|i| &items[i])
}

fn insert_sorted<T>(
    items: &mut Vec<T>,
    item: T,
    key: impl Fn(&T) -> &Id,
    what: &'static str,
) -> Result<(), RosterError> {
    match items.binary_search_by(|x| key(x).cmp(key(&item))) {
        Ok(_) => Err(RosterError::Duplicate {
            what,
            id: key(&item).to_string(),
        }),
        Err(i) => {
            items.insert(i, item);
            Ok(())
        }
    }
}

fn ensure_ascending_by<T, K: Ord>(
    items: &[T],
    key: impl Fn(&T) -> &K,
    field: &'static str,
) -> Result<(), DecodeError> {
    if items.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
        Ok(())
    } else {
        Err(DecodeError::NotAscending { field })
    }
}

impl Roster {
    /// The layout of envelope version 1: no history.
    pub(crate) fn encode_v1(&self, w: &mut Writer) {
        w.varint(self.version);
        w.str(&self.ministry);
        w.seq(&self.ca_fingerprints);
        w.bytes(&self.crl);
        w.seq(&self.missions);
        w.seq(&self.nodes);
        w.seq(&self.people);
        w.seq(&self.revocations);
    }

    /// Reads the layout of envelope version 1 (no history).
    pub(crate) fn decode_v1(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let roster = Roster::decode_fields(r, false)?;
        roster.validate()?;
        Ok(roster)
    }

    fn decode_fields(r: &mut Reader<'_>, with_history: bool) -> Result<Self, DecodeError> {
        Ok(Roster {
            version: r.varint("roster version")?,
            ministry: r.str("ministry name", MAX_NAME)?,
            ca_fingerprints: r.seq("roster CA fingerprints", MAX_CAS)?,
            crl: r.bytes("roster CRL", MAX_CRL)?.to_vec(),
            missions: r.seq("roster missions", MAX_MISSIONS)?,
            nodes: r.seq("roster nodes", MAX_NODES)?,
            people: r.seq("roster people", MAX_PEOPLE)?,
            revocations: r.seq("roster revocations", MAX_REVOCATIONS)?,
            history: if with_history {
                r.seq("roster history", MAX_PEOPLE)?
            } else {
                Vec::new()
            },
        })
    }
}

impl Encode for Roster {
    fn encode(&self, w: &mut Writer) {
        self.encode_v1(w);
        w.seq(&self.history);
    }
}

impl Decode for Roster {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let roster = Roster::decode_fields(r, true)?;
        roster.validate()?;
        Ok(roster)
    }
}

/// Accepts `doc` as the new roster if it is a roster, signed by `root`, with
/// a valid signature, and newer than `held` (if any). Returns the roster to
/// use from now on; on any error the held roster stays in force.
pub fn accept_update(
    root: &PublicKey,
    held: Option<&Roster>,
    doc: &Document,
) -> Result<Roster, RosterError> {
    let Body::Roster(roster) = doc.body() else {
        return Err(RosterError::NotRoster(doc.kind()));
    };
    if doc.author() != root {
        return Err(RosterError::NotSignedByRoot {
            found: *doc.author(),
            root: *root,
        });
    }
    doc.verify()?;
    if let Some(held) = held {
        if roster.version <= held.version {
            return Err(RosterError::NotNewer {
                held: held.version,
                offered: roster.version,
            });
        }
        check_succession(held, roster, doc.created_ms())?;
    }
    Ok(roster.clone())
}

/// Whether `new` (signed at `created_ms`) keeps what `held` says about the
/// past: every person is still listed, with every earlier term as it was;
/// a standing that changed was closed as a new term, ending no earlier
/// than `created_ms`. So a document signed before the new roster was
/// made is judged alike by a node holding either roster, and a node that
/// receives it only later cannot refuse it for ever.
pub fn check_succession(held: &Roster, new: &Roster, created_ms: u64) -> Result<(), RosterError> {
    let rewrites = |why: String| Err(RosterError::RewritesHistory(why));
    for p in &held.people {
        let Some(q) = new.person(&p.id) else {
            return rewrites(format!("person {} is no longer listed", p.id));
        };
        let (before, after) = (held.earlier_terms(&p.id), new.earlier_terms(&p.id));
        if after.get(..before.len()) != Some(before) {
            return rewrites(format!("{}'s earlier terms changed", p.id));
        }
        match after.get(before.len()) {
            None if q.standing() != p.standing() => {
                return rewrites(format!(
                    "{}'s standing changed without closing a term",
                    p.id
                ));
            }
            None => {}
            Some(closed) => {
                if closed.standing() != p.standing() {
                    return rewrites(format!(
                        "{}'s closed term is not the standing the held roster gave",
                        p.id
                    ));
                }
                if let Some(t) = after[before.len()..]
                    .iter()
                    .find(|t| t.until_ms < created_ms)
                {
                    return rewrites(format!(
                        "{}'s term closes at {} ms, before the roster was made at {created_ms} ms",
                        p.id, t.until_ms
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The earliest creation time from which `new` can judge a document's
/// author differently from `old` (a revocation added or brought forward,
/// a term closed, a node's key or mission changed); `None` if it cannot.
/// A node re-checks the documents it holds that were created from then on
/// when it accepts `new`, and sets aside those `new` no longer allows, so
/// that what it holds never depends on which roster it held when they
/// arrived.
pub fn affected_since(old: &Roster, new: &Roster) -> Option<u64> {
    let revoked = new
        .revocations
        .iter()
        .filter_map(|r| match old.revocation(&r.subject) {
            Some(o) if o.effective_ms <= r.effective_ms => None,
            _ => Some(r.effective_ms),
        });
    let closed = new.history.iter().filter_map(|h| {
        let before = old.earlier_terms(&h.person).len();
        // Documents from the end of the first newly closed term on are
        // judged by a newer standing; earlier ones as before.
        h.earlier.get(before).map(|t| t.until_ms)
    });
    let people = old.people.iter().filter_map(|p| match new.person(&p.id) {
        None => Some(0),
        // Changed with no closed term (refused by `check_succession`,
        // but judge it if it happens): from the beginning.
        Some(q)
            if q.standing() != p.standing()
                && new.earlier_terms(&p.id).len() == old.earlier_terms(&p.id).len() =>
        {
            Some(0)
        }
        _ => None,
    });
    let nodes = old.nodes.iter().filter_map(|n| match new.node(&n.id) {
        Some(m) if m.signing_key == n.signing_key && m.mission == n.mission => None,
        _ => Some(0),
    });
    revoked.chain(closed).chain(people).chain(nodes).min()
}
