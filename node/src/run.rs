//! Starting and stopping a node.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chapar_proto::Document;
use chapar_proto::keys::public_key_from_pem;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::NodeConfig;
use crate::priority::{Priority, lower_current_thread};
use crate::state::Shared;
use crate::store::Store;

/// Why a node could not start. Each names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A bundle file is missing or unreadable.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// Which file.
        what: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A bundle file's content is wrong.
    #[error("bad {what} {path}: {reason}")]
    Bad {
        /// Which file.
        what: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// TLS material could not be used.
    #[error(transparent)]
    Tls(#[from] chapar_certs::CertError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The search index directory could not be used (a damaged index is
    /// rebuilt, never an error; this is for I/O on the directory itself).
    #[error(transparent)]
    Search(#[from] chapar_search::SearchError),
    /// The indexer thread could not be started.
    #[error("cannot start the search indexer: {0}")]
    Indexer(std::io::Error),
    /// The roster or this node's place in it.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running node.
pub struct Running {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    endpoint: quinn::Endpoint,
    tasks: Vec<JoinHandle<()>>,
    indexer: Option<crate::indexer::Indexer>,
}

fn read(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|source| StartError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The ministry root key and the roster the bundle carries.
pub fn bundle_trust(cfg: &NodeConfig) -> Result<(chapar_proto::PublicKey, Document), StartError> {
    let root_pem = String::from_utf8_lossy(&read("root key", &cfg.trust.root_key)?).into_owned();
    let root = public_key_from_pem(&root_pem).map_err(|e| StartError::Bad {
        what: "root key",
        path: cfg.trust.root_key.clone(),
        reason: e.to_string(),
    })?;
    let roster =
        Document::decode(&read("roster", &cfg.trust.roster)?).map_err(|e| StartError::Bad {
            what: "roster",
            path: cfg.trust.roster.clone(),
            reason: e.to_string(),
        })?;
    Ok((root, roster))
}

/// Refuses private key files that other users can read (the TLS key, and
/// the signing key if the bundle has one), with the `chmod` that fixes it.
pub fn check_key_files(cfg: &NodeConfig) -> Result<(), StartError> {
    chapar_certs::check_key_permissions(&cfg.tls.key)?;
    if cfg.trust.signing_key.exists() {
        chapar_certs::check_key_permissions(&cfg.trust.signing_key)?;
    }
    Ok(())
}

/// Opens the store, puts the roster in force, listens, and dials peers.
pub async fn start(cfg: NodeConfig) -> Result<Running, StartError> {
    let (root, roster) = bundle_trust(&cfg)?;
    check_key_files(&cfg)?;
    let tls = cfg.tls_materials()?;
    let store = Store::open(&cfg.data_dir)?;
    let (stop, stop_rx) = watch::channel(false);
    let listen = cfg.listen;
    let peers = cfg.peers.clone();
    let shared = Arc::new(Shared::new(cfg, store, root, roster, tls, stop_rx)?);
    let indexer = start_indexer(&shared)?;
    let server = crate::net::server_config(&shared.tls_now())?;
    let (endpoint, udp_buffer) =
        crate::net::endpoint(server, listen).map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
    shared
        .udp_buffer
        .store(udp_buffer, std::sync::atomic::Ordering::Relaxed);
    *shared.endpoint.lock().unwrap_or_else(|p| p.into_inner()) = Some(endpoint.clone());
    let mut tasks = vec![tokio::spawn(crate::net::accept_loop(
        shared.clone(),
        endpoint.clone(),
    ))];
    for peer in peers {
        tasks.push(tokio::spawn(crate::net::dial_loop(
            shared.clone(),
            endpoint.clone(),
            peer,
        )));
    }
    tasks.push(tokio::spawn(watch_expiry(shared.clone())));
    tasks.push(tokio::spawn(crate::setaside::run(shared.clone())));
    info!(
        node = %shared.me,
        addr = %endpoint.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        documents = shared.store.len(),
        roster = shared.trust().roster().version,
        "node started"
    );
    Ok(Running {
        shared,
        stop,
        endpoint,
        tasks,
        indexer: Some(indexer),
    })
}

/// How often the node looks for certificates and CRLs about to expire.
const EXPIRY_CHECK: Duration = Duration::from_secs(15 * 60);
/// How often the same expiry warning is logged again.
const EXPIRY_REPEAT: Duration = Duration::from_secs(24 * 3600);

/// Logs every certificate or CRL that expires within 14 days (or has):
/// this node's, the CA's, the CRL in force and connected peers' — at
/// start, as soon as a new one shows up, and once a day after that.
async fn watch_expiry(shared: Arc<Shared>) {
    let mut logged: std::collections::HashMap<String, std::time::Instant> = Default::default();
    let mut shutdown = shared.shutdown.clone();
    // The first check waits a moment, so that peers dialed at start are
    // connected and their certificates seen.
    let mut next = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let now = std::time::Instant::now();
        let found = crate::status::warnings(&shared, time::OffsetDateTime::now_utc());
        for w in &found {
            let again = logged
                .get(&w.subject)
                .is_none_or(|at| now.duration_since(*at) >= EXPIRY_REPEAT);
            if again {
                tracing::warn!(expires = %w.due.at, "{}", w.line());
                logged.insert(w.subject.clone(), now);
            }
        }
        // Forget what was renewed, so that a later problem is logged at once.
        logged.retain(|subject, _| found.iter().any(|w| &w.subject == subject));
        next = tokio::time::Instant::now() + EXPIRY_CHECK;
    }
}

/// Opens (or rebuilds) the search index and starts following the store.
fn start_indexer(shared: &Arc<Shared>) -> Result<crate::indexer::Indexer, StartError> {
    // Opened on a thread at background priority: tantivy starts its
    // indexing and merge threads here, and they inherit it.
    let (index, rebuilt) = std::thread::scope(|s| {
        s.spawn(|| {
            lower_current_thread(Priority::Background);
            crate::indexer::open(&shared.store, &shared.cfg.data_dir)
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let status = Arc::new(crate::indexer::IndexStatus::default());
    if let Some(r) = rebuilt {
        let why = match r {
            chapar_search::Rebuilt::Missing => "no index yet".to_string(),
            chapar_search::Rebuilt::Damaged { reason, moved_to } => {
                format!("{reason} (old index kept at {})", moved_to.display())
            }
            chapar_search::Rebuilt::Outdated { found, moved_to } => format!(
                "index schema {found} is outdated (old index kept at {})",
                moved_to.display()
            ),
        };
        info!(
            documents = shared.store.len(),
            "building the search index: {why}"
        );
        *status.rebuilt.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
    let index = Arc::new(index);
    let _ = shared.search.set(crate::state::Search {
        index: index.clone(),
        status: status.clone(),
        running: tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ),
    });
    crate::indexer::Indexer::spawn(shared.clone(), index, status).map_err(StartError::Indexer)
}

impl Running {
    /// The address the node listens on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// The node's shared state (store, roster), for status and tests.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The status report.
    pub fn status(&self) -> serde_json::Value {
        crate::status::report(&self.shared)
    }

    /// Stops: refuses new work, closes connections, flushes the store.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.endpoint
            .close(crate::net::CLOSE_SHUTDOWN.into(), b"node stopping");
        for t in &self.tasks {
            t.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.endpoint.wait_idle()).await;
        // Peers are gone: nothing new arrives. The indexer commits what it
        // has added (a short blocking join).
        if let Some(indexer) = self.indexer.take() {
            let _ = tokio::task::spawn_blocking(move || indexer.stop()).await;
        }
        if let Err(e) = self.shared.store.flush() {
            tracing::warn!("final flush failed: {e}");
        }
        info!(node = %self.shared.me, "node stopped");
    }
}
