//! The node's shared state and the ingest pipeline every document goes
//! through — from a peer, from a client, or from the roster exchange:
//!
//! decode → need to know (may *this* node hold it?) → the time bound and,
//! from a person, "their own documents only" → batch signature check →
//! roster authorization → durable store → reconciliation sets → live push
//! to peers and subscribers.
//!
//! Nothing is stored unless every step passes; refusals are logged with the
//! reason and reported to the caller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use chapar_certs::{Identity, TlsMaterials};
use chapar_proto::access::Routing;
use chapar_proto::reconcile::{Item, Tree};
use chapar_proto::roster::{self, Roster, accept_update};
use chapar_proto::{
    Arrival, Body, Classification, DocId, Document, Id, Kind, Node, NodeRole, PublicKey,
    RosterError, Subject, Trust, policy, verify_batch,
};
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};

use crate::config::NodeConfig;
use crate::priority::{CatchUp, Pool, Priority, lower_current_thread};
use crate::store::{Inserted, Store, StoreError};

/// Capacity of the live channel; a session that falls this far behind is
/// closed and catches up by reconciliation when it reconnects.
pub const LIVE_CAPACITY: usize = 8192;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a batch of documents came from, for logs and to avoid echoing a
/// document back to the peer that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A peer node.
    Peer(Id),
    /// A person's client.
    Client(Id),
}

/// A document that was just stored, as pushed to live sessions.
#[derive(Debug)]
pub struct Live {
    /// The document.
    pub doc: Document,
    /// Who may hold it.
    pub routing: Routing,
    /// Higher is sent first (a roster beats FLASH beats ROUTINE).
    pub priority: u8,
    /// The peer it came from (not echoed back there).
    pub from: Option<Id>,
}

/// Priority of a document on live links: the roster first, then cables by
/// precedence, then everything else.
fn priority(doc: &Document) -> u8 {
    match doc.body() {
        Body::Roster(_) => u8::MAX,
        Body::Cable(c) => 10 + c.precedence.code(),
        Body::CableRelease(r) => 10 + r.cable().precedence.code(),
        _ => 0,
    }
}

/// What happened to a batch.
#[derive(Debug, Default, Clone)]
pub struct Ingested {
    /// Stored now.
    pub new: Vec<DocId>,
    /// Already held.
    pub duplicates: Vec<DocId>,
    /// Refused, with the reason.
    pub refused: Vec<(Option<DocId>, String)>,
}

/// A batch that passed every check and waits to be stored
/// ([`Shared::prepare`] then [`Shared::commit`]).
#[derive(Debug, Default)]
pub struct Prepared {
    out: Ingested,
    accepted: Vec<Document>,
    /// The roster version `accepted` was authorized under.
    roster_version: u64,
}

/// Which peers see the same set of documents: reconciliation sets are kept
/// per class, not per peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PeerClass {
    role: NodeRole,
    accreditation: Classification,
    mission: Id,
}

impl PeerClass {
    fn of(n: &Node) -> PeerClass {
        PeerClass {
            role: n.role,
            accreditation: n.accreditation,
            mission: n.mission.clone(),
        }
    }

    /// A node of this class, for [`Routing::allows`].
    fn as_node(&self) -> Node {
        Node {
            id: self.mission.clone(),
            mission: self.mission.clone(),
            role: self.role,
            accreditation: self.accreditation,
            signing_key: PublicKey([0; 32]),
            endpoint: None,
        }
    }
}

/// One class's reconciliation set. Reconciliation answers read the tree
/// (many at once); publishing never waits for them: it queues the new
/// items in `pending` and adds them to the tree only if no answer is
/// being computed, and every answer first adds whatever is queued. So a
/// peer that sends reconciliation messages as fast as it can delays no
/// ingest, and every answer covers every document published before it
/// started (ADR 0019).
#[derive(Default)]
struct ClassSet {
    /// `None` while the set is being built from the store.
    tree: RwLock<Option<Tree>>,
    /// Items published and not yet in `tree`.
    pending: Mutex<Vec<Item>>,
}

