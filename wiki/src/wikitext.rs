//! MediaWiki wikitext, converted to chapar's Markdown when a wiki is
//! imported.
//!
//! chapar's pages are Markdown with MediaWiki-style links (`[[Page]]`,
//! `[[Page|label]]`, `[[Page#Section]]`, `[[Category:X]]`) and redirects
//! (`#REDIRECT [[Target]]`), so that people who know MediaWiki keep their
//! habits. An imported page keeps its original wikitext beside the
//! conversion; the conversion is what people read and edit from then on,
//! so it must lose nothing a reader needs: what has no Markdown form is
//! kept verbatim (as inline code or a fenced ```` ```wikitext ```` block)
//! rather than dropped or guessed at.
//!
//! [`to_markdown`] handles what pages are mostly made of: headings, bold
//! and italic, internal and external links, lists, definition lists,
//! simple tables, `<nowiki>`, `<pre>`, `<code>`, preformatted lines,
//! `<br>` and comments. It is total (any string, never a panic),
//! deterministic and linear in time: a single pass finds the tags,
//! comments and templates, then each line is converted once. There is no
//! regular expression engine and no backtracking.
//!
//! [`redirect_target`] reads a page's redirect the way MediaWiki does.

/// The target of a MediaWiki redirect page, or `None` when the text is not
/// one.
///
/// A redirect is the text's first non-blank characters: the magic word
/// `#REDIRECT` (any case; also Vietnamese `#ĐỔI`, as in the corpus export,
/// precomposed or decomposed), then optional whitespace, an optional
/// colon, optional whitespace and a link `[[Target]]` or `[[Target|...]]`
/// on one line, as in MediaWiki. What follows the link is ignored.
///
/// The target is normalized as MediaWiki normalizes titles: a leading `:`
/// is dropped, `%xx` escapes are decoded when the target holds any, `_`
/// becomes a space, runs of whitespace become one space, and the ends are
/// trimmed. A `#section` is **kept** (`Target#Section`), because chapar's
/// `[[Page#Section]]` links carry sections too; split at the first `#`
/// for the page alone. A target that is empty or holds a character no
/// title may hold (`< > [ ] { } |` or a control character) is not a
/// redirect (MediaWiki shows such a page as text).
///
/// ```
/// use chapar_wiki::wikitext::redirect_target;
///
/// assert_eq!(redirect_target("#REDIRECT [[New_York City]]").as_deref(), Some("New York City"));
/// assert_eq!(redirect_target("  #redirect:[[Tashkent#History|x]]").as_deref(), Some("Tashkent#History"));
/// assert_eq!(redirect_target("#đổi [[Alexandre de Rhodes]]").as_deref(), Some("Alexandre de Rhodes"));
/// assert_eq!(redirect_target("See #REDIRECT [[X]]"), None);
/// ```
pub fn redirect_target(wikitext: &str) -> Option<String> {
    redirect_span(wikitext).map(|(target, _)| target)
}

/// The magic words for a redirect, lowercase: English (every wiki) and
/// Vietnamese, precomposed and decomposed (NFD).
const REDIRECT_WORDS: [&str; 3] = ["#redirect", "#đổi", "#đo\u{302}\u{309}i"];

/// The redirect target and the byte offset just after its link.
fn redirect_span(text: &str) -> Option<(String, usize)> {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    let after_word = REDIRECT_WORDS
        .iter()
        .find_map(|w| strip_prefix_ci(rest, w))
        .map(|n| start + n)?;
    let mut i = skip_ascii_ws(text, after_word);
    if text[i..].starts_with(':') {
        i = skip_ascii_ws(text, i + 1);
    }
    let inner_start = i + text[i..].strip_prefix("[[").map(|_| 2)?;
    let close = inner_start + text[inner_start..].find("]]")?;
    let inner = &text[inner_start..close];
    if inner.contains('\n') {
        return None;
    }
    let raw = inner.split('|').next().unwrap_or_default();
    let target = normalize_target(
        raw.trim_start_matches(|c: char| c == ':' || c.is_whitespace()),
        true,
    )?;
    if target.starts_with('#') {
        return None;
    }
    Some((target, close + 2))
}

/// Matches `word` (lowercase) at the start of `s` in any case; the length
/// of the match in `s`.
fn strip_prefix_ci(s: &str, word: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if !c.to_lowercase().eq(std::iter::once(w)) {
            return None;
        }
    }
    Some(chars.next().map_or(s.len(), |(i, _)| i))
}

