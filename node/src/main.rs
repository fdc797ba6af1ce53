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
    /// Make this node's keys here, so that they never leave it: a TLS key,
    /// a document-signing key, and what to send the ministry — a
    /// certificate request (node.csr) and the public signing key
    /// (node-sign.pub). Existing keys are kept (never overwritten) and a
    /// fresh request is written for them, e.g. to renew the certificate.
    Keygen {
        /// Directory for the keys: where the node's bundle will be.
        #[arg(long)]
        dir: PathBuf,
        /// The node's id in the roster, as the ministry will register it.
        #[arg(long)]
        id: String,
        /// Algorithm of a new TLS key.
        #[arg(long, value_enum, default_value_t = KeyAlg::EcdsaP256)]
        algorithm: KeyAlg,
    },
    /// Ask the running node for its status (peers, counts, last sync,
    /// certificates about to expire).
    Status {
        /// The node's configuration.
        #[arg(long, short)]
        config: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// TLS key algorithms of `keygen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum KeyAlg {
    /// ECDSA P-256 (widest TLS support).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A running node keeps going whatever happens to a pipe it logs to;
    // the one-shot commands end quietly when their reader does.
    if !matches!(cli.command, Command::Run { .. }) {
        chapar_node::sigpipe::restore_default();
    }
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
        Command::Keygen { dir, id, algorithm } => keygen(&dir, &id, algorithm),
        Command::Status { config, json } => {
            let cfg = NodeConfig::load(&config)?;
            let report = match status(&cfg).await {
                Ok(r) => r,
                Err(e) => {
                    // The node may be unreachable *because* something
                    // expired: say so from the files.
                    for w in local_warnings(&cfg) {
                        eprintln!("warning: {w}");
                    }
                    return Err(e);
                }
            };
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

/// Expiry warnings from the bundle's own files (certificate, CA, CRL),
/// for when the node cannot be asked.
fn local_warnings(cfg: &NodeConfig) -> Vec<String> {
    use chapar_certs::expiry::{cert_not_after, crl_next_update, due};
    let now = time::OffsetDateTime::now_utc();
    let text = |p: &std::path::Path| std::fs::read_to_string(p).ok();
    let mut out = Vec::new();
    let mut check = |what: String, at: Option<time::OffsetDateTime>, action: &str| {
        if let Some(d) = at.and_then(|at| due(at, now)) {
            let when =
                d.at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
            out.push(if d.expired {
                format!("{what} EXPIRED at {when}: {action}")
            } else {
                format!(
                    "{what} expires at {when} (in {} days): {action}",
                    d.days_left
                )
            });
        }
    };
    check(
        format!("this node's certificate {}", cfg.tls.cert.display()),
        text(&cfg.tls.cert).and_then(|t| cert_not_after(&t, "certificate").ok()),
        &format!(
            "ask the ministry administrators for `chapar admin node renew {}`, install the new node.crt (and node.key) and restart the node",
            cfg.node_id
        ),
    );
    check(
        format!("the ministry CA {}", cfg.tls.ca.display()),
        text(&cfg.tls.ca).and_then(|t| cert_not_after(&t, "CA").ok()),
        "the ministry administrators must put a new CA in place",
    );
    check(
        format!("the bundle's CRL {}", cfg.tls.crl.display()),
        text(&cfg.tls.crl)
            .and_then(|t| crl_next_update(&t, "CRL").ok())
            .and_then(|(_, next)| next),
        "a running node uses the newer one its roster carries; the ministry administrators renew it with `chapar admin crl renew`",
    );
    out
}

/// `chapar-node keygen`: the node's keys, made here and kept here.
fn keygen(dir: &std::path::Path, id: &str, alg: KeyAlg) -> Result<()> {
    use chapar_certs::{Access, Identity, KeyAlgorithm, Zeroizing};
    use chapar_node::config::bundle;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;

    let identity = Identity::node(id).with_context(|| format!("bad --id {id:?}"))?;
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tls_key = dir.join(bundle::KEY);
    let sign_key = dir.join(bundle::SIGNING_KEY);
    let mut report = Vec::new();

    // The TLS key: made once, never overwritten.
    let key_pem = if tls_key.exists() {
        chapar_certs::check_key_permissions(&tls_key)?;
        report.push(format!("kept the TLS key {}", tls_key.display()));
        chapar_certs::read_secret(&tls_key)?
    } else {
        let alg = match alg {
            KeyAlg::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            KeyAlg::Ed25519 => KeyAlgorithm::Ed25519,
        };
        let pem = chapar_certs::new_private_key(alg)?;
        chapar_certs::write_new(&tls_key, pem.as_bytes(), Access::Secret)?;
        report.push(format!("wrote the TLS key {} (0600)", tls_key.display()));
        pem
    };
    let csr =
        chapar_certs::certificate_request(&identity, &key_pem, &tls_key.display().to_string())?;

    // The document-signing key: likewise.
    let signing = if sign_key.exists() {
        chapar_certs::check_key_permissions(&sign_key)?;
        report.push(format!("kept the signing key {}", sign_key.display()));
        let pem = chapar_certs::read_secret(&sign_key)?;
        chapar_proto::keys::signing_key_from_pem(&pem)
            .with_context(|| format!("bad signing key {}", sign_key.display()))?
    } else {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut *seed).map_err(|e| anyhow!("no OS randomness: {e}"))?;
        let key = chapar_proto::keys::signing_key_from_seed(*seed);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow!("cannot encode the signing key: {e}"))?;
        chapar_certs::write_new(&sign_key, pem.as_bytes(), Access::Secret)?;
        report.push(format!(
            "wrote the signing key {} (0600)",
            sign_key.display()
        ));
        key
    };
    let public = chapar_proto::keys::public_key_to_pem(&chapar_proto::PublicKey(
        signing.verifying_key().to_bytes(),
    ))?;
    let csr_path = dir.join("node.csr");
    let pub_path = dir.join("node-sign.pub");
    chapar_certs::write_atomic(&csr_path, csr.as_bytes(), Access::Public)?;
    chapar_certs::write_atomic(&pub_path, public.as_bytes(), Access::Public)?;
    report.push(format!(
        "wrote the certificate request {} and the public signing key {}",
        csr_path.display(),
        pub_path.display()
    ));
    for line in report {
        println!("{line}");
    }
    println!(
        "\nNext: send {} and {} (nothing secret) to the ministry administrators, who run\n  chapar admin node add --id {id} --mission MISSION --csr node.csr --signing-key node-sign.pub ...\n(or, to renew: chapar admin node renew {id} --csr node.csr), then copy the bundle they send\n(node.toml, node.crt, ca.crt, crl.pem, roster.chpr, root.pub) into {}.",
        csr_path.display(),
        pub_path.display(),
        dir.display()
    );
    Ok(())
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
    if let Some(warnings) = r.get("warnings").and_then(|w| w.as_array()) {
        for w in warnings {
            if let Some(m) = w.get("message").and_then(|m| m.as_str()) {
                println!("WARNING: {m}");
            }
        }
    }
}
