//! Interoperability with the real `openssl` CLI: CAs made by openssl are imported, leaves and
//! CRLs made by chapar are checked by openssl. These tests FAIL if openssl is missing.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use chapar_certs::*;
use common::{CA_EXTS, openssl_ca, run_openssl, try_openssl};
use time::{Duration, OffsetDateTime};

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn issue_pair(ca: &Ca) -> (IssuedCert, IssuedCert) {
    let node = ca
        .issue(&LeafRequest {
            identity: Identity::node("geneva-pm").unwrap(),
            serial: 1001,
            validity: Validity::days_from_now(10),
            alg: KeyAlgorithm::EcdsaP256,
            dns_names: vec!["localhost".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        })
        .unwrap();
    let user = ca
        .issue(&LeafRequest {
            alg: KeyAlgorithm::Ed25519,
            ..LeafRequest::new(
                Identity::user("amina").unwrap(),
                1002,
                Validity::days_from_now(10),
            )
        })
        .unwrap();
    (node, user)
}

/// Imports an openssl-made CA, issues leaves, has openssl verify them (with purposes),
/// then revokes one and has openssl check the CRL.
fn openssl_ca_round_trip(newkey: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca_pem, key_pem) = openssl_ca(d, "ca", newkey, CA_EXTS);
    let ca = Ca::from_pem(&ca_pem, &key_pem).unwrap();
    let expected_alg = if newkey == "ed25519" {
        KeyAlgorithm::Ed25519
    } else {
        KeyAlgorithm::EcdsaP256
    };
    assert_eq!(ca.algorithm(), expected_alg);
    assert_eq!(ca.cert_der(), common::der_of(&ca_pem).as_slice());

    let (node, user) = issue_pair(&ca);
    write(d, "node.pem", &node.cert_pem);
    write(d, "user.pem", &user.cert_pem);
    write(d, "node.key", &node.key_pem);
    let (out, _) = run_openssl(
        d,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca.pem",
            "node.pem",
        ],
    );
    assert!(out.contains("node.pem: OK"), "{out}");
    let (out, _) = run_openssl(
        d,
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslclient",
            "-CAfile",
            "ca.pem",
            "node.pem",
            "user.pem",
        ],
    );
    assert!(out.contains("user.pem: OK"), "{out}");
    // A user certificate is not a server certificate, and openssl agrees.
    let (ok, out, err) = try_openssl(
        d,
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-CAfile",
            "ca.pem",
            "user.pem",
        ],
    );
    assert!(!ok, "user cert accepted as server cert: {out} {err}");
    // openssl reads the PKCS#8 key and it matches the certificate.
    let (k, _) = run_openssl(d, &["pkey", "-in", "node.key", "-pubout"]);
    let (c, _) = run_openssl(d, &["x509", "-in", "node.pem", "-noout", "-pubkey"]);
    assert_eq!(k, c);

    // The identity survives.
    let peer = peer_identity(&common::der_of(&user.cert_pem)).unwrap();
    assert_eq!(peer.identity.uri(), "urn:chapar:user:amina");
    assert_eq!(peer.serial, 1002);

    // CRL revoking the user: openssl parses it, verifies its signature, lists the serial,
    // and refuses the user under -crl_check while still accepting the node.
    let now = OffsetDateTime::now_utc();
    let crl = ca
        .crl(
            1,
            now - Duration::minutes(1),
            now + Duration::days(1),
            &[RevokedCert {
                serial: 1002,
                revoked_at: now - Duration::minutes(1),
            }],
        )
        .unwrap();
    write(d, "crl.pem", &crl);
    let (text, err) = run_openssl(
        d,
        &[
            "crl", "-in", "crl.pem", "-noout", "-text", "-CAfile", "ca.pem",
        ],
    );
    assert!(
        err.contains("verify OK"),
        "CRL signature not verified by openssl: {err}"
    );
    assert!(
        text.contains("Serial Number: 03EA"),
        "serial 1002 (0x3EA) not listed:\n{text}"
    );
    assert!(
        text.contains("X509v3 CRL Number: \n                1"),
        "{text}"
    );
    let (ok, out, err) = try_openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            "user.pem",
        ],
    );
    assert!(
        !ok && (out + &err).contains("revoked"),
        "revoked user accepted by openssl"
    );
    let (out, _) = run_openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "crl.pem",
            "node.pem",
        ],
    );
    assert!(out.contains("node.pem: OK"), "{out}");
}

