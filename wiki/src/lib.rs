//! The wiki's text outside the signed core (issue 15): what a person
//! reads and what comes in from, or goes out to, a MediaWiki.
//!
//! - [`render`]: a page's Markdown to the terminal and to sanitized HTML,
//!   with `[[links]]` resolved (a link to a missing page shown as such).
//! - [`wikitext`]: MediaWiki wikitext to Markdown, for import.
//! - [`mediawiki`]: reading and writing MediaWiki XML exports (schemas
//!   0.8 to 0.11).
//!
//! The rules pages share with the node and the index (titles, links,
//! merges) are in `chapar_proto::wiki`; nothing here decides what a page
//! says, only how it is shown or carried.

pub mod mediawiki;
pub mod render;
pub mod wikitext;
