//! Store figures at scale: `cargo bench -p chapar-node --bench store`.
//!
//! Inserts `CHAPAR_BENCH_DOCS` (default 100,000) documents of about 2 KB in
//! batches of 1,000, then reports insert throughput, the open time of the
//! full store, sled's space amplification, scan/get times and the time to
//! follow the whole store in arrival order (`Store::scan`). The store is
//! written under Cargo's target tmp dir (a real disk, not tmpfs), or under
//! `CHAPAR_BENCH_DIR` if set.

use std::path::Path;
use std::time::Instant;

use chapar_node::store::{Inserted, Position, Store};
use chapar_proto::{Body, Classification, Document, PageId, WikiRevision};
use ed25519_dalek::SigningKey;

const BATCH: usize = 1_000;
const BODY: usize = 1_850;

fn doc(key: &SigningKey, n: u64, ts: u64) -> Document {
    let mut page = [0u8; 16];
    page[..8].copy_from_slice(&n.to_be_bytes());
    let line = format!("Cable {n}: the mission reports on the talks in Tashkent. ");
    let rev = WikiRevision {
        page: PageId(page),
        parents: Vec::new(),
        title: format!("Page {n}"),
        classification: Classification::Restricted,
        caption: None,
        body: line.chars().cycle().take(BODY).collect(),
        summary: "bench".into(),
    };
    Document::sign(key, ts, Body::WikiRevision(rev)).expect("valid document")
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n: u64 = std::env::var("CHAPAR_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let base = std::env::var_os("CHAPAR_BENCH_DIR")
        .map(Into::into)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let tmp = tempfile::tempdir_in(&base).expect("temp dir");
    let path = tmp.path().join("store");

    let key = SigningKey::from_bytes(&[9u8; 32]);
    let t = Instant::now();
    // Timestamps scattered over ~n seconds, not in insertion order, as
    // replication delivers them.
    let docs: Vec<Document> = (0..n)
        .map(|i| doc(&key, i, 1_700_000_000_000 + (i * 7_919 % n) * 1_000))
        .collect();
    let logical: u64 = docs.iter().map(|d| d.as_bytes().len() as u64).sum();
    println!(
        "generated {n} documents ({:.0} bytes avg) in {:.2?}",
        logical as f64 / n as f64,
        t.elapsed()
    );

    let store = Store::open(&path).expect("open");
    let t = Instant::now();
    let mut flushes = 0u64;
    let mut slowest = std::time::Duration::ZERO;
    for batch in docs.chunks(BATCH) {
        let tb = Instant::now();
        let out = store.insert_batch(batch).expect("insert");
        slowest = slowest.max(tb.elapsed());
        flushes += 1;
        assert!(out.iter().all(|i| *i == Inserted::New));
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "insert: {n} docs in {secs:.2} s = {:.0} docs/s, {:.1} MB/s; {flushes} flushes (1 per batch of {BATCH}); slowest batch {slowest:.2?}",
        n as f64 / secs,
        logical as f64 / secs / 1e6
    );
    let t = Instant::now();
    store.close().expect("close");
    println!("close: {:.2?}", t.elapsed());

    let t = Instant::now();
    let store = Store::open(&path).expect("reopen");
    println!("open with {} docs: {:.2?}", store.len(), t.elapsed());
    assert_eq!(store.len(), n);

    let t = Instant::now();
    let mut count = 0u64;
    let mut last = (0u64, chapar_proto::DocId([0; 32]));
    for item in store.items() {
        let item = item.expect("item");
        assert!(item >= last);
        last = item;
        count += 1;
    }
    println!("items() scan of {count}: {:.2?}", t.elapsed());

    let t = Instant::now();
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut last = Position::START;
    for r in store.scan(Position::START) {
        let (d, p) = r.expect("scan");
        assert!(p > last);
        last = p;
        bytes += d.as_bytes().len() as u64;
        count += 1;
    }
    assert_eq!(last, store.end());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "scan() of {count} in arrival order (read, decode, hash): {secs:.2} s = {:.0} docs/s, {:.0} MB/s",
        count as f64 / secs,
        bytes as f64 / secs / 1e6
    );

    let t = Instant::now();
    let gets = 10_000.min(n);
    for i in 0..gets {
        let d = &docs[(i * 7_717 % n) as usize];
        let got = store.get(&d.id()).expect("get").expect("present");
        assert_eq!(got.id(), d.id());
    }
    println!(
        "get (decode + hash check): {:.1} µs avg over {gets}",
        t.elapsed().as_secs_f64() * 1e6 / gets as f64
    );

    let t = Instant::now();
    let report = store.check().expect("check");
    println!("check() of {} docs: {:.2?}", report.docs, t.elapsed());

    let on_disk = dir_size(&path);
    // Logical: envelopes plus the keys the store writes (docs key 32,
    // items key 40 + 1, by_kind key 41).
    let with_keys = logical + n * (32 + 41 + 41);
    println!(
        "on disk {:.1} MB (sled size_on_disk {:.1} MB); logical {:.1} MB envelopes, {:.1} MB with keys; space amplification {:.2}x (vs envelopes), {:.2}x (vs envelopes + keys)",
        on_disk as f64 / 1e6,
        store.size_on_disk().unwrap_or(0) as f64 / 1e6,
        logical as f64 / 1e6,
        with_keys as f64 / 1e6,
        on_disk as f64 / logical as f64,
        on_disk as f64 / with_keys as f64
    );
}
