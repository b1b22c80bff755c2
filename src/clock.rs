//! Time as a dependency: production code asks a [`Clock`], tests hand in a [`ManualClock`]
//! and move it forward, so retry schedules and signature tolerances are tested without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// Milliseconds since the Unix epoch: the one time unit stored and compared inside the hub.
pub type Millis = u64;

/// A source of wall-clock time that can also wait.
pub trait Clock: Send + Sync + 'static {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
    /// Resolves once `now_ms() >= deadline`.
    fn sleep_until(&self, deadline: Millis) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// The current time as a `SystemTime`.
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        system_ms(SystemTime::now())
    }

    fn sleep_until(&self, deadline: Millis) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let wait = deadline.saturating_sub(self.now_ms());
        Box::pin(tokio::time::sleep(Duration::from_millis(wait)))
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<Millis>>,
}

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: Millis) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(start_ms)),
        }
    }

    /// A clock standing at the real current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms())
    }

    /// Moves the clock forward, waking every sleeper whose deadline has passed.
    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|t| *t += by.as_millis() as Millis);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: Millis) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // `wait_for` only fails when the sender is gone, which cannot happen while `self` lives.
            let _ = rx.wait_for(|t| *t >= deadline).await;
        })
    }
}

/// Milliseconds since the epoch of a `SystemTime` (0 for times before it).
pub fn system_ms(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// RFC 3339 text with milliseconds, in UTC: how times appear in the API and the execution log.
pub fn rfc3339(ms: Millis) -> String {
    Rfc3339::of(ms).as_str().to_string()
}

/// [`rfc3339`]'s text on the stack, for a caller that only writes it somewhere (every stored
/// execution carries two).
pub struct Rfc3339([u8; 24]);

impl Rfc3339 {
    pub fn of(ms: Millis) -> Self {
        /// 9999-12-31T23:59:59.999Z: RFC 3339 has four digits of year, and a later time is
        /// written as this one (`humantime`, which this replaced, panicked there).
        const LAST_MS: Millis = 253_402_300_799_999;
        let ms = ms.min(LAST_MS);
        // Written digit by digit: `humantime`'s `Display` through `to_string` cost ~1,100
        // instructions a delivery.
        let (secs, millis) = (ms / 1000, ms % 1000);
        let (year, month, day) = civil_date(secs / 86_400);
        let of_day = secs % 86_400;
        let mut text = [0; 24];
        let mut at = 0;
        let mut digits = |value: u64, width: u32, after: u8| {
            for place in (0..width).rev() {
                text[at] = b'0' + (value / 10u64.pow(place) % 10) as u8;
                at += 1;
            }
            text[at] = after;
            at += 1;
        };
        digits(year, 4, b'-');
        digits(month, 2, b'-');
        digits(day, 2, b'T');
        digits(of_day / 3600, 2, b':');
        digits(of_day / 60 % 60, 2, b':');
        digits(of_day % 60, 2, b'.');
        digits(millis, 3, b'Z');
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits and separators")
    }
}

/// The proleptic Gregorian (year, month, day) of a day counted from 1970-01-01: the civil-from-
/// days algorithm, on eras of 400 years (146,097 days) that start on 0000-03-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Parses RFC 3339 text back to milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    humantime::parse_rfc3339_weak(s).ok().map(system_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let clock = ManualClock::new(1_000);
        let c2 = clock.clone();
        let waiter = tokio::spawn(async move { c2.sleep_until(5_000).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        clock.advance(Duration::from_secs(4));
        waiter.await.unwrap();
        assert_eq!(clock.now_ms(), 5_000);
    }

    #[test]
    fn rfc3339_writes_what_humantime_writes() {
        let humantime = |ms: Millis| {
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
        };
        // Epoch, leap days (2000 is a leap year, 2100 is not), ends of years and of the range.
        let mut samples = vec![
            0,
            1,
            951_782_400_000,
            951_868_799_999,
            4_107_542_400_000,
            4_107_628_800_000,
            1_703_980_799_999,
            253_402_300_799_999,
        ];
        // And a walk over ~300 years in steps that are not a whole number of days.
        samples.extend((0..20_000u64).map(|n| n * 473_040_000_123 / 1000));
        for ms in samples {
            assert_eq!(rfc3339(ms), humantime(ms), "{ms}");
        }
        assert_eq!(rfc3339(Millis::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_round_trips() {
        let ms = 1_700_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
    }
}
