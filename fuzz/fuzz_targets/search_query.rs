//! The query language a person types into `chapar search`: `parse` never
//! panics, respects its limits, and prints a tree that parses back to
//! itself. The analyzer that folds the query's words (and every indexed
//! document's text) takes the same text.
#![no_main]

use chapar_search::analysis::analyze;
use chapar_search::query::{MAX_NESTING, MAX_TERMS, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let words = analyze(&text);
    assert!(words.windows(2).all(|w| w[0].position <= w[1].position));
    let Ok(query) = parse(&text) else {
        return;
    };
    assert!(query.depth() <= MAX_NESTING);
    assert!(query.term_count() <= MAX_TERMS);
    assert_eq!(parse(&query.to_string()).as_ref(), Ok(&query), "{query}");
    assert_eq!(
        parse(&format!("{query:#}")).as_ref(),
        Ok(&query),
        "{query:#}"
    );
});
