//! Showing a page: its Markdown (CommonMark with tables) in the terminal
//! (`chapar wiki show`) and as sanitized HTML (the web interface), with
//! `[[links]]` resolved by the caller.
//!
//! Why it is built this way:
//!
//! - Wiki links are found by [`links::parse`], the parser the index uses,
//!   so a link a reader sees is a link the index counts. Before
//!   pulldown-cmark reads the page, each link is swapped for an opaque
//!   token (a number between the noncharacters U+FDD0 and U+FDD1), so
//!   Markdown never re-reads wiki markup (a `|` in a table cell, `[x]` as a
//!   shortcut link); a token that lands in code is put back as the text it
//!   was. Category tags and the redirect line are taken out of the text
//!   (a line that held only categories goes with them) and shown at the
//!   end and at the start.
//! - Pages are written by other people. The HTML passes no raw HTML
//!   through (it is shown as text), keeps only `http`, `https`, `mailto`
//!   and relative URLs, and every attribute is written here or escaped by
//!   pulldown-cmark; heading attributes and every other extension are off.
//!   The terminal text carries no control characters but its own colours.
//! - Both renderers are total (any input gives output, never a panic),
//!   deterministic, and linear in the input apart from sorting.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chapar_proto::wiki::links::{self, Link, Markup};
use pulldown_cmark::{
    Alignment, CodeBlockKind, CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd,
    TextMergeStream,
};

/// What a wiki link points to, as the caller knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The page exists (and the reader may see it): link to `href`.
    Exists {
        /// Where the link goes, section fragment included if wanted
        /// ([`links::anchor`] gives the fragment a heading has).
        href: String,
    },
    /// There is no such page, or none the reader may see. Shown marked.
    Missing {
        /// Where to go to write it, if anywhere (HTML only).
        href: Option<String>,
    },
}

/// Renders a page for a terminal `width` columns wide (0: no wrapping).
/// `color`: ANSI bold, italic, underline and colours; otherwise plain text
/// with Markdown-like markers. Wiki links show their label, a missing one
/// marked (red, or `label [missing]`); categories come last, a redirect
/// first. Lines have no trailing spaces; the result ends with a newline
/// unless empty.
pub fn to_terminal(
    markdown: &str,
    resolve: &dyn Fn(&Link) -> LinkState,
    width: usize,
    color: bool,
) -> String {
    let markup = links::parse(markdown);
    let (text, slots) = prepare(markdown, &markup);
    let events: Vec<Event<'_>> = TextMergeStream::new(Parser::new_ext(&text, options())).collect();
    let mut term = Term::new(width, color, &slots, resolve, &events);
    if let Some(redirect) = &markup.redirect {
        term.push_text("→ redirect to ", Style::default());
        let shown = Link {
            label: None,
            ..redirect.clone()
        };
        term.wiki_link(&shown);
        term.flush_inline();
    }
    for event in &events {
        term.event(event);
    }
    term.flush_inline();
    if !markup.categories.is_empty() {
        term.containers.clear();
        term.blank();
        term.push_text("Categories: ", Style::default());
        for (k, name) in markup.categories.iter().enumerate() {
            if k > 0 {
                term.push_text(", ", Style::default());
            }
            term.wiki_link(&category_link(&markup, name));
        }
        term.flush_inline();
    }
    term.finish()
}

