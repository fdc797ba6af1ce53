//! `chapar admin` as an administrator runs it: the real binary, real files on disk.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use chapar_node::config::{NodeConfig, Peer};
use chapar_proto::keys::{public_key_from_pem, signing_key_from_pem};
use common::*;
use serde_json::Value;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

fn hex_sha256_of_cert(path: &Path) -> String {
    let pem = fs::read_to_string(path).expect("read cert");
    let der = chapar_certs::read_cert_pem(&pem, "cert").expect("cert PEM");
    hex::encode(chapar_certs::fingerprint(&der))
}

fn entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no {id:?} in {list}"))
}

// ---------------------------------------------------------------- 1. init

#[test]
fn init_creates_a_complete_ministry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    let out = init(&dir);
    assert_eq!(u64_of(&out, "roster_version"), 1, "{out}");
    assert!(out["serials"].as_array().is_none_or(Vec::is_empty), "{out}");

    for f in [
        "root.key",
        "root.pub",
        "ca.key",
        "ca.crt",
        "roster.chpr",
        "rosters/000001.chpr",
        "crl.pem",
        "ministry.toml",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(mode(&dir.join("root.key")), 0o600);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("ca.crt")) & 0o077, 0o044, "ca.crt is public");
    let listed: Vec<String> = out["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("path").to_owned())
        .collect();
    for f in ["root.key", "ca.key", "roster.chpr", "ministry.toml"] {
        let p = dir.join(f).display().to_string();
        assert!(listed.contains(&p), "{p} not in {listed:?}");
    }
    assert_eq!(
        fs::read(dir.join("roster.chpr")).unwrap(),
        fs::read(dir.join("rosters/000001.chpr")).unwrap()
    );
    let crl = crl(&dir.join("crl.pem"));
    assert_eq!(crl.crl_number, Some(1));
    assert!(crl.revoked.is_empty());
    let state: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("ministry.toml")).unwrap())
            .expect("ministry.toml is TOML");
    assert_eq!(state["own_mission"].as_str(), Some("mfa"));
    assert_eq!(state["next_serial"].as_integer(), Some(1));

    let r = roster(&dir);
    assert_eq!(r["version"], 1);
    assert_eq!(r["ministry"], "Test MFA");
    assert_eq!(
        r["missions"],
        serde_json::json!([{"id": "mfa", "name": "Test MFA headquarters", "country": "UZ", "kind": "MINISTRY"}])
    );
    assert_eq!(r["nodes"], serde_json::json!([]));
    assert_eq!(r["people"], serde_json::json!([]));
    assert_eq!(r["revocations"], serde_json::json!([]));
    assert_eq!(r["crl"]["number"], 1);
    assert_eq!(
        r["ca_fingerprints"],
        serde_json::json!([hex_sha256_of_cert(&dir.join("ca.crt"))])
    );
    let root =
        public_key_from_pem(&fs::read_to_string(dir.join("root.pub")).unwrap()).expect("root.pub");
    assert_eq!(r["root_key"], root.to_hex());
    let signer =
        signing_key_from_pem(&fs::read_to_string(dir.join("root.key")).unwrap()).expect("root.key");
    assert_eq!(signer.verifying_key().to_bytes(), root.0);

    // The text form says the same for people, and no secret is ever printed.
    let text = admin(&dir, &["roster", "show"]).ok();
    assert!(
        text.stdout.contains("Test MFA — roster version 1"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("Test MFA headquarters"));
    assert!(!text.stdout.contains("PRIVATE KEY"));
}

#[test]
fn init_text_output_and_own_mission_options() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let out = admin(
        &dir,
        &[
            "init",
            "--name",
            "MFA of Ruritania",
            "--country",
            "rur",
            "--mission-id",
            "hq",
            "--mission-name",
            "Headquarters, Strelsau",
        ],
    )
    .ok();
    assert!(
        out.stdout.contains("created ministry \"MFA of Ruritania\"")
            && out.stdout.contains("(roster version 1)"),
        "{}",
        out.stdout
    );
    let r = roster(&dir);
    assert_eq!(
        r["missions"],
        serde_json::json!([{"id": "hq", "name": "Headquarters, Strelsau", "country": "RUR", "kind": "MINISTRY"}])
    );
}

// ---------------------------------------------------------------- 2. mistakes change nothing

