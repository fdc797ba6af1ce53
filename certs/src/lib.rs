//! chapar's ministry PKI: the CA (created here or imported from PEM), node and user
//! certificates carrying `urn:chapar:` SAN URIs, CRLs, and the rustls client and server
//! configurations for mutually authenticated QUIC.
//!
//! Key files are written atomically without following symlinks and checked for loose
//! permissions; private key text is wiped from memory when dropped.
//!
//! No networking happens here. Every rustls configuration uses the *ring* provider
//! explicitly; this crate never installs a process-wide default provider.

#![warn(missing_docs)]

mod ca;
mod crl;
mod error;
pub mod expiry;
mod files;
mod identity;
mod peer;
mod pem;
mod request;
mod tls;

pub use ca::{Ca, IssuedCert, KeyAlgorithm, LeafRequest, SignedCert, Validity, fingerprint};
pub use crl::{CrlInfo, RevokedCert, parse_crl_der, parse_crl_pem};
pub use error::CertError;
pub use files::{Access, check_key_permissions, read_secret, write_atomic, write_new};
pub use identity::{Identity, MAX_ID_LEN, URN_PREFIX, validate_id};
pub use peer::{PeerCert, cert_host_names, peer_identity};
pub use pem::{
    read_cert_pem, read_certs_pem, read_crls_pem, read_csr_pem, read_private_key_pem, to_pem,
};
pub use request::{certificate_request, new_private_key};
pub use tls::{TlsMaterials, client_config, server_config};
pub use zeroize::Zeroizing;

/// ALPN protocol id of chapar's QUIC connections.
pub const ALPN: &[u8] = b"chapar/1";
