//! The signed document envelope shared by every kind.
//!
//! ```text
//! magic "CHPR" | version u8 = 1 | kind u8 | author [32] | created varint
//!              | body (varint length + bytes) | signature [64]
//! ```
//!
//! The signature is ed25519 over `SIGNING_CONTEXT || SHA-256(envelope
//! without its signature)`; the document's id is SHA-256 of the complete
//! envelope. A document keeps the exact bytes it was decoded from, so its
//! signature is checked over the bytes as received and its id never depends
//! on re-encoding. See `docs/wire-format.md`.

use std::collections::HashMap;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, Signer, SigningKey};
use sha2::{Digest, Sha256, Sha512};
use thiserror::Error;

use crate::cable::{Cable, CableClearance, CableRelease};
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::receipt::Receipt;
use crate::roster::Roster;
use crate::types::{DocId, PublicKey, code_enum};
use crate::wiki::WikiRevision;

/// First four bytes of every document.
pub const MAGIC: [u8; 4] = *b"CHPR";
/// The envelope format this build writes. Version 2 added the marking of
/// clearances and receipts and the roster's history of people's terms.
pub const FORMAT_VERSION: u8 = 2;
/// The oldest envelope format this build still reads (documents already
/// signed and held stay valid; see [`Body::decode_as`]).
pub const OLDEST_FORMAT_VERSION: u8 = 1;
/// Largest document accepted, in bytes (a large roster is the biggest).
pub const MAX_DOCUMENT: usize = 16 << 20;
/// Largest body accepted, in bytes.
pub const MAX_BODY: usize = MAX_DOCUMENT - 128;
/// Prefix of every signed message: it keeps a chapar signature from being
/// valid in any other protocol that uses the same key, and vice versa.
pub const SIGNING_CONTEXT: &[u8; 18] = b"chapar document v1";
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

code_enum!(
    /// What a document is. The code is the envelope's kind byte.
    Kind, "document kind", {
        /// The ministry's roster.
        Roster = 1 => "ROSTER",
        /// A wiki page revision.
        WikiRevision = 2 => "WIKI REVISION",
        /// A drafted cable.
        Cable = 3 => "CABLE",
        /// A clearance of a drafted cable.
        CableClearance = 4 => "CABLE CLEARANCE",
        /// The release of a cable for delivery.
        CableRelease = 5 => "CABLE RELEASE",
        /// A delivery or read receipt.
        Receipt = 6 => "RECEIPT",
    }
);

/// The kind-specific content of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// See [`Roster`].
    Roster(Roster),
    /// See [`WikiRevision`].
    WikiRevision(WikiRevision),
    /// See [`Cable`].
    Cable(Cable),
    /// See [`CableClearance`].
    CableClearance(CableClearance),
    /// See [`CableRelease`].
    CableRelease(CableRelease),
    /// See [`Receipt`].
    Receipt(Receipt),
}

impl Body {
    /// The kind of this body.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Roster(_) => Kind::Roster,
            Body::WikiRevision(_) => Kind::WikiRevision,
            Body::Cable(_) => Kind::Cable,
            Body::CableClearance(_) => Kind::CableClearance,
            Body::CableRelease(_) => Kind::CableRelease,
            Body::Receipt(_) => Kind::Receipt,
        }
    }

    /// Checks the rules a decoder enforces.
    pub fn validate(&self) -> Result<(), DecodeError> {
        match self {
            Body::Roster(b) => b.validate(),
            Body::WikiRevision(b) => b.validate(),
            Body::Cable(b) => b.validate(),
            Body::CableClearance(b) => b.validate(),
            Body::CableRelease(b) => b.validate(),
            Body::Receipt(_) => Ok(()),
        }
    }

    /// Decodes a body of `kind` in the layout of envelope `version`.
    /// Version 1 differs for three kinds: a roster has no history, a
    /// clearance and a receipt no marking (they get [`crate::Marking::VERSION_1`]).
    fn decode_as(kind: Kind, version: u8, bytes: &[u8]) -> Result<Body, DecodeError> {
        if version == 1 {
            let mut r = Reader::new(bytes);
            let body = match kind {
                Kind::Roster => Some(Body::Roster(Roster::decode_v1(&mut r)?)),
                Kind::CableClearance => {
                    Some(Body::CableClearance(CableClearance::decode_v1(&mut r)?))
                }
                Kind::Receipt => Some(Body::Receipt(Receipt::decode_v1(&mut r)?)),
                _ => None,
            };
            if let Some(body) = body {
                r.finish("version 1 body")?;
                return Ok(body);
            }
        }
        Ok(match kind {
            Kind::Roster => Body::Roster(Roster::from_bytes(bytes, "roster body")?),
            Kind::WikiRevision => {
                Body::WikiRevision(WikiRevision::from_bytes(bytes, "wiki revision body")?)
            }
            Kind::Cable => Body::Cable(Cable::from_bytes(bytes, "cable body")?),
            Kind::CableClearance => {
                Body::CableClearance(CableClearance::from_bytes(bytes, "clearance body")?)
            }
            Kind::CableRelease => {
                Body::CableRelease(CableRelease::from_bytes(bytes, "release body")?)
            }
            Kind::Receipt => Body::Receipt(Receipt::from_bytes(bytes, "receipt body")?),
        })
    }
}

