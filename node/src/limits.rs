//! What one connected node or person may make this node do at once
//! (ADR 0019): connections, requests in progress, subscriptions and
//! listings, counted per identity over all of its connections. A claim
//! over a cap is refused at once, with a message that names the cap and
//! what to do; nothing waits in a queue that an insider could fill.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chapar_certs::Identity;

use crate::config::Limits;

/// Counts of one kind of claim, per identity.
#[derive(Debug, Default)]
pub struct PerIdentity {
    counts: Mutex<HashMap<Identity, u32>>,
}

/// One claim on a [`PerIdentity`] count, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    owner: Arc<PerIdentity>,
    who: Identity,
}

impl PerIdentity {
    /// Takes one slot for `who` if it holds fewer than `max`; otherwise
    /// returns how many it holds.
    pub fn try_take(self: &Arc<Self>, who: &Identity, max: u32) -> Result<Slot, u32> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(who.clone()).or_insert(0);
        if *n >= max {
            return Err(*n);
        }
        *n += 1;
        Ok(Slot {
            owner: self.clone(),
            who: who.clone(),
        })
    }

    /// How many slots `who` holds now.
    pub fn held(&self, who: &Identity) -> u32 {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(who)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.who) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.who);
            }
        }
    }
}

/// The node's caps and the claims held against them.
#[derive(Debug)]
pub struct Limiter {
    /// The caps in force (from `node.toml`).
    pub limits: Limits,
    /// Incoming connections, per identity.
    pub connections: Arc<PerIdentity>,
    /// Requests in progress (not subscriptions), per identity.
    pub requests: Arc<PerIdentity>,
    /// Subscriptions, per identity.
    pub subscriptions: Arc<PerIdentity>,
    /// Listings in progress, per identity: at most one.
    pub listings: Arc<PerIdentity>,
}

/// Why a claim was refused: the text a person or operator reads.
pub fn refusal(who: &Identity, what: &str, held: u32, max: u32, advice: &str) -> String {
    format!(
        "{who} already has {held} {what} in progress on this node (the limit is {max}); {advice}"
    )
}

impl Limiter {
    /// Counters for `limits`, all at zero.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            connections: Arc::default(),
            requests: Arc::default(),
            subscriptions: Arc::default(),
            listings: Arc::default(),
        }
    }

    /// Claims a connection for `who`, or says why not.
    pub fn connection(&self, who: &Identity) -> Result<Slot, String> {
        let max = self.limits.connections_per_identity;
        self.connections.try_take(who, max).map_err(|held| {
            format!(
                "{who} already has {held} connections open to this node (the limit is {max}); \
                 close some (other chapar commands or windows) and try again"
            )
        })
    }

    /// Claims a request in progress for `who`, or says why not.
    pub fn request(&self, who: &Identity) -> Result<Slot, String> {
        let max = self.limits.requests_per_identity;
        self.requests.try_take(who, max).map_err(|held| {
            refusal(
                who,
                "requests",
                held,
                max,
                "wait for their answers before sending more",
            )
        })
    }

    /// Claims a subscription for `who`, or says why not.
    pub fn subscription(&self, who: &Identity) -> Result<Slot, String> {
        let max = self.limits.subscriptions_per_identity;
        self.subscriptions.try_take(who, max).map_err(|held| {
            refusal(
                who,
                "subscriptions",
                held,
                max,
                "stop another `chapar watch` first",
            )
        })
    }

    /// Claims the one listing `who` may have in progress, or says why not.
    pub fn listing(&self, who: &Identity) -> Result<Slot, String> {
        self.listings.try_take(who, 1).map_err(|held| {
            refusal(
                who,
                "listings",
                held,
                1,
                "listings run one at a time; wait for the other one's answer",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_identity_and_given_back() {
        let limiter = Limiter::new(Limits {
            requests_per_identity: 2,
            ..Limits::default()
        });
        let a = Identity::User("aziza".into());
        let b = Identity::User("bobur".into());
        let r1 = limiter.request(&a).expect("first");
        let r2 = limiter.request(&a).expect("second");
        let refused = limiter.request(&a).expect_err("third");
        assert!(refused.contains("limit is 2"), "{refused}");
        assert!(refused.contains("aziza"), "{refused}");
        // Another person is not affected.
        let other = limiter.request(&b).expect("bobur");
        drop(r1);
        let r3 = limiter.request(&a).expect("room again");
        assert_eq!(limiter.requests.held(&a), 2);
        drop((r2, r3, other));
        assert_eq!(limiter.requests.held(&a), 0);
        assert!(limiter.requests.counts.lock().expect("lock").is_empty());
        let l = limiter.listing(&a).expect("one listing");
        assert!(limiter.listing(&a).is_err(), "listings run one at a time");
        drop(l);
        assert!(limiter.listing(&a).is_ok());
    }
}
