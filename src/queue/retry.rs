//! The forward retry schedule (SPEC §6), as a pure function.
//!
//! Kept free of clocks and randomness: the caller passes the jitter draw and the receiver's
//! `Retry-After`, so every step of the schedule is tested exactly and the queue stores the
//! resulting time with the execution, which is what makes retries survive a restart.

use std::time::Duration;

use crate::clock::Millis;

/// When to try a failed forward again.
#[derive(Debug, Clone, Copy)]
pub struct RetrySchedule;

impl RetrySchedule {
    /// The wait after attempt `n` is `DELAYS[n - 1]`: one first attempt, then up to seven
    /// retries, each four times further out, the last a little over an hour after the one before.
    pub const DELAYS: [Duration; 7] = [
        Duration::from_secs(1),
        Duration::from_secs(4),
        Duration::from_secs(16),
        Duration::from_secs(64),
        Duration::from_secs(256),
        Duration::from_secs(1024),
        Duration::from_secs(4096),
    ];

    /// How far a jittered delay may stray from the schedule, either way.
    pub const JITTER: f64 = 0.2;

    /// The longest `Retry-After` obeyed: a receiver cannot park a delivery for days.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

    /// The wait before the next attempt, after `attempts_made` attempts have failed, or `None`
    /// when it is time to give up (after the eighth). `jitter` is a uniform draw in `[0, 1)`:
    /// 0.5 keeps the scheduled delay, 0 shortens it by 20 %, values near 1 lengthen it by 20 %,
    /// so receivers recovering from an outage are not hit by every retry in the same second.
    /// A `Retry-After` makes the wait at least that long, though never more than an hour.
    /// With no attempt made yet there is nothing to wait for: the answer is zero.
    pub fn next_delay(
        attempts_made: u32,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let scheduled = match attempts_made {
            0 => Duration::ZERO,
            n => *Self::DELAYS.get(n as usize - 1)?,
        };
        // A draw outside [0, 1) (or NaN) is a caller bug; treat it as no jitter rather than
        // let it scale the delay arbitrarily.
        let jitter = if (0.0..1.0).contains(&jitter) {
            jitter
        } else {
            0.5
        };
        let factor = 1.0 + Self::JITTER * (2.0 * jitter - 1.0);
        let jittered = scheduled.mul_f64(factor);
        let floor = retry_after.map_or(Duration::ZERO, |r| r.min(Self::MAX_RETRY_AFTER));
        Some(jittered.max(floor))
    }
}

/// One try still ahead of a retrying execution, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedTry {
    /// Which try, from 1.
    pub attempt: u32,
    /// When it runs if every jitter draw is the middle one.
    pub at: Millis,
    /// The soonest the jitter allows.
    pub earliest: Millis,
    /// The latest the jitter allows.
    pub latest: Millis,
}

