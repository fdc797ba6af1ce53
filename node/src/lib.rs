//! The chapar mission node: it holds the signed documents its mission is
//! entitled to and replicates them with its peers.
//!
//! - [`config`]: the node's configuration file (`node.toml` in the
//!   provisioning bundle written by `chapar admin node add`).
//! - [`store`]: the document store on disk (sled), with its time and kind
//!   indexes; a batch is durable when acknowledged (the segments are its
//!   write-ahead log). The only module naming sled.
//! - [`indexer`]: keeps the search index (`chapar-search`) following the
//!   store.
//! - [`state`]: shared state and the ingest pipeline (verify, authorize,
//!   need to know, store, publish).
//! - [`session`]: one replication session (roster, reconciliation, live).
//! - [`net`]: QUIC endpoint, accepting and dialing with identity checks.
//! - [`rpc`]: client requests (submit, fetch, list, subscribe, status).
//! - [`setaside`]: setting aside what a newer roster no longer allows.
//! - [`limits`]: what one node or person may make this node do at once.
//! - [`run`]: starting and stopping a node.

#![warn(missing_docs)]

pub mod config;
pub mod frames;
mod idfilter;
pub mod indexer;
pub mod limits;
pub mod net;
pub mod priority;
pub mod rpc;
pub mod run;
mod segments;
pub mod session;
pub mod setaside;
pub mod sigpipe;
pub mod state;
pub mod status;
pub mod store;

pub use run::{Running, StartError, start};
