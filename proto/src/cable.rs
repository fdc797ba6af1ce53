//! Cables: the formal messages between the ministry and its missions, and
//! the signed steps of their life: draft (the [`Cable`] itself), clearance
//! ([`CableClearance`]) and release ([`CableRelease`]).
//!
//! A release *embeds* the signed draft it releases. Addressees receive the
//! release — draft inside — and never a bare draft, so "only a released
//! cable is delivered" holds by construction, and where a document may go is
//! a function of the document alone (see [`crate::access`]).

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer, ensure_ascending, ensure_max};
use crate::document::{Body, Document, Kind, MAX_DOCUMENT};
use crate::types::{Caption, Classification, DocId, Id, Marking, Tag, check_text, code_enum};

/// Maximum action or info addressees.
pub const MAX_ADDRESSEES: usize = 256;
/// Maximum TAGS on one cable.
pub const MAX_TAGS: usize = 64;
/// Maximum references to earlier cables.
pub const MAX_REFERENCES: usize = 256;
/// Maximum subject line in bytes.
pub const MAX_SUBJECT: usize = 1024;
/// Maximum cable text in bytes.
pub const MAX_BODY: usize = 4 << 20;
/// Maximum clearance note in bytes.
pub const MAX_NOTE: usize = 4096;
/// Maximum clearances named by one release.
pub const MAX_CLEARANCES: usize = 64;

code_enum!(
    /// How fast a cable must be handled; higher is more urgent, and live
    /// replication sends more urgent cables first.
    Precedence, "precedence", {
        /// Normal handling.
        Routine = 0 => "ROUTINE",
        /// Handle before routine traffic.
        Immediate = 1 => "IMMEDIATE",
        /// Immediate, and the action officer is called in at night.
        NiactImmediate = 2 => "NIACT IMMEDIATE",
        /// Highest; handle at once.
        Flash = 3 => "FLASH",
    }
);

/// A cable as drafted: the telegram header and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cable {
    /// Mission that sends the cable; the drafter must belong to it.
    pub originator: Id,
    /// Missions expected to act, ascending; at least one.
    pub action: Vec<Id>,
    /// Missions informed, ascending; disjoint from `action`.
    pub info: Vec<Id>,
    /// Handling precedence.
    pub precedence: Precedence,
    /// Classification of the content.
    pub classification: Classification,
    /// Optional handling caption (NODIS, EXDIS, LIMDIS, ...).
    pub caption: Option<Caption>,
    /// TAGS, ascending.
    pub tags: Vec<Tag>,
    /// Subject line.
    pub subject: String,
    /// Earlier cables referred to, in the order cited (REF A, B, ...).
    pub references: Vec<DocId>,
    /// Cable text.
    pub body: String,
}

impl Cable {
    /// Checks the rules a decoder enforces, so nothing invalid gets signed.
    pub fn validate(&self) -> Result<(), DecodeError> {
        ensure_max("cable action addressees", self.action.len(), MAX_ADDRESSEES)?;
        ensure_max("cable info addressees", self.info.len(), MAX_ADDRESSEES)?;
        ensure_max("cable tags", self.tags.len(), MAX_TAGS)?;
        ensure_max("cable references", self.references.len(), MAX_REFERENCES)?;
        ensure_ascending(&self.action, "cable action addressees")?;
        ensure_ascending(&self.info, "cable info addressees")?;
        ensure_ascending(&self.tags, "cable tags")?;
        if self.action.is_empty() {
            return invalid("cable action addressees", "at least one is required");
        }
        if let Some(m) = self
            .info
            .iter()
            .find(|m| self.action.binary_search(m).is_ok())
        {
            return invalid(
                "cable info addressees",
                &format!("{m} is already an action addressee"),
            );
        }
        let mut refs = self.references.clone();
        refs.sort_unstable();
        if refs.windows(2).any(|w| w[0] == w[1]) {
            return invalid("cable references", "the same cable is cited twice");
        }
        check_text("cable subject", &self.subject, MAX_SUBJECT, true)?;
        check_text("cable body", &self.body, MAX_BODY, false)
    }

    /// The cable's classification and caption, as its clearances and
    /// receipts must carry them.
    pub fn marking(&self) -> Marking {
        Marking {
            classification: self.classification,
            caption: self.caption.clone(),
        }
    }

    /// Whether `mission` sends or receives this cable.
    pub fn concerns(&self, mission: &Id) -> bool {
        &self.originator == mission
            || self.action.binary_search(mission).is_ok()
            || self.info.binary_search(mission).is_ok()
    }
}

fn invalid<T>(field: &'static str, reason: &str) -> Result<T, DecodeError> {
    Err(DecodeError::Invalid {
        field,
        reason: reason.to_owned(),
    })
}

