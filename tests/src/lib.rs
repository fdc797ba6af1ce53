//! Shared helpers for chapar's multi-node integration tests: a ministry
//! provisioned in a temporary directory through the real admin code, real
//! nodes on loopback addresses, and a real QUIC client for people.
//!
//! Each test picks its own loopback subnet (`127.<net>.0.<n>`), so tests
//! running in parallel never race for ports. Every wait is bounded.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chapar_certs::TlsMaterials;
use chapar_client::admin::{
    self, BundleArgs, InitArgs, KeyAlg, KindArg, MissionAddArgs, NodeAddArgs, RevokeArgs,
    RevokeWhat, RoleArg, UserAddArgs,
};
use chapar_node::config::NodeConfig;
use chapar_proto::keys::signing_key_from_pem;
use chapar_proto::wire::{Listed, Message};
use chapar_proto::{Body, Classification, DocId, Document, Id, Kind, PageId, Role, WikiRevision};
use ed25519_dalek::SigningKey;
use tempfile::TempDir;

pub mod flood;

/// Port every test node listens on (each on its own loopback address).
pub const PORT: u16 = 7400;

/// A ministry directory provisioned with the real admin code.
pub struct Ministry {
    /// Holds the ministry directory and the nodes' data.
    pub tmp: TempDir,
    /// Loopback subnet of this test: nodes listen on `127.<net>.0.<n>`.
    pub net: u8,
    next_host: std::sync::atomic::AtomicU8,
}

/// A person's bundle and signing key.
pub struct User {
    /// Their id.
    pub id: Id,
    /// Their mission.
    pub mission: Id,
    /// Their bundle directory.
    pub bundle: PathBuf,
    /// Their document-signing key.
    pub key: SigningKey,
}

impl Ministry {
    /// The network most tests need: the ministry's hub (`hub`, TOP SECRET)
    /// and one SECRET node per embassy `emb-a` and `emb-b` (`a-1`, `b-1`),
    /// each peering the hub. Returns the ministry and the three node
    /// configurations, hub first.
    pub fn hub_and_two_embassies(net: u8) -> Result<(Ministry, [PathBuf; 3])> {
        use Classification::{Secret, TopSecret};
        let m = Ministry::new(net, &["emb-a", "emb-b"])?;
        let hub = m.add_node("hub", "mfa", true, TopSecret, &[])?;
        let a = m.add_node("a-1", "emb-a", false, Secret, &["hub"])?;
        let b = m.add_node("b-1", "emb-b", false, Secret, &["hub"])?;
        Ok((m, [hub, a, b]))
    }

    /// A new ministry with headquarters `mfa` and the given embassies.
    pub fn new(net: u8, embassies: &[&str]) -> Result<Ministry> {
        let tmp = tempfile::tempdir()?;
        let m = Ministry {
            tmp,
            net,
            next_host: std::sync::atomic::AtomicU8::new(1),
        };
        admin::init(
            &m.dir(),
            &InitArgs {
                name: "Test Ministry".into(),
                mission_id: "mfa".into(),
                mission_name: None,
                country: "UZ".into(),
                ca_cert: None,
                ca_key: None,
                ca_algorithm: KeyAlg::EcdsaP256,
                ca_days: 30,
                crl_days: 7,
                force: false,
            },
        )?;
        for e in embassies {
            admin::add_mission(
                &m.dir(),
                &MissionAddArgs {
                    id: (*e).into(),
                    name: format!("Embassy {e}"),
                    country: "DE".into(),
                    kind: KindArg::Embassy,
                },
            )?;
        }
        Ok(m)
    }

