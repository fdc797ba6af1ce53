//! The person-facing commands: read and watch documents at one's node,
//! edit the wiki, draft, clear and release cables, acknowledge them.
//!
//! A person's bundle (`--bundle`, written by `chapar admin user add`) says
//! which node to talk to and holds their TLS certificate and document
//! signing key. Documents are signed here, on the person's machine, and
//! then submitted; the node checks them again against the roster.
//!
//! Building a document from command-line arguments is done by small pure
//! functions ([`wiki_revision`], [`cable_draft`], [`cable_clearance`],
//! [`cable_release`], [`read_receipt`]) so that every rule is tested
//! without a node.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chapar_certs::TlsMaterials;
use chapar_proto::keys::{public_key_from_pem, signing_key_from_pem};
use chapar_proto::roster::accept_update;
use chapar_proto::wire::Listed;
use chapar_proto::{
    Body, Cable, CableClearance, CableRelease, Caption, Classification, DocId, Document, Id, Kind,
    PageId, Precedence, PublicKey, Receipt, ReceiptStatus, Roster, Tag, WikiRevision,
};
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

use crate::admin::ministry::{now_ms, rfc3339};
use crate::config::{FILE_NAME, UserConfig};
use crate::files::{read_bytes, read_secret, read_text, write_atomic};
use crate::rpc::{self, Client, ListQuery, Timeouts};
use chapar_node::config::bundle as bundle_files;

/// Options of every command that talks to a node.
#[derive(Debug, Clone, Args)]
pub struct ConnectOpts {
    /// Your bundle: the directory `chapar admin user add` wrote, with user.toml.
    #[arg(long, env = "CHAPAR_BUNDLE", global = true)]
    pub bundle: Option<PathBuf>,
    /// Seconds to wait for the node, to connect and per request [default: 10 to connect, 30 per request].
    #[arg(long, global = true, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: Option<u64>,
}

impl ConnectOpts {
    /// The deadlines these options ask for.
    pub fn timeouts(&self) -> Timeouts {
        match self.timeout {
            Some(s) => Timeouts {
                connect: Duration::from_secs(s),
                request: Duration::from_secs(s),
            },
            None => Timeouts::default(),
        }
    }
}

/// The commands of a person (flattened into the top-level command list).
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Show your node's status.
    Status,
    /// Submit a signed document file to your node.
    Submit(SubmitArgs),
    /// Fetch one document by id and show it.
    Fetch(FetchArgs),
    /// List documents by kind and time.
    List(ListArgs),
    /// Show documents as they arrive at your node (until Ctrl-C).
    Watch(WatchArgs),
    /// Search the wiki and cables you may read.
    Search(crate::search::SearchArgs),
    /// The wiki.
    Wiki {
        #[command(subcommand)]
        command: WikiCommand,
    },
    /// Cables: draft, clear, release.
    Cable {
        #[command(subcommand)]
        command: CableCommand,
    },
    /// Receipts for cables your mission received.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
}

/// `chapar wiki ...`
#[derive(Debug, Subcommand)]
pub enum WikiCommand {
    /// Show a page by its title.
    Show(crate::wiki::WikiShowArgs),
    /// Write a new page, or a new revision of a page, by its title.
    Edit(WikiEditArgs),
    /// List a page's revisions, newest first, with its heads and merges.
    History(crate::wiki::WikiHistoryArgs),
    /// Compare two revisions of a page, line by line and word by word.
    Diff(crate::wiki::WikiDiffArgs),
    /// The newest edits across the wiki.
    Recent(crate::wiki::WikiRecentArgs),
    /// Rename a page, keeping its history, and leave a redirect.
    Move(crate::wiki::WikiMoveArgs),
    /// The pages a page links to.
    Links(crate::wiki::WikiLinksArgs),
    /// What links here: the pages that link to a page.
    Backlinks(crate::wiki::WikiLinksArgs),
    /// The pages in a category.
    Category(crate::wiki::WikiCategoryArgs),
    /// Follow a page (your watchlist is yours alone, kept in your bundle).
    Watch(crate::wiki::WikiWatchArgs),
    /// Stop following a page.
    Unwatch(crate::wiki::WikiWatchArgs),
    /// Changes to the pages you watch since you last looked.
    Watchlist(crate::wiki::WikiWatchlistArgs),
}

/// `chapar cable ...`
#[derive(Debug, Subcommand)]
pub enum CableCommand {
    /// Draft a cable from your mission.
    Draft(CableDraftArgs),
    /// Clear a drafted cable.
    Clear(CableClearArgs),
    /// Release a drafted cable for delivery to its addressees.
    Release(CableReleaseArgs),
}

/// `chapar receipt ...`
#[derive(Debug, Subcommand)]
pub enum ReceiptCommand {
    /// Acknowledge that a cable was read at your mission.
    Read(ReceiptReadArgs),
}

/// `chapar submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The signed document (envelope bytes).
    pub file: PathBuf,
}

/// `chapar fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The document id (64 hex digits).
    pub id: String,
    /// Write the signed document (envelope bytes) to this file instead of showing it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A document kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Cable drafts.
    Cable,
    /// Wiki revisions.
    Wiki,
    /// Cable releases (what addressees receive).
    Release,
    /// Cable clearances.
    Clearance,
    /// Receipts.
    Receipt,
    /// The roster.
    Roster,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Cable => Kind::Cable,
            KindArg::Wiki => Kind::WikiRevision,
            KindArg::Release => Kind::CableRelease,
            KindArg::Clearance => Kind::CableClearance,
            KindArg::Receipt => Kind::Receipt,
            KindArg::Roster => Kind::Roster,
        }
    }
}

/// `chapar list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this kind.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Created at or after this time (RFC 3339, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Created at or before this time (RFC 3339, or ms since the epoch).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=chapar_proto::wire::MAX_LISTING as i64))]
    pub limit: u32,
    /// Oldest first (default: newest first).
    #[arg(long)]
    pub oldest_first: bool,
}

/// `chapar watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only these kinds (repeat or separate with commas; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<KindArg>,
    /// Stop after this many documents.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// The text of a page or cable: inline or from a file.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct TextSource {
    /// The text.
    #[arg(long)]
    pub body: Option<String>,
    /// Read the text from this file ("-" for standard input).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
}

impl TextSource {
    /// The text, read from its file if need be.
    pub fn read(&self) -> Result<String> {
        match (&self.body, &self.body_file) {
            (Some(b), _) => Ok(b.clone()),
            (None, Some(p)) if p.as_os_str() == "-" => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("cannot read the text from standard input")?;
                Ok(s)
            }
            (None, Some(p)) => read_text(p, "text file"),
            (None, None) => bail!("give the text with --body or --body-file"),
        }
    }
}

