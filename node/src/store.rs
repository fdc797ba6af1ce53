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
//! Tree `main` (one tree, so that a batch is one atomic `apply_batch`):
//!
//! | key | value | what |
//! |---|---|---|
//! | `d` ‖ `DocId` | segment, offset, length (16 bytes) | where the envelope is |
//! | `i` ‖ `created_ms` (8, BE) ‖ `DocId` | kind code ‖ routing | time index |
//! | `k` ‖ kind ‖ `created_ms` (8, BE) ‖ `DocId` | empty | kind index |
//! | `s/schema`, `s/count` | u64 BE | the store's own bookkeeping |
//! | `s/end` | [`Position`] (12 bytes) | the committed end of the segments |
//!
//! Tree `meta`: name (UTF-8) → bytes, for other modules (roster, markers).
//!
//! Envelopes themselves live in append-only segment files
//! (`segments/NNNNNNNN.seg`, see `segments.rs`): a batch is one sequential
//! append and sync, then one index batch. sled only holds small entries,
//! which is where its time went. The segments are the write-ahead log: each
//! index batch also records the end of the segments it covers (`s/end`),
//! and opening the store replays whatever records lie past the end that
//! sled had flushed, and cuts a torn tail, so the segments hold exactly the
//! stored documents, back to back, in the order they arrived.
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
//! store's own counters are not in `meta`, so a module's meta name can
//! never clobber them.
//!
//! # Durability and atomicity
//!
//! [`Store::insert_batch`] appends the batch's envelopes to the segments and
//! syncs them (one `fdatasync`), then applies every index entry of the batch
//! in one atomic sled batch: **its `Ok` is the acknowledgement**, and a
//! document acknowledged to a client or peer survives `kill -9` or power
//! loss right after (tested in `node/tests/store.rs`). sled itself is
//! flushed in the background ([`INDEX_FLUSH_MS`]) and on close, off the
//! acknowledgement path: one sync per batch instead of two, which is what
//! the latency of a live cable waited on (`docs/benchmarks.md`). After a
//! crash, [`Store::open`] replays the records past sled's durable mark:
//! each must decode and its signature verify, so a torn append (never
//! acknowledged) is recognised and cut, never indexed. A crash never leaves
//! an index entry without its document or the reverse; [`Store::check`]
//! proves it on demand.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use chapar_proto::access::Routing;
use chapar_proto::{Decode, DocId, Document, Encode, Kind};
use thiserror::Error;

use crate::idfilter::IdFilter;
pub use crate::segments::Position;
use crate::segments::{Location, OpenError, RecordError, RecordErrorKind, Records, Segments};

/// The on-disk layout this build reads and writes.
///
/// 5 added the committed end (`s/end`); 6 made the segments the
/// write-ahead log (records past `s/end` are replayed, not cut, so a build
/// of layout 5 must not open it). Layouts 4 and 5 are upgraded in place
/// when opened.
pub const SCHEMA_VERSION: u64 = 6;

/// How often sled flushes the index in the background. The segments hold
/// every acknowledged document meanwhile; this only bounds how much a
/// start after a crash replays (about a second of arrivals).
pub const INDEX_FLUSH_MS: u64 = 1_000;

/// Documents replayed per index batch when a start replays the tail.
const REPLAY_BATCH: usize = 1_024;

/// Documents, both indexes and the count share one tree, told apart by a
/// key prefix, so that one `apply_batch` writes a whole batch atomically —
/// several times cheaper than a multi-tree transaction.
const TREE_MAIN: &str = "main";
const TREE_META: &str = "meta";
const P_DOC: u8 = b'd';
const P_ITEM: u8 = b'i';
const P_KIND: u8 = b'k';
const STATE_SCHEMA: &[u8] = b"s/schema";
const STATE_COUNT: &[u8] = b"s/count";
const STATE_END: &[u8] = b"s/end";

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
}

