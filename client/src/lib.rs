//! The `chapar` command's library: ministry administration (`admin`), the
//! demo ministry, a person's client (`rpc`, `user`, `search`, `wiki`), and their file
//! formats.
//! The binary in `main.rs` is a thin command-line front; integration tests
//! provision ministries through this library.

pub mod admin;
pub mod config;
pub mod demo;
pub mod files;
pub mod render;
pub mod rpc;
pub mod search;
pub mod user;
pub mod watchlist;
pub mod wiki;