fn skip_ascii_ws(s: &str, mut i: usize) -> usize {
    let b = s.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// A link or redirect target as MediaWiki normalizes a title (see
/// [`redirect_target`]); `None` when it is empty or invalid.
fn normalize_target(raw: &str, decode: bool) -> Option<String> {
    let decoded;
    let raw = if decode && raw.contains('%') {
        decoded = percent_decode(raw);
        decoded.as_str()
    } else {
        raw
    };
    let mut out = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.chars() {
        if matches!(c, '<' | '>' | '[' | ']' | '{' | '}' | '|') || c.is_control() {
            return None;
        }
        if c == '_' || c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

/// `%xx` decoding; the text unchanged when the result is not UTF-8.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |k: usize| b.get(k).and_then(|&x| (x as char).to_digit(16));
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

// ---------------------------------------------------------------------------
// The converter
// ---------------------------------------------------------------------------

/// Converts MediaWiki wikitext to chapar's Markdown, for import.
///
/// Converted:
///
/// - `#REDIRECT [[X]]` (and `#ĐỔI`) → `#REDIRECT [[X]]`, chapar's form;
/// - headings `= H =` to `====== H ======` → `#` to `######`;
/// - `''italic''`, `'''bold'''`, `'''''both'''''` (with MediaWiki's rules
///   for odd counts), `<i>`, `<em>`, `<b>`, `<strong>` → `*`, `**`
///   (`<i>`/`<b>` where Markdown's emphasis rules cannot express the span,
///   e.g. `'''X''''s`);
/// - internal links stay in chapar's syntax, the target normalized (`_` →
///   space): `[[Page]]`, `[[Page|label]]` (the label converted),
///   `[[Page#Sec|l]]`, `[[Category:X]]`, `[[:Category:X]]`;
/// - `[http://x label]` → `[label](http://x)`, `[http://x]` and bare URLs
///   → `<http://x>`;
/// - `*`, `#` lists and their nesting (`**`, `#*`, `*#`...) → Markdown
///   lists; `:` (indentation, definitions) → block quotes; `;term : def`
///   → a bold term and a quoted definition;
/// - simple tables (`{|`, `|+` caption, `|-`, `!` headers, `|`/`||` cells,
///   cell attributes other than `rowspan`/`colspan`) → pipe tables;
/// - `<nowiki>` → escaped literal text; `<pre>`, `<syntaxhighlight>`,
///   `<source>` and lines that begin with a space → fenced code;
///   `<code>`, `<tt>`, `<kbd>`, `<samp>` → inline code;
/// - `<br>` → a line break; `----` → a rule; comments and behaviour
///   switches (`__TOC__`...) are dropped; `<span>`, `<div>`, `<center>`,
///   `<small>`, `<big>`, `<font>`, `<u>`, `<ins>` tags are dropped and their
///   content kept.
///
/// Kept verbatim (inline code, or a fenced ```` ```wikitext ```` block when
/// it spans lines): templates `{{...}}` (nested) and parameters `{{{...}}}`,
/// `<ref>`, `<references/>`, `<math>`, `<gallery>` and other extension
/// tags, file and image links (`[[File:...]]`, `[[Image:...]]` and their
/// Vietnamese, Russian and Uzbek names), links whose label holds links,
/// and every table that is not simple (nested tables, `rowspan`/`colspan`,
/// cells over several lines, tables inside lists). Any other HTML tag
/// stays as escaped text, shown as written.
///
/// In plain text, characters that would change meaning in Markdown are
/// escaped: `\`, `` ` ``, `*`, `_`, `[`, `]`, `<`, `~`, `|` everywhere,
/// and `#`, `>`, `-`, `+`, `=`, and `1.`/`1)` at the start of a line.
/// Inside a table cell a link's `|` is written `\|`, as pipe tables
/// require.
///
/// ```
/// use chapar_wiki::wikitext::to_markdown;
///
/// let md = to_markdown("== History ==\n'''Tashkent''' is the [[capital_city|capital]] of [[Uzbekistan]].");
/// assert_eq!(md, "## History\n\n**Tashkent** is the [[capital city|capital]] of [[Uzbekistan]].\n");
/// ```
pub fn to_markdown(wikitext: &str) -> String {
    let mut blocks = Vec::new();
    let mut body = wikitext;
    if let Some((target, end)) = redirect_span(wikitext) {
        blocks.push(format!("#REDIRECT [[{target}]]"));
        body = &wikitext[end..];
    }
    Converter::new(body).blocks(&mut blocks);
    let mut out = blocks.join("\n\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// An element of a line: a character (below [`TOK`]) or a token, `TOK +`
/// its index.
type Atom = u32;
/// The first atom value that is a token (one past the last `char`).
const TOK: u32 = 0x11_0000;

fn ch(a: Atom) -> Option<char> {
    if a < TOK { char::from_u32(a) } else { None }
}

fn is(a: Atom, c: char) -> bool {
    a == c as u32
}

/// Bold or italic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Emph {
    Bold,
    Italic,
}

/// What the first pass found.
#[derive(Debug)]
enum Tok {
    /// `<nowiki>` content: literal text.
    Nowiki(String),
    /// `<pre>` content, entities decoded.
    Pre(String),
    /// `<syntaxhighlight>`/`<source>`: language and code.
    Code(String, String),
    /// `<code>`, `<tt>`, `<kbd>`, `<samp>` content, entities decoded.
    CodeSpan(String),
    /// Kept as written: templates, extension tags (the raw source span).
    Verbatim,
    /// `<br>`.
    Br,
    /// `<b>`, `<i>`... : opening (`true`) or closing.
    Fmt(Emph, bool),
}

struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

/// One line of the source: its atoms and its byte range (a token holding
/// newlines makes a line span several).
struct Line {
    atoms: Vec<Atom>,
    start: usize,
    end: usize,
    /// Text that follows a block on the same line: never a list or heading.
    cont: bool,
}

/// An opaque span found by the first pass.
struct Span {
    start: usize,
    end: usize,
    /// `None`: a comment (dropped).
    kind: Option<Tok>,
}

/// Extension tags kept verbatim with their content.
const VERBATIM_TAGS: &[&str] = &[
    "ref",
    "references",
    "math",
    "chem",
    "ce",
    "gallery",
    "poem",
    "score",
    "timeline",
    "hiero",
    "graph",
    "templatedata",
    "templatestyles",
    "mapframe",
    "maplink",
    "inputbox",
    "categorytree",
    "imagemap",
    "section",
    "indicator",
    "charinsert",
    "syntax",
    "dynamicpagelist",
    "rss",
    "quiz",
    "tabber",
    "includeonly",
    "onlyinclude",
];

/// Namespaces whose links embed a file rather than link to a page.
const FILE_NAMESPACES: &[&str] = &[
    "file",
    "image",
    "media",
    "tập tin",
    "hình",
    "tệp tin",
    "файл",
    "изображение",
    "медиа",
    "fayl",
    "tasvir",
    "rasm",
];

/// Behaviour switches, dropped.
const MAGIC_WORDS: &[&str] = &[
    "NOTOC",
    "FORCETOC",
    "TOC",
    "NOEDITSECTION",
    "NEWSECTIONLINK",
    "NONEWSECTIONLINK",
    "NOGALLERY",
    "HIDDENCAT",
    "INDEX",
    "NOINDEX",
    "STATICREDIRECT",
    "DISAMBIG",
    "NOTITLECONVERT",
    "NOTC",
    "NOCONTENTCONVERT",
    "NOCC",
    "EXPECTUNUSEDCATEGORY",
    "EXPECTUNUSEDTEMPLATE",
    "NOGLOBAL",
];

struct Converter<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    lines: Vec<Line>,
}

impl<'a> Converter<'a> {
    fn new(src: &'a str) -> Self {
        let mut conv = Converter {
            src,
            tokens: Vec::new(),
            lines: Vec::new(),
        };
        let opaque = scan_opaque(src);
        let templates = scan_templates(src, &opaque);
        conv.build_lines(opaque, templates);
        conv
    }

    fn raw(&self, t: &Token) -> &'a str {
        self.src.get(t.start..t.end).unwrap_or_default()
    }

    fn token(&self, a: Atom) -> Option<&Token> {
        a.checked_sub(TOK).and_then(|i| self.tokens.get(i as usize))
    }

    /// The source of some atoms, as written.
    fn raw_atoms(&self, atoms: &[Atom]) -> String {
        let mut s = String::new();
        for &a in atoms {
            match (ch(a), self.token(a)) {
                (Some(c), _) => s.push(c),
                (None, Some(t)) => s.push_str(self.raw(t)),
                _ => {}
            }
        }
        s
    }

    // -- Lines ---------------------------------------------------------------

    fn build_lines(&mut self, opaque: Vec<Span>, templates: Vec<(usize, usize)>) {
        let mut events: Vec<Span> = Vec::with_capacity(opaque.len() + templates.len());
        let mut t = templates.into_iter().peekable();
        for span in opaque {
            while let Some(&(s, e)) = t.peek() {
                if s <= span.start {
                    events.push(Span {
                        start: s,
                        end: e,
                        kind: Some(Tok::Verbatim),
                    });
                    t.next();
                } else {
                    break;
                }
            }
            // Inside a template: part of its verbatim text.
            if events.last().is_some_and(|last| span.start < last.end) {
                continue;
            }
            events.push(span);
        }
        events.extend(t.map(|(s, e)| Span {
            start: s,
            end: e,
            kind: Some(Tok::Verbatim),
        }));
        let mut line = Line {
            atoms: Vec::new(),
            start: 0,
            end: 0,
            cont: false,
        };
        let mut pos = 0;
        for ev in events {
            if ev.start < pos {
                continue;
            }
            self.push_text(&mut line, pos, ev.start);
            if let Some(kind) = ev.kind {
                self.push_token(&mut line, kind, ev.start, ev.end);
            }
            pos = ev.end;
        }
        self.push_text(&mut line, pos, self.src.len());
        line.end = self.src.len();
        self.lines.push(line);
    }

    fn push_token(&mut self, line: &mut Line, kind: Tok, start: usize, end: usize) {
        line.atoms.push(TOK + self.tokens.len() as u32);
        self.tokens.push(Token { kind, start, end });
    }

    /// Text between tokens: characters, line breaks and the small inline
    /// tags (`<br>`, `<b>`...).
    fn push_text(&mut self, line: &mut Line, from: usize, to: usize) {
        let src = self.src;
        let Some(text) = src.get(from..to) else {
            return;
        };
        let mut iter = text.char_indices();
        while let Some((i, c)) = iter.next() {
            match c {
                '\n' => {
                    line.end = from + i;
                    let next = Line {
                        atoms: Vec::new(),
                        start: from + i + 1,
                        end: from + i + 1,
                        cont: false,
                    };
                    self.lines.push(std::mem::replace(line, next));
                }
                '\r' => {}
                '<' => match small_tag(&text[i..]) {
                    Some((len, tag)) => {
                        if let Some(kind) = tag {
                            self.push_token(line, kind, from + i, from + i + len);
                        }
                        // Skip the rest of the tag (ASCII up to `>`).
                        let stop = i + len;
                        while iter.clone().next().is_some_and(|(j, _)| j < stop) {
                            iter.next();
                        }
                    }
                    None => line.atoms.push(c as u32),
                },
                c => line.atoms.push(c as u32),
            }
        }
    }

    // -- Blocks --------------------------------------------------------------

    fn is_block_token(&self, a: Atom) -> bool {
        match self.token(a) {
            Some(t) => match t.kind {
                Tok::Pre(_) | Tok::Code(..) => true,
                Tok::Verbatim | Tok::CodeSpan(_) => self.raw(t).contains('\n'),
                _ => false,
            },
            None => false,
        }
    }

    fn blocks(&self, out: &mut Vec<String>) {
        let mut group = Group::None;
        let lines = &self.lines;
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            if is_table_start(&line.atoms) {
                let end = table_end(lines, i);
                group.flush(out);
                out.push(self.table(&lines[i..=end]));
                i = end + 1;
                continue;
            }
            if line.atoms.iter().any(|&a| self.is_block_token(a)) {
                // Split around the blocks: the text before keeps its line
                // role, the text after is plain paragraph text.
                let mut part = Vec::new();
                let mut cont = line.cont;
                for &a in &line.atoms {
                    if self.is_block_token(a) {
                        self.line(&part, cont, &mut group, out, lines.get(i + 1));
                        group.flush(out);
                        out.push(self.block(a));
                        part.clear();
                        cont = true;
                    } else {
                        part.push(a);
                    }
                }
                self.line(&part, cont, &mut group, out, lines.get(i + 1));
            } else {
                self.line(&line.atoms, line.cont, &mut group, out, lines.get(i + 1));
            }
            i += 1;
        }
        group.flush(out);
    }

    /// A fenced block for a block token.
    fn block(&self, a: Atom) -> String {
        match self.token(a) {
            Some(t) => match &t.kind {
                Tok::Pre(body) => fence("", body),
                Tok::Code(lang, body) => fence(lang, body),
                Tok::CodeSpan(body) => fence("", body),
                _ => fence("wikitext", self.raw(t)),
            },
            None => String::new(),
        }
    }

    /// One line (or the part of one) in paragraph, list, heading or
    /// preformatted role.
    fn line(
        &self,
        atoms: &[Atom],
        cont: bool,
        group: &mut Group,
        out: &mut Vec<String>,
        next: Option<&Line>,
    ) {
        let blank = atoms
            .iter()
            .all(|&a| ch(a).is_some_and(char::is_whitespace));
        if blank {
            if !cont {
                group.flush(out);
            }
            return;
        }
        if cont {
            let start = atoms
                .iter()
                .position(|&a| !ch(a).is_some_and(char::is_whitespace))
                .unwrap_or(atoms.len());
            self.paragraph_line(&atoms[start..], group, out);
            return;
        }
        if is(atoms[0], ' ') {
            let text = self.plain(&atoms[1..]);
            match group {
                Group::Pre(lines) => lines.push(text),
                _ => {
                    group.flush(out);
                    *group = Group::Pre(vec![text]);
                }
            }
            return;
        }
        if let Some(h) = self.heading(atoms) {
            group.flush(out);
            out.push(h);
            return;
        }
        let dashes = atoms.iter().take_while(|&&a| is(a, '-')).count();
        if dashes >= 4 {
            group.flush(out);
            out.push("---".to_string());
            let rest = &atoms[dashes..];
            let start = rest
                .iter()
                .position(|&a| !ch(a).is_some_and(char::is_whitespace))
                .unwrap_or(rest.len());
            if start < rest.len() {
                self.paragraph_line(&rest[start..], group, out);
            }
            return;
        }
        let prefix: Vec<char> = atoms
            .iter()
            .map_while(|&a| ch(a).filter(|c| matches!(c, '*' | '#' | ':' | ';')))
            .collect();
        if !prefix.is_empty() {
            let items = self.list_items(&prefix, &atoms[prefix.len()..]);
            let next_prefix: Vec<char> = next
                .map(|l| {
                    l.atoms
                        .iter()
                        .map_while(|&a| ch(a).filter(|c| matches!(c, '*' | '#' | ':' | ';')))
                        .collect()
                })
                .unwrap_or_default();
            if !matches!(group, Group::List(_)) {
                group.flush(out);
                *group = Group::List(Vec::new());
            }
            if let Group::List(lines) = group {
                let n = items.len();
                for (k, (p, content, bold)) in items.into_iter().enumerate() {
                    // Consecutive `:` (or `;`) lines of the same depth are
                    // one quote: keep them on separate lines.
                    let joins = if k + 1 < n {
                        true // A term, then its definition.
                    } else {
                        quote_continues(&p, &next_prefix)
                    };
                    if let Some(line) = self.list_line(&p, content, bold, joins) {
                        lines.push(line);
                    }
                }
            }
            return;
        }
        self.paragraph_line(atoms, group, out);
    }

    fn paragraph_line(&self, atoms: &[Atom], group: &mut Group, out: &mut Vec<String>) {
        let segments = self.inline(atoms);
        let text = join_segments(&segments, "");
        if text.is_empty() {
            return;
        }
        match group {
            Group::Para(lines) => lines.push(text),
            _ => {
                group.flush(out);
                *group = Group::Para(vec![text]);
            }
        }
    }

    fn heading(&self, atoms: &[Atom]) -> Option<String> {
        let end = atoms.len()
            - atoms
                .iter()
                .rev()
                .take_while(|&&a| ch(a).is_some_and(char::is_whitespace))
                .count();
        let atoms = &atoms[..end];
        let open = atoms.iter().take_while(|&&a| is(a, '=')).count();
        if open == 0 {
            return None;
        }
        let close = atoms.iter().rev().take_while(|&&a| is(a, '=')).count();
        let (level, content) = if open == atoms.len() {
            // Only `=`: `===` is a level-1 heading of `=`.
            let level = ((atoms.len() - 1) / 2).min(6);
            if level == 0 {
                return None;
            }
            (level, &atoms[level..atoms.len() - level])
        } else {
            let level = open.min(close).min(6);
            if level == 0 {
                return None;
            }
            (level, &atoms[level..atoms.len() - level])
        };
        let segments = self.inline(trim_atoms(content));
        let mut text = segments.join(" ");
        if text.ends_with('#') {
            text.pop();
            text.push_str("\\#");
        }
        let hashes = "#".repeat(level);
        Some(if text.is_empty() {
            hashes
        } else {
            format!("{hashes} {text}")
        })
    }

    /// The items of a list line: `;term : def` gives two.
    fn list_items<'l>(
        &self,
        prefix: &[char],
        content: &'l [Atom],
    ) -> Vec<(Vec<char>, &'l [Atom], bool)> {
        let content = trim_atoms(content);
        if prefix.last() == Some(&';') {
            if let Some(colon) = definition_colon(content) {
                let mut def_prefix = prefix.to_vec();
                if let Some(last) = def_prefix.last_mut() {
                    *last = ':';
                }
                return vec![
                    (prefix.to_vec(), trim_atoms(&content[..colon]), true),
                    (def_prefix, trim_atoms(&content[colon + 1..]), false),
                ];
            }
            return vec![(prefix.to_vec(), content, true)];
        }
        vec![(prefix.to_vec(), content, false)]
    }

    fn list_line(
        &self,
        prefix: &[char],
        content: &[Atom],
        bold: bool,
        joins: bool,
    ) -> Option<String> {
        let (container, marker) = prefix.split_at(prefix.len().saturating_sub(1));
        let marker = marker.first().copied().unwrap_or('*');
        let width = |c: char| match c {
            '*' => "  ",
            '#' => "   ",
            _ => "> ",
        };
        let lead: String = container.iter().map(|&c| width(c)).collect();
        let mark = match marker {
            '*' => "- ",
            '#' => "1. ",
            _ => "> ",
        };
        let cont = format!("{lead}{}", width(marker));
        let segments = if bold {
            let mut nodes = vec![Node::Fmt(Emph::Bold, true)];
            self.nodes(content, &mut nodes);
            nodes.push(Node::Fmt(Emph::Bold, false));
            finish(quotes(nodes))
        } else {
            self.inline(content)
        };
        let text = join_segments(&segments, &cont);
        if text.is_empty() && marker != '*' && marker != '#' {
            return None;
        }
        let mut line = format!("{lead}{mark}{text}");
        if joins && !text.is_empty() {
            line.push('\\');
        }
        Some(line.trim_end_matches(' ').to_string())
    }

    /// A preformatted line's text, as written (entities decoded).
    fn plain(&self, atoms: &[Atom]) -> String {
        let mut out = String::new();
        let mut run = String::new();
        for &a in atoms {
            if let Some(c) = ch(a) {
                run.push(c);
                continue;
            }
            out.push_str(&decode_entities(&run));
            run.clear();
            if let Some(t) = self.token(a) {
                match &t.kind {
                    Tok::Nowiki(s) | Tok::CodeSpan(s) | Tok::Pre(s) | Tok::Code(_, s) => {
                        out.push_str(s)
                    }
                    Tok::Verbatim => out.push_str(self.raw(t)),
                    Tok::Br => out.push('\n'),
                    Tok::Fmt(..) => {}
                }
            }
        }
        out.push_str(&decode_entities(&run));
        out
    }

    // -- Tables --------------------------------------------------------------

    fn table(&self, lines: &[Line]) -> String {
        match self.simple_table(lines) {
            Some(md) => md,
            None => {
                let start = lines.first().map_or(0, |l| l.start);
                let end = lines.last().map_or(start, |l| l.end);
                fence("wikitext", self.src.get(start..end).unwrap_or_default())
            }
        }
    }

    fn simple_table(&self, lines: &[Line]) -> Option<String> {
        let first = lines.first()?;
        if !is(*trim_atoms(&first.atoms).first()?, '{') {
            return None; // Indented (`:{|`): kept as written.
        }
        let mut caption: Option<&[Atom]> = None;
        let mut rows: Vec<Vec<(bool, &[Atom])>> = Vec::new();
        let mut new_row = true;
        let mut closed = false;
        for line in &lines[1..] {
            if line.atoms.iter().any(|&a| self.is_block_token(a)) {
                return None;
            }
            let t = trim_atoms(&line.atoms);
            if t.is_empty() {
                continue;
            }
            if closed {
                return None;
            }
            let second = t.get(1).copied().unwrap_or(0);
            if is(t[0], '{') && is(second, '|') {
                return None; // Nested table.
            }
            if is(t[0], '|') && is(second, '}') {
                if !trim_atoms(&t[2..]).is_empty() {
                    return None;
                }
                closed = true;
                continue;
            }
            if is(t[0], '|') && is(second, '-') {
                new_row = true;
                continue;
            }
            if is(t[0], '|') && is(second, '+') {
                if caption.is_some() {
                    return None;
                }
                caption = Some(trim_atoms(&t[2..]));
                continue;
            }
            let header = is(t[0], '!');
            if !header && !is(t[0], '|') {
                return None; // A cell over several lines.
            }
            if new_row {
                rows.push(Vec::new());
                new_row = false;
            }
            let row = rows.last_mut()?;
            for cell in split_cells(&t[1..], header) {
                let content = match cell_attributes(cell) {
                    Some(bar) => {
                        let attrs = self.raw_atoms(&cell[..bar]).to_ascii_lowercase();
                        if attrs.contains("rowspan") || attrs.contains("colspan") {
                            return None;
                        }
                        &cell[bar + 1..]
                    }
                    None => cell,
                };
                row.push((header, trim_atoms(content)));
            }
        }
        if !closed {
            return None; // Never closed: kept as written.
        }
        rows.retain(|r| !r.is_empty());
        let width = rows.iter().map(Vec::len).max()?;
        let mut out = String::new();
        if let Some(caption) = caption {
            let text = join_segments(&self.inline(caption), "");
            if !text.is_empty() {
                out.push_str(&text);
                out.push_str("\n\n");
            }
        }
        let header_row = rows[0].iter().all(|(h, _)| *h);
        let (head, body) = if header_row {
            (Some(&rows[0]), &rows[1..])
        } else {
            (None, &rows[..])
        };
        let render_row =
            |out: &mut String, row: Option<&Vec<(bool, &[Atom])>>, bold_headers: bool| {
                out.push('|');
                for k in 0..width {
                    let cell = row.and_then(|r| r.get(k));
                    let text = match cell {
                        Some((h, atoms)) => self.cell(atoms, *h && bold_headers),
                        None => String::new(),
                    };
                    out.push(' ');
                    out.push_str(&text);
                    out.push_str(" |");
                }
                out.push('\n');
            };
        render_row(&mut out, head, false);
        out.push('|');
        for _ in 0..width {
            out.push_str(" --- |");
        }
        out.push('\n');
        for row in body {
            render_row(&mut out, Some(row), true);
        }
        out.pop();
        Some(out)
    }

    fn cell(&self, atoms: &[Atom], bold: bool) -> String {
        let segments = if bold && !atoms.is_empty() {
            let mut nodes = vec![Node::Fmt(Emph::Bold, true)];
            self.nodes(atoms, &mut nodes);
            nodes.push(Node::Fmt(Emph::Bold, false));
            finish(quotes(nodes))
        } else {
            self.inline(atoms)
        };
        let text = segments.join("<br>");
        // Every `|` not already escaped is written `\|`.
        let mut out = String::with_capacity(text.len());
        let mut escaped = false;
        for c in text.chars() {
            if c == '|' && !escaped {
                out.push('\\');
            }
            escaped = c == '\\' && !escaped;
            out.push(c);
        }
        out
    }

    // -- Inline --------------------------------------------------------------

    /// Converts inline content; the segments between hard line breaks.
    fn inline(&self, atoms: &[Atom]) -> Vec<String> {
        let mut nodes = Vec::new();
        self.nodes(atoms, &mut nodes);
        finish(quotes(nodes))
    }

    /// A link label, on one line.
    fn label(&self, atoms: &[Atom]) -> String {
        self.inline(atoms).join(" ")
    }

    fn nodes(&self, a: &[Atom], out: &mut Vec<Node>) {
        let links = LinkIndex::new(a);
        let mut text = String::new();
        let flush = |text: &mut String, out: &mut Vec<Node>| {
            if !text.is_empty() {
                out.push(Node::Text(std::mem::take(text)));
            }
        };
        let mut i = 0;
        while i < a.len() {
            let x = a[i];
            let Some(c) = ch(x) else {
                flush(&mut text, out);
                if let Some(t) = self.token(x) {
                    out.push(match &t.kind {
                        Tok::Nowiki(s) => Node::Text(s.replace(['\n', '\r'], " ")),
                        Tok::CodeSpan(s) | Tok::Pre(s) | Tok::Code(_, s) => Node::Md(code_span(s)),
                        Tok::Verbatim => Node::Md(code_span(self.raw(t))),
                        Tok::Br => Node::Br,
                        Tok::Fmt(k, open) => Node::Fmt(*k, *open),
                    });
                }
                i += 1;
                continue;
            };
            let next = a.get(i + 1).copied().unwrap_or(0);
            match c {
                '\'' if is(next, '\'') => {
                    let n = a[i..].iter().take_while(|&&b| is(b, '\'')).count();
                    flush(&mut text, out);
                    out.push(Node::Apos(n));
                    i += n;
                    continue;
                }
                '[' if is(next, '[') => {
                    if let Some((md, end)) = self.internal_link(a, i, &links) {
                        flush(&mut text, out);
                        out.push(Node::Md(md));
                        i = end;
                        continue;
                    }
                }
                '[' => {
                    if let Some((md, end)) = self.external_link(a, i, &links) {
                        flush(&mut text, out);
                        out.push(Node::Md(md));
                        i = end;
                        continue;
                    }
                }
                '_' if is(next, '_') => {
                    if let Some(end) = magic_word(a, i) {
                        i = end;
                        continue;
                    }
                }
                'h' | 'H' | 'f' | 'F' => {
                    let boundary = i == 0 || !ch(a[i - 1]).is_some_and(char::is_alphanumeric);
                    if boundary && let Some((url, end)) = free_url(a, i) {
                        flush(&mut text, out);
                        out.push(Node::Md(format!("<{url}>")));
                        i = end;
                        continue;
                    }
                }
                _ => {}
            }
            text.push(c);
            i += 1;
        }
        flush(&mut text, out);
    }

    /// `[[target]]` or `[[target|label]]` at `i`: the Markdown and the end.
    fn internal_link(&self, a: &[Atom], i: usize, links: &LinkIndex) -> Option<(String, usize)> {
        let from = i + 2;
        let mut j = from;
        loop {
            let x = *a.get(j)?;
            let c = ch(x)?;
            if c == '|' || (c == ']' && a.get(j + 1).is_some_and(|&b| is(b, ']'))) {
                break;
            }
            if matches!(c, '[' | ']' | '{' | '}' | '<' | '>') || c.is_control() || j - from > 1024 {
                return None;
            }
            j += 1;
        }
        let raw_target: String = a[from..j].iter().filter_map(|&x| ch(x)).collect();
        let trimmed = raw_target.trim();
        let leading_colon = trimmed.starts_with(':');
        let target = normalize_target(trimmed.trim_start_matches(':'), false)?;
        let target = if leading_colon {
            format!(":{target}")
        } else {
            target
        };
        let file = !leading_colon
            && target.split_once(':').is_some_and(|(ns, _)| {
                let ns = ns.trim().to_lowercase();
                FILE_NAMESPACES.contains(&ns.as_str())
            });
        let verbatim = |end: usize| Some((code_span(&self.raw_atoms(&a[i..end])), end));
        if is(a[j], ']') {
            let end = j + 2;
            return if file {
                verbatim(end)
            } else {
                Some((format!("[[{target}]]"), end))
            };
        }
        let label_start = j + 1;
        let close = links.next_close(label_start)?;
        let nested = links.next_open(label_start).is_some_and(|o| o < close);
        if file || nested {
            let end = links.balanced(i)?;
            return verbatim(end);
        }
        let label = self.label(trim_atoms(&a[label_start..close]));
        let end = close + 2;
        Some(if label.is_empty() {
            (format!("[[{target}]]"), end)
        } else {
            (format!("[[{target}|{label}]]"), end)
        })
    }

    /// `[url label]` or `[url]` at `i`.
    fn external_link(&self, a: &[Atom], i: usize, links: &LinkIndex) -> Option<(String, usize)> {
        let from = i + 1;
        let scheme = url_scheme(a, from, true)?;
        let close = links.next_bracket(from)?;
        let mut j = from + scheme;
        while j < close {
            match ch(a[j]) {
                Some(c) if c.is_whitespace() => break,
                Some('<' | '>' | '"' | '[') => return None,
                Some(_) => j += 1,
                None => return Some((code_span(&self.raw_atoms(&a[i..=close])), close + 1)),
            }
        }
        if j == from + scheme {
            return None;
        }
        let mut url: String = a[from..j].iter().filter_map(|&x| ch(x)).collect();
        if url.starts_with("//") {
            url.insert_str(0, "https:");
        }
        let label = self.label(trim_atoms(&a[j..close]));
        let end = close + 1;
        if label.is_empty() {
            return Some((format!("<{url}>"), end));
        }
        let url = url.replace('\\', "%5C");
        let dest = if url.contains(['(', ')', ' ']) {
            format!("<{url}>")
        } else {
            url
        };
        Some((format!("[{label}]({dest})"), end))
    }
}