    /// The ministry directory.
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("ministry")
    }

    /// Adds a node listening on the next loopback address of this test;
    /// `peers` empty means "every hub". Returns its bundle's `node.toml`.
    pub fn add_node(
        &self,
        id: &str,
        mission: &str,
        hub: bool,
        accreditation: Classification,
        peers: &[&str],
    ) -> Result<PathBuf> {
        let host = self
            .next_host
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let endpoint = format!("127.{}.0.{host}:{PORT}", self.net);
        let out = admin::add_node(
            &self.dir(),
            &NodeAddArgs {
                id: id.into(),
                mission: mission.into(),
                role: if hub { RoleArg::Hub } else { RoleArg::Mission },
                accreditation,
                endpoint: Some(endpoint),
                listen: None,
                peers: peers.iter().map(|p| p.to_string()).collect(),
                dns: vec![],
                ip: vec![],
                bundle: BundleArgs {
                    days: 20,
                    out: None,
                    force: false,
                },
            },
        )?;
        let bundle = out.bundle.context("node bundle")?;
        Ok(bundle.join(chapar_node::config::FILE_NAME))
    }

    /// Adds a person; their client talks to `node`.
    pub fn add_user(
        &self,
        id: &str,
        mission: &str,
        clearance: Classification,
        roles: &[Role],
        captions: &[&str],
        node: &str,
    ) -> Result<User> {
        let out = admin::add_user(
            &self.dir(),
            &UserAddArgs {
                id: id.into(),
                name: format!("Person {id}"),
                mission: mission.into(),
                clearance,
                roles: roles.to_vec(),
                captions: captions.iter().map(|c| c.to_string()).collect(),
                node: Some(node.into()),
                bundle: BundleArgs {
                    days: 20,
                    out: None,
                    force: false,
                },
            },
        )?;
        let bundle = out.bundle.context("user bundle")?;
        let key = signing_key_from_pem(&std::fs::read_to_string(bundle.join("user-sign.key"))?)?;
        Ok(User {
            id: Id::new(id)?,
            mission: Id::new(mission)?,
            bundle,
            key,
        })
    }

    /// Revokes a node or user through the admin code.
    pub fn revoke(&self, what: RevokeWhat, target: &str) -> Result<()> {
        admin::revoke(
            &self.dir(),
            &RevokeArgs {
                what,
                target: target.into(),
                reason: "test revocation".into(),
                compromised: false,
            },
        )?;
        Ok(())
    }

    /// Revokes a person as compromised: everything their key ever signed
    /// is void.
    pub fn revoke_compromised(&self, person: &str) -> Result<()> {
        admin::revoke(
            &self.dir(),
            &RevokeArgs {
                what: RevokeWhat::User,
                target: person.into(),
                reason: "key compromised".into(),
                compromised: true,
            },
        )?;
        Ok(())
    }

    /// The ministry's current signed roster.
    pub fn roster(&self) -> Result<Document> {
        Ok(Document::decode(&std::fs::read(
            self.dir().join("roster.chpr"),
        )?)?)
    }
}

