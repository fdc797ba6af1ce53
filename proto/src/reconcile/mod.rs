//! Range-based set reconciliation (Meyer 2022, the "negentropy" protocol),
//! as a sans-IO state machine: bytes in, bytes and decisions out.
//!
//! Two peers each hold a [`Tree`] of [`Item`]s `(timestamp, DocId)` — the
//! items both are entitled to; the caller chooses that set. One side calls
//! [`Reconciler::initiate`] and sends the bytes; from then on both sides feed
//! every message they receive to [`Reconciler::respond`], which returns a
//! [`Step`]: the reply to send (if any), the items we have and the peer
//! lacks (send them), and the items the peer has and we lack (ask for
//! them).
//!
//! A message is a list of consecutive ranges of the item order, each
//! *skipped* (nothing to do), described by a 16-byte *fingerprint* of its
//! items, or listed in full as an *id list*. A receiver compares every
//! fingerprint with its own for the same range; a mismatch is split into
//! `buckets` sub-ranges (or, when it holds at most `id_list_threshold`
//! items, answered with the id list). Whichever side receives an id list
//! resolves that range completely, reporting the differences on its own
//! side, so every differing item is reported exactly once, by one of the
//! two peers: an item `x` that `A` lacks appears in `A`'s `need` or in
//! `B`'s `have`.
//!
//! Ending: the initiator's `respond` returns `reply: None` once it has
//! nothing left to send; the responder always replies (possibly with an
//! empty, one-byte message) and its session ends when the initiator stops.
//!
//! Replies never exceed [`ReconcileConfig::max_message_bytes`]: when the
//! answers to a message would not fit, the remaining mismatched ranges are
//! echoed back as our own fingerprints (so the peer splits them next round
//! and no refinement is lost), and when even those do not fit, everything
//! from that point on is sent as one fingerprint and handled in later
//! rounds (as negentropy's frame-size limit does).
//!
//! Byte layout: see [`message`] and `docs/decisions/0005-reconciliation.md`.

pub mod message;
pub mod tree;

use crate::codec::DecodeError;

pub use message::PROTOCOL_VERSION;
pub use tree::{Bound, Fingerprint, Item, Iter, Sum, Summary, Tree, UnsortedInput};

use message::{Encoder, Payload};

/// Smallest accepted [`ReconcileConfig::max_message_bytes`]: room for the
/// largest single range plus the deferral range, so every reply makes
/// progress.
pub const MIN_MESSAGE_BYTES: usize = 256;

/// Tuning of a [`Reconciler`]. Both peers should use the same
/// `max_message_bytes` (a reply larger than the receiver's limit is
/// refused); the other fields only shape what this side sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// Hard maximum size of a message, sent or accepted (default 64 KiB,
    /// at least [`MIN_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// Number of fingerprint ranges the first message splits the whole set
    /// into (default 16, 2..=4096).
    pub initial_buckets: usize,
    /// Number of sub-ranges a mismatched range is split into (default 16,
    /// 2..=4096).
    pub buckets: usize,
    /// A mismatched range with at most this many of our items is answered
    /// with its full id list instead of being split (default 16, at
    /// least 1).
    pub id_list_threshold: usize,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            max_message_bytes: 64 * 1024,
            initial_buckets: 16,
            buckets: 16,
            id_list_threshold: 16,
        }
    }
}

impl ReconcileConfig {
    fn clamped(self) -> ReconcileConfig {
        ReconcileConfig {
            max_message_bytes: self.max_message_bytes.max(MIN_MESSAGE_BYTES),
            initial_buckets: self.initial_buckets.clamp(2, 4096),
            buckets: self.buckets.clamp(2, 4096),
            id_list_threshold: self.id_list_threshold.max(1),
        }
    }
}

/// Why a message was refused. The session should then be abandoned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// The message is larger than `max_message_bytes`.
    #[error("reconciliation message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Size of the message.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The version byte is not one this build speaks.
    #[error("unsupported reconciliation protocol version {0} (this build speaks 1)")]
    UnsupportedVersion(u8),
    /// The message is malformed or not in canonical form.
    #[error("malformed reconciliation message: {0}")]
    Malformed(#[from] DecodeError),
    /// A message arrived after this side had finished.
    #[error("reconciliation session already finished")]
    Finished,
}

