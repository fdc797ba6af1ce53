//! Canonical binary encoding.
//!
//! Every value has exactly one byte string. The rules (see
//! `docs/wire-format.md`):
//!
//! - unsigned integers are LEB128 varints of at most 10 bytes and *minimal*
//!   (no trailing `0x00` continuation groups);
//! - byte strings and UTF-8 strings are a varint length followed by the bytes,
//!   each field with its own maximum length;
//! - sequences are a varint count followed by the items; sets are sequences
//!   whose items are strictly ascending (so no duplicates and one order);
//! - optional values are a `0x00` (absent) or `0x01` (present) tag;
//! - enumerations are one byte; unknown codes are rejected;
//! - a decoder must consume its input exactly: trailing bytes are rejected.
//!
//! There are no maps, no floats and no field tags: a field's meaning is its
//! position, and new fields mean a new format version.

use thiserror::Error;

/// Why bytes were refused by the decoder. Each variant names the field that
/// was being read, so that a log line points at the problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    #[error("truncated input while reading {field}")]
    Truncated {
        /// Field being read.
        field: &'static str,
    },
    /// A varint used more bytes than needed, or overflowed 64 bits.
    #[error("non-minimal or overlong integer in {field}")]
    NonMinimalInteger {
        /// Field being read.
        field: &'static str,
    },
    /// A length or count exceeded the field's maximum.
    #[error("{field} is {len} long, more than the maximum {max}")]
    TooLong {
        /// Field being read.
        field: &'static str,
        /// Length found.
        len: u64,
        /// Maximum allowed.
        max: u64,
    },
    /// Bytes remained after the value was complete.
    #[error("{count} trailing bytes after {field}")]
    TrailingBytes {
        /// Value that was complete.
        field: &'static str,
        /// Number of bytes left over.
        count: usize,
    },
    /// A string was not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// Field being read.
        field: &'static str,
    },
    /// An enumeration or tag byte had a value this version does not know.
    #[error("unknown code {code} for {field}")]
    UnknownCode {
        /// Field being read.
        field: &'static str,
        /// The code found.
        code: u64,
    },
    /// A set was not strictly ascending (unsorted or duplicated items).
    #[error("{field} is not strictly ascending (unsorted or duplicate item)")]
    NotAscending {
        /// Field being read.
        field: &'static str,
    },
    /// A field's value broke a rule of its type (identifier syntax, empty
    /// required field, reference to something unknown, ...).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Field being read.
        field: &'static str,
        /// What rule was broken.
        reason: String,
    },
    /// The envelope's magic bytes were wrong: this is not a chapar document.
    #[error("not a chapar document (bad magic bytes)")]
    BadMagic,
    /// The envelope's format version is not one this build understands.
    #[error("unsupported format version {0} (this build reads versions 1 and 2)")]
    UnsupportedVersion(u8),
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the canonical bytes of `self` to `w`.
    fn encode(&self, w: &mut Writer);

    /// The canonical bytes of `self`.
    fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        self.encode(&mut w);
        w.into_bytes()
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from `r`, rejecting any non-canonical form.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes `bytes` as exactly one value, rejecting trailing bytes.
    fn from_bytes(bytes: &[u8], what: &'static str) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish(what)?;
        Ok(v)
    }
}

/// Most bytes a sequence decoder reserves before its items have decoded.
const PREALLOC_BYTES: usize = 64 << 10;

/// Appends canonical encodings to a growing buffer.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer with room for `n` bytes.
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// One raw byte (enumerations, tags).
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Raw bytes of a fixed-size field (keys, hashes, signatures).
    pub fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    /// A minimal LEB128 varint.
    pub fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// A length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }

    /// A length-prefixed UTF-8 string.
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A bool as one byte, `0x00` or `0x01`.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }

    /// An optional value: `0x00`, or `0x01` followed by the value.
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }

    /// A sequence: count, then each item.
    pub fn seq<T: Encode>(&mut self, items: &[T]) {
        self.varint(items.len() as u64);
        for it in items {
            it.encode(self);
        }
    }
}

