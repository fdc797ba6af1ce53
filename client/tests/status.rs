//! `chapar status` against a real node (in this process, on loopback
//! subnet 73), for each audience: a person sees their node's reachability,
//! an administrator and a node see everything, a revoked person nothing.
//! Using a bundle refreshes its roster and CRL from the node, and a person
//! is warned 14 days before their certificate expires.

mod common;

use std::path::{Path, PathBuf};

use chapar_node::config::NodeConfig;
use common::*;
use serde_json::Value;

const HUB: &str = "127.73.0.1:7400";

/// Runs `chapar <args>` off the async runtime (the node runs on it).
async fn chapar(args: Vec<String>) -> Out {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .expect("chapar task")
}

fn args(bundle: &Path, rest: &[&str]) -> Vec<String> {
    let mut v = vec!["--bundle".to_owned(), bundle.display().to_string()];
    v.extend(rest.iter().map(|s| s.to_string()));
    v
}

fn roster_version(bundle: &Path) -> u64 {
    let doc = chapar_proto::Document::decode(&std::fs::read(bundle.join("roster.chpr")).unwrap())
        .unwrap();
    match doc.body() {
        chapar_proto::Body::Roster(r) => r.version,
        _ => panic!("not a roster"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_each_audience_what_it_may_know() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    populated(&dir, HUB); // hub, then amina (a reader)
    admin(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "ada",
            "--name",
            "Ada",
            "--mission",
            "mfa",
            "--roles",
            "reader,admin",
        ],
    )
    .ok();
    admin(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "wes",
            "--name",
            "Wes",
            "--mission",
            "mfa",
            "--days",
            "5",
        ],
    )
    .ok();
    let users = |u: &str| -> PathBuf { dir.join("users").join(u) };
    let hub_toml = dir.join("nodes/hub/node.toml");
    let node = chapar_node::start(NodeConfig::load(&hub_toml).unwrap())
        .await
        .expect("hub starts");

    // A person: reachability, no counts, no peers, no certificates.
    let out = chapar(args(&users("amina"), &["--json", "status"]))
        .await
        .ok();
    let v = out.json();
    assert_eq!(v["audience"], "person", "{v}");
    assert_eq!(v["node"], "hub");
    assert_eq!(v["reachable"], true);
    assert!(v["roster_version"].as_u64().is_some(), "{v}");
    for hidden in ["documents", "peers", "certificates", "search", "listen"] {
        assert!(v.get(hidden).is_none(), "a person sees {hidden}: {v}");
    }
    assert_eq!(v["bundle"]["refreshed"], false, "{v}");

    // An administrator: everything, including the certificates in force.
    let v = chapar(args(&users("ada"), &["--json", "status"]))
        .await
        .ok()
        .json();
    assert_eq!(v["audience"], "administrator", "{v}");
    assert!(v["documents"].as_u64().is_some(), "{v}");
    assert!(v["peers"].is_array(), "{v}");
    assert!(
        v["certificates"]["node"]["serial"].as_u64().is_some(),
        "{v}"
    );
    assert!(v["warnings"].is_array(), "{v}");

    // The node itself (as `chapar-node status` connects): everything.
    let cfg = NodeConfig::load(&hub_toml).unwrap();
    let client = chapar_client::rpc::connect(
        "hub",
        HUB,
        &cfg.tls_materials().unwrap(),
        Default::default(),
    )
    .await
    .expect("node connects to itself");
    let v: Value = serde_json::from_str(&client.status().await.unwrap()).unwrap();
    assert_eq!(v["audience"], "node", "{v}");
    assert!(
        v["documents"].as_u64().is_some() && v["peers"].is_array(),
        "{v}"
    );
    client.close().await;

    // Ada's bundle brought a newer roster than amina's: amina's bundle takes
    // it (and its CRL) from the node by using it.
    let before = roster_version(&users("amina"));
    let after = roster_version(&users("ada"));
    assert!(before < after);
    let text = chapar(args(&users("amina"), &["status"])).await.ok().stdout;
    assert!(
        text.contains(&format!(
            "bundle refreshed: roster version {before} -> {after}"
        )),
        "{text}"
    );
    assert_eq!(roster_version(&users("amina")), after);
    assert_eq!(
        std::fs::read(users("amina").join("crl.pem")).unwrap(),
        std::fs::read(users("ada").join("crl.pem")).unwrap()
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("reachable ") && l.ends_with(" true"))
            && !text.contains("documents"),
        "{text}"
    );

    // Wes's certificate expires in five days: he is told, and what to do.
    let out = chapar(args(&users("wes"), &["status"])).await.ok();
    assert!(
        out.stdout.contains("WARNING: your certificate")
            && out.stdout.contains("in 4 days")
            && out.stdout.contains("chapar admin user renew wes"),
        "{}",
        out.stdout
    );
    let v = chapar(args(&users("wes"), &["--json", "status"]))
        .await
        .ok()
        .json();
    assert!(
        v["bundle"]["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("your certificate")),
        "{v}"
    );
    let v = chapar(args(&users("amina"), &["--json", "status"]))
        .await
        .ok()
        .json();
    assert_eq!(v["bundle"]["warnings"], Value::Array(vec![]), "{v}");

    // A revoked person learns nothing: once the node holds the roster that
    // revokes her, her certificate no longer gets in.
    admin(
        &dir,
        &["revoke", "user", "amina", "--reason", "left the service"],
    )
    .ok();
    std::fs::copy(dir.join("roster.chpr"), users("ada").join("roster.chpr")).unwrap();
    chapar(args(&users("ada"), &["status"])).await.ok();
    chapar(args(&users("amina"), &["--timeout", "5", "status"]))
        .await
        .fails(&["refused"]);

    node.stop().await;
}
