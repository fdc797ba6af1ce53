//! A person's standing changes while documents are still on their way:
//! what they signed before the change is held by every node, however late
//! it arrives; what they sign after is judged by the new standing.
//!
//! Loopback subnet 127.34.0.x.

use std::time::Duration;

use chapar_client::admin::{self, UserUpdateArgs};
use chapar_proto::{Body, Classification, Document, PageId, Role, WikiRevision};
use chapar_tests::{Client, Ministry, User, held, sign, start, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn page(user: &User, n: u8, classification: Classification) -> Document {
    sign(
        user,
        Body::WikiRevision(WikiRevision {
            page: PageId([n; 16]),
            parents: vec![],
            title: format!("Report {n}"),
            classification,
            caption: None,
            body: "the talks went well".into(),
            summary: String::new(),
        }),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_clearance_never_makes_a_late_node_refuse_older_documents() {
    use Classification::*;
    let m = Ministry::new(34, &["emb-a", "emb-b"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m
        .add_node("a-1", "emb-a", false, Secret, &["hub"])
        .expect("a");
    let b = m
        .add_node("b-1", "emb-b", false, Secret, &["hub"])
        .expect("b");
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