/// Renders a page as an HTML fragment, sanitized: raw HTML in the page is
/// escaped, links and images keep only safe URLs (images become links),
/// headings get `id`s from [`links::anchor`] (repeats made unique with
/// `-1`, `-2`, …), wiki links become `<a class="wikilink" href=…>` or,
/// missing, `<a class="wikilink missing" …>` / `<span class="wikilink
/// missing">`. A redirect shows first as `<p class="redirect">`,
/// categories last as `<nav class="categories">`.
pub fn to_html(markdown: &str, resolve: &dyn Fn(&Link) -> LinkState) -> String {
    let markup = links::parse(markdown);
    let (text, slots) = prepare(markdown, &markup);
    let events: Vec<Event<'_>> = TextMergeStream::new(Parser::new_ext(&text, options())).collect();
    let ids = heading_ids(&events, &slots);
    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
    let mut headings = ids.into_iter();
    let mut in_code = false;
    // Markdown links and images open now; inside them a wiki link is text.
    let mut opened: Vec<Opened> = Vec::new();
    let mut pending_alt = false;
    for event in &events {
        if pending_alt {
            pending_alt = false;
            if matches!(event, Event::End(TagEnd::Image)) {
                out.push(Event::Text(CowStr::Borrowed("image")));
            }
        }
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code = true;
                let kind = match kind {
                    CodeBlockKind::Fenced(info) => {
                        CodeBlockKind::Fenced(restore(info, &slots).into())
                    }
                    CodeBlockKind::Indented => CodeBlockKind::Indented,
                };
                out.push(Event::Start(Tag::CodeBlock(kind)));
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                out.push(event.clone());
            }
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => {
                if in_code {
                    out.push(Event::Text(restore(t, &slots).into()));
                } else {
                    html_text(t, &slots, !opened.is_empty(), resolve, &mut out);
                }
            }
            Event::Code(t) => out.push(Event::Code(restore(t, &slots).into())),
            Event::Start(Tag::HtmlBlock) => {
                out.push(Event::Html(CowStr::Borrowed("<pre class=\"raw-html\">")));
            }
            Event::End(TagEnd::HtmlBlock) => {
                out.push(Event::Html(CowStr::Borrowed("</pre>\n")));
            }
            Event::Start(Tag::Heading { level, .. }) => {
                out.push(Event::Start(Tag::Heading {
                    level: *level,
                    id: headings.next().map(CowStr::from),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest = restore(dest_url, &slots);
                let keep = opened.is_empty() && (*link_type == LinkType::Email || safe_url(&dest));
                if keep {
                    out.push(Event::Start(Tag::Link {
                        link_type: *link_type,
                        dest_url: dest.into(),
                        title: restore(title, &slots).into(),
                        id: id.clone(),
                    }));
                }
                opened.push(if keep { Opened::Kept } else { Opened::Dropped });
            }
            Event::End(TagEnd::Link) | Event::End(TagEnd::Image) => match opened.pop() {
                Some(Opened::Kept) => out.push(Event::End(TagEnd::Link)),
                Some(Opened::Anchor) => out.push(Event::InlineHtml(CowStr::Borrowed("</a>"))),
                _ => {}
            },
            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => {
                let dest = restore(dest_url, &slots);
                if opened.is_empty() && safe_url(&dest) {
                    let mut tag = String::from("<a class=\"image\" href=\"");
                    push_href(&mut tag, &dest);
                    let title = restore(title, &slots);
                    if !title.is_empty() {
                        tag.push_str("\" title=\"");
                        push_escaped(&mut tag, &title);
                    }
                    tag.push_str("\">");
                    out.push(Event::InlineHtml(tag.into()));
                    opened.push(Opened::Anchor);
                    pending_alt = true;
                } else {
                    opened.push(Opened::Dropped);
                }
            }
            other => out.push(other.clone()),
        }
    }
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 4 + 64);
    if let Some(redirect) = &markup.redirect {
        html.push_str("<p class=\"redirect\">→ redirect to ");
        let shown = Link {
            label: None,
            ..redirect.clone()
        };
        html.push_str(&wiki_link_html(&shown, resolve));
        html.push_str("</p>\n");
    }
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    if !markup.categories.is_empty() {
        html.push_str("<nav class=\"categories\"><span>Categories:</span><ul>");
        for name in &markup.categories {
            html.push_str("<li>");
            html.push_str(&wiki_link_html(&category_link(&markup, name), resolve));
            html.push_str("</li>");
        }
        html.push_str("</ul></nav>\n");
    }
    html
}

/// Whether a URL may be a link's or an image's destination: `http`,
/// `https`, `mailto`, or relative (no scheme before the first `/`, `?` or
/// `#`). Judged the way browsers read it: tabs and newlines removed,
/// leading spaces and control characters ignored, the scheme in any case.
pub fn safe_url(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let s = cleaned.trim_start_matches(|c: char| c <= ' ');
    match s.find([':', '/', '?', '#']) {
        Some(i) if s.get(i..).is_some_and(|r| r.starts_with(':')) => {
            let scheme = s.get(..i).unwrap_or_default();
            ["http", "https", "mailto"]
                .iter()
                .any(|ok| scheme.eq_ignore_ascii_case(ok))
        }
        _ => true,
    }
}

/// The Markdown extensions pages may use: tables, nothing else.
fn options() -> Options {
    Options::ENABLE_TABLES
}

/// A category's link, as [`LinkState`] callers see it.
fn category_link(markup: &Markup, name: &str) -> Link {
    let span = markup
        .category_tags
        .iter()
        .find(|t| t.name == name)
        .map_or(0..0, |t| t.span.clone());
    Link {
        target: links::category_page(name),
        section: None,
        label: Some(name.to_owned()),
        span,
    }
}

/// Starts a placeholder token.
const OPEN: char = '\u{FDD0}';
/// Ends a placeholder token.
const CLOSE: char = '\u{FDD1}';

/// What a placeholder token stands for.
enum Slot<'a> {
    /// A wiki link, with its text in the page.
    Link { link: &'a Link, raw: &'a str },
    /// A character shown as itself: a token character that was in the
    /// page, or a `|` kept from splitting a table cell.
    Literal(char),
}

/// What [`prepare`] does to a span of the page.
#[derive(Clone, Copy)]
enum Edit<'a> {
    /// A wiki link: a token.
    Link(&'a Link),
    /// A category tag: nothing.
    Remove,
    /// A `|` that must not split a table cell: a token.
    Pipe,
}

