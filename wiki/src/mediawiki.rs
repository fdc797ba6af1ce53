//! MediaWiki XML exports ("dumps"), read and written.
//!
//! An existing MediaWiki must come into chapar whole (`chapar wiki import
//! dump.xml`), and chapar's wiki must be able to go back out in a form
//! MediaWiki imports. Exports are big (a full-history dump runs to
//! gigabytes), are often cut short by an interrupted download, and may come
//! from anyone, so the reader:
//!
//! - **streams**: [`DumpReader`] is an iterator of pages over any
//!   [`BufRead`]; it holds one page at a time, never the file;
//! - **bounds memory**: a revision's text, a title, any other field, one
//!   page and even one XML token have limits ([`Limits`]); what is over a
//!   limit is skipped and reported, never loaded unboundedly;
//! - **keeps what is complete**: every complete page is yielded; damage
//!   costs the page it is in, reported with its title, the revisions that
//!   were complete and the byte offset, and reading goes on at the next
//!   `<page>` (a resynchronisation: in an export a literal `<page>` only
//!   ever starts a page, since text escapes `<`);
//! - **never panics** on any bytes.
//!
//! Schemas 0.8 to 0.11 are read ([`SchemaVersion`]); a newer one is read
//! best-effort with a warning. [`write_export`] writes schema 0.11, valid
//! against MediaWiki's own `export-0.11.xsd` (the tests check it with
//! `xmllint`).
//!
//! ```
//! use chapar_wiki::mediawiki::DumpReader;
//!
//! let xml = r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11" xml:lang="en">
//!   <page><title>Tashkent</title><ns>0</ns><id>1</id>
//!     <revision><id>7</id><timestamp>2024-01-02T03:04:05Z</timestamp>
//!       <contributor><username>Aziz</username><id>3</id></contributor>
//!       <text xml:space="preserve">'''Tashkent''' is a city &amp; a capital.</text>
//!     </revision>
//!   </page>
//! </mediawiki>"#;
//! let mut dump = DumpReader::new(xml.as_bytes())?;
//! assert_eq!(dump.version().as_str(), "0.11");
//! let page = dump.next().expect("one page")?;
//! assert_eq!(page.title, "Tashkent");
//! assert_eq!(page.revisions[0].text, "'''Tashkent''' is a city & a capital.");
//! assert!(dump.next().is_none());
//! # Ok::<(), chapar_wiki::mediawiki::DumpError>(())
//! ```

#![warn(missing_docs)]

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io::{self, BufRead, Read, Write};

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// The XML namespace of schema 0.11, the one [`write_export`] writes.
pub const EXPORT_NAMESPACE_0_11: &str = "http://www.mediawiki.org/xml/export-0.11/";

// ---------------------------------------------------------------------------
// The data
// ---------------------------------------------------------------------------

/// The version of the export schema a file declares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemaVersion {
    /// 0.8 (MediaWiki 1.21): adds `<model>` and `<format>`.
    V0_8,
    /// 0.9: adds `<dbname>` to the site information.
    V0_9,
    /// 0.10: moves `<model>` and `<format>` before `<text>`.
    V0_10,
    /// 0.11: adds namespace aliases to the site information.
    V0_11,
    /// A version this reader does not know, newer than 0.11 (or not a
    /// version number at all): read best-effort as 0.11, see
    /// [`SchemaVersion::warning`].
    Unknown(String),
    /// The root element names no version (neither `version` nor a
    /// MediaWiki `xmlns`): read best-effort as 0.11.
    Unstated,
}

impl SchemaVersion {
    /// The version as written in exports (`"0.10"`), or what the file said.
    pub fn as_str(&self) -> &str {
        match self {
            SchemaVersion::V0_8 => "0.8",
            SchemaVersion::V0_9 => "0.9",
            SchemaVersion::V0_10 => "0.10",
            SchemaVersion::V0_11 => "0.11",
            SchemaVersion::Unknown(v) => v,
            SchemaVersion::Unstated => "unstated",
        }
    }

    /// Whether this is one of the versions the reader knows (0.8 to 0.11).
    pub fn is_known(&self) -> bool {
        !matches!(self, SchemaVersion::Unknown(_) | SchemaVersion::Unstated)
    }

    /// A warning to show the person importing when the version is not one
    /// the reader knows, `None` when it is.
    pub fn warning(&self) -> Option<String> {
        match self {
            SchemaVersion::Unknown(v) => Some(format!(
                "the export declares schema version {v:?}, which chapar does not know \
                 (it reads 0.8 to 0.11): it was read as 0.11, elements chapar does not \
                 know were ignored; check the imported pages"
            )),
            SchemaVersion::Unstated => Some(
                "the export does not say which schema version it is in: it was read as \
                 0.11; check the imported pages"
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// The version a root element declares through its `version` attribute
    /// (preferred) or its `xmlns`. `Err` carries a version older than 0.8.
    fn from_root(version: Option<&str>, xmlns: Option<&str>) -> Result<Self, String> {
        let from_ns = xmlns.and_then(|ns| {
            ns.strip_prefix("http://www.mediawiki.org/xml/export-")
                .map(|v| v.trim_end_matches('/'))
        });
        let Some(v) = version.map(str::trim).or(from_ns) else {
            return Ok(SchemaVersion::Unstated);
        };
        let parsed = v.split_once('.').and_then(|(major, minor)| {
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        });
        Ok(match parsed {
            Some((0, 8)) => SchemaVersion::V0_8,
            Some((0, 9)) => SchemaVersion::V0_9,
            Some((0, 10)) => SchemaVersion::V0_10,
            Some((0, 11)) => SchemaVersion::V0_11,
            Some((0, minor)) if minor < 8 => return Err(v.to_string()),
            _ => SchemaVersion::Unknown(v.to_string()),
        })
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an export says about the wiki it came from (`<siteinfo>`), and the
/// language of the root element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteInfo {
    /// The root element's `xml:lang` (`"vi"`); written back on export
    /// (`"en"` when empty).
    pub lang: String,
    /// `<sitename>`, e.g. `Wikipedia`; empty when absent.
    pub sitename: String,
    /// `<dbname>` (0.9 and later), e.g. `viwiki`; empty when absent.
    pub dbname: String,
    /// `<base>`: the URL of the main page; empty when absent.
    pub base: String,
    /// `<generator>`: the software that wrote the export.
    pub generator: String,
    /// `<case>`: `first-letter`, `case-sensitive` or `case-insensitive`.
    pub case: String,
    /// `<namespaces>`: `(key, name, case)`, e.g. `(14, "Category",
    /// "first-letter")`; the main namespace has key 0 and an empty name.
    pub namespaces: Vec<(i32, String, String)>,
}

/// One page of an export with the revisions the export holds of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The title as shown, with its namespace prefix (`Category:Rivers`)
    /// and spaces (not underscores).
    pub title: String,
    /// The namespace key (0 for articles, 14 for categories, ...).
    pub ns: i32,
    /// MediaWiki's page id.
    pub id: Option<u64>,
    /// The target when the page's current revision is a redirect.
    pub redirect: Option<String>,
    /// The revisions, in the order of the file (MediaWiki writes them
    /// oldest first).
    pub revisions: Vec<Revision>,
}

/// One revision of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revision {
    /// MediaWiki's revision id.
    pub id: Option<u64>,
    /// The revision this one followed.
    pub parent_id: Option<u64>,
    /// The time of the edit as written in the file (ISO 8601, UTC:
    /// `2016-10-06T15:39:14Z`).
    pub timestamp: String,
    /// The same time in milliseconds since 1970-01-01 UTC, `None` when the
    /// file's timestamp is not a valid date and time.
    pub timestamp_ms: Option<i64>,
    /// Who made the edit.
    pub contributor: Contributor,
    /// The edit summary; `None` when absent or hidden (`deleted`).
    pub comment: Option<String>,
    /// Marked as a minor edit.
    pub minor: bool,
    /// The content model (`wikitext`, `css`, `javascript`, `json`, ...).
    pub model: Option<String>,
    /// The serialization format (`text/x-wiki`, ...).
    pub format: Option<String>,
    /// The page text at this revision (wikitext for model `wikitext`);
    /// empty when the export hides it (`<text deleted="deleted"/>`).
    pub text: String,
    /// MediaWiki's SHA-1 of the text (base 36); `None` when absent or empty.
    pub sha1: Option<String>,
}

/// Who made an edit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Contributor {
    /// A registered user; `id` is absent (or 0) for users imported from
    /// another wiki.
    User {
        /// The user name.
        name: String,
        /// The user id on the wiki.
        id: Option<u64>,
    },
    /// An anonymous edit, by IP address.
    Ip(String),
    /// The export does not say: hidden by an administrator
    /// (`<contributor deleted="deleted"/>`) or empty.
    #[default]
    Deleted,
}

/// Limits on what one page of an export may hold, against hostile or broken
/// files. Anything over a limit is skipped and reported, not loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A title, in bytes (default: chapar's [`chapar_proto::wiki::MAX_TITLE`]).
    pub max_title: usize,
    /// One revision's text, in bytes (default: chapar's page body limit
    /// [`chapar_proto::wiki::MAX_BODY`]).
    pub max_text: usize,
    /// Any other field (a comment, a user name, a namespace name...), in
    /// bytes (default 64 KiB).
    pub max_field: usize,
    /// Everything one page holds (its revisions' texts, comments, names...)
    /// together, in bytes (default 256 MiB): a page is held in memory with
    /// all its revisions.
    pub max_page_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_title: chapar_proto::wiki::MAX_TITLE,
            max_text: chapar_proto::wiki::MAX_BODY,
            max_field: 64 << 10,
            max_page_bytes: 256 << 20,
        }
    }
}

