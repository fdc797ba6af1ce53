//! CA creation, issuance, identity mapping, import checks and CRLs (pure Rust side).

mod common;

use std::net::{IpAddr, Ipv4Addr};

use chapar_certs::*;
use common::{der_of, sans};
use time::{Duration, OffsetDateTime};
use x509_parser::{parse_x509_certificate, parse_x509_crl};

fn node_req(id: &str, serial: u64) -> LeafRequest {
    LeafRequest {
        identity: Identity::node(id).unwrap(),
        serial,
        // Shorter than the 30-day test CAs: a leaf computed a second later
        // for the same 30 days would outlive its CA.
        validity: Validity::days_from_now(20),
        alg: KeyAlgorithm::EcdsaP256,
        dns_names: vec!["localhost".into()],
        ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
    }
}

fn user_req(id: &str, serial: u64) -> LeafRequest {
    LeafRequest::new(
        Identity::user(id).unwrap(),
        serial,
        Validity::days_from_now(20),
    )
}

#[test]
fn create_issue_and_map_identity() {
    for ca_alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let ca = Ca::create("Ministry CA", Validity::days_from_now(365), ca_alg).unwrap();
        assert_eq!(ca.algorithm(), ca_alg);
        for leaf_alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let mut req = node_req("paris-1", 7);
            req.alg = leaf_alg;
            let node = ca.issue(&req).unwrap();
            let der = der_of(&node.cert_pem);
            let peer = peer_identity(&der).unwrap();
            assert_eq!(peer.identity, Identity::node("paris-1").unwrap());
            assert_eq!(peer.serial, 7);
            assert_eq!(node.serial, 7);
            assert_eq!(peer.not_after, node.not_after);
            let (uris, dns, ips) = sans(&der);
            assert_eq!(uris, vec!["urn:chapar:node:paris-1".to_string()]);
            assert_eq!(dns, vec!["localhost".to_string()]);
            assert_eq!(ips, vec![vec![127, 0, 0, 1]]);
            let (_, cert) = parse_x509_certificate(&der).unwrap();
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && eku.client_auth);
            assert!(!cert.is_ca());
            assert!(cert.key_usage().unwrap().unwrap().value.digital_signature());
            assert!(
                cert.iter_extensions().any(|e| matches!(
                    e.parsed_extension(),
                    x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(_)
                )),
                "leaf has no AKI"
            );
            assert_eq!(cert.issuer().as_raw(), {
                let (_, c) = parse_x509_certificate(ca.cert_der()).unwrap();
                c.subject().as_raw().to_vec()
            });
            // The key is PKCS#8 and readable.
            assert!(node.key_pem.contains("BEGIN PRIVATE KEY"));
            read_private_key_pem(&node.key_pem, "leaf key").unwrap();
        }

        let user = ca.issue(&user_req("amina", u64::MAX)).unwrap();
        let der = der_of(&user.cert_pem);
        let peer = peer_identity(&der).unwrap();
        assert_eq!(peer.identity, Identity::user("amina").unwrap());
        assert_eq!(peer.serial, u64::MAX, "high-bit serial must stay positive");
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.raw_serial()[0],
            0,
            "u64::MAX needs a leading 0x00 to be positive"
        );
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(
            eku.client_auth && !eku.server_auth,
            "users are clients only"
        );
        assert_eq!(sans(&der).0, vec!["urn:chapar:user:amina".to_string()]);
    }
}

#[test]
fn ca_certificate_shape() {
    let ca = Ca::create(
        "Ministry CA",
        Validity::days_from_now(365),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let (_, cert) = parse_x509_certificate(ca.cert_der()).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_eq!(cert.raw_serial().len(), 16);
    assert!(cert.raw_serial()[0] & 0x80 == 0, "serial must be positive");
    let cn: Vec<_> = cert
        .subject()
        .iter_common_name()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(cn, vec!["Ministry CA"]);
    let o: Vec<_> = cert
        .subject()
        .iter_organization()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(o, vec!["Ministry CA"]);
    // not_before allows 5 minutes of skew.
    let nb = cert.validity().not_before.to_datetime();
    let skew = OffsetDateTime::now_utc() - nb;
    assert!(
        skew >= Duration::minutes(4) && skew <= Duration::minutes(6),
        "{skew}"
    );

    let other = Ca::create(
        "Ministry CA",
        Validity::days_from_now(365),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    assert_ne!(ca.fingerprint(), other.fingerprint());
    assert_ne!(cert.raw_serial(), {
        let (_, c) = parse_x509_certificate(other.cert_der()).unwrap();
        c.raw_serial().to_vec()
    });
    assert_eq!(ca.fingerprint(), fingerprint(ca.cert_der()));
}

#[test]
fn fingerprint_is_sha256_of_der() {
    // Known-answer test: SHA-256("abc").
    let expected = [
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    ];
    assert_eq!(fingerprint(b"abc"), expected);
}

#[test]
fn export_import_round_trip() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let ca = Ca::create("Ministry CA", Validity::days_from_now(365), alg).unwrap();
        let again = Ca::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(again.fingerprint(), ca.fingerprint());
        assert_eq!(again.not_after(), ca.not_after());
        // Leaves from the re-imported CA chain to the same issuer name.
        let leaf = again.issue(&user_req("bob", 3)).unwrap();
        assert_eq!(peer_identity(&der_of(&leaf.cert_pem)).unwrap().serial, 3);
    }
}

