//! All-or-nothing file output.
//!
//! A command first computes everything it will write into a [`Plan`]; the
//! plan is checked (nothing is overwritten without `--force`) before any
//! byte reaches the disk. Each file is then written to a temporary name
//! created with `create_new` and without following symlinks, synced and
//! renamed into place ([`chapar_certs::write_atomic`]), so a reader never
//! sees half a file and a planted symlink is never written through.
//! Secrets are created with mode 0600 from the start, never chmod-ed later,
//! and their contents are wiped from memory once written.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chapar_certs::{Access, Zeroizing};

/// One file to write.
struct Entry {
    path: PathBuf,
    contents: Zeroizing<Vec<u8>>,
    secret: bool,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .field("secret", &self.secret)
            .finish()
    }
}

/// The files a command will write.
#[derive(Debug, Default)]
pub struct Plan {
    entries: Vec<Entry>,
    /// Directories whose old contents are discarded first (`init --force`).
    discard: Vec<PathBuf>,
    /// Files removed after everything is written.
    remove: Vec<PathBuf>,
}

impl Plan {
    /// Adds a public file.
    pub fn file(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.push(path.into(), Zeroizing::new(contents.into()), false);
    }

    /// Adds a secret file (mode 0600). The plan keeps its own copy, wiped
    /// when the plan is dropped; the caller wipes theirs (pass a
    /// [`Zeroizing`] value).
    pub fn secret(&mut self, path: impl Into<PathBuf>, contents: impl AsRef<[u8]>) {
        self.push(
            path.into(),
            Zeroizing::new(contents.as_ref().to_vec()),
            true,
        );
    }

    /// The paths the plan will write, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.iter().map(|e| e.path.as_path())
    }

    fn push(&mut self, path: PathBuf, contents: Zeroizing<Vec<u8>>, secret: bool) {
        self.entries.retain(|e| e.path != path);
        self.entries.push(Entry {
            path,
            contents,
            secret,
        });
    }

    /// Removes `dir` and everything in it when the plan is committed (and
    /// only then): for state that belongs to something being replaced.
    pub fn discard_dir(&mut self, dir: impl Into<PathBuf>) {
        self.discard.push(dir.into());
    }

    /// Removes `path`, if it exists, once every file is written (a file the
    /// new state makes wrong, e.g. a key that no longer matches the
    /// certificate beside it).
    pub fn remove(&mut self, path: impl Into<PathBuf>) {
        self.remove.push(path.into());
    }

    /// Refuses to replace files the caller did not say may be replaced:
    /// every path in the plan that exists and is not in `replaceable` needs
    /// `force`.
    pub fn check(&self, force: bool, replaceable: &[&Path]) -> Result<()> {
        if force {
            return Ok(());
        }
        let clashes: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.path.exists() && !replaceable.contains(&e.path.as_path()))
            .map(|e| e.path.display().to_string())
            .collect();
        if !clashes.is_empty() {
            bail!(
                "refusing to overwrite existing file(s): {} (use --force to replace them)",
                clashes.join(", ")
            );
        }
        Ok(())
    }

    /// Writes every file. Directories are created first, mode 0700 for
    /// those that will hold a secret (whichever file comes first).
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        for d in &self.discard {
            if d.exists() {
                fs::remove_dir_all(d).with_context(|| format!("cannot remove {}", d.display()))?;
            }
        }
        let mut dirs: Vec<(&Path, bool)> = Vec::new();
        for e in &self.entries {
            let dir = e.path.parent().unwrap_or(Path::new("."));
            match dirs.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, private)) => *private |= e.secret,
                None => dirs.push((dir, e.secret)),
            }
        }
        for (dir, private) in dirs {
            create_dirs(dir, private)?;
        }
        let mut written = Vec::with_capacity(self.entries.len());
        for e in self.entries {
            write_atomic(&e.path, &e.contents, e.secret)?;
            written.push(e.path);
        }
        for path in &self.remove {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot remove {}", path.display()));
                }
            }
        }
        Ok(written)
    }
}

fn create_dirs(dir: &Path, private: bool) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    #[cfg(not(unix))]
    let _ = private;
    b.create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Writes `contents` to `path` through a synced temporary file (created
/// `create_new`, without following symlinks) and a rename.
pub fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dirs(dir, secret)?;
    let access = if secret {
        Access::Secret
    } else {
        Access::Public
    };
    chapar_certs::write_atomic(path, contents, access)?;
    Ok(())
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Reads a secret text file (a private key) into memory wiped on drop,
/// naming it in the error.
pub fn read_secret(path: &Path, what: &str) -> Result<Zeroizing<String>> {
    chapar_certs::read_secret(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Reads a binary file, naming it in the error.
pub fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_refuses_overwrite_without_force_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.txt");
        let b = dir.path().join("sub/b.key");
        fs::write(&a, "old").expect("seed");
        let mut plan = Plan::default();
        plan.file(&a, "new");
        plan.secret(&b, "secret");
        let err = plan.check(false, &[]).expect_err("clash").to_string();
        assert!(err.contains("a.txt") && err.contains("--force"), "{err}");
        assert_eq!(fs::read_to_string(&a).expect("read"), "old");
        assert!(!b.exists());
        plan.check(false, &[a.as_path()]).expect("replaceable");
        plan.commit().expect("commit");
        assert_eq!(fs::read_to_string(&a).expect("read"), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&b).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