/// `chapar wiki edit`.
#[derive(Debug, Args)]
pub struct WikiEditArgs {
    /// Page title.
    #[arg(long)]
    pub title: String,
    #[command(flatten)]
    pub text: TextSource,
    /// The page (32 hex digits); default: the page of --parent, else the
    /// page titled --title (its heads become the parents), else a new page.
    #[arg(long, value_name = "PAGEID_HEX")]
    pub page: Option<String>,
    /// The revision(s) this one replaces; default: every head of the page.
    #[arg(long, value_name = "DOCID")]
    pub parent: Vec<String>,
    /// Classification of the content.
    #[arg(long, default_value = "unclassified")]
    pub classification: Classification,
    /// Handling caption (NODIS, EXDIS, ...).
    #[arg(long)]
    pub caption: Option<String>,
    /// Summary of the change.
    #[arg(long, default_value = "")]
    pub summary: String,
    /// Write the signed revision to this file instead of submitting it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `chapar cable draft`.
#[derive(Debug, Args)]
pub struct CableDraftArgs {
    /// Action addressees: missions expected to act (comma-separated).
    #[arg(long, value_name = "MISSION", value_delimiter = ',', required = true)]
    pub to: Vec<String>,
    /// Info addressees (comma-separated).
    #[arg(long, value_name = "MISSION", value_delimiter = ',')]
    pub info: Vec<String>,
    /// Subject line.
    #[arg(long)]
    pub subject: String,
    #[command(flatten)]
    pub text: TextSource,
    /// routine, immediate, niact-immediate or flash.
    #[arg(long, default_value = "routine")]
    pub precedence: Precedence,
    /// Classification of the content.
    #[arg(long, default_value = "unclassified")]
    pub classification: Classification,
    /// Handling caption (NODIS, EXDIS, LIMDIS, ...).
    #[arg(long)]
    pub caption: Option<String>,
    /// TAGS (comma-separated, e.g. PREL,UZ).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Earlier cables referred to, in citation order (REF A, B, ...).
    #[arg(long = "ref", value_name = "DOCID")]
    pub references: Vec<String>,
    /// Write the signed draft to this file instead of submitting it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `chapar cable clear`.
#[derive(Debug, Args)]
pub struct CableClearArgs {
    /// The draft's id.
    pub draft: String,
    /// A remark for the drafter.
    #[arg(long, default_value = "")]
    pub note: String,
    /// The draft's originating mission, checked against the draft (which is
    /// always fetched: the clearance carries its classification and caption).
    #[arg(long, value_name = "MISSION")]
    pub originator: Option<String>,
    /// Write the signed clearance to this file instead of submitting it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `chapar cable release`.
#[derive(Debug, Args)]
pub struct CableReleaseArgs {
    /// The draft's id.
    pub draft: String,
    /// Clearances relied on.
    #[arg(long, value_name = "DOCID")]
    pub clearance: Vec<String>,
    /// Write the signed release to this file instead of submitting it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `chapar receipt read`.
#[derive(Debug, Args)]
pub struct ReceiptReadArgs {
    /// The cable: its release's id, or its draft's id.
    pub cable: String,
    /// The cable's originating mission, checked against the cable (which is
    /// fetched, or read from --cable-file: the receipt carries its
    /// classification and caption).
    #[arg(long, value_name = "MISSION")]
    pub originator: Option<String>,
    /// Read the cable (its release or its draft, a signed document file)
    /// from FILE instead of fetching it: for signing offline with --out.
    #[arg(long, value_name = "FILE")]
    pub cable_file: Option<PathBuf>,
    /// Write the signed receipt to this file instead of submitting it.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// The bundle.

/// A person's bundle directory and its `user.toml`.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    config: UserConfig,
}

impl Bundle {
    /// The bundle's directory (the person's own files live there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the bundle named by `--bundle` / `CHAPAR_BUNDLE`.
    pub fn open(dir: Option<&Path>) -> Result<Bundle> {
        let dir = dir.context(
            "no bundle: give --bundle DIR (the directory `chapar admin user add` wrote for you) or set CHAPAR_BUNDLE",
        )?;
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            bail!(
                "{} is not a person's bundle: {} not found",
                dir.display(),
                path.display()
            );
        }
        let text = read_text(&path, "bundle configuration")?;
        let config = UserConfig::parse(&text)
            .map_err(|e| anyhow!("{} is not a valid {FILE_NAME}: {e}", path.display()))?;
        Ok(Bundle {
            dir: dir.to_owned(),
            config,
        })
    }

    /// A path of the configuration, relative to the bundle directory.
    fn path(&self, p: &Path) -> PathBuf {
        self.dir.join(p)
    }

    /// The bundle's `user.toml`.
    pub fn config(&self) -> &UserConfig {
        &self.config
    }

    /// Connects to the bundle's node, hands it the bundle's roster (in case
    /// the node's is older and does not list this person yet) and takes the
    /// node's roster — with the CRL inside it — into the bundle when it is
    /// newer: a bundle is refreshed by using it.
    pub async fn connect(&self, timeouts: Timeouts) -> Result<Client> {
        Ok(self.connect_refreshing(timeouts).await?.0)
    }

    /// [`Bundle::connect`], saying what the roster exchange did.
    pub async fn connect_refreshing(&self, timeouts: Timeouts) -> Result<(Client, Refresh)> {
        let client = rpc::connect(
            &self.config.node_id,
            &self.config.node_address,
            &self.tls()?,
            timeouts,
        )
        .await?;
        let roster = read_bytes(&self.path(Path::new(bundle_files::ROSTER)), "roster")?;
        let theirs = client
            .exchange_roster(&roster)
            .await
            .context("the node refused this bundle's roster")?;
        let refresh = self.refresh(&theirs)?;
        Ok((client, refresh))
    }

    /// Takes `node_roster` (the node's roster in force) into the bundle if
    /// it is signed by the bundle's root key and newer than the bundle's:
    /// `roster.chpr` and the CRL it carries (`crl.pem`), each written
    /// atomically.
    pub fn refresh(&self, node_roster: &[u8]) -> Result<Refresh> {
        let node = &self.config.node_id;
        let doc = Document::decode(node_roster)
            .with_context(|| format!("node {node} sent a malformed roster"))?;
        let root_path = self.path(&self.config.root_key);
        let root = public_key_from_pem(&read_text(&root_path, "root key")?)
            .with_context(|| format!("bad root key {}", root_path.display()))?;
        let held = self.roster();
        let roster = match accept_update(&root, held.as_ref(), &doc) {
            Ok(r) => r,
            Err(chapar_proto::RosterError::NotNewer { held, .. }) => {
                return Ok(Refresh::Current(held));
            }
            Err(e) => bail!(
                "node {node} sent a roster this bundle cannot accept ({e}); is the node part of this ministry?"
            ),
        };
        if !roster.crl.is_empty() {
            let pem = chapar_certs::to_pem("X509 CRL", &roster.crl);
            // Check it before it replaces a working one.
            chapar_certs::parse_crl_pem(&pem)
                .with_context(|| format!("node {node} sent a roster with a damaged CRL"))?;
            write_atomic(&self.path(&self.config.crl), pem.as_bytes(), false)?;
        }
        write_atomic(
            &self.path(Path::new(bundle_files::ROSTER)),
            doc.as_bytes(),
            false,
        )?;
        Ok(Refresh::Updated {
            from: held.map(|r| r.version),
            to: roster.version,
        })
    }

    /// The person's mission.
    pub fn mission(&self) -> Result<Id> {
        Id::new(self.config.mission.clone()).with_context(|| {
            format!(
                "bad mission in {}",
                self.path(Path::new(FILE_NAME)).display()
            )
        })
    }

    /// The person's document-signing key (refused if others can read it).
    pub fn signing_key(&self) -> Result<SigningKey> {
        let path = self.path(&self.config.signing_key);
        chapar_certs::check_key_permissions(&path)?;
        signing_key_from_pem(&read_secret(&path, "signing key")?)
            .with_context(|| format!("bad signing key {}", path.display()))
    }

    /// The TLS certificate, key, CA and CRL (the key is refused if others
    /// can read it).
    pub fn tls(&self) -> Result<TlsMaterials> {
        chapar_certs::check_key_permissions(&self.path(&self.config.key))?;
        let crl = self.path(&self.config.crl);
        Ok(TlsMaterials::from_files(
            &self.path(&self.config.ca),
            &self.path(&self.config.cert),
            &self.path(&self.config.key),
            &[crl.as_path()],
        )?)
    }

