//! Scheduling priorities of the node's background threads.
//!
//! Work nobody is waiting on yields the CPU to work somebody is: a live
//! cable, a person's request, a search. Two levels, as `nice` values
//! (Linux: `setpriority` on a thread id changes that thread only, and
//! threads it starts inherit it):
//!
//! - [`Priority::Bulk`]: the large groups of a catch-up, on both ends:
//!   loading and framing what a peer lacks, decoding, verifying and storing
//!   what a peer sends. It must not delay live documents, on this node or
//!   on others sharing the machine. Such work runs on a [`Pool`] of
//!   threads at this priority.
//! - [`Priority::Background`]: keeping the search index up to date (its
//!   thread, tantivy's indexing workers and merges). During a catch-up the
//!   node first holds what its peers send, durably; search catches up from
//!   the store afterwards: the indexer waits while its own node stores a
//!   catch-up ([`CatchUp`], bounded), and otherwise gets a small share of
//!   the CPU. On
//!   an idle node the index still follows within its commit interval. Nice
//!   15 rather than 19: at 19 a node's index fell more than a second behind
//!   its live documents while another node on the same machine caught up
//!   (ADR 0011).
//!
//! An unprivileged process cannot raise a thread's priority back, so each
//! thread is lowered once, for good, when it starts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How far below normal a thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Catch-up work, sent or received (nice 10).
    Bulk,
    /// Search indexing (nice 15).
    Background,
}

impl Priority {
    /// The `nice` value.
    pub fn nice(self) -> i32 {
        match self {
            Priority::Bulk => 10,
            Priority::Background => 15,
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

/// A few threads at one [`Priority`], for blocking work an async task
/// waits on: the counterpart of `tokio::task::spawn_blocking` for work that
/// must yield to everything else. Jobs run in the order they are given.
///
/// The threads exit once the pool is dropped and their queue is empty;
/// nothing joins them, because the last owner of what a job holds may be
/// that job's own thread.
pub struct Pool {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A job given to a [`Pool`] did not finish.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The job panicked.
    #[error("a {0} job panicked")]
    Panicked(&'static str),
    /// The pool's threads are gone (the node is stopping).
    #[error("the bulk threads are gone; a {0} job did not run")]
    Gone(&'static str),
}

impl Pool {
    /// Starts `threads` threads named `name`, each lowered to `priority`.
    pub fn new(name: &'static str, threads: usize, priority: Priority) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    lower_current_thread(priority);
                    loop {
                        // The lock is held only while waiting for a job.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Pool { jobs })
    }

    /// Runs `f` on one of the pool's threads and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(out);
        });
        self.jobs.send(job).map_err(|_| PoolError::Gone(what))?;
        match rx.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(PoolError::Panicked(what)),
            Err(_) => Err(PoolError::Gone(what)),
        }
    }
}

/// When this node last stored a group of a catch-up. Work derived from
/// the store (search indexing) waits while a catch-up goes on, up to a
/// bound, instead of taking a share of the CPU from it: the documents are
/// held first, then indexed in large batches (ADR 0012).
#[derive(Debug)]
pub struct CatchUp {
    epoch: Instant,
    /// Milliseconds after `epoch`, plus one, of the last group; 0 = never.
    last_ms: AtomicU64,
}

impl Default for CatchUp {
    fn default() -> Self {
        CatchUp {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl CatchUp {
    /// Records that a group of a catch-up was just received or stored.
    pub fn mark(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Whether a group of a catch-up was stored within the last `window`.
    pub fn within(&self, window: Duration) -> bool {
        let last = self.last_ms.load(Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        last != 0 && now.saturating_sub(last) <= window.as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pool_runs_jobs_at_its_priority_and_survives_a_panic() {
        let pool = Pool::new("test-bulk", 2, Priority::Bulk).expect("pool");
        let nice = pool
            .run("nice", || {
                #[cfg(target_os = "linux")]
                // SAFETY: reads the calling thread's own priority.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::getpriority(libc::PRIO_PROCESS, tid)
                }
                #[cfg(not(target_os = "linux"))]
                Priority::Bulk.nice()
            })
            .await
            .expect("job");
        assert_eq!(nice, Priority::Bulk.nice());
        let err = pool
            .run("boom", || panic!("job fails"))
            .await
            .map(|_: ()| ())
            .expect_err("a panic is reported");
        assert!(matches!(err, PoolError::Panicked("boom")), "{err}");
        // Both threads are still there: two jobs that wait for each other
        // finish only if they run at once.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let (b1, b2) = (barrier.clone(), barrier);
        let (x, y) = tokio::join!(
            pool.run("left", move || b1.wait().is_leader()),
            pool.run("right", move || b2.wait().is_leader())
        );
        assert_ne!(x.expect("left"), y.expect("right"));
    }
}
