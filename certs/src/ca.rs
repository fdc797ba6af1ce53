//! The ministry CA: create or import it, issue node and user certificates, sign CRLs.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, RevokedCertParams, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

use crate::error::fmt_time;
use crate::identity::{Identity, URN_PREFIX};
use crate::pem::{read_cert_pem, read_csr_pem, read_private_key_pem, sec1_p256_to_pkcs8, to_pem};
use crate::{CertError, RevokedCert};

/// Validity window of a certificate: `not_before` and `not_after` are both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First instant at which the certificate is valid.
    pub not_before: OffsetDateTime,
    /// Last instant at which the certificate is valid.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Clock-skew allowance subtracted from "now" for `not_before`.
    pub const SKEW: Duration = Duration::minutes(5);

    /// Valid from five minutes ago (tolerates clock skew between missions) for `days` days.
    /// Times are truncated to whole seconds, as X.509 stores them.
    pub fn days_from_now(days: u32) -> Self {
        let now = now_secs();
        Validity {
            not_before: now - Self::SKEW,
            not_after: now + Duration::days(i64::from(days)),
        }
    }

    fn check(&self) -> Result<(), CertError> {
        if self.not_before >= self.not_after {
            return Err(CertError::Validity(format!(
                "not_before {} is not before not_after {}",
                fmt_time(self.not_before),
                fmt_time(self.not_after)
            )));
        }
        Ok(())
    }
}

/// Reads a plaintext private key (PKCS#8, or SEC1 for P-256) as an rcgen key pair; ECDSA
/// P-256 and Ed25519 only.
pub(crate) fn key_pair(key_pem: &str, what: &str) -> Result<KeyPair, CertError> {
    let key_der = read_private_key_pem(key_pem, what)?;
    let pkcs8 = match &key_der {
        PrivateKeyDer::Pkcs8(k) => k.clone_key(),
        PrivateKeyDer::Sec1(k) => sec1_p256_to_pkcs8(k.secret_sec1_der()),
        _ => {
            return Err(CertError::UnsupportedAlgorithm {
                what: what.to_owned(),
                found: "RSA".to_owned(),
            });
        }
    };
    let key = KeyPair::try_from(&pkcs8).map_err(|e| CertError::Parse {
        what: what.to_owned(),
        reason: format!("{e}; chapar reads ECDSA P-256 and Ed25519 keys"),
    })?;
    if KeyAlgorithm::from_rcgen(key.algorithm()).is_none() {
        return Err(CertError::UnsupportedAlgorithm {
            what: what.to_owned(),
            found: format!("{:?}", key.algorithm()),
        });
    }
    Ok(key)
}

/// "Now", truncated to whole seconds.
pub(crate) fn now_secs() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Key algorithm of a new key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256: the default, the widest TLS support.
    #[default]
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl KeyAlgorithm {
    pub(crate) fn rcgen(self) -> &'static SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    fn from_rcgen(alg: &SignatureAlgorithm) -> Option<Self> {
        if *alg == rcgen::PKCS_ECDSA_P256_SHA256 {
            Some(KeyAlgorithm::EcdsaP256)
        } else if *alg == rcgen::PKCS_ED25519 {
            Some(KeyAlgorithm::Ed25519)
        } else {
            None
        }
    }
}

/// What to issue: see [`Ca::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafRequest {
    /// Node or user the certificate speaks for (SAN URI and CN).
    pub identity: Identity,
    /// Serial number; must be > 0 and unique per CA (the roster keeps track). Encoded as a
    /// positive INTEGER.
    pub serial: u64,
    /// Validity window; `not_after` may not exceed the CA's.
    pub validity: Validity,
    /// Algorithm of the fresh key pair.
    pub alg: KeyAlgorithm,
    /// Extra SAN DNS names (nodes only), e.g. `"localhost"` or the node's host name, so
    /// that a QUIC client can connect by name.
    pub dns_names: Vec<String>,
    /// Extra SAN IP addresses (nodes only).
    pub ips: Vec<IpAddr>,
}

