//! Key hygiene (issue 13, point 7) with the real `chapar` binary and a real
//! node (in this process, loopback subnet 74): keys others can read are
//! refused with the fix; key files are never written through a symlink; a
//! node can be provisioned, and renewed, from its own certificate request
//! without its private keys ever reaching the ministry; certificates are
//! renewed with the old one kept or revoked.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use chapar_certs::{Identity, KeyAlgorithm};
use chapar_node::config::NodeConfig;
use common::*;

const HUB: &str = "127.74.0.1:7400";

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_and_clients_refuse_keys_others_can_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    populated(&dir, HUB);
    let hub_toml = dir.join("nodes/hub/node.toml");
    let cfg = NodeConfig::load(&hub_toml).unwrap();

    for (key, mode) in [(&cfg.tls.key, 0o644), (&cfg.trust.signing_key, 0o640)] {
        chmod(key, mode);
        let err = match chapar_node::start(cfg.clone()).await {
            Ok(_) => panic!("the node started with {} at {mode:o}", key.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(&format!("chmod 600 {}", key.display()))
                && err.contains(&format!("{mode:04o}")),
            "{err}"
        );
        chmod(key, 0o600);
    }
    // Nothing was opened or created on the refused starts.
    assert!(!cfg.data_dir.exists(), "the refused node touched its data");
    let node = chapar_node::start(cfg.clone())
        .await
        .expect("starts at 0600");
    node.stop().await;

    // A person's client likewise, before any network: the TLS key when it
    // connects, the signing key when it signs (here offline, to a file).
    let amina = dir.join("users/amina");
    let page = tmp.path().join("page.chpr");
    let b = s(&amina);
    let status = ["--bundle", b, "--timeout", "1", "status"];
    let sign = [
        "--bundle",
        b,
        "wiki",
        "edit",
        "--title",
        "T",
        "--body",
        "B",
        "--out",
        s(&page),
    ];
    for (key, command) in [("user.key", &status[..]), ("user-sign.key", &sign[..])] {
        chmod(&amina.join(key), 0o604);
        let fix = format!("chmod 600 {}", amina.join(key).display());
        let out = run(command).fails(&[fix.as_str()]);
        assert!(!out.stderr.contains("no answer"), "{}", out.stderr);
        chmod(&amina.join(key), 0o600);
    }
    assert!(!page.exists());
    run(&sign).ok();
    assert!(page.exists());
}

#[test]
fn key_files_are_never_written_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    populated(&dir, HUB);
    // Someone plants symlinks where the next bundle's keys will go.
    let bundle = dir.join("users/zoe");
    std::fs::create_dir_all(&bundle).unwrap();
    let elsewhere = tmp.path().join("attacker-reads-this");
    std::os::unix::fs::symlink(&elsewhere, bundle.join("user.key")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, bundle.join("user-sign.key")).unwrap();
    admin(
        &dir,
        &[
            "user",
            "add",
            "--id",
            "zoe",
            "--name",
            "Zoe",
            "--mission",
            "mfa",
        ],
    )
    .ok();
    assert!(!elsewhere.exists(), "a key was written through the symlink");
    for key in ["user.key", "user-sign.key"] {
        let meta = std::fs::symlink_metadata(bundle.join(key)).unwrap();
        assert!(meta.file_type().is_file(), "{key} is not a plain file");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{key}");
    }
    // No temporary file is left behind anywhere.
    let leftovers: Vec<_> = snapshot(&dir)
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The old writer named its temporary file `.<name>.tmp-<pid>` and opened
/// it create+truncate, following a symlink planted there: a local user could
/// have the key written wherever they liked. Temporary names are now
/// unpredictable and created `create_new` with O_NOFOLLOW.
#[test]
fn a_symlink_at_the_temporary_name_catches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("user.key");
    let elsewhere = tmp.path().join("attacker-reads-this");
    for name in [
        format!(".user.key.tmp-{}", std::process::id()),
        ".user.key.tmp".to_owned(),
    ] {
        std::os::unix::fs::symlink(&elsewhere, tmp.path().join(name)).unwrap();
    }
    chapar_client::files::write_atomic(&target, b"SECRET KEY", true).unwrap();
    assert!(
        !elsewhere.exists(),
        "the key went through the planted symlink"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"SECRET KEY");
    assert_eq!(mode(&target), 0o600);
}

