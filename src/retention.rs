//! Retention (`server.retention`): a hook's executions are pruned as it passes `maxPerHook`,
//! not once an hour, so a busy hook's log (and the disk under it) stays near its limit. The
//! queue tells [`Retention::added`] of every execution it records; a hook that gained a tenth
//! of its limit since it was last pruned (at least [`MIN_MARGIN`], at most [`MAX_MARGIN`]) is
//! pruned now, back to `maxPerHook`, so each prune removes a batch rather than one execution at
//! a time. Age (`maxAge`) and delivery-id claims are pruned every hour, as before, the first
//! time at start. Pruning runs on the blocking pool; it never holds up a delivery, but it takes
//! a core while it runs, hence the cap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::store::{Store, StoreError};

/// The fewest new executions of one hook that make it due for pruning.
const MIN_MARGIN: usize = 100;
/// The most: a prune's removals are one burst of work on one of the machine's cores, so a
/// hook keeping 40,000 removed 4,000 at a time and lifted a saturated hub's p99 by ~0.5 ms
/// (BENCHMARKS.md). The total work is the same in smaller, more frequent prunes.
const MAX_MARGIN: usize = 256;
/// How often everything is pruned by age.
const EVERY: Duration = Duration::from_secs(3600);

/// New executions per hook since its last prune, and a wake-up when one passed its margin.
pub struct Retention {
    config: RetentionConfig,
    added: Mutex<HashMap<String, usize>>,
    due: Notify,
}

impl Retention {
    pub fn new(config: RetentionConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            added: Mutex::new(HashMap::new()),
            due: Notify::new(),
        })
    }

    /// How many new executions of one hook make it due.
    fn margin(&self) -> usize {
        (self.config.max_per_hook / 10).clamp(MIN_MARGIN, MAX_MARGIN)
    }

    /// `count` new executions of `hook_id` were recorded.
    pub fn added(&self, hook_id: &str, count: usize) {
        let mut added = self.added.lock().unwrap_or_else(|p| p.into_inner());
        let n = match added.get_mut(hook_id) {
            Some(n) => n,
            None => added.entry(hook_id.to_string()).or_default(),
        };
        *n += count;
        if *n >= self.margin() {
            self.due.notify_one();
        }
    }

    /// The hooks past their margin, their counts started again.
    fn take_due(&self) -> Vec<String> {
        let margin = self.margin();
        let mut added = self.added.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<String> = added
            .iter()
            .filter(|(_, n)| **n >= margin)
            .map(|(hook, _)| hook.clone())
            .collect();
        for hook in &due {
            added.remove(hook);
        }
        due
    }

    /// Prunes as hooks pass their limit, and everything by age every hour, until dropped.
    pub async fn run(self: Arc<Self>, store: Arc<Store>, clock: Arc<dyn Clock>) {
        let mut hourly = tokio::time::interval(EVERY);
        loop {
            let all = tokio::select! {
                _ = hourly.tick() => true,
                () = self.due.notified() => false,
            };
            let now = clock.now_ms();
            let cutoff = now.saturating_sub(self.config.max_age.as_millis() as u64);
            let claims_cutoff = now.saturating_sub(crate::ingress::DEDUPE_WINDOW_MS);
            let (store, max) = (store.clone(), self.config.max_per_hook);
            let hooks = if all { Vec::new() } else { self.take_due() };
            let pruned = tokio::task::spawn_blocking(move || {
                if all {
                    store.prune_deliveries(claims_cutoff)?;
                    return store.prune(cutoff, max);
                }
                hooks.iter().try_fold(0, |removed, hook| {
                    Ok::<_, StoreError>(removed + store.prune_hook(hook, cutoff, max)?)
                })
            })
            .await;
            match pruned {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) if all => tracing::info!(removed = n, "pruned old executions"),
                Ok(Ok(n)) => tracing::debug!(removed = n, "pruned executions past maxPerHook"),
                Ok(Err(e)) => tracing::warn!(error = %e, "pruning failed"),
                Err(e) => tracing::warn!(error = %e, "pruning task failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention(max_per_hook: usize) -> Arc<Retention> {
        Retention::new(RetentionConfig {
            max_age: Duration::from_secs(3600),
            max_per_hook,
        })
    }

    #[test]
    fn a_hook_is_due_after_a_tenth_of_its_limit_and_at_least_a_hundred() {
        let r = retention(2_000);
        r.added("a", 199);
        r.added("b", 5);
        assert!(r.take_due().is_empty());
        r.added("a", 1);
        assert_eq!(r.take_due(), vec!["a".to_string()]);
        assert!(r.take_due().is_empty(), "counted again from zero");
        let small = retention(50);
        small.added("c", 99);
        assert!(small.take_due().is_empty());
        small.added("c", 1);
        assert_eq!(small.take_due(), vec!["c".to_string()]);
    }

    #[test]
    fn a_large_limit_is_pruned_every_few_hundred_not_a_tenth() {
        // The default limit, 10,000, is one of them.
        let large = retention(10_000);
        large.added("d", MAX_MARGIN - 1);
        assert!(large.take_due().is_empty());
        large.added("d", 1);
        assert_eq!(large.take_due(), vec!["d".to_string()]);
    }
}
