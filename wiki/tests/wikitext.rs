//! Wikitext to Markdown for import, and redirects: what is converted, what
//! is kept verbatim, what is escaped; the corpus pages; and properties
//! (total, deterministic, linear, nothing lost, plain text exact).

use std::path::Path;
use std::time::{Duration, Instant};

use chapar_wiki::mediawiki::DumpReader;
use chapar_wiki::wikitext::{redirect_target, to_markdown};
use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn md(wikitext: &str) -> String {
    to_markdown(wikitext)
}

// ---------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------

#[test]
fn redirects_are_read_as_mediawiki_reads_them() {
    let cases = [
        ("#REDIRECT [[Tashkent]]", Some("Tashkent")),
        ("#redirect [[Tashkent]]", Some("Tashkent")),
        ("#ReDiReCt:[[Tashkent]]", Some("Tashkent")),
        ("  \n#REDIRECT : \n [[Tashkent]] and text", Some("Tashkent")),
        ("#REDIRECT[[Tashkent|label]]", Some("Tashkent")),
        ("#REDIRECT [[ New_York   City ]]", Some("New York City")),
        ("#REDIRECT [[Tashkent#Tarix]]", Some("Tashkent#Tarix")),
        (
            "#REDIRECT [[Tashkent_city#Eski_shahar]]",
            Some("Tashkent city#Eski shahar"),
        ),
        ("#REDIRECT [[:Turkum:Shaharlar]]", Some("Turkum:Shaharlar")),
        ("#REDIRECT [[Caf%C3%A9]]", Some("Café")),
        ("#đổi [[Alexandre de Rhodes]]", Some("Alexandre de Rhodes")),
        ("#ĐỔI [[Hà Nội]]", Some("Hà Nội")),
        ("#Đổi [[Hà Nội]]", Some("Hà Nội")),
        ("#\u{110}O\u{302}\u{309}I [[Hà Nội]]", Some("Hà Nội")),
        ("#REDIRECT [[Москва]]\n[[Категория:Города]]", Some("Москва")),
        // Not redirects.
        ("#REDIRECTS [[X]]", None),
        ("#REDIRECT X", None),
        ("#REDIRECT [[]]", None),
        ("#REDIRECT [[ _ ]]", None),
        ("#REDIRECT [[#Section]]", None),
        ("#REDIRECT [[a{b]]", None),
        ("#REDIRECT [[a\nb]]", None),
        ("#REDIRECT [[unclosed", None),
        ("See #REDIRECT [[X]]", None),
        ("REDIRECT [[X]]", None),
        ("", None),
        ("#", None),
        ("#đ", None),
    ];
    for (text, want) in cases {
        assert_eq!(redirect_target(text).as_deref(), want, "{text:?}");
    }
}

#[test]
fn a_redirect_becomes_chapars_redirect_and_the_rest_is_converted() {
    assert_eq!(md("#REDIRECT [[Foo_bar]]"), "#REDIRECT [[Foo bar]]\n");
    assert_eq!(
        md("#đổi [[Hà Nội#Lịch sử]]\n\n[[Thể loại:Thủ đô]]"),
        "#REDIRECT [[Hà Nội#Lịch sử]]\n\n[[Thể loại:Thủ đô]]\n"
    );
}

// ---------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------

#[test]
fn headings_keep_their_levels() {
    assert_eq!(md("= One ="), "# One\n");
    assert_eq!(md("== Two =="), "## Two\n");
    assert_eq!(md("=== Three ===  "), "### Three\n");
    assert_eq!(md("====Four===="), "#### Four\n");
    assert_eq!(md("===== Five ====="), "##### Five\n");
    assert_eq!(md("====== Six ======"), "###### Six\n");
    // Seven is six with the extra `=` in the text, as MediaWiki does.
    assert_eq!(md("======= Seven ======="), "###### = Seven =\n");
    // Unbalanced: the shorter side wins.
    assert_eq!(md("=== Tarix =="), "## = Tarix\n");
    assert_eq!(md("== '''Bold''' [[Link]] =="), "## **Bold** [[Link]]\n");
    assert_eq!(md("== C# =="), "## C\\#\n");
    assert_eq!(md("== Not a heading"), "\\== Not a heading\n");
    assert_eq!(md("text\n== H ==\nmore"), "text\n\n## H\n\nmore\n");
}

