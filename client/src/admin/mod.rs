//! `chapar admin`: set up a ministry, add missions, provision nodes and
//! people, revoke, and inspect the roster.
//!
//! Every command validates all of its input and computes every file it
//! will write before touching the disk; a mistake changes nothing.

pub mod ministry;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chapar_certs::{Ca, Identity, KeyAlgorithm, Validity};
use chapar_node::config::{NodeConfig, Peer};
use chapar_proto::keys::{public_key_from_pem, public_key_to_pem};
use chapar_proto::{
    Caption, Classification, Country, Id, Mission, MissionKind, Node, NodeRole, Person, PublicKey,
    Revocation, Role, Roles, Roster, Subject,
};
use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::config::UserConfig;
use crate::files::{Plan, read_secret, read_text};
use ministry::{
    DEFAULT_CRL_DAYS, Ministry, State, file, new_signing_key, now_ms, rfc3339, signing_key_pem,
};

/// Arguments of `chapar admin init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// The ministry's name, as shown in the roster.
    #[arg(long)]
    pub name: String,
    /// Id of the ministry's own mission (headquarters).
    #[arg(long, default_value = "mfa")]
    pub mission_id: String,
    /// Display name of the headquarters mission [default: "<name> headquarters"].
    #[arg(long)]
    pub mission_name: Option<String>,
    /// ISO 3166-1 code of the ministry's country, e.g. UZ.
    #[arg(long)]
    pub country: String,
    /// Import an existing CA certificate (PEM) instead of creating one.
    #[arg(long, requires = "ca_key")]
    pub ca_cert: Option<PathBuf>,
    /// The imported CA's private key (PEM, PKCS#8 or SEC1; ECDSA P-256 or Ed25519).
    #[arg(long, requires = "ca_cert")]
    pub ca_key: Option<PathBuf>,
    /// Key algorithm of a new CA.
    #[arg(long, value_enum, default_value_t = KeyAlg::EcdsaP256)]
    pub ca_algorithm: KeyAlg,
    /// Lifetime of a new CA, in days.
    #[arg(long, default_value_t = 3650)]
    pub ca_days: u32,
    /// Lifetime of each CRL, in days; renew before it runs out.
    #[arg(long, default_value_t = DEFAULT_CRL_DAYS)]
    pub crl_days: u32,
    /// Replace an existing ministry directory's files.
    #[arg(long)]
    pub force: bool,
}

/// Key algorithms offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlg {
    /// ECDSA P-256 (widest TLS support).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl From<KeyAlg> for KeyAlgorithm {
    fn from(a: KeyAlg) -> Self {
        match a {
            KeyAlg::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            KeyAlg::Ed25519 => KeyAlgorithm::Ed25519,
        }
    }
}

/// Arguments of `chapar admin mission add`.
#[derive(Debug, Clone, Args)]
pub struct MissionAddArgs {
    /// Mission id: lowercase a-z, 0-9 and '-', e.g. emb-tokyo.
    #[arg(long)]
    pub id: String,
    /// Display name, e.g. "Embassy in Tokyo".
    #[arg(long)]
    pub name: String,
    /// ISO 3166-1 code of the host country, e.g. JP.
    #[arg(long)]
    pub country: String,
    /// Kind of post.
    #[arg(long, value_enum, default_value_t = KindArg::Embassy)]
    pub kind: KindArg,
}

/// Mission kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// The ministry headquarters.
    Ministry,
    /// An embassy.
    Embassy,
    /// A consulate.
    Consulate,
    /// A permanent mission to an international organisation.
    PermanentMission,
}

impl From<KindArg> for MissionKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Ministry => MissionKind::Ministry,
            KindArg::Embassy => MissionKind::Embassy,
            KindArg::Consulate => MissionKind::Consulate,
            KindArg::PermanentMission => MissionKind::PermanentMission,
        }
    }
}