/// Reads canonical encodings from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self, field: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { field, count }),
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { field });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// One raw byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    /// A fixed-size array.
    pub fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// A minimal LEB128 varint of at most 64 bits.
    pub fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = self.u8(field)?;
            let group = u64::from(byte & 0x7f);
            // The tenth byte may only carry the single top bit of a u64.
            if i == 9 && (byte & 0xfe) != 0 {
                return Err(DecodeError::NonMinimalInteger { field });
            }
            v |= group << (7 * i);
            if byte & 0x80 == 0 {
                // A final zero group after the first byte means the encoder
                // could have stopped earlier.
                if i > 0 && byte == 0 {
                    return Err(DecodeError::NonMinimalInteger { field });
                }
                return Ok(v);
            }
        }
        Err(DecodeError::NonMinimalInteger { field })
    }

    /// A varint that must not exceed `max`.
    pub fn bounded(&mut self, field: &'static str, max: u64) -> Result<u64, DecodeError> {
        let v = self.varint(field)?;
        if v > max {
            return Err(DecodeError::TooLong { field, len: v, max });
        }
        Ok(v)
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.bounded(field, max as u64)? as usize;
        self.take(len, field)
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    pub fn str(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        let b = self.bytes(field, max)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// A bool, `0x00` or `0x01`.
    pub fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            code => Err(DecodeError::UnknownCode {
                field,
                code: code.into(),
            }),
        }
    }

    /// An optional value.
    pub fn option<T>(
        &mut self,
        field: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.bool(field)? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A sequence of at most `max` items.
    pub fn seq<T: Decode>(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.bounded(field, max as u64)? as usize;
        // Each item takes at least one byte, but may be far larger in
        // memory than on the wire (a person is ~140 bytes, its first byte
        // can already fail): reserve no more than remains, and at most
        // `PREALLOC_BYTES`; beyond that the vector grows only as items
        // actually decode, so memory follows the input.
        let cap = PREALLOC_BYTES / std::mem::size_of::<T>().max(1);
        let mut out = Vec::with_capacity(n.min(self.remaining()).min(cap));
        for _ in 0..n {
            out.push(T::decode(self)?);
        }
        Ok(out)
    }

    /// A set: a sequence whose items are strictly ascending.
    pub fn set<T: Decode + Ord>(
        &mut self,
        field: &'static str,
        max: usize,
    ) -> Result<Vec<T>, DecodeError> {
        let items: Vec<T> = self.seq(field, max)?;
        ensure_ascending(&items, field)?;
        Ok(items)
    }
}

/// Fails unless `items` is strictly ascending.
pub fn ensure_ascending<T: Ord>(items: &[T], field: &'static str) -> Result<(), DecodeError> {
    if items.windows(2).all(|w| w[0] < w[1]) {
        Ok(())
    } else {
        Err(DecodeError::NotAscending { field })
    }
}

/// Fails when a length or count is over its field's maximum; used by
/// constructors so that nothing is built that could not be decoded.
pub fn ensure_max(field: &'static str, len: usize, max: usize) -> Result<(), DecodeError> {
    if len > max {
        return Err(DecodeError::TooLong {
            field,
            len: len as u64,
            max: max as u64,
        });
    }
    Ok(())
}

macro_rules! fixed_array_codec {
    ($($n:literal),*) => {$(
        impl Encode for [u8; $n] {
            fn encode(&self, w: &mut Writer) {
                w.fixed(self);
            }
        }
        impl Decode for [u8; $n] {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.fixed("fixed-size bytes")
            }
        }
    )*};
}
fixed_array_codec!(16, 32, 64);

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut w = Writer::default();
        w.varint(v);
        w.into_bytes()
    }

    #[test]
    fn varint_known_encodings() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(enc(u64::MAX).len(), 10);
        for v in [0, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let b = enc(v);
            let mut r = Reader::new(&b);
            assert_eq!(r.varint("v"), Ok(v));
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn varint_rejects_non_minimal_and_overflow() {
        let bad: &[&[u8]] = &[
            &[0x80, 0x00],                                                 // 0 in two bytes
            &[0xff, 0x00],                                                 // 127 in two bytes
            &[0x80, 0x80, 0x00],                                           // 0 in three bytes
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], // > u64::MAX
            &[
                0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
            ], // 11 bytes
        ];
        for b in bad {
            let mut r = Reader::new(b);
            assert_eq!(
                r.varint("v"),
                Err(DecodeError::NonMinimalInteger { field: "v" }),
                "{b:02x?}"
            );
        }
        let mut r = Reader::new(&[0x80]);
        assert_eq!(r.varint("v"), Err(DecodeError::Truncated { field: "v" }));
    }

    #[test]
    fn strings_are_bounded_and_utf8() {
        let mut w = Writer::default();
        w.str("привет");
        let b = w.into_bytes();
        assert_eq!(Reader::new(&b).str("s", 64).as_deref(), Ok("привет"));
        assert!(matches!(
            Reader::new(&b).str("s", 3),
            Err(DecodeError::TooLong { field: "s", .. })
        ));
        assert_eq!(
            Reader::new(&[2, 0xc3, 0x28]).str("s", 8),
            Err(DecodeError::InvalidUtf8 { field: "s" })
        );
    }

    #[test]
    fn sets_must_ascend() {
        let mut w = Writer::default();
        w.seq(&[[2u8; 16], [1u8; 16]]);
        let b = w.into_bytes();
        assert_eq!(
            Reader::new(&b).set::<[u8; 16]>("s", 8),
            Err(DecodeError::NotAscending { field: "s" })
        );
        let mut w = Writer::default();
        w.seq(&[[1u8; 16], [1u8; 16]]);
        let b = w.into_bytes();
        assert!(Reader::new(&b).set::<[u8; 16]>("s", 8).is_err());
    }

    #[test]
    fn hostile_count_does_not_allocate() {
        // Claims 2^40 items but holds none: must fail fast, not reserve.
        let mut w = Writer::default();
        w.varint(1 << 40);
        let b = w.into_bytes();
        assert!(matches!(
            Reader::new(&b).seq::<[u8; 32]>("s", usize::MAX),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
