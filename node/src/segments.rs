//! Append-only segment files holding document envelopes, beside the
//! store's index. They are the store's write-ahead log.
//!
//! The store writes each batch's envelopes as one sequential append to the
//! active segment and syncs it: that sync is the batch's durability point.
//! Only then does it apply the index entries that point into the batch,
//! with the new end, to the index, which is flushed to disk later and in
//! the background. The index's own durable mark (the end recorded in the
//! last batch it flushed) can therefore lag the segments; on open the
//! store replays the records past it ([`file_end`] bounds them) and cuts
//! the first record that is not whole and valid, with everything after it
//! (a torn append that was never acknowledged). So the segments always end
//! up holding exactly the stored records, back to back, readable in order
//! ([`Records`]). Every read is checked by the caller (decode and hash), so
//! damaged bytes are reported, never trusted.
//!
//! Record: 4-byte big-endian length, 4-byte CRC-32 of the length and the
//! envelope, then the envelope. The checksum is how a torn append is told
//! from a whole record: the signature no longer is (a signature is judged
//! by the ingest rules, which must not decide what a crash took back; ADR
//! 0016). Segments written before layout 8 hold records without the
//! checksum; [`Formats`] says which segments do. A location is (segment
//! number, offset of the envelope, length). Segments are numbered
//! from 1 and named `NNNNNNNN.seg`; once the active segment reaches the
//! segment size, the next append starts the next one.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 256 << 20;

/// Bytes before the envelope in a record with a checksum: length, CRC-32.
const HEADER: u64 = 8;
/// Bytes before the envelope in a record of a segment written before
/// layout 8: the length only.
const OLD_HEADER: u64 = 4;

/// Which record format each segment holds: segments numbered from
/// `checksummed_from` on hold records with a checksum, earlier ones (a
/// store upgraded from layout 7 or older) records without. Appends always
/// write checksummed records, to a segment at or past `checksummed_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// The first segment whose records carry a checksum.
    pub checksummed_from: u32,
}

impl Formats {
    /// A store created by this layout: every segment is checksummed.
    pub const CHECKSUMMED: Formats = Formats {
        checksummed_from: 1,
    };
    /// A store of layout 7 or older, before its upgrade: no segment is.
    pub const UNCHECKSUMMED: Formats = Formats {
        checksummed_from: u32::MAX,
    };

    /// Whether the records of `segment` carry a checksum.
    pub fn checksummed(self, segment: u32) -> bool {
        segment >= self.checksummed_from
    }

    /// Bytes before the envelope in a record of `segment`.
    pub fn header_len(self, segment: u32) -> u64 {
        if self.checksummed(segment) {
            HEADER
        } else {
            OLD_HEADER
        }
    }

    /// Where the record whose envelope `loc` points at starts; `None` if
    /// the offset leaves no room for its header.
    pub fn record_start(self, loc: Location) -> Option<u64> {
        loc.offset.checked_sub(self.header_len(loc.segment))
    }
}

/// The checksum of a record: CRC-32 (IEEE) of its length prefix and its
/// envelope, so a torn or damaged length is caught as well as a damaged
/// envelope.
fn checksum(len: [u8; 4], envelope: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(envelope);
    h.finalize()
}

/// One whole record as this layout writes it: length, checksum, envelope.
/// For tests that write what a crash can leave behind.
#[doc(hidden)]
pub fn record_bytes(envelope: &[u8]) -> Vec<u8> {
    let len = (envelope.len() as u32).to_be_bytes();
    let mut r = Vec::with_capacity(HEADER as usize + envelope.len());
    r.extend_from_slice(&len);
    r.extend_from_slice(&checksum(len, envelope).to_be_bytes());
    r.extend_from_slice(envelope);
    r
}

/// Read buffer of [`Records`]: large enough that reading is sequential
/// I/O, small enough not to matter per scan.
const READ_BUFFER: usize = 256 << 10;

