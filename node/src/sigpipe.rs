//! Command-line programs end quietly when their reader goes away.
//!
//! Rust ignores `SIGPIPE`, so writing to a closed pipe (`chapar search
//! --json ... | head -1`) fails with `EPIPE` and `println!` panics. Unix
//! tools instead die of the signal, silently; the binaries restore that
//! default before they print anything.

/// Restores the default action of `SIGPIPE` (terminate without a message).
/// Call first thing in `main` of a program whose output may be piped.
pub fn restore_default() {
    #[cfg(unix)]
    // SAFETY: sets the disposition of one signal to its default; no handler
    // code runs, and nothing else in the process has changed it yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
