//! rustls client and server configurations for chapar's mutually authenticated QUIC.
//!
//! Both sides use the *ring* provider explicitly (no process-wide default provider is
//! installed), TLS 1.3 only, trust exactly the ministry CA, and never use 0-RTT.

use std::path::Path;
use std::sync::Arc;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::parse_cert;
use crate::crl::parse_crl_der;
use crate::peer::peer_identity;
use crate::pem::{read_cert_pem, read_certs_pem, read_crls_pem, read_private_key_pem};
use crate::{CertError, PeerCert};

/// The PEM material a node or user loads from its bundle.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsMaterials {
    /// The ministry CA certificate (the only trust anchor).
    pub ca_pem: String,
    /// This party's certificate (optionally followed by intermediates, none in chapar).
    pub cert_pem: String,
    /// This party's private key (PKCS#8 or SEC1). Secret: wiped from memory when dropped.
    pub key_pem: Zeroizing<String>,
    /// CRLs signed by the ministry CA, one or more per entry.
    pub crl_pems: Vec<String>,
}

impl std::fmt::Debug for TlsMaterials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterials")
            .field("crls", &self.crl_pems.len())
            .field("key_pem", &"[secret elided]")
            .finish_non_exhaustive()
    }
}

impl TlsMaterials {
    /// Reads the files of a bundle. Errors name the file that could not be read or parsed.
    /// The key is read into memory that is wiped when dropped; its permissions are not
    /// checked here (see [`crate::check_key_permissions`]).
    pub fn from_files(
        ca: &Path,
        cert: &Path,
        key: &Path,
        crls: &[&Path],
    ) -> Result<Self, CertError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| CertError::Io {
                path: p.to_owned(),
                source,
            })
        };
        let m = TlsMaterials {
            ca_pem: read(ca)?,
            cert_pem: read(cert)?,
            key_pem: crate::files::read_secret(key)?,
            crl_pems: crls.iter().map(|p| read(p)).collect::<Result<_, _>>()?,
        };
        // Parse now so that a bad file is reported by its name.
        let name = |p: &Path| p.display().to_string();
        read_cert_pem(&m.ca_pem, &name(ca))?;
        read_certs_pem(&m.cert_pem, &name(cert))?;
        read_private_key_pem(&m.key_pem, &name(key))?;
        for (pem, p) in m.crl_pems.iter().zip(crls) {
            read_crls_pem(pem, &name(p))?;
        }
        Ok(m)
    }
}

/// Parsed and cross-checked materials.
struct Loaded {
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    own: PeerCert,
}

/// The provider every chapar config uses: *ring*, explicitly (never the process default,
/// so a second provider linked into the binary cannot cause a panic or a silent switch).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load(m: &TlsMaterials) -> Result<Loaded, CertError> {
    let ca_der = read_cert_pem(&m.ca_pem, "CA certificate")?;
    let ca = parse_cert(&ca_der, "CA certificate")?;
    if !ca.is_ca() {
        return Err(CertError::NotCa {
            reason: "basicConstraints CA:TRUE missing".to_owned(),
        });
    }
    let ca_subject = ca.subject().as_raw();
    let now = OffsetDateTime::now_utc();

    let chain = read_certs_pem(&m.cert_pem, "own certificate")?;
    let leaf = parse_cert(&chain[0], "own certificate")?;
    if leaf.issuer().as_raw() != ca_subject {
        return Err(CertError::WrongIssuer {
            what: "own certificate".to_owned(),
            reason: "its issuer name is not the CA's subject".to_owned(),
        });
    }
    leaf.verify_signature(Some(ca.public_key()))
        .map_err(|e| CertError::WrongIssuer {
            what: "own certificate".to_owned(),
            reason: format!("its signature does not verify with the CA key ({e})"),
        })?;
    let own_not_after = leaf.validity().not_after.to_datetime();
    if own_not_after <= now {
        return Err(CertError::Expired {
            what: "own certificate".to_owned(),
            not_after: own_not_after,
        });
    }
    let own = peer_identity(&chain[0])?;

    let key = read_private_key_pem(&m.key_pem, "own private key")?;

    let mut crls = Vec::new();
    for (i, pem) in m.crl_pems.iter().enumerate() {
        let what = format!("CRL #{}", i + 1);
        for crl in read_crls_pem(pem, &what)? {
            let info = parse_crl_der(&crl)?;
            if info.issuer_raw != ca_subject {
                return Err(CertError::WrongIssuer {
                    what,
                    reason: "its issuer name is not the CA's subject".to_owned(),
                });
            }
            let (_, parsed) = x509_parser::parse_x509_crl(&crl).map_err(|e| CertError::Parse {
                what: what.clone(),
                reason: e.to_string(),
            })?;
            parsed
                .verify_signature(ca.public_key())
                .map_err(|e| CertError::WrongIssuer {
                    what: what.clone(),
                    reason: format!("its signature does not verify with the CA key ({e})"),
                })?;
            crls.push(crl);
        }
    }

    let mut roots = RootCertStore::empty();
    roots.add(ca_der.clone())?;
    Ok(Loaded {
        roots: Arc::new(roots),
        chain,
        key,
        crls,
        own,
    })
}

