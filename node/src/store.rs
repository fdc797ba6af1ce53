//! The node's document store: every document the node holds, its indexes,
//! and a few named values, on disk.
//!
//! This is the only module that names sled (DESIGN.md §1): nothing in its
//! public API is a sled type, so the engine can be replaced behind it.
//!
//! # What the store does not do
//!
//! The store does **not** validate documents. The caller must verify the
//! signature (`Document::verify` / `verify_batch`) and the author's roster
//! authorization (`Trust::authorize`) *before* calling
//! [`Store::insert_batch`]. The store only takes already-decoded
//! [`Document`]s, so whatever it holds is at least canonical bytes: garbage
//! cannot be stored by mistake.
//!
//! # Layout
//!
//! Tree `main`:
//!
//! | key | value | what |
//! |---|---|---|
//! | `d` ‖ `DocId` | segment, offset, length (16 bytes) | where the envelope is |
//! | `i` ‖ `created_ms` (8, BE) ‖ `DocId` | kind code ‖ routing | time index |
//! | `k` ‖ kind ‖ `created_ms` (8, BE) ‖ `DocId` | empty | kind index |
//! | `s/schema` | u64 BE | the layout version |
//! | `s/indexed` | count (u64 BE) ‖ [`Position`] (12 bytes) | the index's durable mark |
//!
//! Tree `meta`: name (UTF-8) → bytes, for other modules (roster, markers).
//!
//! Envelopes themselves live in append-only segment files
//! (`segments/NNNNNNNN.seg`, see `segments.rs`): a batch is one sequential
//! append and sync, then its index entries. sled only holds small entries,
//! which is where its time went. The segments are the write-ahead log and
//! sled is an index of them that may lag: the **durable mark**
//! (`s/indexed`) says that the index on disk covers the first `count`
//! documents, which end at `end`. Opening the store replays whatever
//! records lie past it, and cuts a torn tail, so the segments hold exactly
//! the stored documents, back to back, in the order they arrived.
//!
//! An in-memory Bloom filter of the ids held (`idfilter.rs`) answers most
//! "is this new document already held?" without asking sled, which was a
//! quarter of an insert's cost. It is filled from the `d` keys by a
//! background thread after opening; until it is complete, and whenever it
//! says "maybe", sled answers.
//!
//! The time index is the ordered set `(timestamp, DocId)` that replication
//! reconciles over, with each document's routing so a peer's share is
//! selected without decoding documents; the kind index serves listings. The
//! store's own state is not in `meta`, so a module's meta name can never
//! clobber it.
//!
//! # Durability, and why there is no sled batch
//!
//! [`Store::insert_batch`] appends the batch's envelopes to the segments and
//! syncs them (one `fdatasync`), then inserts each document's index entries
//! one by one: **its `Ok` is the acknowledgement**. A document acknowledged
//! to a client or peer survives `kill -9` or power loss right after (tested
//! in `node/tests/store.rs`): its record is in the synced segments, at or
//! past the durable mark, and a start replays it.
//!
//! The store never uses sled's atomic batches or transactions (ADR 0013).
//! sled 0.34 has one concurrency lock per process: a batch takes it for
//! writing, and sled's flusher holds it for reading while it writes and
//! syncs its log, so a live cable's commit waited for whole flushes on a
//! busy disk. Plain inserts take it only for reading, and while no batch
//! has ever run in the process, not even that. Nothing needs the
//! atomicity: a crash can leave any subset of the entries past the durable
//! mark, and replay rewrites them all (an insert is idempotent). The mark
//! is written by the store's flush thread only **after** a `flush` of sled
//! returned, with the count and end committed before that flush began, so
//! it never claims entries sled could still lose, whatever order sled
//! recovers its log in. It lags the committed end by one or two flush
//! periods ([`INDEX_FLUSH_MS`]): that is what a start after a crash replays.
//!
//! While a batch is being inserted, another thread may see some of its
//! documents and not yet others. Each document's location is written
//! before its time and kind entries, so whatever a listing shows can be
//! read; [`Store::end`] and [`Store::len`] move once the whole batch is in.
//! A start after a crash checks every replayed record: it must be whole,
//! with a matching checksum, so a torn append (never acknowledged) is
//! recognised and cut, never indexed; signatures are not judged again
//! (ADR 0016). [`Store::check`] proves the store
//! consistent on demand.
//!
//! # Following the store
//!
//! A consumer that derives something from every document (the search
//! index) follows the store in arrival order: [`Store::scan`] from
//! [`Position::START`], or from the [`Position`] it recorded with the last
//! document it processed, reads the segment files sequentially up to
//! [`Store::end`]; [`Store::wait_past`] blocks until more is committed.
//! [`Store::end`] only moves past a batch once it is durable, so a consumer
//! never sees (nor records a position past) a document that a crash could
//! take back. Documents are never deleted, so a recorded position stays
//! valid for the life of the store.
//!
//! # Errors
//!
//! No stored or on-disk byte can make the store panic: a stored document
//! that no longer decodes (or whose hash no longer matches its key) is
//! [`StoreError::Corrupt`]; a malformed index entry is
//! [`StoreError::Inconsistent`]; a segment record that cannot be read in
//! order is [`StoreError::Segment`]. After an [`StoreError::Io`] the node should
//! stop: sled does not promise to keep working after a failed write.

use std::collections::HashSet;
use std::fmt;
use std::ops::{Bound, RangeBounds};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chapar_proto::access::Routing;
use chapar_proto::{Decode, DocId, Document, Encode, Kind};
use thiserror::Error;

use crate::idfilter::IdFilter;
pub use crate::segments::Position;
#[doc(hidden)]
pub use crate::segments::record_bytes;
use crate::segments::{
    Formats, Location, OpenError, RecordError, RecordErrorKind, Records, Segments,
};

/// The on-disk layout this build reads and writes.
///
/// 5 added the committed end (`s/end`); 6 made the segments the
/// write-ahead log (records past `s/end` are replayed, not cut, so a build
/// of layout 5 must not open it); 7 replaced the count and end that each
/// atomic batch wrote with the durable mark (`s/indexed`), written after a
/// flush, and writes index entries one by one (a build of layout 6 would
/// trust an index that may lack entries before its end); 8 added a
/// checksum to every segment record, which is what tells a torn append
/// from a whole record (`s/sums` names the first segment holding them; a
/// build of layout 7 would misread them). Layouts 4 to 7 are upgraded in
/// place when opened: their segments are kept as they are, and appends
/// continue in a new segment.
pub const SCHEMA_VERSION: u64 = 8;

/// How often the index is flushed and the durable mark moved. The
/// segments hold every acknowledged document meanwhile; this only bounds
/// how much a start after a crash replays (one to two periods of
/// arrivals).
pub const INDEX_FLUSH_MS: u64 = 1_000;

/// Documents replayed per index batch when a start replays the tail.
const REPLAY_BATCH: usize = 1_024;

/// Documents, both indexes and the store's state share one tree, told
/// apart by a key prefix.
const TREE_MAIN: &str = "main";
const TREE_META: &str = "meta";
const P_DOC: u8 = b'd';
const P_ITEM: u8 = b'i';
const P_KIND: u8 = b'k';
/// `v` ‖ `DocId` → empty: a held document set aside (voided).
const P_VOID: u8 = b'v';
const STATE_SCHEMA: &[u8] = b"s/schema";
const STATE_MARK: &[u8] = b"s/indexed";
/// Layout 8: the first segment whose records carry a checksum (u32, BE).
const STATE_SUMS: &[u8] = b"s/sums";
/// Layouts 4 to 6: the count and committed end, written by each batch.
const OLD_COUNT: &[u8] = b"s/count";
const OLD_END: &[u8] = b"s/end";

/// `created_ms` (8, BE) ‖ `DocId`: the part of index keys after the prefix.
const TS_ID: usize = 8 + 32;
const ITEM_KEY: usize = 1 + TS_ID;
const KIND_KEY: usize = 2 + TS_ID;

