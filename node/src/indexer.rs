//! Keeps the search index following the store.
//!
//! The store is the source of truth; the index is derived from it. One
//! thread reads the store in arrival order from the position the index's
//! last commit recorded ([`crate::store::Store::scan`]), adds what each
//! document contributes, and commits by time: at most every
//! [`COMMIT_INTERVAL`], never once per document. A restart resumes from the
//! recorded position; an index that is missing, damaged, of another schema
//! version, or ahead of the store is set aside and rebuilt from the start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chapar_proto::{Document, Trust};
use chapar_search::{Rebuilt, SearchError, SearchIndex};
use tracing::{error, info, warn};

use crate::priority::{CatchUp, Priority, lower_current_thread};
use crate::store::{Position, Store, StoreError};

/// Longest a document waits between being stored and being searchable,
/// less the commit itself. Short enough for "searchable within a second",
/// long enough that a busy node commits a few times a second, not once per
/// document.
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(400);
/// Commit interval while a large backlog is being indexed (a fresh node
/// catching up, a restart after a long stop): fewer, larger segments mean
/// less merging, and documents in a backlog are not live anyway.
pub const BULK_COMMIT_INTERVAL: Duration = Duration::from_secs(2);
/// Pending documents from which the backlog interval applies.
const BULK_PENDING: u64 = 4096;
/// How often a long scan looks at the clock and the stop flag.
const CHECK_EVERY: u64 = 256;
/// Longest the follower sleeps when nothing arrives (bounds shutdown).
const IDLE_WAIT: Duration = Duration::from_millis(200);
/// A catch-up is over once its node has received no group of it for this
/// long (groups come every 40-200 ms while one runs).
pub const CATCH_UP_QUIET: Duration = Duration::from_millis(300);
/// Longest the indexer waits for its node's catch-up before indexing
/// anyway: how stale search may get while a long catch-up runs. Between
/// two waits it indexes everything stored so far.
pub const MAX_DEFER: Duration = Duration::from_secs(10);
/// How often a waiting indexer looks again.
const DEFER_STEP: Duration = Duration::from_millis(50);

/// Why indexing stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

/// Where the node keeps its index.
pub fn search_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search")
}

/// What the indexer reports (status, progress).
#[derive(Debug, Default)]
pub struct IndexStatus {
    /// Documents read from the store since the node started.
    pub scanned: AtomicU64,
    /// Whether the index has reached the store's end at least once since
    /// start.
    pub caught_up: AtomicBool,
    /// Whether indexing is waiting for its node's catch-up to end.
    pub deferred: AtomicBool,
    /// Why the index was rebuilt at start, if it was.
    pub rebuilt: Mutex<Option<String>>,
    /// The error that stopped indexing, if any.
    pub failed: Mutex<Option<String>>,
    /// Documents the node set aside whose entries the indexer takes out
    /// (it owns the index's writer and its position), each with the other
    /// revisions of its page still held.
    pub removals: Mutex<Vec<Removal>>,
}

/// A document set aside (ADR 0018), for the indexer to take out of the
/// index.
#[derive(Debug)]
pub struct Removal {
    /// The document.
    pub doc: Document,
    /// If it is a wiki revision: its page's other revisions still held,
    /// one of which becomes current if it was.
    pub others: Vec<Document>,
}

impl IndexStatus {
    /// Queues removals for the indexer, which applies them within its
    /// commit interval.
    pub fn remove(&self, removals: Vec<Removal>) {
        self.removals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(removals);
    }