/// The outcome of handling one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// The message to send back; `None` when the session is over.
    pub reply: Option<Vec<u8>>,
    /// Items we have and the peer lacks: send them.
    pub have: Vec<Item>,
    /// Items the peer has and we lack: ask for them.
    pub need: Vec<Item>,
}

/// Message and byte counts of one side of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages produced (including the first).
    pub messages_sent: u64,
    /// Bytes of those messages.
    pub bytes_sent: u64,
    /// Messages accepted.
    pub messages_received: u64,
    /// Bytes of those messages.
    pub bytes_received: u64,
}

/// One side of one reconciliation session. Pure: no I/O, no clock.
///
/// The tree may change between calls (documents arriving); items inserted
/// during a session may or may not be reported by it, and nothing is ever
/// reported twice by one session.
#[derive(Debug, Clone)]
pub struct Reconciler {
    config: ReconcileConfig,
    initiator: bool,
    finished: bool,
    stats: Stats,
}

impl Reconciler {
    /// A session with `config` (out-of-range fields are clamped).
    pub fn new(config: ReconcileConfig) -> Reconciler {
        Reconciler {
            config: config.clamped(),
            initiator: false,
            finished: false,
            stats: Stats::default(),
        }
    }

    /// The configuration in force (after clamping).
    pub fn config(&self) -> &ReconcileConfig {
        &self.config
    }

    /// Whether this side sent the first message.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether this side's session is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Message and byte counts so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Makes this side the initiator and returns the first message: the
    /// whole set as `initial_buckets` fingerprints (or one id list when it
    /// is small).
    pub fn initiate(&mut self, tree: &Tree) -> Vec<u8> {
        self.initiator = true;
        self.finished = false;
        let mut out = Encoder::new(self.config.max_message_bytes);
        let answer = self.answer(
            tree,
            Bound::MIN,
            Bound::Infinity,
            Summary::default(),
            tree.total(),
            self.config.initial_buckets,
            &mut out,
        );
        if let Answer::Stopped(at) = answer {
            defer(tree, &at, &mut out);
        }
        let bytes = out.finish();
        self.record_sent(&bytes);
        bytes
    }

    /// Handles one message from the peer. Never panics on hostile input;
    /// a refused message leaves the session unchanged.
    pub fn respond(&mut self, tree: &Tree, msg: &[u8]) -> Result<Step, ReconcileError> {
        if self.finished {
            return Err(ReconcileError::Finished);
        }
        let ranges = message::decode(msg, self.config.max_message_bytes)?;
        self.stats.messages_received += 1;
        self.stats.bytes_received += msg.len() as u64;
        let mut step = Step::default();
        if ranges.is_empty() {
            // The peer has nothing more to say.
            self.finished = true;
            return Ok(step);
        }
        let mut out = Encoder::new(self.config.max_message_bytes);
        let limit = out.limit();
        let mut lower = Bound::MIN;
        // Our summary of the items below `lower`, when already known.
        let mut below_lower = Some(Summary::default());
        // Once an answer did not fit, mismatched ranges are only echoed.
        let mut echo = false;
        for range in &ranges {
            let upper = range.upper;
            match &range.payload {
                Payload::Skip => below_lower = None,
                Payload::Fingerprint(fp) => {
                    let lo = below_lower.unwrap_or_else(|| tree.prefix(&lower));
                    let hi = tree.prefix(&upper);
                    below_lower = Some(hi);
                    let ours = hi.minus(&lo);
                    if ours.fingerprint() == *fp {
                        // Same items on both sides.
                    } else if echo {
                        let p = Payload::Fingerprint(ours.fingerprint());
                        if !out.try_push(&lower, &upper, &p, limit) {
                            defer(tree, &lower, &mut out);
                            break;
                        }
                    } else if let Answer::Stopped(at) =
                        self.answer(tree, lower, upper, lo, hi, self.config.buckets, &mut out)
                    {
                        echo = true;
                        let rest = tree.summary(&at, &upper).fingerprint();
                        if !out.try_push(&at, &upper, &Payload::Fingerprint(rest), limit) {
                            defer(tree, &at, &mut out);
                            break;
                        }
                    }
                }
                Payload::IdList(theirs) => {
                    resolve(tree, &lower, &upper, theirs, &mut step);
                    below_lower = None;
                }
            }
            lower = upper;
        }
        if out.ranges() == 0 && self.initiator {
            self.finished = true;
            return Ok(step);
        }
        let bytes = out.finish();
        self.record_sent(&bytes);
        step.reply = Some(bytes);
        Ok(step)
    }

