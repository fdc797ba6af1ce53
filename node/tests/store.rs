//! The document store on real sled databases in temporary directories,
//! including kill -9 durability with a child process.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chapar_node::store::{
    Inserted, Order, Position, SCHEMA_VERSION, Store, StoreError, record_bytes,
};
use chapar_proto::{
    Body, Classification, DocId, Document, Id, Kind, PageId, Receipt, ReceiptStatus, WikiRevision,
};
use ed25519_dalek::SigningKey;

#[path = "../../proto/tests/support/mod.rs"]
mod support;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// A wiki revision unique to `n`, created at `ts`, with a body of about
/// `body_len` bytes.
fn wiki(n: u64, ts: u64, body_len: usize) -> Document {
    let mut page = [0u8; 16];
    page[..8].copy_from_slice(&n.to_be_bytes());
    let line = format!("Revision {n}: the mission reports on [[Tashkent]] talks. ");
    let body: String = line.chars().cycle().take(body_len).collect();
    let rev = WikiRevision {
        page: PageId(page),
        parents: Vec::new(),
        title: format!("Page {n}"),
        classification: Classification::Restricted,
        caption: None,
        body,
        summary: "test".into(),
    };
    Document::sign(&key(), ts, Body::WikiRevision(rev)).expect("valid wiki revision")
}

fn receipt(n: u64, ts: u64) -> Document {
    let mut cable = [0u8; 32];
    cable[..8].copy_from_slice(&n.to_be_bytes());
    let r = Receipt {
        cable: DocId(cable),
        originator: Id::new("mfa").expect("valid id"),
        mission: Id::new("emb-tashkent").expect("valid id"),
        status: ReceiptStatus::Delivered,
        marking: chapar_proto::Marking {
            classification: Classification::Restricted,
            caption: None,
        },
    };
    Document::sign(&key(), ts, Body::Receipt(r)).expect("valid receipt")
}

fn items(store: &Store) -> Vec<(u64, DocId)> {
    store
        .items()
        .collect::<Result<_, _>>()
        .expect("items iterate")
}

fn ts_of(list: &[(u64, DocId)]) -> Vec<u64> {
    list.iter().map(|(t, _)| *t).collect()
}

#[test]
fn insert_get_contains_len() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.len(), 0);
    assert!(store.is_empty());
    let docs = vec![wiki(1, 10, 100), receipt(2, 20), wiki(3, 30, 2000)];
    let out = store.insert_batch(&docs).unwrap();
    assert_eq!(out, vec![Inserted::New; 3]);
    assert_eq!(store.len(), 3);
    for d in &docs {
        assert!(store.contains(&d.id()).unwrap());
        assert_eq!(store.get(&d.id()).unwrap().as_ref(), Some(d));
        assert_eq!(
            store.get_bytes(&d.id()).unwrap().as_deref(),
            Some(d.as_bytes())
        );
    }
    let absent = wiki(4, 40, 10).id();
    assert!(!store.contains(&absent).unwrap());
    assert_eq!(store.get(&absent).unwrap(), None);
    assert_eq!(store.insert_batch(&[]).unwrap(), vec![]);
    let report = store.check().unwrap();
    assert_eq!(report.docs, 3);
    assert_eq!(
        report.doc_bytes,
        docs.iter().map(|d| d.as_bytes().len() as u64).sum::<u64>()
    );
}

#[test]
fn duplicates_are_reported_and_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (a, b) = (wiki(1, 10, 50), wiki(2, 10, 50));
    let out = store
        .insert_batch(&[a.clone(), b.clone(), a.clone()])
        .unwrap();
    assert_eq!(out, vec![Inserted::New, Inserted::New, Inserted::Duplicate]);
    assert_eq!(store.len(), 2);
    let c = receipt(3, 5);
    let out = store.insert_batch(&[b.clone(), c.clone(), a]).unwrap();
    assert_eq!(
        out,
        vec![Inserted::Duplicate, Inserted::New, Inserted::Duplicate]
    );
    assert_eq!(store.len(), 3);
    assert_eq!(items(&store).len(), 3);
    assert_eq!(store.check().unwrap().docs, 3);
}

#[test]
fn items_are_ordered_by_time_then_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Several documents share a timestamp; ts 256 > 255 checks big-endian.
    let docs: Vec<Document> = [(1, 5), (2, 3), (3, 5), (4, 1), (5, 256), (6, 255), (7, 5)]
        .into_iter()
        .map(|(n, ts)| wiki(n, ts, 20))
        .collect();
    // Insert in two batches, in scrambled order.
    store.insert_batch(&docs[4..]).unwrap();
    store.insert_batch(&docs[..4]).unwrap();
    let mut expected: Vec<(u64, DocId)> = docs.iter().map(|d| (d.created_ms(), d.id())).collect();
    expected.sort();
    assert_eq!(items(&store), expected);
    let back: Vec<_> = store.items().rev().map(|r| r.unwrap()).collect();
    assert_eq!(back, expected.iter().rev().copied().collect::<Vec<_>>());
    let since: Vec<_> = store.items_since(5).map(|r| r.unwrap()).collect();
    assert_eq!(ts_of(&since), vec![5, 5, 5, 255, 256]);
    assert_eq!(store.items_since(257).count(), 0);
}

#[test]
fn list_by_kind_and_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut docs: Vec<Document> = (1..=5).map(|t| wiki(t, t, 30)).collect();
    docs.push(receipt(100, 2));
    docs.push(receipt(101, 4));
    store.insert_batch(&docs).unwrap();

    let l = |kind, range: (std::ops::Bound<u64>, std::ops::Bound<u64>), limit, order| {
        ts_of(&store.list(kind, range, limit, order).unwrap())
    };
    use std::ops::Bound::*;
    let all = (Unbounded, Unbounded);
    assert_eq!(
        l(Some(Kind::Receipt), all, 10, Order::OldestFirst),
        vec![2, 4]
    );
    assert_eq!(
        l(Some(Kind::WikiRevision), all, 10, Order::OldestFirst),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        l(
            Some(Kind::WikiRevision),
            (Included(2), Excluded(4)),
            10,
            Order::OldestFirst
        ),
        vec![2, 3]
    );
    assert_eq!(
        l(
            Some(Kind::WikiRevision),
            (Excluded(2), Included(4)),
            10,
            Order::NewestFirst
        ),
        vec![4, 3]
    );
    assert_eq!(
        l(None, (Included(2), Included(4)), 10, Order::OldestFirst),
        vec![2, 2, 3, 4, 4]
    );
    assert_eq!(l(None, all, 3, Order::NewestFirst), vec![5, 4, 4]);
    assert_eq!(l(None, all, 0, Order::NewestFirst), Vec::<u64>::new());
    assert_eq!(
        l(Some(Kind::Cable), all, 10, Order::OldestFirst),
        Vec::<u64>::new()
    );
    assert_eq!(
        l(None, (Included(4), Excluded(4)), 10, Order::OldestFirst),
        Vec::<u64>::new()
    );
    assert_eq!(
        l(None, (Included(9), Excluded(2)), 10, Order::OldestFirst),
        Vec::<u64>::new()
    );
    // Every listed id is of the asked kind.
    for (_, id) in store
        .list(Some(Kind::Receipt), .., 10, Order::OldestFirst)
        .unwrap()
    {
        assert_eq!(store.get(&id).unwrap().unwrap().kind(), Kind::Receipt);
    }
}