impl Limits {
    /// The largest single XML token (a run of text between markup, a tag)
    /// the reader accepts: larger than any field limit, so that a text just
    /// over its limit is still skipped gracefully, yet bounded.
    fn max_token(&self) -> u64 {
        let field = self.max_text.max(self.max_title).max(self.max_field) as u64;
        field.saturating_mul(2).saturating_add(64 << 10)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A page (or the part of one) that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The page's title, when it had been read (over-long titles are cut
    /// to their first 200 bytes here).
    pub title: Option<String>,
    /// The byte offset of the page's `<page>` tag.
    pub offset: u64,
    /// How many of its revisions had been read complete (they are skipped
    /// with the page).
    pub complete_revisions: usize,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.title {
            Some(t) => write!(f, "page {t:?}")?,
            None => f.write_str("a page whose title was not read")?,
        }
        write!(
            f,
            " (from byte {}, {} complete revision{})",
            self.offset,
            self.complete_revisions,
            if self.complete_revisions == 1 {
                ""
            } else {
                "s"
            }
        )
    }
}

/// Why a page or revision was skipped although the XML around it is sound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The title is longer than [`Limits::max_title`].
    TitleTooLong {
        /// The title's length in bytes.
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// A revision's text is longer than [`Limits::max_text`].
    TextTooLong {
        /// The text's length in bytes.
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// Another field is longer than [`Limits::max_field`].
    FieldTooLong {
        /// The element, e.g. `comment`.
        field: &'static str,
        /// Its length in bytes.
        bytes: u64,
        /// The limit.
        limit: usize,
    },
    /// The page's revisions together exceed [`Limits::max_page_bytes`].
    PageTooLarge {
        /// Bytes the page's revisions hold.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// One XML token (text without markup, or a tag) is larger than the
    /// reader holds in memory; the page was skipped unread from there.
    TokenTooLarge {
        /// The largest token accepted, in bytes.
        limit: u64,
    },
    /// A value is not what the schema allows (an id that is not a number,
    /// a page without a title...).
    Invalid {
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::TitleTooLong { bytes, limit } => write!(
                f,
                "its title is {bytes} bytes, over chapar's limit of {limit}: rename the page \
                 in MediaWiki and export it again"
            ),
            SkipReason::TextTooLong { bytes, limit } => write!(
                f,
                "its text is {bytes} bytes, over chapar's limit of {limit} for a page: split \
                 the page in MediaWiki before exporting, or import it by hand"
            ),
            SkipReason::FieldTooLong {
                field,
                bytes,
                limit,
            } => write!(
                f,
                "its <{field}> is {bytes} bytes, over the reader's limit of {limit}: the \
                 export is probably damaged or hostile"
            ),
            SkipReason::PageTooLarge { bytes, limit } => write!(
                f,
                "its revisions hold {bytes} bytes of text, over the reader's limit of {limit} \
                 for one page: export fewer revisions of it (or raise Limits::max_page_bytes)"
            ),
            SkipReason::TokenTooLarge { limit } => write!(
                f,
                "it holds a run of more than {limit} bytes without markup, which the reader \
                 does not load: the export is probably damaged or hostile"
            ),
            SkipReason::Invalid { detail } => write!(f, "{detail}"),
        }
    }
}

/// What can go wrong reading an export. Each says what was lost and what
/// to do; [`DumpError::ends_reading`] says whether more pages follow.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Reading the input failed (a disk or network error). Reading ends.
    #[error("reading the export failed at byte {offset}: {source}; check the file and try again")]
    Io {
        /// Bytes read before the failure.
        offset: u64,
        /// The error of the input.
        #[source]
        source: io::Error,
    },
    /// The file is not a MediaWiki export (its root element is not
    /// `<mediawiki>`, or it is not XML). Nothing is read.
    #[error(
        "this is not a MediaWiki XML export: {found}; export the wiki with \
         Special:Export or maintenance/dumpBackup.php"
    )]
    NotAnExport {
        /// What was found instead.
        found: String,
    },
    /// The export's schema is older than 0.8. Nothing is read.
    #[error(
        "the export is in schema version {version}, older than 0.8 which chapar reads: \
         export it again with MediaWiki 1.21 or later"
    )]
    UnsupportedVersion {
        /// The version the file declares.
        version: String,
    },
    /// The XML declaration names an encoding other than UTF-8. Nothing is
    /// read.
    #[error(
        "the export is encoded in {encoding}, and chapar reads UTF-8 only: convert it first \
         (iconv -f {encoding} -t UTF-8)"
    )]
    UnsupportedEncoding {
        /// The declared encoding.
        encoding: String,
    },
    /// The input ends before `</mediawiki>`: the file was cut short.
    /// Every complete page before was yielded. Reading ends.
    #[error(
        "the export ends at byte {offset} before its closing </mediawiki>: the file is cut \
         short (an interrupted download or copy?); {}every complete page before it was read; \
         to import the rest, get the whole file again",
        describe_cut(.page)
    )]
    Truncated {
        /// The length of the input.
        offset: u64,
        /// The page the input ended in, if it ended inside one.
        page: Option<Skipped>,
    },
    /// The XML is not well-formed (damage, or not an export). The page it
    /// is in is skipped and reading goes on at the next `<page>`.
    #[error(
        "the export is not well-formed XML at byte {offset} ({detail}); {}reading goes on at \
         the next <page>; check the file (xmllint --noout FILE) or export it again",
        describe_damage(.page)
    )]
    Malformed {
        /// Where the damage was found.
        offset: u64,
        /// What the XML parser found.
        detail: String,
        /// The page it is in, if any.
        page: Option<Skipped>,
    },
    /// A whole page was skipped (see `reason`); reading goes on.
    #[error("{page} was skipped: {reason}")]
    PageSkipped {
        /// The page.
        page: Skipped,
        /// Why.
        reason: SkipReason,
    },
    /// One revision of a page was skipped (see `reason`); the page is still
    /// yielded, with its other revisions, right after this error.
    #[error(
        "revision {} of page {title:?} (at byte {offset}) was skipped: {reason}; the page's \
         other revisions were read",
        describe_rev(.revision)
    )]
    RevisionSkipped {
        /// The page's title.
        title: String,
        /// The revision's id, if it had one.
        revision: Option<u64>,
        /// The byte offset just after the revision.
        offset: u64,
        /// Why.
        reason: SkipReason,
    },
}

fn describe_cut(page: &Option<Skipped>) -> String {
    match page {
        Some(p) => format!("it ends inside {p}, which was not imported; "),
        None => String::new(),
    }
}

fn describe_damage(page: &Option<Skipped>) -> String {
    match page {
        Some(p) => format!("{p} was skipped; "),
        None => String::new(),
    }
}

fn describe_rev(id: &Option<u64>) -> String {
    match id {
        Some(id) => id.to_string(),
        None => "(without id)".to_string(),
    }
}

impl DumpError {
    /// Whether no page follows this error: the iterator returns `None`
    /// next. [`DumpError::Malformed`], [`DumpError::PageSkipped`] and
    /// [`DumpError::RevisionSkipped`] let reading go on.
    pub fn ends_reading(&self) -> bool {
        !matches!(
            self,
            DumpError::Malformed { .. }
                | DumpError::PageSkipped { .. }
                | DumpError::RevisionSkipped { .. }
        )
    }