/// Why a store operation failed. Each message says what to do about it.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another process (or another `Store` in this one) has the store open.
    #[error(
        "another chapar-node is using the store at {path}: stop it first, or point this node at its own data directory"
    )]
    InUse {
        /// The store directory.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error(
        "store I/O error at {path}: {source}; check free disk space and that the directory is writable by this user, then restart the node"
    )]
    Io {
        /// The store directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The storage engine found its own files damaged.
    #[error(
        "the store at {path} is corrupt ({detail}); move it aside and restore a backup, or start empty and let the node re-sync from its peers"
    )]
    CorruptDb {
        /// The store directory.
        path: PathBuf,
        /// What the engine reported.
        detail: String,
    },
    /// A stored document's bytes no longer decode or no longer hash to its id.
    #[error(
        "stored document {id} is corrupt ({reason}); run the store check, and re-fetch the document from a peer"
    )]
    Corrupt {
        /// The document whose bytes are damaged.
        id: DocId,
        /// What is wrong with them.
        reason: String,
    },
    /// The indexes disagree with the documents, or an entry is malformed.
    #[error(
        "the store at {path} is inconsistent: {detail}; move it aside and let the node re-sync from its peers"
    )]
    Inconsistent {
        /// The store directory.
        path: PathBuf,
        /// The first inconsistency found.
        detail: String,
    },
    /// The store was written by a build with a different layout.
    #[error(
        "the store at {path} has layout version {found}, this build reads version {SCHEMA_VERSION}; run a chapar-node release that matches it"
    )]
    Schema {
        /// The store directory.
        path: PathBuf,
        /// The version found on disk.
        found: u64,
    },
    /// A segment holds no valid record where [`Store::scan`] (or
    /// [`Store::check`]) expected one: the bytes there are damaged, or the
    /// position a scan started from is not a record boundary of this store.
    #[error(
        "no valid record at offset {offset} of segment {segment} in the store at {path} ({detail}); if a consumer's saved position led here, it is not from this store: rebuild that consumer from the start; otherwise the segment is damaged: move the store aside and let the node re-sync from its peers"
    )]
    Segment {
        /// The store directory.
        path: PathBuf,
        /// The segment number.
        segment: u32,
        /// The offset in it where a record should start.
        offset: u64,
        /// What is wrong there.
        detail: String,
    },
    /// A named meta value has the wrong size for its type.
    #[error("store meta value {name:?} is {len} bytes, expected {expected}")]
    BadMeta {
        /// The meta name.
        name: String,
        /// Its length on disk.
        len: usize,
        /// The length its type needs.
        expected: usize,
    },
    /// The storage engine failed in a way it calls a bug or unsupported.
    #[error("storage engine error at {path}: {detail}; please report it with the node's log")]
    Engine {
        /// The store directory.
        path: PathBuf,
        /// What the engine reported.
        detail: String,
    },
}

/// The outcome for one document of [`Store::insert_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The document was not held before and now is.
    New,
    /// The document was already held (or appeared earlier in the same
    /// batch); nothing changed.
    Duplicate,
}

/// Order of a listing by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first, ties by ascending id.
    #[default]
    OldestFirst,
    /// Newest first, ties by descending id.
    NewestFirst,
}

/// What [`Store::check`] found in a consistent store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    /// Number of documents.
    pub docs: u64,
    /// Total envelope bytes of all documents.
    pub doc_bytes: u64,
    /// Of `docs`, how many are set aside ([`Store::void`]).
    pub voided: u64,
}

/// The node's document store. Cheap to share behind an `Arc`; every method
/// takes `&self` and is safe to call from several threads.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    segments: Segments,
    /// Which segments hold checksummed records.
    formats: Formats,
    main: sled::Tree,
    meta: sled::Tree,
    /// Documents the last open replayed from the write-ahead tail.
    replayed: u64,
    /// One batch at a time: the duplicate check and the count must see
    /// every earlier batch. Holds whether a write failed: the segments and
    /// the index may then disagree past the committed end, and only
    /// reopening (which replays or cuts past the durable mark) makes
    /// appending safe again.
    writer: Mutex<bool>,
    /// What has been committed, shared with the flush thread.
    committed: Arc<Committed>,
    /// The ids held, so that a new document is known new without a lookup
    /// in sled; filled from sled in the background after opening.
    ids: Arc<IdFilter>,
    /// The threads filling `ids` and moving the durable mark.
    workers: Mutex<Vec<Worker>>,
    /// Documents set aside ([`Store::void`]): still held, so never stored
    /// again, but out of the indexes and never read back.
    voided: std::sync::RwLock<HashSet<DocId>>,
}

/// How many documents the store holds and where the last one ends: as
/// committed (in memory), or as the index on disk is known to cover (the
/// durable mark, `s/indexed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    count: u64,
    end: Position,
}

impl Mark {
    const EMPTY: Mark = Mark {
        count: 0,
        end: Position::START,
    };

