//! Wrong admin tokens, counted per client address (SPEC §11). Bearer tokens on any admin route
//! and sign-ins count together; past [`MAX_FAILURES`] in a window of [`WINDOW_MS`] (the window
//! starts at an address's first failure) the address is refused until the window ends, even
//! with the right token: if the right token still got through, the difference between 429 and
//! 200 would tell a guesser when it had found it.
//!
//! Only the address that failed waits. There is no cap across addresses, because one would let
//! anyone lock the owner out; a guesser with many addresses gets [`MAX_FAILURES`] a minute from
//! each, which is why the admin token must be long (a weak one is a startup warning).
//!
//! An IPv6 client counts by its /64, as in [`crate::limit`]. The table is bounded by
//! [`MAX_CLIENTS`]: when it is full, ended windows are forgotten first, then the older half, so
//! rotating addresses costs a fixed amount of memory, and the newest blocks are the last to go.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Millis;

/// Wrong tokens an address may send per window; the next attempt is refused.
pub const MAX_FAILURES: u32 = 10;
/// How long a window lasts, from an address's first failure in it.
pub const WINDOW_MS: Millis = 60 * 1000;
/// Addresses remembered at most.
pub const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Millis,
    failures: u32,
}

impl Window {
    fn is_over(&self, now: Millis) -> bool {
        now >= self.start + WINDOW_MS
    }

    /// Whole seconds until the window ends, at least 1.
    fn retry_after(&self, now: Millis) -> u64 {
        (self.start + WINDOW_MS)
            .saturating_sub(now)
            .div_ceil(1000)
            .max(1)
    }
}

/// The failures of every address seen failing recently.
#[derive(Debug, Default)]
pub struct AdminAttempts(Mutex<HashMap<IpAddr, Window>>);

impl AdminAttempts {
    /// One admin attempt from `client`: `Err(seconds to wait)` while it is refused (and then
    /// `matches` is not even asked), else whether `matches` accepted the token, a rejection
    /// being counted. The table stays locked while `matches` runs, so concurrent guesses from
    /// one address cannot all slip past the count before any of them is recorded.
    pub fn attempt(
        &self,
        client: IpAddr,
        now: Millis,
        matches: impl FnOnce() -> bool,
    ) -> Result<bool, u64> {
        let key = crate::limit::bucket_key(client);
        let mut table = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(window) = table.get(&key).filter(|w| !w.is_over(now))
            && window.failures >= MAX_FAILURES
        {
            return Err(window.retry_after(now));
        }
        if matches() {
            return Ok(true);
        }
        if !table.contains_key(&key) && table.len() >= MAX_CLIENTS {
            make_room(&mut table, now);
        }
        let window = table.entry(key).or_insert(Window {
            start: now,
            failures: 0,
        });
        if window.is_over(now) {
            *window = Window {
                start: now,
                failures: 0,
            };
        }
        window.failures += 1;
        Ok(false)
    }

