//! One replication session with a peer node, over one bidirectional
//! stream: `Hello` both ways, the newer roster first, then range-based
//! reconciliation over the documents both nodes may hold (documents the
//! peer lacks are sent, documents we lack are asked for with `Want`), then
//! live push of every new document, most urgent first.
//!
//! Reading and writing run as two tasks: the reader handles what arrives
//! (reconciliation, requests, documents — stored as they come, so an
//! interrupted transfer resumes from what already arrived), the writer
//! sends control messages first, then live documents by priority, then the
//! bulk of catch-up in batches. Need to know is checked on the way out:
//! nothing leaves for a peer that may not hold it.

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chapar_proto::reconcile::{ReconcileConfig, ReconcileError, Reconciler};
use chapar_proto::wire::{MAX_WANT, Message, PROTOCOL_VERSION};
use chapar_proto::{DocId, Id, Kind, Node};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::frames::{self, FramedError};
use crate::state::{Live, Shared, Source, now_ms};
use crate::store::StoreError;

/// Documents per catch-up batch, and the byte budget of one batch.
const BATCH_DOCS: usize = 256;
const BATCH_BYTES: usize = 4 << 20;
/// Most documents the ingest worker verifies and stores in one group
/// (one flush); frames waiting beyond that start the next group.
const GROUP_DOCS: usize = 1024;
/// Control messages waiting for the writer; the reader stops reading when
/// the writer cannot keep up (a peer that never reads cannot grow it).
const CTL_QUEUE: usize = 1024;
/// Most document ids a peer may have waiting to be sent to it (requested
/// or found missing); asking for more is a protocol violation.
const MAX_BULK: usize = 1 << 21;
/// Groups of at most this many documents are live pushes, stored at normal
/// priority; larger ones are a catch-up, stored on the bulk threads.
const LIVE_GROUP: usize = 16;
/// Received frames waiting for the ingest worker; the reader stops
/// reading (back-pressure through QUIC flow control) when it is full.
const INGEST_QUEUE: usize = 64;
/// Most bytes of received documents a session holds at once, from the
/// moment they are read until they are stored (queued, being verified,
/// being written): what one peer can make this node buffer, whatever its
/// frames' sizes. A catch-up keeps well under it (a group is ~2 MB); a
/// single document of up to `MAX_DOCUMENT` always fits.
const INGEST_BYTES: usize = 64 << 20;

/// Why a session ended badly.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Framing or transport.
    #[error(transparent)]
    Framed(#[from] FramedError),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Reconciliation refused a message.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The peer is not (or no longer) allowed.
    #[error("peer refused: {0}")]
    Refused(String),
    /// The peer fell too far behind the live stream; it resyncs by
    /// reconciliation on its next connection.
    #[error("peer fell {0} documents behind; closing so it resyncs")]
    Lagged(u64),
    /// The same peer started another session in the same direction (a
    /// reconnect, or a misbehaving peer): the newer one goes on.
    #[error("superseded by a newer session with the same peer")]
    Superseded,
    /// No answer in time.
    #[error("peer silent for too long during {0}")]
    Timeout(&'static str),
    /// A worker task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Runs a session until the connection ends, recording the outcome.
pub async fn run(
    shared: Arc<Shared>,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    peer: Id,
    initiator: bool,
    first: Option<Message>,
) {
    let result = session(&shared, send, recv, &peer, initiator, first).await;
    match &result {
        Ok(()) => debug!(%peer, "session closed"),
        // The newer session owns the peer's status now.
        Err(SessionError::Superseded) => {
            info!(%peer, "session superseded by a newer one with the same peer");
            return;
        }
        Err(e) => {
            warn!(%peer, "session ended: {e}");
            shared.peer_status(peer.as_str(), |s| s.last_error = Some(e.to_string()));
            let code = match e {
                SessionError::Protocol(_) | SessionError::Reconcile(_) => {
                    Some(crate::net::CLOSE_PROTOCOL)
                }
                SessionError::Framed(FramedError::Frame(_) | FramedError::Truncated) => {
                    Some(crate::net::CLOSE_PROTOCOL)
                }
                SessionError::Refused(_) => Some(crate::net::CLOSE_REVOKED),
                _ => None,
            };
            if let Some(code) = code {
                conn.close(code.into(), e.to_string().as_bytes());
            }
        }
    }
    shared.peer_status(peer.as_str(), |s| s.state = "closed".into());
}

/// The replication sessions running: at most one per peer and direction.
/// A newer one (usually a reconnect whose old connection has not timed
/// out yet) ends the older, so a peer cannot make this node run sessions,
/// each with its buffers and live subscription, without bound.
#[derive(Default)]
pub struct Sessions {
    running: Mutex<HashMap<Way, Registered>>,
    /// Each peer's reconciliation budget between its sessions, so that
    /// reconnecting does not refill it.
    paces: Mutex<HashMap<Way, Pace>>,
    next: AtomicU64,
}

/// A peer and a direction (`initiator`: we dialed).
type Way = (Id, bool);

/// The session running one [`Way`]: its number, and how to stop it.
struct Registered {
    id: u64,
    superseded: Arc<Notify>,
}

impl Sessions {
    /// Registers a session with `peer` (`initiator`: we dialed), ending the
    /// one it replaces; the session stops when the claim's `superseded`
    /// fires, and unregisters when the claim is dropped.
    fn claim(&self, peer: &Id, initiator: bool) -> Claim<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let superseded = Arc::new(Notify::new());
        let key = (peer.clone(), initiator);
        let old = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key.clone(),
                Registered {
                    id,
                    superseded: superseded.clone(),
                },
            );
        if let Some(old) = old {
            // A permit: the old session sees it even if not waiting yet.
            old.superseded.notify_one();
        }
        Claim {
            sessions: self,
            key,
            id,
            superseded,
        }
    }

    /// The reconciliation budget a new session with `peer` starts with:
    /// what its previous one left, or a full one.
    fn pace(&self, peer: &Id, initiator: bool) -> Pace {
        self.paces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(peer.clone(), initiator))
            .unwrap_or_else(Pace::new)
    }

    /// Keeps what a session leaves of its budget for the next one.
    fn keep_pace(&self, peer: &Id, initiator: bool, pace: Pace) {
        self.paces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((peer.clone(), initiator), pace);
    }

    /// How many sessions with `peer` are running: 0, 1 or 2 (one each
    /// way). The status shows it for each peer.
    pub fn with(&self, peer: &str) -> usize {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|(id, _)| id.as_str() == peer)
            .count()
    }
}

