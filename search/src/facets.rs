//! Facet counts (kind, mission, TAGS) over every visible match, at the
//! cost of one array increment per match.
//!
//! tantivy's `FacetCollector` decodes each match's facet values from a
//! multi-valued column: at 10^5–10^6 matches that was a sixth of a
//! query's time (issue 14, docs/benchmarks.md). But a segment never
//! changes once written, and its entries share few distinct *sets* of
//! facet values (one kind, one mission, a handful of TAGS). So each
//! segment gets, once, a table of those sets and the set of every entry;
//! a query counts matches per set and adds the sets' counts to their
//! values at the end. Four bytes per entry, kept while the segment lives.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::index::SegmentId;
use tantivy::schema::Facet;
use tantivy::{DocId, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::api::{FACET_VALUES, FacetCounts, Facets};

/// The facet roots counted, in [`Facets`] order.
const ROOTS: [&str; 3] = ["kind", "mission", "tag"];

/// The facet sets of one segment's entries.
pub struct SegmentFacets {
    /// Per entry, the index of its set.
    set_of: Vec<u32>,
    /// Set `i` holds `values[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    /// Indexes into `names`.
    values: Vec<u32>,
    /// (root index in [`ROOTS`], value).
    names: Vec<(u8, String)>,
}

impl SegmentFacets {
    fn build(reader: &SegmentReader, field: &str) -> tantivy::Result<SegmentFacets> {
        let facets = reader.facet_reader(field)?;
        // What each ordinal of the segment's facet dictionary is, if it is
        // a value of a counted root.
        let dict = facets.facet_dict();
        let mut name_of: Vec<Option<u32>> = vec![None; dict.num_terms()];
        let mut names = Vec::new();
        let mut terms = dict.stream()?;
        while terms.advance() {
            let Ok(facet) = Facet::from_encoded(terms.key().to_vec()) else {
                continue;
            };
            if let [root, value] = facet.to_path().as_slice()
                && let Some(r) = ROOTS.iter().position(|x| x == root)
                && let Some(slot) = name_of.get_mut(terms.term_ord() as usize)
            {
                *slot = Some(names.len() as u32);
                names.push((r as u8, (*value).to_string()));
            }
        }
        let mut sets: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut starts = vec![0u32];
        let mut values = Vec::new();
        let mut set_of = Vec::with_capacity(reader.max_doc() as usize);
        let mut key = Vec::new();
        for doc in 0..reader.max_doc() {
            key.clear();
            key.extend(
                facets
                    .facet_ords(doc)
                    .filter_map(|o| name_of.get(o as usize).copied().flatten()),
            );
            // An entry counts once per value, however often it holds it.
            key.sort_unstable();
            key.dedup();
            let next = sets.len() as u32;
            let set = *sets.entry(key.clone()).or_insert_with(|| {
                values.extend_from_slice(&key);
                starts.push(values.len() as u32);
                next
            });
            set_of.push(set);
        }
        Ok(SegmentFacets {
            set_of,
            starts,
            values,
            names,
        })
    }

    fn sets(&self) -> usize {
        self.starts.len() - 1
    }

    fn bytes(&self) -> usize {
        4 * (self.set_of.len() + self.starts.len() + self.values.len())
            + self.names.iter().map(|(_, n)| n.len() + 32).sum::<usize>()
    }
}

/// Per-segment facet tables, dropped with their segments.
#[derive(Default)]
pub struct FacetTables {
    tables: Mutex<HashMap<SegmentId, Arc<SegmentFacets>>>,
}

impl std::fmt::Debug for FacetTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacetTables")
            .field("bytes", &self.bytes())
            .finish()
    }
}

impl FacetTables {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<SegmentFacets>>> {
        // Each step under the lock is one insert or retain: a poisoned
        // map is still consistent.
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A collector of the facet counts of the matches, over `field`, on
    /// `searcher` (tables of segments it no longer has are dropped).
    pub fn collector(self: &Arc<Self>, field: &str, searcher: &Searcher) -> FacetCounter {
        let live: HashSet<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        self.lock().retain(|seg, _| live.contains(seg));
        FacetCounter {
            field: field.to_string(),
            tables: Arc::clone(self),
        }
    }

    /// Memory the tables hold, in bytes.
    pub fn bytes(&self) -> usize {
        self.lock().values().map(|t| t.bytes()).sum()
    }

