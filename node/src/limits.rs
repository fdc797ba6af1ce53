//! What one connected node or person may make this node do at once
//! (ADR 0019): connections, requests in progress, subscriptions and
//! listings, counted per identity over all of its connections, and
//! handshakes begun per address. A claim over a cap is refused with a
//! message that names the cap and what to do; nothing waits in a queue
//! that an insider could fill.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Handshakes begun per address: a token bucket each, `rate` a second
/// with bursts of twice that. IPv6 addresses count per /64 (one host
/// can hold the whole prefix).
#[derive(Debug)]
pub struct Handshakes {
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Addresses remembered before idle ones are forgotten.
const MAX_ADDRESSES: usize = 4096;

impl Handshakes {
    /// Buckets of `rate` handshakes a second.
    pub fn new(rate: u32) -> Handshakes {
        Handshakes {
            rate: f64::from(rate.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Whether a handshake from `addr` may begin now (and counts it).
    pub fn allow(&self, addr: IpAddr) -> bool {
        self.allow_at(addr, Instant::now())
    }

    fn allow_at(&self, addr: IpAddr, now: Instant) -> bool {
        let key = match addr {
            IpAddr::V6(a) if a.to_ipv4_mapped().is_none() => {
                let mut o = a.octets();
                o[8..].fill(0);
                IpAddr::from(o)
            }
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            IpAddr::V4(_) => addr,
        };
        let burst = 2.0 * self.rate;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&key) {
            // A full bucket is as good as forgotten.
            let full = Duration::from_secs_f64(burst / self.rate);
            buckets.retain(|_, (_, at)| now.saturating_duration_since(*at) < full);
            if buckets.len() >= MAX_ADDRESSES {
                // Thousands of addresses at once (spoofed Initial packets
                // cost nothing): forget them all rather than grow, or
                // refuse everyone new.
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.entry(key).or_insert((burst, now));
        *tokens =
            (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The node's caps and the claims held against them.
#[derive(Debug)]
pub struct Limiter {
    /// The caps in force (from `node.toml`).
    pub limits: Limits,
    /// Handshakes begun, per address.
    pub handshakes: Handshakes,
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
            handshakes: Handshakes::new(limits.handshakes_per_address),
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
    fn handshakes_are_rate_limited_per_address_with_a_burst() {
        let h = Handshakes::new(10);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let allowed = (0..100).filter(|_| h.allow_at(a, t0)).count();
        assert_eq!(allowed, 20, "a burst of twice the rate");
        assert!(h.allow_at(b, t0), "another address is not affected");
        assert!(!h.allow_at(a, t0 + Duration::from_millis(50)));
        assert!(
            h.allow_at(a, t0 + Duration::from_millis(110)),
            "refilled at the rate"
        );
        // One IPv6 /64 is one address.
        let x: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let y: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let z: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!((0..30).filter(|_| h.allow_at(x, t0)).count(), 20);
        assert!(!h.allow_at(y, t0), "same /64");
        assert!(h.allow_at(z, t0), "another /64");
        // Many addresses: old full buckets are forgotten, the map stays bounded.
        for i in 0..(2 * MAX_ADDRESSES) as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            h.allow_at(ip, t0 + Duration::from_secs(10 + u64::from(i)));
        }
        assert!(h.buckets.lock().expect("lock").len() <= MAX_ADDRESSES);
        for i in 0..(3 * MAX_ADDRESSES) as u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            h.allow_at(ip, t0 + Duration::from_secs(100_000));
        }
        assert!(h.buckets.lock().expect("lock").len() <= MAX_ADDRESSES);
    }

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