/// A place in the store's append order: a segment number and a byte offset
/// in it, at a record boundary.
///
/// Positions order as the documents were appended: `(segment, offset)`
/// lexicographically. [`Position::START`] is before every document;
/// [`Store::end`](crate::store::Store::end) is after every committed one.
/// A consumer that follows the store records the position
/// [`Store::scan`](crate::store::Store::scan) gives with each document and
/// resumes from it. The position after the last record of a full segment
/// is `(segment, its length)`, not `(segment + 1, 0)`: only positions the
/// store handed out are valid to resume from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Segment number (the first segment is 1).
    pub segment: u32,
    /// Byte offset in the segment of the next record.
    pub offset: u64,
}

impl Position {
    /// The beginning of the first segment: before every document.
    pub const START: Position = Position {
        segment: 1,
        offset: 0,
    };

    /// 12 bytes: segment (4) then offset (8), big-endian, so that the byte
    /// strings order like the positions.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..].copy_from_slice(&self.offset.to_be_bytes());
        b
    }

    /// Parses [`Position::to_bytes`]; `None` for anything not 12 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Position> {
        let b: &[u8; 12] = b.try_into().ok()?;
        Some(Position {
            segment: u32::from_be_bytes(b[..4].try_into().ok()?),
            offset: u64::from_be_bytes(b[4..].try_into().ok()?),
        })
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "segment {} offset {}", self.segment, self.offset)
    }
}

/// Where an envelope lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Segment number.
    pub segment: u32,
    /// Offset of the envelope (after its length prefix).
    pub offset: u64,
    /// Envelope length.
    pub len: u32,
}

impl Location {
    /// 16 bytes: segment, offset, length, big-endian.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.segment.to_be_bytes());
        b[4..12].copy_from_slice(&self.offset.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    /// Parses [`Location::to_bytes`]; `None` for anything else.
    pub fn from_bytes(b: &[u8]) -> Option<Location> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(Location {
            segment: u32::from_be_bytes(b[..4].try_into().ok()?),
            offset: u64::from_be_bytes(b[4..12].try_into().ok()?),
            len: u32::from_be_bytes(b[12..].try_into().ok()?),
        })
    }

    /// Where its record ends: the position of the next one.
    pub fn record_end(self) -> Position {
        Position {
            segment: self.segment,
            offset: self.offset.saturating_add(u64::from(self.len)),
        }
    }
}

struct Active {
    number: u32,
    file: File,
    size: u64,
}

/// Why the segments cannot be opened at a committed end.
#[derive(Debug)]
pub enum OpenError {
    /// A file-system operation failed.
    Io(std::io::Error),
    /// The segment holding the committed end is shorter than it: committed
    /// records are missing.
    Short {
        /// The segment.
        segment: u32,
        /// Its length.
        len: u64,
        /// The committed end in it.
        end: u64,
    },
}

impl From<std::io::Error> for OpenError {
    fn from(e: std::io::Error) -> Self {
        OpenError::Io(e)
    }
}

/// Where the segment files end: the end of the highest-numbered one
/// ([`Position::START`] if there is none). Past the store's durable mark,
/// this is how far its write-ahead tail may reach.
pub fn file_end(dir: &Path) -> std::io::Result<Position> {
    Ok(match list(dir)?.last() {
        Some(&(segment, offset)) => Position { segment, offset },
        None => Position::START,
    })
}

