//! Hostile and broken peers against real nodes on loopback: bad
//! certificates receive nothing, revocation closes live connections,
//! tampered / unauthorized documents and garbage frames are refused.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chapar_certs::{Ca, Identity, LeafRequest, Validity};
use chapar_client::admin::RevokeWhat;
use chapar_proto::wire::{MAX_FRAME, Message, PROTOCOL_VERSION};
use chapar_proto::{
    Body, Cable, Classification, Document, Id, PageId, Precedence, Role, WikiRevision,
};
use chapar_tests::{
    Client, Ministry, User, held, now_ms, revision, sign, start, wait_until, wiki_page,
};

const WAIT: Duration = Duration::from_secs(20);

fn page(user: &User, n: u8) -> Document {
    wiki_page(
        user,
        n,
        &format!("Page {n}"),
        "text",
        Classification::Unclassified,
    )
    .expect("sign")
}

/// Replaces a bundle's node certificate and key.
fn replace_cert(node_toml: &Path, cert_pem: &str, key_pem: &str) {
    let dir = node_toml.parent().expect("bundle dir");
    std::fs::write(dir.join("node.crt"), cert_pem).expect("write cert");
    std::fs::write(dir.join("node.key"), key_pem).expect("write key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_bad_certificates_receive_nothing() {
    use Classification::*;
    let m = Ministry::new(21, &["emb-a"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let good = m
        .add_node("good-1", "emb-a", false, Secret, &[])
        .expect("good");
    let selfsigned = m
        .add_node("self-1", "emb-a", false, Secret, &[])
        .expect("n");
    let foreign = m
        .add_node("foreign-1", "emb-a", false, Secret, &[])
        .expect("n");
    let expired = m
        .add_node("expired-1", "emb-a", false, Secret, &[])
        .expect("n");
    let revoked = m
        .add_node("revoked-1", "emb-a", false, Secret, &[])
        .expect("n");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");

    // Self-signed: a certificate naming the right identity, no CA.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = vec![rcgen::SanType::URI(
        "urn:chapar:node:self-1".try_into().expect("uri"),
    )];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    replace_cert(&selfsigned, &cert.pem(), &key.serialize_pem());

    // Foreign CA: another ministry's certificate for the same node id.
    let other = Ministry::new(22, &["emb-a"]).expect("other ministry");
    let other_bundle = other
        .add_node("foreign-1", "emb-a", false, Secret, &[])
        .expect("foreign node");
    let odir = other_bundle.parent().expect("dir");
    replace_cert(
        &foreign,
        &std::fs::read_to_string(odir.join("node.crt")).expect("crt"),
        &std::fs::read_to_string(odir.join("node.key")).expect("key"),
    );

    // Expired: issued by our own CA, valid only in the past.
    let ca = Ca::from_pem(
        &std::fs::read_to_string(m.dir().join("ca.crt")).expect("ca"),
        &std::fs::read_to_string(m.dir().join("ca.key")).expect("ca key"),
    )
    .expect("load CA");
    let now = time::OffsetDateTime::now_utc();
    let mut req = LeafRequest::new(
        Identity::node("expired-1").expect("id"),
        9_000,
        Validity {
            not_before: now - time::Duration::days(10),
            not_after: now - time::Duration::days(1),
        },
    );
    req.ips = vec!["127.21.0.5".parse().expect("ip")];
    let old = ca.issue(&req).expect("issue expired");
    replace_cert(&expired, &old.cert_pem, &old.key_pem);

    // Revoked: revoked by the administrator after provisioning. The hub
    // learns it from the new roster, submitted by a person.
    m.revoke(RevokeWhat::Node, "revoked-1").expect("revoke");

    let hub_n = start(&hub).await.expect("start hub");
    let client = Client::connect(&editor.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    client
        .submit(&m.roster().expect("roster"))
        .await
        .expect("new roster");
    let content: Vec<Document> = (0..5).map(|i| page(&editor, i)).collect();
    for d in &content {
        client.submit(d).await.expect("submit");
    }

    let good_n = start(&good).await.expect("good node");
    assert!(
        wait_until(WAIT, || held(&good_n)
            .map(|h| h.len() == content.len())
            .unwrap_or(false))
        .await,
        "the good node receives everything"
    );

    // A node refuses to start on a certificate the ministry CA did not
    // issue, or one that has expired, and says why.
    for (bundle, why) in [
        (&selfsigned, "not issued by the ministry CA"),
        (&foreign, "not issued by the ministry CA"),
        (&expired, "expired"),
    ] {
        let err = match start(bundle).await {
            Ok(_) => panic!("{} started", bundle.display()),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(why), "{}: {err}", bundle.display());
    }
    // Presented by hand to the hub, such certificates get nothing.
    let ca_pem = std::fs::read_to_string(m.dir().join("ca.crt")).expect("ca");
    let addr = hub_n.local_addr().expect("addr");
    for (bundle, node) in [
        (&selfsigned, "self-1"),
        (&foreign, "foreign-1"),
        (&expired, "expired-1"),
    ] {
        let dir = bundle.parent().expect("dir");
        let cfg = chapar_tests::raw_client_config(
            &ca_pem,
            &std::fs::read_to_string(dir.join("node.crt")).expect("crt"),
            &std::fs::read_to_string(dir.join("node.key")).expect("key"),
        )
        .expect("raw client");
        let got = chapar_tests::try_to_replicate(cfg, addr, node)
            .await
            .expect("try");
        assert_eq!(got, 0, "{node} received documents");
    }
    // The revoked node starts (its certificate is fine as such) but the
    // hub refuses it: it receives nothing, not even the newest roster.
    let revoked_n = start(&revoked).await.expect("revoked node starts");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        held(&revoked_n).expect("held").len(),
        0,
        "revoked node received documents"
    );
    assert!(
        revoked_n.shared().trust().roster().version < m.roster().expect("roster").body_version(),
        "the revoked node was sent the newest roster"
    );
    revoked_n.stop().await;
    good_n.stop().await;
    hub_n.stop().await;
}

/// The version of a roster document.
trait RosterVersion {
    fn body_version(&self) -> u64;
}

impl RosterVersion for Document {
    fn body_version(&self) -> u64 {
        match self.body() {
            Body::Roster(r) => r.version,
            _ => 0,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_closes_live_connections_everywhere_within_5_seconds() {
    use Classification::*;
    let m = Ministry::new(23, &["emb-a", "emb-b"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    // b-1 peers with both the hub and a-1 directly.
    let b = m
        .add_node("b-1", "emb-b", false, Secret, &["hub", "a-1"])
        .expect("b");
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a");
    let b_n = start(&b).await.expect("b");
    let live = |n: &chapar_node::Running, peer: &str| {
        n.status()["peers"]
            .as_array()
            .map(|ps| ps.iter().any(|p| p["id"] == peer && p["state"] == "live"))
            .unwrap_or(false)
    };
    assert!(
        wait_until(WAIT, || live(&hub_n, "a-1")
            && live(&b_n, "a-1")
            && live(&b_n, "hub"))
        .await,
        "links up: {} / {}",
        hub_n.status(),
        b_n.status()
    );

    m.revoke(RevokeWhat::Node, "a-1").expect("revoke");
    let client = Client::connect(&editor.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let t0 = Instant::now();
    client
        .submit(&m.roster().expect("roster"))
        .await
        .expect("submit roster");
    let a_gone = |n: &chapar_node::Running| {
        n.shared()
            .conns
            .lock()
            .map(|cs| {
                !cs.iter().any(|c| {
                    c.identity == Identity::node("a-1").expect("id")
                        && c.conn.close_reason().is_none()
                })
            })
            .unwrap_or(false)
    };
    assert!(
        wait_until(Duration::from_secs(5), || a_gone(&hub_n) && a_gone(&b_n)).await,
        "a-1's connections closed on every node within 5 s"
    );
    let elapsed = t0.elapsed();
    // And it stays out: new content never reaches it.
    let d = page(&editor, 42);
    client.submit(&d).await.expect("submit page");
    assert!(
        wait_until(WAIT, || held(&b_n)
            .map(|h| h.contains(&d.id()))
            .unwrap_or(false))
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !held(&a_n).expect("held").contains(&d.id()),
        "revoked node got new content"
    );
    assert!(a_gone(&hub_n) && a_gone(&b_n), "revoked node reconnected");
    eprintln!("revocation closed connections in {elapsed:?}");
    for n in [hub_n, a_n, b_n] {
        n.stop().await;
    }
}

/// A peer with a valid node certificate that speaks the protocol by hand:
/// Hello, then the ministry's newest roster (which lists it).
async fn rogue(
    m: &Ministry,
    bundle: &Path,
    addr: std::net::SocketAddr,
    node: &str,
) -> (Client, quinn::SendStream, quinn::RecvStream) {
    let c = Client::connect(bundle.parent().expect("dir"), addr)
        .await
        .expect("connect");
    let (mut send, recv) = c.connection().open_bi().await.expect("stream");
    let roster = m.roster().expect("roster");
    chapar_node::frames::write(
        &mut send,
        &Message::Hello {
            protocol: PROTOCOL_VERSION,
            node: Id::new(node).expect("id"),
            roster_version: roster.body_version(),
        },
    )
    .await
    .expect("hello");
    chapar_node::frames::write(
        &mut send,
        &Message::Roster {
            document: roster.into_bytes(),
        },
    )
    .await
    .expect("roster");
    (c, send, recv)
}

/// A ministry on loopback subnet `net` with a hub, an embassy node `a-1`
/// (not started) and an editor at `emb-a`: the stage for a hand-driven
/// peer posing as `a-1`.
fn hub_and_embassy_node(net: u8) -> (Ministry, PathBuf, PathBuf, User) {
    use Classification::*;
    let m = Ministry::new(net, &["emb-a"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m
        .add_node("a-1", "emb-a", false, Secret, &["hub"])
        .expect("a");
    let editor = m
        .add_user(
            "ed",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "a-1",
        )
        .expect("editor");
    (m, hub, a, editor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_unauthorized_documents_are_refused_and_the_session_goes_on() {
    use Classification::*;
    let (m, hub, a, editor) = hub_and_embassy_node(24);
    let reader = m
        .add_user("rd", "emb-a", Secret, &[Role::Reader], &[], "a-1")
        .expect("reader");
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");
    let (_c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;

    let good = page(&editor, 1);
    let mut tampered = page(&editor, 2).into_bytes();
    let n = tampered.len();
    tampered[n - 70] ^= 0x20; // inside the body: decodes, does not verify
    let unauthorized = sign(
        &reader,
        Body::Cable(Cable {
            originator: Id::new("emb-a").expect("id"),
            action: vec![Id::new("mfa").expect("id")],
            info: vec![],
            precedence: Precedence::Flash,
            classification: Unclassified,
            caption: None,
            tags: vec![],
            subject: "a reader may not draft".into(),
            references: vec![],
            body: String::new(),
        }),
    )
    .expect("sign");
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: vec![
                tampered,
                unauthorized.as_bytes().to_vec(),
                good.as_bytes().to_vec(),
            ],
        },
    )
    .await
    .expect("send batch");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h == vec![good.id()])
            .unwrap_or(false))
        .await,
        "only the valid document is stored: {:?}",
        held(&hub_n)
    );
    // The session goes on: a later valid document is still accepted.
    let later = page(&editor, 3);
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: vec![later.as_bytes().to_vec()],
        },
    )
    .await
    .expect("send later");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h.contains(&later.id()))
            .unwrap_or(false))
        .await
    );
    let status = hub_n.status();
    let refused = status["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == "a-1"))
        .map(|p| p["refused"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(refused, 2, "{status}");
    hub_n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_and_garbage_frames_disconnect_and_store_nothing() {
    use Classification::*;
    let m = Ministry::new(25, &["emb-a"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m
        .add_node("a-1", "emb-a", false, Secret, &["hub"])
        .expect("a");
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");

    // An announced frame over the maximum: refused before it is read.
    let (c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    send.write_all(&((MAX_FRAME + 1) as u32).to_be_bytes())
        .await
        .expect("write header");
    let closed = tokio::time::timeout(WAIT, c.connection().closed()).await;
    assert!(closed.is_ok(), "oversize frame: connection not closed");

    // A frame whose body is not a message.
    let (c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    send.write_all(&[0, 0, 0, 3, 0xee, 0xff, 0x00])
        .await
        .expect("write garbage");
    let closed = tokio::time::timeout(WAIT, c.connection().closed()).await;
    assert!(closed.is_ok(), "garbage frame: connection not closed");

    // A peer that disappears in the middle of a frame.
    let (c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    send.write_all(&[0, 0, 1, 0, 4, 1])
        .await
        .expect("partial frame");
    c.connection().close(0u32.into(), b"gone");
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(held(&hub_n).expect("held").len(), 0);
    // The hub still serves others.
    let editor = m
        .add_user(
            "ed",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let client = Client::connect(&editor.bundle, addr).await.expect("client");
    client
        .submit(&page(&editor, 9))
        .await
        .expect("still serving");
    hub_n.stop().await;
}

/// Whether the stream ends (cleanly or not) within `limit`, reading and
/// dropping whatever frames come before.
async fn stream_ends(recv: &mut quinn::RecvStream, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        while chapar_node::frames::read(recv).await.is_ok() {}
    })
    .await
    .is_ok()
}

fn sessions_with(node: &chapar_node::Running, peer: &str) -> Option<u64> {
    node.status()["peers"]
        .as_array()?
        .iter()
        .find(|p| p["id"] == peer)?["sessions"]
        .as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_reconnects_keeps_only_its_newest_session() {
    let (m, hub, a, editor) = hub_and_embassy_node(26);
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");

    // Three connections in a row, as a node reconnecting before its old
    // connections time out (or a peer trying to pile up sessions).
    let (_c1, _s1, mut r1) = rogue(&m, &a, addr, "a-1").await;
    assert!(
        wait_until(WAIT, || sessions_with(&hub_n, "a-1") == Some(1)).await,
        "first session not running: {}",
        hub_n.status()
    );
    let (_c2, _s2, mut r2) = rogue(&m, &a, addr, "a-1").await;
    let (_c3, mut s3, mut r3) = rogue(&m, &a, addr, "a-1").await;
    assert!(stream_ends(&mut r1, WAIT).await, "first session still open");
    assert!(
        stream_ends(&mut r2, WAIT).await,
        "second session still open"
    );
    assert!(
        wait_until(WAIT, || sessions_with(&hub_n, "a-1") == Some(1)).await,
        "sessions with a-1: {}",
        hub_n.status()
    );
    // The newest one is the one that goes on.
    assert!(!stream_ends(&mut r3, Duration::from_millis(500)).await);
    let doc = page(&editor, 7);
    chapar_node::frames::write(
        &mut s3,
        &Message::Documents {
            documents: vec![doc.as_bytes().to_vec()],
        },
    )
    .await
    .expect("send");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h == vec![doc.id()])
            .unwrap_or(false))
        .await,
        "the newest session stores: {:?}",
        held(&hub_n)
    );
    hub_n.stop().await;
}

#[path = "../../proto/tests/support/mod.rs"]
mod hostile;

/// A release nested 1,100 deep (121 KB, no valid signature) once killed a
/// node with a stack overflow, from RPC `submit` and from a peer's
/// `Documents`. Both are refused now, and the node goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_release_is_refused_and_the_node_goes_on() {
    let (m, hub, a, editor) = hub_and_embassy_node(27);
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");
    let nested = hostile::nested_releases(1_100);

    // From a person, as RPC `submit`.
    let person = m
        .add_user(
            "hq-ed",
            "mfa",
            Classification::Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let client = Client::connect(&person.bundle, addr).await.expect("client");
    match client
        .request(&Message::Submit {
            document: nested.clone(),
        })
        .await
        .expect("an answer, not a dead node")
    {
        Message::Error { code, message } => {
            assert_eq!(code, chapar_proto::wire::code::REFUSED, "{message}");
            assert!(message.contains("released draft"), "{message}");
        }
        other => panic!("expected a refusal, got {}", other.name()),
    }

    // From a peer, inside a replication batch beside a valid document.
    let (_c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    let good = page(&editor, 1);
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: vec![nested, good.as_bytes().to_vec()],
        },
    )
    .await
    .expect("send batch");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h == vec![good.id()])
            .unwrap_or(false))
        .await,
        "the valid document is stored beside the refusal: {:?}",
        held(&hub_n)
    );
    // Still serving people.
    client
        .submit(&page(&person, 2))
        .await
        .expect("still serving");
    hub_n.stop().await;
}

/// Signatures crafted by their key's owner with a torsion component in `R`
/// (or a small-order `R`) once split the network: `verify_strict` refused
/// them and the batch check accepted some, depending on their neighbours.
/// By the one rule (ADR 0016), every node holds all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_crafted_signatures_is_held_alike_by_every_node() {
    use Classification::*;
    let (m, [hub, a, b]) = Ministry::hub_and_two_embassies(28).expect("network");
    let editor = m
        .add_user(
            "ed",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "a-1",
        )
        .expect("editor");
    let nodes = [
        start(&hub).await.expect("hub"),
        start(&a).await.expect("a"),
        start(&b).await.expect("b"),
    ];
    let client = Client::connect(&editor.bundle, nodes[1].local_addr().expect("addr"))
        .await
        .expect("client");
    let mut sent = Vec::new();
    for n in 0..60u8 {
        let doc = match n % 3 {
            0 => page(&editor, n),
            1 => hostile::with_torsion_in_r(&page(&editor, n), &editor.key, 1 + n as usize % 7),
            _ => hostile::with_small_order_r(&page(&editor, n), &editor.key, n as usize % 8),
        };
        client
            .submit(&doc)
            .await
            .unwrap_or_else(|e| panic!("document {n} refused at a-1: {e}"));
        sent.push(doc.id());
    }
    sent.sort();
    for node in &nodes {
        assert!(
            wait_until(WAIT, || held(node).map(|h| h == sent).unwrap_or(false)).await,
            "a node holds {:?} of the {} documents",
            held(node).map(|h| h.len()),
            sent.len()
        );
    }
    for n in nodes {
        n.stop().await;
    }
}

/// A person submits only documents they signed, dated by a clock within
/// the tolerance of the node's; a peer may bring old documents, never
/// ones dated ahead of the node's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitters_and_dates_are_checked_at_first_ingest() {
    use chapar_proto::policy::CLOCK_TOLERANCE_MS;
    let (m, hub, a, editor) = hub_and_embassy_node(29);
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");
    let add = |id: &str| {
        m.add_user(
            id,
            "mfa",
            Classification::Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user")
    };
    let (alisher, bahrom) = (add("alisher"), add("bahrom"));
    let as_alisher = Client::connect(&alisher.bundle, addr)
        .await
        .expect("client");
    let as_bahrom = Client::connect(&bahrom.bundle, addr).await.expect("client");
    let dated = |user: &User, n: u8, created: u64| {
        Document::sign(
            &user.key,
            created,
            Body::WikiRevision(WikiRevision {
                page: PageId([n; 16]),
                parents: vec![],
                title: format!("Page {n}"),
                classification: Classification::Unclassified,
                caption: None,
                body: "text".into(),
                summary: String::new(),
            }),
        )
        .expect("sign")
    };
    let now = chapar_tests::now_ms();
    let hour = 6 * CLOCK_TOLERANCE_MS;

    // Bahrom relays a page Alisher signed: refused.
    let theirs = dated(&alisher, 1, now);
    let err = as_bahrom.submit(&theirs).await.expect_err("not his");
    assert!(
        err.to_string()
            .contains("may submit only documents they signed"),
        "{err}"
    );
    // Alisher backdates one and postdates another: refused; now: stored.
    for created in [now - hour, now + hour] {
        let err = as_alisher
            .submit(&dated(&alisher, 2, created))
            .await
            .expect_err("dated out of tolerance");
        assert!(err.to_string().contains("clock"), "{err}");
    }
    as_alisher
        .submit(&theirs)
        .await
        .expect("his own, dated now");

    // From a peer: an old page is history and is stored; one from the
    // future is refused.
    let (_c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    let old = dated(&editor, 3, now - hour);
    let future = dated(&editor, 4, now + hour);
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: vec![future.as_bytes().to_vec(), old.as_bytes().to_vec()],
        },
    )
    .await
    .expect("send");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h.contains(&old.id()))
            .unwrap_or(false))
        .await,
        "the old page from a peer is stored"
    );
    let held_now = held(&hub_n).expect("held");
    assert!(
        !held_now.contains(&future.id()),
        "the future page is refused"
    );
    let mut expected = vec![theirs.id(), old.id()];
    expected.sort();
    assert_eq!(held_now, expected);
    hub_n.stop().await;
}