/// One running session's place in [`Sessions`].
struct Claim<'a> {
    sessions: &'a Sessions,
    key: Way,
    id: u64,
    superseded: Arc<Notify>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut running = self
            .sessions
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if running.get(&self.key).is_some_and(|r| r.id == self.id) {
            running.remove(&self.key);
        }
    }
}

/// Ids waiting to be sent in bulk, and how far the catch-up has come:
/// shared by the session's reader and writer.
#[derive(Default)]
struct Bulk {
    queue: Mutex<VecDeque<DocId>>,
    /// Wakes the writer: ids were queued, or reconciliation ended.
    notify: Notify,
    /// Reconciliation is over: every id the peer lacks has been queued.
    /// The writer announces `CaughtUp` once it has sent them all.
    reconciled: AtomicBool,
    /// We announced `CaughtUp`: the peer has everything we had for it.
    sent_all: AtomicBool,
    /// The peer announced `CaughtUp`: we have everything it had for us.
    got_all: AtomicBool,
}

impl Bulk {
    fn push(&self, ids: impl IntoIterator<Item = DocId>) -> Result<(), SessionError> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let before = q.len();
        q.extend(ids);
        if q.len() > MAX_BULK {
            return Err(SessionError::Protocol(format!(
                "peer has more than {MAX_BULK} documents waiting to be sent"
            )));
        }
        if q.len() > before {
            self.notify.notify_one();
        }
        Ok(())
    }

    fn take(&self, n: usize) -> Vec<DocId> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let n = n.min(q.len());
        q.drain(..n).collect()
    }

    fn is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Reconciliation is over; the writer sends `CaughtUp` after what is
    /// queued.
    fn reconciled(&self) {
        if !self.reconciled.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// Records one direction of the catch-up as done; once both are, the
    /// link is live and its last sync is now.
    fn caught_up(&self, shared: &Shared, peer: &str, done: &AtomicBool) {
        done.store(true, Ordering::SeqCst);
        if self.sent_all.load(Ordering::SeqCst) && self.got_all.load(Ordering::SeqCst) {
            shared.peer_status(peer, |s| {
                s.state = "live".into();
                s.last_sync_ms = Some(now_ms());
            });
        }
    }
}

