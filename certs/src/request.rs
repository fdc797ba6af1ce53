//! Keys made where they are used: a node generates its TLS key and a certificate request
//! (PKCS#10), and only the request travels to the ministry ([`crate::Ca::issue_for_csr`]).

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use zeroize::Zeroizing;

use crate::ca::key_pair;
use crate::{CertError, Identity, KeyAlgorithm};

/// A fresh private key, PKCS#8 PEM, wiped from memory when dropped.
pub fn new_private_key(alg: KeyAlgorithm) -> Result<Zeroizing<String>, CertError> {
    let key = KeyPair::generate_for(alg.rcgen())?;
    Ok(Zeroizing::new(key.serialize_pem()))
}

/// A certificate request (PEM) for the key in `key_pem`, signed with it, naming `identity`
/// (CN and SAN URI). The names are informative only: the CA puts its own in the
/// certificate, and uses them just to catch a request sent for the wrong node.
pub fn certificate_request(
    identity: &Identity,
    key_pem: &str,
    what: &str,
) -> Result<String, CertError> {
    identity.validate()?;
    let key = key_pair(key_pem, what)?;
    let uri = identity.uri();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, uri.as_str());
    params.distinguished_name = dn;
    params
        .subject_alt_names
        .push(SanType::URI(uri.as_str().try_into()?));
    Ok(params.serialize_request(&key)?.pem()?)
}
