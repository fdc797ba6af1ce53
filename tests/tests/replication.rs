//! Replication between real nodes on loopback: convergence, need to know,
//! store-and-forward through the hub, partition and heal.

use std::time::Duration;

use chapar_proto::{
    Body, Cable, CableRelease, Classification, Document, Id, PageId, Precedence, Role, WikiRevision,
};
use chapar_tests::{Client, Ministry, User, held, sign, start, wait_until, wiki_page};

const WAIT: Duration = Duration::from_secs(20);

fn page(user: &User, n: u8, title: &str) -> Document {
    wiki_page(
        user,
        n,
        title,
        &format!("Body of {title}"),
        Classification::Unclassified,
    )
    .expect("sign page")
}

fn cable(drafter: &User, to: &[&str], info: &[&str], classification: Classification) -> Document {
    sign(
        drafter,
        Body::Cable(Cable {
            originator: drafter.mission.clone(),
            action: to.iter().map(|m| Id::new(*m).expect("id")).collect(),
            info: info.iter().map(|m| Id::new(*m).expect("id")).collect(),
            precedence: Precedence::Immediate,
            classification,
            caption: None,
            tags: vec![],
            subject: "Test cable".into(),
            references: vec![],
            body: "Text.".into(),
        }),
    )
    .expect("sign cable")
}

