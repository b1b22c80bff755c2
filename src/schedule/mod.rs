//! The `schedule` trigger: one task that runs each enabled schedule hook when its cron pattern
//! comes due, on the injected clock, by submitting an execution to the queue like a delivery
//! would. Each hook's pattern comes compiled in its `hooks::Trigger::Schedule`, made when the
//! hook set is built. It owns the plan of next run times; it never runs an action itself.
//!
//! Missed runs: at start, a hook whose latest scheduled time lies after the last run recorded
//! in the store runs once at once — one catch-up, however many runs were missed. A clock that
//! jumps past several occurrences also gives one run, never a burst.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinHandle;

use crate::clock::{Clock, Millis};
use crate::execution::{Execution, RawBody, Trigger};
use crate::hooks::{self, Registry};
use crate::model::CronSchedule;
use crate::queue::{Queue, SubmitError};
use crate::store::Store;

/// What the scheduler needs.
pub struct SchedulerDeps {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub queue: Arc<Queue>,
    pub clock: Arc<dyn Clock>,
}

/// One planned run.
#[derive(Debug, Clone)]
struct Planned {
    schedule: CronSchedule,
    due: Millis,
}

/// Plans the first runs now (so a clock moved right after start is measured from the start)
/// and spawns the task that fires them. Abort the handle to stop it.
pub fn spawn(deps: SchedulerDeps) -> JoinHandle<()> {
    let mut scheduler = Scheduler {
        plan: HashMap::new(),
        deps,
    };
    let changes = scheduler.deps.registry.subscribe();
    scheduler.replan(true);
    tokio::spawn(scheduler.run(changes))
}

struct Scheduler {
    deps: SchedulerDeps,
    plan: HashMap<String, Planned>,
}

impl Scheduler {
    async fn run(mut self, mut changes: tokio::sync::watch::Receiver<u64>) {
        loop {
            let now = self.deps.clock.now_ms();
            let due: Vec<String> = self
                .plan
                .iter()
                .filter(|(_, p)| p.due <= now)
                .map(|(id, _)| id.clone())
                .collect();
            for hook_id in due {
                self.fire(&hook_id, now).await;
            }
            let earliest = self.plan.values().map(|p| p.due).min();
            let clock = self.deps.clock.clone();
            let sleep = async move {
                match earliest {
                    Some(at) => clock.sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return; // the registry is gone: the hub is stopping
                    }
                    self.replan(false);
                }
            }
        }
    }

    /// Brings the plan in line with the enabled schedule hooks. A hook whose schedule did not
    /// change keeps its due time; a new or changed one is due at its next occurrence, or — at
    /// start only — at once when a run was missed while the hub was down.
    fn replan(&mut self, at_start: bool) {
        let now = self.deps.clock.now_ms();
        let snapshot = self.deps.registry.snapshot();
        let mut plan = HashMap::new();
        for live in snapshot.hooks() {
            let hook = &live.hook;
            let hooks::Trigger::Schedule(schedule) = &live.trigger else {
                continue;
            };
            if !hook.enabled {
                continue;
            }
            let schedule = match schedule {
                Ok(s) => s.clone(),
                Err(e) => {
                    // Validation refuses these; an API hook stored before a rule changed may not.
                    tracing::warn!(hook = %hook.id, error = %e, "schedule hook not scheduled");
                    continue;
                }
            };
            let kept = self.plan.remove(&hook.id).filter(|p| {
                p.schedule.pattern() == schedule.pattern()
                    && p.schedule.timezone() == schedule.timezone()
            });
            let due = match kept {
                Some(p) => Some(p.due),
                None if at_start => self.catch_up(&hook.id, &schedule, now),
                None => schedule.next_after(now),
            };
            if let Some(due) = due {
                plan.insert(hook.id.clone(), Planned { schedule, due });
            }
        }
        self.plan = plan;
    }

    /// The first due time at start: the missed occurrence when one was missed, else the next.
    fn catch_up(&self, hook_id: &str, schedule: &CronSchedule, now: Millis) -> Option<Millis> {
        let last = match self.deps.store.last_fired(hook_id) {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(hook = %hook_id, error = %e, "cannot read the last scheduled run");
                None
            }
        };
        let latest = schedule.latest_at_or_before(now);
        match (last, latest) {
            (Some(last), Some(latest)) if latest > last => Some(latest),
            _ => schedule.next_after(now),
        }
    }

    /// Runs the hook for the occurrence that came due, and plans its next one after `now`, so
    /// occurrences the clock skipped over are not run one by one.
    async fn fire(&mut self, hook_id: &str, now: Millis) {
        let Some(planned) = self.plan.get_mut(hook_id) else {
            return;
        };
        let occurrence = planned.due;
        let label = format!("cron {}", planned.schedule.pattern());
        match planned.schedule.next_after(now) {
            Some(next) => planned.due = next,
            None => {
                self.plan.remove(hook_id);
            }
        }
        // Claimed before the execution is submitted, so the submit's flush makes both durable
        // together and a crash in between cannot lead to a second catch-up run. On a shared
        // database, the hub that claims the occurrence first runs it; the others skip it.
        match self.deps.store.claim_tick(hook_id, occurrence) {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(hook = %hook_id, "this scheduled run was started already");
                return;
            }
            Err(e) => {
                tracing::warn!(hook = %hook_id, error = %e, "cannot record the scheduled run")
            }
        }
        let mut execution = Execution::queued(hook_id, scheduled_trigger(), now);
        execution.label = Some(label);
        match self.deps.queue.submit(&mut [execution]).await {
            Ok(()) => tracing::info!(hook = %hook_id, "scheduled run queued"),
            Err(SubmitError::Full(_)) => {
                tracing::warn!(hook = %hook_id, "queue full: this scheduled run is skipped")
            }
            Err(e) => tracing::warn!(hook = %hook_id, error = %e, "scheduled run not recorded"),
        }
    }
}

/// What a scheduled run looks like in the execution log: path `schedule`, method `SCHEDULE`,
/// an empty JSON object as the body.
pub fn scheduled_trigger() -> Trigger {
    Trigger {
        path: "schedule".into(),
        method: "SCHEDULE".into(),
        headers: [("content-type".into(), "application/json".to_string())].into(),
        query: Default::default(),
        query_in_body: true,
        body: json!({}),
        raw_body: RawBody(bytes::Bytes::from_static(b"{}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::Snapshot;
    use crate::model::Hook;

    #[test]
    fn schedule_hooks_are_never_reachable_by_path() {
        let hook: Hook = serde_json::from_value(json!({
            "id": "nightly",
            "trigger": "schedule",
            "triggerConfig": {"cron": "0 3 * * *"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": "http://127.0.0.1:9/x"},
        }))
        .unwrap();
        let snapshot = Snapshot::build(Arc::default(), vec![hook]).unwrap();
        assert!(snapshot.hook("nightly").is_some());
        assert_eq!(snapshot.enabled_on_path("").count(), 0);
    }
}