/// The page with its wiki links (and inert pipes) swapped for tokens, category tags and the
/// redirect taken out: (text for pulldown-cmark, what the tokens mean).
fn prepare<'a>(body: &'a str, markup: &'a Markup) -> (String, Vec<Slot<'a>>) {
    let mut edits: Vec<(usize, usize, Edit<'a>)> = markup
        .links
        .iter()
        .map(|l| (l.span.start, l.span.end, Edit::Link(l)))
        .chain(
            markup
                .category_tags
                .iter()
                .map(|c| (c.span.start, c.span.end, Edit::Remove)),
        )
        .chain(markup.inert_pipes.iter().map(|&p| (p, p + 1, Edit::Pipe)))
        .collect();
    edits.sort_by_key(|e| e.0);
    let mut text = String::with_capacity(body.len() + body.len() / 8);
    let mut slots = Vec::new();
    let mut at = 0;
    if let Some(redirect) = &markup.redirect {
        at = redirect.span.end.min(body.len());
        let rest = body.get(at..).unwrap_or_default();
        let line = rest.find('\n').map_or(rest.len(), |n| n + 1);
        if rest.get(..line).is_some_and(|l| l.trim().is_empty()) {
            at += line;
        }
    }
    let mut e = edits.partition_point(|x| x.0 < at);
    let mut line_start = at;
    while line_start < body.len() {
        let rest = body.get(line_start..).unwrap_or_default();
        let (line_end, next) = match rest.find('\n') {
            Some(n) => (line_start + n, line_start + n + 1),
            None => (body.len(), body.len()),
        };
        let first = e;
        while edits.get(e).is_some_and(|x| x.0 < line_end) {
            e += 1;
        }
        let line_edits = edits.get(first..e).unwrap_or_default();
        if !line_edits.is_empty() && line_edits.iter().all(|x| matches!(x.2, Edit::Remove)) {
            // A line of nothing but categories goes entirely, so that it
            // does not split the paragraph around it.
            let mut pos = line_start;
            let mut blank = true;
            for &(start, end, _) in line_edits {
                blank &= body.get(pos..start).is_some_and(|s| s.trim().is_empty());
                pos = end;
            }
            blank &= body.get(pos..line_end).is_some_and(|s| s.trim().is_empty());
            if blank {
                line_start = next;
                continue;
            }
        }
        let mut pos = line_start;
        for &(start, end, edit) in line_edits {
            copy_text(
                &mut text,
                &mut slots,
                body.get(pos..start).unwrap_or_default(),
            );
            match edit {
                Edit::Link(link) => {
                    push_token(&mut text, slots.len());
                    slots.push(Slot::Link {
                        link,
                        raw: body.get(start..end).unwrap_or_default(),
                    });
                }
                Edit::Pipe => {
                    push_token(&mut text, slots.len());
                    slots.push(Slot::Literal('|'));
                }
                Edit::Remove => {}
            }
            pos = end;
        }
        copy_text(
            &mut text,
            &mut slots,
            body.get(pos..next).unwrap_or_default(),
        );
        line_start = next;
    }
    (text, slots)
}

/// Copies page text, token characters in it made tokens themselves.
fn copy_text<'a>(text: &mut String, slots: &mut Vec<Slot<'a>>, s: &str) {
    if !s.contains([OPEN, CLOSE]) {
        text.push_str(s);
        return;
    }
    for c in s.chars() {
        if c == OPEN || c == CLOSE {
            push_token(text, slots.len());
            slots.push(Slot::Literal(c));
        } else {
            text.push(c);
        }
    }
}

/// Writes token `n`.
fn push_token(text: &mut String, n: usize) {
    text.push(OPEN);
    let _ = write!(text, "{n}");
    text.push(CLOSE);
}

/// A piece of rendered text: text, or what a token stands for.
enum Piece<'s, 'p, 'a> {
    Text(&'s str),
    Slot(&'p Slot<'a>),
}

/// Splits text into text and tokens. Something that only looks like a
/// token (from a character reference, say) stays text.
fn pieces<'s, 'p, 'a>(s: &'s str, slots: &'p [Slot<'a>]) -> Vec<Piece<'s, 'p, 'a>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(OPEN) {
        let skip = i + OPEN.len_utf8();
        let after = rest.get(skip..).unwrap_or_default();
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let slot = after
            .get(digits..)
            .filter(|tail| digits > 0 && digits < 20 && tail.starts_with(CLOSE))
            .and_then(|_| after.get(..digits)?.parse::<usize>().ok())
            .and_then(|n| slots.get(n));
        match slot {
            Some(slot) => {
                if i > 0 {
                    out.push(Piece::Text(rest.get(..i).unwrap_or_default()));
                }
                out.push(Piece::Slot(slot));
                rest = after.get(digits + CLOSE.len_utf8()..).unwrap_or_default();
            }
            None => {
                out.push(Piece::Text(rest.get(..skip).unwrap_or_default()));
                rest = after;
            }
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Text with its tokens put back as the page had them (for code).
fn restore(s: &str, slots: &[Slot<'_>]) -> String {
    if !s.contains(OPEN) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for piece in pieces(s, slots) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(Slot::Link { raw, .. }) => out.push_str(raw),
            Piece::Slot(Slot::Literal(c)) => out.push(*c),
        }
    }
    out
}

