//! All-or-nothing file output.
//!
//! A command first computes everything it will write into a [`Plan`]; the
//! plan is checked (nothing is overwritten without `--force`) before any
//! byte reaches the disk. Each file is then written to a temporary name,
//! synced and renamed into place, so a reader never sees half a file.
//! Secrets are created with mode 0600 from the start, never chmod-ed later.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One file to write.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    contents: Vec<u8>,
    secret: bool,
}

/// The files a command will write.
#[derive(Debug, Default)]
pub struct Plan {
    entries: Vec<Entry>,
    /// Directories whose old contents are discarded first (`init --force`).
    discard: Vec<PathBuf>,
}

impl Plan {
    /// Adds a public file.
    pub fn file(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.push(path.into(), contents.into(), false);
    }

    /// Adds a secret file (mode 0600).
    pub fn secret(&mut self, path: impl Into<PathBuf>, contents: impl Into<Vec<u8>>) {
        self.push(path.into(), contents.into(), true);
    }

    fn push(&mut self, path: PathBuf, contents: Vec<u8>, secret: bool) {
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

/// Writes `contents` to `path` through a synced temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dirs(dir, secret)?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
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
