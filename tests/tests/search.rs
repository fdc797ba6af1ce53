//! Search on real nodes: documents that arrive by replication or from a
//! client become searchable; each person sees only what they may read; the
//! index resumes after a restart, is rebuilt when damaged or missing, and
//! `chapar-node reindex` rebuilds it with progress.

use std::time::{Duration, Instant};

use chapar_proto::{
    Body, Cable, CableRelease, Classification, Document, Id, Precedence, Role, Tag,
};
use chapar_search::SearchRequest;
use chapar_tests::{Client, Ministry, User, node_bin, sign, start, wait_until, wiki_page};

const WAIT: Duration = Duration::from_secs(20);

fn page(user: &User, n: u8, title: &str, body: &str, classification: Classification) -> Document {
    wiki_page(user, n, title, body, classification).expect("sign page")
}

fn release(user: &User, to: &str, subject: &str, body: &str, c: Classification) -> Vec<Document> {
    let draft = sign(
        user,
        Body::Cable(Cable {
            originator: user.mission.clone(),
            action: vec![Id::new(to).expect("id")],
            info: vec![],
            precedence: Precedence::Immediate,
            classification: c,
            caption: None,
            tags: vec![Tag::new("PREL").expect("tag")],
            subject: subject.into(),
            references: vec![],
            body: body.into(),
        }),
    )
    .expect("sign draft");
    let rel = sign(
        user,
        Body::CableRelease(CableRelease::new(draft.clone(), vec![]).expect("release")),
    )
    .expect("sign release");
    vec![draft, rel]
}