async fn session(
    shared: &Arc<Shared>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    peer: &Id,
    initiator: bool,
    first: Option<Message>,
) -> Result<(), SessionError> {
    // Subscribe before reconciling, so nothing stored meanwhile is missed.
    let live = shared.live.subscribe();
    let trust = shared.trust();
    let my_version = trust.roster().version;
    frames::write(
        &mut send,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            node: shared.me.clone(),
            roster_version: my_version,
        },
    )
    .await?;
    let hello = match first {
        Some(m) => m,
        None => read_timeout(&mut recv, "hello").await?,
    };
    let Message::Hello {
        protocol,
        node,
        roster_version,
    } = hello
    else {
        return Err(SessionError::Protocol(format!(
            "expected Hello, got {}",
            hello.name()
        )));
    };
    if protocol != PROTOCOL_VERSION {
        return Err(SessionError::Protocol(format!(
            "peer speaks protocol {protocol}, this node {PROTOCOL_VERSION}"
        )));
    }
    if &node != peer {
        return Err(SessionError::Protocol(format!(
            "peer says it is {node} but its certificate says {peer}"
        )));
    }
    let claim = shared.sessions.claim(peer, initiator);
    // The roster goes first: whoever holds the newer one sends it.
    if my_version > roster_version {
        frames::write(
            &mut send,
            &Message::Roster {
                document: shared.roster_doc().into_bytes(),
            },
        )
        .await?;
    } else if roster_version > my_version {
        match read_timeout(&mut recv, "roster").await? {
            Message::Roster { document } => {
                // The peer may not be in our roster yet: a roster is all it
                // may deliver before the exchange is over.
                let is_roster = chapar_proto::Document::decode(&document)
                    .is_ok_and(|d| d.kind() == Kind::Roster);
                if !is_roster {
                    return Err(SessionError::Protocol(
                        "a Roster frame that does not hold a roster".into(),
                    ));
                }
                let out = ingest(shared, vec![document], peer).await?;
                if let Some((_, reason)) = out.refused.first() {
                    return Err(SessionError::Refused(format!(
                        "its roster was refused: {reason}"
                    )));
                }
            }
            other => {
                return Err(SessionError::Protocol(format!(
                    "expected Roster, got {}",
                    other.name()
                )));
            }
        }
    }
    let peer_node = peer_entry(shared, peer)?;
    shared.peer_status(peer.as_str(), |s| s.state = "syncing".into());
    {
        let sh = shared.clone();
        let node = peer_node.clone();
        tokio::task::spawn_blocking(move || sh.ensure_tree(&node))
            .await
            .map_err(|e| SessionError::Internal(e.to_string()))??;
    }

    let (ctl, ctl_rx) = mpsc::channel::<Message>(CTL_QUEUE);
    let bulk = Arc::new(Bulk::default());
    let mut writer = tokio::spawn(writer(
        shared.clone(),
        send,
        ctl_rx,
        bulk.clone(),
        live,
        peer_node.clone(),
    ));
    // Received documents are stored by a worker that groups whatever has
    // arrived into one verification and one flush, while the reader goes
    // on receiving.
    let (to_ingest, ingest_rx) = mpsc::channel::<Inbound>(INGEST_QUEUE);
    let budget = Arc::new(Semaphore::new(INGEST_BYTES));
    let ingester = tokio::spawn(ingest_worker(
        shared.clone(),
        peer.clone(),
        bulk.clone(),
        ingest_rx,
    ));
    let mut rec = Some(Reconciler::new(ReconcileConfig::default()));
    let mut pace = shared.sessions.pace(peer, initiator);
    let mut shutdown = shared.shutdown.clone();
    // Every exit, `?` included, leaves this block and reaches the cleanup
    // below: the writer stops and everything received is stored.
    let result: Result<(), SessionError> = async {
        if initiator {
            let first = reconcile(shared, &peer_node, &mut rec, &mut pace, None)
                .await?
                .reply
                .unwrap_or_default();
            send_ctl(&ctl, Message::Reconcile { payload: first }).await?;
        }
        loop {
            let msg = tokio::select! {
                m = frames::read(&mut recv) => m,
                _ = shutdown.changed() => break Ok(()),
                _ = claim.superseded.notified() => break Err(SessionError::Superseded),
                w = &mut writer => {
                    break match w {
                        Ok(r) => r,
                        Err(e) => Err(SessionError::Internal(e.to_string())),
                    };
                }
            };
            let msg = match msg {
                Ok(m) => m,
                Err(FramedError::Closed) => break Ok(()),
                Err(e) => break Err(e.into()),
            };
            match msg {
                Message::Reconcile { payload } => {
                    let step =
                        reconcile(shared, &peer_node, &mut rec, &mut pace, Some(payload)).await?;
                    bulk.push(step.have.iter().map(|i| i.id))?;
                    for chunk in step.need.chunks(MAX_WANT) {
                        send_ctl(
                            &ctl,
                            Message::Want {
                                ids: chunk.iter().map(|i| i.id).collect(),
                            },
                        )
                        .await?;
                    }
                    match step.reply {
                        Some(reply) => {
                            send_ctl(&ctl, Message::Reconcile { payload: reply }).await?
                        }
                        // The `Want`s above are queued first, so the peer
                        // learns what we lack before it hears we are done.
                        None => bulk.reconciled(),
                    }
                }
                Message::Want { ids } => bulk.push(ids)?,
                Message::Documents { documents } => {
                    let held = Held::take(&budget, documents).await?;
                    if to_ingest.send(Inbound::Documents(held)).await.is_err() {
                        break Err(SessionError::Internal("ingest worker stopped".into()));
                    }
                }
                Message::Roster { document } => {
                    let held = Held::take(&budget, vec![document]).await?;
                    if to_ingest.send(Inbound::Documents(held)).await.is_err() {
                        break Err(SessionError::Internal("ingest worker stopped".into()));
                    }
                }
                Message::CaughtUp => {
                    // It has seen all of our `Want`s, and everything it had
                    // for us arrived before this on this stream: recorded
                    // once the ingest worker has stored it.
                    bulk.reconciled();
                    if to_ingest.send(Inbound::CaughtUp).await.is_err() {
                        break Err(SessionError::Internal("ingest worker stopped".into()));
                    }
                }
                other => {
                    break Err(SessionError::Protocol(format!(
                        "unexpected {} on a replication stream",
                        other.name()
                    )));
                }
            }
        }
    }
    .await;
    drop(ctl);
    writer.abort();
    shared.sessions.keep_pace(peer, initiator, pace);
    // Whatever was received is stored before the session is over.
    drop(to_ingest);
    if let Err(e) = ingester.await {
        warn!(%peer, "ingest worker failed: {e}");
    }
    result
}