    fn record_sent(&mut self, bytes: &[u8]) {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
    }

    /// Describes our items in `[lower, upper)` (summaries `lo` and `hi` of
    /// what lies below each bound): an id list when small, else `buckets`
    /// fingerprints of equal counts.
    ///
    /// The first answer of a message may use the whole message and, if even
    /// that is too small, is cut short (so every message makes progress);
    /// later answers are all or nothing within three quarters of the
    /// limit, the last quarter being kept for echoes.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        tree: &Tree,
        lower: Bound,
        upper: Bound,
        lo: Summary,
        hi: Summary,
        buckets: usize,
        out: &mut Encoder,
    ) -> Answer {
        let partial = out.ranges() == 0;
        let budget = if partial {
            out.limit()
        } else {
            out.limit() / 4 * 3
        };
        let first = lo.count as usize;
        let count = (hi.count.saturating_sub(lo.count)) as usize;
        if count <= self.config.id_list_threshold {
            let items: Vec<Item> = tree.iter_from(first).take(count).collect();
            if out.try_push(&lower, &upper, &Payload::IdList(items.clone()), budget) {
                return Answer::Done;
            }
            if !partial {
                return Answer::Stopped(lower);
            }
            // Send the longest prefix of the list that fits.
            let (mut ok, mut bad) = (0usize, count);
            while bad - ok > 1 {
                let mid = (ok + bad) / 2;
                let ub = Bound::between(&items[mid - 1], &items[mid]);
                if out.fits(&lower, &ub, &Payload::IdList(items[..mid].to_vec()), budget) {
                    ok = mid;
                } else {
                    bad = mid;
                }
            }
            if ok == 0 {
                return Answer::Stopped(lower);
            }
            let ub = Bound::between(&items[ok - 1], &items[ok]);
            out.try_push(&lower, &ub, &Payload::IdList(items[..ok].to_vec()), budget);
            return Answer::Stopped(ub);
        }
        let mark = out.mark();
        let b = buckets.min(count);
        let mut b_lower = lower;
        let mut b_lo = lo;
        for i in 0..b {
            let (b_upper, b_hi) = if i + 1 == b {
                (upper, hi)
            } else {
                let r = first + count * (i + 1) / b;
                let mut it = tree.iter_from(r - 1);
                match (it.next(), it.next()) {
                    (Some(x), Some(y)) => (Bound::between(&x, &y), tree.prefix_by_rank(r)),
                    // Unreachable for a consistent tree: fall back to one range.
                    _ => (upper, hi),
                }
            };
            let fp = b_hi.minus(&b_lo).fingerprint();
            if !out.try_push(&b_lower, &b_upper, &Payload::Fingerprint(fp), budget) {
                if partial {
                    return Answer::Stopped(b_lower);
                }
                out.rollback(mark);
                return Answer::Stopped(lower);
            }
            if b_upper == upper {
                break;
            }
            b_lower = b_upper;
            b_lo = b_hi;
        }
        Answer::Done
    }
}

/// What became of the answer to one mismatched range.
enum Answer {
    /// Fully described.
    Done,
    /// Described up to this bound; the rest of the range is not.
    Stopped(Bound),
}

/// Ends a message with one fingerprint of everything from `at` on.
fn defer(tree: &Tree, at: &Bound, out: &mut Encoder) {
    let fp = tree.summary(at, &Bound::Infinity).fingerprint();
    out.push_last(at, fp);
}

/// Compares the peer's full list for `[lower, upper)` with ours.
fn resolve(tree: &Tree, lower: &Bound, upper: &Bound, theirs: &[Item], step: &mut Step) {
    let mut t = theirs.iter().peekable();
    for ours in tree.range(lower, upper) {
        while let Some(x) = t.next_if(|x| **x < ours) {
            step.need.push(*x);
        }
        if t.next_if(|x| **x == ours).is_none() {
            step.have.push(ours);
        }
    }
    step.need.extend(t);
}

/// Decodes a message and encodes it again: the result equals the input for
/// every message this build accepts (the format is canonical). For tests
/// and diagnostics.
pub fn canonical_form(msg: &[u8], max_message_bytes: usize) -> Result<Vec<u8>, ReconcileError> {
    let ranges = message::decode(msg, max_message_bytes)?;
    Ok(message::encode(&ranges))
}
