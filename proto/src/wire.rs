//! Messages on the wire between nodes (replication) and between a person's
//! client and their node (RPC), and the frames that carry them.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes: one
//! [`Message`] in the canonical encoding. Frames over [`MAX_FRAME`] are
//! refused before their body is read, and a peer that sends one is
//! disconnected.
//!
//! Streams (QUIC, ALPN `chapar/1`):
//! - **Replication**: the dialing node opens one bidirectional stream and
//!   both sides exchange `Hello`, then the newer `Roster`, then
//!   `Reconcile` rounds with `Want` / `Documents`, then `CaughtUp`, then
//!   live `Documents` as they arrive.
//! - **RPC**: a client opens one bidirectional stream per request, writes
//!   one request frame and reads the answer: `Submitted`, `Documents`,
//!   `Listing`, `StatusReport` or `Error`; `Subscribe` is answered by a
//!   stream of `Documents` frames until the client goes away; `Roster`
//!   (the client's roster, applied if newer; may be empty) is answered by
//!   the node's `Roster` in force, which carries the current CRL.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::document::{Kind, MAX_DOCUMENT};
use crate::types::{DocId, Id};

/// Version of this message set, sent in `Hello`.
pub const PROTOCOL_VERSION: u8 = 1;
/// Largest frame body accepted: one maximum-size document plus framing.
pub const MAX_FRAME: usize = MAX_DOCUMENT + 64 * 1024;
/// Most documents in one `Documents` message.
pub const MAX_BATCH: usize = 4096;
/// Most ids in one `Want` message.
pub const MAX_WANT: usize = 65_536;
/// Most entries in one `Listing`.
pub const MAX_LISTING: usize = 10_000;
/// Longest error or status text.
pub const MAX_TEXT: usize = 1 << 20;

/// One entry of a [`Message::Listing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// The document's `created` time (ms).
    pub created_ms: u64,
    /// Its id.
    pub id: DocId,
    /// Its kind.
    pub kind: Kind,
}

/// Error codes of [`Message::Error`].
pub mod code {
    /// The request could not be decoded or is not a request.
    pub const BAD_REQUEST: u16 = 400;
    /// The caller may not do or see this.
    pub const FORBIDDEN: u16 = 403;
    /// No such document (or not one the caller may see).
    pub const NOT_FOUND: u16 = 404;
    /// The submitted document was refused (signature, author, need to know).
    pub const REFUSED: u16 = 422;
    /// The node failed; try again later.
    pub const INTERNAL: u16 = 500;
    /// The node will not take this on now: the caller has as many requests
    /// in progress as it may, or the request needs more work than one may
    /// take. The message says which and what to do.
    pub const BUSY: u16 = 503;
}

/// Everything that travels in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message of a replication session, both ways.
    Hello {
        /// [`PROTOCOL_VERSION`] of the sender.
        protocol: u8,
        /// The sender's node id.
        node: Id,
        /// Version of the roster the sender holds.
        roster_version: u64,
    },
    /// The sender's roster document, sent when the peer's is older.
    Roster {
        /// The signed roster envelope.
        document: Vec<u8>,
    },
    /// One reconciliation message (see [`crate::reconcile`]).
    Reconcile {
        /// The reconciliation payload.
        payload: Vec<u8>,
    },
    /// Please send these documents.
    Want {
        /// Ids wanted.
        ids: Vec<DocId>,
    },
    /// Documents (replication, or the answer to `Fetch` / `Subscribe`).
    Documents {
        /// Signed envelopes.
        documents: Vec<Vec<u8>>,
    },
    /// The sender has finished catch-up; what follows is live.
    CaughtUp,
    /// RPC: store this signed document.
    Submit {
        /// The signed envelope.
        document: Vec<u8>,
    },
    /// RPC answer to `Submit`: stored durably (or already held).
    Submitted {
        /// The document's id.
        id: DocId,
        /// False if the node already held it.
        new: bool,
    },
    /// RPC: one document by id.
    Fetch {
        /// The id.
        id: DocId,
    },
    /// RPC: documents by kind and creation time.
    List {
        /// Only this kind, or all.
        kind: Option<Kind>,
        /// Earliest `created` (ms, inclusive).
        from_ms: u64,
        /// Latest `created` (ms, inclusive).
        to_ms: u64,
        /// At most this many entries.
        limit: u32,
        /// Newest first (else oldest first).
        newest_first: bool,
    },
    /// RPC answer to `List`.
    Listing {
        /// The entries, in the order asked.
        entries: Vec<Listed>,
    },
    /// RPC: stream new documents of these kinds (all kinds if empty).
    Subscribe {
        /// Kinds wanted.
        kinds: Vec<Kind>,
    },
    /// RPC: the node's status.
    Status,
    /// RPC answer to `Status`: a JSON object.
    StatusReport {
        /// JSON text.
        json: String,
    },
    /// RPC: a full-text search, as a JSON `SearchRequest` (see
    /// `docs/wire-format.md`).
    Search {
        /// JSON text.
        request: String,
    },
    /// RPC answer to `Search`: a JSON `SearchResponse`.
    SearchResults {
        /// JSON text.
        json: String,
    },
    /// Something went wrong; `code` is one of [`code`].
    Error {
        /// Error class.
        code: u16,
        /// What happened, for a person.
        message: String,
    },
}

