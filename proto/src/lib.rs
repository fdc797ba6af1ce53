//! chapar's pure core: the canonical encoding, the signed documents every
//! node must agree on byte for byte, the roster, and the rule deciding who
//! may write what.
//!
//! Nothing here does I/O, spawns threads or reads the clock: every function
//! is a deterministic function of its arguments, so all of it is tested
//! without sockets or files.
//!
//! - [`codec`]: the canonical byte encoding (varints, strings, sets).
//! - [`types`]: identifiers, classification, captions, TAGS, ids.
//! - [`document`]: the signed envelope, signing and (batch) verification.
//! - [`wiki`], [`cable`], [`receipt`], [`roster`]: the document kinds.
//! - [`policy`]: who may author what.
//! - [`access`]: need to know — which node may hold, which person may see.
//! - [`keys`]: ed25519 key files (PKCS#8 / SPKI PEM).
//! - [`wire`]: frames and messages between nodes and clients.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod cable;
pub mod codec;
pub mod document;
pub mod fold;
pub mod keys;
pub mod policy;
pub mod receipt;
pub mod reconcile;
pub mod roster;
pub mod types;
pub mod wiki;
pub mod wire;

pub use cable::{Cable, CableClearance, CableRelease, Precedence};
pub use codec::{Decode, DecodeError, Encode};
pub use document::{Body, Document, Kind, SignError, VerifyError, verify_batch};
pub use policy::{Arrival, Author, PolicyError, Trust};
pub use receipt::{Receipt, ReceiptStatus};
pub use roster::{
    Mission, MissionKind, Node, NodeRole, Person, Revocation, Role, Roles, Roster, RosterError,
    Subject,
};
pub use types::{Caption, Classification, Country, DocId, Id, Marking, PageId, PublicKey, Tag};
pub use wiki::WikiRevision;