#[test]
fn lists_nest_and_definitions_are_quoted() {
    assert_eq!(
        md("* a\n* b\n** b1\n*# b2\n* c"),
        "- a\n- b\n  - b1\n  1. b2\n- c\n"
    );
    assert_eq!(
        md("# one\n# two\n#* two a\n## two b"),
        "1. one\n1. two\n   - two a\n   1. two b\n"
    );
    assert_eq!(md(";Term : definition"), "> **Term**\\\n> definition\n");
    assert_eq!(
        md(";Term\n:Definition\n:Second"),
        "> **Term**\\\n> Definition\\\n> Second\n"
    );
    assert_eq!(md(":indented\n::more"), "> indented\n> > more\n");
    assert_eq!(md(";Time: 10:30"), "> **Time**\\\n> 10:30\n");
    assert_eq!(md(";[http://x.uz a:b]"), "> **[a:b](http://x.uz)**\n");
    assert_eq!(md("text\n* item\ntext"), "text\n\n- item\n\ntext\n");
    // What follows a list marker is escaped as a line start.
    assert_eq!(
        md("* 1. not ordered\n* # not a heading"),
        "- 1\\. not ordered\n- \\# not a heading\n"
    );
}

#[test]
fn simple_tables_become_pipe_tables() {
    let wt = "{| class=\"wikitable\"\n|+ Elchixonalar\n|-\n! Shahar !! Mamlakat\n|-\n| Toshkent || [[Oʻzbekiston|UZ]]\n|-\n| style=\"color:red\" | Moskva\n| Rossiya\n|-\n! Jami\n| 2\n|}";
    assert_eq!(
        md(wt),
        "Elchixonalar\n\n| Shahar | Mamlakat |\n| --- | --- |\n| Toshkent | [[Oʻzbekiston\\|UZ]] |\n| Moskva | Rossiya |\n| **Jami** | 2 |\n"
    );
    // Without a header row the header is empty; short rows are padded;
    // `|` in text and code is escaped.
    assert_eq!(
        md("{|\n| a || b<br>c\n|-\n| x\\y <code>p|q</code>\n|}"),
        "|  |  |\n| --- | --- |\n| a | b<br>c |\n| x\\\\y `p\\|q` |  |\n"
    );
}

#[test]
fn tables_that_are_not_simple_are_kept_as_wikitext() {
    let complex = [
        "{|\n| rowspan=\"2\" | a\n| b\n|}",
        "{|\n! colspan=2 | H\n|}",
        "{|\n| outer\n{|\n| inner\n|}\n|}",
        "{|\n| a cell\nover two lines\n|}",
        "{|\n| {{Template\n|x=1}}\n|}",
        ":{|\n| indented\n|}",
        "{|\n| never closed",
        "{|\n|}",
    ];
    for wt in complex {
        let out = md(wt);
        assert_eq!(out, format!("```wikitext\n{wt}\n```\n"), "{wt:?}");
    }
    // Around it, text goes on converted.
    assert_eq!(
        md("before\n{|\n| rowspan=2 | a\n|}\n'''after'''"),
        "before\n\n```wikitext\n{|\n| rowspan=2 | a\n|}\n```\n\n**after**\n"
    );
}

#[test]
fn code_and_preformatted_text_are_fenced() {
    assert_eq!(
        md("<pre>\nif a < b &amp;&amp; ''c'' {\n}\n</pre>"),
        "```\nif a < b && ''c'' {\n}\n```\n"
    );
    assert_eq!(
        md(" leading space\n  more [[not a link]]"),
        "```\nleading space\n more [[not a link]]\n```\n"
    );
    assert_eq!(
        md("<syntaxhighlight lang=\"rust\">\nfn main() {}\n</syntaxhighlight>"),
        "```rust\nfn main() {}\n```\n"
    );
    assert_eq!(
        md("<source lang=python>print(1)</source>"),
        "```python\nprint(1)\n```\n"
    );
    assert_eq!(
        md("Use <code>a &lt; b</code> or <tt>`x`</tt>."),
        "Use `a < b` or `` `x` ``.\n"
    );
    // A fence longer than any backtick run inside.
    assert_eq!(md("<pre>```</pre>"), "````\n```\n````\n");
    assert_eq!(md("<pre><nowiki>''x''</nowiki></pre>"), "```\n''x''\n```\n");
}