    fn take_removals(&self) -> Vec<Removal> {
        std::mem::take(&mut *self.removals.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Opens the node's index for `store`, setting it aside and starting over
/// if it cannot be used. Never fails for a bad index, only for I/O on the
/// directory itself.
pub fn open(store: &Store, data_dir: &Path) -> Result<(SearchIndex, Option<Rebuilt>), SearchError> {
    let dir = search_dir(data_dir);
    let (index, rebuilt) = SearchIndex::open(&dir)?;
    // The recorded position must be one the store can resume from: past
    // its end, or not on a record boundary, means the store was replaced
    // (restored from a backup, another data directory) under the index.
    let mismatch = match index.position()? {
        None => None,
        Some(bytes) => match Position::from_bytes(&bytes) {
            Some(p) if p > store.end() => {
                Some("the index had indexed past the end of the store".to_string())
            }
            Some(p) => match store.scan(p).next() {
                Some(Err(e)) => Some(format!("the index does not match the store: {e}")),
                _ => None,
            },
            None => Some("the index's recorded position is malformed".to_string()),
        },
    };
    let Some(reason) = mismatch else {
        return Ok((index, rebuilt));
    };
    drop(index);
    let moved_to = chapar_search::index::set_aside(&dir)?;
    warn!(from = %dir.display(), to = %moved_to.display(), "{reason}; rebuilding the search index");
    let (index, _) = SearchIndex::open(&dir)?;
    Ok((index, Some(Rebuilt::Damaged { reason, moved_to })))
}

/// How [`index_store`] runs.
pub enum Mode<'a> {
    /// Index what the store holds now, then return (reindex).
    ToEnd,
    /// Follow the store until `stop` is set (the daemon).
    Follow {
        /// Set to stop; what was added is committed first.
        stop: &'a AtomicBool,
        /// When to wait for the node's catch-ups.
        yield_to: Yield<'a>,
    },
}

/// How a following indexer yields to its node's catch-ups: while one is
/// being stored, indexing waits (at most `max` at a time), and afterwards
/// takes what arrived in large batches. The node holds what its peers send
/// sooner, and search pays no more in total (ADR 0012).
#[derive(Debug, Clone, Copy)]
pub struct Yield<'a> {
    /// When the node last received or stored a group of a catch-up.
    pub catch_up: &'a CatchUp,
    /// A catch-up is over after this long without a group.
    pub quiet: Duration,
    /// Longest one wait: after it, everything stored so far is indexed.
    pub max: Duration,
}

impl<'a> Yield<'a> {
    /// The daemon's policy: [`CATCH_UP_QUIET`], [`MAX_DEFER`].
    pub fn daemon(catch_up: &'a CatchUp) -> Self {
        Yield {
            catch_up,
            quiet: CATCH_UP_QUIET,
            max: MAX_DEFER,
        }
    }
}

/// Indexes the store from the index's recorded position: to the store's
/// current end ([`Mode::ToEnd`]) or for as long as the node runs
/// ([`Mode::Follow`]). `trust` gives the roster in force (authors' names
/// and missions); `progress` is called with the number of documents read
/// so far, a few times a second at most. Returns that number.
pub fn index_store(
    store: &Store,
    index: &SearchIndex,
    trust: &dyn Fn() -> Arc<Trust>,
    mode: Mode<'_>,
    status: &IndexStatus,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, IndexerError> {
    let stopping = || match &mode {
        Mode::ToEnd => false,
        Mode::Follow { stop, .. } => stop.load(Ordering::Relaxed),
    };
    let yield_to = match &mode {
        Mode::ToEnd => None,
        Mode::Follow { yield_to, .. } => Some(*yield_to),
    };
    let mut pos = index
        .position()?
        .and_then(|b| Position::from_bytes(&b))
        .unwrap_or(Position::START);
    let mut read = 0u64;
    // When the first document not yet committed was added.
    let mut dirty: Option<Instant> = None;
    let mut last_progress = Instant::now();
    // Since when indexing has waited for a catch-up.
    let mut deferred: Option<Instant> = None;
    loop {
        let end = match (&mode, dirty) {
            (Mode::ToEnd, _) => store.end(),
            (Mode::Follow { .. }, None) => store.wait_past(pos, IDLE_WAIT),
            (Mode::Follow { .. }, Some(t)) => {
                store.wait_past(pos, COMMIT_INTERVAL.saturating_sub(t.elapsed()))
            }
        };
        if let Some(y) = yield_to.filter(|y| end > pos && y.catch_up.within(y.quiet)) {
            let since = *deferred.get_or_insert_with(Instant::now);
            if since.elapsed() < y.max {
                status.deferred.store(true, Ordering::Relaxed);
                // What was added before the wait becomes searchable now.
                if dirty.take().is_some() {
                    index.commit(&pos.to_bytes())?;
                }
                if stopping() {
                    break;
                }
                std::thread::sleep(DEFER_STEP);
                continue;
            }
        }
        if deferred.take().is_some() {
            status.deferred.store(false, Ordering::Relaxed);
        }
        let removals = status.take_removals();
        if !removals.is_empty() {
            let trust = trust();
            for r in &removals {
                index.remove(&r.doc, &r.others, &trust)?;
            }
            dirty.get_or_insert_with(Instant::now);
        }
        if end > pos {
            let trust = trust();
            for item in store.scan(pos) {
                let (doc, next) = item?;
                // A document set aside (ADR 0018) is never indexed.
                if !store.is_void(&doc.id()) {
                    index.add(&doc, &trust)?;
                }
                pos = next;
                read += 1;
                status.scanned.fetch_add(1, Ordering::Relaxed);
                dirty.get_or_insert_with(Instant::now);
                if read % CHECK_EVERY == 0 {
                    if last_progress.elapsed() >= Duration::from_millis(250) {
                        progress(read);
                        last_progress = Instant::now();
                    }
                    let interval = if index.pending() >= BULK_PENDING {
                        BULK_COMMIT_INTERVAL
                    } else {
                        COMMIT_INTERVAL
                    };
                    if dirty.is_some_and(|t| t.elapsed() >= interval) {
                        index.commit(&pos.to_bytes())?;
                        dirty = None;
                    }
                    if stopping() {
                        break;
                    }
                }
            }
        }
        let at_end = pos >= store.end();
        // By time only: a trickle of arrivals shares commits.
        if dirty.is_some_and(|t| t.elapsed() >= COMMIT_INTERVAL) {
            index.commit(&pos.to_bytes())?;
            dirty = None;
        }
        if at_end && dirty.is_none() && !status.caught_up.swap(true, Ordering::Relaxed) {
            info!(
                documents = read,
                entries = index.entries(),
                "search index caught up with the store"
            );
        }
        if stopping() || (matches!(mode, Mode::ToEnd) && at_end) {
            break;
        }
    }
    if dirty.is_some() {
        index.commit(&pos.to_bytes())?;
    }
    progress(read);
    Ok(read)
}

/// The daemon's indexer thread.
pub struct Indexer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Indexer {
    /// Starts following the store on its own thread, at
    /// [`Priority::Background`].
    pub fn spawn(
        shared: Arc<crate::state::Shared>,
        index: Arc<SearchIndex>,
        status: Arc<IndexStatus>,
    ) -> std::io::Result<Indexer> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("chapar-indexer".into())
            .spawn(move || {
                lower_current_thread(Priority::Background);
                let trust = || shared.trust();
                let out = index_store(
                    &shared.store,
                    &index,
                    &trust,
                    Mode::Follow {
                        stop: &flag,
                        yield_to: Yield::daemon(&shared.catch_up),
                    },
                    &status,
                    &mut |_| {},
                );
                if let Err(e) = out {
                    error!("search indexing stopped: {e}");
                    *status.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                }
            })?;
        Ok(Indexer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops after committing what was added; waits for the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            error!("search indexer thread panicked");
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Result of [`reindex`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reindexed {
    /// Documents read from the store.
    pub documents: u64,
    /// Index entries written.
    pub entries: u64,
    /// Seconds taken.
    pub seconds: f64,
}

/// Rebuilds the index of a *stopped* node from scratch: builds a new index
/// beside the old one, and only when it is complete replaces the old one,
/// so an interrupted rebuild leaves the old index in place. `progress` gets
/// (documents read, documents in the store).
pub fn reindex(
    cfg: &crate::config::NodeConfig,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Reindexed, ReindexError> {
    let t0 = Instant::now();
    let (root, bundle_roster) = crate::run::bundle_trust(cfg).map_err(ReindexError::Bundle)?;
    let store = Store::open(&cfg.data_dir)?;
    let (roster, _) = crate::state::roster_in_force(&store, &root, bundle_roster)
        .map_err(|e| ReindexError::Bundle(e.into()))?;
    let trust = Arc::new(Trust::new(root, roster));
    let dir = search_dir(&cfg.data_dir);
    let mut fresh = dir.as_os_str().to_owned();
    fresh.push(".rebuilding");
    let fresh = PathBuf::from(fresh);
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).map_err(|source| ReindexError::Io {
            path: fresh.clone(),
            source,
        })?;
    }
    let (index, _) = SearchIndex::open(&fresh)?;
    let total = store.len();
    let status = IndexStatus::default();
    let documents = index_store(
        &store,
        &index,
        &|| trust.clone(),
        Mode::ToEnd,
        &status,
        &mut |n| progress(n, total),
    )?;
    let entries = index.entries();
    index.close()?;
    // Old aside, new in, old deleted: at every instant one complete index
    // is in place or (between the renames) none, which a start rebuilds.
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ReindexError::Io { path, source }
    };
    let mut old = dir.as_os_str().to_owned();
    old.push(".old");
    let old = PathBuf::from(old);
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    if dir.exists() {
        std::fs::rename(&dir, &old).map_err(io(&dir))?;
    }
    std::fs::rename(&fresh, &dir).map_err(io(&dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    store.close()?;
    Ok(Reindexed {
        documents,
        entries,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Why a reindex failed.
#[derive(Debug, thiserror::Error)]
pub enum ReindexError {
    /// The bundle (root key, roster) could not be read.
    #[error(transparent)]
    Bundle(crate::run::StartError),
    /// The store could not be opened (is the node still running?) or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Indexing failed.
    #[error(transparent)]
    Indexer(#[from] IndexerError),
    /// The index failed.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// Moving the new index into place failed.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use chapar_proto::{Body, Classification, Document, PageId, Roster, WikiRevision};
    use ed25519_dalek::SigningKey;

    fn page(key: &SigningKey, n: u64) -> Document {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&n.to_be_bytes());
        let rev = WikiRevision {
            page: PageId(id),
            parents: Vec::new(),
            title: format!("Page {n}"),
            classification: Classification::Unclassified,
            caption: None,
            body: format!("qalqon report number {n}"),
            summary: "new".into(),
        };
        Document::sign(key, 1_700_000_000_000 + n, Body::WikiRevision(rev)).expect("sign")
    }

    /// Stops the follower and the marker when the test ends, even by a
    /// failed assertion (or the scope would wait for them forever).
    struct StopOnDrop<'a> {
        stop: &'a AtomicBool,
        marking: &'a AtomicBool,
        store: &'a Store,
    }

    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.marking.store(false, Ordering::Relaxed);
            self.stop.store(true, Ordering::Relaxed);
            self.store.interrupt_waits();
        }
    }

    /// Polls `f` until it holds, for at most `limit`.
    fn until(limit: Duration, f: impl Fn() -> bool) -> bool {
        let t = Instant::now();
        while t.elapsed() < limit {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        f()
    }

    /// While its node stores a catch-up, the follower indexes nothing new
    /// and says it waits; after `max` it indexes what was stored even
    /// though the catch-up goes on; when the catch-up ends it indexes the
    /// rest at once.
    #[test]
    fn indexing_waits_for_a_catch_up_at_most_max() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path().join("store")).expect("store");
        let (index, _) = SearchIndex::open(&dir.path().join("search")).expect("index");
        let key = SigningKey::from_bytes(&[5; 32]);
        let root = chapar_proto::PublicKey::from(&SigningKey::from_bytes(&[6; 32]).verifying_key());
        let trust = Arc::new(Trust::new(root, Roster::new("mfa", [0; 32])));
        let catch_up = CatchUp::default();
        let status = IndexStatus::default();
        let stop = AtomicBool::new(false);
        let y = Yield {
            catch_up: &catch_up,
            quiet: Duration::from_millis(500),
            max: Duration::from_secs(3),
        };
        let long = Duration::from_secs(20);
        let marking = AtomicBool::new(true);
        std::thread::scope(|s| {
            let follower = s.spawn(|| {
                index_store(
                    &store,
                    &index,
                    &|| trust.clone(),
                    Mode::Follow {
                        stop: &stop,
                        yield_to: y,
                    },
                    &status,
                    &mut |_| {},
                )
            });
            let _stop = StopOnDrop {
                stop: &stop,
                marking: &marking,
                store: &store,
            };
            // No catch-up: a document is indexed within the commit interval.
            store.insert_batch(&[page(&key, 0)]).expect("insert");
            assert!(until(long, || index.entries() > 0), "indexed at rest");
            let before = index.entries();

            // A catch-up: groups marked before they are stored, as the
            // sessions do, and marked on (every 20 ms) past `max`.
            let (marking, catch_up) = (&marking, &catch_up);
            s.spawn(move || {
                while marking.load(Ordering::Relaxed) {
                    catch_up.mark();
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            std::thread::sleep(Duration::from_millis(50));
            let t0 = Instant::now();
            for g in 0..5u64 {
                let group: Vec<Document> = (1..=40).map(|i| page(&key, g * 100 + i)).collect();
                store.insert_batch(&group).expect("insert group");
            }
            assert!(until(long, || status.deferred.load(Ordering::Relaxed)));
            std::thread::sleep(Duration::from_millis(300));
            if t0.elapsed() < y.max {
                assert_eq!(index.entries(), before, "indexed during the catch-up");
            }
            // The bound: indexed while the catch-up still goes on.
            assert!(
                until(long, || index.entries() >= before + 200),
                "still not indexed after max: {}",
                index.entries()
            );
            assert!(t0.elapsed() >= y.max, "indexed after {:?}", t0.elapsed());
            // The catch-up ends: what comes next is indexed at once.
            marking.store(false, Ordering::Relaxed);
            store.insert_batch(&[page(&key, 999)]).expect("insert");
            assert!(until(long, || index.entries() >= before + 201));
            assert!(until(long, || !status.deferred.load(Ordering::Relaxed)));
            drop(_stop);
            follower.join().expect("follower").expect("indexing");
        });
    }
}
