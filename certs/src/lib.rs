//! chapar's ministry PKI: the CA (created here or imported from PEM), node and user
//! certificates carrying `urn:chapar:` SAN URIs, CRLs, and the rustls client and server
//! configurations for mutually authenticated QUIC.
//!
//! No networking happens here. Every rustls configuration uses the *ring* provider
//! explicitly; this crate never installs a process-wide default provider.

#![warn(missing_docs)]

mod ca;
mod crl;
mod error;
mod identity;
mod peer;
mod pem;
mod tls;

pub use ca::{Ca, IssuedCert, KeyAlgorithm, LeafRequest, Validity, fingerprint};
pub use crl::{CrlInfo, RevokedCert, parse_crl_der, parse_crl_pem};
pub use error::CertError;
pub use identity::{Identity, MAX_ID_LEN, URN_PREFIX, validate_id};
pub use peer::{PeerCert, peer_identity};
pub use pem::{read_cert_pem, read_certs_pem, read_crls_pem, read_private_key_pem, to_pem};
pub use tls::{TlsMaterials, client_config, server_config};

/// ALPN protocol id of chapar's QUIC connections.
pub const ALPN: &[u8] = b"chapar/1";