    fn to_bytes(self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.count.to_be_bytes());
        b[8..].copy_from_slice(&self.end.to_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Mark> {
        let (count, end) = b.split_at_checked(8)?;
        Some(Mark {
            count: u64::from_be_bytes(count.try_into().ok()?),
            end: Position::from_bytes(end)?,
        })
    }
}

/// The committed mark, for [`Store::end`], [`Store::len`],
/// [`Store::wait_past`] and the flush thread.
struct Committed {
    ends: Mutex<Ends>,
    /// Notified when the committed end moves or waits are interrupted.
    changed: Condvar,
}

/// The committed mark and who waits for it to move.
struct Ends {
    /// Everything before its end is committed and durable.
    mark: Mark,
    /// Threads in [`Store::wait_past`]: notify only if some.
    waiters: usize,
    /// [`Store::interrupt_waits`] was called (or the store is closing).
    interrupted: bool,
}

impl Committed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ends> {
        self.ends.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark(&self) -> Mark {
        self.lock().mark
    }
}

/// A background thread of the store, stopped (and joined) on close.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Worker {
    /// Starts `body` on a thread named `name`; `body` gets the stop flag
    /// and should return soon after it is set (it is also unparked).
    fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(&flag))?;
        Ok(Worker { stop, thread })
    }

    fn stop(self, path: &Path) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let name = self.thread.thread().name().unwrap_or("?").to_string();
        if self.thread.join().is_err() {
            tracing::warn!(path = %path.display(), "store: thread {name} panicked");
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("len", &self.len())
            .field("end", &self.end())
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// Cuts whatever a crash left in the segment files past the committed
    /// end (logged), and upgrades a store of the previous layout.
    ///
    /// Fails with [`StoreError::InUse`] if another process holds it, and
    /// [`StoreError::CorruptDb`] if the engine cannot recover its files.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with_segment_bytes(path, crate::segments::SEGMENT_BYTES)
    }

    /// [`Store::open`] with segments rolled over past `segment_bytes`
    /// instead of the production size: for tests of segment rollover. Any
    /// size reads any store; it only decides when appends start a new
    /// segment.
    #[doc(hidden)]
    pub fn open_with_segment_bytes(
        path: impl AsRef<Path>,
        segment_bytes: u64,
    ) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        // The segments are the write-ahead log, so sled is flushed in the
        // background, off the acknowledgement path. sled's own flusher
        // also cleans its log segments; the store's flush thread moves
        // the durable mark.
        let config = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(Some(INDEX_FLUSH_MS));
        // sled's recovery has been reported to panic on some damaged files:
        // report that as corruption instead of taking the node down.
        let db = match catch_unwind(AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(open_error(&path, e)),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the engine panicked while recovering".into());
                return Err(StoreError::CorruptDb { path, detail });
            }
        };
        let e = |err| engine_error(&path, err);
        let main = db.open_tree(TREE_MAIN).map_err(e)?;
        let meta = db.open_tree(TREE_META).map_err(e)?;
        let seg_dir = path.join("segments");
        let State {
            mark: durable,
            formats,
            upgrading_from,
        } = load_state(&path, &db, &main, &seg_dir)?;
        let voided = load_voided(&path, &main)?;
        let mark = replay_tail(&path, &db, &main, &seg_dir, durable, formats, &voided)?;
        let end = mark.end;
        let formats = match upgrading_from {
            None => formats,
            Some(version) => {
                // The old segments keep their records as they are; appends
                // go on in a new segment, with checksums.
                let formats = Formats {
                    checksummed_from: if end.offset == 0 {
                        end.segment
                    } else {
                        end.segment.saturating_add(1)
                    },
                };
                write_layout(&path, &db, &main, mark, formats)?;
                tracing::info!(
                    path = %path.display(),
                    "store: upgraded from layout {version} to {SCHEMA_VERSION}; {} documents up to {}; new records carry checksums from segment {}",
                    mark.count, mark.end, formats.checksummed_from
                );
                formats
            }
        };
        let segments = Segments::open(&seg_dir, segment_bytes, end, formats).map_err(|err| match err {
            OpenError::Io(source) => StoreError::Io {
                path: path.clone(),
                source,
            },
            OpenError::Short { segment, len, end } => StoreError::Inconsistent {
                path: path.clone(),
                detail: format!(
                    "segment {segment} is {len} bytes, but committed documents reach offset {end}"
                ),
            },
        })?;
        let ids = Arc::new(IdFilter::new(mark.count));
        let committed = Arc::new(Committed {
            ends: Mutex::new(Ends {
                mark,
                waiters: 0,
                interrupted: false,
            }),
            changed: Condvar::new(),
        });
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let filling = fill_ids(&path, &main, &ids).map_err(io)?;
        // Built now, so that a failure to start the flush thread stops the
        // filler through `Drop`.
        let store = Store {
            path: path.clone(),
            db: db.clone(),
            segments,
            formats,
            ids,
            workers: Mutex::new(vec![filling]),
            main: main.clone(),
            meta,
            replayed: mark.count - durable.count,
            voided: std::sync::RwLock::new(voided),
            writer: Mutex::new(false),
            committed: committed.clone(),
        };
        let flusher = move_mark(&path, db, main, committed, mark).map_err(io)?;
        store
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(flusher);
        Ok(store)
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many acknowledged documents opening the store replayed from the
    /// segments because sled had not flushed their index entries before
    /// the node stopped (0 after a clean stop).
    pub fn replayed_at_open(&self) -> u64 {
        self.replayed
    }

    /// Stores a batch of documents that the caller has already verified and
    /// authorized (see the module documentation), and returns one
    /// [`Inserted`] per document, in order.
    ///
    /// Idempotent: a document already held is [`Inserted::Duplicate`] and
    /// changes nothing. The envelopes are synced to disk before any index
    /// entry is written: when this returns `Ok`, every document of the
    /// batch survives a crash, and [`Store::end`] and [`Store::len`] count
    /// it. An empty batch does nothing.
    ///
    /// After a failed write the store refuses further batches
    /// ([`StoreError::Io`]) until it is reopened.
    pub fn insert_batch(&self, docs: &[Document]) -> Result<Vec<Inserted>, StoreError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let out = {
            let mut failed = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            if *failed {
                return Err(StoreError::Io {
                    path: self.path.clone(),
                    source: std::io::Error::other(
                        "an earlier write to the store failed, so it takes no more until reopened",
                    ),
                });
            }
            let count = self.len();
            let mut in_batch = HashSet::with_capacity(docs.len());
            let mut out = Vec::with_capacity(docs.len());
            let mut fresh = Vec::with_capacity(docs.len());
            for doc in docs {
                let id = doc.id();
                if !in_batch.insert(id) || self.contains(&id)? {
                    out.push(Inserted::Duplicate);
                    continue;
                }
                fresh.push(doc);
                out.push(Inserted::New);
            }
            // Before sled can show them: no thread may find a document
            // held that the filter calls absent. A failed write below
            // leaves a few ids in the filter, which only costs a lookup.
            for doc in &fresh {
                self.ids.insert(&doc.id());
            }
            if fresh.is_empty() {
                out
            } else {
                // Envelopes first, synced; only then the index that points
                // at them.
                let envelopes: Vec<&[u8]> = fresh.iter().map(|d| d.as_bytes()).collect();
                let (locations, end) = self.segments.append(&envelopes).map_err(|source| {
                    *failed = true;
                    StoreError::Io {
                        path: self.path.clone(),
                        source,
                    }
                })?;
                for (doc, loc) in fresh.iter().zip(locations) {
                    index_doc(&self.main, doc, loc).map_err(|e| {
                        *failed = true;
                        self.err(e)
                    })?;
                }
                // The batch is durable (its segment bytes are synced) and
                // indexed: consumers may see it. Batches commit in order
                // under the writer lock, so the end only moves forward.
                let mut ends = self.committed.lock();
                ends.mark = Mark {
                    count: count + fresh.len() as u64,
                    end,
                };
                if ends.waiters > 0 {
                    self.committed.changed.notify_all();
                }
                out
            }
        };
        // No flush of sled here: a document another thread stored is
        // visible to `contains` only after its segment bytes were synced,
        // so even an all-duplicate batch acknowledges only durable documents.
        Ok(out)
    }

    /// The committed end: the position after every document the store has
    /// acknowledged ([`Store::insert_batch`] returned `Ok`). Everything
    /// before it is on disk; a scan to it sees every document held.
    pub fn end(&self) -> Position {
        self.committed.mark().end
    }

    /// Every committed document from `from` up to [`Store::end`] as it is
    /// now, in the order the store received them, each with the position
    /// just after it (what a consumer records to resume from).
    ///
    /// `from` is [`Position::START`], or a position a scan of this store
    /// returned, or [`Store::end`]; anything else (past the end, or inside a
    /// record) yields a [`StoreError::Segment`] naming the place. So does a
    /// record that no longer decodes: the scan never panics and never skips
    /// a record silently, and it ends after its first error. Reads the
    /// segment files sequentially, decoding (and so hashing) each document;
    /// independent of the store's lifetime, so it can run on another thread
    /// while documents are inserted.
    pub fn scan(&self, from: Position) -> Scan {
        Scan {
            records: Records::new(
                self.segments.dir(),
                from,
                self.end(),
                u32::try_from(chapar_proto::document::MAX_DOCUMENT).unwrap_or(u32::MAX),
                self.formats,
            ),
            formats: self.formats,
            path: self.path.clone(),
            failed: false,
        }
    }

    /// Blocks until the committed end is past `pos` (more documents were
    /// committed), `timeout` elapses, or waits are interrupted
    /// ([`Store::interrupt_waits`]); returns [`Store::end`].
    ///
    /// A consumer that scanned to `pos` calls this to sleep until there is
    /// more. Costs committing a batch nothing while nobody waits.
    pub fn wait_past(&self, pos: Position, timeout: Duration) -> Position {
        let deadline = Instant::now().checked_add(timeout);
        let mut ends = self.committed.lock();
        while ends.mark.end <= pos && !ends.interrupted {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break,
                },
                None => None,
            };
            ends.waiters += 1;
            ends = match left {
                Some(left) => {
                    self.committed
                        .changed
                        .wait_timeout(ends, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .committed
                    .changed
                    .wait(ends)
                    .unwrap_or_else(|p| p.into_inner()),
            };
            ends.waiters -= 1;
        }
        ends.mark.end
    }

    /// Makes every [`Store::wait_past`], current and later, return at
    /// once: for stopping a consumer thread that waits on the store.
    /// [`Store::close`] and dropping the store do it too.
    pub fn interrupt_waits(&self) {
        let mut ends = self.committed.lock();
        ends.interrupted = true;
        self.committed.changed.notify_all();
    }

    /// The document with this id, if held.
    ///
    /// Fails with [`StoreError::Corrupt`] if its stored bytes no longer
    /// decode or no longer hash to `id`.
    pub fn get(&self, id: &DocId) -> Result<Option<Document>, StoreError> {
        match self.get_bytes(id)? {
            None => Ok(None),
            Some(bytes) => decode_stored(id, &bytes).map(Some),
        }
    }

    /// The stored envelope bytes of a document, without decoding them (for
    /// sending to a peer that will verify them anyway).
    pub fn get_bytes(&self, id: &DocId) -> Result<Option<Vec<u8>>, StoreError> {
        if self.is_void(id) {
            return Ok(None);
        }
        match self.main.get(doc_key(id)).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(v) => self.read_envelope(id, &v).map(Some),
        }
    }

    /// Whether the in-memory id filter has been filled from the ids held at
    /// open (until then every [`Store::contains`] asks sled). For tests.
    #[doc(hidden)]
    pub fn id_filter_ready(&self) -> bool {
        self.ids.is_complete()
    }

    /// Sets held documents aside: a roster no longer allows their author to
    /// have written them (a compromised key, a standing changed before
    /// they arrived; ADR 0018). They leave the time and kind indexes (so no
    /// listing, reconciliation set or scan of the indexes shows them),
    /// [`Store::get`] no longer returns them, and they stay held
    /// ([`Store::contains`]), so a peer offering them again gets
    /// "duplicate", never a second copy. Durable when it returns. Returns
    /// the ids newly set aside; documents not held are ignored.
    pub fn void(&self, docs: &[Document]) -> Result<Vec<DocId>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut newly = Vec::new();
        for doc in docs {
            let id = doc.id();
            if self.is_void(&id) || !self.contains(&id)? {
                continue;
            }
            let ts = doc.created_ms();
            self.main
                .insert(void_key(&id), &[][..])
                .map_err(|e| self.err(e))?;
            self.main
                .remove(item_key(ts, &id))
                .map_err(|e| self.err(e))?;
            self.main
                .remove(kind_key(doc.kind(), ts, &id))
                .map_err(|e| self.err(e))?;
            newly.push(id);
        }
        if !newly.is_empty() {
            self.db.flush().map_err(|e| self.err(e))?;
            let mut voided = self.voided.write().unwrap_or_else(|p| p.into_inner());
            voided.extend(newly.iter().copied());
        }
        Ok(newly)
    }

    /// Whether `id` was set aside by [`Store::void`].
    pub fn is_void(&self, id: &DocId) -> bool {
        self.voided
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// How many documents are set aside.
    pub fn voided(&self) -> u64 {
        self.voided.read().unwrap_or_else(|p| p.into_inner()).len() as u64
    }

    /// Whether the document is held. Most absent ids are answered from
    /// memory; the rest, and every held one, by the index.
    pub fn contains(&self, id: &DocId) -> Result<bool, StoreError> {
        if !self.ids.may_contain(id) {
            return Ok(false);
        }
        self.main.contains_key(doc_key(id)).map_err(|e| self.err(e))
    }

    /// Number of documents held, in O(1).
    pub fn len(&self) -> u64 {
        self.committed.mark().count
    }

    /// Whether the store holds no document.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry of the time index with its kind and routing, oldest
    /// first: what a node scans at start-up to build the set it reconciles
    /// with each kind of peer.
    pub fn routed_items(&self) -> impl Iterator<Item = Result<RoutedItem, StoreError>> + '_ {
        self.main.scan_prefix([P_ITEM]).map(move |kv| {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            self.routed_item(&k, &v)
        })
    }

    /// A time index entry (`i` key and value) as a [`RoutedItem`].
    fn routed_item(&self, k: &[u8], v: &[u8]) -> Result<RoutedItem, StoreError> {
        let (created_ms, id) = parse_ts_id(k.get(1..).unwrap_or(&[]))
            .ok_or_else(|| self.inconsistent(format!("items key of {} bytes", k.len())))?;
        let bad = |why: String| self.inconsistent(format!("items value of {id}: {why}"));
        let (&code, rest) = v.split_first().ok_or_else(|| bad("empty".into()))?;
        let kind = Kind::from_code(code).map_err(|e| bad(e.to_string()))?;
        let routing = Routing::from_bytes(rest, "routing").map_err(|e| bad(e.to_string()))?;
        Ok(RoutedItem {
            created_ms,
            id,
            kind,
            routing,
        })
    }

    /// The entries with a timestamp in `range`, of one kind or of all, in
    /// `order`, each with its kind and routing, read lazily from the
    /// indexes: a listing rules out what a person may not see from the
    /// routing alone, and reads only the documents that remain. Nothing
    /// is decoded here.
    pub fn list_routed(
        &self,
        kind: Option<Kind>,
        range: impl RangeBounds<u64>,
        order: Order,
    ) -> RoutedItems<'_> {
        let prefix: Vec<u8> = match kind {
            Some(k) => vec![P_KIND, k.code()],
            None => vec![P_ITEM],
        };
        RoutedItems {
            store: self,
            iter: key_range(&prefix, &range).map(|(lo, hi)| self.main.range(lo..=hi)),
            by_kind: kind.is_some(),
            order,
        }
    }

    /// Every `(timestamp, id)` held, ordered by timestamp then id: the set
    /// replication reconciles over. Also iterates backwards.
    pub fn items(&self) -> Items {
        Items {
            inner: ItemsInner::All(self.main.scan_prefix([P_ITEM])),
            path: self.path.clone(),
        }
    }

    /// Every `(timestamp, id)` with `timestamp >= since`, in order.
    pub fn items_since(&self, since: u64) -> Items {
        let lo = item_key(since, &DocId([0; 32]));
        Items {
            inner: ItemsInner::All(self.main.range(lo.to_vec()..vec![P_ITEM + 1])),
            path: self.path.clone(),
        }
    }

    /// Up to `limit` `(timestamp, id)` pairs with timestamp in `range`, of
    /// one kind or of all, in `order`.
    ///
    /// `range` is any range of milliseconds (`a..b`, `a..=b`, `a..`, `..`).
    pub fn list(
        &self,
        kind: Option<Kind>,
        range: impl RangeBounds<u64>,
        limit: usize,
        order: Order,
    ) -> Result<Vec<(u64, DocId)>, StoreError> {
        let prefix: Vec<u8> = match kind {
            Some(k) => vec![P_KIND, k.code()],
            None => vec![P_ITEM],
        };
        let Some((lo, hi)) = key_range(&prefix, &range) else {
            return Ok(Vec::new());
        };
        let iter = Items {
            inner: if kind.is_some() {
                ItemsInner::ByKind(self.main.range(lo..=hi))
            } else {
                ItemsInner::All(self.main.range(lo..=hi))
            },
            path: self.path.clone(),
        };
        match order {
            Order::OldestFirst => iter.take(limit).collect(),
            Order::NewestFirst => iter.rev().take(limit).collect(),
        }
    }

    /// A named value another module keeps here (the roster in force, the
    /// search indexer's high-water mark, ...).
    pub fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .meta
            .get(name.as_bytes())
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    /// Sets a named value and flushes it to disk before returning.
    pub fn put_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta
            .insert(name.as_bytes(), value)
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// A named u64 (a counter or a marker), if set.
    pub fn get_meta_u64(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.get_meta(name)? {
            None => Ok(None),
            Some(v) => <[u8; 8]>::try_from(&v[..])
                .map(|b| Some(u64::from_be_bytes(b)))
                .map_err(|_| StoreError::BadMeta {
                    name: name.to_string(),
                    len: v.len(),
                    expected: 8,
                }),
        }
    }

    /// Sets a named u64 and flushes it to disk before returning.
    pub fn put_meta_u64(&self, name: &str, value: u64) -> Result<(), StoreError> {
        self.put_meta(name, &value.to_be_bytes())
    }

    /// Bytes the store's files take on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        let segments = self
            .segments
            .size_on_disk()
            .map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(self.db.size_on_disk().map_err(|e| self.err(e))? + segments)
    }

    /// The envelope an index entry points at (unchecked; callers decode).
    fn read_envelope(&self, id: &DocId, location: &[u8]) -> Result<Vec<u8>, StoreError> {
        let loc = Location::from_bytes(location).ok_or_else(|| StoreError::Corrupt {
            id: *id,
            reason: format!("index entry of {} bytes is not a location", location.len()),
        })?;
        // The buffer is allocated before the read: a damaged or crafted
        // entry must not make a 16-byte value claim gigabytes.
        let max = chapar_proto::document::MAX_DOCUMENT;
        if loc.len as usize > max {
            return Err(StoreError::Corrupt {
                id: *id,
                reason: format!(
                    "its index entry claims {} bytes, more than the largest document ({max})",
                    loc.len
                ),
            });
        }
        self.segments.read(loc).map_err(|e| StoreError::Corrupt {
            id: *id,
            reason: format!("cannot read it from segment {}: {e}", loc.segment),
        })
    }

    /// Reads everything and checks that the store is consistent: the
    /// segments hold, back to back up to the committed end, records that
    /// each decode to a document whose index entry points exactly there
    /// and that has its `items` and `by_kind` entries; every index entry
    /// names a held document; and the count is right. O(n); for start-up
    /// after a crash, tests and an admin command, not for every request.
    /// Run it while nothing inserts: a batch committed meanwhile can show
    /// as an inconsistency.
    pub fn check(&self) -> Result<CheckReport, StoreError> {
        let mut docs = 0u64;
        let mut doc_bytes = 0u64;
        let mut voided = 0u64;
        for record in self.scan(Position::START) {
            let (doc, after) = record?;
            let id = doc.id();
            let len = doc.as_bytes().len();
            let here = Location {
                segment: after.segment,
                offset: after.offset - len as u64,
                len: len as u32,
            };
            let entry = self
                .main
                .get(doc_key(&id))
                .map_err(|e| self.err(e))?
                .ok_or_else(|| {
                    self.inconsistent(format!(
                        "document {id} (segment {}, offset {}) has no docs entry",
                        here.segment, here.offset
                    ))
                })?;
            match Location::from_bytes(&entry) {
                Some(loc) if loc == here => {}
                Some(loc) => {
                    return Err(StoreError::Corrupt {
                        id,
                        reason: format!(
                            "its index entry points at segment {} offset {} (length {}), its record is at segment {} offset {} (length {len})",
                            loc.segment, loc.offset, loc.len, here.segment, here.offset
                        ),
                    });
                }
                None => {
                    return Err(StoreError::Corrupt {
                        id,
                        reason: format!("index entry of {} bytes is not a location", entry.len()),
                    });
                }
            }
            docs += 1;
            doc_bytes += len as u64;
            let (ts, kind) = (doc.created_ms(), doc.kind());
            if self.is_void(&id) {
                // Set aside: in no index.
                voided += 1;
                let indexed = self
                    .main
                    .contains_key(item_key(ts, &id))
                    .map_err(|e| self.err(e))?
                    || self
                        .main
                        .contains_key(kind_key(kind, ts, &id))
                        .map_err(|e| self.err(e))?;
                if indexed {
                    return Err(
                        self.inconsistent(format!("set-aside document {id} is still indexed"))
                    );
                }
                continue;
            }
            match self.main.get(item_key(ts, &id)).map_err(|e| self.err(e))? {
                Some(value) if value[..] == item_value(&doc)[..] => {}
                Some(_) => {
                    return Err(
                        self.inconsistent(format!("items has the wrong kind or routing for {id}"))
                    );
                }
                None => return Err(self.inconsistent(format!("document {id} has no items entry"))),
            }
            if !self
                .main
                .contains_key(kind_key(kind, ts, &id))
                .map_err(|e| self.err(e))?
            {
                return Err(self.inconsistent(format!("document {id} has no by_kind entry")));
            }
        }
        // Each record's entry points at it, so distinct records have
        // distinct entries: with as many entries as records, every entry
        // is a record's.
        let mut entries = 0u64;
        for kv in self.main.scan_prefix([P_DOC]) {
            kv.map_err(|e| self.err(e))?;
            entries += 1;
        }
        if entries != docs {
            return Err(self.inconsistent(format!(
                "docs has {entries} entries for {docs} documents in the segments"
            )));
        }
        // Every index entry is well formed and names a held document; with
        // the counts equal, the indexes and `docs` are in bijection.
        for (name, iter) in [
            ("items", self.items()),
            ("by_kind", self.list_all_by_kind()),
        ] {
            let mut n = 0u64;
            for item in iter {
                let (_, id) = item?;
                if !self.contains(&id)? {
                    return Err(self.inconsistent(format!("{name} entry for {id} has no document")));
                }
                n += 1;
            }
            if n != docs - voided {
                return Err(self.inconsistent(format!(
                    "{name} has {n} entries for {} documents not set aside",
                    docs - voided
                )));
            }
        }
        let count = self.len();
        if count != docs {
            return Err(self.inconsistent(format!("count says {count}, found {docs} documents")));
        }
        Ok(CheckReport {
            docs,
            doc_bytes,
            voided,
        })
    }

    fn list_all_by_kind(&self) -> Items {
        Items {
            inner: ItemsInner::ByKind(self.main.scan_prefix([P_KIND])),
            path: self.path.clone(),
        }
    }

    /// Flushes every write to disk (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// Flushes and closes the store, reporting a failed flush (dropping the
    /// store also flushes, but cannot report). The durable mark reaches
    /// the committed end: the next start replays nothing.
    /// Also interrupts waits ([`Store::interrupt_waits`]).
    pub fn close(self) -> Result<(), StoreError> {
        self.interrupt_waits();
        self.stop_workers();
        self.flush_to_mark()
    }

    /// Flushes the index, then records the mark committed before the
    /// flush as durable, and flushes that.
    fn flush_to_mark(&self) -> Result<(), StoreError> {
        let mark = self.committed.mark();
        self.flush()?;
        self.main
            .insert(STATE_MARK, &mark.to_bytes()[..])
            .map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Stops and waits for the store's threads: they hold the engine open.
    fn stop_workers(&self) {
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers {
            worker.stop(&self.path);
        }
    }

    fn err(&self, e: sled::Error) -> StoreError {
        engine_error(&self.path, e)
    }

    fn inconsistent(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Inconsistent {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.interrupt_waits();
        self.stop_workers();
        let _ = self.flush_to_mark();
    }
}

/// Committed documents in arrival order, each with the position after it:
/// from [`Store::scan`].
///
/// Stops at the committed end as of [`Store::scan`] (see [`Scan::end`]),
/// and for good after its first error.
pub struct Scan {
    records: Records,
    formats: Formats,
    path: PathBuf,
    failed: bool,
}

impl Scan {
    /// Where this scan stops: the committed end when it was created.
    pub fn end(&self) -> Position {
        self.records.end()
    }

    fn record_error(&self, e: RecordError) -> StoreError {
        let at = e.at;
        match e.kind {
            RecordErrorKind::Bad(detail) => self.bad(at, detail),
            RecordErrorKind::Io(source) => StoreError::Io {
                path: self.path.clone(),
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "reading segment {} at offset {}: {source}",
                        at.segment, at.offset
                    ),
                ),
            },
        }
    }

    fn bad(&self, at: Position, detail: String) -> StoreError {
        StoreError::Segment {
            path: self.path.clone(),
            segment: at.segment,
            offset: at.offset,
            detail,
        }
    }
}

