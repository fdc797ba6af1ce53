//! Append-only segment files holding document envelopes, beside the
//! store's index.
//!
//! The store writes each batch's envelopes as one sequential append to the
//! active segment and syncs it *before* writing the index entries that
//! point into it, so an index entry never points at bytes that are not on
//! disk. A crash after the append but before the index leaves unreferenced
//! bytes at the end of a segment: harmless, and never read. Every read is
//! checked by the caller (decode and hash), so damaged bytes are reported,
//! never trusted.
//!
//! Record: 4-byte big-endian length, then the envelope. A location is
//! (segment number, offset of the envelope, length).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A segment is closed and a new one started past this size.
const SEGMENT_BYTES: u64 = 256 << 20;

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
}

struct Active {
    number: u32,
    file: File,
    size: u64,
}

/// The segment files of one store.
pub struct Segments {
    dir: PathBuf,
    active: Mutex<Active>,
    readers: Mutex<HashMap<u32, Arc<File>>>,
}

fn name(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:08}.seg"))
}

impl Segments {
    /// Opens (creating) the segment directory; appends go to the newest
    /// segment, after whatever it holds.
    pub fn open(dir: &Path) -> std::io::Result<Segments> {
        std::fs::create_dir_all(dir)?;
        let mut newest = 1u32;
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let n = e
                .file_name()
                .to_str()
                .and_then(|s| s.strip_suffix(".seg"))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(n) = n {
                newest = newest.max(n);
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(name(dir, newest))?;
        // Make the directory entries durable (the segment directory in its
        // parent, the segment in the directory): an index entry must never
        // outlive the file it points into.
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        File::open(dir)?.sync_all()?;
        let size = file.metadata()?.len();
        Ok(Segments {
            dir: dir.to_owned(),
            active: Mutex::new(Active {
                number: newest,
                file,
                size,
            }),
            readers: Mutex::new(HashMap::new()),
        })
    }

    /// Appends envelopes in one write and syncs them; returns where each
    /// one is. Callers serialise appends (the store's writer lock).
    pub fn append(&self, envelopes: &[&[u8]]) -> std::io::Result<Vec<Location>> {
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if a.size >= SEGMENT_BYTES {
            let number = a.number + 1;
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
        let total: usize = envelopes.iter().map(|e| 4 + e.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut locs = Vec::with_capacity(envelopes.len());
        let mut offset = a.size;
        for e in envelopes {
            let len = u32::try_from(e.len()).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "envelope over 4 GiB")
            })?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(e);
            locs.push(Location {
                segment: a.number,
                offset: offset + 4,
                len,
            });
            offset += 4 + u64::from(len);
        }
        a.file.write_all(&buf)?;
        a.file.sync_data()?;
        a.size = offset;
        Ok(locs)
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
