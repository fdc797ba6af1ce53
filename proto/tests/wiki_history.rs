//! The history rule (`chapar_proto::wiki::history`) on random concurrent
//! histories: heads, the merged view and its conflict flag depend on the
//! set of revisions alone, and no text an edit wrote is lost.

use chapar_proto::wiki::history::{Graph, View};
use chapar_proto::{Classification, DocId, PageId, WikiRevision};
use proptest::prelude::*;

const PAGE: PageId = PageId([5; 16]);

/// A revision and its id (ids are arbitrary here: the rule never reads
/// how they were made).
fn rev(parents: Vec<DocId>, body: String, title: &str) -> WikiRevision {
    let mut parents = parents;
    parents.sort();
    parents.dedup();
    WikiRevision {
        page: PAGE,
        parents,
        title: title.into(),
        classification: Classification::Unclassified,
        caption: None,
        body,
        summary: String::new(),
    }
}

fn id(n: usize) -> DocId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    DocId(b)
}

/// A random history: each revision takes some earlier ones as parents
/// (none for a root) and edits the first parent's text: a line of its
/// own, sometimes a changed or removed line.
fn history(steps: &[(u8, u8, u8)]) -> Vec<(DocId, WikiRevision)> {
    let mut out: Vec<(DocId, WikiRevision)> = Vec::new();
    for (n, &(pick, spread, edit)) in steps.iter().enumerate() {
        let parents: Vec<DocId> = if out.is_empty() || pick % 7 == 0 {
            Vec::new()
        } else {
            let k = 1 + usize::from(spread) % 2;
            (0..k)
                .map(|j| out[(usize::from(pick) + j * 3) % out.len()].0)
                .collect()
        };
        let base = parents
            .first()
            .and_then(|p| out.iter().find(|(i, _)| i == p))
            .map(|(_, r)| r.body.clone())
            .unwrap_or_default();
        let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
        match edit % 3 {
            0 if !lines.is_empty() => {
                let at = usize::from(edit) % lines.len();
                lines[at] = format!("line changed by edit {n}");
            }
            1 if lines.len() > 2 => {
                lines.remove(usize::from(edit) % lines.len());
            }
            _ => {}
        }
        let at = if lines.is_empty() {
            0
        } else {
            usize::from(pick) % (lines.len() + 1)
        };
        lines.insert(at, format!("edit {n} wrote this"));
        let body = lines.join("\n") + "\n";
        out.push((id(n), rev(parents, body, "Page")));
    }
    out
}

fn view_of(revs: &[(DocId, WikiRevision)]) -> View {
    Graph::new(PAGE, revs.iter().map(|(i, r)| (*i, r)))
        .view()
        .expect("a page with revisions has a view")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any order of the same set gives the same view; what any head wrote
    /// is in the text; the heads are exactly the revisions no other names.
    #[test]
    fn the_view_depends_on_the_set_alone(
        steps in prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..24),
        rotation in any::<usize>(),
    ) {
        let revs = history(&steps);
        let v = view_of(&revs);
        let mut shuffled = revs.clone();
        let len = shuffled.len();
        shuffled.rotate_left(rotation % len);
        shuffled.reverse();
        prop_assert_eq!(&view_of(&shuffled), &v);

        let named: std::collections::BTreeSet<DocId> =
            revs.iter().flat_map(|(_, r)| r.parents.iter().copied()).collect();
        let mut heads: Vec<DocId> =
            revs.iter().map(|(i, _)| *i).filter(|i| !named.contains(i)).collect();
        heads.sort();
        prop_assert_eq!(&v.heads, &heads);
        // A head's line may be gone only if it was the common ancestor's
        // and another head deleted it: what an edit wrote is never lost.
        let body = |i: &DocId| revs.iter().find(|(x, _)| x == i).map(|(_, r)| r.body.as_str());
        let base = v.base.as_ref().and_then(body).unwrap_or("");
        for h in &heads {
            for line in body(h).unwrap_or("").lines() {
                let deleted = base.lines().any(|l| l == line)
                    && heads.iter().any(|o| !body(o).unwrap_or("").lines().any(|l| l == line));
                prop_assert!(
                    deleted || v.text.lines().any(|l| l == line),
                    "line {:?} of head {:?} lost", line, h
                );
            }
        }
        prop_assert_eq!(v.merged(), heads.len() > 1);
    }
}

#[test]
fn a_merge_naming_every_head_ends_the_conflict() {
    let r1 = rev(vec![], "a\nb\nc\n".into(), "Page");
    let h1 = rev(vec![id(1)], "a\nB one\nc\n".into(), "Page");
    let h2 = rev(vec![id(1)], "a\nB two\nc\n".into(), "Page");
    let revs = vec![(id(1), r1), (id(2), h1), (id(3), h2)];
    let v = view_of(&revs);
    assert_eq!(v.heads, {
        let mut h = vec![id(2), id(3)];
        h.sort();
        h
    });
    assert_eq!(v.base, Some(id(1)));
    assert!(v.in_conflict(), "{}", v.text);
    assert!(v.text.contains("B one") && v.text.contains("B two"));
    let mut resolved = revs.clone();
    resolved.push((
        id(4),
        rev(vec![id(2), id(3)], "a\nB both\nc\n".into(), "Page"),
    ));
    let v = view_of(&resolved);
    assert_eq!(v.heads, vec![id(4)]);
    assert!(!v.in_conflict() && !v.merged());
    assert_eq!(v.text, "a\nB both\nc\n");
}

#[test]
fn edits_that_do_not_overlap_merge_cleanly() {
    let r1 = rev(vec![], "one\ntwo\nthree\nfour\nfive\n".into(), "Page");
    let h1 = rev(vec![id(1)], "ONE\ntwo\nthree\nfour\nfive\n".into(), "Page");
    let h2 = rev(vec![id(1)], "one\ntwo\nthree\nfour\nFIVE\n".into(), "Page");
    let v = view_of(&[(id(1), r1), (id(2), h1), (id(3), h2)]);
    assert!(v.merged() && !v.in_conflict());
    assert_eq!(v.text, "ONE\ntwo\nthree\nfour\nFIVE\n");
}

#[test]
fn two_missions_creating_one_title_offline_keep_both_texts() {
    let a = rev(vec![], "Text from Berlin\n".into(), "Consular handbook");
    let b = rev(vec![], "Text from Tokyo\n".into(), "Consular handbook");
    let v = view_of(&[(id(1), a), (id(2), b)]);
    assert_eq!(v.base, None);
    assert!(v.in_conflict());
    assert!(v.text.contains("Text from Berlin") && v.text.contains("Text from Tokyo"));
    assert_eq!(v.title, "Consular handbook");
}

#[test]
fn a_rename_on_one_side_wins_and_revisions_of_other_pages_are_ignored() {
    let r1 = rev(vec![], "x\n".into(), "Old title");
    let h1 = rev(vec![id(1)], "x\ny\n".into(), "New title");
    let h2 = rev(vec![id(1)], "w\nx\n".into(), "Old title");
    let mut foreign = rev(vec![id(2)], "hides page 5's head\n".into(), "Elsewhere");
    foreign.page = PageId([6; 16]);
    let v = view_of(&[(id(1), r1), (id(2), h1), (id(3), h2), (id(9), foreign)]);
    assert_eq!(v.title, "New title");
    assert_eq!(v.heads.len(), 2, "a revision of another page names no head");
}