/// Arguments of `chapar admin node add`.
#[derive(Debug, Clone, Args)]
pub struct NodeAddArgs {
    /// Node id, e.g. tokyo-1.
    #[arg(long)]
    pub id: String,
    /// The mission that runs it.
    #[arg(long)]
    pub mission: String,
    /// Hub (ministry archive, store-and-forward) or mission node.
    #[arg(long, value_enum, default_value_t = RoleArg::Mission)]
    pub role: RoleArg,
    /// Highest classification the node may hold (unclassified, restricted,
    /// confidential, secret, top-secret).
    #[arg(long, default_value = "restricted")]
    pub accreditation: Classification,
    /// host:port where peers and users reach the node.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Local address to listen on [default: the endpoint if it is an IP
    /// address, else 0.0.0.0 on the endpoint's port].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Node ids to connect to [default: every hub with an endpoint].
    #[arg(long = "peer")]
    pub peers: Vec<String>,
    /// Extra DNS names for the certificate.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Extra IP addresses for the certificate.
    #[arg(long)]
    pub ip: Vec<IpAddr>,
    /// Certificate and bundle options.
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// `chapar admin node add` on the command line: [`NodeAddArgs`] and,
/// for a node that made its own keys, its certificate request.
#[derive(Debug, Clone, Args)]
pub struct NodeAddCli {
    /// The node.
    #[command(flatten)]
    pub node: NodeAddArgs,
    /// Keys the node made itself.
    #[command(flatten)]
    pub keys: NodeKeys,
}

/// A node's own keys (`chapar-node keygen`): the bundle then holds no
/// private key at all.
#[derive(Debug, Clone, Default, Args)]
pub struct NodeKeys {
    /// The node's certificate request (node.csr from `chapar-node keygen`):
    /// sign its TLS key instead of making one. Only its public key is used.
    #[arg(long, requires = "signing_key")]
    pub csr: Option<PathBuf>,
    /// The node's public signing key (node-sign.pub from `chapar-node
    /// keygen`), put in the roster.
    #[arg(long, requires = "csr")]
    pub signing_key: Option<PathBuf>,
}

/// Node roles on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A mission's own node.
    Mission,
    /// A hub.
    Hub,
}

/// Arguments of `chapar admin user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// Person id, e.g. aziza.karimova is not allowed ('.'), use aziza-karimova.
    #[arg(long)]
    pub id: String,
    /// Full name.
    #[arg(long)]
    pub name: String,
    /// The mission they serve at.
    #[arg(long)]
    pub mission: String,
    /// Clearance (unclassified, restricted, confidential, secret, top-secret).
    #[arg(long, default_value = "restricted")]
    pub clearance: Classification,
    /// Roles, comma-separated: reader, editor, drafter, clearer, releaser, admin.
    #[arg(long, value_delimiter = ',', default_value = "reader")]
    pub roles: Vec<Role>,
    /// Captions held, comma-separated (NODIS, EXDIS, ...).
    #[arg(long, value_delimiter = ',')]
    pub captions: Vec<String>,
    /// The node their client talks to [default: their mission's node, else a hub].
    #[arg(long)]
    pub node: Option<String>,
    /// Certificate and bundle options.
    #[command(flatten)]
    pub bundle: BundleArgs,
}

/// Arguments of `chapar admin user update`: what changes, from now on.
/// What the person signed before keeps being judged by their standing
/// then (the roster keeps it as an earlier term).
#[derive(Debug, Clone, Args)]
pub struct UserUpdateArgs {
    /// The person's id.
    pub id: String,
    /// New clearance.
    #[arg(long)]
    pub clearance: Option<Classification>,
    /// New roles (the whole set), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub roles: Option<Vec<Role>>,
    /// New captions (the whole set), comma-separated; `none` for none.
    #[arg(long, value_delimiter = ',')]
    pub captions: Option<Vec<String>>,
    /// The mission they move to.
    #[arg(long)]
    pub mission: Option<String>,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
}