/// Share of one core a peer may spend answering reconciliation, on
/// average, and the burst it may spend at once. An honest catch-up of
/// 10^6 documents spends about a second in all (a few ms a message), so
/// it never waits; a peer sending messages as fast as it can is slowed to
/// this share instead of taking a core (ADR 0019).
const RECONCILE_SHARE: f64 = 0.25;
const RECONCILE_BURST: Duration = Duration::from_secs(2);
/// Reconciliation messages a peer may have answered per second on
/// average, and at once: each answer is up to 64 KiB to send. Reconciling
/// 10^6 documents with 10,000 differences takes 126 messages (docs/
/// benchmarks.md); a fresh node's catch-up, two.
const RECONCILE_RATE: f64 = 50.0;
const RECONCILE_MESSAGES: f64 = 1000.0;

/// A peer's budget of reconciliation work, kept from one session to the
/// next: time credit grows at [`RECONCILE_SHARE`] of the time that
/// passes, up to [`RECONCILE_BURST`], and each answer spends the time it
/// took; message credit grows at [`RECONCILE_RATE`] a second, up to
/// [`RECONCILE_MESSAGES`], and each answer spends one.
#[derive(Debug)]
struct Pace {
    credit: f64,
    messages: f64,
    at: std::time::Instant,
}

impl Pace {
    fn new() -> Pace {
        Pace {
            credit: RECONCILE_BURST.as_secs_f64(),
            messages: RECONCILE_MESSAGES,
            at: std::time::Instant::now(),
        }
    }

    /// How long to wait before the next answer (zero while in credit).
    fn wait(&mut self) -> Duration {
        self.wait_at(std::time::Instant::now())
    }

    fn wait_at(&mut self, now: std::time::Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.credit = (self.credit + elapsed * RECONCILE_SHARE).min(RECONCILE_BURST.as_secs_f64());
        self.messages = (self.messages + elapsed * RECONCILE_RATE).min(RECONCILE_MESSAGES);
        let for_time = (-self.credit).max(0.0) / RECONCILE_SHARE;
        let for_messages = (1.0 - self.messages).max(0.0) / RECONCILE_RATE;
        Duration::from_secs_f64(for_time.max(for_messages))
    }

    fn spend(&mut self, took: Duration) {
        self.credit -= took.as_secs_f64();
        self.messages -= 1.0;
    }
}