/// Text with its tokens as a reader sees them (link labels).
fn plain(s: &str, slots: &[Slot<'_>]) -> String {
    if !s.contains(OPEN) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for piece in pieces(s, slots) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(Slot::Link { link, .. }) => out.push_str(&link.display()),
            Piece::Slot(Slot::Literal(c)) => out.push(*c),
        }
    }
    out
}

/// A Markdown link or image the HTML is inside.
enum Opened {
    /// Passed on to pulldown-cmark.
    Kept,
    /// An image written as `<a class="image">`.
    Anchor,
    /// Its URL was unsafe (or it was nested): only its text is shown.
    Dropped,
}

/// The `id`s of the headings, in order: their text's anchors, unique.
fn heading_ids(events: &[Event<'_>], slots: &[Slot<'_>]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut text: Option<String> = None;
    for event in events {
        match event {
            Event::Start(Tag::Heading { .. }) => text = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = links::anchor(text.as_deref().unwrap_or_default());
                text = None;
                let mut id = base.clone();
                if used.contains(&id) {
                    let k = next.entry(base.clone()).or_insert(1);
                    loop {
                        id = format!("{base}-{k}");
                        *k += 1;
                        if !used.contains(&id) {
                            break;
                        }
                    }
                }
                used.insert(id.clone());
                ids.push(id);
            }
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => {
                if let Some(text) = &mut text {
                    text.push_str(&plain(t, slots));
                }
            }
            Event::Code(t) => {
                if let Some(text) = &mut text {
                    text.push_str(&restore(t, slots));
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(text) = &mut text {
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    ids
}

/// Text for the HTML: tokens become wiki links (or, inside a Markdown link,
/// their labels).
fn html_text<'e>(
    t: &str,
    slots: &[Slot<'_>],
    in_link: bool,
    resolve: &dyn Fn(&Link) -> LinkState,
    out: &mut Vec<Event<'e>>,
) {
    for piece in pieces(t, slots) {
        match piece {
            Piece::Text(s) => out.push(Event::Text(s.to_owned().into())),
            Piece::Slot(Slot::Literal(c)) => out.push(Event::Text((*c).into())),
            Piece::Slot(Slot::Link { link, .. }) => {
                if in_link {
                    out.push(Event::Text(link.display().into()));
                } else {
                    out.push(Event::InlineHtml(wiki_link_html(link, resolve).into()));
                }
            }
        }
    }
}

/// One wiki link as HTML.
fn wiki_link_html(link: &Link, resolve: &dyn Fn(&Link) -> LinkState) -> String {
    let mut out = String::new();
    let mut title = link.target.clone();
    if let Some(section) = &link.section {
        title.push('#');
        title.push_str(section);
    }
    let state = if link.is_same_page() {
        LinkState::Exists {
            href: format!(
                "#{}",
                links::anchor(link.section.as_deref().unwrap_or_default())
            ),
        }
    } else {
        resolve(link)
    };
    let (open, class, href) = match state {
        LinkState::Exists { href } if safe_url(&href) => ("a", "wikilink", Some(href)),
        LinkState::Exists { .. } => ("span", "wikilink", None),
        LinkState::Missing { href: Some(href) } if safe_url(&href) => {
            ("a", "wikilink missing", Some(href))
        }
        LinkState::Missing { .. } => ("span", "wikilink missing", None),
    };
    let _ = write!(out, "<{open} class=\"{class}\"");
    if let Some(href) = href {
        out.push_str(" href=\"");
        push_href(&mut out, &href);
        out.push('"');
    }
    out.push_str(" title=\"");
    push_escaped(&mut out, &title);
    out.push_str("\">");
    push_escaped(&mut out, &link.display());
    let _ = write!(out, "</{open}>");
    out
}

/// Escapes text for HTML text and quoted attributes.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Writes a URL into a quoted `href`: spaces, controls, quotes and angle
/// brackets percent-encoded, `&` and `'` as entities.
fn push_href(out: &mut String, url: &str) {
    for c in url.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii_control() || matches!(c, ' ' | '"' | '<' | '>' | '`' | '\\') => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
}

// ---------------------------------------------------------------------------
// The terminal.

/// How a stretch of terminal text looks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Style(u8);

impl Style {
    const BOLD: u8 = 1;
    const ITALIC: u8 = 2;
    const UNDERLINE: u8 = 4;
    const BLUE: u8 = 8;
    const RED: u8 = 16;
    const CYAN: u8 = 32;

    fn with(self, bits: u8) -> Style {
        Style(self.0 | bits)
    }

    /// The ANSI SGR sequence turning this style on (empty for none).
    fn sgr(self) -> String {
        let mut codes = Vec::new();
        for (bit, code) in [
            (Self::BOLD, "1"),
            (Self::ITALIC, "3"),
            (Self::UNDERLINE, "4"),
            (Self::RED, "31"),
            (Self::BLUE, "34"),
            (Self::CYAN, "36"),
        ] {
            if self.0 & bit != 0 {
                codes.push(code);
            }
        }
        if codes.is_empty() {
            String::new()
        } else {
            format!("\x1b[{}m", codes.join(";"))
        }
    }
}

/// A run of text in one style.
type Runs = Vec<(String, Style)>;

/// A block the terminal output is inside.
enum Container {
    /// A block quote: `│ ` before every line.
    Quote,
    /// A list item: its marker before its first line, spaces after.
    Item { marker: String, used: bool },
}

/// A table being read.
struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Runs>>,
    head: usize,
}

/// The terminal renderer's state.
struct Term<'r, 's, 'a> {
    width: usize,
    color: bool,
    slots: &'s [Slot<'a>],
    resolve: &'r dyn Fn(&Link) -> LinkState,
    lines: Vec<String>,
    last_blank: bool,
    containers: Vec<Container>,
    /// Ordered lists: the next number; bullets: `None`.
    lists: Vec<Option<u64>>,
    inline: Runs,
    bold: usize,
    italic: usize,
    heading: Option<HeadingLevel>,
    counters: [usize; 6],
    top_level: usize,
    /// Markdown links open: (destination, their text so far).
    links: Vec<(String, String)>,
    /// Images open: their destinations.
    images: Vec<String>,
    /// A code block's text being gathered.
    code: Option<String>,
    /// An HTML block's text being gathered.
    verbatim: Option<String>,
    table: Option<Table>,
}

impl<'r, 's, 'a> Term<'r, 's, 'a> {
    fn new(
        width: usize,
        color: bool,
        slots: &'s [Slot<'a>],
        resolve: &'r dyn Fn(&Link) -> LinkState,
        events: &[Event<'_>],
    ) -> Self {
        let top_level = events
            .iter()
            .filter_map(|e| match e {
                Event::Start(Tag::Heading { level, .. }) => Some(*level as usize),
                _ => None,
            })
            .min()
            .unwrap_or(1);
        Term {
            width,
            color,
            slots,
            resolve,
            lines: Vec::new(),
            last_blank: true,
            containers: Vec::new(),
            lists: Vec::new(),
            inline: Vec::new(),
            bold: 0,
            italic: 0,
            heading: None,
            counters: [0; 6],
            top_level,
            links: Vec::new(),
            images: Vec::new(),
            code: None,
            verbatim: None,
            table: None,
        }
    }

    /// The style text is in now.
    fn style(&self) -> Style {
        let mut s = Style::default();
        if self.bold > 0 || self.heading.is_some() {
            s = s.with(Style::BOLD);
        }
        if self.italic > 0 {
            s = s.with(Style::ITALIC);
        }
        if !self.links.is_empty() {
            s = s.with(Style::UNDERLINE);
        }
        s
    }

    fn event(&mut self, event: &Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(*tag),
            Event::Text(t) | Event::Html(t) | Event::InlineHtml(t) => self.text(t),
            Event::Code(t) => {
                let code = restore(t, self.slots);
                if self.color {
                    let style = self.style().with(Style::CYAN);
                    self.push_text(&code, style);
                } else {
                    let style = self.style();
                    self.push_text("`", style);
                    self.push_text(&code, style);
                    self.push_text("`", style);
                }
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => {
                let style = self.style();
                self.push_text(&restore(t, self.slots), style);
            }
            Event::FootnoteReference(name) => {
                let style = self.style();
                self.push_text(&format!("[^{name}]"), style);
            }
            Event::SoftBreak => {
                let style = self.style();
                self.push_text(" ", style);
            }
            Event::HardBreak => self.inline.push(("\n".to_owned(), Style::default())),
            Event::Rule => {
                self.flush_inline();
                self.blank();
                let width = match self.width {
                    0 => 40,
                    w => w.saturating_sub(self.prefix_width()).max(1),
                };
                self.emit_line("─".repeat(width));
            }
            Event::TaskListMarker(done) => {
                let style = self.style();
                self.push_text(if *done { "[x] " } else { "[ ] " }, style);
            }
        }
    }

    fn start(&mut self, tag: &Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                self.flush_inline();
                self.blank();
            }
            Tag::Heading { level, .. } => {
                self.flush_inline();
                self.blank();
                let n = *level as usize;
                let k = n.clamp(1, 6) - 1;
                if let Some(c) = self.counters.get_mut(k) {
                    *c += 1;
                }
                for c in self.counters.iter_mut().skip(k + 1) {
                    *c = 0;
                }
                let from = self.top_level.clamp(1, 6) - 1;
                let number: Vec<String> = self
                    .counters
                    .get(from..=k)
                    .unwrap_or_default()
                    .iter()
                    .map(usize::to_string)
                    .collect();
                self.heading = Some(*level);
                let style = self.style();
                self.push_text(&format!("{} ", number.join(".")), style);
            }
            Tag::BlockQuote(_) => {
                self.flush_inline();
                self.blank();
                self.containers.push(Container::Quote);
            }
            Tag::CodeBlock(_) => {
                self.flush_inline();
                self.blank();
                self.code = Some(String::new());
            }
            Tag::HtmlBlock => {
                self.flush_inline();
                self.blank();
                self.verbatim = Some(String::new());
            }
            Tag::List(start) => {
                self.flush_inline();
                if !matches!(self.containers.last(), Some(Container::Item { .. })) {
                    self.blank();
                }
                self.lists.push(*start);
            }
            Tag::Item => {
                self.flush_inline();
                let depth = self.lists.len();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n = n.saturating_add(1);
                        m
                    }
                    _ => match depth % 3 {
                        1 => "• ".to_owned(),
                        2 => "◦ ".to_owned(),
                        _ => "▪ ".to_owned(),
                    },
                };
                self.containers.push(Container::Item {
                    marker,
                    used: false,
                });
            }
            Tag::Table(aligns) => {
                self.flush_inline();
                self.blank();
                self.table = Some(Table {
                    aligns: aligns.clone(),
                    rows: Vec::new(),
                    head: 0,
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(table) = &mut self.table {
                    table.rows.push(Vec::new());
                }
            }
            Tag::TableCell => self.inline.clear(),
            Tag::Emphasis => {
                self.italic += 1;
                if !self.color {
                    let style = self.style();
                    self.push_text("*", style);
                }
            }
            Tag::Strong => {
                if !self.color {
                    let style = self.style();
                    self.push_text("**", style);
                }
                self.bold += 1;
            }
            Tag::Strikethrough => {
                let style = self.style();
                self.push_text("~~", style);
            }
            Tag::Superscript | Tag::Subscript => {}
            Tag::Link { dest_url, .. } => {
                self.links
                    .push((restore(dest_url, self.slots), String::new()));
            }
            Tag::Image { dest_url, .. } => {
                let style = self.style();
                self.push_text("[image: ", style);
                self.images.push(restore(dest_url, self.slots));
            }
            Tag::FootnoteDefinition(name) => {
                self.flush_inline();
                self.blank();
                let style = self.style();
                self.push_text(&format!("[^{name}]: "), style);
            }
            Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => {
                self.flush_inline();
            }
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => self.flush_inline(),
            TagEnd::Heading(level) => {
                let start = self.lines.len();
                self.flush_inline();
                self.heading = None;
                let rule = match level {
                    HeadingLevel::H1 => Some("═"),
                    HeadingLevel::H2 => Some("─"),
                    _ => None,
                };
                if let Some(rule) = rule {
                    let width = self
                        .lines
                        .get(start..)
                        .unwrap_or_default()
                        .iter()
                        .map(|l| visible_width(l))
                        .max()
                        .unwrap_or(0)
                        .saturating_sub(self.prefix_width());
                    self.emit_line(rule.repeat(width.max(1)));
                }
            }
            TagEnd::BlockQuote(_) => {
                self.flush_inline();
                self.pop_container();
            }
            TagEnd::CodeBlock => {
                let code = self.code.take().unwrap_or_default();
                for line in code.strip_suffix('\n').unwrap_or(&code).split('\n') {
                    let line = clean(&expand_tabs(line));
                    let line = line.trim_end();
                    if line.is_empty() {
                        self.emit_line(String::new());
                    } else {
                        self.emit_line(format!("    {line}"));
                    }
                }
            }
            TagEnd::HtmlBlock => {
                let text = self.verbatim.take().unwrap_or_default();
                for line in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
                    let line = clean(&expand_tabs(line));
                    self.emit_line(line.trim_end().to_owned());
                }
            }
            TagEnd::List(_) => {
                self.flush_inline();
                self.lists.pop();
            }
            TagEnd::Item => {
                self.flush_inline();
                if let Some(Container::Item { used: false, .. }) = self.containers.last() {
                    self.emit_line(String::new());
                }
                self.pop_container();
            }
            TagEnd::Table => {
                self.inline.clear();
                if let Some(table) = self.table.take() {
                    self.draw_table(table);
                }
            }
            TagEnd::TableHead => {
                if let Some(table) = &mut self.table {
                    table.head = table.rows.len();
                }
            }
            TagEnd::TableRow => {}
            TagEnd::TableCell => {
                let cell = std::mem::take(&mut self.inline);
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(cell);
                }
            }
            TagEnd::Emphasis => {
                if !self.color {
                    let style = self.style();
                    self.push_text("*", style);
                }
                self.italic = self.italic.saturating_sub(1);
            }
            TagEnd::Strong => {
                self.bold = self.bold.saturating_sub(1);
                if !self.color {
                    let style = self.style();
                    self.push_text("**", style);
                }
            }
            TagEnd::Strikethrough => {
                let style = self.style();
                self.push_text("~~", style);
            }
            TagEnd::Superscript | TagEnd::Subscript => {}
            TagEnd::Link => {
                if let Some((dest, label)) = self.links.pop() {
                    let shown = dest.strip_prefix("mailto:").unwrap_or(&dest);
                    if !dest.is_empty() && label.trim() != shown && label.trim() != dest {
                        let style = self.style();
                        self.push_text(&format!(" <{dest}>"), style);
                    }
                }
            }
            TagEnd::Image => {
                let dest = self.images.pop().unwrap_or_default();
                let style = self.style();
                self.push_text(&format!("] <{dest}>"), style);
            }
        }
    }

    /// Text from the page: in code as it was, elsewhere with wiki links.
    fn text(&mut self, t: &str) {
        if let Some(code) = &mut self.code {
            code.push_str(&restore(t, self.slots));
            return;
        }
        if self.verbatim.is_some() {
            let shown = plain(t, self.slots);
            if let Some(v) = &mut self.verbatim {
                v.push_str(&shown);
            }
            return;
        }
        let slots = self.slots;
        for piece in pieces(t, slots) {
            match piece {
                Piece::Text(s) => {
                    let style = self.style();
                    self.push_text(&s.replace('\n', " "), style);
                }
                Piece::Slot(Slot::Literal(c)) => {
                    let style = self.style();
                    self.push_text(&c.to_string(), style);
                }
                Piece::Slot(Slot::Link { link, .. }) => {
                    if self.links.is_empty() {
                        self.wiki_link(link);
                    } else {
                        let style = self.style();
                        self.push_text(&link.display(), style);
                    }
                }
            }
        }
    }

    /// A wiki link: its label, marked if missing.
    fn wiki_link(&mut self, link: &Link) {
        let missing =
            !link.is_same_page() && matches!((self.resolve)(link), LinkState::Missing { .. });
        let display = link.display();
        let base = self.style();
        if self.color {
            let style = if missing {
                base.with(Style::RED)
            } else {
                base.with(Style::BLUE | Style::UNDERLINE)
            };
            self.push_text(&display, style);
        } else {
            self.push_text(&display, base);
            if missing {
                self.push_text(" [missing]", base);
            }
        }
    }

    /// Adds text to the paragraph being gathered, control characters made
    /// harmless.
    fn push_text(&mut self, s: &str, style: Style) {
        let s = clean(s);
        if s.is_empty() {
            return;
        }
        if let Some((_, label)) = self.links.last_mut() {
            label.push_str(&s);
        }
        match self.inline.last_mut() {
            Some((text, last)) if *last == style && text != "\n" => text.push_str(&s),
            _ => self.inline.push((s, style)),
        }
    }

    /// Wraps the gathered paragraph into lines and emits them.
    fn flush_inline(&mut self) {
        if self.inline.is_empty() || self.table.is_some() {
            return;
        }
        let runs = std::mem::take(&mut self.inline);
        let avail = match self.width {
            0 => usize::MAX,
            w => w.saturating_sub(self.prefix_width()).max(1),
        };
        for line in wrap(&runs, avail) {
            let text = self.paint(&line);
            self.emit_line(text);
        }
    }

    /// Runs as a string, with colours if wanted.
    fn paint(&self, runs: &[(String, Style)]) -> String {
        let mut out = String::new();
        let mut current = Style::default();
        for (text, style) in runs {
            if self.color && *style != current {
                if current != Style::default() {
                    out.push_str("\x1b[0m");
                }
                out.push_str(&style.sgr());
                current = *style;
            }
            out.push_str(text);
        }
        if self.color && current != Style::default() {
            out.push_str("\x1b[0m");
        }
        out
    }

    /// The width of the prefix containers put before a line.
    fn prefix_width(&self) -> usize {
        self.containers
            .iter()
            .map(|c| match c {
                Container::Quote => 2,
                Container::Item { marker, .. } => marker.chars().count(),
            })
            .sum()
    }

    /// The prefix for the next line; `consume`: list markers are used up.
    fn prefix(&mut self, consume: bool) -> String {
        let mut out = String::new();
        for c in &mut self.containers {
            match c {
                Container::Quote => out.push_str("│ "),
                Container::Item { marker, used } => {
                    if consume && !*used {
                        out.push_str(marker);
                        *used = true;
                    } else {
                        out.extend(std::iter::repeat_n(' ', marker.chars().count()));
                    }
                }
            }
        }
        out
    }

    /// Emits one line after the containers' prefix.
    fn emit_line(&mut self, content: String) {
        let mut line = self.prefix(true);
        line.push_str(&content);
        let trimmed = line.trim_end_matches(' ').len();
        line.truncate(trimmed);
        self.last_blank = content.is_empty();
        self.lines.push(line);
    }

    /// A blank line between blocks, unless there is one (or nothing) yet.
    fn blank(&mut self) {
        if self.lines.is_empty() || self.last_blank {
            return;
        }
        let prefix = self.prefix(false);
        self.lines.push(prefix.trim_end().to_owned());
        self.last_blank = true;
    }

    fn pop_container(&mut self) {
        self.containers.pop();
    }

    /// Draws a table: columns as wide as their widest cell, aligned.
    fn draw_table(&mut self, table: Table) {
        let columns = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &table.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(runs_width(cell));
            }
        }
        for (r, row) in table.rows.iter().enumerate() {
            let mut line = String::new();
            for (c, width) in widths.iter().enumerate() {
                if c > 0 {
                    line.push_str(" │ ");
                }
                let mut cell: Runs = row.get(c).cloned().unwrap_or_default();
                for (text, style) in &mut cell {
                    *text = text.replace('\n', " ");
                    if r < table.head {
                        *style = style.with(Style::BOLD);
                    }
                }
                let pad = width.saturating_sub(runs_width(&cell));
                let (left, right) = match table.aligns.get(c) {
                    Some(Alignment::Right) => (pad, 0),
                    Some(Alignment::Center) => (pad / 2, pad - pad / 2),
                    _ => (0, pad),
                };
                line.extend(std::iter::repeat_n(' ', left));
                line.push_str(&self.paint(&cell));
                line.extend(std::iter::repeat_n(' ', right));
            }
            self.emit_line(line);
            if r + 1 == table.head {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                self.emit_line(rule.join("─┼─"));
            }
        }
    }

    /// The output: lines joined, no blank lines at the end.
    fn finish(mut self) -> String {
        while self.lines.last().is_some_and(|l| l.trim().is_empty()) {
            self.lines.pop();
        }
        let mut out = self.lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }
}