    /// The byte offset the error is about, when there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            DumpError::Io { offset, .. }
            | DumpError::Truncated { offset, .. }
            | DumpError::Malformed { offset, .. }
            | DumpError::RevisionSkipped { offset, .. } => Some(*offset),
            DumpError::PageSkipped { page, .. } => Some(page.offset),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// The byte source: position, a budget per token, and resynchronisation
// ---------------------------------------------------------------------------

/// The input as the XML parser sees it. Counts the bytes consumed (the
/// progress), refuses to hand out more than `budget` bytes for one token
/// (so that no single event is unbounded), and can put back the bytes of a
/// `<page` found while resynchronising.
struct Source<R> {
    inner: R,
    /// Bytes consumed from `inner`.
    consumed: u64,
    /// Bytes to serve before `inner` again.
    pushback: Vec<u8>,
    pushback_pos: usize,
    /// Bytes the parser may still consume for the current token.
    budget: u64,
    /// Set when the budget ran out (the parser then gets an I/O error).
    exhausted: bool,
}

/// Where a resynchronisation stopped.
enum Resync {
    /// At a `<page` (put back, so the next token read is that tag).
    Page,
    /// At `</mediawiki`: the end.
    End,
    /// At the end of the input.
    Eof,
}

impl<R: BufRead> Source<R> {
    fn new(inner: R) -> Self {
        Source {
            inner,
            consumed: 0,
            pushback: Vec::new(),
            pushback_pos: 0,
            budget: u64::MAX,
            exhausted: false,
        }
    }

    fn position(&self) -> u64 {
        // Bytes put back were consumed from `inner` before.
        self.consumed
            .saturating_sub((self.pushback.len() - self.pushback_pos) as u64)
    }

    fn set_budget(&mut self, budget: u64) {
        self.budget = budget;
        self.exhausted = false;
    }

    fn raw_fill(&mut self) -> io::Result<&[u8]> {
        if self.pushback_pos < self.pushback.len() {
            return Ok(&self.pushback[self.pushback_pos..]);
        }
        loop {
            match self.inner.fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => break,
            }
        }
        self.inner.fill_buf()
    }

    fn raw_consume(&mut self, n: usize) {
        if self.pushback_pos < self.pushback.len() {
            self.pushback_pos = (self.pushback_pos + n).min(self.pushback.len());
            if self.pushback_pos == self.pushback.len() {
                self.pushback.clear();
                self.pushback_pos = 0;
            }
        } else {
            self.inner.consume(n);
            self.consumed += n as u64;
        }
    }

    fn at_eof(&mut self) -> bool {
        matches!(self.raw_fill(), Ok(b) if b.is_empty())
    }

    /// Skips to the next `<page` tag (left unread) or `</mediawiki`.
    fn resync(&mut self) -> io::Result<Resync> {
        const PAGE: &[u8] = b"<page";
        const END: &[u8] = b"</mediawiki";
        let (mut in_page, mut in_end) = (0usize, 0usize);
        loop {
            let chunk = self.raw_fill()?;
            if chunk.is_empty() {
                return Ok(Resync::Eof);
            }
            let mut found = None;
            for (i, &b) in chunk.iter().enumerate() {
                let delimiter = matches!(b, b'>' | b' ' | b'\t' | b'\r' | b'\n' | b'/');
                if in_page == PAGE.len() && delimiter {
                    found = Some((i, true));
                    break;
                }
                if in_end == END.len() && delimiter {
                    found = Some((i, false));
                    break;
                }
                in_page = step_match(PAGE, in_page, b);
                in_end = step_match(END, in_end, b);
            }
            match found {
                Some((i, is_page)) => {
                    let delimiter = chunk[i];
                    self.raw_consume(i + 1);
                    if !is_page {
                        return Ok(Resync::End);
                    }
                    let mut back = PAGE.to_vec();
                    back.push(delimiter);
                    back.extend_from_slice(&self.pushback[self.pushback_pos..]);
                    self.pushback = back;
                    self.pushback_pos = 0;
                    return Ok(Resync::Page);
                }
                None => {
                    let n = chunk.len();
                    self.raw_consume(n);
                }
            }
        }
    }
}

/// One step of matching `pattern` (whose first byte does not recur in it)
/// after `matched` bytes of it.
fn step_match(pattern: &[u8], matched: usize, b: u8) -> usize {
    if matched < pattern.len() && pattern[matched] == b {
        matched + 1
    } else if b == pattern[0] {
        1
    } else {
        0
    }
}

impl<R: BufRead> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.budget == 0 {
            self.exhausted = true;
            return Err(io::Error::other("XML token over the reader's limit"));
        }
        let cap = usize::try_from(self.budget).unwrap_or(usize::MAX);
        let chunk = self.raw_fill()?;
        Ok(&chunk[..chunk.len().min(cap)])
    }

    fn consume(&mut self, n: usize) {
        self.budget = self.budget.saturating_sub(n as u64);
        self.raw_consume(n);
    }
}

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

/// An XML event, owned, reduced to what an export needs.
enum Ev {
    Start(String, Vec<(String, String)>),
    Empty(String, Vec<(String, String)>),
    End(String),
    Text(String),
    Decl(Option<String>),
    Eof,
}

/// Why parsing cannot go on in step with the XML.
enum Fail {
    /// The input ended.
    Eof,
    /// Not well-formed (or not an export's structure).
    Malformed(String),
    /// One token over the budget.
    TokenTooLarge,
    /// The input failed.
    Io(io::Error),
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn owned_attrs(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, Fail> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| Fail::Malformed(format!("bad attribute: {e}")))?;
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| Fail::Malformed(format!("bad attribute value: {e}")))?;
        out.push((a.key.as_ref().to_string(), value.into_owned()));
    }
    Ok(out)
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// The quick-xml parser over the source.
struct Parser<R> {
    xml: Reader<Source<R>>,
    buf: Vec<u8>,
    max_token: u64,
    /// Position before the last event read: where it starts.
    event_start: u64,
}

impl<R: BufRead> Parser<R> {
    fn new(source: Source<R>, max_token: u64, fragment: bool) -> Self {
        let mut xml = Reader::from_reader(source);
        let config = xml.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        // After a resynchronisation the root's `</mediawiki>` has no start.
        config.allow_unmatched_ends = fragment;
        Parser {
            xml,
            buf: Vec::new(),
            max_token,
            event_start: 0,
        }
    }

    fn position(&self) -> u64 {
        self.xml.get_ref().position()
    }

    fn source(&mut self) -> &mut Source<R> {
        self.xml.get_mut()
    }

    fn next(&mut self) -> Result<Ev, Fail> {
        loop {
            self.buf.clear();
            self.event_start = self.position();
            let budget = self.max_token;
            self.source().set_budget(budget);
            let event = self.xml.read_event_into(&mut self.buf);
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    let source = self.xml.get_mut();
                    if source.exhausted {
                        return Err(Fail::TokenTooLarge);
                    }
                    if let quick_xml::Error::Io(io) = &e {
                        return Err(Fail::Io(io::Error::new(io.kind(), io.to_string())));
                    }
                    if source.at_eof() {
                        return Err(Fail::Eof);
                    }
                    return Err(Fail::Malformed(e.to_string()));
                }
            };
            return Ok(match event {
                Event::Start(e) => Ev::Start(e.local_name().as_ref().to_string(), owned_attrs(&e)?),
                Event::Empty(e) => Ev::Empty(e.local_name().as_ref().to_string(), owned_attrs(&e)?),
                Event::End(e) => Ev::End(e.local_name().as_ref().to_string()),
                Event::Text(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::CData(t) => Ev::Text(t.xml10_content().into_owned()),
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => c,
                        Ok(None) => predefined_entity(&r)
                            .ok_or_else(|| Fail::Malformed(format!("unknown entity &{};", &*r)))?,
                        Err(e) => return Err(Fail::Malformed(e.to_string())),
                    };
                    Ev::Text(c.to_string())
                }
                Event::Decl(d) => {
                    let encoding = match d.encoding() {
                        Some(Ok(enc)) => Some(enc.into_owned()),
                        Some(Err(e)) => return Err(Fail::Malformed(e.to_string())),
                        None => None,
                    };
                    Ev::Decl(encoding)
                }
                Event::Comment(_) | Event::PI(_) | Event::DocType(_) => continue,
                Event::Eof => Ev::Eof,
            });
        }
    }

    /// Skips the rest of an element whose start was read.
    fn skip(&mut self, name: &str) -> Result<(), Fail> {
        let mut depth = 0usize;
        loop {
            match self.next()? {
                Ev::Start(..) if depth >= MAX_DEPTH => {
                    return Err(Fail::Malformed(format!(
                        "elements nested more than {MAX_DEPTH} deep inside <{name}>"
                    )));
                }
                Ev::Start(..) => depth += 1,
                Ev::End(n) if depth == 0 => {
                    return if n == name {
                        Ok(())
                    } else {
                        Err(Fail::Malformed(format!("</{n}> closes <{name}>")))
                    };
                }
                Ev::End(_) => depth -= 1,
                Ev::Eof => return Err(Fail::Eof),
                _ => {}
            }
        }
    }

    /// Reads the text of an element whose start was read, up to `limit`
    /// bytes; over it, the rest is counted but not kept.
    fn text(&mut self, name: &str, limit: usize) -> Result<Bounded, Fail> {
        let mut out = String::new();
        let mut bytes = 0u64;
        loop {
            match self.next()? {
                Ev::Text(t) => {
                    bytes += t.len() as u64;
                    if bytes <= limit as u64 {
                        if out.is_empty() {
                            out = t;
                        } else {
                            out.push_str(&t);
                        }
                    } else if out.len() > PREVIEW {
                        let cut = floor_char_boundary(&out, PREVIEW);
                        out.truncate(cut);
                        out.shrink_to_fit();
                    } else if out.len() < PREVIEW {
                        let room = floor_char_boundary(&t, PREVIEW - out.len());
                        out.push_str(&t[..room]);
                    }
                }
                Ev::End(n) if n == name => {
                    return Ok(if bytes <= limit as u64 {
                        Bounded::Ok(out)
                    } else {
                        Bounded::Over {
                            preview: out,
                            bytes,
                        }
                    });
                }
                Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <{name}>"))),
                Ev::Start(n, _) | Ev::Empty(n, _) => {
                    return Err(Fail::Malformed(format!("<{n}> inside <{name}>")));
                }
                Ev::Decl(_) => {
                    return Err(Fail::Malformed(
                        "XML declaration inside the document".into(),
                    ));
                }
                Ev::Eof => return Err(Fail::Eof),
            }
        }
    }
}

