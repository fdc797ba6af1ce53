//! `chapar demo`: a complete demo ministry on loopback — root, CA, roster,
//! bundles for the ministry hub and two embassy nodes, and a few people —
//! made through the same code paths as the admin commands.

use std::path::Path;

use anyhow::{Result, bail};
use chapar_proto::{Classification, Role};

use crate::admin::{
    self, BundleArgs, InitArgs, KeyAlg, KindArg, MissionAddArgs, NodeAddArgs, RoleArg, UserAddArgs,
};

/// Marks a directory as made by `chapar demo`, so a re-run may replace it.
const MARKER: &str = ".chapar-demo";

/// id, name, mission, clearance, roles, captions.
type DemoPerson = (
    &'static str,
    &'static str,
    &'static str,
    Classification,
    &'static [Role],
    &'static [&'static str],
);

/// First loopback port of the demo nodes (hub; embassies follow).
pub const BASE_PORT: u16 = 7400;

/// Builds the demo ministry in `dir`, replacing an earlier demo there.
pub fn run(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir)?;
        } else if !empty {
            bail!(
                "{} exists and was not made by `chapar demo`; choose another --dir",
                dir.display()
            );
        }
    }
    // It will hold the root and CA keys.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    std::fs::write(dir.join(MARKER), "made by `chapar demo`; safe to delete\n")?;

    admin::init(
        dir,
        &InitArgs {
            name: "Ministry of Foreign Affairs of the Republic of Uzbekistan".into(),
            mission_id: "mfa".into(),
            mission_name: Some("Ministry of Foreign Affairs, Tashkent".into()),
            country: "UZ".into(),
            ca_cert: None,
            ca_key: None,
            ca_algorithm: KeyAlg::EcdsaP256,
            ca_days: 3650,
            crl_days: 30,
            force: false,
        },
    )?;
    for (id, name, country) in [
        (
            "emb-washington",
            "Embassy of Uzbekistan in Washington",
            "US",
        ),
        ("emb-berlin", "Embassy of Uzbekistan in Berlin", "DE"),
    ] {
        admin::add_mission(
            dir,
            &MissionAddArgs {
                id: id.into(),
                name: name.into(),
                country: country.into(),
                kind: KindArg::Embassy,
            },
        )?;
    }
    let nodes = [
        ("hub", "mfa", RoleArg::Hub, Classification::TopSecret),
        (
            "washington-1",
            "emb-washington",
            RoleArg::Mission,
            Classification::Secret,
        ),
        (
            "berlin-1",
            "emb-berlin",
            RoleArg::Mission,
            Classification::Confidential,
        ),
    ];
    for (i, (id, mission, role, accreditation)) in nodes.into_iter().enumerate() {
        admin::add_node(
            dir,
            &NodeAddArgs {
                id: id.into(),
                mission: mission.into(),
                role,
                accreditation,
                endpoint: Some(format!("127.0.0.1:{}", BASE_PORT + i as u16)),
                listen: None,
                peers: vec![],
                dns: vec!["localhost".into()],
                ip: vec![],
                bundle: BundleArgs {
                    days: 365,
                    out: None,
                    force: false,
                },
            },
        )?;
    }
    let people: [DemoPerson; 4] = [
        (
            "aziza",
            "Aziza Karimova",
            "mfa",
            Classification::TopSecret,
            &[Role::Reader, Role::Editor, Role::Clearer, Role::Releaser],
            &["NODIS"],
        ),
        (
            "bobur",
            "Bobur Toshmatov",
            "emb-washington",
            Classification::Secret,
            &[Role::Reader, Role::Drafter, Role::Releaser],
            &[],
        ),
        (
            "dilnoza",
            "Dilnoza Yusupova",
            "emb-berlin",
            Classification::Confidential,
            &[Role::Reader, Role::Drafter, Role::Editor, Role::Releaser],
            &[],
        ),
        (
            "erkin",
            "Erkin Rahimov",
            "mfa",
            Classification::Restricted,
            &[Role::Reader, Role::Admin],
            &[],
        ),
    ];
    for (id, name, mission, clearance, roles, captions) in people {
        admin::add_user(
            dir,
            &UserAddArgs {
                id: id.into(),
                name: name.into(),
                mission: mission.into(),
                clearance,
                roles: roles.to_vec(),
                captions: captions.iter().map(|c| c.to_string()).collect(),
                node: None,
                bundle: BundleArgs {
                    days: 365,
                    out: None,
                    force: false,
                },
            },
        )?;
    }
    Ok(())
}

