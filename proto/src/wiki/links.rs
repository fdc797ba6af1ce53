//! `[[links]]`, categories and redirects in a page's text: the one parser
//! of chapar's wiki markup.
//!
//! Pages are Markdown with MediaWiki-style links. The index (backlinks,
//! categories, redirects) and the client (rendering) must agree on what is
//! a link, so both call [`parse`]; the renderer replaces exactly the spans
//! found here, and page moves rewrite them with [`replace_links`].
//!
//! # The rules
//!
//! - `[[Page]]`, `[[Page|label]]`, `[[Page#Section]]`,
//!   `[[Page#Section|label]]` are [`Link`]s; `[[#Section]]` is a link to a
//!   section of the same page (its target is empty).
//! - `[[Category:X]]` and `[[Category:X|sort key]]` put the page in a
//!   category ([`CategoryTag`]); they are not links and are not shown where
//!   they stand. `[[:Category:X]]` (a leading colon) is a link to the
//!   category's page. Any other namespace prefix is part of the title
//!   (`[[Help:Editing]]`). The prefix `Category:` is matched without regard
//!   to ASCII case and written back as `Category:`.
//! - `#REDIRECT [[Target]]` (any case, optionally `#REDIRECT:`), at the very
//!   start of the body after optional whitespace, makes the page a redirect.
//!   The redirect is not also counted among the links.
//! - Titles and sections: trimmed, `_` is a space, runs of whitespace become
//!   one space; the case is kept (titles are matched without regard to case
//!   elsewhere). A title or section holding `[`, `]`, `{`, `}`, `|`, `<`,
//!   `>` or a control character (a newline among them), or a title longer
//!   than [`MAX_TITLE`] bytes, makes the brackets plain text. Labels are
//!   trimmed plain text; an empty label is no label.
//! - A link never spans lines: that keeps it inside one Markdown block, so
//!   what the index counts is what the renderer shows.
//! - In `[[a [[b]] c]]` the inner brackets are the link; in `[[[a]]]` the
//!   innermost pair is. `\[[a]]` (a Markdown backslash escape) is not a link.
//! - Nothing inside Markdown code is a link: fenced blocks (backticks or
//!   tildes, also in quotes and list items), indented code blocks, inline
//!   code spans, and autolinks (`<https://…>`).
//! - In a table row, `[[…]]` never splits a cell at its `|` (Markdown
//!   would); the pipes inside `[[…]]` that are in no link are reported in
//!   [`Markup::inert_pipes`] so a renderer can keep them too.
//!
//! Code is found by a line scan that models CommonMark's blocks as
//! pulldown-cmark (the renderer) reads them: block quotes and lazy lines,
//! list items and their content columns (tabs included), which lines may
//! interrupt a paragraph, setext underlines and thematic breaks, tables
//! (whose code spans end at a cell's edge). A test renders generated pages
//! and checks that the HTML shows exactly the links found here. HTML
//! blocks are text here, as they are shown as text. Not modelled: link
//! destinations and reference definitions (a `[[…]]` in a URL is counted
//! but stays part of the URL), HTML blocks holding blank lines.
//!
//! [`parse`] never panics, uses no regular expressions and runs in time
//! O(n log n) in the body's length (a binary search per backtick run).

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use unicode_normalization::UnicodeNormalization;

use crate::wiki::MAX_TITLE;

/// The namespace whose pages are categories (`[[Category:X]]`).
pub const CATEGORY_NAMESPACE: &str = "Category";

/// A link from a page to a page (or to a section of the same page).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The target title, normalized (trimmed, `_` as space, whitespace
    /// collapsed, case kept; a `Category:` prefix spelled so). Empty for a
    /// link to a section of the same page (`[[#Section]]`).
    pub target: String,
    /// The section after `#`, normalized like a title; `None` if there is
    /// none or it is empty.
    pub section: Option<String>,
    /// The text after `|`, trimmed; `None` if there is none or it is empty.
    pub label: Option<String>,
    /// The byte range of the whole `[[…]]` in the body.
    pub span: Range<usize>,
}

impl Link {
    /// Whether this links to a section of the page it stands on.
    pub fn is_same_page(&self) -> bool {
        self.target.is_empty()
    }

    /// The text a reader sees: the label, or else `Target#Section` (or
    /// `#Section` for the same page).
    pub fn display(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        match &self.section {
            Some(section) => format!("{}#{}", self.target, section),
            None => self.target.clone(),
        }
    }

    /// The link written back as markup, `[[Target#Section|label]]`, with a
    /// leading colon where the target would otherwise be read as a
    /// category. Page moves write a changed [`Link`] back with this; a link
    /// without a label then shows the new title.
    pub fn markup(&self) -> String {
        let mut out = String::from("[[");
        if self.target.starts_with(':') || is_category_prefixed(&self.target) {
            out.push(':');
        }
        out.push_str(&self.target);
        if let Some(section) = &self.section {
            out.push('#');
            out.push_str(section);
        }
        if let Some(label) = &self.label {
            out.push('|');
            out.push_str(label);
        }
        out.push_str("]]");
        out
    }
}

/// One `[[Category:X]]` in the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CategoryTag {
    /// The category's name without the prefix, normalized like a title.
    pub name: String,
    /// The sort key after `|`, trimmed; `None` if there is none or empty.
    pub sort_key: Option<String>,
    /// The byte range of the whole `[[…]]` in the body.
    pub span: Range<usize>,
}

/// Everything [`parse`] finds in a body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Markup {
    /// The links, in text order (the redirect not among them).
    pub links: Vec<Link>,
    /// The categories' names, each once (compared without regard to case
    /// after NFC), in the order first seen, spelled as first seen.
    pub categories: Vec<String>,
    /// Every `[[Category:…]]`, in text order, with its span and sort key.
    pub category_tags: Vec<CategoryTag>,
    /// The redirect's target, if the page is a redirect. Its span covers
    /// the `[[…]]` only; everything before it in the body is whitespace and
    /// the magic word.
    pub redirect: Option<Link>,
    /// Byte offsets of the `|`s inside `[[…]]` in table rows that belong
    /// to no link (in a code span, say), in text order. A Markdown table
    /// would split its cell there; here `[[…]]` never splits a cell, so a
    /// renderer must keep these from doing so (the HTML renderer hides
    /// them from pulldown-cmark as it hides links).
    pub inert_pipes: Vec<usize>,
}

impl Markup {
    /// The titles of the pages the text links or redirects to (same-page
    /// links left out), once per [`crate::wiki::title::key`], in key
    /// order: what "what links here" indexes and what a reader's client
    /// checks for existence.
    pub fn targets(&self) -> Vec<String> {
        let mut out: Vec<(String, String)> = self
            .links
            .iter()
            .chain(self.redirect.iter())
            .filter(|l| !l.is_same_page())
            .map(|l| (crate::wiki::title::key(&l.target), l.target.clone()))
            .collect();
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        out.into_iter().map(|(_, t)| t).collect()
    }
}