fn map_key_error(e: rustls::Error) -> CertError {
    match e {
        rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch { what: "own" },
        other => CertError::Tls(other),
    }
}

/// rustls server configuration for a chapar node's QUIC endpoint.
///
/// * Client certificates are **required** and verified by rustls' `WebPkiClientVerifier`
///   against the ministry CA only.
/// * At least one CRL is required ([`CertError::NoCrl`] otherwise), and every CRL must be
///   signed by the CA (integrity fails closed). Every certificate a CRL lists is refused,
///   whether the CRL is fresh or past its `nextUpdate`: staleness is **not** enforced (the
///   rustls and webpki default), because a chapar CRL travels inside the signed roster,
///   which only arrives over these handshakes — enforcing it would lock every node out of
///   the very exchange that brings the fresh CRL (ADR 0014). A stale CRL is reported as a
///   warning instead, and the roster's revocations, checked after every handshake, cover
///   what the CRL lists. Revocation is checked for the whole chain below the trust
///   anchor (in chapar that is just the leaf, as the CA has path length 0); a certificate
///   whose status no CRL covers is refused (rustls' default `Deny` policy, kept on
///   purpose). The CA itself, being the trust anchor, is never revocation-checked: to
///   retire a CA, replace it in every bundle.
/// * No session resumption: no stateful session cache, no tickets. A TLS 1.3 resumption
///   skips certificate verification, so a client revoked after its first handshake could
///   otherwise come back on its old session even under a new CRL.
/// * No 0-RTT (`max_early_data_size = 0`), TLS 1.3 only, ALPN = `alpn`.
///
/// Our own certificate must be a node certificate issued by the CA, not expired.
/// Revocation does not close live connections: the caller must close them on a CRL update.
pub fn server_config(m: &TlsMaterials, alpn: &[&[u8]]) -> Result<ServerConfig, CertError> {
    let l = load(m)?;
    if !l.own.identity.is_node() {
        return Err(CertError::WrongKind {
            identity: l.own.identity.uri(),
            role: "serve",
        });
    }
    if l.crls.is_empty() {
        return Err(CertError::NoCrl);
    }
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(l.roots, provider.clone())
        .with_crls(l.crls)
        .build()?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(l.chain, l.key)
        .map_err(map_key_error)?;
    // Resumption would let a revoked client back in (see above): no session cache, no
    // tickets (the default ticketer never produces any; we do not install one).
    cfg.session_storage = Arc::new(NoServerSessionStorage {});
    cfg.send_tls13_tickets = 0;
    // Never 0-RTT (replayable, and quinn only allows 0 or u32::MAX).
    cfg.max_early_data_size = 0;
    cfg.send_half_rtt_data = false;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

/// rustls client configuration for a node or user connecting to a chapar node.
///
/// Trusts only the ministry CA (no WebPKI roots), presents our certificate, TLS 1.3 only,
/// ALPN = `alpn`, no 0-RTT. CRLs, if any are given, are applied to the server's certificate
/// with the same policy as [`server_config`] (listed => refused; a stale CRL still counts,
/// its staleness is only a warning). With no CRL the server
/// certificate is not revocation-checked: a user's laptop may not hold a fresh CRL, and
/// the node re-checks the user anyway. Session resumption is disabled as well, so a
/// revoked server certificate is never trusted on the strength of an earlier handshake.
pub fn client_config(m: &TlsMaterials, alpn: &[&[u8]]) -> Result<ClientConfig, CertError> {
    let l = load(m)?;
    let provider = provider();
    let mut verifier = WebPkiServerVerifier::builder_with_provider(l.roots, provider.clone());
    if !l.crls.is_empty() {
        verifier = verifier.with_crls(l.crls);
    }
    let verifier = verifier.build()?;
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(l.chain, l.key)
        .map_err(map_key_error)?;
    cfg.enable_early_data = false;
    cfg.resumption = Resumption::disabled();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}
