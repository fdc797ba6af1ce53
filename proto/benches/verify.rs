//! Decode and signature-verification throughput, measured in one run so the
//! ratios are meaningful on a noisy machine: chapar's rule (ZIP-215, single
//! and batch, ADR 0016) beside what it replaced (ed25519-dalek's
//! `verify_strict` and its cofactorless batch check).
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
    let single = best(|| {
        for d in &decoded {
            d.verify().expect("verify");
        }
    });
    let batch = best(|| {
        assert!(verify_batch(&decoded).iter().all(Result::is_ok));
    });
    // What chapar used before ADR 0016, for the ratio.
    let parts: Vec<(
        ed25519_dalek::VerifyingKey,
        ed25519_dalek::Signature,
        [u8; 50],
    )> = decoded
        .iter()
        .map(|d| {
            let b = d.as_bytes();
            let sig = ed25519_dalek::Signature::from_bytes(
                b[b.len() - 64..].try_into().expect("64 bytes"),
            );
            let key = ed25519_dalek::VerifyingKey::from_bytes(&d.author().0).expect("key");
            (key, sig, d.signed_message())
        })
        .collect();
    let strict = best(|| {
        for (key, sig, msg) in &parts {
            key.verify_strict(msg, sig).expect("verify");
        }
    });
    let dalek_batch = best(|| {
        for chunk in parts.chunks(128) {
            let msgs: Vec<&[u8]> = chunk.iter().map(|p| &p.2[..]).collect();
            let sigs: Vec<_> = chunk.iter().map(|p| p.1).collect();
            let keys: Vec<_> = chunk.iter().map(|p| p.0).collect();
            ed25519_dalek::verify_batch(&msgs, &sigs, &keys).expect("batch");
        }
    });
    let bytes = raw.iter().map(Vec::len).sum::<usize>() / DOCS;
    if json {
        println!(
            "{{\"docs\":{DOCS},\"doc_bytes\":{bytes},\"decode_ns\":{decode:.0},\"verify_ns\":{single:.0},\"verify_batch_ns\":{batch:.0},\"dalek_strict_ns\":{strict:.0},\"dalek_batch_ns\":{dalek_batch:.0},\"batch_over_single\":{:.3},\"batch_over_dalek_batch\":{:.3}}}",
            batch / single,
            batch / dalek_batch
        );
    } else {
        println!("{DOCS} signed cables of {bytes} bytes, best of {ROUNDS} rounds, one core");
        let row = |what: &str, ns: f64| {
            println!(
                "  {what:<46} {:>8.2} µs/doc  ({:.0} docs/s)",
                ns / 1e3,
                1e9 / ns
            )
        };
        println!(
            "  {:<46} {:>8.2} µs/doc",
            "decode (canonical checks, SHA-256 id)",
            decode / 1e3
        );
        row("Document::verify (ZIP-215, one at a time)", single);
        row("verify_batch (ZIP-215, chunks of 128)", batch);
        row("before: dalek verify_strict", strict);
        row("before: dalek verify_batch (cofactorless)", dalek_batch);
        println!("  {:<46} {:>8.3}", "batch / single", batch / single);
        println!(
            "  {:<46} {:>8.3}",
            "batch / before's batch",
            batch / dalek_batch
        );
    }
}
