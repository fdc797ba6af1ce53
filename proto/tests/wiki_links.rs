//! The wiki link parser against any input: total, spans that mean what
//! they say, normalized titles, a rewrite that round-trips, and a 4 MiB
//! body of brackets that finishes.

use chapar_proto::wiki::MAX_TITLE;
use chapar_proto::wiki::links::{Link, anchor, parse, replace_links};
use proptest::prelude::*;

/// Markdown-ish text dense in the characters the parser cares about.
fn markupish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[".to_owned()),
        Just("]]".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("|".to_owned()),
        Just("#".to_owned()),
        Just(":".to_owned()),
        Just("`".to_owned()),
        Just("```".to_owned()),
        Just("~~~".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("    ".to_owned()),
        Just("> ".to_owned()),
        Just("- ".to_owned()),
        Just("\\".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("_".to_owned()),
        Just("Category:".to_owned()),
        Just("#REDIRECT ".to_owned()),
        Just("\r\n".to_owned()),
        "[a-zA-Zа-яёўқғҳʻ ]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn check_title(t: &str) {
    assert!(t.len() <= MAX_TITLE);
    assert_eq!(t.trim(), t);
    assert!(!t.contains("  ") && !t.contains('_'), "{t:?}");
    assert!(
        !t.chars()
            .any(|c| c.is_control() || (c.is_whitespace() && c != ' ') || "[]{}|<>#".contains(c)),
        "{t:?}"
    );
}

fn check_link(body: &str, l: &Link) {
    let text = body.get(l.span.clone()).unwrap_or_else(|| panic!("{l:?}"));
    assert!(text.starts_with("[[") && text.ends_with("]]"), "{text:?}");
    assert!(!text.contains('\n'), "{text:?}");
    check_title(&l.target);
    if let Some(s) = &l.section {
        assert!(!s.is_empty());
        assert_eq!(s.trim(), s);
    }
    assert!(!l.target.is_empty() || l.section.is_some());
    if let Some(label) = &l.label {
        assert!(!label.is_empty());
        assert_eq!(label.trim(), label);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn total_and_well_formed(body in markupish()) {
        let m = parse(&body);
        let mut spans: Vec<_> = m.links.iter().map(|l| l.span.clone())
            .chain(m.category_tags.iter().map(|c| c.span.clone()))
            .chain(m.redirect.iter().map(|r| r.span.clone()))
            .collect();
        for l in m.links.iter().chain(m.redirect.iter()) {
            check_link(&body, l);
        }
        for c in &m.category_tags {
            check_title(&c.name);
            prop_assert!(!c.name.is_empty());
            prop_assert!(m.categories.contains(&c.name)
                || m.categories.iter().any(|n| n.to_lowercase() == c.name.to_lowercase()));
        }
        // In text order, never overlapping.
        prop_assert!(m.links.windows(2).all(|w| w[0].span.end <= w[1].span.start));
        spans.sort_by_key(|s| s.start);
        prop_assert!(spans.windows(2).all(|w| w[0].end <= w[1].start), "{spans:?}");
        let mut lower: Vec<String> = m.categories.iter().map(|c| c.to_lowercase()).collect();
        lower.sort();
        lower.dedup();
        prop_assert_eq!(lower.len(), m.categories.len());
        prop_assert!(!anchor(&body).is_empty());
    }

    #[test]
    fn rewriting_round_trips(body in markupish()) {
        // Trimming a label can turn `<a:[[x| y]]>` into an autolink, which
        // hides the link: leave autolinks out.
        let body = body.replace('<', "(");
        prop_assert_eq!(replace_links(&body, |_| None), body.clone());
        // Writing every link back in canonical form keeps what it means.
        let before = parse(&body);
        let rewritten = replace_links(&body, |l| Some(l.markup()));
        let after = parse(&rewritten);
        let strip = |ls: &[Link]| -> Vec<(String, Option<String>, Option<String>)> {
            ls.iter().map(|l| (l.target.clone(), l.section.clone(), l.label.clone())).collect()
        };
        // The rewrite can only change text inside `[[…]]`, so code and
        // categories stay; compare the links.
        prop_assert_eq!(strip(&before.links), strip(&after.links));
        prop_assert_eq!(before.categories, after.categories);
        prop_assert_eq!(
            before.redirect.map(|r| (r.target, r.section)),
            after.redirect.map(|r| (r.target, r.section))
        );
    }

    #[test]
    fn a_link_in_prose_is_found(
        title in "[A-Za-zА-Яа-яЎўҚқ][A-Za-zА-Яа-яЎўҚқʻ _]{0,20}",
        label in proptest::option::of("[a-zа-я ]{1,10}"),
        before in "([a-z][a-z ,.]{0,9})?",
        after in "[a-z ,.]{0,10}",
    ) {
        let link = match &label {
            Some(l) => format!("[[{title}|{l}]]"),
            None => format!("[[{title}]]"),
        };
        let body = format!("{before}{link}{after}");
        let m = parse(&body);
        prop_assert_eq!(m.links.len(), 1);
        let want: Vec<&str> = title.split([' ', '_'])
            .filter(|w| !w.is_empty()).collect();
        prop_assert_eq!(&m.links[0].target, &want.join(" "));
        prop_assert_eq!(m.links[0].label.clone(), label.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
        prop_assert_eq!(m.links[0].span.clone(), before.len()..before.len() + link.len());
        // The same link in code is not one.
        for code in [
            format!("{before}`{link}`{after}"),
            format!("{before}\n```\n{link}\n```\n"),
            format!("~~~\n{before}{link}{after}\n~~~"),
            format!("{before}\n\n    {link}\n"),
        ] {
            prop_assert!(parse(&code).links.is_empty(), "{:?}", code);
        }
    }
}

#[test]
fn four_mib_of_brackets_finishes() {
    let n = 4 << 20;
    for unit in [
        "[", "[[", "[[a", "]]", "[[a|", "`", "[[`", "<a:", "\\[[", "[]", "[[a\n",
    ] {
        let body: String = unit.repeat(n / unit.len());
        let m = parse(&body);
        assert!(m.links.len() <= n, "{unit}");
    }
    let body = "[[a]]".repeat((4 << 20) / 5);
    assert_eq!(parse(&body).links.len(), (4 << 20) / 5);
    // Backtick runs of every length, none closed: the worst case for code
    // spans.
    let mut body = String::new();
    let mut k = 1;
    while body.len() < 4 << 20 {
        body.push_str(&"`".repeat(k));
        body.push_str("[[x]]");
        k += 1;
    }
    assert!(!parse(&body).links.is_empty());
}
