//! `chapar demo`: a whole demo ministry, re-runnable, and careful with directories it did
//! not make.

mod common;

use std::fs;

use chapar_node::config::NodeConfig;
use common::*;

#[test]
fn demo_runs_twice_and_replaces_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.display().to_string();

    let first = run(&["demo", "--provision-only", "--dir", &d]).ok();
    assert!(
        first
            .stdout
            .contains(&format!("Demo ministry written to {d}")),
        "{}",
        first.stdout
    );
    assert!(first.stdout.contains("roster version"), "{}", first.stdout);
    let root1 = fs::read(dir.join("root.pub")).unwrap();
    let r1 = roster(&dir);
    fs::write(dir.join("stray.txt"), "left from the first run").unwrap();

    let second = run(&["--json", "demo", "--provision-only", "--dir", &d])
        .ok()
        .json();
    assert!(
        !dir.join("stray.txt").exists(),
        "the first demo was not replaced"
    );
    assert_ne!(
        fs::read(dir.join("root.pub")).unwrap(),
        root1,
        "a new root key"
    );
    // Same shape both times: --json prints the roster.
    assert_eq!(second["version"], r1["version"]);
    assert_eq!(second, roster(&dir));
    let ids = |k: &str| -> Vec<String> {
        second[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("missions"), ["emb-berlin", "emb-washington", "mfa"]);
    assert_eq!(ids("nodes"), ["berlin-1", "hub", "washington-1"]);
    assert_eq!(ids("people"), ["aziza", "bobur", "dilnoza", "erkin"]);

    for n in ["hub", "washington-1", "berlin-1"] {
        let cfg = NodeConfig::load(&dir.join("nodes").join(n).join("node.toml")).expect(n);
        assert_eq!(cfg.node_id, n);
        let id = cert_identity(&dir.join("nodes").join(n).join("node.crt"));
        assert_eq!(id.identity.uri(), format!("urn:chapar:node:{n}"));
        assert_eq!(mode(&dir.join("nodes").join(n).join("node.key")), 0o600);
    }
    for u in ["aziza", "bobur", "dilnoza", "erkin"] {
        let id = cert_identity(&dir.join("users").join(u).join("user.crt"));
        assert_eq!(id.identity.uri(), format!("urn:chapar:user:{u}"));
    }
    // The demo is an ordinary ministry: admin commands work on it.
    admin(
        &dir,
        &[
            "mission",
            "add",
            "--id",
            "emb-tokyo",
            "--name",
            "Tokyo",
            "--country",
            "JP",
        ],
    )
    .ok();
}

#[test]
fn demo_refuses_a_directory_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mine");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("thesis.txt"), "precious").unwrap();
    let d = dir.display().to_string();
    unchanged(tmp.path(), || {
        run(&["demo", "--provision-only", "--dir", &d])
            .fails(&[&d, "was not made by `chapar demo`"])
    });
    // A real ministry is not a demo either.
    let m = tmp.path().join("m");
    init(&m);
    let ms = m.display().to_string();
    unchanged(tmp.path(), || {
        run(&["demo", "--provision-only", "--dir", &ms]).fails(&["was not made by `chapar demo`"])
    });
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    run(&[
        "demo",
        "--provision-only",
        "--dir",
        &empty.display().to_string(),
    ])
    .ok();
    assert!(empty.join("roster.chpr").is_file());
}

