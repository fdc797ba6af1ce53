//! The wiki's history rule over real nodes (issue 15, point 2): random
//! concurrent histories, signed with clocks that run ahead and behind, are
//! submitted in random orders to three nodes that replicate over QUIC; in
//! the end every node shows the same heads, byte-identical text and the
//! same conflict flag, its search index lists exactly those heads, and no
//! text an edit wrote is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use chapar_proto::wiki::history::{Graph, View};
use chapar_proto::{Body, Classification, DocId, Document, PageId, Role, WikiRevision};
use chapar_search::{EntryKind, SearchRequest};
use chapar_tests::{Client, Ministry, User, held, now_ms, revision, start, wait_until};

const WAIT: Duration = Duration::from_secs(60);

/// A small deterministic generator (xorshift64*): every run of a seed is
/// the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// A random history of `page` by `editors`: each revision names one or
/// two revisions its author has seen (or none: a second first revision,
/// as when two missions create one title offline), edits the first
/// parent's text, and is dated up to nine minutes off the true time, ahead
/// or behind, whatever its parents' dates.
fn history(rng: &mut Rng, page: PageId, editors: &[&User], steps: usize) -> Vec<(usize, Document)> {
    let mut out: Vec<(usize, Document)> = Vec::new();
    let now = now_ms();
    for n in 0..steps {
        let who = rng.below(editors.len());
        let mut parents: Vec<DocId> = if out.is_empty() || rng.below(8) == 0 {
            Vec::new()
        } else {
            (0..1 + rng.below(2))
                .map(|_| out[rng.below(out.len())].1.id())
                .collect()
        };
        let base = parents
            .first()
            .and_then(|p| out.iter().find(|(_, d)| d.id() == *p))
            .and_then(|(_, d)| match d.body() {
                Body::WikiRevision(r) => Some(r.body.clone()),
                _ => None,
            })
            .unwrap_or_default();
        parents.sort();
        parents.dedup();
        let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
        if !lines.is_empty() && rng.below(3) == 0 {
            let at = rng.below(lines.len());
            lines[at] = format!("line rewritten by edit {n}");
        }
        let at = rng.below(lines.len() + 1);
        lines.insert(at, format!("edit {n} by {} wrote this", editors[who].id));
        let skew = rng.below(18 * 60_000) as i64 - 9 * 60_000;
        let created = now.saturating_add_signed(skew);
        let doc = Document::sign(
            &editors[who].key,
            created,
            Body::WikiRevision(WikiRevision {
                page,
                parents,
                title: "Consular handbook".into(),
                classification: Classification::Unclassified,
                caption: None,
                body: lines.join("\n") + "\n",
                summary: format!("edit {n}"),
            }),
        )
        .expect("sign");
        out.push((who, doc));
    }
    out
}

