//! Decode and signature-verification throughput, strict vs batch, measured
//! in one run so the ratio is meaningful on a noisy machine.
//!
//! `cargo bench -p chapar-proto --bench verify` (add `-- --json` for JSON).

use std::time::Instant;

use chapar_proto::keys::signing_key_from_seed;
use chapar_proto::{Body, Cable, Classification, Document, Id, Precedence, verify_batch};

const DOCS: usize = 20_000;
const ROUNDS: usize = 3;

fn docs() -> Vec<Vec<u8>> {
    let keys: Vec<_> = (0..50u8)
        .map(|i| signing_key_from_seed([i + 1; 32]))
        .collect();
    let body = "Lorem ipsum dolor sit amet, raqamli diplomatiya. ".repeat(40); // ~2 KB
    (0..DOCS)
        .map(|i| {
            let cable = Cable {
                originator: Id::new("emb-tokyo").expect("id"),
                action: vec![Id::new("mfa").expect("id")],
                info: vec![],
                precedence: Precedence::Routine,
                classification: Classification::Confidential,
                caption: None,
                tags: vec![],
                subject: format!("cable {i}"),
                references: vec![],
                body: body.clone(),
            };
            Document::sign(&keys[i % keys.len()], i as u64, Body::Cable(cable))
                .expect("sign")
                .into_bytes()
        })
        .collect()
}

/// Best of ROUNDS, in nanoseconds per document.
fn best(mut f: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / DOCS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let raw = docs();
    let decoded: Vec<Document> = raw
        .iter()
        .map(|b| Document::decode(b).expect("decode"))
        .collect();
    let decode = best(|| {
        for b in &raw {
            std::hint::black_box(Document::decode(b).expect("decode"));
        }
    });
    let strict = best(|| {
        for d in &decoded {
            d.verify().expect("verify");
        }
    });
    let batch = best(|| {
        assert!(verify_batch(&decoded).iter().all(Result::is_ok));
    });
    let bytes = raw.iter().map(Vec::len).sum::<usize>() / DOCS;
    if json {
        println!(
            "{{\"docs\":{DOCS},\"doc_bytes\":{bytes},\"decode_ns\":{decode:.0},\"verify_strict_ns\":{strict:.0},\"verify_batch_ns\":{batch:.0},\"batch_over_strict\":{:.3}}}",
            batch / strict
        );
    } else {
        println!("{DOCS} signed cables of {bytes} bytes, best of {ROUNDS} rounds, one core");
        println!(
            "  decode (canonical checks, SHA-256 id)  {:>8.2} µs/doc",
            decode / 1e3
        );
        println!(
            "  verify_strict                          {:>8.2} µs/doc  ({:.0} docs/s)",
            strict / 1e3,
            1e9 / strict
        );
        println!(
            "  verify_batch (weak-key check + batch)  {:>8.2} µs/doc  ({:.0} docs/s)",
            batch / 1e3,
            1e9 / batch
        );
        println!(
            "  batch / strict                         {:>8.3}",
            batch / strict
        );
    }
}
