//! A store whose index on disk was damaged or crafted: reading it gives a
//! typed error and allocates in proportion to what is on disk, never to
//! what an index entry claims. A counting allocator records the largest
//! single allocation (this file holds one test, so nothing else counts).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use chapar_node::store::{Store, StoreError};
use chapar_proto::{Body, Classification, Document, PageId, WikiRevision};
use ed25519_dalek::SigningKey;

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
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
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

fn wiki() -> Document {
    let rev = WikiRevision {
        page: PageId([1; 16]),
        parents: Vec::new(),
        title: "Raqamli diplomatiya".into(),
        classification: Classification::Unclassified,
        caption: None,
        body: "A short page.".into(),
        summary: "new".into(),
    };
    Document::sign(
        &SigningKey::from_bytes(&[7; 32]),
        1,
        Body::WikiRevision(rev),
    )
    .expect("sign")
}

#[test]
fn a_location_claiming_four_gigabytes_is_refused_without_allocating_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store");
    let doc = wiki();
    let store = Store::open(&path).expect("open");
    store
        .insert_batch(std::slice::from_ref(&doc))
        .expect("insert");
    store.close().expect("close");

    // The location entry `d ‖ id` is segment (4) ‖ offset (8) ‖ length (4):
    // make it claim u32::MAX bytes.
    {
        let db = sled::open(&path).expect("sled");
        let main = db.open_tree("main").expect("main tree");
        let key = [&[b'd'][..], &doc.id().0].concat();
        let mut location = main.get(&key).expect("get").expect("held").to_vec();
        assert_eq!(location.len(), 16);
        location[12..].copy_from_slice(&u32::MAX.to_be_bytes());
        main.insert(key, location).expect("insert");
        db.flush().expect("flush");
    }

    let store = Store::open(&path).expect("reopen");
    LARGEST.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let result = store.get(&doc.id());
    COUNTING.with(|c| c.set(false));
    let largest = LARGEST.load(Ordering::Relaxed);
    match result {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, doc.id());
            assert!(reason.contains("4294967295"), "{reason}");
        }
        other => panic!("expected a corrupt entry, got {other:?}"),
    }
    assert!(
        largest < 1 << 20,
        "reading a crafted location allocated {largest} bytes"
    );
}