#[test]
fn reopen_preserves_everything() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..50)
        .map(|n| {
            if n % 3 == 0 {
                receipt(n, n)
            } else {
                wiki(n, n / 2, 500)
            }
        })
        .collect();
    let before = {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs[..20]).unwrap();
        store.insert_batch(&docs[20..]).unwrap();
        store.put_meta("roster", b"roster bytes").unwrap();
        store.put_meta_u64("search.high_water", 42).unwrap();
        let before = items(&store);
        store.close().unwrap();
        before
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.len(), 50);
    assert_eq!(items(&store), before);
    for d in &docs {
        assert_eq!(store.get(&d.id()).unwrap().as_ref(), Some(d));
    }
    assert_eq!(
        store.get_meta("roster").unwrap().as_deref(),
        Some(&b"roster bytes"[..])
    );
    assert_eq!(store.get_meta_u64("search.high_water").unwrap(), Some(42));
    assert_eq!(
        store
            .list(Some(Kind::Receipt), .., 100, Order::OldestFirst)
            .unwrap()
            .len(),
        17
    );
    assert_eq!(store.check().unwrap().docs, 50);
    // Still idempotent after a reopen.
    assert!(
        store
            .insert_batch(&docs)
            .unwrap()
            .iter()
            .all(|i| *i == Inserted::Duplicate)
    );
    assert_eq!(store.len(), 50);
}

/// Waits (bounded) until the store's in-memory id filter is filled.
fn wait_for_id_filter(store: &Store) {
    let t = Instant::now();
    while !store.id_filter_ready() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the id filter was not filled within 30 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Duplicate detection is exact whether the id filter is still being
/// filled after a reopen or complete: held ids are held, absent ones are
/// not, and inserting a held document again changes nothing.
#[test]
fn duplicates_are_found_before_and_after_the_id_filter_is_filled() {
    let dir = tempfile::tempdir().unwrap();
    let held: Vec<Document> = (0..3_000).map(|n| wiki(n, n, 40)).collect();
    let absent: Vec<Document> = (3_000..3_200).map(|n| wiki(n, n, 40)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        for chunk in held.chunks(700) {
            store.insert_batch(chunk).unwrap();
        }
        // Filled (from an empty store) and kept up to date by inserts.
        wait_for_id_filter(&store);
        assert!(held.iter().all(|d| store.contains(&d.id()).unwrap()));
        store.close().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    // Probably still filling: every answer must be right regardless.
    let early = store.insert_batch(&held[..500]).unwrap();
    assert!(early.iter().all(|i| *i == Inserted::Duplicate));
    wait_for_id_filter(&store);
    assert!(held.iter().all(|d| store.contains(&d.id()).unwrap()));
    assert!(absent.iter().all(|d| !store.contains(&d.id()).unwrap()));
    let again = store.insert_batch(&held).unwrap();
    assert!(again.iter().all(|i| *i == Inserted::Duplicate));
    let fresh = store.insert_batch(&absent).unwrap();
    assert!(fresh.iter().all(|i| *i == Inserted::New));
    assert!(absent.iter().all(|d| store.contains(&d.id()).unwrap()));
    assert_eq!(store.len(), 3_200);
    assert_eq!(store.check().unwrap().docs, 3_200);
}

#[test]
fn meta_values() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.get_meta("missing").unwrap(), None);
    assert_eq!(store.get_meta_u64("missing").unwrap(), None);
    store.put_meta("odd", b"abc").unwrap();
    assert!(matches!(
        store.get_meta_u64("odd"),
        Err(StoreError::BadMeta {
            len: 3,
            expected: 8,
            ..
        })
    ));
    store.put_meta_u64("n", 1).unwrap();
    store.put_meta_u64("n", u64::MAX).unwrap();
    assert_eq!(store.get_meta_u64("n").unwrap(), Some(u64::MAX));
    // Meta names cannot reach the store's own bookkeeping.
    store.put_meta("count", &[0xff; 8]).unwrap();
    store.insert_batch(&[wiki(1, 1, 10)]).unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.check().unwrap().docs, 1);
}

#[test]
fn concurrent_overlapping_batches_count_each_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
    let docs: Vec<Document> = (0..200).map(|n| wiki(n, n % 17, 100)).collect();
    let docs = std::sync::Arc::new(docs);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (store, docs) = (store.clone(), docs.clone());
            std::thread::spawn(move || {
                let mut new = 0;
                // Each thread inserts all documents, from its own offset.
                for chunk in 0..10 {
                    let start = (t * 40 + chunk * 20) % 200;
                    let batch = &docs[start..start + 20];
                    new += store
                        .insert_batch(batch)
                        .unwrap()
                        .iter()
                        .filter(|i| **i == Inserted::New)
                        .count();
                }
                new
            })
        })
        .collect();
    let new: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(new, 200, "each document is New exactly once");
    assert_eq!(store.len(), 200);
    assert_eq!(store.check().unwrap().docs, 200);
}

#[test]
fn second_open_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    first.insert_batch(&[wiki(1, 1, 10)]).unwrap();
    let err = Store::open(dir.path()).expect_err("second open must fail");
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("another chapar-node is using"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    drop(first);
    let again = Store::open(dir.path()).unwrap();
    assert_eq!(again.len(), 1);
}

/// Opens the store's sled files directly (tests may name sled). sled's
/// flusher thread may hold the lock for a moment after the store is dropped.
fn open_sled(path: &std::path::Path) -> sled::Db {
    (0..100)
        .find_map(|_| {
            sled::open(path).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            })
        })
        .expect("sled releases the store within 5 s")
}