    /// The bundle's roster, if it can be read and is signed by the
    /// bundle's root key.
    pub fn roster(&self) -> Option<Roster> {
        let path = self.dir.join(chapar_node::config::bundle::ROSTER);
        let doc = Document::decode(&read_bytes(&path, "roster").ok()?).ok()?;
        self.accept_roster(&doc)
    }

    /// `doc` as a roster, if signed by the bundle's root key.
    fn accept_roster(&self, doc: &Document) -> Option<Roster> {
        let root = read_text(&self.path(&self.config.root_key), "root key").ok()?;
        accept_update(&public_key_from_pem(&root).ok()?, None, doc).ok()
    }
}

/// What taking the node's roster did to the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The bundle already held this roster version (or a newer one).
    Current(u64),
    /// The bundle's roster (and CRL) were replaced by the node's.
    Updated {
        /// The bundle's version before, if it had a readable one.
        from: Option<u64>,
        /// The version now in the bundle.
        to: u64,
    },
}

/// Warnings about the bundle's own certificate: it expires within 14 days,
/// or has.
pub fn bundle_warnings(bundle: &Bundle) -> Vec<String> {
    use chapar_certs::expiry::{cert_not_after, crl_next_update, due};
    let now = time::OffsetDateTime::now_utc();
    let cfg = bundle.config();
    let text = |p: &Path| std::fs::read_to_string(bundle.path(p)).ok();
    let line = |what: String, at: Option<time::OffsetDateTime>, action: String| {
        let d = due(at?, now)?;
        let when = rfc3339(d.at);
        Some(if d.expired {
            format!("{what} EXPIRED at {when}: {action}")
        } else {
            format!(
                "{what} expires at {when} (in {} days): {action}",
                d.days_left
            )
        })
    };
    [
        line(
            format!("your certificate {}", bundle.path(&cfg.cert).display()),
            text(&cfg.cert).and_then(|t| cert_not_after(&t, "certificate").ok()),
            format!(
                "ask the ministry administrators for a new one (`chapar admin user renew {}`) and put the new user.crt and user.key in your bundle; once it has expired your node refuses you",
                cfg.user_id
            ),
        ),
        line(
            format!("the ministry CA {}", bundle.path(&cfg.ca).display()),
            text(&cfg.ca).and_then(|t| cert_not_after(&t, "CA").ok()),
            "the ministry administrators must put a new CA in place".to_owned(),
        ),
        line(
            format!("the CRL {}", bundle.path(&cfg.crl).display()),
            text(&cfg.crl)
                .and_then(|t| crl_next_update(&t, "CRL").ok())
                .and_then(|(_, next)| next),
            "your node hands you the next one the ministry publishes (`chapar admin crl renew`); a stale CRL locks no one out".to_owned(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Who holds which signing key, for showing authors.
#[derive(Debug, Clone, Default)]
pub struct Names {
    by_key: HashMap<PublicKey, String>,
}

impl Names {
    /// The names in `roster`.
    pub fn of(roster: &Roster) -> Names {
        let mut by_key = HashMap::new();
        for p in &roster.people {
            by_key.insert(
                p.signing_key,
                format!("{} ({}, {})", p.id, p.name, p.mission),
            );
        }
        for n in &roster.nodes {
            by_key.insert(n.signing_key, format!("node {} ({})", n.id, n.mission));
        }
        Names { by_key }
    }

    /// How to show `key`: a name, or the key in hex.
    pub fn show(&self, key: &PublicKey) -> String {
        self.by_key
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("key {key}"))
    }

    fn get(&self, key: &PublicKey) -> Option<&str> {
        self.by_key.get(key).map(String::as_str)
    }
}

// ---------------------------------------------------------------------------
// Building documents (pure).

/// Parses a document id given to `option`.
pub fn parse_doc_id(s: &str, option: &str) -> Result<DocId> {
    s.trim()
        .to_ascii_lowercase()
        .parse::<DocId>()
        .map_err(|e| anyhow!("{option}: {s:?} is not a document id ({e})"))
}

/// Parses document ids given to `option` into a set (ascending, no
/// duplicates).
pub fn parse_doc_id_set(values: &[String], option: &str) -> Result<Vec<DocId>> {
    let mut ids = values
        .iter()
        .map(|s| parse_doc_id(s, option))
        .collect::<Result<Vec<_>>>()?;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// Parses a mission id given to `option` (case-insensitively).
pub fn parse_mission(s: &str, option: &str) -> Result<Id> {
    let t = s.trim();
    Id::new(t.to_ascii_lowercase()).map_err(|e| anyhow!("{option} {t:?}: not a mission id ({e})"))
}

/// Parses mission ids given to `option` into a set (ascending, no
/// duplicates; empty items ignored).
pub fn parse_missions(values: &[String], option: &str) -> Result<Vec<Id>> {
    let mut ids = values
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_mission(v, option))
        .collect::<Result<Vec<_>>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Parses TAGS: upper-cased, ascending, no duplicates.
pub fn parse_tags(values: &[String]) -> Result<Vec<Tag>> {
    let mut tags = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| Tag::new(v.to_ascii_uppercase()).map_err(|e| anyhow!("--tags {v:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Parses an optional caption (upper-cased).
pub fn parse_caption(value: Option<&str>) -> Result<Option<Caption>> {
    value
        .map(|v| {
            Caption::new(v.trim().to_ascii_uppercase()).map_err(|e| anyhow!("--caption {v:?}: {e}"))
        })
        .transpose()
}

/// Parses a page id: 32 hex digits.
pub fn parse_page_id(s: &str) -> Result<PageId> {
    let mut page = [0u8; 16];
    hex::decode_to_slice(s.trim(), &mut page)
        .map_err(|e| anyhow!("--page {s:?}: expected 32 hex digits ({e})"))?;
    Ok(PageId(page))
}

/// Parses a time given to `option`: RFC 3339 (`2025-03-01T09:00:00Z`) or
/// milliseconds since the Unix epoch.
pub fn parse_time(s: &str, option: &str) -> Result<u64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|e| anyhow!("{option} {t:?}: not a time in ms ({e})"));
    }
    // A bare date means its midnight, UTC.
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let dt = match time::Date::parse(t, &date_format) {
        Ok(d) => d.midnight().assume_utc(),
        Err(_) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| {
                anyhow!("{option} {t:?}: expected a date (2025-03-01), RFC 3339 (2025-03-01T09:00:00Z) or milliseconds since 1970 ({e})")
            })?,
    };
    u64::try_from(dt.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| anyhow!("{option} {t:?}: before 1970"))
}

/// The wiki revision asked for by `a`, on `page`, with text `body`.
pub fn wiki_revision(a: &WikiEditArgs, page: PageId, body: String) -> Result<Body> {
    let rev = WikiRevision {
        page,
        parents: parse_doc_id_set(&a.parent, "--parent")?,
        title: chapar_proto::wiki::title::display(&a.title),
        classification: a.classification,
        caption: parse_caption(a.caption.as_deref())?,
        body,
        summary: a.summary.trim().to_owned(),
    };
    rev.validate().context("the revision would be invalid")?;
    Ok(Body::WikiRevision(rev))
}

/// The cable draft asked for by `a`, sent by `originator`, with text `body`.
///
/// Addressees and TAGS are sets (sorted, duplicates dropped, ids
/// lower-cased, TAGS upper-cased); a mission may not be both an action
/// and an info addressee; a reference may be cited once.
pub fn cable_draft(a: &CableDraftArgs, originator: &Id, body: String) -> Result<Body> {
    let action = parse_missions(&a.to, "--to")?;
    if action.is_empty() {
        bail!("--to: name at least one action addressee");
    }
    let info = parse_missions(&a.info, "--info")?;
    if let Some(m) = info.iter().find(|m| action.contains(m)) {
        bail!(
            "{m} is named in both --to and --info: an addressee is either for action or for information"
        );
    }
    let mut references = Vec::with_capacity(a.references.len());
    for r in &a.references {
        let id = parse_doc_id(r, "--ref")?;
        if references.contains(&id) {
            bail!("--ref {id} is cited twice");
        }
        references.push(id);
    }
    let subject = a.subject.trim().to_owned();
    if subject.is_empty() {
        bail!("--subject must not be empty");
    }
    let cable = Cable {
        originator: originator.clone(),
        action,
        info,
        precedence: a.precedence,
        classification: a.classification,
        caption: parse_caption(a.caption.as_deref())?,
        tags: parse_tags(&a.tags)?,
        subject,
        references,
        body,
    };
    cable.validate().context("the cable would be invalid")?;
    Ok(Body::Cable(cable))
}

/// A clearance of `draft` (a cable draft).
pub fn cable_clearance(draft: &Document, note: &str) -> Result<Body> {
    let Body::Cable(cable) = draft.body() else {
        bail!("{} is a {}, not a cable draft", draft.id(), draft.kind());
    };
    let c = CableClearance {
        cable: draft.id(),
        originator: cable.originator.clone(),
        note: note.trim().to_owned(),
        marking: cable.marking(),
    };
    c.validate().context("the clearance would be invalid")?;
    Ok(Body::CableClearance(c))
}

/// A release of `draft` by a releaser of `mission`, relying on
/// `clearances`. The draft must be a cable of `mission` whose signature
/// verifies.
pub fn cable_release(draft: Document, clearances: &[String], mission: &Id) -> Result<Body> {
    let Body::Cable(cable) = draft.body() else {
        bail!("{} is a {}, not a cable draft", draft.id(), draft.kind());
    };
    if &cable.originator != mission {
        bail!(
            "draft {} is from {}: only a releaser of {} may release it (you are at {mission})",
            draft.id(),
            cable.originator,
            cable.originator
        );
    }
    draft
        .verify()
        .with_context(|| format!("draft {} is not validly signed", draft.id()))?;
    let clearances = parse_doc_id_set(clearances, "--clearance")?;
    let release = CableRelease::new(draft, clearances).context("the release would be invalid")?;
    Ok(Body::CableRelease(release))
}

/// A READ receipt from `mission` for `draft` (a cable), carrying its
/// classification and caption.
pub fn read_receipt(draft: DocId, cable: &Cable, mission: Id) -> Body {
    Body::Receipt(Receipt {
        cable: draft,
        originator: cable.originator.clone(),
        mission,
        status: ReceiptStatus::Read,
        marking: cable.marking(),
    })
}

// ---------------------------------------------------------------------------
// Showing documents (pure).

/// A kind's short lower-case name, as the command line spells it.
pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Roster => "roster",
        Kind::WikiRevision => "wiki",
        Kind::Cable => "cable",
        Kind::CableClearance => "clearance",
        Kind::CableRelease => "release",
        Kind::Receipt => "receipt",
    }
}

/// RFC 3339 text of a time in ms since the epoch, to the second (so that
/// columns align; JSON output also carries the exact ms).
pub fn time_text(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .and_then(|t| t.replace_nanosecond(0))
        .map(rfc3339)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

fn marking(c: Classification, caption: Option<&Caption>) -> String {
    match caption {
        Some(cap) => format!("{c} // {cap}"),
        None => c.to_string(),
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cable's header and text, as a telegram.
pub fn cable_text(c: &Cable) -> String {
    let mut out = format!("{}\n", c.precedence);
    out.push_str(&format!("FROM: {}\n", c.originator));
    out.push_str(&format!("TO: {}\n", join(&c.action)));
    if !c.info.is_empty() {
        out.push_str(&format!("INFO: {}\n", join(&c.info)));
    }
    out.push_str(&format!(
        "{}\n",
        marking(c.classification, c.caption.as_ref())
    ));
    if !c.tags.is_empty() {
        out.push_str(&format!("TAGS: {}\n", join(&c.tags)));
    }
    out.push_str(&format!("SUBJECT: {}\n", c.subject));
    for (i, r) in c.references.iter().enumerate() {
        let label = ref_label(i);
        let lead = if i == 0 { "REF:" } else { "    " };
        out.push_str(&format!("{lead} {label}. {r}\n"));
    }
    out.push('\n');
    out.push_str(&c.body);
    if !c.body.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// REF labels: A..Z, then AA, AB, ...
fn ref_label(i: usize) -> String {
    let letter = |n: usize| char::from(b'A' + (n % 26) as u8);
    if i < 26 {
        letter(i).to_string()
    } else {
        format!("{}{}", letter(i / 26 - 1), letter(i))
    }
}

/// A document for a person to read.
pub fn document_text(doc: &Document, names: &Names) -> String {
    let mut out = format!(
        "{} {}\n  author   {}\n  created  {}\n",
        doc.kind(),
        doc.id(),
        names.show(doc.author()),
        time_text(doc.created_ms())
    );
    match doc.body() {
        Body::WikiRevision(w) => {
            out.push_str(&format!("  page     {}\n", w.page));
            if w.parents.is_empty() {
                out.push_str("  replaces (new page)\n");
            } else {
                out.push_str(&format!("  replaces {}\n", join(&w.parents)));
            }
            out.push_str(&format!(
                "  marking  {}\n",
                marking(w.classification, w.caption.as_ref())
            ));
            if !w.summary.is_empty() {
                out.push_str(&format!("  summary  {}\n", w.summary));
            }
            out.push_str(&format!("\n# {}\n\n{}", w.title, w.body));
            if !w.body.ends_with('\n') {
                out.push('\n');
            }
        }
        Body::Cable(c) => {
            out.push_str("  (a draft: addressees receive it only once released)\n\n");
            out.push_str(&cable_text(c));
        }
        Body::CableRelease(r) => {
            let d = r.draft();
            out.push_str(&format!(
                "  draft    {} by {} at {}\n",
                d.id(),
                names.show(d.author()),
                time_text(d.created_ms())
            ));
            if !r.clearances.is_empty() {
                out.push_str(&format!("  cleared  {}\n", join(&r.clearances)));
            }
            out.push('\n');
            out.push_str(&cable_text(r.cable()));
        }
        Body::CableClearance(c) => {
            out.push_str(&format!("  clears   {} (from {})\n", c.cable, c.originator));
            if !c.note.is_empty() {
                out.push_str(&format!("  note     {}\n", c.note));
            }
        }
        Body::Receipt(r) => {
            out.push_str(&format!(
                "  {} at {} of cable {} (from {})\n",
                r.status, r.mission, r.cable, r.originator
            ));
        }
        Body::Roster(roster) => {
            out.push('\n');
            out.push_str(&crate::render::roster_text(doc, roster));
        }
    }
    out
}

fn cable_json(c: &Cable) -> Value {
    json!({
        "originator": c.originator.as_str(),
        "action": c.action.iter().map(Id::as_str).collect::<Vec<_>>(),
        "info": c.info.iter().map(Id::as_str).collect::<Vec<_>>(),
        "precedence": c.precedence.as_str(),
        "classification": c.classification.as_str(),
        "caption": c.caption.as_ref().map(Caption::as_str),
        "tags": c.tags.iter().map(Tag::as_str).collect::<Vec<_>>(),
        "subject": c.subject,
        "references": c.references.iter().map(DocId::to_hex).collect::<Vec<_>>(),
        "body": c.body,
    })
}

/// A document as JSON.
pub fn document_json(doc: &Document, names: &Names) -> Value {
    let mut v = json!({
        "id": doc.id().to_hex(),
        "kind": kind_name(doc.kind()),
        "author": doc.author().to_hex(),
        "author_name": names.get(doc.author()),
        "created_ms": doc.created_ms(),
        "created": time_text(doc.created_ms()),
    });
    let (key, body) = match doc.body() {
        Body::WikiRevision(w) => (
            "wiki",
            json!({
                "page": w.page.to_string(),
                "parents": w.parents.iter().map(DocId::to_hex).collect::<Vec<_>>(),
                "title": w.title,
                "classification": w.classification.as_str(),
                "caption": w.caption.as_ref().map(Caption::as_str),
                "body": w.body,
                "summary": w.summary,
            }),
        ),
        Body::Cable(c) => ("cable", cable_json(c)),
        Body::CableRelease(r) => {
            let d = r.draft();
            (
                "release",
                json!({
                    "draft_id": d.id().to_hex(),
                    "draft_author": d.author().to_hex(),
                    "draft_author_name": names.get(d.author()),
                    "draft_created_ms": d.created_ms(),
                    "clearances": r.clearances.iter().map(DocId::to_hex).collect::<Vec<_>>(),
                    "cable": cable_json(r.cable()),
                }),
            )
        }
        Body::CableClearance(c) => (
            "clearance",
            json!({
                "cable": c.cable.to_hex(),
                "originator": c.originator.as_str(),
                "note": c.note,
            }),
        ),
        Body::Receipt(r) => (
            "receipt",
            json!({
                "cable": r.cable.to_hex(),
                "originator": r.originator.as_str(),
                "mission": r.mission.as_str(),
                "status": r.status.as_str(),
            }),
        ),
        Body::Roster(roster) => ("roster", crate::render::roster_json(doc, roster)),
    };
    v[key] = body;
    v
}

/// One line about a document, for `watch`: time, kind, id, what it is.
pub fn document_line(doc: &Document) -> String {
    let what = match doc.body() {
        Body::WikiRevision(w) => w.title.clone(),
        Body::Cable(c) => format!("[draft] {} {}", c.precedence, c.subject),
        Body::CableRelease(r) => {
            let c = r.cable();
            format!("{} {} (from {})", c.precedence, c.subject, c.originator)
        }
        Body::CableClearance(c) => format!("clears {}", c.cable),
        Body::Receipt(r) => format!("{} at {} of {}", r.status, r.mission, r.cable),
        Body::Roster(r) => format!("roster version {}", r.version),
    };
    format!(
        "{}  {:<9}  {}  {}",
        time_text(doc.created_ms()),
        kind_name(doc.kind()),
        doc.id(),
        what.lines().next().unwrap_or("")
    )
}

/// A `List` answer as an aligned table.
pub fn listing_text(entries: &[Listed]) -> String {
    if entries.is_empty() {
        return "no documents\n".into();
    }
    let mut out = format!("{:<24}  {:<9}  ID\n", "CREATED", "KIND");
    for e in entries {
        out.push_str(&format!(
            "{:<24}  {:<9}  {}\n",
            time_text(e.created_ms),
            kind_name(e.kind),
            e.id
        ));
    }
    out
}

/// A short human summary of the node's JSON status report; its warnings
/// come last, one per line.
pub fn status_text(report: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(report) else {
        return format!("{}\n", report.trim_end());
    };
    let shown = |k: &str| k != "warnings";
    let width = map
        .keys()
        .filter(|k| shown(k))
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, v) in map.iter().filter(|(k, _)| shown(k)) {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("{k:<width$}  {text}\n"));
    }
    for w in map
        .get("warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let m = w
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| w.to_string(), str::to_owned);
        out.push_str(&format!("WARNING: {m}\n"));
    }
    out
}

// ---------------------------------------------------------------------------
// Running the commands.

/// A bundle and, once needed, a connection to its node.
struct Session<'a> {
    bundle: &'a Bundle,
    timeouts: Timeouts,
    client: Option<Client>,
    /// What the roster exchange on connecting did to the bundle.
    refresh: Option<Refresh>,
}

impl Session<'_> {
    /// The connection, opened on first use.
    async fn client(&mut self) -> Result<&Client> {
        if self.client.is_none() {
            let (client, refresh) = self.bundle.connect_refreshing(self.timeouts).await?;
            self.client = Some(client);
            self.refresh = Some(refresh);
        }
        Ok(self.client.as_ref().expect("connected above"))
    }

    /// Fetches a document and checks its signature.
    async fn fetch(&mut self, id: DocId) -> Result<Document> {
        let doc = self.client().await?.fetch(id).await?;
        doc.verify().map_err(|e| {
            anyhow!(
                "node {} sent document {id} with a signature that does not verify: {e}",
                self.bundle.config.node_id
            )
        })?;
        Ok(doc)
    }

    /// Names of authors, from the newest roster at hand: connecting takes
    /// the node's roster into the bundle when it is newer. Best effort:
    /// without a roster, authors are shown by key.
    async fn names(&mut self) -> Names {
        let _ = self.client().await;
        self.bundle
            .roster()
            .map(|r| Names::of(&r))
            .unwrap_or_default()
    }

    async fn close(self) {
        if let Some(c) = self.client {
            c.close().await;
        }
    }
}

/// Runs a person's command.
pub fn run(cmd: &UserCommand, opts: &ConnectOpts, json: bool) -> Result<()> {
    let bundle = Bundle::open(opts.bundle.as_deref())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut s = Session {
            bundle: &bundle,
            timeouts: opts.timeouts(),
            client: None,
            refresh: None,
        };
        let result = dispatch(cmd, &mut s, json).await;
        s.close().await;
        result
    })
}