impl LeafRequest {
    /// A request with the default algorithm and no DNS/IP SANs.
    pub fn new(identity: Identity, serial: u64, validity: Validity) -> Self {
        LeafRequest {
            identity,
            serial,
            validity,
            alg: KeyAlgorithm::default(),
            dns_names: Vec::new(),
            ips: Vec::new(),
        }
    }
}

/// A freshly issued certificate and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM. Secret: write it with restrictive permissions. Wiped
    /// from memory when dropped.
    pub key_pem: Zeroizing<String>,
    /// The serial number, as requested.
    pub serial: u64,
    /// Expiry, as written into the certificate.
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .field("key_pem", &"[secret elided]")
            .finish_non_exhaustive()
    }
}

/// A certificate issued for a key the CA never saw: the public key of a certificate
/// request ([`Ca::issue_for_csr`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The serial number, as requested.
    pub serial: u64,
    /// Expiry, as written into the certificate.
    pub not_after: OffsetDateTime,
}

/// The ministry CA: its certificate and signing key, able to issue certificates and CRLs.
pub struct Ca {
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// Key identifier written as authorityKeyIdentifier into CRLs (the CA's SKI if it has one).
    key_id: KeyIdMethod,
    subject_raw: Vec<u8>,
    not_after: OffsetDateTime,
    alg: KeyAlgorithm,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("alg", &self.alg)
            .field("not_after", &self.not_after)
            .field("key", &"[secret elided]")
            .finish_non_exhaustive()
    }
}

/// Longest CA name accepted (X.520 upper bound for commonName).
const MAX_CA_NAME: usize = 64;

impl Ca {
    /// Creates a new self-signed CA: CN = O = `name`, basicConstraints CA:TRUE with path
    /// length 0 (the CA signs only leaves), keyUsage keyCertSign + cRLSign, and a random
    /// positive 16-byte serial number.
    pub fn create(name: &str, validity: Validity, alg: KeyAlgorithm) -> Result<Ca, CertError> {
        if name.trim().is_empty() || name.chars().count() > MAX_CA_NAME {
            return Err(CertError::InvalidName {
                name: name.to_owned(),
                reason: "a CA name must be 1..=64 characters and not blank".to_owned(),
            });
        }
        validity.check()?;
        let key = KeyPair::generate_for(alg.rcgen())?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let cert = params.self_signed(&key)?;
        Ca::from_parts(cert.der().clone(), key)
    }

