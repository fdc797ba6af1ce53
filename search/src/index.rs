//! The search index of one node: a tantivy index in a directory, derived
//! from the node's store and rebuilt from it whenever it is missing,
//! damaged or of another schema version.
//!
//! One writer (the node's indexer thread) adds entries and commits by time;
//! each commit records, in tantivy's commit payload, how far into the store
//! it has indexed, so the index content and that position are always
//! committed together and a restart resumes exactly where the last commit
//! ended. Searches run concurrently on the last committed view.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chapar_proto::roster::Person;
use chapar_proto::{Classification, DocId, Document, PageId, Trust};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, MultiCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query as TantivyQuery, TermQuery};
use tantivy::schema::{Facet, IndexRecordOption, Value};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

use crate::analysis::{self, ChaparTokenizer};
use crate::api::{
    EntryKind, Facets, Hit, MAX_LIMIT, MAX_OFFSET, SearchRequest, SearchResponse, Snippet, Sort,
};
use crate::compile::{Compiler, Matcher, Matching, RERANK_DEPTH, proximity_bonus};
use crate::entry::{Entry, entries, head_key};
use crate::facets::FacetTables;
use crate::filter_cache::FilterCache;
use crate::query;
use crate::schema::{Fields, SCHEMA_VERSION};
use crate::snippet::{Snippets, Sought};
use chapar_proto::wiki::history::Graph;

/// Memory the writer may buffer before it writes a segment.
const WRITER_BUDGET: usize = 128 << 20;
/// Most characters of a snippet (see [`crate::snippet`]).
const SNIPPET_CHARS: usize = 240;
/// Hits per page when the request says 0.
const DEFAULT_LIMIT: usize = 10;

/// Why the index could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// tantivy failed.
    #[error("search index at {path}: {source}")]
    Index {
        /// Index directory.
        path: PathBuf,
        /// What tantivy said.
        #[source]
        source: tantivy::TantivyError,
    },
    /// A file operation failed.
    #[error("search index at {path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The query text could not be parsed.
    #[error("query: {0}")]
    Query(#[from] query::QueryError),
    /// The request is not valid.
    #[error("search request: {0}")]
    Request(String),
}

/// What the commit payload records.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    /// Opaque store position (hex) everything before which is indexed.
    position: String,
}

/// Why an existing index was set aside and a new one started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebuilt {
    /// There was no index.
    Missing,
    /// It could not be opened; it was moved to `moved_to`.
    Damaged {
        /// What failed.
        reason: String,
        /// Where the damaged index now is.
        moved_to: PathBuf,
    },
    /// It was of another schema version (moved aside too).
    Outdated {
        /// Its version.
        found: u32,
        /// Where it now is.
        moved_to: PathBuf,
    },
}

/// What one search pass collected.
struct Collected {
    total: u64,
    hits: Vec<(f32, DocAddress)>,
    facets: Option<Facets>,
}

/// Why an existing index could not be opened.
enum Opening {
    /// Another process holds its writer lock: not damage, an error.
    Busy(tantivy::TantivyError),
    /// Anything else: the index is set aside and rebuilt.
    Damaged(String),
}

/// Most revisions of one page [`SearchIndex::revisions_of`] returns.
pub const MAX_REVISIONS: usize = 10_000;

/// State of the one writer.
struct WriterState {
    writer: IndexWriter,
    /// (page, revision) for each parent named by a revision added since
    /// the last commit, with how many name it (the committed view does not
    /// show them yet).
    pending_parents: HashMap<(PageId, DocId), u32>,
    /// Entries added since the last commit.
    pending: u64,
}

/// A node's search index.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    writer: Mutex<WriterState>,
    /// Snippets analyse hits' texts with clones of it, which share its
    /// stem caches from search to search.
    tokenizer: ChaparTokenizer,
    /// Access and kind filters per segment, shared by every search.
    filters: Arc<FilterCache>,
    /// Facet sets per segment (see [`crate::facets`]).
    facet_tables: Arc<FacetTables>,
}

