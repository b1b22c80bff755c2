//! Running executions: per-hook lanes with bounded concurrency, a global worker limit, a timer
//! for retries, and recovery at start. Its state in memory mirrors the store's pending jobs,
//! which are the truth: anything lost here is rebuilt from them on the next start.

pub mod retry;
mod shared;
mod worker;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::{HashMap, HashMapExt as _};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::actions::ActionEnv;
use crate::clock::{Clock, Millis};
pub use crate::execution::lane::Entry;
use crate::execution::lane::Lane;
use crate::execution::{Execution, ExecutionId};
use crate::hooks::Registry;
use crate::store::Store;

pub use crate::execution::lane::MAX_QUEUED_PER_HOOK;

/// What workers need.
pub struct QueueDeps {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub actions: ActionEnv,
    pub clock: Arc<dyn Clock>,
    /// Actions running at once across all hooks.
    pub workers: usize,
    /// Told of every execution that ends `failed`.
    pub alerts: Arc<crate::alerts::Alerts>,
    /// Told of every execution recorded, to prune a hook as it passes its limit.
    pub retention: Arc<crate::retention::Retention>,
}

/// The queue. Cheap to share behind an `Arc`.
pub struct Queue {
    deps: QueueDeps,
    state: Mutex<State>,
    global: Semaphore,
    timer_wake: Notify,
    tasks: Mutex<JoinSet<()>>,
    /// Set by [`Queue::drain`]: nothing new starts.
    stopping: AtomicBool,
    /// Executions being run now, and a wake-up for each that ends.
    running: AtomicUsize,
    ended: Notify,
}

#[derive(Default)]
struct State {
    lanes: HashMap<String, Lane>,
    /// Retries waiting for their time, by due time.
    delayed: BTreeMap<(Millis, ExecutionId), (String, Entry)>,
    /// On a shared database: what this hub holds leases on, and how many executions wait per
    /// hook across every hub (as the last lease saw them).
    leased: HashSet<ExecutionId>,
    waiting: HashMap<String, usize>,
}

/// The hook's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue for this hook is full ({MAX_QUEUED_PER_HOOK} executions waiting)")]
pub struct QueueFull;

/// Why [`Queue::submit`] took nothing.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Full(#[from] QueueFull),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Places promised in lanes while executions are written; released on drop unless used.
struct Reserved<'a> {
    queue: &'a Queue,
    hooks: Vec<String>,
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        for hook in &self.hooks {
            if let Some(lane) = state.lanes.get_mut(hook) {
                lane.release(1);
            }
        }
    }
}

