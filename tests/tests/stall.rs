//! No insider can stall a node (issue 13, point 4; ADR 0019). Over real
//! QUIC on loopback (127.80.0.x), against a hub holding 20,000 SECRET
//! NODIS pages: one person (a valid certificate, listed, cleared SECRET
//! without NODIS) floods the hub with connections, streams, frame headers
//! announcing 16 MiB and never sending it, and listings that must pass over
//! every page they may not see; at the same time one peer (a valid node
//! certificate) sends reconciliation messages as fast as it can. Meanwhile
//! another person's searches and fetches are answered, and the documents
//! an editor publishes reach a third node, each within a bound.
//!
//! The hub and the third node each run on their own tokio runtime (two
//! threads, as a node process would); the attackers and the honest people
//! on the test's. A counting allocator measures what the hub allocates for
//! frames whose bodies never come.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use chapar_node::config::{Limits, NodeConfig};
use chapar_node::store::Store;
use chapar_proto::wire::Message;
use chapar_proto::{Classification, DocId, Document, Kind, Role};
use chapar_tests::flood::{self, Answers, HUGE_HEADER, page};
use chapar_tests::{Client, Ministry, held, now_ms, wait_until};

/// Bytes allocated and not yet freed, process-wide.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only
// the size is counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE_BYTES.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Documents of the hub no one below (not holding NODIS) may see.
const HIDDEN: usize = 20_000;
/// UNCLASSIFIED pages every node and person here may see.
const VISIBLE: usize = 200;
/// How long the attack lasts.
const FLOOD: Duration = Duration::from_secs(15);
/// Longest an honest search or fetch may take during the attack.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// Longest a published page may take to reach the third node.
const REPLICATION_BOUND: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(60);

/// A node on its own runtime, as its own process would run it.
struct Node {
    rt: Option<tokio::runtime::Runtime>,
    node: Option<chapar_node::Running>,
}

impl Node {
    async fn start(toml: &Path) -> Node {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let toml = toml.to_owned();
        let node = rt
            .spawn(async move { chapar_tests::start(&toml).await })
            .await
            .expect("start task")
            .expect("start node");
        Node {
            rt: Some(rt),
            node: Some(node),
        }
    }

    fn running(&self) -> &chapar_node::Running {
        self.node.as_ref().expect("running")
    }

    fn addr(&self) -> SocketAddr {
        self.running().local_addr().expect("addr")
    }

