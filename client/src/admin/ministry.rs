//! The administrator's ministry directory: the root signing key, the CA,
//! the current roster and its history, the CRL, and the bookkeeping of
//! issued certificates.
//!
//! ```text
//! <dir>/ministry.toml      state: name, next serial, CRL number, issued certificates
//! <dir>/root.key           ministry root ed25519 key (PKCS#8 PEM, 0600) — signs rosters
//! <dir>/root.pub           its public key (PEM), copied into every bundle
//! <dir>/ca.crt, ca.key     the ministry CA (key 0600)
//! <dir>/roster.chpr        the current signed roster
//! <dir>/rosters/NNNNNN.chpr every roster ever published
//! <dir>/crl.pem            the current CRL (also embedded in the roster)
//! ```
//!
//! Every change goes through [`Ministry::publish`], which signs the next
//! roster version and a fresh CRL and adds them to the caller's [`Plan`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use chapar_certs::{
    Ca, Identity, IssuedCert, LeafRequest, RevokedCert, SignedCert, Validity, Zeroizing,
};
use chapar_node::config::bundle;
use chapar_proto::keys::{public_key_to_pem, signing_key_from_pem, signing_key_from_seed};
use chapar_proto::roster::accept_update;
use chapar_proto::{Body, Document, PublicKey, Roster};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::files::{Plan, read_bytes, read_secret, read_text};

/// File names inside the ministry directory.
pub mod file {
    /// State file.
    pub const STATE: &str = "ministry.toml";
    /// Root signing key.
    pub const ROOT_KEY: &str = "root.key";
    /// Root public key.
    pub const ROOT_PUB: &str = "root.pub";
    /// CA certificate.
    pub const CA_CERT: &str = "ca.crt";
    /// CA key.
    pub const CA_KEY: &str = "ca.key";
    /// Current roster.
    pub const ROSTER: &str = "roster.chpr";
    /// Roster history directory.
    pub const ROSTERS: &str = "rosters";
    /// Current CRL.
    pub const CRL: &str = "crl.pem";
}

/// Default CRL lifetime. Nodes and clients warn from 14 days before it
/// runs out; a stale CRL still revokes what it lists and no longer locks
/// anyone out (ADR 0014), but renew it (`chapar admin crl renew`) before
/// then all the same.
pub const DEFAULT_CRL_DAYS: u32 = 30;

/// The bookkeeping in `ministry.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The ministry's own mission (where the hub usually sits).
    pub own_mission: String,
    /// Serial for the next certificate.
    pub next_serial: u64,
    /// Number of the last CRL issued.
    pub crl_number: u64,
    /// Lifetime of each new CRL, in days.
    pub crl_days: u32,
    /// Every certificate issued, for revocation.
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<IssuedRecord>,
}

/// One issued certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedRecord {
    /// Serial number.
    pub serial: u64,
    /// SAN URI (`urn:chapar:node:<id>` or `urn:chapar:user:<id>`).
    pub identity: String,
    /// Expiry, RFC 3339.
    pub not_after: String,
    /// When it was revoked, RFC 3339, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// An opened ministry directory.
pub struct Ministry {
    /// The directory.
    pub dir: PathBuf,
    /// Bookkeeping.
    pub state: State,
    /// The root signing key.
    pub root: SigningKey,
    /// The CA.
    pub ca: Ca,
    /// The roster in force.
    pub roster: Roster,
    /// The CRL in force (PEM), the same one the roster embeds.
    pub crl_pem: String,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// 32 bytes from the operating system's random source.
pub fn random_seed() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(seed)
}

/// A fresh ed25519 signing key.
pub fn new_signing_key() -> Result<SigningKey> {
    let seed = Zeroizing::new(random_seed()?);
    Ok(signing_key_from_seed(*seed))
}

/// The PKCS#8 PEM of a signing key, in memory wiped on drop.
pub fn signing_key_pem(key: &SigningKey) -> Result<Zeroizing<String>> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode a signing key: {e}"))?;
    Ok(Zeroizing::new(pem.as_str().to_owned()))
}