impl ClassSet {
    /// Adds the queued items, if any, to a built tree.
    fn drain_into(&self, tree: &mut Tree) {
        let items = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for item in items {
            tree.insert(item);
        }
    }

    /// Adds the queued items unless an answer is reading the tree (it or
    /// the next answer will), or the tree is still being built.
    fn try_drain(&self) {
        if let Ok(mut guard) = self.tree.try_write() {
            if let Some(tree) = guard.as_mut() {
                self.drain_into(tree);
            }
        }
    }
}

/// A live connection, so that a roster change can close it.
pub struct ConnEntry {
    /// Who is on the other end.
    pub identity: Identity,
    /// Their certificate serial.
    pub serial: u64,
    /// The connection.
    pub conn: quinn::Connection,
    /// Their roster entry when the connection was admitted (`None` while
    /// admitted provisionally). A different entry later — another
    /// accreditation, clearance, caption, mission — closes the connection:
    /// sessions and subscriptions captured the old one.
    pub entry: Option<Entry>,
}

/// A node's or person's roster entry, as captured by a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A node.
    Node(Node),
    /// A person.
    Person(chapar_proto::Person),
}

/// Counters and state of one peer link, for `status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PeerStatus {
    /// connecting, syncing, live, backoff, closed. `live` once the
    /// catch-up is over both ways: each end has stored everything the
    /// other held for it, and new documents are pushed as they arrive.
    pub state: String,
    /// Address dialed (outgoing links) or seen (incoming).
    pub address: String,
    /// Whether we dialed.
    pub outgoing: bool,
    /// When the last catch-up finished both ways (ms since the epoch).
    pub last_sync_ms: Option<u64>,
    /// Documents sent on this link since start: written to the QUIC
    /// stream, not yet known to be stored by the peer (which verifies and
    /// may refuse them; its own `received` and `refused` say).
    pub sent: u64,
    /// Documents received and stored from it since start.
    pub received: u64,
    /// Documents it sent that we refused.
    pub refused: u64,
    /// Last error, if any.
    pub last_error: Option<String>,
}

/// State shared by every task of a node.
pub struct Shared {
    /// This node's configuration.
    pub cfg: NodeConfig,
    /// This node's id.
    pub me: Id,
    /// The document store.
    pub store: Store,
    /// The ministry root key.
    pub root: PublicKey,
    trust: RwLock<Arc<Trust>>,
    roster_doc: RwLock<Document>,
    /// Reconciliation sets by class; the map's lock is only held to find
    /// or add a class, never while a set is read or changed.
    trees: RwLock<HashMap<PeerClass, Arc<ClassSet>>>,
    /// New documents, for live sessions and subscribers.
    pub live: broadcast::Sender<Arc<Live>>,
    /// Peer links, by peer id.
    pub peers: Mutex<HashMap<String, PeerStatus>>,
    /// Live connections.
    pub conns: Mutex<Vec<ConnEntry>>,
    /// TLS materials from the bundle (the CRL is replaced by the roster's).
    pub tls: TlsMaterials,
    /// Set when the node is stopping.
    pub shutdown: watch::Receiver<bool>,
    /// The QUIC endpoint (set once listening).
    pub endpoint: Mutex<Option<quinn::Endpoint>>,
    /// The search index and its indexer's status (set once opened).
    pub search: std::sync::OnceLock<Search>,
    /// Threads at [`Priority::Bulk`] for the large groups of catch-ups,
    /// sent and received: live documents never wait behind them for a CPU.
    pub bulk: Pool,
    /// When this node last stored a group of a catch-up (the indexer
    /// waits while one goes on).
    pub catch_up: CatchUp,
    /// The UDP receive buffer the kernel granted (bytes; 0 until listening).
    pub udp_buffer: std::sync::atomic::AtomicUsize,
    /// Replication sessions running, one per peer and direction.
    pub sessions: crate::session::Sessions,
    /// What each node or person may make this node do at once.
    pub limiter: crate::limits::Limiter,
    /// Re-checks of held documents a new roster asks for (ADR 0018).
    pub set_aside: crate::setaside::SetAside,
}