#[test]
fn templates_refs_and_tags_without_markdown_are_kept_verbatim() {
    assert_eq!(
        md("Born {{birth date|1950|1|2}} in [[Tashkent]]."),
        "Born `{{birth date|1950|1|2}}` in [[Tashkent]].\n"
    );
    assert_eq!(md("{{outer|{{inner|x}}|y}}"), "`{{outer|{{inner|x}}|y}}`\n");
    assert_eq!(md("{{{param|default}}}"), "`{{{param|default}}}`\n");
    assert_eq!(
        md("{{Infobox\n| name = X\n}}\nText"),
        "```wikitext\n{{Infobox\n| name = X\n}}\n```\n\nText\n"
    );
    assert_eq!(
        md("Fact.<ref name=\"a\">Source, p. 1</ref>"),
        "Fact.`<ref name=\"a\">Source, p. 1</ref>`\n"
    );
    assert_eq!(
        md("Again.<ref name=\"a\" />"),
        "Again.`<ref name=\"a\" />`\n"
    );
    assert_eq!(md("<math>x^2</math>"), "`<math>x^2</math>`\n");
    assert_eq!(
        md("[[File:Map.png|thumb|A [[map]] of X]]"),
        "`[[File:Map.png|thumb|A [[map]] of X]]`\n"
    );
    assert_eq!(
        md("[[Tập tin:Bản đồ.svg|300px]]"),
        "`[[Tập tin:Bản đồ.svg|300px]]`\n"
    );
    assert_eq!(md("[[Файл:Карта.png]]"), "`[[Файл:Карта.png]]`\n");
    // A link to the file page is a link.
    assert_eq!(md("[[:File:Map.png]]"), "[[:File:Map.png]]\n");
    // Unknown HTML stays, escaped, as written.
    assert_eq!(md("m<sup>2</sup>"), "m\\<sup>2\\</sup>\n");
    // Unclosed: literal.
    assert_eq!(md("{{unclosed"), "{{unclosed\n");
}

// ---------------------------------------------------------------------------
// Inline
// ---------------------------------------------------------------------------

#[test]
fn bold_and_italic_follow_mediawikis_rules() {
    assert_eq!(md("''i'' '''b''' '''''bi'''''"), "*i* **b** ***bi***\n");
    assert_eq!(md("'''b ''bi'' b'''"), "**b *bi* b**\n");
    // Unclosed at the end of the line: closed there.
    assert_eq!(md("''open\nnext"), "*open*\nnext\n");
    // Four: an apostrophe and bold.
    assert_eq!(md("''''x''''"), "'**x'**\n");
    // Odd bold and odd italic: the bold after a one-letter word is an
    // apostrophe and an italic.
    assert_eq!(md("l'''amour'' de ''Paris''"), "l'*amour* de *Paris*\n");
    // Spaces move out of the delimiters; empty emphasis disappears.
    assert_eq!(md("a''' b '''c"), "a **b** c\n");
    assert_eq!(md("x''''''"), "x'\n");
    // Where Markdown's rules cannot close, HTML does.
    assert_eq!(md("'''Tashkent''''s"), "<b>Tashkent'</b>s\n");
    // A span right after another closes would merge delimiter runs: HTML.
    assert_eq!(
        md("<b>bold</b> <i>it</i> <strong>s</strong><em>e</em>"),
        "**bold** *it* **s**<i>e</i>\n"
    );
    // Crossing: closed and reopened.
    assert_eq!(md("'''b''i'''i''"), "**b*i***<i>i</i>\n");
}

