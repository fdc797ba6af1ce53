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

    let first = run(&["demo", "--dir", &d]).ok();
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

    let second = run(&["--json", "demo", "--dir", &d]).ok().json();
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
        run(&["demo", "--dir", &d]).fails(&[&d, "was not made by `chapar demo`"])
    });
    // A real ministry is not a demo either.
    let m = tmp.path().join("m");
    init(&m);
    let ms = m.display().to_string();
    unchanged(tmp.path(), || {
        run(&["demo", "--dir", &ms]).fails(&["was not made by `chapar demo`"])
    });
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    run(&["demo", "--dir", &empty.display().to_string()]).ok();
    assert!(empty.join("roster.chpr").is_file());
}