/// Starts the node of a bundle. A node restarted in the same process may
/// find its store still locked for a moment while the previous instance's
/// last tasks wind down: retry that (only that) for up to 5 s.
pub async fn start(node_toml: &Path) -> Result<chapar_node::Running> {
    let cfg = NodeConfig::load(node_toml)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match chapar_node::start(cfg.clone()).await {
            Err(chapar_node::StartError::Store(chapar_node::store::StoreError::InUse {
                ..
            })) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// Polls `f` every 50 ms until it returns true or `limit` passes.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// The ids a node holds, excluding nothing (the roster is not stored as a
/// document).
pub fn held(node: &chapar_node::Running) -> Result<Vec<DocId>> {
    let mut ids: Vec<DocId> = node
        .shared()
        .store
        .items()
        .map(|r| r.map(|(_, id)| id))
        .collect::<Result<_, _>>()?;
    ids.sort();
    Ok(ids)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    chapar_node::state::now_ms()
}

/// Signs a document as `user`, now.
pub fn sign(user: &User, body: Body) -> Result<Document> {
    Ok(Document::sign(&user.key, now_ms(), body)?)
}

/// A first revision of wiki page `[n; 16]`, signed by `user` now.
pub fn wiki_page(
    user: &User,
    n: u8,
    title: &str,
    body: &str,
    classification: Classification,
) -> Result<Document> {
    revision(
        &user.key,
        now_ms(),
        PageId([n; 16]),
        vec![],
        title,
        body,
        classification,
    )
}

/// A revision of wiki page `page` naming `parents`, without caption or
/// summary, signed by `key` with the creation time `created_ms`.
pub fn revision(
    key: &SigningKey,
    created_ms: u64,
    page: PageId,
    mut parents: Vec<DocId>,
    title: &str,
    body: &str,
    classification: Classification,
) -> Result<Document> {
    parents.sort();
    parents.dedup();
    Ok(Document::sign(
        key,
        created_ms,
        Body::WikiRevision(WikiRevision {
            page,
            parents,
            title: title.into(),
            classification,
            caption: None,
            body: body.into(),
            summary: String::new(),
        }),
    )?)
}

/// A person's connection to their node.
pub struct Client {
    conn: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl Client {
    /// Connects with a user bundle (or a node bundle's TLS files).
    pub async fn connect(bundle: &Path, addr: SocketAddr) -> Result<Client> {
        let tls = TlsMaterials::from_files(
            &bundle.join("ca.crt"),
            &first_existing(bundle, &["user.crt", "node.crt"])?,
            &first_existing(bundle, &["user.key", "node.key"])?,
            &[bundle.join("crl.pem").as_path()],
        )?;
        let cfg = chapar_node::net::client_config(&tls)?;
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect_with(cfg, addr, &addr.ip().to_string())?,
        )
        .await
        .map_err(|_| anyhow!("connect timed out"))??;
        let client = Client {
            conn,
            _endpoint: endpoint,
        };
        // A bundle carries the roster current when it was made, which lists
        // its owner: hand it to the node in case the node's is older.
        let roster = Document::decode(&std::fs::read(bundle.join("roster.chpr"))?)?;
        client.submit(&roster).await?;
        Ok(client)
    }

    /// One request, one answer.
    pub async fn request(&self, m: &Message) -> Result<Message> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        chapar_node::frames::write(&mut send, m).await?;
        let _ = send.finish();
        Ok(tokio::time::timeout(
            Duration::from_secs(20),
            chapar_node::frames::read(&mut recv),
        )
        .await
        .map_err(|_| anyhow!("no answer"))??)
    }

    /// The node's full status report. Only nodes and administrators get
    /// it; a person's view (no store or index figures) is an error here, so
    /// a bench waiting on a figure fails instead of waiting forever.
    pub async fn full_status(&self) -> Result<serde_json::Value> {
        let v: serde_json::Value = match self.request(&Message::Status).await? {
            Message::StatusReport { json } => serde_json::from_str(&json)?,
            Message::Error { code, message } => bail!("status refused ({code}): {message}"),
            other => bail!("status: unexpected {}", other.name()),
        };
        if v["audience"] == "person" {
            bail!("status gave a person's view: connect as a node or an administrator");
        }
        Ok(v)
    }

    /// Runs a search as this person.
    pub async fn search(
        &self,
        req: &chapar_search::SearchRequest,
    ) -> Result<chapar_search::SearchResponse> {
        let request = serde_json::to_string(req)?;
        match self.request(&Message::Search { request }).await? {
            Message::SearchResults { json } => Ok(serde_json::from_str(&json)?),
            Message::Error { code, message } => bail!("search refused ({code}): {message}"),
            other => bail!("unexpected {}", other.name()),
        }
    }

    /// Searches for `query` (default kinds, up to 100 hits).
    pub async fn find(&self, query: &str) -> Result<chapar_search::SearchResponse> {
        self.search(&chapar_search::SearchRequest {
            query: query.into(),
            limit: 100,
            ..Default::default()
        })
        .await
    }

    /// Submits a document; its id on success.
    pub async fn submit(&self, doc: &Document) -> Result<DocId> {
        match self
            .request(&Message::Submit {
                document: doc.as_bytes().to_vec(),
            })
            .await?
        {
            Message::Submitted { id, .. } => Ok(id),
            Message::Error { code, message } => bail!("refused ({code}): {message}"),
            other => bail!("unexpected {}", other.name()),
        }
    }

    /// Fetches a document, `None` if not found (or not visible).
    pub async fn fetch(&self, id: DocId) -> Result<Option<Document>> {
        match self.request(&Message::Fetch { id }).await? {
            Message::Documents { documents } => Ok(Some(Document::decode(
                documents.first().context("empty answer")?,
            )?)),
            Message::Error { code: 404, .. } => Ok(None),
            Message::Error { code, message } => bail!("error {code}: {message}"),
            other => bail!("unexpected {}", other.name()),
        }
    }

    /// Lists documents of a kind (or all), oldest first.
    pub async fn list(&self, kind: Option<Kind>) -> Result<Vec<Listed>> {
        match self
            .request(&Message::List {
                kind,
                from_ms: 0,
                to_ms: u64::MAX,
                limit: 10_000,
                newest_first: false,
            })
            .await?
        {
            Message::Listing { entries } => Ok(entries),
            Message::Error { code, message } => bail!("error {code}: {message}"),
            other => bail!("unexpected {}", other.name()),
        }
    }

    /// The underlying connection.
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }
}

