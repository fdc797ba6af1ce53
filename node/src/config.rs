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
    /// What one node or person may make this node do at once (the
    /// `[limits]` table; every field optional, defaults in [`Limits`]).
    #[serde(default, skip_serializing_if = "Limits::is_default")]
    pub limits: Limits,
}

/// Caps on what one connected node or person may make this node do at
/// once, so that no insider can stall it for the others (ADR 0019). A
/// request over a cap is refused (after a one-second pause) with a
/// message naming the cap; a connection over its cap is closed with such
/// a message; a handshake over its address's rate gets no reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// New connections (TLS handshakes) this node begins per second from
    /// one address (an IPv6 /64 counts as one), with bursts of twice as
    /// many; more are ignored (no reply) before any cryptography. A
    /// handshake is the one thing a client makes a node do before it is
    /// known.
    pub handshakes_per_address: u32,
    /// Connections one node or person may have open to this node at once
    /// (each of a person's commands or windows is one connection).
    pub connections_per_identity: u32,
    /// Streams the other end of one connection may have open at once
    /// (each request is one stream; a replication session is one).
    pub streams_per_connection: u32,
    /// Requests (submit, fetch, list, search, status) one person — or
    /// node — may have in progress at once, over all their connections.
    /// A person's listings run one at a time within this.
    pub requests_per_identity: u32,
    /// Subscriptions (`chapar watch`) one person may hold at once.
    pub subscriptions_per_identity: u32,
    /// Longest one fetch or listing may work on the store, in
    /// milliseconds; a listing that needs more is refused and asked to
    /// narrow its time range.
    pub request_time_ms: u64,
    /// Most index entries one listing examines (whether or not the person
    /// may see them) before it is refused and asked to narrow its range.
    pub list_examined: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshakes_per_address: 50,
            connections_per_identity: 8,
            streams_per_connection: 16,
            requests_per_identity: 16,
            subscriptions_per_identity: 4,
            request_time_ms: 2_000,
            list_examined: 1_000_000,
        }
    }
}

impl Limits {
    /// Whether every field has its default (then `node.toml` need not
    /// mention them).
    pub fn is_default(&self) -> bool {
        *self == Limits::default()
    }

    /// Checks that every cap lets some work through.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            (
                "handshakes_per_address",
                u64::from(self.handshakes_per_address),
            ),
            (
                "connections_per_identity",
                u64::from(self.connections_per_identity),
            ),
            (
                "streams_per_connection",
                u64::from(self.streams_per_connection),
            ),
            (
                "requests_per_identity",
                u64::from(self.requests_per_identity),
            ),
            (
                "subscriptions_per_identity",
                u64::from(self.subscriptions_per_identity),
            ),
            ("request_time_ms", self.request_time_ms),
            ("list_examined", self.list_examined),
        ] {
            if v == 0 {
                return Err(format!(
                    "limits.{name} is 0: nothing could get through; remove it to use the default"
                ));
            }
        }
        // A replication session and a request must fit on one connection.
        if self.streams_per_connection < 2 {
            return Err(
                "limits.streams_per_connection must be at least 2 (a replication session and a request)"
                    .into(),
            );
        }
        Ok(())
    }
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
            limits: Limits::default(),
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
        self.limits.validate()?;
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

        let text = format!(
            "{}\n[limits]\nrequests_per_identity = 0\n",
            sample().to_toml()
        );
        std::fs::write(&path, text).expect("write");
        let zero = NodeConfig::load(&path).expect_err("zero cap").to_string();
        assert!(zero.contains("limits.requests_per_identity"), "{zero}");

        let text = format!(
            "{}\n[limits]\nrequest_per_identity = 3\n",
            sample().to_toml()
        );
        std::fs::write(&path, text).expect("write");
        let typo = NodeConfig::load(&path).expect_err("typo").to_string();
        assert!(typo.contains("request_per_identity"), "{typo}");
    }

    /// A bundle's `node.toml` says nothing of limits unless an operator
    /// sets some; what is set is read, the rest defaults.
    #[test]
    fn limits_default_and_can_be_set_one_by_one() {
        let text = sample().to_toml();
        assert!(!text.contains("limits"), "{text}");
        assert_eq!(
            NodeConfig::parse(&text).expect("parse").limits,
            Limits::default()
        );
        let text =
            format!("{text}\n[limits]\nconnections_per_identity = 3\nlist_examined = 5000\n");
        let cfg = NodeConfig::parse(&text).expect("parse");
        assert_eq!(cfg.limits.connections_per_identity, 3);
        assert_eq!(cfg.limits.list_examined, 5000);
        assert_eq!(
            cfg.limits.requests_per_identity,
            Limits::default().requests_per_identity
        );
        let back = NodeConfig::parse(&cfg.to_toml()).expect("written back");
        assert_eq!(back, cfg);
    }
}
