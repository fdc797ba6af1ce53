//! The wire format is specified well enough to implement from
//! `docs/wire-format.md` alone: `tests/python/verify_vectors.py`, written
//! from that document without reading the Rust code, must decode and verify
//! every committed vector (and reject every invalid one and every bit flip).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn independent_python_implementation_accepts_the_vectors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = root.join("tests/python/verify_vectors.py");
    let vectors = root.join("docs/vectors");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&vectors)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); run .ci/run, which installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "independent verifier failed ({}):\n{stdout}\n{stderr}\n(if PyNaCl is missing: python3 -m pip install pynacl, or run .ci/run)",
        out.status
    );
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let passed: usize = summary
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad summary line {summary:?}"));
    let vector_files = std::fs::read_dir(&vectors)
        .expect("docs/vectors")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "vec"))
        })
        .count();
    assert_eq!(
        summary,
        format!("{vector_files} passed, 0 failed"),
        "every vector must be checked"
    );
    assert!(passed >= 11);
}