#[test]
fn corrupt_stored_bytes_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (wiki(1, 1, 100), wiki(2, 2, 100), wiki(3, 3, 100));
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .insert_batch(&[a.clone(), b.clone(), c.clone()])
            .unwrap();
    }
    {
        // Tests may name sled: damage the documents behind the store's back.
        // sled's flusher thread may hold the lock for a moment after drop.
        let db = open_sled(dir.path());
        // Layout 4: one tree "main"; 'd' ‖ id holds where the envelope is.
        let docs = db.open_tree("main").unwrap();
        let key = |id: chapar_proto::DocId| [&b"d"[..], &id.0[..]].concat();
        docs.insert(key(a.id()), &b"garbage, not a location"[..])
            .unwrap();
        // b's entry points at c's (valid, canonical) envelope.
        let c_loc = docs.get(key(c.id())).unwrap().unwrap();
        docs.insert(key(b.id()), c_loc).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    match store.get(&a.id()) {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, a.id());
            assert!(!reason.is_empty());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match store.get(&b.id()) {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, b.id());
            assert!(reason.contains("hash"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(store.get(&c.id()).unwrap().as_ref(), Some(&c));
    assert!(matches!(store.check(), Err(StoreError::Corrupt { .. })));
}

#[test]
fn damaged_segment_bytes_are_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let a = wiki(1, 1, 100);
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(std::slice::from_ref(&a)).unwrap();
    }
    // Flip one byte in the middle of the only segment.
    let seg = std::fs::read_dir(dir.path().join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&seg, bytes).unwrap();
    let store = (0..100)
        .find_map(|_| {
            Store::open(dir.path()).ok().or_else(|| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                None
            })
        })
        .expect("store reopens");
    assert!(matches!(store.get(&a.id()), Err(StoreError::Corrupt { id, .. }) if id == a.id()));
    assert!(store.check().is_err());
}

#[test]
fn check_finds_an_index_entry_without_its_document() {
    let dir = tempfile::tempdir().unwrap();
    let a = wiki(1, 1, 100);
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(std::slice::from_ref(&a)).unwrap();
        assert!(store.check().is_ok());
    }
    {
        let db = open_sled(dir.path());
        db.open_tree("main")
            .unwrap()
            .remove([&b"d"[..], &a.id().0[..]].concat())
            .unwrap();
        db.flush().unwrap();
    }
    // sled may hold its lock a moment after the handle is dropped.
    let store = reopen(dir.path());
    assert!(matches!(
        store.check(),
        Err(StoreError::Inconsistent { .. })
    ));
}

// ---- following the store in arrival order ---------------------------------

fn seg_file(dir: &std::path::Path, n: u32) -> std::path::PathBuf {
    dir.join("segments").join(format!("{n:08}.seg"))
}

fn seg_numbers(dir: &std::path::Path) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(dir.join("segments"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    v.sort();
    v
}

fn scan_all(store: &Store, from: Position) -> Vec<(Document, Position)> {
    store
        .scan(from)
        .collect::<Result<_, _>>()
        .expect("scan is clean")
}

fn ids(docs: &[Document]) -> Vec<DocId> {
    docs.iter().map(|d| d.id()).collect()
}

fn scanned_ids(scanned: &[(Document, Position)]) -> Vec<DocId> {
    scanned.iter().map(|(d, _)| d.id()).collect()
}

/// Checks that `scanned` is `expected` in order, with positions strictly
/// increasing and ending at `end`, and that resuming from each position
/// yields exactly the rest.
fn assert_scan(store: &Store, expected: &[Document], end: Position) {
    let scanned = scan_all(store, Position::START);
    assert_eq!(scanned_ids(&scanned), ids(expected));
    for ((d, _), e) in scanned.iter().zip(expected) {
        assert_eq!(d, e);
    }
    let mut prev = Position::START;
    for (_, p) in &scanned {
        assert!(*p > prev, "{p:?} after {prev:?}");
        prev = *p;
    }
    assert_eq!(prev, end);
    assert_eq!(store.end(), end);
    for (i, (_, p)) in scanned.iter().enumerate() {
        let rest = scan_all(store, *p);
        assert_eq!(scanned_ids(&rest), ids(&expected[i + 1..]), "from {p:?}");
        // The positions handed out are the same from any start.
        assert_eq!(
            rest.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            scanned[i + 1..].iter().map(|(_, p)| *p).collect::<Vec<_>>()
        );
    }
}

/// The first item of a scan from `from` is a `Segment` error naming
/// exactly `(segment, offset)`, and the scan ends there.
fn assert_scan_fails_at(store: &Store, from: Position, segment: u32, offset: u64) -> String {
    let mut scan = store.scan(from);
    let err = match scan.next() {
        Some(Err(e)) => e,
        other => panic!("scan from {from:?}: expected an error, got {other:?}"),
    };
    match &err {
        StoreError::Segment {
            segment: s,
            offset: o,
            ..
        } => assert_eq!((*s, *o), (segment, offset), "{err}"),
        other => panic!("expected a Segment error, got {other:?}"),
    }
    assert!(scan.next().is_none(), "the scan ends after its error");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("offset {offset} of segment {segment}")),
        "{msg}"
    );
    msg
}

#[test]
fn scan_yields_every_document_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.end(), Position::START);
    assert!(store.scan(Position::START).next().is_none());
    // Timestamps deliberately out of order: the scan follows arrival.
    let a: Vec<Document> = (0..5).map(|n| wiki(n, 100 - n, 300)).collect();
    let b: Vec<Document> = (5..8).map(|n| receipt(n, n)).collect();
    let c: Vec<Document> = (8..20).map(|n| wiki(n, 50 + n, 40 * n as usize)).collect();
    store.insert_batch(&a).unwrap();
    let end_a = store.end();
    assert!(end_a > Position::START);
    // Duplicates (across and within a batch) are not stored twice, and a
    // batch of only duplicates does not move the end.
    let mut batch = b.clone();
    batch.push(a[1].clone());
    batch.push(b[0].clone());
    store.insert_batch(&batch).unwrap();
    let end_b = store.end();
    assert!(end_b > end_a);
    store.insert_batch(&a[2..]).unwrap();
    assert_eq!(store.end(), end_b);
    store.insert_batch(&c).unwrap();
    let all: Vec<Document> = [a, b, c].concat();
    assert_scan(&store, &all, store.end());
    // The batch ends are among the positions handed out.
    let positions: Vec<Position> = scan_all(&store, Position::START)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(positions.contains(&end_a) && positions.contains(&end_b));
    // From the end: nothing, no error.
    assert!(store.scan(store.end()).next().is_none());
    assert_eq!(store.scan(Position::START).end(), store.end());
    assert_eq!(store.check().unwrap().docs, 20);
}

#[test]
fn a_scan_stops_at_the_end_it_was_created_with() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first: Vec<Document> = (0..4).map(|n| wiki(n, n, 200)).collect();
    let later: Vec<Document> = (4..8).map(|n| wiki(n, n, 200)).collect();
    store.insert_batch(&first).unwrap();
    let end = store.end();
    let mut scan = store.scan(Position::START);
    let (d0, p0) = scan.next().unwrap().unwrap();
    assert_eq!(d0, first[0]);
    store.insert_batch(&later).unwrap();
    assert!(store.end() > end);
    let rest: Vec<_> = scan.map(|r| r.unwrap()).collect();
    assert_eq!(scanned_ids(&rest), ids(&first[1..]));
    assert_eq!(rest.last().unwrap().1, end);
    // Resuming from there picks up the later batch.
    assert_eq!(scanned_ids(&scan_all(&store, end)), ids(&later));
    assert_eq!(scan_all(&store, p0).len(), 7);
}

