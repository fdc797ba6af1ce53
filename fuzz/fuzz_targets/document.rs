//! `Document::decode` and `Document::decode_kind` over every kind: any
//! bytes give a document or a typed error, and what decodes is canonical.
#![no_main]

use chapar_proto::access::Routing;
use chapar_proto::{Decode, Document, Encode, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::decode(data) {
        assert_eq!(
            doc.reencode(),
            data,
            "decoding accepts only canonical bytes"
        );
        doc.body()
            .validate()
            .expect("a decoded body passes validation");
        for part in doc.signed_parts() {
            assert_eq!(part.reencode(), part.as_bytes());
        }
        // The routing a node stores beside the document reads back.
        let routing = Routing::of(&doc);
        assert_eq!(
            Routing::from_bytes(&routing.to_bytes(), "routing"),
            Ok(routing)
        );
    }
    for &kind in Kind::ALL {
        if let Ok(doc) = Document::decode_kind(data, kind, "fuzzed document") {
            assert_eq!(doc.kind(), kind);
        }
    }
});