/// The title of category `name`'s page: `Category:name`.
pub fn category_page(name: &str) -> String {
    format!("{CATEGORY_NAMESPACE}:{name}")
}

/// The name of the category whose page `title` is, if it is one
/// (`Category:X` → `X`, the prefix in any ASCII case).
pub fn category_name(title: &str) -> Option<&str> {
    if !is_category_prefixed(title) {
        return None;
    }
    let name = title.get(CATEGORY_NAMESPACE.len() + 1..)?.trim();
    (!name.is_empty()).then_some(name)
}

/// Whether `title` starts with `Category:` in any ASCII case.
fn is_category_prefixed(title: &str) -> bool {
    let n = CATEGORY_NAMESPACE.len();
    title
        .get(..n)
        .is_some_and(|p| p.eq_ignore_ascii_case(CATEGORY_NAMESPACE))
        && title.as_bytes().get(n) == Some(&b':')
}

/// A title as links write it, normalized: trimmed, `_` as space, runs of
/// whitespace as one space. `None` if it holds a character a title may not
/// (`[ ] { } | < > #`, a control character) or is longer than
/// [`MAX_TITLE`] bytes. The empty title is `Some("")`.
pub fn normalize_title(raw: &str) -> Option<String> {
    if raw.contains('#') {
        return None;
    }
    normalize(raw)
}

/// The anchor a heading gets and a `[[Page#Section]]` points to: the text
/// in lower case, letters and digits of any script kept, whitespace, `-`
/// and `_` as single `-`, other characters dropped; `section` if nothing
/// is left. A renderer makes repeated anchors unique by appending `-1`,
/// `-2`, ….
pub fn anchor(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.extend(c.to_lowercase());
        } else if c.is_whitespace() || c == '-' || c == '_' {
            dash = true;
        }
    }
    if out.is_empty() {
        out.push_str("section");
    }
    out
}

/// Finds the links, categories and redirect in a page's body.
pub fn parse(body: &str) -> Markup {
    let redirect = find_redirect(body);
    let mut items = Vec::new();
    scan_blocks(body, &mut items);
    let mut markup = Markup {
        redirect,
        ..Markup::default()
    };
    let mut seen = HashSet::new();
    for item in items {
        match item {
            Item::Link(link) => {
                if markup.redirect.as_ref().map(|r| &r.span) != Some(&link.span) {
                    markup.links.push(link);
                }
            }
            Item::Pipe(at) => markup.inert_pipes.push(at),
            Item::Category(tag) => {
                if markup.redirect.as_ref().map(|r| &r.span) == Some(&tag.span) {
                    continue;
                }
                let key: String = tag.name.nfc().collect::<String>().to_lowercase();
                if seen.insert(key) {
                    markup.categories.push(tag.name.clone());
                }
                markup.category_tags.push(tag);
            }
        }
    }
    markup
}

/// Rewrites the links (and the redirect) in `body`: `f` sees each in text
/// order and returns the markup to put in its place, or `None` to leave it.
/// Categories are left alone. Page moves use this with [`Link::markup`].
pub fn replace_links(body: &str, mut f: impl FnMut(&Link) -> Option<String>) -> String {
    let markup = parse(body);
    let mut all: Vec<&Link> = markup
        .links
        .iter()
        .chain(markup.redirect.as_ref())
        .collect();
    all.sort_by_key(|l| l.span.start);
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    for link in all {
        if let Some(new) = f(link) {
            out.push_str(body.get(at..link.span.start).unwrap_or_default());
            out.push_str(&new);
            at = link.span.end;
        }
    }
    out.push_str(body.get(at..).unwrap_or_default());
    out
}

/// A `[[…]]` the scan found.
enum Item {
    Link(Link),
    Category(CategoryTag),
    /// A `|` in `[[…]]` in a table row, in no link.
    Pipe(usize),
}

