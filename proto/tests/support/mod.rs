//! Builders of hostile inputs, shared with the node-level tests
//! (`tests/tests/security.rs` includes this file by path).

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
