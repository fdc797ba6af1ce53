//! A person's client configuration, `user.toml` in the bundle written by
//! `chapar admin user add`. Paths are relative to the file's directory.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// File name of the configuration inside a user bundle.
pub const FILE_NAME: &str = "user.toml";

/// Contents of `user.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The person's roster id.
    pub user_id: String,
    /// Their mission.
    pub mission: String,
    /// The node their client talks to.
    pub node_id: String,
    /// Its `host:port`.
    pub node_address: String,
    /// The ministry CA certificate (PEM).
    pub ca: PathBuf,
    /// Their TLS certificate (PEM).
    pub cert: PathBuf,
    /// Their TLS private key (PEM).
    pub key: PathBuf,
    /// The CA's revocation list (PEM).
    pub crl: PathBuf,
    /// Their ed25519 document-signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
    /// The ministry root public key (PEM).
    pub root_key: PathBuf,
}

impl UserConfig {
    /// The file's text, with a header saying what it is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# serialisation failed: {e}\n"));
        format!(
            "# chapar client configuration for {} (mission {}).\n# Written by `chapar admin user add`; paths are relative to this file.\n\n{body}",
            self.user_id, self.mission
        )
    }
}
