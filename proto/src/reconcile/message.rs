//! Byte layout of reconciliation messages (see
//! `docs/decisions/0005-reconciliation.md`).
//!
//! ```text
//! message  = version:u8 (= 1) range*
//! range    = tag:u8 [delta:varint prefix:bytes(k)] payload
//! tag      = mode | k << 2      mode: 0 skip, 1 fingerprint, 2 id list
//!            k 0..=32: timestamp delta = delta, id prefix of k bytes
//!            k 33:     infinity (no delta, no prefix)
//!            k 34..=63: timestamp delta = delta << (k - 33), no prefix
//! payload  = ()                                   (skip)
//!          | fingerprint:[16]                      (fingerprint)
//!          | count:varint (ts_delta:varint id:[32])*   (id list)
//! ```
//!
//! Each range covers `[previous upper bound, its upper bound)`, starting at
//! the lowest bound `(0, 0…0)`. A bound's timestamp is a delta from the
//! previous bound's (0 at the start); its id is the prefix padded with zero
//! bytes. An id list's first timestamp is a delta from the range's lower
//! bound, the others from the previous item. Ranges after the last one are
//! skipped implicitly.
//!
//! Canonical form, enforced by the decoder: minimal varints, bounds strictly
//! ascending, no id prefix ending in a zero byte, a prefix-less bound's
//! delta shifted as far as it goes (up to 30 bits: an odd shifted value, or
//! a shift of 30; a zero delta is never shifted), nothing after an infinite
//! bound, no two consecutive skips, no trailing skip, id lists strictly
//! ascending and inside their range.

use crate::codec::{DecodeError, Reader, Writer};
use crate::types::DocId;

use super::ReconcileError;
use super::tree::{Bound, Fingerprint, Item};

/// The protocol version byte that starts every message.
pub const PROTOCOL_VERSION: u8 = 1;

/// Tag value of `k` meaning "infinite bound".
const INFINITE: u8 = 33;
/// Largest shift of a prefix-less bound's timestamp delta.
const MAX_SHIFT: u32 = 30;
/// Smallest encoding of an id-list item: 1-byte delta and the id.
const MIN_ITEM_BYTES: usize = 33;
/// Largest encoding of a bound: tag, 10-byte varint, 32-byte prefix.
pub(crate) const MAX_BOUND_BYTES: usize = 1 + 10 + 32;

pub(crate) const MODE_SKIP: u8 = 0;
pub(crate) const MODE_FINGERPRINT: u8 = 1;
pub(crate) const MODE_ID_LIST: u8 = 2;

/// What a range says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Nothing to do here.
    Skip,
    /// The sender's fingerprint of the range.
    Fingerprint(Fingerprint),
    /// Every item the sender has in the range.
    IdList(Vec<Item>),
}

/// One decoded range; its lower bound is the previous range's upper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub upper: Bound,
    pub payload: Payload,
}

fn prefix_len(id: &DocId) -> usize {
    32 - id.0.iter().rev().take_while(|b| **b == 0).count()
}

/// Appends a bound with its mode; `prev_ts` is the previous bound's
/// timestamp and is advanced.
fn write_bound(w: &mut Writer, prev_ts: &mut u64, b: &Bound, mode: u8) {
    match b {
        Bound::Infinity => w.u8(mode | (INFINITE << 2)),
        Bound::At(x) => {
            let plen = prefix_len(&x.id);
            debug_assert!(x.timestamp >= *prev_ts, "bounds must ascend");
            let delta = x.timestamp.wrapping_sub(*prev_ts);
            let shift = if plen == 0 && delta != 0 {
                delta.trailing_zeros().min(MAX_SHIFT)
            } else {
                0
            };
            if shift > 0 {
                w.u8(mode | ((INFINITE + shift as u8) << 2));
                w.varint(delta >> shift);
            } else {
                w.u8(mode | ((plen as u8) << 2));
                w.varint(delta);
                w.fixed(&x.id.0[..plen]);
            }
            *prev_ts = x.timestamp;
        }
    }
}

fn bound_ts(b: &Bound) -> u64 {
    match b {
        Bound::At(x) => x.timestamp,
        Bound::Infinity => u64::MAX,
    }
}

/// Builds one outgoing message under a byte budget, inserting skip ranges
/// for gaps and always keeping room for a final deferral range.
#[derive(Debug)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
    prev_ts: u64,
    last_upper: Bound,
    ranges: usize,
    limit: usize,
}