#[test]
fn from_pem_rejects_bad_input() {
    let a = Ca::create("A", Validity::days_from_now(365), KeyAlgorithm::EcdsaP256).unwrap();
    let b = Ca::create("B", Validity::days_from_now(10), KeyAlgorithm::EcdsaP256).unwrap();
    let e = Ca::create("E", Validity::days_from_now(10), KeyAlgorithm::Ed25519).unwrap();

    let err = Ca::from_pem(&a.cert_pem(), &b.key_pem()).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("CA key does not match CA certificate"),
        "{err}"
    );
    // A key of the other algorithm is also a mismatch.
    let err = Ca::from_pem(&a.cert_pem(), &e.key_pem()).unwrap_err();
    assert!(matches!(err, CertError::KeyMismatch { .. }), "{err:?}");

    let leaf = a.issue(&node_req("n1", 5)).unwrap();
    let err = Ca::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(matches!(err, CertError::NotCa { .. }), "{err:?}");
    assert!(err.to_string().contains("CA:TRUE"), "{err}");

    for garbage in [
        "",
        "not pem at all",
        "-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n",
    ] {
        let err = Ca::from_pem(garbage, &a.key_pem()).unwrap_err();
        assert!(
            matches!(err, CertError::Pem { ref what, .. } if what == "CA certificate"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("malformed PEM in CA certificate"),
            "{err}"
        );
        let err = Ca::from_pem(&a.cert_pem(), garbage).unwrap_err();
        assert!(
            matches!(err, CertError::Pem { ref what, .. } if what == "CA private key"),
            "{err:?}"
        );
    }
    // A certificate where a key is expected and vice versa.
    assert!(matches!(
        Ca::from_pem(&a.key_pem(), &a.cert_pem()),
        Err(CertError::Pem { .. })
    ));
    // Two certificates in the CA file: ambiguous.
    let two = format!("{}{}", a.cert_pem(), b.cert_pem());
    assert!(matches!(
        Ca::from_pem(&two, &a.key_pem()),
        Err(CertError::Pem { .. })
    ));
}

#[test]
fn expired_ca_refused() {
    let now = OffsetDateTime::now_utc();
    let past = Validity {
        not_before: now - Duration::days(10),
        not_after: now - Duration::days(1),
    };
    let err = Ca::create("Old", past, KeyAlgorithm::EcdsaP256).unwrap_err();
    assert!(matches!(err, CertError::Expired { .. }), "{err:?}");
}