    #[cfg(test)]
    /// How many addresses are remembered now.
    pub fn clients(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Forgets ended windows, then, if the table is still full, every window but the newer half.
/// Halving (not one at a time) keeps the cost per failure constant when addresses rotate.
fn make_room(table: &mut HashMap<IpAddr, Window>, now: Millis) {
    table.retain(|_, w| !w.is_over(now));
    if table.len() < MAX_CLIENTS {
        return;
    }
    let mut starts: Vec<Millis> = table.values().map(|w| w.start).collect();
    let middle = starts.len() / 2;
    let cutoff = *starts.select_nth_unstable(middle).1;
    table.retain(|_, w| w.start > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// `n` wrong tokens from `client` at `now`, each of which must be let through and counted.
    fn fail(attempts: &AdminAttempts, client: IpAddr, now: Millis, n: u32) {
        for _ in 0..n {
            assert_eq!(attempts.attempt(client, now, || false), Ok(false));
        }
    }

    #[test]
    fn past_ten_failures_an_address_waits_even_with_the_right_token() {
        let attempts = AdminAttempts::default();
        let me = ip("203.0.113.9");
        fail(&attempts, me, 1_000, MAX_FAILURES);
        let mut asked = false;
        let refused = attempts.attempt(me, 2_500, || {
            asked = true;
            true
        });
        assert_eq!(
            refused,
            Err(59),
            "the window ends 60 s after the first failure"
        );
        assert!(!asked, "a refused attempt is not even compared");
        assert_eq!(attempts.attempt(me, 1_000 + WINDOW_MS - 1, || true), Err(1));
    }

    #[test]
    fn the_right_token_passes_and_is_not_counted() {
        let attempts = AdminAttempts::default();
        let me = ip("203.0.113.9");
        fail(&attempts, me, 0, MAX_FAILURES - 1);
        for _ in 0..50 {
            assert_eq!(attempts.attempt(me, 0, || true), Ok(true));
        }
        assert_eq!(attempts.attempt(me, 0, || false), Ok(false));
        assert!(attempts.attempt(me, 0, || true).is_err());
    }

    #[test]
    fn other_addresses_are_never_held_back() {
        let attempts = AdminAttempts::default();
        for i in 0..200u32 {
            let _ = attempts.attempt(IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 0, || false);
        }
        fail(&attempts, ip("198.51.100.1"), 0, MAX_FAILURES);
        assert_eq!(attempts.attempt(ip("192.0.2.1"), 0, || true), Ok(true));
    }

    #[test]
    fn a_new_window_starts_after_the_last_one_ends() {
        let attempts = AdminAttempts::default();
        let me = ip("203.0.113.9");
        fail(&attempts, me, 0, MAX_FAILURES);
        assert!(attempts.attempt(me, WINDOW_MS - 1, || true).is_err());
        assert_eq!(attempts.attempt(me, WINDOW_MS, || true), Ok(true));
        // The window that began then allows ten more, and no more.
        fail(&attempts, me, WINDOW_MS, MAX_FAILURES);
        assert_eq!(attempts.attempt(me, WINDOW_MS + 30_000, || true), Err(30));
    }

    #[test]
    fn an_ipv6_client_counts_by_its_slash_64() {
        let attempts = AdminAttempts::default();
        for i in 0..MAX_FAILURES {
            let address = ip(&format!("2001:db8::{:x}", i + 1));
            assert_eq!(attempts.attempt(address, 0, || false), Ok(false));
        }
        assert!(
            attempts
                .attempt(ip("2001:db8::ffff:1"), 0, || true)
                .is_err()
        );
        assert_eq!(
            attempts.attempt(ip("2001:db8:0:1::1"), 0, || true),
            Ok(true)
        );
    }

    #[test]
    fn the_table_stays_bounded_under_rotating_addresses() {
        let attempts = AdminAttempts::default();
        for i in 0..(MAX_CLIENTS as u32 * 3) {
            let client = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let _ = attempts.attempt(client, Millis::from(i / 100), || false);
            assert!(attempts.clients() <= MAX_CLIENTS);
        }
        // Once their windows are over, a full table empties itself of them.
        for i in 0..MAX_CLIENTS as u32 {
            let client = IpAddr::from((0x0b00_0000 + i).to_be_bytes());
            let _ = attempts.attempt(client, 2 * WINDOW_MS, || false);
        }
        assert_eq!(attempts.clients(), MAX_CLIENTS);
        let _ = attempts.attempt(ip("192.0.2.1"), 3 * WINDOW_MS, || false);
        assert_eq!(attempts.clients(), 1);
    }

    #[test]
    fn a_full_table_forgets_the_oldest_windows_first() {
        let attempts = AdminAttempts::default();
        for i in 0..MAX_CLIENTS as u32 {
            let client = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            let _ = attempts.attempt(client, Millis::from(i), || false);
        }
        let newest = IpAddr::from((0x0a00_0000 + MAX_CLIENTS as u32 - 1).to_be_bytes());
        fail(&attempts, newest, 20_000, MAX_FAILURES - 1);
        // One address more makes room by dropping the older half.
        let _ = attempts.attempt(ip("192.0.2.1"), 20_000, || false);
        assert!(attempts.clients() <= MAX_CLIENTS / 2 + 1);
        assert!(
            attempts.attempt(newest, 20_000, || true).is_err(),
            "the newest address is still counted"
        );
    }
}