/// Room kept for a deferral: a skip bound and an infinite fingerprint range.
pub(crate) const DEFER_RESERVE: usize = MAX_BOUND_BYTES + 1 + 16;

/// A point [`Encoder::rollback`] can return to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    prev_ts: u64,
    last_upper: Bound,
    ranges: usize,
}

impl Encoder {
    pub fn new(limit: usize) -> Encoder {
        let mut buf = Vec::with_capacity(limit.min(4096));
        buf.push(PROTOCOL_VERSION);
        Encoder {
            buf,
            prev_ts: 0,
            last_upper: Bound::MIN,
            ranges: 0,
            limit,
        }
    }

    /// Number of non-skip ranges written.
    pub fn ranges(&self) -> usize {
        self.ranges
    }

    /// The hard limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            prev_ts: self.prev_ts,
            last_upper: self.last_upper,
            ranges: self.ranges,
        }
    }

    pub fn rollback(&mut self, m: Mark) {
        self.buf.truncate(m.len);
        self.prev_ts = m.prev_ts;
        self.last_upper = m.last_upper;
        self.ranges = m.ranges;
    }

    fn encode(&self, lower: &Bound, upper: &Bound, payload: &Payload) -> (Vec<u8>, u64) {
        let mut w = Writer::with_capacity(64);
        let mut ts = self.prev_ts;
        if *lower != self.last_upper {
            write_bound(&mut w, &mut ts, lower, MODE_SKIP);
        }
        match payload {
            Payload::Skip => write_bound(&mut w, &mut ts, upper, MODE_SKIP),
            Payload::Fingerprint(fp) => {
                write_bound(&mut w, &mut ts, upper, MODE_FINGERPRINT);
                w.fixed(fp);
            }
            Payload::IdList(items) => {
                write_bound(&mut w, &mut ts, upper, MODE_ID_LIST);
                w.varint(items.len() as u64);
                let mut prev = bound_ts(lower);
                for it in items {
                    w.varint(it.timestamp.wrapping_sub(prev));
                    w.fixed(&it.id.0);
                    prev = it.timestamp;
                }
            }
        }
        (w.into_bytes(), ts)
    }

    /// Whether `[lower, upper) payload` would end within `budget` bytes
    /// (itself at most the limit less the deferral reserve).
    pub fn fits(&self, lower: &Bound, upper: &Bound, payload: &Payload, budget: usize) -> bool {
        let (bytes, _) = self.encode(lower, upper, payload);
        self.buf.len() + bytes.len() <= budget.min(self.limit - DEFER_RESERVE)
    }

    /// Appends `[lower, upper) payload` if the message then stays within
    /// `budget` bytes (and leaves the deferral reserve free); returns
    /// whether it did.
    pub fn try_push(
        &mut self,
        lower: &Bound,
        upper: &Bound,
        payload: &Payload,
        budget: usize,
    ) -> bool {
        let (bytes, ts) = self.encode(lower, upper, payload);
        if self.buf.len() + bytes.len() > budget.min(self.limit - DEFER_RESERVE) {
            return false;
        }
        self.buf.extend_from_slice(&bytes);
        self.prev_ts = ts;
        self.last_upper = *upper;
        self.ranges += 1;
        true
    }

    /// Appends the final range `[lower, ∞)` unconditionally (its room was
    /// reserved).
    pub fn push_last(&mut self, lower: &Bound, fp: Fingerprint) {
        let (bytes, ts) = self.encode(lower, &Bound::Infinity, &Payload::Fingerprint(fp));
        self.buf.extend_from_slice(&bytes);
        self.prev_ts = ts;
        self.last_upper = Bound::Infinity;
        self.ranges += 1;
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Decodes and validates a whole message (`max` bytes at most).
pub(crate) fn decode(msg: &[u8], max: usize) -> Result<Vec<Range>, ReconcileError> {
    if msg.len() > max {
        return Err(ReconcileError::TooLarge {
            len: msg.len(),
            max,
        });
    }
    let mut r = Reader::new(msg);
    let version = r.u8("protocol version")?;
    if version != PROTOCOL_VERSION {
        return Err(ReconcileError::UnsupportedVersion(version));
    }
    let invalid = |field: &'static str, reason: &str| DecodeError::Invalid {
        field,
        reason: reason.to_owned(),
    };
    let mut ranges: Vec<Range> = Vec::new();
    let mut lower = Bound::MIN;
    let mut prev_ts = 0u64;
    while r.remaining() > 0 {
        if lower == Bound::Infinity {
            return Err(invalid("range", "range after the infinite bound").into());
        }
        let tag = r.u8("range tag")?;
        let mode = tag & 3;
        let k = tag >> 2;
        if mode > MODE_ID_LIST {
            return Err(DecodeError::UnknownCode {
                field: "range tag",
                code: tag.into(),
            }
            .into());
        }
        let upper = if k == INFINITE {
            Bound::Infinity
        } else if k > INFINITE {
            let shift = u32::from(k - INFINITE);
            let v = r.varint("bound timestamp")?;
            if v == 0 || (v & 1 == 0 && shift < MAX_SHIFT) {
                return Err(invalid("bound timestamp", "delta not shifted canonically").into());
            }
            if v > u64::MAX >> shift {
                return Err(invalid("bound timestamp", "overflows 64 bits").into());
            }
            let ts = prev_ts
                .checked_add(v << shift)
                .ok_or_else(|| invalid("bound timestamp", "overflows 64 bits"))?;
            prev_ts = ts;
            Bound::At(Item::new(ts, DocId([0; 32])))
        } else {
            let delta = r.varint("bound timestamp")?;
            if k == 0 && delta != 0 && delta & 1 == 0 {
                return Err(invalid("bound timestamp", "delta not shifted canonically").into());
            }
            let ts = prev_ts
                .checked_add(delta)
                .ok_or_else(|| invalid("bound timestamp", "overflows 64 bits"))?;
            let prefix = r.take(k.into(), "bound id prefix")?;
            if prefix.last() == Some(&0) {
                return Err(invalid("bound id prefix", "ends with a zero byte").into());
            }
            let mut id = [0u8; 32];
            id[..prefix.len()].copy_from_slice(prefix);
            prev_ts = ts;
            Bound::At(Item::new(ts, DocId(id)))
        };
        if upper <= lower {
            return Err(DecodeError::NotAscending {
                field: "range bounds",
            }
            .into());
        }
        let payload = match mode {
            MODE_SKIP => {
                if matches!(
                    ranges.last(),
                    Some(Range {
                        payload: Payload::Skip,
                        ..
                    })
                ) {
                    return Err(invalid("range", "two consecutive skip ranges").into());
                }
                Payload::Skip
            }
            MODE_FINGERPRINT => Payload::Fingerprint(r.fixed("fingerprint")?),
            _ => {
                let max_items = r.remaining() / MIN_ITEM_BYTES;
                let n = r.bounded("id list length", max_items as u64)? as usize;
                let mut items = Vec::with_capacity(n);
                let mut ts = bound_ts(&lower);
                let mut prev: Option<Item> = None;
                for _ in 0..n {
                    let delta = r.varint("id list timestamp")?;
                    ts = ts
                        .checked_add(delta)
                        .ok_or_else(|| invalid("id list timestamp", "overflows 64 bits"))?;
                    let item = Item::new(ts, DocId(r.fixed("id list id")?));
                    if prev.is_some_and(|p| p >= item) {
                        return Err(DecodeError::NotAscending { field: "id list" }.into());
                    }
                    if Bound::At(item) < lower || !upper.is_above(&item) {
                        return Err(invalid("id list", "item outside its range").into());
                    }
                    prev = Some(item);
                    items.push(item);
                }
                Payload::IdList(items)
            }
        };
        ranges.push(Range { upper, payload });
        lower = upper;
    }
    if matches!(
        ranges.last(),
        Some(Range {
            payload: Payload::Skip,
            ..
        })
    ) {
        return Err(invalid("range", "trailing skip range").into());
    }
    Ok(ranges)
}

/// Re-encodes decoded ranges (for tests: decode → encode is the identity).
pub(crate) fn encode(ranges: &[Range]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(PROTOCOL_VERSION);
    let mut ts = 0u64;
    let mut lower = Bound::MIN;
    for r in ranges {
        match &r.payload {
            Payload::Skip => write_bound(&mut w, &mut ts, &r.upper, MODE_SKIP),
            Payload::Fingerprint(fp) => {
                write_bound(&mut w, &mut ts, &r.upper, MODE_FINGERPRINT);
                w.fixed(fp);
            }
            Payload::IdList(items) => {
                write_bound(&mut w, &mut ts, &r.upper, MODE_ID_LIST);
                w.varint(items.len() as u64);
                let mut prev = bound_ts(&lower);
                for it in items {
                    w.varint(it.timestamp.wrapping_sub(prev));
                    w.fixed(&it.id.0);
                    prev = it.timestamp;
                }
            }
        }
        lower = r.upper;
    }
    w.into_bytes()
}
