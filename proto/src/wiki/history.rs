//! The history rule: which revisions of a page are its heads, and what the
//! page shows (issue 15).
//!
//! A page is the graph of its revisions, each naming the revisions it
//! replaces. The rule is a function of the *set* of revisions a node holds
//! (or a reader may read): never of the order they arrived in, nor of any
//! clock an author sets.
//!
//! - A **head** is a revision of the page that no other revision of the
//!   page names as a parent. A parent the set does not hold (not arrived
//!   yet, or not readable) and a parent of another page are ignored: they
//!   cannot make a revision stop being a head.
//! - One head: the page shows it. Several heads (edits made at the same
//!   time in missions cut off from each other): the page shows their
//!   three-way merge ([`super::merge`]) against their common ancestor, in
//!   ascending order of their ids; edits that overlap are kept both,
//!   between conflict markers, and the page is in conflict until someone
//!   saves a revision naming every head as a parent.
//! - The common ancestor is the nearest revision every head descends from
//!   (or is); if several are equally near, the one of smallest id (the
//!   documented tie-break, the same on every node); if none (two missions
//!   created the same title offline), the empty text.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::merge::{Merged, merge_many};
use super::revision::WikiRevision;
use crate::types::{Caption, Classification, DocId, PageId};

/// The revisions of one page, by id: what the rule reads.
pub struct Graph<'a> {
    page: PageId,
    revs: BTreeMap<DocId, &'a WikiRevision>,
}

impl<'a> Graph<'a> {
    /// The graph of `page` from `revisions` (revisions of other pages are
    /// left out).
    pub fn new(
        page: PageId,
        revisions: impl IntoIterator<Item = (DocId, &'a WikiRevision)>,
    ) -> Graph<'a> {
        let revs = revisions
            .into_iter()
            .filter(|(_, r)| r.page == page)
            .collect();
        Graph { page, revs }
    }

    /// The page.
    pub fn page(&self) -> PageId {
        self.page
    }

    /// Number of revisions.
    pub fn len(&self) -> usize {
        self.revs.len()
    }

    /// Whether the graph holds no revision.
    pub fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// The revision `id`, if held.
    pub fn get(&self, id: &DocId) -> Option<&'a WikiRevision> {
        self.revs.get(id).copied()
    }

    /// The parents of `id` the graph holds.
    fn parents(&self, id: &DocId) -> impl Iterator<Item = &DocId> {
        self.revs
            .get(id)
            .into_iter()
            .flat_map(|r| r.parents.iter())
            .filter(|p| self.revs.contains_key(*p))
    }

    /// The heads, ascending by id.
    pub fn heads(&self) -> Vec<DocId> {
        let named: BTreeSet<&DocId> = self.revs.keys().flat_map(|id| self.parents(id)).collect();
        self.revs
            .keys()
            .filter(|id| !named.contains(id))
            .copied()
            .collect()
    }

    /// Distance (in parent steps) from `from` to each of its ancestors and
    /// itself (0).
    fn ancestors(&self, from: &DocId) -> BTreeMap<DocId, usize> {
        let mut seen = BTreeMap::new();
        let mut queue = VecDeque::from([(*from, 0usize)]);
        while let Some((id, d)) = queue.pop_front() {
            if seen.contains_key(&id) || !self.revs.contains_key(&id) {
                continue;
            }
            seen.insert(id, d);
            for p in self.parents(&id) {
                if !seen.contains_key(p) {
                    queue.push_back((*p, d + 1));
                }
            }
        }
        seen
    }

    /// The common ancestor of `heads` the merge is made against (see the
    /// module docs), if they have one.
    pub fn base(&self, heads: &[DocId]) -> Option<DocId> {
        let mut common: Option<BTreeMap<DocId, usize>> = None;
        for h in heads {
            let a = self.ancestors(h);
            common = Some(match common {
                None => a,
                Some(c) => c
                    .into_iter()
                    .filter_map(|(id, d)| a.get(&id).map(|e| (id, d.max(*e))))
                    .collect(),
            });
        }
        // Nearest: the smallest greatest distance from any head; then the
        // smallest id (the map is ordered by id, and `min_by_key` keeps the
        // first of equals).
        common?
            .into_iter()
            .min_by_key(|(_, d)| *d)
            .map(|(id, _)| id)
    }

    /// What the page shows.
    pub fn view(&self) -> Option<View> {
        let heads = self.heads();
        let first = self.revs.get(heads.first()?)?;
        let base = if heads.len() > 1 {
            self.base(&heads)
        } else {
            None
        };
        let base_rev = base.and_then(|b| self.revs.get(&b));
        let labelled: Vec<(String, &str)> = heads
            .iter()
            .filter_map(|h| self.revs.get(h).map(|r| (label(h), r.body.as_str())))
            .collect();
        let texts: Vec<(&str, &str)> = labelled.iter().map(|(l, t)| (l.as_str(), *t)).collect();
        let Merged { text, conflicts } = if heads.len() == 1 {
            Merged {
                text: first.body.clone(),
                conflicts: 0,
            }
        } else {
            merge_many(base_rev.map_or("", |b| b.body.as_str()), &texts)
        };
        let head_revs: Vec<&WikiRevision> = heads
            .iter()
            .filter_map(|h| self.revs.get(h).copied())
            .collect();
        Some(View {
            page: self.page,
            title: title_of(&head_revs, base_rev.copied()),
            classification: head_revs
                .iter()
                .map(|r| r.classification)
                .max()
                .unwrap_or(first.classification),
            captions: head_revs
                .iter()
                .filter_map(|r| r.caption.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            heads,
            base,
            text,
            conflicts,
        })
    }
}