impl Encode for Listed {
    fn encode(&self, w: &mut Writer) {
        w.varint(self.created_ms);
        self.id.encode(w);
        self.kind.encode(w);
    }
}

impl Decode for Listed {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Listed {
            created_ms: r.varint("listed time")?,
            id: DocId::decode(r)?,
            kind: Kind::decode(r)?,
        })
    }
}

impl Encode for Message {
    fn encode(&self, w: &mut Writer) {
        match self {
            Message::Hello {
                protocol,
                node,
                roster_version,
            } => {
                w.u8(0);
                w.u8(*protocol);
                node.encode(w);
                w.varint(*roster_version);
            }
            Message::Roster { document } => {
                w.u8(1);
                w.bytes(document);
            }
            Message::Reconcile { payload } => {
                w.u8(2);
                w.bytes(payload);
            }
            Message::Want { ids } => {
                w.u8(3);
                w.seq(ids);
            }
            Message::Documents { documents } => {
                w.u8(4);
                w.varint(documents.len() as u64);
                for d in documents {
                    w.bytes(d);
                }
            }
            Message::CaughtUp => w.u8(5),
            Message::Submit { document } => {
                w.u8(10);
                w.bytes(document);
            }
            Message::Submitted { id, new } => {
                w.u8(11);
                id.encode(w);
                w.bool(*new);
            }
            Message::Fetch { id } => {
                w.u8(12);
                id.encode(w);
            }
            Message::List {
                kind,
                from_ms,
                to_ms,
                limit,
                newest_first,
            } => {
                w.u8(13);
                w.option(kind.as_ref(), |w, k| k.encode(w));
                w.varint(*from_ms);
                w.varint(*to_ms);
                w.varint(u64::from(*limit));
                w.bool(*newest_first);
            }
            Message::Listing { entries } => {
                w.u8(14);
                w.seq(entries);
            }
            Message::Subscribe { kinds } => {
                w.u8(15);
                w.seq(kinds);
            }
            Message::Status => w.u8(16),
            Message::StatusReport { json } => {
                w.u8(17);
                w.str(json);
            }
            Message::Search { request } => {
                w.u8(19);
                w.str(request);
            }
            Message::SearchResults { json } => {
                w.u8(20);
                w.str(json);
            }
            Message::Error { code, message } => {
                w.u8(18);
                w.varint(u64::from(*code));
                w.str(message);
            }
        }
    }
}

impl Decode for Message {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8("message type")?;
        Ok(match tag {
            0 => Message::Hello {
                protocol: r.u8("protocol version")?,
                node: Id::decode(r)?,
                roster_version: r.varint("roster version")?,
            },
            1 => Message::Roster {
                document: r.bytes("roster document", MAX_DOCUMENT)?.to_vec(),
            },
            2 => Message::Reconcile {
                payload: r.bytes("reconcile payload", MAX_FRAME)?.to_vec(),
            },
            3 => Message::Want {
                ids: r.seq("wanted ids", MAX_WANT)?,
            },
            4 => {
                let n = r.bounded("document count", MAX_BATCH as u64)? as usize;
                let mut documents = Vec::with_capacity(n.min(r.remaining()));
                for _ in 0..n {
                    documents.push(r.bytes("document", MAX_DOCUMENT)?.to_vec());
                }
                Message::Documents { documents }
            }
            5 => Message::CaughtUp,
            10 => Message::Submit {
                document: r.bytes("submitted document", MAX_DOCUMENT)?.to_vec(),
            },
            11 => Message::Submitted {
                id: DocId::decode(r)?,
                new: r.bool("new flag")?,
            },
            12 => Message::Fetch {
                id: DocId::decode(r)?,
            },
            13 => Message::List {
                kind: r.option("list kind", Kind::decode)?,
                from_ms: r.varint("list from")?,
                to_ms: r.varint("list to")?,
                limit: r.bounded("list limit", u64::from(u32::MAX))? as u32,
                newest_first: r.bool("list order")?,
            },
            14 => Message::Listing {
                entries: r.seq("listing", MAX_LISTING)?,
            },
            15 => Message::Subscribe {
                kinds: r.seq("subscribed kinds", Kind::ALL.len())?,
            },
            16 => Message::Status,
            17 => Message::StatusReport {
                json: r.str("status", MAX_TEXT)?,
            },
            18 => Message::Error {
                code: r.bounded("error code", u64::from(u16::MAX))? as u16,
                message: r.str("error message", MAX_TEXT)?,
            },
            19 => Message::Search {
                request: r.str("search request", MAX_TEXT)?,
            },
            20 => Message::SearchResults {
                json: r.str("search results", MAX_TEXT)?,
            },
            code => {
                return Err(DecodeError::UnknownCode {
                    field: "message type",
                    code: code.into(),
                });
            }
        })
    }
}