/// A node's keys made on the node (as `chapar-node keygen` does) and what
/// it sends the ministry: the request and the public signing key.
fn node_site(dir: &Path, id: &str) -> (Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let key = chapar_certs::new_private_key(KeyAlgorithm::EcdsaP256).unwrap();
    let csr =
        chapar_certs::certificate_request(&Identity::node(id).unwrap(), &key, "node.key").unwrap();
    std::fs::write(dir.join("node.key"), key.as_bytes()).unwrap();
    std::fs::write(dir.join("node.csr"), &csr).unwrap();
    let sk = chapar_proto::keys::signing_key_from_seed([7; 32]);
    let public = chapar_proto::keys::public_key_to_pem(&chapar_proto::PublicKey(
        sk.verifying_key().to_bytes(),
    ))
    .unwrap();
    std::fs::write(dir.join("node-sign.pub"), &public).unwrap();
    (
        key.as_bytes().to_vec(),
        sk.verifying_key().to_bytes().to_vec(),
    )
}

#[test]
fn nodes_are_provisioned_and_renewed_from_their_own_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    populated(&dir, HUB);
    let site = tmp.path().join("tokyo-site");
    let (_key, signing_public) = node_site(&site, "tokyo-1");
    let csr = site.join("node.csr");
    let public = site.join("node-sign.pub");

    // A request made for another node is refused, and nothing changes.
    let other = tmp.path().join("paris-site");
    node_site(&other, "paris-1");
    unchanged(&dir, || {
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
                "127.74.0.2:7400",
                "--csr",
                s(&other.join("node.csr")),
                "--signing-key",
                s(&public),
            ],
        )
        .fails(&["urn:chapar:node:paris-1", "node.csr"])
    });
    // So is a private key given as the public signing key.
    unchanged(&dir, || {
        admin(
            &dir,
            &[
                "node",
                "add",
                "--id",
                "tokyo-1",
                "--mission",
                "emb-tokyo",
                "--csr",
                s(&csr),
                "--signing-key",
                s(&site.join("node.key")),
            ],
        )
        .fails(&["node-sign.pub"])
    });
    // --csr without --signing-key is a usage error.
    admin(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--csr",
            s(&csr),
        ],
    )
    .fails_with(2, &["--signing-key"]);

    let out = admin_json(
        &dir,
        &[
            "node",
            "add",
            "--id",
            "tokyo-1",
            "--mission",
            "emb-tokyo",
            "--endpoint",
            "127.74.0.2:7400",
            "--csr",
            s(&csr),
            "--signing-key",
            s(&public),
        ],
    )
    .ok()
    .json();
    assert!(
        out["message"]
            .as_str()
            .is_some_and(|m| m.contains("holds no private key")),
        "{out}"
    );
    let bundle = dir.join("nodes/tokyo-1");
    for secret in ["node.key", "node-sign.key"] {
        assert!(!bundle.join(secret).exists(), "the bundle holds {secret}");
    }
    let cert = cert_identity(&bundle.join("node.crt"));
    assert_eq!(cert.identity.uri(), "urn:chapar:node:tokyo-1");
    // The certificate is for the node's key; the roster lists its signing key.
    let leaf = chapar_certs::read_cert_pem(
        &std::fs::read_to_string(bundle.join("node.crt")).unwrap(),
        "crt",
    )
    .unwrap();
    let m = chapar_certs::TlsMaterials {
        ca_pem: std::fs::read_to_string(bundle.join("ca.crt")).unwrap(),
        cert_pem: chapar_certs::to_pem("CERTIFICATE", &leaf),
        key_pem: chapar_certs::read_secret(&site.join("node.key")).unwrap(),
        crl_pems: vec![std::fs::read_to_string(bundle.join("crl.pem")).unwrap()],
    };
    chapar_certs::server_config(&m, &[chapar_certs::ALPN]).expect("certificate matches the key");
    let roster = roster(&dir);
    let node = roster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "tokyo-1")
        .unwrap()
        .clone();
    assert_eq!(node["signing_key"], hex::encode(&signing_public), "{node}");

    // Renewal from a fresh request for the same key: still no key in the bundle.
    let out = admin_json(&dir, &["node", "renew", "tokyo-1", "--csr", s(&csr)])
        .ok()
        .json();
    let renewed = cert_identity(&bundle.join("node.crt"));
    assert_ne!(renewed.serial, cert.serial);
    assert_eq!(
        out["serials"],
        serde_json::json!([renewed.serial, cert.serial])
    );
    assert!(!bundle.join("node.key").exists());
}

