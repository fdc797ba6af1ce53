//! PEM and DER loading of certificates, keys and CRLs (`chapar_certs`'s
//! public API), and the identity read from a peer's certificate.
#![no_main]

use chapar_certs::{
    parse_crl_der, parse_crl_pem, peer_identity, read_cert_pem, read_certs_pem, read_crls_pem,
    read_private_key_pem,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_crl_der(data);
    let _ = peer_identity(data);
    let text = String::from_utf8_lossy(data);
    let _ = read_certs_pem(&text, "fuzzed certificates");
    if let Ok(cert) = read_cert_pem(&text, "fuzzed certificate") {
        let _ = peer_identity(&cert);
    }
    let _ = read_private_key_pem(&text, "fuzzed key");
    if let Ok(crls) = read_crls_pem(&text, "fuzzed CRLs") {
        for crl in crls {
            let _ = parse_crl_der(&crl);
        }
    }
    let _ = parse_crl_pem(&text);
});