#[test]
fn positions_roundtrip_as_bytes() {
    let p = Position {
        segment: 3,
        offset: 123_456_789_012,
    };
    assert_eq!(Position::from_bytes(&p.to_bytes()), Some(p));
    assert_eq!(
        Position::from_bytes(&Position::START.to_bytes()),
        Some(Position::START)
    );
    assert_eq!(Position::from_bytes(&[1; 8]), None);
    assert!(Position::START.to_bytes() < p.to_bytes());
}

#[test]
fn scan_crosses_segment_rollover_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    const SEG: u64 = 4_096;
    let docs: Vec<Document> = (0..40).map(|n| wiki(n, n, 700 + n as usize * 13)).collect();
    {
        let store = Store::open_with_segment_bytes(dir.path(), SEG).unwrap();
        for chunk in docs[..30].chunks(3) {
            store.insert_batch(chunk).unwrap();
        }
        assert_scan(&store, &docs[..30], store.end());
        store.close().unwrap();
    }
    let segs = seg_numbers(dir.path());
    assert!(segs.len() >= 4, "rolled over several times: {segs:?}");
    assert_eq!(segs, (1..=segs.len() as u32).collect::<Vec<_>>());
    {
        // Reopened with the same segment size: same documents, same end,
        // and appending goes on in order.
        let store = Store::open_with_segment_bytes(dir.path(), SEG).unwrap();
        let end = store.end();
        assert_eq!(end.segment, *segs.last().unwrap());
        assert_scan(&store, &docs[..30], end);
        for chunk in docs[30..35].chunks(2) {
            store.insert_batch(chunk).unwrap();
        }
        assert_scan(&store, &docs[..35], store.end());
        assert_eq!(store.check().unwrap().docs, 35);
    }
    // The segment size only decides where new segments start: the
    // production size reads the same store and appends to its last segment.
    let store = (0..100)
        .find_map(|_| {
            Store::open(dir.path()).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(50));
                None
            })
        })
        .expect("store reopens");
    let before = store.end();
    store.insert_batch(&docs[35..]).unwrap();
    assert_eq!(
        store.end().segment,
        before.segment.max(*segs.last().unwrap())
    );
    assert_scan(&store, &docs, store.end());
    assert_eq!(store.check().unwrap().docs, 40);
}

/// What a crash can leave in the segments past the end sled flushed.
#[derive(Debug, Clone, Copy)]
enum Leftover {
    /// A whole record: an acknowledged document whose index entries sled
    /// lost.
    FullRecord,
    /// The first half of one: an append that was never acknowledged.
    TornRecord,
    /// A whole record in a new segment, as if the append had rolled over.
    NewSegment,
    /// A whole-length record with a damaged byte: its checksum does not
    /// match.
    DamagedRecord,
    /// A whole record, checksum and all, whose signature does not verify.
    /// Only the store writes records, after verifying them: replay trusts
    /// the checksum and never judges signatures again (ADR 0016).
    UnverifiedRecord,
}

#[test]
fn reopening_replays_whole_records_and_cuts_a_torn_tail() {
    for leftover in [
        Leftover::FullRecord,
        Leftover::TornRecord,
        Leftover::NewSegment,
        Leftover::DamagedRecord,
        Leftover::UnverifiedRecord,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let committed: Vec<Document> = (0..6).map(|n| wiki(n, n, 500)).collect();
        let tail = wiki(100, 100, 900);
        let end = {
            let store = Store::open(dir.path()).unwrap();
            store.insert_batch(&committed[..3]).unwrap();
            store.insert_batch(&committed[3..]).unwrap();
            store.end()
        };
        assert_eq!(end.segment, 1);
        let seg1 = seg_file(dir.path(), 1);
        assert_eq!(std::fs::metadata(&seg1).unwrap().len(), end.offset);
        let mut record = record_bytes(tail.as_bytes());
        // The same document with a bit of its signature flipped.
        let mut unverified = tail.as_bytes().to_vec();
        let last = unverified.len() - 1;
        unverified[last] ^= 1;
        let tail = match leftover {
            Leftover::UnverifiedRecord => Document::decode(&unverified).unwrap(),
            _ => tail,
        };
        assert_eq!(
            tail.verify().is_ok(),
            !matches!(leftover, Leftover::UnverifiedRecord)
        );
        match leftover {
            Leftover::FullRecord => append_bytes(&seg1, &record),
            Leftover::TornRecord => append_bytes(&seg1, &record[..record.len() / 2]),
            Leftover::NewSegment => std::fs::write(seg_file(dir.path(), 2), &record).unwrap(),
            Leftover::DamagedRecord => {
                let last = record.len() - 1;
                record[last] ^= 1; // inside the envelope: the checksum fails
                append_bytes(&seg1, &record)
            }
            Leftover::UnverifiedRecord => append_bytes(&seg1, &record_bytes(&unverified)),
        }
        let store = Store::open(dir.path()).unwrap();
        // The id filter is filled after the replay: it must hold the
        // replayed document too.
        wait_for_id_filter(&store);
        let replayed = matches!(
            leftover,
            Leftover::FullRecord | Leftover::NewSegment | Leftover::UnverifiedRecord
        );
        let mut held = committed.clone();
        if replayed {
            held.push(tail.clone());
            assert_eq!(store.replayed_at_open(), 1, "{leftover:?}");
            assert!(store.contains(&tail.id()).unwrap());
            assert_eq!(store.len(), 7);
            assert!(store.end() > end);
        } else {
            assert_eq!(store.replayed_at_open(), 0, "{leftover:?}");
            assert_eq!(store.end(), end, "{leftover:?}");
            assert_eq!(std::fs::metadata(&seg1).unwrap().len(), end.offset);
            assert_eq!(seg_numbers(dir.path()), vec![1], "{leftover:?}");
            assert!(!store.contains(&tail.id()).unwrap());
        }
        assert_scan(&store, &held, store.end());
        assert_eq!(store.check().unwrap().docs, held.len() as u64);
        // Appending goes on from the end; a cut document can come again.
        let more = vec![wiki(7, 7, 300), tail.clone(), wiki(8, 8, 300)];
        let expected = if replayed {
            vec![Inserted::New, Inserted::Duplicate, Inserted::New]
        } else {
            vec![Inserted::New; 3]
        };
        assert_eq!(store.insert_batch(&more).unwrap(), expected);
        if replayed {
            held.extend([more[0].clone(), more[2].clone()]);
        } else {
            held.extend(more);
        }
        assert_scan(&store, &held, store.end());
        assert_eq!(store.check().unwrap().docs, held.len() as u64);
        drop(store);
        // A clean stop flushes the index: nothing to replay next time.
        let store = reopen(dir.path());
        assert_eq!(store.replayed_at_open(), 0);
        assert_eq!(store.len(), held.len() as u64);
    }
}