/// The node's document store. Cheap to share behind an `Arc`; every method
/// takes `&self` and is safe to call from several threads.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    segments: Segments,
    main: sled::Tree,
    meta: sled::Tree,
    count: AtomicU64,
    /// Documents the last open replayed from the write-ahead tail.
    replayed: u64,
    /// One batch at a time: the duplicate check and the count must see
    /// every earlier batch. Holds whether a write failed: the segments and
    /// the index may then disagree past the committed end, and only
    /// reopening (which cuts back to it) makes appending safe again.
    writer: Mutex<bool>,
    /// The committed end, for [`Store::end`] and [`Store::wait_past`].
    ends: Mutex<Ends>,
    /// Notified when the committed end moves or waits are interrupted.
    ends_changed: Condvar,
    /// The ids held, so that a new document is known new without a lookup
    /// in sled; filled from sled in the background after opening.
    ids: Arc<IdFilter>,
    /// The thread filling `ids`, and the flag that stops it early.
    filling: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

/// The committed end and who waits for it to move.
struct Ends {
    /// Everything before it is committed and durable.
    end: Position,
    /// Threads in [`Store::wait_past`]: notify only if some.
    waiters: usize,
    /// [`Store::interrupt_waits`] was called (or the store is closing).
    interrupted: bool,
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
        // background, off the acknowledgement path.
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
        let (count, durable) = load_state(&path, &db, &main, &seg_dir)?;
        let replayed_from = count;
        let (count, end) = replay_tail(&path, &db, &main, &seg_dir, count, durable)?;
        let segments = Segments::open(&seg_dir, segment_bytes, end).map_err(|err| match err {
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
        let ids = Arc::new(IdFilter::new(count));
        let filling = fill_ids(&path, &main, &ids).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(Store {
            path,
            db,
            segments,
            ids,
            filling: Mutex::new(Some(filling)),
            main,
            meta,
            count: AtomicU64::new(count),
            replayed: count - replayed_from,
            writer: Mutex::new(false),
            ends: Mutex::new(Ends {
                end,
                waiters: 0,
                interrupted: false,
            }),
            ends_changed: Condvar::new(),
        })
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
    /// changes nothing. The documents and all their index entries are
    /// written atomically, the envelopes synced to disk first: when this
    /// returns `Ok`, every document of the batch survives a crash, and
    /// [`Store::end`] is past it. An empty batch does nothing.
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
            let mut count = self.count.load(Ordering::SeqCst);
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
                // at them, with the new committed end.
                let envelopes: Vec<&[u8]> = fresh.iter().map(|d| d.as_bytes()).collect();
                let (locations, end) = self.segments.append(&envelopes).map_err(|source| {
                    *failed = true;
                    StoreError::Io {
                        path: self.path.clone(),
                        source,
                    }
                })?;
                count += fresh.len() as u64;
                let batch = index_batch(fresh.iter().copied().zip(locations), count, end);
                self.main.apply_batch(batch).map_err(|e| {
                    *failed = true;
                    self.err(e)
                })?;
                self.count.store(count, Ordering::SeqCst);
                // The batch is durable (its segment bytes are synced) and
                // indexed: consumers may see it. Batches commit in order
                // under the writer lock, so the end only moves forward.
                let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
                ends.end = end;
                if ends.waiters > 0 {
                    self.ends_changed.notify_all();
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
        self.ends.lock().unwrap_or_else(|p| p.into_inner()).end
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
            ),
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
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        while ends.end <= pos && !ends.interrupted {
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
                    self.ends_changed
                        .wait_timeout(ends, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => self
                    .ends_changed
                    .wait(ends)
                    .unwrap_or_else(|p| p.into_inner()),
            };
            ends.waiters -= 1;
        }
        ends.end
    }

    /// Makes every [`Store::wait_past`], current and later, return at
    /// once: for stopping a consumer thread that waits on the store.
    /// [`Store::close`] and dropping the store do it too.
    pub fn interrupt_waits(&self) {
        let mut ends = self.ends.lock().unwrap_or_else(|p| p.into_inner());
        ends.interrupted = true;
        self.ends_changed.notify_all();
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
        self.count.load(Ordering::SeqCst)
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
        })
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
            let (ts, kind) = (doc.created_ms(), doc.kind());
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
            docs += 1;
            doc_bytes += len as u64;
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
            if n != docs {
                return Err(
                    self.inconsistent(format!("{name} has {n} entries for {docs} documents"))
                );
            }
        }
        let count = self.len();
        if count != docs {
            return Err(self.inconsistent(format!("count says {count}, found {docs} documents")));
        }
        Ok(CheckReport { docs, doc_bytes })
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
    /// store also flushes, but cannot report).
    /// Also interrupts waits ([`Store::interrupt_waits`]).
    pub fn close(self) -> Result<(), StoreError> {
        self.interrupt_waits();
        self.stop_filling();
        self.flush()
    }

    /// Stops and waits for the thread filling the id filter: it holds the
    /// engine open.
    fn stop_filling(&self) {
        let filling = self
            .filling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, thread)) = filling {
            stop.store(true, Ordering::Relaxed);
            if thread.join().is_err() {
                tracing::warn!(path = %self.path.display(), "the id filter thread panicked");
            }
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
        self.stop_filling();
        let _ = self.db.flush();
    }
}