#[test]
fn mission_add_mistakes_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let add = |id: &str, country: &str| {
        admin(
            &dir,
            &[
                "mission",
                "add",
                "--id",
                id,
                "--name",
                "Embassy",
                "--country",
                country,
            ],
        )
    };
    unchanged(&dir, || {
        add("emb-tokyo", "JP").fails(&["emb-tokyo", "already exists"])
    });
    unchanged(&dir, || {
        add("Emb_Tokyo", "JP").fails(&["bad mission id", "Emb_Tokyo"])
    });
    unchanged(&dir, || add("emb-x", "12").fails(&["--country", "12"]));
    unchanged(&dir, || add("emb-x", "J").fails(&["--country"]));
    // After all that, the next change is exactly the next version.
    let ok = admin_json(
        &dir,
        &[
            "mission",
            "add",
            "--id",
            "emb-x",
            "--name",
            "X",
            "--country",
            "FR",
        ],
    )
    .ok()
    .json();
    assert_eq!(u64_of(&ok, "roster_version"), 5);
}

#[test]
fn node_add_mistakes_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &["node", "add", "--id", "paris-1", "--mission", "emb-paris"],
        )
        .fails(&["unknown mission", "emb-paris"])
    });
    // A duplicate id, even with --force (which only concerns files).
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &["node", "add", "--id", "hub", "--mission", "mfa", "--force"],
        )
        .fails(&["node \"hub\" already exists"])
    });
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &["node", "add", "--id", "Tokyo_1", "--mission", "emb-tokyo"],
        )
        .fails(&["bad node id", "Tokyo_1"])
    });
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                "tokyo-1",
                "--mission",
                "emb-tokyo",
                "--peer",
                "ghost",
            ],
        )
        .fails(&["--peer ghost", "no such node"])
    });
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                "tokyo-1",
                "--mission",
                "emb-tokyo",
                "--endpoint",
                "tokyo.example",
            ],
        )
        .fails(&["--endpoint", "host:port"])
    });
}

#[test]
fn user_add_mistakes_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let user = |extra: &[&str]| {
        let mut a = vec!["user", "add", "--id", "bobur", "--name", "Bobur"];
        a.extend_from_slice(extra);
        admin(&dir, &a)
    };
    unchanged(tmp.path(), || {
        user(&["--mission", "emb-nowhere"]).fails(&["unknown mission", "emb-nowhere"])
    });
    unchanged(tmp.path(), || {
        user(&["--mission", "mfa", "--roles", "reader,king"])
            .fails_with(2, &["invalid value 'king'", "--roles"])
    });
    unchanged(tmp.path(), || {
        user(&["--mission", "mfa", "--node", "ghost"]).fails(&["--node ghost", "no such node"])
    });
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &[
                "user",
                "add",
                "--id",
                "amina",
                "--name",
                "Amina",
                "--mission",
                "mfa",
            ],
        )
        .fails(&["amina", "already exists"])
    });
    unchanged(tmp.path(), || {
        user(&["--mission", "mfa", "--captions", "no dis"]).fails(&["--captions"])
    });
}

#[test]
fn revoke_mistakes_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    unchanged(&dir, || {
        admin(&dir, &["revoke", "user", "ghost", "--reason", "left"])
            .fails(&["no user ghost in the roster"])
    });
    unchanged(&dir, || {
        admin(&dir, &["revoke", "node", "ghost", "--reason", "gone"])
            .fails(&["no node ghost in the roster"])
    });
    unchanged(&dir, || {
        admin(&dir, &["revoke", "cert", "abc", "--reason", "lost"])
            .fails(&["serial \"abc\" is not a number"])
    });
    unchanged(&dir, || {
        admin(&dir, &["revoke", "cert", "999", "--reason", "lost"])
            .fails(&["no certificate with serial 999"])
    });
    for reason in ["", "   "] {
        unchanged(&dir, || {
            admin(&dir, &["revoke", "user", "amina", "--reason", reason])
                .fails(&["--reason must say why"])
        });
    }
    unchanged(&dir, || {
        admin(&dir, &["revoke", "user", "amina"]).fails_with(2, &["--reason"])
    });
    // Revoking twice: the second is refused and changes nothing.
    admin(&dir, &["revoke", "user", "amina", "--reason", "left"]).ok();
    unchanged(&dir, || {
        admin(&dir, &["revoke", "user", "amina", "--reason", "again"]).fails(&["amina"])
    });
}

