//! Rendering pages: the terminal layout, the HTML and its sanitizing, and
//! both renderers against any input.

use chapar_proto::wiki::links::{self, Link};
use chapar_wiki::render::{LinkState, safe_url, to_html, to_terminal};
use proptest::prelude::*;

/// Pages whose title mentions "missing" do not exist; others live under
/// `/wiki/`.
fn resolve(l: &Link) -> LinkState {
    if l.target.to_lowercase().contains("missing") {
        LinkState::Missing { href: None }
    } else {
        let mut href = format!("/wiki/{}", l.target.replace(' ', "_"));
        if let Some(s) = &l.section {
            href.push('#');
            href.push_str(&links::anchor(s));
        }
        LinkState::Exists { href }
    }
}

fn plain(md: &str, width: usize) -> String {
    to_terminal(md, &resolve, width, false)
}

fn html(md: &str) -> String {
    to_html(md, &resolve)
}

// ---------------------------------------------------------------------------
// The terminal.

#[test]
fn terminal_headings_are_numbered_and_underlined() {
    let out = plain(
        "# Visa policy\n\ntext\n\n## Fees\n\n### Students\n\n## Ташкент\n",
        60,
    );
    assert_eq!(
        out,
        "1 Visa policy\n═════════════\n\ntext\n\n1.1 Fees\n────────\n\n1.1.1 Students\n\n1.2 Ташкент\n───────────\n"
    );
    // Numbering starts at the page's highest level.
    assert_eq!(
        plain("## A\n\n### B\n\n## C", 60),
        "1 A\n───\n\n1.1 B\n\n2 C\n───\n"
    );
    let color = to_terminal("# A *b*", &resolve, 60, true);
    assert!(
        color.starts_with("\x1b[1m1 A \x1b[0m\x1b[1;3mb\x1b[0m\n"),
        "{color:?}"
    );
}

#[test]
fn terminal_emphasis_plain_and_in_colour() {
    let md = "a *it* **bold** `co de` ***both***";
    assert_eq!(plain(md, 80), "a *it* **bold** `co de` ***both***\n");
    let color = to_terminal(md, &resolve, 80, true);
    assert!(color.contains("\x1b[3mit\x1b[0m"), "{color:?}");
    assert!(color.contains("\x1b[1mbold\x1b[0m"), "{color:?}");
    assert!(color.contains("\x1b[36mco de\x1b[0m"), "{color:?}");
    assert!(!color.contains('*') && !color.contains('`'), "{color:?}");
}

#[test]
fn terminal_lists_quotes_code() {
    let md = "Intro:\n\n- one\n- two\n  - nested\n    1. deep\n- three\n\n3. third\n4. fourth\n\n> quoted\n>\n> again\n\n```\nlet x = [[x]];\n\tif a {\n```\n\nafter\n";
    assert_eq!(
        plain(md, 60),
        "Intro:\n\n• one\n• two\n  ◦ nested\n    1. deep\n• three\n\n3. third\n4. fourth\n\n│ quoted\n│\n│ again\n\n    let x = [[x]];\n        if a {\n\nafter\n"
    );
    // Loose lists keep a blank line between items; wrapped lines indent.
    let md = "- first item that wraps\n\n- second\n";
    assert_eq!(plain(md, 14), "• first item\n  that wraps\n\n• second\n");
}

#[test]
fn terminal_code_is_not_wrapped() {
    let long = "x".repeat(100);
    let out = plain(&format!("```\n{long} {long}\n```"), 20);
    assert_eq!(out, format!("    {long} {long}\n"));
}

#[test]
fn terminal_wraps_at_word_boundaries() {
    let md = "Oʻzbekiston Respublikasi Tashqi ishlar vazirligi. Министерство иностранных дел Республики Узбекистан.";
    let out = plain(md, 24);
    for line in out.lines() {
        assert!(line.chars().count() <= 24, "{line:?}");
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words, md.split_whitespace().collect::<Vec<_>>());
    // A word longer than the width stands alone, unbroken.
    assert_eq!(plain("a bbbbbbbbbb c", 5), "a\nbbbbbbbbbb\nc\n");
    // Hard breaks end lines; width 0 does not wrap.
    assert_eq!(plain("a  \nb\\\nc", 80), "a\nb\nc\n");
    assert_eq!(plain(&"w ".repeat(100), 0).lines().count(), 1);
}