    /// Imports an existing CA (for instance one made with `openssl req -x509`) from a PEM
    /// certificate and a PEM private key (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`).
    ///
    /// Supported: ECDSA P-256 and Ed25519. Checks that the certificate is a CA
    /// (basicConstraints CA:TRUE), that its keyUsage (if present) allows keyCertSign and
    /// cRLSign, that the key matches the certificate's public key and that the certificate
    /// has not expired. The CA may be a root or an intermediate; either way it is the trust
    /// anchor chapar pins.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, CertError> {
        let cert_der = read_cert_pem(cert_pem, "CA certificate")?;
        // Look at the certificate's algorithm first, so an RSA CA gets the
        // "unsupported algorithm" message rather than a key-parsing one.
        {
            let cert = parse_cert(&cert_der, "CA certificate")?;
            spki_algorithm(&cert, "CA certificate")?;
        }
        let key = key_pair(key_pem, "CA private key")?;
        Ca::from_parts(cert_der, key)
    }

    fn from_parts(cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Ca, CertError> {
        let (subject_raw, not_after, alg, key_id) = {
            let cert = parse_cert(&cert_der, "CA certificate")?;
            match cert.basic_constraints() {
                Ok(Some(bc)) if bc.value.ca => {}
                Ok(Some(_)) => {
                    return Err(CertError::NotCa {
                        reason: "basicConstraints says CA:FALSE".to_owned(),
                    });
                }
                Ok(None) => {
                    return Err(CertError::NotCa {
                        reason: "no basicConstraints extension".to_owned(),
                    });
                }
                Err(e) => {
                    return Err(CertError::NotCa {
                        reason: format!("unreadable basicConstraints: {e}"),
                    });
                }
            }
            if let Ok(Some(ku)) = cert.key_usage() {
                if !ku.value.key_cert_sign() {
                    return Err(CertError::CaKeyUsage {
                        missing: "keyCertSign",
                    });
                }
                if !ku.value.crl_sign() {
                    return Err(CertError::CaKeyUsage { missing: "cRLSign" });
                }
            }
            let alg = spki_algorithm(&cert, "CA certificate")?;
            if KeyAlgorithm::from_rcgen(key.algorithm()) != Some(alg)
                || key.der_bytes() != cert.public_key().subject_public_key.data.as_ref()
            {
                return Err(CertError::KeyMismatch { what: "CA" });
            }
            let not_after = cert.validity().not_after.to_datetime();
            if not_after <= OffsetDateTime::now_utc() {
                return Err(CertError::Expired {
                    what: "CA certificate".to_owned(),
                    not_after,
                });
            }
            let key_id = cert
                .iter_extensions()
                .find_map(|ext| match ext.parsed_extension() {
                    x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                        Some(KeyIdMethod::PreSpecified(id.0.to_vec()))
                    }
                    _ => None,
                })
                .unwrap_or(KeyIdMethod::Sha256);
            (cert.subject().as_raw().to_vec(), not_after, alg, key_id)
        };
        let issuer =
            Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| CertError::Parse {
                what: "CA certificate".to_owned(),
                reason: format!(
                    "{e}; chapar supports subject names with one attribute per RDN in standard string types"
                ),
            })?;
        Ok(Ca {
            cert_der,
            issuer,
            key_id,
            subject_raw,
            not_after,
            alg,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        to_pem("CERTIFICATE", &self.cert_der)
    }

    /// The CA private key, PKCS#8 PEM. Secret: wiped from memory when dropped.
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.issuer.key().serialize_pem())
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the CA certificate DER, for pinning the CA in the roster.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert_der)
    }

    /// Expiry of the CA certificate.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Algorithm of the CA key.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// Issues a leaf certificate for a node or a user, with a fresh key pair.
    ///
    /// The certificate has CN = SAN URI = `identity.uri()`; for nodes also the requested
    /// SAN DNS names and IP addresses. Serial = `req.serial` exactly. EKU serverAuth +
    /// clientAuth for nodes, clientAuth only for users (a user certificate cannot act as a
    /// server). keyUsage digitalSignature, basicConstraints CA:FALSE, SKI and AKI.
    /// Fails if the validity ends after the CA's, if `serial` is 0, or if DNS/IP SANs are
    /// requested for a user.
    pub fn issue(&self, req: &LeafRequest) -> Result<IssuedCert, CertError> {
        let params = self.leaf_params(req)?;
        let key = KeyPair::generate_for(req.alg.rcgen())?;
        let (cert_pem, not_after) = self.sign_leaf(&params, &key)?;
        Ok(IssuedCert {
            cert_pem,
            key_pem: Zeroizing::new(key.serialize_pem()),
            serial: req.serial,
            not_after,
        })
    }

    /// Issues a leaf certificate, exactly as [`Ca::issue`] would, for the public key of a
    /// PKCS#10 certificate request (PEM) — for a node whose private key never leaves it
    /// (`chapar-node keygen`). `req.alg` is ignored: the request's key decides.
    ///
    /// The request's self-signature must verify (it proves possession of the key), and its
    /// key must be ECDSA P-256 or Ed25519. Nothing else in it is trusted: the names,
    /// extensions and validity of the certificate come from `req` alone. A request that
    /// names a *different* chapar identity (in its subject or a SAN URI) is refused, as it is
    /// almost certainly the wrong file.
    pub fn issue_for_csr(
        &self,
        req: &LeafRequest,
        csr_pem: &str,
        what: &str,
    ) -> Result<SignedCert, CertError> {
        let der = read_csr_pem(csr_pem, what)?;
        let spki = csr_public_key(&der, &req.identity, what)?;
        let params = self.leaf_params(req)?;
        let (cert_pem, not_after) = self.sign_leaf(&params, &spki)?;
        Ok(SignedCert {
            cert_pem,
            serial: req.serial,
            not_after,
        })
    }

    /// The certificate parameters of a leaf, after checking the request.
    fn leaf_params(&self, req: &LeafRequest) -> Result<CertificateParams, CertError> {
        req.identity.validate()?;
        if req.serial == 0 {
            return Err(CertError::Serial(
                "serial 0 is not allowed; use a positive serial".to_owned(),
            ));
        }
        req.validity.check()?;
        if req.validity.not_after > self.not_after {
            return Err(CertError::Validity(format!(
                "not_after {} is after the CA's not_after {}; shorten the validity or renew the CA",
                fmt_time(req.validity.not_after),
                fmt_time(self.not_after)
            )));
        }
        if !req.identity.is_node() && (!req.dns_names.is_empty() || !req.ips.is_empty()) {
            return Err(CertError::InvalidSan {
                name: req.dns_names.join(","),
                reason: "DNS and IP names are only for node certificates".to_owned(),
            });
        }
        let uri = req.identity.uri();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, uri.as_str());
        params.distinguished_name = dn;
        params
            .subject_alt_names
            .push(SanType::URI(uri.as_str().try_into()?));
        for name in &req.dns_names {
            params.subject_alt_names.push(dns_san(name)?);
        }
        for ip in &req.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = if req.identity.is_node() {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ClientAuth]
        };
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(req.serial));
        params.not_before = req.validity.not_before;
        params.not_after = req.validity.not_after;
        Ok(params)
    }

    /// Signs `params` for `public`; the certificate's PEM and expiry.
    fn sign_leaf(
        &self,
        params: &CertificateParams,
        public: &impl PublicKeyData,
    ) -> Result<(String, OffsetDateTime), CertError> {
        let cert = params.signed_by(public, &self.issuer)?;
        let not_after = {
            let parsed = parse_cert(cert.der(), "issued certificate")?;
            self.check_issuer_name(parsed.issuer().as_raw(), "issued certificate")?;
            parsed.validity().not_after.to_datetime()
        };
        Ok((to_pem("CERTIFICATE", cert.der()), not_after))
    }

    /// Signs a CRL (PEM) listing `revoked`, numbered `crl_number`, valid from `this_update`
    /// until `next_update`. Publish a new one, with a higher number, before `next_update`:
    /// chapar refuses handshakes once its CRL has passed `next_update`.
    pub fn crl(
        &self,
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        revoked: &[RevokedCert],
    ) -> Result<String, CertError> {
        if next_update <= this_update {
            return Err(CertError::Validity(format!(
                "CRL next_update {} is not after this_update {}",
                fmt_time(next_update),
                fmt_time(this_update)
            )));
        }
        if let Some(r) = revoked.iter().find(|r| r.serial == 0) {
            return Err(CertError::Serial(format!(
                "cannot revoke serial {}; chapar serials are positive",
                r.serial
            )));
        }
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: SerialNumber::from(r.serial),
                    revocation_time: r.revoked_at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: self.key_id.clone(),
        };
        let crl = params.signed_by(&self.issuer)?;
        let info = crate::crl::parse_crl_der(crl.der())?;
        self.check_issuer_name(&info.issuer_raw, "CRL")?;
        Ok(to_pem("X509 CRL", crl.der()))
    }

    /// rcgen re-encodes the CA's subject name from its parsed form; make sure the issuer
    /// name it wrote is byte-for-byte the CA's subject, or WebPKI would not chain it.
    fn check_issuer_name(&self, issuer_raw: &[u8], what: &str) -> Result<(), CertError> {
        if issuer_raw != self.subject_raw.as_slice() {
            return Err(CertError::WrongIssuer {
                what: what.to_owned(),
                reason: "the CA subject name could not be reproduced exactly (unusual string types or multi-valued RDNs); re-create the CA with a simple subject such as /CN=.../O=...".to_owned(),
            });
        }
        Ok(())
    }
}

