//! Small vocabulary types shared by every document kind: identifiers,
//! classification levels, captions, TAGS, document and page ids.
//!
//! Each type validates on construction *and* on decode, so a value that
//! exists in memory is always one that could have been encoded.

use std::fmt;
use std::str::FromStr;

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};

/// Maximum length of an [`Id`] in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Identifier of a mission, node or person: 1 to 64 of `[a-z0-9-]`, not
/// starting or ending with `-`. The same syntax is used in certificate SAN
/// URIs (`urn:chapar:node:<id>`), so ids never need escaping.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(String);

impl Id {
    /// Validates `s` as an identifier.
    pub fn new(s: impl Into<String>) -> Result<Id, DecodeError> {
        let s = s.into();
        let reason = if s.is_empty() {
            Some("must not be empty")
        } else if s.len() > MAX_ID_LEN {
            Some("longer than 64 characters")
        } else if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            Some("only lowercase a-z, digits and '-' are allowed")
        } else if s.starts_with('-') || s.ends_with('-') {
            Some("must not start or end with '-'")
        } else {
            None
        };
        match reason {
            Some(r) => Err(DecodeError::Invalid {
                field: "identifier",
                reason: format!("{s:?}: {r}"),
            }),
            None => Ok(Id(s)),
        }
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Id {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::new(s)
    }
}

impl Encode for Id {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.0);
    }
}

impl Decode for Id {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Id::new(r.str("identifier", MAX_ID_LEN)?)
    }
}

/// Defines an upper-case code type (captions, TAGS, countries) that validates
/// its syntax on construction and decode.
macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $min:expr, $max:expr, $allowed:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, DecodeError> {
                let s = s.into();
                let allowed: fn(u8) -> bool = $allowed;
                if s.len() < $min || s.len() > $max || !s.bytes().all(allowed) {
                    return Err(DecodeError::Invalid {
                        field: $field,
                        reason: format!("{s:?}: must be {}", $rule),
                    });
                }
                Ok($name(s))
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.str(&self.0);
            }
        }

        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                $name::new(r.str($field, $max)?)
            }
        }
    };
}

code_type!(
    /// A handling caption restricting who may read a document beyond its
    /// classification, e.g. `NODIS`, `EXDIS`, `LIMDIS`, `SIPDIS`.
    Caption,
    "caption",
    1,
    32,
    |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-',
    "1 to 32 of A-Z, 0-9 and '-'"
);

code_type!(
    /// A TAGS code (Traffic Analysis by Geography and Subject): a subject
    /// such as `PREL`, `ECON`, `PGOV`, or a country such as `UZ`.
    Tag,
    "tag",
    1,
    16,
    |b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-',
    "1 to 16 of A-Z, 0-9, '_' and '-'"
);

code_type!(
    /// An ISO 3166-1 country code, alpha-2 (`UZ`) or alpha-3 (`UZB`).
    Country,
    "country",
    2,
    3,
    |b| b.is_ascii_uppercase(),
    "2 or 3 letters A-Z (ISO 3166-1)"
);

/// Defines a one-byte enumeration with a fixed code table.
macro_rules! code_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($(#[$vdoc:meta])* $variant:ident = $code:literal => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vdoc])* $variant = $code),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The one-byte wire code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// The value for a wire code.
            pub fn from_code(code: u8) -> Result<Self, $crate::codec::DecodeError> {
                match code {
                    $($code => Ok($name::$variant),)+
                    _ => Err($crate::codec::DecodeError::UnknownCode { field: $field, code: code.into() }),
                }
            }

            /// The conventional upper-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::codec::DecodeError;
            /// Parses the conventional name, case-insensitively, with `_`
            /// or `-` accepted for spaces (`niact-immediate`, `top_secret`).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let norm = s.trim().to_ascii_uppercase().replace(['_', '-'], " ");
                $(if norm == $text { return Ok($name::$variant); })+
                Err($crate::codec::DecodeError::Invalid {
                    field: $field,
                    reason: format!(
                        "{s:?}: expected one of {}",
                        [$($text),+].join(", ")
                    ),
                })
            }
        }

        impl $crate::codec::Encode for $name {
            fn encode(&self, w: &mut $crate::codec::Writer) {
                w.u8(self.code());
            }
        }

        impl $crate::codec::Decode for $name {
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::DecodeError> {
                $name::from_code(r.u8($field)?)
            }
        }
    };
}
pub(crate) use code_enum;