/// The page as `client`'s node serves it: its revisions, fetched and
/// verified, through the history rule.
async fn view_at(client: &Client, page: PageId) -> (Option<View>, Vec<DocId>) {
    let listed = client
        .search(&SearchRequest {
            kinds: vec![EntryKind::Revision],
            pages: vec![page.to_string()],
            limit: 100,
            ..SearchRequest::default()
        })
        .await
        .expect("history");
    let mut docs = Vec::new();
    for h in listed.hits {
        let id: DocId = h.id.parse().expect("id");
        let doc = client.fetch(id).await.expect("fetch").expect("held");
        doc.verify().expect("verifies");
        docs.push(doc);
    }
    let view = Graph::new(
        page,
        docs.iter().filter_map(|d| match d.body() {
            Body::WikiRevision(r) => Some((d.id(), r)),
            _ => None,
        }),
    )
    .view();
    let heads = client
        .search(&SearchRequest {
            kinds: vec![EntryKind::Wiki],
            pages: vec![page.to_string()],
            limit: 100,
            ..SearchRequest::default()
        })
        .await
        .expect("heads");
    let mut indexed: Vec<DocId> = heads
        .hits
        .iter()
        .map(|h| h.id.parse().expect("id"))
        .collect();
    indexed.sort();
    (view, indexed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_histories_look_the_same_on_every_node() {
    use Classification::Secret;
    let (m, tomls) = Ministry::hub_and_two_embassies(38).expect("ministry");
    let roles = [Role::Reader, Role::Editor];
    let editors = [
        m.add_user("hq", "mfa", Secret, &roles, &[], "hub")
            .expect("user"),
        m.add_user("ea", "emb-a", Secret, &roles, &[], "a-1")
            .expect("user"),
        m.add_user("eb", "emb-b", Secret, &roles, &[], "b-1")
            .expect("user"),
    ];
    let mut nodes = Vec::new();
    for t in &tomls {
        nodes.push(start(t).await.expect("node"));
    }
    let mut clients = Vec::new();
    for (e, n) in editors.iter().zip(&nodes) {
        let addr = n.local_addr().expect("addr");
        clients.push(Client::connect(&e.bundle, addr).await.expect("connect"));
    }
    let refs: Vec<&User> = editors.iter().collect();

    // Three seeds, three pages, submitted interleaved: each revision to its
    // author's node, the order shuffled.
    let mut all: Vec<(usize, Document)> = Vec::new();
    let mut pages = Vec::new();
    for seed in 1..=3u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let page = PageId([seed as u8; 16]);
        pages.push(page);
        let steps = 10 + rng.below(6);
        all.extend(history(&mut rng, page, &refs, steps));
    }
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    rng.shuffle(&mut all);
    for (who, doc) in &all {
        clients[*who].submit(doc).await.expect("submit");
    }

    let want: BTreeSet<DocId> = all.iter().map(|(_, d)| d.id()).collect();
    for n in &nodes {
        assert!(
            wait_until(WAIT, || held(n)
                .map(|h| want.is_subset(&h.into_iter().collect()))
                .unwrap_or(false))
            .await,
            "every revision reaches every node"
        );
    }
    let (mut merged, mut conflicted) = (0, 0);
    for page in pages {
        let revs: Vec<(DocId, &WikiRevision)> = all
            .iter()
            .filter_map(|(_, d)| match d.body() {
                Body::WikiRevision(r) if r.page == page => Some((d.id(), r)),
                _ => None,
            })
            .collect();
        let expected = Graph::new(page, revs.iter().map(|(i, r)| (*i, *r)))
            .view()
            .expect("view");
        merged += usize::from(expected.merged());
        conflicted += usize::from(expected.in_conflict());
        for (c, name) in clients.iter().zip(["hub", "a-1", "b-1"]) {
            // The index commits on its own schedule: wait for its heads.
            let deadline = std::time::Instant::now() + WAIT;
            let mut got = view_at(c, page).await;
            while (got.0.as_ref() != Some(&expected) || got.1 != expected.heads)
                && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
                got = view_at(c, page).await;
            }
            assert_eq!(
                got.0.as_ref(),
                Some(&expected),
                "{name}: page {page} as the history rule shows it"
            );
            assert_eq!(
                got.1, expected.heads,
                "{name}: page {page}'s heads in the index"
            );
        }
        // No text an edit wrote is lost: a head's line may be gone only if
        // the common ancestor had it and another head deleted it.
        let body = |i: &DocId| {
            revs.iter()
                .find(|(x, _)| x == i)
                .map(|(_, r)| r.body.as_str())
        };
        let base = expected.base.as_ref().and_then(body).unwrap_or("");
        for h in &expected.heads {
            for line in body(h).unwrap_or("").lines() {
                let deleted = base.lines().any(|l| l == line)
                    && expected
                        .heads
                        .iter()
                        .any(|o| !body(o).unwrap_or("").lines().any(|l| l == line));
                assert!(
                    deleted || expected.text.lines().any(|l| l == line),
                    "page {page}: {line:?} of head {h} is lost"
                );
            }
        }
    }
    // The fixture must exercise the rule: heads to merge, and a conflict.
    assert!(
        merged >= 1 && conflicted >= 1,
        "merged {merged}, conflicted {conflicted}"
    );
    for c in clients {
        drop(c);
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Pages by title through the person's client library, over a real node:
/// a renamed page is found by its old title (as a redirect), and a reader
/// below the page's newest revision still finds and reads the revision
/// they may read, with a notice, and nothing of the hidden one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_lead_to_pages_and_a_hidden_head_is_announced() {
    use Classification::{Secret, Unclassified};
    use chapar_client::wiki;
    let (m, tomls) = Ministry::hub_and_two_embassies(39).expect("ministry");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let reader = m
        .add_user("rd", "mfa", Unclassified, &[Role::Reader], &[], "hub")
        .expect("user");
    let hub = start(&tomls[0]).await.expect("hub");
    let (ed, rd) = (person(&editor).await, person(&reader).await);
    let page =
        chapar_proto::wiki::title::page_id(&chapar_proto::wiki::title::key("Visa facilitation"), 0);
    let rev = |parents: Vec<DocId>, title: &str, body: &str, c: Classification| {
        revision(&editor.key, now_ms(), page, parents, title, body, c).expect("sign")
    };
    let r1 = rev(vec![], "Visa facilitation", "Open text.\n", Unclassified);
    let r2 = rev(
        vec![r1.id()],
        "Visa talks with Germany",
        "Secret text.\n",
        Secret,
    );
    for d in [&r1, &r2] {
        ed.submit(d.as_bytes()).await.expect("submit");
    }
    // Wait for the index to show the head.
    let deadline = std::time::Instant::now() + WAIT;
    while wiki::find(&ed, "visa talks with germany")
        .await
        .expect("find")
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "never indexed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The editor: the new title is current; the old one redirects.
    let now = wiki::find(&ed, "VISA TALKS WITH GERMANY")
        .await
        .expect("find");
    assert_eq!(now.len(), 1);
    assert!(!now[0].by_old_title);
    assert_eq!(now[0].heads, vec![r2.id()]);
    let old = wiki::find(&ed, "visa_facilitation").await.expect("find");
    assert_eq!(old.len(), 1);
    assert!(old[0].by_old_title && old[0].page == page);
    assert_eq!(old[0].title, "Visa talks with Germany");
    // The reader: the page by the title they may read, its open text, a
    // hidden head announced; the secret title leads nowhere.
    let found = wiki::find(&rd, "Visa facilitation").await.expect("find");
    assert_eq!(found.len(), 1);
    assert!(found[0].heads.is_empty(), "no head they may read");
    assert_eq!(found[0].title, "Visa facilitation");
    let docs = wiki::revisions(&rd, page).await.expect("revisions");
    let v = wiki::view(page, &docs).expect("view");
    assert_eq!(v.text, "Open text.\n");
    assert_eq!(wiki::hidden_heads(&rd, page).await.expect("hidden"), 1);
    assert!(
        wiki::find(&rd, "Visa talks with Germany")
            .await
            .expect("find")
            .is_empty()
    );
    hub.stop().await;
}

/// Waits until `f` holds of the pages `title` finds for `client`.
async fn until_found(
    client: &chapar_client::rpc::Client,
    title: &str,
    f: impl Fn(&[chapar_client::wiki::Found]) -> bool,
) -> Vec<chapar_client::wiki::Found> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = chapar_client::wiki::find(client, title)
            .await
            .expect("find");
        if f(&found) {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{title:?}: {found:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A move keeps the page (its id and history), gives it the new title,
/// and leaves a redirect page at the old one; moving onto a title in use
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_keeps_the_history_and_leaves_a_redirect() {
    use Classification::Secret;
    use chapar_client::wiki;
    let (m, tomls) = Ministry::hub_and_two_embassies(41).expect("ministry");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let hub = start(&tomls[0]).await.expect("hub");
    let c = person(&editor).await;
    let first = |title: &str, body: &str| {
        let page = chapar_proto::wiki::title::page_id(&chapar_proto::wiki::title::key(title), 0);
        revision(
            &editor.key,
            now_ms(),
            page,
            vec![],
            title,
            body,
            Classification::Unclassified,
        )
        .expect("sign")
    };
    let handbook = first("Consular handbook", "Passports and registration.\n");
    let other = first("Visa policy", "Fees.\n");
    for d in [&handbook, &other] {
        c.submit(d.as_bytes()).await.expect("submit");
    }
    until_found(&c, "Visa policy", |f| f.len() == 1).await;
    let page = until_found(&c, "Consular handbook", |f| f.len() == 1).await[0].page;

    // Onto a title in use: refused, nothing written.
    let err = wiki::move_page(
        &c,
        &editor.key,
        "Consular handbook",
        "visa_policy",
        "",
        true,
    )
    .await
    .expect_err("title in use");
    assert!(format!("{err:#}").contains("exists already"), "{err:#}");

    let moved = wiki::move_page(
        &c,
        &editor.key,
        "Consular handbook",
        "Consular manual",
        "",
        true,
    )
    .await
    .expect("move");
    assert_eq!(moved.page, page, "a move keeps the page");
    let now = until_found(&c, "consular manual", |f| f.len() == 1).await;
    assert_eq!(now[0].heads, vec![moved.revision]);
    let history = wiki::history(&c, page).await.expect("history");
    assert_eq!(history.len(), 2, "the history moves with the page");
    // The old title now names the redirect page.
    let (redirect_page, _) = moved.redirect.expect("a redirect");
    let old = until_found(&c, "Consular handbook", |f| {
        f.len() == 1 && f[0].page == redirect_page
    })
    .await;
    assert!(!old[0].by_old_title);
    let docs = wiki::revisions(&c, redirect_page).await.expect("revisions");
    let v = wiki::view(redirect_page, &docs).expect("view");
    let target = chapar_proto::wiki::links::parse(&v.text)
        .redirect
        .expect("a redirect");
    assert_eq!(target.target, "Consular manual");
    hub.stop().await;
}

/// `user`'s connection to their node through the person's client library
/// (what `chapar` itself uses).
async fn person(user: &User) -> chapar_client::rpc::Client {
    chapar_client::user::Bundle::open(Some(&user.bundle))
        .expect("bundle")
        .connect(chapar_client::rpc::Timeouts::default())
        .await
        .expect("connect")
}