fn first_existing(dir: &Path, names: &[&str]) -> Result<PathBuf> {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .with_context(|| format!("none of {names:?} in {}", dir.display()))
}

/// A QUIC client configuration built by hand, the way an attacker could:
/// it trusts the ministry CA but presents whatever certificate it is given
/// (chapar's own builders refuse to use a certificate the CA did not issue).
pub fn raw_client_config(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<quinn::ClientConfig> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(chapar_certs::read_cert_pem(ca_pem, "ca")?)?;
    let chain = chapar_certs::read_certs_pem(cert_pem, "cert")?;
    let key = chapar_certs::read_private_key_pem(key_pem, "key")?;
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    cfg.alpn_protocols = vec![chapar_certs::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(std::sync::Arc::new(cfg))?;
    Ok(quinn::ClientConfig::new(std::sync::Arc::new(crypto)))
}

/// Tries to replicate from `addr` presenting the given certificate:
/// connects, says Hello, and reads whatever comes. Returns the documents
/// received before the node closed the connection (or 3 s passed).
pub async fn try_to_replicate(
    cfg: quinn::ClientConfig,
    addr: SocketAddr,
    node: &str,
) -> Result<usize> {
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    let conn = match tokio::time::timeout(
        Duration::from_secs(10),
        endpoint.connect_with(cfg, addr, &addr.ip().to_string())?,
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(_)) | Err(_) => return Ok(0),
    };
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return Ok(0);
    };
    if chapar_node::frames::write(
        &mut send,
        &Message::Hello {
            protocol: chapar_proto::wire::PROTOCOL_VERSION,
            node: Id::new(node)?,
            roster_version: 0,
        },
    )
    .await
    .is_err()
    {
        return Ok(0);
    }
    let mut docs = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Ok(Ok(m)) =
        tokio::time::timeout_at(deadline.into(), chapar_node::frames::read(&mut recv)).await
    {
        if let Message::Documents { documents } = m {
            docs += documents.len();
        }
    }
    Ok(docs)
}

/// The `chapar-node` binary of this build (built on demand when a test
/// runs on its own, outside `cargo test --workspace`).
pub fn node_bin() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("test binary has no target directory")?;
    let bin = dir.join("chapar-node");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-q", "-p", "chapar-node", "--bin", "chapar-node"])
            .status()?;
        if !status.success() || !bin.exists() {
            bail!("cannot build chapar-node ({status})");
        }
    }
    Ok(bin)
}
