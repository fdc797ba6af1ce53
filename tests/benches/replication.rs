//! Replication figures over real QUIC on loopback (127.41.0.x), measured in
//! one run so the ratios are meaningful on a noisy machine:
//!
//! 1. catch-up of a fresh node from a hub holding N wiki pages of ~2 KB,
//!    against the no-network floor (decode + `verify_batch` +
//!    `Trust::authorize` + `Store::insert_batch`, batches of 256 and 1000);
//! 2. latency of cables released at embassy A until stored at embassy B
//!    through the hub, while a fresh node catches up the hub's N pages.
//!
//! Every node runs in its own process, as deployed (this binary re-run with
//! `CHAPAR_BENCH_NODE` set does what `chapar-node run` does), and is
//! observed only through its client RPC: status for counts, a subscription
//! for the moment a cable is stored. A cable counts as "stored at B" when
//! B's subscriber receives it.
//!
//! `cargo bench -p chapar-tests --bench replication` (add `-- --docs N`,
//! `-- --cables N`, `-- --json`, `-- --in-process`). `BENCH_TRACE=1` adds
//! per-commit traces and the slowest cables; `BENCH_LOGS=DIR` keeps the
//! nodes' logs.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chapar_node::config::NodeConfig;
use chapar_node::store::Store;
use chapar_proto::keys::public_key_from_pem;
use chapar_proto::roster::accept_update;
use chapar_proto::wire::Message;
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
    /// Run every node inside the bench process (each on its own runtime)
    /// instead of as its own `chapar-node` process.
    in_process: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        docs: 100_000,
        cables: 1_000,
        json: false,
        in_process: false,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    let number = |i: usize, flag: &str| -> Result<usize> {
        v.get(i + 1)
            .and_then(|x| x.parse().ok())
            .with_context(|| format!("{flag} takes a number"))
    };
    while i < v.len() {
        match v[i].as_str() {
            "--docs" => {
                a.docs = number(i, "--docs")?;
                i += 1;
            }
            "--cables" => {
                a.cables = number(i, "--cables")?;
                i += 1;
            }
            "--json" => a.json = true,
            "--in-process" => a.in_process = true,
            // cargo bench passes --bench; anything else is a mistake.
            "--bench" => {}
            other => bail!("unknown flag {other}; use --docs N, --cables N, --json, --in-process"),
        }
        i += 1;
    }
    Ok(a)
}

/// A node under measurement, observed only through its client RPC (status
/// and subscriptions), whichever way it runs.
struct BenchNode {
    how: Running,
    addr: std::net::SocketAddr,
    /// The observer's connection, for status.
    obs: Client,
}

enum Running {
    /// Its own `chapar-node run` process, as deployed. This is the default:
    /// nodes in one process share sled's process-wide lock and every other
    /// process-wide resource (ADR 0011), and a deployment runs one node per
    /// process.
    Process(std::process::Child),
    /// Inside the bench process, on its own tokio runtime (`--in-process`).
    InProcess(chapar_node::Running),
    Stopped,
}