#[test]
fn init_mistakes_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    init(&other);
    let init_args = |target: &Path, extra: &[&str]| {
        let mut a = vec!["init", "--name", "Second", "--country", "UZ"];
        a.extend_from_slice(extra);
        admin(target, &a)
    };

    unchanged(tmp.path(), || {
        init_args(&dir, &[]).fails(&["already holds a ministry", "--force"])
    });

    let fresh = tmp.path().join("fresh");
    let p = |n: &str| tmp.path().join(n).display().to_string();
    unchanged(tmp.path(), || {
        init_args(
            &fresh,
            &[
                "--ca-cert",
                &p("missing.crt"),
                "--ca-key",
                &p("other/ca.key"),
            ],
        )
        .fails(&["cannot read CA certificate", "missing.crt"])
    });
    fs::write(
        tmp.path().join("bad.crt"),
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    unchanged(tmp.path(), || {
        init_args(
            &fresh,
            &["--ca-cert", &p("bad.crt"), "--ca-key", &p("other/ca.key")],
        )
        .fails(&["cannot import the CA", "bad.crt", "PEM"])
    });
    // A real CA with the key of another CA.
    unchanged(tmp.path(), || {
        init_args(
            &fresh,
            &["--ca-cert", &p("m/ca.crt"), "--ca-key", &p("other/ca.key")],
        )
        .fails(&["cannot import the CA", "does not match"])
    });
    // --ca-cert without --ca-key is a usage error.
    unchanged(tmp.path(), || {
        init_args(&fresh, &["--ca-cert", &p("m/ca.crt")]).fails_with(2, &["--ca-key"])
    });
    assert!(!fresh.exists());
}

#[test]
fn commands_on_a_directory_that_is_not_a_ministry() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let absent = tmp.path().join("absent");
    let cmds: [&[&str]; 6] = [
        &[
            "mission",
            "add",
            "--id",
            "emb-x",
            "--name",
            "X",
            "--country",
            "FR",
        ],
        &["node", "add", "--id", "n1", "--mission", "mfa"],
        &[
            "user",
            "add",
            "--id",
            "u1",
            "--name",
            "U",
            "--mission",
            "mfa",
        ],
        &["revoke", "user", "u1", "--reason", "x"],
        &["crl", "renew"],
        &["roster", "show"],
    ];
    for d in [&empty, &absent] {
        let ds = d.display().to_string();
        for c in cmds {
            unchanged(tmp.path(), || {
                admin(d, c).fails(&[
                    &format!("{ds} is not a ministry directory"),
                    "ministry.toml",
                    &format!("chapar admin init --dir {ds}"),
                ])
            });
        }
    }
    assert!(!absent.exists());
    // With --json the error is a JSON object on stdout.
    let out = admin_json(&empty, &["roster", "show"]).fails_with(1, &[]);
    let err = out.json();
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|e| e.contains("is not a ministry directory")),
        "{err}"
    );
}

#[test]
fn node_add_into_an_existing_bundle_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let out = tmp.path().join("bundle");
    let outs = out.display().to_string();
    let first = admin_json(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--out",
            &outs,
        ],
    )
    .ok()
    .json();
    assert_eq!(first["bundle"], outs.as_str());
    unchanged(tmp.path(), || {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                "tokyo-2",
                "--mission",
                "emb-tokyo",
                "--out",
                &outs,
            ],
        )
        .fails(&[
            "refusing to overwrite",
            &out.join("node.toml").display().to_string(),
            "--force",
        ])
    });
    let second = admin_json(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-2",
            "--mission",
            "emb-tokyo",
            "--out",
            &outs,
            "--force",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        u64_of(&second, "roster_version"),
        u64_of(&first, "roster_version") + 1
    );
    let cfg = NodeConfig::load(&out.join("node.toml")).expect("node.toml");
    assert_eq!(cfg.node_id, "tokyo-2");
    let id = cert_identity(&out.join("node.crt"));
    assert_eq!(id.identity.uri(), "urn:chapar:node:tokyo-2");
    assert_eq!(id.serial, serials(&second)[0]);
    assert_eq!(mode(&out.join("node.key")), 0o600);
}

// ---------------------------------------------------------------- 3. JSON outcomes

