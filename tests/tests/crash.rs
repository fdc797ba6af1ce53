//! Crashes, interruptions and stops: a node SIGKILLed in the middle of
//! receiving the hub's documents loses nothing it acknowledged and
//! converges after restart; an interrupted transfer resumes without
//! re-sending what already arrived; `chapar-node run` stopped by SIGTERM
//! or SIGINT exits cleanly with everything flushed.
//!
//! A node that must be SIGKILLed runs in a child process: this test binary
//! re-executed with only [`crash_child_node`] selected and
//! `CHAPAR_CHILD_NODE` naming the node's `node.toml`.
//!
//! Loopback subnets: 127.31.0.x (kill -9), 127.32.0.x (resume) and
//! 127.33.0.x (clean stop).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chapar_node::config::NodeConfig;
use chapar_node::store::{Store, StoreError};
use chapar_proto::wire::Message;
use chapar_proto::{Body, Classification, DocId, Document, PageId, Role, WikiRevision};
use chapar_tests::{Client, Ministry, User, held, node_bin, sign, start, wait_until};

/// Names the child's `node.toml`; absent, [`crash_child_node`] is a no-op.
const CHILD_ENV: &str = "CHAPAR_CHILD_NODE";
/// The child node exits on its own after this long (the parent kills it
/// long before).
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
/// Longest wait for any one phase (start, catch-up, convergence).
const WAIT: Duration = Duration::from_secs(60);

const ROLES: [Role; 4] = [Role::Reader, Role::Editor, Role::Drafter, Role::Releaser];

/// An UNCLASSIFIED wiki page, distinct per `(tag, n)`, with a body of
/// about `size` bytes.
fn page(user: &User, tag: u8, n: u32, size: usize) -> Document {
    let mut id = [0u8; 16];
    id[0] = tag;
    id[1..5].copy_from_slice(&n.to_be_bytes());
    let title = format!("page {tag}/{n}");
    let mut body = format!("Body of {title}. ");
    while body.len() < size {
        body.push_str("Lorem ipsum dolor sit amet, consectetur adipiscing elit. ");
    }
    sign(
        user,
        Body::WikiRevision(WikiRevision {
            page: PageId(id),
            parents: vec![],
            title,
            classification: Classification::Unclassified,
            caption: None,
            body,
            summary: "crash test".into(),
        }),
    )
    .expect("sign page")
}

/// Submits `docs` through `client`, up to 16 at a time; returns the ids
/// acknowledged (every `Ok` from submit). Panics on a refusal.
async fn submit_all(client: Arc<Client>, docs: Vec<Document>) -> Vec<DocId> {
    let mut acked = Vec::with_capacity(docs.len());
    let mut set = tokio::task::JoinSet::new();
    let mut docs = docs.into_iter();
    loop {
        while set.len() < 16 {
            let Some(d) = docs.next() else { break };
            let c = client.clone();
            set.spawn(async move {
                let id = c.submit(&d).await;
                (d.id(), id)
            });
        }
        let Some(r) = set.join_next().await else {
            break;
        };
        let (want, got) = r.expect("submit task");
        let got = got.expect("submit");
        assert_eq!(got, want, "acknowledged id");
        acked.push(got);
    }
    acked
}

/// A node's status report as JSON text, through a person's client.
async fn status_json(client: &Client) -> anyhow::Result<String> {
    match client.request(&Message::Status).await? {
        Message::StatusReport { json } => Ok(json),
        other => anyhow::bail!("unexpected {}", other.name()),
    }
}

/// The unsigned integer after `"key":` in compact JSON (the first one).
fn json_u64(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\":");
    let at = json.find(&pat)? + pat.len();
    let digits: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// The hub's `sent` counter on its link with `peer` (0 if no link yet).