/// Where `[[`, `]]` and `]` are in a line, for links in linear time.
struct LinkIndex {
    /// For each position, the first `]]` at or after it.
    next_close: Vec<u32>,
    /// For each position, the first `[[` at or after it.
    next_open: Vec<u32>,
    /// For each position, the first `]` at or after it.
    next_bracket: Vec<u32>,
    /// `[[` positions and the end (after `]]`) of their balanced match.
    balanced: Vec<(u32, u32)>,
}

impl LinkIndex {
    const NONE: u32 = u32::MAX;

    fn new(a: &[Atom]) -> Self {
        let n = a.len();
        let mut next_close = vec![Self::NONE; n + 1];
        let mut next_open = vec![Self::NONE; n + 1];
        let mut next_bracket = vec![Self::NONE; n + 1];
        for k in (0..n).rev() {
            let pair = |c: char| is(a[k], c) && a.get(k + 1).is_some_and(|&b| is(b, c));
            next_close[k] = if pair(']') {
                k as u32
            } else {
                next_close[k + 1]
            };
            next_open[k] = if pair('[') {
                k as u32
            } else {
                next_open[k + 1]
            };
            next_bracket[k] = if is(a[k], ']') {
                k as u32
            } else {
                next_bracket[k + 1]
            };
        }
        let mut balanced = Vec::new();
        let mut stack = Vec::new();
        let mut k = 0;
        while k + 1 < n {
            if is(a[k], '[') && is(a[k + 1], '[') {
                stack.push(k as u32);
                k += 2;
            } else if is(a[k], ']') && is(a[k + 1], ']') {
                if let Some(open) = stack.pop() {
                    balanced.push((open, (k + 2) as u32));
                }
                k += 2;
            } else {
                k += 1;
            }
        }
        balanced.sort_unstable();
        LinkIndex {
            next_close,
            next_open,
            next_bracket,
            balanced,
        }
    }

