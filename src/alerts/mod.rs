//! Telling the owner when executions fail (SPEC §11 "The owner hears of failures"): one
//! message when an execution ends `failed` (retries exhausted, or interrupted by a crash),
//! naming the hook, the execution, the error and a link to it; failures within the hook's
//! `minInterval` of its last alert are gathered ([`gather`]) into the next one, sent when the
//! interval has passed.
//!
//! The queue reports each failure with [`Alerts::failed`] before the failure is synced, and the
//! waiting alert is written to the store with it, so a restart loses no gathered alert. A
//! background task sends what is due through the channels' one path to the owner
//! (`send_to_owner`); an alert no chat took is put back and tried again after the interval.
//! This module never retries executions and never reads the execution log.

mod gather;
pub mod storage;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::channels::Channels;
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::execution::{Execution, ExecutionId};
use crate::hooks::{Registry, Snapshot};
use crate::model::{Alert, AlertsConfig, HookAlerts};
use crate::store::{Store, StoreError};

/// The longest error an alert quotes; the execution has the whole of it.
const MAX_ERROR: usize = 500;

/// What alerting needs.
pub struct AlertDeps {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub channels: Arc<Channels>,
    pub clock: Arc<dyn Clock>,
}

/// Every hook's alerting state, and the task that sends what is due.
pub struct Alerts {
    deps: AlertDeps,
    hooks: Mutex<BTreeMap<String, HookAlerts>>,
    wake: Notify,
}