impl Queue {
    /// A queue with nothing in it; call [`Queue::start`] to run the timer and recover jobs.
    pub fn new(deps: QueueDeps) -> Arc<Self> {
        let workers = deps.workers.max(1);
        Arc::new(Self {
            deps,
            state: Mutex::new(State::default()),
            global: Semaphore::new(workers),
            timer_wake: Notify::new(),
            tasks: Mutex::new(JoinSet::new()),
            stopping: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            ended: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("queue lock poisoned")
    }

    /// Takes new executions. One whose lock key matches an execution still queued collapses
    /// into it (recorded as `skipped`, pointing at that execution). The rest reserve a place
    /// (all or none, else [`QueueFull`]), are written durably, then put in line. Executions
    /// already final are only recorded. When this returns Ok, every execution is on disk.
    pub async fn submit(self: &Arc<Self>, executions: &mut [Execution]) -> Result<(), SubmitError> {
        let queued_elsewhere = self.queued_with_keys(executions)?;
        let mut reserved = self.reserve(executions, &queued_elsewhere)?;
        self.deps.store.insert_executions(executions)?;
        // Until the sync answers, the executions are taken back if this is dropped (the request
        // gave up waiting) or the sync fails: a refused delivery must never run later.
        let mut unconfirmed = Unconfirmed {
            store: &*self.deps.store,
            executions,
        };
        let synced = self.deps.store.sync().await;
        let executions = match synced {
            Ok(()) => unconfirmed.confirm(),
            Err(e) => return Err(e.into()),
        };
        let hooks = std::mem::take(&mut reserved.hooks);
        drop(reserved);
        for e in executions.iter() {
            self.deps.retention.added(&e.hook_id, 1);
        }
        if let Some(work) = self.deps.store.shared_work() {
            // Whichever hub's queue has a free worker first runs them.
            let mut state = self.lock();
            for hook in &hooks {
                if let Some(lane) = state.lanes.get_mut(hook) {
                    lane.release(1);
                }
            }
            if executions.iter().any(|e| !e.status.is_final()) {
                work.work_arrived().notify_one();
            }
            return Ok(());
        }
        {
            let mut state = self.lock();
            for e in executions.iter().filter(|e| !e.status.is_final()) {
                let lane = state.lanes.entry(e.hook_id.clone()).or_default();
                lane.release(1);
                lane.push(Entry {
                    id: e.id,
                    lock_key: e.lock_key.clone(),
                });
            }
        }
        for hook in hooks {
            self.pump(&hook);
        }
        Ok(())
    }

    /// On a shared database, the queued execution each new one's lock key matches, if any.
    fn queued_with_keys(
        &self,
        executions: &[Execution],
    ) -> Result<Vec<Option<ExecutionId>>, crate::store::StoreError> {
        let Some(work) = self.deps.store.shared_work() else {
            return Ok(Vec::new());
        };
        executions
            .iter()
            .map(|e| match (&e.lock_key, e.status.is_final()) {
                (Some(key), false) => work.queued_with_key(&e.hook_id, key),
                _ => Ok(None),
            })
            .collect()
    }

    /// Collapses executions into queued ones with the same lock key, then reserves a place for
    /// each remaining runnable one, or none at all when a lane is full. `queued_elsewhere`
    /// holds, on a shared database, the matches [`Queue::queued_with_keys`] found.
    fn reserve(
        &self,
        executions: &mut [Execution],
        queued_elsewhere: &[Option<ExecutionId>],
    ) -> Result<Reserved<'_>, QueueFull> {
        let mut state = self.lock();
        let mut wanted: HashMap<&str, usize> = HashMap::new();
        for (i, e) in executions.iter_mut().enumerate() {
            if e.status.is_final() {
                continue;
            }
            let lane = state.lanes.get(&e.hook_id);
            let queued = match queued_elsewhere.get(i) {
                Some(found) => *found,
                None => e
                    .lock_key
                    .as_deref()
                    .and_then(|k| lane.and_then(|l| l.queued_with_key(k))),
            };
            match queued {
                Some(into) => e.collapse_into(into),
                None => *wanted.entry(e.hook_id.as_str()).or_default() += 1,
            }
        }
        for (hook, count) in &wanted {
            let waiting = state.lanes.get(*hook).map_or(0, Lane::waiting)
                + state.waiting.get(*hook).copied().unwrap_or(0);
            if waiting + count > MAX_QUEUED_PER_HOOK {
                return Err(QueueFull);
            }
        }
        let mut hooks = Vec::new();
        for (hook, count) in wanted {
            state
                .lanes
                .entry(hook.to_string())
                .or_default()
                .reserve(count);
            hooks.extend(std::iter::repeat_n(hook.to_string(), count));
        }
        Ok(Reserved { queue: self, hooks })
    }

    /// Puts an execution in line without a reservation (retries due, recovery).
    pub fn push(self: &Arc<Self>, hook_id: &str, entry: Entry) {
        self.lock()
            .lanes
            .entry(hook_id.to_string())
            .or_default()
            .push(entry);
        self.pump(hook_id);
    }

    /// Runs the execution at `due_ms`. On a shared database the store keeps the due time and
    /// whichever hub looks first when it comes runs it.
    pub fn schedule(&self, hook_id: &str, entry: Entry, due_ms: Millis) {
        if self.deps.store.shared_work().is_some() {
            return;
        }
        self.lock()
            .delayed
            .insert((due_ms, entry.id), (hook_id.to_string(), entry));
        self.timer_wake.notify_one();
    }

    /// Actions running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Executions waiting in a hook's lane (not counting delayed retries).
    pub fn queued(&self, hook_id: &str) -> usize {
        self.lock().lanes.get(hook_id).map_or(0, Lane::ready_len)
    }

    /// Starts as many of the hook's waiting executions as its concurrency and lock keys allow.
    fn pump(self: &Arc<Self>, hook_id: &str) {
        if self.stopping.load(Ordering::SeqCst) {
            // Left queued in the store: the next start runs it.
            return;
        }
        let limit = self
            .deps
            .registry
            .snapshot()
            .hook(hook_id)
            .map_or(1, |h| h.concurrency());
        let started: Vec<Entry> = {
            let mut state = self.lock();
            let Some(lane) = state.lanes.get_mut(hook_id) else {
                return;
            };
            std::iter::from_fn(|| lane.start_next(limit)).collect()
        };
        for entry in started {
            let queue = self.clone();
            let hook_id = hook_id.to_string();
            self.running.fetch_add(1, Ordering::SeqCst);
            self.spawn(async move {
                worker::run(&queue, &hook_id, entry.id).await;
                queue.finished(&hook_id, entry.lock_key.as_deref());
            });
        }
    }

    fn finished(self: &Arc<Self>, hook_id: &str, lock_key: Option<&str>) {
        if let Some(lane) = self.lock().lanes.get_mut(hook_id) {
            lane.finish(lock_key);
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.ended.notify_waiters();
        self.pump(hook_id);
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().expect("task set lock poisoned");
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Starts the retry timer and re-queues every execution a previous run left pending; on a
    /// shared database, starts leasing work instead (what a previous run left is leased again
    /// when its lease runs out).
    pub fn start(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let queue = self.clone();
        if self.deps.store.shared_work().is_some() {
            self.spawn(shared::dispatch(queue));
            return Ok(());
        }
        self.spawn(async move { queue.timer().await });
        worker::recover(self)
    }

    /// Moves due retries into their lanes, sleeping until the next one is due.
    async fn timer(self: Arc<Self>) {
        loop {
            let next = self.lock().delayed.keys().next().map(|(due, _)| *due);
            match next {
                None => self.timer_wake.notified().await,
                Some(due) => {
                    tokio::select! {
                        _ = self.deps.clock.sleep_until(due) => self.release_due(),
                        _ = self.timer_wake.notified() => {}
                    }
                }
            }
        }
    }

    fn release_due(self: &Arc<Self>) {
        let now = self.deps.clock.now_ms();
        let mut due = Vec::new();
        {
            let mut state = self.lock();
            while let Some(entry) = state.delayed.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let (_, (hook_id, entry)) = entry.remove_entry();
                due.push((hook_id, entry));
            }
        }
        for (hook_id, entry) in due {
            self.push(&hook_id, entry);
        }
    }

    /// Stops starting executions and lets those running finish for up to `grace`, then stops
    /// (see [`Queue::shutdown`]). Waiting ones stay queued in the store for the next start.
    pub async fn drain(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        let all_ended = async {
            loop {
                let ended = self.ended.notified();
                if self.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                ended.await;
            }
        };
        if tokio::time::timeout(grace, all_ended).await.is_err() {
            let left = self.running.load(Ordering::SeqCst);
            tracing::warn!(
                running = left,
                "stopping with actions still running; they are \
                picked up at the next start as SPEC §7 says"
            );
        }
        self.shutdown().await;
    }

    /// Stops every worker and the timer. Executions they were running stay `running` in the
    /// store and are picked up again at the next start.
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("task set lock poisoned"));
        tasks.shutdown().await;
    }
}

/// Executions written but not known to be on disk; forgotten when dropped unconfirmed.
struct Unconfirmed<'a> {
    store: &'a crate::store::Store,
    executions: &'a mut [Execution],
}

impl<'a> Unconfirmed<'a> {
    /// They are on disk: nothing to take back.
    fn confirm(&mut self) -> &mut [Execution] {
        std::mem::take(&mut self.executions)
    }
}

impl Drop for Unconfirmed<'_> {
    fn drop(&mut self) {
        if self.executions.is_empty() {
            return;
        }
        if let Err(e) = self.store.forget_executions(self.executions) {
            tracing::warn!(error = %e, "could not take back the executions of a refused delivery");
        }
    }
}