impl Encode for Cable {
    fn encode(&self, w: &mut Writer) {
        self.originator.encode(w);
        w.seq(&self.action);
        w.seq(&self.info);
        self.precedence.encode(w);
        self.classification.encode(w);
        w.option(self.caption.as_ref(), |w, c| c.encode(w));
        w.seq(&self.tags);
        w.str(&self.subject);
        w.seq(&self.references);
        w.str(&self.body);
    }
}

impl Decode for Cable {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = Cable {
            originator: Id::decode(r)?,
            action: r.set("cable action addressees", MAX_ADDRESSEES)?,
            info: r.set("cable info addressees", MAX_ADDRESSEES)?,
            precedence: Precedence::decode(r)?,
            classification: Classification::decode(r)?,
            caption: r.option("cable caption", Caption::decode)?,
            tags: r.set("cable tags", MAX_TAGS)?,
            subject: r.str("cable subject", MAX_SUBJECT)?,
            references: r.seq("cable references", MAX_REFERENCES)?,
            body: r.str("cable body", MAX_BODY)?,
        };
        v.validate()?;
        Ok(v)
    }
}

/// A clearer's agreement to a drafted cable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableClearance {
    /// The draft cleared.
    pub cable: DocId,
    /// The draft's originating mission (where the clearance must go).
    pub originator: Id,
    /// Optional remark from the clearer.
    pub note: String,
    /// The draft's classification and caption ([`Cable::marking`]): the
    /// clearance (its note may quote the cable) goes only where the cable
    /// may go. [`Marking::VERSION_1`] in a version-1 document.
    pub marking: Marking,
}

impl CableClearance {
    /// Checks the rules a decoder enforces.
    pub fn validate(&self) -> Result<(), DecodeError> {
        check_text("clearance note", &self.note, MAX_NOTE, false)
    }
}

impl CableClearance {
    /// The layout of envelope version 1: no marking.
    pub(crate) fn encode_v1(&self, w: &mut Writer) {
        self.cable.encode(w);
        self.originator.encode(w);
        w.str(&self.note);
    }

    /// Reads the layout of envelope version 1; the marking is
    /// [`Marking::VERSION_1`].
    pub(crate) fn decode_v1(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = CableClearance {
            cable: DocId::decode(r)?,
            originator: Id::decode(r)?,
            note: r.str("clearance note", MAX_NOTE)?,
            marking: Marking::VERSION_1,
        };
        v.validate()?;
        Ok(v)
    }
}

impl Encode for CableClearance {
    fn encode(&self, w: &mut Writer) {
        self.encode_v1(w);
        self.marking.encode(w);
    }
}

impl Decode for CableClearance {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut v = CableClearance::decode_v1(r)?;
        v.marking = Marking::decode(r)?;
        Ok(v)
    }
}

/// A releasing officer's order to send a drafted cable. It carries the
/// signed draft itself: this is what addressees receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CableRelease {
    /// The signed draft released; always a [`Kind::Cable`] document
    /// (private so that no other kind can be put here).
    draft: Box<Document>,
    /// Clearances the releaser relied on, ascending.
    pub clearances: Vec<DocId>,
}

impl CableRelease {
    /// A release of `draft`, which must be a cable.
    pub fn new(draft: Document, clearances: Vec<DocId>) -> Result<CableRelease, DecodeError> {
        let v = CableRelease {
            draft: Box::new(draft),
            clearances,
        };
        v.validate()?;
        Ok(v)
    }

    /// The signed draft released.
    pub fn draft(&self) -> &Document {
        &self.draft
    }

    /// The released cable's header and text.
    pub fn cable(&self) -> &Cable {
        match self.draft.body() {
            Body::Cable(c) => c,
            // `validate` (run by the constructor and the decoder) refuses
            // any other kind, so a CableRelease never holds one.
            _ => unreachable!("a release always embeds a cable"),
        }
    }

    /// Checks the rules a decoder enforces: the embedded document is a
    /// cable draft; clearances ascend.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.draft.kind() != Kind::Cable {
            return invalid(
                "released draft",
                &format!("must be a CABLE, not a {}", self.draft.kind()),
            );
        }
        ensure_max("release clearances", self.clearances.len(), MAX_CLEARANCES)?;
        ensure_ascending(&self.clearances, "release clearances")
    }
}

impl Encode for CableRelease {
    fn encode(&self, w: &mut Writer) {
        w.bytes(self.draft.as_bytes());
        w.seq(&self.clearances);
    }
}

impl Decode for CableRelease {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // The kind is checked before the draft's body is decoded: a release
        // inside a release is refused without decoding it (no recursion).
        let draft = Document::decode_kind(
            r.bytes("released draft", MAX_DOCUMENT)?,
            Kind::Cable,
            "released draft",
        )?;
        CableRelease::new(draft, r.set("release clearances", MAX_CLEARANCES)?)
    }
}
