//! A person's commands, offline: bundle errors, argument errors, and documents signed to a
//! file (`--out`) instead of submitted. Nothing here needs a running node; the one network
//! test talks to a UDP socket that never answers, with a 1 s deadline.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chapar_proto::{Body, Document, Kind};
use common::Out;

/// Runs `chapar <args>` without inheriting `CHAPAR_BUNDLE` or `CHAPAR_ADMIN_DIR`.
fn chapar(args: &[&str]) -> Out {
    let out = Command::new(common::bin())
        .args(args)
        .env_remove("CHAPAR_BUNDLE")
        .env_remove("CHAPAR_ADMIN_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run chapar");
    Out {
        args: args.iter().map(|s| s.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A demo ministry in a temporary directory; returns it and the directory of `user`'s bundle.
fn demo(user: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    chapar(&[
        "demo",
        "--provision-only",
        "--dir",
        dir.to_str().expect("utf-8"),
    ])
    .ok();
    let bundle = dir.join("users").join(user);
    assert!(bundle.join("user.toml").is_file(), "no bundle for {user}");
    (tmp, bundle)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn a_bundle_is_required_and_checked() {
    chapar(&["status"]).fails(&["no bundle", "--bundle", "CHAPAR_BUNDLE"]);
    let tmp = tempfile::tempdir().expect("tempdir");
    chapar(&["--bundle", s(tmp.path()), "status"]).fails(&["not a person's bundle", "user.toml"]);
    std::fs::write(tmp.path().join("user.toml"), "user_id = 3\n").expect("write");
    chapar(&["--bundle", s(tmp.path()), "list"]).fails(&["not a valid user.toml"]);
    let out = chapar(&["--json", "--bundle", s(tmp.path()), "list"]).fails_with(1, &["user.toml"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON error");
    assert!(v["error"].is_string(), "{v}");
}

#[test]
fn argument_mistakes_are_refused_before_any_network() {
    let (_tmp, bundle) = demo("bobur");
    let b = s(&bundle);
    chapar(&[
        "--bundle",
        b,
        "cable",
        "draft",
        "--to",
        "Emb Tokyo",
        "--subject",
        "S",
        "--body",
        "x",
    ])
    .fails(&["--to", "not a mission id"]);
    chapar(&[
        "--bundle",
        b,
        "cable",
        "draft",
        "--to",
        "mfa,emb-berlin",
        "--info",
        "EMB-BERLIN",
        "--subject",
        "S",
        "--body",
        "x",
    ])
    .fails(&["emb-berlin", "--to", "--info"]);
    chapar(&[
        "--bundle",
        b,
        "cable",
        "draft",
        "--to",
        "mfa",
        "--subject",
        "S",
    ])
    .fails_with(2, &["--body"]);
    chapar(&[
        "--bundle",
        b,
        "cable",
        "draft",
        "--to",
        "mfa",
        "--subject",
        "S",
        "--body",
        "x",
        "--precedence",
        "urgent",
    ])
    .fails_with(2, &["ROUTINE"]);
    chapar(&["--bundle", b, "list", "--since", "yesterday"]).fails(&["--since", "RFC 3339"]);
    chapar(&["--bundle", b, "list", "--limit", "0"]).fails_with(2, &["--limit"]);
    chapar(&["--bundle", b, "fetch", "abc"]).fails(&["not a document id"]);
    chapar(&[
        "--bundle",
        b,
        "wiki",
        "edit",
        "--title",
        "T",
        "--body",
        "x",
        "--page",
        "00112233445566778899aabbccddeeff",
    ])
    .fails(&["--parent"]);
    let junk = bundle.join("junk.chpr");
    std::fs::write(&junk, b"not a document").expect("write");
    chapar(&["--bundle", b, "submit", s(&junk)]).fails(&["is not a chapar document"]);
}

#[test]
fn documents_are_signed_offline_with_out() {
    let (tmp, bundle) = demo("bobur");
    let b = s(&bundle);
    let text = tmp.path().join("body.txt");
    std::fs::write(&text, "1. Summary.\n").expect("write");
    let file = tmp.path().join("draft.chpr");
    let out = chapar(&[
        "--json",
        "--bundle",
        b,
        "cable",
        "draft",
        "--to",
        "MFA",
        "--info",
        "emb-berlin",
        "--subject",
        "Visit",
        "--body-file",
        s(&text),
        "--precedence",
        "niact-immediate",
        "--tags",
        "uz,PREL,prel",
        "--out",
        s(&file),
    ])
    .ok()
    .json();
    assert_eq!(out["kind"], "cable");
    let doc = Document::decode(&std::fs::read(&file).expect("read")).expect("decode");
    doc.verify().expect("signed");
    assert_eq!(out["id"], doc.id().to_hex());
    let Body::Cable(c) = doc.body() else {
        panic!("not a cable: {:?}", doc.kind())
    };
    assert_eq!(c.originator.as_str(), "emb-washington");
    assert_eq!(
        c.action.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ["mfa"]
    );
    assert_eq!(
        c.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        ["PREL", "UZ"]
    );
    assert_eq!(c.body, "1. Summary.\n");

    let receipt = tmp.path().join("receipt.chpr");
    let id = doc.id().to_hex();
    chapar(&[
        "--bundle",
        b,
        "receipt",
        "read",
        &id,
        "--originator",
        "emb-washington",
        "--cable-file",
        s(&file),
        "--out",
        s(&receipt),
    ])
    .ok();
    let r = Document::decode(&std::fs::read(&receipt).expect("read")).expect("decode");
    let Body::Receipt(rc) = r.body() else {
        panic!("not a receipt: {:?}", r.kind())
    };
    assert_eq!(rc.cable, doc.id());
    assert_eq!(
        rc.marking,
        c.marking(),
        "the receipt carries the cable's marking"
    );

    let page = tmp.path().join("page.chpr");
    let out = chapar(&[
        "--bundle",
        b,
        "wiki",
        "edit",
        "--title",
        "Visas",
        "--body",
        "# Visas",
        "--out",
        s(&page),
    ])
    .ok();
    assert!(out.stdout.contains("chapar submit"), "{}", out.stdout);
    let w = Document::decode(&std::fs::read(&page).expect("read")).expect("decode");
    assert_eq!(w.kind(), Kind::WikiRevision);
}

#[test]
fn an_unreachable_node_is_reported_within_the_timeout() {
    let (_tmp, bundle) = demo("aziza");
    // A socket that swallows every packet: the handshake never completes.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let cfg_path = bundle.join("user.toml");
    let cfg = std::fs::read_to_string(&cfg_path).expect("read");
    let cfg = cfg.replace("127.0.0.1:7400", &addr);
    assert!(
        cfg.contains(&addr),
        "demo user.toml has no 127.0.0.1:7400:\n{cfg}"
    );
    std::fs::write(&cfg_path, cfg).expect("write");
    let started = std::time::Instant::now();
    chapar(&["--bundle", s(&bundle), "--timeout", "1", "status"]).fails(&[
        "no answer from node hub",
        &addr,
        "within 1 s",
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}
