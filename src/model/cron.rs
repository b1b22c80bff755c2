//! A hook's `triggerConfig.cron` in its `timezone`: parsed once, asked for the next and the
//! latest occurrence as epoch milliseconds. Pure: no clock, no IO.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::{TriggerConfig, TriggerKind};
use crate::clock::Millis;

/// A compiled schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
    pattern: String,
    timezone: String,
}

/// Why a schedule cannot be built, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("triggerConfig.cron: {0}")]
    Cron(String),
    #[error("triggerConfig.timezone: {0}")]
    Timezone(String),
}

impl CronError {
    /// The field path relative to the hook, and the message.
    pub fn problem(&self) -> (String, String) {
        match self {
            CronError::Cron(m) => ("triggerConfig.cron".into(), m.clone()),
            CronError::Timezone(m) => ("triggerConfig.timezone".into(), m.clone()),
        }
    }
}

impl CronSchedule {
    /// Compiles `cron` (5 fields, or 6 with seconds first) in `timezone` (an IANA name; UTC
    /// when absent).
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<Self, CronError> {
        let parsed = parse_cron(cron)?;
        let timezone = timezone.unwrap_or("UTC");
        let schedule = Self {
            cron: parsed,
            tz: parse_timezone(timezone)?,
            pattern: cron.trim().to_string(),
            timezone: timezone.to_string(),
        };
        // A pattern that can never match (`0 0 31 2 *`) is a mistake worth reporting now.
        if schedule.next_after(0).is_none() {
            return Err(CronError::Cron(format!(
                "`{cron}` never matches a real date"
            )));
        }
        Ok(schedule)
    }