/// Trims, turns `_` and whitespace runs into one space; `None` on a
/// character titles and sections may not hold or on excess length.
fn normalize(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.chars() {
        if c == '_' || c.is_whitespace() {
            if matches!(c, '\n' | '\r') {
                return None;
            }
            space = true;
        } else if c.is_control() || matches!(c, '[' | ']' | '{' | '}' | '|' | '<' | '>') {
            return None;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
        if out.len() > MAX_TITLE {
            return None;
        }
    }
    Some(out)
}

/// What the text between `[[` and `]]` is. `as_link`: a `Category:` title
/// is a link to the category's page (redirects).
fn interpret(inner: &str, span: Range<usize>, as_link: bool) -> Option<Item> {
    let (dest, label) = match inner.split_once('|') {
        Some((dest, label)) => (dest, Some(label)),
        None => (inner, None),
    };
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    let (title, section) = match dest.split_once('#') {
        Some((title, section)) => (title, Some(section)),
        None => (dest, None),
    };
    let mut target = normalize(title)?;
    let colon = match target.strip_prefix(':') {
        Some(rest) => {
            target = rest.trim_start().to_owned();
            true
        }
        None => false,
    };
    let section = match section {
        Some(s) => Some(normalize(s)?).filter(|s| !s.is_empty()),
        None => None,
    };
    if category_name(&target).is_none() && is_category_prefixed(&target) {
        // `Category:` and nothing after it.
        return None;
    }
    if let Some(name) = category_name(&target) {
        let name = name.to_owned();
        if !colon && !as_link {
            return Some(Item::Category(CategoryTag {
                name,
                sort_key: label.map(str::to_owned),
                span,
            }));
        }
        target = category_page(&name);
        if target.len() > MAX_TITLE {
            return None;
        }
    }
    if target.is_empty() && section.is_none() {
        return None;
    }
    Some(Item::Link(Link {
        target,
        section,
        label: label.map(str::to_owned),
        span,
    }))
}

/// `#REDIRECT [[Target]]` at the start of the body.
fn find_redirect(body: &str) -> Option<Link> {
    const MAGIC: &str = "#redirect";
    let trimmed = body.trim_start();
    let start = body.len() - trimmed.len();
    if !trimmed.get(..MAGIC.len())?.eq_ignore_ascii_case(MAGIC) {
        return None;
    }
    let b = body.as_bytes();
    let mut i = start + MAGIC.len();
    let skip = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    i = skip(i);
    if b.get(i) == Some(&b':') {
        i = skip(i + 1);
    }
    if b.get(i..i + 2) != Some(b"[[") {
        return None;
    }
    let open = i;
    let mut j = open + 2;
    loop {
        match b.get(j) {
            None | Some(b'\n' | b'\r' | b'[') => return None,
            Some(b']') if b.get(j + 1) == Some(&b']') => break,
            _ => j += 1,
        }
    }
    let inner = body.get(open + 2..j)?;
    match interpret(inner, open..j + 2, true)? {
        Item::Link(link) if !link.is_same_page() => Some(link),
        _ => None,
    }
}

/// An open fenced code block.
struct Fence {
    /// `` ` `` or `~`.
    ch: u8,
    /// How many of them opened it.
    len: usize,
    /// The block quote depth it is in.
    quotes: usize,
    /// The content column of the list item it is in (0: none); a closing
    /// fence stands at most three columns right of it.
    container: usize,
    /// For a fence in a block quote inside a list item: the columns before
    /// the quote's markers (0: the markers start the line).
    outer: usize,
}

/// The line scan: finds code blocks, and hands runs of text lines
/// (paragraphs, headings, table cells) to [`scan_inline`].
fn scan_blocks(body: &str, items: &mut Vec<Item>) {
    let mut fence: Option<Fence> = None;
    // Open list items: (block quote depth, content column).
    let mut lists: Vec<(usize, usize)> = Vec::new();
    // The last item began with an empty line: a blank line ends it.
    let mut empty_item = false;
    let mut para_open = false;
    let mut chunk: Vec<Range<usize>> = Vec::new();
    let mut chunk_quotes = 0;
    // In a table: each line is a row, its cells scanned one by one.
    let mut table = false;
    let mut start = 0;
    while start < body.len() {
        let rest_of_body = body.get(start..).unwrap_or_default();
        let (line_len, next) = match rest_of_body.find('\n') {
            Some(n) => (n, start + n + 1),
            None => (rest_of_body.len(), body.len()),
        };
        let mut line = rest_of_body.get(..line_len).unwrap_or_default();
        if let Some(l) = line.strip_suffix('\r') {
            line = l;
        }
        let line_start = start;
        start = next;

        if let Some(f) = &fence {
            let q = if f.outer == 0 {
                strip_quotes(line, f.quotes, 0)
            } else {
                // The quote is inside a list item: its markers come after
                // the item's indentation.
                let (ind, ib) = indentation_at(line, 0);
                let mut q = strip_quotes(line.get(ib..).unwrap_or_default(), f.quotes, ind);
                if ind < f.outer {
                    q.depth = 0;
                }
                q.bytes += ib;
                q
            };
            let after = line.get(q.bytes..).unwrap_or_default();
            let (ind, ib) = indentation_at(after, q.col);
            let cols = q.extra + ind;
            let blank = after.trim().is_empty();
            let left = q.depth < f.quotes || (!blank && f.container > 0 && cols < f.container);
            if !left {
                if cols <= f.container + 3
                    && is_fence_close(after.get(ib..).unwrap_or_default(), f.ch, f.len)
                {
                    fence = None;
                }
                continue;
            }
            fence = None;
        }

        let quotes = strip_quotes(line, usize::MAX, 0);
        let mut depth = quotes.depth;
        let mut leads = quotes.leads;
        let after = line.get(quotes.bytes..).unwrap_or_default();
        let (ind, ib) = indentation_at(after, quotes.col);
        let mut cols = quotes.extra + ind;
        // The column `cols` counts from, for tab stops.
        let mut origin = quotes.col - quotes.extra;
        let mut rest = after.get(ib..).unwrap_or_default();
        let mut rest_start = line_start + quotes.bytes + ib;
        // Columns of list indentation before a quote inside a list item.
        let mut outer = 0;
        if rest.starts_with('>') && cols >= 4 {
            // Items this quote start is left of are over.
            while lists
                .last()
                .is_some_and(|&(d, top)| d > depth || (d == depth && cols < top))
            {
                lists.pop();
            }
        }
        if let Some(&(d, top)) = lists.last() {
            if rest.starts_with('>') && d == depth && cols >= top.max(4) && cols < top + 4 {
                // A block quote inside a list item, indented too far to be
                // seen at the start of the line.
                let q = strip_quotes(rest, usize::MAX, origin + cols);
                for k in 0..q.depth {
                    let lead = if k == 0 {
                        cols
                    } else {
                        q.leads.get(k).copied().unwrap_or(0)
                    };
                    if let Some(l) = leads.get_mut(depth + k) {
                        *l = lead;
                    }
                }
                outer = cols;
                depth += q.depth;
                let tail = rest.get(q.bytes..).unwrap_or_default();
                let (ind, ib) = indentation_at(tail, q.col);
                rest = tail.get(ib..).unwrap_or_default();
                rest_start += q.bytes + ib;
                cols = q.extra + ind;
                origin = q.col - q.extra;
            }
        }
        let cols = cols;
        let origin = origin;
        // Whether a list item (at quote depth `d`, content column `top`)
        // is over by this line: it is in a quote the line is not in, or
        // the line (or the quote marker it is in) is left of its content.
        let ends = |&(d, top): &(usize, usize), depth: usize, cols: usize| {
            d > depth
                || (d == depth && cols < top)
                || (d < depth && leads.get(d).is_some_and(|&lead| lead < top))
        };
        if rest.trim().is_empty() {
            flush(body, &mut chunk, items);
            para_open = false;
            table = false;
            if empty_item {
                lists.pop();
            }
            // Items inside a quote this line is not in are over.
            while lists.last().is_some_and(|&(d, top)| {
                d > depth || (d < depth && leads.get(d).is_some_and(|&l| l < top))
            }) {
                lists.pop();
            }
            empty_item = false;
            continue;
        }
        empty_item = false;
        let rule = is_rule(rest, para_open);
        // The content column of the innermost item the line is in (by a
        // bounded look down the stack; 0 past it).
        let inner = lists
            .iter()
            .rev()
            .take(64)
            .find(|&&(d, top)| d < depth || (d == depth && cols >= top))
            .map_or(0, |&(d, top)| if d == depth { top } else { 0 });
        // Whether the line starts a block where no paragraph is open: a
        // line outside the open paragraph's container that does is not a
        // lazy continuation of it.
        let starts_block = cols < inner + 4
            && (rule
                || rest.starts_with('>')
                || list_marker(rest, false, origin + cols).is_some()
                || fence_open(rest).is_some()
                || is_atx_heading(rest));
        if depth != chunk_quotes {
            // Fewer `>` on a line that continues a paragraph is still
            // that paragraph (a lazy line).
            if !(para_open && depth < chunk_quotes && !starts_block) {
                flush(body, &mut chunk, items);
                chunk_quotes = depth;
                para_open = false;
                table = false;
            }
        }
        if !para_open || starts_block {
            // A line less indented than a list item's content ends the
            // item, unless it continues a paragraph lazily.
            while lists.last().is_some_and(|item| ends(item, depth, cols)) {
                lists.pop();
                para_open = false;
            }
        }
        let base = match lists.last() {
            Some(&(d, top)) if d == depth => top,
            _ => 0,
        };
        if table && !starts_block {
            scan_row(body, rest_start..rest_start + rest.len(), items);
            continue;
        }
        table = false;
        if para_open && cols < base && !starts_block {
            // A lazy continuation line of a paragraph in a list item.
            chunk.push(rest_start..rest_start + rest.len());
            continue;
        }
        let lazy = depth < chunk_quotes || cols < base;
        if para_open && !lazy && cols < base + 4 && is_table_delimiter(rest) {
            // A table, if the line before (the paragraph's first, or one
            // starting with `|`) is a header row with as many cells.
            let header = chunk.pop().unwrap_or_default();
            let header_text = body.get(header.clone()).unwrap_or_default();
            if (chunk.is_empty() || header_text.starts_with('|'))
                && header_text.contains('|')
                && cell_count(body, header.clone())
                    == cell_count(body, rest_start..rest_start + rest.len())
            {
                flush(body, &mut chunk, items);
                scan_row(body, header, items);
                table = true;
                para_open = false;
                continue;
            }
            chunk.push(header);
        }
        let mut col = cols;
        if cols >= base + 4 {
            if !para_open {
                // An indented code line.
                flush(body, &mut chunk, items);
                continue;
            }
        } else if rule {
            // A thematic break or a setext underline: the paragraph ends.
            flush(body, &mut chunk, items);
            para_open = false;
            continue;
        } else if let Some(first) = list_marker(rest, para_open, origin + cols) {
            while lists.last().is_some_and(|item| ends(item, depth, cols)) {
                lists.pop();
            }
            flush(body, &mut chunk, items);
            para_open = false;
            // The item, and the items and quotes it starts with.
            let mut marker = Some(first);
            while let Some(m) = marker.take() {
                let content = col + m.cols;
                lists.push((depth, content));
                rest = rest.get(m.bytes..).unwrap_or_default();
                rest_start += m.bytes;
                col = content;
                match m.start {
                    ItemStart::Empty => empty_item = true,
                    ItemStart::Code => {}
                    ItemStart::Text => {
                        marker = list_marker(rest, false, origin + col);
                        if marker.is_none() && rest.starts_with('>') {
                            let q = strip_quotes(rest, usize::MAX, origin + col);
                            if outer == 0 {
                                outer = col;
                            }
                            depth += q.depth;
                            chunk_quotes = depth;
                            let tail = rest.get(q.bytes..).unwrap_or_default();
                            let (ind, ib) = indentation_at(tail, q.col);
                            rest = tail.get(ib..).unwrap_or_default();
                            rest_start += q.bytes + ib;
                            col = q.extra + ind;
                            if col >= 4 {
                                // The quote starts with indented code.
                                rest = "";
                            } else {
                                marker = list_marker(rest, false, q.col - q.extra + col);
                            }
                        }
                    }
                }
                if !matches!(m.start, ItemStart::Text) {
                    rest = "";
                }
            }
            if rest.trim().is_empty() {
                continue;
            }
        }
        // Fences, headings and rules may interrupt a paragraph, but not
        // from a line indented enough to continue it.
        if cols < base + 4 || !para_open {
            if let Some((ch, len)) = fence_open(rest) {
                flush(body, &mut chunk, items);
                let container = match lists.last() {
                    Some(&(d, top)) if d == depth && col >= top => top,
                    _ => 0,
                };
                fence = Some(Fence {
                    ch,
                    len,
                    quotes: depth,
                    container,
                    outer,
                });
                para_open = false;
                continue;
            }
            if is_atx_heading(rest) || is_rule(rest, false) {
                flush(body, &mut chunk, items);
                chunk.push(rest_start..rest_start + rest.len());
                flush(body, &mut chunk, items);
                para_open = false;
                continue;
            }
        }
        chunk.push(rest_start..rest_start + rest.len());
        para_open = true;
    }
    flush(body, &mut chunk, items);
}

/// Scans a finished run of text lines, then empties it.
fn flush(body: &str, chunk: &mut Vec<Range<usize>>, items: &mut Vec<Item>) {
    if !chunk.is_empty() {
        scan_inline(body, chunk, items);
        chunk.clear();
    }
}

/// Block quote markers at the start of a line.
struct Quotes {
    /// How many.
    depth: usize,
    /// Their bytes, with the spaces around them.
    bytes: usize,
    /// The columns of whitespace before each of the first eight.
    leads: [usize; 8],
    /// The column after them.
    col: usize,
    /// Columns of a tab after the last `>` beyond the one it stood for.
    extra: usize,
}

/// Strips up to `max` block quote markers (`>`, each after up to three
/// columns of whitespace and before an optional space, or a tab standing
/// for one) from a line whose first character is at column `start`.
fn strip_quotes(line: &str, max: usize, start: usize) -> Quotes {
    let b = line.as_bytes();
    let mut q = Quotes {
        depth: 0,
        bytes: 0,
        leads: [0; 8],
        col: start,
        extra: 0,
    };
    while q.depth < max {
        let mut j = q.bytes;
        let mut col = q.col;
        let mut lead = q.extra;
        while lead <= 3 {
            match b.get(j) {
                Some(b' ') => col += 1,
                Some(b'\t') => col += 4 - col % 4,
                _ => break,
            }
            lead = q.extra + (col - q.col);
            j += 1;
        }
        if lead > 3 || b.get(j) != Some(&b'>') {
            break;
        }
        if let Some(l) = q.leads.get_mut(q.depth) {
            *l = lead;
        }
        col += 1;
        j += 1;
        q.extra = 0;
        match b.get(j) {
            Some(b' ') => {
                j += 1;
                col += 1;
            }
            Some(b'\t') => {
                let width = 4 - col % 4;
                j += 1;
                col += width;
                q.extra = width - 1;
            }
            _ => {}
        }
        q.bytes = j;
        q.col = col;
        q.depth += 1;
    }
    q
}

/// Leading whitespace of text starting at column `start`: (columns, a
/// tab reaching the next multiple of four; bytes).
fn indentation_at(s: &str, start: usize) -> (usize, usize) {
    let mut col = start;
    let mut bytes = 0;
    for b in s.bytes() {
        match b {
            b' ' => col += 1,
            b'\t' => col += 4 - col % 4,
            _ => break,
        }
        bytes += 1;
    }
    (col - start, bytes)
}

/// How a list item's first line goes on after its marker.
#[derive(Clone, Copy)]
enum ItemStart {
    /// With text (or another block).
    Text,
    /// With nothing: a blank line next ends the item.
    Empty,
    /// With indented code (five or more spaces after the marker).
    Code,
}

/// A list item marker.
struct Marker {
    /// Columns from the marker to the item's content.
    cols: usize,
    /// Bytes from the marker to the item's content.
    bytes: usize,
    /// What follows.
    start: ItemStart,
}

/// A list item marker at the start of `rest` (`-`, `*`, `+`, `1.`, `1)`).
/// `in_paragraph`: only an item that may interrupt a paragraph (not empty,
/// numbered from 1). `col`: the column the marker is at (tabs after it
/// count from there).
fn list_marker(rest: &str, in_paragraph: bool, col: usize) -> Option<Marker> {
    let b = rest.as_bytes();
    let width = match b.first()? {
        b'-' | b'*' | b'+' => 1,
        b'0'..=b'9' => {
            let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits > 9 || !matches!(b.get(digits), Some(b'.' | b')')) {
                return None;
            }
            if in_paragraph && rest.get(..digits) != Some("1") {
                return None;
            }
            digits + 1
        }
        _ => return None,
    };
    let after = rest.get(width..)?;
    if after.trim().is_empty() {
        return (!in_paragraph).then_some(Marker {
            cols: width + 1,
            bytes: rest.len(),
            start: ItemStart::Empty,
        });
    }
    let (cols, bytes) = indentation_at(after, col + width);
    match cols {
        0 => None,
        1..=4 => Some(Marker {
            cols: width + cols,
            bytes: width + bytes,
            start: ItemStart::Text,
        }),
        _ => Some(Marker {
            cols: width + 1,
            bytes: width + 1,
            start: ItemStart::Code,
        }),
    }
}

/// An opening code fence: (character, length).
fn fence_open(rest: &str) -> Option<(u8, usize)> {
    let b = rest.as_bytes();
    let ch = *b.first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = b.iter().take_while(|&&c| c == ch).count();
    if len < 3 || (ch == b'`' && b.get(len..).is_some_and(|info| info.contains(&b'`'))) {
        return None;
    }
    Some((ch, len))
}

/// Whether `rest` closes a fence of `len` × `ch`.
fn is_fence_close(rest: &str, ch: u8, len: usize) -> bool {
    let n = rest.bytes().take_while(|&c| c == ch).count();
    n >= len && rest.get(n..).is_some_and(|tail| tail.trim().is_empty())
}

/// A table's delimiter row: cells like `---`, `:--`, `--:`, `:-:`
/// between pipes, at least one pipe.
fn is_table_delimiter(rest: &str) -> bool {
    let t = rest.trim();
    if !t.contains('|') {
        return false;
    }
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = t.strip_suffix('|').unwrap_or(t);
    t.split('|').all(|cell| {
        let c = cell.trim();
        let c = c.strip_prefix(':').unwrap_or(c);
        let c = c.strip_suffix(':').unwrap_or(c);
        !c.is_empty() && c.bytes().all(|b| b == b'-')
    })
}

/// The cells of a table row, split at pipes that are not escaped and not
/// inside a `[[…]]` closed later on the line, the outer pipes' empty
/// cells included; and the pipes inside `[[…]]`.
fn row_cells(body: &str, row: Range<usize>) -> (Vec<Range<usize>>, Vec<usize>) {
    let b = body.as_bytes();
    let last_close = body
        .get(row.clone())
        .and_then(|s| s.rfind("]]"))
        .map_or(0, |i| row.start + i);
    let pair =
        |i: usize, c: u8| i + 1 < row.end && b.get(i) == Some(&c) && b.get(i + 1) == Some(&c);
    let mut cells = Vec::new();
    let mut pipes = Vec::new();
    let mut cell_start = row.start;
    let mut open = false;
    let mut backslashes = 0;
    let mut i = row.start;
    while i < row.end {
        if b.get(i) == Some(&b'\\') {
            backslashes += 1;
            i += 1;
            continue;
        }
        let escaped = backslashes % 2 == 1;
        backslashes = 0;
        if !open && !escaped && pair(i, b'[') && i < last_close {
            open = true;
            i += 2;
        } else if open && pair(i, b']') {
            open = false;
            i += 2;
        } else {
            if b.get(i) == Some(&b'|') {
                if open {
                    pipes.push(i);
                } else if !escaped {
                    cells.push(cell_start..i);
                    cell_start = i + 1;
                }
            }
            i += 1;
        }
    }
    cells.push(cell_start..row.end);
    (cells, pipes)
}

/// How many cells a table row has (outer pipes not making cells).
fn cell_count(body: &str, row: Range<usize>) -> usize {
    let (cells, _) = row_cells(body, row);
    let blank = |r: Option<&Range<usize>>| {
        r.and_then(|r| body.get(r.clone()))
            .is_some_and(|s| s.trim().is_empty())
    };
    let mut n = cells.len();
    if n > 1 && blank(cells.first()) {
        n -= 1;
    }
    if n > 1 && blank(cells.last()) {
        n -= 1;
    }
    n
}

/// Scans a table row cell by cell (code spans end at a cell's edge).
fn scan_row(body: &str, row: Range<usize>, items: &mut Vec<Item>) {
    let (cells, pipes) = row_cells(body, row);
    let first = items.len();
    for cell in cells {
        scan_inline(body, &[cell], items);
    }
    // The pipes in `[[…]]` that turned out not to be in a link or category.
    let mut found = items
        .get(first..)
        .unwrap_or_default()
        .iter()
        .map(|item| match item {
            Item::Link(l) => l.span.clone(),
            Item::Category(c) => c.span.clone(),
            Item::Pipe(at) => *at..*at,
        });
    let mut span = found.next();
    let mut inert = Vec::new();
    for pipe in pipes {
        while span.as_ref().is_some_and(|s| s.end <= pipe) {
            span = found.next();
        }
        if !span.as_ref().is_some_and(|s| s.contains(&pipe)) {
            inert.push(Item::Pipe(pipe));
        }
    }
    items.extend(inert);
}

/// A thematic break (`***`, `- - -`, `___`), or after a paragraph line a
/// setext heading's underline (`===`, `---`).
fn is_rule(rest: &str, para_open: bool) -> bool {
    let t = rest.trim_end();
    let b = t.as_bytes();
    if para_open && !b.is_empty() && (b.iter().all(|&c| c == b'=') || b.iter().all(|&c| c == b'-'))
    {
        return true;
    }
    let Some(&ch) = b.first() else {
        return false;
    };
    matches!(ch, b'-' | b'*' | b'_')
        && b.iter().filter(|&&c| c == ch).count() >= 3
        && b.iter().all(|&c| c == ch || c == b' ' || c == b'\t')
}

/// `#` to `######` then a space, a tab or the end of the line.
fn is_atx_heading(rest: &str) -> bool {
    let n = rest.bytes().take_while(|&c| c == b'#').count();
    (1..=6).contains(&n) && matches!(rest.as_bytes().get(n), None | Some(b' ' | b'\t'))
}

/// A run of backticks in a chunk.
struct Run {
    pos: usize,
    len: usize,
    /// Backslashes right before it on its line.
    backslashes: usize,
}

/// Finds code spans and autolinks in a run of lines, then the `[[…]]`
/// outside them.
fn scan_inline(body: &str, lines: &[Range<usize>], items: &mut Vec<Item>) {
    let b = body.as_bytes();
    // Code spans: a run of n backticks up to the next run of exactly n.
    let mut runs: Vec<Run> = Vec::new();
    for line in lines {
        let mut i = line.start;
        let mut backslashes = 0;
        while i < line.end {
            match b.get(i) {
                Some(b'`') => {
                    let mut j = i;
                    while j < line.end && b.get(j) == Some(&b'`') {
                        j += 1;
                    }
                    runs.push(Run {
                        pos: i,
                        len: j - i,
                        backslashes,
                    });
                    backslashes = 0;
                    i = j;
                }
                Some(b'\\') => {
                    backslashes += 1;
                    i += 1;
                }
                _ => {
                    backslashes = 0;
                    i += 1;
                }
            }
        }
    }
    let mut by_len: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, run) in runs.iter().enumerate() {
        by_len.entry(run.len).or_default().push(k);
    }
    let mut protected: Vec<Range<usize>> = Vec::new();
    let mut code_end = 0;
    let mut k = 0;
    while let Some(run) = runs.get(k) {
        let escapes = run.backslashes.min(run.pos.saturating_sub(code_end));
        let (open, len) = if escapes % 2 == 1 {
            (run.pos + 1, run.len - 1)
        } else {
            (run.pos, run.len)
        };
        let closer = by_len.get(&len).and_then(|ks| {
            let at = ks.partition_point(|&x| x <= k);
            ks.get(at).copied()
        });
        match (len, closer) {
            (1.., Some(c)) => {
                let end = runs.get(c).map_or(open, |r| r.pos + r.len);
                protected.push(open..end);
                code_end = end;
                k = c + 1;
            }
            _ => k += 1,
        }
    }
    // Autolinks outside code spans: `<scheme:…>` on one line.
    let mut autolinks = Vec::new();
    let mut p = 0;
    for line in lines {
        let mut i = line.start;
        let mut backslashes = 0;
        while i < line.end {
            while protected.get(p).is_some_and(|r| r.end <= i) {
                p += 1;
            }
            if let Some(r) = protected.get(p).filter(|r| r.start <= i) {
                i = r.end;
                backslashes = 0;
                continue;
            }
            match b.get(i) {
                Some(b'<') if backslashes % 2 == 0 => {
                    backslashes = 0;
                    match autolink_end(b, i, line.end) {
                        Ok(end) => {
                            autolinks.push(i..end);
                            i = end;
                        }
                        Err(stop) => {
                            // Backslashes just before `stop` may escape it.
                            let mut k = stop;
                            while k > i + 1 && b.get(k - 1) == Some(&b'\\') {
                                k -= 1;
                            }
                            backslashes = stop - k;
                            i = stop;
                        }
                    }
                }
                Some(b'\\') => {
                    backslashes += 1;
                    i += 1;
                }
                _ => {
                    backslashes = 0;
                    i += 1;
                }
            }
        }
    }
    if !autolinks.is_empty() {
        protected.extend(autolinks);
        protected.sort_by_key(|r| r.start);
    }
    let mut p = 0;
    for line in lines {
        scan_links(body, line.clone(), &protected, &mut p, items);
    }
}