#[test]
fn entries_sled_kept_past_the_durable_mark_are_rewritten_not_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..7).map(|n| wiki(n, 7 - n, 500)).collect();
    let first = {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs[..3]).unwrap();
        let first = store.end();
        store.insert_batch(&docs[3..]).unwrap();
        first
    };
    {
        // What a crash can leave: sled kept the second batch's entries,
        // all but one, and not the mark that would cover them.
        let db = open_sled(dir.path());
        let main = db.open_tree("main").unwrap();
        let mut mark = 3u64.to_be_bytes().to_vec();
        mark.extend_from_slice(&first.segment.to_be_bytes());
        mark.extend_from_slice(&first.offset.to_be_bytes());
        main.insert("s/indexed", mark).unwrap();
        let lost = docs[5].id();
        let mut item = b"i".to_vec();
        item.extend_from_slice(&docs[5].created_ms().to_be_bytes());
        item.extend_from_slice(&lost.0);
        assert!(main.remove(item).unwrap().is_some());
        db.flush().unwrap();
    }
    let store = reopen(dir.path());
    assert_eq!(store.replayed_at_open(), 4);
    assert_eq!(store.len(), 7);
    assert_eq!(store.check().unwrap().docs, 7);
    assert_eq!(items(&store).len(), 7);
    assert_scan(&store, &docs, store.end());
}

#[test]
fn a_damaged_record_before_the_last_segment_is_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&[wiki(1, 1, 300)]).unwrap();
    }
    // Past sled's mark: garbage in segment 1, then a whole record in
    // segment 2. Cutting at the garbage would drop a record that can only
    // have been written after segment 1 was synced.
    append_bytes(&seg_file(dir.path(), 1), &[0xff; 64]);
    let later = wiki(2, 2, 300);
    std::fs::write(seg_file(dir.path(), 2), record_bytes(later.as_bytes())).unwrap();
    let err = Store::open(dir.path()).expect_err("damaged acknowledged documents");
    assert!(matches!(err, StoreError::Inconsistent { .. }), "{err:?}");
    assert!(err.to_string().contains("segment 1"), "{err}");
    // Nothing was cut.
    assert!(seg_file(dir.path(), 2).exists());
}

fn append_bytes(path: &std::path::Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn reopening_refuses_a_segment_shorter_than_the_committed_end() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .insert_batch(&[wiki(1, 1, 300), wiki(2, 2, 300)])
            .unwrap();
    }
    let seg1 = seg_file(dir.path(), 1);
    let len = std::fs::metadata(&seg1).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg1)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let err = (0..100)
        .find_map(|_| match Store::open(dir.path()) {
            Err(StoreError::InUse { .. }) => {
                std::thread::sleep(Duration::from_millis(50));
                None
            }
            other => Some(other),
        })
        .expect("store lock released")
        .expect_err("committed bytes are missing");
    assert!(matches!(err, StoreError::Inconsistent { .. }), "{err:?}");
    assert!(err.to_string().contains("segment 1"), "{err}");
}

#[test]
fn a_corrupted_committed_record_is_reported_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..3).map(|n| wiki(n, n, 400)).collect();
    let positions: Vec<Position> = {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs).unwrap();
        scan_all(&store, Position::START)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    };
    let seg1 = seg_file(dir.path(), 1);
    let original = std::fs::read(&seg1).unwrap();
    // A damaged format version in the second envelope: its checksum no
    // longer matches.
    let mut bytes = original.clone();
    bytes[positions[0].offset as usize + 8 + 4] ^= 0x20;
    std::fs::write(&seg1, &bytes).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut scan = store.scan(Position::START);
    assert_eq!(scan.next().unwrap().unwrap().0, docs[0]);
    match scan.next() {
        Some(Err(StoreError::Segment {
            segment, offset, ..
        })) => assert_eq!((segment, offset), (1, positions[0].offset)),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(scan.next().is_none());
    assert!(store.check().is_err());
    drop(scan);
    drop(store);
    // A flipped letter in a title would still decode, to a document that
    // is not the one stored: the record's checksum tells.
    let mut bytes = original.clone();
    let title = bytes
        .windows(6)
        .position(|w| w == b"Page 1")
        .expect("the second title");
    bytes[title] ^= 0x20;
    std::fs::write(&seg1, &bytes).unwrap();
    let store = reopen(dir.path());
    let msg = assert_scan_fails_at(&store, positions[0], 1, positions[0].offset);
    assert!(msg.contains("checksum"), "{msg}");
    assert!(store.check().is_err());
    drop(store);
    // The same flip with the checksum made to match (bytes written as
    // they are, not damaged on disk): the scan cannot tell (it does not
    // consult the index), check() does.
    let second = positions[0].offset as usize;
    let len = u32::from_be_bytes(bytes[second..second + 4].try_into().unwrap()) as usize;
    let rewritten = record_bytes(&bytes[second + 8..second + 8 + len]);
    bytes[second..second + 8 + len].copy_from_slice(&rewritten);
    std::fs::write(&seg1, &bytes).unwrap();
    let store = reopen(dir.path());
    let scanned = scan_all(&store, Position::START);
    assert_eq!(scanned.len(), 3);
    assert_ne!(scanned[1].0.id(), docs[1].id());
    assert!(!store.contains(&scanned[1].0.id()).unwrap());
    assert!(matches!(
        store.check(),
        Err(StoreError::Inconsistent { .. })
    ));
    drop(store);
    // A damaged length prefix: the record would run past the end.
    let mut bytes = original.clone();
    bytes[positions[1].offset as usize] = 0x7f;
    std::fs::write(&seg1, &bytes).unwrap();
    let store = reopen(dir.path());
    let mut scan = store.scan(Position::START);
    assert!(scan.next().unwrap().is_ok());
    assert!(scan.next().unwrap().is_ok());
    match scan.next() {
        Some(Err(StoreError::Segment {
            segment, offset, ..
        })) => assert_eq!((segment, offset), (1, positions[1].offset)),
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(scan.next().is_none());
    assert_scan_fails_at(&store, positions[1], 1, positions[1].offset);
    assert!(store.check().is_err());
    drop(store);
    // Bad magic in the first record, checksum and all: the message names
    // the place.
    let mut bytes = original;
    let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    bytes[8] = b'X';
    let rewritten = record_bytes(&bytes[8..8 + len]);
    bytes[..8 + len].copy_from_slice(&rewritten);
    std::fs::write(&seg1, &bytes).unwrap();
    let store = reopen(dir.path());
    let msg = assert_scan_fails_at(&store, Position::START, 1, 0);
    assert!(msg.contains("does not decode"), "{msg}");
}

fn reopen(path: &std::path::Path) -> Store {
    (0..100)
        .find_map(|_| {
            Store::open(path).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(50));
                None
            })
        })
        .expect("store reopens")
}