/// Options shared by the commands that issue a certificate and write a
/// bundle.
#[derive(Debug, Clone, Args)]
pub struct BundleArgs {
    /// Certificate lifetime in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Bundle directory [default: <ministry dir>/nodes/<id> or users/<id>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace files in an existing bundle directory.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `chapar admin node renew` and `chapar admin user renew`.
#[derive(Debug, Clone, Args)]
pub struct RenewArgs {
    /// The node or person whose certificate to renew.
    pub id: String,
    /// Lifetime of the new certificate, in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Revoke the current certificate(s) now, by serial (in a new roster and
    /// CRL). Without it they stay valid until they expire, so the node or
    /// person keeps working until the new files are installed.
    #[arg(long)]
    pub revoke_old: bool,
    /// Bundle directory to write the new files into [default: <ministry
    /// dir>/nodes/<id> or users/<id>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `chapar admin node renew`.
#[derive(Debug, Clone, Args)]
pub struct NodeRenewArgs {
    /// What to renew.
    #[command(flatten)]
    pub renew: RenewArgs,
    /// The node's certificate request (from `chapar-node keygen`, which keeps
    /// the node's key): sign it instead of making a new key.
    #[arg(long)]
    pub csr: Option<PathBuf>,
    /// Extra DNS names for the certificate (besides the endpoint's and the
    /// current certificate's).
    #[arg(long)]
    pub dns: Vec<String>,
    /// Extra IP addresses for the certificate.
    #[arg(long)]
    pub ip: Vec<IpAddr>,
}

/// What `chapar admin revoke` withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RevokeWhat {
    /// A node (all its certificates).
    Node,
    /// A person (all their certificates and their signing key).
    User,
    /// One certificate by serial number.
    Cert,
}

/// Arguments of `chapar admin revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// node, user or cert.
    #[arg(value_enum)]
    pub what: RevokeWhat,
    /// The node or user id, or the certificate serial.
    pub target: String,
    /// Why, for the audit trail.
    #[arg(long)]
    pub reason: String,
    /// The key was compromised: void everything it ever signed, not only
    /// what it signs from now on.
    #[arg(long)]
    pub compromised: bool,
}

/// Result of a command, printed for people or as JSON.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// One-line summary.
    pub message: String,
    /// The roster version now in force.
    pub roster_version: u64,
    /// Bundle directory written, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    /// Certificate serials issued or revoked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serials: Vec<u64>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

fn id(s: &str, what: &str) -> Result<Id> {
    Id::new(s).with_context(|| format!("bad {what} id"))
}

fn country(s: &str) -> Result<Country> {
    Country::new(s.to_ascii_uppercase()).context("bad --country")
}

/// `chapar admin init`.
pub fn init(dir: &Path, a: &InitArgs) -> Result<Outcome> {
    let mission_id = id(&a.mission_id, "mission")?;
    let country = country(&a.country)?;
    if a.name.trim().is_empty() {
        bail!("--name must not be empty");
    }
    if dir.join(file::STATE).exists() && !a.force {
        bail!(
            "{} already holds a ministry ({} exists); use another --dir, or --force to replace it (this discards its root key and CA)",
            dir.display(),
            file::STATE
        );
    }
    let ca = match (&a.ca_cert, &a.ca_key) {
        (Some(cert), Some(key)) => Ca::from_pem(
            &read_text(cert, "CA certificate")?,
            &read_secret(key, "CA key")?,
        )
        .with_context(|| {
            format!(
                "cannot import the CA from {} and {}",
                cert.display(),
                key.display()
            )
        })?,
        _ => Ca::create(
            &a.name,
            Validity::days_from_now(a.ca_days),
            a.ca_algorithm.into(),
        )
        .context("cannot create the ministry CA")?,
    };
    let root = new_signing_key()?;
    let mut roster = Roster::new(a.name.trim(), ca.fingerprint());
    roster.add_mission(Mission {
        id: mission_id.clone(),
        name: a
            .mission_name
            .clone()
            .unwrap_or_else(|| format!("{} headquarters", a.name.trim())),
        country,
        kind: MissionKind::Ministry,
    })?;
    let mut m = Ministry {
        dir: dir.to_owned(),
        state: State {
            own_mission: mission_id.to_string(),
            next_serial: 1,
            crl_number: 0,
            crl_days: a.crl_days.max(1),
            certificates: Vec::new(),
        },
        ca,
        roster: roster.clone(),
        crl_pem: String::new(),
        root,
    };
    let mut plan = Plan::default();
    plan.secret(dir.join(file::ROOT_KEY), signing_key_pem(&m.root)?);
    plan.file(
        dir.join(file::ROOT_PUB),
        public_key_to_pem(&m.root_public())?,
    );
    plan.file(dir.join(file::CA_CERT), m.ca.cert_pem());
    plan.secret(dir.join(file::CA_KEY), m.ca.key_pem());
    m.finish_roster(roster, &mut plan)?;
    // The old root's roster history would block every later change.
    plan.discard_dir(dir.join(file::ROSTERS));
    plan.check(a.force, &[])?;
    let files = plan.commit()?;
    Ok(Outcome {
        message: format!(
            "created ministry {:?} in {} (roster v1, CA fingerprint {})",
            a.name.trim(),
            dir.display(),
            hex::encode(m.ca.fingerprint())
        ),
        roster_version: 1,
        bundle: None,
        serials: vec![],
        files,
    })
}