impl RetrySchedule {
    /// The tries still ahead of an execution that has made `tries_made` tries and waits for
    /// the next at `next_at`, supposing each of them fails at once without a `Retry-After`.
    ///
    /// The next try's time is already drawn and stored, so it is exact. Each later one is
    /// drawn only when the try before it fails, so it is a range that widens by the jitter
    /// of every step; a try's own time and a receiver's `Retry-After` can only push the rest
    /// later, never sooner, which is why `earliest` is a true lower bound and `latest` is not.
    pub fn ahead(tries_made: u32, next_at: Millis) -> Vec<PlannedTry> {
        let mut next = PlannedTry {
            attempt: tries_made.saturating_add(1),
            at: next_at,
            earliest: next_at,
            latest: next_at,
        };
        let mut planned = vec![next];
        while let Some(middle) = Self::next_delay(next.attempt, None, 0.5) {
            let shortest = Self::next_delay(next.attempt, None, 0.0).unwrap_or(middle);
            let longest = middle.mul_f64(1.0 + Self::JITTER);
            next = PlannedTry {
                attempt: next.attempt + 1,
                at: next.at + middle.as_millis() as Millis,
                earliest: next.earliest + shortest.as_millis() as Millis,
                latest: next.latest + longest.as_millis() as Millis,
            };
            planned.push(next);
        }
        planned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_JITTER: f64 = 0.5;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn each_step_of_the_schedule_without_jitter() {
        let expected = [1, 4, 16, 64, 256, 1024, 4096];
        for (n, want) in (1..).zip(expected) {
            assert_eq!(
                RetrySchedule::next_delay(n, None, NO_JITTER),
                Some(secs(want)),
                "after attempt {n}"
            );
        }
    }

    #[test]
    fn gives_up_after_the_eighth_attempt() {
        assert!(RetrySchedule::next_delay(7, None, NO_JITTER).is_some());
        assert_eq!(RetrySchedule::next_delay(8, None, NO_JITTER), None);
        assert_eq!(RetrySchedule::next_delay(9, Some(secs(5)), NO_JITTER), None);
        assert_eq!(RetrySchedule::next_delay(u32::MAX, None, NO_JITTER), None);
    }

    #[test]
    fn no_attempt_yet_means_no_wait() {
        assert_eq!(
            RetrySchedule::next_delay(0, None, 0.9),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        for n in 1..=7 {
            let base = RetrySchedule::DELAYS[n as usize - 1];
            let low = RetrySchedule::next_delay(n, None, 0.0).unwrap();
            let high = RetrySchedule::next_delay(n, None, 0.999_999).unwrap();
            assert_eq!(low, base.mul_f64(0.8), "after attempt {n}");
            assert!(
                high < base.mul_f64(1.2) && high > base.mul_f64(1.199),
                "{high:?}"
            );
            for j in [0.1, 0.25, 0.5, 0.75, 0.9] {
                let d = RetrySchedule::next_delay(n, None, j).unwrap();
                assert!(d >= low && d <= high, "jitter {j} gave {d:?}");
            }
        }
        assert_eq!(
            RetrySchedule::next_delay(2, None, 0.25),
            Some(secs(4).mul_f64(0.9))
        );
    }

    #[test]
    fn jitter_outside_the_unit_interval_is_ignored() {
        for j in [-1.0, 1.0, 7.0, f64::NAN] {
            assert_eq!(RetrySchedule::next_delay(3, None, j), Some(secs(16)));
        }
    }

    #[test]
    fn retry_after_lengthens_but_never_shortens_the_wait() {
        assert_eq!(
            RetrySchedule::next_delay(1, Some(secs(7)), NO_JITTER),
            Some(secs(7))
        );
        assert_eq!(
            RetrySchedule::next_delay(3, Some(secs(2)), NO_JITTER),
            Some(secs(16))
        );
        assert_eq!(
            RetrySchedule::next_delay(1, Some(secs(7)), 0.99),
            Some(secs(7))
        );
    }

    #[test]
    fn retry_after_is_clamped_to_an_hour() {
        let day = Some(secs(86_400));
        assert_eq!(
            RetrySchedule::next_delay(1, day, NO_JITTER),
            Some(secs(3600))
        );
        // The schedule's own last step is longer than the clamp and is kept.
        assert_eq!(
            RetrySchedule::next_delay(7, day, NO_JITTER),
            Some(secs(4096))
        );
    }

    #[test]
    fn the_tries_ahead_run_to_the_eighth_widening_by_the_jitter() {
        // Two tries made, the third drawn for t = 10 s.
        let ahead = RetrySchedule::ahead(2, 10_000);
        let attempts: Vec<u32> = ahead.iter().map(|t| t.attempt).collect();
        assert_eq!(attempts, [3, 4, 5, 6, 7, 8]);
        assert_eq!(
            ahead[0],
            PlannedTry {
                attempt: 3,
                at: 10_000,
                earliest: 10_000,
                latest: 10_000
            },
            "the next try's time is stored, not estimated"
        );
        // After try 3 comes the 16 s step, then 64 s: ±20 % of each, added up.
        assert_eq!(
            ahead[2],
            PlannedTry {
                attempt: 5,
                at: 10_000 + 16_000 + 64_000,
                earliest: 10_000 + 12_800 + 51_200,
                latest: 10_000 + 19_200 + 76_800,
            }
        );
        let last = ahead[5];
        assert_eq!(last.at, 10_000 + (16 + 64 + 256 + 1024 + 4096) * 1000);
        assert!(ahead.windows(2).all(|w| w[0].earliest < w[1].earliest));
    }

    #[test]
    fn the_last_try_has_nothing_after_it() {
        assert_eq!(RetrySchedule::ahead(7, 5).len(), 1);
        assert_eq!(RetrySchedule::ahead(7, 5)[0].attempt, 8);
        assert_eq!(RetrySchedule::ahead(1, 0).len(), 7);
    }
}
