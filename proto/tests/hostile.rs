//! Hostile inputs that once crashed a node: each must give a typed error,
//! never a panic, an abort or a stack overflow.

mod support;

use chapar_proto::{DecodeError, Document};
use support::nested_releases;

/// Runs `f` on a thread with a small stack: decoding must not need one
/// that grows with the input.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the decoder must not panic or overflow its stack")
}

#[test]
fn a_release_inside_a_release_is_refused_without_recursing() {
    // 1,100 levels (121 KB) killed a node through RPC `submit`; 32,000
    // levels killed `chapar submit`.
    for levels in [2, 1_100, 32_000] {
        let bytes = nested_releases(levels);
        let err = on_small_stack(move || Document::decode(&bytes)).expect_err("refused");
        match &err {
            DecodeError::Invalid { field, reason } => {
                assert_eq!(*field, "released draft", "{err}");
                assert!(reason.contains("CABLE RELEASE"), "{err}");
            }
            other => panic!("{levels} levels: unexpected error {other}"),
        }
    }
}

#[test]
fn a_release_of_garbage_is_refused() {
    let bytes = nested_releases(1);
    let err = Document::decode(&bytes).expect_err("refused");
    assert_eq!(err, DecodeError::BadMagic, "{err}");
}
