//! The pure part of alerting: for one hook, when its last alert went and the failures waiting
//! for the next, as rules on [`HookAlerts`] (the record `model` defines and the store keeps). No IO and no clock; callers pass the time, so the rules are tested directly.
//!
//! Failures are gathered, not queued: however many there are, a hook's waiting alert is a
//! count, the first [`MAX_LISTED`] execution ids and the latest error, so a target that fails
//! all day costs a few hundred bytes and the owner one message per `minInterval`.

use std::time::Duration;

use crate::clock::Millis;
use crate::execution::ExecutionId;
use crate::model::{Alert, HookAlerts};

/// How many execution ids one alert lists; the rest are counted.
pub const MAX_LISTED: usize = 20;

impl HookAlerts {
    /// Adds a failure to the waiting alert.
    pub fn add(&mut self, execution: ExecutionId, error: &str) {
        let waiting = self.waiting.get_or_insert_with(|| Alert {
            count: 0,
            listed: Vec::new(),
            last_error: String::new(),
        });
        waiting.count += 1;
        if waiting.listed.len() < MAX_LISTED {
            waiting.listed.push(execution);
        }
        waiting.last_error = error.to_string();
    }

    /// When the waiting alert may go: at once when no alert went within `interval`, else when
    /// the interval has passed. `None` when nothing waits.
    pub fn due_at(&self, interval: Duration) -> Option<Millis> {
        self.waiting.as_ref()?;
        Some(self.last_sent_at.map_or(0, |last| {
            last.saturating_add(interval.as_millis() as Millis)
        }))
    }

    /// Takes the waiting alert when it is due at `now`, counting it as sent then.
    pub fn take_due(&mut self, now: Millis, interval: Duration) -> Option<Alert> {
        if self.due_at(interval)? > now {
            return None;
        }
        self.last_sent_at = Some(now);
        self.waiting.take()
    }

    /// Puts back an alert that could not be sent, ahead of failures gathered meanwhile; it
    /// goes with them once the interval has passed again.
    pub fn put_back(&mut self, mut alert: Alert) {
        if let Some(newer) = self.waiting.take() {
            alert.count += newer.count;
            let room = MAX_LISTED.saturating_sub(alert.listed.len());
            alert.listed.extend(newer.listed.into_iter().take(room));
            alert.last_error = newer.last_error;
        }
        self.waiting = Some(alert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn id(n: u64) -> ExecutionId {
        ExecutionId(ulid::Ulid::from_parts(1_000 + n, 0))
    }

    #[test]
    fn the_first_failure_goes_at_once_and_the_next_wait_for_the_interval() {
        let mut hook = HookAlerts::default();
        assert_eq!(hook.due_at(MIN), None);
        hook.add(id(1), "boom");
        let first = hook.take_due(10_000, MIN).unwrap();
        assert_eq!((first.count, first.listed.clone()), (1, vec![id(1)]));
        hook.add(id(2), "boom 2");
        hook.add(id(3), "boom 3");
        assert_eq!(hook.due_at(MIN), Some(70_000));
        assert_eq!(hook.take_due(69_999, MIN), None);
        let gathered = hook.take_due(70_000, MIN).unwrap();
        assert_eq!(gathered.count, 2);
        assert_eq!(gathered.listed, [id(2), id(3)]);
        assert_eq!(gathered.last_error, "boom 3");
        assert_eq!(hook.due_at(MIN), None);
    }

    #[test]
    fn a_flood_is_counted_not_kept() {
        let mut hook = HookAlerts::default();
        for n in 0..10_000 {
            hook.add(id(n), "boom");
        }
        let alert = hook.take_due(0, MIN).unwrap();
        assert_eq!(alert.count, 10_000);
        assert_eq!(alert.listed.len(), MAX_LISTED);
        assert_eq!(alert.listed[0], id(0));
    }

    #[test]
    fn an_alert_put_back_goes_with_the_next_one() {
        let mut hook = HookAlerts::default();
        hook.add(id(1), "first");
        let unsent = hook.take_due(5_000, MIN).unwrap();
        hook.add(id(2), "second");
        hook.put_back(unsent);
        assert_eq!(hook.take_due(5_001, MIN), None, "not before the interval");
        let retried = hook.take_due(65_000, MIN).unwrap();
        assert_eq!(retried.count, 2);
        assert_eq!(retried.listed, [id(1), id(2)]);
        assert_eq!(retried.last_error, "second");
    }
}