impl Body {
    /// Encodes the body in the layout of envelope `version`.
    fn encode_as(&self, version: u8, w: &mut Writer) {
        match (version, self) {
            (1, Body::Roster(b)) => b.encode_v1(w),
            (1, Body::CableClearance(b)) => b.encode_v1(w),
            (1, Body::Receipt(b)) => b.encode_v1(w),
            _ => self.encode(w),
        }
    }
}

impl Encode for Body {
    fn encode(&self, w: &mut Writer) {
        match self {
            Body::Roster(b) => b.encode(w),
            Body::WikiRevision(b) => b.encode(w),
            Body::Cable(b) => b.encode(w),
            Body::CableClearance(b) => b.encode(w),
            Body::CableRelease(b) => b.encode(w),
            Body::Receipt(b) => b.encode(w),
        }
    }
}

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The author bytes are not a point on the curve.
    #[error("author key is not a valid ed25519 public key")]
    MalformedKey,
    /// The author key has small order: any signature would verify under it.
    #[error("author key is a weak (small-order) ed25519 key")]
    WeakKey,
    /// The signature does not match the document and key.
    #[error("signature does not verify: the document was altered or not signed by its author")]
    BadSignature,
}

/// Why a document could not be created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignError {
    /// The body breaks a rule of its kind.
    #[error("refusing to sign an invalid document: {0}")]
    Invalid(#[from] DecodeError),
    /// The encoded document would exceed [`MAX_DOCUMENT`].
    #[error("document would be {0} bytes, more than the maximum {MAX_DOCUMENT}")]
    TooLarge(usize),
}

/// A signed document: its decoded fields plus the exact bytes they came from.
///
/// Holding a `Document` means its bytes are canonical; it does *not* mean
/// the signature was checked — call [`Document::verify`] or
/// [`verify_batch`], then [`crate::policy::Trust::authorize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    bytes: Vec<u8>,
    version: u8,
    id: DocId,
    author: PublicKey,
    created_ms: u64,
    body: Body,
}

impl Document {
    /// Encodes and signs `body` as `key`'s document created at `created_ms`
    /// (milliseconds since the Unix epoch).
    pub fn sign(key: &SigningKey, created_ms: u64, body: Body) -> Result<Document, SignError> {
        body.validate()?;
        let author = PublicKey(key.verifying_key().to_bytes());
        let mut bytes = unsigned_envelope(FORMAT_VERSION, &author, created_ms, &body);
        let sig = key.sign(&signed_message(&bytes));
        bytes.extend_from_slice(&sig.to_bytes());
        if bytes.len() > MAX_DOCUMENT {
            return Err(SignError::TooLarge(bytes.len()));
        }
        Ok(Document {
            id: DocId(Sha256::digest(&bytes).into()),
            bytes,
            version: FORMAT_VERSION,
            author,
            created_ms,
            body,
        })
    }

    /// Decodes a document, refusing anything non-canonical: bad magic,
    /// unknown version or kind, non-minimal integers, oversize fields,
    /// unsorted sets, trailing bytes. Does not check the signature.
    pub fn decode(bytes: &[u8]) -> Result<Document, DecodeError> {
        Document::decode_checked(bytes, |_| Ok(()))
    }

    /// Decodes a document that must be of kind `kind`, checking the kind
    /// byte *before* the body is decoded. A release embeds its draft this
    /// way, so an embedded document can never embed another one: decoding
    /// never recurses on what the input says, however it is nested.
    pub fn decode_kind(
        bytes: &[u8],
        kind: Kind,
        field: &'static str,
    ) -> Result<Document, DecodeError> {
        Document::decode_checked(bytes, |found| {
            if found == kind {
                Ok(())
            } else {
                Err(DecodeError::Invalid {
                    field,
                    reason: format!("must be a {kind}, not a {found}"),
                })
            }
        })
    }

