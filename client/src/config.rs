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

/// File names inside a user bundle that differ from a node's (the CA,
/// CRL, root key and roster use [`chapar_node::config::bundle`]'s names).
pub mod bundle {
    /// The person's TLS certificate.
    pub const CERT: &str = "user.crt";
    /// Their TLS key (secret).
    pub const KEY: &str = "user.key";
    /// Their ed25519 document-signing key (secret).
    pub const SIGNING_KEY: &str = "user-sign.key";
}

impl UserConfig {
    /// The configuration of a freshly written bundle, with standard file
    /// names relative to the bundle directory.
    pub fn for_bundle(user_id: &str, mission: &str, node_id: &str, node_address: &str) -> Self {
        use chapar_node::config::bundle as common;
        UserConfig {
            user_id: user_id.to_owned(),
            mission: mission.to_owned(),
            node_id: node_id.to_owned(),
            node_address: node_address.to_owned(),
            ca: common::CA.into(),
            cert: bundle::CERT.into(),
            key: bundle::KEY.into(),
            crl: common::CRL.into(),
            signing_key: bundle::SIGNING_KEY.into(),
            root_key: common::ROOT_KEY.into(),
        }
    }

    /// Parses the file's text; the error is the TOML parser's message,
    /// with line and column.
    pub fn parse(text: &str) -> Result<UserConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

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
