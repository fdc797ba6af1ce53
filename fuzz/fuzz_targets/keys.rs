//! ed25519 key files: PKCS#8 private keys and SPKI public keys in PEM.
#![no_main]

use chapar_proto::keys::{public_key_from_pem, signing_key_from_pem, signing_key_to_pem};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(key) = signing_key_from_pem(&text) {
        let pem = signing_key_to_pem(&key).expect("a read key writes back");
        assert_eq!(signing_key_from_pem(&pem).ok(), Some(key));
    }
    let _ = public_key_from_pem(&text);
});
