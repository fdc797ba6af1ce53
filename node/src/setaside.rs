//! Setting aside what a newer roster no longer allows (ADR 0018).
//!
//! When the node accepts a roster, [`chapar_proto::roster::affected_since`]
//! names the earliest creation time from which it can judge an author
//! differently from the roster before (a compromised key: all time; a
//! routine change: from the change on). The documents held that were
//! created from then on are authorized again under the roster in force, and
//! those it refuses are set aside: out of the store's indexes (so out of
//! listings, fetches and reconciliation), out of the reconciliation sets,
//! out of search. So what a node holds is what it received that its newest
//! roster allows, whatever order the roster and the documents came in.
//!
//! The work runs off the async runtime, after the roster is in force, one
//! request at a time; requests that arrive meanwhile are merged (the
//! earliest time wins) and run against the newest roster.

use std::sync::{Arc, Mutex};

use chapar_proto::{Body, Document, Kind};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::indexer::Removal;
use crate::state::Shared;
use crate::store::StoreError;

/// Documents re-checked per step (each step sets its refusals aside).
const STEP: usize = 1024;

/// Pending requests to re-check, merged.
#[derive(Debug, Default)]
pub struct SetAside {
    since: Mutex<Option<u64>>,
    wake: Notify,
    /// Documents set aside since the node started.
    pub count: std::sync::atomic::AtomicU64,
}

impl SetAside {
    /// Asks for the documents created from `since_ms` on to be re-checked
    /// against the roster in force.
    pub fn request(&self, since_ms: u64) {
        let mut since = self.since.lock().unwrap_or_else(|p| p.into_inner());
        *since = Some(since.map_or(since_ms, |s| s.min(since_ms)));
        drop(since);
        self.wake.notify_one();
    }

    fn take(&self) -> Option<u64> {
        self.since.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Serves [`SetAside::request`]s until the node stops.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        if let Some(since) = shared.set_aside.take() {
            let sh = shared.clone();
            match tokio::task::spawn_blocking(move || recheck(&sh, since)).await {
                Ok(Ok(n)) if n > 0 => info!(
                    documents = n,
                    since_ms = since,
                    "set aside what the roster in force no longer allows"
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => warn!("re-checking documents against the new roster failed: {e}"),
                Err(e) => warn!("re-checking documents against the new roster failed: {e}"),
            }
            continue;
        }
        tokio::select! {
            _ = shared.set_aside.wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Re-authorizes the documents held that were created from `since` on and
/// sets aside those the roster in force refuses. Blocking. Returns how many
/// were set aside.
pub fn recheck(shared: &Shared, since: u64) -> Result<usize, StoreError> {
    let trust = shared.trust();
    let mut refused = Vec::new();
    let mut total = 0;
    for item in shared.store.items_since(since) {
        let (_, id) = item?;
        let Some(doc) = shared.store.get(&id)? else {
            continue;
        };
        if doc.kind() == Kind::Roster {
            continue;
        }
        if let Err(reason) = trust.authorize(&doc) {
            info!(doc = %id, "setting aside: {reason}");
            refused.push(doc);
            if refused.len() == STEP {
                total += set_aside(shared, std::mem::take(&mut refused))?;
            }
        }
    }
    total += set_aside(shared, refused)?;
    Ok(total)
}

/// Sets `docs` aside in the store, the reconciliation sets and search.
fn set_aside(shared: &Shared, docs: Vec<Document>) -> Result<usize, StoreError> {
    if docs.is_empty() {
        return Ok(0);
    }
    let ids = shared.store.void(&docs)?;
    let docs: Vec<Document> = docs.into_iter().filter(|d| ids.contains(&d.id())).collect();
    shared.forget(&docs);
    if let Some(search) = shared.search.get() {
        let mut removals = Vec::with_capacity(docs.len());
        for doc in docs.iter() {
            let others = match doc.body() {
                Body::WikiRevision(w) => {
                    let mut others = Vec::new();
                    for id in search.index.revisions_of(&w.page).unwrap_or_default() {
                        // `get` returns nothing for what is set aside.
                        if let Some(d) = shared.store.get(&id)? {
                            others.push(d);
                        }
                    }
                    others
                }
                _ => Vec::new(),
            };
            removals.push(Removal {
                doc: doc.clone(),
                others,
            });
        }
        search.status.remove(removals);
    }
    shared
        .set_aside
        .count
        .fetch_add(docs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(docs.len())
}
