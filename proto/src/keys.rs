//! ed25519 key files: private keys as PKCS#8 PEM (`PRIVATE KEY`), public
//! keys as SubjectPublicKeyInfo PEM (`PUBLIC KEY`) — the forms `openssl
//! genpkey -algorithm ed25519` reads and writes, so keys can be inspected
//! and made with standard tools.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use thiserror::Error;

use crate::types::PublicKey;

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// Not a PEM ed25519 private key.
    #[error("not an ed25519 private key in PKCS#8 PEM (\"-----BEGIN PRIVATE KEY-----\"): {0}")]
    BadPrivateKey(String),
    /// Not a PEM ed25519 public key.
    #[error("not an ed25519 public key in PEM (\"-----BEGIN PUBLIC KEY-----\"): {0}")]
    BadPublicKey(String),
    /// A small-order key: signatures under it prove nothing.
    #[error("weak (small-order) ed25519 public key refused")]
    WeakKey,
}

/// Creates a signing key from 32 bytes of secret randomness. The caller
/// supplies the randomness (this crate does no I/O).
pub fn signing_key_from_seed(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

/// The PKCS#8 PEM of a private key.
pub fn signing_key_to_pem(key: &SigningKey) -> Result<String, KeyError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|s| s.to_string())
        .map_err(|e| KeyError::BadPrivateKey(e.to_string()))
}

/// Reads a PKCS#8 PEM private key.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::BadPrivateKey(e.to_string()))
}

/// The SubjectPublicKeyInfo PEM of a public key.
pub fn public_key_to_pem(key: &PublicKey) -> Result<String, KeyError> {
    let vk = VerifyingKey::from_bytes(&key.0).map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
    vk.to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::BadPublicKey(e.to_string()))
}

/// Reads a PEM public key, refusing weak keys.
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey, KeyError> {
    let vk = VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
    if vk.is_weak() {
        return Err(KeyError::WeakKey);
    }
    Ok(PublicKey(vk.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_roundtrip() {
        let sk = signing_key_from_seed([7; 32]);
        let pem = signing_key_to_pem(&sk).expect("encode");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(signing_key_from_pem(&pem).expect("decode"), sk);
        let pk = PublicKey(sk.verifying_key().to_bytes());
        let pub_pem = public_key_to_pem(&pk).expect("encode public");
        assert_eq!(public_key_from_pem(&pub_pem), Ok(pk));
        assert!(signing_key_from_pem("garbage").is_err());
        assert!(public_key_from_pem(&pem).is_err());
    }
}