/// Files the ministry itself rewrites on every change.
fn ministry_files(dir: &Path) -> [PathBuf; 3] {
    [
        dir.join(file::ROSTER),
        dir.join(file::CRL),
        dir.join(file::STATE),
    ]
}

fn commit(m: &Ministry, plan: Plan, force: bool) -> Result<Vec<PathBuf>> {
    let own = ministry_files(&m.dir);
    let own: Vec<&Path> = own.iter().map(PathBuf::as_path).collect();
    plan.check(force, &own)?;
    plan.commit()
}

/// `chapar admin mission add`.
pub fn add_mission(dir: &Path, a: &MissionAddArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let mut roster = m.roster.clone();
    roster.add_mission(Mission {
        id: id(&a.id, "mission")?,
        name: a.name.clone(),
        country: country(&a.country)?,
        kind: a.kind.into(),
    })?;
    let mut plan = Plan::default();
    m.publish(roster, &mut plan)?;
    let files = commit(&m, plan, false)?;
    Ok(Outcome {
        message: format!("added mission {} ({})", a.id, a.name),
        roster_version: m.roster.version,
        bundle: None,
        serials: vec![],
        files,
    })
}

fn split_endpoint(endpoint: &str) -> Result<(String, u16)> {
    let (host, port) = endpoint
        .rsplit_once(':')
        .with_context(|| format!("--endpoint {endpoint:?} must be host:port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("--endpoint {endpoint:?}: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("--endpoint {endpoint:?} has no host");
    }
    Ok((host.to_owned(), port))
}

/// `chapar admin node add`.
pub fn add_node(dir: &Path, a: &NodeAddArgs) -> Result<Outcome> {
    add_node_with(dir, a, &NodeKeys::default())
}

/// The DNS names and IP addresses a node's certificate carries: those
/// given, and its endpoint's host; and the address it listens on.
fn node_names(
    endpoint: Option<&str>,
    listen: Option<SocketAddr>,
    dns: &[String],
    ip: &[IpAddr],
) -> Result<(Vec<String>, Vec<IpAddr>, SocketAddr)> {
    let mut dns = dns.to_vec();
    let mut ips = ip.to_vec();
    let listen = match endpoint {
        Some(ep) => {
            let (host, port) = split_endpoint(ep)?;
            match host.parse::<IpAddr>() {
                Ok(ip) => {
                    ips.push(ip);
                    listen.unwrap_or(SocketAddr::new(ip, port))
                }
                Err(_) => {
                    dns.push(host);
                    listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], port)))
                }
            }
        }
        None => listen.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 7400))),
    };
    dns.sort();
    dns.dedup();
    ips.sort();
    ips.dedup();
    Ok((dns, ips, listen))
}

/// `chapar admin node add`, with the node's own keys if it made them
/// (`keys.csr`): then the bundle holds no private key.
pub fn add_node_with(dir: &Path, a: &NodeAddArgs, keys: &NodeKeys) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let node_id = id(&a.id, "node")?;
    let mission = id(&a.mission, "mission")?;
    let (dns, ips, listen) = node_names(a.endpoint.as_deref(), a.listen, &a.dns, &a.ip)?;
    let role = match a.role {
        RoleArg::Hub => NodeRole::Hub,
        RoleArg::Mission => NodeRole::Mission,
    };
    // Either we make the node's signing key, or it sent us its public half.
    let (signing, signing_public) = match &keys.signing_key {
        Some(path) => {
            let pk = public_key_from_pem(&read_text(path, "node signing public key")?)
                .with_context(|| {
                    format!(
                        "{} is not the node's public signing key (node-sign.pub from `chapar-node keygen`)",
                        path.display()
                    )
                })?;
            (None, pk)
        }
        None => {
            let k = new_signing_key()?;
            let pk = PublicKey(k.verifying_key().to_bytes());
            (Some(k), pk)
        }
    };
    let mut roster = m.roster.clone();
    roster.add_node(Node {
        id: node_id.clone(),
        mission: mission.clone(),
        role,
        accreditation: a.accreditation,
        signing_key: signing_public,
        endpoint: a.endpoint.clone(),
    })?;
    let peers = choose_peers(&roster, &node_id, &a.peers)?;

    let identity = Identity::node(node_id.as_str())?;
    let bundle = a
        .bundle
        .out
        .clone()
        .unwrap_or_else(|| dir.join("nodes").join(node_id.as_str()));
    let cfg = NodeConfig::for_bundle(node_id.as_str(), mission.as_str(), listen, peers);
    let mut plan = Plan::default();
    let serial = match &keys.csr {
        Some(csr) => {
            let text = read_text(csr, "certificate request")?;
            let cert = m.issue_for_csr(&identity, a.bundle.days, dns, ips, &text, csr)?;
            plan.file(bundle.join(&cfg.tls.cert), cert.cert_pem);
            cert.serial
        }
        None => {
            let cert = m.issue(&identity, a.bundle.days, dns, ips)?;
            plan.file(bundle.join(&cfg.tls.cert), cert.cert_pem.clone());
            plan.secret(bundle.join(&cfg.tls.key), &cert.key_pem);
            cert.serial
        }
    };
    if let Some(signing) = &signing {
        plan.secret(
            bundle.join(&cfg.trust.signing_key),
            signing_key_pem(signing)?,
        );
    }
    let doc = m.publish(roster, &mut plan)?;
    plan.file(bundle.join(chapar_node::config::FILE_NAME), cfg.to_toml());
    m.common_bundle_files(&bundle, &doc, &mut plan)?;
    let files = commit(&m, plan, a.bundle.force)?;
    let keys_note = if keys.csr.is_some() {
        format!(
            "; the bundle holds no private key: copy its files into the node's key directory (beside the {} and {} `chapar-node keygen` wrote)",
            cfg.tls.key.display(),
            cfg.trust.signing_key.display()
        )
    } else {
        String::new()
    };
    Ok(Outcome {
        message: format!(
            "added node {node_id} ({}, {}) for mission {mission}; bundle in {}{keys_note}",
            role.as_str().to_ascii_lowercase(),
            a.accreditation,
            bundle.display()
        ),
        roster_version: m.roster.version,
        bundle: Some(bundle),
        serials: vec![serial],
        files,
    })
}

