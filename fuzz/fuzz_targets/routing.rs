//! The routing a node stores beside each document (`kind byte ‖
//! Routing`), read back from the store's time index.
#![no_main]

use chapar_proto::access::Routing;
use chapar_proto::{Decode, Encode, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, rest)) = data.split_first() else {
        return;
    };
    let _ = Kind::from_code(code);
    if let Ok(routing) = Routing::from_bytes(rest, "routing") {
        assert_eq!(
            routing.to_bytes(),
            rest,
            "decoding accepts only canonical bytes"
        );
    }
});
