//! Coordination: a union of word queries where every word an entry
//! contains adds a fixed score on top of the words' own scores, so entries
//! containing more of the words always rank first (issue 14; ADR 0021).
//!
//! The same ranking can be had from tantivy's `BooleanQuery` by adding a
//! `ConstScoreQuery` copy of each word beside it, but that reads every
//! word's postings twice; here one pass over the words' scorers counts and
//! scores together.

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError};

/// Entries matching any of `words`, scored by the sum of the matching
/// words' scores plus `found` per matching word.
#[derive(Debug)]
pub struct Coordinated {
    words: Vec<Box<dyn Query>>,
    found: Score,
}

impl Clone for Coordinated {
    fn clone(&self) -> Coordinated {
        Coordinated {
            words: self.words.iter().map(|w| w.box_clone()).collect(),
            found: self.found,
        }
    }
}

impl Coordinated {
    /// `found` should exceed any sum of the words' own scores, for the
    /// count of words found to decide first.
    pub fn new(words: Vec<Box<dyn Query>>, found: Score) -> Coordinated {
        Coordinated { words, found }
    }
}

impl Query for Coordinated {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let words = self
            .words
            .iter()
            .map(|w| w.weight(scoring))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(CoordinatedWeight {
            words,
            found: if scoring.is_scoring_enabled() {
                self.found
            } else {
                0.0
            },
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for w in &self.words {
            w.query_terms(visitor);
        }
    }
}

struct CoordinatedWeight {
    words: Vec<Box<dyn Weight>>,
    found: Score,
}

impl Weight for CoordinatedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let words = self
            .words
            .iter()
            .map(|w| w.scorer(reader, boost))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let doc = words.iter().map(|s| s.doc()).min().unwrap_or(TERMINATED);
        Ok(Box::new(CoordinatedScorer {
            words,
            found: self.found * boost,
            doc,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut s = self.scorer(reader, 1.0)?;
        if s.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new(
            "sum of the words found, plus a fixed score per word found",
            s.score(),
        ))
    }
}

/// Walks the words' scorers together; `doc` is the smallest of theirs.
struct CoordinatedScorer {
    words: Vec<Box<dyn Scorer>>,
    found: Score,
    doc: DocId,
}

impl DocSet for CoordinatedScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        let mut next = TERMINATED;
        for w in &mut self.words {
            let d = if w.doc() == self.doc {
                w.advance()
            } else {
                w.doc()
            };
            next = next.min(d);
        }
        self.doc = next;
        next
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        let mut next = TERMINATED;
        for w in &mut self.words {
            let d = if w.doc() < target {
                w.seek(target)
            } else {
                w.doc()
            };
            next = next.min(d);
        }
        self.doc = next;
        next
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.words.iter().map(|w| w.size_hint()).max().unwrap_or(0)
    }
}

impl Scorer for CoordinatedScorer {
    fn score(&mut self) -> Score {
        let doc = self.doc;
        let mut sum = 0.0;
        for w in &mut self.words {
            if w.doc() == doc {
                sum += w.score() + self.found;
            }
        }
        sum
    }
}
