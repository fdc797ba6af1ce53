//! The MediaWiki reader's memory stays bounded on hostile input: a text of
//! tens of mebibytes is streamed past, never held. A counting allocator
//! measures the heap; this file has one test so that nothing else runs in
//! the process meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufReader, Cursor, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use chapar_wiki::mediawiki::{DumpError, DumpReader, Limits, SkipReason};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// An export whose second page holds a text of `n` bytes, produced as it
/// is read (the test never holds it either).
fn hostile(n: u64) -> impl Read {
    let head = "<mediawiki version=\"0.11\" xml:lang=\"en\">\n  <page><title>Huge</title><ns>0</ns><id>1</id>\
                <revision><id>1</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor><ip>::1</ip>\
                </contributor><model>wikitext</model><format>text/x-wiki</format><text>";
    let tail = "</text></revision></page>\n  <page><title>Next</title><ns>0</ns><id>2</id>\
                <revision><id>2</id><timestamp>2024-01-01T00:00:00Z</timestamp><contributor><ip>::1</ip>\
                </contributor><model>wikitext</model><format>text/x-wiki</format><text>n</text></revision>\
                </page>\n</mediawiki>\n";
    Cursor::new(head)
        .chain(std::io::repeat(b'a').take(n))
        .chain(Cursor::new(tail))
}

/// Reads `input`; the titles read, the errors, and the peak heap growth.
fn measure(input: impl Read, limits: Limits) -> (Vec<String>, Vec<DumpError>, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut titles = Vec::new();
    let mut errors = Vec::new();
    for item in DumpReader::with_limits(BufReader::new(input), limits).expect("opens") {
        match item {
            Ok(page) => titles.push(page.title),
            Err(e) => errors.push(e),
        }
    }
    (
        titles,
        errors,
        PEAK.load(Ordering::Relaxed).saturating_sub(base),
    )
}

#[test]
fn a_huge_text_is_streamed_past_in_bounded_memory() {
    const MIB: usize = 1 << 20;

    // chapar's limits: a 48 MiB text costs its page, and the reader holds
    // at most about two tokens of twice the 4 MiB page limit.
    let (titles, errors, peak) = measure(hostile(48 << 20), Limits::default());
    assert_eq!(titles, ["Next"]);
    assert!(
        matches!(
            &errors[..],
            [DumpError::PageSkipped {
                reason: SkipReason::TokenTooLarge { .. },
                ..
            }]
        ),
        "{errors:?}"
    );
    assert!(
        peak < 32 * MIB,
        "reading a 48 MiB text took {} MiB of heap",
        peak / MIB
    );

    // With small limits the bound is small: a 16 MiB text takes well
    // under a mebibyte.
    let small = Limits {
        max_title: 512,
        max_text: 16 << 10,
        max_field: 4 << 10,
        max_page_bytes: 1 << 20,
    };
    let (titles, errors, peak) = measure(hostile(16 << 20), small);
    assert_eq!(titles, ["Next"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        peak < MIB,
        "reading a 16 MiB text with small limits took {peak} bytes of heap"
    );

    // Just over a small text limit: the revision is skipped, its size
    // counted without keeping it.
    let (titles, errors, peak) = measure(hostile((16 << 10) + 1), small);
    assert_eq!(titles, ["Huge", "Next"]);
    assert!(
        matches!(
            &errors[..],
            [DumpError::RevisionSkipped {
                reason: SkipReason::TextTooLong { bytes: 16385, .. },
                ..
            }]
        ),
        "{errors:?}"
    );
    assert!(peak < MIB, "{peak}");
}