async fn dispatch(cmd: &UserCommand, s: &mut Session<'_>, json: bool) -> Result<()> {
    match cmd {
        UserCommand::Status => status(s, json).await,
        UserCommand::Submit(a) => submit(s, a, json).await,
        UserCommand::Fetch(a) => fetch(s, a, json).await,
        UserCommand::List(a) => list(s, a, json).await,
        UserCommand::Watch(a) => watch(s, a, json).await,
        UserCommand::Search(a) => crate::search::search(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Show(a),
        } => crate::wiki::show(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Edit(a),
        } => wiki_edit(s, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::History(a),
        } => crate::wiki::show_history(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Diff(a),
        } => crate::wiki::show_diff(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Recent(a),
        } => crate::wiki::show_recent(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Move(a),
        } => {
            let key = s.bundle.signing_key()?;
            let m = crate::wiki::move_page(
                s.client().await?,
                &key,
                &a.from,
                &a.to,
                &a.summary,
                !a.no_redirect,
            )
            .await?;
            if json {
                print_json(&json!({
                    "page": m.page.to_string(),
                    "revision": m.revision.to_hex(),
                    "redirect": m.redirect.map(|(p, d)| json!({"page": p.to_string(), "revision": d.to_hex()})),
                }))
            } else {
                println!(
                    "moved {:?} to {:?} (page {}, revision {})",
                    a.from, a.to, m.page, m.revision
                );
                if let Some((p, _)) = m.redirect {
                    println!("left a redirect at {:?} (page {p})", a.from);
                }
                Ok(())
            }
        }
        UserCommand::Wiki {
            command: WikiCommand::Links(a),
        } => crate::wiki::show_links(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Backlinks(a),
        } => crate::wiki::show_backlinks(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Category(a),
        } => crate::wiki::show_category(s.client().await?, a, json).await,
        UserCommand::Wiki {
            command: WikiCommand::Watch(a),
        } => {
            let dir = s.bundle.dir().to_owned();
            crate::wiki::watch(s.client().await?, &dir, a, json).await
        }
        UserCommand::Wiki {
            command: WikiCommand::Unwatch(a),
        } => crate::wiki::unwatch(s.bundle.dir(), a, json),
        UserCommand::Wiki {
            command: WikiCommand::Watchlist(a),
        } => {
            let dir = s.bundle.dir().to_owned();
            crate::wiki::watchlist(s.client().await?, &dir, a, json).await
        }
        UserCommand::Cable { command } => match command {
            CableCommand::Draft(a) => draft(s, a, json).await,
            CableCommand::Clear(a) => clear(s, a, json).await,
            CableCommand::Release(a) => release(s, a, json).await,
        },
        UserCommand::Receipt {
            command: ReceiptCommand::Read(a),
        } => receipt(s, a, json).await,
    }
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn status(s: &mut Session<'_>, json: bool) -> Result<()> {
    let report = match s.client().await {
        Ok(c) => c.status().await?,
        Err(e) => {
            // Perhaps unreachable *because* something expired: say so.
            for w in bundle_warnings(s.bundle) {
                eprintln!("warning: {w}");
            }
            return Err(e);
        }
    };
    // The node reports on itself, the CA and the CRL (now also the
    // bundle's); only the person's own certificate is checked here.
    let own: Vec<String> = bundle_warnings(s.bundle)
        .into_iter()
        .filter(|w| w.starts_with("your certificate"))
        .collect();
    let (bundle_version, refreshed) = match s.refresh {
        Some(Refresh::Updated { to, .. }) => (Some(to), true),
        Some(Refresh::Current(v)) => (Some(v), false),
        None => (None, false),
    };
    if json {
        let mut v = match serde_json::from_str::<Value>(&report) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({ "report": report }),
        };
        if let Value::Object(o) = &mut v {
            o.insert(
                "bundle".into(),
                json!({
                    "roster_version": bundle_version,
                    "refreshed": refreshed,
                    "warnings": own,
                }),
            );
        }
        print_json(&v)
    } else {
        println!(
            "node {} at {}",
            s.bundle.config.node_id, s.bundle.config.node_address
        );
        print!("{}", status_text(&report));
        if let Some(Refresh::Updated { from, to }) = s.refresh {
            println!(
                "bundle refreshed: roster version {} -> {to}, with its CRL",
                from.map_or_else(|| "?".to_owned(), |f| f.to_string())
            );
        }
        for w in own {
            println!("WARNING: {w}");
        }
        Ok(())
    }
}