/// A compromised embassy node sends wiki revisions whose parents are
/// revisions of another page, or not revisions at all: a history may never
/// cross pages (`chapar_proto::wiki::history::check_parent`), whether the
/// parent comes in the same batch or is already held. The rest of the
/// batch is stored and the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_naming_another_pages_revision_as_parent_is_refused() {
    let (m, hub, a, editor) = hub_and_embassy_node(37);
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");
    let (_c, mut send, _recv) = rogue(&m, &a, addr, "a-1").await;
    let child = |page: u8, parent: chapar_proto::DocId, body: &str| {
        revision(
            &editor.key,
            now_ms(),
            PageId([page; 16]),
            vec![parent],
            &format!("Page {page}"),
            body,
            Classification::Unclassified,
        )
        .expect("sign")
    };
    let a1 = page(&editor, 1);
    let b1 = page(&editor, 2);
    // In the same batch as its would-be parent.
    let crossing = child(2, a1.id(), "pulls page 1 into page 2");
    let b2 = child(2, b1.id(), "a proper edit of page 2");
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: [&a1, &b1, &crossing, &b2]
                .iter()
                .map(|d| d.as_bytes().to_vec())
                .collect(),
        },
    )
    .await
    .expect("send batch");
    let mut want = vec![a1.id(), b1.id(), b2.id()];
    want.sort();
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|mut h| {
                h.sort();
                h == want
            })
            .unwrap_or(false))
        .await,
        "the crossing revision is refused: {:?}",
        held(&hub_n)
    );
    // Against a parent already held, in a later batch.
    let crossing_later = child(1, b2.id(), "pulls page 2 into page 1");
    let a2 = child(1, a1.id(), "a proper edit of page 1");
    chapar_node::frames::write(
        &mut send,
        &Message::Documents {
            documents: vec![crossing_later.as_bytes().to_vec(), a2.as_bytes().to_vec()],
        },
    )
    .await
    .expect("send later");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h.contains(&a2.id()))
            .unwrap_or(false))
        .await
    );
    let h = held(&hub_n).expect("held");
    assert!(!h.contains(&crossing.id()) && !h.contains(&crossing_later.id()));
    let status = hub_n.status();
    let refused = status["peers"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == "a-1"))
        .map(|p| p["refused"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(refused, 2, "{status}");
    hub_n.stop().await;
}

/// A person cannot use the parent rule as an oracle: naming as a parent a
/// document they may not read (an id seen in a cable's references is
/// enough) is not judged, so the answer does not tell them the node holds
/// it or what it is; naming one they may read is judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parent_rule_tells_nothing_about_documents_the_person_may_not_read() {
    use Classification::*;
    let (m, hub, _a, editor) = hub_and_embassy_node(40);
    let low = m
        .add_user(
            "lo",
            "mfa",
            Unclassified,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let high = m
        .add_user(
            "hi",
            "mfa",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "hub",
        )
        .expect("user");
    let hub_n = start(&hub).await.expect("hub");
    let addr = hub_n.local_addr().expect("addr");
    let (lo_c, hi_c) = (
        Client::connect(&low.bundle, addr).await.expect("connect"),
        Client::connect(&high.bundle, addr).await.expect("connect"),
    );
    let secret = wiki_page(&high, 9, "Operation", "secret", Secret).expect("sign");
    hi_c.submit(&secret).await.expect("submit");
    let naming = |who: &User, page: u8| {
        revision(
            &who.key,
            now_ms(),
            PageId([page; 16]),
            vec![secret.id()],
            &format!("Page {page}"),
            "names a page 9 revision",
            Unclassified,
        )
        .expect("sign")
    };
    // The low editor's answer is the same as for an id the node does not
    // hold: accepted (the history rule ignores the edge).
    let low_rev = naming(&low, 1);
    lo_c.submit(&low_rev).await.expect("not judged");
    // The high editor may read it: judged, and refused.
    let err = hi_c
        .submit(&naming(&high, 2))
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("another page") || err.contains("of page"),
        "{err}"
    );
    // And it hid nothing: once the low editor's revision is indexed, the
    // secret page still has its head for those who may read it.
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = hi_c
            .search(&chapar_search::SearchRequest {
                kinds: vec![chapar_search::EntryKind::Revision],
                pages: vec![PageId([1; 16]).to_string()],
                ..chapar_search::SearchRequest::default()
            })
            .await
            .expect("search");
        if listed.hits.iter().any(|h| h.id == low_rev.id().to_hex()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the low editor's revision is never indexed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        let heads = hi_c
            .search(&chapar_search::SearchRequest {
                kinds: vec![chapar_search::EntryKind::Wiki],
                pages: vec![PageId([9; 16]).to_string()],
                ..chapar_search::SearchRequest::default()
            })
            .await
            .expect("search");
        if heads.hits.iter().any(|h| h.id == secret.id().to_hex()) {
            break;
        }
        assert!(Instant::now() < deadline, "page 9 lost its head: {heads:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = editor;
    hub_n.stop().await;
}