#[test]
fn issue_rejects_bad_requests() {
    let ca = Ca::create(
        "Ministry CA",
        Validity::days_from_now(30),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();

    let err = ca.issue(&user_req("u", 0)).unwrap_err();
    assert!(matches!(err, CertError::Serial(_)), "{err:?}");

    let mut req = user_req("u", 1);
    req.validity.not_after = ca.not_after() + Duration::seconds(1);
    let err = ca.issue(&req).unwrap_err();
    assert!(matches!(err, CertError::Validity(_)), "{err:?}");
    assert!(err.to_string().contains("CA's not_after"), "{err}");
    req.validity.not_after = ca.not_after();
    ca.issue(&req)
        .expect("exactly the CA's not_after is allowed");

    let mut req = user_req("u", 1);
    req.validity.not_after = req.validity.not_before;
    assert!(matches!(ca.issue(&req), Err(CertError::Validity(_))));

    let mut req = user_req("u", 1);
    req.dns_names = vec!["localhost".into()];
    assert!(matches!(ca.issue(&req), Err(CertError::InvalidSan { .. })));

    for bad in ["", "bad name", "127.0.0.1", "a..b", "-x.example"] {
        let mut req = node_req("n", 1);
        req.dns_names = vec![bad.into()];
        assert!(
            matches!(ca.issue(&req), Err(CertError::InvalidSan { .. })),
            "{bad:?} accepted"
        );
    }

    // An Identity built directly from the variant is validated again.
    let req = LeafRequest::new(
        Identity::Node("Not:Valid".into()),
        1,
        Validity::days_from_now(1),
    );
    assert!(matches!(ca.issue(&req), Err(CertError::InvalidId { .. })));
}

#[test]
fn peer_identity_requires_exactly_one_chapar_uri() {
    // A certificate without a chapar URI.
    let plain = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let err = peer_identity(plain.cert.der()).unwrap_err();
    assert!(matches!(err, CertError::NoIdentity), "{err:?}");
    assert!(err.to_string().contains("no urn:chapar SAN URI"));

    // Two chapar URIs.
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![
        rcgen::SanType::URI("urn:chapar:user:a".try_into().unwrap()),
        rcgen::SanType::URI("urn:chapar:node:b".try_into().unwrap()),
    ];
    params.serial_number = Some(9u64.into());
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    assert!(matches!(
        peer_identity(cert.der()),
        Err(CertError::MultipleIdentities(2))
    ));

    // A malformed chapar URI.
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:chapar:user:Bad".try_into().unwrap(),
    )];
    let cert = params.self_signed(&key).unwrap();
    assert!(matches!(
        peer_identity(cert.der()),
        Err(CertError::InvalidUri { .. })
    ));

    assert!(matches!(
        peer_identity(b"junk"),
        Err(CertError::Parse { .. })
    ));
}

#[test]
fn crl_lists_revoked_serials() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
        let ca = Ca::create("Ministry CA", Validity::days_from_now(30), alg).unwrap();
        let leaf = ca.issue(&user_req("mallory", 4242)).unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let pem = ca
            .crl(
                3,
                now,
                now + Duration::days(7),
                &[RevokedCert {
                    serial: leaf.serial,
                    revoked_at: now,
                }],
            )
            .unwrap();
        assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
        let info = parse_crl_pem(&pem).unwrap();
        assert_eq!(info.crl_number, Some(3));
        assert_eq!(info.this_update, now);
        assert_eq!(info.next_update, Some(now + Duration::days(7)));
        assert!(info.is_revoked(4242));
        assert!(!info.is_revoked(4243));
        assert_eq!(
            info.revoked,
            vec![RevokedCert {
                serial: 4242,
                revoked_at: now
            }]
        );
        assert!(!info.is_stale(now));
        assert!(info.is_stale(now + Duration::days(8)));

        // Independent parse with x509-parser, including the signature.
        let der = read_crls_pem(&pem, "crl").unwrap().remove(0);
        let (_, crl) = parse_x509_crl(&der).unwrap();
        let (_, ca_cert) = parse_x509_certificate(ca.cert_der()).unwrap();
        crl.verify_signature(ca_cert.public_key()).unwrap();
        assert_eq!(crl.issuer().as_raw(), ca_cert.subject().as_raw());
        let serials: Vec<u64> = crl
            .iter_revoked_certificates()
            .map(|r| u64::try_from(r.serial()).unwrap())
            .collect();
        assert_eq!(serials, vec![4242]);

        // Empty CRLs are fine; inverted windows and serial 0 are not.
        assert!(
            parse_crl_pem(&ca.crl(4, now, now + Duration::hours(1), &[]).unwrap())
                .unwrap()
                .revoked
                .is_empty()
        );
        assert!(matches!(
            ca.crl(5, now, now, &[]),
            Err(CertError::Validity(_))
        ));
        assert!(matches!(
            ca.crl(
                5,
                now,
                now + Duration::hours(1),
                &[RevokedCert {
                    serial: 0,
                    revoked_at: now
                }]
            ),
            Err(CertError::Serial(_))
        ));
    }
}

#[test]
fn bad_ca_names_rejected() {
    for name in ["", "   ", &"x".repeat(65)] {
        assert!(matches!(
            Ca::create(name, Validity::days_from_now(1), KeyAlgorithm::EcdsaP256),
            Err(CertError::InvalidName { .. })
        ));
    }
}