/// Computes the first reconciliation message (`payload: None`) or the
/// answer to the peer's, on the blocking threads, within the session's
/// [`Pace`]: the work is O(message size x log n) and an id list can make
/// it walk the whole set, so it never runs on the async threads, and it
/// holds no lock that ingest needs.
async fn reconcile(
    shared: &Arc<Shared>,
    peer: &Node,
    rec: &mut Option<Reconciler>,
    pace: &mut Pace,
    payload: Option<Vec<u8>>,
) -> Result<chapar_proto::reconcile::Step, SessionError> {
    let wait = pace.wait();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let mut r = rec
        .take()
        .ok_or_else(|| SessionError::Internal("reconciliation state lost".into()))?;
    let (sh, node) = (shared.clone(), peer.clone());
    let (r, took, out) = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        let out = sh.with_tree(&node, |tree| match &payload {
            None => Ok(chapar_proto::reconcile::Step {
                reply: Some(r.initiate(tree)),
                ..Default::default()
            }),
            Some(p) => r.respond(tree, p),
        });
        (r, t.elapsed(), out)
    })
    .await
    .map_err(|e| SessionError::Internal(e.to_string()))?;
    *rec = Some(r);
    pace.spend(took);
    Ok(out??)
}

/// Received documents and their share of the session's [`INGEST_BYTES`],
/// given back when they are stored (or dropped).
struct Held {
    documents: Vec<Vec<u8>>,
    bytes: OwnedSemaphorePermit,
}

impl Held {
    /// Waits until the session may hold `documents` (the reader stops
    /// reading meanwhile, so QUIC flow control holds the peer back).
    async fn take(budget: &Arc<Semaphore>, documents: Vec<Vec<u8>>) -> Result<Held, SessionError> {
        let bytes: usize = documents.iter().map(Vec::len).sum();
        let permits = u32::try_from(bytes.min(INGEST_BYTES)).unwrap_or(u32::MAX);
        let bytes = budget
            .clone()
            .acquire_many_owned(permits)
            .await
            .map_err(|_| SessionError::Internal("ingest budget closed".into()))?;
        Ok(Held { documents, bytes })
    }
}

/// What the session's reader hands its ingest worker, in arrival order.
enum Inbound {
    /// Documents (or a roster) as received.
    Documents(Held),
    /// The peer said it has sent everything we lacked.
    CaughtUp,
}

/// What the ingest worker hands its committer, in arrival order.
enum ToCommit {
    /// A verified group, whether it is part of a catch-up, and the budget
    /// it holds until stored.
    Group(crate::state::Prepared, bool, Vec<OwnedSemaphorePermit>),
    /// Everything before it is stored: the peer's catch-up is done.
    CaughtUp,
}

/// Stores what a peer sends, grouping the frames that are waiting, as a
/// two-stage pipeline: while one group is being stored (disk), the next is
/// being verified (CPU). Large groups (a catch-up) are prepared and stored
/// on the bulk threads; small ones (live pushes) at normal priority, so a
/// cable is never behind a catch-up for a CPU.
async fn ingest_worker(
    shared: Arc<Shared>,
    peer: Id,
    phase: Arc<Bulk>,
    mut rx: mpsc::Receiver<Inbound>,
) {
    let (to_commit, mut committing) = mpsc::channel::<ToCommit>(1);
    let committer = {
        let shared = shared.clone();
        let peer = peer.clone();
        tokio::spawn(async move {
            while let Some(next) = committing.recv().await {
                let (prepared, bulk, _budget) = match next {
                    ToCommit::Group(prepared, bulk, budget) => (prepared, bulk, budget),
                    ToCommit::CaughtUp => {
                        // Every group before it is stored.
                        phase.caught_up(&shared, peer.as_str(), &phase.got_all);
                        continue;
                    }
                };
                let sh = shared.clone();
                let source = Source::Peer(peer.clone());
                let commit = move || sh.commit(prepared, &source);
                match off_thread(&shared, bulk, "store", commit).await {
                    Ok(out) => {
                        if bulk && !out.new.is_empty() {
                            shared.catch_up.mark();
                        }
                        shared.peer_status(peer.as_str(), |s| {
                            s.received += out.new.len() as u64;
                            s.refused += out.refused.len() as u64;
                        })
                    }
                    Err(e) => warn!(%peer, "store task failed: {e}"),
                }
            }
        })
    };
    // A `CaughtUp` found while grouping waits for the group to go first.
    let mut held_back: Option<Inbound> = None;
    loop {
        let next = match held_back.take() {
            Some(n) => n,
            None => match rx.recv().await {
                Some(n) => n,
                None => break,
            },
        };
        let (mut group, mut budget) = match next {
            Inbound::Documents(h) => (h.documents, vec![h.bytes]),
            Inbound::CaughtUp => {
                if to_commit.send(ToCommit::CaughtUp).await.is_err() {
                    break;
                }
                continue;
            }
        };
        while group.len() < GROUP_DOCS {
            match rx.try_recv() {
                Ok(Inbound::Documents(more)) => {
                    group.extend(more.documents);
                    budget.push(more.bytes);
                }
                Ok(marker) => {
                    held_back = Some(marker);
                    break;
                }
                Err(_) => break,
            }
        }
        let bulk = group.len() > LIVE_GROUP;
        if bulk {
            // Before it is stored, so the indexer does not wake for it.
            shared.catch_up.mark();
        }
        let sh = shared.clone();
        let source = Source::Peer(peer.clone());
        let prepare = move || sh.prepare(group, &source);
        match off_thread(&shared, bulk, "verify", prepare).await {
            Ok(prepared) => {
                if to_commit
                    .send(ToCommit::Group(prepared, bulk, budget))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(e) => warn!(%peer, "verification task failed: {e}"),
        }
    }
    drop(to_commit);
    if let Err(e) = committer.await {
        warn!(%peer, "store task failed: {e}");
    }
}

/// Runs blocking work off the async threads: on the bulk threads if it is
/// part of a catch-up, else on tokio's blocking pool at normal priority.
async fn off_thread<T: Send + 'static>(
    shared: &Shared,
    bulk: bool,
    what: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    if bulk {
        shared.bulk.run(what, f).await.map_err(|e| e.to_string())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
    }
}