#[test]
fn terminal_tables_align_columns() {
    let md = "| Mamlakat | Poytaxt | Aholi |\n|:--|:-:|--:|\n| Oʻzbekiston | Тошкент | 36 |\n| [[Kazakhstan|KZ]] | Astana | 20 |\n| [[Missing land]] | | 1 |\n";
    assert_eq!(
        plain(md, 80),
        "Mamlakat               │ Poytaxt │ Aholi\n\
         ───────────────────────┼─────────┼──────\n\
         Oʻzbekiston            │ Тошкент │    36\n\
         KZ                     │ Astana  │    20\n\
         Missing land [missing] │         │     1\n"
    );
}

#[test]
fn terminal_links() {
    let md = "See [the site](https://mfa.uz), <https://gov.uz>, [[Visa rules|the rules]], [[Missing page]], [[#Fees]] and ![logo](logo.png).";
    assert_eq!(
        plain(md, 200),
        "See the site <https://mfa.uz>, https://gov.uz, the rules, Missing page [missing], #Fees and [image: logo] <logo.png>.\n"
    );
    let color = to_terminal("[[Missing page]] [[Here]]", &resolve, 80, true);
    assert_eq!(color, "\x1b[31mMissing page\x1b[0m \x1b[4;34mHere\x1b[0m\n");
}

#[test]
fn terminal_categories_and_redirect() {
    let md = "#REDIRECT [[Visa policy#Fees]]\n\nOld text.\n[[Category:Visas]] [[Category:Missing cat]]\n[[Category:visas|x]]\n";
    assert_eq!(
        plain(md, 80),
        "→ redirect to Visa policy#Fees\n\nOld text.\n\nCategories: Visas, Missing cat [missing]\n"
    );
    assert_eq!(
        plain("#redirect [[Missing]]", 80),
        "→ redirect to Missing [missing]\n"
    );
    // A line of categories does not split the paragraph around it.
    assert_eq!(
        plain("one\n[[Category:A]]\ntwo [[Category:B]]", 80),
        "one two\n\nCategories: A, B\n"
    );
}