/// Greedy word wrap: words (runs split at whitespace, styles kept) fill
/// lines of at most `avail` characters; a longer word gets a line of its
/// own; `\n` runs (hard breaks) end a line.
fn wrap(runs: &[(String, Style)], avail: usize) -> Vec<Runs> {
    let mut w = Wrapper {
        avail,
        lines: Vec::new(),
        line: Vec::new(),
        line_w: 0,
        word: Vec::new(),
        word_w: 0,
        gap: None,
    };
    for (text, style) in runs {
        if text == "\n" {
            w.place();
            w.lines.push(std::mem::take(&mut w.line));
            w.line_w = 0;
            w.gap = None;
            continue;
        }
        for c in text.chars() {
            if c.is_whitespace() {
                w.place();
                w.gap = Some(*style);
            } else {
                let mut buf = [0u8; 4];
                push_run(&mut w.word, c.encode_utf8(&mut buf), *style);
                w.word_w += 1;
            }
        }
    }
    w.place();
    if !w.line.is_empty() {
        w.lines.push(w.line);
    }
    w.lines
}

/// [`wrap`]'s state.
struct Wrapper {
    avail: usize,
    lines: Vec<Runs>,
    line: Runs,
    line_w: usize,
    word: Runs,
    word_w: usize,
    /// The style of the whitespace before the word being gathered.
    gap: Option<Style>,
}

