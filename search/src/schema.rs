//! The index schema: one tantivy document per *entry* (a wiki page by its
//! current revision, a revision in a page's history, a released cable, a
//! cable draft), with the text fields people search, the fields filters
//! and facets use, and the access fields every query is restricted by.

use tantivy::schema::{
    FAST, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};

use crate::analysis::TOKENIZER;

/// Bumped whenever the schema or the analysis changes: an index of another
/// version is rebuilt from the store.
/// 5: Uzbek stems, Russian stems kept in Cyrillic (issue 14, ADR 0008).
/// 6: no Russian stems in an Uzbek Cyrillic text (issue 14).
/// 7: an entry per head of a page, parents, title keys, links and
/// categories indexed (issue 15).
pub const SCHEMA_VERSION: u32 = 7;

/// `audience` value of entries every mission may see.
pub const EVERY_MISSION: &str = "*";
/// `caption` value of entries with no caption.
pub const NO_CAPTION: &str = "-";

/// Handles of every field.
#[derive(Debug, Clone)]
pub struct Fields {
    /// Key of a head entry, `h:<page>:<revision>`: what a revision of the
    /// same page naming it as a parent deletes by. Other entries are never
    /// replaced and carry no key (a unique term per entry is a cost of
    /// every add for nothing).
    pub key: Field,
    /// Document id (hex) of the revision, release or draft shown: read
    /// back, and indexed so that a document set aside (ADR 0018) takes
    /// its entries out by id (schema 4).
    pub id: Field,
    /// Wiki page id (hex).
    pub page: Field,
    /// Entry kind (`wiki`, `cable`, `draft`, `revision`).
    pub kind: Field,
    /// Mission: a cable's originator, a page editor's mission.
    pub mission: Field,
    /// Author's person id (empty when the roster does not name them).
    pub author: Field,
    /// TAGS, one value each.
    pub tag: Field,
    /// Classification code (0 = UNCLASSIFIED ... 4 = TOP SECRET).
    pub class: Field,
    /// Handling caption, or [`NO_CAPTION`].
    pub caption: Field,
    /// Missions whose people may see the entry, or [`EVERY_MISSION`].
    pub audience: Field,
    /// Creation time of the revision or cable, ms since the epoch.
    pub created: Field,
    /// Title or cable subject (analysed, stored).
    pub title: Field,
    /// Page text or cable text (analysed, stored for snippets).
    pub body: Field,
    /// Parent revisions (hex) of a wiki revision, on its head and history
    /// entries (indexed): whether a revision is named as a parent, so not
    /// a head, whatever order revisions arrive in.
    pub parents: Field,
    /// [`chapar_proto::wiki::title::key`] of a wiki entry's title (head
    /// and history entries): pages are found by title.
    pub title_key: Field,
    /// Title keys of the pages a head links to (and redirects to), by
    /// [`chapar_proto::wiki::links::parse`]: "what links here".
    pub links: Field,
    /// Title keys of a head's categories.
    pub categories: Field,
    /// Edit summary of a revision (stored only).
    pub summary: Field,
    /// Title of a history entry (stored only: history is not searched).
    pub label: Field,
    /// Facet paths `/kind/..`, `/mission/..`, `/tag/..`, `/author/..`:
    /// both the facet counts and the index the filters on those four use
    /// (the four fields above are stored only).
    pub facet: Field,
}

impl Fields {
    /// The schema and its field handles.
    pub fn build() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let text = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TOKENIZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let fields = Fields {
            key: b.add_text_field("key", STRING),
            id: b.add_text_field("id", STRING | STORED),
            page: b.add_text_field("page", STRING | STORED),
            kind: b.add_text_field("kind", STORED),
            mission: b.add_text_field("mission", STORED),
            author: b.add_text_field("author", STORED),
            tag: b.add_text_field("tag", STORED),
            class: b.add_u64_field("class", INDEXED | FAST | STORED),
            caption: b.add_text_field("caption", STRING | STORED),
            audience: b.add_text_field("audience", STRING),
            created: b.add_u64_field("created", INDEXED | FAST | STORED),
            title: b.add_text_field("title", text.clone()),
            body: b.add_text_field("body", text),
            parents: b.add_text_field("parents", STRING | STORED),
            title_key: b.add_text_field("title_key", STRING),
            links: b.add_text_field("links", STRING),
            categories: b.add_text_field("categories", STRING),
            summary: b.add_text_field("summary", STORED),
            label: b.add_text_field("label", STORED),
            facet: b.add_facet_field("facet", FacetOptions::default()),
        };
        (b.build(), fields)
    }
}
