//! Helpers shared by the chapar-certs integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use x509_parser::extensions::GeneralName;
use x509_parser::parse_x509_certificate;

/// Path of the real `openssl` CLI. Panics (failing the test) if it cannot be found:
/// these tests must never silently skip.
pub fn openssl() -> PathBuf {
    for p in ["/usr/bin/openssl", "/usr/local/bin/openssl", "/bin/openssl"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    if let Ok(out) = Command::new("openssl").arg("version").output()
        && out.status.success()
    {
        return PathBuf::from("openssl");
    }
    panic!(
        "the openssl CLI was not found (looked in /usr/bin, /usr/local/bin, /bin and PATH); install openssl: this test must not be skipped"
    );
}

/// Runs openssl with `args` in `dir`; panics with its output if it fails. Returns (stdout, stderr).
pub fn run_openssl(dir: &Path, args: &[&str]) -> (String, String) {
    let out = try_openssl(dir, args);
    assert!(
        out.0,
        "openssl {} failed:\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.1,
        out.2
    );
    (out.1, out.2)
}

/// Runs openssl with `args` in `dir`; returns (success, stdout, stderr).
pub fn try_openssl(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(openssl())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spawn openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Makes a self-signed CA with `openssl req -x509` in `dir`: files `<stem>.pem`, `<stem>.key`.
/// `newkey` is e.g. `ec` (with P-256 pkeyopt), `ed25519`, `rsa:2048`.
pub fn openssl_ca(dir: &Path, stem: &str, newkey: &str, exts: &[&str]) -> (String, String) {
    let key = format!("{stem}.key");
    let cert = format!("{stem}.pem");
    let mut args = vec!["req", "-x509", "-newkey", newkey];
    if newkey == "ec" {
        args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    args.extend([
        "-noenc",
        "-keyout",
        &key,
        "-out",
        &cert,
        "-days",
        "30",
        "-subj",
        "/CN=Ministry Test CA/O=Ministry of Foreign Affairs",
    ]);
    for e in exts {
        args.extend(["-addext", e]);
    }
    run_openssl(dir, &args);
    (
        std::fs::read_to_string(dir.join(&cert)).unwrap(),
        std::fs::read_to_string(dir.join(&key)).unwrap(),
    )
}

/// The standard CA extensions chapar expects.
pub const CA_EXTS: &[&str] = &[
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
];

/// DER of the single certificate in `pem`.
pub fn der_of(pem: &str) -> Vec<u8> {
    chapar_certs::read_cert_pem(pem, "test").unwrap().to_vec()
}

/// SAN URIs, DNS names and IPs of a certificate.
pub fn sans(der: &[u8]) -> (Vec<String>, Vec<String>, Vec<Vec<u8>>) {
    let (_, cert) = parse_x509_certificate(der).unwrap();
    let mut uris = vec![];
    let mut dns = vec![];
    let mut ips = vec![];
    if let Some(san) = cert.subject_alternative_name().unwrap() {
        for n in &san.value.general_names {
            match n {
                GeneralName::URI(u) => uris.push(u.to_string()),
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                _ => {}
            }
        }
    }
    (uris, dns, ips)
}
