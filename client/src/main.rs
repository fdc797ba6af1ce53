//! `chapar`: the command-line tool of chapar — ministry administration,
//! and a person's tools: status, fetch, list and watch documents at their
//! node, edit the wiki, draft, clear and release cables, send receipts.

use chapar_client::{admin, demo, files, render, user};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chapar_proto::keys::public_key_from_pem;
use chapar_proto::roster::accept_update;
use chapar_proto::{Document, Roster};
use clap::{Parser, Subcommand};

use admin::Outcome;
use files::{read_bytes, read_text};

/// chapar: secure messaging and knowledge base for a foreign ministry and
/// its missions.
#[derive(Debug, Parser)]
#[command(name = "chapar", version, about)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    connect: user::ConnectOpts,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Administer the ministry network: CA, roster, node and user bundles.
    Admin {
        /// The ministry directory (root key, CA, roster).
        #[arg(
            long,
            env = "CHAPAR_ADMIN_DIR",
            default_value = "ministry",
            global = true
        )]
        dir: PathBuf,
        #[command(subcommand)]
        command: Box<AdminCommand>,
    },
    /// Run a demo network: a fresh ministry (root, CA, roster, bundles), the
    /// hub and two embassy nodes on loopback, sample content, until Ctrl-C.
    Demo {
        /// Where to put it; an earlier demo there is replaced.
        #[arg(long, default_value = "demo")]
        dir: PathBuf,
        /// Only write the ministry and bundles, print the roster, and exit.
        #[arg(long)]
        provision_only: bool,
        /// Stop after this many seconds instead of waiting for Ctrl-C.
        #[arg(long)]
        serve_for: Option<u64>,
    },
    #[command(flatten)]
    User(user::UserCommand),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a new ministry: root key, CA (new or imported), roster v1.
    Init(admin::InitArgs),
    /// Manage missions.
    Mission {
        #[command(subcommand)]
        command: MissionCommand,
    },
    /// Provision nodes.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Provision people.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Revoke a node, a person or one certificate.
    Revoke(admin::RevokeArgs),
    /// Certificate revocation list.
    Crl {
        #[command(subcommand)]
        command: CrlCommand,
    },
    /// Inspect the roster.
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
}

#[derive(Debug, Subcommand)]
enum MissionCommand {
    /// Add a mission (embassy, consulate, permanent mission).
    Add(admin::MissionAddArgs),
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Add a node and write its provisioning bundle (with --csr: for keys
    /// the node made itself with `chapar-node keygen`).
    Add(admin::NodeAddCli),
    /// Issue a new certificate for a node (same id and signing key) into its bundle.
    Renew(admin::NodeRenewArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a person and write their bundle (certificate, TLS key, signing key).
    Add(admin::UserAddArgs),
    /// Issue a new certificate for a person (same id and signing key) into their bundle.
    Renew(admin::RenewArgs),
    /// Change a person's clearance, roles, captions, mission or name from
    /// now on (what they signed before keeps its earlier standing).
    Update(admin::UserUpdateArgs),
}

#[derive(Debug, Subcommand)]
enum CrlCommand {
    /// Issue a fresh CRL (do this before the current one expires; nodes and
    /// clients warn 14 days ahead).
    Renew {
        /// Lifetime of this and later CRLs, in days.
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum RosterCommand {
    /// Show the roster (the ministry's, or any roster file with --file).
    Show {
        /// A roster file, e.g. a bundle's roster.chpr.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The root public key to check it against [default: root.pub beside the file].
        #[arg(long, requires = "file")]
        root: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `chapar search --json ... | head` ends quietly instead of panicking.
    // (`demo` runs nodes in this process: they are unaffected, their
    // sockets are UDP.)
    chapar_node::sigpipe::restore_default();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::User(command) => user::run(command, &cli.connect, cli.json),
        Command::Demo {
            dir,
            provision_only,
            serve_for,
        } => {
            demo::run(dir)?;
            if !cli.json {
                println!(
                    "Demo ministry written to {}: root key and CA, roster, and bundles in {}/nodes (hub, washington-1, berlin-1) and {}/users.\n",
                    dir.display(),
                    dir.display(),
                    dir.display()
                );
            }
            show_ministry_roster(dir, cli.json)?;
            if *provision_only {
                return Ok(());
            }
            println!();
            demo::serve(dir, serve_for.map(std::time::Duration::from_secs))
        }
        Command::Admin { dir, command } => {
            let outcome = match command.as_ref() {
                AdminCommand::Init(a) => admin::init(dir, a)?,
                AdminCommand::Mission {
                    command: MissionCommand::Add(a),
                } => admin::add_mission(dir, a)?,
                AdminCommand::Node {
                    command: NodeCommand::Add(a),
                } => admin::add_node_with(dir, &a.node, &a.keys)?,
                AdminCommand::Node {
                    command: NodeCommand::Renew(a),
                } => admin::renew_node(dir, a)?,
                AdminCommand::User {
                    command: UserCommand::Add(a),
                } => admin::add_user(dir, a)?,
                AdminCommand::User {
                    command: UserCommand::Renew(a),
                } => admin::renew_user(dir, a)?,
                AdminCommand::User {
                    command: UserCommand::Update(a),
                } => admin::update_user(dir, a)?,
                AdminCommand::Revoke(a) => admin::revoke(dir, a)?,
                AdminCommand::Crl {
                    command: CrlCommand::Renew { days },
                } => admin::renew_crl(dir, *days)?,
                AdminCommand::Roster {
                    command: RosterCommand::Show { file, root },
                } => {
                    return match file {
                        Some(f) => show_roster_file(f, root.as_deref(), cli.json),
                        None => show_ministry_roster(dir, cli.json),
                    };
                }
            };
            print_outcome(&outcome, cli.json)
        }
    }
}

fn print_outcome(o: &Outcome, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(o)?);
    } else {
        println!("{} (roster version {})", o.message, o.roster_version);
    }
    Ok(())
}

fn show_ministry_roster(dir: &Path, json: bool) -> Result<()> {
    let m = admin::ministry::Ministry::open(dir)?;
    let path = dir.join(admin::ministry::file::ROSTER);
    let doc = Document::decode(&read_bytes(&path, "roster")?)
        .with_context(|| format!("malformed roster {}", path.display()))?;
    print_roster(&doc, &m.roster, json)
}

fn show_roster_file(file: &Path, root: Option<&Path>, json: bool) -> Result<()> {
    let root_path = match root {
        Some(r) => r.to_owned(),
        None => file.with_file_name("root.pub"),
    };
    let root = public_key_from_pem(&read_text(&root_path, "root public key")?)
        .with_context(|| format!("bad root public key {}", root_path.display()))?;
    let doc = Document::decode(&read_bytes(file, "roster")?)
        .with_context(|| format!("malformed roster {}", file.display()))?;
    let roster = accept_update(&root, None, &doc).with_context(|| {
        format!(
            "{} is not a roster signed by the root key in {}",
            file.display(),
            root_path.display()
        )
    })?;
    print_roster(&doc, &roster, json)
}

fn print_roster(doc: &Document, roster: &Roster, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&render::roster_json(doc, roster))?
        );
    } else {
        print!("{}", render::roster_text(doc, roster));
    }
    Ok(())
}
