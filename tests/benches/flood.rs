//! Honest latency while insiders flood a node (issue 13, point 4; ADR
//! 0019), measured in one run so the ratios are meaningful on a noisy
//! machine. Over real QUIC on loopback (127.81.0.x), every node its own
//! process (this binary re-run with `CHAPAR_BENCH_NODE`, as the
//! replication bench does):
//!
//! - a hub holding N SECRET NODIS pages (default 50,000) and 200
//!   UNCLASSIFIED ones, and a third node `c-1` (CONFIDENTIAL) that
//!   replicates the unclassified ones from it;
//! - honest probes, one after another: a person's search and fetch at the
//!   hub, and a page an editor submits at the hub until a subscriber at
//!   `c-1` receives it;
//! - phases of S seconds (default 10): quiet; a person's connection flood
//!   (the connections they may hold, and new ones attempted in a loop);
//!   stream flood (every stream allowed, half a header each); frame headers
//!   announcing 16 MiB without a body; list flood (over every page they
//!   may not see, more at once than allowed); a peer with a valid node
//!   certificate sending reconciliation messages as fast as it can; all of
//!   them at once; quiet again.
//!
//! `cargo bench -p chapar-tests --bench flood` (`-- --hidden N --secs S
//! --json`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chapar_node::config::{Limits, NodeConfig};
use chapar_node::store::Store;
use chapar_proto::wire::Message;
use chapar_proto::{Classification, DocId, Document, Kind, Role};
use chapar_tests::flood::{self, Answers, HUGE_HEADER, page};
use chapar_tests::{Client, Ministry, User, now_ms};

const NET: u8 = 81;
const VISIBLE: usize = 200;
const NODE_ENV: &str = "CHAPAR_BENCH_NODE";

struct Args {
    hidden: usize,
    secs: u64,
    json: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        hidden: 50_000,
        secs: 10,
        json: false,
    };
    let v: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < v.len() {
        let number = |flag: &str| -> Result<u64> {
            v.get(i + 1)
                .and_then(|x| x.parse().ok())
                .with_context(|| format!("{flag} takes a number"))
        };
        match v[i].as_str() {
            "--hidden" => {
                a.hidden = number("--hidden")? as usize;
                i += 1;
            }
            "--secs" => {
                a.secs = number("--secs")?;
                i += 1;
            }
            "--json" => a.json = true,
            "--bench" => {}
            other => bail!("unknown flag {other}; use --hidden N, --secs S, --json"),
        }
        i += 1;
    }
    Ok(a)
}

/// A node in its own process, stopped (SIGTERM, then kill) when dropped.
struct NodeProcess(std::process::Child);

impl NodeProcess {
    async fn start(toml: &Path) -> Result<NodeProcess> {
        let cfg = NodeConfig::load(toml)?;
        let log_path = cfg.data_dir.with_extension("log");
        let log = std::fs::File::create(&log_path)?;
        let child = std::process::Command::new(std::env::current_exe()?)
            .env(NODE_ENV, toml)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start the node")?;
        let mut node = NodeProcess(child);
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("node started") {
                return Ok(node);
            }
            if t.elapsed() > Duration::from_secs(60) || node.0.try_wait()?.is_some() {
                bail!("node of {} did not start:\n{text}", toml.display());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // SAFETY: sends a signal to our own child.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child process's work: what `chapar-node run` does.
fn node_process(toml: &Path) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_target(false)
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let node = chapar_node::start(NodeConfig::load(toml)?).await?;
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            term.recv().await;
            node.stop().await;
            Ok(())
        })
}

/// Latencies of the honest probes in one phase.
#[derive(Default)]
struct Probes {
    search: Vec<Duration>,
    fetch: Vec<Duration>,
    replicate: Vec<Duration>,
    failures: Vec<String>,
}

fn pct(v: &[Duration], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    v.get(((v.len() as f64 - 1.0) * q).round() as usize)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(f64::NAN)
}

/// The honest people's view.
struct Honest {
    hon: Client,
    ed: Client,
    editor: User,
    probe: DocId,
    /// When each page reached the subscriber at c-1.
    arrivals: Arc<Mutex<std::collections::HashMap<DocId, Instant>>>,
    next: std::sync::atomic::AtomicU64,
}

