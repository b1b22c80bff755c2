//! Outbound HTTP that the actions and the agent share: the client (which follows no
//! redirects), reading an answer no further than a cap, and the `Retry-After` header. Knows
//! nothing of hooks or executions.

use std::time::{Duration, UNIX_EPOCH};

use crate::clock::{Millis, system_ms};

/// The HTTP client actions expect: redirects are not followed, because a forward answered
/// with 3xx is a failure to report (SPEC §6), not something to chase with a changed method.
/// Per-request timeouts are set by each action.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        // Building only fails when the TLS backend cannot initialise, which is a broken build.
        .expect("the HTTP client can be built")
}

/// Reads `response`'s body up to `cap` bytes and no further (SPEC §11: a sender of a huge or
/// endless answer must not be able to fill the hub's memory). Returns the bytes read, at most
/// `cap`, and whether the body went on past them; the rest is never read, and dropping the
/// response closes its connection.
pub(crate) async fn read_capped(
    response: &mut reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut head = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        head.extend_from_slice(&chunk);
        if head.len() > cap {
            head.truncate(cap);
            return Ok((head, true));
        }
    }
    Ok((head, false))
}

/// Reads a `Retry-After` header: a number of seconds, or an HTTP date (IMF-fixdate, or the
/// obsolete RFC 850 and asctime forms HTTP still asks recipients to accept). A date in the
/// past means "now" (zero). `None` when the value is neither.
pub fn parse_retry_after(value: &str, now_ms: Millis) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at_ms = parse_http_date(value)?;
    Some(Duration::from_millis(at_ms.saturating_sub(now_ms)))
}

/// Milliseconds since the epoch of an HTTP date in any of its three forms:
/// `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`.
/// All three carry, in order, a month name, a day before the year, and an `hh:mm:ss` time.
fn parse_http_date(text: &str) -> Option<Millis> {
    let cleaned = text.replace([',', '-'], " ");
    let mut tokens = cleaned.split_whitespace();
    // The weekday is redundant, and checking it would only refuse dates we understand.
    tokens.next()?;
    let (mut month, mut time, mut numbers) = (None, None, Vec::new());
    for token in tokens {
        if let Some(m) = month_number(token) {
            month = Some(m);
        } else if token.contains(':') {
            time = Some(parse_time(token)?);
        } else if token.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(token);
        } else if token != "GMT" {
            return None;
        }
    }
    let [day, year] = numbers.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let year: i64 = match (year.len(), year.parse::<i64>().ok()?) {
        // RFC 850's two-digit years: HTTP says to read them as the nearest century that is not
        // far in the future; 70 is the usual pivot.
        (2, yy) if yy >= 70 => 1900 + yy,
        (2, yy) => 2000 + yy,
        (4, yyyy) => yyyy,
        _ => return None,
    };
    let month = month?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + i64::from(time?);
    let secs = u64::try_from(secs).ok()?;
    Some(system_ms(UNIX_EPOCH + Duration::from_secs(secs)))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    MONTHS.iter().position(|m| *m == name).map(|i| i as u32 + 1)
}

/// `hh:mm:ss` as seconds into the day.
fn parse_time(text: &str) -> Option<u32> {
    let mut parts = text.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_retry_after_seconds() {
        assert_eq!(parse_retry_after("7", 0), Some(secs(7)));
        assert_eq!(parse_retry_after(" 120 ", 0), Some(secs(120)));
        assert_eq!(parse_retry_after("0", 0), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-5", 0), None);
        assert_eq!(parse_retry_after("1.5", 0), None);
        assert_eq!(parse_retry_after("", 0), None);
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    /// 1994-11-06T08:49:37Z, the date RFC 9110 uses in its examples.
    const RFC_EXAMPLE_MS: Millis = 784_111_777_000;

    #[test]
    fn parses_all_three_http_date_forms() {
        let now = RFC_EXAMPLE_MS - 30_000;
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(form, now), Some(secs(30)), "{form}");
        }
    }

    #[test]
    fn http_dates_in_the_past_mean_now() {
        let later = RFC_EXAMPLE_MS + 60_000;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn recent_dates_and_leap_days_convert_exactly() {
        // 2024-02-29T12:00:00Z
        let ms = 1_709_208_000_000;
        assert_eq!(parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT"), Some(ms));
        assert_eq!(
            parse_http_date("Thursday, 29-Feb-24 12:00:00 GMT"),
            Some(ms)
        );
    }

    #[test]
    fn malformed_dates_are_refused() {
        for bad in [
            "Sun, 06 Nov 1994 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Nov 199 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