/// The node's search index and what its indexer reports.
pub struct Search {
    /// The index.
    pub index: Arc<chapar_search::SearchIndex>,
    /// The indexer's progress and errors.
    pub status: Arc<crate::indexer::IndexStatus>,
    /// Searches running at once on this node: one per core, so searches
    /// cannot take the cores and the blocking pool from ingest.
    pub running: tokio::sync::Semaphore,
}

/// Errors of roster handling.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The roster document was refused.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This node is not (or no longer) in the roster.
    #[error("node {0} is not in the roster (or is revoked): refusing to run")]
    NotListed(Id),
    /// The operating system would not start a thread.
    #[error("cannot start the bulk threads: {0}")]
    Threads(std::io::Error),
}

/// The roster in force for a node whose bundle carries `bundle_roster`:
/// the newer of it and the one the store already holds (a stored roster
/// that fails to verify is ignored, with a warning).
pub fn roster_in_force(
    store: &Store,
    root: &PublicKey,
    bundle_roster: Document,
) -> Result<(Roster, Document), StateError> {
    let mut roster = accept_update(root, None, &bundle_roster)?;
    let mut roster_doc = bundle_roster;
    if let Some(bytes) = store.get_meta(META_ROSTER)? {
        match Document::decode(&bytes)
            .map_err(RosterError::Invalid)
            .and_then(|d| accept_update(root, Some(&roster), &d).map(|r| (d, r)))
        {
            Ok((d, r)) => {
                roster = r;
                roster_doc = d;
            }
            Err(RosterError::NotNewer { .. }) => {}
            Err(e) => warn!("ignoring the stored roster: {e}"),
        }
    }
    Ok((roster, roster_doc))
}

/// Threads of [`Shared::bulk`]: one group being prepared while the
/// previous one is committed (verification itself fans out further).
const BULK_THREADS: usize = 2;

/// Name of the meta entry holding the roster in force.
const META_ROSTER: &str = "roster";

