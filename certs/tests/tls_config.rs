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

/// Runs a real rustls handshake in memory between a client and a server configuration
/// (no network: the two state machines hand each other their bytes). `Err` carries the
/// error of whichever side refused first.
fn handshake(
    server: rustls::ServerConfig,
    client: rustls::ClientConfig,
) -> Result<(), rustls::Error> {
    use std::sync::Arc;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut c = rustls::ClientConnection::new(Arc::new(client), name)?;
    let mut s = rustls::ServerConnection::new(Arc::new(server))?;
    // A TLS 1.3 handshake needs a handful of flights; 20 rounds is far more than enough.
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
            s.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish in 20 rounds");
}

/// ADR 0014: a CRL past its nextUpdate is a warning, not a wall. It still revokes what it
/// lists (on both sides), and admits everyone else — the node then receives the fresh CRL in
/// the roster over that very connection.
#[test]
fn stale_crl_still_revokes_and_admits_the_rest() {
    let p = pki();
    let now = OffsetDateTime::now_utc();
    let revoked =
        p.ca.issue(&LeafRequest::new(
            Identity::user("gone").unwrap(),
            3,
            Validity::days_from_now(10),
        ))
        .unwrap();
    let stale =
        p.ca.crl(
            7,
            now - Duration::days(40),
            now - Duration::days(10),
            &[RevokedCert {
                serial: revoked.serial,
                revoked_at: (now - Duration::days(20)).replace_nanosecond(0).unwrap(),
            }],
        )
        .unwrap();
    assert!(parse_crl_pem(&stale).unwrap().is_stale(now));
    let server = || server_config(&materials(&p, &p.node, vec![stale.clone()]), &[ALPN]).unwrap();

    // A person holding only the stale CRL still reaches their node.
    let user = client_config(&materials(&p, &p.user, vec![stale.clone()]), &[ALPN]).unwrap();
    handshake(server(), user).expect("stale CRL, unrevoked client: admitted");

    // The revoked certificate is refused all the same.
    let gone = client_config(&materials(&p, &revoked, vec![]), &[ALPN]).unwrap();
    let err = handshake(server(), gone).expect_err("listed in the stale CRL: refused");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
        ),
        "{err:?}"
    );

    // And a client holding a stale CRL that lists the *server* refuses the server.
    let node2 =
        p.ca.issue(&LeafRequest {
            dns_names: vec!["localhost".into()],
            ..LeafRequest::new(
                Identity::node("n2").unwrap(),
                4,
                Validity::days_from_now(10),
            )
        })
        .unwrap();
    let lists_node2 =
        p.ca.crl(
            8,
            now - Duration::days(40),
            now - Duration::days(10),
            &[RevokedCert {
                serial: node2.serial,
                revoked_at: (now - Duration::days(20)).replace_nanosecond(0).unwrap(),
            }],
        )
        .unwrap();
    let server2 = server_config(&materials(&p, &node2, vec![p.crl.clone()]), &[ALPN]).unwrap();
    let client = client_config(&materials(&p, &p.user, vec![lists_node2]), &[ALPN]).unwrap();
    let err = handshake(server2, client).expect_err("stale CRL lists the server: refused");
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Revoked)
        ),
        "{err:?}"
    );
}

/// A CRL's integrity is never relaxed: a stale CRL signed by another CA is still refused
/// when the configuration is built.
#[test]
fn stale_crl_from_another_ca_is_refused() {
    let p = pki();
    let other = pki();
    let now = OffsetDateTime::now_utc();
    let stale = other
        .ca
        .crl(1, now - Duration::days(40), now - Duration::days(10), &[])
        .unwrap();
    let err = server_config(&materials(&p, &p.node, vec![stale]), &[ALPN]).unwrap_err();
    assert!(matches!(err, CertError::WrongIssuer { .. }), "{err:?}");
}

/// Damaged PEM in any bundle file is reported with that file's name and what is wrong.
#[test]
fn damaged_pem_names_the_file_and_the_damage() {
    let p = pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    let cert = dir.path().join("node.crt");
    let key = dir.path().join("node.key");
    let crl = dir.path().join("crl.pem");
    let write_all = || {
        std::fs::write(&ca, p.ca.cert_pem()).unwrap();
        std::fs::write(&cert, &p.node.cert_pem).unwrap();
        std::fs::write(&key, &*p.node.key_pem).unwrap();
        std::fs::write(&crl, &p.crl).unwrap();
    };
    for (file, damage, needle) in [
        (&cert, "truncate", "not closed"),
        (&key, "truncate", "not closed"),
        (&crl, "truncate", "not closed"),
        (&ca, "base64", "base64"),
        (&key, "base64", "base64"),
        (&crl, "begin", "malformed BEGIN line"),
    ] {
        write_all();
        let text = std::fs::read_to_string(file).unwrap();
        let bad = match damage {
            "truncate" => text[..text.len() / 2].to_owned(),
            "base64" => text.replacen('\n', "\n!!!!", 2).replacen("\n!!!!", "\n", 1),
            _ => text.replacen("-----\n", "---\n", 1),
        };
        std::fs::write(file, bad).unwrap();
        let err = TlsMaterials::from_files(&ca, &cert, &key, &[&crl]).unwrap_err();
        let msg = err.to_string();
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            matches!(err, CertError::Pem { .. }) && msg.contains(name) && msg.contains(needle),
            "{damage} {name}: {msg}"
        );
    }
}