async fn submit(s: &mut Session<'_>, a: &SubmitArgs, json: bool) -> Result<()> {
    let bytes = read_bytes(&a.file, "document")?;
    let doc = Document::decode(&bytes)
        .with_context(|| format!("{} is not a chapar document", a.file.display()))?;
    doc.verify()
        .with_context(|| format!("{} is not validly signed", a.file.display()))?;
    let (id, new) = s.client().await?.submit(&bytes).await?;
    report_submitted(doc.kind(), id, new, json)
}

fn report_submitted(kind: Kind, id: DocId, new: bool, json: bool) -> Result<()> {
    if json {
        print_json(&json!({ "id": id.to_hex(), "kind": kind_name(kind), "new": new }))
    } else {
        let note = if new {
            ""
        } else {
            " (the node already held it)"
        };
        println!("submitted {kind} {id}{note}");
        Ok(())
    }
}

async fn fetch(s: &mut Session<'_>, a: &FetchArgs, json: bool) -> Result<()> {
    let id = parse_doc_id(&a.id, "document id")?;
    let doc = s.fetch(id).await?;
    if let Some(out) = &a.out {
        write_atomic(out, doc.as_bytes(), false)?;
        if json {
            return print_json(&json!({
                "id": id.to_hex(), "kind": kind_name(doc.kind()), "out": out,
            }));
        }
        println!("wrote {} {id} to {}", doc.kind(), out.display());
        return Ok(());
    }
    let names = s.names().await;
    if json {
        print_json(&document_json(&doc, &names))
    } else {
        print!("{}", document_text(&doc, &names));
        Ok(())
    }
}

