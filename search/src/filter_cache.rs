//! Filters that every query repeats (the reader's access and the default
//! kinds), kept per segment as a bitset of the entries that pass — the
//! idea of Lucene's query cache.
//!
//! Every query is `text AND access AND kinds`. The access part is a
//! union of a few very long postings lists (each caption the person holds,
//! the audiences they belong to, the classification range), and a top
//! reader's union covers nearly every entry: intersected with the text
//! match by match, it cost as much as scoring the text (issue 14, docs/
//! benchmarks.md). A segment never changes once written (deletions live
//! in its alive bitset, which collectors apply), so the set of its entries
//! a filter passes is fixed for the segment's life: computed once, the
//! intersection is then a bitset probe per match.
//!
//! The key is the filter query's own `Debug` text, which spells out every
//! field and term it tests: two filters share an entry only if they are
//! the same query, so no person can be served another's access.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tantivy::index::SegmentId;
use tantivy::query::{
    BitSetDocSet, ConstScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{BitSet, DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED};

/// Memory the cached bitsets may take together: 125 KB per filter and
/// million entries, so a few hundred distinct readers at 10^6 entries.
pub const CACHE_BYTES: usize = 32 << 20;

type Key = (SegmentId, Arc<str>);

struct Slot {
    docs: Arc<BitSet>,
    bytes: usize,
    /// Tick of the last use (least recently used goes first).
    used: u64,
}

#[derive(Default)]
struct Slots {
    map: HashMap<Key, Slot>,
    bytes: usize,
    tick: u64,
}

/// Per-segment bitsets of cached filters, least recently used evicted
/// past a memory budget.
pub struct FilterCache {
    slots: Mutex<Slots>,
    budget: usize,
}

impl std::fmt::Debug for FilterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("FilterCache")
            .field("entries", &s.map.len())
            .field("bytes", &s.bytes)
            .field("budget", &self.budget)
            .finish()
    }
}

impl Default for FilterCache {
    fn default() -> FilterCache {
        FilterCache::with_budget(CACHE_BYTES)
    }
}

impl FilterCache {
    /// A cache holding at most `budget` bytes of bitsets.
    pub fn with_budget(budget: usize) -> FilterCache {
        FilterCache {
            slots: Mutex::new(Slots::default()),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves the map consistent (each
        // step is one insert or remove), so a poisoned lock is usable.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `filter`, answered from the cache: what it matches, scored 0. Drops
    /// first what belongs to segments `searcher` no longer has (merged
    /// away).
    pub fn filter(self: &Arc<Self>, filter: Box<dyn Query>, searcher: &Searcher) -> Box<dyn Query> {
        Box::new(self.cached(filter, searcher))
    }

    fn cached(self: &Arc<Self>, filter: Box<dyn Query>, searcher: &Searcher) -> Cached {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        {
            let mut s = self.lock();
            let mut freed = 0;
            s.map.retain(|(seg, _), slot| {
                let keep = live.contains(seg);
                if !keep {
                    freed += slot.bytes;
                }
                keep
            });
            s.bytes -= freed;
        }
        Cached {
            key: Arc::from(format!("{filter:?}")),
            filter,
            cache: Arc::clone(self),
        }
    }

    /// `query`, restricted to what `filter` passes, which is answered from
    /// the cache: each match of `query` is tested against the segment's
    /// bitset (one bit probe, where intersecting with the filter's
    /// postings would seek them), and keeps `query`'s score.
    pub fn restrict(
        self: &Arc<Self>,
        query: Box<dyn Query>,
        filter: Box<dyn Query>,
        searcher: &Searcher,
    ) -> Box<dyn Query> {
        Box::new(Restricted {
            query,
            filter: self.cached(filter, searcher),
        })
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Bitsets held now (one per filter and segment).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &Key) -> Option<Arc<BitSet>> {
        let mut s = self.lock();
        s.tick += 1;
        let tick = s.tick;
        let slot = s.map.get_mut(key)?;
        slot.used = tick;
        Some(Arc::clone(&slot.docs))
    }

    fn put(&self, key: Key, docs: Arc<BitSet>) {
        let bytes = docs.max_value() as usize / 8 + 64;
        if bytes > self.budget {
            return;
        }
        let mut s = self.lock();
        s.tick += 1;
        let used = s.tick;
        if let Some(old) = s.map.insert(key, Slot { docs, bytes, used }) {
            s.bytes -= old.bytes;
        }
        s.bytes += bytes;
        while s.bytes > self.budget {
            let Some(oldest) = s
                .map
                .iter()
                .min_by_key(|(_, slot)| slot.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = s.map.remove(&oldest) {
                s.bytes -= gone.bytes;
            }
        }
    }
}

/// A filter answered from a [`FilterCache`].
struct Cached {
    key: Arc<str>,
    filter: Box<dyn Query>,
    cache: Arc<FilterCache>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("filter", &self.filter)
            .finish()
    }
}

impl Clone for Cached {
    fn clone(&self) -> Cached {
        Cached {
            key: Arc::clone(&self.key),
            filter: self.filter.box_clone(),
            cache: Arc::clone(&self.cache),
        }
    }
}

impl Cached {
    fn cached_weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<CachedWeight> {
        // The filter's own scores are never used.
        let unscored = match scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(scoring.schema()),
        };
        let inner = self.filter.weight(unscored)?;
        Ok(CachedWeight {
            key: Arc::clone(&self.key),
            inner,
            cache: Arc::clone(&self.cache),
        })
    }
}

impl Query for Cached {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.cached_weight(scoring)?))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.filter.query_terms(visitor);
    }
}