impl Alerts {
    /// Alerting with the state the store kept (failures gathered before a restart).
    pub fn new(deps: AlertDeps) -> Result<Arc<Self>, StoreError> {
        let hooks = deps.store.alert_states()?.into_iter().collect();
        Ok(Arc::new(Self {
            deps,
            hooks: Mutex::new(hooks),
            wake: Notify::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, HookAlerts>> {
        self.hooks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An execution ended `failed`. Gathers it for the hook's next alert when its alerts are
    /// on, and writes that down: durable with the store's next sync, the one that records the
    /// failure. Test runs are not alerted: the owner started them and is looking.
    pub fn failed(&self, execution: &Execution) {
        let snapshot = self.deps.registry.snapshot();
        if execution.test || policy(&snapshot, &execution.hook_id).is_none() {
            return;
        }
        let error = execution.error.as_deref().unwrap_or("failed");
        self.lock()
            .entry(execution.hook_id.clone())
            .or_default()
            .add(execution.id, error);
        self.record(&execution.hook_id);
        self.wake.notify_one();
    }

    /// Starts the task that sends alerts as they fall due.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        loop {
            // Taken before looking, so a failure reported meanwhile is not missed.
            let woken = self.wake.notified();
            let snapshot = self.deps.registry.snapshot();
            for (hook_id, policy, alert) in self.take_due(&snapshot) {
                self.send(&snapshot.config, &hook_id, &policy, alert).await;
            }
            match self.next_due(&snapshot) {
                None => woken.await,
                Some(due) => {
                    tokio::select! {
                        _ = self.deps.clock.sleep_until(due) => {}
                        _ = woken => {}
                    }
                }
            }
        }
    }

    /// The alerts due now, each with the hook's alerts in force. Waiting failures of a hook
    /// whose alerts were turned off since are dropped: the owner said not to.
    fn take_due(&self, snapshot: &Snapshot) -> Vec<(String, AlertsConfig, Alert)> {
        let now = self.deps.clock.now_ms();
        let mut due = Vec::new();
        let mut dropped = Vec::new();
        for (hook_id, state) in self.lock().iter_mut() {
            if state.waiting.is_none() {
                continue;
            }
            match policy(snapshot, hook_id) {
                Some(policy) => {
                    if let Some(alert) = state.take_due(now, policy.min_interval) {
                        due.push((hook_id.clone(), policy, alert));
                    }
                }
                None => {
                    state.waiting = None;
                    dropped.push(hook_id.clone());
                }
            }
        }
        for hook_id in dropped {
            self.record(&hook_id);
        }
        due
    }

    /// When the next waiting alert falls due.
    fn next_due(&self, snapshot: &Snapshot) -> Option<Millis> {
        self.lock()
            .iter()
            .filter_map(|(hook_id, state)| state.due_at(policy(snapshot, hook_id)?.min_interval))
            .min()
    }

    /// Sends one alert to the owner's chats on the hook's channels. When no chat took it, it
    /// is put back for the next interval; with no chat bound at all it is dropped, saying so.
    /// Only then is the hook's state written, so a crash while sending sends it again rather
    /// than never.
    async fn send(&self, config: &Config, hook_id: &str, policy: &AlertsConfig, alert: Alert) {
        let text = message(&crate::config::public_base_url(config), hook_id, &alert);
        let sent = self
            .deps
            .channels
            .send_to_owner(&text, &policy.channels, &HashSet::new())
            .await;
        let failures = alert.count;
        match sent {
            Ok(deliveries) if deliveries.is_empty() => tracing::warn!(
                hook = hook_id,
                failures,
                "no chat of the owner is linked on the alert's channels; the alert is dropped"
            ),
            Ok(deliveries) if deliveries.iter().any(|d| d.result.is_ok()) => {
                tracing::info!(hook = hook_id, failures, "owner alerted");
            }
            Ok(_) => {
                tracing::warn!(
                    hook = hook_id,
                    failures,
                    "no chat took the alert; it goes with the next one"
                );
                self.put_back(hook_id, alert);
            }
            Err(e) => {
                tracing::warn!(hook = hook_id, error = %e, "could not read the owner's chats; the alert goes with the next one");
                self.put_back(hook_id, alert);
            }
        }
        self.record(hook_id);
        if let Err(e) = self.deps.store.sync().await {
            tracing::warn!(error = %e, "could not record alerts durably");
        }
    }

    fn put_back(&self, hook_id: &str, alert: Alert) {
        self.lock()
            .entry(hook_id.to_string())
            .or_default()
            .put_back(alert);
    }

    /// Writes a hook's state as it stands to the store, under the lock so two writers cannot
    /// leave the older state last.
    fn record(&self, hook_id: &str) {
        let hooks = self.lock();
        let state = hooks.get(hook_id).cloned().unwrap_or_default();
        if let Err(e) = self.deps.store.set_alert_state(hook_id, &state) {
            tracing::warn!(hook = hook_id, error = %e, "could not record an alert");
        }
    }
}

/// The alerts in force for a hook in `snapshot`.
fn policy(snapshot: &Snapshot, hook_id: &str) -> Option<AlertsConfig> {
    let hook = snapshot.hook(hook_id).map(|h| &*h.hook);
    snapshot.config.alerts_for(hook).cloned()
}

/// The alert's text: plain, so any chat shows it as written. One failure names its execution,
/// error and page; gathered failures say how many, list their ids and link the hook's log.
pub fn message(base_url: &str, hook_id: &str, alert: &Alert) -> String {
    let base = base_url.trim_end_matches('/');
    let error = clip(&alert.last_error, MAX_ERROR);
    match alert.listed.as_slice() {
        [only] if alert.count == 1 => format!(
            "hookhub: hook {hook_id} failed\nExecution {only}: {error}\n{base}/#/executions/{only}"
        ),
        listed => {
            let ids: Vec<String> = listed.iter().map(ExecutionId::to_string).collect();
            let unlisted = alert.count.saturating_sub(listed.len() as u64);
            let more = if unlisted > 0 {
                format!(" and {unlisted} more")
            } else {
                String::new()
            };
            format!(
                "hookhub: hook {hook_id} failed {} times since the last alert\n\
                 Executions: {}{more}\nLast error: {error}\n{base}/#/hooks/{hook_id}",
                alert.count,
                ids.join(", "),
            )
        }
    }
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ExecutionId {
        ExecutionId(ulid::Ulid::from_parts(1_700_000_000_000 + n, 0))
    }

    #[test]
    fn one_failure_names_its_execution_error_and_page() {
        let alert = Alert {
            count: 1,
            listed: vec![id(1)],
            last_error: "gave up after 7 attempts: HTTP 500".into(),
        };
        let text = message("https://hooks.example.com/", "github-prs", &alert);
        assert_eq!(
            text,
            format!(
                "hookhub: hook github-prs failed\nExecution {0}: gave up after 7 attempts: \
                 HTTP 500\nhttps://hooks.example.com/#/executions/{0}",
                id(1)
            )
        );
    }

    #[test]
    fn gathered_failures_say_how_many_and_list_their_ids() {
        let alert = Alert {
            count: 25,
            listed: (0..gather::MAX_LISTED as u64).map(id).collect(),
            last_error: "x".repeat(2_000),
        };
        let text = message("http://127.0.0.1:3005", "broken", &alert);
        assert!(text.starts_with("hookhub: hook broken failed 25 times since the last alert\n"));
        assert!(text.contains(&format!("Executions: {}, {}", id(0), id(1))));
        assert!(text.contains(" and 5 more\n"), "{text}");
        assert!(text.ends_with("\nhttp://127.0.0.1:3005/#/hooks/broken"));
        assert!(text.len() < 2_000, "the error is clipped");
    }
}
