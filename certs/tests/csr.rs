//! Certificates for keys the CA never sees: a node's certificate request (PKCS#10) is
//! signed only if its self-signature verifies, and nothing in it but the public key is
//! trusted. Requests come from chapar itself and from the real `openssl` CLI.

mod common;

use std::net::{IpAddr, Ipv4Addr};

use chapar_certs::*;
use common::{run_openssl, sans};
use x509_parser::parse_x509_certificate;

fn ca() -> Ca {
    Ca::create(
        "Ministry CA",
        Validity::days_from_now(30),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap()
}

fn node_req(id: &str, serial: u64) -> LeafRequest {
    LeafRequest {
        dns_names: vec!["tokyo.mfa.example".into()],
        ips: vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))],
        ..LeafRequest::new(
            Identity::node(id).unwrap(),
            serial,
            Validity::days_from_now(10),
        )
    }
}

/// The public key (SubjectPublicKeyInfo DER) of a certificate.
fn spki_of(cert_pem: &str) -> Vec<u8> {
    let der = read_cert_pem(cert_pem, "cert").unwrap();
    let (_, c) = parse_x509_certificate(&der).unwrap();
    c.public_key().raw.to_vec()
}

#[test]
fn a_chapar_request_becomes_a_working_node_certificate() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let ca = ca();
        let identity = Identity::node("tokyo-1").unwrap();
        let key = new_private_key(alg).unwrap();
        let csr = certificate_request(&identity, &key, "node.key").unwrap();
        assert!(
            csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
            "{csr}"
        );
        let signed = ca
            .issue_for_csr(&node_req("tokyo-1", 7), &csr, "node.csr")
            .unwrap();
        assert_eq!(signed.serial, 7);
        let cert = peer_identity(&read_cert_pem(&signed.cert_pem, "c").unwrap()).unwrap();
        assert_eq!(cert.identity, identity);
        assert_eq!(cert.serial, 7);
        // The certificate is usable with the key that never left the node.
        let now = time::OffsetDateTime::now_utc();
        let m = TlsMaterials {
            ca_pem: ca.cert_pem(),
            cert_pem: signed.cert_pem.clone(),
            key_pem: key.clone(),
            crl_pems: vec![ca.crl(1, now, now + time::Duration::days(1), &[]).unwrap()],
        };
        server_config(&m, &[ALPN]).expect("certificate matches the node's own key");
    }
}

/// openssl makes a request asking for everything a CA could give: another name, CA:TRUE,
/// code signing, a long validity. The certificate carries only what the ministry decided.
#[test]
fn nothing_but_the_key_is_taken_from_an_openssl_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_openssl(
        d,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=evil.example/O=Not the Ministry",
            "-addext",
            "subjectAltName=DNS:evil.example,IP:10.6.6.6,email:x@evil.example",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "extendedKeyUsage=codeSigning",
        ],
    );
    let csr = std::fs::read_to_string(d.join("node.csr")).unwrap();
    let ca = ca();
    let signed = ca
        .issue_for_csr(&node_req("tokyo-1", 9), &csr, "node.csr")
        .unwrap();
    let der = read_cert_pem(&signed.cert_pem, "c").unwrap();
    let (uris, dns, ips) = sans(&der);
    assert_eq!(uris, vec!["urn:chapar:node:tokyo-1".to_owned()]);
    assert_eq!(dns, vec!["tokyo.mfa.example".to_owned()]);
    assert_eq!(ips, vec![vec![127, 0, 0, 1]]);
    let (_, c) = parse_x509_certificate(&der).unwrap();
    assert!(!c.is_ca(), "a request cannot make itself a CA");
    assert_eq!(
        c.subject().to_string(),
        "CN=urn:chapar:node:tokyo-1",
        "the subject is the ministry's, not the request's"
    );
    let eku = c.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.code_signing);
    let ku = c.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    // It is the request's key, which openssl kept.
    let (pubkey, _) = run_openssl(d, &["pkey", "-in", "node.key", "-pubout"]);
    let key_spki = read_items_der(&pubkey);
    assert_eq!(spki_of(&signed.cert_pem), key_spki);
    // openssl agrees that the certificate chains to the CA.
    std::fs::write(d.join("ca.pem"), ca.cert_pem()).unwrap();
    std::fs::write(d.join("node.pem"), &signed.cert_pem).unwrap();
    let (out, _) = run_openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "ca.pem",
            "-purpose",
            "sslserver",
            "node.pem",
        ],
    );
    assert!(out.contains("node.pem: OK"), "{out}");
}