struct CachedWeight {
    key: Arc<str>,
    inner: Box<dyn Weight>,
    cache: Arc<FilterCache>,
}

impl CachedWeight {
    /// The segment's bitset: from the cache, or computed and kept.
    fn docs(&self, reader: &SegmentReader) -> tantivy::Result<Arc<BitSet>> {
        let key = (reader.segment_id(), Arc::clone(&self.key));
        if let Some(docs) = self.cache.get(&key) {
            return Ok(docs);
        }
        let mut docs = BitSet::with_max_value(reader.max_doc());
        let mut scorer = self.inner.scorer(reader, 1.0)?;
        let mut doc = scorer.doc();
        while doc != TERMINATED {
            docs.insert(doc);
            doc = scorer.advance();
        }
        let docs = Arc::new(docs);
        self.cache.put(key, Arc::clone(&docs));
        Ok(docs)
    }
}

impl Weight for CachedWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = BitSetDocSet::from((*self.docs(reader)?).clone());
        Ok(Box::new(ConstScorer::new(docs, 0.0)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.docs(reader)?.contains(doc) {
            Ok(Explanation::new("cached filter", 0.0))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not pass the filter"
            )))
        }
    }
}

/// A query restricted to what a cached filter passes.
#[derive(Debug)]
struct Restricted {
    query: Box<dyn Query>,
    filter: Cached,
}

impl Clone for Restricted {
    fn clone(&self) -> Restricted {
        Restricted {
            query: self.query.box_clone(),
            filter: self.filter.clone(),
        }
    }
}

impl Query for Restricted {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(RestrictedWeight {
            query: self.query.weight(scoring)?,
            filter: self.filter.cached_weight(scoring)?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.query.query_terms(visitor);
        self.filter.query_terms(visitor);
    }
}

struct RestrictedWeight {
    query: Box<dyn Weight>,
    filter: CachedWeight,
}

impl Weight for RestrictedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let docs = self.filter.docs(reader)?;
        let inner = self.query.scorer(reader, boost)?;
        Ok(Box::new(Filtered::new(inner, docs)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if self.filter.docs(reader)?.contains(doc) {
            self.query.explain(reader, doc)
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not pass the filter"
            )))
        }
    }
}

/// The matches of `inner` that `docs` holds.
struct Filtered {
    inner: Box<dyn Scorer>,
    docs: Arc<BitSet>,
}

impl Filtered {
    fn new(inner: Box<dyn Scorer>, docs: Arc<BitSet>) -> Filtered {
        let mut f = Filtered { inner, docs };
        let first = f.inner.doc();
        f.settle(first);
        f
    }

    fn passes(&self, doc: DocId) -> bool {
        doc < self.docs.max_value() && self.docs.contains(doc)
    }

