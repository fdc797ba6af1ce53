//! Key and certificate files on disk: written atomically without following symlinks,
//! secrets read into memory that is wiped on drop, and private key files checked for
//! permissions that let other users read them.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::{Zeroize, Zeroizing};

use crate::CertError;

/// Who may read a file written by [`write_atomic`] / [`write_new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Mode 0644: certificates, CRLs, rosters, configuration.
    Public,
    /// Mode 0600, from the moment the file exists (never chmod-ed later): private keys.
    Secret,
}

impl Access {
    #[cfg(unix)]
    fn mode(self) -> u32 {
        match self {
            Access::Public => 0o644,
            Access::Secret => 0o600,
        }
    }
}

fn write_err(path: &Path, source: std::io::Error) -> CertError {
    CertError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Distinguishes the temporary files of one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Opens a fresh file for writing: `create_new` (O_EXCL: never an existing file, never
/// through a symlink an attacker planted at that name) and, on Unix, O_NOFOLLOW as well,
/// with the final mode from the start.
fn create_new(path: &Path, access: Access) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(access.mode()).custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    let _ = access;
    opts.open(path)
}

/// Writes `contents` to a new temporary file beside `path` (created with [`create_new`]),
/// syncs it, and returns its name. The caller moves it into place.
fn write_temp(path: &Path, contents: &[u8], access: Access) -> Result<PathBuf, CertError> {
    let dir = parent(path);
    let name = path
        .file_name()
        .ok_or_else(|| write_err(path, std::io::Error::other("not a file path")))?
        .to_string_lossy()
        .into_owned();
    // A name nobody else uses: pid, a per-process counter and randomness. create_new
    // refuses a name that exists anyway; retry a few times with a fresh one.
    let mut last = None;
    for _ in 0..8 {
        let mut rnd = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
            .map_err(|_| CertError::Random)?;
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}-{:016x}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed),
            u64::from_le_bytes(rnd)
        ));
        match create_new(&tmp, access) {
            Ok(mut f) => {
                let written = f.write_all(contents).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    let _ = fs::remove_file(&tmp);
                    return Err(write_err(path, e));
                }
                return Ok(tmp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(write_err(path, e)),
        }
    }
    Err(write_err(
        path,
        last.unwrap_or_else(|| std::io::Error::other("no free temporary name")),
    ))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or link durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `path` atomically, replacing any file there: a temporary file in the same
/// directory is created with `create_new` and O_NOFOLLOW (mode 0600 for a secret from the
/// start), written and synced, then renamed over `path`. A reader never sees half a file;
/// a symlink at `path` is replaced, never followed.
pub fn write_atomic(path: &Path, contents: &[u8], access: Access) -> Result<(), CertError> {
    let tmp = write_temp(path, contents, access)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(path, e));
    }
    sync_dir(parent(path));
    Ok(())
}

/// Like [`write_atomic`], but never replaces anything: fails with
/// [`std::io::ErrorKind::AlreadyExists`] (as [`CertError::Write`]) if `path` exists, even as
/// a dangling symlink. The complete file appears at once (hard link of the synced
/// temporary file), so an interrupted run leaves no half-written key behind.
pub fn write_new(path: &Path, contents: &[u8], access: Access) -> Result<(), CertError> {
    let tmp = write_temp(path, contents, access)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| write_err(path, e))?;
    sync_dir(parent(path));
    Ok(())
}

/// Reads a secret text file (a private key) into memory that is wiped when dropped. The
/// buffer is sized from the file's length first, so it is not reallocated (leaving copies
/// behind) while reading.
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, CertError> {
    let io = |source| CertError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1));
    f.read_to_end(&mut buf).map_err(io)?;
    match String::from_utf8(std::mem::take(&mut *buf)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(CertError::Pem {
                what: path.display().to_string(),
                reason: "not text (invalid UTF-8); expected a PEM file".to_owned(),
            })
        }
    }
}

/// Refuses a private key file that users other than its owner can read or write (any
/// group or other permission bit), with the `chmod` that fixes it. On systems without Unix
/// permissions this checks only that the file exists.
pub fn check_key_permissions(path: &Path) -> Result<(), CertError> {
    let meta = fs::metadata(path).map_err(|source| CertError::Io {
        path: path.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(CertError::KeyPermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_sets_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        write_atomic(&p, b"one", Access::Secret).unwrap();
        write_atomic(&p, b"two", Access::Secret).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Nothing else is left in the directory.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_replaced_or_refused_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("node.key");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = write_new(&link, b"secret", Access::Secret).unwrap_err();
        assert!(
            matches!(&err, CertError::Write { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        write_atomic(&link, b"secret", Access::Secret).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A dangling symlink is not followed either.
        let dangling = dir.path().join("other.key");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(write_new(&dangling, b"x", Access::Secret).is_err());
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        write_new(&p, b"first", Access::Public).unwrap();
        assert!(write_new(&p, b"second", Access::Public).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn readable_keys_are_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        write_atomic(&p, b"k", Access::Secret).unwrap();
        check_key_permissions(&p).unwrap();
        for mode in [0o640, 0o604, 0o644, 0o660, 0o602] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let err = check_key_permissions(&p).unwrap_err().to_string();
            assert!(
                err.contains(&format!("chmod 600 {}", p.display()))
                    && err.contains(&format!("{mode:04o}")),
                "{err}"
            );
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(0o400)).unwrap();
        check_key_permissions(&p).unwrap();
    }

    #[test]
    fn secrets_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        write_atomic(&p, "é-key".as_bytes(), Access::Secret).unwrap();
        assert_eq!(read_secret(&p).unwrap().as_str(), "é-key");
        fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_secret(&p).unwrap_err().to_string().contains("UTF-8"));
        let missing = read_secret(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none"), "{missing}");
    }
}