impl Iterator for Scan {
    type Item = Result<(Document, Position), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = match self.records.next()? {
            Ok((envelope, after)) => match Document::decode(&envelope) {
                Ok(doc) => Ok((doc, after)),
                Err(e) => {
                    let at = Position {
                        segment: after.segment,
                        offset: after.offset
                            - self.formats.header_len(after.segment)
                            - envelope.len() as u64,
                    };
                    Err(self.bad(at, format!("the record does not decode: {e}")))
                }
            },
            Err(e) => Err(self.record_error(e)),
        };
        self.failed = r.is_err();
        Some(r)
    }
}

impl fmt::Debug for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scan")
            .field("path", &self.path)
            .field("records", &self.records)
            .finish()
    }
}

/// Iterator over `(timestamp, id)` pairs, from [`Store::items`],
/// [`Store::items_since`] or internally for listings.
pub struct Items {
    inner: ItemsInner,
    path: PathBuf,
}

enum ItemsInner {
    /// Time index keys: `i` ‖ ts ‖ id.
    All(sled::Iter),
    /// Kind index keys: `k` ‖ kind ‖ ts ‖ id.
    ByKind(sled::Iter),
}

impl Items {
    fn parse(
        &self,
        r: Option<sled::Result<(sled::IVec, sled::IVec)>>,
    ) -> Option<Result<(u64, DocId), StoreError>> {
        let (k, _) = match r? {
            Ok(kv) => kv,
            Err(e) => return Some(Err(engine_error(&self.path, e))),
        };
        let (tree, key, len) = match self.inner {
            ItemsInner::All(_) => ("items", k.get(1..).unwrap_or(&[]), ITEM_KEY),
            ItemsInner::ByKind(_) => ("by_kind", k.get(2..).unwrap_or(&[]), KIND_KEY),
        };
        Some(parse_ts_id(key).ok_or_else(|| StoreError::Inconsistent {
            path: self.path.clone(),
            detail: format!("{tree} key of {} bytes, expected {len}", k.len()),
        }))
    }
}

