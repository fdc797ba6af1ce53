//! Which document ids the store may hold, in memory, so that storing a
//! new document needs no lookup in the engine.
//!
//! Every insert first asks whether the document is already held. Nearly
//! every document a catch-up brings is new, and sled answered "absent" in
//! about 8 µs while its tree was being written (2 µs at rest): a quarter of
//! the cost of storing a document, on the one thread that commits. A Bloom
//! filter answers "certainly absent" for all but about 1 % of new ids
//! without touching the engine; "maybe" is still checked there, so the
//! answer stays exact.
//!
//! The filter grows by adding a layer of twice the capacity when the
//! newest one is full, so it is never rebuilt while the node runs, and its
//! bits are atomic, so the store can fill it from its existing ids on a
//! background thread while documents arrive. About 10 bits per id: 1.3 MB
//! for a million documents.

use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chapar_proto::DocId;

/// Bits set per id.
const HASHES: u64 = 7;
/// Bits per id a layer is sized for (with 7 hashes: about 1 % false
/// "maybe" when the layer is full; the sizes are rounded up to a power of
/// two, so usually less).
const BITS_PER_ID: u64 = 10;
/// Smallest layer, in ids.
const MIN_CAPACITY: u64 = 1 << 16;

/// A growable Bloom filter of document ids. Queries and inserts share a
/// read lock on the layer list and touch the bits atomically; only adding
/// a layer takes the write lock, briefly. No `Debug`: it would print every
/// word.
pub(crate) struct IdFilter {
    layers: RwLock<Vec<Layer>>,
    /// Set once every id the store held when the filter was made has been
    /// added: only then does "absent" mean absent.
    complete: AtomicBool,
}

struct Layer {
    words: Box<[AtomicU64]>,
    /// Number of bits minus one (a power of two minus one).
    mask: u64,
    capacity: u64,
    len: AtomicU64,
}

impl Layer {
    fn new(capacity: u64) -> Layer {
        let bits = (capacity * BITS_PER_ID).next_power_of_two().max(64);
        Layer {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
            capacity,
            len: AtomicU64::new(0),
        }
    }

    /// The bits of `id`: double hashing over two words of the id, which is
    /// already a SHA-256 (uniform; a chosen id only costs a lookup).
    fn bits(&self, id: &DocId) -> impl Iterator<Item = u64> + '_ {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&id.0[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        let (h1, h2) = (word(0), word(1) | 1);
        (0..HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    fn insert(&self, id: &DocId) {
        for bit in self.bits(id) {
            self.words[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Release);
        }
        self.len.fetch_add(1, Ordering::Relaxed);
    }

    fn may_contain(&self, id: &DocId) -> bool {
        self.bits(id).all(|bit| {
            self.words[(bit / 64) as usize].load(Ordering::Acquire) & (1 << (bit % 64)) != 0
        })
    }

    fn is_full(&self) -> bool {
        self.len.load(Ordering::Relaxed) >= self.capacity
    }
}

impl IdFilter {
    /// An empty, incomplete filter sized for about `expected` ids.
    pub(crate) fn new(expected: u64) -> IdFilter {
        let capacity = expected.saturating_mul(2).max(MIN_CAPACITY);
        IdFilter {
            layers: RwLock::new(vec![Layer::new(capacity)]),
            complete: AtomicBool::new(false),
        }
    }

    /// Adds `id`. Call before the document becomes visible in the engine,
    /// so that no thread can find it held but absent here.
    pub(crate) fn insert(&self, id: &DocId) {
        let full = {
            let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
            // Never empty: made with one layer, and layers are only added.
            let Some(last) = layers.last() else { return };
            last.insert(id);
            last.is_full()
        };
        if full {
            let mut layers = self.layers.write().unwrap_or_else(|p| p.into_inner());
            if let Some(last) = layers.last().filter(|l| l.is_full()) {
                let capacity = last.capacity.saturating_mul(2);
                layers.push(Layer::new(capacity));
            }
        }
    }

    /// `false` if the store certainly does not hold `id`; `true` if it
    /// may (or if the filter is not complete yet).
    pub(crate) fn may_contain(&self, id: &DocId) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
        layers.iter().any(|l| l.may_contain(id))
    }

    /// Marks the filter complete: every id held before it was made has
    /// been added.
    pub(crate) fn mark_complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    /// Whether [`IdFilter::mark_complete`] was called.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Memory held by the bits, in bytes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
        layers.iter().map(|l| l.words.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform ids, as SHA-256 gives (a tiny xorshift: no dependency).
    fn ids(seed: u64, n: usize) -> Vec<DocId> {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        (0..n)
            .map(|_| {
                let mut b = [0u8; 32];
                for c in b.chunks_mut(8) {
                    c.copy_from_slice(&next().to_le_bytes());
                }
                DocId(b)
            })
            .collect()
    }

    #[test]
    fn incomplete_filter_says_maybe() {
        let f = IdFilter::new(10);
        assert!(f.may_contain(&ids(1, 1)[0]));
        assert!(!f.is_complete());
        f.mark_complete();
        assert!(!f.may_contain(&ids(1, 1)[0]));
    }

    #[test]
    fn no_false_absent_and_few_false_maybe_while_growing() {
        // Sized for 1,000 ids, then given 600,000: several layers.
        let f = IdFilter::new(1_000);
        f.mark_complete();
        let held = ids(7, 600_000);
        for id in &held {
            f.insert(id);
        }
        assert!(f.layers.read().unwrap().len() >= 3, "the filter grew");
        assert!(
            held.iter().all(|id| f.may_contain(id)),
            "a held id reported absent"
        );
        let absent = ids(99, 100_000);
        let maybe = absent.iter().filter(|id| f.may_contain(id)).count();
        // Each layer ≤ ~1 % when full; a few layers together stay well
        // under 5 %.
        assert!(maybe < 5_000, "{maybe} of 100,000 absent ids said maybe");
        // About 10 bits an id, rounded up to powers of two: under 4 bytes.
        assert!(f.bytes() < 600_000 * 4, "{} bytes", f.bytes());
    }

    #[test]
    fn concurrent_inserts_are_all_seen() {
        let f = std::sync::Arc::new(IdFilter::new(0));
        f.mark_complete();
        let sets: Vec<Vec<DocId>> = (0..4).map(|t| ids(1000 + t, 50_000)).collect();
        std::thread::scope(|s| {
            for set in &sets {
                let f = f.clone();
                s.spawn(move || set.iter().for_each(|id| f.insert(id)));
            }
        });
        assert!(sets.iter().flatten().all(|id| f.may_contain(id)));
    }
}