/// The end of an autolink starting with `<` at `i`, or where to go on.
fn autolink_end(b: &[u8], i: usize, end: usize) -> Result<usize, usize> {
    let mut j = i + 1;
    let scheme_start = j;
    while j < end
        && j - scheme_start <= 32
        && b.get(j)
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c))
    {
        j += 1;
    }
    let scheme = j - scheme_start;
    if !(2..=32).contains(&scheme)
        || !b.get(scheme_start).is_some_and(u8::is_ascii_alphabetic)
        || b.get(j) != Some(&b':')
    {
        return Err(i + 1);
    }
    j += 1;
    while j < end {
        match b.get(j) {
            Some(b'>') => return Ok(j + 1),
            Some(b'<') => return Err(j),
            Some(c) if *c <= b' ' || *c == 0x7f => return Err(j),
            _ => j += 1,
        }
    }
    Err(end)
}

/// Finds the `[[…]]` on one line, outside the protected ranges (sorted;
/// `p` is the first that may still matter).
fn scan_links(
    body: &str,
    line: Range<usize>,
    protected: &[Range<usize>],
    p: &mut usize,
    items: &mut Vec<Item>,
) {
    let b = body.as_bytes();
    let end = line.end;
    let mut i = line.start;
    let mut backslashes = 0;
    while i < end {
        while protected.get(*p).is_some_and(|r| r.end <= i) {
            *p += 1;
        }
        let next_protected = protected.get(*p).map_or(usize::MAX, |r| r.start);
        if next_protected <= i {
            i = protected.get(*p).map_or(end, |r| r.end);
            backslashes = 0;
            continue;
        }
        let at = |k: usize| b.get(k).copied();
        if at(i) == Some(b'[') && at(i + 1) == Some(b'[') && i + 1 < end && backslashes % 2 == 0 {
            // The innermost pair of a run of `[`.
            let mut open = i;
            while open + 2 < end && open + 2 < next_protected && at(open + 2) == Some(b'[') {
                open += 1;
            }
            let mut j = open + 2;
            let mut run = 0;
            loop {
                if j + 1 >= end || j + 1 >= next_protected {
                    i = j.max(i + 1);
                    backslashes = run;
                    break;
                }
                match (at(j), at(j + 1)) {
                    (Some(b']'), Some(b']')) => {
                        let span = open..j + 2;
                        if let Some(item) = body
                            .get(open + 2..j)
                            .and_then(|inner| interpret(inner, span, false))
                        {
                            items.push(item);
                        }
                        i = j + 2;
                        backslashes = 0;
                        break;
                    }
                    (Some(b'['), Some(b'[')) => {
                        i = j;
                        backslashes = run;
                        break;
                    }
                    (Some(b'\\'), _) => run += 1,
                    _ => run = 0,
                }
                j += 1;
            }
            continue;
        }
        if at(i) == Some(b'\\') {
            backslashes += 1;
        } else {
            backslashes = 0;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(body: &str) -> Vec<String> {
        parse(body).links.into_iter().map(|l| l.target).collect()
    }

    fn link(body: &str) -> Link {
        let mut links = parse(body).links;
        assert_eq!(links.len(), 1, "{body:?}: {links:?}");
        links.remove(0)
    }

    #[test]
    fn plain_forms() {
        let l = link("see [[Visa policy]] now");
        assert_eq!(l.target, "Visa policy");
        assert_eq!((l.section, l.label), (None, None));
        assert_eq!(l.span, 4..19);

        let l = link("[[Visa policy|the policy]]");
        assert_eq!(l.label.as_deref(), Some("the policy"));

        let l = link("[[Visa policy#Fees]]");
        assert_eq!(l.section.as_deref(), Some("Fees"));
        assert_eq!(l.display(), "Visa policy#Fees");

        let l = link("[[Visa policy#Fees|fees]]");
        assert_eq!(
            (l.target.as_str(), l.section.as_deref(), l.label.as_deref()),
            ("Visa policy", Some("Fees"), Some("fees"))
        );

        let l = link("[[#Fees]]");
        assert!(l.is_same_page());
        assert_eq!(l.section.as_deref(), Some("Fees"));
        assert_eq!(l.display(), "#Fees");

        assert_eq!(targets("[[Help:Editing]]"), ["Help:Editing"]);
        assert_eq!(targets("[[a|b|c]]"), ["a"]);
        assert_eq!(link("[[a|b|c]]").label.as_deref(), Some("b|c"));
        assert_eq!(link("[[a| ]]").label, None);
        assert_eq!(link("[[a#]]").section, None);
    }

    #[test]
    fn normalization() {
        assert_eq!(
            targets("[[  Foreign_Ministry \t of__Uzbekistan ]]"),
            ["Foreign Ministry of Uzbekistan"]
        );
        assert_eq!(targets("[[visa]]"), ["visa"]);
        assert_eq!(
            link("[[A# Entry_rules ]]").section.as_deref(),
            Some("Entry rules")
        );
        assert_eq!(
            targets("[[Ташкент]] [[Oʻzbekiston]] [[Тошкент_шаҳри]]"),
            ["Ташкент", "Oʻzbekiston", "Тошкент шаҳри"]
        );
    }

    #[test]
    fn rejected_targets() {
        for body in [
            "[[]]",
            "[[ ]]",
            "[[#]]",
            "[[|x]]",
            "[[a{b}]]",
            "[[a<b]]",
            "[[a>b]]",
            "[[a\u{7}b]]",
            "[[a\nb]]",
            "[[a|b\nc]]",
            "[[Category:]]",
            "[[:Category: ]]",
        ] {
            let m = parse(body);
            assert!(
                m.links.is_empty() && m.category_tags.is_empty(),
                "{body:?}: {m:?}"
            );
        }
        let long = "x".repeat(MAX_TITLE);
        assert_eq!(targets(&format!("[[{long}]]")), [long.as_str()]);
        assert!(targets(&format!("[[{long}y]]")).is_empty());
    }

    #[test]
    fn categories() {
        let m =
            parse("[[Category:Visas]] text [[category:visas|b]] [[Category: Consular_affairs |k]]");
        assert!(m.links.is_empty());
        assert_eq!(m.categories, ["Visas", "Consular affairs"]);
        assert_eq!(m.category_tags.len(), 3);
        assert_eq!(m.category_tags[1].sort_key.as_deref(), Some("b"));
        assert_eq!(m.category_tags[2].name, "Consular affairs");

        let l = link("[[:Category:Visas]]");
        assert_eq!(l.target, "Category:Visas");
        assert_eq!(l.markup(), "[[:Category:Visas]]");
        assert_eq!(link("[[:category:visas|all]]").target, "Category:visas");
        assert_eq!(link("[[:Help:X]]").target, "Help:X");
        assert_eq!(parse("[[Категории:X]]").links.len(), 1);
    }

    #[test]
    fn redirects() {
        let body = "  \n#REDIRECT [[Visa policy#Fees]]\n[[Category:Old]] [[Other]]";
        let m = parse(body);
        let r = m.redirect.clone().unwrap_or_else(|| panic!("{m:?}"));
        assert_eq!(r.target, "Visa policy");
        assert_eq!(r.section.as_deref(), Some("Fees"));
        assert_eq!(&body[r.span.clone()], "[[Visa policy#Fees]]");
        assert_eq!(targets(body), ["Other"]);
        assert_eq!(m.categories, ["Old"]);

        for body in ["#redirect[[A]]", "#Redirect: [[A]]", "\t#REDIRECT\t[[A|x]]"] {
            assert_eq!(parse(body).redirect.map(|r| r.target).as_deref(), Some("A"));
        }
        assert_eq!(
            parse("#REDIRECT [[Category:X]]")
                .redirect
                .map(|r| r.target)
                .as_deref(),
            Some("Category:X")
        );
        for body in [
            "text\n#REDIRECT [[A]]",
            "#REDIRECT\n[[A]]",
            "#REDIRECTION [[A]]",
            "#REDIRECT [[#S]]",
            "#REDIRECT [[a<b]]",
            "#REDIRECT [[A",
        ] {
            assert_eq!(parse(body).redirect, None, "{body:?}");
        }
        assert_eq!(
            parse("#REDIRECT [[#S]]").links[0].section.as_deref(),
            Some("S")
        );
    }

    #[test]
    fn brackets() {
        assert_eq!(targets("[[a"), Vec::<String>::new());
        assert_eq!(targets("[[a]]]"), ["a"]);
        assert_eq!(targets("[[[a]]]"), ["a"]);
        assert_eq!(targets("[[[[a]]"), ["a"]);
        assert_eq!(targets("[[a [[b]] c]]"), ["b"]);
        assert_eq!(targets("]] [[ ]] [["), Vec::<String>::new());
        assert_eq!(targets("[[a|x [1] y]]"), ["a"]);
        assert_eq!(link("[[a|x [1] y]]").label.as_deref(), Some("x [1] y"));
        assert_eq!(targets("[[a]][[b]]"), ["a", "b"]);
        assert_eq!(targets("[a] [[b]"), Vec::<String>::new());
        assert_eq!(targets(r"\[[a]] \\[[b]]"), ["b"]);
        assert_eq!(targets("[[a\n]]"), Vec::<String>::new());
        assert_eq!(targets("[[a\r\n]] [[b]]\r\n"), ["b"]);
    }

    #[test]
    fn code_is_not_links() {
        assert_eq!(targets("`[[a]]` [[b]] ``x [[c]] ` y`` `[[d]]"), ["b", "d"]);
        assert_eq!(targets("\\`[[a]]` [[b]]"), ["a", "b"]);
        assert_eq!(targets("\\``[[a]]` [[b]]"), ["b"]);
        assert_eq!(targets("`a\n[[b]]` [[c]]"), ["c"]);
        assert_eq!(targets("`a\n\n[[b]]` [[c]]"), ["b", "c"]);
        assert_eq!(targets("```\n[[a]]\n```\n[[b]]"), ["b"]);
        assert_eq!(targets("~~~~ rust\n[[a]]\n~~~\n[[x]]\n~~~~\n[[b]]"), ["b"]);
        assert_eq!(targets("```\n[[a]]\n"), Vec::<String>::new());
        assert_eq!(targets("``` a`b\n[[a]]"), ["a"]);
        assert_eq!(targets("> ```\n> [[a]]\n> ```\n> [[b]]"), ["b"]);
        assert_eq!(targets("> ```\n> [[a]]\n[[b]]"), ["b"]);
        assert_eq!(targets("> ` [[a]]\n` [[b]]"), ["b"]);
        assert_eq!(targets("> ` [[a]]\n\n` [[b]]"), ["a", "b"]);
        assert_eq!(targets("- ```\n  [[a]]\n  ```\n- [[b]]"), ["b"]);
        assert_eq!(targets("- ```\n  [[a]]\n[[b]]"), ["b"]);
        assert_eq!(targets("  ```\n[[a]]\n  ```\n[[b]]"), ["b"]);
        assert_eq!(targets("text\n\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("text\n    [[a]]"), ["a"]);
        assert_eq!(targets("- item\n\n    [[a]]"), ["a"]);
        assert_eq!(targets("-\titem\n\n    [[a]]"), ["a"]);
        assert_eq!(targets("-\titem\n\n       [[a]]"), ["a"]);
        assert_eq!(targets("-\titem\n\n        [[a]]"), Vec::<String>::new());
        assert_eq!(targets("- item\n\n      [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("- a\n# b\n\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("- a\nlazy\n\n    [[a]]"), ["a"]);
        assert_eq!(targets("a\n2) b\n\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("a\n-\n\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("a\n1) b\n\n    [[a]]"), ["a"]);
        assert_eq!(targets("> `\n2) `[[a]]`"), Vec::<String>::new());
        assert_eq!(targets("- `\n2) `[[a]]`"), Vec::<String>::new());
        assert_eq!(targets("- `\n  2) `[[a]]`"), ["a"]);
        assert_eq!(targets("> - a\n\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("> - a\n>\n>     [[a]]"), ["a"]);
        assert_eq!(targets("- a\n> - b\n\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("- a\n\n  > b\n\n      [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("<https://x/[[a]]> [[b]] <a [[c]]>"), ["b", "c"]);
        assert_eq!(targets("<ab:b\\<cd:[[d]]>"), ["d"]);
        assert_eq!(targets("<ab:b<cd:[[d]]>"), Vec::<String>::new());
        assert_eq!(targets("# [[Heading]]\n[[b]]"), ["Heading", "b"]);
        assert_eq!(targets("text\n```\n[[a]]\n```\n[[b]]"), ["b"]);
        assert_eq!(targets("text\n```\n```\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("text\n# h\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("text\n    ```\n[[a]]"), ["a"]);
        assert_eq!(targets("- ```\n  [[a]]"), Vec::<String>::new());
        assert_eq!(targets("1.      [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("-\n\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("-\n    [[a]]"), ["a"]);
        assert_eq!(targets("- - ```\n    [[a]]\n    ```\n[[b]]"), ["b"]);
        assert_eq!(targets("1. > ```\n   > [[a]]\n   > ```\n   > [[b]]"), ["b"]);
        assert_eq!(targets(">\t  [[a]]\n\n>  [[b]]"), ["b"]);
        assert_eq!(targets("- >     [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("> `a\n\t# `[[a]]"), ["a"]);
        assert_eq!(targets("> \t>      [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("- > \tx[[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(
            targets("1. a\n\n    > ```\n    > [[a]]\n    > ```\n    > [[b]]"),
            ["b"]
        );
        assert_eq!(
            targets("10. > ```\n    > [[a]]\n    > ```\n    > [[b]]"),
            ["b"]
        );
        assert_eq!(targets("10. > ```\n    > [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("10. a\n>\n\n    [[a]]"), Vec::<String>::new());
        assert_eq!(targets("+ 10. a\n    > >     [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("  ```\n    ```\n[[a]]"), Vec::<String>::new());
        assert_eq!(targets("- ```\n     ```\n  [[a]]"), ["a"]);
        assert_eq!(targets("  10. `a\n    1. ``` `[[a]]"), ["a"]);
        assert_eq!(targets("- 1. a\n    10. ~~~\n    [[a]]\n[[b]]"), ["a", "b"]);
        assert_eq!(
            targets("| `a | [[b]]` |\n|--|--|\n| `x\n| [[c]]` |"),
            ["b", "c"]
        );
        assert_eq!(targets("a | `b\n- | -\n[[c]]`"), ["c"]);
        assert_eq!(targets("| [[a|b]] | `c |\n|--|--|"), ["a"]);
        let body = "| `[[a|b]]` | [[c|d]] |\n|--|--|\n| ` [[e|f]] `[[g]]` |";
        let m = parse(body);
        assert_eq!(targets(body), ["c", "g"]);
        assert_eq!(m.inert_pipes, [6, body.find("e|").map_or(0, |i| i + 1)]);
        assert_eq!(targets("x\n| `a | [[b]]` |\n|--|--|"), ["b"]);
        assert_eq!(
            targets("- a\n| `b | [[c]]` |\n|--|--|"),
            Vec::<String>::new()
        );
        assert_eq!(targets("- a\n  | `b | [[c]]` |\n  |--|--|"), ["c"]);
        assert_eq!(
            targets("x\na | `b | [[c]]` |\n|--|--|"),
            Vec::<String>::new()
        );
        assert_eq!(targets("a\n---\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("a\n===\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("a\n* * *\n    [[a]]\n\n[[b]]"), ["b"]);
        assert_eq!(targets("- - -\n    [[a]]\n\n[[b]]"), ["b"]);
    }

    #[test]
    fn replace() {
        let body =
            "#REDIRECT [[Old]]\nSee [[Old#Fees|fees]], [[old]] and [[Other]]. [[Category:Old]]";
        let out = replace_links(body, |l| {
            l.target.eq_ignore_ascii_case("old").then(|| {
                Link {
                    target: "New".into(),
                    ..l.clone()
                }
                .markup()
            })
        });
        assert_eq!(
            out,
            "#REDIRECT [[New]]\nSee [[New#Fees|fees]], [[New]] and [[Other]]. [[Category:Old]]"
        );
        assert_eq!(replace_links(body, |_| None), body);
    }

    #[test]
    fn anchors() {
        assert_eq!(anchor("Visa rules"), "visa-rules");
        assert_eq!(anchor("  Entry -- rules (2024)! "), "entry-rules-2024");
        assert_eq!(anchor("Виза қоидалари"), "виза-қоидалари");
        assert_eq!(anchor("?!"), "section");
        assert_eq!(anchor("a_b"), "a-b");
    }
}