async fn send_ctl(ctl: &mpsc::Sender<Message>, m: Message) -> Result<(), SessionError> {
    ctl.send(m)
        .await
        .map_err(|_| SessionError::Internal("writer stopped".into()))
}

async fn read_timeout(
    recv: &mut quinn::RecvStream,
    what: &'static str,
) -> Result<Message, SessionError> {
    timeout(Duration::from_secs(30), frames::read(recv))
        .await
        .map_err(|_| SessionError::Timeout(what))?
        .map_err(Into::into)
}

fn peer_entry(shared: &Shared, peer: &Id) -> Result<Node, SessionError> {
    let trust = shared.trust();
    let node = trust
        .roster()
        .node(peer)
        .cloned()
        .ok_or_else(|| SessionError::Refused(format!("node {peer} is not in the roster")))?;
    if trust
        .roster()
        .is_revoked(&chapar_proto::Subject::Node(peer.clone()), now_ms())
    {
        return Err(SessionError::Refused(format!("node {peer} is revoked")));
    }
    Ok(node)
}

/// Stores what a peer sent (off the async threads) and counts it.
async fn ingest(
    shared: &Arc<Shared>,
    documents: Vec<Vec<u8>>,
    peer: &Id,
) -> Result<crate::state::Ingested, SessionError> {
    let sh = shared.clone();
    let source = Source::Peer(peer.clone());
    let out = tokio::task::spawn_blocking(move || sh.ingest(documents, &source))
        .await
        .map_err(|e| SessionError::Internal(e.to_string()))?;
    shared.peer_status(peer.as_str(), |s| {
        s.received += out.new.len() as u64;
        s.refused += out.refused.len() as u64;
    });
    Ok(out)
}

/// A live document waiting to be sent: most urgent first, then oldest.
struct Queued {
    priority: u8,
    seq: std::cmp::Reverse<u64>,
    live: Arc<Live>,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.priority, self.seq) == (o.priority, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.priority, self.seq).cmp(&(o.priority, o.seq))
    }
}

