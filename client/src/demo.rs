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
            &[Role::Reader, Role::Drafter, Role::Editor],
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
