//! Who a certificate speaks for: `urn:chapar:node:<id>` or `urn:chapar:user:<id>`.

use std::fmt;

use crate::CertError;

/// Prefix shared by every chapar identity URI.
pub const URN_PREFIX: &str = "urn:chapar:";

/// Maximum length of a node or user id.
pub const MAX_ID_LEN: usize = 64;

/// Who a certificate speaks for. SAN URI form: `urn:chapar:node:<id>` / `urn:chapar:user:<id>`.
///
/// Ids are 1..=64 characters of `[a-z0-9-]`, not starting or ending with `-`.
/// Build values with [`Identity::node`], [`Identity::user`] or [`Identity::parse_uri`], which
/// validate; every function of this crate that consumes an `Identity` validates it again, so a
/// value built directly from the variants cannot smuggle a bad id into a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// A mission node (server and client of node-to-node QUIC).
    Node(String),
    /// A person (client only).
    User(String),
}

impl Identity {
    /// A node identity; fails if `id` breaks the id rules.
    pub fn node(id: impl Into<String>) -> Result<Self, CertError> {
        let id = id.into();
        validate_id(&id)?;
        Ok(Identity::Node(id))
    }

    /// A user identity; fails if `id` breaks the id rules.
    pub fn user(id: impl Into<String>) -> Result<Self, CertError> {
        let id = id.into();
        validate_id(&id)?;
        Ok(Identity::User(id))
    }

    /// The SAN URI, e.g. `urn:chapar:user:amina`.
    pub fn uri(&self) -> String {
        format!("{URN_PREFIX}{}:{}", self.kind(), self.id())
    }

    /// Parses a SAN URI. Matching is exact and case-sensitive (chapar only ever writes the
    /// lowercase form), so `URN:CHAPAR:...` is rejected rather than silently normalised.
    pub fn parse_uri(uri: &str) -> Result<Identity, CertError> {
        let bad = |reason: &str| CertError::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = uri
            .strip_prefix(URN_PREFIX)
            .ok_or_else(|| bad("does not start with urn:chapar:"))?;
        let (kind, id) = rest
            .split_once(':')
            .ok_or_else(|| bad("missing ':' between kind and id"))?;
        validate_id(id).map_err(|e| bad(&e.to_string()))?;
        match kind {
            "node" => Ok(Identity::Node(id.to_owned())),
            "user" => Ok(Identity::User(id.to_owned())),
            _ => Err(bad("kind must be 'node' or 'user'")),
        }
    }

    /// The bare id (without kind).
    pub fn id(&self) -> &str {
        match self {
            Identity::Node(id) | Identity::User(id) => id,
        }
    }

    /// `"node"` or `"user"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Identity::Node(_) => "node",
            Identity::User(_) => "user",
        }
    }

    /// True for [`Identity::Node`].
    pub fn is_node(&self) -> bool {
        matches!(self, Identity::Node(_))
    }

    /// Re-checks the id (for values built directly from the enum variants).
    pub fn validate(&self) -> Result<(), CertError> {
        validate_id(self.id())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

/// Checks the id rules: 1..=64 chars of `[a-z0-9-]`, no leading or trailing `-`.
pub fn validate_id(id: &str) -> Result<(), CertError> {
    let bad = |reason| CertError::InvalidId {
        id: id.chars().take(80).collect(),
        reason,
    };
    if id.is_empty() {
        return Err(bad("empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(bad("longer than 64 characters"));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad("contains a character outside [a-z0-9-]"));
    }
    if id.starts_with('-') || id.ends_with('-') {
        return Err(bad("starts or ends with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_ids_round_trip() {
        for id in ["a", "paris-1", "0", &"x".repeat(64), "a-b-c"] {
            let n = Identity::node(id).unwrap();
            assert_eq!(n.uri(), format!("urn:chapar:node:{id}"));
            assert_eq!(Identity::parse_uri(&n.uri()).unwrap(), n);
            let u = Identity::user(id).unwrap();
            assert_eq!(u.to_string(), format!("urn:chapar:user:{id}"));
            assert_eq!(Identity::parse_uri(&u.uri()).unwrap(), u);
            assert_eq!(u.id(), id);
        }
    }

    #[test]
    fn bad_ids_rejected() {
        let long = "a".repeat(65);
        for id in [
            "", "Paris", "PARIS", &long, "a:b", "-a", "a-", "-", "a b", "a_b", "é", "a/b", "a.b",
        ] {
            assert!(
                matches!(Identity::node(id), Err(CertError::InvalidId { .. })),
                "{id:?} accepted as node id"
            );
            assert!(Identity::user(id).is_err(), "{id:?} accepted as user id");
        }
    }

    #[test]
    fn bad_uris_rejected() {
        for uri in [
            "",
            "urn:chapar:node:",
            "urn:chapar:node",
            "urn:chapar:admin:x",
            "URN:CHAPAR:NODE:x",
            "urn:chapar:node:a:b",
            "urn:chapar:user:Bob",
            "https://example.org",
            "urn:chapar::x",
        ] {
            assert!(
                matches!(Identity::parse_uri(uri), Err(CertError::InvalidUri { .. })),
                "{uri:?} accepted"
            );
        }
    }

    #[test]
    fn error_message_names_the_rule() {
        let msg = Identity::node("a:b").unwrap_err().to_string();
        assert!(msg.contains("a:b") && msg.contains("[a-z0-9-]"), "{msg}");
    }
}