/// The demo's nodes: id, mission, port offset from [`BASE_PORT`].
const NODES: [&str; 3] = ["hub", "washington-1", "berlin-1"];

/// Sample wiki pages (title, body), in the network's languages.
const PAGES: [(&str, &str); 4] = [
    (
        "Raqamli diplomatiya",
        "Raqamli diplomatiya — tashqi siyosat maqsadlariga erishish uchun raqamli texnologiyalardan foydalanish. Oʻzbekiston elchixonalari ijtimoiy tarmoqlarda faol ishtirok etadi va axborot almashinuvi tezlashadi.",
    ),
    (
        "Рақамли дипломатия ҳақида",
        "Рақамли дипломатия — ташқи сиёсат мақсадларига эришиш учун рақамли технологиялардан фойдаланиш. Ўзбекистон элчихоналари ахборот алмашинувини тезлаштиради.",
    ),
    (
        "Консульская служба",
        "Посольства и консульства оказывают помощь гражданам за рубежом: выдача паспортов, регистрация, легализация документов. Посольство в Берлине принимает заявления по записи.",
    ),
    (
        "Consular handbook",
        "Embassies and consulates assist citizens abroad: passports, registration, legalisation. See [[Консульская служба]] and [[Raqamli diplomatiya]].",
    ),
];

/// Starts the demo's three nodes in this process, loads sample content
/// through the demo people's clients, prints how to talk to the network,
/// and serves until Ctrl-C (or for `serve_for`).
pub fn serve(dir: &Path, serve_for: Option<std::time::Duration>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve_async(dir, serve_for))
}

async fn serve_async(dir: &Path, serve_for: Option<std::time::Duration>) -> Result<()> {
    use std::time::Duration;

    use anyhow::Context;
    use chapar_node::config::NodeConfig;

    let mut nodes = Vec::new();
    for id in NODES {
        let path = dir
            .join("nodes")
            .join(id)
            .join(chapar_node::config::FILE_NAME);
        let cfg = NodeConfig::load(&path)?;
        nodes.push(
            chapar_node::start(cfg).await.with_context(|| {
                format!("cannot start demo node {id} (is another demo running?)")
            })?,
        );
    }
    let all_live = || {
        nodes[1..].iter().all(|n| {
            n.status()["peers"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["id"] == "hub" && p["state"] == "live"))
        })
    };
    let start = std::time::Instant::now();
    while !all_live() && start.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = load_samples(dir).await?;
    // Let the samples spread before printing: the releases reach the
    // addressees through the hub.
    let holds = |n: &chapar_node::Running, id: &chapar_proto::DocId| {
        n.shared().store.contains(id).unwrap_or(false)
    };
    let start = std::time::Instant::now();
    while !(holds(&nodes[2], &ids.washington_release) && holds(&nodes[1], &ids.berlin_release))
        && start.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("Local network running (Ctrl-C to stop):");
    for n in &nodes {
        let s = n.status();
        println!(
            "  {:<13} {:<16} {:<15} {:<13} {:>3} documents",
            s["node"].as_str().unwrap_or(""),
            s["listen"].as_str().unwrap_or(""),
            s["mission"].as_str().unwrap_or(""),
            s["accreditation"].as_str().unwrap_or(""),
            s["documents"]
        );
    }
    let d = dir.display();
    println!(
        "\nTalk to it as one of the demo people, from another terminal (from the source tree,\n\
         `chapar` is `cargo run -q -p chapar-client --`):\n\
         \n  chapar --bundle {d}/users/dilnoza search raqamli diplomatiya   # finds both scripts\
         \n  chapar --bundle {d}/users/erkin search посольство            # and Russian inflections\
         \n  chapar --bundle {d}/users/dilnoza list                  # Berlin: what Dilnoza may see\
         \n  chapar --bundle {d}/users/dilnoza fetch {}\
         \n  chapar --bundle {d}/users/bobur watch                   # new documents as they arrive\
         \n  chapar --bundle {d}/users/dilnoza cable draft --to emb-washington --subject \"Hello\" --body \"Text\"\
         \n  chapar --bundle {d}/users/aziza wiki edit --title \"Protocol\" --body \"Notes\"\
         \n  chapar --bundle {d}/users/bobur status\
         \n  cargo run -q -p chapar-node -- status --config {d}/nodes/hub/node.toml\n",
        ids.washington_release
    );
    match serve_for {
        Some(d) => tokio::time::sleep(d).await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    for n in nodes {
        n.stop().await;
    }
    Ok(())
}

