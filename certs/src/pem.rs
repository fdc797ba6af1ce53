//! Robust PEM reading with the PEM parser of `rustls-pki-types` (`pem::PemObject`): every
//! failure becomes [`CertError::Pem`] naming the input.

use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
    PrivateSec1KeyDer,
};
use zeroize::Zeroize;

use crate::CertError;

fn pem_err(what: &str, reason: impl Into<String>) -> CertError {
    CertError::Pem {
        what: what.to_owned(),
        reason: reason.into(),
    }
}

/// A PEM label or line for an error message: printable ASCII only, at most 64 characters.
fn shown(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(64)
        .collect();
    format!("{text:?}")
}

/// The parser's complaint, in words a person can act on.
fn reason(e: pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section is not closed: no \"-----END {}-----\" line (truncated file?)",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed BEGIN line {}", shown(&line))
        }
        pem::Error::Base64Decode(e) => format!("a section's base64 body is damaged ({e})"),
        pem::Error::SectionTooLarge => "a PEM section is too large".to_owned(),
        other => other.to_string(),
    }
}

/// Every PEM section of `pem` with a label rustls knows, in order (sections with other
/// labels are skipped); fails on any malformed section.
fn read_items(pem: &str, what: &str) -> Result<Vec<(SectionKind, Vec<u8>)>, CertError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(what, reason(e)))
}

/// Wipes the DER of every section left over (a key file may hold more than one key).
fn wipe(items: Vec<(SectionKind, Vec<u8>)>) {
    for (_, mut der) in items {
        der.zeroize();
    }
}

/// All `CERTIFICATE` items of `pem`, in order. Fails if the PEM is malformed or has none.
pub fn read_certs_pem(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs: Vec<_> = read_items(pem, what)?
        .into_iter()
        .filter_map(|(kind, der)| (kind == SectionKind::Certificate).then(|| der.into()))
        .collect();
    if certs.is_empty() {
        return Err(pem_err(
            what,
            "no \"BEGIN CERTIFICATE\" block found; expected a PEM certificate",
        ));
    }
    Ok(certs)
}

/// Exactly one `CERTIFICATE` item of `pem`.
pub fn read_cert_pem(pem: &str, what: &str) -> Result<CertificateDer<'static>, CertError> {
    let mut certs = read_certs_pem(pem, what)?;
    if certs.len() != 1 {
        return Err(pem_err(
            what,
            format!("found {} certificates, expected exactly one", certs.len()),
        ));
    }
    Ok(certs.remove(0))
}

/// Exactly one plaintext private key of `pem`: PKCS#8 (`PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`). PKCS#1 RSA keys and encrypted keys are refused with a message saying why.
pub fn read_private_key_pem(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    if pem.contains("ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(CertError::EncryptedKey {
            what: what.to_owned(),
        });
    }
    let items = read_items(pem, what)?;
    let (keys, rest): (Vec<_>, Vec<_>) = items.into_iter().partition(|(kind, _)| {
        matches!(
            kind,
            SectionKind::PrivateKey | SectionKind::EcPrivateKey | SectionKind::RsaPrivateKey
        )
    });
    wipe(rest);
    if keys
        .iter()
        .any(|(kind, _)| *kind == SectionKind::RsaPrivateKey)
    {
        wipe(keys);
        return Err(CertError::UnsupportedAlgorithm {
            what: what.to_owned(),
            found: "RSA".to_owned(),
        });
    }
    match keys.len() {
        0 => Err(pem_err(
            what,
            "no \"BEGIN PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block found; expected a plaintext PKCS#8 or SEC1 private key",
        )),
        1 => {
            let mut keys = keys;
            let (kind, der) = keys.remove(0);
            Ok(match kind {
                SectionKind::EcPrivateKey => PrivateSec1KeyDer::from(der).into(),
                _ => PrivatePkcs8KeyDer::from(der).into(),
            })
        }
        n => {
            wipe(keys);
            Err(pem_err(
                what,
                format!("found {n} private keys, expected exactly one"),
            ))
        }
    }
}

