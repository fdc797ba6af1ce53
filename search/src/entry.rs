//! What of a chapar document goes into the index, and who may see it.
//!
//! | document | entries |
//! |---|---|
//! | wiki revision | the page as that revision shows it (`h:<page>:<id>`, while the revision is a head of its page: `chapar_proto::wiki::history`) and its history entry (`r:<id>`, no text) |
//! | cable release | the cable (`c:<id>`): header fields, subject and text of the draft inside |
//! | cable draft | the draft (`d:<id>`), seen by its own mission only |
//! | roster, clearance, receipt | nothing: no text a person searches (so a clearance's note never shows in search; where clearances and receipts may go follows their cable's marking, `proto::access`) |
//!
//! The access fields (`class`, `caption`, `audience`) restate
//! [`chapar_proto::access::person_may_read`] for the document the entry
//! shows, so a query restricted by them returns exactly what the person
//! may read. `tests/access.rs` checks the two agree.

use chapar_proto::document::{Body, Document};
use chapar_proto::policy::{Author, Trust};
use chapar_proto::{Cable, Classification, DocId, PageId};

use crate::api::EntryKind;
use crate::schema::{EVERY_MISSION, NO_CAPTION};

/// One index entry, before it becomes a tantivy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unique key (`h:<page>:`, `r:`, `c:`, `d:` and a hex id).
    pub key: String,
    /// What it is.
    pub kind: EntryKind,
    /// The document shown.
    pub id: DocId,
    /// Page, for wiki entries.
    pub page: Option<PageId>,
    /// Cable originator, or the page editor's mission ("" if unknown).
    pub mission: String,
    /// Author's person id ("" if the roster does not name a person).
    pub author: String,
    /// TAGS.
    pub tags: Vec<String>,
    /// Classification.
    pub classification: Classification,
    /// Caption, if any.
    pub caption: Option<String>,
    /// Missions whose people may see it; `None` for every mission.
    pub audience: Option<Vec<String>>,
    /// Creation time, ms since the epoch.
    pub created_ms: u64,
    /// Title or subject (searched, for wiki and cable entries).
    pub title: String,
    /// Text (searched, for wiki and cable entries).
    pub body: String,
    /// Parent revisions (page entries).
    pub parents: Vec<DocId>,
    /// Edit summary (history entries).
    pub summary: String,
}

impl Entry {
    /// The facet and filter value of `audience`.
    pub fn audience_terms(&self) -> Vec<&str> {
        match &self.audience {
            None => vec![EVERY_MISSION],
            Some(ms) => ms.iter().map(String::as_str).collect(),
        }
    }

    /// The filter value of `caption`.
    pub fn caption_term(&self) -> &str {
        self.caption.as_deref().unwrap_or(NO_CAPTION)
    }
}

/// Who wrote `doc`: (person id, their mission), as the roster names them.
/// The author's id and their mission when they signed `doc` (a person
/// who moved keeps what they wrote under the mission they wrote it at).
fn author(doc: &Document, trust: &Trust) -> (String, String) {
    match trust.author_of(doc.author()) {
        Some(Author::Person(p)) => (
            p.id.to_string(),
            trust
                .roster()
                .standing_at(p, doc.created_ms())
                .mission
                .to_string(),
        ),
        Some(Author::Node(n)) => (String::new(), n.mission.to_string()),
        _ => (String::new(), String::new()),
    }
}

/// The entries `doc` contributes: for a wiki revision the head entry comes
/// first (the caller decides whether the revision is a head of its page),
/// then the history entry.
pub fn entries(doc: &Document, trust: &Trust) -> Vec<Entry> {
    let id = doc.id();
    let hex = id.to_hex();
    match doc.body() {
        Body::WikiRevision(w) => {
            let (author, mission) = author(doc, trust);
            let page = Entry {
                key: head_key(&w.page, &id),
                kind: EntryKind::Wiki,
                id,
                page: Some(w.page),
                mission,
                author,
                tags: Vec::new(),
                classification: w.classification,
                caption: w.caption.as_ref().map(|c| c.to_string()),
                audience: None,
                created_ms: doc.created_ms(),
                title: w.title.clone(),
                body: w.body.clone(),
                parents: w.parents.clone(),
                summary: w.summary.clone(),
            };
            let history = Entry {
                key: format!("r:{hex}"),
                kind: EntryKind::Revision,
                body: String::new(),
                ..page.clone()
            };
            vec![page, history]
        }
        Body::CableRelease(r) => {
            let c = r.cable();
            let (author, _) = author(r.draft(), trust);
            let mut audience: Vec<String> = std::iter::once(&c.originator)
                .chain(&c.action)
                .chain(&c.info)
                .map(|m| m.to_string())
                .collect();
            audience.sort();
            audience.dedup();
            vec![cable_entry(
                doc,
                c,
                EntryKind::Cable,
                format!("c:{hex}"),
                author,
                audience,
            )]
        }
        Body::Cable(c) => {
            let (author, _) = author(doc, trust);
            // A draft is seen by its own mission only.
            let audience = vec![c.originator.to_string()];
            vec![cable_entry(
                doc,
                c,
                EntryKind::Draft,
                format!("d:{hex}"),
                author,
                audience,
            )]
        }
        Body::Roster(_) | Body::CableClearance(_) | Body::Receipt(_) => Vec::new(),
    }
}

/// The entry of a released cable or a draft: `doc` is the document shown,
/// `c` the cable text it carries.
fn cable_entry(
    doc: &Document,
    c: &Cable,
    kind: EntryKind,
    key: String,
    author: String,
    audience: Vec<String>,
) -> Entry {
    Entry {
        key,
        kind,
        id: doc.id(),
        page: None,
        mission: c.originator.to_string(),
        author,
        tags: c.tags.iter().map(|t| t.to_string()).collect(),
        classification: c.classification,
        caption: c.caption.as_ref().map(|x| x.to_string()),
        audience: Some(audience),
        created_ms: doc.created_ms(),
        title: c.subject.clone(),
        body: c.body.clone(),
        parents: Vec::new(),
        summary: String::new(),
    }
}

/// Key of the entry of a revision that is a head of its page
/// (`chapar_proto::wiki::history`): what a revision naming it as a parent
/// deletes by. The page is part of it, so that a revision of another page
/// naming it (which the history rule ignores) deletes nothing.
pub fn head_key(page: &PageId, id: &DocId) -> String {
    format!("h:{page}:{}", id.to_hex())
}