/// Polls a search until it finds `want` hits (bounded by [`WAIT`]).
async fn until_found(c: &Client, query: &str, want: u64) -> (u64, Duration) {
    let t0 = Instant::now();
    loop {
        let total = c.find(query).await.expect("search").total;
        if total >= want || t0.elapsed() > WAIT {
            return (total, t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_and_submitted_documents_become_searchable_for_those_who_may_read_them() {
    use Classification::*;
    let (m, [hub, a, b]) = Ministry::hub_and_two_embassies(51).expect("network");
    let writer = m
        .add_user(
            "writer",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Editor, Role::Drafter, Role::Releaser],
            &[],
            "a-1",
        )
        .expect("writer");
    let cleared = m
        .add_user("cleared", "emb-b", Secret, &[Role::Reader], &[], "b-1")
        .expect("cleared");
    let junior = m
        .add_user("junior", "emb-b", Restricted, &[Role::Reader], &[], "b-1")
        .expect("junior");
    let elsewhere = m
        .add_user("elsewhere", "mfa", Secret, &[Role::Reader], &[], "hub")
        .expect("elsewhere");
    let hub_n = start(&hub).await.expect("hub");
    let a_n = start(&a).await.expect("a");
    let b_n = start(&b).await.expect("b");
    let addr = |n: &chapar_node::Running| n.local_addr().expect("addr");
    let w = Client::connect(&writer.bundle, addr(&a_n))
        .await
        .expect("writer");
    let cl = Client::connect(&cleared.bundle, addr(&b_n))
        .await
        .expect("cleared");
    let jr = Client::connect(&junior.bundle, addr(&b_n))
        .await
        .expect("junior");
    let hq = Client::connect(&elsewhere.bundle, addr(&hub_n))
        .await
        .expect("elsewhere");

    // Submitted at a-1: searchable there.
    w.submit(&page(
        &writer,
        1,
        "Raqamli diplomatiya",
        "Oʻzbekiston elchixonalari raqamli",
        Unclassified,
    ))
    .await
    .expect("submit");
    let (n, _) = until_found(&w, "raqamli", 1).await;
    assert_eq!(n, 1, "searchable at the node it was submitted to");
    // Replicated to b-1 through the hub: searchable there too, in both scripts.
    let (n, took) = until_found(&cl, "рақамли дипломатия", 1).await;
    assert_eq!(n, 1, "replicated page searchable at b-1");
    eprintln!("page submitted at a-1 searchable at b-1 after {took:?} of polling");
    // A question typed as a sentence, over RPC: answered, with the words
    // the hit contains and those not searched for.
    let r = cl
        .find("what do elchixonalari say about raqamli diplomacy")
        .await
        .expect("search");
    assert_eq!(r.total, 1, "{r:?}");
    assert_eq!(r.hits[0].matched, ["elchixonalari", "raqamli"], "{r:?}");
    assert_eq!(r.words, ["elchixonalari", "say", "raqamli", "diplomacy"]);
    assert_eq!(r.ignored, ["what", "do", "about"]);

    // A SECRET page and a SECRET cable to emb-b.
    w.submit(&page(
        &writer,
        2,
        "Secret page",
        "zanjir operation details",
        Secret,
    ))
    .await
    .expect("submit");
    for d in release(
        &writer,
        "emb-b",
        "Zanjir follow-up",
        "zanjir cable text",
        Secret,
    ) {
        w.submit(&d).await.expect("submit cable");
    }
    let (n, _) = until_found(&cl, "zanjir", 2).await;
    assert_eq!(
        n, 2,
        "the cleared reader at b-1 finds the page and the cable"
    );
    // The junior reader at the same node: nothing, not even a count.
    let r = jr
        .search(&SearchRequest {
            query: "zanjir".into(),
            facets: true,
            ..Default::default()
        })
        .await
        .expect("search");
    assert_eq!(r.total, 0);
    assert!(r.facets.expect("facets").kind.is_empty());
    // At the hub, a SECRET reader of mfa sees the page but not the cable
    // (not addressed to mfa), though the hub holds it.
    let (n, _) = until_found(&hq, "zanjir", 1).await;
    assert_eq!(n, 1);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = hq.find("zanjir").await.expect("search");
    assert_eq!(r.total, 1, "still only the page: {:?}", r.hits);
    assert_eq!(r.hits[0].kind, chapar_search::EntryKind::Wiki);

    for n in [b_n, a_n, hub_n] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_resumes_after_restart_and_is_rebuilt_when_damaged_or_missing() {
    use Classification::*;
    let m = Ministry::new(52, &["emb-a"]).expect("ministry");
    let a = m.add_node("a-1", "emb-a", false, Secret, &[]).expect("a");
    let writer = m
        .add_user(
            "writer",
            "emb-a",
            Secret,
            &[Role::Reader, Role::Editor],
            &[],
            "a-1",
        )
        .expect("writer");
    let cfg = chapar_node::config::NodeConfig::load(&a).expect("config");
    let search_dir = chapar_node::indexer::search_dir(&cfg.data_dir);

    let node = start(&a).await.expect("start");
    let c = Client::connect(&writer.bundle, node.local_addr().expect("addr"))
        .await
        .expect("connect");
    for i in 0..20u8 {
        c.submit(&page(
            &writer,
            i,
            &format!("Note {i}"),
            "qalqon shield text",
            Unclassified,
        ))
        .await
        .expect("submit");
    }
    assert_eq!(until_found(&c, "qalqon", 20).await.0, 20);
    drop(c);
    node.stop().await;

    let status = |node: &chapar_node::Running| node.status()["search"].clone();
    // Restart: resumes from the recorded position, nothing re-read.
    let node = start(&a).await.expect("restart");
    assert!(
        wait_until(WAIT, || status(&node)["caught_up"] == true).await,
        "{}",
        status(&node)
    );
    assert_eq!(status(&node)["scanned_since_start"], 0, "{}", status(&node));
    assert!(status(&node)["rebuilt"].is_null());
    let c = Client::connect(&writer.bundle, node.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(c.find("qalqon").await.expect("search").total, 20);
    drop(c);
    node.stop().await;

    // Damaged: garbage in meta.json. The node starts, sets it aside and
    // rebuilds from the store.
    std::fs::write(search_dir.join("meta.json"), b"\0\0garbage").expect("damage");
    let node = start(&a).await.expect("start with a damaged index");
    let c = Client::connect(&writer.bundle, node.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(until_found(&c, "qalqon", 20).await.0, 20);
    assert!(wait_until(WAIT, || status(&node)["caught_up"] == true).await);
    let s = status(&node);
    assert_eq!(
        s["scanned_since_start"], 20,
        "every document read again: {s}"
    );
    assert!(
        s["rebuilt"].as_str().is_some_and(|r| r.contains("kept at")),
        "{s}"
    );
    drop(c);
    node.stop().await;

    // Missing: deleted by an operator.
    std::fs::remove_dir_all(&search_dir).expect("remove");
    let node = start(&a).await.expect("start without an index");
    let c = Client::connect(&writer.bundle, node.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(until_found(&c, "qalqon", 20).await.0, 20);
    drop(c);

    // reindex refuses to run beside the running node, and says why.
    let out = std::process::Command::new(node_bin().expect("chapar-node"))
        .args(["reindex", "--config", a.to_str().expect("utf-8")])
        .output()
        .expect("run reindex");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stop it first"), "{err}");
    node.stop().await;

    // Stopped: reindex rebuilds with progress, as JSON lines.
    let out = std::process::Command::new(node_bin().expect("chapar-node"))
        .args(["reindex", "--json", "--config", a.to_str().expect("utf-8")])
        .output()
        .expect("run reindex");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let done = lines.last().expect("a result line");
    assert_eq!(done["event"], "done");
    // The 20 pages (the roster in force is kept beside the documents).
    assert_eq!(done["result"]["documents"], 20, "{done}");
    assert_eq!(
        done["result"]["entries"], 40,
        "a page and a history entry each: {done}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "progress" && l["total"] == 20),
        "{stdout}"
    );
    let node = start(&a).await.expect("start after reindex");
    let c = Client::connect(&writer.bundle, node.local_addr().expect("addr"))
        .await
        .expect("connect");
    assert_eq!(c.find("qalqon").await.expect("search").total, 20);
    assert_eq!(status(&node)["scanned_since_start"], 0);
    drop(c);
    node.stop().await;
}
