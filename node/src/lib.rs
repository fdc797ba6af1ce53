//! The chapar mission node: it holds the signed documents its mission is
//! entitled to and replicates them with its peers.
//!
//! - [`config`]: the node's configuration file (`node.toml` in the
//!   provisioning bundle written by `chapar admin node add`).
//! - [`store`]: the document store on disk (sled), with its time and kind
//!   indexes; durable and atomic per batch. The only module naming sled.

#![warn(missing_docs)]

pub mod config;
pub mod store;