#[test]
fn a_position_not_on_a_record_boundary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_segment_bytes(dir.path(), 2_000).unwrap();
    let docs: Vec<Document> = (0..6).map(|n| wiki(n, n, 600)).collect();
    for chunk in docs.chunks(2) {
        store.insert_batch(chunk).unwrap();
    }
    let scanned = scan_all(&store, Position::START);
    let end = store.end();
    assert!(end.segment >= 2);
    // Every offset strictly inside the first two records.
    let first_end = scanned[1].1;
    assert_eq!(first_end.segment, 1);
    for offset in (1..first_end.offset).filter(|o| *o != scanned[0].1.offset) {
        assert_scan_fails_at(&store, Position { segment: 1, offset }, 1, offset);
    }
    // Past the end of a closed segment, past the committed end, in a
    // segment that does not exist.
    let seg1_len = std::fs::metadata(seg_file(dir.path(), 1)).unwrap().len();
    for from in [
        Position {
            segment: 1,
            offset: seg1_len + 1,
        },
        Position {
            segment: end.segment,
            offset: end.offset + 1,
        },
        Position {
            segment: end.segment + 1,
            offset: 0,
        },
        Position {
            segment: 0,
            offset: 0,
        },
    ] {
        assert_scan_fails_at(&store, from, from.segment, from.offset);
    }
}

#[test]
fn wait_past_wakes_on_commit_and_times_out_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
    let start = store.end();
    // Times out when nothing comes.
    let t = Instant::now();
    assert_eq!(store.wait_past(start, Duration::from_millis(200)), start);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // Returns at once when the end is already past.
    store.insert_batch(&[wiki(1, 1, 100)]).unwrap();
    let t = Instant::now();
    assert_eq!(store.wait_past(start, Duration::from_secs(30)), store.end());
    assert!(t.elapsed() < Duration::from_secs(1));
    // Wakes when another thread commits.
    let pos = store.end();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            let end = store.wait_past(pos, Duration::from_secs(30));
            (end, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    store.insert_batch(&[wiki(2, 2, 100)]).unwrap();
    let (end, waited) = waiter.join().unwrap();
    assert!(end > pos);
    assert_eq!(end, store.end());
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let scanned = scan_all(&store, pos);
    assert_eq!(scanned.len(), 1);
    assert_eq!(scanned[0].0, wiki(2, 2, 100));
    // A duplicate-only batch does not wake anyone.
    let t = Instant::now();
    let end = store.end();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || store.wait_past(end, Duration::from_millis(300)))
    };
    store.insert_batch(&[wiki(2, 2, 100)]).unwrap();
    assert_eq!(waiter.join().unwrap(), end);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // interrupt_waits releases a waiter at once, and every later wait.
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            store.wait_past(end, Duration::from_secs(60));
            t.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    store.interrupt_waits();
    assert!(waiter.join().unwrap() < Duration::from_secs(5));
    let t = Instant::now();
    assert_eq!(store.wait_past(end, Duration::from_secs(60)), end);
    assert!(t.elapsed() < Duration::from_secs(1));
    // No overflow on an endless timeout once interrupted.
    assert_eq!(store.wait_past(end, Duration::MAX), end);
}

// ---- upgrade from layout 5 -------------------------------------------------

#[test]
fn a_layout_5_store_is_upgraded_and_its_whole_tail_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..4).map(|n| wiki(n, n, 400)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs[..3]).unwrap();
    }
    downgrade(dir.path(), 5);
    // Layout 5 acknowledged only after sled's flush, so a whole record past
    // its end was never acknowledged; it was verified before being written,
    // so keeping it is as good as a peer sending it again.
    let mut record = (docs[3].as_bytes().len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(docs[3].as_bytes());
    append_bytes(&seg_file(dir.path(), 1), &record);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.replayed_at_open(), 1);
    assert_scan(&store, &docs, store.end());
    assert_eq!(store.check().unwrap().docs, 4);
    drop(store);
    assert_eq!(schema_of(dir.path()), (SCHEMA_VERSION, true));
}

// ---- upgrade from layout 6 -------------------------------------------------

/// Turns a store this build wrote, cleanly closed, into what layout
/// `version` (4 to 7) wrote: the same documents, in segment records without
/// checksums (the index's locations and the durable mark moved to match);
/// for layouts 4 to 6, with the count (and from layout 5, the committed
/// end) that each batch wrote in place of the durable mark.
fn downgrade(path: &std::path::Path, version: u64) {
    let db = open_sled(path);
    let main = db.open_tree("main").unwrap();
    assert_eq!(
        main.get("s/schema").unwrap().as_deref(),
        Some(&SCHEMA_VERSION.to_be_bytes()[..])
    );
    assert_eq!(
        main.remove("s/sums").unwrap().as_deref(),
        Some(&1u32.to_be_bytes()[..]),
        "every segment holds checksummed records"
    );
    // Rewrite each segment without checksums; remember where every
    // envelope and every record end went.
    let mut moved = std::collections::HashMap::new();
    for n in seg_numbers(path) {
        let file = seg_file(path, n);
        let bytes = std::fs::read(&file).unwrap();
        let mut old = Vec::with_capacity(bytes.len());
        let mut at = 0usize;
        moved.insert((n, 0u64), 0u64);
        while at < bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let envelope = &bytes[at + 8..at + 8 + len];
            moved.insert((n, (at + 8) as u64), (old.len() + 4) as u64);
            old.extend_from_slice(&bytes[at..at + 4]);
            old.extend_from_slice(envelope);
            at += 8 + len;
            moved.insert((n, at as u64), old.len() as u64);
        }
        std::fs::write(&file, old).unwrap();
    }
    for kv in main.scan_prefix(b"d") {
        let (k, mut loc) = kv.map(|(k, v)| (k, v.to_vec())).unwrap();
        let segment = u32::from_be_bytes(loc[..4].try_into().unwrap());
        let offset = u64::from_be_bytes(loc[4..12].try_into().unwrap());
        loc[4..12].copy_from_slice(&moved[&(segment, offset)].to_be_bytes());
        main.insert(k, loc).unwrap();
    }
    let mut mark = main
        .remove("s/indexed")
        .unwrap()
        .expect("a durable mark")
        .to_vec();
    assert_eq!(mark.len(), 20);
    let segment = u32::from_be_bytes(mark[8..12].try_into().unwrap());
    let offset = u64::from_be_bytes(mark[12..].try_into().unwrap());
    mark[12..].copy_from_slice(&moved[&(segment, offset)].to_be_bytes());
    if version == 7 {
        main.insert("s/indexed", mark).unwrap();
    } else {
        main.insert("s/count", &mark[..8]).unwrap();
        if version >= 5 {
            main.insert("s/end", &mark[8..]).unwrap();
        }
    }
    main.insert("s/schema", &version.to_be_bytes()).unwrap();
    db.flush().unwrap();
}