#[test]
fn links_stay_in_chapars_syntax() {
    assert_eq!(md("[[Tashkent]]"), "[[Tashkent]]\n");
    assert_eq!(
        md("[[New_York_City|the city]]"),
        "[[New York City|the city]]\n"
    );
    assert_eq!(
        md("[[Tashkent#Tarix|''history'']]"),
        "[[Tashkent#Tarix|*history*]]\n"
    );
    assert_eq!(md("[[#Section]]"), "[[#Section]]\n");
    assert_eq!(
        md("[[Category:Cities_of_Asia]]"),
        "[[Category:Cities of Asia]]\n"
    );
    assert_eq!(md("[[Category:X| ]]"), "[[Category:X]]\n");
    assert_eq!(md("[[Page|]]"), "[[Page]]\n");
    assert_eq!(md("[[Page]]s"), "[[Page]]s\n");
    assert_eq!(md("[[a{b]] [[x"), "\\[\\[a{b\\]\\] \\[\\[x\n");
    assert_eq!(md("[[[x]]]"), "\\[[[x]]\\]\n");
    assert_eq!(md("[[Page|a_b *c*]]"), "[[Page|a\\_b \\*c\\*]]\n");
}

#[test]
fn external_links_become_markdown_links() {
    assert_eq!(
        md("[http://mfa.uz Vazirlik]"),
        "[Vazirlik](http://mfa.uz)\n"
    );
    assert_eq!(
        md("[https://mfa.uz/a_(b) ''label'']"),
        "[*label*](<https://mfa.uz/a_(b)>)\n"
    );
    assert_eq!(md("[http://mfa.uz]"), "<http://mfa.uz>\n");
    assert_eq!(md("[//mfa.uz x]"), "[x](https://mfa.uz)\n");
    assert_eq!(
        md("[mailto:info@mfa.uz write]"),
        "[write](mailto:info@mfa.uz)\n"
    );
    assert_eq!(
        md("See http://mfa.uz/a_b, then"),
        "See <http://mfa.uz/a_b>, then\n"
    );
    assert_eq!(md("(http://mfa.uz/x)"), "(<http://mfa.uz/x>)\n");
    assert_eq!(md("[not a link]"), "\\[not a link\\]\n");
    assert_eq!(md("xhttp://no"), "xhttp://no\n");
}

#[test]
fn nowiki_breaks_comments_and_switches() {
    assert_eq!(
        md("<nowiki>''not italic'' [[not a link]] *x*</nowiki>"),
        "''not italic'' \\[\\[not a link\\]\\] \\*x\\*\n"
    );
    assert_eq!(md("a<nowiki/>''b''"), "a*b*\n");
    assert_eq!(
        md("line<br>break<br />again<br/>"),
        "line\\\nbreak\\\nagain\n"
    );
    assert_eq!(md("* item<br>more"), "- item\\\n  more\n");
    assert_eq!(md("a <!-- hidden\nover lines --> b"), "a  b\n");
    assert_eq!(md("a <!-- never closed\n\nb"), "a\n");
    assert_eq!(md("__NOTOC__\nText __TOC__ here"), "Text  here\n");
    assert_eq!(md("----\nafter"), "---\n\nafter\n");
    assert_eq!(
        md("<span style=\"x\">kept</span> <div>too</div>"),
        "kept too\n"
    );
}

#[test]
fn markdown_characters_in_text_are_escaped() {
    assert_eq!(
        md("a * b _c_ `d` \\ ~e~ a|b <x>"),
        "a \\* b \\_c\\_ \\`d\\` \\\\ \\~e\\~ a\\|b \\<x>\n"
    );
    assert_eq!(md("> not a quote"), "\\> not a quote\n");
    assert_eq!(md("- not a list"), "\\- not a list\n");
    assert_eq!(md("+ not a list"), "\\+ not a list\n");
    assert_eq!(
        md("1. not a list\n2) nor this"),
        "1\\. not a list\n2\\) nor this\n"
    );
    assert_eq!(md("text\n---"), "text\n\\---\n");
    // `===` alone is a heading in MediaWiki (of the text `=`).
    assert_eq!(md("text\n==="), "text\n\n# =\n");
    assert_eq!(md("a\n\n\n\nb"), "a\n\nb\n");
    assert_eq!(md(""), "");
    assert_eq!(md("\n \n\t\n"), "");
}

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

