//! The node configuration file, `node.toml`, as written into a provisioning
//! bundle by `chapar admin node add` and read by `chapar-node run`.
//!
//! Paths in the file are relative to the file's own directory, so a bundle
//! can be moved or copied to the mission's server as a whole.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// File name of the configuration inside a bundle.
pub const FILE_NAME: &str = "node.toml";

/// File names inside a node bundle, as `chapar admin node add` writes them.
pub mod bundle {
    /// The ministry CA certificate.
    pub const CA: &str = "ca.crt";
    /// The node's TLS certificate.
    pub const CERT: &str = "node.crt";
    /// The node's TLS key (secret).
    pub const KEY: &str = "node.key";
    /// The CA's revocation list.
    pub const CRL: &str = "crl.pem";
    /// The node's ed25519 signing key (secret).
    pub const SIGNING_KEY: &str = "node-sign.key";
    /// The ministry root public key.
    pub const ROOT_KEY: &str = "root.pub";
    /// The roster current when the bundle was made.
    pub const ROSTER: &str = "roster.chpr";
    /// The data directory.
    pub const DATA: &str = "data";
}

/// Why a configuration file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read node configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this format.
    #[error("malformed node configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid node configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Contents of `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's roster id.
    pub node_id: String,
    /// The mission it belongs to.
    pub mission: String,
    /// UDP address to listen on for QUIC.
    pub listen: SocketAddr,
    /// Where the store and index live.
    pub data_dir: PathBuf,
    /// TLS materials.
    pub tls: TlsFiles,
    /// Signing and trust anchors.
    pub trust: TrustFiles,
    /// Nodes to connect to.
    #[serde(default)]
    pub peers: Vec<Peer>,
}

/// TLS files of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The ministry CA certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM).
    pub cert: PathBuf,
    /// This node's TLS private key (PEM).
    pub key: PathBuf,
    /// The CA's revocation list (PEM), until a newer roster carries one.
    pub crl: PathBuf,
}

/// Signing key and trust anchors of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustFiles {
    /// The node's ed25519 signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
    /// The ministry root public key (PEM) that signs rosters.
    pub root_key: PathBuf,
    /// The roster current when the bundle was made (binary document).
    pub roster: PathBuf,
}

/// A node to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its roster id; its certificate must say `urn:chapar:node:<id>`.
    pub id: String,
    /// Its `host:port`.
    pub address: String,
}

impl NodeConfig {
    /// The configuration of a freshly written bundle: standard file names
    /// (see [`bundle`]), relative to the bundle directory.
    pub fn for_bundle(node_id: &str, mission: &str, listen: SocketAddr, peers: Vec<Peer>) -> Self {
        NodeConfig {
            node_id: node_id.to_owned(),
            mission: mission.to_owned(),
            listen,
            data_dir: bundle::DATA.into(),
            tls: TlsFiles {
                ca: bundle::CA.into(),
                cert: bundle::CERT.into(),
                key: bundle::KEY.into(),
                crl: bundle::CRL.into(),
            },
            trust: TrustFiles {
                signing_key: bundle::SIGNING_KEY.into(),
                root_key: bundle::ROOT_KEY.into(),
                roster: bundle::ROSTER.into(),
            },
            peers,
        }
    }

    /// The TLS materials the configuration names (CA, certificate, key,
    /// CRL), read from disk; errors name the file.
    pub fn tls_materials(&self) -> Result<chapar_certs::TlsMaterials, chapar_certs::CertError> {
        chapar_certs::TlsMaterials::from_files(
            &self.tls.ca,
            &self.tls.cert,
            &self.tls.key,
            &[self.tls.crl.as_path()],
        )
    }

    /// Reads and checks a configuration file, resolving relative paths
    /// against the file's directory.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = NodeConfig::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve(base);
        Ok(cfg)
    }

    /// Parses configuration text (no path resolution).
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The file's text, with a header saying what it is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).unwrap_or_else(|e| {
            // Serialising plain strings, paths and addresses cannot fail;
            // keep a readable marker rather than panic if it ever does.
            format!("# serialisation failed: {e}\n")
        });
        format!(
            "# chapar node configuration for {} (mission {}).\n# Written by `chapar admin node add`; paths are relative to this file.\n\n{body}",
            self.node_id, self.mission
        )
    }

    /// Checks values the type system does not.
    pub fn validate(&self) -> Result<(), String> {
        for (what, id) in std::iter::once(("node_id", &self.node_id))
            .chain(std::iter::once(("mission", &self.mission)))
            .chain(self.peers.iter().map(|p| ("peer id", &p.id)))
        {
            chapar_proto::Id::new(id.as_str()).map_err(|e| format!("{what}: {e}"))?;
        }
        for p in &self.peers {
            if p.id == self.node_id {
                return Err(format!("node {} lists itself as a peer", p.id));
            }
            if !p.address.contains(':') {
                return Err(format!(
                    "peer {} address {:?} must be host:port",
                    p.id, p.address
                ));
            }
        }
        Ok(())
    }

    fn resolve(&mut self, base: &Path) {
        for p in [
            &mut self.data_dir,
            &mut self.tls.ca,
            &mut self.tls.cert,
            &mut self.tls.key,
            &mut self.tls.crl,
            &mut self.trust.signing_key,
            &mut self.trust.root_key,
            &mut self.trust.roster,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeConfig {
        NodeConfig::for_bundle(
            "tokyo-1",
            "emb-tokyo",
            "127.0.0.1:7401".parse().expect("addr"),
            vec![Peer {
                id: "hub".into(),
                address: "127.0.0.1:7400".into(),
            }],
        )
    }

    #[test]
    fn roundtrip_and_resolve() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, sample().to_toml()).expect("write");
        let cfg = NodeConfig::load(&path).expect("load");
        assert_eq!(cfg.tls.cert, dir.path().join("node.crt"));
        assert_eq!(cfg.peers, sample().peers);
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let missing = NodeConfig::load(&path).expect_err("missing");
        assert!(missing.to_string().contains("cannot read"), "{missing}");

        std::fs::write(&path, sample().to_toml().replace("listen", "lisen")).expect("write");
        let typo = NodeConfig::load(&path).expect_err("typo").to_string();
        assert!(typo.contains("lisen"), "{typo}");

        let mut bad = sample();
        bad.peers[0].id = "tokyo-1".into();
        std::fs::write(&path, bad.to_toml()).expect("write");
        let own = NodeConfig::load(&path).expect_err("self peer").to_string();
        assert!(own.contains("itself"), "{own}");

        let mut bad = sample();
        bad.node_id = "Tokyo".into();
        std::fs::write(&path, bad.to_toml()).expect("write");
        let id = NodeConfig::load(&path).expect_err("bad id").to_string();
        assert!(id.contains("node_id"), "{id}");
    }
}
