//! Frames and messages between nodes and clients: `check_frame_len` on
//! the header, `Message::from_frame_body` on the body, and the documents
//! and reconciliation payloads a message carries.
#![no_main]

use chapar_proto::reconcile::canonical_form;
use chapar_proto::wire::{MAX_FRAME, Message};
use chapar_proto::{Document, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(header) = data.first_chunk::<4>() {
        if let Ok(len) = Message::check_frame_len(*header) {
            assert!(len <= MAX_FRAME);
        }
    }
    let Ok(message) = Message::from_frame_body(data) else {
        return;
    };
    assert_eq!(
        message.to_bytes(),
        data,
        "decoding accepts only canonical bytes"
    );
    let frame = message.to_frame();
    let header = frame.first_chunk::<4>().expect("a frame has a header");
    assert_eq!(Message::check_frame_len(*header), Ok(frame.len() - 4));
    match &message {
        Message::Roster { document } | Message::Submit { document } => {
            let _ = Document::decode(document);
        }
        Message::Documents { documents } => {
            for d in documents {
                let _ = Document::decode(d);
            }
        }
        Message::Reconcile { payload } => {
            let _ = canonical_form(payload, MAX_FRAME);
        }
        _ => {}
    }
});
