//! Helpers shared by the tests that run the real `chapar` binary.
//!
//! Every run is bounded by a timeout, never inherits `CHAPAR_ADMIN_DIR`, and returns its
//! exit status, stdout and stderr for the caller to check.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any single `chapar` invocation may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_chapar")
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn describe(&self) -> String {
        format!(
            "chapar {:?}\nstatus: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts exit status 0 and an empty stderr.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(
            self.status.success(),
            "expected success:\n{}",
            self.describe()
        );
        assert!(
            self.stderr.trim().is_empty(),
            "successful run wrote to stderr:\n{}",
            self.describe()
        );
        self
    }

    /// Asserts exit status `code`, and that the error (stderr, or stdout with `--json`)
    /// mentions every one of `needles`.
    #[track_caller]
    pub fn fails_with(self, code: i32, needles: &[&str]) -> Out {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit status {code}:\n{}",
            self.describe()
        );
        let text = if self.args.iter().any(|a| a == "--json") {
            &self.stdout
        } else {
            &self.stderr
        };
        for n in needles {
            assert!(
                text.contains(n),
                "error does not mention {n:?}:\n{}",
                self.describe()
            );
        }
        self
    }

    /// Asserts the usual failure of a command (exit 1, `error: ...` on stderr, nothing on
    /// stdout) mentioning every one of `needles`.
    #[track_caller]
    pub fn fails(self, needles: &[&str]) -> Out {
        let out = self.fails_with(1, needles);
        assert!(
            out.stderr.starts_with("error: "),
            "error not reported as `error: ...`:\n{}",
            out.describe()
        );
        assert!(
            out.stdout.trim().is_empty(),
            "failed run printed to stdout:\n{}",
            out.describe()
        );
        out
    }

    /// Stdout parsed as one JSON value.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
}

/// Runs `chapar <args>` with the working directory `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Out {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("CHAPAR_ADMIN_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chapar");
    let mut so = child.stdout.take().expect("stdout pipe");
    let mut se = child.stderr.take().expect("stderr pipe");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        so.read_to_string(&mut s).expect("read stdout");
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        se.read_to_string(&mut s).expect("read stderr");
        s
    });
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for chapar") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chapar {args:?} did not finish within {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        args: args.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: t_out.join().expect("stdout thread"),
        stderr: t_err.join().expect("stderr thread"),
    }
}

/// Runs `chapar <args>` in the current directory.
pub fn run(args: &[&str]) -> Out {
    run_in(Path::new("."), args)
}

/// Runs `chapar admin --dir <dir> <args>`.
pub fn admin(dir: &Path, args: &[&str]) -> Out {
    let d = dir.to_str().expect("utf-8 path");
    let mut all = vec!["admin", "--dir", d];
    all.extend_from_slice(args);
    run(&all)
}

/// Runs `chapar --json admin --dir <dir> <args>`.
pub fn admin_json(dir: &Path, args: &[&str]) -> Out {
    let d = dir.to_str().expect("utf-8 path");
    let mut all = vec!["--json", "admin", "--dir", d];
    all.extend_from_slice(args);
    run(&all)
}

/// `chapar admin init` of a ministry "Test MFA" (country UZ, own mission `mfa`) in `dir`.
pub fn init(dir: &Path) -> Value {
    admin_json(dir, &["init", "--name", "Test MFA", "--country", "uz"])
        .ok()
        .json()
}

/// The roster of the ministry in `dir`, as `roster show --json` prints it.
pub fn roster(dir: &Path) -> Value {
    admin_json(dir, &["roster", "show"]).ok().json()
}

/// A ministry with one embassy (`emb-tokyo`, JP), a hub `hub` at `hub_endpoint` and a user
/// `amina` at the ministry.
pub fn populated(dir: &Path, hub_endpoint: &str) {
    init(dir);
    admin(
        dir,
        &[
            "mission",
            "add",
            "--id",
            "emb-tokyo",
            "--name",
            "Embassy in Tokyo",
            "--country",
            "JP",
        ],
    )
    .ok();
    admin(
        dir,
        &[
            "node",
            "add",
            "--id",
            "hub",
            "--mission",
            "mfa",
            "--role",
            "hub",
            "--endpoint",
            hub_endpoint,
        ],
    )
    .ok();
    admin(
        dir,
        &[
            "user",
            "add",
            "--id",
            "amina",
            "--name",
            "Amina",
            "--mission",
            "mfa",
        ],
    )
    .ok();
}

/// Unix permission bits of a path.
pub fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// One entry of a directory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir { mode: u32 },
    File { mode: u32, bytes: Vec<u8> },
    Other,
}

/// Every path below `root` (relative), with its kind, mode and contents.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let Ok(rd) = fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.expect("read_dir entry");
            let path = e.path();
            let rel = path.strip_prefix(root).expect("below root").to_owned();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let m = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, Entry::Dir { mode: m });
                walk(root, &path, out);
            } else if meta.is_file() {
                let bytes = fs::read(&path).expect("read file");
                out.insert(rel, Entry::File { mode: m, bytes });
            } else {
                out.insert(rel, Entry::Other);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Asserts that two snapshots are equal, naming the paths that differ.
#[track_caller]
pub fn assert_same(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) {
    let mut diffs = Vec::new();
    for (p, e) in before {
        match after.get(p) {
            None => diffs.push(format!("removed: {}", p.display())),
            Some(a) if a != e => diffs.push(format!("changed: {}", p.display())),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            diffs.push(format!("added: {}", p.display()));
        }
    }
    assert!(diffs.is_empty(), "the disk changed:\n{}", diffs.join("\n"));
}

/// Runs `f` (which must run a failing command) and asserts that nothing below `root`
/// changed: no file or directory added, removed, rewritten or re-moded.
#[track_caller]
pub fn unchanged<T>(root: &Path, f: impl FnOnce() -> T) -> T {
    let before = snapshot(root);
    assert!(!before.is_empty() || root.exists(), "snapshot of nothing");
    let r = f();
    assert_same(&before, &snapshot(root));
    r
}

/// The certificate in a PEM file, mapped to its chapar identity.
pub fn cert_identity(path: &Path) -> chapar_certs::PeerCert {
    let pem = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let der = chapar_certs::read_cert_pem(&pem, &path.display().to_string()).expect("PEM cert");
    chapar_certs::peer_identity(&der).expect("chapar identity")
}

/// The CRL in a PEM file.
pub fn crl(path: &Path) -> chapar_certs::CrlInfo {
    let pem = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    chapar_certs::parse_crl_pem(&pem).expect("CRL")
}

/// A `u64` field of a JSON object.
#[track_caller]
pub fn u64_of(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

/// The `serials` array of a command's JSON outcome.
#[track_caller]
pub fn serials(v: &Value) -> Vec<u64> {
    v["serials"]
        .as_array()
        .unwrap_or_else(|| panic!("no serials in {v}"))
        .iter()
        .map(|s| s.as_u64().expect("serial is an integer"))
        .collect()
}