fn sent_to(hub: &chapar_node::Running, peer: &str) -> u64 {
    let status = hub.status();
    status["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["id"] == peer))
        .and_then(|p| p["sent"].as_u64())
        .unwrap_or(0)
}

/// Opens a store once nobody holds it (bounded wait), for inspection.
fn open_store(dir: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(dir) {
            Err(StoreError::InUse { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other.expect("open store"),
        }
    }
}

/// Every id a store holds.
fn store_ids(store: &Store) -> BTreeSet<DocId> {
    store
        .items()
        .map(|r| r.map(|(_, id)| id))
        .collect::<Result<_, _>>()
        .expect("store items")
}

// ---- kill -9 during catch-up --------------------------------------------

/// Not a test on its own: the body of the child process of
/// [`kill_9_during_catch_up_loses_nothing_acknowledged_and_converges`].
/// Returns at once unless that test started it.
#[test]
fn crash_child_node() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cfg = NodeConfig::load(Path::new(&path)).expect("child: node.toml");
        let node = chapar_node::start(cfg).await.expect("child: start node");
        println!("\nREADY {}", node.local_addr().expect("child: address"));
        // Report, as they change, the number of documents this node has
        // received from the hub and stored (in this life): polled every
        // millisecond on a thread of its own, it reaches the parent far
        // sooner than a status request over QUIC while both processes
        // are busy with the catch-up.
        let shared = node.shared().clone();
        std::thread::spawn(move || {
            let mut last = u64::MAX;
            let until = Instant::now() + CHILD_LIFETIME;
            while Instant::now() < until {
                let received = shared
                    .peers
                    .lock()
                    .ok()
                    .and_then(|p| p.get("hub").map(|s| s.received))
                    .unwrap_or(0);
                if received != last {
                    println!("RECEIVED {received}");
                    last = received;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        tokio::time::sleep(CHILD_LIFETIME).await;
        node.stop().await;
    });
}

/// When a child node is to be SIGKILLed: as soon as it reports having
/// received `received` documents from the hub and the parent recorded at
/// least one acknowledgement from it in `acked`.
struct KillRule {
    received: u64,
    acked: Arc<std::sync::Mutex<Vec<DocId>>>,
}

/// A node running in a child process.
struct ChildNode {
    child: Arc<std::sync::Mutex<Child>>,
    addr: SocketAddr,
    /// Set once the kill rule fired: the count received at that moment.
    killed_at: Arc<std::sync::Mutex<Option<u64>>>,
}

impl ChildNode {
    /// Starts the node of `node_toml` in a child process and waits for it
    /// to listen. With a kill rule, the thread reading the child's output
    /// SIGKILLs it the moment the rule holds (no async scheduling delay).
    fn spawn(node_toml: &Path, rule: Option<KillRule>) -> ChildNode {
        let exe = std::env::current_exe().expect("test executable");
        let mut child = Command::new(exe)
            .args([
                "--exact",
                "crash_child_node",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, node_toml)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child node");
        let stdout = child.stdout.take().expect("child stdout");
        let child = Arc::new(std::sync::Mutex::new(child));
        let killed_at = Arc::new(std::sync::Mutex::new(None));
        let (tx, rx) = mpsc::channel();
        {
            let child = child.clone();
            let killed_at = killed_at.clone();
            // Ends when the child's stdout closes (it exits or is killed).
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    // libtest may have written "test ... " on the same line.
                    if let Some(at) = line.find("READY ") {
                        let _ = tx.send(line[at + 6..].trim().to_owned());
                    }
                    let Some(n) = line.strip_prefix("RECEIVED ") else {
                        continue;
                    };
                    let received: u64 = n.trim().parse().unwrap_or(0);
                    let Some(rule) = &rule else { continue };
                    let acked = rule.acked.lock().map(|a| a.len()).unwrap_or(0);
                    if received >= rule.received && acked > 0 {
                        let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
                        let _ = c.kill(); // SIGKILL
                        *killed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(received);
                        break;
                    }
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().expect("child address"),
            Err(e) => {
                let mut c = child.lock().unwrap_or_else(|p| p.into_inner());
                let _ = c.kill();
                let _ = c.wait();
                panic!("child node did not report READY: {e}");
            }
        };
        ChildNode {
            child,
            addr,
            killed_at,
        }
    }

    /// The count received when the kill rule fired, if it did.
    fn killed_at(&self) -> Option<u64> {
        *self.killed_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// SIGKILL (if not done yet), and reap.
    fn kill(self) {
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = c.kill();
        c.wait().expect("reap child node");
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        // A failing test must not leave the child running.
        let mut c = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Lets a child node catch up while a person writes to it, and SIGKILLs it
/// once it has received `kill_at` of the hub's documents in this life and
/// acknowledged at least one of its own. Returns the ids it acknowledged
/// to the person in this life.
async fn run_until_kill(node_toml: &Path, user: &User, life: u8, kill_at: u64) -> Vec<DocId> {
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let child = ChildNode::spawn(
        node_toml,
        Some(KillRule {
            received: kill_at,
            acked: acked.clone(),
        }),
    );
    let client = Arc::new(
        Client::connect(&user.bundle, child.addr)
            .await
            .expect("client to child"),
    );
    // A person keeps writing at a-1 during the catch-up; every Ok is an
    // acknowledgement by a-1.
    let writer = {
        let client = client.clone();
        let acked = acked.clone();
        let docs: Vec<Document> = (0..1_000).map(|n| page(user, 100 + life, n, 300)).collect();
        tokio::spawn(async move {
            for d in docs {
                match client.submit(&d).await {
                    Ok(id) => {
                        assert_eq!(id, d.id(), "acknowledged id");
                        acked.lock().expect("acked").push(id);
                    }
                    Err(_) => return, // the node is gone
                }
            }
        })
    };
    let killed = wait_until(WAIT, || child.killed_at().is_some()).await;
    child.kill();
    // Fail the writer's pending request at once instead of at its timeout.
    client.connection().close(0u32.into(), b"node killed");
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("writer ends after the kill")
        .expect("writer task");
    assert!(
        killed,
        "life {life}: a-1 never received {kill_at} documents from the hub in {WAIT:?}"
    );
    std::mem::take(&mut *acked.lock().expect("acked"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_catch_up_loses_nothing_acknowledged_and_converges() {
    const PAGES: u32 = 3_000;
    // Large enough that the catch-up takes a few seconds, so the kills
    // land in the middle of it.
    const PAGE_BYTES: usize = 16_000;
    let t0 = Instant::now();
    use Classification::*;
    let m = Ministry::new(31, &["emb-a"]).expect("ministry");
    let hub_toml = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a_toml = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a-1");
    let uh = m
        .add_user("uh", "mfa", Secret, &ROLES, &[], "hub")
        .expect("uh");
    // An administrator: only they (and nodes) see a node's document count.
    let ua_roles = [ROLES.as_slice(), &[Role::Admin]].concat();
    let ua = m
        .add_user("ua", "emb-a", Secret, &ua_roles, &[], "a-1")
        .expect("ua");
    let a_dir = NodeConfig::load(&a_toml).expect("a-1 config").data_dir;

    let hub = start(&hub_toml).await.expect("start hub");
    let hub_client = Arc::new(
        Client::connect(&uh.bundle, hub.local_addr().expect("hub addr"))
            .await
            .expect("client to hub"),
    );
    let docs: Vec<Document> = (0..PAGES).map(|i| page(&uh, 1, i, PAGE_BYTES)).collect();
    let hub_acked = submit_all(hub_client.clone(), docs).await;
    assert_eq!(hub_acked.len(), PAGES as usize);
    eprintln!("{PAGES} pages submitted to the hub in {:?}", t0.elapsed());

    let hub_set: BTreeSet<DocId> = hub_acked.iter().copied().collect();
    let mut a_acked: Vec<DocId> = Vec::new();
    let mut from_hub_before = 0;
    // Two kills, at two different points of the catch-up: as soon as a-1
    // has stored some of the hub's pages (early), and, after the restart,
    // once it has stored a quarter more (mid-transfer; the store keeps what
    // arrived before the first kill). Pages arrive in batches of up to 256.
    for (life, kill_at) in [(1u8, 1u64), (2, PAGES as u64 / 4)] {
        let t = Instant::now();
        let acked = run_until_kill(&a_toml, &ua, life, kill_at).await;
        let own = acked.len();
        a_acked.extend(acked);
        // Inspect the store with the node dead: every acknowledged
        // document is there, and the store is consistent.
        let store = open_store(&a_dir);
        let ids = store_ids(&store);
        let lost: Vec<_> = a_acked.iter().filter(|id| !ids.contains(id)).collect();
        assert!(
            lost.is_empty(),
            "life {life}: {} documents acknowledged by a-1 lost by kill -9: {lost:?}",
            lost.len()
        );
        let report = store.check().expect("store check after kill -9");
        assert_eq!(report.docs, store.len(), "life {life}: count after kill -9");
        assert_eq!(ids.len() as u64, store.len(), "life {life}: items vs count");
        drop(store);
        let from_hub = ids.intersection(&hub_set).count();
        eprintln!(
            "life {life}: killed after {:?} holding {from_hub} of the hub's {PAGES} pages; \
             {own} of its own acknowledged in this life, {} in all, {} on disk",
            t.elapsed(),
            a_acked.len(),
            ids.len()
        );
        assert!(
            from_hub > from_hub_before && from_hub < PAGES as usize,
            "life {life}: the kill must land during catch-up: a-1 held {from_hub_before} \
             of the hub's {PAGES} pages before, {from_hub} at the kill"
        );
        from_hub_before = from_hub;
    }

    // Last life: restart and let it converge.
    let t = Instant::now();
    let child = ChildNode::spawn(&a_toml, None);
    let client = Client::connect(&ua.bundle, child.addr)
        .await
        .expect("client to a-1 after restart");
    for id in &a_acked {
        assert!(
            client.fetch(*id).await.expect("fetch").is_some(),
            "a-1 lost {id}, which it acknowledged before a kill -9"
        );
    }
    let a_set: BTreeSet<DocId> = a_acked.iter().copied().collect();
    assert!(
        wait_until(WAIT, || held(&hub)
            .map(|h| a_set.iter().all(|id| h.binary_search(id).is_ok()))
            .unwrap_or(false))
        .await,
        "the hub receives every document a-1 acknowledged"
    );
    // Converged: a-1 and the hub report the same count, twice in a row
    // 200 ms apart (documents a-1 stored but never acknowledged before a
    // kill reach the hub after the restart, so a count alone can be
    // reached early).
    let deadline = Instant::now() + WAIT;
    let mut stable = 0;
    let (mut a_count, mut hub_count) = (0, 0);
    while Instant::now() < deadline && stable < 2 {
        let json = status_json(&client).await.expect("a-1 status");
        a_count = json_u64(&json, "documents").expect("documents");
        hub_count = hub.shared().store.len();
        stable = if a_count == hub_count { stable + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "after the last restart: a-1 {a_count}, hub {hub_count} documents after {:?}",
        t.elapsed()
    );
    drop(client);
    child.kill();
    // Nothing can reach the hub any more: compare the two sets exactly.
    let hub_held: BTreeSet<DocId> = held(&hub).expect("hub held").into_iter().collect();
    assert!(hub_acked.iter().all(|id| hub_held.contains(id)));
    let store = open_store(&a_dir);
    let a_held = store_ids(&store);
    store.check().expect("store check at the end");
    drop(store);
    let missing: Vec<_> = hub_held.difference(&a_held).collect();
    let extra: Vec<_> = a_held.difference(&hub_held).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "a-1 did not converge with the hub: {} missing, {} extra (e.g. {:?} {:?})",
        missing.len(),
        extra.len(),
        missing.first(),
        extra.first()
    );
    hub.stop().await;
    eprintln!("kill -9 test took {:?}", t0.elapsed());
}

// ---- interrupted transfer resumes ---------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_transfer_resumes_without_resending() {
    const N: u64 = 2_000;
    let t0 = Instant::now();
    use Classification::*;
    let m = Ministry::new(32, &["emb-a"]).expect("ministry");
    let hub_toml = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a_toml = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a-1");
    let uh = m
        .add_user("uh", "mfa", Secret, &ROLES, &[], "hub")
        .expect("uh");
    let a_dir: PathBuf = NodeConfig::load(&a_toml).expect("a-1 config").data_dir;

    let hub = start(&hub_toml).await.expect("start hub");
    let hub_client = Arc::new(
        Client::connect(&uh.bundle, hub.local_addr().expect("hub addr"))
            .await
            .expect("client to hub"),
    );
    let docs: Vec<Document> = (0..N as u32).map(|i| page(&uh, 2, i, 8_000)).collect();
    submit_all(hub_client.clone(), docs).await;
    let hub_held = held(&hub).expect("hub held");
    assert_eq!(hub_held.len() as u64, N);
    eprintln!("{N} pages submitted to the hub in {:?}", t0.elapsed());

    // First session: stop a-1 once the hub has sent it about half. (Not
    // once a-1 *holds* half: a-1 reads frames into a queue ahead of its
    // ingest worker, which stores whatever was received even when the node
    // stops, so by then the whole transfer may already have arrived.)
    // a-1 runs on a runtime of its own and a plain thread watches the
    // hub's counter and stops a-1: on the test's runtime, busy with the
    // hub's sending, the halfway mark could be noticed only batches late.
    let rt_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime for a-1");
    let t = Instant::now();
    let a = {
        let toml = a_toml.clone();
        rt_a.spawn(async move { start(&toml).await })
            .await
            .expect("start task")
            .expect("start a-1")
    };
    let watcher = {
        let handle = rt_a.handle().clone();
        let hub_shared = hub.shared().clone();
        std::thread::spawn(move || {
            let sent = || {
                hub_shared
                    .peers
                    .lock()
                    .ok()
                    .and_then(|p| p.get("a-1").map(|s| s.sent))
                    .unwrap_or(0)
            };
            let deadline = Instant::now() + WAIT;
            let mut seen = 0;
            while Instant::now() < deadline {
                seen = sent();
                if seen >= N / 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            handle.block_on(a.stop());
            seen
        })
    };
    let seen = tokio::task::spawn_blocking(move || watcher.join())
        .await
        .expect("join task")
        .expect("watcher thread");
    let store = open_store(&a_dir);
    let k = store.len();
    drop(store);
    let sent_before = sent_to(&hub, "a-1");
    eprintln!(
        "first session: stopped when the hub had sent {seen}; a-1 kept {k}, the hub sent \
         {sent_before} in all; after {:?}",
        t.elapsed()
    );
    assert!(
        k > 0 && k < N,
        "a-1 must be stopped during catch-up (holds {k} of {N})"
    );

    // Second session: resume.
    let t = Instant::now();
    let a = {
        let toml = a_toml.clone();
        rt_a.spawn(async move { start(&toml).await })
            .await
            .expect("start task")
            .expect("restart a-1")
    };
    assert!(
        wait_until(WAIT, || held(&a).map(|h| h == hub_held).unwrap_or(false)).await,
        "a-1 converges with the hub after the restart ({} of {N})",
        a.shared().store.len()
    );
    // The counter is bumped right after each write: let it settle.
    let mut sent_after = sent_to(&hub, "a-1");
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sent_after = sent_to(&hub, "a-1");
    }
    let second = sent_after - sent_before;
    eprintln!(
        "second session: converged in {:?}; the hub sent {second} (N - k = {}), \
         {sent_after} in all",
        t.elapsed(),
        N - k
    );
    let slack = N / 20;
    // The resumed session sends what a-1 lacks, and nothing it holds: the
    // pages it received in the first session are not sent again.
    assert!(
        second >= N - k && second <= N - k + slack,
        "the second session sent {second} documents; a-1 lacked N - k = {}",
        N - k
    );
    // Over both sessions the hub sent N, plus what it had handed to the
    // link in the first session that never reached a-1's store (the
    // counter counts a batch once it is queued on the QUIC stream; a stop
    // drops what is still in flight, and that must be sent again).
    let in_flight = sent_before - k;
    assert!(
        sent_after <= N + in_flight + slack,
        "the hub sent {sent_after} documents on the a-1 link for {N} \
         ({sent_before} in the first session, of which a-1 kept {k}; {second} in the second)"
    );
    // At most the batches in flight at the stop (the session writes 256
    // documents per batch): more would mean a-1 lost what had arrived.
    assert!(
        in_flight <= 4 * 256,
        "{in_flight} documents the hub sent in the first session never reached a-1's store"
    );
    rt_a.spawn(a.stop()).await.expect("stop a-1");
    rt_a.shutdown_background();
    hub.stop().await;
    eprintln!("resume test took {:?}", t0.elapsed());
}

// ---- clean stop on a signal ----------------------------------------------

/// `chapar-node run` as an operator runs it (the real binary), stopped by
/// SIGTERM (a service manager) and then by SIGINT (Ctrl-C) while a person
/// is writing: it exits with success, says so, and leaves the store
/// flushed to its end: everything acknowledged is there and the next start
/// replays nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_stop_the_daemon_cleanly_after_flushing() {
    use Classification::*;
    let m = Ministry::new(33, &["emb-a"]).expect("ministry");
    let hub_toml = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let uh = m
        .add_user("uh", "mfa", Secret, &ROLES, &[], "hub")
        .expect("uh");
    let cfg = NodeConfig::load(&hub_toml).expect("hub config");
    let bin = node_bin().expect("chapar-node");
    let mut acked: Vec<DocId> = Vec::new();
    for (life, signal) in [(1u8, libc::SIGTERM), (2, libc::SIGINT)] {
        let mut child = Command::new(&bin)
            .args(["run", "--config"])
            .arg(&hub_toml)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chapar-node");
        let client = {
            let deadline = Instant::now() + WAIT;
            loop {
                match Client::connect(&uh.bundle, cfg.listen).await {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => {
                        let _ = child.kill();
                        panic!("life {life}: the node never served: {e}");
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        };
        let client = Arc::new(client);
        let docs: Vec<Document> = (0..300).map(|n| page(&uh, 40 + life, n, 2_000)).collect();
        acked.extend(submit_all(client.clone(), docs).await);
        assert_eq!(
            acked.len(),
            300 * life as usize,
            "life {life}: acknowledged"
        );
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "life {life}: kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("life {life}: signal {signal}: the node did not stop within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut log = String::new();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read>),
        ]
        .into_iter()
        .flatten()
        {
            let mut pipe = pipe;
            let _ = pipe.read_to_string(&mut log);
        }
        assert!(
            status.success(),
            "life {life}: signal {signal}: {status}\n{log}"
        );
        assert!(log.contains("node stopped"), "life {life}: {log}");
        let store = open_store(&cfg.data_dir);
        assert_eq!(
            store.replayed_at_open(),
            0,
            "life {life}: a clean stop leaves nothing to replay"
        );
        let ids = store_ids(&store);
        let lost = acked.iter().filter(|id| !ids.contains(id)).count();
        assert_eq!(lost, 0, "life {life}: acknowledged documents lost");
        assert_eq!(store.len(), acked.len() as u64, "life {life}: count");
        drop(store);
    }
}