    /// The schedule of a hook's trigger config (`cron` required).
    pub fn of(trigger: &TriggerConfig) -> Result<Self, CronError> {
        let cron = trigger.cron.as_deref().ok_or_else(|| {
            CronError::Cron("is required for trigger schedule, e.g. \"0 * * * *\"".into())
        })?;
        Self::parse(cron, trigger.timezone.as_deref())
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The time zone name in force.
    pub fn timezone(&self) -> &str {
        &self.timezone
    }

    /// The first occurrence strictly after `ms`.
    pub fn next_after(&self, ms: Millis) -> Option<Millis> {
        let at = self.at(ms)?;
        let next = self.cron.find_next_occurrence(&at, false).ok()?;
        u64::try_from(next.timestamp_millis()).ok()
    }

    /// The latest occurrence at or before `ms`.
    pub fn latest_at_or_before(&self, ms: Millis) -> Option<Millis> {
        let at = self.at(ms)?;
        let prev = self.cron.find_previous_occurrence(&at, true).ok()?;
        u64::try_from(prev.timestamp_millis()).ok()
    }

    fn at(&self, ms: Millis) -> Option<DateTime<Tz>> {
        let utc = Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()?;
        Some(utc.with_timezone(&self.tz))
    }
}

fn parse_cron(cron: &str) -> Result<Cron, CronError> {
    let fields = cron.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(CronError::Cron(format!(
            "`{cron}` has {fields} fields; expected 5 (minute hour day month weekday) \
             or 6 (with seconds first)"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(cron)
        .map_err(|e| CronError::Cron(format!("`{cron}` is not a valid cron pattern: {e}")))
}

fn parse_timezone(name: &str) -> Result<Tz, CronError> {
    Tz::from_str(name).map_err(|_| {
        CronError::Timezone(format!(
            "`{name}` is not an IANA time zone name such as UTC or Europe/Berlin"
        ))
    })
}

/// Checks the schedule fields of a trigger config: a `schedule` hook needs a `cron` that
/// compiles and takes none of the webhook-only settings; a `webhook` hook takes no `cron` or
/// `timezone`. Paths are relative to the hook.
pub fn trigger_problems(kind: TriggerKind, trigger: &TriggerConfig) -> Vec<(String, String)> {
    match kind {
        TriggerKind::Webhook => [
            ("cron", trigger.cron.is_some()),
            ("timezone", trigger.timezone.is_some()),
        ]
        .into_iter()
        .filter(|(_, present)| *present)
        .map(|(name, _)| {
            (
                format!("triggerConfig.{name}"),
                "is only used by trigger schedule".to_string(),
            )
        })
        .collect(),
        TriggerKind::Schedule => {
            let mut problems: Vec<_> = webhook_only(trigger)
                .into_iter()
                .map(|name| {
                    (
                        format!("triggerConfig.{name}"),
                        "not used by trigger schedule: a scheduled run has no sender".to_string(),
                    )
                })
                .collect();
            // The zone is checked on its own too, so one run reports both fields.
            if let Some(Err(e)) = trigger.timezone.as_deref().map(parse_timezone) {
                problems.push(e.problem());
            }
            match CronSchedule::of(trigger) {
                Err(CronError::Timezone(_)) | Ok(_) => {}
                Err(e) => problems.push(e.problem()),
            }
            problems
        }
    }
}

/// The webhook-only settings present in a trigger config.
fn webhook_only(t: &TriggerConfig) -> Vec<&'static str> {
    [
        ("webhookPath", !t.webhook_path.is_empty()),
        ("webhookSecret", !t.webhook_secret.is_empty()),
        ("scheme", t.scheme.is_some()),
        ("ipAllowlist", !t.ip_allowlist.is_empty()),
        ("events", !t.events.is_empty()),
        ("filter", t.filter.is_some()),
        ("dedupeKey", t.dedupe_key.is_some()),
        ("lockKey", t.lock_key.is_some()),
        ("methods", !t.methods.is_empty()),
        ("mergeQuery", t.merge_query.is_some()),
        ("header", t.header.is_some()),
        ("algorithm", t.algorithm.is_some()),
        ("encoding", t.encoding.is_some()),
        ("prefix", t.prefix.is_some()),
        ("signedPayload", t.signed_payload.is_some()),
        ("timestampHeader", t.timestamp_header.is_some()),
        ("tolerance", t.tolerance.is_some()),
        ("response", t.response.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(name, _)| name)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-15T10:02:30Z, a Monday.
    const T: Millis = 1_705_312_950_000;

    fn ms(rfc3339: &str) -> Millis {
        crate::clock::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn five_fields_fire_on_minute_boundaries() {
        let s = CronSchedule::parse("*/5 * * * *", None).unwrap();
        assert_eq!(s.next_after(T), Some(ms("2024-01-15T10:05:00Z")));
        assert_eq!(s.latest_at_or_before(T), Some(ms("2024-01-15T10:00:00Z")));
        // Strictly after: a boundary itself gives the following one.
        let at = ms("2024-01-15T10:05:00Z");
        assert_eq!(s.next_after(at), Some(ms("2024-01-15T10:10:00Z")));
        assert_eq!(s.latest_at_or_before(at), Some(at));
    }

    #[test]
    fn six_fields_take_seconds_first() {
        let s = CronSchedule::parse("15 * * * * *", None).unwrap();
        assert_eq!(s.next_after(T), Some(ms("2024-01-15T10:03:15Z")));
    }

    #[test]
    fn the_timezone_moves_the_wall_clock() {
        // 09:00 in Berlin is 08:00 UTC in winter.
        let s = CronSchedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(s.next_after(T), Some(ms("2024-01-16T08:00:00Z")));
        assert_eq!(s.timezone(), "Europe/Berlin");
        let utc = CronSchedule::parse("0 9 * * *", None).unwrap();
        assert_eq!(utc.next_after(T), Some(ms("2024-01-16T09:00:00Z")));
    }

    #[test]
    fn bad_patterns_and_zones_name_their_field() {
        for bad in ["* * * *", "* * * * * * *", "61 * * * *", "x * * * *", ""] {
            let e = CronSchedule::parse(bad, None).unwrap_err();
            assert!(matches!(e, CronError::Cron(_)), "{bad}: {e}");
        }
        assert!(matches!(
            CronSchedule::parse("0 0 31 2 *", None).unwrap_err(),
            CronError::Cron(m) if m.contains("never matches")
        ));
        let e = CronSchedule::parse("0 * * * *", Some("Mars/Olympus")).unwrap_err();
        assert_eq!(e.problem().0, "triggerConfig.timezone");
        assert!(e.to_string().contains("Mars/Olympus"));
    }

    #[test]
    fn schedule_hooks_need_cron_and_refuse_webhook_settings() {
        let mut t = TriggerConfig::default();
        let problems = trigger_problems(TriggerKind::Schedule, &t);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "triggerConfig.cron");
        t.cron = Some("0 * * * *".into());
        assert!(trigger_problems(TriggerKind::Schedule, &t).is_empty());
        t.webhook_path = "github".into();
        let problems = trigger_problems(TriggerKind::Schedule, &t);
        assert_eq!(problems[0].0, "triggerConfig.webhookPath");
        // A scheduled run has nobody to answer.
        t.webhook_path.clear();
        t.response = Some(serde_json::from_str("{}").unwrap());
        let problems = trigger_problems(TriggerKind::Schedule, &t);
        assert_eq!(problems[0].0, "triggerConfig.response");
    }

    #[test]
    fn webhook_hooks_refuse_cron_and_timezone() {
        let t = TriggerConfig {
            cron: Some("0 * * * *".into()),
            timezone: Some("UTC".into()),
            ..TriggerConfig::default()
        };
        let paths: Vec<_> = trigger_problems(TriggerKind::Webhook, &t)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(paths, ["triggerConfig.cron", "triggerConfig.timezone"]);
    }
}
