//! Replication figures over real QUIC on loopback (127.41.0.x), measured in
//! one run so the ratios are meaningful on a noisy machine:
//!
//! 1. catch-up of a fresh node from a hub holding N wiki pages of ~2 KB,
//!    against the no-network floor (decode + `verify_batch` +
//!    `Trust::authorize` + `Store::insert_batch`, batches of 256 and 1000);
//! 2. latency of cables released at embassy A until stored at embassy B
//!    through the hub, while a fresh node catches up the hub's N pages.
//!
//! `cargo bench -p chapar-tests --bench replication` (add `-- --docs N`,
//! `-- --cables N`, `-- --json`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chapar_node::config::NodeConfig;
use chapar_node::store::Store;
use chapar_proto::keys::public_key_from_pem;
use chapar_proto::roster::accept_update;
use chapar_proto::{
    Body, Cable, CableRelease, Classification, DocId, Document, Id, PageId, Precedence, Role,
    Trust, WikiRevision, verify_batch,
};
use chapar_tests::{Client, Ministry, User, now_ms};

const NET: u8 = 41;

struct Args {
    docs: usize,
    cables: usize,
    json: bool,
    /// Run every node on the bench's one runtime instead of its own.
    shared_runtime: bool,
}

fn args() -> Args {
    let mut a = Args {
        docs: 100_000,
        cables: 1_000,
        json: false,
        shared_runtime: false,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        match v[i].as_str() {
            "--docs" => {
                a.docs = v[i + 1].parse().expect("--docs N");
                i += 1;
            }
            "--cables" => {
                a.cables = v[i + 1].parse().expect("--cables N");
                i += 1;
            }
            "--json" => a.json = true,
            "--shared-runtime" => a.shared_runtime = true,
            _ => {}
        }
        i += 1;
    }
    a
}

/// Whether nodes share the bench's runtime (`--shared-runtime`); set once
/// at start.
static SHARED_RUNTIME: AtomicBool = AtomicBool::new(false);

