//! Scheduling priorities of the node's background threads.
//!
//! Work nobody is waiting on yields the CPU to work somebody is: a live
//! cable, a person's request, a search. Two levels, as `nice` values
//! (Linux: `setpriority` on a thread id changes that thread only, and
//! threads it starts inherit it):
//!
//! - [`Priority::Bulk`]: verifying the large groups of a catch-up. It must
//!   not delay live documents, on this node or on others sharing the
//!   machine.
//! - [`Priority::Background`]: keeping the search index up to date (its
//!   thread, tantivy's indexing workers and merges). During a catch-up the
//!   node first holds what its peers send, durably; search catches up from
//!   the store afterwards, and meanwhile uses whatever CPU is idle. On an
//!   idle node the index still follows within its commit interval.
//!
//! An unprivileged process cannot raise a thread's priority back, so each
//! thread is lowered once, for good, when it starts.

/// How far below normal a thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Bulk verification of a catch-up (nice 10).
    Bulk,
    /// Search indexing (nice 19).
    Background,
}

impl Priority {
    /// The `nice` value.
    pub fn nice(self) -> i32 {
        match self {
            Priority::Bulk => 10,
            Priority::Background => 19,
        }
    }
}

/// Lowers the calling thread to `priority`, for the rest of its life.
/// Best effort: a failure only costs latency elsewhere.
pub fn lower_current_thread(priority: Priority) {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, priority.nice());
    }
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
}