/// All `X509 CRL` items of `pem`. Fails if the PEM is malformed or has none.
pub fn read_crls_pem(
    pem: &str,
    what: &str,
) -> Result<Vec<CertificateRevocationListDer<'static>>, CertError> {
    let crls: Vec<_> = read_items(pem, what)?
        .into_iter()
        .filter_map(|(kind, der)| (kind == SectionKind::Crl).then(|| der.into()))
        .collect();
    if crls.is_empty() {
        return Err(pem_err(
            what,
            "no \"BEGIN X509 CRL\" block found; expected a PEM CRL",
        ));
    }
    Ok(crls)
}

/// Exactly one `CERTIFICATE REQUEST` (PKCS#10) item of `pem`, as DER.
pub fn read_csr_pem(pem: &str, what: &str) -> Result<Vec<u8>, CertError> {
    let mut csrs: Vec<Vec<u8>> = read_items(pem, what)?
        .into_iter()
        .filter_map(|(kind, der)| (kind == SectionKind::Csr).then_some(der))
        .collect();
    match csrs.len() {
        0 => Err(pem_err(
            what,
            "no \"BEGIN CERTIFICATE REQUEST\" block found; expected a PEM certificate request (e.g. `chapar-node keygen` writes node.csr)",
        )),
        1 => Ok(csrs.remove(0)),
        n => Err(pem_err(
            what,
            format!("found {n} certificate requests, expected exactly one"),
        )),
    }
}

/// Encodes DER as PEM with the given label (`CERTIFICATE`, `X509 CRL`, ...), LF line endings.
pub fn to_pem(label: &str, der: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                b64.push(TABLE[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// OID 1.2.840.10045.2.1 (id-ecPublicKey), DER content bytes.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// OID 1.2.840.10045.3.1.7 (prime256v1 / P-256), DER content bytes.
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// Wraps a SEC1 `ECPrivateKey` of curve P-256 into a PKCS#8 `PrivateKeyInfo`
/// (RFC 5208 / RFC 5915 §1), which is what *ring* (and thus rcgen with the ring backend) reads.
/// A SEC1 key of another curve is rejected later, when *ring* compares its embedded
/// curve parameters with P-256.
pub fn sec1_p256_to_pkcs8(sec1: &[u8]) -> PrivatePkcs8KeyDer<'static> {
    let mut alg = der_tlv(0x06, OID_EC_PUBLIC_KEY);
    alg.extend(der_tlv(0x06, OID_P256));
    let mut body = vec![0x02, 0x01, 0x00]; // version 0
    body.extend(der_tlv(0x30, &alg));
    body.extend(der_tlv(0x04, sec1));
    PrivatePkcs8KeyDer::from(der_tlv(0x30, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_a_pem_error() {
        for (input, needle) in [
            ("hello", "no \"BEGIN CERTIFICATE\""),
            (
                "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                "",
            ),
            ("-----BEGIN CERTIFICATE-----\nAAAA\n", ""),
        ] {
            match read_certs_pem(input, "test input") {
                Err(CertError::Pem { what, reason }) => {
                    assert_eq!(what, "test input");
                    assert!(reason.contains(needle), "{reason}");
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        assert!(matches!(
            read_private_key_pem("nope", "k"),
            Err(CertError::Pem { .. })
        ));
        assert!(matches!(
            read_crls_pem("", "crl"),
            Err(CertError::Pem { .. })
        ));
    }

    #[test]
    fn to_pem_round_trips() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 100, 1000] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let pem = to_pem("CERTIFICATE", &der);
            if len == 0 {
                continue; // an empty body is no certificate
            }
            let back = read_cert_pem(&pem, "x").unwrap();
            assert_eq!(back.as_ref(), &der[..], "len {len}");
        }
    }

    #[test]
    fn encrypted_key_refused_with_advice() {
        let pem =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let err = read_private_key_pem(pem, "CA private key").unwrap_err();
        assert!(matches!(err, CertError::EncryptedKey { .. }));
        assert!(err.to_string().contains("openssl pkey"), "{err}");
    }
}
