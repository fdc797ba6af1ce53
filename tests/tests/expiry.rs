//! Expiry never takes the ministry offline (issue 13, point 3; ADR 0014),
//! over real QUIC on loopback:
//!
//! - nodes whose CRLs (in every bundle and in the roster) have expired keep
//!   replicating, and take the renewed roster and CRL when it comes;
//! - a revoked node stays cut off all the same — by the signed roster while
//!   the CRL is stale, and by the fresh CRL once it arrives;
//! - a person's bundle takes the current roster and CRL from their node;
//! - certificates are renewed without a new identity;
//! - a node provisioned with `chapar-node keygen` never lets its keys out;
//! - nodes log and report what expires within 14 days.
//!
//! Loopback subnets 70–72 and 75.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chapar_certs::{Identity, parse_crl_pem, peer_identity, read_cert_pem};
use chapar_client::admin::ministry::Ministry as AdminDir;
use chapar_client::admin::{
    self, BundleArgs, NodeAddArgs, NodeKeys, NodeRenewArgs, RenewArgs, RoleArg,
};
use chapar_client::files::Plan;
use chapar_proto::roster::Revocation;
use chapar_proto::{Body, Classification, Document, Id, Role, Roster, Subject};
use chapar_tests::{Client, Ministry, User, held, node_bin, now_ms, start, wait_until, wiki_page};
use time::OffsetDateTime;

const WAIT: Duration = Duration::from_secs(20);

fn page(user: &User, n: u8) -> Document {
    wiki_page(
        user,
        n,
        &format!("Page {n}"),
        &format!("text {n}"),
        Classification::Unclassified,
    )
    .expect("sign")
}

/// Every bundle directory of the ministry (nodes and people).
fn bundles(m: &Ministry) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for kind in ["nodes", "users"] {
        if let Ok(rd) = std::fs::read_dir(m.dir().join(kind)) {
            out.extend(rd.flatten().map(|e| e.path()));
        }
    }
    out
}

/// Publishes the next roster version as an administrator who has not
/// renewed the CRL for weeks would: after `edit`, it carries a CRL whose
/// next update was ten days ago, listing nothing. Roster and CRL go into
/// the ministry directory and every bundle. Returns the roster.
fn publish_with_stale_crl(m: &Ministry, edit: impl FnOnce(&mut AdminDir, &mut Roster)) -> Document {
    let mut am = AdminDir::open(&m.dir()).expect("ministry dir");
    let mut roster = am.roster.clone();
    edit(&mut am, &mut roster);
    am.state.crl_number += 1;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("now");
    let crl = am
        .ca
        .crl(
            am.state.crl_number,
            now - time::Duration::days(40),
            now - time::Duration::days(10),
            &[],
        )
        .expect("stale CRL");
    roster.crl = chapar_certs::read_crls_pem(&crl, "crl").expect("crl")[0].to_vec();
    roster.version = am.roster.version + 1;
    let doc = Document::sign(&am.root, now_ms(), Body::Roster(roster.clone())).expect("sign");
    let mut plan = Plan::default();
    let dir = m.dir();
    plan.file(dir.join("roster.chpr"), doc.as_bytes());
    plan.file(
        dir.join("rosters")
            .join(format!("{:06}.chpr", roster.version)),
        doc.as_bytes(),
    );
    plan.file(dir.join("crl.pem"), crl.clone());
    am.save_state(&mut plan).expect("state");
    for b in bundles(m) {
        plan.file(b.join("roster.chpr"), doc.as_bytes());
        plan.file(b.join("crl.pem"), crl.clone());
    }
    plan.commit().expect("write");
    doc
}

fn version(doc: &Document) -> u64 {
    match doc.body() {
        Body::Roster(r) => r.version,
        _ => 0,
    }
}

/// The serial of a bundle's node certificate.
fn node_serial(node_toml: &Path) -> u64 {
    let pem = std::fs::read_to_string(node_toml.with_file_name("node.crt")).expect("node.crt");
    peer_identity(&read_cert_pem(&pem, "node.crt").expect("pem"))
        .expect("identity")
        .serial
}