    fn get(v: &[u32], i: usize) -> Option<usize> {
        v.get(i)
            .copied()
            .filter(|&x| x != Self::NONE)
            .map(|x| x as usize)
    }

    fn next_close(&self, i: usize) -> Option<usize> {
        Self::get(&self.next_close, i)
    }

    fn next_open(&self, i: usize) -> Option<usize> {
        Self::get(&self.next_open, i)
    }

    fn next_bracket(&self, i: usize) -> Option<usize> {
        Self::get(&self.next_bracket, i)
    }

    fn balanced(&self, open: usize) -> Option<usize> {
        let k = self
            .balanced
            .binary_search_by_key(&(open as u32), |&(o, _)| o)
            .ok()?;
        Some(self.balanced[k].1 as usize)
    }
}

/// The length of a URL scheme at `i` (`http://`, `mailto:`...); `//` only
/// in brackets.
fn url_scheme(a: &[Atom], i: usize, bracketed: bool) -> Option<usize> {
    const SCHEMES: &[&str] = &[
        "http://", "https://", "ftp://", "ftps://", "sftp://", "irc://", "ircs://", "mailto:",
        "news:",
    ];
    let matches = |s: &str| {
        s.chars().enumerate().all(|(k, c)| {
            a.get(i + k)
                .and_then(|&x| ch(x))
                .is_some_and(|x| x.to_ascii_lowercase() == c)
        })
    };
    if let Some(s) = SCHEMES.iter().find(|s| matches(s)) {
        return Some(s.len());
    }
    (bracketed && matches("//")).then_some(2)
}