#[test]
fn json_outcomes_count_versions_and_serials() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    let steps: Vec<Vec<&str>> = vec![
        vec![
            "mission",
            "add",
            "--id",
            "emb-tokyo",
            "--name",
            "Embassy in Tokyo",
            "--country",
            "JP",
            "--kind",
            "embassy",
        ],
        vec![
            "node",
            "add",
            "--id",
            "hub",
            "--mission",
            "mfa",
            "--role",
            "hub",
            "--endpoint",
            "127.0.0.1:7400",
        ],
        vec![
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--endpoint",
            "tokyo.example:7401",
        ],
        vec![
            "user",
            "add",
            "--id",
            "amina",
            "--name",
            "Amina",
            "--mission",
            "mfa",
            "--roles",
            "reader,releaser",
            "--captions",
            "nodis",
        ],
        vec![
            "user",
            "add",
            "--id",
            "kenji",
            "--name",
            "Kenji",
            "--mission",
            "emb-tokyo",
        ],
        vec!["revoke", "cert", "2", "--reason", "reissued"],
        vec!["crl", "renew", "--days", "7"],
        vec!["revoke", "user", "amina", "--reason", "left the service"],
        vec!["revoke", "node", "hub", "--reason", "decommissioned"],
    ];
    let mut version = u64_of(&init(&dir), "roster_version");
    assert_eq!(version, 1);
    let mut issued: Vec<u64> = Vec::new();
    let mut revoked: Vec<u64> = Vec::new();
    for s in &steps {
        let out = admin_json(&dir, s).ok().json();
        let v = u64_of(&out, "roster_version");
        assert_eq!(v, version + 1, "{s:?} -> {out}");
        version = v;
        assert!(out["message"].is_string(), "{out}");
        match s[0] {
            "node" | "user" => {
                let got = serials(&out);
                assert_eq!(got.len(), 1, "{out}");
                issued.extend(got);
                assert!(out["bundle"].is_string(), "{out}");
            }
            "revoke" => revoked.extend(serials(&out)),
            _ => assert!(out["serials"].as_array().is_none_or(Vec::is_empty)),
        }
    }
    assert!(
        issued.windows(2).all(|w| w[0] < w[1]),
        "serials not increasing: {issued:?}"
    );
    assert_eq!(issued, vec![1, 2, 3, 4]);
    // cert 2 (tokyo-1), then amina's (3), then the hub's (1).
    assert_eq!(revoked, vec![2, 3, 1]);

    let r = roster(&dir);
    assert_eq!(u64_of(&r, "version"), version);
    assert_eq!(
        entry(&r["people"], "amina")["roles"],
        serde_json::json!(["reader", "releaser"])
    );
    assert_eq!(
        entry(&r["people"], "amina")["captions"],
        serde_json::json!(["NODIS"])
    );
    let crl = crl(&dir.join("crl.pem"));
    let mut listed: Vec<u64> = crl.revoked.iter().map(|c| c.serial).collect();
    listed.sort();
    assert_eq!(listed, vec![1, 2, 3]);
    assert_eq!(crl.crl_number, Some(version));
    let days = (crl.next_update.expect("next update") - crl.this_update).whole_days();
    assert_eq!(days, 7, "crl renew --days 7 is kept for later CRLs");

    // Every version is kept and verifies against the root key.
    let root = dir.join("root.pub").display().to_string();
    for v in 1..=version {
        let f = dir.join(format!("rosters/{v:06}.chpr"));
        let shown = run(&[
            "--json",
            "admin",
            "roster",
            "show",
            "--file",
            &f.display().to_string(),
            "--root",
            &root,
        ])
        .ok()
        .json();
        assert_eq!(u64_of(&shown, "version"), v);
    }

    // Text outcome of a change.
    let text = admin(&dir, &["crl", "renew"]).ok();
    assert!(
        text.stdout
            .contains(&format!("(roster version {})", version + 1)),
        "{}",
        text.stdout
    );
}

// ---------------------------------------------------------------- 4. bundles

/// Checks the files every bundle carries against the ministry as it was when the bundle
/// was written (`version`).
fn check_common_bundle_files(dir: &Path, bundle: &Path, version: u64) {
    for f in ["ca.crt", "root.pub", "crl.pem"] {
        assert_eq!(
            fs::read(bundle.join(f)).unwrap(),
            fs::read(dir.join(f)).unwrap(),
            "{f} of {} differs from the ministry's",
            bundle.display()
        );
    }
    assert_eq!(
        fs::read(bundle.join("roster.chpr")).unwrap(),
        fs::read(dir.join(format!("rosters/{version:06}.chpr"))).unwrap()
    );
    let shown = run(&[
        "--json",
        "admin",
        "roster",
        "show",
        "--file",
        &bundle.join("roster.chpr").display().to_string(),
    ])
    .ok()
    .json();
    assert_eq!(u64_of(&shown, "version"), version);
}

