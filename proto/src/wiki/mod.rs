//! The wiki: revisions of pages, and the pure rules every node, the index
//! and the client share about them (issue 15).
//!
//! - [`revision`]: one signed, immutable version of a page.
//! - [`title`]: the key a title is matched by, and a new page's id.
//! - [`history`]: which revisions are a page's heads, what its current
//!   text is (a deterministic merge of the heads) and whether it is in
//!   conflict.
//! - [`merge`]: the three-way merge of texts that [`history`] uses.
//! - [`diff`]: line and word differences between two texts.
//! - [`links`]: `[[links]]`, categories and redirects in a page's text.

pub mod diff;
pub mod history;
pub mod links;
pub mod merge;
pub mod revision;
pub mod title;

pub use revision::{MAX_BODY, MAX_PARENTS, MAX_SUMMARY, MAX_TITLE, WikiRevision};