/// A bare URL at `i`: the URL and the end.
fn free_url(a: &[Atom], i: usize) -> Option<(String, usize)> {
    let scheme = url_scheme(a, i, false)?;
    let mut j = i + scheme;
    while let Some(c) = a.get(j).and_then(|&x| ch(x)) {
        if c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '[' | ']' | '<' | '>' | '"' | '{' | '}' | '|' | '\u{FFFD}'
            )
        {
            break;
        }
        if c == '\'' && a.get(j + 1).is_some_and(|&b| is(b, '\'')) {
            break;
        }
        j += 1;
    }
    let mut url: String = a[i..j].iter().filter_map(|&x| ch(x)).collect();
    let mut end = j;
    while let Some(last) = url.chars().last() {
        let strip = matches!(last, ',' | ';' | '.' | ':' | '!' | '?' | '\'')
            || (last == ')' && !url.contains('('));
        if !strip {
            break;
        }
        url.pop();
        end -= 1;
    }
    (url.chars().count() > scheme).then_some((url, end))
}

/// A behaviour switch (`__TOC__`) at `i`: its end.
fn magic_word(a: &[Atom], i: usize) -> Option<usize> {
    let start = i + 2;
    let len = a[start.min(a.len())..]
        .iter()
        .take(32)
        .take_while(|&&x| ch(x).is_some_and(|c| c.is_ascii_uppercase()))
        .count();
    let end = start + len;
    if len == 0
        || !(a.get(end).is_some_and(|&x| is(x, '_')) && a.get(end + 1).is_some_and(|&x| is(x, '_')))
    {
        return None;
    }
    let word: String = a[start..end].iter().filter_map(|&x| ch(x)).collect();
    MAGIC_WORDS.contains(&word.as_str()).then_some(end + 2)
}

/// Whether a `:` or `;` line at `prefix` is followed by another at the
/// same depth (then a hard break keeps them apart in one quote).
fn quote_continues(prefix: &[char], next: &[char]) -> bool {
    let quote = |c: Option<&char>| matches!(c, Some(':' | ';'));
    let n = prefix.len();
    quote(prefix.last())
        && next.len() == n
        && quote(next.last())
        && prefix[..n - 1] == next[..n - 1]
}