/// The segment files of one store.
pub struct Segments {
    dir: PathBuf,
    segment_bytes: u64,
    formats: Formats,
    active: Mutex<Active>,
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

fn name(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.seg"))
}

/// The segment numbers of the `.seg` files in `dir`, with their lengths.
pub fn list(dir: &Path) -> std::io::Result<Vec<(u32, u64)>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                let n = e
                    .file_name()
                    .to_str()
                    .and_then(|s| s.strip_suffix(".seg"))
                    .and_then(|s| s.parse::<u32>().ok());
                if let Some(n) = n {
                    out.push((n, e.metadata()?.len()));
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    out.sort_unstable();
    Ok(out)
}

impl Segments {
    /// Opens (creating) the segment directory so that it ends exactly at
    /// `end`, the end of the last whole record: bytes past it (a torn
    /// append that was never acknowledged) are cut and later segments
    /// removed, each logged. Appends then go to segment
    /// `end.segment`, starting a new one past `segment_bytes`, or if that
    /// segment holds records without checksums (`formats`).
    ///
    /// Fails with [`OpenError::Short`] if the segment of `end` is shorter
    /// than `end` (committed records lost).
    pub fn open(
        dir: &Path,
        segment_bytes: u64,
        end: Position,
        formats: Formats,
    ) -> Result<Segments, OpenError> {
        std::fs::create_dir_all(dir)?;
        for (n, len) in list(dir)? {
            if n > end.segment {
                std::fs::remove_file(name(dir, n))?;
                tracing::warn!(
                    segment = n,
                    bytes = len,
                    "store: removed a segment past the last whole record ({end}): an append that was never acknowledged"
                );
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(name(dir, end.segment))?;
        let size = file.metadata()?.len();
        match size.cmp(&end.offset) {
            Ordering::Less => {
                return Err(OpenError::Short {
                    segment: end.segment,
                    len: size,
                    end: end.offset,
                });
            }
            Ordering::Greater => {
                file.set_len(end.offset)?;
                file.sync_all()?;
                tracing::warn!(
                    segment = end.segment,
                    offset = end.offset,
                    bytes = size - end.offset,
                    "store: cut bytes past the last whole record: an append that was never acknowledged"
                );
            }
            Ordering::Equal => {}
        }
        // Make the directory entries durable (the segment directory in its
        // parent, the segment in the directory, removals): an index entry
        // must never outlive the file it points into.
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        File::open(dir)?.sync_all()?;
        Ok(Segments {
            dir: dir.to_owned(),
            segment_bytes,
            formats,
            active: Mutex::new(Active {
                number: end.segment,
                file,
                size: end.offset,
            }),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// The directory of the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends envelopes in one write and syncs them; returns where each
    /// one is and the position after the last. Callers serialise appends
    /// (the store's writer lock), and stop appending after an error (the
    /// bytes of a failed append may remain; reopening cuts them).
    pub fn append(&self, envelopes: &[&[u8]]) -> std::io::Result<(Vec<Location>, Position)> {
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        // A segment of records without checksums (a store upgraded from
        // layout 7) is never appended to: the next record starts a new one.
        if a.size >= self.segment_bytes || !self.formats.checksummed(a.number) {
            let number = a.number.checked_add(1).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::StorageFull, "segment numbers exhausted")
            })?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(name(&self.dir, number))?;
            // The directory entry of the new segment must be durable too.
            File::open(&self.dir)?.sync_all()?;
            *a = Active {
                number,
                file,
                size: 0,
            };
        }
        let total: usize = envelopes.iter().map(|e| HEADER as usize + e.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut locs = Vec::with_capacity(envelopes.len());
        let mut offset = a.size;
        for e in envelopes {
            let len = u32::try_from(e.len()).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "envelope over 4 GiB")
            })?;
            let len_bytes = len.to_be_bytes();
            buf.extend_from_slice(&len_bytes);
            buf.extend_from_slice(&checksum(len_bytes, e).to_be_bytes());
            buf.extend_from_slice(e);
            locs.push(Location {
                segment: a.number,
                offset: offset + HEADER,
                len,
            });
            offset += HEADER + u64::from(len);
        }
        a.file.write_all(&buf)?;
        a.file.sync_data()?;
        a.size = offset;
        let end = Position {
            segment: a.number,
            offset,
        };
        Ok((locs, end))
    }