/// Ids of the sample cables' releases, to check that they spread.
struct SampleIds {
    washington_release: chapar_proto::DocId,
    berlin_release: chapar_proto::DocId,
}

async fn load_samples(dir: &Path) -> Result<SampleIds> {
    use chapar_proto::wiki::title;
    use chapar_proto::{
        Body, Cable, CableRelease, Classification, Document, Id, Precedence, Tag, WikiRevision,
    };

    use crate::admin::ministry::now_ms;
    use crate::rpc::Timeouts;
    use crate::user::Bundle;

    let person = |id: &str| Bundle::open(Some(&dir.join("users").join(id)));
    let (aziza, bobur, dilnoza) = (person("aziza")?, person("bobur")?, person("dilnoza")?);
    let sign = |b: &Bundle, body: Body| -> Result<Document> {
        Ok(Document::sign(&b.signing_key()?, now_ms(), body)?)
    };
    let id = |s: &str| Id::new(s).map_err(anyhow::Error::from);
    let tag = |s: &str| Tag::new(s).map_err(anyhow::Error::from);

    let aziza_c = aziza.connect(Timeouts::default()).await?;
    // Pages sit at their titles' ids, as `chapar wiki edit` puts them.
    let page_of = |title: &str| title::page_id(&title::key(title), 0);
    for (title, body) in PAGES.iter() {
        let page = WikiRevision {
            page: page_of(title),
            parents: vec![],
            title: (*title).into(),
            classification: Classification::Unclassified,
            caption: None,
            body: (*body).into(),
            summary: "demo content".into(),
        };
        aziza_c
            .submit(sign(&aziza, Body::WikiRevision(page))?.as_bytes())
            .await?;
    }
    let nodis = WikiRevision {
        page: page_of("Delegation visit planning"),
        parents: vec![],
        title: "Delegation visit planning".into(),
        classification: Classification::Secret,
        caption: Some(chapar_proto::Caption::new("NODIS")?),
        body: "Only NODIS holders cleared SECRET see this page.".into(),
        summary: "demo content".into(),
    };
    aziza_c
        .submit(sign(&aziza, Body::WikiRevision(nodis))?.as_bytes())
        .await?;

    let mut releases = Vec::new();
    for (who, to, info, precedence, classification, tags, subject, text) in [
        (
            &bobur,
            "mfa",
            Some("emb-berlin"),
            Precedence::Immediate,
            Classification::Confidential,
            ["PREL", "US"],
            "Digital diplomacy dialogue with the State Department",
            "1. (C) The State Department proposes a working group on digital diplomacy. Посольство рекомендует согласиться.",
        ),
        (
            &dilnoza,
            "emb-washington",
            None,
            Precedence::Routine,
            Classification::Restricted,
            ["ECON", "DE"],
            "Consular cooperation: visa facilitation",
            "1. Berlin reports progress on visa facilitation; konsullik xizmati yangi tartibni joriy qildi.",
        ),
    ] {
        let client = who.connect(Timeouts::default()).await?;
        let draft = sign(
            who,
            Body::Cable(Cable {
                originator: who.mission()?,
                action: vec![id(to)?],
                info: info.map(id).transpose()?.into_iter().collect(),
                precedence,
                classification,
                caption: None,
                tags: {
                    let mut t = vec![tag(tags[0])?, tag(tags[1])?];
                    t.sort();
                    t
                },
                subject: subject.into(),
                references: vec![],
                body: text.into(),
            }),
        )?;
        client.submit(draft.as_bytes()).await?;
        let release = sign(who, Body::CableRelease(CableRelease::new(draft, vec![])?))?;
        let (rid, _) = client.submit(release.as_bytes()).await?;
        releases.push(rid);
    }
    Ok(SampleIds {
        washington_release: releases[0],
        berlin_release: releases[1],
    })
}