    fn decode_checked(
        bytes: &[u8],
        check_kind: impl FnOnce(Kind) -> Result<(), DecodeError>,
    ) -> Result<Document, DecodeError> {
        if bytes.len() > MAX_DOCUMENT {
            return Err(DecodeError::TooLong {
                field: "document",
                len: bytes.len() as u64,
                max: MAX_DOCUMENT as u64,
            });
        }
        let mut r = Reader::new(bytes);
        if r.fixed::<4>("magic")? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.u8("format version")?;
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let kind = Kind::decode(&mut r)?;
        check_kind(kind)?;
        let author = PublicKey::decode(&mut r)?;
        let created_ms = r.varint("created time")?;
        let body_bytes = r.bytes("body", MAX_BODY)?;
        r.take(SIGNATURE_LEN, "signature")?;
        r.finish("document")?;
        let body = Body::decode_as(kind, version, body_bytes)?;
        Ok(Document {
            id: DocId(Sha256::digest(bytes).into()),
            bytes: bytes.to_vec(),
            version,
            author,
            created_ms,
            body,
        })
    }

    /// Encodes the decoded fields again. For every document this equals
    /// [`Document::as_bytes`]: decoding accepts only canonical bytes.
    pub fn reencode(&self) -> Vec<u8> {
        let mut bytes = unsigned_envelope(self.version, &self.author, self.created_ms, &self.body);
        bytes.extend_from_slice(&self.signature().to_bytes());
        bytes
    }

    /// The content address: SHA-256 of [`Document::as_bytes`].
    pub fn id(&self) -> DocId {
        self.id
    }

    /// The exact envelope bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The envelope bytes, consuming the document.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The envelope format version it was signed in.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// What kind of document this is.
    pub fn kind(&self) -> Kind {
        self.body.kind()
    }

    /// The key that claims to have signed it.
    pub fn author(&self) -> &PublicKey {
        &self.author
    }

    /// When the author says it was created (ms since the Unix epoch).
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// The decoded content.
    pub fn body(&self) -> &Body {
        &self.body
    }

    fn signature(&self) -> Signature {
        let mut sig = [0u8; SIGNATURE_LEN];
        sig.copy_from_slice(&self.bytes[self.bytes.len() - SIGNATURE_LEN..]);
        Signature::from_bytes(&sig)
    }

    /// The exact message the signature covers:
    /// `SIGNING_CONTEXT || SHA-256(envelope without signature)`.
    pub fn signed_message(&self) -> [u8; 50] {
        signed_message(&self.bytes[..self.bytes.len() - SIGNATURE_LEN])
    }

    /// Checks the signature of this document, and of every document
    /// embedded in it (a release's draft), by chapar's one signature rule
    /// (see [`verify_batch`] and ADR 0016): the author key must be a curve
    /// point that is not of small order, `S` must be canonical, and the
    /// cofactored equation `[8][S]B = [8]R + [8][k]A` must hold (ZIP-215).
    /// The verdict is a function of the document's bytes alone: the same
    /// here, in any batch, at ingest, at replay and in every client.
    pub fn verify(&self) -> Result<(), VerifyError> {
        self.signed_parts().try_for_each(Document::verify_own)
    }

    /// This document's own signature only.
    fn verify_own(&self) -> Result<(), VerifyError> {
        author_key(&self.author)?;
        let key = ed25519_zebra::VerificationKey::try_from(self.author.0)
            .map_err(|_| VerifyError::MalformedKey)?;
        key.verify(&self.signature(), &self.signed_message())
            .map_err(|_| VerifyError::BadSignature)
    }

    /// This document and the signed documents embedded in it.
    pub fn signed_parts(&self) -> impl Iterator<Item = &Document> {
        let embedded = match &self.body {
            Body::CableRelease(r) => Some(r.draft()),
            _ => None,
        };
        std::iter::once(self).chain(embedded)
    }
}

/// The envelope up to (not including) its signature.
fn unsigned_envelope(version: u8, author: &PublicKey, created_ms: u64, body: &Body) -> Vec<u8> {
    let mut body_w = Writer::default();
    body.encode_as(version, &mut body_w);
    let body_bytes = body_w.into_bytes();
    let mut w = Writer::with_capacity(body_bytes.len() + 128);
    w.fixed(&MAGIC);
    w.u8(version);
    w.u8(body.kind().code());
    author.encode(&mut w);
    w.varint(created_ms);
    w.bytes(&body_bytes);
    w.into_bytes()
}