/// The peers a new node connects to: those named, or every hub with an
/// endpoint.
fn choose_peers(roster: &Roster, me: &Id, named: &[String]) -> Result<Vec<Peer>> {
    let nodes: Vec<&Node> = if named.is_empty() {
        roster
            .nodes
            .iter()
            .filter(|n| {
                n.role == NodeRole::Hub
                    && &n.id != me
                    && n.endpoint.is_some()
                    && !revoked(roster, n)
            })
            .collect()
    } else {
        named
            .iter()
            .map(|p| {
                let pid = id(p, "peer")?;
                usable_node(roster, &pid, "--peer")
            })
            .collect::<Result<_>>()?
    };
    nodes
        .into_iter()
        .map(|n| {
            if &n.id == me {
                bail!("--peer {}: a node cannot peer with itself", n.id);
            }
            let address = n.endpoint.clone().with_context(|| {
                format!("--peer {}: that node has no endpoint to connect to", n.id)
            })?;
            Ok(Peer {
                id: n.id.to_string(),
                address,
            })
        })
        .collect()
}

/// Whether a node is revoked now.
fn revoked(roster: &Roster, n: &Node) -> bool {
    roster.is_revoked(&Subject::Node(n.id.clone()), now_ms())
}

/// A node named on the command line: listed and not revoked.
fn usable_node<'r>(roster: &'r Roster, nid: &Id, flag: &str) -> Result<&'r Node> {
    let n = roster
        .node(nid)
        .with_context(|| format!("{flag} {nid}: no such node in the roster"))?;
    if revoked(roster, n) {
        bail!("{flag} {nid}: that node is revoked");
    }
    Ok(n)
}

