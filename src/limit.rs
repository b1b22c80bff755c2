//! Per client address: a token bucket for `/api/webhooks/*` ([`RateLimiter`]), and the
//! connections (or requests, through a trusted proxy) it holds open at once ([`ClientSlots`]).
//! An IPv6 client is counted by its /64, since one host can use any address of it. Both tables
//! are bounded: the bucket table past [`MAX_CLIENTS`] entries forgets clients whose bucket has
//! refilled (the same as never seen), and starts over if that is not enough, so a flood of
//! spoofed or rotating addresses costs a fixed amount of memory; the slot table holds only
//! clients with something open, which the hub's total connection limit bounds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::clock::Millis;
use crate::config::RateLimitConfig;

/// Clients remembered at most.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

/// The buckets of every client seen recently.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// Takes a token for `client` at `now`, or says how many seconds to wait for one.
    pub fn check(&self, client: IpAddr, now: Millis, limit: &RateLimitConfig) -> Result<(), u64> {
        if limit.per_second == 0 {
            return Ok(());
        }
        let rate = limit.per_second as f64 / 1000.0;
        let burst = limit.burst.max(1) as f64;
        let key = bucket_key(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(&key) && buckets.len() >= MAX_CLIENTS {
            buckets.retain(|_, b| b.tokens + now.saturating_sub(b.at) as f64 * rate < burst);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens + now.saturating_sub(bucket.at) as f64 * rate).min(burst);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / rate;
            Err((wait_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    #[cfg(test)]
    /// How many clients are remembered now.
    pub fn clients(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// How many connections each client address holds open now.
#[derive(Debug, Default)]
pub struct ClientSlots {
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientSlots {
    /// Takes one of `client`'s `max` slots, given back when the guard drops; `None` when all
    /// are taken.
    pub fn try_take(self: &Arc<Self>, client: IpAddr, max: usize) -> Option<ClientSlot> {
        let key = bucket_key(client);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            slots: self.clone(),
            key,
        })
    }

    #[cfg(test)]
    /// How many slots `client` holds.
    pub fn held_by(&self, client: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(&bucket_key(client)).copied().unwrap_or(0)
    }
}

/// One connection's (or proxied request's) slot; given back on drop.
#[derive(Debug)]
pub struct ClientSlot {
    slots: Arc<ClientSlots>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// The address itself for IPv4, its /64 for IPv6: what counts as one client wherever clients
/// are counted.
pub(crate) fn bucket_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u32, burst: u32) -> RateLimitConfig {
        RateLimitConfig { per_second, burst }
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = RateLimiter::default();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let l = limit(2, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check(client, 1_000, &l), Ok(()));
        }
        assert_eq!(limiter.check(client, 1_000, &l), Err(1));
        // Two a second come back.
        assert_eq!(limiter.check(client, 1_500, &l), Ok(()));
        assert!(limiter.check(client, 1_500, &l).is_err());
        // Another client is not affected.
        assert_eq!(
            limiter.check("203.0.113.10".parse().unwrap(), 1_500, &l),
            Ok(())
        );
        // Off means off.
        for _ in 0..100 {
            assert_eq!(limiter.check(client, 1_500, &limit(0, 0)), Ok(()));
        }
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_slash_64() {
        let limiter = RateLimiter::default();
        let l = limit(1, 1);
        assert!(limiter.check("2001:db8::1".parse().unwrap(), 0, &l).is_ok());
        assert!(
            limiter
                .check("2001:db8::ffff".parse().unwrap(), 0, &l)
                .is_err()
        );
        assert!(
            limiter
                .check("2001:db8:0:1::1".parse().unwrap(), 0, &l)
                .is_ok()
        );
    }

    #[test]
    fn each_client_holds_at_most_its_share_of_slots() {
        let slots = Arc::new(ClientSlots::default());
        let (me, other): (IpAddr, IpAddr) = (
            "203.0.113.9".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
        let mine: Vec<_> = (0..3).map(|_| slots.try_take(me, 3).unwrap()).collect();
        assert!(slots.try_take(me, 3).is_none());
        assert!(
            slots.try_take(other, 3).is_some(),
            "others are not held back"
        );
        drop(mine);
        assert_eq!(slots.held_by(me), 0);
        assert!(
            slots.held.lock().unwrap().is_empty(),
            "nothing kept for idle clients"
        );
        // One IPv6 host is one client, whatever address of its /64 it uses.
        let a = slots.try_take("2001:db8::1".parse().unwrap(), 1);
        assert!(a.is_some());
        assert!(slots.try_take("2001:db8::2".parse().unwrap(), 1).is_none());
    }

    #[test]
    fn the_table_stays_bounded_under_rotating_addresses() {
        let limiter = RateLimiter::default();
        let l = limit(10, 10);
        for i in 0..(MAX_CLIENTS as u32 * 3) {
            let client = IpAddr::from(i.to_be_bytes());
            let _ = limiter.check(client, 5_000, &l);
        }
        assert!(limiter.clients() <= MAX_CLIENTS);
    }
}
