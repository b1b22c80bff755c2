//! Running executions: per-hook lanes with bounded concurrency, a global worker limit, a timer
//! for retries, and recovery at start. Its state in memory mirrors the store's pending jobs,
//! which are the truth: anything lost here is rebuilt from them on the next start.

pub mod retry;
mod worker;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::actions::ActionEnv;
use crate::clock::{Clock, Millis};
use crate::execution::{Execution, ExecutionId};
use crate::hooks::Registry;
use crate::store::Store;

/// How many executions of one hook may wait before deliveries are refused with 503.
pub const MAX_QUEUED_PER_HOOK: usize = 50;

/// What workers need.
pub struct QueueDeps {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub actions: ActionEnv,
    pub clock: Arc<dyn Clock>,
    /// Actions running at once across all hooks.
    pub workers: usize,
}

/// The queue. Cheap to share behind an `Arc`.
pub struct Queue {
    deps: QueueDeps,
    state: Mutex<State>,
    global: Semaphore,
    timer_wake: Notify,
    tasks: Mutex<JoinSet<()>>,
}

#[derive(Default)]
struct State {
    lanes: HashMap<String, Lane>,
    /// Retries waiting for their time, by due time.
    delayed: BTreeMap<(Millis, ExecutionId), String>,
}

#[derive(Default)]
struct Lane {
    ready: VecDeque<ExecutionId>,
    /// Slots promised to deliveries still being written to disk.
    reserved: usize,
    running: usize,
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

/// A promised place in a hook's lane; released on drop unless used by [`Reservation::enqueue`].
pub struct Reservation {
    queue: Arc<Queue>,
    hook_id: String,
    used: bool,
}

impl Reservation {
    /// Puts the (now durable) execution in line, using the reserved slot.
    pub fn enqueue(mut self, id: ExecutionId) {
        self.used = true;
        {
            let mut state = self.queue.lock();
            let lane = state.lanes.entry(self.hook_id.clone()).or_default();
            lane.reserved -= 1;
            lane.ready.push_back(id);
        }
        self.queue.pump(&self.hook_id);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.used {
            let mut state = self.queue.lock();
            if let Some(lane) = state.lanes.get_mut(&self.hook_id) {
                lane.reserved -= 1;
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
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("queue lock poisoned")
    }

    /// Reserves a slot for one execution of `hook_id`, or refuses when its lane is full.
    pub fn reserve(self: &Arc<Self>, hook_id: &str) -> Result<Reservation, QueueFull> {
        let mut state = self.lock();
        let lane = state.lanes.entry(hook_id.to_string()).or_default();
        if lane.ready.len() + lane.reserved >= MAX_QUEUED_PER_HOOK {
            return Err(QueueFull);
        }
        lane.reserved += 1;
        Ok(Reservation {
            queue: self.clone(),
            hook_id: hook_id.to_string(),
            used: false,
        })
    }

    /// Takes new executions: reserves a place for each one that is to run (all or none), writes
    /// them all durably, then puts them in line. Executions already final (skipped) are only
    /// recorded. When this returns Ok, every execution is on disk.
    pub async fn submit(self: &Arc<Self>, executions: &[Execution]) -> Result<(), SubmitError> {
        let reservations = executions
            .iter()
            .filter(|e| !e.status.is_final())
            .map(|e| Ok((e.id, self.reserve(&e.hook_id)?)))
            .collect::<Result<Vec<_>, QueueFull>>()?;
        self.deps.store.insert_executions(executions)?;
        self.deps.store.sync().await?;
        for (id, reservation) in reservations {
            reservation.enqueue(id);
        }
        Ok(())
    }

    /// Puts an execution in line without a reservation (retries due, recovery).
    pub fn push(self: &Arc<Self>, hook_id: &str, id: ExecutionId) {
        self.lock()
            .lanes
            .entry(hook_id.to_string())
            .or_default()
            .ready
            .push_back(id);
        self.pump(hook_id);
    }

    /// Runs the execution at `due_ms`.
    pub fn schedule(&self, hook_id: &str, id: ExecutionId, due_ms: Millis) {
        self.lock()
            .delayed
            .insert((due_ms, id), hook_id.to_string());
        self.timer_wake.notify_one();
    }

    /// Executions waiting in a hook's lane (not counting delayed retries).
    pub fn queued(&self, hook_id: &str) -> usize {
        self.lock().lanes.get(hook_id).map_or(0, |l| l.ready.len())
    }

    /// Starts as many of the hook's ready executions as its concurrency allows.
    fn pump(self: &Arc<Self>, hook_id: &str) {
        let limit = self
            .deps
            .registry
            .snapshot()
            .hook(hook_id)
            .map_or(1, |h| h.concurrency());
        let mut started = Vec::new();
        {
            let mut state = self.lock();
            let Some(lane) = state.lanes.get_mut(hook_id) else {
                return;
            };
            while lane.running < limit {
                let Some(id) = lane.ready.pop_front() else {
                    break;
                };
                lane.running += 1;
                started.push(id);
            }
        }
        for id in started {
            let queue = self.clone();
            let hook_id = hook_id.to_string();
            self.spawn(async move {
                worker::run(&queue, &hook_id, id).await;
                queue.finished(&hook_id);
            });
        }
    }

    fn finished(self: &Arc<Self>, hook_id: &str) {
        {
            let mut state = self.lock();
            if let Some(lane) = state.lanes.get_mut(hook_id) {
                lane.running -= 1;
            }
        }
        self.pump(hook_id);
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().expect("task set lock poisoned");
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Starts the retry timer and re-queues every execution a previous run left pending.
    pub fn start(self: &Arc<Self>) -> Result<(), crate::store::StoreError> {
        let queue = self.clone();
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
                let ((_, id), hook_id) = entry.remove_entry();
                due.push((hook_id, id));
            }
        }
        for (hook_id, id) in due {
            self.push(&hook_id, id);
        }
    }

    /// Stops every worker and the timer. Executions they were running stay `running` in the
    /// store and are picked up again at the next start.
    pub async fn shutdown(&self) {
        let mut tasks = std::mem::take(&mut *self.tasks.lock().expect("task set lock poisoned"));
        tasks.shutdown().await;
    }
}