    fn table(&self, reader: &SegmentReader, field: &str) -> tantivy::Result<Arc<SegmentFacets>> {
        if let Some(t) = self.lock().get(&reader.segment_id()) {
            return Ok(Arc::clone(t));
        }
        // Built outside the lock: two searches may both build a new
        // segment's table, and the second insert replaces an equal one.
        let t = Arc::new(SegmentFacets::build(reader, field)?);
        self.lock().insert(reader.segment_id(), Arc::clone(&t));
        Ok(t)
    }
}

/// Counts matches per kind, mission and TAG (see the module docs).
pub struct FacetCounter {
    field: String,
    tables: Arc<FacetTables>,
}

/// One segment's part of a [`FacetCounter`].
pub struct SegmentCounter {
    table: Arc<SegmentFacets>,
    /// Matches per set.
    counts: Vec<u32>,
    /// Sets with a match, in first-match order: the harvest visits these
    /// alone, so a segment of many distinct sets costs a selective query
    /// nothing beyond its count array.
    touched: Vec<u32>,
}

/// Matches per value, segment by segment (names are resolved only for
/// the values reported).
pub struct Counts(Vec<SegmentCounts>);

/// A segment's table and its (value, matches) pairs.
type SegmentCounts = (Arc<SegmentFacets>, Vec<(u32, u64)>);

impl Collector for FacetCounter {
    type Fruit = Counts;
    type Child = SegmentCounter;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentCounter> {
        let table = self.tables.table(reader, &self.field)?;
        let counts = vec![0; table.sets()];
        Ok(SegmentCounter {
            table,
            counts,
            touched: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, parts: Vec<Counts>) -> tantivy::Result<Counts> {
        Ok(Counts(parts.into_iter().flat_map(|Counts(p)| p).collect()))
    }
}

impl SegmentCollector for SegmentCounter {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _: Score) {
        if let Some(&set) = self.table.set_of.get(doc as usize) {
            let n = &mut self.counts[set as usize];
            if *n == 0 {
                self.touched.push(set);
            }
            *n += 1;
        }
    }

    fn harvest(self) -> Counts {
        let t = &self.table;
        let mut per_name: HashMap<u32, u64> = HashMap::new();
        for &set in &self.touched {
            let n = u64::from(self.counts[set as usize]);
            let (from, to) = (
                t.starts[set as usize] as usize,
                t.starts[set as usize + 1] as usize,
            );
            for &v in &t.values[from..to] {
                *per_name.entry(v).or_insert(0) += n;
            }
        }
        Counts(vec![(Arc::clone(t), per_name.into_iter().collect())])
    }
}

impl Counts {
    /// The [`FACET_VALUES`] most frequent values of each root, most
    /// frequent first, equal counts in value order.
    pub fn top(self) -> Facets {
        let mut all: HashMap<(u8, &str), u64> = HashMap::new();
        for (table, counts) in &self.0 {
            for &(v, n) in counts {
                if let Some((root, name)) = table.names.get(v as usize) {
                    *all.entry((*root, name.as_str())).or_insert(0) += n;
                }
            }
        }
        let mut by_root: [Vec<(&str, u64)>; 3] = Default::default();
        for ((root, value), n) in all {
            by_root[root as usize].push((value, n));
        }
        let [kind, mission, tag] = by_root.map(|mut v| {
            let order = |a: &(&str, u64), b: &(&str, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
            if v.len() > FACET_VALUES {
                v.select_nth_unstable_by(FACET_VALUES, order);
                v.truncate(FACET_VALUES);
            }
            v.sort_unstable_by(order);
            v.into_iter()
                .map(|(name, n)| (name.to_string(), n))
                .collect::<FacetCounts>()
        });
        Facets { kind, mission, tag }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::FacetCollector;
    use tantivy::query::{AllQuery, Query, TermQuery};
    use tantivy::schema::{FacetOptions, IndexRecordOption, STRING, Schema};
    use tantivy::{Index, IndexWriter, TantivyDocument, Term};

    /// What tantivy's own collector reports, in [`Facets`] form.
    fn reference(searcher: &Searcher, q: &dyn Query) -> Facets {
        let mut fc = FacetCollector::for_field("facet");
        for root in ["/kind", "/mission", "/tag"] {
            fc.add_facet(root);
        }
        let counts = searcher.search(q, &fc).expect("facets");
        let pick = |root: &str| -> FacetCounts {
            let mut v: FacetCounts = counts
                .get(root)
                .map(|(f, n)| {
                    (
                        f.to_path()
                            .last()
                            .map(|s| s.to_string())
                            .unwrap_or_default(),
                        n,
                    )
                })
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(FACET_VALUES);
            v
        };
        Facets {
            kind: pick("/kind"),
            mission: pick("/mission"),
            tag: pick("/tag"),
        }
    }

    /// Counts equal tantivy's `FacetCollector` for queries of every
    /// selectivity, over segments written at different times, with
    /// deleted entries, more than [`FACET_VALUES`] values of a root, an
    /// author root that is not counted, and entries with no TAG.
    #[test]
    fn counts_equal_tantivys_facet_collector() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut b = Schema::builder();
        let word = b.add_text_field("word", STRING);
        let facet = b.add_facet_field("facet", FacetOptions::default());
        let index = Index::create_in_dir(dir.path(), b.build()).expect("index");
        let reader = index.reader().expect("reader");
        let mut writer: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        let tables = Arc::new(FacetTables::default());
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for round in 0..4 {
            for _ in 0..700 {
                let mut d = TantivyDocument::new();
                d.add_text(word, format!("w{}", next(4)));
                d.add_facet(
                    facet,
                    Facet::from_path(["kind", ["wiki", "cable"][next(2) as usize]]),
                );
                d.add_facet(
                    facet,
                    Facet::from_path(["mission", &format!("m{}", next(30))]),
                );
                d.add_facet(
                    facet,
                    Facet::from_path(["author", &format!("a{}", next(9))]),
                );
                for _ in 0..next(4) {
                    d.add_facet(facet, Facet::from_path(["tag", &format!("T{}", next(40))]));
                }
                writer.add_document(d).expect("add");
            }
            if round == 2 {
                writer.delete_term(Term::from_field_text(word, "w3"));
            }
            writer.commit().expect("commit");
            reader.reload().expect("reload");
            let searcher = reader.searcher();
            let queries: Vec<Box<dyn Query>> = vec![
                Box::new(AllQuery),
                Box::new(TermQuery::new(
                    Term::from_field_text(word, "w1"),
                    IndexRecordOption::Basic,
                )),
                Box::new(TermQuery::new(
                    Term::from_field_text(word, "none"),
                    IndexRecordOption::Basic,
                )),
            ];
            for q in &queries {
                let got = searcher
                    .search(&**q, &tables.collector("facet", &searcher))
                    .expect("counts")
                    .top();
                assert_eq!(got, reference(&searcher, &**q), "round {round}, {q:?}");
            }
            assert!(tables.bytes() > 0);
        }
    }
}