fn corpus_pages() -> Vec<chapar_wiki::mediawiki::Page> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/mediawiki/viwiki-export-0.10.xml");
    let bytes = std::fs::read(path).expect("the corpus export");
    DumpReader::new(bytes.as_slice())
        .expect("opens")
        .filter_map(Result::ok)
        .collect()
}

fn events(markdown: &str) -> Vec<Event<'_>> {
    Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .collect()
}

#[test]
fn the_corpus_pages_convert() {
    let pages = corpus_pages();
    assert_eq!(pages.len(), 10);
    for page in &pages {
        let text = &page.revisions[0].text;
        let out = to_markdown(text);
        assert_eq!(out, to_markdown(text), "deterministic");
        if let Some(target) = &page.redirect {
            assert!(
                out.starts_with(&format!("#REDIRECT [[{target}]]")),
                "{}: {out}",
                page.title
            );
            continue;
        }
        // Every heading of the wikitext is a heading of the Markdown.
        let wiki_headings = text
            .lines()
            .filter(|l| {
                let l = l.trim_end();
                l.len() > 4 && l.starts_with("==") && l.ends_with("==")
            })
            .count();
        let md_headings = events(&out)
            .iter()
            .filter(|e| matches!(e, Event::Start(Tag::Heading { .. })))
            .count();
        assert_eq!(md_headings, wiki_headings, "{}", page.title);
        // No raw HTML reaches the Markdown but the <b>/<i>/<br> it writes.
        for e in events(&out) {
            if let Event::Html(h) | Event::InlineHtml(h) = &e {
                let h = h.trim();
                assert!(
                    ["<b>", "</b>", "<i>", "</i>", "<br>"].contains(&h),
                    "{}: raw HTML {h:?}",
                    page.title
                );
            }
        }
    }
    let isoc = to_markdown(&pages[2].revisions[0].text);
    for expected in [
        "## Nhiệm vụ và mục đích hoạt động\n",
        "**Internet Society** hay **ISOC** là một [[tổ chức quốc tế]] hoạt động [[Tổ chức phi lợi nhuận|phi lợi nhuận]]",
        "- [[Internet#Lịch sử Internet|Lịch sử Internet]]\n",
        "- [ISOC Việt Nam](http://www.isoc-vn.org/www/index-vn.html)\n",
        "```wikitext\n{{Hộp thông tin tổ chức\n| name            = Internet Society<br/>ISOC\n",
        "`{{Internet}}`",
    ] {
        assert!(isoc.contains(expected), "missing {expected:?} in:\n{isoc}");
    }
}

#[test]
fn the_whole_corpus_converts_in_linear_time() {
    let pages = corpus_pages();
    let all: String = pages
        .iter()
        .map(|p| p.revisions[0].text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let start = Instant::now();
    let out = to_markdown(&all);
    assert!(!out.is_empty());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

#[test]
fn pathological_inputs_convert_in_linear_time() {
    const N: usize = 1 << 19;
    let inputs = [
        "[[".repeat(N / 2),
        "[".repeat(N),
        "]]".repeat(N / 2),
        "{{".repeat(N / 2),
        "{{{".repeat(N / 3),
        "}}".repeat(N / 2),
        "<ref>".repeat(N / 5),
        "<pre>".repeat(N / 5),
        "<nowiki>".repeat(N / 8),
        "<!--".repeat(N / 4),
        "<".repeat(N),
        "<a ".repeat(N / 3),
        "'".repeat(N),
        "'' ".repeat(N / 3),
        "''a'''".repeat(N / 6),
        "*".repeat(N),
        "=".repeat(N),
        ":".repeat(N),
        "[[a|".repeat(N / 4),
        format!("[[{}", "a".repeat(N)),
        "[http://".repeat(N / 8),
        "http://".repeat(N / 7),
        "{|\n".repeat(N / 3),
        "{|\n|a||b\n".repeat(N / 10),
        "* a\n".repeat(N / 4),
        " x\n".repeat(N / 3),
        "\n".repeat(N),
        "__".repeat(N / 2),
        "[[File:a|".repeat(N / 10),
        "[[a]]".repeat(N / 5),
    ];
    for input in &inputs {
        let start = Instant::now();
        let _ = to_markdown(input);
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{:?}...: {took:?}",
            &input[..20.min(input.len())]
        );
    }
}

/// The text a Markdown renderer shows, or `None` when it found markup.
fn rendered_text(markdown: &str, options: Options) -> Result<String, String> {
    let mut out = String::new();
    for e in Parser::new_ext(markdown, options) {
        match e {
            Event::Text(t) => out.push_str(&t),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Paragraph) | Event::End(TagEnd::Paragraph) => {}
            other => return Err(format!("markup {other:?} in {markdown:?}")),
        }
    }
    Ok(out)
}

