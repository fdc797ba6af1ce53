//! Properties of the rustls configurations (the handshakes themselves are tested over
//! real QUIC in `tests/tests/tls_quic.rs`).

use std::net::{IpAddr, Ipv4Addr};

use chapar_certs::*;
use time::{Duration, OffsetDateTime};

struct Pki {
    ca: Ca,
    node: IssuedCert,
    user: IssuedCert,
    crl: String,
}

fn pki() -> Pki {
    let ca = Ca::create(
        "Ministry CA",
        Validity::days_from_now(30),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let node = ca
        .issue(&LeafRequest {
            dns_names: vec!["localhost".into()],
            ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..LeafRequest::new(
                Identity::node("n1").unwrap(),
                1,
                Validity::days_from_now(10),
            )
        })
        .unwrap();
    let user = ca
        .issue(&LeafRequest::new(
            Identity::user("u1").unwrap(),
            2,
            Validity::days_from_now(10),
        ))
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let crl = ca.crl(1, now, now + Duration::days(1), &[]).unwrap();
    Pki {
        ca,
        node,
        user,
        crl,
    }
}

fn materials(p: &Pki, leaf: &IssuedCert, crls: Vec<String>) -> TlsMaterials {
    TlsMaterials {
        ca_pem: p.ca.cert_pem(),
        cert_pem: leaf.cert_pem.clone(),
        key_pem: leaf.key_pem.clone(),
        crl_pems: crls,
    }
}

#[test]
fn server_config_disables_resumption_and_early_data() {
    let p = pki();
    let cfg = server_config(&materials(&p, &p.node, vec![p.crl.clone()]), &[ALPN]).unwrap();
    assert_eq!(cfg.alpn_protocols, vec![b"chapar/1".to_vec()]);
    assert_eq!(cfg.send_tls13_tickets, 0);
    assert!(!cfg.ticketer.enabled(), "ticketer must not produce tickets");
    assert!(
        !cfg.session_storage.can_cache(),
        "stateful session cache must be off"
    );
    assert!(!cfg.session_storage.put(b"k".to_vec(), b"v".to_vec()));
    assert_eq!(cfg.max_early_data_size, 0);
    // QUIC's initial suite is present in the explicit provider.
    assert!(
        cfg.crypto_provider()
            .cipher_suites
            .iter()
            .any(|s| s.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
    );
    let client = client_config(&materials(&p, &p.user, vec![]), &[ALPN]).unwrap();
    assert!(!client.enable_early_data);
    assert_eq!(client.alpn_protocols, vec![b"chapar/1".to_vec()]);
}

#[test]
fn server_needs_a_crl_and_a_node_cert() {
    let p = pki();
    let err = server_config(&materials(&p, &p.node, vec![]), &[ALPN]).unwrap_err();
    assert!(matches!(err, CertError::NoCrl), "{err:?}");
    let err = server_config(&materials(&p, &p.user, vec![p.crl.clone()]), &[ALPN]).unwrap_err();
    assert!(matches!(err, CertError::WrongKind { .. }), "{err:?}");
    assert!(err.to_string().contains("urn:chapar:user:u1"), "{err}");
}

#[test]
fn mismatched_key_and_foreign_material_rejected() {
    let p = pki();
    let mut m = materials(&p, &p.node, vec![p.crl.clone()]);
    m.key_pem = p.user.key_pem.clone();
    let err = server_config(&m, &[ALPN]).unwrap_err();
    assert!(
        matches!(err, CertError::KeyMismatch { what: "own" }),
        "{err:?}"
    );
    let err = client_config(&m, &[ALPN]).unwrap_err();
    assert!(
        matches!(err, CertError::KeyMismatch { what: "own" }),
        "{err:?}"
    );

    let other = pki();
    // Own certificate from another CA.
    let m = materials(&p, &other.node, vec![p.crl.clone()]);
    assert!(matches!(
        server_config(&m, &[ALPN]),
        Err(CertError::WrongIssuer { .. })
    ));
    // CRL from another CA (same subject name, different key: caught by the signature check).
    let m = materials(&p, &p.node, vec![other.crl.clone()]);
    let err = server_config(&m, &[ALPN]).unwrap_err();
    assert!(matches!(err, CertError::WrongIssuer { .. }), "{err:?}");
    assert!(err.to_string().contains("signature"), "{err}");
    // Garbage CRL.
    let m = materials(&p, &p.node, vec!["junk".into()]);
    let err = server_config(&m, &[ALPN]).unwrap_err();
    assert!(
        matches!(err, CertError::Pem { ref what, .. } if what == "CRL #1"),
        "{err:?}"
    );
    // A leaf where the CA should be.
    let mut m = materials(&p, &p.node, vec![p.crl.clone()]);
    m.ca_pem = p.user.cert_pem.clone();
    assert!(matches!(
        server_config(&m, &[ALPN]),
        Err(CertError::NotCa { .. })
    ));
}

#[test]
fn expired_own_certificate_rejected() {
    let p = pki();
    let now = OffsetDateTime::now_utc();
    let old =
        p.ca.issue(&LeafRequest::new(
            Identity::node("old").unwrap(),
            9,
            Validity {
                not_before: now - Duration::days(10),
                not_after: now - Duration::days(1),
            },
        ))
        .unwrap();
    let err = server_config(&materials(&p, &old, vec![p.crl.clone()]), &[ALPN]).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
    assert!(
        err.to_string().contains("own certificate expired at"),
        "{err}"
    );
}

#[test]
fn from_files_names_the_bad_file() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let cert = dir.path().join("node.pem");
    let key = dir.path().join("node.key");
    let crl = dir.path().join("ministry.crl");
    std::fs::write(&ca, p.ca.cert_pem()).unwrap();
    std::fs::write(&cert, &p.node.cert_pem).unwrap();
    std::fs::write(&key, &p.node.key_pem).unwrap();
    std::fs::write(&crl, &p.crl).unwrap();
    let m = TlsMaterials::from_files(&ca, &cert, &key, &[&crl]).unwrap();
    server_config(&m, &[ALPN]).unwrap();

    std::fs::write(&key, "garbage").unwrap();
    let err = TlsMaterials::from_files(&ca, &cert, &key, &[&crl]).unwrap_err();
    assert!(err.to_string().contains("node.key"), "{err}");
    let missing = dir.path().join("nope.crl");
    let err = TlsMaterials::from_files(&ca, &cert, &key, &[&missing]).unwrap_err();
    assert!(
        matches!(err, CertError::Io { .. }) && err.to_string().contains("nope.crl"),
        "{err}"
    );
}