/// Why a revision may not name a document as its parent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParentError {
    /// The parent is not a wiki revision.
    #[error("wiki revision names {parent} as a parent, which is a {kind}, not a wiki revision")]
    NotARevision {
        /// The parent named.
        parent: DocId,
        /// What it is.
        kind: &'static str,
    },
    /// The parent is a revision of another page.
    #[error("wiki revision of page {page} names {parent} as a parent, a revision of page {other}")]
    OtherPage {
        /// The child's page.
        page: PageId,
        /// The parent named.
        parent: DocId,
        /// The parent's page.
        other: PageId,
    },
}

/// Checks that `child` may name `parent` (held as `body`) as a parent:
/// only a revision of the same page (a history never crosses pages, so no
/// edit can pull another page's text into this one, or hide a page by
/// naming its heads). The node refuses a revision that breaks it for any
/// parent it holds; [`Graph`] ignores such an edge either way.
pub fn check_parent(
    child: &WikiRevision,
    parent: DocId,
    body: &crate::document::Body,
) -> Result<(), ParentError> {
    match body {
        crate::document::Body::WikiRevision(p) if p.page == child.page => Ok(()),
        crate::document::Body::WikiRevision(p) => Err(ParentError::OtherPage {
            page: child.page,
            parent,
            other: p.page,
        }),
        other => Err(ParentError::NotARevision {
            parent,
            kind: other.kind().as_str(),
        }),
    }
}

/// The label of a head in conflict markers: its short id.
pub fn label(id: &DocId) -> String {
    let hex = id.to_hex();
    format!("revision {}", &hex[..hex.len().min(12)])
}

/// The title the page shows: the heads' title if they agree; else a
/// rename (a title other than the common ancestor's) wins over keeping
/// it, and among different renames the head of smallest id's.
fn title_of(heads: &[&WikiRevision], base: Option<&WikiRevision>) -> String {
    let Some(first) = heads.first() else {
        return String::new();
    };
    if heads.iter().all(|r| r.title == first.title) {
        return first.title.clone();
    }
    let renamed = heads
        .iter()
        .find(|r| base.is_none_or(|b| b.title != r.title));
    renamed.unwrap_or(first).title.clone()
}

/// What a page shows: the result of the history rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The page.
    pub page: PageId,
    /// Its heads, ascending by id: a revision that replaces them all names
    /// every one as a parent.
    pub heads: Vec<DocId>,
    /// The common ancestor the heads were merged against.
    pub base: Option<DocId>,
    /// The text shown: the one head's, or the merge of the heads'.
    pub text: String,
    /// Conflicting regions in `text` (between conflict markers).
    pub conflicts: usize,
    /// The title shown.
    pub title: String,
    /// The highest classification among the heads: the merged text holds
    /// text of each.
    pub classification: Classification,
    /// Every caption among the heads.
    pub captions: Vec<Caption>,
}

impl View {
    /// Whether several heads were merged.
    pub fn merged(&self) -> bool {
        self.heads.len() > 1
    }

    /// Whether the page is in conflict: edits overlapped, and the text
    /// shows both between markers until someone resolves them.
    pub fn in_conflict(&self) -> bool {
        self.conflicts > 0
    }
}
