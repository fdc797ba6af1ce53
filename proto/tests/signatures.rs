//! Signature checks: RFC 8032 vectors, weak keys, non-canonical S, single
//! bit flips, batch verification.

mod common;

use chapar_proto::document::{SIGNATURE_LEN, verify_batch};
use chapar_proto::*;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// RFC 8032 section 7.1, tests 1, 2, 3 and SHA(abc).
const RFC8032: &[(&str, &str, &str, &str)] = &[
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

#[test]
fn rfc8032_vectors() {
    for (sk, pk, msg, sig) in RFC8032 {
        let seed: [u8; 32] = unhex(sk).try_into().expect("32 bytes");
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(key.verifying_key().to_bytes().to_vec(), unhex(pk));
        let s = key.sign(&unhex(msg));
        assert_eq!(s.to_bytes().to_vec(), unhex(sig));
        key.verifying_key()
            .verify_strict(&unhex(msg), &s)
            .expect("vector verifies strictly");
    }
}

/// Replaces the author key and signature of a signed document's bytes.
fn with_author_and_sig(doc: &Document, author: [u8; 32], sig: [u8; 64]) -> Document {
    let mut b = doc.as_bytes().to_vec();
    b[6..38].copy_from_slice(&author);
    let n = b.len();
    b[n - SIGNATURE_LEN..].copy_from_slice(&sig);
    Document::decode(&b).expect("still well-formed")
}

#[test]
fn weak_key_forgery_is_rejected() {
    let doc = &common::all_kinds()[2];
    // The identity point: with R = identity and S = 0, lax verification
    // accepts *any* message.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    let forged = with_author_and_sig(doc, identity, sig);

    // Show the danger is real: the lax check accepts the forgery.
    let vk = VerifyingKey::from_bytes(&identity).expect("identity decodes");
    assert!(
        vk.verify(&forged.signed_message(), &Signature::from_bytes(&sig))
            .is_ok()
    );

    assert_eq!(forged.verify(), Err(VerifyError::WeakKey));
    assert_eq!(
        verify_batch(std::slice::from_ref(&forged)),
        vec![Err(VerifyError::WeakKey)]
    );
    // Keys are judged once per author in a batch: every document of the
    // weak key is refused, the honest one beside them is not.
    assert_eq!(
        verify_batch(&[forged.clone(), doc.clone(), forged.clone()]),
        vec![Err(VerifyError::WeakKey), Ok(()), Err(VerifyError::WeakKey)]
    );
    // A point of order 4 (y = 0) is weak too.
    let order4 = with_author_and_sig(doc, [0u8; 32], sig);
    assert_eq!(order4.verify(), Err(VerifyError::WeakKey));
}

#[test]
fn malformed_key_is_rejected() {
    let doc = &common::all_kinds()[2];
    // y = 2 is not the y-coordinate of any curve point.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    let d = with_author_and_sig(doc, not_a_point, [0u8; 64]);
    assert_eq!(d.verify(), Err(VerifyError::MalformedKey));
}

/// L, the order of the prime-order subgroup, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn non_canonical_s_is_rejected() {
    let docs = common::all_kinds();
    let doc = &docs[3];
    doc.verify().expect("original verifies");
    let b = doc.as_bytes();
    let mut sig: [u8; 64] = b[b.len() - 64..].try_into().expect("64");
    // S + L is the same scalar mod L, but a second encoding of it.
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    let malleated = with_author_and_sig(doc, doc.author().0, sig);
    assert_ne!(malleated.id(), doc.id());
    assert_eq!(malleated.verify(), Err(VerifyError::BadSignature));
    assert_eq!(
        verify_batch(&[doc.clone(), malleated]),
        vec![Ok(()), Err(VerifyError::BadSignature)]
    );
}

#[test]
fn every_single_bit_flip_is_rejected() {
    for doc in common::all_kinds().into_iter().skip(1) {
        let bytes = doc.as_bytes();
        doc.verify().expect("original verifies");
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.to_vec();
            b[bit / 8] ^= 1 << (bit % 8);
            if let Ok(d) = Document::decode(&b) {
                assert!(
                    d.verify().is_err(),
                    "{} with bit {bit} flipped still verifies",
                    doc.kind()
                );
                assert_ne!(d.id(), doc.id());
            }
        }
    }
}

#[test]
fn batch_reports_exactly_the_bad_documents() {
    let mut docs: Vec<Document> = Vec::new();
    for i in 0..300u64 {
        docs.push(
            Document::sign(
                &common::key(20),
                common::T0 + i,
                Body::Cable(Cable {
                    subject: format!("cable {i}"),
                    ..common::cable()
                }),
            )
            .expect("sign"),
        );
    }
    assert!(verify_batch(&docs).iter().all(Result::is_ok));

    // Corrupt a few signatures in different chunks.
    let bad = [3usize, 150, 299];
    for &i in &bad {
        let d = &docs[i];
        let b = d.as_bytes();
        let mut sig: [u8; 64] = b[b.len() - 64..].try_into().expect("64");
        sig[5] ^= 0x40;
        docs[i] = with_author_and_sig(d, d.author().0, sig);
    }
    let results = verify_batch(&docs);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.is_err(), bad.contains(&i), "document {i}: {r:?}");
        assert_eq!(r.is_err(), docs[i].verify().is_err());
    }
}

#[test]
fn a_release_with_a_forged_draft_inside_is_rejected() {
    let docs = common::all_kinds();
    let draft = &docs[2];
    // Tamper with the draft's signature, then wrap it in a release whose
    // own (outer) signature is perfectly valid.
    let b = draft.as_bytes();
    let mut sig: [u8; 64] = b[b.len() - 64..].try_into().expect("64");
    sig[10] ^= 0x01;
    let forged = with_author_and_sig(draft, draft.author().0, sig);
    let release = Document::sign(
        &common::key(24),
        common::T0 + 50,
        Body::CableRelease(CableRelease::new(forged, vec![]).expect("release")),
    )
    .expect("sign release");
    assert_eq!(release.verify(), Err(VerifyError::BadSignature));
    let honest = &docs[4];
    assert_eq!(
        verify_batch(&[honest.clone(), release, honest.clone()]),
        vec![Ok(()), Err(VerifyError::BadSignature), Ok(())]
    );
}