/// The README's run command: `chapar demo` serves a local network (hub and
/// two embassies on 127.0.0.1:7400-7402) with sample content, and each demo
/// person sees what they may and nothing else.
#[test]
fn demo_serves_a_network_with_sample_content() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chapar"))
        .args(["demo", "--dir", &d, "--serve-for", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(90) {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line.starts_with("Local network running") => {
                ready = true;
                break;
            }
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("demo exited early: {status}");
                }
            }
            Err(_) => break,
        }
    }
    let listing = |who: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args(["--json", "--bundle", &format!("{d}/users/{who}"), "list"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{who}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        v
    };
    let kinds = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .or_else(|| v["entries"].as_array())
            .unwrap_or_else(|| panic!("not a listing: {v}"))
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    // Search through the real command: both scripts find both articles;
    // a person sees only what they may read. The demo prints "ready" once
    // the samples have spread; indexing follows within a second.
    let search = |who: &str, query: &str| -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args([
                "--json",
                "--bundle",
                &format!("{d}/users/{who}"),
                "search",
                query,
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{who}: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    let titles = |v: &serde_json::Value| -> Vec<String> {
        let mut t: Vec<String> = v["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("not search results: {v}"))
            .iter()
            .map(|h| h["title"].as_str().unwrap_or("").to_owned())
            .collect();
        t.sort();
        t
    };
    let mut found = Vec::new();
    if ready {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            found = vec![
                titles(&search("dilnoza", "raqamli diplomatiya")),
                titles(&search("dilnoza", "рақамли дипломатия")),
                titles(&search("erkin", "посольство")),
            ];
            // The handbook links to [[Raqamli diplomatiya]]: three pages.
            let complete = found[0].len() == 3 && found[1].len() == 3 && !found[2].is_empty();
            if complete || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // A page's history through `chapar wiki history` (demo pages sit at
    // their titles' ids).
    let raqamli = chapar_proto::wiki::title::page_id(
        &chapar_proto::wiki::title::key("Raqamli diplomatiya"),
        0,
    )
    .to_string();
    let history = if ready {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args([
                "--json",
                "--bundle",
                &format!("{d}/users/erkin"),
                "wiki",
                "history",
                "raqamli diplomatiya",
            ])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("history: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    } else {
        serde_json::Value::Null
    };
    // Flags after the query are flags, not query words.
    let cables = if ready {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args([
                "--bundle",
                &format!("{d}/users/dilnoza"),
                "search",
                "diplomacy",
                "--kind",
                "cable",
                "--json",
            ])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("search: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    } else {
        serde_json::Value::Null
    };
    // A page by its title, typed in the other script and case.
    let shown = if ready {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args([
                "--json",
                "--bundle",
                &format!("{d}/users/dilnoza"),
                "wiki",
                "show",
                "РАҚАМЛИ  ДИПЛОМАТИЯ",
            ])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("wiki show: {e}: {}", String::from_utf8_lossy(&out.stderr)))
    } else {
        serde_json::Value::Null
    };
    // The handbook rendered: its links resolve to pages dilnoza may read;
    // a link to a page she cannot find would be marked missing.
    let handbook = if ready {
        [
            run_json(&d, "dilnoza", &["wiki", "show", "Consular handbook"]),
            run_json(
                &d,
                "dilnoza",
                &["wiki", "show", "Consular handbook", "--html"],
            ),
            run_json(&d, "dilnoza", &["wiki", "links", "Consular handbook"]),
            run_json(&d, "dilnoza", &["wiki", "backlinks", "raqamli diplomatiya"]),
        ]
    } else {
        [(); 4].map(|()| serde_json::Value::Null)
    };
    let (dilnoza, erkin) = if ready {
        (kinds(&listing("dilnoza")), kinds(&listing("erkin")))
    } else {
        (vec![], vec![])
    };
    // Editing by title: a second revision of the handbook replaces its
    // head; history, diff and recent changes show it.
    let run = |who: &str, args: &[&str]| -> (bool, serde_json::Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_chapar"))
            .args(["--json", "--bundle", &format!("{d}/users/{who}")])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.success(),
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null),
            err,
        )
    };
    let edited = if ready {
        let (ok, _, err) = run("aziza", &["wiki", "watch", "Consular handbook"]);
        assert!(ok, "wiki watch: {err}");
        let (ok, _, err) = run(
            "aziza",
            &[
                "wiki",
                "edit",
                "--title",
                "consular handbook",
                "--body",
                "Embassies and consulates assist citizens abroad.\nA second paragraph.",
                "--summary",
                "shorter",
            ],
        );
        assert!(ok, "wiki edit by title: {err}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, h, _) = run("aziza", &["wiki", "history", "Consular handbook"]);
            let n = h["revisions"].as_array().map_or(0, Vec::len);
            if n == 2 || Instant::now() > deadline {
                break h;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    } else {
        serde_json::Value::Null
    };
    let revision = |n: usize| {
        edited["revisions"][n]["id"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let (old_id, new_id) = (revision(1), revision(0));
    let diffed = run("aziza", &["wiki", "diff", &old_id, &new_id]);
    let recent = run("aziza", &["wiki", "recent", "--limit", "3"]);
    let watched = [
        run("aziza", &["wiki", "watchlist"]),
        run("aziza", &["wiki", "watchlist"]),
    ];
    // A move, then the old title shows the page through its redirect.
    let moved = run(
        "aziza",
        &["wiki", "move", "Consular handbook", "Consular manual"],
    );
    let redirected = if ready && moved.0 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v, _) = run("dilnoza", &["wiki", "show", "Consular handbook"]);
            if v["title"] == "Consular manual" || Instant::now() > deadline {
                break v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    } else {
        serde_json::Value::Null
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the demo network never reported ready");
    let three = [
        "Consular handbook",
        "Raqamli diplomatiya",
        "Рақамли дипломатия ҳақида",
    ];
    assert_eq!(found[0], three, "Latin query");
    assert_eq!(found[1], three, "Cyrillic query");
    assert_eq!(found[2], ["Консульская служба"], "Russian inflection");
    assert_eq!(history["page"], raqamli.as_str(), "{history}");
    assert_eq!(
        history["revisions"].as_array().map(Vec::len),
        Some(1),
        "{history}"
    );
    assert_eq!(history["revisions"][0]["head"], true, "{history}");
    // The edit by title continued the page: two revisions, one head (the
    // new one, naming the first as its parent).
    let revs = edited["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("{edited}"));
    assert_eq!(revs.len(), 2, "{edited}");
    let (new, old) = (&revs[0], &revs[1]);
    assert_eq!(new["head"], true, "{edited}");
    assert_eq!(old["head"], false, "{edited}");
    assert_eq!(new["parents"][0], old["id"], "{edited}");
    assert_eq!(new["summary"], "shorter", "{edited}");
    let (ok, diff, err) = &diffed;
    assert!(ok, "wiki diff: {err}");
    assert!(diff.to_string().contains("A second paragraph"), "{diff}");
    let (ok, recent, err) = &recent;
    assert!(ok, "wiki recent: {err}");
    assert_eq!(recent[0]["id"], new["id"], "newest first: {recent}");
    assert!(moved.0, "wiki move: {}", moved.2);
    assert_eq!(redirected["title"], "Consular manual", "{redirected}");
    assert_eq!(
        redirected["redirected_from"], "Consular handbook",
        "{redirected}"
    );
    // The watchlist shows the edit once, then nothing new.
    for (ok, _, err) in &watched {
        assert!(ok, "wiki watchlist: {err}");
    }
    let changes = |v: &serde_json::Value| v[0]["changes"].as_array().map_or(usize::MAX, Vec::len);
    assert_eq!(changes(&watched[0].1), 1, "{}", watched[0].1);
    assert_eq!(watched[0].1[0]["changes"][0]["id"], new["id"]);
    assert_eq!(changes(&watched[1].1), 0, "{}", watched[1].1);
    let rendered = handbook[0]["rendered"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", handbook[0]));
    assert!(
        rendered.contains("Консульская служба") && rendered.contains("Raqamli diplomatiya"),
        "{rendered}"
    );
    assert!(
        !rendered.contains("[[") && !rendered.contains("missing"),
        "{rendered}"
    );
    let html = handbook[1]["rendered"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", handbook[1]));
    assert!(
        html.contains("href=\"/wiki/Raqamli_diplomatiya\""),
        "{html}"
    );
    assert!(!html.contains("missing"), "{html}");
    let links = &handbook[2]["links"];
    assert_eq!(
        links,
        // In title-key order (`konsulskaya sluzhba` first).
        &serde_json::json!([
            {"title": "Консульская служба", "exists": true},
            {"title": "Raqamli diplomatiya", "exists": true},
        ]),
        "{}",
        handbook[2]
    );
    let back: Vec<&str> = handbook[3]
        .as_array()
        .unwrap_or_else(|| panic!("{}", handbook[3]))
        .iter()
        .filter_map(|h| h["title"].as_str())
        .collect();
    assert_eq!(back, ["Consular handbook"], "what links here");
    assert_eq!(shown["title"], "Raqamli diplomatiya", "{shown}");
    assert_eq!(shown["page"], raqamli.as_str(), "{shown}");
    assert_eq!(shown["conflicts"], 0, "{shown}");
    assert!(
        shown["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Raqamli diplomatiya —")),
        "{shown}"
    );
    let hits = cables["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("{cables}"));
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h["kind"] == "cable"),
        "{cables}"
    );
    assert_eq!(
        history["revisions"][0]["title"], "Raqamli diplomatiya",
        "{history}"
    );
    // Dilnoza (Berlin, CONFIDENTIAL): the four public pages, her own draft
    // and release, and Washington's release (Berlin is an info addressee).
    assert_eq!(
        dilnoza.iter().filter(|k| k.as_str() == "wiki").count(),
        4,
        "{dilnoza:?}"
    );
    assert_eq!(
        dilnoza.iter().filter(|k| k.as_str() == "release").count(),
        2,
        "{dilnoza:?}"
    );
    // Erkin (HQ, RESTRICTED): the public pages only — the CONFIDENTIAL
    // cable addressed to HQ is above his clearance.
    assert!(erkin.iter().all(|k| k == "wiki"), "{erkin:?}");
    assert_eq!(erkin.len(), 4, "{erkin:?}");
}

/// `chapar ... | head -1`: when the reader of its output goes away, the
/// command ends as Unix tools do (killed by SIGPIPE, or done if it had
/// already written), never with a panic about a broken pipe.
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("demo").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chapar"))
        .args(["demo", "--provision-only", "--dir", &d])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chapar");
    // Close the read end before the command has printed anything.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr pipe")
        .read_to_string(&mut err)
        .expect("read stderr");
    let status = child.wait().expect("wait");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{status:?}: {err}"
    );
}

/// Runs `chapar --json` as `who` of the demo in `d`; its JSON output.
fn run_json(d: &str, who: &str, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chapar"))
        .args(["--json", "--bundle", &format!("{d}/users/{who}")])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "chapar {args:?}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
