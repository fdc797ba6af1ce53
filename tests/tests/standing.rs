//! A person's standing changes while documents are still on their way:
//! what they signed before the change is held by every node, however late
//! it arrives; what they sign after is judged by the new standing.
//!
//! Loopback subnet 127.34.0.x.

use std::time::Duration;

use chapar_client::admin::{self, UserUpdateArgs};
use chapar_proto::{Body, Classification, Document, Role};
use chapar_tests::{Client, Ministry, User, held, start, wait_until, wiki_page};

const WAIT: Duration = Duration::from_secs(30);

fn page(user: &User, n: u8, classification: Classification) -> Document {
    wiki_page(
        user,
        n,
        &format!("Report {n}"),
        "the talks went well",
        classification,
    )
    .expect("sign")
}

/// Whether a search for `q` finds `want` entries within [`WAIT`] (the index
/// follows the store within its commit interval).
async fn finds(client: &Client, q: &str, want: u64) -> bool {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if client
            .find(q)
            .await
            .map(|r| r.total == want)
            .unwrap_or(false)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_clearance_never_makes_a_late_node_refuse_older_documents() {
    use Classification::*;
    let (m, [hub, a, b]) = Ministry::hub_and_two_embassies(34).expect("network");
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
    let admin_user = m
        .add_user(
            "adm",
            "mfa",
            Secret,
            &[Role::Reader, Role::Admin],
            &[],
            "hub",
        )
        .expect("admin");
    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a");
    let client = Client::connect(&editor.bundle, a_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let before: Vec<Document> = (0..5).map(|n| page(&editor, n, Secret)).collect();
    for d in &before {
        client
            .submit(d)
            .await
            .expect("SECRET page while cleared SECRET");
    }
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| before.iter().all(|d| h.contains(&d.id())))
            .unwrap_or(false))
        .await,
        "the hub has the pages"
    );

    // The editor's clearance is lowered; the new roster reaches the hub
    // (and from it a-1).
    admin::update_user(
        &m.dir(),
        &UserUpdateArgs {
            id: "ed".into(),
            clearance: Some(Restricted),
            roles: None,
            captions: None,
            mission: None,
            name: None,
        },
    )
    .expect("update");
    let roster = m.roster().expect("roster");
    Client::connect(&admin_user.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("admin client")
        .submit(&roster)
        .await
        .expect("roster delivered");
    let Body::Roster(r) = roster.body() else {
        panic!("not a roster")
    };
    let version = r.version;
    assert!(
        wait_until(WAIT, || a_n.shared().trust().roster().version == version).await,
        "a-1 has the new roster"
    );

    // The editor's connection was closed (their entry changed): they
    // reconnect, and from now on write RESTRICTED only.
    drop(client);
    let client = Client::connect(&editor.bundle, a_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let err = client
        .submit(&page(&editor, 10, Secret))
        .await
        .expect_err("above the new clearance");
    assert!(err.to_string().contains("RESTRICTED"), "{err}");
    let after = page(&editor, 11, Restricted);
    client.submit(&after).await.expect("RESTRICTED page");

    // b-1 joins late, with the new roster: it never saw the SECRET pages
    // signed while the editor was cleared for them, and holds them all.
    let b_n = start(&b).await.expect("b");
    let mut expected: Vec<_> = before.iter().map(Document::id).collect();
    expected.push(after.id());
    expected.sort();
    assert!(
        wait_until(WAIT, || held(&b_n).map(|h| h == expected).unwrap_or(false)).await,
        "b-1 holds {:?} of {} documents",
        held(&b_n).map(|h| h.len()),
        expected.len()
    );
    assert_eq!(b_n.shared().trust().roster().version, version);
    for n in [hub_n, a_n, b_n] {
        n.stop().await;
    }
}

/// Everything a person signs with a key revoked as compromised is set
/// aside on every node: no fetch, listing or search shows it, and no node
/// offers it to a peer; what others wrote stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_key_s_documents_are_set_aside_everywhere() {
    use Classification::*;
    let (m, [hub, a, b]) = Ministry::hub_and_two_embassies(35).expect("network");
    let roles = [Role::Reader, Role::Editor];
    let thief = m
        .add_user("thief", "emb-a", Secret, &roles, &[], "a-1")
        .expect("user");
    let honest = m
        .add_user("honest", "emb-a", Secret, &roles, &[], "a-1")
        .expect("user");
    let reader = m
        .add_user(
            "reader",
            "mfa",
            Secret,
            &[Role::Reader, Role::Admin],
            &[],
            "hub",
        )
        .expect("user");
    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a");
    let a_addr = a_n.local_addr().expect("addr");
    let theirs: Vec<Document> = (0..3).map(|n| page(&thief, n, Unclassified)).collect();
    let ours: Vec<Document> = (10..12).map(|n| page(&honest, n, Unclassified)).collect();
    let c = Client::connect(&thief.bundle, a_addr)
        .await
        .expect("client");
    for d in &theirs {
        c.submit(d).await.expect("submit");
    }
    let c = Client::connect(&honest.bundle, a_addr)
        .await
        .expect("client");
    for d in &ours {
        c.submit(d).await.expect("submit");
    }
    let everything: Vec<_> = theirs.iter().chain(&ours).map(Document::id).collect();
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| everything.iter().all(|id| h.contains(id)))
            .unwrap_or(false))
        .await,
        "the hub has every page"
    );
    let as_reader = Client::connect(&reader.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("reader");
    assert!(
        finds(&as_reader, "talks", 5).await,
        "search shows the five pages"
    );

    m.revoke_compromised("thief").expect("revoke");
    as_reader
        .submit(&m.roster().expect("roster"))
        .await
        .expect("roster delivered");
    let gone = |node: &chapar_node::Running| {
        held(node)
            .map(|h| theirs.iter().all(|d| !h.contains(&d.id())))
            .unwrap_or(false)
            && theirs.iter().all(|d| node.shared().store.is_void(&d.id()))
    };
    assert!(
        wait_until(WAIT, || gone(&hub_n) && gone(&a_n)).await,
        "the thief's pages are set aside on the hub and a-1"
    );
    // Not fetched, listed or found; the honest pages stay.
    for d in &theirs {
        assert_eq!(as_reader.fetch(d.id()).await.expect("fetch"), None);
    }
    let listed: Vec<_> = as_reader
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert!(theirs.iter().all(|d| !listed.contains(&d.id())));
    assert!(ours.iter().all(|d| listed.contains(&d.id())));
    assert!(
        finds(&as_reader, "talks", 2).await,
        "search shows the honest pages only"
    );
    // A node that joins now never receives them.
    let b_n = start(&b).await.expect("b");
    let mut expected: Vec<_> = ours.iter().map(Document::id).collect();
    expected.sort();
    assert!(
        wait_until(WAIT, || held(&b_n).map(|h| h == expected).unwrap_or(false)).await,
        "b-1 holds {:?}",
        held(&b_n)
    );
    for n in [hub_n, a_n, b_n] {
        n.stop().await;
    }
}