/// How much of an over-long value is kept to name it in a message.
const PREVIEW: usize = 200;

/// How deep unknown elements may nest (an export has 4 levels): deeper is
/// damage, and would grow the parser's stack of open names.
const MAX_DEPTH: usize = 64;

/// How many namespaces `<siteinfo>` may list (a wiki has a few dozen).
const MAX_NAMESPACES: usize = 10_000;

fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut i = at.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A value read up to a limit.
enum Bounded {
    Ok(String),
    Over { preview: String, bytes: u64 },
}

// ---------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------

/// A streaming reader of a MediaWiki XML export: an iterator of pages.
///
/// [`DumpReader::new`] reads the root element and the `<siteinfo>`; each
/// [`Iterator::next`] then reads one page. Items:
///
/// - `Ok(page)`: a complete page, as in the file;
/// - [`DumpError::RevisionSkipped`]: a revision over a limit, or with an
///   invalid value, was left out; its page follows;
/// - [`DumpError::PageSkipped`]: a page over a limit, or with an invalid
///   value, was left out; reading goes on;
/// - [`DumpError::Malformed`]: damaged XML; the page it is in is left out
///   and reading goes on at the next `<page>`;
/// - [`DumpError::Truncated`] (the file ends before `</mediawiki>`) or
///   [`DumpError::Io`]: the last item.
///
/// A page is yielded only once its `</page>` is read, so a truncated or
/// damaged file yields exactly its complete pages before the damage (and,
/// after a resynchronisation, those after it).
pub struct DumpReader<R> {
    parser: Option<Parser<R>>,
    limits: Limits,
    version: SchemaVersion,
    siteinfo: Option<SiteInfo>,
    lang: String,
    pending: VecDeque<DumpError>,
    ready: Option<Page>,
    /// The offset of a `<page>` whose start tag has been read already.
    page_started: Option<u64>,
    /// Where the input ended, once the parser is gone.
    final_position: u64,
    /// Where the last resynchronisation stopped (to guarantee progress).
    last_resync: Option<u64>,
}

/// What reading one page gave.
enum PageOutcome {
    Page(Page, Vec<DumpError>),
    Skipped(DumpError),
}

/// Progress inside a page, for messages.
struct Progress {
    offset: u64,
    title: Option<String>,
    complete_revisions: usize,
}

impl Progress {
    fn skipped(&self) -> Skipped {
        Skipped {
            title: self.title.clone(),
            offset: self.offset,
            complete_revisions: self.complete_revisions,
        }
    }
}

impl<R: BufRead> DumpReader<R> {
    /// Opens an export with the default [`Limits`]: reads the root element
    /// and the site information.
    ///
    /// # Errors
    ///
    /// [`DumpError::NotAnExport`] when the root element is not
    /// `<mediawiki>`, [`DumpError::UnsupportedVersion`] for schemas before
    /// 0.8, [`DumpError::UnsupportedEncoding`], [`DumpError::Truncated`]
    /// when the file ends in its first element, [`DumpError::Io`].
    pub fn new(input: R) -> Result<Self, DumpError> {
        Self::with_limits(input, Limits::default())
    }

    /// Opens an export with the given limits (see [`DumpReader::new`]).
    ///
    /// # Errors
    ///
    /// As [`DumpReader::new`].
    pub fn with_limits(input: R, limits: Limits) -> Result<Self, DumpError> {
        let mut parser = Parser::new(Source::new(input), limits.max_token(), false);
        let (version, lang, empty_root) = read_root(&mut parser)?;
        let mut reader = DumpReader {
            parser: Some(parser),
            limits,
            version,
            siteinfo: None,
            lang,
            pending: VecDeque::new(),
            ready: None,
            page_started: None,
            final_position: 0,
            last_resync: None,
        };
        if empty_root {
            reader.finish();
        } else {
            reader.read_head();
        }
        Ok(reader)
    }

    /// The schema version the export declares.
    pub fn version(&self) -> &SchemaVersion {
        &self.version
    }

    /// The site information, once read (after [`DumpReader::new`], unless
    /// the export has none or it was damaged).
    pub fn siteinfo(&self) -> Option<&SiteInfo> {
        self.siteinfo.as_ref()
    }

    /// The root element's `xml:lang`.
    pub fn lang(&self) -> &str {
        &self.lang
    }

    /// Bytes of the input consumed so far, for a progress bar against the
    /// file's size. It only grows, and after the last item of a complete
    /// file it is the file's size.
    ///
    /// Through a `&mut DumpReader` (as in a `for` loop over `&mut reader`),
    /// call it as `DumpReader::position(&reader)`: method lookup would
    /// otherwise find [`Iterator::position`] first.
    pub fn position(&self) -> u64 {
        match &self.parser {
            Some(p) => p.position(),
            None => self.final_position,
        }
    }

    fn finish(&mut self) {
        if let Some(p) = self.parser.take() {
            self.final_position = p.position();
        }
    }

    /// Ends after `</mediawiki>`: reads the whitespace (and comments) that
    /// may follow, so that [`DumpReader::position`] reaches the end of a
    /// complete file. Anything else after the root is left unread.
    fn finish_root(&mut self) {
        if let Some(p) = self.parser.as_mut() {
            loop {
                let before = p.position();
                match p.next() {
                    Ok(Ev::Text(t)) if t.trim().is_empty() => {}
                    Ok(Ev::Eof) => break,
                    _ => {
                        self.final_position = before;
                        self.parser = None;
                        return;
                    }
                }
            }
        }
        self.finish();
    }

    /// Reads what precedes the first page: the `<siteinfo>`.
    fn read_head(&mut self) {
        let Some(parser) = self.parser.as_mut() else {
            return;
        };
        loop {
            match parser.next() {
                Ok(Ev::Start(n, _)) if n == "siteinfo" => {
                    match read_siteinfo(parser, &self.limits) {
                        Ok(mut site) => {
                            site.lang = self.lang.clone();
                            self.siteinfo = Some(site);
                        }
                        Err(fail) => self.fail(fail, None),
                    }
                    return;
                }
                Ok(Ev::Start(n, _)) if n == "page" => {
                    self.page_started = Some(parser.event_start);
                    return;
                }
                Ok(Ev::Text(_)) => {}
                // Anything else: left to the page loop.
                Ok(Ev::Start(n, _)) => {
                    if let Err(fail) = parser.skip(&n) {
                        self.fail(fail, None);
                        return;
                    }
                }
                Ok(Ev::End(_)) => {
                    self.finish_root();
                    return;
                }
                Ok(Ev::Eof) => {
                    self.fail(Fail::Eof, None);
                    return;
                }
                Ok(_) => {}
                Err(fail) => {
                    self.fail(fail, None);
                    return;
                }
            }
        }
    }

