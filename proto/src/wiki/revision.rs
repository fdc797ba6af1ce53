//! A wiki revision: one immutable version of a wiki page.
//!
//! A page is the graph of its revisions: each revision names the revisions it
//! replaces (`parents`). Two editors working offline produce two heads with a
//! common parent; the next edit that merges them names both.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer, ensure_ascending};
use crate::types::{Caption, Classification, DocId, PageId, check_text};

/// Maximum title length in bytes.
pub const MAX_TITLE: usize = 512;
/// Maximum page body (Markdown) in bytes.
pub const MAX_BODY: usize = 4 << 20;
/// Maximum edit summary in bytes.
pub const MAX_SUMMARY: usize = 1024;
/// Maximum number of parent revisions (a merge of that many heads).
pub const MAX_PARENTS: usize = 64;

/// One revision of a wiki page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WikiRevision {
    /// The page this revision belongs to.
    pub page: PageId,
    /// Revisions this one replaces, ascending; empty for a new page.
    pub parents: Vec<DocId>,
    /// Page title as shown to readers.
    pub title: String,
    /// Classification of this revision's content.
    pub classification: Classification,
    /// Optional handling caption.
    pub caption: Option<Caption>,
    /// Page text, Markdown with `[[Page]]` links.
    pub body: String,
    /// The editor's summary of the change.
    pub summary: String,
}

impl WikiRevision {
    /// Checks the rules a decoder enforces, so nothing invalid gets signed.
    pub fn validate(&self) -> Result<(), DecodeError> {
        crate::codec::ensure_max("wiki parents", self.parents.len(), MAX_PARENTS)?;
        ensure_ascending(&self.parents, "wiki parents")?;
        check_text("wiki title", &self.title, MAX_TITLE, true)?;
        check_text("wiki body", &self.body, MAX_BODY, false)?;
        check_text("wiki summary", &self.summary, MAX_SUMMARY, false)
    }
}

impl Encode for WikiRevision {
    fn encode(&self, w: &mut Writer) {
        self.page.encode(w);
        w.seq(&self.parents);
        w.str(&self.title);
        self.classification.encode(w);
        w.option(self.caption.as_ref(), |w, c| c.encode(w));
        w.str(&self.body);
        w.str(&self.summary);
    }
}

impl Decode for WikiRevision {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = WikiRevision {
            page: PageId::decode(r)?,
            parents: r.set("wiki parents", MAX_PARENTS)?,
            title: r.str("wiki title", MAX_TITLE)?,
            classification: Classification::decode(r)?,
            caption: r.option("wiki caption", Caption::decode)?,
            body: r.str("wiki body", MAX_BODY)?,
            summary: r.str("wiki summary", MAX_SUMMARY)?,
        };
        v.validate()?;
        Ok(v)
    }
}