impl Iterator for Items {
    type Item = Result<(u64, DocId), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = match &mut self.inner {
            ItemsInner::All(i) | ItemsInner::ByKind(i) => i.next(),
        };
        self.parse(r)
    }
}

impl DoubleEndedIterator for Items {
    fn next_back(&mut self) -> Option<Self::Item> {
        let r = match &mut self.inner {
            ItemsInner::All(i) | ItemsInner::ByKind(i) => i.next_back(),
        };
        self.parse(r)
    }
}

impl fmt::Debug for Items {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Items").field("path", &self.path).finish()
    }
}

/// Index entries with their routing, from [`Store::list_routed`].
pub struct RoutedItems<'a> {
    store: &'a Store,
    /// `None` for an empty range.
    iter: Option<sled::Iter>,
    /// Kind index keys (`k` ‖ kind ‖ ts ‖ id): the routing is read from
    /// the time index entry of the same document.
    by_kind: bool,
    order: Order,
}

impl Iterator for RoutedItems<'_> {
    type Item = Result<RoutedItem, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let iter = self.iter.as_mut()?;
        let kv = match self.order {
            Order::OldestFirst => iter.next(),
            Order::NewestFirst => iter.next_back(),
        }?;
        let store = self.store;
        Some(kv.map_err(|e| store.err(e)).and_then(|(k, v)| {
            if !self.by_kind {
                return store.routed_item(&k, &v);
            }
            let (ts, id) = parse_ts_id(k.get(2..).unwrap_or(&[])).ok_or_else(|| {
                store.inconsistent(format!(
                    "by_kind key of {} bytes, expected {KIND_KEY}",
                    k.len()
                ))
            })?;
            // Written before the kind entry (see `index_doc`), so present.
            let key = item_key(ts, &id);
            match store.main.get(key).map_err(|e| store.err(e))? {
                Some(v) => store.routed_item(&key, &v),
                None => {
                    Err(store.inconsistent(format!("by_kind entry for {id} has no items entry")))
                }
            }
        }))
    }
}