    /// Turns a failure into an error and resynchronises (or ends).
    fn fail(&mut self, fail: Fail, page: Option<&Progress>) {
        let offset = DumpReader::position(self);
        let skipped = page.map(Progress::skipped);
        match fail {
            Fail::Eof => {
                self.pending.push_back(DumpError::Truncated {
                    offset,
                    page: skipped,
                });
                self.finish();
                return;
            }
            Fail::Io(source) => {
                self.pending.push_back(DumpError::Io { offset, source });
                self.finish();
                return;
            }
            Fail::Malformed(detail) => self.pending.push_back(DumpError::Malformed {
                offset,
                detail,
                page: skipped,
            }),
            Fail::TokenTooLarge => {
                let limit = self.limits.max_token();
                self.pending.push_back(match skipped {
                    Some(page) => DumpError::PageSkipped {
                        page,
                        reason: SkipReason::TokenTooLarge { limit },
                    },
                    None => DumpError::Malformed {
                        offset,
                        detail: format!("a run of more than {limit} bytes without markup"),
                        page: None,
                    },
                })
            }
        }
        self.resync();
    }

    /// Drops the parser and starts a new one at the next `<page>`.
    fn resync(&mut self) {
        let Some(parser) = self.parser.take() else {
            return;
        };
        let mut source = parser.xml.into_inner();
        // Progress: if nothing was consumed since the last resynchronisation
        // stopped at a `<page`, step over that `<`.
        if self.last_resync == Some(source.position())
            && matches!(source.raw_fill(), Ok(b) if !b.is_empty())
        {
            source.raw_consume(1);
        }
        match source.resync() {
            Ok(Resync::Page) => {
                self.last_resync = Some(source.position());
                self.parser = Some(Parser::new(source, self.limits.max_token(), true));
            }
            Ok(Resync::End) => {
                // Past `</mediawiki`: its `>` and the whitespace after.
                while let Ok(chunk) = source.raw_fill() {
                    let n = chunk
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace() || **b == b'>')
                        .count();
                    if n == 0 {
                        break;
                    }
                    source.raw_consume(n);
                }
                self.final_position = source.position();
            }
            Ok(Resync::Eof) => {
                self.final_position = source.position();
                self.pending.push_back(DumpError::Truncated {
                    offset: self.final_position,
                    page: None,
                });
            }
            Err(e) => {
                self.final_position = source.position();
                self.pending.push_back(DumpError::Io {
                    offset: self.final_position,
                    source: e,
                });
            }
        }
    }

    /// Reads on until a page, an error or the end.
    fn step(&mut self) {
        loop {
            let Some(parser) = self.parser.as_mut() else {
                return;
            };
            if let Some(offset) = self.page_started.take() {
                let mut progress = Progress {
                    offset,
                    title: None,
                    complete_revisions: 0,
                };
                match read_page(parser, &self.limits, &mut progress) {
                    Ok(PageOutcome::Page(page, skips)) => {
                        self.pending.extend(skips);
                        self.ready = Some(page);
                    }
                    Ok(PageOutcome::Skipped(e)) => self.pending.push_back(e),
                    Err(fail) => self.fail(fail, Some(&progress)),
                }
                return;
            }
            match parser.next() {
                Ok(Ev::Start(n, _)) if n == "page" => self.page_started = Some(parser.event_start),
                Ok(Ev::Start(n, _)) if n == "siteinfo" && self.siteinfo.is_none() => {
                    match read_siteinfo(parser, &self.limits) {
                        Ok(mut site) => {
                            site.lang = self.lang.clone();
                            self.siteinfo = Some(site);
                        }
                        Err(fail) => {
                            self.fail(fail, None);
                            return;
                        }
                    }
                }
                Ok(Ev::Start(n, _)) => {
                    if let Err(fail) = parser.skip(&n) {
                        self.fail(fail, None);
                        return;
                    }
                }
                Ok(Ev::End(n)) if n == "mediawiki" => {
                    self.finish_root();
                    return;
                }
                Ok(Ev::End(n)) => {
                    self.fail(Fail::Malformed(format!("unexpected </{n}>")), None);
                    return;
                }
                Ok(Ev::Eof) => {
                    self.fail(Fail::Eof, None);
                    return;
                }
                Ok(Ev::Text(_) | Ev::Empty(..)) => {}
                Ok(Ev::Decl(_)) => {
                    self.fail(
                        Fail::Malformed("XML declaration inside the document".into()),
                        None,
                    );
                    return;
                }
                Err(fail) => {
                    self.fail(fail, None);
                    return;
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for DumpReader<R> {
    type Item = Result<Page, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Err(e));
            }
            if let Some(page) = self.ready.take() {
                return Some(Ok(page));
            }
            self.parser.as_ref()?;
            self.step();
        }
    }
}

impl<R: BufRead> std::iter::FusedIterator for DumpReader<R> {}

impl<R> fmt::Debug for DumpReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DumpReader")
            .field("version", &self.version)
            .field("lang", &self.lang)
            .field("finished", &self.parser.is_none())
            .finish_non_exhaustive()
    }
}

/// Reads up to and including the root element: (version, lang, empty root).
fn read_root<R: BufRead>(
    parser: &mut Parser<R>,
) -> Result<(SchemaVersion, String, bool), DumpError> {
    loop {
        let ev = match parser.next() {
            Ok(ev) => ev,
            Err(Fail::Io(source)) => {
                return Err(DumpError::Io {
                    offset: parser.position(),
                    source,
                });
            }
            Err(Fail::Eof) => {
                return Err(DumpError::Truncated {
                    offset: parser.position(),
                    page: None,
                });
            }
            Err(Fail::Malformed(detail)) => {
                return Err(DumpError::NotAnExport {
                    found: format!("it is not well-formed XML ({detail})"),
                });
            }
            Err(Fail::TokenTooLarge) => {
                return Err(DumpError::NotAnExport {
                    found: "it begins with a run of text too long for an export".into(),
                });
            }
        };
        match ev {
            Ev::Decl(Some(enc)) => {
                let e = enc.to_ascii_lowercase();
                if e != "utf-8" && e != "utf8" {
                    return Err(DumpError::UnsupportedEncoding { encoding: enc });
                }
            }
            Ev::Decl(None) => {}
            Ev::Text(t) if t.trim().is_empty() => {}
            Ev::Text(_) => {
                return Err(DumpError::NotAnExport {
                    found: "it begins with text, not an element".into(),
                });
            }
            Ev::Start(name, _) | Ev::Empty(name, _) if name != "mediawiki" => {
                return Err(DumpError::NotAnExport {
                    found: format!("its root element is <{name}>, not <mediawiki>"),
                });
            }
            ev @ (Ev::Start(..) | Ev::Empty(..)) => {
                let (empty, attrs) = match ev {
                    Ev::Empty(_, attrs) => (true, attrs),
                    Ev::Start(_, attrs) => (false, attrs),
                    _ => (false, Vec::new()),
                };
                let version =
                    SchemaVersion::from_root(attr(&attrs, "version"), attr(&attrs, "xmlns"))
                        .map_err(|version| DumpError::UnsupportedVersion { version })?;
                let lang = attr(&attrs, "xml:lang").unwrap_or_default().to_string();
                return Ok((version, lang, empty));
            }
            Ev::End(name) => {
                return Err(DumpError::NotAnExport {
                    found: format!("it begins with </{name}>"),
                });
            }
            Ev::Eof => {
                return Err(DumpError::NotAnExport {
                    found: "it holds no element (empty, or not XML)".into(),
                });
            }
        }
    }
}

fn small_text<R: BufRead>(
    parser: &mut Parser<R>,
    name: &'static str,
    limits: &Limits,
) -> Result<Result<String, SkipReason>, Fail> {
    Ok(match parser.text(name, limits.max_field)? {
        Bounded::Ok(s) => Ok(s),
        Bounded::Over { bytes, .. } => Err(SkipReason::FieldTooLong {
            field: name,
            bytes,
            limit: limits.max_field,
        }),
    })
}

fn read_siteinfo<R: BufRead>(parser: &mut Parser<R>, limits: &Limits) -> Result<SiteInfo, Fail> {
    let mut site = SiteInfo::default();
    let too_long = |reason: SkipReason| Fail::Malformed(format!("in <siteinfo>: {reason}"));
    loop {
        match parser.next()? {
            Ev::Start(n, _) => {
                let field = match n.as_str() {
                    "sitename" => &mut site.sitename,
                    "dbname" => &mut site.dbname,
                    "base" => &mut site.base,
                    "generator" => &mut site.generator,
                    "case" => &mut site.case,
                    "namespaces" => {
                        read_namespaces(parser, limits, &mut site.namespaces)?;
                        continue;
                    }
                    _ => {
                        parser.skip(&n)?;
                        continue;
                    }
                };
                let name: &'static str = match n.as_str() {
                    "sitename" => "sitename",
                    "dbname" => "dbname",
                    "base" => "base",
                    "generator" => "generator",
                    _ => "case",
                };
                *field = small_text(parser, name, limits)?.map_err(too_long)?;
            }
            Ev::End(n) if n == "siteinfo" => return Ok(site),
            Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <siteinfo>"))),
            Ev::Eof => return Err(Fail::Eof),
            _ => {}
        }
    }
}