/// SHA-256 of some DER (certificate fingerprint).
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn random_serial() -> Result<SerialNumber, CertError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Random)?;
    // Positive (top bit clear) and exactly 16 bytes long (second-highest bit set).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn dns_san(name: &str) -> Result<SanType, CertError> {
    let bad = |reason: &str| CertError::InvalidSan {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.parse::<IpAddr>().is_ok() {
        return Err(bad("this is an IP address; pass it in `ips`"));
    }
    rustls_pki_types::DnsName::try_from(name).map_err(|_| bad("not a valid DNS name"))?;
    Ok(SanType::DnsName(
        name.try_into().map_err(|_| bad("not ASCII"))?,
    ))
}

pub(crate) fn parse_cert<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, CertError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertError::Parse {
            what: what.to_owned(),
            reason: "trailing bytes after the certificate".to_owned(),
        }),
        Err(e) => Err(CertError::Parse {
            what: what.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// The key algorithm of a certificate's subject public key, if chapar supports it.
fn spki_algorithm(cert: &X509Certificate<'_>, what: &str) -> Result<KeyAlgorithm, CertError> {
    key_algorithm(cert.public_key(), what)
}

/// The algorithm of a subject public key, if chapar supports it.
fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>, what: &str) -> Result<KeyAlgorithm, CertError> {
    let alg = &spki.algorithm;
    if alg.algorithm == OID_SIG_ED25519 {
        return Ok(KeyAlgorithm::Ed25519);
    }
    if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
        if curve.as_ref() == Some(&OID_EC_P256) {
            return Ok(KeyAlgorithm::EcdsaP256);
        }
        return Err(CertError::UnsupportedAlgorithm {
            what: what.to_owned(),
            found: format!(
                "ECDSA on curve {}",
                curve.map_or("(unnamed)".to_owned(), |c| c.to_id_string())
            ),
        });
    }
    let found = if alg.algorithm == OID_PKCS1_RSAENCRYPTION {
        "RSA".to_owned()
    } else {
        alg.algorithm.to_id_string()
    };
    Err(CertError::UnsupportedAlgorithm {
        what: what.to_owned(),
        found,
    })
}

