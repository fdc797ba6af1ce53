//! The three-way merge and the diffs every node runs on page texts that
//! any editor wrote: the input is split into base, ours and theirs.
#![no_main]

use chapar_proto::wiki::{diff, merge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\u{1}');
    let (base, ours, theirs) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let m = merge::merge3(base, ours, theirs, "ours", "theirs");
    let again = merge::merge3(base, ours, theirs, "ours", "theirs");
    assert_eq!(m, again, "deterministic");
    let _ = merge::merge_many(base, &[("a", ours), ("b", theirs), ("c", base)]);
    let _ = diff::hunks(ours, theirs, 3);
    let _ = diff::words(ours, theirs);
});
