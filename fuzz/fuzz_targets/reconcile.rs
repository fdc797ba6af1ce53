//! Reconciliation messages from a peer: decoded canonically, and answered
//! by a responder and by an initiator holding a few hundred items.
#![no_main]

use std::sync::LazyLock;

use chapar_proto::DocId;
use chapar_proto::reconcile::{Item, ReconcileConfig, Reconciler, Tree, canonical_form};
use libfuzzer_sys::fuzz_target;

/// Items spread over time, with ids that share prefixes (as bounds do).
static TREE: LazyLock<Tree> = LazyLock::new(|| {
    let mut tree = Tree::new();
    for i in 0u64..400 {
        let mut id = [0u8; 32];
        id[0] = (i % 7) as u8;
        id[1] = (i * 37 % 251) as u8;
        id[31] = i as u8;
        tree.insert(Item::new(
            1_700_000_000_000 + i * 1_000 * (i % 3 + 1),
            DocId(id),
        ));
    }
    tree
});

fuzz_target!(|data: &[u8]| {
    let config = ReconcileConfig {
        max_message_bytes: 4096,
        initial_buckets: 4,
        buckets: 4,
        id_list_threshold: 4,
    };
    if let Ok(again) = canonical_form(data, config.max_message_bytes) {
        assert_eq!(again, data, "decoding accepts only canonical messages");
    }
    let mut responder = Reconciler::new(config);
    if let Ok(step) = responder.respond(&TREE, data) {
        if let Some(reply) = step.reply {
            assert!(reply.len() <= config.max_message_bytes);
        }
    }
    let mut initiator = Reconciler::new(config);
    initiator.initiate(&TREE);
    if let Ok(step) = initiator.respond(&TREE, data) {
        if let Some(reply) = step.reply {
            assert!(reply.len() <= config.max_message_bytes);
        }
    }
});