/// A node that stored a page signed after its author's standing changed,
/// before the roster saying so reached it, sets the page aside when the
/// roster arrives, and never passes it on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_signed_after_a_change_is_set_aside_when_the_roster_arrives() {
    use Classification::*;
    let m = Ministry::new(36, &["emb-a"]).expect("ministry");
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
    let admin_user = m
        .add_user(
            "adm",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Admin],
            &[],
            "a-1",
        )
        .expect("admin");
    // a-1 runs alone: the hub, which would bring the new roster, is down.
    let a_n = start(&a).await.expect("a");
    let a_addr = a_n.local_addr().expect("addr");
    let client = Client::connect(&editor.bundle, a_addr)
        .await
        .expect("client");
    let before = page(&editor, 1, Secret);
    client.submit(&before).await.expect("before the change");
    admin::update_user(
        &m.dir(),
        &UserUpdateArgs {
            id: "ed".into(),
            clearance: Some(Restricted),
            roles: None,
            captions: None,
            mission: None,
            name: None,
        },
    )
    .expect("update");
    // Signed after the change, stored by a node that does not know of it.
    let after = page(&editor, 2, Secret);
    client
        .submit(&after)
        .await
        .expect("a-1 still has the old roster");
    Client::connect(&admin_user.bundle, a_addr)
        .await
        .expect("admin")
        .submit(&m.roster().expect("roster"))
        .await
        .expect("roster delivered");
    assert!(
        wait_until(WAIT, || a_n.shared().store.is_void(&after.id())).await,
        "the page signed after the change is set aside"
    );
    assert!(!a_n.shared().store.is_void(&before.id()));
    assert_eq!(held(&a_n).expect("held"), vec![before.id()]);
    // The hub comes up and catches up from a-1: the page never reaches it.
    let hub_n = start(&hub).await.expect("hub");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h == vec![before.id()])
            .unwrap_or(false))
        .await,
        "the hub holds {:?}",
        held(&hub_n)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(held(&hub_n).expect("held"), vec![before.id()]);
    for n in [hub_n, a_n] {
        n.stop().await;
    }
}