#[test]
fn openssl_ecdsa_p256_ca_imports_and_issues() {
    openssl_ca_round_trip("ec");
}

#[test]
fn openssl_ed25519_ca_imports_and_issues() {
    openssl_ca_round_trip("ed25519");
}

#[test]
fn openssl_sec1_key_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca_pem, key_pem) = openssl_ca(d, "ca", "ec", CA_EXTS);
    run_openssl(d, &["ec", "-in", "ca.key", "-out", "sec1.key"]);
    let sec1 = std::fs::read_to_string(d.join("sec1.key")).unwrap();
    assert!(
        sec1.contains("BEGIN EC PRIVATE KEY"),
        "openssl did not write SEC1: {sec1}"
    );
    let a = Ca::from_pem(&ca_pem, &key_pem).unwrap();
    let b = Ca::from_pem(&ca_pem, &sec1).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    let (node, _) = issue_pair(&b);
    write(d, "node.pem", &node.cert_pem);
    let (out, _) = run_openssl(d, &["verify", "-CAfile", "ca.pem", "node.pem"]);
    assert!(out.contains("OK"), "{out}");
    // SEC1 key of another CA: mismatch, not a crash.
    let (_, other) = openssl_ca(d, "other", "ec", CA_EXTS);
    run_openssl(d, &["ec", "-in", "other.key", "-out", "other-sec1.key"]);
    let other_sec1 = std::fs::read_to_string(d.join("other-sec1.key")).unwrap();
    assert!(matches!(
        Ca::from_pem(&ca_pem, &other),
        Err(CertError::KeyMismatch { .. })
    ));
    assert!(matches!(
        Ca::from_pem(&ca_pem, &other_sec1),
        Err(CertError::KeyMismatch { .. })
    ));
}

#[test]
fn openssl_rsa_ca_refused_with_supported_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca_pem, key_pem) = openssl_ca(d, "ca", "rsa:2048", CA_EXTS);
    let err = Ca::from_pem(&ca_pem, &key_pem).unwrap_err();
    assert!(
        matches!(err, CertError::UnsupportedAlgorithm { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("RSA") && msg.contains("ECDSA P-256 and Ed25519"),
        "{msg}"
    );
    // A PKCS#1 ("RSA PRIVATE KEY") key with an EC CA certificate: still a clear refusal.
    run_openssl(
        d,
        &["rsa", "-in", "ca.key", "-traditional", "-out", "rsa1.key"],
    );
    let rsa1 = std::fs::read_to_string(d.join("rsa1.key")).unwrap();
    assert!(rsa1.contains("BEGIN RSA PRIVATE KEY"));
    let (ec_pem, _) = openssl_ca(d, "ec", "ec", CA_EXTS);
    let err = Ca::from_pem(&ec_pem, &rsa1).unwrap_err();
    assert!(err.to_string().contains("ECDSA P-256 and Ed25519"), "{err}");
}

#[test]
fn openssl_non_ca_and_bad_key_usage_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pem, key) = openssl_ca(d, "leaf", "ec", &["basicConstraints=critical,CA:FALSE"]);
    let err = Ca::from_pem(&pem, &key).unwrap_err();
    assert!(matches!(err, CertError::NotCa { .. }), "{err:?}");

    let (pem, key) = openssl_ca(
        d,
        "nocrl",
        "ec",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign",
        ],
    );
    let err = Ca::from_pem(&pem, &key).unwrap_err();
    assert!(
        matches!(err, CertError::CaKeyUsage { missing: "cRLSign" }),
        "{err:?}"
    );

    // An encrypted key gets advice instead of a parse error.
    let (pem, _) = openssl_ca(d, "enc", "ec", CA_EXTS);
    run_openssl(
        d,
        &[
            "pkey",
            "-in",
            "enc.key",
            "-aes256",
            "-passout",
            "pass:secret",
            "-out",
            "enc-locked.key",
        ],
    );
    let locked = std::fs::read_to_string(d.join("enc-locked.key")).unwrap();
    let err = Ca::from_pem(&pem, &locked).unwrap_err();
    assert!(matches!(err, CertError::EncryptedKey { .. }), "{err:?}");
}