    /// Moves on from `doc` to the first match that passes.
    fn settle(&mut self, mut doc: DocId) -> DocId {
        while doc != TERMINATED && !self.passes(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for Filtered {
    fn advance(&mut self) -> DocId {
        let doc = self.inner.advance();
        self.settle(doc)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let doc = self.inner.seek(target);
        self.settle(doc)
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for Filtered {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::{Count, DocSetCollector};
    use tantivy::query::{BooleanQuery, Occur, TermQuery};
    use tantivy::schema::{IndexRecordOption, STRING, Schema};
    use tantivy::{Index, IndexWriter, ReloadPolicy, TantivyDocument, Term};

    /// Entries in groups `g0..g4`, each holding some of the words
    /// `w0..w7`, written over several commits with some deleted.
    fn index(dir: &std::path::Path) -> (Index, tantivy::schema::Field, tantivy::schema::Field) {
        let mut b = Schema::builder();
        let group = b.add_text_field("group", STRING);
        let word = b.add_text_field("word", STRING);
        let index = Index::create_in_dir(dir, b.build()).expect("index");
        (index, group, word)
    }

    fn term(field: tantivy::schema::Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        ))
    }

    fn any(field: tantivy::schema::Field, values: &[&str]) -> Box<dyn Query> {
        Box::new(BooleanQuery::new(
            values
                .iter()
                .map(|v| (Occur::Should, term(field, v)))
                .collect(),
        ))
    }

    fn add(
        writer: &mut IndexWriter,
        group: tantivy::schema::Field,
        word: tantivy::schema::Field,
        n: u32,
    ) {
        for i in 0..n {
            let mut d = TantivyDocument::new();
            d.add_text(group, format!("g{}", (i * 7 + n) % 5));
            for w in 0..8 {
                if (i + w) % (w + 2) == 0 {
                    d.add_text(word, format!("w{w}"));
                }
            }
            writer.add_document(d).expect("add");
        }
        writer.commit().expect("commit");
    }

    /// The restricted query matches exactly what `query AND filter` does,
    /// for several filters in turn, while segments come, lose entries and
    /// merge away, and with a budget too small to keep everything.
    #[test]
    fn a_restricted_query_matches_exactly_the_intersection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (index, group, word) = index(dir.path());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .expect("reader");
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        // Room for about two segments' bitsets: eviction happens.
        let cache = Arc::new(FilterCache::with_budget(600));
        let filters: [&[&str]; 4] = [&["g0"], &["g1", "g2"], &["g0", "g3", "g4"], &["none"]];
        let queries: [&[&str]; 3] = [&["w0"], &["w1", "w5"], &["w7", "w3", "w2"]];
        for round in 0..5u32 {
            add(&mut writer, group, word, 300 + round * 101);
            if round == 2 {
                writer.delete_term(Term::from_field_text(group, "g1"));
                writer.commit().expect("commit");
            }
            if round == 4 {
                let ids = index.searchable_segment_ids().expect("segments");
                writer.merge(&ids).wait().expect("merge");
            }
            reader.reload().expect("reload");
            let searcher = reader.searcher();
            for _ in 0..2 {
                for f in filters {
                    for q in queries {
                        let want = searcher
                            .search(
                                &BooleanQuery::new(vec![
                                    (Occur::Must, any(word, q)),
                                    (Occur::Must, any(group, f)),
                                ]),
                                &DocSetCollector,
                            )
                            .expect("plain");
                        let restricted = cache.restrict(any(word, q), any(group, f), &searcher);
                        let got = searcher
                            .search(&*restricted, &DocSetCollector)
                            .expect("cached");
                        assert_eq!(got, want, "round {round}, filter {f:?}, words {q:?}");
                        let alone = cache.filter(any(group, f), &searcher);
                        let want = searcher.search(&*any(group, f), &Count).expect("plain");
                        assert_eq!(searcher.search(&*alone, &Count).expect("cached"), want);
                    }
                }
            }
            assert!(cache.bytes() <= 600, "over budget: {cache:?}");
            assert!(!cache.is_empty());
        }
        // After the merge only the one segment's bitsets remain.
        let live = reader.searcher().segment_readers().len();
        assert_eq!(live, 1);
        assert!(cache.len() <= filters.len(), "{cache:?}");
    }

    /// Two filters never share a bitset, even when they differ only in a
    /// value (the key is the whole query).
    #[test]
    fn filters_that_differ_in_one_value_are_kept_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (index, group, word) = index(dir.path());
        let reader = index.reader().expect("reader");
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        add(&mut writer, group, word, 500);
        reader.reload().expect("reload");
        let searcher = reader.searcher();
        let cache = Arc::new(FilterCache::default());
        let mut totals = Vec::new();
        for g in ["g0", "g1", "g2", "g0"] {
            let q = cache.restrict(
                Box::new(tantivy::query::AllQuery),
                any(group, &[g]),
                &searcher,
            );
            totals.push(searcher.search(&*q, &Count).expect("count"));
        }
        let plain: Vec<usize> = ["g0", "g1", "g2", "g0"]
            .iter()
            .map(|g| searcher.search(&*any(group, &[g]), &Count).expect("count"))
            .collect();
        assert_eq!(totals, plain);
        assert_eq!(cache.len(), 3, "one bitset per distinct filter: {cache:?}");
    }
}
