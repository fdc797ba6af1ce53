//! A bundle's TLS files (CA, certificate, key, CRLs) turned into rustls
//! server and client configurations. The input is the four files' text
//! separated by lines of `====`.
#![no_main]

use chapar_certs::{TlsMaterials, client_config, server_config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split("\n====\n");
    let mut next = || parts.next().unwrap_or_default().to_owned();
    let materials = TlsMaterials {
        ca_pem: next(),
        cert_pem: next(),
        key_pem: next().into(),
        crl_pems: vec![next()],
    };
    let _ = server_config(&materials, &[b"chapar/1"]);
    let _ = client_config(&materials, &[b"chapar/1"]);
});