fn err(dir: &Path) -> impl Fn(tantivy::TantivyError) -> SearchError + '_ {
    move |source| SearchError::Index {
        path: dir.to_owned(),
        source,
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Moves a damaged or outdated index out of the way (kept for inspection,
/// never deleted by us); returns where it went.
pub fn set_aside(dir: &Path) -> Result<PathBuf, SearchError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut to = dir.as_os_str().to_owned();
    to.push(format!(".set-aside-{stamp}"));
    let to = PathBuf::from(to);
    std::fs::rename(dir, &to).map_err(io(dir))?;
    Ok(to)
}

impl SearchIndex {
    /// Opens the index in `dir`, or starts a new one there if it is
    /// missing, cannot be opened, or is of another schema version. The
    /// second value says why a new one was started; then the caller
    /// indexes the store from the beginning.
    pub fn open(dir: &Path) -> Result<(SearchIndex, Option<Rebuilt>), SearchError> {
        let rebuilt = if dir.join("meta.json").exists() {
            match SearchIndex::open_existing(dir) {
                Ok(Ok(index)) => return Ok((index, None)),
                Ok(Err(found)) => Rebuilt::Outdated {
                    found,
                    moved_to: set_aside(dir)?,
                },
                Err(Opening::Busy(e)) => return Err(err(dir)(e)),
                Err(Opening::Damaged(reason)) => Rebuilt::Damaged {
                    reason,
                    moved_to: set_aside(dir)?,
                },
            }
        } else {
            if dir.exists() {
                // A directory without meta.json holds no committed index
                // (a crash before the first commit): start over in it.
                std::fs::remove_dir_all(dir).map_err(io(dir))?;
            }
            Rebuilt::Missing
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (schema, _) = Fields::build();
        let index = Index::create_in_dir(dir, schema).map_err(err(dir))?;
        let opened = SearchIndex::assemble(dir, index).map_err(err(dir))?;
        Ok((opened, Some(rebuilt)))
    }

    /// Opens an existing index; `Ok(Err(version))` if it is of another
    /// schema version.
    fn open_existing(dir: &Path) -> Result<Result<SearchIndex, u32>, Opening> {
        let damaged = |e: tantivy::TantivyError| match e {
            tantivy::TantivyError::LockFailure(..) => Opening::Busy(e),
            other => Opening::Damaged(other.to_string()),
        };
        let index = Index::open_in_dir(dir).map_err(damaged)?;
        let metas = index.load_metas().map_err(damaged)?;
        let found = match metas.payload.as_deref() {
            // Created but never committed by us: empty, and ours.
            None => SCHEMA_VERSION,
            Some(p) => serde_json::from_str::<Payload>(p).map_or(0, |p| p.schema),
        };
        let (schema, _) = Fields::build();
        let same_schema =
            serde_json::to_string(&index.schema()).ok() == serde_json::to_string(&schema).ok();
        if found != SCHEMA_VERSION || !same_schema {
            return Ok(Err(found));
        }
        SearchIndex::assemble(dir, index).map(Ok).map_err(damaged)
    }

    /// The reader and the writer over an opened index. Opening the reader
    /// opens every segment, so a missing or truncated segment file shows
    /// here.
    fn assemble(dir: &Path, index: Index) -> tantivy::Result<SearchIndex> {
        let (_, fields) = Fields::build();
        analysis::register(index.tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 4);
        let writer: IndexWriter = index.writer_with_num_threads(threads, WRITER_BUDGET)?;
        Ok(SearchIndex {
            dir: dir.to_owned(),
            index,
            reader,
            fields,
            writer: Mutex::new(WriterState {
                writer,
                pending_parents: HashMap::new(),
                pending: 0,
            }),
            tokenizer: ChaparTokenizer::default(),
            filters: Arc::new(FilterCache::default()),
            facet_tables: Arc::new(FacetTables::default()),
        })
    }

    /// The store position recorded by the last commit (`None`: nothing
    /// indexed yet).
    pub fn position(&self) -> Result<Option<Vec<u8>>, SearchError> {
        let metas = self.index.load_metas().map_err(err(&self.dir))?;
        let Some(p) = metas.payload else {
            return Ok(None);
        };
        let p: Payload = serde_json::from_str(&p)
            .map_err(|e| SearchError::Request(format!("commit payload: {e}")))?;
        decode_hex(&p.position)
            .map(Some)
            .ok_or_else(|| SearchError::Request("commit payload: position is not hex".into()))
    }

    /// Entries added since the last commit.
    pub fn pending(&self) -> u64 {
        self.lock().pending
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds what `doc` contributes (see [`crate::entry`]). Not visible to
    /// searches until [`SearchIndex::commit`].
    ///
    /// A wiki revision's page entry is kept only while it is a head of its
    /// page (`chapar_proto::wiki::history`): it is not added if a revision
    /// the index holds names it as a parent, and it deletes the entries of
    /// the parents it names. Either arrival order ends the same.
    pub fn add(&self, doc: &Document, trust: &Trust) -> Result<(), SearchError> {
        let mut w = self.lock();
        for e in entries(doc, trust) {
            if let Some(page) = e.page.filter(|_| e.kind == EntryKind::Wiki) {
                for p in &e.parents {
                    w.writer
                        .delete_term(Term::from_field_text(self.fields.key, &head_key(&page, p)));
                    *w.pending_parents.entry((page, *p)).or_insert(0) += 1;
                }
                if self.named_as_parent(&w, &page, &e.id)? {
                    continue;
                }
                // The same revision indexed again replaces its entry.
                w.writer
                    .delete_term(Term::from_field_text(self.fields.key, &e.key));
            }
            w.writer
                .add_document(self.to_tantivy(&e))
                .map_err(err(&self.dir))?;
            w.pending += 1;
        }
        Ok(())
    }

    /// Whether a revision of `page` that the index holds (committed or
    /// added since) names `id` as a parent.
    fn named_as_parent(
        &self,
        w: &WriterState,
        page: &PageId,
        id: &DocId,
    ) -> Result<bool, SearchError> {
        if w.pending_parents.get(&(*page, *id)).is_some_and(|n| *n > 0) {
            return Ok(true);
        }
        let searcher = self.reader.searcher();
        let parent = Term::from_field_text(self.fields.parents, &id.to_hex());
        // Most revisions are named by none: the term dictionary answers.
        if searcher.doc_freq(&parent).map_err(err(&self.dir))? == 0 {
            return Ok(false);
        }
        let q = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(parent, IndexRecordOption::Basic)) as Box<dyn TantivyQuery>,
            ),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.page, &page.to_string()),
                    IndexRecordOption::Basic,
                )),
            ),
        ]);
        let n = searcher.search(&q, &Count).map_err(err(&self.dir))?;
        Ok(n > 0)
    }

    /// Takes out every entry of `doc`, which its node has set aside (a
    /// roster no longer allows its author to have written it; ADR 0018).
    /// If it was a wiki revision, its page's heads are worked out again
    /// from `others` — the page's other revisions the node still holds —
    /// and their entries replace the page's. Not visible to searches until
    /// [`SearchIndex::commit`].
    pub fn remove(
        &self,
        doc: &Document,
        others: &[Document],
        trust: &Trust,
    ) -> Result<(), SearchError> {
        let mut w = self.lock();
        let id = doc.id();
        w.writer
            .delete_term(Term::from_field_text(self.fields.id, &id.to_hex()));
        let chapar_proto::Body::WikiRevision(rev) = doc.body() else {
            return Ok(());
        };
        let page = rev.page;
        for p in &rev.parents {
            if let Some(n) = w.pending_parents.get_mut(&(page, *p)) {
                *n = n.saturating_sub(1);
            }
        }
        let others: Vec<&Document> = others.iter().filter(|o| o.id() != id).collect();
        let revisions: Vec<(DocId, &chapar_proto::WikiRevision)> = others
            .iter()
            .filter_map(|o| match o.body() {
                chapar_proto::Body::WikiRevision(r) => Some((o.id(), r)),
                _ => None,
            })
            .collect();
        let heads = Graph::new(page, revisions).heads();
        for o in &others {
            w.writer.delete_term(Term::from_field_text(
                self.fields.key,
                &head_key(&page, &o.id()),
            ));
        }
        for o in others.iter().filter(|o| heads.contains(&o.id())) {
            for e in entries(o, trust)
                .into_iter()
                .filter(|e| e.kind == EntryKind::Wiki)
            {
                w.writer
                    .add_document(self.to_tantivy(&e))
                    .map_err(err(&self.dir))?;
                w.pending += 1;
            }
        }
        Ok(())
    }

    /// The ids of the revisions of `page` in the index (one history entry
    /// each), as committed.
    pub fn revisions_of(&self, page: &PageId) -> Result<Vec<DocId>, SearchError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(
            Term::from_field_text(self.fields.page, &page.to_string()),
            IndexRecordOption::Basic,
        );
        let hits = searcher
            .search(&q, &TopDocs::with_limit(MAX_REVISIONS).order_by_score())
            .map_err(err(&self.dir))?;
        let mut ids = Vec::with_capacity(hits.len());
        for (_, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr).map_err(err(&self.dir))?;
            let is_revision = doc
                .get_first(self.fields.kind)
                .and_then(|v| v.as_str())
                .is_some_and(|k| k == EntryKind::Revision.as_str());
            let id = doc
                .get_first(self.fields.id)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<DocId>().ok());
            if let (true, Some(id)) = (is_revision, id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Makes everything added visible and records `position` as indexed.
    pub fn commit(&self, position: &[u8]) -> Result<(), SearchError> {
        let mut w = self.lock();
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            position: encode_hex(position),
        })
        .map_err(|e| SearchError::Request(e.to_string()))?;
        let mut prepared = w.writer.prepare_commit().map_err(err(&self.dir))?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(err(&self.dir))?;
        w.pending = 0;
        w.pending_parents.clear();
        drop(w);
        self.reader.reload().map_err(err(&self.dir))
    }

    /// Number of segments searches currently go through.
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// Entries visible to searches (all kinds, before access control).
    pub fn entries(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Waits for background merges to finish (shutdown, tests).
    pub fn close(self) -> Result<(), SearchError> {
        let dir = self.dir.clone();
        let w = self.writer.into_inner().unwrap_or_else(|p| p.into_inner());
        w.writer.wait_merging_threads().map_err(err(&dir))
    }

    fn to_tantivy(&self, e: &Entry) -> TantivyDocument {
        let f = &self.fields;
        let mut d = TantivyDocument::new();
        if e.kind == EntryKind::Wiki {
            d.add_text(f.key, &e.key);
        }
        d.add_text(f.id, e.id.to_hex());
        if let Some(p) = &e.page {
            d.add_text(f.page, p.to_string());
        }
        // Stored for display; filters and facet counts use the facet
        // field below.
        d.add_text(f.kind, e.kind.as_str());
        d.add_text(f.mission, &e.mission);
        d.add_text(f.author, &e.author);
        for t in &e.tags {
            d.add_text(f.tag, t);
        }
        d.add_facet(f.facet, Facet::from_path(["kind", e.kind.as_str()]));
        if !e.mission.is_empty() {
            d.add_facet(f.facet, Facet::from_path(["mission", e.mission.as_str()]));
        }
        if !e.author.is_empty() {
            d.add_facet(f.facet, Facet::from_path(["author", e.author.as_str()]));
        }
        for t in &e.tags {
            d.add_facet(f.facet, Facet::from_path(["tag", t.as_str()]));
        }
        d.add_u64(f.class, u64::from(e.classification.code()));
        d.add_text(f.caption, e.caption_term());
        for a in e.audience_terms() {
            d.add_text(f.audience, a);
        }
        d.add_u64(f.created, e.created_ms);
        if e.kind == EntryKind::Revision {
            // History entries are found by page, not by text: store the
            // title and summary without indexing them.
            d.add_text(f.summary, &e.summary);
            d.add_text(f.label, &e.title);
        } else {
            d.add_text(f.title, &e.title);
            d.add_text(f.body, &e.body);
            // The title is part of the text too (after it, so the stored
            // text still starts with the body): a word in the title counts
            // in the text's BM25, and the title field adds its weight on
            // top — BM25F's idea with integer field weights.
            d.add_text(f.body, &e.title);
        }
        if e.kind == EntryKind::Wiki {
            use chapar_proto::wiki::{links, title};
            let markup = links::parse(&e.body);
            for t in markup.targets() {
                d.add_text(f.links, title::key(&t));
            }
            for c in &markup.categories {
                d.add_text(f.categories, title::key(c));
            }
        }
        if matches!(e.kind, EntryKind::Wiki | EntryKind::Revision) {
            // History entries too: a page is found by a title it had (a
            // renamed page's old title leads to it), and by the title of
            // a revision the reader may read when its head is hidden.
            d.add_text(f.title_key, chapar_proto::wiki::title::key(&e.title));
        }
        for p in &e.parents {
            d.add_text(f.parents, p.to_hex());
        }
        d
    }

    /// Runs `req` for `person`: only what they may read is matched,
    /// counted, faceted or quoted.
    pub fn search(
        &self,
        req: &SearchRequest,
        person: &Person,
    ) -> Result<SearchResponse, SearchError> {
        let t0 = Instant::now();
        let limit = match req.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(SearchError::Request(format!(
                    "limit {n} is over {MAX_LIMIT}; page with offset instead"
                )));
            }
            n => n,
        };
        if req.offset > MAX_OFFSET {
            return Err(SearchError::Request(format!(
                "offset {} is over {MAX_OFFSET}; narrow the query with filters",
                req.offset
            )));
        }
        for c in &req.classifications {
            if c.to_ascii_uppercase().parse::<Classification>().is_err() {
                return Err(SearchError::Request(format!(
                    "unknown classification {c:?} (UNCLASSIFIED, RESTRICTED, CONFIDENTIAL, SECRET or TOP SECRET)"
                )));
            }
        }
        let parsed = query::parse(&req.query)?;
        let searcher = self.reader.searcher();
        let c = Compiler::new(&self.fields, &searcher, person, &self.filters);
        let build = |m: Matching| -> Box<dyn TantivyQuery> {
            c.reset();
            let mut clauses = vec![(Occur::Must, c.restricted(c.text(&parsed, m), person, req))];
            clauses.extend(c.filters(req).into_iter().map(|f| (Occur::Must, f)));
            Box::new(BooleanQuery::new(clauses))
        };
        // One pass collects the count, the page and the facets. A word that
        // no entry the person may read contains is matched with typo
        // tolerance in that pass (the others exactly).
        let fuzzy = c.has_unknown_words(&parsed);
        let q = build(if fuzzy {
            Matching::Fuzzy
        } else {
            Matching::Exact
        });
        let Collected {
            total,
            hits,
            facets,
        } = self.collect(&searcher, &*q, req, limit, &c.close.take())?;
        let asked = c.asked.take();
        let (searched, ignored): (Vec<_>, Vec<_>) = asked.into_iter().partition(|a| a.searched);
        // What the snippets highlight: the words and phrases searched for,
        // as the query matched them (exclusions and ignored stop words are
        // not among them).
        let mut sought: Vec<Sought> = Vec::new();
        for s in searched
            .iter()
            .filter_map(|a| Sought::new(&a.text, a.expansion))
        {
            if !sought.contains(&s) {
                sought.push(s);
            }
        }
        let matchers = searched
            .iter()
            .map(|a| Matcher::new(&searcher, &*a.query))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err(&self.dir))?;
        let mut snippets = Snippets::new(&sought, SNIPPET_CHARS, self.tokenizer.clone());
        let mut out = Vec::with_capacity(hits.len());
        // Scores are not returned: BM25's statistics (document frequencies,
        // document count) cover the whole index, hidden entries included.
        for (_, addr) in hits {
            let doc: TantivyDocument = searcher.doc(addr).map_err(err(&self.dir))?;
            let mut hit = self.hit(&doc, &mut snippets);
            for (a, m) in searched.iter().zip(&matchers) {
                if m.matches(&searcher, addr).map_err(err(&self.dir))? {
                    hit.matched.push(a.text.clone());
                }
            }
            out.push(hit);
        }
        let hidden_heads = match req.pages.as_slice() {
            [page] => self.hidden_heads(&searcher, &c, page)?,
            _ => 0,
        };
        Ok(SearchResponse {
            total,
            hits: out,
            facets,
            fuzzy,
            took_us: t0.elapsed().as_micros() as u64,
            words: searched.into_iter().map(|a| a.text).collect(),
            ignored: ignored.into_iter().map(|a| a.text).collect(),
            hidden_heads,
        })
    }

    /// Heads of `page` the person may not read — 0 unless they may read
    /// some revision of it (see [`SearchResponse::hidden_heads`]).
    fn hidden_heads(
        &self,
        searcher: &tantivy::Searcher,
        c: &Compiler<'_>,
        page: &str,
    ) -> Result<u64, SearchError> {
        let f = &self.fields;
        let on_page = || -> Box<dyn TantivyQuery> {
            Box::new(TermQuery::new(
                Term::from_field_text(f.page, &page.to_ascii_lowercase()),
                IndexRecordOption::Basic,
            ))
        };
        let kind = |k: EntryKind| -> Box<dyn TantivyQuery> {
            Box::new(TermQuery::new(
                Term::from_facet(f.facet, &Facet::from_path(["kind", k.as_str()])),
                IndexRecordOption::Basic,
            ))
        };
        let count = |q: BooleanQuery| searcher.search(&q, &Count).map_err(err(&self.dir));
        let readable_revisions = count(BooleanQuery::new(vec![
            (Occur::Must, on_page()),
            (Occur::Must, kind(EntryKind::Revision)),
            (Occur::Must, c.access(c.person)),
        ]))?;
        if readable_revisions == 0 {
            return Ok(0);
        }
        let heads = count(BooleanQuery::new(vec![
            (Occur::Must, on_page()),
            (Occur::Must, kind(EntryKind::Wiki)),
        ]))?;
        let readable_heads = count(BooleanQuery::new(vec![
            (Occur::Must, on_page()),
            (Occur::Must, kind(EntryKind::Wiki)),
            (Occur::Must, c.access(c.person)),
        ]))?;
        Ok(heads.saturating_sub(readable_heads) as u64)
    }

    /// Count, one page of hits and (if asked) facet counts, in one pass.
    ///
    /// With `close` (proximity clauses, relevance order only) the best
    /// [`RERANK_DEPTH`] entries get their bonus and are sorted again before
    /// the page is cut, so every page sees the same order.
    fn collect(
        &self,
        searcher: &tantivy::Searcher,
        q: &dyn TantivyQuery,
        req: &SearchRequest,
        limit: usize,
        close: &[Box<dyn TantivyQuery>],
    ) -> Result<Collected, SearchError> {
        let rerank = req.sort == Sort::Relevance && !close.is_empty() && req.offset < RERANK_DEPTH;
        let mut multi = MultiCollector::new();
        let count = multi.add_collector(Count);
        let top = || {
            if rerank {
                TopDocs::with_limit(RERANK_DEPTH.max(req.offset + limit))
            } else {
                TopDocs::with_limit(limit).and_offset(req.offset)
            }
        };
        let by_score =
            (req.sort == Sort::Relevance).then(|| multi.add_collector(top().order_by_score()));
        let by_date = (req.sort != Sort::Relevance).then(|| {
            let order = if req.sort == Sort::Newest {
                Order::Desc
            } else {
                Order::Asc
            };
            multi.add_collector(top().order_by_fast_field::<u64>("created", order))
        });
        let facet_handle = req
            .facets
            .then(|| multi.add_collector(self.facet_tables.collector("facet", searcher)));
        let mut fruits = searcher.search(q, &multi).map_err(err(&self.dir))?;
        let total = count.extract(&mut fruits) as u64;
        let hits: Vec<(f32, DocAddress)> = match (by_score, by_date) {
            (Some(h), _) if rerank => {
                let mut best = h.extract(&mut fruits);
                let depth = best.len().min(RERANK_DEPTH);
                let bonus =
                    proximity_bonus(searcher, close, &best[..depth]).map_err(err(&self.dir))?;
                for (hit, b) in best.iter_mut().zip(bonus) {
                    hit.0 += b;
                }
                // Stable: equal scores keep the collector's order.
                best[..depth].sort_by(|a, b| b.0.total_cmp(&a.0));
                best.into_iter().skip(req.offset).take(limit).collect()
            }
            (Some(h), _) => h.extract(&mut fruits),
            (None, Some(h)) => h
                .extract(&mut fruits)
                .into_iter()
                .map(|(_, a)| (0.0, a))
                .collect(),
            (None, None) => Vec::new(),
        };
        let facets = facet_handle.map(|h| h.extract(&mut fruits).top());
        Ok(Collected {
            total,
            hits,
            facets,
        })
    }

    fn hit(&self, doc: &TantivyDocument, snippets: &mut Snippets<'_>) -> Hit {
        let f = &self.fields;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let kind = EntryKind::parse(&text(f.kind)).unwrap_or(EntryKind::Wiki);
        let is_revision = kind == EntryKind::Revision;
        let class = doc.get_first(f.class).and_then(|v| v.as_u64()).unwrap_or(0);
        let classification = u8::try_from(class)
            .ok()
            .and_then(|c| Classification::from_code(c).ok())
            .map(|c| c.to_string())
            .unwrap_or_default();
        let caption = text(f.caption);
        let snippet = if is_revision {
            Snippet {
                text: text(f.summary),
                highlights: Vec::new(),
            }
        } else {
            // The entry's own text (its first body value; the title follows
            // as a second one).
            let body = doc
                .get_first(f.body)
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            snippets.snippet(body)
        };
        let author = text(f.author);
        let page = text(f.page);
        Hit {
            kind,
            id: text(f.id),
            page: (!page.is_empty()).then_some(page),
            title: if is_revision {
                text(f.label)
            } else {
                text(f.title)
            },
            mission: text(f.mission),
            author: (!author.is_empty()).then_some(author),
            classification,
            caption: (caption != crate::schema::NO_CAPTION).then_some(caption),
            tags: doc
                .get_all(f.tag)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            created_ms: doc
                .get_first(f.created)
                .and_then(|v| v.as_u64())
                .unwrap_or(0),
            snippet,
            matched: Vec::new(),
        }
    }
}

fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
