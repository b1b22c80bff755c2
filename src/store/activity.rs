//! A hook's last 24 hours for the Hooks page's chart: how many of its executions ended
//! `succeeded`, `failed` or `skipped`, hour by hour. The per-hook index is kept in time order
//! (its keys end in ULIDs), so the day is one range of it; each execution's status is read from
//! its record without its payload. At most [`MAX_COUNTED`] executions are read per hook and
//! call, because the Hooks page asks again as executions arrive: a hook busier than that shows
//! its newest ones and says it was cut.

use super::{Database, StoreError, keys};
use crate::clock::Millis;
use crate::execution::{ExecutionId, Status};

/// Hours in the chart, the last being the hour now running.
pub const HOURS: usize = 24;
/// Executions read at most per hook and call.
pub const MAX_COUNTED: usize = 2_000;
const HOUR_MS: Millis = 3_600_000;

/// Counts per hour, oldest hour first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// When the first hour starts: a whole hour (UTC), 23 hours before the current one.
    pub start_ms: Millis,
    pub succeeded: [u32; HOURS],
    pub failed: [u32; HOURS],
    pub skipped: [u32; HOURS],
    /// More executions were received in these hours than [`MAX_COUNTED`]: the older hours
    /// show fewer than ran.
    pub capped: bool,
}

impl Activity {
    /// No executions in the 24 hours up to the one holding `now_ms`.
    pub(super) fn empty(now_ms: Millis) -> Self {
        Self {
            start_ms: (now_ms - now_ms % HOUR_MS).saturating_sub((HOURS as Millis - 1) * HOUR_MS),
            succeeded: [0; HOURS],
            failed: [0; HOURS],
            skipped: [0; HOURS],
            capped: false,
        }
    }
}

impl Database {
    /// `hook_id`'s executions received in the 24 hours up to the one holding `now_ms`.
    /// Executions not finished yet (queued, running, retrying) are not counted.
    pub(super) fn activity(&self, hook_id: &str, now_ms: Millis) -> Result<Activity, StoreError> {
        let mut activity = Activity::empty(now_ms);
        let start_ms = activity.start_ms;
        let first = ExecutionId(ulid::Ulid::from_parts(start_ms, 0));
        let mut end = keys::hook_prefix(hook_id);
        *end.last_mut().expect("prefix ends with a separator") = 1;
        let index = self.log.range(keys::hook_index(hook_id, first)..end).rev();
        for (read, item) in index.enumerate() {
            if read == MAX_COUNTED {
                activity.capped = true;
                break;
            }
            let (key, _) = item?;
            let Some(id) = keys::trailing_id(&key) else {
                continue;
            };
            // A clock set back can leave ids from "the future": they belong to no hour here.
            let hour = ((id.timestamp_ms() - start_ms) / HOUR_MS) as usize;
            let counts = match self.stored_status(id)? {
                Some(Status::Succeeded) => &mut activity.succeeded,
                Some(Status::Failed) => &mut activity.failed,
                Some(Status::Skipped) => &mut activity.skipped,
                _ => continue,
            };
            if let Some(count) = counts.get_mut(hour) {
                *count += 1;
            }
        }
        Ok(activity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::Execution;
    use crate::store::Store;
    use crate::store::executions::tests::execution;

    /// Half past a whole hour.
    const NOW: Millis = 1_700_001_000_000;

    #[test]
    fn executions_are_counted_in_their_hour_and_the_rest_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut all = vec![
            execution("a", NOW, Status::Succeeded),
            execution("a", NOW - 1000, Status::Failed),
            execution("a", NOW - 2 * HOUR_MS, Status::Skipped),
            execution("a", NOW - 2 * HOUR_MS, Status::Retrying),
            execution("a", NOW - 30 * HOUR_MS, Status::Succeeded),
            execution("b", NOW, Status::Succeeded),
        ];
        store.insert_executions(&mut all).unwrap();
        let day = store.activity("a", NOW).unwrap();
        assert_eq!(day.start_ms % HOUR_MS, 0);
        assert_eq!(NOW - day.start_ms, 23 * HOUR_MS + 30 * 60 * 1000);
        assert_eq!(day.succeeded[23], 1, "the other hook's is not counted");
        assert_eq!(day.failed[23], 1);
        assert_eq!(day.skipped[21], 1);
        let total: u32 = day
            .succeeded
            .iter()
            .chain(&day.failed)
            .chain(&day.skipped)
            .sum();
        assert_eq!(
            total, 3,
            "neither the retrying one nor the one of yesterday"
        );
        assert!(!day.capped);
    }

    #[test]
    fn a_busy_hook_is_read_no_further_than_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut all: Vec<Execution> = (0..MAX_COUNTED as Millis + 5)
            .map(|n| execution("a", NOW - n * 1000, Status::Succeeded))
            .collect();
        store.insert_executions(&mut all).unwrap();
        let day = store.activity("a", NOW).unwrap();
        assert!(day.capped);
        assert_eq!(day.succeeded.iter().sum::<u32>(), MAX_COUNTED as u32);
    }
}