#[test]
fn node_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let hub_bundle = dir.join("nodes/hub");
    let tokyo = admin_json(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--endpoint",
            "tokyo.example:7401",
            "--accreditation",
            "secret",
            "--days",
            "30",
        ],
    )
    .ok()
    .json();
    let bundle = dir.join("nodes/tokyo-1");
    assert_eq!(tokyo["bundle"], bundle.display().to_string());
    for f in [
        "node.toml",
        "node.crt",
        "node.key",
        "node-sign.key",
        "ca.crt",
        "root.pub",
        "roster.chpr",
        "crl.pem",
    ] {
        assert!(bundle.join(f).is_file(), "{f} missing");
        assert!(hub_bundle.join(f).is_file(), "hub {f} missing");
    }
    for b in [&bundle, &hub_bundle] {
        assert_eq!(mode(&b.join("node.key")), 0o600);
        assert_eq!(mode(&b.join("node-sign.key")), 0o600);
    }
    check_common_bundle_files(&dir, &bundle, u64_of(&tokyo, "roster_version"));

    let cfg = NodeConfig::load(&bundle.join("node.toml")).expect("node.toml loads");
    assert_eq!(cfg.node_id, "tokyo-1");
    assert_eq!(cfg.mission, "emb-tokyo");
    assert_eq!(cfg.listen, "0.0.0.0:7401".parse().unwrap());
    assert_eq!(
        cfg.peers,
        vec![Peer {
            id: "hub".into(),
            address: "127.0.0.1:7400".into()
        }],
        "a mission node peers with the hub by default"
    );
    assert_eq!(cfg.tls.cert, bundle.join("node.crt"));
    assert_eq!(cfg.tls.key, bundle.join("node.key"));
    assert_eq!(cfg.tls.ca, bundle.join("ca.crt"));
    assert_eq!(cfg.tls.crl, bundle.join("crl.pem"));
    assert_eq!(cfg.trust.signing_key, bundle.join("node-sign.key"));
    assert_eq!(cfg.trust.root_key, bundle.join("root.pub"));
    assert_eq!(cfg.trust.roster, bundle.join("roster.chpr"));

    let hub = NodeConfig::load(&hub_bundle.join("node.toml")).expect("hub node.toml");
    assert_eq!(hub.node_id, "hub");
    assert_eq!(hub.listen, "127.0.0.1:7400".parse().unwrap());
    assert!(
        hub.peers.is_empty(),
        "the hub has no other hub to peer with"
    );

    let id = cert_identity(&bundle.join("node.crt"));
    assert_eq!(id.identity.uri(), "urn:chapar:node:tokyo-1");
    assert_eq!(id.serial, serials(&tokyo)[0]);
    let left = id.not_after - time::OffsetDateTime::now_utc();
    assert!(
        (29..=30).contains(&left.whole_days()),
        "--days 30 gave {left}"
    );
    assert_eq!(
        cert_identity(&hub_bundle.join("node.crt")).identity.uri(),
        "urn:chapar:node:hub"
    );

    // The signing key is the one the roster lists, and the roster entry is right.
    let r = roster(&dir);
    let n = entry(&r["nodes"], "tokyo-1");
    let sk = signing_key_from_pem(&fs::read_to_string(bundle.join("node-sign.key")).unwrap())
        .expect("node-sign.key");
    assert_eq!(n["signing_key"], hex::encode(sk.verifying_key().to_bytes()));
    assert_eq!(n["mission"], "emb-tokyo");
    assert_eq!(n["role"], "MISSION");
    assert_eq!(n["accreditation"], "SECRET");
    assert_eq!(n["endpoint"], "tokyo.example:7401");
    assert_eq!(n["certificate_uri"], "urn:chapar:node:tokyo-1");
    assert_eq!(entry(&r["nodes"], "hub")["role"], "HUB");

    // The key matches the certificate: a TLS server can be built from the bundle.
    let m = chapar_certs::TlsMaterials::from_files(
        &cfg.tls.ca,
        &cfg.tls.cert,
        &cfg.tls.key,
        &[&cfg.tls.crl],
    )
    .expect("bundle TLS files");
    chapar_certs::server_config(&m, &[chapar_certs::ALPN]).expect("server config from bundle");
}