fn plain_line() -> impl Strategy<Value = String> {
    let first = "[xyя\\\\`_~|<>+.)1(\\]-]";
    let rest = "[xyя\\\\`_~|<>+.)1(\\]#*:;=-]{0,6}";
    (
        first,
        rest,
        proptest::collection::vec("[xyя\\\\`_~|<>+.)1(\\]#*:;=-]{1,7}", 0..5),
    )
        .prop_map(|(f, r, words)| {
            let mut line = format!("{f}{r}");
            for w in words {
                line.push(' ');
                line.push_str(&w);
            }
            line
        })
        .prop_filter("not a rule", |l| !l.starts_with("----"))
}

fn soup(fragments: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(fragments), 0..40).prop_map(|v| v.concat())
}

const SOUP: &[&str] = &[
    "x",
    "y",
    "я",
    " ",
    "\n",
    "\n\n",
    "'",
    "''",
    "'''",
    "[[",
    "]]",
    "[[x|y]]",
    "[",
    "]",
    "|",
    "||",
    "!!",
    "{{",
    "}}",
    "{{{",
    "}}}",
    "<nowiki>",
    "</nowiki>",
    "<pre>",
    "</pre>",
    "<ref>",
    "</ref>",
    "<br>",
    "<b>",
    "</b>",
    "<span>",
    "</span>",
    "<code>",
    "</code>",
    "*",
    "#",
    ":",
    ";",
    "=",
    "==",
    "-",
    "----",
    "http://x.y",
    "[http://x.y ",
    "`",
    "\\",
    "_",
    "__TOC__",
    "&lt;",
    "&amp;",
    "<",
    ">",
    "~",
    "\t",
    "\r",
];

const MORE: &[&str] = &[
    "<!--",
    "-->",
    "{|",
    "|}",
    "|-",
    "|+",
    "! ",
    "rowspan=2",
    "<syntaxhighlight lang=\"c\">",
    "</syntaxhighlight>",
    "#REDIRECT [[x]]",
    "[[File:x|y]]",
    "\u{0}",
    "\u{FFFC}",
    "é",
    "\u{301}",
    "𝔘",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_string_converts_without_panic(s in "\\PC*|.*|[\\x00-\\x7F]{0,200}") {
        let a = to_markdown(&s);
        prop_assert_eq!(a, to_markdown(&s));
        let _ = redirect_target(&s);
    }

    #[test]
    fn wikitext_soup_converts_without_panic(s in soup(SOUP), t in soup(MORE), u in soup(SOUP)) {
        let s = format!("{s}{t}{u}");
        let out = to_markdown(&s);
        prop_assert_eq!(&out, &to_markdown(&s));
        let _ = events(&out);
    }

    #[test]
    fn no_letter_is_lost(s in soup(SOUP)) {
        // Everything the soup holds is either converted or kept verbatim:
        // no letter disappears (comments and table attributes, which do
        // drop text, are not in this soup).
        let out = to_markdown(&s);
        for c in ['x', 'y', 'я'] {
            let (i, o) = (s.matches(c).count(), out.matches(c).count());
            prop_assert!(o >= i, "{} {:?} in, {} out:\n{:?}\n->\n{:?}", i, c, o, s, out);
        }
    }

    #[test]
    fn plain_text_reads_the_same_in_markdown(lines in proptest::collection::vec(plain_line(), 1..5)) {
        // Text without wikitext markup (but full of Markdown's special
        // characters) shows exactly as written.
        let wikitext = lines.join("\n");
        let markdown = to_markdown(&wikitext);
        for options in [Options::empty(), Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS] {
            let shown = rendered_text(&markdown, options).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&shown, &wikitext, "markdown: {:?}", markdown);
        }
    }
}