fn read_namespaces<R: BufRead>(
    parser: &mut Parser<R>,
    limits: &Limits,
    out: &mut Vec<(i32, String, String)>,
) -> Result<(), Fail> {
    loop {
        match parser.next()? {
            Ev::Start(n, attrs) if n == "namespace" => {
                let (key, case) = namespace_attrs(&attrs)?;
                let name = match parser.text("namespace", limits.max_field)? {
                    Bounded::Ok(s) => s,
                    Bounded::Over { bytes, .. } => {
                        return Err(Fail::Malformed(format!(
                            "a namespace name of {bytes} bytes in <siteinfo>"
                        )));
                    }
                };
                out.push((key, name, case));
            }
            Ev::Empty(n, attrs) if n == "namespace" => {
                let (key, case) = namespace_attrs(&attrs)?;
                out.push((key, String::new(), case));
            }
            _ if out.len() > MAX_NAMESPACES => {
                return Err(Fail::Malformed(format!(
                    "<siteinfo> lists more than {MAX_NAMESPACES} namespaces"
                )));
            }
            Ev::Start(n, _) => parser.skip(&n)?,
            Ev::End(n) if n == "namespaces" => return Ok(()),
            Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <namespaces>"))),
            Ev::Eof => return Err(Fail::Eof),
            _ => {}
        }
    }
}

fn namespace_attrs(attrs: &[(String, String)]) -> Result<(i32, String), Fail> {
    let key = attr(attrs, "key").unwrap_or("0");
    let key = key
        .trim()
        .parse()
        .map_err(|_| Fail::Malformed(format!("namespace key {key:?} is not a number")))?;
    Ok((key, attr(attrs, "case").unwrap_or_default().to_string()))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, SkipReason> {
    s.trim().parse().map_err(|_| SkipReason::Invalid {
        detail: format!("its {what} {s:?} is not a number"),
    })
}

/// Reads a page whose `<page>` start was read. Errors that keep the parser
/// in step with the XML skip the page (or a revision) and read on to
/// `</page>`; only a [`Fail`] loses the step.
fn read_page<R: BufRead>(
    parser: &mut Parser<R>,
    limits: &Limits,
    progress: &mut Progress,
) -> Result<PageOutcome, Fail> {
    let mut page = Page::default();
    let mut problem: Option<SkipReason> = None;
    let mut skips = Vec::new();
    let mut has_title = false;
    let mut text_bytes = 0u64;
    loop {
        match parser.next()? {
            Ev::Start(n, attrs) => match n.as_str() {
                "title" => match parser.text("title", limits.max_title)? {
                    Bounded::Ok(t) => {
                        if t.trim().is_empty() {
                            problem.get_or_insert(SkipReason::Invalid {
                                detail: "its <title> is empty".into(),
                            });
                        }
                        progress.title = Some(t.clone());
                        page.title = t;
                        has_title = true;
                    }
                    Bounded::Over { preview, bytes } => {
                        progress.title = Some(format!("{preview}…"));
                        has_title = true;
                        problem.get_or_insert(SkipReason::TitleTooLong {
                            bytes,
                            limit: limits.max_title,
                        });
                    }
                },
                "ns" => match small_text(parser, "ns", limits)?.and_then(|s| number(&s, "<ns>")) {
                    Ok(ns) => page.ns = ns,
                    Err(reason) => {
                        problem.get_or_insert(reason);
                    }
                },
                "id" => {
                    match small_text(parser, "id", limits)?.and_then(|s| number(&s, "page <id>")) {
                        Ok(id) => page.id = Some(id),
                        Err(reason) => {
                            problem.get_or_insert(reason);
                        }
                    }
                }
                "redirect" => {
                    page.redirect = Some(attr(&attrs, "title").unwrap_or_default().to_string());
                    parser.skip("redirect")?;
                }
                "revision" => {
                    let rev = read_revision(parser, limits)?;
                    progress.complete_revisions += 1;
                    match rev {
                        RevOutcome::Ok(rev) => {
                            text_bytes += held_bytes(&rev);
                            if problem.is_none() && text_bytes > limits.max_page_bytes {
                                problem = Some(SkipReason::PageTooLarge {
                                    bytes: 0,
                                    limit: limits.max_page_bytes,
                                });
                            }
                            if problem.is_none() {
                                page.revisions.push(rev);
                            } else {
                                page.revisions = Vec::new();
                            }
                        }
                        RevOutcome::Skip { id, reason } => {
                            skips.push(DumpError::RevisionSkipped {
                                title: progress.title.clone().unwrap_or_default(),
                                revision: id,
                                offset: parser.position(),
                                reason,
                            });
                        }
                    }
                }
                _ => parser.skip(&n)?,
            },
            Ev::Empty(n, attrs) if n == "redirect" => {
                page.redirect = Some(attr(&attrs, "title").unwrap_or_default().to_string());
            }
            Ev::End(n) if n == "page" => break,
            Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <page>"))),
            Ev::Eof => return Err(Fail::Eof),
            Ev::Decl(_) => return Err(Fail::Malformed("XML declaration inside a page".into())),
            Ev::Text(_) | Ev::Empty(..) => {}
        }
    }
    if problem.is_none() && !has_title {
        problem = Some(SkipReason::Invalid {
            detail: "it has no <title>".into(),
        });
    }
    if let Some(mut reason) = problem {
        if let SkipReason::PageTooLarge { bytes, .. } = &mut reason {
            *bytes = text_bytes;
        }
        return Ok(PageOutcome::Skipped(DumpError::PageSkipped {
            page: progress.skipped(),
            reason,
        }));
    }
    if page.redirect.as_deref() == Some("") {
        // Old exports flag redirects without naming the target.
        if let Some(target) = page
            .revisions
            .last()
            .and_then(|r| crate::wikitext::redirect_target(&r.text))
        {
            page.redirect = Some(target);
        }
    }
    Ok(PageOutcome::Page(page, skips))
}

enum RevOutcome {
    Ok(Revision),
    /// Left out (over a limit, or a value that is not valid): the page
    /// keeps its other revisions.
    Skip {
        id: Option<u64>,
        reason: SkipReason,
    },
}

/// What a revision holds in memory, roughly, for [`Limits::max_page_bytes`].
fn held_bytes(rev: &Revision) -> u64 {
    let contributor = match &rev.contributor {
        Contributor::User { name, .. } => name.len(),
        Contributor::Ip(ip) => ip.len(),
        Contributor::Deleted => 0,
    };
    let strings = rev.text.len()
        + rev.timestamp.len()
        + contributor
        + rev.comment.as_ref().map_or(0, String::len)
        + rev.model.as_ref().map_or(0, String::len)
        + rev.format.as_ref().map_or(0, String::len)
        + rev.sha1.as_ref().map_or(0, String::len);
    strings as u64 + std::mem::size_of::<Revision>() as u64
}

fn read_revision<R: BufRead>(parser: &mut Parser<R>, limits: &Limits) -> Result<RevOutcome, Fail> {
    let mut rev = Revision::default();
    let mut problem: Option<SkipReason> = None;
    let mut text_over: Option<u64> = None;
    loop {
        let (name, attrs): (&'static str, _) = match parser.next()? {
            Ev::Start(n, attrs) => match n.as_str() {
                "text" => {
                    match parser.text("text", limits.max_text)? {
                        Bounded::Ok(t) => rev.text = t,
                        Bounded::Over { bytes, .. } => text_over = Some(bytes),
                    }
                    continue;
                }
                "contributor" => {
                    match read_contributor(parser, limits, &attrs)? {
                        Ok(c) => rev.contributor = c,
                        Err(reason) => {
                            problem.get_or_insert(reason);
                        }
                    }
                    continue;
                }
                "id" => ("id", attrs),
                "parentid" => ("parentid", attrs),
                "timestamp" => ("timestamp", attrs),
                "comment" => ("comment", attrs),
                "model" => ("model", attrs),
                "format" => ("format", attrs),
                "sha1" => ("sha1", attrs),
                "minor" => ("minor", attrs),
                _ => {
                    parser.skip(&n)?;
                    continue;
                }
            },
            Ev::Empty(n, _) => {
                match n.as_str() {
                    "minor" => rev.minor = true,
                    "model" => rev.model = Some(String::new()),
                    "format" => rev.format = Some(String::new()),
                    // `<text/>`, `<comment/>`, `<contributor/>`, `<sha1/>`,
                    // `<timestamp/>`: empty or hidden; the defaults say so.
                    _ => {}
                }
                continue;
            }
            Ev::End(n) if n == "revision" => break,
            Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <revision>"))),
            Ev::Eof => return Err(Fail::Eof),
            Ev::Decl(_) => return Err(Fail::Malformed("XML declaration inside a revision".into())),
            Ev::Text(_) => continue,
        };
        let text = match small_text(parser, name, limits)? {
            Ok(t) => t,
            Err(reason) => {
                problem.get_or_insert(reason);
                continue;
            }
        };
        match name {
            "id" => match number(&text, "revision <id>") {
                Ok(id) => rev.id = Some(id),
                Err(reason) => {
                    problem.get_or_insert(reason);
                }
            },
            "parentid" => match number(&text, "<parentid>") {
                Ok(id) => rev.parent_id = Some(id),
                Err(reason) => {
                    problem.get_or_insert(reason);
                }
            },
            "timestamp" => {
                rev.timestamp_ms = parse_timestamp(&text);
                rev.timestamp = text;
            }
            "comment" => rev.comment = attr(&attrs, "deleted").is_none().then_some(text),
            "model" => rev.model = Some(text),
            "format" => rev.format = Some(text),
            "sha1" => rev.sha1 = (!text.is_empty()).then_some(text),
            _ => rev.minor = true,
        }
    }
    if let Some(bytes) = text_over {
        problem.get_or_insert(SkipReason::TextTooLong {
            bytes,
            limit: limits.max_text,
        });
    }
    match problem {
        Some(reason) => Ok(RevOutcome::Skip { id: rev.id, reason }),
        None => Ok(RevOutcome::Ok(rev)),
    }
}

fn read_contributor<R: BufRead>(
    parser: &mut Parser<R>,
    limits: &Limits,
    attrs: &[(String, String)],
) -> Result<Result<Contributor, SkipReason>, Fail> {
    // `deleted="deleted"` (hidden) and an empty element both give
    // `Contributor::Deleted`.
    let _ = attrs;
    let (mut name, mut id, mut ip) = (None, None, None);
    let mut problem = None;
    loop {
        match parser.next()? {
            Ev::Start(n, _) => {
                let field: &'static str = match n.as_str() {
                    "username" => "username",
                    "id" => "id",
                    "ip" => "ip",
                    _ => {
                        parser.skip(&n)?;
                        continue;
                    }
                };
                match small_text(parser, field, limits)? {
                    Ok(t) => match field {
                        "username" => name = Some(t),
                        "ip" => ip = Some(t),
                        _ => match number::<u64>(&t, "contributor <id>") {
                            Ok(v) => id = Some(v),
                            Err(reason) => problem = Some(reason),
                        },
                    },
                    Err(reason) => problem = Some(reason),
                }
            }
            Ev::Empty(n, _) if n == "username" => name = Some(String::new()),
            Ev::Empty(n, _) if n == "ip" => ip = Some(String::new()),
            Ev::End(n) if n == "contributor" => break,
            Ev::End(n) => return Err(Fail::Malformed(format!("</{n}> closes <contributor>"))),
            Ev::Eof => return Err(Fail::Eof),
            _ => {}
        }
    }
    if let Some(reason) = problem {
        return Ok(Err(reason));
    }
    Ok(Ok(match (name, ip) {
        (Some(name), _) => Contributor::User { name, id },
        (None, Some(ip)) => Contributor::Ip(ip),
        (None, None) => Contributor::Deleted,
    }))
}