    /// Reads the envelope at `loc` (unchecked: the caller decodes and
    /// hashes it).
    pub fn read(&self, loc: Location) -> std::io::Result<Vec<u8>> {
        let file = {
            let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            match readers.get(&loc.segment) {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(File::open(name(&self.dir, loc.segment))?);
                    readers.insert(loc.segment, f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0u8; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset)?;
        Ok(buf)
    }

    /// Total bytes of all segments.
    pub fn size_on_disk(&self) -> std::io::Result<u64> {
        let mut total = 0;
        for e in std::fs::read_dir(&self.dir)? {
            total += e?.metadata()?.len();
        }
        Ok(total)
    }
}

/// Why [`Records`] stopped.
#[derive(Debug)]
pub struct RecordError {
    /// Where the record that could not be read starts.
    pub at: Position,
    /// What went wrong.
    pub kind: RecordErrorKind,
}

/// What went wrong reading a record.
#[derive(Debug)]
pub enum RecordErrorKind {
    /// The file system failed.
    Io(std::io::Error),
    /// No record starts there: the bytes are damaged, or the position is
    /// not a record boundary.
    Bad(String),
}

/// The records of the segments from one position to an end, in order,
/// read sequentially through a buffer. Yields each envelope (unchecked)
/// with the position just after it; stops for good after an error.
pub struct Records {
    dir: PathBuf,
    pos: Position,
    end: Position,
    max_len: u32,
    formats: Formats,
    /// The open segment `pos.segment`, read up to `pos`, with where its
    /// records end.
    file: Option<(BufReader<File>, u64)>,
    done: bool,
}

impl Records {
    /// Records from `from` (a record boundary) up to `end` (the committed
    /// end), refusing any record longer than `max_len`, each segment read
    /// in the format `formats` gives it. A checksummed record whose
    /// checksum does not match is an error like any damaged record.
    pub fn new(
        dir: &Path,
        from: Position,
        end: Position,
        max_len: u32,
        formats: Formats,
    ) -> Records {
        Records {
            dir: dir.to_owned(),
            pos: from,
            end,
            max_len,
            formats,
            file: None,
            done: false,
        }
    }

    /// Where these records stop.
    pub fn end(&self) -> Position {
        self.end
    }

    fn bad(&self, why: String) -> RecordError {
        RecordError {
            at: self.pos,
            kind: RecordErrorKind::Bad(why),
        }
    }

    fn io(&self, e: std::io::Error) -> RecordError {
        RecordError {
            at: self.pos,
            kind: RecordErrorKind::Io(e),
        }
    }

    /// Opens segment `pos.segment` at `pos.offset`.
    fn open_segment(&mut self) -> Result<(), RecordError> {
        let path = name(&self.dir, self.pos.segment);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.bad(format!("there is no segment file {}", path.display())));
            }
            Err(e) => return Err(self.io(e)),
        };
        let len = file.metadata().map_err(|e| self.io(e))?.len();
        // Closed segments hold committed records to their end; the last
        // one up to the committed end.
        let limit = if self.pos.segment == self.end.segment {
            self.end.offset
        } else {
            len
        };
        if len < limit {
            return Err(self.bad(format!(
                "the segment is {len} bytes, its committed records reach {limit}"
            )));
        }
        if self.pos.offset > limit {
            return Err(self.bad(format!("past the segment's last record, at {limit}")));
        }
        file.seek(SeekFrom::Start(self.pos.offset))
            .map_err(|e| self.io(e))?;
        self.file = Some((BufReader::with_capacity(READ_BUFFER, file), limit));
        Ok(())
    }