fn release(releaser: &User, draft: &Document) -> Document {
    sign(
        releaser,
        Body::CableRelease(CableRelease::new(draft.clone(), vec![]).expect("release")),
    )
    .expect("sign release")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_converge_and_hold_only_what_they_may() {
    let m = Ministry::new(11, &["emb-a", "emb-b", "emb-c"]).expect("ministry");
    use Classification::*;
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    let b = m.add_node("b-1", "emb-b", false, Secret, &[]).expect("b");
    let c = m
        .add_node("c-1", "emb-c", false, Restricted, &[])
        .expect("c");
    let all = [Role::Reader, Role::Editor, Role::Drafter, Role::Releaser];
    let ua = m
        .add_user("ua", "emb-a", Secret, &all, &[], "a-1")
        .expect("ua");
    let ub = m
        .add_user("ub", "emb-b", Secret, &all, &[], "b-1")
        .expect("ub");

    let nodes = [
        start(&hub).await.expect("start hub"),
        start(&a).await.expect("start a"),
        start(&b).await.expect("start b"),
        start(&c).await.expect("start c"),
    ];
    let ca = Client::connect(&ua.bundle, nodes[1].local_addr().expect("addr"))
        .await
        .expect("client a");
    let cb = Client::connect(&ub.bundle, nodes[2].local_addr().expect("addr"))
        .await
        .expect("client b");

    // Wiki pages written at two missions reach every node.
    let mut pages = Vec::new();
    for i in 0..5u8 {
        let pa = page(&ua, i, &format!("A page {i}"));
        let pb = page(&ub, 100 + i, &format!("B page {i}"));
        ca.submit(&pa).await.expect("submit a");
        cb.submit(&pb).await.expect("submit b");
        pages.push(pa.id());
        pages.push(pb.id());
    }
    // A CONFIDENTIAL cable from emb-a to emb-b, released; a SECRET one to
    // emb-c (accredited RESTRICTED: it must never receive it).
    let draft = cable(&ua, &["emb-b"], &[], Confidential);
    let rel = release(&ua, &draft);
    let secret_draft = cable(&ua, &["emb-c"], &[], Secret);
    let secret_rel = release(&ua, &secret_draft);
    for d in [&draft, &rel, &secret_draft, &secret_rel] {
        ca.submit(d).await.expect("submit cable");
    }

    let mut expect_hub = pages.clone();
    expect_hub.extend([draft.id(), rel.id(), secret_draft.id(), secret_rel.id()]);
    let mut expect_a = expect_hub.clone();
    let mut expect_b = pages.clone();
    expect_b.push(rel.id());
    let mut expect_c = pages.clone();
    for v in [&mut expect_hub, &mut expect_a, &mut expect_b, &mut expect_c] {
        v.sort();
    }
    let expected = [expect_hub, expect_a, expect_b, expect_c];
    let converged = wait_until(WAIT, || {
        nodes
            .iter()
            .zip(&expected)
            .all(|(n, e)| held(n).map(|h| &h == e).unwrap_or(false))
    })
    .await;
    for (n, e) in nodes.iter().zip(&expected) {
        assert_eq!(
            &held(n).expect("held"),
            e,
            "node {} (converged: {converged})",
            n.shared().me
        );
    }
    // The drafts never left emb-a and the hub; emb-b holds only the release.
    assert!(!held(&nodes[2]).expect("held").contains(&draft.id()));

    // A person at emb-b sees the release but not emb-a's draft.
    assert!(cb.fetch(rel.id()).await.expect("fetch").is_some());
    assert!(cb.fetch(draft.id()).await.expect("fetch").is_none());
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_forward_through_the_hub_and_partition_heal() {
    use Classification::*;
    let m = Ministry::new(12, &["emb-a", "emb-b"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    let b = m.add_node("b-1", "emb-b", false, Secret, &[]).expect("b");
    let roles = [Role::Reader, Role::Editor, Role::Drafter, Role::Releaser];
    let ua = m
        .add_user("ua", "emb-a", Secret, &roles, &[], "a-1")
        .expect("ua");
    let ub = m
        .add_user("ub", "emb-b", Secret, &roles, &[], "b-1")
        .expect("ub");

    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a");
    // B is offline. A releases a cable to B, then goes offline too.
    let ca = Client::connect(&ua.bundle, a_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let draft = cable(&ua, &["emb-b"], &[], Confidential);
    let rel = release(&ua, &draft);
    ca.submit(&draft).await.expect("draft");
    ca.submit(&rel).await.expect("release");
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h.contains(&rel.id()))
            .unwrap_or(false))
        .await,
        "the hub stores the release"
    );
    drop(ca);
    a_n.stop().await;

    // B comes up with A gone: the hub forwards.
    let b_n = start(&b).await.expect("b");
    assert!(
        wait_until(WAIT, || held(&b_n)
            .map(|h| h.contains(&rel.id()))
            .unwrap_or(false))
        .await,
        "B receives the release through the hub while A is offline"
    );

    // Partition: stop B, write on both sides, restart B on the same store.
    let b_written = page(&ub, 1, "written before the partition at B");
    let cb = Client::connect(&ub.bundle, b_n.local_addr().expect("addr"))
        .await
        .expect("client b");
    cb.submit(&b_written).await.expect("page");
    drop(cb);
    assert!(
        wait_until(WAIT, || held(&hub_n)
            .map(|h| h.contains(&b_written.id()))
            .unwrap_or(false))
        .await
    );
    b_n.stop().await;
    let a_n = start(&a).await.expect("a again");
    let ca = Client::connect(&ua.bundle, a_n.local_addr().expect("addr"))
        .await
        .expect("client a");
    let during: Vec<Document> = (0..20)
        .map(|i| page(&ua, 10 + i, &format!("during {i}")))
        .collect();
    for d in &during {
        ca.submit(d).await.expect("page during partition");
    }
    let b_n = start(&b).await.expect("b again");
    let cb = Client::connect(&ub.bundle, b_n.local_addr().expect("addr"))
        .await
        .expect("client b again");
    let after = page(&ub, 2, "written at B after healing");
    cb.submit(&after).await.expect("page after");
    let all_pages: Vec<_> = during
        .iter()
        .map(Document::id)
        .chain([b_written.id(), after.id()])
        .collect();
    for n in [&hub_n, &a_n, &b_n] {
        assert!(
            wait_until(WAIT, || held(n)
                .map(|h| all_pages.iter().all(|p| h.contains(p)))
                .unwrap_or(false))
            .await,
            "node {} converges after the partition heals",
            n.shared().me
        );
    }
    for n in [hub_n, a_n, b_n] {
        n.stop().await;
    }
}

/// This node's view of its link with `peer`: (state, last sync, sent).
fn link(node: &chapar_node::Running, peer: &str) -> Option<(String, Option<u64>, u64)> {
    let status = node.status();
    let p = status["peers"]
        .as_array()?
        .iter()
        .find(|p| p["id"] == peer)?;
    Some((
        p["state"].as_str()?.to_string(),
        p["last_sync_ms"].as_u64(),
        p["sent"].as_u64().unwrap_or(0),
    ))
}

/// A link is reported live, with a last sync, on both ends — and only once
/// each end holds everything the other had for it. Here only the hub has
/// anything to send: the embassy stays silent once reconciliation is over,
/// which must not leave either end "syncing" for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_live_on_both_ends_once_the_catch_up_is_complete() {
    use Classification::*;
    const PAGES: u16 = 700;
    let m = Ministry::new(13, &["emb-b"]).expect("ministry");
    let hub = m.add_node("hub", "mfa", true, TopSecret, &[]).expect("hub");
    let b = m.add_node("b-1", "emb-b", false, Secret, &[]).expect("b");
    let roles = [Role::Reader, Role::Editor];
    let uh = m
        .add_user("uh", "mfa", Secret, &roles, &[], "hub")
        .expect("uh");
    // The hub starts with more pages than one bulk batch (256) carries.
    let pages: Vec<Document> = (0..PAGES)
        .map(|i| {
            sign(
                &uh,
                Body::WikiRevision(WikiRevision {
                    page: PageId([
                        (i % 251) as u8,
                        (i / 251) as u8,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                        7,
                    ]),
                    parents: vec![],
                    title: format!("Page {i}"),
                    classification: Unclassified,
                    caption: None,
                    body: "x".repeat(1_500),
                    summary: "new".into(),
                }),
            )
            .expect("sign")
        })
        .collect();
    {
        let dir = chapar_node::config::NodeConfig::load(&hub)
            .expect("hub config")
            .data_dir;
        let store = chapar_node::store::Store::open(&dir).expect("hub store");
        store.insert_batch(&pages).expect("preload");
        store.close().expect("close");
    }
    let hub_n = start(&hub).await.expect("hub");
    assert_eq!(held(&hub_n).expect("held").len(), PAGES as usize);
    // uh's client hands the hub the roster that lists uh (the bundles'
    // rosters predate uh); b-1 gets it from the hub, roster first.
    let _uh = Client::connect(&uh.bundle, hub_n.local_addr().expect("addr"))
        .await
        .expect("client");
    let b_n = start(&b).await.expect("b");

    // The first time b-1 calls the link live, it holds every page.
    let mut live_at_b = None;
    let both_live = wait_until(WAIT, || {
        if live_at_b.is_none()
            && link(&b_n, "hub").is_some_and(|(state, sync, _)| state == "live" && sync.is_some())
        {
            live_at_b = Some(held(&b_n).map(|h| h.len()).unwrap_or(0));
        }
        live_at_b.is_some()
            && link(&hub_n, "b-1").is_some_and(|(state, sync, _)| state == "live" && sync.is_some())
    })
    .await;
    assert!(
        both_live,
        "both ends report the link live: b-1 {:?}, hub {:?}",
        link(&b_n, "hub"),
        link(&hub_n, "b-1")
    );
    assert_eq!(
        live_at_b,
        Some(PAGES as usize),
        "b-1 called the link live only with every page stored"
    );
    let (_, _, sent) = link(&hub_n, "b-1").expect("hub's link");
    assert!(sent >= PAGES as u64, "the hub counts {sent} documents sent");
    for n in [hub_n, b_n] {
        n.stop().await;
    }
}