/// Committed documents in arrival order, each with the position after it:
/// from [`Store::scan`].
///
/// Stops at the committed end as of [`Store::scan`] (see [`Scan::end`]),
/// and for good after its first error.
pub struct Scan {
    records: Records,
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
                        offset: after.offset - 4 - envelope.len() as u64,
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

/// Starts a thread that adds every id in `main` to `ids`, then marks it
/// complete; until then `ids` answers "maybe" and lookups go to sled. A
/// read error leaves the filter incomplete (slower, never wrong).
fn fill_ids(
    path: &Path,
    main: &sled::Tree,
    ids: &Arc<IdFilter>,
) -> std::io::Result<(Arc<AtomicBool>, std::thread::JoinHandle<()>)> {
    let stop = Arc::new(AtomicBool::new(false));
    let (main, ids, flag, path) = (main.clone(), ids.clone(), stop.clone(), path.to_path_buf());
    let thread = std::thread::Builder::new()
        .name("chapar-store-ids".into())
        .spawn(move || {
            crate::priority::lower_current_thread(crate::priority::Priority::Bulk);
            for (n, key) in main.scan_prefix([P_DOC]).keys().enumerate() {
                if n % 4096 == 0 && flag.load(Ordering::Relaxed) {
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
        })?;
    Ok((stop, thread))
}

/// The index entries of stored documents (each with where its envelope
/// is), with the new count and end, as one atomic batch.
fn index_batch<'a>(
    docs: impl Iterator<Item = (&'a Document, Location)>,
    count: u64,
    end: Position,
) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (doc, loc) in docs {
        let id = doc.id();
        let ts = doc.created_ms();
        batch.insert(&doc_key(&id)[..], &loc.to_bytes()[..]);
        batch.insert(&item_key(ts, &id)[..], item_value(doc));
        batch.insert(&kind_key(doc.kind(), ts, &id)[..], &[][..]);
    }
    batch.insert(STATE_COUNT, &count.to_be_bytes()[..]);
    batch.insert(STATE_END, &end.to_bytes()[..]);
    batch
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

/// Checks the layout version (upgrading layouts 4 and 5) and loads the
/// document count and the end recorded in sled's last durable batch.
fn load_state(
    path: &Path,
    db: &sled::Db,
    main: &sled::Tree,
    seg_dir: &Path,
) -> Result<(u64, Position), StoreError> {
    let e = |err| engine_error(path, err);
    let inconsistent = |detail: String| StoreError::Inconsistent {
        path: path.to_path_buf(),
        detail,
    };
    let end = match main.get(STATE_SCHEMA).map_err(e)? {
        Some(v) => match state_u64(path, STATE_SCHEMA, &v)? {
            // Layout 5 differs only in what its tail means: bytes past its
            // end were never acknowledged. Replaying them if whole is
            // harmless (they were verified before being written).
            version @ (5 | SCHEMA_VERSION) => {
                let end = match main.get(STATE_END).map_err(e)? {
                    Some(v) => Position::from_bytes(&v).ok_or_else(|| {
                        inconsistent(format!(
                            "the committed end is {} bytes, expected 12",
                            v.len()
                        ))
                    })?,
                    None => return Err(inconsistent("no committed end".into())),
                };
                if version != SCHEMA_VERSION {
                    main.insert(STATE_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..])
                        .map_err(e)?;
                    db.flush().map_err(e)?;
                    tracing::info!(
                        path = %path.display(),
                        "store: upgraded from layout {version} to {SCHEMA_VERSION}"
                    );
                }
                end
            }
            4 => migrate_from_4(path, db, main, seg_dir)?,
            found => {
                return Err(StoreError::Schema {
                    path: path.to_path_buf(),
                    found,
                });
            }
        },
        None => {
            if !main.is_empty() {
                return Err(inconsistent(
                    "documents present but no layout version".into(),
                ));
            }
            let mut batch = sled::Batch::default();
            batch.insert(STATE_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..]);
            batch.insert(STATE_END, &Position::START.to_bytes()[..]);
            main.apply_batch(batch).map_err(e)?;
            db.flush().map_err(e)?;
            Position::START
        }
    };
    let count = match main.get(STATE_COUNT).map_err(e)? {
        Some(v) => state_u64(path, STATE_COUNT, &v)?,
        None => 0,
    };
    Ok((count, end))
}

/// Replays the write-ahead tail: the records of the segments past
/// `durable` (the end sled had flushed when the node stopped), which were
/// acknowledged but whose index entries sled lost. Each record must be
/// whole, decode, and carry a valid signature; the first that does not is
/// a torn append that was never acknowledged, and it and everything after
/// it are cut when the segments are opened. Returns the count and the end
/// after replay.
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
    mut count: u64,
    durable: Position,
) -> Result<(u64, Position), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_end = crate::segments::file_end(seg_dir).map_err(io)?;
    if file_end <= durable {
        // Nothing past the mark (or segments shorter than it, which
        // opening the segments reports).
        return Ok((count, durable));
    }
    let max = u32::try_from(chapar_proto::document::MAX_DOCUMENT).unwrap_or(u32::MAX);
    let mut records = Records::new(seg_dir, durable, file_end, max);
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
                    match Document::decode(&envelope) {
                        Ok(doc) => {
                            docs.push(doc);
                            locs.push(loc);
                        }
                        Err(e) => {
                            torn = Some((
                                Position {
                                    segment: loc.segment,
                                    offset: loc.offset - 4,
                                },
                                format!("a record that does not decode: {e}"),
                            ));
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
        let verdicts = chapar_proto::verify_batch(&docs);
        if let Some(bad) = verdicts.iter().position(|v| v.is_err()) {
            let loc = locs[bad];
            torn = Some((
                Position {
                    segment: loc.segment,
                    offset: loc.offset - 4,
                },
                "a record whose signature does not verify".into(),
            ));
            docs.truncate(bad);
            locs.truncate(bad);
        }
        // Defensive: a document sled already has (it cannot, past its
        // durable mark) is not indexed twice.
        let mut fresh = Vec::with_capacity(docs.len());
        for (doc, loc) in docs.iter().zip(&locs) {
            if !main
                .contains_key(doc_key(&doc.id()))
                .map_err(|e| engine_error(path, e))?
            {
                fresh.push((doc, *loc));
            }
        }
        let Some(last) = locs.last() else { break };
        end = last.record_end();
        count += fresh.len() as u64;
        replayed += fresh.len() as u64;
        main.apply_batch(index_batch(fresh.into_iter(), count, end))
            .map_err(|e| engine_error(path, e))?;
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
    if replayed > 0 {
        db.flush().map_err(|e| engine_error(path, e))?;
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
    Ok((count, end))
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
fn migrate_from_4(
    path: &Path,
    db: &sled::Db,
    main: &sled::Tree,
    seg_dir: &Path,
) -> Result<Position, StoreError> {
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
        let start = loc
            .record_start()
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
    let mut batch = sled::Batch::default();
    batch.insert(STATE_SCHEMA, &SCHEMA_VERSION.to_be_bytes()[..]);
    batch.insert(STATE_END, &end.to_bytes()[..]);
    main.apply_batch(batch).map_err(e)?;
    db.flush().map_err(e)?;
    tracing::info!(
        path = %path.display(),
        "store: upgraded from layout 4 to {SCHEMA_VERSION}; committed end at {end}"
    );
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
}