#[test]
fn user_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    admin(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--endpoint",
            "tokyo.example:7401",
        ],
    )
    .ok();
    let out = admin_json(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "kenji",
            "--name",
            "Kenji Sato",
            "--mission",
            "emb-tokyo",
            "--clearance",
            "confidential",
            "--roles",
            "reader,drafter",
        ],
    )
    .ok()
    .json();
    let bundle = dir.join("users/kenji");
    assert_eq!(out["bundle"], bundle.display().to_string());
    for f in [
        "user.toml",
        "user.crt",
        "user.key",
        "user-sign.key",
        "ca.crt",
        "root.pub",
        "roster.chpr",
        "crl.pem",
    ] {
        assert!(bundle.join(f).is_file(), "{f} missing");
    }
    assert_eq!(mode(&bundle.join("user.key")), 0o600);
    assert_eq!(mode(&bundle.join("user-sign.key")), 0o600);
    check_common_bundle_files(&dir, &bundle, u64_of(&out, "roster_version"));

    let cfg: toml::Table = toml::from_str(&fs::read_to_string(bundle.join("user.toml")).unwrap())
        .expect("user.toml is TOML");
    let s = |k: &str| cfg[k].as_str().unwrap_or_else(|| panic!("{k} in {cfg}"));
    assert_eq!(s("user_id"), "kenji");
    assert_eq!(s("mission"), "emb-tokyo");
    assert_eq!(
        (s("node_id"), s("node_address")),
        ("tokyo-1", "tokyo.example:7401"),
        "default node: the mission's own"
    );
    for (k, f) in [
        ("ca", "ca.crt"),
        ("cert", "user.crt"),
        ("key", "user.key"),
        ("crl", "crl.pem"),
        ("signing_key", "user-sign.key"),
        ("root_key", "root.pub"),
    ] {
        assert_eq!(s(k), f);
    }
    // amina, at the ministry which has no mission node, talks to the hub.
    let amina: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("users/amina/user.toml")).unwrap()).unwrap();
    assert_eq!(amina["node_id"].as_str(), Some("hub"));
    assert_eq!(amina["node_address"].as_str(), Some("127.0.0.1:7400"));

    let id = cert_identity(&bundle.join("user.crt"));
    assert_eq!(id.identity.uri(), "urn:chapar:user:kenji");
    assert_eq!(id.serial, serials(&out)[0]);

    let r = roster(&dir);
    let p = entry(&r["people"], "kenji");
    let sk = signing_key_from_pem(&fs::read_to_string(bundle.join("user-sign.key")).unwrap())
        .expect("user-sign.key");
    assert_eq!(p["signing_key"], hex::encode(sk.verifying_key().to_bytes()));
    assert_eq!(p["name"], "Kenji Sato");
    assert_eq!(p["clearance"], "CONFIDENTIAL");
    assert_eq!(p["roles"], serde_json::json!(["reader", "drafter"]));
    assert_eq!(p["certificate_uri"], "urn:chapar:user:kenji");

    // The key matches the certificate: a client config builds; a user cannot serve.
    let m = chapar_certs::TlsMaterials::from_files(
        &bundle.join("ca.crt"),
        &bundle.join("user.crt"),
        &bundle.join("user.key"),
        &[&bundle.join("crl.pem")],
    )
    .expect("bundle TLS files");
    chapar_certs::client_config(&m, &[chapar_certs::ALPN]).expect("client config from bundle");
    assert!(chapar_certs::server_config(&m, &[chapar_certs::ALPN]).is_err());
}

/// files.rs promises "mode 0700 for directories holding secrets"; a bundle directory
/// holds node.key / user.key.
#[test]
fn bundle_directories_holding_keys_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    for b in ["nodes/hub", "users/amina"] {
        let m = mode(&dir.join(b));
        assert_eq!(
            m & 0o077,
            0,
            "{b} holds private keys but has mode {m:o}, not 0700"
        );
    }
}

// ---------------------------------------------------------------- 5. roster show --file

#[test]
fn roster_show_file_checks_the_root_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let other = tmp.path().join("other");
    init(&other);
    let file = dir.join("users/amina/roster.chpr");
    let files = file.display().to_string();

    let shown = run(&["--json", "admin", "roster", "show", "--file", &files])
        .ok()
        .json();
    assert_eq!(shown["ministry"], "Test MFA");
    assert_eq!(u64_of(&shown, "version"), 4);
    assert_eq!(entry(&shown["people"], "amina")["mission"], "mfa");
    let text = run(&["admin", "roster", "show", "--file", &files]).ok();
    assert!(
        text.stdout.contains("Test MFA — roster version 4") && text.stdout.contains("amina"),
        "{}",
        text.stdout
    );
    // --file works whatever --dir says (here: not a ministry).
    run(&[
        "admin",
        "--dir",
        &tmp.path().join("nowhere").display().to_string(),
        "roster",
        "show",
        "--file",
        &files,
    ])
    .ok();

    let foreign = other.join("root.pub").display().to_string();
    run(&[
        "admin", "roster", "show", "--file", &files, "--root", &foreign,
    ])
    .fails(&[
        &format!("{files} is not a roster signed by the root key in {foreign}"),
        "forged",
    ]);

    // A corrupted copy, with the right root.pub beside it.
    let copy = tmp.path().join("copy");
    fs::create_dir(&copy).unwrap();
    fs::copy(dir.join("root.pub"), copy.join("root.pub")).unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(copy.join("roster.chpr"), &bytes).unwrap();
    let bad = copy.join("roster.chpr").display().to_string();
    run(&["admin", "roster", "show", "--file", &bad]).fails(&[&bad]);
    // Truncated.
    fs::write(copy.join("roster.chpr"), &bytes[..10]).unwrap();
    run(&["admin", "roster", "show", "--file", &bad]).fails(&[&bad]);

    // No root.pub beside the file, and no --root.
    let lonely = tmp.path().join("lonely.chpr");
    fs::copy(&file, &lonely).unwrap();
    run(&[
        "admin",
        "roster",
        "show",
        "--file",
        &lonely.display().to_string(),
    ])
    .fails(&[
        "cannot read root public key",
        &tmp.path().join("root.pub").display().to_string(),
    ]);
    // --root without --file is a usage error.
    admin(&dir, &["roster", "show", "--root", &foreign]).fails_with(2, &["--file"]);
}

