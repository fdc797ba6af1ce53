//! Full-text search for chapar.
//!
//! - [`analysis`]: the text analysis chain (Uzbek Latin and Cyrillic made
//!   one, apostrophe forms made one, Russian, English and Uzbek stems).
//! - [`uzbek`]: the light Uzbek stemmer the chain applies to folded words.
//! - [`query`]: the query language a person types, parsed to a small AST.
//! - [`entry`]: what of each document is indexed, and who may see it.
//! - [`schema`], [`compile`], [`index`]: the tantivy index, queries with
//!   access control built in, and the writer that follows the store.
//! - [`coordination`], [`stopwords`]: how a question's words rank
//!   (entries holding more of them first; stop words need not match).
//! - [`filter_cache`], [`facets`]: per-segment caches of the access
//!   filters and of the facet values, so a match costs a bit probe and an
//!   increment.
//! - [`snippet`]: the excerpt of a hit, with the words that matched it
//!   highlighted.
//! - [`api`]: the request and response a client exchanges with a node.
//!
//! The index a node keeps is derived from its store: it can always be
//! thrown away and rebuilt.

pub mod analysis;
pub mod api;
pub mod compile;
pub mod coordination;
pub mod entry;
pub mod facets;
pub mod filter_cache;
pub mod index;
pub mod query;
pub mod schema;
pub mod snippet;
pub mod stopwords;
pub mod uzbek;

pub use api::{EntryKind, Hit, SearchRequest, SearchResponse, Sort};
pub use index::{Rebuilt, SearchError, SearchIndex};