impl Drop for BenchNode {
    /// A bench that fails leaves no node process behind.
    fn drop(&mut self) {
        if let Running::Process(child) = &mut self.how {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl BenchNode {
    async fn start(toml: &Path, observer: &Path, in_process: bool) -> Result<BenchNode> {
        let cfg = NodeConfig::load(toml)?;
        let addr = cfg.listen;
        let how = if in_process {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let toml = toml.to_owned();
            let node = rt
                .spawn(async move { chapar_tests::start(&toml).await })
                .await??;
            // The runtime lives until the bench exits, like a process.
            std::mem::forget(rt);
            Running::InProcess(node)
        } else {
            let log_path = cfg.data_dir.with_extension("log");
            let log = std::fs::File::create(&log_path)?;
            let mut child = std::process::Command::new(std::env::current_exe()?)
                .env(NODE_ENV, toml)
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("cannot start chapar-node")?;
            // Its log says when it listens: a QUIC handshake sent earlier
            // would wait a whole retransmission timeout.
            let t = Instant::now();
            loop {
                let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                if text.contains("node started") {
                    break;
                }
                if t.elapsed() > Duration::from_secs(30) || child.try_wait()?.is_some() {
                    let _ = child.kill();
                    bail!("node of {} did not start:\n{text}", toml.display());
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Running::Process(child)
        };
        // Connect as soon as it listens.
        let t = Instant::now();
        let obs = loop {
            match Client::connect(observer, addr).await {
                Ok(c) => break c,
                Err(e) if t.elapsed() > Duration::from_secs(30) => {
                    let log = std::fs::read_to_string(cfg.data_dir.with_extension("log"))
                        .unwrap_or_default();
                    bail!("node at {addr} did not answer: {e}\n{log}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        Ok(BenchNode { how, addr, obs })
    }

    async fn status(&self) -> Result<serde_json::Value> {
        self.obs.full_status().await
    }

    /// Documents the node holds (verified and durable).
    async fn documents(&self) -> Result<u64> {
        self.status().await?["documents"]
            .as_u64()
            .context("status without documents")
    }

    /// Entries its search index shows (0 before the index is open).
    async fn entries(&self) -> Result<u64> {
        Ok(self.status().await?["search"]["entries"]
            .as_u64()
            .unwrap_or(0))
    }

    async fn stop(mut self) {
        match std::mem::replace(&mut self.how, Running::Stopped) {
            Running::Stopped => {}
            Running::InProcess(n) => n.stop().await,
            Running::Process(mut child) => {
                // SAFETY: sends a signal to our own child.
                unsafe {
                    libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
                }
                let t = Instant::now();
                while t.elapsed() < Duration::from_secs(20) {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Set in a child process of the bench: run the node of this `node.toml`.
const NODE_ENV: &str = "CHAPAR_BENCH_NODE";

/// The child process's work: what `chapar-node run --config` does (the
/// same library, runtime and logging), in this binary, so the bench needs
/// no second build and runs exactly the code it was compiled with.
fn node_process(toml: &Path) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_target(false)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let node = chapar_node::start(NodeConfig::load(toml)?).await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        term.recv().await;
        node.stop().await;
        Ok(())
    })
}

/// Records when each cable release reaches a subscriber at `node` (the
/// moment a person there could read it).
async fn arrivals(node: &BenchNode) -> Result<Arc<Mutex<HashMap<DocId, Instant>>>> {
    let (mut send, mut recv) = node.obs.connection().open_bi().await?;
    chapar_node::frames::write(
        &mut send,
        &Message::Subscribe {
            kinds: vec![chapar_proto::Kind::CableRelease],
        },
    )
    .await?;
    let seen: Arc<Mutex<HashMap<DocId, Instant>>> = Arc::default();
    let out = seen.clone();
    tokio::spawn(async move {
        let _send = send;
        while let Ok(m) = chapar_node::frames::read(&mut recv).await {
            let now = Instant::now();
            if let Message::Documents { documents } = m {
                for d in documents {
                    if let Ok(d) = Document::decode(&d) {
                        out.lock().expect("arrivals").insert(d.id(), now);
                    }
                }
            }
        }
    });
    Ok(seen)
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
    let store = Store::open(dir)?;
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
    assert_eq!(store.len() as usize, raw.len());
    drop(store);
    Ok(f)
}

/// Polls a node's count (documents or index entries) every 10 ms on a
/// task of its own and records each change with its time: one change is
/// about one committed batch. (Each poll is a status RPC the node answers:
/// polling much faster would load the node being measured.)
struct Watch {
    stop: Arc<AtomicBool>,
    latest: Arc<AtomicU64>,
    handle: tokio::task::JoinHandle<Vec<(Instant, u64)>>,
}

#[derive(Clone, Copy)]
enum Count {
    Documents,
    Entries,
}

fn watch(node: &Arc<BenchNode>, what: Count) -> Watch {
    let stop = Arc::new(AtomicBool::new(false));
    let latest = Arc::new(AtomicU64::new(0));
    let (s, l) = (stop.clone(), latest.clone());
    let node = node.clone();
    let handle = tokio::spawn(async move {
        let count = |node: Arc<BenchNode>| async move {
            match what {
                Count::Documents => node.documents().await.unwrap_or(0),
                Count::Entries => node.entries().await.unwrap_or(0),
            }
        };
        let mut seen = vec![(Instant::now(), count(node.clone()).await)];
        loop {
            // One last sample after the stop: the caller stops the watch as
            // soon as it saw the value it waited for.
            let last = s.load(Ordering::Relaxed);
            let n = count(node.clone()).await;
            l.store(n, Ordering::Relaxed);
            if n != seen.last().map(|x| x.1).unwrap_or(0) {
                seen.push((Instant::now(), n));
            }
            if last {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    Watch {
        stop,
        latest,
        handle,
    }
}

impl Watch {
    async fn finish(self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.await.unwrap_or_default()
    }
}

#[derive(Debug)]
struct CatchUp {
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

/// Polls `f` every 10 ms until it reaches `want`; fails after `limit`.
async fn wait_for(
    what: &str,
    limit: Duration,
    want: u64,
    f: impl AsyncFn() -> Result<u64>,
) -> Result<()> {
    let t = Instant::now();
    loop {
        let n = f().await?;
        if n >= want {
            return Ok(());
        }
        if t.elapsed() > limit {
            bail!("{what} stalled at {n} of {want}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts `toml`'s node and waits until it holds `want` documents, then
/// until its index shows `want_entries` entries.
async fn catch_up(
    toml: &Path,
    observer: &Path,
    in_process: bool,
    want: u64,
    want_entries: u64,
) -> Result<(Arc<BenchNode>, CatchUp)> {
    let t0 = Instant::now();
    let node = Arc::new(BenchNode::start(toml, observer, in_process).await?);
    let w = watch(&node, Count::Documents);
    let limit = Duration::from_secs(600);
    wait_for("catch-up", limit, want, || node.documents()).await?;
    let seen = w.finish().await;
    let total = seen
        .iter()
        .find(|x| x.1 >= want)
        .map_or(t0.elapsed(), |x| x.0 - t0);
    wait_for("indexing", limit, want_entries, || node.entries()).await?;
    let searchable = t0.elapsed();
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
    use chapar_proto::wire::PROTOCOL_VERSION;
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

fn main() -> Result<()> {
    if let Some(toml) = std::env::var_os(NODE_ENV) {
        return node_process(Path::new(&toml));
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(bench())
}

async fn bench() -> Result<()> {
    let a = args()?;
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
    // Watches the nodes through their client RPC: originator's mission, so
    // it may read the bench's cables wherever they are.
    let observer = m
        .add_user(
            "observer-a",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Admin],
            &[],
            "hub",
        )?
        .bundle;
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
    let ip = a.in_process;
    let hub_n = Arc::new(BenchNode::start(&hub, &observer, ip).await?);
    // The hub's store was loaded directly: let it build its search index
    // before anything is measured (a deployed hub has had it all along).
    let t = Instant::now();
    wait_for(
        "hub indexing",
        Duration::from_secs(900),
        2 * n as u64,
        || hub_n.entries(),
    )
    .await?;
    eprintln!(
        "[setup] hub indexed {} entries in {:.1} s",
        hub_n.entries().await?,
        t.elapsed().as_secs_f64()
    );
    if std::env::var_os("BENCH_PROBE").is_some() {
        probe(&d1, hub_n.addr, roster_version(&roster_doc)).await?;
    }
    // Every page is two index entries: the page and its history entry.
    let (a_n, cu_a) = catch_up(&a1, &observer, ip, n as u64, 2 * n as u64).await?;
    eprintln!("[catch-up] a-1: {:.2} s", cu_a.total.as_secs_f64());
    // b-1 catches up too (second catch-up figure; it must be live for 2).
    let (b_n, cu_b) = catch_up(&b1, &observer, ip, n as u64, 2 * n as u64).await?;
    eprintln!("[catch-up] b-1: {:.2} s", cu_b.total.as_secs_f64());

    // 2. Cables a-1 -> hub -> b-1 while c-1 catches up the hub's pages.
    let at_hub = arrivals(&hub_n).await?;
    let at_b = arrivals(&b_n).await?;
    // Searchable at b-1: each release is one entry, indexed in arrival
    // order, so the k-th cable stored is searchable once the entries reach
    // base + k + 1.
    let base_entries = b_n.entries().await?;
    let b_entries = watch(&b_n, Count::Entries);
    let client = Client::connect(&drafter.bundle, a_n.addr).await?;
    let cables: Vec<Document> = (0..a.cables)
        .map(|i| release(&drafter, "emb-b", i))
        .collect::<Result<_>>()?;
    let t_c = Instant::now();
    let c_node = Arc::new(BenchNode::start(&c1, &observer, ip).await?);
    let wc = watch(&c_node, Count::Documents);
    // Let the bulk transfer get going before the first cable.
    wait_for("c-1's first documents", Duration::from_secs(60), 1, || {
        c_node.documents()
    })
    .await?;
    let mut sent = Vec::with_capacity(cables.len());
    let mut submit_rtt = Vec::with_capacity(cables.len());
    let mut during_bulk = 0;
    for c in &cables {
        if wc.latest.load(Ordering::Relaxed) < n as u64 {
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
        let got = at_b.lock().expect("arrivals").len();
        if got >= cables.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let want_entries = base_entries + at_b.lock().expect("arrivals").len() as u64;
    while b_n.entries().await? < want_entries && t_sent.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen_b = b_entries.finish().await;
    let mut to_searchable: Vec<Duration> = {
        let arr = at_b.lock().expect("arrivals");
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
    wait_for("c-1's catch-up", Duration::from_secs(600), n as u64, || {
        c_node.documents()
    })
    .await?;
    let seen_c = wc.finish().await;
    let done_c = seen_c
        .iter()
        .find(|x| x.1 >= n as u64)
        .map(|x| x.0 - t_c)
        .unwrap_or(t_c.elapsed());
    let cu_c = summarize(t_c, done_c, &seen_c);
    let cables_window = t_sent - t_c;
    let mut lat: Vec<Duration> = {
        let arr = at_b.lock().expect("arrivals");
        sent.iter()
            .filter_map(|(id, t)| arr.get(id).map(|a| *a - *t))
            .collect()
    };
    lat.sort();
    submit_rtt.sort();
    if std::env::var_os("BENCH_TRACE").is_some() {
        // The slowest cables: when they were sent and which leg was slow.
        let arr = at_b.lock().expect("arrivals");
        let hub = at_hub.lock().expect("hub");
        let mut worst: Vec<(Duration, usize, f64, f64)> = sent
            .iter()
            .enumerate()
            .filter_map(|(k, (id, t))| {
                let (h, b) = (*hub.get(id)?, *arr.get(id)?);
                Some((b - *t, k, ms(h - *t), ms(b.saturating_duration_since(h))))
            })
            .collect();
        worst.sort_by_key(|w| std::cmp::Reverse(w.0));
        let d: Vec<String> = worst
            .iter()
            .take(15)
            .map(|(l, k, a, b)| {
                format!(
                    "#{k}@{:.0}ms={:.0}({a:.0}+{b:.0})",
                    ms(sent[*k].1 - t_c),
                    ms(*l)
                )
            })
            .collect();
        eprintln!("[trace worst cables] {}", d.join(" "));
    }
    let (mut to_hub, mut hub_to_b): (Vec<Duration>, Vec<Duration>) = {
        let arr = at_b.lock().expect("arrivals");
        let hub = at_hub.lock().expect("hub");
        sent.iter()
            .filter_map(|(id, t)| {
                let (h, b) = (*hub.get(id)?, *arr.get(id)?);
                Some((h - *t, b.saturating_duration_since(h)))
            })
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

    drop(client);
    for mut node in [c_node, b_n, a_n, hub_n] {
        // Watch tasks may still hold a reference for a moment.
        for _ in 0..100 {
            match Arc::try_unwrap(node) {
                Ok(n) => {
                    n.stop().await;
                    break;
                }
                Err(n) => node = n,
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    if let Some(dir) = std::env::var_os("BENCH_LOGS") {
        // The nodes' logs outlive the run's temporary directory.
        std::fs::create_dir_all(&dir)?;
        for t in [&hub, &a1, &b1, &c1] {
            let log = NodeConfig::load(t)?.data_dir.with_extension("log");
            let node = t.parent().and_then(|b| b.file_name()).context("bundle")?;
            let name = format!("{}.log", node.to_string_lossy());
            let _ = std::fs::copy(&log, Path::new(&dir).join(name));
        }
    }

    // Report.
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let f256 = &floors[0];
    let f1000 = &floors[1];
    println!(
        "chapar replication bench: {n} UNCLASSIFIED wiki pages, {} B avg ({mb:.1} MB), 4 editors, loopback 127.{NET}.0.x, {}, one run",
        bytes / n.max(1),
        if a.in_process {
            "every node in the bench process on its own runtime"
        } else {
            "every node its own chapar-node process"
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