async fn list(s: &mut Session<'_>, a: &ListArgs, json: bool) -> Result<()> {
    let from_ms = a
        .since
        .as_deref()
        .map(|t| parse_time(t, "--since"))
        .transpose()?
        .unwrap_or(0);
    let to_ms = a
        .until
        .as_deref()
        .map(|t| parse_time(t, "--until"))
        .transpose()?
        .unwrap_or(u64::MAX);
    if from_ms > to_ms {
        bail!("--since is after --until");
    }
    let query = ListQuery {
        kind: a.kind.map(Kind::from),
        from_ms,
        to_ms,
        limit: a.limit,
        newest_first: !a.oldest_first,
    };
    let entries = s.client().await?.list(query).await?;
    if json {
        let rows: Vec<Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "id": e.id.to_hex(),
                    "kind": kind_name(e.kind),
                    "created_ms": e.created_ms,
                    "created": time_text(e.created_ms),
                })
            })
            .collect();
        print_json(&Value::Array(rows))
    } else {
        print!("{}", listing_text(&entries));
        Ok(())
    }
}

async fn watch(s: &mut Session<'_>, a: &WatchArgs, json: bool) -> Result<()> {
    let mut kinds: Vec<Kind> = a.kind.iter().map(|k| Kind::from(*k)).collect();
    kinds.sort();
    kinds.dedup();
    let node = s.bundle.config.node_id.clone();
    let client = s.client().await?;
    let mut sub = client.subscribe(kinds).await?;
    let mut shown = 0u64;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let batch = tokio::select! {
            b = sub.next_batch() => b?,
            _ = &mut ctrl_c => return Ok(()),
        };
        let Some(batch) = batch else {
            bail!("node {node} ended the subscription");
        };
        for bytes in batch {
            let doc = match Document::decode(&bytes) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("warning: node {node} sent a malformed document, skipped: {e}");
                    continue;
                }
            };
            if let Err(e) = doc.verify() {
                eprintln!(
                    "warning: node {node} sent document {} with a bad signature, skipped: {e}",
                    doc.id()
                );
                continue;
            }
            if json {
                let v = json!({
                    "id": doc.id().to_hex(),
                    "kind": kind_name(doc.kind()),
                    "created_ms": doc.created_ms(),
                    "created": time_text(doc.created_ms()),
                    "line": document_line(&doc),
                });
                println!("{v}");
            } else {
                println!("{}", document_line(&doc));
            }
            shown += 1;
            if a.count.is_some_and(|n| shown >= n) {
                return Ok(());
            }
        }
    }
}

/// Signs `body` as the bundle's person, now, then submits it or writes it
/// to `out`.
async fn sign_and_send(
    s: &mut Session<'_>,
    body: Body,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let key = s.bundle.signing_key()?;
    let doc = Document::sign(&key, now_ms(), body)?;
    match out {
        Some(path) => {
            write_atomic(path, doc.as_bytes(), false)?;
            if json {
                print_json(&json!({
                    "id": doc.id().to_hex(), "kind": kind_name(doc.kind()), "out": path,
                }))
            } else {
                println!(
                    "signed {} {}, written to {} (submit it with `chapar submit {}`)",
                    doc.kind(),
                    doc.id(),
                    path.display(),
                    path.display()
                );
                Ok(())
            }
        }
        None => {
            let (id, new) = s.client().await?.submit(doc.as_bytes()).await?;
            report_submitted(doc.kind(), id, new, json)
        }
    }
}

