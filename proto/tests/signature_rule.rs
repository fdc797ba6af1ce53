//! One signature rule (ADR 0016): whatever a signature is, a single check
//! and every batch it can land in give it the same verdict, so nodes and
//! restarts never disagree about the same bytes. The hard case is a
//! signature its key's owner crafted with a torsion component in `R`.

mod common;
mod support;

use chapar_proto::document::verify_batch;
use chapar_proto::*;
use ed25519_dalek::{Signature, Verifier};
use proptest::prelude::*;
use support::{with_small_order_r, with_torsion_in_r};

/// A cable signed by the drafter (key 20), distinct per `n`.
fn cable(n: u64) -> Document {
    Document::sign(
        &common::key(20),
        common::T0 + n,
        Body::Cable(Cable {
            subject: format!("cable {n}"),
            ..common::cable()
        }),
    )
    .expect("sign")
}

/// `cable(n)` with a torsion component in `R` (point `t`), by its owner.
fn crafted(n: u64, t: usize) -> Document {
    with_torsion_in_r(&cable(n), &common::key(20), t)
}

/// `cable(n)` with a small-order `R` (point `t`), by its owner.
fn small_r(n: u64, t: usize) -> Document {
    with_small_order_r(&cable(n), &common::key(20), t)
}

/// `doc` with one bit of its `S` flipped: a plain bad signature.
fn damaged(doc: &Document) -> Document {
    let mut b = doc.as_bytes().to_vec();
    let n = b.len();
    b[n - 20] ^= 0x04;
    Document::decode(&b).expect("still well-formed")
}

#[test]
fn the_crafted_signature_is_the_case_strict_and_batch_checks_disagreed_on() {
    for t in 1..8 {
        let d = crafted(1, t);
        let sig = Signature::from_bytes(
            &d.as_bytes()[d.as_bytes().len() - 64..]
                .try_into()
                .expect("64"),
        );
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&d.author().0).expect("key");
        // Cofactorless checks refuse it: this is not an honest signature.
        assert!(
            vk.verify_strict(&d.signed_message(), &sig).is_err(),
            "t={t}"
        );
        assert!(vk.verify(&d.signed_message(), &sig).is_err(), "t={t}");
        // chapar's rule accepts it, as every batch does.
        assert_eq!(d.verify(), Ok(()), "t={t}");
        assert_ne!(d.id(), cable(1).id());
    }
    // t = 0 adds nothing: an honest signature.
    assert_eq!(crafted(1, 0), cable(1));
    // `R` itself of small order: strict checks refuse it, the cofactored
    // equation holds.
    for t in 0..8 {
        let d = small_r(2, t);
        let sig = Signature::from_bytes(
            &d.as_bytes()[d.as_bytes().len() - 64..]
                .try_into()
                .expect("64"),
        );
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&d.author().0).expect("key");
        assert!(
            vk.verify_strict(&d.signed_message(), &sig).is_err(),
            "t={t}"
        );
        assert_eq!(d.verify(), Ok(()), "t={t}");
        assert_eq!(verify_batch(&[cable(3), d, cable(4)]), vec![Ok(()); 3]);
    }
}

#[test]
fn a_torsion_signature_gets_one_verdict_in_every_batch_composition() {
    let honest: Vec<Document> = (0..300).map(cable).collect();
    let craft = crafted(1_000, 1);
    // Alone, first, last, in the middle, on every side of a chunk
    // boundary (chunks of 128), among many crafted ones.
    for before in [0usize, 1, 2, 63, 126, 127, 128, 129, 255, 256, 299] {
        for after in [0usize, 1, 127] {
            let mut batch: Vec<Document> = honest[..before].to_vec();
            batch.push(craft.clone());
            batch.extend(honest[before..(before + after).min(300)].iter().cloned());
            let verdicts = verify_batch(&batch);
            assert!(
                verdicts.iter().all(Result::is_ok),
                "{before} before, {after} after: {verdicts:?}"
            );
        }
    }
    let many: Vec<Document> = (0..400).map(|n| crafted(n, n as usize % 8)).collect();
    assert!(verify_batch(&many).iter().all(Result::is_ok));
    // And its authorization is judged like any other document's.
    let trust = Trust::new(common::pk(&common::root()), common::roster(1));
    assert!(trust.check(&craft).is_ok());
}

#[test]
fn a_bad_signature_is_refused_in_every_batch_composition() {
    let honest: Vec<Document> = (0..260).map(cable).collect();
    for bad in [damaged(&cable(5_000)), damaged(&crafted(5_001, 3))] {
        assert_eq!(bad.verify(), Err(VerifyError::BadSignature));
        for at in [0usize, 1, 127, 128, 200, 260] {
            let mut batch = honest.clone();
            batch.insert(at, bad.clone());
            let verdicts = verify_batch(&batch);
            for (i, v) in verdicts.iter().enumerate() {
                assert_eq!(v.is_err(), i == at, "bad at {at}, document {i}: {v:?}");
            }
        }
    }
}

#[test]
fn batch_verification_is_deterministic() {
    // The coefficients come from the batch itself: the same batch, the
    // same verdicts, every time (and on every node).
    let mut batch: Vec<Document> = (0..200).map(cable).collect();
    batch[17] = crafted(17, 5);
    batch[150] = damaged(&cable(150));
    let first = verify_batch(&batch);
    for _ in 0..3 {
        assert_eq!(verify_batch(&batch), first);
    }
}

/// What a document in a generated batch is.
#[derive(Debug, Clone, Copy)]
enum Sort {
    Honest,
    Torsion(usize),
    SmallR(usize),
    Damaged,
    DamagedTorsion(usize),
}

fn sort() -> impl Strategy<Value = Sort> {
    prop_oneof![
        4 => Just(Sort::Honest),
        3 => (1usize..8).prop_map(Sort::Torsion),
        1 => (0usize..8).prop_map(Sort::SmallR),
        1 => Just(Sort::Damaged),
        1 => (1usize..8).prop_map(Sort::DamagedTorsion),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every entry of a batch's verdict equals the single verdict of its
    /// document, whatever the batch holds.
    #[test]
    fn batch_verdicts_equal_single_verdicts(sorts in prop::collection::vec(sort(), 1..300), salt in 0u64..1_000_000) {
        let docs: Vec<Document> = sorts
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let n = salt * 1_000 + i as u64;
                match *s {
                    Sort::Honest => cable(n),
                    Sort::Torsion(t) => crafted(n, t),
                    Sort::SmallR(t) => small_r(n, t),
                    Sort::Damaged => damaged(&cable(n)),
                    Sort::DamagedTorsion(t) => damaged(&crafted(n, t)),
                }
            })
            .collect();
        let batch = verify_batch(&docs);
        for (i, d) in docs.iter().enumerate() {
            prop_assert_eq!(&batch[i], &d.verify(), "document {} ({:?})", i, sorts[i]);
            let damaged = matches!(sorts[i], Sort::Damaged | Sort::DamagedTorsion(_));
            prop_assert_eq!(batch[i].is_err(), damaged);
        }
    }
}
