//! A person's watchlist: the wiki pages they follow, and which of their
//! revisions they have seen. It is theirs alone: a file in their bundle
//! (owner-only, like their keys), never sent to a node.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::files::{read_text, write_atomic};

/// The file in a bundle directory.
pub const FILE_NAME: &str = "watchlist.json";

/// One watched page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// Its title when it was watched or last looked at.
    pub title: String,
    /// Revisions (hex ids) seen when the person last looked.
    pub seen: BTreeSet<String>,
}

/// The watchlist: watched pages by page id (hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watchlist {
    /// Watched pages.
    pub pages: BTreeMap<String, Watched>,
}

/// Where the watchlist of the bundle in `dir` is.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

impl Watchlist {
    /// The watchlist of the bundle in `dir` (empty if none yet).
    pub fn load(dir: &Path) -> Result<Watchlist> {
        let p = path(dir);
        if !p.exists() {
            return Ok(Watchlist::default());
        }
        let text = read_text(&p, "watchlist")?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid watchlist (fix it or delete it to start a new one)",
                p.display()
            )
        })
    }

    /// Saves it in the bundle in `dir`, readable by its owner only.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        write_atomic(&path(dir), text.as_bytes(), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watchlist_round_trips_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            Watchlist::load(dir.path()).expect("empty"),
            Watchlist::default()
        );
        let mut w = Watchlist::default();
        w.pages.insert(
            "ab".repeat(16),
            Watched {
                title: "Consular handbook".into(),
                seen: ["cd".repeat(32)].into_iter().collect(),
            },
        );
        w.save(dir.path()).expect("save");
        assert_eq!(Watchlist::load(dir.path()).expect("load"), w);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner only: {mode:o}");
        }
        std::fs::write(path(dir.path()), "{not json").expect("write");
        let err = format!("{:#}", Watchlist::load(dir.path()).expect_err("damaged"));
        assert!(err.contains("not a valid watchlist"), "{err}");
    }
}
