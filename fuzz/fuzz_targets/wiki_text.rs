//! A page's text as every wiki reader of it takes it: the link parser
//! (with its targets and a rewrite), the renderers (terminal and
//! sanitized HTML), and wikitext conversion. A page is written by any
//! editor and replicated everywhere.
#![no_main]

use chapar_proto::wiki::links;
use chapar_wiki::render::{LinkState, to_html, to_terminal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let markup = links::parse(&text);
    for l in &markup.links {
        assert!(text.get(l.span.clone()).is_some(), "link span inside the text");
    }
    let _ = markup.targets();
    let _ = links::replace_links(&text, |l| Some(l.markup()));
    let resolve = |l: &links::Link| {
        if l.target.len() % 2 == 0 {
            LinkState::Exists {
                href: format!("/wiki/{}", l.target),
            }
        } else {
            LinkState::Missing { href: None }
        }
    };
    let html = to_html(&text, &resolve);
    assert!(!html.contains("<script"), "raw HTML never passes");
    let _ = to_terminal(&text, &resolve, 80, true);
    let _ = chapar_wiki::wikitext::to_markdown(&text);
    let _ = chapar_wiki::wikitext::redirect_target(&text);
});