impl fmt::Debug for RoutedItems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutedItems")
            .field("by_kind", &self.by_kind)
            .field("order", &self.order)
            .finish()
    }
}

/// Starts a thread that adds every id in `main` to `ids`, then marks it
/// complete; until then `ids` answers "maybe" and lookups go to sled. A
/// read error leaves the filter incomplete (slower, never wrong).
fn fill_ids(path: &Path, main: &sled::Tree, ids: &Arc<IdFilter>) -> std::io::Result<Worker> {
    let (main, ids, path) = (main.clone(), ids.clone(), path.to_path_buf());
    Worker::spawn("chapar-store-ids", move |stop| {
        crate::priority::lower_current_thread(crate::priority::Priority::Bulk);
        for (n, key) in main.scan_prefix([P_DOC]).keys().enumerate() {
            if n % 4096 == 0 && stop.load(Ordering::Relaxed) {
                return;
            }
            match key {
                Ok(k) if k.len() == 33 => {
                    let mut id = [0u8; 32];
                    id.copy_from_slice(&k[1..]);
                    ids.insert(&DocId(id));
                }
                Ok(_) => {
                    tracing::warn!(path = %path.display(), "store: a malformed document key; \
                        `chapar-node check` reports it");
                    return;
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "store: reading the ids failed: {e}");
                    return;
                }
            }
        }
        ids.mark_complete();
    })
}

/// Starts the thread that moves the durable mark: every
/// [`INDEX_FLUSH_MS`], if documents were committed since it last did, it
/// flushes sled, then writes the mark committed before that flush began
/// (which the next flush makes durable in turn). `durable` is the mark on
/// disk at start.
fn move_mark(
    path: &Path,
    db: sled::Db,
    main: sled::Tree,
    committed: Arc<Committed>,
    durable: Mark,
) -> std::io::Result<Worker> {
    let path = path.to_path_buf();
    Worker::spawn("chapar-store-flush", move |stop| {
        let period = Duration::from_millis(INDEX_FLUSH_MS);
        // The mark last written, and whether a flush since made it durable.
        let (mut written, mut synced) = (durable, true);
        let mut failing = false;
        loop {
            let deadline = Instant::now() + period;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if stop.load(Ordering::Relaxed) || left.is_zero() {
                    break;
                }
                std::thread::park_timeout(left);
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mark = committed.mark();
            if mark == written && synced {
                continue;
            }
            let result = db.flush().and_then(|_| {
                synced = true;
                if mark != written {
                    main.insert(STATE_MARK, &mark.to_bytes()[..])?;
                    (written, synced) = (mark, false);
                }
                Ok(())
            });
            match result {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!(path = %path.display(), "store: flushing the index works again");
                }
                Ok(()) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::error!(
                        path = %path.display(),
                        "store: flushing the index failed: {e}; acknowledged documents are safe in \
                         the segments, but a restart will replay more of them: check the disk"
                    );
                }
                Err(_) => {}
            }
        }
    })
}

/// Writes the index entries of a stored document whose envelope is at
/// `loc`: its location first, so that whatever the time and kind indexes
/// show can be read. Each is a plain insert (see the module docs for why
/// not a batch); writing them again is harmless.
fn index_doc(main: &sled::Tree, doc: &Document, loc: Location) -> sled::Result<()> {
    let id = doc.id();
    let ts = doc.created_ms();
    main.insert(&doc_key(&id)[..], &loc.to_bytes()[..])?;
    main.insert(&item_key(ts, &id)[..], item_value(doc))?;
    main.insert(&kind_key(doc.kind(), ts, &id)[..], &[][..])?;
    Ok(())
}

/// The `items` value of a document: its kind code, then its
/// [`Routing`] (who may hold it), so that replication can select a peer's
/// documents without decoding them.
fn item_value(doc: &Document) -> Vec<u8> {
    let mut v = vec![doc.kind().code()];
    v.extend_from_slice(&Routing::of(doc).to_bytes());
    v
}

/// One entry of the time index, with what replication needs to route it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedItem {
    /// The document's `created` time (ms).
    pub created_ms: u64,
    /// Its id.
    pub id: DocId,
    /// Its kind.
    pub kind: Kind,
    /// Who may hold it.
    pub routing: Routing,
}

fn doc_key(id: &DocId) -> [u8; 33] {
    let mut k = [P_DOC; 33];
    k[1..].copy_from_slice(&id.0);
    k
}

fn void_key(id: &DocId) -> [u8; 33] {
    let mut k = [P_VOID; 33];
    k[1..].copy_from_slice(&id.0);
    k
}

/// The ids [`Store::void`] set aside.
fn load_voided(path: &Path, main: &sled::Tree) -> Result<HashSet<DocId>, StoreError> {
    let mut out = HashSet::new();
    for kv in main.scan_prefix([P_VOID]) {
        let (k, _) = kv.map_err(|e| engine_error(path, e))?;
        let id: [u8; 32] = k[1..].try_into().map_err(|_| StoreError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!("a set-aside entry of {} bytes", k.len()),
        })?;
        out.insert(DocId(id));
    }
    Ok(out)
}

fn ts_id(ts: u64, id: &DocId) -> [u8; TS_ID] {
    let mut k = [0u8; TS_ID];
    k[..8].copy_from_slice(&ts.to_be_bytes());
    k[8..].copy_from_slice(&id.0);
    k
}

fn item_key(ts: u64, id: &DocId) -> [u8; ITEM_KEY] {
    let mut k = [P_ITEM; ITEM_KEY];
    k[1..].copy_from_slice(&ts_id(ts, id));
    k
}

fn kind_key(kind: Kind, ts: u64, id: &DocId) -> [u8; KIND_KEY] {
    let mut k = [P_KIND; KIND_KEY];
    k[1] = kind.code();
    k[2..].copy_from_slice(&ts_id(ts, id));
    k
}

fn parse_ts_id(k: &[u8]) -> Option<(u64, DocId)> {
    let k: &[u8; TS_ID] = k.try_into().ok()?;
    let (ts, id) = k.split_at(8);
    Some((
        u64::from_be_bytes(ts.try_into().ok()?),
        DocId(id.try_into().ok()?),
    ))
}

/// The inclusive key range `prefix ‖ ts ‖ id` covering timestamps in
/// `range`, or `None` if it is empty.
fn key_range(prefix: &[u8], range: &impl RangeBounds<u64>) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = match range.start_bound() {
        Bound::Unbounded => 0,
        Bound::Included(&t) => t,
        Bound::Excluded(&t) => t.checked_add(1)?,
    };
    let hi = match range.end_bound() {
        Bound::Unbounded => u64::MAX,
        Bound::Included(&t) => t,
        Bound::Excluded(&t) => t.checked_sub(1)?,
    };
    if lo > hi {
        return None;
    }
    let key = |ts: u64, fill: u8| {
        let mut k = prefix.to_vec();
        k.extend_from_slice(&ts_id(ts, &DocId([fill; 32])));
        k
    };
    Some((key(lo, 0), key(hi, 0xff)))
}

fn decode_stored(id: &DocId, bytes: &[u8]) -> Result<Document, StoreError> {
    let doc = Document::decode(bytes).map_err(|e| StoreError::Corrupt {
        id: *id,
        reason: e.to_string(),
    })?;
    if doc.id() != *id {
        return Err(StoreError::Corrupt {
            id: *id,
            reason: format!("the stored bytes hash to {}", doc.id()),
        });
    }
    Ok(doc)
}

/// What a store's state on disk says when it is opened.
struct State {
    /// The durable mark.
    mark: Mark,
    /// Which segments hold checksummed records.
    formats: Formats,
    /// The older layout being upgraded, if any: its segments hold records
    /// without checksums, and the upgrade is written after the replay.
    upgrading_from: Option<u64>,
}