#[test]
fn renewal_keeps_or_revokes_the_old_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ministry");
    populated(&dir, HUB);
    let hub = dir.join("nodes/hub");
    let amina = dir.join("users/amina");
    let hub_old = cert_identity(&hub.join("node.crt"));
    let hub_sign = std::fs::read(hub.join("node-sign.key")).unwrap();
    let hub_key = std::fs::read(hub.join("node.key")).unwrap();
    let v0 = u64_of(&roster(&dir), "version");

    // Kept: no new roster, the old serial not in the CRL.
    let out = admin_json(&dir, &["node", "renew", "hub", "--days", "90"])
        .ok()
        .json();
    let hub_new = cert_identity(&hub.join("node.crt"));
    assert_ne!(hub_new.serial, hub_old.serial);
    assert_eq!(hub_new.identity, hub_old.identity);
    assert!(
        (hub_new.not_after - time::OffsetDateTime::now_utc()).whole_days() >= 89,
        "{:?}",
        hub_new.not_after
    );
    assert_eq!(u64_of(&out, "roster_version"), v0);
    assert_ne!(std::fs::read(hub.join("node.key")).unwrap(), hub_key);
    assert_eq!(mode(&hub.join("node.key")), 0o600);
    assert_eq!(std::fs::read(hub.join("node-sign.key")).unwrap(), hub_sign);
    assert!(!crl(&dir.join("crl.pem")).is_revoked(hub_old.serial));
    assert!(
        out["message"]
            .as_str()
            .is_some_and(|m| m.contains("stay valid until they expire")),
        "{out}"
    );
    // The renewed certificate still names the endpoint.
    let (_, ips) = chapar_certs::cert_host_names(
        &chapar_certs::read_cert_pem(&std::fs::read_to_string(hub.join("node.crt")).unwrap(), "c")
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ips, vec!["127.74.0.1".parse::<std::net::IpAddr>().unwrap()]);

    // Revoked: a new roster and CRL list the old serial; the person is not
    // revoked, and their bundle carries the new roster.
    let old = cert_identity(&amina.join("user.crt"));
    let sign = std::fs::read(amina.join("user-sign.key")).unwrap();
    let out = admin_json(&dir, &["user", "renew", "amina", "--revoke-old"])
        .ok()
        .json();
    let new = cert_identity(&amina.join("user.crt"));
    assert_ne!(new.serial, old.serial);
    assert_eq!(u64_of(&out, "roster_version"), v0 + 1);
    assert!(crl(&dir.join("crl.pem")).is_revoked(old.serial));
    assert!(!crl(&dir.join("crl.pem")).is_revoked(new.serial));
    assert_eq!(crl(&amina.join("crl.pem")), crl(&dir.join("crl.pem")));
    assert_eq!(std::fs::read(amina.join("user-sign.key")).unwrap(), sign);
    let r = roster(&dir);
    let subjects: Vec<&str> = r["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["subject"].as_str())
        .collect();
    assert_eq!(
        subjects,
        vec![format!("certificate serial {}", old.serial)],
        "{r}"
    );

    // Mistakes change nothing.
    for (args, needle) in [
        (&["user", "renew", "nobody"][..], "no user nobody"),
        (&["node", "renew", "nowhere"][..], "no such node"),
    ] {
        unchanged(&dir, || admin(&dir, args).fails(&[needle]));
    }
    admin(&dir, &["revoke", "user", "amina", "--reason", "left"]).ok();
    unchanged(&dir, || {
        admin(&dir, &["user", "renew", "amina"]).fails(&["revoked"])
    });
}
