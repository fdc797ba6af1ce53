//! The document store on real sled databases in temporary directories,
//! including kill -9 durability with a child process.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chapar_node::store::{Inserted, Order, Store, StoreError};
use chapar_proto::{
    Body, Classification, DocId, Document, Id, Kind, PageId, Receipt, ReceiptStatus, WikiRevision,
};
use ed25519_dalek::SigningKey;

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
    let store = Store::open(dir.path()).unwrap();
    assert!(matches!(
        store.check(),
        Err(StoreError::Inconsistent { .. })
    ));
}

// ---- kill -9 durability -------------------------------------------------

const CHILD_DIR: &str = "CHAPAR_STORE_TEST_CHILD_DIR";
const CHILD_RUN: &str = "CHAPAR_STORE_TEST_CHILD_RUN";

/// Not a test on its own: the body of the child process of
/// [`acknowledged_documents_survive_kill_9`]. Returns at once unless that
/// test started it.
#[test]
fn kill_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let run: u64 = std::env::var(CHILD_RUN).unwrap().parse().unwrap();
    let store = Store::open(&dir).unwrap();
    let mut out = std::io::stdout().lock();
    let mut prev: Option<Document> = None;
    // Bounded: the parent kills long before this ends.
    for batch in 0..5_000u64 {
        let size = 1 + (batch * 7 % 23);
        let mut docs: Vec<Document> = (0..size)
            .map(|i| {
                let n = (run << 40) | (batch << 8) | i;
                // Timestamps interleave with earlier runs' documents.
                let ts = 1_000 + (n.wrapping_mul(0x9e37_79b9) % 10_000);
                wiki(n, ts, 200 + (n as usize * 31) % 3000)
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

#[test]
fn acknowledged_documents_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<DocId> = BTreeSet::new();
    // Kill at three different points (counted in acknowledgements).
    for (run, kill_after) in [(1u64, 200usize), (2, 337), (3, 611)] {
        let mut child = Command::new(&exe)
            .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
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
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0usize;
        let failure = loop {
            if seen >= kill_after {
                break None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(hex) = line.strip_prefix("ACK ") {
                        acked.insert(hex.parse().unwrap());
                        seen += 1;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    break Some(format!("run {run}: only {seen} acks in 20 s"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Some(format!("run {run}: child ended after {seen} acks"));
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

        let store = Store::open(dir.path()).unwrap();
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
        eprintln!(
            "run {run}: killed after {seen} acks; {} acked, {} held",
            acked.len(),
            store.len()
        );
    }
}