impl Honest {
    /// Runs the probes one after another for `secs`.
    async fn run(&self, secs: u64) -> Probes {
        let mut p = Probes::default();
        let t0 = Instant::now();
        let bound = Duration::from_secs(30);
        while t0.elapsed() < Duration::from_secs(secs) {
            let t = Instant::now();
            match tokio::time::timeout(bound, self.hon.find("zarafshon")).await {
                Ok(Ok(r)) if r.total == VISIBLE as u64 => p.search.push(t.elapsed()),
                Ok(Ok(r)) => p.failures.push(format!("search found {}", r.total)),
                Ok(Err(e)) => p.failures.push(format!("search: {e:#}")),
                Err(_) => p.failures.push("search unanswered for 30 s".into()),
            }
            let t = Instant::now();
            match tokio::time::timeout(bound, self.hon.fetch(self.probe)).await {
                Ok(Ok(Some(_))) => p.fetch.push(t.elapsed()),
                other => p.failures.push(format!("fetch: {other:?}")),
            }
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let live = page(
                &self.editor,
                1_000_000 + n,
                now_ms(),
                Classification::Unclassified,
                None,
                "samarqand",
            );
            let t = Instant::now();
            if let Err(e) = self.ed.submit(&live).await {
                p.failures.push(format!("submit: {e:#}"));
                continue;
            }
            let deadline = t + bound;
            loop {
                if let Some(at) = self.arrivals.lock().expect("arrivals").get(&live.id()) {
                    p.replicate.push(at.duration_since(t));
                    break;
                }
                if Instant::now() > deadline {
                    p.failures.push("page not at c-1 within 30 s".into());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        p
    }
}

/// Records when each wiki page reaches a subscriber at `addr`.
async fn subscribe(
    bundle: &Path,
    addr: std::net::SocketAddr,
) -> Result<(
    Client,
    Arc<Mutex<std::collections::HashMap<DocId, Instant>>>,
)> {
    let c = Client::connect(bundle, addr).await?;
    let (mut send, mut recv) = c.connection().open_bi().await?;
    chapar_node::frames::write(
        &mut send,
        &Message::Subscribe {
            kinds: vec![Kind::WikiRevision],
        },
    )
    .await?;
    let seen: Arc<Mutex<std::collections::HashMap<DocId, Instant>>> = Arc::default();
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
    Ok((c, seen))
}

/// What the attackers did in one phase.
#[derive(Default)]
struct Attack {
    note: String,
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

#[allow(clippy::too_many_lines)]
async fn bench() -> Result<()> {
    use Classification::*;
    let a = args()?;
    let t_run = Instant::now();
    let limits = Limits::default();
    let m = Ministry::new(NET, &["emb-b", "emb-c"])?;
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[])?;
    let rogue: PathBuf = m.add_node("b-1", "emb-b", false, Secret, &["hub"])?;
    let third = m.add_node("c-1", "emb-c", false, Confidential, &["hub"])?;
    let editor = m.add_user(
        "ed",
        "mfa",
        Secret,
        &[Role::Reader, Role::Editor],
        &["NODIS"],
        "hub",
    )?;
    let honest = m.add_user("hon", "mfa", Secret, &[Role::Reader], &[], "hub")?;
    // Watches the hub's index (the full status is for administrators).
    let ops = m.add_user("ops", "mfa", Secret, &[Role::Admin], &[], "hub")?;
    let mallory = m.add_user("mal", "emb-b", Secret, &[Role::Reader], &[], "hub")?;
    let roster = m.roster()?;
    for t in [&hub, &rogue, &third] {
        std::fs::write(NodeConfig::load(t)?.trust.roster, roster.as_bytes())?;
    }
    let t0 = now_ms() - 3_600_000;
    let t = Instant::now();
    {
        let store = Store::open(NodeConfig::load(&hub)?.data_dir)?;
        for start in (0..a.hidden as u64).step_by(1000) {
            let end = (start + 1000).min(a.hidden as u64);
            let docs: Vec<Document> = (start..end)
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
            store.insert_batch(&docs)?;
        }
        let visible: Vec<Document> = (0..VISIBLE as u64)
            .map(|i| {
                let n = a.hidden as u64 + i;
                page(&editor, n, t0 + n, Unclassified, None, "zarafshon vodiysi")
            })
            .collect();
        store.insert_batch(&visible)?;
        store.close()?;
    }
    eprintln!(
        "[setup] hub loaded with {} pages in {:.1} s",
        a.hidden + VISIBLE,
        t.elapsed().as_secs_f64()
    );
    let probe = page(
        &editor,
        a.hidden as u64 + 7,
        t0 + a.hidden as u64 + 7,
        Unclassified,
        None,
        "zarafshon vodiysi",
    )
    .id();

    let hub_p = NodeProcess::start(&hub).await?;
    let addr = NodeConfig::load(&hub)?.listen;
    let third_p = NodeProcess::start(&third).await?;
    let third_addr = NodeConfig::load(&third)?.listen;
    let hon = Client::connect(&honest.bundle, addr).await?;
    let ops = Client::connect(&ops.bundle, addr).await?;
    let ed = Client::connect(&editor.bundle, addr).await?;
    let (_sub, arrivals) = subscribe(&honest.bundle, third_addr).await?;
    // The hub has indexed everything before anything is measured.
    let t = Instant::now();
    loop {
        let found = hon.find("zarafshon").await.map(|r| r.total).unwrap_or(0);
        let entries = ops.full_status().await?["search"]["entries"]
            .as_u64()
            .unwrap_or(0);
        if found == VISIBLE as u64 && entries >= 2 * (a.hidden + VISIBLE) as u64 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!("the hub did not index its pages in 10 minutes ({entries} entries)");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("[setup] hub indexed in {:.1} s", t.elapsed().as_secs_f64());
    let h = Honest {
        hon,
        ed,
        editor,
        probe,
        arrivals,
        next: Default::default(),
    };
    // Warm up.
    let _ = h.run(2).await;

    let mal_cfg = flood::client_config(&mallory.bundle)?;
    // Each attacker has its own address, as on a network.
    let mal_ep = flood::endpoint("127.81.0.100")?;
    let rogue_ep = flood::endpoint("127.81.0.101")?;
    let list = Message::List {
        kind: Some(Kind::WikiRevision),
        from_ms: 0,
        to_ms: u64::MAX,
        limit: 10_000,
        newest_first: false,
    };
    let per_conn = limits.streams_per_connection as usize;
    let rogue_dir = rogue.parent().context("bundle")?.to_owned();
    let mut kept: Vec<quinn::Connection> = Vec::new();
    let phases = [
        "quiet",
        "connections",
        "streams",
        "headers",
        "lists",
        "reconcile",
        "all",
        "quiet after",
    ];
    let mut results: Vec<(&str, Probes, Attack)> = Vec::new();
    for phase in phases {
        let stop = Arc::new(AtomicBool::new(false));
        let on = |p: &str| phase == p || phase == "all";
        let mut attack = Attack::default();
        let mut tasks = Vec::new();
        let mut stuck = Vec::new();
        let answers = Arc::new(Answers::default());
        let mut churn = None;
        let mut rogue_task = None;
        if phase != "quiet" && phase != "quiet after" {
            // The connections mallory may hold (the hub closes one whose
            // stream broke the protocol: open them again).
            kept.retain(|c| c.close_reason().is_none());
            for _ in 0..2 * limits.connections_per_identity {
                if kept.len() >= limits.connections_per_identity as usize {
                    break;
                }
                if let Some(c) = flood::raw_connect(&mal_ep, &mal_cfg, addr).await {
                    if flood::closed_within(&c, Duration::from_millis(500))
                        .await
                        .is_none()
                    {
                        kept.push(c);
                    }
                }
            }
        }
        if on("connections") {
            churn = Some(tokio::spawn(flood::connection_churn(
                mal_ep.clone(),
                mal_cfg.clone(),
                addr,
                stop.clone(),
                32,
            )));
        }
        let conn = |i: usize| -> Result<quinn::Connection> {
            kept.get(i)
                .cloned()
                .context("mallory's connections are not open")
        };
        if on("streams") {
            stuck.extend(flood::stuck_streams(&conn(0)?, &[0, 0], 1000).await);
        }
        if on("headers") {
            stuck.extend(flood::stuck_streams(&conn(1)?, &HUGE_HEADER, 1000).await);
            stuck.extend(flood::stuck_streams(&conn(2)?, &HUGE_HEADER, 1000).await);
        }
        if on("lists") {
            for i in 3..kept.len() {
                tasks.extend(flood::request_flood(
                    &conn(i)?,
                    list.clone(),
                    per_conn,
                    &stop,
                    &answers,
                    Arc::new(|_: &Message| {}),
                ));
            }
        }
        if on("reconcile") {
            let (roster, dir) = (roster.clone(), rogue_dir.clone());
            let (stop, ep) = (stop.clone(), rogue_ep.clone());
            rogue_task = Some(tokio::spawn(async move {
                flood::reconcile_loop(ep, roster, &dir, addr, "b-1", stop).await
            }));
        }
        // Let the attack get going.
        if phase != "quiet" && phase != "quiet after" {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let probes = h.run(a.secs).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let mut notes = Vec::new();
        if !stuck.is_empty() {
            notes.push(format!("{} streams held", stuck.len()));
        }
        drop(stuck);
        if let Some(c) = churn {
            let c = c.await?;
            notes.push(format!(
                "{} connections attempted: {} ignored before the handshake, {} closed after it; {} held",
                c.attempts,
                c.attempts - c.connected,
                c.closed,
                kept.len()
            ));
        }
        if on("lists") {
            notes.push(format!(
                "{} listings answered, {} refused busy, {} other",
                answers.answered.load(Ordering::Relaxed),
                answers.busy.load(Ordering::Relaxed),
                answers.other.load(Ordering::Relaxed)
            ));
        }
        if let Some(r) = rogue_task {
            let r = r.await??;
            notes.push(format!(
                "{} reconciliation answers ({} messages sent, {} sessions)",
                r.answered, r.sent, r.sessions
            ));
        }
        attack.note = notes.join("; ");
        eprintln!(
            "[phase] {phase}: {} probes, {}",
            probes.search.len(),
            attack.note
        );
        results.push((phase, probes, attack));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for c in &kept {
        c.close(0u32.into(), b"done");
    }
    drop(hub_p);
    drop(third_p);

    let quiet = &results[0].1;
    let q = [
        (pct(&quiet.search, 0.5), pct(&quiet.search, 0.99)),
        (pct(&quiet.fetch, 0.5), pct(&quiet.fetch, 0.99)),
        (pct(&quiet.replicate, 0.5), pct(&quiet.replicate, 0.99)),
    ];
    println!(
        "chapar flood bench: hub with {} SECRET NODIS + {VISIBLE} UNCLASSIFIED pages, every node its own process, loopback 127.{NET}.0.x, {} s per phase, one run",
        a.hidden, a.secs
    );
    println!(
        "honest probes, p50 / p99 ms (x quiet p50 / p99); search and fetch at the hub, page submitted at the hub until received at c-1"
    );
    println!("| phase | n | search | fetch | replication | failures | attack |");
    println!("|---|---|---|---|---|---|---|");
    let mut json = Vec::new();
    for (phase, p, attack) in &results {
        let cell = |v: &[Duration], (q50, q99): (f64, f64)| {
            let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
            format!("{p50:.1} / {p99:.1} ({:.2} / {:.2})", p50 / q50, p99 / q99)
        };
        println!(
            "| {phase} | {} | {} | {} | {} | {} | {} |",
            p.search.len(),
            cell(&p.search, q[0]),
            cell(&p.fetch, q[1]),
            cell(&p.replicate, q[2]),
            p.failures.len(),
            attack.note
        );
        for f in p.failures.iter().take(3) {
            eprintln!("  {phase}: {f}");
        }
        json.push(format!(
            "{{\"phase\":\"{phase}\",\"n\":{},\"search_p50_ms\":{:.2},\"search_p99_ms\":{:.2},\"fetch_p50_ms\":{:.2},\"fetch_p99_ms\":{:.2},\"replicate_p50_ms\":{:.2},\"replicate_p99_ms\":{:.2},\"failures\":{}}}",
            p.search.len(),
            pct(&p.search, 0.5),
            pct(&p.search, 0.99),
            pct(&p.fetch, 0.5),
            pct(&p.fetch, 0.99),
            pct(&p.replicate, 0.5),
            pct(&p.replicate, 0.99),
            p.failures.len()
        ));
    }
    println!("whole run: {:.1} s", t_run.elapsed().as_secs_f64());
    if a.json {
        println!("[{}]", json.join(","));
    }
    Ok(())
}