async fn wiki_edit(s: &mut Session<'_>, a: &WikiEditArgs, json: bool) -> Result<()> {
    let text = a.text.read()?;
    let parents = parse_doc_id_set(&a.parent, "--parent")?;
    let page = match (&a.page, parents.first()) {
        (Some(p), Some(_)) => parse_page_id(p)?,
        (Some(p), None) => bail!(
            "--page {p}: name the revision(s) you are replacing with --parent (a revision without parents would start a second history of the page)"
        ),
        (None, None) => {
            // By title: a new revision of the page so titled, replacing
            // every head the person sees (which resolves a conflict), or a
            // new page whose id follows from the title (two missions that
            // create it offline create one page: `chapar_proto::wiki::title`).
            chapar_proto::wiki::title::check(&a.title)
                .with_context(|| format!("--title {:?}", a.title))?;
            if a.out.is_some() {
                // Signed offline: the page the title names by default (a
                // page that exists already gets this revision as a second
                // first revision, shown merged with it).
                let page = chapar_proto::wiki::title::page_id(
                    &chapar_proto::wiki::title::key(&a.title),
                    0,
                );
                let body = wiki_revision(a, page, text)?;
                return sign_and_send(s, body, a.out.as_deref(), json).await;
            }
            let client = s.client().await?;
            let found = crate::wiki::find(client, &a.title).await?;
            let (page, heads) = match found.as_slice() {
                [] => (
                    crate::wiki::new_page_id(client, &a.title).await?,
                    Vec::new(),
                ),
                [one] if one.heads.is_empty() => bail!(
                    "page {:?} ({}) has a newer revision you may not read: you cannot edit it",
                    one.title,
                    one.page
                ),
                [one] if one.by_old_title => bail!(
                    "{:?} is an old title of page {:?} ({}): edit it under its title, or give --page and --parent to rename it back",
                    a.title,
                    one.title,
                    one.page
                ),
                [one] => (one.page, one.heads.clone()),
                many => bail!(
                    "{} pages are titled {:?}; name one with --page and its heads with --parent ({})",
                    many.len(),
                    a.title,
                    many.iter()
                        .map(|f| f.page.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let body = wiki_revision(a, page, text)?;
            let Body::WikiRevision(mut rev) = body else {
                bail!("not a wiki revision");
            };
            rev.parents = heads;
            rev.validate().context("the revision would be invalid")?;
            return sign_and_send(s, Body::WikiRevision(rev), a.out.as_deref(), json).await;
        }
        (None, Some(_)) => {
            let mut page = None;
            for id in &parents {
                let Body::WikiRevision(w) = s.fetch(*id).await?.body().clone() else {
                    bail!("--parent {id} is not a wiki revision");
                };
                match page {
                    Some(p) if p != w.page => {
                        bail!(
                            "the --parent revisions belong to different pages ({p} and {})",
                            w.page
                        )
                    }
                    _ => page = Some(w.page),
                }
            }
            page.context("no parent")?
        }
    };
    let body = wiki_revision(a, page, text)?;
    sign_and_send(s, body, a.out.as_deref(), json).await
}

async fn draft(s: &mut Session<'_>, a: &CableDraftArgs, json: bool) -> Result<()> {
    let body = cable_draft(a, &s.bundle.mission()?, a.text.read()?)?;
    sign_and_send(s, body, a.out.as_deref(), json).await
}

async fn clear(s: &mut Session<'_>, a: &CableClearArgs, json: bool) -> Result<()> {
    let id = parse_doc_id(&a.draft, "draft id")?;
    let given = a
        .originator
        .as_deref()
        .map(|o| parse_mission(o, "--originator"))
        .transpose()?;
    let draft = s.fetch(id).await?;
    match (draft.body(), given) {
        (Body::CableRelease(_), _) => {
            bail!("{id} is a release: clearances are given to the draft, before release")
        }
        (Body::Cable(c), Some(g)) if c.originator != g => {
            bail!("--originator {g}: draft {id} is from {}", c.originator)
        }
        _ => {}
    }
    let body = cable_clearance(&draft, &a.note)?;
    sign_and_send(s, body, a.out.as_deref(), json).await
}

async fn release(s: &mut Session<'_>, a: &CableReleaseArgs, json: bool) -> Result<()> {
    let id = parse_doc_id(&a.draft, "draft id")?;
    // Check the clearance ids before going to the network.
    parse_doc_id_set(&a.clearance, "--clearance")?;
    let mission = s.bundle.mission()?;
    let draft = s.fetch(id).await?;
    let body = cable_release(draft, &a.clearance, &mission)?;
    sign_and_send(s, body, a.out.as_deref(), json).await
}

async fn receipt(s: &mut Session<'_>, a: &ReceiptReadArgs, json: bool) -> Result<()> {
    let id = parse_doc_id(&a.cable, "cable id")?;
    let given = a
        .originator
        .as_deref()
        .map(|o| parse_mission(o, "--originator"))
        .transpose()?;
    let mission = s.bundle.mission()?;
    // The receipt carries the cable's marking, so the cable is needed: its
    // release (what an addressee holds) or its draft.
    let found = match &a.cable_file {
        Some(path) => {
            let doc = Document::decode(&read_bytes(path, "--cable-file")?)
                .with_context(|| format!("{} is not a signed chapar document", path.display()))?;
            doc.verify()
                .with_context(|| format!("{} is not validly signed", path.display()))?;
            let draft_id = match doc.body() {
                Body::CableRelease(r) => Some(r.draft().id()),
                _ => None,
            };
            if doc.id() != id && draft_id != Some(id) {
                bail!(
                    "{} holds document {}, not cable {id}",
                    path.display(),
                    doc.id()
                );
            }
            doc
        }
        None => s.fetch(id).await?,
    };
    let (draft, cable) = match found.body() {
        Body::CableRelease(r) => (r.draft().id(), r.cable()),
        Body::Cable(c) => (id, c),
        other => bail!("{id} is a {}, not a cable", other.kind()),
    };
    if let Some(g) = given
        && g != cable.originator
    {
        bail!("--originator {g}: cable {id} is from {}", cable.originator)
    }
    sign_and_send(
        s,
        read_receipt(draft, cable, mission),
        a.out.as_deref(),
        json,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::keys::signing_key_from_seed;

    fn text(body: &str) -> TextSource {
        TextSource {
            body: Some(body.into()),
            body_file: None,
        }
    }

    fn draft_args(to: &[&str], info: &[&str]) -> CableDraftArgs {
        CableDraftArgs {
            to: to.iter().map(|s| s.to_string()).collect(),
            info: info.iter().map(|s| s.to_string()).collect(),
            subject: "Visit of the foreign minister".into(),
            text: text("1. Text."),
            precedence: Precedence::Immediate,
            classification: Classification::Confidential,
            caption: None,
            tags: vec![],
            references: vec![],
            out: None,
        }
    }

    fn mission(s: &str) -> Id {
        Id::new(s).expect("id")
    }

    #[test]
    fn cable_addressees_and_tags_are_normalised() {
        let mut a = draft_args(&["MFA", "emb-berlin", "mfa"], &[" emb-tokyo ", ""]);
        a.tags = vec!["uz".into(), "PREL".into(), "prel".into()];
        a.caption = Some("nodis".into());
        let Body::Cable(c) = cable_draft(&a, &mission("emb-washington"), "t".into()).expect("ok")
        else {
            panic!("not a cable")
        };
        assert_eq!(c.action, vec![mission("emb-berlin"), mission("mfa")]);
        assert_eq!(c.info, vec![mission("emb-tokyo")]);
        let tags: Vec<&str> = c.tags.iter().map(Tag::as_str).collect();
        assert_eq!(tags, ["PREL", "UZ"]);
        assert_eq!(c.caption.as_ref().map(Caption::as_str), Some("NODIS"));
        assert_eq!(c.originator, mission("emb-washington"));
        assert_eq!(c.precedence, Precedence::Immediate);
    }

    #[test]
    fn cable_mistakes_are_explained() {
        let orig = mission("mfa");
        let err = |a: &CableDraftArgs| {
            format!("{:#}", cable_draft(a, &orig, "t".into()).expect_err("bad"))
        };

        let e = err(&draft_args(&["Emb Tokyo"], &[]));
        assert!(e.contains("--to") && e.contains("not a mission id"), "{e}");

        let e = err(&draft_args(&["emb-tokyo", "mfa"], &["EMB-TOKYO"]));
        assert!(
            e.contains("emb-tokyo") && e.contains("--to") && e.contains("--info"),
            "{e}"
        );

        let e = err(&draft_args(&[" ", ""], &[]));
        assert!(e.contains("at least one"), "{e}");

        let mut a = draft_args(&["mfa"], &[]);
        a.tags = vec!["P REL".into()];
        let e = err(&a);
        assert!(e.contains("--tags"), "{e}");

        let mut a = draft_args(&["mfa"], &[]);
        a.references = vec!["ab".repeat(32), "AB".repeat(32)];
        let e = err(&a);
        assert!(e.contains("cited twice"), "{e}");

        let mut a = draft_args(&["mfa"], &[]);
        a.references = vec!["xyz".into()];
        assert!(err(&a).contains("--ref"));

        let mut a = draft_args(&["mfa"], &[]);
        a.subject = "  ".into();
        assert!(err(&a).contains("--subject"));

        let mut a = draft_args(&["mfa"], &[]);
        a.caption = Some("no dis".into());
        assert!(err(&a).contains("--caption"));
    }

    #[test]
    fn references_keep_citation_order() {
        let mut a = draft_args(&["mfa"], &[]);
        a.references = vec!["bb".repeat(32), "aa".repeat(32)];
        let Body::Cable(c) = cable_draft(&a, &mission("mfa"), "t".into()).expect("ok") else {
            panic!("not a cable")
        };
        assert_eq!(c.references, vec![DocId([0xbb; 32]), DocId([0xaa; 32])]);
        let t = cable_text(&c);
        assert!(
            t.contains("REF: A. bbbb") && t.contains("     B. aaaa"),
            "{t}"
        );
    }

    #[test]
    fn wiki_revisions_are_built_and_checked() {
        let mut a = WikiEditArgs {
            title: " Visa rules ".into(),
            text: text("# Rules"),
            page: None,
            parent: vec!["cc".repeat(32), "aa".repeat(32), "cc".repeat(32)],
            classification: Classification::Restricted,
            caption: None,
            summary: "typos".into(),
            out: None,
        };
        let page = PageId([1; 16]);
        let Body::WikiRevision(w) = wiki_revision(&a, page, "# Rules".into()).expect("ok") else {
            panic!("not a wiki revision")
        };
        assert_eq!(w.parents, vec![DocId([0xaa; 32]), DocId([0xcc; 32])]);
        assert_eq!(w.title, "Visa rules");
        assert_eq!(w.page, page);
        a.title = " ".into();
        assert!(wiki_revision(&a, page, String::new()).is_err());
        assert_eq!(parse_page_id(&"01".repeat(16)).expect("page"), page);
        assert!(parse_page_id("0102").is_err());
    }

    #[test]
    fn releases_embed_a_signed_draft_of_the_releasers_mission() {
        let key = signing_key_from_seed([3; 32]);
        let draft_body = cable_draft(
            &draft_args(&["mfa"], &[]),
            &mission("emb-berlin"),
            "t".into(),
        )
        .expect("draft");
        let draft = Document::sign(&key, 1_000, draft_body).expect("sign");
        let clearances = vec!["dd".repeat(32), "11".repeat(32)];

        let e = cable_release(draft.clone(), &clearances, &mission("mfa")).expect_err("foreign");
        assert!(
            e.to_string().contains("only a releaser of emb-berlin"),
            "{e}"
        );

        let Body::CableRelease(r) =
            cable_release(draft.clone(), &clearances, &mission("emb-berlin")).expect("release")
        else {
            panic!("not a release")
        };
        assert_eq!(r.draft(), &draft);
        assert_eq!(r.clearances, vec![DocId([0x11; 32]), DocId([0xdd; 32])]);
        let release = Document::sign(&key, 2_000, Body::CableRelease(r)).expect("sign");
        release.verify().expect("both signatures");
        let line = document_line(&release);
        assert!(
            line.contains("release") && line.contains("IMMEDIATE Visit"),
            "{line}"
        );
        let v = document_json(&release, &Names::default());
        assert_eq!(v["release"]["draft_id"], draft.id().to_hex());
        assert_eq!(v["release"]["cable"]["originator"], "emb-berlin");

        let clearance = Document::sign(
            &key,
            3_000,
            cable_clearance(&draft, "fine").expect("clearance"),
        )
        .expect("sign");
        let e = cable_release(clearance, &[], &mission("emb-berlin")).expect_err("not a cable");
        assert!(e.to_string().contains("not a cable draft"), "{e}");
    }

    #[test]
    fn documents_render() {
        let key = signing_key_from_seed([4; 32]);
        let Body::Cable(cable) = cable_draft(
            &draft_args(&["emb-berlin"], &[]),
            &mission("mfa"),
            "t".into(),
        )
        .expect("draft") else {
            panic!("not a cable")
        };
        let receipt = Document::sign(
            &key,
            1_700_000_000_000,
            read_receipt(DocId([9; 32]), &cable, mission("emb-berlin")),
        )
        .expect("sign");
        let t = document_text(&receipt, &Names::default());
        assert!(t.starts_with("RECEIPT "), "{t}");
        assert!(
            t.contains("READ at emb-berlin") && t.contains("2023-11-14T22:13:20"),
            "{t}"
        );
        let v = document_json(&receipt, &Names::default());
        assert_eq!(v["kind"], "receipt");
        assert_eq!(v["receipt"]["status"], "READ");
    }

    #[test]
    fn times_parse() {
        assert_eq!(
            parse_time("1700000000000", "--since").expect("ms"),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", "--since").expect("rfc3339"),
            1_700_000_000_000
        );
        let e = parse_time("yesterday", "--until")
            .expect_err("bad")
            .to_string();
        assert!(e.contains("--until") && e.contains("RFC 3339"), "{e}");
        assert!(parse_time("1969-12-31T23:59:59Z", "--since").is_err());
    }

    #[test]
    fn status_summary_lists_keys() {
        let t = status_text(
            r#"{"node":"hub","documents":12,"peers":["a"],"warnings":[{"message":"CRL #3 expires"}]}"#,
        );
        assert!(t.ends_with("WARNING: CRL #3 expires\n"), "{t}");
        assert!(
            t.contains("node       hub") && t.contains(r#"peers      ["a"]"#),
            "{t}"
        );
        assert_eq!(status_text("not json"), "not json\n");
    }

    #[test]
    fn ref_labels_continue_past_z() {
        assert_eq!(ref_label(0), "A");
        assert_eq!(ref_label(25), "Z");
        assert_eq!(ref_label(26), "AA");
        assert_eq!(ref_label(27), "AB");
    }
}
