//! The one error type of `chapar-certs`.

use std::path::PathBuf;

use time::OffsetDateTime;

/// RFC 3339 rendering of a time for error messages.
pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Everything that can go wrong while creating, importing, issuing, parsing or
/// turning PKI material into rustls configurations.
///
/// Each message says what is wrong and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A node or user id does not follow the identity rules.
    #[error(
        "invalid identity id {id:?}: {reason}; ids are 1..=64 characters of [a-z0-9-] and do not start or end with '-'"
    )]
    InvalidId {
        /// The rejected id.
        id: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// A string is not a `urn:chapar:node:<id>` / `urn:chapar:user:<id>` URI.
    #[error(
        "invalid chapar identity URI {uri:?}: {reason}; expected urn:chapar:node:<id> or urn:chapar:user:<id>"
    )]
    InvalidUri {
        /// The rejected URI.
        uri: String,
        /// Why it was rejected.
        reason: String,
    },

    /// PEM text could not be parsed, or holds no item of the expected type.
    #[error("malformed PEM in {what}: {reason}")]
    Pem {
        /// Which input (e.g. "CA certificate", "CA private key", a file name).
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// DER (inside a PEM or given directly) is not a valid certificate or CRL.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// Which input.
        what: String,
        /// The parser's complaint.
        reason: String,
    },

    /// A certificate offered as the CA is not a CA certificate.
    #[error(
        "the CA certificate is not a CA ({reason}); import a certificate with basicConstraints=critical,CA:TRUE"
    )]
    NotCa {
        /// What is missing.
        reason: String,
    },

    /// The CA certificate's key usage does not allow what chapar needs.
    #[error(
        "the CA certificate's keyUsage lacks {missing}; reissue the CA with keyUsage=critical,keyCertSign,cRLSign"
    )]
    CaKeyUsage {
        /// The missing key usage bit.
        missing: &'static str,
    },

    /// The private key does not belong to the certificate it was given with.
    #[error(
        "{what} key does not match {what} certificate; check that the key file belongs to this certificate"
    )]
    KeyMismatch {
        /// "CA" or "own".
        what: &'static str,
    },

    /// A key or certificate uses an algorithm chapar does not support.
    #[error(
        "{what} uses unsupported key algorithm {found}; chapar supports ECDSA P-256 and Ed25519"
    )]
    UnsupportedAlgorithm {
        /// Which input.
        what: String,
        /// The algorithm found (name or OID).
        found: String,
    },

    /// A private key is encrypted; chapar only reads plaintext keys.
    #[error(
        "{what} is encrypted; decrypt it first (e.g. `openssl pkey -in key.pem -out plain.pem`) and protect the file with permissions"
    )]
    EncryptedKey {
        /// Which input.
        what: String,
    },

    /// A certificate is outside its validity window.
    #[error("{what} expired at {}; issue or import a fresh one", fmt_time(*not_after))]
    Expired {
        /// Which certificate.
        what: String,
        /// When it expired.
        not_after: OffsetDateTime,
    },

    /// A CA name is unusable.
    #[error("invalid CA name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: String,
    },

    /// A server configuration was requested without any CRL.
    #[error(
        "no CRL given: a chapar server refuses to run without a CRL from the ministry CA, or revoked clients would be accepted; issue one (an empty CRL is fine) with `Ca::crl`"
    )]
    NoCrl,

    /// A certificate of the wrong kind was given (e.g. a user certificate to serve).
    #[error("{identity} cannot {role}; use a node certificate")]
    WrongKind {
        /// The identity found in the certificate.
        identity: String,
        /// What it was asked to do.
        role: &'static str,
    },

    /// A requested validity window is impossible.
    #[error("invalid validity: {0}")]
    Validity(String),

    /// A certificate carries no chapar identity.
    #[error("certificate has no urn:chapar SAN URI; it was not issued for chapar")]
    NoIdentity,

    /// A certificate carries more than one chapar identity.
    #[error("certificate has {0} urn:chapar SAN URIs; exactly one is required")]
    MultipleIdentities(usize),

    /// A certificate serial number cannot be represented as chapar uses them.
    #[error("invalid serial number: {0}")]
    Serial(String),

    /// A name (DNS name) cannot be put in a certificate.
    #[error("invalid subject alternative name {name:?}: {reason}")]
    InvalidSan {
        /// The rejected name.
        name: String,
        /// Why.
        reason: String,
    },

    /// A certificate or CRL was not issued by the ministry CA.
    #[error("{what} was not issued by the ministry CA ({reason}); use material issued by this CA")]
    WrongIssuer {
        /// Which input.
        what: String,
        /// What does not match.
        reason: String,
    },

    /// rcgen refused to build a certificate or CRL.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),

    /// rustls refused the configuration (e.g. key does not match certificate).
    #[error("TLS configuration rejected: {0}")]
    Tls(#[from] rustls::Error),

    /// The rustls WebPKI verifier could not be built (e.g. a CRL it cannot parse).
    #[error("certificate verifier could not be built: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),

    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A private key file can be read (or written) by users other than its owner.
    #[error(
        "private key {} is readable or writable by group or others (mode {mode:04o}); restrict it with `chmod 600 {}` and make sure it belongs to the account that runs chapar",
        path.display(),
        path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// A certificate signing request (PKCS#10) cannot be signed.
    #[error("certificate request {what}: {reason}")]
    Csr {
        /// Which input.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Random number generation failed (system entropy unavailable).
    #[error("system random number generator failed; check /dev/urandom")]
    Random,
}