async fn writer(
    shared: Arc<Shared>,
    mut send: quinn::SendStream,
    mut ctl: mpsc::Receiver<Message>,
    bulk: Arc<Bulk>,
    mut live: broadcast::Receiver<Arc<Live>>,
    peer: Node,
) -> Result<(), SessionError> {
    let mut heap: BinaryHeap<Queued> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut sent: HashSet<DocId> = HashSet::new();
    let mut loading: Option<Loading> = None;
    let wanted = |l: &Live| l.from.as_ref() != Some(&peer.id) && l.routing.allows(&peer);
    loop {
        // Control messages first: they keep reconciliation moving.
        while let Ok(m) = ctl.try_recv() {
            frames::write(&mut send, &m).await?;
        }
        loop {
            match live.try_recv() {
                Ok(l) if wanted(&l) => {
                    seq += 1;
                    heap.push(Queued {
                        priority: l.priority,
                        seq: std::cmp::Reverse(seq),
                        live: l,
                    });
                }
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    return Err(SessionError::Lagged(n));
                }
                Err(broadcast::error::TryRecvError::Closed) => return Ok(()),
            }
        }
        if let Some(q) = heap.pop() {
            let doc = &q.live.doc;
            if sent.insert(doc.id()) {
                let m = if doc.kind() == Kind::Roster {
                    Message::Roster {
                        document: doc.as_bytes().to_vec(),
                    }
                } else {
                    Message::Documents {
                        documents: vec![doc.as_bytes().to_vec()],
                    }
                };
                frames::write(&mut send, &m).await?;
                shared.peer_status(peer.id.as_str(), |s| s.sent += 1);
            }
            continue;
        }
        let next = match loading.take() {
            Some(l) => Some(l),
            None => start_load(&shared, &peer, &bulk, &mut sent),
        };
        if let Some(l) = next {
            let frames = l
                .await
                .map_err(|e| SessionError::Internal(e.to_string()))??;
            // Load the next batch while this one goes out.
            loading = start_load(&shared, &peer, &bulk, &mut sent);
            for (frame, n) in frames {
                send.write_all(&frame)
                    .await
                    .map_err(|e| SessionError::Framed(e.into()))?;
                shared.peer_status(peer.id.as_str(), |s| s.sent += n);
            }
            continue;
        }
        // Nothing left to send: once reconciliation is over, say so, after
        // the last document it found missing (even on a link where the
        // peer then stays silent).
        // `reconciled` is set after the last ids were queued: read it first,
        // then make sure none arrived since the queue was last looked at.
        if bulk.reconciled.load(Ordering::SeqCst)
            && !bulk.sent_all.load(Ordering::SeqCst)
            && bulk.is_empty()
        {
            // Control messages queued meanwhile (a last `Want`) go first.
            while let Ok(m) = ctl.try_recv() {
                frames::write(&mut send, &m).await?;
            }
            frames::write(&mut send, &Message::CaughtUp).await?;
            info!(peer = %peer.id, "caught up: the peer has everything we hold for it");
            bulk.caught_up(&shared, peer.id.as_str(), &bulk.sent_all);
            continue;
        }
        tokio::select! {
            m = ctl.recv() => match m {
                Some(m) => frames::write(&mut send, &m).await?,
                None => {
                    let _ = send.finish();
                    return Ok(());
                }
            },
            l = live.recv() => match l {
                Ok(l) if wanted(&l) => {
                    seq += 1;
                    heap.push(Queued { priority: l.priority, seq: std::cmp::Reverse(seq), live: l });
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(SessionError::Lagged(n)),
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = bulk.notify.notified() => {}
        }
    }
}

/// A bulk batch being loaded and framed on the bulk threads: each frame
/// with the number of documents it carries.
type Loading = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<
                    Result<Vec<(Vec<u8>, u64)>, StoreError>,
                    crate::priority::PoolError,
                >,
            > + Send,
    >,
>;

/// Takes the next batch of ids waiting for `peer` (marking them sent) and
/// starts loading it on the bulk threads; `None` if nothing waits.
fn start_load(
    shared: &Arc<Shared>,
    peer: &Node,
    bulk: &Bulk,
    sent: &mut HashSet<DocId>,
) -> Option<Loading> {
    // A batch of ids that all went out already (asked for twice) must not
    // end the bulk phase while more wait behind it.
    let ids = loop {
        let taken = bulk.take(BATCH_DOCS);
        if taken.is_empty() {
            return None;
        }
        let ids: Vec<DocId> = taken.into_iter().filter(|id| sent.insert(*id)).collect();
        if !ids.is_empty() {
            break ids;
        }
    };
    let sh = shared.clone();
    let target = peer.clone();
    Some(Box::pin(async move {
        let loader = sh.clone();
        sh.bulk
            .run("load", move || load_frames(&loader, &target, ids))
            .await
    }))
}

/// Loads documents for `peer` and frames them, at most [`BATCH_BYTES`] a
/// frame, skipping any it may not hold (need to know is enforced here,
/// before any byte leaves) and any we do not have.
fn load_frames(
    shared: &Shared,
    peer: &Node,
    ids: Vec<DocId>,
) -> Result<Vec<(Vec<u8>, u64)>, StoreError> {
    let mut frames = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut flush = |batch: &mut Vec<Vec<u8>>| {
        let n = batch.len() as u64;
        let documents = std::mem::take(batch);
        frames.push((Message::Documents { documents }.to_frame(), n));
    };
    for id in ids {
        let Some(doc) = shared.store.get(&id)? else {
            continue;
        };
        if doc.kind() != Kind::Roster && chapar_proto::access::node_may_hold(peer, &doc) {
            let d = doc.into_bytes();
            bytes += d.len();
            batch.push(d);
            if bytes >= BATCH_BYTES {
                flush(&mut batch);
                bytes = 0;
            }
        } else {
            warn!(peer = %peer.id, doc = %id, "not sending: the peer may not hold it");
        }
    }
    if !batch.is_empty() {
        flush(&mut batch);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a peer sends waits for room in the session's byte budget, and
    /// gets it back as soon as earlier documents are stored (dropped).
    #[tokio::test]
    async fn received_documents_wait_for_room_in_the_byte_budget() {
        let budget = Arc::new(Semaphore::new(INGEST_BYTES));
        let first = Held::take(&budget, vec![vec![0u8; INGEST_BYTES - 10]])
            .await
            .expect("fits");
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { Held::take(&budget, vec![vec![0u8; 100]]).await })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "read past the budget");
        drop(first);
        let second = waiting.await.expect("task").expect("room after the store");
        assert_eq!(budget.available_permits(), INGEST_BYTES - 100);
        drop(second);
        // More than the whole budget at once (larger than any frame) still
        // goes through, alone, rather than waiting forever.
        let huge = Held::take(&budget, vec![vec![0u8; INGEST_BYTES + 1]])
            .await
            .expect("alone");
        assert_eq!(budget.available_permits(), 0);
        drop(huge);
    }

    /// A peer answered faster than its share waits in proportion, and
    /// the budget survives its reconnecting.
    #[test]
    fn reconciliation_work_is_paced_per_peer() {
        let mut pace = Pace::new();
        let t0 = pace.at;
        assert_eq!(pace.wait_at(t0), Duration::ZERO, "a burst at first");
        pace.spend(RECONCILE_BURST + Duration::from_millis(500));
        let wait = pace.wait_at(t0);
        let expect = 0.5 / RECONCILE_SHARE;
        assert!((wait.as_secs_f64() - expect).abs() < 1e-6, "{wait:?}");
        assert_eq!(pace.wait_at(t0 + wait), Duration::ZERO);
        // Cheap messages: a burst, then the message rate.
        let mut pace = Pace::new();
        let t0 = pace.at;
        for _ in 0..RECONCILE_MESSAGES as usize {
            assert_eq!(pace.wait_at(t0), Duration::ZERO);
            pace.spend(Duration::ZERO);
        }
        let wait = pace.wait_at(t0);
        assert!(
            (wait.as_secs_f64() - 1.0 / RECONCILE_RATE).abs() < 1e-6,
            "{wait:?}"
        );
        // Kept between sessions.
        let sessions = Sessions::default();
        let a = Id::new("a-1").expect("id");
        let mut p = sessions.pace(&a, false);
        p.spend(RECONCILE_BURST * 2);
        sessions.keep_pace(&a, false, p);
        let mut again = sessions.pace(&a, false);
        assert!(!again.wait().is_zero(), "reconnecting refilled the budget");
        assert!(
            sessions.pace(&a, true).wait().is_zero(),
            "the other direction has its own"
        );
    }

    /// One session per peer and direction: a newer one ends the older, and
    /// an older one ending late does not unregister the newer.
    #[tokio::test]
    async fn a_newer_session_with_the_same_peer_supersedes_the_older() {
        let sessions = Sessions::default();
        let a = Id::new("a-1").expect("id");
        let b = Id::new("b-1").expect("id");
        let old = sessions.claim(&a, false);
        let other_way = sessions.claim(&a, true);
        let other_peer = sessions.claim(&b, false);
        assert_eq!(sessions.with("a-1"), 2);
        let new = sessions.claim(&a, false);
        // The old one is told (a stored permit: it need not be waiting yet).
        tokio::time::timeout(Duration::from_secs(5), old.superseded.notified())
            .await
            .expect("old session told to stop");
        drop(old);
        assert_eq!(sessions.with("a-1"), 2, "the newer one stays registered");
        drop(new);
        assert_eq!(sessions.with("a-1"), 1);
        drop(other_way);
        assert_eq!(sessions.with("a-1"), 0);
        assert_eq!(sessions.with("b-1"), 1);
        drop(other_peer);
        assert_eq!(sessions.with("b-1"), 0);
    }
}