// ---------------------------------------------------------------- 6. revocation

#[test]
fn revoking_a_user_reaches_the_roster_and_the_crl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let amina_serial = cert_identity(&dir.join("users/amina/user.crt")).serial;
    let hub_serial = cert_identity(&dir.join("nodes/hub/node.crt")).serial;
    let crl_before = crl(&dir.join("crl.pem"));
    assert!(!crl_before.is_revoked(amina_serial));

    let t0 = now_ms();
    let out = admin_json(&dir, &["revoke", "user", "amina", "--reason", "left"])
        .ok()
        .json();
    let t1 = now_ms();
    assert_eq!(serials(&out), vec![amina_serial]);
    let r = roster(&dir);
    let revs = r["revocations"].as_array().expect("revocations");
    assert_eq!(revs.len(), 1, "{r}");
    assert_eq!(revs[0]["subject"], "person amina");
    assert_eq!(revs[0]["reason"], "left");
    let eff = u64_of(&revs[0], "effective_ms");
    assert!(
        (t0..=t1).contains(&eff),
        "effective_ms {eff} not in [{t0}, {t1}]"
    );
    // The person stays listed (their past signatures remain checkable).
    entry(&r["people"], "amina");

    let crl_after = crl(&dir.join("crl.pem"));
    assert!(crl_after.is_revoked(amina_serial), "{crl_after:?}");
    assert!(!crl_after.is_revoked(hub_serial));
    assert_eq!(
        crl_after.crl_number,
        crl_before.crl_number.map(|n| n + 1),
        "a fresh CRL number"
    );
    assert_eq!(r["crl"]["number"], crl_after.crl_number.unwrap());
    let state = fs::read_to_string(dir.join("ministry.toml")).unwrap();
    assert!(state.contains("revoked_at"), "{state}");

    // Compromised: effective from the beginning of time.
    let out = admin_json(
        &dir,
        &[
            "revoke",
            "node",
            "hub",
            "--reason",
            "server seized",
            "--compromised",
        ],
    )
    .ok()
    .json();
    assert_eq!(serials(&out), vec![hub_serial]);
    let r = roster(&dir);
    let hub_rev = r["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["subject"] == "node hub")
        .unwrap_or_else(|| panic!("no hub revocation in {r}"));
    assert_eq!(hub_rev["effective_ms"], 0);
    assert_eq!(hub_rev["reason"], "server seized");
    assert!(crl(&dir.join("crl.pem")).is_revoked(hub_serial));
    assert!(crl(&dir.join("crl.pem")).is_revoked(amina_serial));
    let text = admin(&dir, &["roster", "show"]).ok();
    assert!(
        text.stdout.contains("always (compromised)"),
        "{}",
        text.stdout
    );
}

// ---------------------------------------------------------------- 7. openssl CA

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl(cwd: &Path, args: &[&str]) -> std::process::Output {
    assert!(
        Path::new(OPENSSL).exists(),
        "{OPENSSL} not found: install openssl; this test must not be skipped"
    );
    Command::new(OPENSSL)
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("spawn openssl")
}

