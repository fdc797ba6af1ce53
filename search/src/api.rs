//! What a client asks of a node's search, and what it gets back.
//!
//! Both travel as JSON inside the wire protocol's `Search` and
//! `SearchResults` messages (see `docs/wire-format.md`), so the request and
//! the result have one definition, here, shared by the node and the client.

use serde::{Deserialize, Serialize};

/// Most hits one page may hold.
pub const MAX_LIMIT: usize = 100;
/// Deepest offset a page may start at: deep paging costs the node a
/// top-(offset + limit) collection per request.
pub const MAX_OFFSET: usize = 10_000;
/// Most values each facet reports.
pub const FACET_VALUES: usize = 20;

/// What the index entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A wiki page, by a head revision (one entry per head: a page whose
    /// edits have not been merged yet has several).
    Wiki,
    /// A released cable (the delivered form).
    Cable,
    /// A cable draft, visible to its own mission before release.
    Draft,
    /// One revision in a page's history (found by page, not by text).
    Revision,
}

impl EntryKind {
    /// Every kind, in display order.
    pub const ALL: [EntryKind; 4] = [
        EntryKind::Wiki,
        EntryKind::Cable,
        EntryKind::Draft,
        EntryKind::Revision,
    ];

    /// The name used in queries (`kind:cable`), facets and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Wiki => "wiki",
            EntryKind::Cable => "cable",
            EntryKind::Draft => "draft",
            EntryKind::Revision => "revision",
        }
    }

    /// Parses [`EntryKind::as_str`] (case-insensitive).
    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// Order of the hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first (BM25, title matches weigh more).
    #[default]
    Relevance,
    /// Newest first.
    Newest,
    /// Oldest first.
    Oldest,
}

/// A search request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchRequest {
    /// The query text, in the syntax of [`crate::query`].
    pub query: String,
    /// Only these kinds (none: wiki pages and released cables).
    pub kinds: Vec<EntryKind>,
    /// Only entries of these missions (a cable's originator, a page
    /// editor's mission).
    pub missions: Vec<String>,
    /// Only entries carrying every one of these TAGS.
    pub tags: Vec<String>,
    /// Only entries of these wiki pages (hex ids); with kind `revision`,
    /// a page's history.
    pub pages: Vec<String>,
    /// Only wiki entries (heads, and history entries) with one of these
    /// titles, matched as titles are (`chapar_proto::wiki::title::key`:
    /// case, script and spacing do not matter).
    pub titles: Vec<String>,
    /// Only wiki pages that link (or redirect) to a page with one of these
    /// titles: "what links here".
    pub links_to: Vec<String>,
    /// Only wiki pages in one of these categories (names, matched as
    /// titles are).
    pub categories: Vec<String>,
    /// Only entries whose author is one of these people.
    pub authors: Vec<String>,
    /// Only entries classified exactly so (names such as `SECRET`).
    pub classifications: Vec<String>,
    /// Only entries created at or after this time (ms since the epoch).
    pub from_ms: Option<u64>,
    /// Only entries created before this time (ms since the epoch).
    pub to_ms: Option<u64>,
    /// Order of the hits.
    pub sort: Sort,
    /// Hits to skip (paging).
    pub offset: usize,
    /// Hits to return; 0 means the default of 10.
    pub limit: usize,
    /// Whether to compute facet counts.
    pub facets: bool,
}

/// A highlighted excerpt: `text`, with `highlights` as byte ranges into it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    /// The excerpt.
    pub text: String,
    /// Byte ranges of matched words in `text`, ascending.
    pub highlights: Vec<(usize, usize)>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// What it is.
    pub kind: EntryKind,
    /// Document id (hex) of the revision or cable shown.
    pub id: String,
    /// Wiki page id (hex), for pages.
    pub page: Option<String>,
    /// Title or cable subject.
    pub title: String,
    /// Mission (cable originator, page editor's mission).
    pub mission: String,
    /// Author (person id), when the roster names them.
    pub author: Option<String>,
    /// Classification name.
    pub classification: String,
    /// Handling caption, if any.
    pub caption: Option<String>,
    /// TAGS.
    pub tags: Vec<String>,
    /// Creation time of the revision or cable (ms since the epoch).
    pub created_ms: u64,
    /// Excerpt of the text around the matches.
    pub snippet: Snippet,
    /// Which of the response's `words` this entry contains (as typed); the
    /// others are missing from it.
    #[serde(default)]
    pub matched: Vec<String>,
}

/// Counts per value of one facet, most frequent first.
pub type FacetCounts = Vec<(String, u64)>;

/// Facet counts over every visible match (not just this page).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facets {
    /// By kind.
    pub kind: FacetCounts,
    /// By mission.
    pub mission: FacetCounts,
    /// By TAG.
    pub tag: FacetCounts,
}

/// The answer to a [`SearchRequest`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Visible matches in all (not just this page).
    pub total: u64,
    /// This page of hits.
    pub hits: Vec<Hit>,
    /// Facet counts, when asked for.
    pub facets: Option<Facets>,
    /// Whether typo-tolerant matching was used for a word that no entry
    /// the person may read contains.
    pub fuzzy: bool,
    /// Time the node took, in microseconds.
    pub took_us: u64,
    /// The words and phrases searched for, as typed (each hit says which
    /// of them it contains).
    #[serde(default)]
    pub words: Vec<String>,
    /// Words of the query that were not searched for: stop words (`the`,
    /// `что`, `bilan`) beside other words, and words beyond the most one
    /// query matches.
    #[serde(default)]
    pub ignored: Vec<String>,
    /// Heads of the one page the request names (`pages`) that the person
    /// may not read: a newer or concurrent revision exists that they do
    /// not see. Told only when they may read some revision of that page,
    /// so that nobody learns from it whether a page they cannot see
    /// exists (page ids follow from titles).
    #[serde(default)]
    pub hidden_heads: u64,
}