/// DER of the one PEM block in `pem` (a public key here).
fn read_items_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

#[test]
fn a_tampered_request_is_refused() {
    let ca = ca();
    let identity = Identity::node("tokyo-1").unwrap();
    let key = new_private_key(KeyAlgorithm::EcdsaP256).unwrap();
    let csr = certificate_request(&identity, &key, "k").unwrap();
    let mut der = read_csr_pem(&csr, "node.csr").unwrap();
    // Swap in another key's public key: the signature no longer matches it.
    let other = new_private_key(KeyAlgorithm::EcdsaP256).unwrap();
    let other_der =
        read_csr_pem(&certificate_request(&identity, &other, "k").unwrap(), "x").unwrap();
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let pk = |d: &[u8]| {
        use x509_parser::prelude::FromDer;
        let (_, r) =
            x509_parser::certification_request::X509CertificationRequest::from_der(d).unwrap();
        r.certification_request_info.subject_pki.raw.to_vec()
    };
    let (mine, theirs) = (pk(&der), pk(&other_der));
    let at = find(&der, &mine).unwrap();
    der[at..at + mine.len()].copy_from_slice(&theirs);
    let err = ca
        .issue_for_csr(
            &node_req("tokyo-1", 3),
            &to_pem("CERTIFICATE REQUEST", &der),
            "node.csr",
        )
        .unwrap_err();
    assert!(
        matches!(err, CertError::Csr { .. }) && err.to_string().contains("self-signature"),
        "{err}"
    );
    assert!(err.to_string().contains("node.csr"), "{err}");
}

#[test]
fn wrong_node_rsa_and_garbage_are_refused() {
    let ca = ca();
    let key = new_private_key(KeyAlgorithm::EcdsaP256).unwrap();
    let for_paris = certificate_request(&Identity::node("paris-1").unwrap(), &key, "k").unwrap();
    let err = ca
        .issue_for_csr(&node_req("tokyo-1", 3), &for_paris, "node.csr")
        .unwrap_err();
    assert!(
        err.to_string().contains("urn:chapar:node:paris-1")
            && err.to_string().contains("not urn:chapar:node:tokyo-1"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    run_openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-noenc",
            "-keyout",
            "rsa.key",
            "-out",
            "rsa.csr",
            "-subj",
            "/CN=tokyo-1",
        ],
    );
    let rsa = std::fs::read_to_string(dir.path().join("rsa.csr")).unwrap();
    let err = ca
        .issue_for_csr(&node_req("tokyo-1", 3), &rsa, "rsa.csr")
        .unwrap_err();
    assert!(
        matches!(err, CertError::UnsupportedAlgorithm { ref found, .. } if found == "RSA"),
        "{err:?}"
    );

    for (text, needle) in [
        ("", "BEGIN CERTIFICATE REQUEST"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "not closed"),
        (&ca.cert_pem(), "BEGIN CERTIFICATE REQUEST"),
    ] {
        let err = ca
            .issue_for_csr(&node_req("tokyo-1", 3), text, "node.csr")
            .unwrap_err();
        assert!(
            err.to_string().contains("node.csr") && err.to_string().contains(needle),
            "{err}"
        );
    }
    let junk = to_pem("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00");
    let err = ca
        .issue_for_csr(&node_req("tokyo-1", 3), &junk, "node.csr")
        .unwrap_err();
    assert!(matches!(err, CertError::Csr { .. }), "{err:?}");
}
