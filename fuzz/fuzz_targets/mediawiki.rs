//! A MediaWiki XML export as `chapar wiki import` reads it: any bytes,
//! truncated or hostile, end in pages or errors, never a panic, within
//! the reader's limits.
#![no_main]

use chapar_wiki::mediawiki::{DumpReader, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_title: 256,
        max_text: 1 << 16,
        max_field: 4096,
        max_page_bytes: 1 << 20,
    };
    let Ok(mut reader) = DumpReader::with_limits(data, limits) else {
        return;
    };
    let mut last = 0;
    while let Some(item) = reader.next() {
        let _ = item;
        let at = DumpReader::position(&reader);
        assert!(at >= last && at <= data.len() as u64, "progress only grows");
        last = at;
    }
});