/// Parses a PKCS#10 request, checks its self-signature and key algorithm, and returns its
/// public key. Names in it are only compared with `identity` (see [`Ca::issue_for_csr`]).
fn csr_public_key(
    der: &[u8],
    identity: &Identity,
    what: &str,
) -> Result<rcgen::SubjectPublicKeyInfo, CertError> {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;

    let bad = |reason: String| CertError::Csr {
        what: what.to_owned(),
        reason,
    };
    let csr = match X509CertificationRequest::from_der(der) {
        Ok(([], csr)) => csr,
        Ok(_) => return Err(bad("trailing bytes after the request".to_owned())),
        Err(e) => return Err(bad(format!("not a PKCS#10 certificate request ({e})"))),
    };
    let spki = &csr.certification_request_info.subject_pki;
    key_algorithm(spki, what)?;
    csr.verify_signature().map_err(|e| {
        bad(format!(
            "its self-signature does not verify ({e}): it was altered, or not made with the key it carries"
        ))
    })?;
    let wanted = identity.uri();
    let mut named: Vec<String> = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    if let GeneralName::URI(u) = name {
                        named.push((*u).to_owned());
                    }
                }
            }
        }
    }
    if let Some(other) = named
        .iter()
        .find(|n| n.starts_with(URN_PREFIX) && **n != wanted)
    {
        return Err(bad(format!(
            "it was made for {other}, not {wanted}; check that this is the right node's request"
        )));
    }
    rcgen::SubjectPublicKeyInfo::from_der(spki.raw)
        .map_err(|e| bad(format!("unusable public key: {e}")))
}