/// Checks the layout version and loads the durable mark. A new store is
/// written at this layout at once; an older layout (4 to 7) is read as it
/// is and upgraded by the caller once its tail is replayed.
fn load_state(
    path: &Path,
    db: &sled::Db,
    main: &sled::Tree,
    seg_dir: &Path,
) -> Result<State, StoreError> {
    let e = |err| engine_error(path, err);
    let inconsistent = |detail: String| StoreError::Inconsistent {
        path: path.to_path_buf(),
        detail,
    };
    let no_documents = || -> Result<bool, StoreError> {
        Ok(main
            .scan_prefix([P_DOC])
            .next()
            .transpose()
            .map_err(e)?
            .is_none())
    };
    let Some(version) = main.get(STATE_SCHEMA).map_err(e)? else {
        if !no_documents()? {
            return Err(inconsistent(
                "documents present but no layout version".into(),
            ));
        }
        write_layout(path, db, main, Mark::EMPTY, Formats::CHECKSUMMED)?;
        return Ok(State {
            mark: Mark::EMPTY,
            formats: Formats::CHECKSUMMED,
            upgrading_from: None,
        });
    };
    let version = state_u64(path, STATE_SCHEMA, &version)?;
    let old_count = || -> Result<u64, StoreError> {
        match main.get(OLD_COUNT).map_err(e)? {
            Some(v) => state_u64(path, OLD_COUNT, &v),
            None => Ok(0),
        }
    };
    let durable_mark = || -> Result<Mark, StoreError> {
        match main.get(STATE_MARK).map_err(e)? {
            Some(v) => Mark::from_bytes(&v).ok_or_else(|| {
                inconsistent(format!(
                    "the durable mark is {} bytes, expected 20",
                    v.len()
                ))
            }),
            // A new store whose mark was lost in a crash before its first
            // flush.
            None if no_documents()? => Ok(Mark::EMPTY),
            None => Err(inconsistent("documents present but no durable mark".into())),
        }
    };
    let mark = match version {
        SCHEMA_VERSION => {
            let formats = match main.get(STATE_SUMS).map_err(e)? {
                Some(v) => Formats {
                    checksummed_from: <[u8; 4]>::try_from(&v[..])
                        .map(u32::from_be_bytes)
                        .map_err(|_| {
                            inconsistent(format!(
                                "the first checksummed segment is {} bytes, expected 4",
                                v.len()
                            ))
                        })?,
                },
                None => return Err(inconsistent("no first checksummed segment".into())),
            };
            return Ok(State {
                mark: durable_mark()?,
                formats,
                upgrading_from: None,
            });
        }
        7 => durable_mark()?,
        // Layout 5 differs from 6 only in what its tail means: bytes past
        // its end were never acknowledged. Replaying them if whole is
        // harmless (they were verified before being written). In both,
        // one atomic batch wrote the count and end with the entries.
        5 | 6 => {
            let end = match main.get(OLD_END).map_err(e)? {
                Some(v) => Position::from_bytes(&v).ok_or_else(|| {
                    inconsistent(format!(
                        "the committed end is {} bytes, expected 12",
                        v.len()
                    ))
                })?,
                None => return Err(inconsistent("no committed end".into())),
            };
            Mark {
                count: old_count()?,
                end,
            }
        }
        4 => Mark {
            count: old_count()?,
            end: migrate_from_4(path, main, seg_dir)?,
        },
        found => {
            return Err(StoreError::Schema {
                path: path.to_path_buf(),
                found,
            });
        }
    };
    Ok(State {
        mark,
        formats: Formats::UNCHECKSUMMED,
        upgrading_from: Some(version),
    })
}

/// Writes this layout's state: the durable mark and the first checksummed
/// segment, flushed, and only then the version, so that a crash in between
/// leaves the old layout to upgrade again; then drops the state of older
/// layouts.
fn write_layout(
    path: &Path,
    db: &sled::Db,
    main: &sled::Tree,
    mark: Mark,
    formats: Formats,
) -> Result<(), StoreError> {
    let e = |err| engine_error(path, err);
    main.insert(STATE_MARK, &mark.to_bytes()[..]).map_err(e)?;
    main.insert(STATE_SUMS, &formats.checksummed_from.to_be_bytes()[..])
        .map_err(e)?;
    db.flush().map_err(e)?;
    main.insert(STATE_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..])
        .map_err(e)?;
    db.flush().map_err(e)?;
    main.remove(OLD_COUNT).map_err(e)?;
    main.remove(OLD_END).map_err(e)?;
    Ok(())
}

/// Replays the write-ahead tail: the records of the segments past the
/// durable mark, which were acknowledged (or whose batch was being
/// written) but whose index entries sled may have lost, all or some. Each
/// record must be whole and its checksum match; the first that does not is
/// a torn append that was never acknowledged, and it and everything after
/// it are cut when the segments are opened. (Segments written before
/// layout 8 have no checksums: there a record must also carry a valid
/// signature.) A whole record that no longer decodes was damaged after it
/// was written, or written by another build: the store is refused, nothing
/// is cut. Signatures are never what decides what a crash took back: the
/// documents were verified before they were written, and no verdict may
/// change between ingest and replay (ADR 0016). Every record
/// past the mark is a document not held before it (appends carry only new
/// documents), so each one counts, whether sled kept its entries or not.
/// Returns the mark after replay, durable.
///
/// A bad record anywhere but in the last segment file cannot be a torn
/// append (a segment is only started after the previous one's last append
/// was synced): acknowledged documents are damaged, and the store is
/// refused rather than cut.
fn replay_tail(
    path: &Path,
    db: &sled::Db,
    main: &sled::Tree,
    seg_dir: &Path,
    durable: Mark,
    formats: Formats,
    voided: &HashSet<DocId>,
) -> Result<Mark, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_end = crate::segments::file_end(seg_dir).map_err(io)?;
    let Mark {
        mut count,
        end: durable,
    } = durable;
    if file_end <= durable {
        // Nothing past the mark (or segments shorter than it, which
        // opening the segments reports).
        return Ok(Mark {
            count,
            end: durable,
        });
    }
    let max = u32::try_from(chapar_proto::document::MAX_DOCUMENT).unwrap_or(u32::MAX);
    let mut records = Records::new(seg_dir, durable, file_end, max, formats);
    let mut end = durable;
    let mut replayed = 0u64;
    // Where the first record that is not whole and valid starts, and why.
    let mut torn: Option<(Position, String)> = None;
    while torn.is_none() {
        // The documents of one replay batch, and where each one is.
        let mut docs: Vec<Document> = Vec::with_capacity(REPLAY_BATCH);
        let mut locs: Vec<Location> = Vec::with_capacity(REPLAY_BATCH);
        for r in records.by_ref() {
            match r {
                Ok((envelope, after)) => {
                    let len = envelope.len() as u32;
                    let loc = Location {
                        segment: after.segment,
                        offset: after.offset - u64::from(len),
                        len,
                    };
                    let start = Position {
                        segment: loc.segment,
                        offset: formats.record_start(loc).unwrap_or(0),
                    };
                    match Document::decode(&envelope) {
                        Ok(doc) => {
                            docs.push(doc);
                            locs.push(loc);
                        }
                        Err(e) if formats.checksummed(loc.segment) => {
                            return Err(StoreError::Inconsistent {
                                path: path.to_path_buf(),
                                detail: format!(
                                    "segment {} holds a whole record at offset {} (its checksum matches) that does not decode: {e}; it was damaged before it was written, or written by another build",
                                    start.segment, start.offset
                                ),
                            });
                        }
                        Err(e) => {
                            torn = Some((start, format!("a record that does not decode: {e}")));
                            break;
                        }
                    }
                    if docs.len() == REPLAY_BATCH {
                        break;
                    }
                }
                Err(RecordError {
                    at,
                    kind: RecordErrorKind::Bad(why),
                }) => {
                    torn = Some((at, why));
                    break;
                }
                Err(RecordError {
                    kind: RecordErrorKind::Io(source),
                    ..
                }) => return Err(io(source)),
            }
        }
        if docs.is_empty() {
            break;
        }
        // Records without a checksum (segments of layout 7 and older): a
        // torn one can still decode, so its signature must verify too.
        let unchecked: Vec<usize> = (0..docs.len())
            .filter(|&i| !formats.checksummed(locs[i].segment))
            .collect();
        if !unchecked.is_empty() {
            let picked: Vec<Document> = unchecked.iter().map(|&i| docs[i].clone()).collect();
            let verdicts = chapar_proto::verify_batch(&picked);
            if let Some(bad) = verdicts.iter().position(|v| v.is_err()) {
                let bad = unchecked[bad];
                let loc = locs[bad];
                torn = Some((
                    Position {
                        segment: loc.segment,
                        offset: formats.record_start(loc).unwrap_or(0),
                    },
                    "a record (without checksum) whose signature does not verify".into(),
                ));
                docs.truncate(bad);
                locs.truncate(bad);
            }
        }
        let Some(last) = locs.last() else { break };
        end = last.record_end();
        for (doc, loc) in docs.iter().zip(&locs) {
            if voided.contains(&doc.id()) {
                // Set aside after it was written: its location only.
                main.insert(&doc_key(&doc.id())[..], &loc.to_bytes()[..])
                    .map_err(|e| engine_error(path, e))?;
            } else {
                index_doc(main, doc, *loc).map_err(|e| engine_error(path, e))?;
            }
        }
        count += docs.len() as u64;
        replayed += docs.len() as u64;
    }
    if let Some((at, why)) = &torn
        && at.segment < file_end.segment
    {
        return Err(StoreError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!(
                "segment {} holds {why} at offset {}, before segment {}: acknowledged documents are damaged",
                at.segment, at.offset, file_end.segment
            ),
        });
    }
    let mark = Mark { count, end };
    if replayed > 0 {
        let e = |err| engine_error(path, err);
        db.flush().map_err(e)?;
        main.insert(STATE_MARK, &mark.to_bytes()[..]).map_err(e)?;
        db.flush().map_err(e)?;
        tracing::info!(
            documents = replayed,
            "store: replayed the write-ahead tail past the index's durable mark ({durable}) up to {end}"
        );
    }
    if let Some((at, why)) = torn {
        tracing::warn!(
            "store: {why} at {at}: a torn append that was never acknowledged; cutting it"
        );
    }
    Ok(mark)
}