code_enum!(
    /// Classification level, ordered from least to most restricted. A node's
    /// accreditation and a person's clearance are levels of this scale.
    Classification, "classification", {
        /// No restriction beyond being internal to the ministry.
        Unclassified = 0 => "UNCLASSIFIED",
        /// Internal; sensitive but unclassified.
        Restricted = 1 => "RESTRICTED",
        /// Confidential.
        Confidential = 2 => "CONFIDENTIAL",
        /// Secret.
        Secret = 3 => "SECRET",
        /// Top secret.
        TopSecret = 4 => "TOP SECRET",
    }
);

/// Content address of a document: SHA-256 of its complete envelope bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId(pub [u8; 32]);

impl DocId {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", &self.to_hex()[..16])
    }
}

impl FromStr for DocId {
    type Err = DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| DecodeError::Invalid {
            field: "document id",
            reason: format!("{s:?}: expected 64 hex digits ({e})"),
        })?;
        Ok(DocId(out))
    }
}

impl Encode for DocId {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
}

impl Decode for DocId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DocId(r.fixed("document id")?))
    }
}

/// Stable identity of a wiki page across its revisions and renames: 16
/// random bytes chosen when the page is created.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageId(pub [u8; 16]);

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageId({self})")
    }
}

impl Encode for PageId {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
}

impl Decode for PageId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PageId(r.fixed("page id")?))
    }
}

/// An ed25519 public key as its 32 compressed bytes. Kept as bytes so that
/// decoding a document never does curve arithmetic; the point is only
/// decompressed when a signature is checked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl From<&ed25519_dalek::VerifyingKey> for PublicKey {
    fn from(k: &ed25519_dalek::VerifyingKey) -> Self {
        PublicKey(k.to_bytes())
    }
}

impl Encode for PublicKey {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
}

impl Decode for PublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PublicKey(r.fixed("public key")?))
    }
}

/// Checks a UTF-8 text field against its limits; `required` text must not be
/// blank.
pub(crate) fn check_text(
    field: &'static str,
    s: &str,
    max: usize,
    required: bool,
) -> Result<(), DecodeError> {
    crate::codec::ensure_max(field, s.len(), max)?;
    if required && s.trim().is_empty() {
        return Err(DecodeError::Invalid {
            field,
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

/// A classification with an optional handling caption: what a document
/// about a cable (a clearance, a receipt) carries so that it goes only
/// where the cable may go, and is seen only by who may see the cable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marking {
    /// The classification.
    pub classification: Classification,
    /// The caption, if any (NODIS, EXDIS, ...).
    pub caption: Option<Caption>,
}

impl Marking {
    /// What a clearance or receipt of envelope version 1 is taken to carry:
    /// those versions had no marking, so the cable's is unknown, and they
    /// go only where TOP SECRET may go (fail closed).
    pub const VERSION_1: Marking = Marking {
        classification: Classification::TopSecret,
        caption: None,
    };
}

impl Encode for Marking {
    fn encode(&self, w: &mut Writer) {
        self.classification.encode(w);
        w.option(self.caption.as_ref(), |w, c| c.encode(w));
    }
}

impl Decode for Marking {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Marking {
            classification: Classification::decode(r)?,
            caption: r.option("caption", Caption::decode)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate() {
        for ok in ["a", "tashkent", "emb-washington-1", &"x".repeat(64)] {
            assert!(Id::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-a", "a-", "a b", "a:b", "ü", &"x".repeat(65)] {
            assert!(Id::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn enum_names_parse() {
        assert_eq!(
            "top-secret".parse::<Classification>(),
            Ok(Classification::TopSecret)
        );
        assert_eq!(
            "Confidential".parse::<Classification>(),
            Ok(Classification::Confidential)
        );
        let err = "cosmic".parse::<Classification>().unwrap_err().to_string();
        assert!(err.contains("UNCLASSIFIED"), "{err}");
        assert!(Classification::Secret > Classification::Restricted);
        assert!(Classification::from_code(5).is_err());
    }

    #[test]
    fn codes_validate() {
        assert!(Caption::new("NODIS").is_ok());
        assert!(Caption::new("nodis").is_err());
        assert!(Tag::new("PREL").is_ok());
        assert!(Tag::new("").is_err());
        assert!(Country::new("UZ").is_ok());
        assert!(Country::new("U").is_err());
        assert!(Country::new("UZBK").is_err());
    }

    #[test]
    fn docid_hex_roundtrip() {
        let id = DocId([0xab; 32]);
        assert_eq!(id.to_hex().parse::<DocId>(), Ok(id));
        assert!("zz".parse::<DocId>().is_err());
    }
}