/// Starts a node the way a deployment runs it: in its own process, which
/// here means its own tokio runtime (two worker threads, its own blocking
/// pool), so one node's bulk transfer cannot hold the scheduler threads
/// that another node's live traffic needs. With `--shared-runtime` every
/// node runs on the bench's runtime instead (the setup of earlier runs).
async fn start(toml: &Path) -> Result<chapar_node::Running> {
    if SHARED_RUNTIME.load(Ordering::Relaxed) {
        return chapar_tests::start(toml).await;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let toml = toml.to_owned();
    let node = rt
        .spawn(async move { chapar_tests::start(&toml).await })
        .await??;
    // The runtime lives until the bench process exits, like the process
    // it stands for.
    std::mem::forget(rt);
    Ok(node)
}

/// N signed UNCLASSIFIED wiki pages of ~2 KB from the editors, encoded,
/// oldest first. Signed on two threads.
fn pages(editors: &[User], n: usize) -> Vec<Vec<u8>> {
    let base = now_ms() - 20 * n as u64 - 60_000;
    let filler = "Lorem ipsum dolor sit amet, raqamli diplomatiya. ".repeat(40); // ~2 KB
    let threads = 2;
    let per = n.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let filler = &filler;
                s.spawn(move || {
                    (t * per..((t + 1) * per).min(n))
                        .map(|i| {
                            let mut page = [0u8; 16];
                            page[..8].copy_from_slice(&(i as u64).to_be_bytes());
                            let w = WikiRevision {
                                page: PageId(page),
                                parents: vec![],
                                title: format!("Page {i}"),
                                classification: Classification::Unclassified,
                                caption: None,
                                body: format!("{i}: {filler}"),
                                summary: "bench".into(),
                            };
                            let ed = &editors[i % editors.len()];
                            Document::sign(&ed.key, base + 20 * i as u64, Body::WikiRevision(w))
                                .expect("sign")
                                .into_bytes()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("signer"))
            .collect()
    })
}

#[derive(Default, Debug, Clone)]
struct Floor {
    batch: usize,
    total: Duration,
    decode: Duration,
    verify: Duration,
    authorize: Duration,
    insert: Duration,
    batches: usize,
    slowest_insert: Duration,
}

/// decode + verify_batch + authorize + insert_batch, in batches, one thread.
fn floor(raw: &[Vec<u8>], trust: &Trust, dir: &Path, batch: usize) -> Result<Floor> {
    let store = Arc::new(Store::open(dir)?);
    let st = store.clone();
    let w = watch_fn(move || st.len());
    let mut f = Floor {
        batch,
        ..Floor::default()
    };
    let t0 = Instant::now();
    for chunk in raw.chunks(batch) {
        let t = Instant::now();
        let docs: Vec<Document> = chunk
            .iter()
            .map(|b| Document::decode(b))
            .collect::<Result<_, _>>()?;
        let t1 = Instant::now();
        if !verify_batch(&docs).iter().all(Result::is_ok) {
            bail!("verify failed");
        }
        let t2 = Instant::now();
        for d in &docs {
            trust.authorize(d)?;
        }
        let t3 = Instant::now();
        store.insert_batch(&docs)?;
        let t4 = Instant::now();
        f.decode += t1 - t;
        f.verify += t2 - t1;
        f.authorize += t3 - t2;
        f.insert += t4 - t3;
        f.slowest_insert = f.slowest_insert.max(t4 - t3);
        f.batches += 1;
    }
    f.total = t0.elapsed();
    let seen = w.finish();
    if std::env::var_os("BENCH_TRACE").is_some() {
        eprintln!("[trace floor {batch}] {} changes seen", seen.len() - 1);
    }
    assert_eq!(store.len() as usize, raw.len());
    drop(store);
    Ok(f)
}

/// Watches a node's document count on its own thread (1 ms resolution):
/// every change is one committed `insert_batch` (one flush).
struct Watch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(Instant, u64)>>,
}

fn watch(node: &chapar_node::Running) -> Watch {
    let shared = node.shared().clone();
    watch_fn(move || shared.store.len())
}

fn watch_fn(len: impl Fn() -> u64 + Send + 'static) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = vec![(Instant::now(), len())];
        let mut last = Instant::now();
        let mut max_gap = Duration::ZERO;
        while !s.load(Ordering::Relaxed) {
            max_gap = max_gap.max(last.elapsed());
            last = Instant::now();
            let n = len();
            if n != seen.last().map(|x| x.1).unwrap_or(0) {
                seen.push((Instant::now(), n));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // One last sample: the caller stops the watch as soon as it saw the
        // value it waited for, which may be after this thread's last look.
        let n = len();
        if n != seen.last().map(|x| x.1).unwrap_or(0) {
            seen.push((Instant::now(), n));
        }
        if std::env::var_os("BENCH_TRACE").is_some() {
            eprintln!("[trace] watcher max loop gap {:.1} ms", ms(max_gap));
        }
        seen
    });
    Watch { stop, handle }
}

impl Watch {
    fn finish(self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("watch")
    }
}

#[derive(Debug)]
struct CatchUp {
    #[allow(dead_code)]
    docs: u64,
    total: Duration,
    /// Until every document was also searchable (the index committed).
    searchable: Duration,
    first_doc: Duration,
    commits: usize,
    mean_commit_docs: f64,
    gap_p50: Duration,
    gap_p99: Duration,
    gap_max: Duration,
}

/// Index entries the node shows searches (0 before the index is open).
fn entries(node: &chapar_node::Running) -> u64 {
    node.shared().search.get().map_or(0, |s| s.index.entries())
}

/// Starts `toml`'s node and waits (10 ms polls) until it holds `want`
/// documents, then until its index shows `want_entries` entries.
async fn catch_up(
    toml: &Path,
    want: u64,
    want_entries: u64,
) -> Result<(chapar_node::Running, CatchUp)> {
    let t0 = Instant::now();
    let node = start(toml).await?;
    let w = watch(&node);
    let sampler = std::env::var_os("BENCH_THREADS").map(|_| {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || {
            let mut hist: HashMap<String, usize> = HashMap::new();
            let mut samples = 0;
            while !s2.load(Ordering::Relaxed) {
                samples += 1;
                for e in std::fs::read_dir("/proc/self/task")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let Ok(st) = std::fs::read_to_string(e.path().join("stat")) else {
                        continue;
                    };
                    let Some((a, b)) = st.rsplit_once(')') else {
                        continue;
                    };
                    let comm = a.rsplit_once('(').map(|x| x.1).unwrap_or("");
                    let state = b.trim_start().chars().next().unwrap_or('?');
                    if state == 'R' || state == 'D' {
                        *hist.entry(format!("{comm}:{state}")).or_default() += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let mut v: Vec<_> = hist.into_iter().collect();
            v.sort_by_key(|e| std::cmp::Reverse(e.1));
            eprintln!(
                "[threads] {samples} samples, avg running/blocked: {}",
                v.iter()
                    .map(|(k, n)| format!("{k}={:.2}", *n as f64 / samples as f64))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        });
        (stop, h)
    });
    let tracer = std::env::var_os("BENCH_TRACE").map(|_| {
        let mut rx = node.shared().live.subscribe();
        std::thread::spawn(move || {
            let mut clusters: Vec<(f64, usize)> = Vec::new();
            let mut last: Option<Instant> = None;
            while let Ok(_l) = rx.blocking_recv() {
                let now = Instant::now();
                match last {
                    Some(l) if now - l < Duration::from_micros(300) => {
                        clusters.last_mut().expect("cluster").1 += 1
                    }
                    _ => clusters.push((ms(now - t0), 1)),
                }
                last = Some(now);
                if clusters.iter().map(|c| c.1).sum::<usize>() as u64 >= want {
                    break;
                }
            }
            let d: Vec<String> = clusters
                .iter()
                .map(|c| format!("{}@{:.0}", c.1, c.0))
                .collect();
            eprintln!("[trace live] {} clusters: {}", clusters.len(), d.join(" "));
        })
    });
    let limit = Duration::from_secs(600);
    while node.shared().store.len() < want {
        if t0.elapsed() > limit {
            bail!("catch-up stalled at {}", node.shared().store.len());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = t0.elapsed();
    let seen = w.finish();
    while entries(&node) < want_entries {
        if t0.elapsed() > limit {
            bail!("indexing stalled at {} entries", entries(&node));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let searchable = t0.elapsed();
    if let Some((stop, h)) = sampler {
        stop.store(true, Ordering::Relaxed);
        let _ = h.join();
    }
    if let Some(t) = tracer {
        let _ = t.join();
    }
    if std::env::var_os("BENCH_TRACE").is_some() {
        let d: Vec<String> = seen
            .windows(2)
            .map(|w| format!("+{}@{:.1}", w[1].1 - w[0].1, ms(w[1].0 - t0)))
            .collect();
        eprintln!("[trace] {}", d.join(" "));
    }
    let mut c = summarize(t0, total, &seen);
    c.searchable = searchable;
    Ok((node, c))
}

fn summarize(t0: Instant, total: Duration, seen: &[(Instant, u64)]) -> CatchUp {
    let commits: Vec<_> = seen.iter().skip(1).collect();
    let first_doc = commits.first().map(|c| c.0 - t0).unwrap_or_default();
    let mut gaps: Vec<Duration> = commits.windows(2).map(|w| w[1].0 - w[0].0).collect();
    gaps.sort();
    let pct = |p: f64| {
        gaps.get(((gaps.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let docs = seen.last().map(|x| x.1).unwrap_or(0);
    CatchUp {
        docs,
        total,
        searchable: total,
        first_doc,
        commits: commits.len(),
        mean_commit_docs: docs as f64 / commits.len().max(1) as f64,
        gap_p50: pct(0.5),
        gap_p99: pct(0.99),
        gap_max: gaps.last().copied().unwrap_or_default(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn release(drafter: &User, to: &str, i: usize) -> Result<Document> {
    let draft = Document::sign(
        &drafter.key,
        now_ms(),
        Body::Cable(Cable {
            originator: drafter.mission.clone(),
            action: vec![Id::new(to)?],
            info: vec![],
            precedence: Precedence::Immediate,
            classification: Classification::Confidential,
            caption: None,
            tags: vec![],
            subject: format!("Bench cable {i}"),
            references: vec![],
            body: "Text of the cable. ".repeat(20),
        }),
    )?;
    Ok(Document::sign(
        &drafter.key,
        now_ms(),
        Body::CableRelease(CableRelease::new(draft, vec![])?),
    )?)
}

fn roster_version(doc: &Document) -> u64 {
    match doc.body() {
        Body::Roster(r) => r.version,
        _ => 0,
    }
}

/// Acts as an empty peer d-1 towards the hub and prints how many documents
/// each `Documents` frame carries and when it arrived.
async fn probe(d1: &Path, addr: std::net::SocketAddr, version: u64) -> Result<()> {
    use chapar_proto::reconcile::{ReconcileConfig, Reconciler, Tree};
    use chapar_proto::wire::{Message, PROTOCOL_VERSION};
    let bundle = d1.parent().context("bundle")?;
    let client = Client::connect(bundle, addr).await?;
    let (mut send, mut recv) = client.connection().open_bi().await?;
    chapar_node::frames::write(
        &mut send,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            node: Id::new("d-1")?,
            roster_version: version,
        },
    )
    .await?;
    let mut rec = Reconciler::new(ReconcileConfig::default());
    let payload = rec.initiate(&Tree::new());
    chapar_node::frames::write(&mut send, &Message::Reconcile { payload }).await?;
    let t0 = Instant::now();
    let mut sizes = Vec::new();
    let mut total = 0;
    while let Ok(Ok(m)) =
        tokio::time::timeout(Duration::from_secs(3), chapar_node::frames::read(&mut recv)).await
    {
        match m {
            Message::Documents { documents } => {
                total += documents.len();
                sizes.push(format!("{}@{:.0}", documents.len(), ms(t0.elapsed())));
            }
            other => sizes.push(other.name().to_string()),
        }
    }
    eprintln!("[probe] {total} docs: {}", sizes.join(" "));
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let a = args();
    SHARED_RUNTIME.store(a.shared_runtime, Ordering::Relaxed);
    let n = a.docs;
    let t_run = Instant::now();
    use Classification::*;
    let m = Ministry::new(NET, &["emb-a", "emb-b", "emb-c", "emb-d"])?;
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[])?;
    let a1 = m.add_node("a-1", "emb-a", false, Secret, &[])?;
    let b1 = m.add_node("b-1", "emb-b", false, Secret, &[])?;
    let c1 = m.add_node("c-1", "emb-c", false, Secret, &[])?;
    let d1 = m.add_node("d-1", "emb-d", false, Secret, &[])?;
    let editors: Vec<User> = (0..4)
        .map(|i| {
            m.add_user(
                &format!("editor-{i}"),
                "mfa",
                Secret,
                &[Role::Reader, Role::Editor],
                &[],
                "hub",
            )
        })
        .collect::<Result<_>>()?;
    let drafter = m.add_user(
        "drafter-a",
        "emb-a",
        Secret,
        &[Role::Reader, Role::Drafter, Role::Releaser],
        &[],
        "a-1",
    )?;
    // Every node starts with the final roster (it lists the editors).
    let roster_doc = m.roster()?;
    for t in [&hub, &a1, &b1, &c1, &d1] {
        let cfg = NodeConfig::load(t)?;
        std::fs::write(&cfg.trust.roster, roster_doc.as_bytes())?;
    }
    let hub_cfg = NodeConfig::load(&hub)?;
    let root = public_key_from_pem(&std::fs::read_to_string(&hub_cfg.trust.root_key)?)?;
    let trust = Trust::new(root, accept_update(&root, None, &roster_doc)?);

    let t = Instant::now();
    let raw = pages(&editors, n);
    let sign_time = t.elapsed();
    let bytes: usize = raw.iter().map(Vec::len).sum();
    let mb = bytes as f64 / 1e6;
    eprintln!(
        "[setup] signed {n} pages ({} B avg) in {:.1} s",
        bytes / n.max(1),
        sign_time.as_secs_f64()
    );

    // Load the hub's store directly (setup only).
    let t = Instant::now();
    {
        let store = Store::open(&hub_cfg.data_dir)?;
        for chunk in raw.chunks(1000) {
            let docs: Vec<Document> = chunk
                .iter()
                .map(|b| Document::decode(b))
                .collect::<Result<_, _>>()?;
            store.insert_batch(&docs)?;
        }
        store.close()?;
    }
    eprintln!("[setup] hub loaded in {:.1} s", t.elapsed().as_secs_f64());

    // Floors, no network, one thread.
    let mut floors = Vec::new();
    for batch in [256, 1000] {
        let dir = m.tmp.path().join(format!("floor-{batch}"));
        let f = floor(&raw, &trust, &dir, batch)?;
        eprintln!("[floor] batch {batch}: {:.2} s", f.total.as_secs_f64());
        std::fs::remove_dir_all(&dir)?;
        floors.push(f);
    }
    // Hub-side cost of loading what it sends (get = read + decode + hash).
    let get_us = {
        let store = Store::open(&hub_cfg.data_dir)?;
        let ids: Vec<DocId> = raw
            .iter()
            .take(20_000)
            .map(|b| Document::decode(b).map(|d| d.id()))
            .collect::<Result<_, _>>()?;
        let t = Instant::now();
        for id in &ids {
            std::hint::black_box(store.get(id)?.context("missing")?);
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / ids.len() as f64;
        store.close()?;
        us
    };
    drop(raw);

    // 1. Catch-up of a-1 from the hub.
    let hub_n = start(&hub).await?;
    // The hub's store was loaded directly: let it build its search index
    // before anything is measured (a deployed hub has had it all along).
    let t = Instant::now();
    while entries(&hub_n) < 2 * n as u64 {
        if t.elapsed() > Duration::from_secs(900) {
            bail!("hub indexing stalled at {}", entries(&hub_n));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "[setup] hub indexed {} entries in {:.1} s",
        entries(&hub_n),
        t.elapsed().as_secs_f64()
    );
    if std::env::var_os("BENCH_PROBE").is_some() {
        probe(
            &d1,
            hub_n.local_addr().context("addr")?,
            roster_version(&roster_doc),
        )
        .await?;
    }
    // Every page is two index entries: the page and its history entry.
    let (a_n, cu_a) = catch_up(&a1, n as u64, 2 * n as u64).await?;
    eprintln!("[catch-up] a-1: {:.2} s", cu_a.total.as_secs_f64());
    // b-1 catches up too (second catch-up figure; it must be live for 2).
    let (b_n, cu_b) = catch_up(&b1, n as u64, 2 * n as u64).await?;
    eprintln!("[catch-up] b-1: {:.2} s", cu_b.total.as_secs_f64());

    // 2. Cables a-1 -> hub -> b-1 while c-1 catches up the hub's pages.
    let at_hub: Arc<Mutex<HashMap<DocId, Instant>>> = Arc::default();
    {
        let mut rx = hub_n.shared().live.subscribe();
        let arr = at_hub.clone();
        std::thread::spawn(move || {
            while let Ok(l) = rx.blocking_recv() {
                if l.doc.kind() == chapar_proto::Kind::CableRelease {
                    arr.lock()
                        .expect("arrivals")
                        .insert(l.doc.id(), Instant::now());
                }
            }
        });
    }
    let arrivals: Arc<Mutex<HashMap<DocId, Instant>>> = Arc::default();
    let mut rx = b_n.shared().live.subscribe();
    let arr = arrivals.clone();
    let listener = std::thread::spawn(move || {
        while let Ok(l) = rx.blocking_recv() {
            if l.doc.kind() == chapar_proto::Kind::CableRelease {
                arr.lock()
                    .expect("arrivals")
                    .insert(l.doc.id(), Instant::now());
            }
        }
    });
    // Searchable at b-1: each release is one entry, indexed in arrival
    // order, so the k-th cable stored is searchable once the entries reach
    // base + k + 1.
    let base_entries = entries(&b_n);
    let b_entries = {
        let shared = b_n.shared().clone();
        watch_fn(move || shared.search.get().map_or(0, |s| s.index.entries()))
    };
    let client = Client::connect(&drafter.bundle, a_n.local_addr().context("addr")?).await?;
    let cables: Vec<Document> = (0..a.cables)
        .map(|i| release(&drafter, "emb-b", i))
        .collect::<Result<_>>()?;
    let t_c = Instant::now();
    let c_node = start(&c1).await?;
    let wc = watch(&c_node);
    // Let the bulk transfer get going before the first cable.
    while c_node.shared().store.is_empty() && t_c.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut sent = Vec::with_capacity(cables.len());
    let mut submit_rtt = Vec::with_capacity(cables.len());
    let mut during_bulk = 0;
    for c in &cables {
        if c_node.shared().store.len() < n as u64 {
            during_bulk += 1;
        }
        let t = Instant::now();
        client.submit(c).await?;
        submit_rtt.push(t.elapsed());
        sent.push((c.id(), t));
    }
    let t_sent = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = arrivals.lock().expect("arrivals").len();
        if got >= cables.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let want_entries = base_entries + arrivals.lock().expect("arrivals").len() as u64;
    while entries(&b_n) < want_entries && t_sent.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen_b = b_entries.finish();
    let mut to_searchable: Vec<Duration> = {
        let arr = arrivals.lock().expect("arrivals");
        let mut stored: Vec<Instant> = arr.values().copied().collect();
        stored.sort();
        stored
            .iter()
            .enumerate()
            .filter_map(|(k, at)| {
                let visible = seen_b.iter().find(|x| x.1 > base_entries + k as u64)?;
                Some(visible.0.saturating_duration_since(*at))
            })
            .collect()
    };
    to_searchable.sort();
    while c_node.shared().store.len() < n as u64 && t_c.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen_c = wc.finish();
    let done_c = seen_c
        .iter()
        .find(|x| x.1 >= n as u64)
        .map(|x| x.0 - t_c)
        .unwrap_or(t_c.elapsed());
    let cu_c = summarize(t_c, done_c, &seen_c);
    let cables_window = t_sent - t_c;
    let mut lat: Vec<Duration> = {
        let arr = arrivals.lock().expect("arrivals");
        sent.iter()
            .filter_map(|(id, t)| arr.get(id).map(|a| *a - *t))
            .collect()
    };
    lat.sort();
    submit_rtt.sort();
    let (mut to_hub, mut hub_to_b): (Vec<Duration>, Vec<Duration>) = {
        let arr = arrivals.lock().expect("arrivals");
        let hub = at_hub.lock().expect("hub");
        sent.iter()
            .filter_map(|(id, t)| Some((*hub.get(id)? - *t, *arr.get(id)? - *hub.get(id)?)))
            .unzip()
    };
    to_hub.sort();
    hub_to_b.sort();
    let p = |v: &[Duration], q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let delivered = lat.len();

    for node in [c_node, b_n, a_n, hub_n] {
        node.stop().await;
    }
    drop(listener);

    // Report.
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let f256 = &floors[0];
    let f1000 = &floors[1];
    println!(
        "chapar replication bench: {n} UNCLASSIFIED wiki pages, {} B avg ({mb:.1} MB), 4 editors, loopback 127.{NET}.0.x, {}, one run",
        bytes / n.max(1),
        if a.shared_runtime {
            "all nodes on one runtime"
        } else {
            "one runtime per node"
        }
    );
    for f in &floors {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "floor batch {:>4}: {:>6.2} s = {:>7.0} docs/s {:>6.1} MB/s | µs/doc decode {:.2} verify {:.2} authorize {:.2} insert {:.2} | {} flushes, insert/batch {:.1} ms (slowest {:.0} ms)",
            f.batch,
            f.total.as_secs_f64(),
            rate(f.total),
            mb / f.total.as_secs_f64(),
            per(f.decode),
            per(f.verify),
            per(f.authorize),
            per(f.insert),
            f.batches,
            ms(f.insert) / f.batches as f64,
            ms(f.slowest_insert)
        );
    }
    println!("hub-side Store::get (read+decode+hash): {get_us:.2} µs/doc");
    for (name, c) in [("a-1", &cu_a), ("b-1", &cu_b)] {
        println!(
            "catch-up {name}: {:.2} s = {:.0} docs/s {:.1} MB/s | first doc at {:.0} ms | {} commits, {:.0} docs/commit, gap p50 {:.1} ms p99 {:.1} ms max {:.0} ms | / floor256 {:.2}x, / floor1000 {:.2}x",
            c.total.as_secs_f64(),
            rate(c.total),
            mb / c.total.as_secs_f64(),
            ms(c.first_doc),
            c.commits,
            c.mean_commit_docs,
            ms(c.gap_p50),
            ms(c.gap_p99),
            ms(c.gap_max),
            c.total.as_secs_f64() / f256.total.as_secs_f64(),
            c.total.as_secs_f64() / f1000.total.as_secs_f64()
        );
        println!(
            "  searchable {name}: {:.2} s = {:.0} docs/s (verified, durable and indexed)",
            c.searchable.as_secs_f64(),
            rate(c.searchable),
        );
    }
    println!(
        "catch-up c-1 (concurrent with cables): {:.2} s = {:.0} docs/s | {} commits, {:.0} docs/commit",
        cu_c.total.as_secs_f64(),
        rate(cu_c.total),
        cu_c.commits,
        cu_c.mean_commit_docs
    );
    println!(
        "cables a-1 -> hub -> b-1: {delivered}/{} delivered, {during_bulk} submitted while c-1 was catching up, submitted over {:.2} s | release->stored@b p50 {:.1} ms p99 {:.1} ms max {:.1} ms | submit RTT p50 {:.1} ms p99 {:.1} ms",
        cables.len(),
        cables_window.as_secs_f64(),
        ms(p(&lat, 0.5)),
        ms(p(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        ms(p(&submit_rtt, 0.5)),
        ms(p(&submit_rtt, 0.99)),
    );
    println!(
        "  split: submit->stored@hub p50 {:.1} p99 {:.1} max {:.1} ms | hub->stored@b p50 {:.1} p99 {:.1} max {:.1} ms",
        ms(p(&to_hub, 0.5)),
        ms(p(&to_hub, 0.99)),
        ms(to_hub.last().copied().unwrap_or_default()),
        ms(p(&hub_to_b, 0.5)),
        ms(p(&hub_to_b, 0.99)),
        ms(hub_to_b.last().copied().unwrap_or_default()),
    );
    println!(
        "  stored@b -> searchable@b: {}/{} cables, p50 {:.0} ms p99 {:.0} ms max {:.0} ms (commits every {} ms)",
        to_searchable.len(),
        delivered,
        ms(p(&to_searchable, 0.5)),
        ms(p(&to_searchable, 0.99)),
        ms(to_searchable.last().copied().unwrap_or_default()),
        chapar_node::indexer::COMMIT_INTERVAL.as_millis(),
    );
    println!("whole run: {:.1} s", t_run.elapsed().as_secs_f64());
    if a.json {
        println!(
            "{{\"docs\":{n},\"doc_bytes\":{},\"floor256_s\":{:.3},\"floor1000_s\":{:.3},\"catchup_a_s\":{:.3},\"catchup_a_docs_per_s\":{:.0},\"catchup_a_mb_per_s\":{:.1},\"ratio_floor256\":{:.3},\"ratio_floor1000\":{:.3},\"catchup_b_s\":{:.3},\"catchup_c_s\":{:.3},\"cables\":{},\"delivered\":{delivered},\"during_bulk\":{during_bulk},\"lat_p50_ms\":{:.2},\"lat_p99_ms\":{:.2},\"lat_max_ms\":{:.2},\"searchable_a_s\":{:.3},\"searchable_a_docs_per_s\":{:.0},\"nrt_p50_ms\":{:.1},\"nrt_p99_ms\":{:.1}}}",
            bytes / n.max(1),
            f256.total.as_secs_f64(),
            f1000.total.as_secs_f64(),
            cu_a.total.as_secs_f64(),
            rate(cu_a.total),
            mb / cu_a.total.as_secs_f64(),
            cu_a.total.as_secs_f64() / f256.total.as_secs_f64(),
            cu_a.total.as_secs_f64() / f1000.total.as_secs_f64(),
            cu_b.total.as_secs_f64(),
            cu_c.total.as_secs_f64(),
            cables.len(),
            ms(p(&lat, 0.5)),
            ms(p(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
            cu_a.searchable.as_secs_f64(),
            rate(cu_a.searchable),
            ms(p(&to_searchable, 0.5)),
            ms(p(&to_searchable, 0.99)),
        );
    }
    Ok(())
}