#[test]
fn imports_a_ca_made_by_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let o = openssl(
        t,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ossl-ca.key",
            "-out",
            "ossl-ca.crt",
            "-subj",
            "/CN=Test MFA CA/O=Test MFA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-days",
            "30",
        ],
    );
    assert!(
        o.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = t.join("m");
    let ca = t.join("ossl-ca.crt").display().to_string();
    let key = t.join("ossl-ca.key").display().to_string();
    let out = admin_json(
        &dir,
        &[
            "init",
            "--name",
            "Test MFA",
            "--country",
            "UZ",
            "--ca-cert",
            &ca,
            "--ca-key",
            &key,
        ],
    )
    .ok()
    .json();
    assert_eq!(u64_of(&out, "roster_version"), 1);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    // The same certificate, trusted by the roster.
    assert_eq!(
        hex_sha256_of_cert(&dir.join("ca.crt")),
        hex_sha256_of_cert(&t.join("ossl-ca.crt"))
    );
    assert_eq!(
        roster(&dir)["ca_fingerprints"],
        serde_json::json!([hex_sha256_of_cert(&t.join("ossl-ca.crt"))])
    );

    // The default 365-day certificate would outlive the 30-day CA: refused, nothing written.
    unchanged(t, || {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                "hub",
                "--mission",
                "mfa",
                "--role",
                "hub",
                "--endpoint",
                "127.0.0.1:7400",
            ],
        )
        .fails(&["cannot issue a certificate for node hub", "CA's not_after"])
    });
    let node = admin_json(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "hub",
            "--mission",
            "mfa",
            "--role",
            "hub",
            "--endpoint",
            "127.0.0.1:7400",
            "--days",
            "20",
        ],
    )
    .ok()
    .json();
    assert_eq!(u64_of(&node, "roster_version"), 2);
    admin(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "amina",
            "--name",
            "Amina",
            "--mission",
            "mfa",
            "--days",
            "20",
        ],
    )
    .ok();
    for cert in ["nodes/hub/node.crt", "users/amina/user.crt"] {
        let v = openssl(
            &dir,
            &[
                "verify",
                "-CAfile",
                "ca.crt",
                "-crl_check",
                "-CRLfile",
                "crl.pem",
                cert,
            ],
        );
        let so = String::from_utf8_lossy(&v.stdout);
        assert!(
            v.status.success() && so.contains(&format!("{cert}: OK")),
            "openssl verify {cert}: {so} {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    // And after revocation openssl sees it in the CRL too.
    admin(&dir, &["revoke", "user", "amina", "--reason", "test"]).ok();
    let v = openssl(
        &dir,
        &[
            "verify",
            "-CAfile",
            "ca.crt",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "users/amina/user.crt",
        ],
    );
    assert!(!v.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(all.contains("revoked"), "{all}");
}

// ---------------------------------------------------------------- init --force

/// `init --force` replaces a ministry ("this discards its root key and CA"). The new
/// ministry must then be usable; stale history from the discarded one must not block it.
#[test]
fn init_force_leaves_a_usable_ministry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    populated(&dir, "127.0.0.1:7400");
    let old_root = fs::read(dir.join("root.pub")).unwrap();
    let out = admin_json(
        &dir,
        &["init", "--name", "New MFA", "--country", "UZ", "--force"],
    )
    .ok()
    .json();
    assert_eq!(u64_of(&out, "roster_version"), 1);
    assert_ne!(fs::read(dir.join("root.pub")).unwrap(), old_root);
    let r = roster(&dir);
    assert_eq!(r["ministry"], "New MFA");
    assert_eq!(u64_of(&r, "version"), 1);
    let next = admin_json(
        &dir,
        &[
            "mission",
            "add",
            "--id",
            "emb-paris",
            "--name",
            "Paris",
            "--country",
            "FR",
        ],
    )
    .ok()
    .json();
    assert_eq!(u64_of(&next, "roster_version"), 2);
    // The history copy of version 2 is the new ministry's.
    assert_eq!(
        fs::read(dir.join("rosters/000002.chpr")).unwrap(),
        fs::read(dir.join("roster.chpr")).unwrap()
    );
}

// ---------------------------------------------------------------- revoked nodes

/// A revoked node must not be handed out to new bundles: not as a new user's default
/// node, not as a new node's default peer (their certificates are in the CRL, so the
/// connection would be refused anyway, and a compromised node must not be trusted).
#[test]
fn revoked_nodes_are_not_chosen_for_new_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    init(&dir);
    admin(
        &dir,
        &[
            "mission",
            "add",
            "--id",
            "emb-a",
            "--name",
            "A",
            "--country",
            "FR",
        ],
    )
    .ok();
    for (id, ep) in [("hub-a", "127.0.0.1:7400"), ("hub-b", "127.0.0.1:7401")] {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                id,
                "--mission",
                "mfa",
                "--role",
                "hub",
                "--endpoint",
                ep,
            ],
        )
        .ok();
    }
    admin(
        &dir,
        &[
            "revoke",
            "node",
            "hub-a",
            "--reason",
            "seized",
            "--compromised",
        ],
    )
    .ok();
    admin(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "u1",
            "--name",
            "U",
            "--mission",
            "mfa",
        ],
    )
    .ok();
    let u: toml::Table =
        toml::from_str(&fs::read_to_string(dir.join("users/u1/user.toml")).unwrap()).unwrap();
    assert_eq!(
        (u["node_id"].as_str(), u["node_address"].as_str()),
        (Some("hub-b"), Some("127.0.0.1:7401")),
        "new user sent to a revoked node"
    );
    admin(&dir, &["node", "add", "--id", "a-1", "--mission", "emb-a"]).ok();
    let cfg = NodeConfig::load(&dir.join("nodes/a-1/node.toml")).unwrap();
    assert_eq!(
        cfg.peers,
        vec![Peer {
            id: "hub-b".into(),
            address: "127.0.0.1:7401".into()
        }],
        "new node told to peer with a revoked hub"
    );
}