/// The message an envelope's signature covers.
fn signed_message(unsigned: &[u8]) -> [u8; 50] {
    let mut m = [0u8; 50];
    m[..18].copy_from_slice(SIGNING_CONTEXT);
    m[18..].copy_from_slice(&Sha256::digest(unsigned));
    m
}

/// Refuses author keys that are not curve points, and weak keys: a
/// small-order key verifies a signature on every message under the
/// cofactored equation, so it would let anyone "sign" as its holder.
fn author_key(key: &PublicKey) -> Result<(), VerifyError> {
    let point = CompressedEdwardsY(key.0)
        .decompress()
        .ok_or(VerifyError::MalformedKey)?;
    if point.is_small_order() {
        return Err(VerifyError::WeakKey);
    }
    Ok(())
}

/// How many signatures are checked together; beyond this the gain per
/// signature flattens and a failure costs more individual re-checks.
const BATCH_CHUNK: usize = 128;

/// Verifies many documents at once, for bulk ingest and replay. The result
/// has one entry per document, in order, and each entry is exactly what
/// [`Document::verify`] says of that document, whatever else shares the
/// batch.
///
/// That equality is why chapar verifies by ZIP-215's rules: the batch
/// equation is the single one multiplied by the cofactor and combined with
/// coefficients, so a torsion component that a key's owner puts into `R`
/// passes both or neither. ed25519-dalek's batch check is cofactorless and
/// its single `verify_strict` refuses such a signature, so whether the
/// batch accepted it depended on the coefficients, and so on its
/// neighbours: two nodes, or one node before and after a restart, could
/// disagree about the same bytes (ADR 0016).
///
/// Author keys are checked first (malformed and weak keys are refused,
/// each key once per batch); the signatures are then verified in chunks,
/// and a chunk that fails is re-checked one by one, so exactly the bad
/// documents are reported.
pub fn verify_batch(docs: &[Document]) -> Vec<Result<(), VerifyError>> {
    let mut results: Vec<Result<(), VerifyError>> = vec![Ok(()); docs.len()];
    let mut pending: Vec<(usize, &Document)> = Vec::with_capacity(docs.len());
    // A bulk batch has few authors: judge each key once.
    let mut keys: HashMap<[u8; 32], Result<(), VerifyError>> = HashMap::new();
    for (i, doc) in docs.iter().enumerate() {
        for part in doc.signed_parts() {
            match *keys
                .entry(part.author.0)
                .or_insert_with(|| author_key(&part.author))
            {
                Ok(()) => pending.push((i, part)),
                Err(e) => {
                    if results[i].is_ok() {
                        results[i] = Err(e);
                    }
                }
            }
        }
    }
    for chunk in pending.chunks(BATCH_CHUNK) {
        let mut batch = ed25519_zebra::batch::Verifier::new();
        let mut coefficients = Coefficients::seeded_by(chunk.iter().map(|(_, part)| *part));
        for (_, part) in chunk {
            let key = ed25519_zebra::VerificationKeyBytes::from(part.author.0);
            batch.queue((key, part.signature(), &part.signed_message()));
        }
        if batch.verify(&mut coefficients).is_err() {
            for (i, part) in chunk {
                if let Err(e) = part.verify_own()
                    && results[*i].is_ok()
                {
                    results[*i] = Err(e);
                }
            }
        }
    }
    results
}

/// The random coefficients of a batch check, derived from the batch itself:
/// SHA-512 in counter mode over a seed that commits to every key,
/// signature and message in it (as ed25519-dalek derives its own). No
/// I/O, so verification stays a pure function of its input; and nobody
/// can choose the coefficients without changing the batch they come from,
/// which changes them again.
struct Coefficients {
    seed: [u8; 64],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl Coefficients {
    fn seeded_by<'a>(parts: impl Iterator<Item = &'a Document>) -> Coefficients {
        let mut h = Sha512::new();
        h.update(b"chapar batch verification coefficients v1");
        for part in parts {
            h.update(part.author.0);
            h.update(part.signature().to_bytes());
            h.update(part.signed_message());
        }
        Coefficients {
            seed: h.finalize().into(),
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }
}

impl rand_core::TryRng for Coefficients {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.used == self.block.len() {
                let mut h = Sha512::new();
                h.update(self.seed);
                h.update(self.counter.to_le_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Coefficients {}