impl Wrapper {
    /// Puts the gathered word on the line, or on a new one if it does not
    /// fit.
    fn place(&mut self) {
        if self.word.is_empty() {
            return;
        }
        if !self.line.is_empty() {
            if self.line_w + 1 + self.word_w <= self.avail {
                push_run(&mut self.line, " ", self.gap.unwrap_or_default());
                self.line_w += 1;
            } else {
                self.lines.push(std::mem::take(&mut self.line));
                self.line_w = 0;
            }
        }
        for (t, s) in self.word.drain(..) {
            push_run(&mut self.line, &t, s);
        }
        self.line_w += self.word_w;
        self.word_w = 0;
    }
}

/// Appends text to runs, joining the last run if the style is the same.
fn push_run(runs: &mut Runs, text: &str, style: Style) {
    match runs.last_mut() {
        Some((t, s)) if *s == style => t.push_str(text),
        _ => runs.push((text.to_owned(), style)),
    }
}

/// The width of runs in characters.
fn runs_width(runs: &[(String, Style)]) -> usize {
    runs.iter().map(|(t, _)| t.chars().count()).sum()
}

/// The width of an output line: characters, colour sequences not counted.
fn visible_width(line: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in line.chars() {
        if in_escape {
            in_escape = c != 'm';
        } else if c == '\x1b' {
            in_escape = true;
        } else {
            width += 1;
        }
    }
    width
}

/// Text safe for a terminal: tabs as spaces, newlines kept, other control
/// characters (escape among them) as U+FFFD.
fn clean(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return s.to_owned();
    }
    s.chars()
        .map(|c| match c {
            '\n' => '\n',
            '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Expands tabs to the next multiple of four columns, so code keeps its
/// alignment.
fn expand_tabs(s: &str) -> String {
    if !s.contains('\t') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut col = 0;
    for c in s.chars() {
        if c == '\t' {
            let n = 4 - col % 4;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}
