//! Builders of hostile inputs, shared with the node-level tests
//! (`tests/tests/security.rs` includes this file by path).
#![allow(dead_code)]

use chapar_proto::Kind;
use chapar_proto::codec::Writer;
use chapar_proto::document::{MAGIC, SIGNATURE_LEN};

/// A release that embeds a release that embeds ... `levels` deep, around a
/// few bytes of garbage; no valid signature anywhere. Built from the inside
/// out by lengths, so that 32,000 levels cost megabytes, not gigabytes.
pub fn nested_releases(levels: usize) -> Vec<u8> {
    let innermost = b"not a document".to_vec();
    let varint = |v: u64| {
        let mut w = Writer::default();
        w.varint(v);
        w.into_bytes()
    };
    let mut prefixes = Vec::with_capacity(levels);
    let mut len = innermost.len() as u64;
    for _ in 0..levels {
        let draft_len = varint(len);
        // Body: the draft as a byte string, then zero clearances.
        let body_len = draft_len.len() as u64 + len + 1;
        let mut p = Vec::new();
        p.extend_from_slice(&MAGIC);
        p.push(1); // format version
        p.push(Kind::CableRelease.code());
        p.extend_from_slice(&[7u8; 32]); // author
        p.push(0); // created
        p.extend_from_slice(&varint(body_len));
        p.extend_from_slice(&draft_len);
        len = p.len() as u64 + len + 1 + SIGNATURE_LEN as u64;
        prefixes.push(p);
    }
    let mut out = Vec::with_capacity(len as usize);
    for p in prefixes.iter().rev() {
        out.extend_from_slice(p);
    }
    out.extend_from_slice(&innermost);
    for _ in 0..levels {
        out.push(0); // no clearances
        out.extend_from_slice(&[0u8; SIGNATURE_LEN]);
    }
    assert_eq!(out.len() as u64, len);
    out
}

/// `doc` re-signed by its author's `key` with a torsion component in `R`:
/// `R' = [r]B + T` for `T` the small-order point `EIGHT_TORSION[t % 8]`
/// (order 8, 4 or 2; none for `t % 8 == 0`), and `S = r + H(R', A, M)·a`.
/// Only the key's owner can make one. `verify_strict` refuses it (the
/// cofactorless equation is off by `T`); the cofactored equation holds.
/// ed25519-dalek's batch check accepted it or not depending on the
/// coefficients, so on the other documents of the batch.
pub fn with_torsion_in_r(
    doc: &chapar_proto::Document,
    key: &ed25519_dalek::SigningKey,
    t: usize,
) -> chapar_proto::Document {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};

    let msg = doc.signed_message();
    let (a, prefix) = secret_scalar(key);
    let r = Scalar::from_hash(Sha512::new().chain_update(prefix).chain_update(msg));
    let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[t % 8]).compress();
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(msg),
    );
    let s = r + k * a;
    let mut bytes = doc.as_bytes().to_vec();
    let n = bytes.len();
    bytes[n - SIGNATURE_LEN..n - 32].copy_from_slice(big_r.as_bytes());
    bytes[n - 32..].copy_from_slice(s.as_bytes());
    chapar_proto::Document::decode(&bytes).expect("the envelope is unchanged but for its signature")
}

/// `doc` re-signed by its author's `key` with `R` itself a small-order
/// point (`EIGHT_TORSION[t % 8]`) and `S = H(R, A, M)·a`: `[S]B − [k]A` is
/// the identity, so the cofactored equation holds and the cofactorless one
/// does not (unless `R` is the identity). Only the key's owner can make one.
pub fn with_small_order_r(
    doc: &chapar_proto::Document,
    key: &ed25519_dalek::SigningKey,
    t: usize,
) -> chapar_proto::Document {
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};

    let msg = doc.signed_message();
    let (a, _) = secret_scalar(key);
    let big_r = EIGHT_TORSION[t % 8].compress();
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(key.verifying_key().as_bytes())
            .chain_update(msg),
    );
    let s = k * a;
    let mut bytes = doc.as_bytes().to_vec();
    let n = bytes.len();
    bytes[n - SIGNATURE_LEN..n - 32].copy_from_slice(big_r.as_bytes());
    bytes[n - 32..].copy_from_slice(s.as_bytes());
    chapar_proto::Document::decode(&bytes).expect("the envelope is unchanged but for its signature")
}

/// The secret scalar `a` of an ed25519 key (RFC 8032 §5.1.5) and the
/// nonce prefix.
fn secret_scalar(key: &ed25519_dalek::SigningKey) -> (curve25519_dalek::scalar::Scalar, [u8; 32]) {
    use sha2::{Digest, Sha512};
    let expanded = Sha512::digest(key.to_bytes());
    let mut a = [0u8; 32];
    a.copy_from_slice(&expanded[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    let mut prefix = [0u8; 32];
    prefix.copy_from_slice(&expanded[32..]);
    (
        curve25519_dalek::scalar::Scalar::from_bytes_mod_order(a),
        prefix,
    )
}
