//! Decoding allocates in proportion to the input, whatever counts the
//! input claims. A counting allocator records the largest single
//! allocation made while decoding (this file holds one test, so no other
//! test's allocations are counted).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use chapar_proto::codec::Writer;
use chapar_proto::{Decode, Roster};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if COUNTING.with(Cell::get) {
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, LARGEST.load(Ordering::Relaxed))
}

/// A roster body that is valid up to a list claiming `count` items,
/// followed by `count` bytes that each start an item and fail to decode.
fn roster_claiming(list: usize, count: usize) -> Vec<u8> {
    let mut w = Writer::default();
    w.varint(1); // version
    w.str("Ministry");
    w.varint(1);
    w.fixed(&[0xca; 32]); // one CA fingerprint
    w.bytes(&[]); // no CRL
    for i in 0..4 {
        // missions, nodes, people, revocations
        w.varint(if i == list { count as u64 } else { 0 });
        if i == list {
            break;
        }
    }
    let mut bytes = w.into_bytes();
    // Each item starts with an empty identifier (or a bad subject code):
    // the first one fails, after the list has been allocated.
    bytes.resize(bytes.len() + count, 0);
    bytes
}

#[test]
fn a_hostile_count_reserves_no_more_than_the_input_holds() {
    // (list, the most items the roster allows there)
    for (list, count) in [(0, 10_000), (1, 10_000), (2, 200_000), (3, 400_000)] {
        let bytes = roster_claiming(list, count);
        let (result, largest) = largest_allocation(|| Roster::from_bytes(&bytes, "roster"));
        assert!(result.is_err(), "list {list}: refused");
        assert!(
            largest <= 2 * bytes.len() + (64 << 10),
            "list {list}: {count} claimed items in {} bytes made an allocation of {largest} bytes",
            bytes.len()
        );
    }
}