/// RFC 3339 text of a time.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl Ministry {
    /// Opens and cross-checks a ministry directory: the roster must be
    /// signed by the root key and trust the CA on disk.
    pub fn open(dir: &Path) -> Result<Ministry> {
        let state_path = dir.join(file::STATE);
        if !state_path.exists() {
            bail!(
                "{} is not a ministry directory (no {}); create one with `chapar admin init --dir {}` or point --dir / CHAPAR_ADMIN_DIR at it",
                dir.display(),
                file::STATE,
                dir.display()
            );
        }
        let state: State = toml::from_str(&read_text(&state_path, "ministry state")?)
            .with_context(|| format!("malformed ministry state {}", state_path.display()))?;
        let root_path = dir.join(file::ROOT_KEY);
        let root = signing_key_from_pem(&read_secret(&root_path, "root key")?)
            .with_context(|| format!("bad root key {}", root_path.display()))?;
        let ca = Ca::from_pem(
            &read_text(&dir.join(file::CA_CERT), "CA certificate")?,
            &read_secret(&dir.join(file::CA_KEY), "CA key")?,
        )
        .with_context(|| format!("cannot load the ministry CA from {}", dir.display()))?;
        let roster_path = dir.join(file::ROSTER);
        let doc = Document::decode(&read_bytes(&roster_path, "roster")?)
            .with_context(|| format!("malformed roster {}", roster_path.display()))?;
        let root_pk = PublicKey(root.verifying_key().to_bytes());
        let roster = accept_update(&root_pk, None, &doc)
            .with_context(|| format!("roster {} is not valid", roster_path.display()))?;
        if !roster.ca_fingerprints.contains(&ca.fingerprint()) {
            bail!(
                "the roster in {} does not trust the CA in {}: the directory is inconsistent",
                dir.display(),
                dir.join(file::CA_CERT).display()
            );
        }
        let crl_pem = read_text(&dir.join(file::CRL), "CRL")?;
        Ok(Ministry {
            dir: dir.to_owned(),
            state,
            root,
            ca,
            roster,
            crl_pem,
        })
    }

    /// The root public key.
    pub fn root_public(&self) -> PublicKey {
        PublicKey(self.root.verifying_key().to_bytes())
    }

    /// Issues a certificate for `identity` with the next serial, and
    /// records it for later revocation. The ministry's state changes only
    /// in memory; the caller's [`Ministry::publish`] writes it.
    pub fn issue(
        &mut self,
        identity: &Identity,
        days: u32,
        dns_names: Vec<String>,
        ips: Vec<std::net::IpAddr>,
    ) -> Result<IssuedCert> {
        let serial = self.state.next_serial;
        let mut req = LeafRequest::new(identity.clone(), serial, Validity::days_from_now(days));
        req.dns_names = dns_names;
        req.ips = ips;
        let cert = self.ca.issue(&req).with_context(|| {
            format!(
                "cannot issue a certificate for {} {}",
                identity.kind(),
                identity.id()
            )
        })?;
        self.state.next_serial += 1;
        self.state.certificates.push(IssuedRecord {
            serial,
            identity: identity.uri(),
            not_after: rfc3339(cert.not_after),
            revoked_at: None,
        });
        Ok(cert)
    }

    /// Like [`Ministry::issue`], for the public key of a certificate
    /// request (`csr_pem`, read from `csr_path`): the ministry never sees
    /// the private key.
    pub fn issue_for_csr(
        &mut self,
        identity: &Identity,
        days: u32,
        dns_names: Vec<String>,
        ips: Vec<std::net::IpAddr>,
        csr_pem: &str,
        csr_path: &Path,
    ) -> Result<SignedCert> {
        let serial = self.state.next_serial;
        let mut req = LeafRequest::new(identity.clone(), serial, Validity::days_from_now(days));
        req.dns_names = dns_names;
        req.ips = ips;
        let cert = self
            .ca
            .issue_for_csr(&req, csr_pem, &csr_path.display().to_string())
            .with_context(|| {
                format!(
                    "cannot issue a certificate for {} {} from {}",
                    identity.kind(),
                    identity.id(),
                    csr_path.display()
                )
            })?;
        self.state.next_serial += 1;
        self.state.certificates.push(IssuedRecord {
            serial,
            identity: identity.uri(),
            not_after: rfc3339(cert.not_after),
            revoked_at: None,
        });
        Ok(cert)
    }

    /// Serials of the certificates of `identity` (a SAN URI) that are
    /// neither revoked nor expired.
    pub fn live_certificates(&self, identity: &str) -> Vec<u64> {
        let now = OffsetDateTime::now_utc();
        self.state
            .certificates
            .iter()
            .filter(|c| c.identity == identity && c.revoked_at.is_none())
            .filter(|c| {
                OffsetDateTime::parse(&c.not_after, &time::format_description::well_known::Rfc3339)
                    .map_or(true, |t| t > now)
            })
            .map(|c| c.serial)
            .collect()
    }

    /// The signed roster in force, as stored in the directory.
    pub fn roster_doc(&self) -> Result<Document> {
        let path = self.dir.join(file::ROSTER);
        Document::decode(&read_bytes(&path, "roster")?)
            .with_context(|| format!("malformed roster {}", path.display()))
    }

    /// Adds the bookkeeping (`ministry.toml`) to `plan`, for changes that
    /// publish no new roster.
    pub fn save_state(&self, plan: &mut Plan) -> Result<()> {
        plan.file(
            self.dir.join(file::STATE),
            toml::to_string_pretty(&self.state).context("cannot serialise ministry state")?,
        );
        Ok(())
    }

    /// Marks every unrevoked certificate whose identity is `identity` (or
    /// whose serial is `serial`) as revoked now; returns their serials.
    pub fn revoke_certificates(&mut self, identity: Option<&str>, serial: Option<u64>) -> Vec<u64> {
        let now = rfc3339(OffsetDateTime::now_utc());
        let mut out = Vec::new();
        for c in &mut self.state.certificates {
            let hit = identity.is_some_and(|i| c.identity == i) || serial == Some(c.serial);
            if hit && c.revoked_at.is_none() {
                c.revoked_at = Some(now.clone());
                out.push(c.serial);
            }
        }
        out
    }

    /// Signs `roster` as the next version with a fresh CRL embedded, and
    /// adds the roster, its history copy, the CRL and the state to `plan`.
    /// Returns the signed roster document.
    pub fn publish(&mut self, roster: Roster, plan: &mut Plan) -> Result<Document> {
        self.publish_at(roster, plan, now_ms())
    }

    /// [`Ministry::publish`], signed as made at `created_ms`: a roster
    /// that closes a person's term at a time must be made no later than it
    /// (a newer roster may not rewrite the past).
    pub fn publish_at(
        &mut self,
        mut roster: Roster,
        plan: &mut Plan,
        created_ms: u64,
    ) -> Result<Document> {
        roster.version = self.roster.version + 1;
        self.sign_roster(roster, plan, created_ms)
    }

    /// Like [`Ministry::publish`] but keeps `roster.version` as given (for
    /// the first roster).
    pub fn finish_roster(&mut self, roster: Roster, plan: &mut Plan) -> Result<Document> {
        self.sign_roster(roster, plan, now_ms())
    }

    fn sign_roster(
        &mut self,
        mut roster: Roster,
        plan: &mut Plan,
        created_ms: u64,
    ) -> Result<Document> {
        let crl_pem = self.issue_crl()?;
        roster.crl = chapar_certs::read_crls_pem(&crl_pem, "fresh CRL")?
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let doc = Document::sign(&self.root, created_ms, Body::Roster(roster.clone()))
            .context("cannot sign the roster")?;
        plan.file(self.dir.join(file::ROSTER), doc.as_bytes());
        plan.file(
            self.dir
                .join(file::ROSTERS)
                .join(format!("{:06}.chpr", roster.version)),
            doc.as_bytes(),
        );
        plan.file(self.dir.join(file::CRL), crl_pem.clone());
        self.crl_pem = crl_pem;
        self.save_state(plan)?;
        self.roster = roster;
        Ok(doc)
    }

    fn issue_crl(&mut self) -> Result<String> {
        self.state.crl_number += 1;
        let now = OffsetDateTime::now_utc();
        let now = now.replace_nanosecond(0).unwrap_or(now);
        let revoked: Vec<RevokedCert> = self
            .state
            .certificates
            .iter()
            .filter_map(|c| {
                let at = c.revoked_at.as_ref()?;
                let at = OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .unwrap_or(now);
                Some(RevokedCert {
                    serial: c.serial,
                    revoked_at: at.replace_nanosecond(0).unwrap_or(at),
                })
            })
            .collect();
        let next = now + time::Duration::days(i64::from(self.state.crl_days));
        self.ca
            .crl(self.state.crl_number, now, next, &revoked)
            .context("cannot sign the CRL")
    }

    /// The files every bundle carries: CA certificate, root public key,
    /// current roster and CRL.
    pub fn common_bundle_files(
        &self,
        dir: &Path,
        roster: &Document,
        plan: &mut Plan,
    ) -> Result<()> {
        plan.file(dir.join(bundle::CA), self.ca.cert_pem());
        plan.file(
            dir.join(bundle::ROOT_KEY),
            public_key_to_pem(&self.root_public())?,
        );
        plan.file(dir.join(bundle::ROSTER), roster.as_bytes());
        plan.file(dir.join(bundle::CRL), self.crl_pem.clone());
        Ok(())
    }
}