// ---------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------

/// Parses an ISO 8601 / `xsd:dateTime` timestamp as MediaWiki writes it
/// (`2016-10-06T15:39:14Z`; fractions of a second and `+hh:mm` offsets are
/// accepted, no zone is taken as UTC) into milliseconds since 1970-01-01
/// UTC. `None` when it is not a valid date and time (years 1 to 9999).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(i..) {
        Some([]) | Some([b'Z']) => 0,
        Some([sign @ (b'+' | b'-'), ..]) if b.len() == i + 6 && sep(i + 3, b':') => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 14 || m > 59 || (h == 14 && m > 0) {
                return None;
            }
            let v = h * 60 + m;
            if *sign == b'-' { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = ((days * 24 + hour) * 60 + minute - offset_min) * 60 + second;
    Some(secs * 1000 + millis)
}

/// Formats milliseconds since 1970-01-01 UTC as MediaWiki writes
/// timestamps (`2016-10-06T15:39:14Z`, with `.mmm` when there are
/// milliseconds). `None` outside the years 1 to 9999.
pub fn format_timestamp(ms: i64) -> Option<String> {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    if !(1..=9999).contains(&year) {
        return None;
    }
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    Some(if milli == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------

/// Why [`write_export`] refused a page: the export would not be valid
/// against `export-0.11.xsd`, or could not hold the value at all. Carried
/// inside an [`io::Error`] of kind [`io::ErrorKind::InvalidInput`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot export {what}: {reason}")]
pub struct ExportError {
    /// The page (by title) or the site information.
    pub what: String,
    /// What is wrong, and what to do.
    pub reason: String,
}

fn invalid(what: impl Into<String>, reason: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        ExportError {
            what: what.into(),
            reason: reason.into(),
        },
    )
}

/// Whether XML 1.0 can carry `c` at all (as itself or a character
/// reference).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn check_chars(what: &dyn Fn() -> String, field: &str, s: &str) -> io::Result<()> {
    match s.chars().find(|&c| !xml_char(c)) {
        None => Ok(()),
        Some(c) => Err(invalid(
            what(),
            format!(
                "its {field} holds the character U+{:04X}, which XML cannot carry; remove it",
                u32::from(c)
            ),
        )),
    }
}

fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be read back as LF.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn push_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Attribute values are normalized: whitespace must be references.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn push_element(out: &mut String, indent: &str, name: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

const CASES: [&str; 3] = ["first-letter", "case-sensitive", "case-insensitive"];

/// `xsd:language` (or empty), as `xml:lang` requires.
fn valid_lang(s: &str) -> bool {
    s.is_empty()
        || s.split('-').enumerate().all(|(i, part)| {
            (1..=8).contains(&part.len())
                && part.bytes().all(|b| {
                    if i == 0 {
                        b.is_ascii_alphabetic()
                    } else {
                        b.is_ascii_alphanumeric()
                    }
                })
        })
}

/// What `xs:anyURI` (as libxml2 checks it) takes for `<base>`: `%` only
/// as an escape, one `#` at most, `[` and `]` only around an IPv6 host.
fn valid_base(s: &str) -> bool {
    let b = s.as_bytes();
    let escapes = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    let authority_end = s.find("//").map(|at| {
        at + 2
            + s[at + 2..]
                .find(['/', '?', '#'])
                .unwrap_or(s.len() - at - 2)
    });
    let brackets = s
        .char_indices()
        .filter(|&(_, c)| c == '[' || c == ']')
        .all(|(i, _)| {
            s.find("//").is_some_and(|at| i > at) && authority_end.is_some_and(|end| i < end)
        });
    escapes && s.matches('#').count() <= 1 && brackets
}

/// `ContentModelType`: `[a-zA-Z][-+./a-zA-Z0-9]*`.
fn valid_model(s: &str) -> bool {
    let mut b = s.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.' | b'/'))
}

/// `ContentFormatType`: `[a-zA-Z][-+.a-zA-Z0-9]*/[a-zA-Z][-+.a-zA-Z0-9]*`.
fn valid_format(s: &str) -> bool {
    let part = |p: &str| {
        let mut b = p.bytes();
        b.next().is_some_and(|c| c.is_ascii_alphabetic())
            && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
    };
    s.split_once('/').is_some_and(|(a, b)| part(a) && part(b))
}

/// Writes pages as a MediaWiki XML export in schema 0.11, valid against
/// MediaWiki's `export-0.11.xsd`, so that MediaWiki's `Special:Import` or
/// `importDump.php` takes it.
///
/// Elements are written in the schema's order and escaped (`&`, `<`, `>`;
/// a carriage return as `&#13;`), so that reading the output gives back
/// the same pages. Where the schema requires what a [`Page`] may lack:
/// a missing `model` or `format` is written as MediaWiki's default
/// (`wikitext`, `text/x-wiki`), a missing `sha1` as an empty `<sha1/>`,
/// an empty `lang` as `en`, and `<namespacealiases/>` is written empty.
/// `w` is written in one pass; give a buffered writer for speed.
///
/// # Errors
///
/// Those of `w`, and [`io::ErrorKind::InvalidInput`] carrying an
/// [`ExportError`] when a page cannot be written valid: a page or
/// revision without an id or with an id already used (the schema requires
/// unique ids: number them), a negative namespace, a timestamp that is
/// not a date and time ([`format_timestamp`] makes one), a model or
/// format that is not a MIME-like name, a site `case` or `lang` outside
/// the schema's values, or a character XML cannot carry (controls other
/// than tab, newline and carriage return; U+FFFE, U+FFFF). What was
/// written before the refused page stays written.
pub fn write_export<'a, W: Write>(
    mut w: W,
    site: &SiteInfo,
    pages: impl IntoIterator<Item = &'a Page>,
) -> io::Result<()> {
    let mut out = String::new();
    write_head(&mut out, site)?;
    w.write_all(out.as_bytes())?;
    let mut page_ids = HashSet::new();
    let mut revision_ids = HashSet::new();
    for page in pages {
        out.clear();
        write_page(&mut out, page, &mut page_ids, &mut revision_ids)?;
        w.write_all(out.as_bytes())?;
    }
    w.write_all(b"</mediawiki>\n")?;
    w.flush()
}