fn state_u64(path: &Path, key: &[u8], v: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Inconsistent {
            path: path.to_path_buf(),
            detail: format!(
                "state value {} is {} bytes, expected 8",
                String::from_utf8_lossy(key),
                v.len()
            ),
        })
}

/// Upgrades a layout 4 store (no committed end) to this layout: the
/// committed end is where the last document's record ends. Layout 4 left
/// a crashed append's bytes in place and appended after them, so first
/// checks that the documents' records lie back to back from the start
/// (which scanning in order needs); a store where they do not is refused.
/// Bytes after the last record are cut when the segments are opened.
/// Writes nothing: the caller records the end.
fn migrate_from_4(path: &Path, main: &sled::Tree, seg_dir: &Path) -> Result<Position, StoreError> {
    let e = |err| engine_error(path, err);
    let inconsistent = |detail: String| StoreError::Inconsistent {
        path: path.to_path_buf(),
        detail: format!("cannot upgrade the store from layout 4: {detail}"),
    };
    // (segment, start, end) of every document's record.
    let mut records = Vec::new();
    for kv in main.scan_prefix([P_DOC]) {
        let (_, v) = kv.map_err(e)?;
        let loc = Location::from_bytes(&v)
            .ok_or_else(|| inconsistent(format!("a docs entry of {} bytes", v.len())))?;
        let start = Formats::UNCHECKSUMMED
            .record_start(loc)
            .ok_or_else(|| inconsistent(format!("a docs entry at offset {}", loc.offset)))?;
        records.push((loc.segment, start, loc.record_end().offset));
    }
    records.sort_unstable();
    let lens: std::collections::HashMap<u32, u64> = crate::segments::list(seg_dir)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .into_iter()
        .collect();
    let mut end = Position::START;
    for (segment, start, stop) in records {
        while end.segment < segment {
            // Leaving a segment: it must end with its last record.
            let len = lens.get(&end.segment).copied().unwrap_or(0);
            if len != end.offset {
                return Err(inconsistent(format!(
                    "segment {} is {len} bytes, but its documents end at offset {}",
                    end.segment, end.offset
                )));
            }
            end = Position {
                segment: end.segment + 1,
                offset: 0,
            };
        }
        if start != end.offset {
            return Err(inconsistent(format!(
                "in segment {segment}, a document's record starts at offset {start}, where {} was expected (bytes a crash left between records, or overlapping entries)",
                end.offset
            )));
        }
        end.offset = stop;
    }
    Ok(end)
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    match e {
        // sled reports a held lock as an Io error of kind Other.
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::InUse {
                path: path.to_path_buf(),
            }
        }
        other => engine_error(path, other),
    }
}

fn engine_error(path: &Path, e: sled::Error) -> StoreError {
    let path = path.to_path_buf();
    match e {
        sled::Error::Io(source) => StoreError::Io { path, source },
        sled::Error::Corruption { at, .. } => StoreError::CorruptDb {
            path,
            detail: match at {
                Some(at) => format!("engine found corruption at {at:?}"),
                None => "engine found corruption".into(),
            },
        },
        other => StoreError::Engine {
            path,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges() {
        assert_eq!(key_range(&[], &(5..5)), None);
        assert_eq!(key_range(&[], &(0..0)), None);
        assert_eq!(key_range(&[], &(u64::MAX..)).map(|r| r.0.len()), Some(40));
        let (lo, hi) = key_range(&[3], &(5..=9)).expect("non-empty");
        assert_eq!(lo[0], 3);
        assert_eq!(&lo[1..9], &5u64.to_be_bytes());
        assert_eq!(&hi[1..9], &9u64.to_be_bytes());
        assert!(hi[9..].iter().all(|&b| b == 0xff));
        let (lo, hi) = key_range(&[], &(..10)).expect("non-empty");
        assert_eq!(&lo[..8], &0u64.to_be_bytes());
        assert_eq!(&hi[..8], &9u64.to_be_bytes());
    }

    #[test]
    fn item_keys_roundtrip() {
        let id = DocId([7; 32]);
        assert_eq!(parse_ts_id(&item_key(42, &id)[1..]), Some((42, id)));
        assert_eq!(parse_ts_id(&[0; 39]), None);
        assert_eq!(kind_key(Kind::Cable, 42, &id)[1], Kind::Cable.code());
        assert_eq!(doc_key(&id)[0], P_DOC);
    }

    /// Listing with routing: both indexes, both orders, a time range, and
    /// each entry's routing as the document gives it.
    #[test]
    fn listed_entries_carry_their_routing() {
        use chapar_proto::{
            Body, Classification, Id, PageId, Receipt, ReceiptStatus, WikiRevision,
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let wiki = |n: u8, ts: u64, c: Classification| {
            Document::sign(
                &key,
                ts,
                Body::WikiRevision(WikiRevision {
                    page: PageId([n; 16]),
                    parents: vec![],
                    title: format!("Page {n}"),
                    classification: c,
                    caption: None,
                    body: "text".into(),
                    summary: String::new(),
                }),
            )
            .expect("sign")
        };
        let receipt = Document::sign(
            &key,
            25,
            Body::Receipt(Receipt {
                cable: DocId([3; 32]),
                originator: Id::new("mfa").expect("id"),
                mission: Id::new("emb-tokyo").expect("id"),
                status: ReceiptStatus::Delivered,
                marking: chapar_proto::Marking {
                    classification: Classification::Restricted,
                    caption: None,
                },
            }),
        )
        .expect("sign");
        let docs = vec![
            wiki(1, 10, Classification::Secret),
            wiki(2, 20, Classification::Unclassified),
            receipt,
            wiki(3, 30, Classification::Confidential),
        ];
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path().join("db")).expect("open");
        store.insert_batch(&docs).expect("insert");
        let listed = |kind, range: std::ops::RangeInclusive<u64>, order| -> Vec<RoutedItem> {
            store
                .list_routed(kind, range, order)
                .collect::<Result<_, _>>()
                .expect("list")
        };
        let all = listed(None, 0..=u64::MAX, Order::OldestFirst);
        assert_eq!(all.len(), 4);
        for (item, doc) in all.iter().zip(&docs) {
            assert_eq!(
                (item.created_ms, item.id, item.kind),
                (doc.created_ms(), doc.id(), doc.kind())
            );
            assert_eq!(item.routing, Routing::of(doc));
        }
        let pages = listed(Some(Kind::WikiRevision), 0..=u64::MAX, Order::NewestFirst);
        let ts: Vec<u64> = pages.iter().map(|i| i.created_ms).collect();
        assert_eq!(ts, vec![30, 20, 10]);
        assert!(pages.iter().all(|i| i.kind == Kind::WikiRevision));
        assert_eq!(pages[0].routing, Routing::of(&docs[3]));
        let middle = listed(None, 15..=25, Order::OldestFirst);
        let ts: Vec<u64> = middle.iter().map(|i| i.created_ms).collect();
        assert_eq!(ts, vec![20, 25]);
        assert!(listed(Some(Kind::Cable), 0..=u64::MAX, Order::OldestFirst).is_empty());
        assert!(
            store
                .list_routed(None, 5..5, Order::OldestFirst)
                .next()
                .is_none()
        );
        store.close().expect("close");
    }
}