/// A frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The announced length is over [`MAX_FRAME`].
    #[error("frame of {0} bytes announced, over the maximum of {MAX_FRAME}: peer refused")]
    TooLarge(usize),
    /// The body is not a valid message.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
}

impl Message {
    /// The frame carrying this message: length prefix and body.
    pub fn to_frame(&self) -> Vec<u8> {
        let body = self.to_bytes();
        let mut f = Vec::with_capacity(4 + body.len());
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&body);
        f
    }

    /// Checks a frame's announced length before its body is read.
    pub fn check_frame_len(header: [u8; 4]) -> Result<usize, FrameError> {
        let len = u32::from_be_bytes(header) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        Ok(len)
    }

    /// Decodes a frame body.
    pub fn from_frame_body(body: &[u8]) -> Result<Message, FrameError> {
        Ok(Message::from_bytes(body, "message")?)
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "Hello",
            Message::Roster { .. } => "Roster",
            Message::Reconcile { .. } => "Reconcile",
            Message::Want { .. } => "Want",
            Message::Documents { .. } => "Documents",
            Message::CaughtUp => "CaughtUp",
            Message::Submit { .. } => "Submit",
            Message::Submitted { .. } => "Submitted",
            Message::Fetch { .. } => "Fetch",
            Message::List { .. } => "List",
            Message::Listing { .. } => "Listing",
            Message::Subscribe { .. } => "Subscribe",
            Message::Status => "Status",
            Message::StatusReport { .. } => "StatusReport",
            Message::Search { .. } => "Search",
            Message::SearchResults { .. } => "SearchResults",
            Message::Error { .. } => "Error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Message> {
        let id = DocId([7; 32]);
        vec![
            Message::Hello {
                protocol: 1,
                node: Id::new("hub").expect("id"),
                roster_version: 300,
            },
            Message::Roster {
                document: vec![1, 2, 3],
            },
            Message::Reconcile {
                payload: vec![9; 100],
            },
            Message::Want { ids: vec![id, id] },
            Message::Documents {
                documents: vec![vec![1], vec![], vec![2; 300]],
            },
            Message::CaughtUp,
            Message::Submit { document: vec![5] },
            Message::Submitted { id, new: true },
            Message::Fetch { id },
            Message::List {
                kind: Some(Kind::Cable),
                from_ms: 0,
                to_ms: u64::MAX,
                limit: 50,
                newest_first: true,
            },
            Message::Listing {
                entries: vec![Listed {
                    created_ms: 5,
                    id,
                    kind: Kind::Receipt,
                }],
            },
            Message::Subscribe {
                kinds: vec![Kind::Cable, Kind::CableRelease],
            },
            Message::Status,
            Message::StatusReport { json: "{}".into() },
            Message::Search {
                request: "{\"query\":\"raqamli diplomatiya\"}".into(),
            },
            Message::SearchResults { json: "{}".into() },
            Message::Error {
                code: code::FORBIDDEN,
                message: "no".into(),
            },
        ]
    }

    #[test]
    fn every_message_roundtrips_through_a_frame() {
        for m in all() {
            let f = m.to_frame();
            let len = Message::check_frame_len(f[..4].try_into().expect("4")).expect("len");
            assert_eq!(len, f.len() - 4);
            assert_eq!(
                Message::from_frame_body(&f[4..]),
                Ok(m.clone()),
                "{}",
                m.name()
            );
        }
    }

    #[test]
    fn oversize_and_garbage_frames_are_refused() {
        let too_big = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert_eq!(
            Message::check_frame_len(too_big),
            Err(FrameError::TooLarge(MAX_FRAME + 1))
        );
        assert!(Message::from_frame_body(&[99]).is_err());
        assert!(Message::from_frame_body(&[]).is_err());
        for m in all() {
            let mut body = m.to_bytes();
            body.push(0);
            assert!(Message::from_frame_body(&body).is_err(), "{}", m.name());
        }
        // A Documents message claiming many documents but holding none.
        let mut w = Writer::default();
        w.u8(4);
        w.varint(MAX_BATCH as u64);
        assert!(Message::from_frame_body(&w.into_bytes()).is_err());
    }
}