fn write_head(out: &mut String, site: &SiteInfo) -> io::Result<()> {
    let what = || "the site information".to_string();
    let lang = if site.lang.is_empty() {
        "en"
    } else {
        site.lang.as_str()
    };
    if !valid_lang(lang) {
        return Err(invalid(
            what(),
            format!("xml:lang {lang:?} is not a language tag (e.g. uz, ru, en-GB)"),
        ));
    }
    for (field, v) in [
        ("sitename", &site.sitename),
        ("dbname", &site.dbname),
        ("base", &site.base),
        ("generator", &site.generator),
    ] {
        check_chars(&what, field, v)?;
    }
    if !valid_base(&site.base) {
        return Err(invalid(
            what(),
            format!(
                "base {:?} is not a URL (a `%` not followed by two hex digits, two `#`, or `[`/`]` \
                 outside the host): percent-encode it",
                site.base
            ),
        ));
    }
    if !site.case.is_empty() && !CASES.contains(&site.case.as_str()) {
        return Err(invalid(
            what(),
            format!("case {:?} is not one of {CASES:?}", site.case),
        ));
    }
    out.push_str("<mediawiki xmlns=\"");
    out.push_str(EXPORT_NAMESPACE_0_11);
    out.push_str(
        "\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.mediawiki.org/xml/export-0.11/ \
         http://www.mediawiki.org/xml/export-0.11.xsd\" version=\"0.11\" xml:lang=\"",
    );
    push_attr(out, lang);
    out.push_str("\">\n  <siteinfo>\n");
    for (name, v) in [
        ("sitename", &site.sitename),
        ("dbname", &site.dbname),
        ("base", &site.base),
        ("generator", &site.generator),
        ("case", &site.case),
    ] {
        if !v.is_empty() {
            push_element(out, "    ", name, v);
        }
    }
    if !site.namespaces.is_empty() {
        out.push_str("    <namespaces>\n");
        for (key, name, case) in &site.namespaces {
            check_chars(&what, "namespace name", name)?;
            if !case.is_empty() && !CASES.contains(&case.as_str()) {
                return Err(invalid(
                    what(),
                    format!("namespace {key} has case {case:?}, not one of {CASES:?}"),
                ));
            }
            out.push_str("      <namespace key=\"");
            out.push_str(&key.to_string());
            out.push('"');
            if !case.is_empty() {
                out.push_str(" case=\"");
                out.push_str(case);
                out.push('"');
            }
            if name.is_empty() {
                out.push_str(" />\n");
            } else {
                out.push('>');
                push_text(out, name);
                out.push_str("</namespace>\n");
            }
        }
        out.push_str("    </namespaces>\n");
    }
    // Required by export-0.11.xsd.
    out.push_str("    <namespacealiases />\n  </siteinfo>\n");
    Ok(())
}

fn write_page(
    out: &mut String,
    page: &Page,
    page_ids: &mut HashSet<u64>,
    revision_ids: &mut HashSet<u64>,
) -> io::Result<()> {
    let what = || format!("page {:?}", page.title);
    check_chars(&what, "title", &page.title)?;
    if page.title.trim().is_empty() {
        return Err(invalid(what(), "its title is empty: give the page a title"));
    }
    if page.ns < 0 {
        return Err(invalid(
            what(),
            format!(
                "its namespace {} is negative (a special namespace holds no pages)",
                page.ns
            ),
        ));
    }
    let id = match page.id {
        Some(id) if id > 0 => id,
        _ => {
            return Err(invalid(
                what(),
                "it has no page id (a positive number): number the pages",
            ));
        }
    };
    if !page_ids.insert(id) {
        return Err(invalid(
            what(),
            format!("its page id {id} is used by another page"),
        ));
    }
    out.push_str("  <page>\n");
    push_element(out, "    ", "title", &page.title);
    push_element(out, "    ", "ns", &page.ns.to_string());
    push_element(out, "    ", "id", &id.to_string());
    if let Some(target) = &page.redirect {
        check_chars(&what, "redirect", target)?;
        if target.trim().is_empty() {
            return Err(invalid(
                what(),
                "its redirect target is empty: name the target, or set `redirect` to None",
            ));
        }
        out.push_str("    <redirect title=\"");
        push_attr(out, target);
        out.push_str("\" />\n");
    }
    for rev in &page.revisions {
        write_revision(out, rev, &what, revision_ids)?;
    }
    out.push_str("  </page>\n");
    Ok(())
}

fn write_revision(
    out: &mut String,
    rev: &Revision,
    what: &dyn Fn() -> String,
    revision_ids: &mut HashSet<u64>,
) -> io::Result<()> {
    let id = match rev.id {
        Some(id) if id > 0 => id,
        _ => {
            return Err(invalid(
                what(),
                "a revision has no id (a positive number): number them",
            ));
        }
    };
    if !revision_ids.insert(id) {
        return Err(invalid(what(), format!("revision id {id} is used twice")));
    }
    if rev.parent_id == Some(0) {
        return Err(invalid(
            what(),
            format!("revision {id} has parent id 0 (ids are positive)"),
        ));
    }
    if parse_timestamp(&rev.timestamp).is_none() {
        return Err(invalid(
            what(),
            format!(
                "revision {id} has timestamp {:?}, not a date and time like 2024-01-31T12:00:00Z",
                rev.timestamp
            ),
        ));
    }
    let model = rev.model.as_deref().unwrap_or("wikitext");
    let format = rev.format.as_deref().unwrap_or("text/x-wiki");
    if !valid_model(model) {
        return Err(invalid(
            what(),
            format!("revision {id} has content model {model:?}"),
        ));
    }
    if !valid_format(format) {
        return Err(invalid(
            what(),
            format!("revision {id} has format {format:?}, not a MIME type"),
        ));
    }
    check_chars(what, "text", &rev.text)?;
    if let Some(c) = &rev.comment {
        check_chars(what, "comment", c)?;
    }
    if let Some(s) = &rev.sha1 {
        check_chars(what, "sha1", s)?;
    }
    out.push_str("    <revision>\n");
    push_element(out, "      ", "id", &id.to_string());
    if let Some(parent) = rev.parent_id {
        push_element(out, "      ", "parentid", &parent.to_string());
    }
    push_element(out, "      ", "timestamp", &rev.timestamp);
    match &rev.contributor {
        Contributor::User { name, id } => {
            check_chars(what, "user name", name)?;
            out.push_str("      <contributor>\n");
            push_element(out, "        ", "username", name);
            if let Some(id) = id {
                push_element(out, "        ", "id", &id.to_string());
            }
            out.push_str("      </contributor>\n");
        }
        Contributor::Ip(ip) => {
            check_chars(what, "IP address", ip)?;
            out.push_str("      <contributor>\n");
            push_element(out, "        ", "ip", ip);
            out.push_str("      </contributor>\n");
        }
        Contributor::Deleted => out.push_str("      <contributor deleted=\"deleted\" />\n"),
    }
    if rev.minor {
        out.push_str("      <minor />\n");
    }
    if let Some(c) = &rev.comment {
        push_element(out, "      ", "comment", c);
    }
    push_element(out, "      ", "model", model);
    push_element(out, "      ", "format", format);
    out.push_str("      <text bytes=\"");
    out.push_str(&rev.text.len().to_string());
    out.push_str("\" xml:space=\"preserve\">");
    push_text(out, &rev.text);
    out.push_str("</text>\n");
    match &rev.sha1 {
        Some(s) => push_element(out, "      ", "sha1", s),
        None => out.push_str("      <sha1 />\n"),
    }
    out.push_str("    </revision>\n");
    Ok(())
}