/// The layout version on disk, and whether it has a durable mark.
fn schema_of(path: &std::path::Path) -> (u64, bool) {
    let db = open_sled(path);
    let main = db.open_tree("main").unwrap();
    let v = main.get("s/schema").unwrap().unwrap();
    (
        u64::from_be_bytes(v[..].try_into().unwrap()),
        main.contains_key("s/indexed").unwrap(),
    )
}

#[test]
fn a_layout_6_store_is_upgraded_and_its_tail_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..5).map(|n| wiki(n, 10 - n, 400)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs[..2]).unwrap();
        store.insert_batch(&docs[2..4]).unwrap();
    }
    downgrade(dir.path(), 6);
    // An acknowledged document whose index entries layout 6 had not
    // flushed when it stopped.
    let mut record = (docs[4].as_bytes().len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(docs[4].as_bytes());
    append_bytes(&seg_file(dir.path(), 1), &record);
    {
        let store = reopen(dir.path());
        assert_eq!(store.replayed_at_open(), 1);
        assert_eq!(store.len(), 5);
        assert_scan(&store, &docs, store.end());
        assert_eq!(store.check().unwrap().docs, 5);
    }
    assert_eq!(schema_of(dir.path()), (SCHEMA_VERSION, true));
    {
        // The old layout's state is gone: nothing can read it as current.
        let db = open_sled(dir.path());
        let main = db.open_tree("main").unwrap();
        assert!(!main.contains_key("s/count").unwrap());
        assert!(!main.contains_key("s/end").unwrap());
    }
    let store = reopen(dir.path());
    assert_eq!(store.replayed_at_open(), 0);
    assert_eq!(store.len(), 5);
}

// ---- upgrade from layout 7 -------------------------------------------------

#[test]
fn a_layout_7_store_keeps_its_segments_and_checksums_what_comes_after() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<Document> = (0..7).map(|n| wiki(n, 30 - n, 400)).collect();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&docs[..2]).unwrap();
        store.insert_batch(&docs[2..4]).unwrap();
    }
    downgrade(dir.path(), 7);
    // An acknowledged document whose index entries layout 7 had not
    // flushed when it stopped, in that layout's record format.
    let seg1 = seg_file(dir.path(), 1);
    let mut record = (docs[4].as_bytes().len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(docs[4].as_bytes());
    append_bytes(&seg1, &record);
    let old_segment = std::fs::read(&seg1).unwrap();
    {
        let store = reopen(dir.path());
        assert_eq!(store.replayed_at_open(), 1);
        assert_eq!(store.len(), 5);
        assert_scan(&store, &docs[..5], store.end());
        // New records go to a new segment, with checksums.
        store.insert_batch(&docs[5..6]).unwrap();
        assert_eq!(store.end().segment, 2);
        assert_scan(&store, &docs[..6], store.end());
        assert_eq!(store.check().unwrap().docs, 6);
    }
    assert_eq!(schema_of(dir.path()), (SCHEMA_VERSION, true));
    assert_eq!(std::fs::read(&seg1).unwrap(), old_segment, "kept as it was");
    {
        let db = open_sled(dir.path());
        let main = db.open_tree("main").unwrap();
        assert_eq!(
            main.get("s/sums").unwrap().as_deref(),
            Some(&2u32.to_be_bytes()[..])
        );
    }
    // A torn checksummed append after them is cut; both formats read on.
    let seg2 = seg_file(dir.path(), 2);
    let whole = std::fs::metadata(&seg2).unwrap().len();
    let torn = record_bytes(docs[6].as_bytes());
    append_bytes(&seg2, &torn[..torn.len() - 3]);
    let store = reopen(dir.path());
    assert_eq!(store.replayed_at_open(), 0);
    assert_eq!(std::fs::metadata(&seg2).unwrap().len(), whole);
    assert_scan(&store, &docs[..6], store.end());
    store.insert_batch(&docs[6..]).unwrap();
    assert_scan(&store, &docs, store.end());
    assert_eq!(store.check().unwrap().docs, 7);
}

#[test]
fn a_whole_record_that_does_not_decode_is_refused_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(&[wiki(1, 1, 300)]).unwrap();
    }
    // Past the durable mark: a record whose checksum matches but whose
    // bytes are no document, then a whole document. A torn append cannot
    // make a matching checksum: these bytes were written as they are, and
    // cutting them would drop the document after them.
    let seg1 = seg_file(dir.path(), 1);
    let len = std::fs::metadata(&seg1).unwrap().len();
    append_bytes(&seg1, &record_bytes(b"CHPR not a document"));
    append_bytes(&seg1, &record_bytes(wiki(2, 2, 300).as_bytes()));
    let err = Store::open(dir.path()).expect_err("a damaged whole record");
    assert!(matches!(err, StoreError::Inconsistent { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("does not decode"), "{msg}");
    assert!(msg.contains(&format!("offset {len}")), "{msg}");
    assert!(std::fs::metadata(&seg1).unwrap().len() > len, "nothing cut");
}

// ---- upgrade from layout 4 -------------------------------------------------

#[test]
fn a_layout_4_store_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    const SEG: u64 = 3_000;
    let docs: Vec<Document> = (0..12).map(|n| wiki(n, 20 - n, 500)).collect();
    let end = {
        let store = Store::open_with_segment_bytes(dir.path(), SEG).unwrap();
        for chunk in docs[..9].chunks(3) {
            store.insert_batch(chunk).unwrap();
        }
        store.end()
    };
    assert!(end.segment >= 2);
    downgrade(dir.path(), 4);
    // The end in layout 4's record format.
    let end = Position {
        segment: end.segment,
        offset: std::fs::metadata(seg_file(dir.path(), end.segment))
            .unwrap()
            .len(),
    };
    // Layout 4 also left a crashed append's torn bytes at the end.
    let stray = wiki(99, 99, 500);
    append_bytes(&seg_file(dir.path(), end.segment), &stray.as_bytes()[..200]);
    {
        let store = Store::open_with_segment_bytes(dir.path(), SEG).unwrap();
        assert_eq!(store.end(), end);
        assert_eq!(store.len(), 9);
        assert_scan(&store, &docs[..9], end);
        assert_eq!(store.check().unwrap().docs, 9);
        store.insert_batch(&docs[9..]).unwrap();
        assert_scan(&store, &docs, store.end());
    }
    assert_eq!(schema_of(dir.path()), (SCHEMA_VERSION, true));
    let store = reopen(dir.path());
    assert_scan(&store, &docs, store.end());
}

#[test]
fn an_empty_layout_4_store_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    downgrade(dir.path(), 4);
    let store = reopen(dir.path());
    assert_eq!(store.end(), Position::START);
    assert!(store.scan(Position::START).next().is_none());
    store.insert_batch(&[wiki(1, 1, 10)]).unwrap();
    assert_eq!(scan_all(&store, Position::START).len(), 1);
}

