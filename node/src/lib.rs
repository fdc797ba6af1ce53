//! The chapar mission node: it holds the signed documents its mission is
//! entitled to and replicates them with its peers.
//!
//! - [`config`]: the node's configuration file (`node.toml` in the
//!   provisioning bundle written by `chapar admin node add`).

#![warn(missing_docs)]

pub mod config;