    async fn stop(mut self) {
        if let (Some(node), Some(rt)) = (self.node.take(), self.rt.as_ref()) {
            let _ = rt.spawn(node.stop()).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's task would panic.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The tests of this file run one at a time: the first measures what the
/// whole process allocates.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_insider_and_one_rogue_peer_do_not_stall_search_or_replication() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use Classification::*;
    let limits = Limits::default();
    let m = Ministry::new(80, &["emb-b", "emb-c"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let rogue_node = m
        .add_node("b-1", "emb-b", false, Secret, &["hub"])
        .expect("b-1");
    let third = m
        .add_node("c-1", "emb-c", false, Confidential, &["hub"])
        .expect("c-1");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &["NODIS"],
            "hub",
        )
        .expect("editor");
    let honest = m
        .add_user("hon", "mfa", Secret, &[Role::Reader], &[], "hub")
        .expect("honest");
    let mallory = m
        .add_user("mal", "emb-b", Secret, &[Role::Reader], &[], "hub")
        .expect("mallory");
    let roster = m.roster().expect("roster");
    for t in [&hub, &rogue_node, &third] {
        let cfg = NodeConfig::load(t).expect("config");
        std::fs::write(&cfg.trust.roster, roster.as_bytes()).expect("roster");
    }

    // The hub's store, loaded directly: HIDDEN SECRET NODIS pages, then
    // VISIBLE UNCLASSIFIED ones that mention "zarafshon".
    let t0 = now_ms() - 3_600_000;
    let hidden: Vec<Document> = (0..HIDDEN as u64)
        .map(|i| {
            page(
                &editor,
                i,
                t0 + i,
                Secret,
                Some("NODIS"),
                "restricted matter",
            )
        })
        .collect();
    let visible: Vec<Document> = (0..VISIBLE as u64)
        .map(|i| {
            let n = HIDDEN as u64 + i;
            page(&editor, n, t0 + n, Unclassified, None, "zarafshon vodiysi")
        })
        .collect();
    let hidden_ids: std::collections::HashSet<DocId> = hidden.iter().map(Document::id).collect();
    {
        let store = Store::open(NodeConfig::load(&hub).expect("cfg").data_dir).expect("store");
        for chunk in hidden.chunks(1000).chain(visible.chunks(1000)) {
            store.insert_batch(chunk).expect("insert");
        }
        store.close().expect("close");
    }
    drop(hidden);

    let hub_n = Node::start(&hub).await;
    let addr = hub_n.addr();
    let third_n = Node::start(&third).await;
    let hon = Client::connect(&honest.bundle, addr).await.expect("honest");
    let ed = Client::connect(&editor.bundle, addr).await.expect("editor");

    // Quiet: the hub has indexed its pages, the third node holds the
    // visible ones, and a fetch answers.
    assert!(
        wait_until(WAIT, || held(third_n.running())
            .map(|h| h.len() == VISIBLE)
            .unwrap_or(false))
        .await,
        "c-1 caught up: {:?}",
        held(third_n.running()).map(|h| h.len())
    );
    let mut found = 0;
    let t = Instant::now();
    while t.elapsed() < WAIT {
        found = hon.find("zarafshon").await.map(|r| r.total).unwrap_or(0);
        if found == VISIBLE as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(found, VISIBLE as u64, "the hub's index before the attack");

    // 1. Connection flood: three times the cap, held open. The hub keeps
    // exactly the cap and closes the rest, saying why.
    let mal_cfg = flood::client_config(&mallory.bundle).expect("config");
    // Each attacker has its own address, as on a network.
    let mal_ep = flood::endpoint("127.80.0.100").expect("endpoint");
    let cap = limits.connections_per_identity as usize;
    let mut kept = Vec::new();
    let mut refused = 0;
    for _ in 0..3 * cap {
        let conn = flood::raw_connect(&mal_ep, &mal_cfg, addr)
            .await
            .expect("handshake");
        match flood::closed_within(&conn, Duration::from_millis(1500)).await {
            None => kept.push(conn),
            Some(quinn::ConnectionError::ApplicationClosed(c)) => {
                assert_eq!(
                    c.error_code,
                    quinn::VarInt::from_u32(chapar_node::net::CLOSE_LIMIT)
                );
                let reason = String::from_utf8_lossy(&c.reason).into_owned();
                assert!(
                    reason.contains("connections open")
                        && reason.contains(&format!("limit is {cap}")),
                    "{reason}"
                );
                refused += 1;
            }
            Some(other) => panic!("unexpected close: {other}"),
        }
    }
    assert_eq!(kept.len(), cap, "connections kept open");
    assert_eq!(refused, 2 * cap);

    // 2. Frame headers announcing ~16 MiB, bodies never sent, on as many
    // streams as two connections allow: the hub allocates per byte
    // received, not per byte announced.
    let per_conn = limits.streams_per_connection as usize;
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut stuck = Vec::new();
    for conn in &kept[..2] {
        stuck.extend(flood::stuck_streams(conn, &HUGE_HEADER, 300).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let grew = LIVE_BYTES.load(Ordering::Relaxed) - before;
    assert_eq!(
        stuck.len(),
        2 * per_conn,
        "streams the hub let two connections open"
    );
    assert!(
        grew < 128 << 20,
        "{} headers of 16 MiB made the process allocate {} MiB",
        stuck.len(),
        grew >> 20
    );

    // 3. A third connection's streams sit idle after half a header; the
    // others keep asking for listings that must pass over every hidden
    // page, more at once than allowed; a fresh connection is attempted
    // again and again; the rogue peer reconciles in a loop.
    stuck.extend(flood::stuck_streams(&kept[2], &[0, 0], 300).await);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Answers::default());
    let list = Message::List {
        kind: Some(Kind::WikiRevision),
        from_ms: 0,
        to_ms: u64::MAX,
        limit: 10_000,
        newest_first: false,
    };
    let check: Arc<dyn Fn(&Message) + Send + Sync> = Arc::new(move |m: &Message| match m {
        // Hidden pages neither show nor count.
        Message::Listing { entries } => {
            assert!(entries.len() >= VISIBLE, "{} entries", entries.len());
            assert!(
                entries.iter().all(|e| !hidden_ids.contains(&e.id)),
                "a hidden page was listed"
            );
        }
        other => panic!("a listing answered with {}", other.name()),
    });
    let mut attackers = Vec::new();
    for conn in &kept[3..] {
        attackers.extend(flood::request_flood(
            conn,
            list.clone(),
            per_conn,
            &stop,
            &answers,
            check.clone(),
        ));
    }
    let churn = tokio::spawn(flood::connection_churn(
        mal_ep.clone(),
        mal_cfg.clone(),
        addr,
        stop.clone(),
        16,
    ));
    let rogue = {
        let stop = stop.clone();
        let bundle = rogue_node.parent().expect("dir").to_owned();
        let roster = roster.clone();
        let ep = flood::endpoint("127.80.0.101").expect("endpoint");
        tokio::spawn(
            async move { flood::reconcile_loop(ep, roster, &bundle, addr, "b-1", stop).await },
        )
    };

    // Meanwhile: honest searches and fetches, and pages published for
    // the third node, each answered or delivered within its bound.
    let probe_at = visible[7].id();
    let started = Instant::now();
    let mut searches = Vec::new();
    let mut fetches = Vec::new();
    let mut delivered = Vec::new();
    let mut n = 0u64;
    while started.elapsed() < FLOOD {
        let t = Instant::now();
        let r = tokio::time::timeout(ANSWER_BOUND, hon.find("zarafshon")).await;
        let took = t.elapsed();
        match r {
            Ok(Ok(r)) => assert_eq!(r.total, VISIBLE as u64, "search during the attack"),
            Ok(Err(e)) => panic!("search refused during the attack after {took:?}: {e:#}"),
            Err(_) => panic!("search unanswered for {ANSWER_BOUND:?} during the attack"),
        }
        searches.push(took);

        let t = Instant::now();
        let r = tokio::time::timeout(ANSWER_BOUND, hon.fetch(probe_at)).await;
        let took = t.elapsed();
        assert!(
            matches!(r, Ok(Ok(Some(ref d))) if d.id() == probe_at),
            "fetch during the attack: {r:?} after {took:?}"
        );
        fetches.push(took);

        let live = page(
            &editor,
            1_000_000 + n,
            now_ms(),
            Unclassified,
            None,
            "samarqand",
        );
        n += 1;
        let t = Instant::now();
        tokio::time::timeout(ANSWER_BOUND, ed.submit(&live))
            .await
            .expect("submit answered")
            .expect("submit");
        let arrived = wait_until(REPLICATION_BOUND, || {
            third_n
                .running()
                .shared()
                .store
                .contains(&live.id())
                .unwrap_or(false)
        })
        .await;
        assert!(
            arrived,
            "page {n} not at c-1 within {REPLICATION_BOUND:?} during the attack"
        );
        delivered.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.await.expect("attacker task");
    }
    let churn = churn.await.expect("churn");
    let reconciles = rogue.await.expect("rogue").expect("rogue peer");

    // The attack happened as described.
    let listed = answers.answered.load(Ordering::Relaxed);
    let refused_busy = answers.busy.load(Ordering::Relaxed);
    assert!(listed > 0, "no listing completed");
    assert!(refused_busy > 0, "no request was refused over the caps");
    assert_eq!(
        answers.other.load(Ordering::Relaxed),
        0,
        "listings lost or failed"
    );
    assert!(
        churn.attempts > 0 && churn.closed == churn.connected,
        "over the cap, connections stayed open: {churn:?}"
    );
    assert!(
        reconciles.answered > 100,
        "the hub answered only {reconciles:?} reconciliation messages"
    );
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    eprintln!(
        "during the attack: {} searches (slowest {:?}), {} fetches (slowest {:?}), {} pages to c-1 (slowest {:?}); \
         mallory: {listed} listings, {refused_busy} refused as busy, connections {churn:?}; rogue: {reconciles:?}",
        searches.len(),
        max(&searches),
        fetches.len(),
        max(&fetches),
        delivered.len(),
        max(&delivered),
    );
    assert!(
        delivered.len() >= 3,
        "too few pages published during the attack"
    );

    drop((stuck, kept));
    hon.connection().close(0u32.into(), b"done");
    ed.connection().close(0u32.into(), b"done");
    third_n.stop().await;
    hub_n.stop().await;
}

/// While a reconciliation answer is being computed for a peer (here: one
/// that takes as long as the test likes), a person's submit is stored and
/// acknowledged, and the next answer includes it. Before ADR 0019 the
/// answer held the lock every ingest needs: the submit waited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_does_not_wait_for_a_reconciliation_answer() {
    let _alone = ONE_AT_A_TIME.lock().await;
    use Classification::*;
    let m = Ministry::new(82, &["emb-a"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    m.add_node("a-1", "emb-a", false, Secret, &["hub"])
        .expect("a-1");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("editor");
    let hub_n = chapar_tests::start(&hub).await.expect("hub");
    let client = Client::connect(&editor.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    client
        .submit(&m.roster().expect("roster"))
        .await
        .expect("roster");
    let first = page(&editor, 1, now_ms(), Unclassified, None, "first");
    client.submit(&first).await.expect("first page");

    // The set a-1's class reconciles over, and an answer on it that lasts
    // until we say.
    let shared = hub_n.shared().clone();
    let a1 = shared
        .trust()
        .roster()
        .node(&chapar_proto::Id::new("a-1").expect("id"))
        .cloned()
        .expect("a-1 listed");
    {
        let (sh, node) = (shared.clone(), a1.clone());
        tokio::task::spawn_blocking(move || sh.ensure_tree(&node))
            .await
            .expect("task")
            .expect("set built");
    }
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let answering = {
        let (sh, node) = (shared.clone(), a1.clone());
        std::thread::spawn(move || {
            sh.with_tree(&node, |tree| {
                let _ = started_tx.send(tree.len());
                let _ = release_rx.recv_timeout(Duration::from_secs(60));
                tree.len()
            })
        })
    };
    let held = tokio::task::spawn_blocking(move || started_rx.recv_timeout(WAIT))
        .await
        .expect("task")
        .expect("the answer started");
    assert_eq!(held, 1);

    let second = page(&editor, 2, now_ms(), Unclassified, None, "second");
    let stored = tokio::time::timeout(Duration::from_secs(10), client.submit(&second)).await;
    let _ = release_tx.send(());
    let during = answering.join().expect("answer").expect("answer ran");
    assert!(
        matches!(stored, Ok(Ok(id)) if id == second.id()),
        "the submit waited for the reconciliation answer: {stored:?}"
    );
    assert_eq!(during, 1, "the answer in progress saw a stable set");
    let item = chapar_proto::reconcile::Item::new(second.created_ms(), second.id());
    let sh = shared.clone();
    let after =
        tokio::task::spawn_blocking(move || sh.with_tree(&a1, |t| (t.len(), t.contains(&item))))
            .await
            .expect("task")
            .expect("answer");
    assert_eq!(
        after,
        (2, true),
        "the next answer includes what was published meanwhile"
    );
    client.connection().close(0u32.into(), b"done");
    hub_n.stop().await;
}
