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

use chapar_proto::Trust;
use chapar_search::{Rebuilt, SearchError, SearchIndex};
use tracing::{error, info, warn};

use crate::priority::{Priority, lower_current_thread};
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
    /// Why the index was rebuilt at start, if it was.
    pub rebuilt: Mutex<Option<String>>,
    /// The error that stopped indexing, if any.
    pub failed: Mutex<Option<String>>,
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
    },
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
        Mode::Follow { stop } => stop.load(Ordering::Relaxed),
    };
    let mut pos = index
        .position()?
        .and_then(|b| Position::from_bytes(&b))
        .unwrap_or(Position::START);
    let mut read = 0u64;
    // When the first document not yet committed was added.
    let mut dirty: Option<Instant> = None;
    let mut last_progress = Instant::now();
    loop {
        let end = match (&mode, dirty) {
            (Mode::ToEnd, _) => store.end(),
            (Mode::Follow { .. }, None) => store.wait_past(pos, IDLE_WAIT),
            (Mode::Follow { .. }, Some(t)) => {
                store.wait_past(pos, COMMIT_INTERVAL.saturating_sub(t.elapsed()))
            }
        };
        if end > pos {
            let trust = trust();
            for item in store.scan(pos) {
                let (doc, next) = item?;
                index.add(&doc, &trust)?;
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
                    Mode::Follow { stop: &flag },
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