/// The `:` that ends a definition list's term, outside links and URLs.
fn definition_colon(a: &[Atom]) -> Option<usize> {
    let mut depth = 0usize;
    for (k, &x) in a.iter().enumerate() {
        match ch(x) {
            Some('[') => depth += 1,
            Some(']') => depth = depth.saturating_sub(1),
            Some(':') if depth == 0 => {
                let url = a.get(k + 1).is_some_and(|&b| is(b, '/'))
                    && a.get(k + 2).is_some_and(|&b| is(b, '/'));
                if !url {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn trim_atoms(a: &[Atom]) -> &[Atom] {
    let ws = |x: &Atom| ch(*x).is_some_and(char::is_whitespace);
    let start = a.iter().position(|x| !ws(x)).unwrap_or(a.len());
    let end = a.iter().rposition(|x| !ws(x)).map_or(start, |e| e + 1);
    &a[start..end.max(start)]
}

fn is_table_start(a: &[Atom]) -> bool {
    let skip = a
        .iter()
        .take_while(|&&x| ch(x).is_some_and(|c| c.is_whitespace() || matches!(c, ':' | '*' | '#')))
        .count();
    a.get(skip).is_some_and(|&x| is(x, '{')) && a.get(skip + 1).is_some_and(|&x| is(x, '|'))
}

/// The index of the line that closes the table starting at `start` (the
/// last line when it is not closed).
fn table_end(lines: &[Line], start: usize) -> usize {
    let mut depth = 0usize;
    for (k, line) in lines.iter().enumerate().skip(start) {
        let t = trim_atoms(&line.atoms);
        let second = t.get(1).copied().unwrap_or(0);
        if k == start || (t.first().is_some_and(|&x| is(x, '{')) && is(second, '|')) {
            depth += 1;
        } else if t.first().is_some_and(|&x| is(x, '|')) && is(second, '}') {
            depth -= 1;
            if depth == 0 {
                return k;
            }
        }
    }
    lines.len() - 1
}

/// Splits a table line's cells at `||` (and `!!` in header lines), outside
/// links.
fn split_cells(a: &[Atom], header: bool) -> Vec<&[Atom]> {
    let mut cells = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut k = 0;
    while k < a.len() {
        let next = a.get(k + 1).copied().unwrap_or(0);
        if is(a[k], '[') && is(next, '[') {
            depth += 1;
            k += 2;
            continue;
        }
        if is(a[k], ']') && is(next, ']') {
            depth = depth.saturating_sub(1);
            k += 2;
            continue;
        }
        let double = (is(a[k], '|') && is(next, '|')) || (header && is(a[k], '!') && is(next, '!'));
        if depth == 0 && double {
            cells.push(&a[start..k]);
            start = k + 2;
            k += 2;
            continue;
        }
        k += 1;
    }
    cells.push(&a[start..]);
    cells
}

/// The `|` that ends a cell's attributes (`style="..." | content`).
fn cell_attributes(a: &[Atom]) -> Option<usize> {
    let mut depth = 0usize;
    let mut k = 0;
    while k < a.len() {
        let next = a.get(k + 1).copied().unwrap_or(0);
        if is(a[k], '[') && is(next, '[') {
            depth += 1;
            k += 2;
            continue;
        }
        if is(a[k], ']') && is(next, ']') {
            depth = depth.saturating_sub(1);
            k += 2;
            continue;
        }
        if depth == 0 && is(a[k], '|') {
            return Some(k);
        }
        k += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// Bold and italic
// ---------------------------------------------------------------------------

/// Inline content before bold and italic are resolved.
enum Node {
    /// Plain text, not yet escaped.
    Text(String),
    /// A run of apostrophes (two or more).
    Apos(usize),
    /// `<b>`, `</i>`...
    Fmt(Emph, bool),
    /// Markdown already (links, code).
    Md(String),
    Br,
}

/// Output before the emphasis delimiters are chosen.
enum Piece {
    Str(String),
    Open(Emph, usize),
    Close(Emph, usize),
    Br,
}

/// MediaWiki's `doQuotes`: which apostrophe runs are bold, which italic,
/// which text; then the delimiters, as a stack.
fn quotes(nodes: Vec<Node>) -> Vec<Piece> {
    // Four apostrophes are one of text and bold; more than five, text and
    // bold italic.
    let mut adjusted: Vec<Node> = Vec::with_capacity(nodes.len());
    let push_text = |adjusted: &mut Vec<Node>, s: &str| match adjusted.last_mut() {
        Some(Node::Text(t)) => t.push_str(s),
        _ => adjusted.push(Node::Text(s.to_string())),
    };
    let (mut bold, mut italic) = (0usize, 0usize);
    for node in nodes {
        match node {
            Node::Apos(n) => {
                let n = match n {
                    4 => {
                        push_text(&mut adjusted, "'");
                        3
                    }
                    n if n > 5 => {
                        push_text(&mut adjusted, &"'".repeat(n - 5));
                        5
                    }
                    n => n,
                };
                match n {
                    2 => italic += 1,
                    3 => bold += 1,
                    _ => {
                        italic += 1;
                        bold += 1;
                    }
                }
                adjusted.push(Node::Apos(n));
            }
            Node::Text(t) => push_text(&mut adjusted, &t),
            other => adjusted.push(other),
        }
    }
    if bold % 2 == 1 && italic % 2 == 1 {
        // One bold was probably an apostrophe and an italic: the first
        // after a one-letter word, else after a longer word, else after a
        // space.
        let (mut single, mut multi, mut space) = (None, None, None);
        for k in 0..adjusted.len() {
            if !matches!(adjusted[k], Node::Apos(3)) {
                continue;
            }
            let before = match k.checked_sub(1).map(|p| &adjusted[p]) {
                Some(Node::Text(t)) => t.as_str(),
                _ => "",
            };
            let mut rev = before.chars().rev();
            let x1 = rev.next();
            let x2 = rev.next().or(x1);
            if x1 == Some(' ') {
                space.get_or_insert(k);
            } else if x2 == Some(' ') {
                single = Some(k);
                break;
            } else {
                multi.get_or_insert(k);
            }
        }
        if let Some(k) = single.or(multi).or(space) {
            adjusted[k] = Node::Apos(2);
            match k.checked_sub(1).map(|p| &mut adjusted[p]) {
                Some(Node::Text(t)) => t.push('\''),
                _ => adjusted.insert(k, Node::Text("'".to_string())),
            }
        }
    }
    let mut em = Emphasis {
        out: Vec::with_capacity(adjusted.len()),
        stack: Vec::new(),
        next_id: 0,
    };
    for node in adjusted {
        match node {
            Node::Text(t) => {
                let mut s = String::with_capacity(t.len());
                escape_text(&t, &mut s);
                em.out.push(Piece::Str(s));
            }
            Node::Md(s) => em.out.push(Piece::Str(s)),
            Node::Br => em.out.push(Piece::Br),
            Node::Fmt(k, true) => {
                if !em.is_open(k) {
                    em.open(k);
                }
            }
            Node::Fmt(k, false) => {
                if em.is_open(k) {
                    em.close(k);
                }
            }
            Node::Apos(n) => {
                let order: &[Emph] = match n {
                    2 => &[Emph::Italic],
                    3 => &[Emph::Bold],
                    _ if em.stack.last().is_some_and(|&(e, _)| e == Emph::Italic) => {
                        &[Emph::Italic, Emph::Bold]
                    }
                    _ => &[Emph::Bold, Emph::Italic],
                };
                for &k in order {
                    if em.is_open(k) {
                        em.close(k);
                    } else {
                        em.open(k);
                    }
                }
            }
        }
    }
    while let Some((e, id)) = em.stack.pop() {
        em.out.push(Piece::Close(e, id));
    }
    em.out
}

/// The open bold and italic spans, as a stack, and the pieces so far.
struct Emphasis {
    out: Vec<Piece>,
    stack: Vec<(Emph, usize)>,
    next_id: usize,
}

impl Emphasis {
    fn is_open(&self, k: Emph) -> bool {
        self.stack.iter().any(|&(e, _)| e == k)
    }

    fn open(&mut self, k: Emph) {
        self.out.push(Piece::Open(k, self.next_id));
        self.stack.push((k, self.next_id));
        self.next_id += 1;
    }

    /// Closes `k`; spans opened inside it are closed first and opened
    /// again after (`<b>a<i>b</i></b><i>c</i>`), as MediaWiki does.
    fn close(&mut self, k: Emph) {
        let Some(at) = self.stack.iter().rposition(|&(e, _)| e == k) else {
            return;
        };
        let above: Vec<(Emph, usize)> = self.stack.drain(at + 1..).collect();
        for &(e, id) in above.iter().rev() {
            self.out.push(Piece::Close(e, id));
        }
        if let Some((e, id)) = self.stack.pop() {
            self.out.push(Piece::Close(e, id));
        }
        for &(e, _) in &above {
            self.open(e);
        }
    }
}

/// Chooses the delimiters and writes the pieces: whitespace is moved out
/// of emphasis (Markdown does not close `**a **`), empty emphasis is
/// dropped, and a span Markdown's flanking rules cannot express is written
/// as HTML. The result is split at hard line breaks; breaks at the ends
/// are dropped.
fn finish(pieces: Vec<Piece>) -> Vec<String> {
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut pending: Vec<Piece> = Vec::new();
    for p in pieces {
        match p {
            Piece::Open(..) => pending.push(p),
            Piece::Str(s) if s.is_empty() => {}
            Piece::Str(s) => {
                if pending.is_empty() {
                    out.push(Piece::Str(s));
                } else {
                    let rest = s.trim_start();
                    let lead = &s[..s.len() - rest.len()];
                    if !lead.is_empty() {
                        out.push(Piece::Str(lead.to_string()));
                    }
                    if !rest.is_empty() {
                        out.append(&mut pending);
                        out.push(Piece::Str(rest.to_string()));
                    }
                }
            }
            Piece::Br => out.push(Piece::Br),
            Piece::Close(k, id) => {
                if matches!(pending.last(), Some(Piece::Open(_, o)) if *o == id) {
                    pending.pop();
                    continue;
                }
                let mut tail = Vec::new();
                loop {
                    match out.last_mut() {
                        Some(Piece::Str(s)) => {
                            let kept = s.trim_end().len();
                            if kept == s.len() {
                                break;
                            }
                            tail.push(Piece::Str(s[kept..].to_string()));
                            s.truncate(kept);
                            if s.is_empty() {
                                out.pop();
                            } else {
                                break;
                            }
                        }
                        Some(Piece::Br) => {
                            if let Some(b) = out.pop() {
                                tail.push(b);
                            }
                        }
                        _ => break,
                    }
                }
                out.push(Piece::Close(k, id));
                out.extend(tail.into_iter().rev());
            }
        }
    }
    // Which pairs can be Markdown.
    let prev_char = |k: usize| -> char {
        match k.checked_sub(1).map(|p| &out[p]) {
            Some(Piece::Str(s)) => s.chars().last().unwrap_or(' '),
            Some(Piece::Open(..) | Piece::Close(..)) => '*',
            Some(Piece::Br) | None => '\n',
        }
    };
    let next_char = |k: usize| -> char {
        match out.get(k + 1) {
            Some(Piece::Str(s)) => s.chars().next().unwrap_or(' '),
            Some(Piece::Open(..) | Piece::Close(..)) => '*',
            Some(Piece::Br) | None => '\n',
        }
    };
    let mut html = std::collections::HashSet::new();
    let mut opened = std::collections::HashMap::new();
    for (k, p) in out.iter().enumerate() {
        match p {
            Piece::Open(_, id) => {
                // Right after a closing delimiter the two runs would merge.
                let after_close = k > 0 && matches!(out[k - 1], Piece::Close(..));
                opened.insert(
                    *id,
                    !after_close && left_flanking(prev_char(k), next_char(k)),
                );
            }
            Piece::Close(_, id) => {
                let ok = opened.get(id).copied().unwrap_or(false)
                    && right_flanking(prev_char(k), next_char(k));
                if !ok {
                    html.insert(*id);
                }
            }
            _ => {}
        }
    }
    let mut segments = vec![String::new()];
    for p in out {
        let seg = match segments.last_mut() {
            Some(s) => s,
            None => break,
        };
        match p {
            Piece::Str(s) => seg.push_str(&s),
            Piece::Open(k, id) => seg.push_str(delimiter(k, html.contains(&id), true)),
            Piece::Close(k, id) => seg.push_str(delimiter(k, html.contains(&id), false)),
            Piece::Br => segments.push(String::new()),
        }
    }
    while segments.len() > 1 && segments.last().is_some_and(|s| s.trim().is_empty()) {
        segments.pop();
    }
    while segments.len() > 1 && segments[0].trim().is_empty() {
        segments.remove(0);
    }
    segments
}

fn delimiter(k: Emph, html: bool, open: bool) -> &'static str {
    match (k, html, open) {
        (Emph::Bold, false, _) => "**",
        (Emph::Italic, false, _) => "*",
        (Emph::Bold, true, true) => "<b>",
        (Emph::Bold, true, false) => "</b>",
        (Emph::Italic, true, true) => "<i>",
        (Emph::Italic, true, false) => "</i>",
    }
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace())
}

fn left_flanking(prev: char, next: char) -> bool {
    !next.is_whitespace() && (!is_punct(next) || prev.is_whitespace() || is_punct(prev))
}

fn right_flanking(prev: char, next: char) -> bool {
    !prev.is_whitespace() && (!is_punct(prev) || next.is_whitespace() || is_punct(next))
}

// ---------------------------------------------------------------------------
// Markdown output
// ---------------------------------------------------------------------------

/// A run of lines of one kind, written when it ends.
enum Group {
    None,
    Para(Vec<String>),
    List(Vec<String>),
    Pre(Vec<String>),
}

impl Group {
    fn flush(&mut self, out: &mut Vec<String>) {
        match std::mem::replace(self, Group::None) {
            Group::None => {}
            Group::Para(lines) | Group::List(lines) => {
                if !lines.is_empty() {
                    out.push(lines.join("\n"));
                }
            }
            Group::Pre(lines) => out.push(fence("", &lines.join("\n"))),
        }
    }
}

/// Segments of a line joined by hard breaks, each escaped where a line
/// starts, continuation lines indented by `indent`.
fn join_segments(segments: &[String], indent: &str) -> String {
    let mut out = String::new();
    for (k, seg) in segments.iter().enumerate() {
        let seg = seg.trim();
        if k > 0 {
            out.push_str("\\\n");
            out.push_str(indent);
        }
        escape_line_start(seg, &mut out);
    }
    out
}

/// Escapes what would start a block at the beginning of a line.
fn escape_line_start(s: &str, out: &mut String) {
    let b = s.as_bytes();
    match b.first() {
        Some(b'#' | b'>' | b'+' | b'-' | b'=') => {
            out.push('\\');
            out.push_str(s);
        }
        Some(b'0'..=b'9') => {
            let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
            if matches!(b.get(digits), Some(b'.' | b')')) {
                out.push_str(&s[..digits]);
                out.push('\\');
                out.push_str(&s[digits..]);
            } else {
                out.push_str(s);
            }
        }
        _ => out.push_str(s),
    }
}

/// Escapes plain text for Markdown.
fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '~' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Inline code holding `s` exactly (newlines become spaces); empty for
/// empty `s`.
fn code_span(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if s.is_empty() {
        return String::new();
    }
    let ticks = "`".repeat(longest_run(&s, '`') + 1);
    let pad = s.starts_with('`')
        || s.ends_with('`')
        || (s.starts_with(' ') && s.ends_with(' ') && !s.trim().is_empty());
    if pad {
        format!("{ticks} {s} {ticks}")
    } else {
        format!("{ticks}{s}{ticks}")
    }
}

/// A fenced code block holding `body` exactly.
fn fence(info: &str, body: &str) -> String {
    let ticks = "`".repeat((longest_run(body, '`') + 1).max(3));
    let info: String = info
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '_' | '.'))
        .collect();
    let mut out = format!("{ticks}{info}\n{body}");
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&ticks);
    out
}

fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for x in s.chars() {
        if x == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Decodes the character references and the few named entities that
/// appear in code (`&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;`, `&nbsp;`);
/// others stay as written.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.as_bytes().iter().take(12).position(|&b| b == b';');
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{A0}'),
                _ => {
                    let n = if let Some(hex) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else {
                        name.strip_prefix('#').and_then(|d| d.parse().ok())
                    };
                    n.and_then(char::from_u32).filter(|&c| c != '\0')
                }
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// The first pass: tags, comments, templates
// ---------------------------------------------------------------------------

/// A tag at the start of `s` (which begins with `<`): its lowercase name,
/// whether it closes (`</x>`) or closes itself (`<x/>`), its length.
fn parse_tag(s: &str) -> Option<(String, bool, bool, usize)> {
    let b = s.as_bytes();
    let mut i = 1;
    let closing = b.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && b[i].is_ascii_alphanumeric() {
        i += 1;
    }
    if i == name_start || !b[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    match b.get(i) {
        Some(b'>' | b'/') => {}
        Some(c) if c.is_ascii_whitespace() => {}
        _ => return None,
    }
    // The end of the tag: the first `>` (attributes hold none in practice),
    // within a bounded distance so that scanning stays linear.
    let gt = b[i..]
        .iter()
        .take(4096)
        .position(|&c| c == b'>' || c == b'<')?
        + i;
    if b[gt] == b'<' {
        return None;
    }
    let self_closing = gt > 0 && b[gt - 1] == b'/';
    Some((name, closing, self_closing, gt + 1))
}

/// A small inline tag at the start of `s`: its length and token (`None`:
/// dropped, e.g. `<span>`). `None` when it is not one.
fn small_tag(s: &str) -> Option<(usize, Option<Tok>)> {
    if !s
        .as_bytes()
        .get(1)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'/')
    {
        return None;
    }
    let (name, closing, _, len) = parse_tag(s)?;
    let tok = match name.as_str() {
        "br" => Some(Tok::Br),
        "b" | "strong" => Some(Tok::Fmt(Emph::Bold, !closing)),
        "i" | "em" => Some(Tok::Fmt(Emph::Italic, !closing)),
        "span" | "div" | "center" | "small" | "big" | "font" | "u" | "ins" | "nowiki" => None,
        _ => return None,
    };
    Some((len, tok))
}

/// Finds comments, `<nowiki>`, `<pre>`, code and extension tags, in order.
fn scan_opaque(src: &str) -> Vec<Span> {
    let lower = src.to_ascii_lowercase();
    let b = src.as_bytes();
    let mut spans = Vec::new();
    // Per tag name, a position from which its closing tag is known absent.
    let mut absent: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut i = 0;
    while let Some(off) = b
        .get(i..)
        .and_then(|rest| rest.iter().position(|&c| c == b'<'))
    {
        let at = i + off;
        let rest = &src[at..];
        if rest.starts_with("<!--") {
            let end = lower[at + 4..]
                .find("-->")
                .map_or(src.len(), |e| at + 4 + e + 3);
            spans.push(Span {
                start: at,
                end,
                kind: None,
            });
            i = end;
            continue;
        }
        let Some((name, closing, self_closing, len)) = parse_tag(rest) else {
            i = at + 1;
            continue;
        };
        let kind = match name.as_str() {
            "nowiki" | "pre" | "syntaxhighlight" | "source" | "code" | "tt" | "kbd" | "samp" => {
                name.as_str()
            }
            n if VERBATIM_TAGS.contains(&n) => n,
            _ => {
                i = at + len;
                continue;
            }
        };
        if closing {
            i = at + len;
            continue;
        }
        let content_start = at + len;
        if self_closing {
            // `<nowiki/>`, `<pre/>`...: nothing; `<ref name="x"/>`: kept.
            let kind = VERBATIM_TAGS.contains(&kind).then_some(Tok::Verbatim);
            spans.push(Span {
                start: at,
                end: content_start,
                kind: kind.or(Some(Tok::Nowiki(String::new()))),
            });
            i = content_start;
            continue;
        }
        let close_at = if absent.get(kind).is_some_and(|&from| from <= content_start) {
            None
        } else {
            find_close(&lower, content_start, kind)
        };
        let Some((close_start, close_end)) = close_at else {
            absent.insert(kind.to_string(), content_start);
            i = at + len;
            continue;
        };
        let content = &src[content_start..close_start];
        let tok = match kind {
            "nowiki" => Tok::Nowiki(content.to_string()),
            "pre" => Tok::Pre(decode_entities(&strip_nowiki(
                content.strip_prefix('\n').unwrap_or(content),
            ))),
            "syntaxhighlight" | "source" => Tok::Code(
                attribute(&lower[at..content_start], "lang"),
                content.strip_prefix('\n').unwrap_or(content).to_string(),
            ),
            "code" | "tt" | "kbd" | "samp" => Tok::CodeSpan(decode_entities(content)),
            _ => Tok::Verbatim,
        };
        spans.push(Span {
            start: at,
            end: close_end,
            kind: Some(tok),
        });
        i = close_end;
    }
    spans
}

/// The closing tag `</name ... >` at or after `from` in the lowercase
/// source: its start and end.
fn find_close(lower: &str, from: usize, name: &str) -> Option<(usize, usize)> {
    let pattern = format!("</{name}");
    let mut pos = from;
    loop {
        let at = pos + lower.get(pos..)?.find(&pattern)?;
        let after = at + pattern.len();
        let b = lower.as_bytes();
        let mut k = after;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        if b.get(k) == Some(&b'>') {
            return Some((at, k + 1));
        }
        pos = after;
    }
}

/// `<nowiki>` tags inside `<pre>` only stop markup; they are not shown.
fn strip_nowiki(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &lower[i..];
        let skip = ["<nowiki>", "</nowiki>", "<nowiki/>", "<nowiki />"]
            .iter()
            .find(|t| rest.starts_with(*t))
            .map(|t| t.len());
        match skip {
            Some(n) => i += n,
            None => {
                let c = s[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
    out
}

/// The value of attribute `name` in a lowercase tag, or empty.
fn attribute(tag: &str, name: &str) -> String {
    let Some(at) = tag.find(&format!("{name}=")) else {
        return String::new();
    };
    let v = &tag[at + name.len() + 1..];
    let v = v.trim_start_matches(['"', '\'']);
    v.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '_' | '.'))
        .collect()
}

/// The outermost templates `{{...}}` and parameters `{{{...}}}`, matched
/// as MediaWiki's preprocessor does, outside the opaque spans.
fn scan_templates(src: &str, opaque: &[Span]) -> Vec<(usize, usize)> {
    let b = src.as_bytes();
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut spans = Vec::new();
    let mut o = 0;
    let mut i = 0;
    while i < b.len() {
        while o < opaque.len() && opaque[o].end <= i {
            o += 1;
        }
        if o < opaque.len() && opaque[o].start <= i {
            i = opaque[o].end;
            continue;
        }
        match b[i] {
            b'{' => {
                let run = b[i..].iter().take_while(|&&c| c == b'{').count();
                if run >= 2 {
                    stack.push((i, run));
                }
                i += run;
            }
            b'}' => {
                let run = b[i..].iter().take_while(|&&c| c == b'}').count();
                let mut rem = run;
                let mut pos = i;
                while rem >= 2 {
                    let Some(top) = stack.last_mut() else { break };
                    let take = if top.1 >= 3 && rem >= 3 { 3 } else { 2 };
                    top.1 -= take;
                    rem -= take;
                    pos += take;
                    spans.push((top.0 + top.1, pos));
                    if top.1 < 2 {
                        stack.pop();
                    }
                }
                i += run;
            }
            _ => i += 1,
        }
    }
    spans.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)));
    let mut outer: Vec<(usize, usize)> = Vec::new();
    for s in spans {
        if outer.last().is_some_and(|last| s.0 < last.1) {
            continue;
        }
        outer.push(s);
    }
    outer
}