/// The CRL a node enforces at its handshakes now.
fn crl_in_force(n: &chapar_node::Running) -> chapar_certs::CrlInfo {
    parse_crl_pem(&n.shared().tls_now().crl_pems[0]).expect("CRL in force")
}

/// Whether `n` has an open connection with `who`.
fn connected(n: &chapar_node::Running, who: &Identity) -> bool {
    n.shared()
        .conns
        .lock()
        .map(|cs| {
            cs.iter()
                .any(|c| &c.identity == who && c.conn.close_reason().is_none())
        })
        .unwrap_or(false)
}

fn holds(n: &chapar_node::Running, doc: &Document) -> bool {
    held(n).map(|h| h.contains(&doc.id())).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_crls_neither_stop_replication_nor_let_a_revoked_node_in() {
    use Classification::*;
    let m = Ministry::new(70, &["emb-a", "emb-c"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    let c = m.add_node("c-1", "emb-c", false, Secret, &[]).expect("c");
    let ua = m
        .add_user(
            "ua",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "a-1",
        )
        .expect("ua");
    let c_serial = node_serial(&c);

    // Nobody renewed the CRL: every bundle and the roster carry one that
    // expired ten days ago.
    publish_with_stale_crl(&m, |_, _| {});
    let now = OffsetDateTime::now_utc();
    for b in bundles(&m) {
        let crl = parse_crl_pem(&std::fs::read_to_string(b.join("crl.pem")).expect("crl"))
            .expect("parse");
        assert!(crl.is_stale(now), "{}: CRL not stale", b.display());
    }

    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a-1");
    let c_n = start(&c).await.expect("c-1");
    assert!(crl_in_force(&hub_n).is_stale(now));
    let client = Client::connect(&ua.bundle, a_n.local_addr().expect("addr"))
        .await
        .expect("a person with a stale CRL reaches their node");
    let p1 = page(&ua, 1);
    client.submit(&p1).await.expect("submit");
    assert!(
        wait_until(WAIT, || holds(&hub_n, &p1) && holds(&c_n, &p1)).await,
        "replication stopped with stale CRLs: hub {} / c-1 {}",
        hub_n.status(),
        c_n.status()
    );
    // ... and the operators are told.
    let warned = |n: &chapar_node::Running| {
        n.status()["warnings"]
            .as_array()
            .map(|ws| {
                ws.iter().any(|w| {
                    w["subject"].as_str().is_some_and(|s| s.contains("CRL"))
                        && w["expired"] == true
                        && w["action"]
                            .as_str()
                            .is_some_and(|a| a.contains("chapar admin crl renew"))
                })
            })
            .unwrap_or(false)
    };
    assert!(warned(&hub_n), "no stale-CRL warning: {}", hub_n.status());
    assert_eq!(hub_n.status()["certificates"]["crl"]["stale"], true);

    // c-1 is revoked in a roster whose CRL is still stale and does not list
    // it: the signed roster alone must cut it off.
    let c_id = Identity::node("c-1").expect("id");
    let revoking = publish_with_stale_crl(&m, |am, roster| {
        roster
            .revoke(Revocation {
                subject: Subject::Node(Id::new("c-1").expect("id")),
                effective_ms: now_ms(),
                reason: "mission closed".into(),
            })
            .expect("revoke");
        am.revoke_certificates(Some(&c_id.uri()), None);
    });
    client.submit(&revoking).await.expect("roster to a-1");
    assert!(
        wait_until(WAIT, || hub_n.shared().trust().roster().version
            == version(&revoking)
            && !connected(&hub_n, &c_id)
            && !connected(&a_n, &c_id))
        .await,
        "c-1 still connected: hub {}",
        hub_n.status()
    );
    let crl = crl_in_force(&hub_n);
    assert!(
        crl.is_stale(OffsetDateTime::now_utc()) && !crl.is_revoked(c_serial),
        "the roster, not the CRL, must be what keeps c-1 out here"
    );
    let p2 = page(&ua, 2);
    client.submit(&p2).await.expect("submit");
    assert!(wait_until(WAIT, || holds(&hub_n, &p2)).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !holds(&c_n, &p2),
        "the revoked node received a new document"
    );
    assert!(
        c_n.shared().trust().roster().version < version(&revoking),
        "the revoked node received the roster that revokes it"
    );

    // The administrator renews the CRL: the fresh one travels in the roster
    // over the same handshakes, and now lists c-1.
    admin::renew_crl(&m.dir(), None).expect("crl renew");
    let fresh = m.roster().expect("roster");
    client.submit(&fresh).await.expect("roster to a-1");
    let fresh_everywhere = |n: &chapar_node::Running| {
        let crl = crl_in_force(n);
        n.shared().trust().roster().version == version(&fresh)
            && !crl.is_stale(OffsetDateTime::now_utc())
            && crl.is_revoked(c_serial)
    };
    assert!(
        wait_until(WAIT, || fresh_everywhere(&hub_n) && fresh_everywhere(&a_n)).await,
        "the fresh CRL did not reach the nodes: hub {} / a-1 {}",
        hub_n.status(),
        a_n.status()
    );
    assert!(
        !warned(&hub_n),
        "warning outlived the renewal: {}",
        hub_n.status()
    );
    let p3 = page(&ua, 3);
    client.submit(&p3).await.expect("submit");
    assert!(wait_until(WAIT, || holds(&hub_n, &p3)).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !holds(&c_n, &p3),
        "the revoked node received a new document"
    );
    assert!(!connected(&hub_n, &c_id) && !connected(&a_n, &c_id));

    // The person's bundle, still holding a stale CRL (and the roster that
    // revoked c-1), is refreshed by using it.
    let bundle = chapar_client::user::Bundle::open(Some(&ua.bundle)).expect("bundle");
    let (_c, refresh) = bundle
        .connect_refreshing(Default::default())
        .await
        .expect("connect");
    assert_eq!(
        refresh,
        chapar_client::user::Refresh::Updated {
            from: Some(version(&revoking)),
            to: version(&fresh)
        }
    );
    let crl = parse_crl_pem(&std::fs::read_to_string(ua.bundle.join("crl.pem")).expect("crl"))
        .expect("crl");
    assert!(!crl.is_stale(OffsetDateTime::now_utc()) && crl.is_revoked(c_serial));
    assert_eq!(
        bundle.roster().expect("bundle roster").version,
        version(&fresh)
    );

    c_n.stop().await;
    a_n.stop().await;
    hub_n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewed_certificates_keep_the_identity_and_the_old_one_is_kept_or_revoked() {
    use Classification::*;
    let m = Ministry::new(71, &["emb-a"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    let ua = m
        .add_user(
            "ua",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("ua");
    let hub_n = start(&hub).await.expect("hub");
    let mut a_n = start(&a).await.expect("a-1");
    let client = Client::connect(&ua.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let p1 = page(&ua, 1);
    client.submit(&p1).await.expect("submit");
    assert!(wait_until(WAIT, || holds(&a_n, &p1)).await);

    // The node: a new certificate and key, the same id, signing key and
    // roster entry; the old certificate stays valid until it expires.
    let old_serial = node_serial(&a);
    let sign_key = std::fs::read(a.with_file_name("node-sign.key")).expect("sign key");
    let roster_before = m.roster().expect("roster");
    let out = admin::renew_node(
        &m.dir(),
        &NodeRenewArgs {
            renew: RenewArgs {
                id: "a-1".into(),
                days: 15,
                revoke_old: false,
                out: None,
            },
            csr: None,
            dns: vec![],
            ip: vec![],
        },
    )
    .expect("renew node");
    let new_serial = node_serial(&a);
    assert_ne!(new_serial, old_serial);
    assert_eq!(out.serials, vec![new_serial, old_serial]);
    assert_eq!(
        std::fs::read(a.with_file_name("node-sign.key")).expect("sign key"),
        sign_key,
        "the signing key is the node's identity: kept"
    );
    assert_eq!(
        m.roster().expect("roster").as_bytes(),
        roster_before.as_bytes(),
        "keeping the old certificate changes nothing in the roster"
    );
    // The renewed certificate answers to the same address.
    let (_, ips) = chapar_certs::cert_host_names(
        &read_cert_pem(
            &std::fs::read_to_string(a.with_file_name("node.crt")).expect("crt"),
            "crt",
        )
        .expect("pem"),
    )
    .expect("names");
    assert_eq!(
        ips,
        vec!["127.71.0.2".parse::<std::net::IpAddr>().expect("ip")]
    );
    a_n.stop().await;
    a_n = start(&a).await.expect("a-1 on its renewed certificate");
    assert_eq!(a_n.status()["certificates"]["node"]["serial"], new_serial);
    let p2 = page(&ua, 2);
    client.submit(&p2).await.expect("submit");
    assert!(
        wait_until(WAIT, || holds(&a_n, &p2)).await,
        "renewed node does not replicate: {}",
        a_n.status()
    );

    // The person: a new certificate, the same signing key; the old one is
    // revoked by serial at once.
    let old_bundle = m.tmp.path().join("ua-old");
    std::fs::create_dir_all(&old_bundle).expect("dir");
    for f in ["user.crt", "user.key", "ca.crt", "crl.pem", "roster.chpr"] {
        std::fs::copy(ua.bundle.join(f), old_bundle.join(f)).expect("copy");
    }
    let old_user_serial = peer_identity(
        &read_cert_pem(
            &std::fs::read_to_string(ua.bundle.join("user.crt")).expect("crt"),
            "crt",
        )
        .expect("pem"),
    )
    .expect("id")
    .serial;
    let out = admin::renew_user(
        &m.dir(),
        &RenewArgs {
            id: "ua".into(),
            days: 15,
            revoke_old: true,
            out: None,
        },
    )
    .expect("renew user");
    let roster = m.roster().expect("roster");
    let Body::Roster(r) = roster.body() else {
        panic!("not a roster")
    };
    assert!(r.is_revoked(&Subject::Certificate(old_user_serial), now_ms()));
    assert!(!r.is_revoked(&Subject::Person(ua.id.clone()), now_ms()));
    assert!(out.message.contains("revoked"), "{}", out.message);
    // The renewed bundle brings the new roster to the hub.
    let renewed = Client::connect(&ua.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("the renewed certificate works");
    assert!(
        wait_until(WAIT, || hub_n.shared().trust().roster().version
            == version(&roster))
        .await
    );
    assert!(renewed.fetch(p1.id()).await.expect("fetch").is_some());
    let p3 = page(&ua, 3);
    renewed
        .submit(&p3)
        .await
        .expect("documents signed with the unchanged signing key are accepted");
    // The old certificate no longer gets in, not even as a new connection.
    let old = Client::connect(&old_bundle, hub_n.local_addr().expect("addr")).await;
    let refused = match old {
        Err(_) => true,
        Ok(c) => c.fetch(p1.id()).await.is_err(),
    };
    assert!(refused, "the revoked old certificate still works");

    a_n.stop().await;
    hub_n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_provisioned_from_its_own_request_keeps_its_keys() {
    use Classification::*;
    let m = Ministry::new(72, &[]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let ua = m
        .add_user(
            "ua",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("ua");
    let hub_n = start(&hub).await.expect("hub");

    // On the node's own machine.
    let site = m.tmp.path().join("k-site");
    let out = Command::new(node_bin().expect("chapar-node"))
        .args(["keygen", "--dir"])
        .arg(&site)
        .args(["--id", "k-1"])
        .output()
        .expect("keygen");
    assert!(
        out.status.success(),
        "keygen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_before = std::fs::read(site.join("node.key")).expect("node.key");
    let sign_before = std::fs::read(site.join("node-sign.key")).expect("node-sign.key");

    // At the ministry: only the request and the public signing key.
    admin::add_node_with(
        &m.dir(),
        &NodeAddArgs {
            id: "k-1".into(),
            mission: "mfa".into(),
            role: RoleArg::Mission,
            accreditation: Secret,
            endpoint: Some(format!("127.72.0.9:{}", chapar_tests::PORT)),
            listen: None,
            peers: vec![],
            dns: vec![],
            ip: vec![],
            bundle: BundleArgs {
                days: 20,
                out: None,
                force: false,
            },
        },
        &NodeKeys {
            csr: Some(site.join("node.csr")),
            signing_key: Some(site.join("node-sign.pub")),
        },
    )
    .expect("node add --csr");
    let bundle = m.dir().join("nodes").join("k-1");
    let names: Vec<String> = std::fs::read_dir(&bundle)
        .expect("bundle")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for secret in ["node.key", "node-sign.key"] {
        assert!(
            !names.iter().any(|n| n == secret),
            "bundle holds {secret}: {names:?}"
        );
    }
    // The operator copies the bundle next to the keys, which stay as made.
    for n in &names {
        std::fs::copy(bundle.join(n), site.join(n)).expect("copy");
    }
    assert_eq!(
        std::fs::read(site.join("node.key")).expect("key"),
        key_before
    );
    assert_eq!(
        std::fs::read(site.join("node-sign.key")).expect("key"),
        sign_before
    );
    let k_n = start(&site.join("node.toml")).await.expect("k-1 starts");
    let client = Client::connect(&ua.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let p1 = page(&ua, 1);
    client.submit(&p1).await.expect("submit");
    assert!(
        wait_until(WAIT, || holds(&k_n, &p1)).await,
        "k-1 does not replicate: {}",
        k_n.status()
    );
    k_n.stop().await;
    hub_n.stop().await;
}

/// Reads a child's output as it comes, into a shared string.
fn collect(r: impl std::io::Read + Send + 'static) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let o = out.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(mut s) = o.lock() {
                s.push_str(&line);
                s.push('\n');
            }
        }
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_log_and_report_what_expires_within_fourteen_days() {
    use Classification::*;
    let m = Ministry::new(75, &["emb-a"]).expect("ministry");
    // CRLs for 30 days (the default; the test ministry's last 7): only
    // a-1's certificate expires within 14 days here.
    admin::renew_crl(&m.dir(), Some(30)).expect("crl renew");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    // a-1's certificate is renewed for five days only.
    admin::renew_node(
        &m.dir(),
        &NodeRenewArgs {
            renew: RenewArgs {
                id: "a-1".into(),
                days: 5,
                revoke_old: false,
                out: None,
            },
            csr: None,
            dns: vec![],
            ip: vec![],
        },
    )
    .expect("renew");
    let hub_n = start(&hub).await.expect("hub");
    assert!(
        hub_n.status()["warnings"]
            .as_array()
            .is_some_and(|w| w.is_empty()),
        "a healthy node warns: {}",
        hub_n.status()
    );

    // The real binary, as an operator runs it.
    let bin = node_bin().expect("chapar-node");
    let mut child = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&a)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chapar-node");
    let stdout = collect(child.stdout.take().expect("stdout"));
    let stderr = collect(child.stderr.take().expect("stderr"));
    let log = || {
        format!(
            "{}{}",
            stdout.lock().map(|s| s.clone()).unwrap_or_default(),
            stderr.lock().map(|s| s.clone()).unwrap_or_default()
        )
    };
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline
        && !(log().contains("certificate of this node a-1") && log().contains("expires at"))
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = log();
    assert!(
        text.contains("WARN")
            && text.contains("certificate of this node a-1")
            && text.contains("in 4 days")
            && text.contains("chapar admin node renew a-1"),
        "no expiry warning in the log:\n{text}"
    );

    // `chapar-node status` shows it, and the hub warns about its peer.
    let out = Command::new(&bin)
        .args(["status", "--json", "--config"])
        .arg(&a)
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let w = report["warnings"]
        .as_array()
        .and_then(|ws| {
            ws.iter().find(|w| {
                w["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("this node a-1"))
            })
        })
        .cloned()
        .unwrap_or_else(|| panic!("no warning in {report}"));
    assert_eq!(w["days_left"], 4);
    assert_eq!(w["expired"], false);
    let out = Command::new(&bin)
        .args(["status", "--config"])
        .arg(&a)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("WARNING: certificate of this node a-1"),
        "{text}"
    );
    let peer_warned = || {
        hub_n.status()["warnings"].as_array().is_some_and(|ws| {
            ws.iter().any(|w| {
                w["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("peer node a-1"))
            })
        })
    };
    assert!(
        wait_until(WAIT, peer_warned).await,
        "the hub does not warn about its peer: {}",
        hub_n.status()
    );

    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + WAIT;
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    hub_n.stop().await;
}