#[test]
fn a_layout_4_store_with_bytes_between_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (wiki(1, 1, 300), wiki(2, 2, 300));
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_batch(std::slice::from_ref(&a)).unwrap();
    }
    downgrade(dir.path(), 4);
    // What layout 4 did after a crash: the crashed append's bytes stayed,
    // and the next batch went after them.
    let seg1 = seg_file(dir.path(), 1);
    append_bytes(&seg1, &[0, 0, 9, 9, b'C', b'H']);
    let offset = std::fs::metadata(&seg1).unwrap().len();
    let mut record = (b.as_bytes().len() as u32).to_be_bytes().to_vec();
    record.extend_from_slice(b.as_bytes());
    append_bytes(&seg1, &record);
    {
        let db = open_sled(dir.path());
        let main = db.open_tree("main").unwrap();
        let mut loc = 1u32.to_be_bytes().to_vec();
        loc.extend_from_slice(&(offset + 4).to_be_bytes());
        loc.extend_from_slice(&(b.as_bytes().len() as u32).to_be_bytes());
        main.insert([&b"d"[..], &b.id().0[..]].concat(), loc)
            .unwrap();
        main.insert("s/count", &2u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path()).expect_err("cannot scan past the stray bytes");
    assert!(matches!(err, StoreError::Inconsistent { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("layout 4"), "{msg}");
    assert!(msg.contains("segment 1"), "{msg}");
    // Refusing changed nothing.
    assert_eq!(schema_of(dir.path()), (4, false));
}

// ---- kill -9 durability -------------------------------------------------

const CHILD_DIR: &str = "CHAPAR_STORE_TEST_CHILD_DIR";
const CHILD_RUN: &str = "CHAPAR_STORE_TEST_CHILD_RUN";

/// Not a test on its own: the body of the child process of
/// [`kill_child_when`]. Returns at once unless that started it.
#[test]
fn kill_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let run: u64 = std::env::var(CHILD_RUN).unwrap().parse().unwrap();
    let store = Store::open(&dir).unwrap();
    let mut out = std::io::stdout().lock();
    let mut prev: Option<Document> = None;
    // Bounded in count and time: the parent kills long before either.
    let deadline = Instant::now() + Duration::from_secs(60);
    for batch in 0..50_000u64 {
        if Instant::now() > deadline {
            break;
        }
        let size = 1 + (batch * 7 % 23);
        let mut docs: Vec<Document> = (0..size)
            .map(|i| {
                let n = (run << 40) | (batch << 8) | i;
                // Timestamps interleave with earlier runs' documents.
                let ts = 1_000 + (n.wrapping_mul(0x9e37_79b9) % 10_000);
                let doc = wiki(n, ts, 200 + (n as usize * 31) % 3000);
                // One in three signed with a torsion component in R by the
                // key's owner: such a document was once accepted at ingest
                // and refused by the replay, which then cut it and every
                // acknowledged document after it.
                if i % 3 == 1 {
                    support::with_torsion_in_r(&doc, &key(), 1 + (n as usize % 7))
                } else {
                    doc
                }
            })
            .collect();
        if let Some(p) = prev.take() {
            docs.push(p); // a duplicate
        }
        store.insert_batch(&docs).unwrap();
        for d in &docs {
            writeln!(out, "ACK {}", d.id()).unwrap();
        }
        out.flush().unwrap();
        prev = docs.first().cloned();
    }
}

/// Runs [`kill_child`] as run `run` on the store in `dir` until `enough`
/// (given the acknowledgements seen and the time since it started) says
/// so, then kills it with SIGKILL. Returns the ids it acknowledged; panics
/// if it stops acknowledging for 20 s or ends by itself.
fn kill_child_when(
    dir: &std::path::Path,
    run: u64,
    enough: impl Fn(usize, Duration) -> bool,
) -> Vec<DocId> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(&exe)
        .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_RUN, run.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut acked = Vec::new();
    let mut last_ack = Instant::now();
    let failure = loop {
        if enough(acked.len(), started.elapsed()) {
            break None;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                if let Some(hex) = line.strip_prefix("ACK ") {
                    acked.push(hex.parse().unwrap());
                    last_ack = Instant::now();
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout)
                if last_ack.elapsed() < Duration::from_secs(20) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Some(format!("run {run}: no ack for 20 s after {}", acked.len()));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Some(format!("run {run}: child ended after {} acks", acked.len()));
            }
        }
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(rx);
    reader.join().unwrap();
    if let Some(f) = failure {
        panic!("{f}");
    }
    acked
}

#[test]
fn acknowledged_documents_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: BTreeSet<DocId> = BTreeSet::new();
    let mut replayed = 0u64;
    // Kill at three different points (counted in acknowledgements).
    for (run, kill_after) in [(1u64, 200usize), (2, 337), (3, 611)] {
        let ids = kill_child_when(dir.path(), run, |seen, _| seen >= kill_after);
        let seen = ids.len();
        acked.extend(ids);
        let store = reopen(dir.path());
        replayed += store.replayed_at_open();
        for id in &acked {
            let doc = store
                .get(id)
                .unwrap()
                .unwrap_or_else(|| panic!("run {run}: acknowledged {id} lost"));
            assert_eq!(doc.id(), *id);
        }
        let report = store.check().unwrap();
        assert_eq!(report.docs, store.len());
        assert!(store.len() >= acked.len() as u64);
        assert_eq!(items(&store).len() as u64, store.len());
        // The kill left a torn append cut, whole ones replayed: the
        // segments hold exactly the documents held, once each, to the end.
        let scanned = scan_all(&store, Position::START);
        assert_eq!(scanned.len() as u64, store.len());
        assert_eq!(scanned.last().map(|(_, p)| *p), Some(store.end()));
        let distinct: BTreeSet<DocId> = scanned.iter().map(|(d, _)| d.id()).collect();
        assert_eq!(distinct.len(), scanned.len());
        assert!(acked.is_subset(&distinct));
        eprintln!(
            "run {run}: killed after {seen} acks; {} acked, {} held, {} replayed",
            acked.len(),
            store.len(),
            store.replayed_at_open()
        );
    }
    // The durable mark moves about once a second, and each run is killed
    // well within its first second: the acknowledged documents came back
    // through the write-ahead replay, not through sled.
    assert!(replayed > 0, "no run replayed the write-ahead tail");
}

#[test]
fn the_durable_mark_follows_a_running_store() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough for a few flush periods, in which the mark must move.
    let acked = kill_child_when(dir.path(), 4, |_, t| t >= Duration::from_secs(4));
    let store = reopen(dir.path());
    for id in &acked {
        assert!(store.contains(id).unwrap(), "acknowledged {id} lost");
    }
    assert_eq!(store.check().unwrap().docs, store.len());
    let (held, replayed) = (store.len(), store.replayed_at_open());
    eprintln!("killed after 4 s: {held} held, {replayed} replayed");
    assert!(
        replayed < held,
        "the whole store was replayed: the mark never moved ({held} documents)"
    );
}