    fn step(&mut self) -> Result<Option<(Vec<u8>, Position)>, RecordError> {
        loop {
            if self.pos >= self.end {
                if self.pos > self.end {
                    return Err(self.bad(format!("past the committed end ({})", self.end)));
                }
                return Ok(None);
            }
            if self.file.is_none() {
                self.open_segment()?;
            }
            let Some((reader, limit)) = self.file.as_mut() else {
                continue;
            };
            let limit = *limit;
            if self.pos.offset == limit {
                // The end of a closed segment (pos < end): on to the next.
                let Some(segment) = self.pos.segment.checked_add(1) else {
                    return Err(self.bad("no segment follows".into()));
                };
                self.pos = Position { segment, offset: 0 };
                self.file = None;
                continue;
            }
            let left = limit - self.pos.offset;
            let header_len = self.formats.header_len(self.pos.segment);
            if left < header_len {
                return Err(self.bad(format!(
                    "only {left} bytes before the segment's end at {limit}, too few for a record"
                )));
            }
            let mut header = [0u8; HEADER as usize];
            let header = &mut header[..header_len as usize];
            if let Err(e) = reader.read_exact(header) {
                return Err(self.io(e));
            }
            let len_bytes = [header[0], header[1], header[2], header[3]];
            let len = u32::from_be_bytes(len_bytes);
            if len > self.max_len {
                return Err(self.bad(format!(
                    "a record length of {len} bytes, more than any document"
                )));
            }
            if header_len + u64::from(len) > left {
                return Err(self.bad(format!(
                    "a record of {len} bytes would run past the segment's end at {limit}"
                )));
            }
            let mut envelope = vec![0u8; len as usize];
            if let Err(e) = reader.read_exact(&mut envelope) {
                return Err(self.io(e));
            }
            if header_len == HEADER {
                let stored = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
                if stored != checksum(len_bytes, &envelope) {
                    return Err(self.bad(format!(
                        "a record of {len} bytes whose checksum does not match (torn or damaged)"
                    )));
                }
            }
            self.pos.offset += header_len + u64::from(len);
            return Ok(Some((envelope, self.pos)));
        }
    }
}

impl Iterator for Records {
    type Item = Result<(Vec<u8>, Position), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.file = None;
                Some(Err(e))
            }
        }
    }
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("dir", &self.dir)
            .field("pos", &self.pos)
            .field("end", &self.end)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_roundtrip_and_order_like_their_bytes() {
        let ps = [
            Position::START,
            Position {
                segment: 1,
                offset: 300,
            },
            Position {
                segment: 1,
                offset: 1 << 40,
            },
            Position {
                segment: 2,
                offset: 0,
            },
            Position {
                segment: u32::MAX,
                offset: u64::MAX,
            },
        ];
        for w in ps.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_bytes() < w[1].to_bytes());
        }
        for p in ps {
            assert_eq!(Position::from_bytes(&p.to_bytes()), Some(p));
        }
        assert_eq!(Position::from_bytes(&[0; 11]), None);
        assert_eq!(Position::from_bytes(&[0; 13]), None);
    }

    #[test]
    fn records_read_back_what_was_appended_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let segs = Segments::open(dir.path(), 100, Position::START, Formats::CHECKSUMMED).unwrap();
        let mut ends = Vec::new();
        let envelopes: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 10 + i as usize]).collect();
        for chunk in envelopes.chunks(3) {
            let refs: Vec<&[u8]> = chunk.iter().map(|e| &e[..]).collect();
            let (locs, end) = segs.append(&refs).unwrap();
            for (loc, e) in locs.iter().zip(chunk) {
                assert_eq!(&segs.read(*loc).unwrap(), e);
            }
            assert_eq!(locs.last().unwrap().record_end(), end);
            ends.push(end);
        }
        let end = *ends.last().unwrap();
        assert!(end.segment > 2, "rolled over: {end:?}");
        let got: Vec<_> =
            Records::new(dir.path(), Position::START, end, 1000, Formats::CHECKSUMMED)
                .map(|r| r.unwrap())
                .collect();
        assert_eq!(
            got.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
            envelopes
        );
        // Every batch end is among the yielded positions.
        for e in &ends {
            assert!(got.iter().any(|(_, p)| p == e));
        }
        // Reading past the end, or refusing long records, is an error.
        let past = Position {
            segment: end.segment,
            offset: end.offset + 1,
        };
        let mut r = Records::new(dir.path(), past, end, 1000, Formats::CHECKSUMMED);
        assert!(matches!(
            r.next(),
            Some(Err(RecordError {
                kind: RecordErrorKind::Bad(_),
                ..
            }))
        ));
        assert!(r.next().is_none());
        let mut r = Records::new(dir.path(), Position::START, end, 5, Formats::CHECKSUMMED);
        assert!(matches!(r.next(), Some(Err(e)) if e.at == Position::START));
    }
}