/// `chapar admin user add`.
pub fn add_user(dir: &Path, a: &UserAddArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let person_id = id(&a.id, "user")?;
    let mission = id(&a.mission, "mission")?;
    let captions = a
        .captions
        .iter()
        .map(|c| Caption::new(c.to_ascii_uppercase()).context("bad --captions"))
        .collect::<Result<Vec<_>>>()?;
    let signing = new_signing_key()?;
    let mut roster = m.roster.clone();
    roster.add_person(Person {
        id: person_id.clone(),
        name: a.name.clone(),
        mission: mission.clone(),
        signing_key: PublicKey(signing.verifying_key().to_bytes()),
        clearance: a.clearance,
        captions,
        roles: Roles::of(&a.roles),
    })?;
    let node = match &a.node {
        Some(n) => usable_node(&roster, &id(n, "node")?, "--node")?,
        None => {
            let reachable = |n: &&Node| n.endpoint.is_some() && !revoked(&roster, n);
            roster
                .nodes
                .iter()
                .filter(reachable)
                .find(|n| n.mission == mission)
                .or_else(|| {
                    roster
                        .nodes
                        .iter()
                        .filter(reachable)
                        .find(|n| n.role == NodeRole::Hub)
                })
                .with_context(|| {
                    format!("no usable node of mission {mission} and no hub has an endpoint for the user's client; add one or pass --node")
                })?
        }
    };
    let node_address = node
        .endpoint
        .clone()
        .with_context(|| format!("--node {}: that node has no endpoint", node.id))?;
    let node_id = node.id.to_string();

    let cert = m.issue(
        &Identity::user(person_id.as_str())?,
        a.bundle.days,
        vec![],
        vec![],
    )?;
    let serial = cert.serial;
    let bundle = a
        .bundle
        .out
        .clone()
        .unwrap_or_else(|| dir.join("users").join(person_id.as_str()));
    let mut plan = Plan::default();
    let doc = m.publish(roster, &mut plan)?;
    let cfg = UserConfig::for_bundle(
        person_id.as_str(),
        mission.as_str(),
        &node_id,
        &node_address,
    );
    plan.file(bundle.join(crate::config::FILE_NAME), cfg.to_toml());
    plan.file(bundle.join(&cfg.cert), cert.cert_pem.clone());
    plan.secret(bundle.join(&cfg.key), &cert.key_pem);
    plan.secret(bundle.join(&cfg.signing_key), signing_key_pem(&signing)?);
    m.common_bundle_files(&bundle, &doc, &mut plan)?;
    let files = commit(&m, plan, a.bundle.force)?;
    Ok(Outcome {
        message: format!(
            "added user {person_id} ({}) at {mission}, cleared {}, roles {}; bundle in {}",
            a.name,
            a.clearance,
            Roles::of(&a.roles),
            bundle.display()
        ),
        roster_version: m.roster.version,
        bundle: Some(bundle),
        serials: vec![serial],
        files,
    })
}

