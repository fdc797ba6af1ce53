//! The history rule on a long page (issue 15, point 7): the time to
//! compute what a page with 1,000 revisions and 10 heads shows (heads,
//! common ancestor, the ten-way merge), against the target of 10 ms.
//!
//! `cargo bench -p chapar-proto --bench wiki` (`-- --revisions N --heads N
//! --lines N --rounds N`, `--json` for one JSON line).

use std::time::{Duration, Instant};

use chapar_proto::wiki::history::Graph;
use chapar_proto::{Classification, DocId, PageId, WikiRevision};

struct Args {
    revisions: usize,
    heads: usize,
    lines: usize,
    rounds: usize,
    json: bool,
}

fn args() -> Args {
    let mut a = Args {
        revisions: 1000,
        heads: 10,
        lines: 300,
        rounds: 50,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match flag.as_str() {
            "--revisions" => a.revisions = num("--revisions").max(2),
            "--heads" => a.heads = num("--heads").max(1),
            "--lines" => a.lines = num("--lines").max(1),
            "--rounds" => a.rounds = num("--rounds").max(1),
            "--json" => a.json = true,
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn id(n: usize) -> DocId {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&(n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    b[8..16].copy_from_slice(&(n as u64).to_be_bytes());
    DocId(b)
}

/// A page of `lines` lines edited `revisions` times: a trunk, then
/// `heads` branches off one revision, each editing its own region (one
/// branch in two also a line every branch edits, so the merge has
/// conflicts too).
fn page(a: &Args) -> Vec<(DocId, WikiRevision)> {
    let page = PageId([1; 16]);
    let mut lines: Vec<String> = (0..a.lines)
        .map(|i| format!("Line {i} of the consular handbook, as first written."))
        .collect();
    let mut out = Vec::with_capacity(a.revisions);
    let trunk = a.revisions - a.heads * ((a.revisions / 2) / a.heads);
    let per_branch = (a.revisions - trunk) / a.heads;
    let mut push = |n: usize, parents: Vec<DocId>, lines: &[String]| {
        out.push((
            id(n),
            WikiRevision {
                page,
                parents,
                title: "Consular handbook".into(),
                classification: Classification::Unclassified,
                caption: None,
                body: lines.join("\n") + "\n",
                summary: format!("edit {n}"),
            },
        ));
    };
    let mut n = 0;
    for _ in 0..trunk {
        let at = n % a.lines;
        lines[at] = format!("Line {at}, edited on the trunk by revision {n}.");
        let parents = if n == 0 { vec![] } else { vec![id(n - 1)] };
        push(n, parents, &lines);
        n += 1;
    }
    let fork = n - 1;
    for b in 0..a.heads {
        let mut mine = lines.clone();
        let mut prev = id(fork);
        for k in 0..per_branch {
            let region = a.lines / a.heads;
            let at = (b * region + k % region.max(1)) % a.lines;
            mine[at] = format!("Line {at}, edited on branch {b} by revision {n}.");
            if b % 2 == 0 && k == 0 {
                mine[a.lines - 1] = format!("The last line, as branch {b} has it.");
            }
            push(n, vec![prev], &mine);
            prev = id(n);
            n += 1;
        }
    }
    out
}

fn main() {
    let a = args();
    let revs = page(&a);
    let graph = Graph::new(PageId([1; 16]), revs.iter().map(|(i, r)| (*i, r)));
    let first = graph.view().expect("view");
    let mut times: Vec<Duration> = Vec::with_capacity(a.rounds);
    let mut heads_only: Vec<Duration> = Vec::with_capacity(a.rounds);
    for _ in 0..a.rounds {
        let t = Instant::now();
        let g = Graph::new(PageId([1; 16]), revs.iter().map(|(i, r)| (*i, r)));
        let v = g.view().expect("view");
        times.push(t.elapsed());
        assert_eq!(v, first, "the view is deterministic");
        let t = Instant::now();
        let h = g.heads();
        heads_only.push(t.elapsed());
        assert_eq!(h.len(), a.heads);
    }
    times.sort();
    heads_only.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = ms(times[times.len() / 2]);
    let max = ms(times[times.len() - 1]);
    let bytes: usize = revs.iter().map(|(_, r)| r.body.len()).sum::<usize>() / revs.len();
    if a.json {
        println!(
            "{{\"revisions\":{},\"heads\":{},\"lines\":{},\"body_bytes\":{},\"conflicts\":{},\"view_p50_ms\":{p50:.3},\"view_max_ms\":{max:.3},\"heads_p50_ms\":{:.3}}}",
            revs.len(),
            first.heads.len(),
            a.lines,
            bytes,
            first.conflicts,
            ms(heads_only[heads_only.len() / 2])
        );
    } else {
        println!(
            "page of {} revisions, {} heads, {} lines (~{} bytes a revision): view p50 {p50:.3} ms, max {max:.3} ms over {} rounds (heads alone p50 {:.3} ms); {} conflicting regions in the merge; target < 10 ms",
            revs.len(),
            first.heads.len(),
            a.lines,
            bytes,
            a.rounds,
            ms(heads_only[heads_only.len() / 2]),
            first.conflicts
        );
    }
}
