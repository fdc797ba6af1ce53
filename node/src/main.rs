//! `chapar-node`: runs a mission node from its provisioning bundle.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chapar_node::config::NodeConfig;
use chapar_proto::wire::Message;
use clap::{Parser, Subcommand};

/// chapar mission node.
#[derive(Debug, Parser)]
#[command(name = "chapar-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the node until SIGINT or SIGTERM.
    Run {
        /// The node's configuration (node.toml in its bundle).
        #[arg(long, short)]
        config: PathBuf,
        /// Log filter, e.g. info, debug, chapar_node=debug.
        #[arg(long, env = "CHAPAR_LOG", default_value = "info")]
        log: String,
    },
    /// Rebuild the search index from the store, from scratch (the node must
    /// be stopped; the old index stays until the new one is complete).
    Reindex {
        /// The node's configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Print progress and the result as JSON lines on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running node for its status (peers, counts, last sync).
    Status {
        /// The node's configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run { config, log } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&log)
                        .with_context(|| format!("bad --log filter {log:?}"))?,
                )
                .with_target(false)
                .init();
            let cfg = NodeConfig::load(&config)?;
            let node = chapar_node::start(cfg)
                .await
                .with_context(|| format!("cannot start the node of {}", config.display()))?;
            wait_for_signal().await?;
            node.stop().await;
            Ok(())
        }
        Command::Reindex { config, json } => {
            let cfg = NodeConfig::load(&config)?;
            reindex(&cfg, json)
        }
        Command::Status { config, json } => {
            let cfg = NodeConfig::load(&config)?;
            let report = status(&cfg).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_status(&report);
            }
            Ok(())
        }
    }
}

/// `chapar-node reindex`: a progress bar on stderr (or JSON lines on
/// stdout), then a summary.
fn reindex(cfg: &NodeConfig, json: bool) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let t0 = std::time::Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_line = std::time::Instant::now();
    let mut progress = |done: u64, total: u64| {
        let secs = t0.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        if json {
            println!(
                "{}",
                serde_json::json!({"event": "progress", "done": done, "total": total, "docs_per_s": rate.round()})
            );
            return;
        }
        // Without a terminal, one line every few seconds (logs, CI).
        if !tty && last_line.elapsed() < Duration::from_secs(3) && done < total {
            return;
        }
        last_line = std::time::Instant::now();
        let pct = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let width = 30usize;
        let filled = ((pct / 100.0) * width as f64).round().min(width as f64) as usize;
        let eta = if rate > 0.0 {
            total.saturating_sub(done) as f64 / rate
        } else {
            0.0
        };
        let line = format!(
            "[{}{}] {done}/{total} documents ({pct:.1}%), {rate:.0}/s, about {eta:.0} s left",
            "#".repeat(filled),
            "-".repeat(width - filled),
        );
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    };
    let out = chapar_node::indexer::reindex(cfg, &mut progress).with_context(|| {
        format!(
            "cannot rebuild the search index of {}",
            cfg.data_dir.display()
        )
    })?;
    if json {
        println!("{}", serde_json::json!({"event": "done", "result": out}));
    } else {
        if tty {
            eprintln!();
        }
        println!(
            "reindexed {} documents into {} entries in {:.1} s",
            out.documents, out.entries, out.seconds
        );
    }
    Ok(())
}

async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot watch Ctrl-C")?;
    Ok(())
}

/// Asks the node at the configured address, authenticating as the node
/// itself (its own certificate).
async fn status(cfg: &NodeConfig) -> Result<serde_json::Value> {
    let tls = cfg.tls_materials()?;
    let client = chapar_node::net::client_config(&tls)?;
    let bind: std::net::SocketAddr = if cfg.listen.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let endpoint = quinn::Endpoint::client(bind).context("cannot open a UDP socket")?;
    let mut target = cfg.listen;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let host = target.ip().to_string();
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        endpoint.connect_with(client, target, &host)?,
    )
    .await
    .map_err(|_| anyhow!("no answer from the node at {target}: is it running?"))?
    .with_context(|| format!("cannot connect to the node at {target}"))?;
    let (mut send, mut recv) = conn.open_bi().await?;
    chapar_node::frames::write(&mut send, &Message::Status).await?;
    let _ = send.finish();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        chapar_node::frames::read(&mut recv),
    )
    .await
    .map_err(|_| anyhow!("the node did not answer"))??;
    conn.close(0u32.into(), b"done");
    match answer {
        Message::StatusReport { json } => Ok(serde_json::from_str(&json)?),
        Message::Error { code, message } => bail!("node error {code}: {message}"),
        other => bail!("unexpected answer {}", other.name()),
    }
}

fn print_status(r: &serde_json::Value) {
    let s = |k: &str| {
        r.get(k)
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    println!(
        "node {} (mission {}, {}, {}) listening on {}",
        s("node"),
        s("mission"),
        s("role"),
        s("accreditation"),
        s("listen")
    );
    println!(
        "roster version {}, {} documents",
        s("roster_version"),
        s("documents")
    );
    if let Some(peers) = r.get("peers").and_then(|p| p.as_array()) {
        println!("peers ({}):", peers.len());
        for p in peers {
            let g = |k: &str| {
                p.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_owned())
                    .unwrap_or_default()
            };
            println!(
                "  {:<16} {:<10} {:<22} sent {:>7}  received {:>7}  refused {:>4}  last sync {}  {}",
                g("id"),
                g("state"),
                g("address"),
                g("sent"),
                g("received"),
                g("refused"),
                g("last_sync_ms"),
                g("last_error").replace("null", ""),
            );
        }
    }
}