/// `chapar admin user update`: a new roster version in which the person's
/// standing changes now; their earlier standing is kept as a closed term.
pub fn update_user(dir: &Path, a: &UserUpdateArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let pid = id(&a.id, "user")?;
    let Some(before) = m.roster.person(&pid).cloned() else {
        bail!("no user {pid} in the roster; `chapar admin roster show` lists them");
    };
    if m.roster.is_revoked(&Subject::Person(pid.clone()), now_ms()) {
        bail!("user {pid} is revoked");
    }
    let mission = a.mission.as_deref().map(|x| id(x, "mission")).transpose()?;
    if let Some(ms) = &mission
        && m.roster.mission(ms).is_none()
    {
        bail!("--mission {ms}: no such mission; `chapar admin mission add` first");
    }
    let captions = a
        .captions
        .as_ref()
        .map(|cs| {
            cs.iter()
                .filter(|c| !c.eq_ignore_ascii_case("none"))
                .map(|c| Caption::new(c.to_ascii_uppercase()).context("bad --captions"))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    if let Some(n) = &a.name
        && n.trim().is_empty()
    {
        bail!("--name must not be empty");
    }
    let at = now_ms();
    let mut roster = m.roster.clone();
    roster.change_person(&pid, at, |p| {
        if let Some(c) = a.clearance {
            p.clearance = c;
        }
        if let Some(r) = &a.roles {
            p.roles = Roles::of(r);
        }
        if let Some(c) = captions {
            p.captions = c;
        }
        if let Some(ms) = mission {
            p.mission = ms;
        }
        if let Some(n) = &a.name {
            p.name = n.trim().to_owned();
        }
    })?;
    let after = roster
        .person(&pid)
        .cloned()
        .context("the person is still listed")?;
    if after == before {
        bail!("nothing to change: give --clearance, --roles, --captions, --mission or --name");
    }
    let mut plan = Plan::default();
    m.publish_at(roster, &mut plan, at)?;
    let files = commit(&m, plan, false)?;
    Ok(Outcome {
        message: format!(
            "updated user {pid}: {} at {}, cleared {}, roles {}{}; documents signed before now keep their earlier standing",
            after.name,
            after.mission,
            after.clearance,
            after.roles,
            if after.captions.is_empty() {
                String::new()
            } else {
                format!(
                    ", captions {}",
                    after
                        .captions
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
        ),
        roster_version: m.roster.version,
        bundle: None,
        serials: Vec::new(),
        files,
    })
}

/// `chapar admin revoke`.
pub fn revoke(dir: &Path, a: &RevokeArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    if a.reason.trim().is_empty() {
        bail!("--reason must say why (it is kept in the roster for the audit trail)");
    }
    let (subject, serials) = match a.what {
        RevokeWhat::Node => {
            let nid = id(&a.target, "node")?;
            let uri = Identity::node(nid.as_str())?.uri();
            if m.roster.node(&nid).is_none() {
                bail!("no node {nid} in the roster; `chapar admin roster show` lists them");
            }
            (Subject::Node(nid), m.revoke_certificates(Some(&uri), None))
        }
        RevokeWhat::User => {
            let pid = id(&a.target, "user")?;
            let uri = Identity::user(pid.as_str())?.uri();
            if m.roster.person(&pid).is_none() {
                bail!("no user {pid} in the roster; `chapar admin roster show` lists them");
            }
            (
                Subject::Person(pid),
                m.revoke_certificates(Some(&uri), None),
            )
        }
        RevokeWhat::Cert => {
            let serial: u64 = a
                .target
                .parse()
                .with_context(|| format!("certificate serial {:?} is not a number", a.target))?;
            if !m.state.certificates.iter().any(|c| c.serial == serial) {
                bail!("no certificate with serial {serial} was issued by this ministry");
            }
            (
                Subject::Certificate(serial),
                m.revoke_certificates(None, Some(serial)),
            )
        }
    };
    let mut roster = m.roster.clone();
    let label = subject.to_string();
    roster.revoke(Revocation {
        subject,
        effective_ms: if a.compromised { 0 } else { now_ms() },
        reason: a.reason.trim().to_owned(),
    })?;
    let mut plan = Plan::default();
    m.publish(roster, &mut plan)?;
    let files = commit(&m, plan, false)?;
    Ok(Outcome {
        message: format!(
            "revoked {label}{}; certificates revoked: {}",
            if a.compromised {
                " (compromised: everything it signed is void)"
            } else {
                ""
            },
            if serials.is_empty() {
                "none outstanding".to_owned()
            } else {
                serials
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        roster_version: m.roster.version,
        bundle: None,
        serials,
        files,
    })
}

/// `chapar admin crl renew`: a fresh CRL (and roster version carrying it).
pub fn renew_crl(dir: &Path, days: Option<u32>) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    if let Some(d) = days {
        m.state.crl_days = d.max(1);
    }
    let mut plan = Plan::default();
    m.publish(m.roster.clone(), &mut plan)?;
    let files = commit(&m, plan, false)?;
    Ok(Outcome {
        message: format!(
            "issued CRL #{} valid for {} days",
            m.state.crl_number, m.state.crl_days
        ),
        roster_version: m.roster.version,
        bundle: None,
        serials: vec![],
        files,
    })
}

/// `chapar admin node renew`: a new certificate for a node already in the
/// roster — same id, same signing key, same roster entry — with a new TLS
/// key (or the public key of the node's own request, `--csr`). The new
/// `node.crt` (and `node.key`), with the current roster, CRL, CA and root
/// key, are written into the bundle directory; the node uses them once the
/// operator copies them over the old ones and restarts it. The old
/// certificate is revoked now with `--revoke-old`, else left to expire.
pub fn renew_node(dir: &Path, a: &NodeRenewArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let nid = id(&a.renew.id, "node")?;
    let node = usable_node(&m.roster, &nid, "node")?.clone();
    let identity = Identity::node(nid.as_str())?;
    let bundle = a
        .renew
        .out
        .clone()
        .unwrap_or_else(|| dir.join("nodes").join(nid.as_str()));
    let (cert_file, key_file) = (
        chapar_node::config::bundle::CERT,
        chapar_node::config::bundle::KEY,
    );
    // Keep every name the current certificate answers to (the bundle's, if
    // it is this node's), and the endpoint's.
    let (mut dns, mut ips) = (a.dns.clone(), a.ip.clone());
    if let Ok(text) = std::fs::read_to_string(bundle.join(cert_file))
        && let Ok(der) = chapar_certs::read_cert_pem(&text, "current certificate")
        && chapar_certs::peer_identity(&der).is_ok_and(|p| p.identity == identity)
        && let Ok((d, i)) = chapar_certs::cert_host_names(&der)
    {
        dns.extend(d);
        ips.extend(i);
    }
    let (dns, ips, _) = node_names(node.endpoint.as_deref(), None, &dns, &ips)?;

    let old = m.live_certificates(&identity.uri());
    let mut plan = Plan::default();
    let (serial, not_after) = match &a.csr {
        Some(csr) => {
            let text = read_text(csr, "certificate request")?;
            let cert = m.issue_for_csr(&identity, a.renew.days, dns, ips, &text, csr)?;
            plan.file(bundle.join(cert_file), cert.cert_pem);
            // The node keeps its key: a key left in the bundle would not
            // match the new certificate.
            plan.remove(bundle.join(key_file));
            (cert.serial, cert.not_after)
        }
        None => {
            let cert = m.issue(&identity, a.renew.days, dns, ips)?;
            plan.file(bundle.join(cert_file), cert.cert_pem.clone());
            plan.secret(bundle.join(key_file), &cert.key_pem);
            (cert.serial, cert.not_after)
        }
    };
    finish_renewal(
        &mut m,
        plan,
        &bundle,
        &old,
        a.renew.revoke_old,
        &format!("node {nid}"),
        serial,
        not_after,
    )
}

/// `chapar admin user renew`: a new certificate and TLS key for a person
/// already in the roster — same id, same signing key — written into their
/// bundle directory. The old certificate is revoked now with
/// `--revoke-old`, else left to expire.
pub fn renew_user(dir: &Path, a: &RenewArgs) -> Result<Outcome> {
    let mut m = Ministry::open(dir)?;
    let pid = id(&a.id, "user")?;
    if m.roster.person(&pid).is_none() {
        bail!("no user {pid} in the roster; `chapar admin roster show` lists them");
    }
    if m.roster.is_revoked(&Subject::Person(pid.clone()), now_ms()) {
        bail!("user {pid} is revoked; a revoked person gets no new certificate");
    }
    let identity = Identity::user(pid.as_str())?;
    let bundle = a
        .out
        .clone()
        .unwrap_or_else(|| dir.join("users").join(pid.as_str()));
    let old = m.live_certificates(&identity.uri());
    let cert = m.issue(&identity, a.days, vec![], vec![])?;
    let mut plan = Plan::default();
    plan.file(
        bundle.join(crate::config::bundle::CERT),
        cert.cert_pem.clone(),
    );
    plan.secret(bundle.join(crate::config::bundle::KEY), &cert.key_pem);
    finish_renewal(
        &mut m,
        plan,
        &bundle,
        &old,
        a.revoke_old,
        &format!("user {pid}"),
        cert.serial,
        cert.not_after,
    )
}

/// Revokes the old certificates (new roster and CRL) or keeps them, adds
/// the current trust files to the bundle, and writes everything.
#[allow(clippy::too_many_arguments)]
fn finish_renewal(
    m: &mut Ministry,
    mut plan: Plan,
    bundle: &Path,
    old: &[u64],
    revoke_old: bool,
    label: &str,
    serial: u64,
    not_after: time::OffsetDateTime,
) -> Result<Outcome> {
    let doc = if revoke_old && !old.is_empty() {
        let mut roster = m.roster.clone();
        for s in old {
            m.revoke_certificates(None, Some(*s));
            roster.revoke(Revocation {
                subject: Subject::Certificate(*s),
                effective_ms: now_ms(),
                reason: format!("superseded by certificate serial {serial} ({label} renewed)"),
            })?;
        }
        m.publish(roster, &mut plan)?
    } else {
        m.save_state(&mut plan)?;
        m.roster_doc()?
    };
    m.common_bundle_files(bundle, &doc, &mut plan)?;
    // Renewing replaces the bundle's certificate, key and trust files: that
    // is its purpose, so no --force.
    plan.check(true, &[])?;
    let files = plan.commit()?;
    let list = |s: &[u64]| s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let old_note = match (old.is_empty(), revoke_old) {
        (true, _) => "no earlier certificate is still valid".to_owned(),
        (false, true) => format!("old certificate(s) {} revoked", list(old)),
        (false, false) => format!(
            "old certificate(s) {} stay valid until they expire (revoke with `chapar admin revoke cert SERIAL`)",
            list(old)
        ),
    };
    let mut serials = vec![serial];
    serials.extend_from_slice(old);
    Ok(Outcome {
        message: format!(
            "renewed {label}: certificate serial {serial} valid until {}; {old_note}; new files in {}",
            rfc3339(not_after),
            bundle.display()
        ),
        roster_version: m.roster.version,
        bundle: Some(bundle.to_owned()),
        serials,
        files,
    })
}