impl Shared {
    /// Builds the state: the roster in force is the newer of the bundle's
    /// and the one the store already holds.
    pub fn new(
        cfg: NodeConfig,
        store: Store,
        root: PublicKey,
        bundle_roster: Document,
        tls: TlsMaterials,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Shared, StateError> {
        let me = Id::new(cfg.node_id.as_str()).map_err(RosterError::Invalid)?;
        let (roster, roster_doc) = roster_in_force(&store, &root, bundle_roster)?;
        store.put_meta(META_ROSTER, roster_doc.as_bytes())?;
        let trust = Trust::new(root, roster);
        check_listed(&trust, &me)?;
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let limiter = crate::limits::Limiter::new(cfg.limits.clone());
        Ok(Shared {
            limiter,
            set_aside: crate::setaside::SetAside::default(),
            cfg,
            me,
            store,
            root,
            trust: RwLock::new(Arc::new(trust)),
            roster_doc: RwLock::new(roster_doc),
            trees: RwLock::new(HashMap::new()),
            live,
            peers: Mutex::new(HashMap::new()),
            conns: Mutex::new(Vec::new()),
            tls,
            shutdown,
            endpoint: Mutex::new(None),
            search: std::sync::OnceLock::new(),
            bulk: Pool::new("chapar-bulk", BULK_THREADS, Priority::Bulk)
                .map_err(StateError::Threads)?,
            catch_up: CatchUp::default(),
            udp_buffer: std::sync::atomic::AtomicUsize::new(0),
            sessions: crate::session::Sessions::default(),
        })
    }

    /// The trust (root + roster) in force.
    pub fn trust(&self) -> Arc<Trust> {
        match self.trust.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The roster document in force.
    pub fn roster_doc(&self) -> Document {
        match self.roster_doc.read() {
            Ok(d) => d.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// This node's roster entry.
    pub fn my_node(&self) -> Option<Node> {
        self.trust().roster().node(&self.me).cloned()
    }

    /// TLS materials with the CRL in force: the roster's, when it carries
    /// one (it is at least as new as the bundle's file).
    pub fn tls_now(&self) -> TlsMaterials {
        let mut m = self.tls.clone();
        let trust = self.trust();
        let crl = &trust.roster().crl;
        if !crl.is_empty() {
            m.crl_pems = vec![chapar_certs::to_pem("X509 CRL", crl)];
        }
        m
    }

    /// Whether a connection (identity and certificate serial) is allowed
    /// in now; the reason if not.
    pub fn admit(&self, identity: &Identity, serial: u64) -> Result<(), String> {
        if self
            .trust()
            .roster()
            .is_revoked(&Subject::Certificate(serial), now_ms())
        {
            return Err(format!("certificate serial {serial} is revoked"));
        }
        self.admit_identity(identity)
    }

    /// Admission of a connection before any roster exchange. Like
    /// [`Shared::admit`], except that a node or person missing from our
    /// roster is let in *provisionally*: their certificate chains to the
    /// ministry CA (rustls checked it), and they may carry a newer roster
    /// that lists them — as a new node or person joining does. Until it
    /// lists them they can deliver a roster and nothing else (the session
    /// and the RPC handler check). Anyone listed as revoked is refused here.
    pub fn admit_provisionally(&self, identity: &Identity, serial: u64) -> Result<(), String> {
        let Err(reason) = self.admit(identity, serial) else {
            return Ok(());
        };
        let trust = self.trust();
        let roster = trust.roster();
        let listed = Id::new(identity.id())
            .map(|id| match identity {
                Identity::Node(_) => roster.node(&id).is_some(),
                Identity::User(_) => roster.person(&id).is_some(),
            })
            .unwrap_or(true);
        if listed || roster.is_revoked(&Subject::Certificate(serial), now_ms()) {
            Err(reason)
        } else {
            Ok(())
        }
    }

    /// The roster entry of an identity now, if listed.
    pub fn entry_of(&self, identity: &Identity) -> Option<Entry> {
        let trust = self.trust();
        let id = Id::new(identity.id()).ok()?;
        match identity {
            Identity::Node(_) => trust.roster().node(&id).cloned().map(Entry::Node),
            Identity::User(_) => trust.roster().person(&id).cloned().map(Entry::Person),
        }
    }

    /// Whether a node or person is listed and not revoked now.
    pub fn admit_identity(&self, identity: &Identity) -> Result<(), String> {
        let trust = self.trust();
        let roster = trust.roster();
        let now = now_ms();
        let id = Id::new(identity.id()).map_err(|e| e.to_string())?;
        let (listed, subject) = match identity {
            Identity::Node(_) => (roster.node(&id).is_some(), Subject::Node(id)),
            Identity::User(_) => (roster.person(&id).is_some(), Subject::Person(id)),
        };
        if !listed {
            return Err(format!("{identity} is not in the roster"));
        }
        if roster.is_revoked(&subject, now) {
            return Err(format!("{subject} is revoked"));
        }
        Ok(())
    }

    /// Updates a peer's status entry.
    pub fn peer_status(&self, peer: &str, f: impl FnOnce(&mut PeerStatus)) {
        if let Ok(mut peers) = self.peers.lock() {
            f(peers.entry(peer.to_owned()).or_default());
        }
    }

    /// Makes sure the reconciliation set for `peer`'s class exists,
    /// building it from the store's time index (which carries each
    /// document's routing, so nothing is decoded) the first time a peer of
    /// that class connects. Blocking: call from `spawn_blocking`. No lock
    /// is held while the store is scanned; documents published meanwhile
    /// are queued and added when the build finishes.
    pub fn ensure_tree(&self, peer: &Node) -> Result<(), StoreError> {
        let class = PeerClass::of(peer);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let set = loop {
            let (set, fresh) = {
                let mut trees = self.trees.write().unwrap_or_else(|p| p.into_inner());
                match trees.get(&class) {
                    Some(set) => (set.clone(), false),
                    None => {
                        let set = Arc::new(ClassSet::default());
                        trees.insert(class.clone(), set.clone());
                        (set, true)
                    }
                }
            };
            if fresh {
                break set;
            }
            if set.tree.read().unwrap_or_else(|p| p.into_inner()).is_some() {
                return Ok(());
            }
            // Another session of the same class is building it.
            if std::time::Instant::now() > deadline {
                return Err(self.tree_error("timed out waiting for a reconciliation set"));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        match self.build_tree(&class) {
            Ok(mut tree) => {
                let mut slot = set.tree.write().unwrap_or_else(|p| p.into_inner());
                set.drain_into(&mut tree);
                info!(peer_class = ?class, items = tree.len(), "built reconciliation set");
                *slot = Some(tree);
                Ok(())
            }
            Err(e) => {
                // The next session of this class tries again.
                self.trees
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&class);
                Err(e)
            }
        }
    }

    fn build_tree(&self, class: &PeerClass) -> Result<Tree, StoreError> {
        let as_node = class.as_node();
        let mut items = Vec::new();
        for r in self.store.routed_items() {
            let r = r?;
            if r.kind != Kind::Roster && r.routing.allows(&as_node) {
                items.push(Item::new(r.created_ms, r.id));
            }
        }
        Tree::from_sorted(items).map_err(|_| self.tree_error("time index out of order"))
    }

    fn tree_error(&self, detail: &str) -> StoreError {
        StoreError::Inconsistent {
            path: self.store.path().to_owned(),
            detail: detail.into(),
        }
    }

    /// Runs `f` on the reconciliation set of documents both this node and
    /// `peer` may hold, including every document published before the
    /// call; [`Shared::ensure_tree`] must have built it. Other answers may
    /// read the set at the same time, and publishing does not wait for
    /// `f`. Blocking (it may wait for a publication's insert): call from
    /// `spawn_blocking` or the bulk threads.
    pub fn with_tree<R>(&self, peer: &Node, f: impl FnOnce(&Tree) -> R) -> Result<R, StoreError> {
        let class = PeerClass::of(peer);
        let set = self
            .trees
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&class)
            .cloned()
            .ok_or_else(|| self.tree_error("reconciliation set not built"))?;
        let queued = !set
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty();
        if queued {
            let mut slot = set.tree.write().unwrap_or_else(|p| p.into_inner());
            if let Some(tree) = slot.as_mut() {
                set.drain_into(tree);
            }
        }
        let slot = set.tree.read().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(tree) => Ok(f(tree)),
            None => Err(self.tree_error("reconciliation set not built")),
        }
    }

    /// Stores a batch of encoded documents after every check (see the
    /// module documentation). Blocking: call from `spawn_blocking`.
    pub fn ingest(&self, raw: Vec<Vec<u8>>, source: &Source) -> Ingested {
        let prepared = self.prepare(raw, source);
        self.commit(prepared, source)
    }

    /// The CPU half of [`Shared::ingest`]: decode, apply rosters, need to
    /// know, the time bound and the submitter (see the module doc), verify,
    /// authorize. A pipeline can prepare the next batch while the previous
    /// one is being committed. Blocking.
    pub fn prepare(&self, raw: Vec<Vec<u8>>, source: &Source) -> Prepared {
        let mut out = Ingested::default();
        let mut decoded = Vec::with_capacity(raw.len());
        for bytes in raw {
            match Document::decode(&bytes) {
                // Rosters first: the rest of the batch is judged by the
                // newest roster it carries.
                Ok(d) if d.kind() == Kind::Roster => {
                    let id = d.id();
                    match self.apply_roster(&d) {
                        Ok(true) => out.new.push(id),
                        Ok(false) => out.duplicates.push(id),
                        Err(e) => out.refused.push((Some(id), e.to_string())),
                    }
                }
                Ok(d) => decoded.push(d),
                Err(e) => out.refused.push((None, format!("malformed document: {e}"))),
            }
        }
        let trust = self.trust();
        let me = match trust.roster().node(&self.me) {
            Some(n) => n.clone(),
            None => {
                out.refused
                    .push((None, "this node is no longer in the roster".into()));
                return Prepared {
                    out,
                    accepted: Vec::new(),
                    roster_version: trust.roster().version,
                };
            }
        };
        let (arrival, submitter) = match source {
            Source::Client(person) => (Arrival::FirstIngest, Some(person)),
            Source::Peer(_) => (Arrival::Replication, None),
        };
        let now = now_ms();
        let mut docs = Vec::with_capacity(decoded.len());
        for d in decoded {
            let admissible = submitter
                .map_or(Ok(()), |p| trust.check_submitter(p, &d))
                .and_then(|()| policy::check_time(&d, now, arrival));
            if let Err(e) = admissible {
                out.refused.push((Some(d.id()), e.to_string()));
            } else if Routing::of(&d).allows(&me) {
                docs.push(d);
            } else {
                out.refused.push((
                    Some(d.id()),
                    format!(
                        "need to know: node {} may not hold this {}",
                        self.me,
                        d.kind()
                    ),
                ));
            }
        }
        let verdicts = verify_parallel(&docs);
        let mut accepted = Vec::with_capacity(docs.len());
        // Parents in this batch count as held (a batch may carry a page's
        // history in any order).
        let batch: HashMap<DocId, &Document> = docs.iter().map(|d| (d.id(), d)).collect();
        for (doc, verdict) in docs.iter().zip(verdicts) {
            match verdict
                .map_err(|e| e.to_string())
                .and_then(|()| trust.authorize(doc).map(|_| ()).map_err(|e| e.to_string()))
                .and_then(|()| self.check_parents(doc, &batch, submitter, &trust))
            {
                Ok(()) => accepted.push(doc.clone()),
                Err(reason) => out.refused.push((Some(doc.id()), reason)),
            }
        }
        Prepared {
            out,
            accepted,
            roster_version: trust.roster().version,
        }
    }

    /// A wiki revision may name as parents only revisions of its own page
    /// ([`chapar_proto::wiki::history::check_parent`]), judged for every
    /// parent this node holds or `batch` carries; a parent not held yet
    /// is judged by the history rule, which ignores such an edge.
    ///
    /// For a person's submission only parents they may read are judged:
    /// a refusal naming a document they may not read would tell them it
    /// exists here and what it is (an id read in a cable's references is
    /// enough to ask). The history rule ignores the edge either way.
    fn check_parents(
        &self,
        doc: &Document,
        batch: &HashMap<DocId, &Document>,
        submitter: Option<&Id>,
        trust: &Trust,
    ) -> Result<(), String> {
        let chapar_proto::Body::WikiRevision(rev) = doc.body() else {
            return Ok(());
        };
        let person = match submitter {
            Some(id) => match trust.roster().person(id) {
                Some(p) => Some(p),
                // check_submitter has already refused an unknown person.
                None => return Err(format!("{id} is not in the roster")),
            },
            None => None,
        };
        for parent in &rev.parents {
            let held = match batch.get(parent) {
                Some(d) => Some((*d).clone()),
                None => self
                    .store
                    .get(parent)
                    .map_err(|e| format!("store failed reading a parent revision: {e}"))?,
            };
            let Some(p) = held else { continue };
            if person.is_some_and(|who| !chapar_proto::access::person_may_read(who, &p)) {
                continue;
            }
            chapar_proto::wiki::history::check_parent(rev, *parent, p.body())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The I/O half of [`Shared::ingest`]: store durably, then publish.
    /// Blocking.
    pub fn commit(&self, prepared: Prepared, source: &Source) -> Ingested {
        let Prepared {
            mut out,
            mut accepted,
            roster_version,
        } = prepared;
        // A roster accepted since the batch was prepared may refuse some
        // of it. The roster cannot change again until the batch is stored
        // (its switch waits for this guard), so a re-check of held
        // documents it starts (ADR 0018) sees this batch.
        let trust = self.trust.read().unwrap_or_else(|p| p.into_inner());
        if trust.roster().version != roster_version {
            accepted.retain(|doc| match trust.authorize(doc) {
                Ok(_) => true,
                Err(e) => {
                    out.refused.push((Some(doc.id()), e.to_string()));
                    false
                }
            });
        }
        if !accepted.is_empty() {
            match self.store.insert_batch(&accepted) {
                Ok(results) => {
                    let mut fresh = Vec::new();
                    for (doc, r) in accepted.into_iter().zip(results) {
                        match r {
                            Inserted::New => {
                                out.new.push(doc.id());
                                fresh.push(doc);
                            }
                            Inserted::Duplicate => out.duplicates.push(doc.id()),
                        }
                    }
                    self.publish(fresh, source);
                }
                Err(e) => {
                    for d in &accepted {
                        out.refused
                            .push((Some(d.id()), format!("store failed: {e}")));
                    }
                }
            }
        }
        drop(trust);
        for (id, reason) in &out.refused {
            warn!(from = ?source, doc = ?id, "refused: {reason}");
        }
        out
    }

    /// Adds freshly stored documents to the reconciliation sets and pushes
    /// them to live sessions.
    fn publish(&self, fresh: Vec<Document>, source: &Source) {
        let routed: Vec<(Document, Routing)> = fresh
            .into_iter()
            .map(|d| {
                let r = Routing::of(&d);
                (d, r)
            })
            .collect();
        // Queue, then insert if no reconciliation answer is reading the
        // set: publishing never waits for a peer's reconciliation.
        let sets: Vec<(Node, Arc<ClassSet>)> = self
            .trees
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(class, set)| (class.as_node(), set.clone()))
            .collect();
        for (as_node, set) in sets {
            let items: Vec<Item> = routed
                .iter()
                .filter(|(_, r)| r.allows(&as_node))
                .map(|(d, _)| Item::new(d.created_ms(), d.id()))
                .collect();
            if items.is_empty() {
                continue;
            }
            set.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(items);
            set.try_drain();
        }
        let from = match source {
            Source::Peer(p) => Some(p.clone()),
            Source::Client(_) => None,
        };
        for (doc, routing) in routed {
            let _ = self.live.send(Arc::new(Live {
                priority: priority(&doc),
                doc,
                routing,
                from: from.clone(),
            }));
        }
    }

    /// Accepts a newer roster: persists it, puts it in force, applies its
    /// CRL to new handshakes, closes connections it revokes, and pushes it
    /// to every peer. `Ok(false)` if it is not newer.
    pub fn apply_roster(&self, doc: &Document) -> Result<bool, StateError> {
        let current = self.trust();
        let roster = match accept_update(&self.root, Some(current.roster()), doc) {
            Ok(r) => r,
            Err(RosterError::NotNewer { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let version = roster.version;
        let trust = Arc::new(Trust::new(self.root, roster));
        {
            // Version check, persistence and the switch happen under one
            // lock: two rosters arriving together can never leave the older
            // one saved or advertised.
            let mut t = self.trust.write().unwrap_or_else(|p| p.into_inner());
            if t.roster().version >= version {
                return Ok(false);
            }
            self.store.put_meta(META_ROSTER, doc.as_bytes())?;
            *self.roster_doc.write().unwrap_or_else(|p| p.into_inner()) = doc.clone();
            *t = trust.clone();
        }
        info!(version, "roster updated");
        if let Some(since) = roster::affected_since(current.roster(), trust.roster()) {
            self.set_aside.request(since);
        }
        if let Err(e) = check_listed(&trust, &self.me) {
            warn!("{e}");
        }
        self.refresh_tls();
        self.close_revoked();
        let _ = self.live.send(Arc::new(Live {
            priority: u8::MAX,
            routing: Routing::of(doc),
            doc: doc.clone(),
            from: None,
        }));
        Ok(true)
    }

    /// Takes documents set aside out of the reconciliation sets (ADR 0018).
    pub fn forget(&self, docs: &[Document]) {
        let sets: Vec<Arc<ClassSet>> = self
            .trees
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for set in sets {
            let mut slot = set.tree.write().unwrap_or_else(|p| p.into_inner());
            match slot.as_mut() {
                Some(tree) => {
                    set.drain_into(tree);
                    for d in docs {
                        tree.remove(&Item::new(d.created_ms(), d.id()));
                    }
                }
                // Being built from the store's index, which no longer
                // lists them; only what was queued meanwhile can.
                None => {
                    let ids: std::collections::HashSet<DocId> =
                        docs.iter().map(Document::id).collect();
                    set.pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retain(|item| !ids.contains(&item.id));
                }
            }
        }
    }

    /// New handshakes use the roster's CRL from now on.
    fn refresh_tls(&self) {
        let guard = self.endpoint.lock().unwrap_or_else(|p| p.into_inner());
        let Some(endpoint) = guard.as_ref() else {
            return;
        };
        match crate::net::server_config(&self.tls_now()) {
            Ok(cfg) => endpoint.set_server_config(Some(cfg)),
            Err(e) => warn!("keeping the previous TLS configuration: {e}"),
        }
    }

    /// Closes every connection the roster in force no longer admits.
    pub fn close_revoked(&self) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain_mut(|c| {
            if c.conn.close_reason().is_some() {
                return false;
            }
            // Revoked: out. Listed when admitted and no longer listed, or
            // listed with a different entry: out (sessions captured the old
            // entry). Still unlisted: stays provisional — rosters arrive in
            // any order, and a newer one may list it. Newly listed: its
            // entry is recorded from now on.
            let verdict = self
                .admit_provisionally(&c.identity, c.serial)
                .and_then(|()| match (&c.entry, self.entry_of(&c.identity)) {
                    (Some(_), None) => Err(format!("{} left the roster", c.identity)),
                    (Some(then), Some(now)) if *then != now => Err(format!(
                        "{}'s roster entry changed; it must reconnect",
                        c.identity
                    )),
                    (None, now) => {
                        c.entry = now;
                        Ok(())
                    }
                    _ => Ok(()),
                });
            match verdict {
                Ok(()) => true,
                Err(reason) => {
                    warn!(peer = %c.identity, "closing connection: {reason}");
                    c.conn
                        .close(crate::net::CLOSE_REVOKED.into(), reason.as_bytes());
                    false
                }
            }
        });
    }

    /// Registers a connection for revocation checks. Admission is checked
    /// again under the registry's lock, so a roster applied between the
    /// handshake and this call cannot be missed.
    pub fn register(
        &self,
        identity: Identity,
        serial: u64,
        conn: quinn::Connection,
    ) -> Result<(), String> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| c.conn.close_reason().is_none());
        self.admit_provisionally(&identity, serial)?;
        let entry = self.entry_of(&identity);
        conns.push(ConnEntry {
            identity,
            serial,
            conn,
            entry,
        });
        Ok(())
    }
}

/// Below this many documents one core verifies faster than two threads.
const PARALLEL_VERIFY_MIN: usize = 256;

/// [`verify_batch`] spread over the machine's cores, on fresh threads at
/// [`Priority::Bulk`].
fn verify_parallel(docs: &[Document]) -> Vec<Result<(), chapar_proto::VerifyError>> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if cores < 2 || docs.len() < PARALLEL_VERIFY_MIN {
        return verify_batch(docs);
    }
    let chunk = docs.len().div_ceil(cores);
    std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|c| {
                (
                    c.len(),
                    s.spawn(move || {
                        lower_current_thread(Priority::Bulk);
                        verify_batch(c)
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(len, h)| {
                h.join()
                    .unwrap_or_else(|_| vec![Err(chapar_proto::VerifyError::BadSignature); len])
            })
            .collect()
    })
}

fn check_listed(trust: &Trust, me: &Id) -> Result<(), StateError> {
    let listed = trust.roster().node(me).is_some()
        && !trust
            .roster()
            .is_revoked(&Subject::Node(me.clone()), now_ms());
    if listed {
        Ok(())
    } else {
        Err(StateError::NotListed(me.clone()))
    }
}