#[test]
fn terminal_output_is_inert_and_tidy() {
    let md = "a\x1b[31m red \x1b]0;title\x07 \u{9b}2J\n\n```\n\x1b[2J\n```\n| a\x1b |\n|--|\n| b |";
    for color in [false, true] {
        let out = to_terminal(md, &resolve, 40, color);
        for (k, c) in out.char_indices() {
            if c == '\x1b' {
                assert!(color, "{out:?}");
                let rest = &out[k + 1..];
                let end = rest.find('m').unwrap_or_else(|| panic!("{out:?}"));
                assert!(
                    rest[..end].starts_with('[')
                        && rest[1..end].chars().all(|c| c.is_ascii_digit() || c == ';'),
                    "{out:?}"
                );
            } else {
                assert!(!c.is_control() || c == '\n', "{out:?}");
            }
        }
        for line in out.lines() {
            assert_eq!(line.trim_end_matches(' '), line, "{out:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// HTML.

#[test]
fn html_wiki_links() {
    let out = html(
        "[[Visa rules|the <rules>]] [[Missing page]] [[Visa rules#Entry fees]] [[#Fees]] [[:Category:Visas]]",
    );
    assert!(out.contains(r#"<a class="wikilink" href="/wiki/Visa_rules" title="Visa rules">the &lt;rules&gt;</a>"#), "{out}");
    assert!(
        out.contains(r#"<span class="wikilink missing" title="Missing page">Missing page</span>"#),
        "{out}"
    );
    assert!(
        out.contains(r#"href="/wiki/Visa_rules#entry-fees""#),
        "{out}"
    );
    assert!(
        out.contains(r##"<a class="wikilink" href="#fees" title="#Fees">#Fees</a>"##),
        "{out}"
    );
    assert!(out.contains(r#"href="/wiki/Category:Visas""#), "{out}");
    assert!(!out.contains("categories"), "{out}");

    let create = |_: &Link| LinkState::Missing {
        href: Some("/edit?title=A&b='c'".into()),
    };
    let out = to_html("[[A]]", &create);
    assert!(
        out.contains(
            r#"<a class="wikilink missing" href="/edit?title=A&amp;b=&#39;c&#39;" title="A">A</a>"#
        ),
        "{out}"
    );
    // A resolver's unsafe href is not followed.
    let evil = |_: &Link| LinkState::Exists {
        href: "javascript:alert(1)".into(),
    };
    let out = to_html("[[A]]", &evil);
    assert!(!out.contains("href"), "{out}");
}

#[test]
fn html_headings_get_stable_ids() {
    let out = html(
        "# Visa rules\n## Fees\n## Fees\n## Fees-1\n## Виза қоидалари\n## [[Page|Linked]] `code`\n## ?!",
    );
    for id in [
        "visa-rules",
        "fees",
        "fees-1",
        "fees-1-1",
        "виза-қоидалари",
        "linked-code",
        "section",
    ] {
        assert!(out.contains(&format!(" id=\"{id}\">")), "{id}: {out}");
    }
}

#[test]
fn html_raw_html_is_text() {
    let out = html(
        "<script>alert(1)</script>\n\nx <img src=x onerror=alert(1)> y <a href=\"javascript:x\">z</a>\n\n<div onclick=\"x()\">\n[[A]]\n</div>",
    );
    assert!(
        !out.contains("<script") && !out.contains("<img") && !out.contains("<div"),
        "{out}"
    );
    assert!(
        out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{out}"
    );
    assert!(out.contains("&lt;img src=x onerror=alert(1)&gt;"), "{out}");
    assert!(
        out.contains(r#"<a class="wikilink" href="/wiki/A""#),
        "{out}"
    );
}

#[test]
fn html_unsafe_urls_are_dropped() {
    for md in [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java&#9;script:alert(1))",
        "[x](&#x20;javascript:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x](<javascript:alert(1)>)",
        "<javascript:alert(1)>",
        "[x](vbscript:msgbox)",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![x](data:image/svg+xml,<svg onload=alert(1)>)",
        "![x](javascript:alert(1))",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "[x](file:///etc/passwd)",
    ] {
        let out = html(md);
        assert!(
            !out.contains("href") && !out.contains("src="),
            "{md}: {out}"
        );
        assert!(out.contains('x') || md.starts_with('<'), "{md}: {out}");
    }
    for md in [
        "[x](https://mfa.uz)",
        "[x](HTTP://mfa.uz)",
        "[x](mailto:a@mfa.uz)",
        "<a@mfa.uz>",
        "[x](/wiki/Page)",
        "[x](Page#Fees)",
        "[x](#fees)",
        "[x](?q=1)",
    ] {
        assert!(html(md).contains("<a href=\""), "{md}: {}", html(md));
    }
    assert!(safe_url("  https://x") && safe_url("a/b:c") && safe_url(""));
    assert!(!safe_url("\u{1}javascript:x") && !safe_url("java\nscript:x") && !safe_url("Help:x"));
}

#[test]
fn html_images_are_links() {
    let out = html("![the logo](/img/logo.png \"Logo\") ![](/img/x.png)");
    assert!(
        out.contains(r#"<a class="image" href="/img/logo.png" title="Logo">the logo</a>"#),
        "{out}"
    );
    assert!(
        out.contains(r#"<a class="image" href="/img/x.png">image</a>"#),
        "{out}"
    );
    assert!(!out.contains("<img"), "{out}");
    // An image inside a link is its text; a wiki link inside a link is its label.
    let out = html("[![alt](/i.png) [[Page|p]]](https://x.uz)");
    assert_eq!(out, "<p><a href=\"https://x.uz\">alt p</a></p>\n");
}

#[test]
fn html_attributes_are_escaped() {
    let out = html("[x](https://x.uz/\"onmouseover=alert(1) \"t\\\" onclick=y\")");
    assert!(
        !out.contains("\" onclick") && !out.contains(" onmouseover"),
        "{out}"
    );
    let out = html("```js\" onload=\"x\n1\n```");
    assert!(out.contains("class=\"language-js&quot;\""), "{out}");
}

#[test]
fn html_code_keeps_wiki_markup() {
    let out = html("`[[A]]`\n\n```\n[[B|c]]\n```\n\n    [[C]]\n");
    assert!(out.contains("<code>[[A]]</code>"), "{out}");
    assert!(out.contains("<pre><code>[[B|c]]\n</code></pre>"), "{out}");
    assert!(out.contains("<pre><code>[[C]]\n</code></pre>"), "{out}");
    assert!(!out.contains("wikilink"), "{out}");
}

#[test]
fn html_table_cells_keep_piped_links() {
    let out = html("| a | b |\n|---|---|\n| [[Page|label]] | c |\n");
    assert!(
        out.contains(
            r#"<td><a class="wikilink" href="/wiki/Page" title="Page">label</a></td><td>c</td>"#
        ),
        "{out}"
    );
}

#[test]
fn html_categories_and_redirect() {
    let out = html("#REDIRECT [[Visa policy]]\n[[Category:Visas|v]]\n[[Category:Missing things]]");
    assert_eq!(
        out,
        "<p class=\"redirect\">→ redirect to <a class=\"wikilink\" href=\"/wiki/Visa_policy\" title=\"Visa policy\">Visa policy</a></p>\n\
         <nav class=\"categories\"><span>Categories:</span><ul>\
         <li><a class=\"wikilink\" href=\"/wiki/Category:Visas\" title=\"Category:Visas\">Visas</a></li>\
         <li><span class=\"wikilink missing\" title=\"Category:Missing things\">Missing things</span></li>\
         </ul></nav>\n"
    );
}

#[test]
fn token_characters_in_the_page_are_kept() {
    let md = "a \u{FDD0}0\u{FDD1} [[B]] &#xFDD0;1&#xFDD1; `\u{FDD0}`";
    let out = html(md);
    assert!(out.contains("a \u{FDD0}0\u{FDD1} "), "{out}");
    assert!(out.contains("<code>\u{FDD0}</code>"), "{out}");
    let out = plain(md, 80);
    assert!(out.starts_with("a \u{FDD0}0\u{FDD1} B "), "{out}");
}

/// The HTML shows a wiki link wherever the index counts one, in documents
/// built from the block forms the link parser follows.
#[test]
fn html_and_index_agree_on_links() {
    let docs = [
        "[[A]] `[[B]]` [[C]]",
        "```\n[[A]]\n```\n[[B]]",
        "~~~~\n[[A]]\n~~~\n~~~~\n[[B]]",
        "> ```\n> [[A]]\n> ```\n> [[B]]",
        "> ```\n> [[A]]\n\n[[B]]",
        "- ```\n  [[A]]\n  ```\n- [[B]]",
        "- item\n\n      [[A]]\n\n[[B]]",
        "- item\n\n    [[A]]",
        "text\n    [[A]]\n\n    [[B]]",
        "1. a\n\n   ```\n   [[A]]\n   ```\n2. [[B]]",
        "# [[A]]\n[[B]]\n===",
        "``a [[A]] ` b`` [[B]] \\`[[C]]`",
        "<https://x/[[A]]> [[B]]",
        "| [[A|a]] | `[[B]]` |\n|--|--|\n| [[C]] | d |",
        "| `[[A|a]]` | b |\n|--|--|\n| ` [[B|b]] `[[C]]` |",
        "<ab:b\\<cd:[[A]]> <ab:b<cd:[[B]]>",
        "> ` [[A]]\n` [[B]]",
        "- a\n# b\n\n    [[A]]\n\n[[B]]",
        "> - a\n\n    [[A]]\n\n[[B]]",
        "a\n---\n    [[A]]\n\n[[B]]",
        "a\n2) b\n\n    [[A]]",
        "-\titem\n\n    [[A]]",
        "1. a\n\n    > ```\n    > [[A]]\n    > ```\n    > [[B]]",
        "  ```\n    ```\n[[A]]",
        "text\n```\n```\n    [[A]]",
        "x\n| `a | [[B]]` |\n|--|--|\n| [[C|c]] | d |",
    ];
    for doc in docs {
        let counted = links::parse(doc).links.len();
        let shown = html(doc).matches("class=\"wikilink").count();
        assert_eq!(counted, shown, "{doc:?}: {}", html(doc));
    }
}

#[test]
fn large_pages_render() {
    // Each hostile pattern at 512 KiB, then a 4 MiB page of all of them.
    let units = [
        "[[", "[[a|b]] ", "`[[", "> ", "- ", "| a ", "*a ", "<a>", "[x](y) ", "# h\n",
    ];
    for unit in units {
        let body = unit.repeat((512 << 10) / unit.len());
        assert!(!to_html(&body, &resolve).is_empty());
        let _ = to_terminal(&body, &resolve, 80, true);
    }
    let mut body = String::new();
    while body.len() < 4 << 20 {
        for unit in units {
            body.push_str(&unit.repeat(97));
            body.push('\n');
        }
    }
    assert!(!to_html(&body, &resolve).is_empty());
    assert!(!to_terminal(&body, &resolve, 80, false).is_empty());
}

// ---------------------------------------------------------------------------
// Any input.

/// Markdown-ish text heavy in what could go wrong.
fn markdownish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[[".to_owned()),
        Just("]]".to_owned()),
        Just("|".to_owned()),
        Just("`".to_owned()),
        Just("```".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("# ".to_owned()),
        Just("- ".to_owned()),
        Just("1. ".to_owned()),
        Just("> ".to_owned()),
        Just("    ".to_owned()),
        Just("|--|".to_owned()),
        Just("*".to_owned()),
        Just("_".to_owned()),
        Just("\\".to_owned()),
        Just("&".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("!".to_owned()),
        Just(":".to_owned()),
        Just("#".to_owned()),
        Just("javascript:".to_owned()),
        Just("JavaScript&#58;".to_owned()),
        Just("data:".to_owned()),
        Just("vbscript:".to_owned()),
        Just("<script>".to_owned()),
        Just("<img src=x onerror=alert(1)>".to_owned()),
        Just(" onclick=".to_owned()),
        Just("[x](".to_owned()),
        Just("![x](".to_owned()),
        Just("<a href=".to_owned()),
        Just("Category:".to_owned()),
        Just("#REDIRECT ".to_owned()),
        Just("\u{FDD0}".to_owned()),
        Just("\u{FDD1}".to_owned()),
        Just("\x1b[".to_owned()),
        "[a-zа-яʻ0-9 ]{1,8}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|v| v.concat())
}

/// A line of prose with wiki links and code spans.
fn prose() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zа-я]{1,6}",
        Just("[[Page]]".to_owned()),
        Just("[[Other|label]]".to_owned()),
        Just("`[[Code]]`".to_owned()),
        Just("``a ` [[Code]]``".to_owned()),
        Just("`".to_owned()),
        Just("\\[[Escaped]]".to_owned()),
    ];
    prop::collection::vec(piece, 1..6).prop_map(|v| v.join(" "))
}

/// A Markdown block of a form the link parser follows, with its line end.
fn block() -> impl Strategy<Value = String> {
    prop_oneof![
        prose().prop_map(|p| format!("{p}\n")),
        prose().prop_map(|p| format!("\n{p}\n")),
        prose().prop_map(|p| format!("# {p}\n")),
        prose().prop_map(|p| format!("- {p}\n")),
        prose().prop_map(|p| format!("  - {p}\n")),
        prose().prop_map(|p| format!("1. {p}\n")),
        prose().prop_map(|p| format!("> {p}\n")),
        prose().prop_map(|p| format!("\n```\n{p}\n```\n")),
        prose().prop_map(|p| format!("\n~~~~\n{p}\n```\n~~~~\n")),
        prose().prop_map(|p| format!("\n    {p}\n")),
        prose().prop_map(|p| format!("\n> ```\n> {p}\n> ```\n")),
        prose().prop_map(|p| format!("\n- ```\n  {p}\n  ```\n")),
        prose().prop_map(|p| format!("\n1. a\n\n   ```\n   {p}\n   ```\n")),
        prose().prop_map(|p| format!("> - {p}\n")),
        prose().prop_map(|p| format!(">> {p}\n")),
        prose().prop_map(|p| format!("\n  ```\n{p}\n  ```\n")),
        prose().prop_map(|p| format!("\n- a\n\n      {p}\n")),
        prose().prop_map(|p| format!("\n- a\n\n    {p}\n")),
        prose().prop_map(|p| format!("\n```\n{p}\n")),
        prose().prop_map(|p| format!("    {p}\n")),
        prose().prop_map(|p| format!("> > ```\n> > {p}\n> ```\n")),
        prose().prop_map(|p| format!("{p}\n---\n")),
        prose().prop_map(|p| format!("| {p} | b |\n|--|--|\n| {p} | c |\n")),
        prose().prop_map(|p| format!("\t{p}\n")),
        prose().prop_map(|p| format!("-\t{p}\n")),
        prose().prop_map(|p| format!("2) {p}\n")),
        prose().prop_map(|p| format!("   - {p}\n")),
        Just("\n".to_owned()),
    ]
}

/// Decodes the entities our HTML writes in attribute values.
fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Checks every tag in `out`: known elements, known attributes, safe URLs.
fn check_html(out: &str) -> Result<(), String> {
    const TAGS: &[&str] = &[
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "em",
        "strong",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "span",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "hr",
        "br",
        "nav",
    ];
    let mut rest = out;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        let tag = tag.trim_start_matches('/').trim_end_matches('/').trim_end();
        let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        if !TAGS.contains(&name) {
            return Err(format!("tag {name:?}"));
        }
        while !attrs.is_empty() {
            let eq = attrs.find("=\"").ok_or(format!("attribute in {tag:?}"))?;
            let attr = attrs[..eq].trim();
            let after = &attrs[eq + 2..];
            let close = after.find('"').ok_or(format!("attribute in {tag:?}"))?;
            let value = unescape(&after[..close]);
            attrs = after[close + 1..].trim_start();
            match attr {
                "href" => {
                    if !safe_url(&value) {
                        return Err(format!("href {value:?}"));
                    }
                }
                "class" | "title" | "id" | "start" => {}
                "style" if value.starts_with("text-align: ") => {}
                _ => return Err(format!("attribute {attr:?} in {tag:?}")),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn html_is_sanitized(md in markdownish()) {
        let out = to_html(&md, &resolve);
        prop_assert!(!out.to_lowercase().contains("<script"), "{}", out);
        if let Err(e) = check_html(&out) {
            prop_assert!(false, "{}: {:?} -> {}", e, md, out);
        }
        prop_assert_eq!(to_html(&md, &resolve), out);
    }

    #[test]
    fn terminal_is_total_and_tidy(md in markdownish(), width in 0usize..100, color: bool) {
        let out = to_terminal(&md, &resolve, width, color);
        for line in out.lines() {
            prop_assert_eq!(line.trim_end_matches(' '), line);
        }
        if !color {
            prop_assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{:?}", out);
        }
        prop_assert_eq!(to_terminal(&md, &resolve, width, color), out);
    }

    #[test]
    fn html_and_index_agree_on_generated_pages(blocks in prop::collection::vec(block(), 1..12)) {
        let doc = blocks.concat();
        let counted = links::parse(&doc).links.len();
        let out = to_html(&doc, &resolve);
        prop_assert_eq!(counted, out.matches("class=\"wikilink").count(), "{:?}\n{}", doc, out);
    }

    #[test]
    fn prose_wraps_within_width(
        words in prop::collection::vec("[a-zA-Zа-яА-ЯўқғҳʻЎ]{1,10}", 1..60),
        width in 10usize..80,
    ) {
        let md = words.join(" ");
        let out = to_terminal(&md, &resolve, width, false);
        for line in out.lines() {
            prop_assert!(line.chars().count() <= width, "{:?}", line);
        }
        prop_assert_eq!(out.split_whitespace().collect::<Vec<_>>(), words.iter().map(String::as_str).collect::<Vec<_>>());
    }
}
