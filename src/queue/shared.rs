//! The queue on a database several hubs share (SPEC §12). No hub keeps lanes of its own: each
//! leases from the database what it may run ([`SharedWork::lease`]: due, not held, within the
//! hook's concurrency and lock keys across every hub) as its workers free up, renews the
//! leases of what it runs, and takes over what a dead hub left running under the crash rules.
//! It looks again when told work arrived (its own deliveries, or another hub's through the
//! database), when a run ends, and at least every second for retries coming due.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Queue, worker};
use crate::execution::Execution;
use crate::store::{Concurrency, Leased, SharedWork};

/// The longest the queue waits before looking for work again.
const POLL: Duration = Duration::from_secs(1);

/// Leases and starts work until the queue stops.
pub(super) async fn dispatch(queue: Arc<Queue>) {
    let Some(work) = queue.deps.store.shared_work() else {
        return;
    };
    let renew_every = work.lease_length() / 3;
    let mut renewed = Instant::now();
    loop {
        let arrived = work.work_arrived().notified();
        if queue.stopping.load(Ordering::SeqCst) {
            return;
        }
        if renewed.elapsed() >= renew_every {
            renew(&queue, work);
            renewed = Instant::now();
        }
        let full = lease(&queue, work);
        if full {
            // Every free worker got work: there may be more waiting.
            continue;
        }
        tokio::select! {
            () = arrived => {}
            () = tokio::time::sleep(POLL.min(renew_every)) => {}
        }
    }
}

/// Leases what the free workers can take and starts it. Returns whether it leased as many
/// as there were free workers.
fn lease(queue: &Arc<Queue>, work: &dyn SharedWork) -> bool {
    let free = queue.deps.workers.saturating_sub(queue.running());
    if free == 0 {
        return false;
    }
    let snapshot = queue.deps.registry.snapshot();
    // A hook no longer in the set runs one at a time.
    let concurrency: Concurrency =
        Arc::new(move |id: &str| snapshot.hook(id).map_or(1, |h| h.concurrency()));
    let leases = match work.lease(queue.deps.clock.now_ms(), free, concurrency) {
        Ok(leases) => leases,
        Err(e) => {
            tracing::warn!(error = %e, "could not lease work from the database");
            return false;
        }
    };
    let started = leases.runnable.len();
    queue.lock().waiting = leases.waiting.into_iter().collect();
    for leased in leases.runnable {
        start(queue, leased);
    }
    for orphan in leases.orphaned {
        // This hub's own lease, run out while its run goes on (renewals failed for a while):
        // leased to it again, and still running here.
        if queue.lock().leased.contains(&orphan.id) {
            continue;
        }
        take_over(queue, orphan);
    }
    started == free
}

/// Runs a leased execution.
fn start(queue: &Arc<Queue>, leased: Leased) {
    queue.lock().leased.insert(leased.id);
    queue.running.fetch_add(1, Ordering::SeqCst);
    let runner = queue.clone();
    queue.spawn(async move {
        worker::run(&runner, &leased.hook_id, leased.id).await;
        runner.lock().leased.remove(&leased.id);
        runner.running.fetch_sub(1, Ordering::SeqCst);
        runner.ended.notify_waiters();
        if let Some(work) = runner.deps.store.shared_work() {
            work.work_arrived().notify_one();
        }
    });
}

/// An execution a dead hub left running, now leased to this one: run again when its action
/// may repeat, else failed as interrupted (SPEC §7).
fn take_over(queue: &Arc<Queue>, mut exec: Execution) {
    tracing::info!(execution = %exec.id, hook = %exec.hook_id, "taking over an execution whose hub stopped");
    if worker::may_run_again(queue, &exec) {
        let leased = Leased {
            id: exec.id,
            hook_id: exec.hook_id.clone(),
            lock_key: exec.lock_key.clone(),
        };
        start(queue, leased);
        return;
    }
    if let Err(e) = worker::interrupted(queue, &mut exec) {
        tracing::error!(execution = %exec.id, error = %e, "could not record an interrupted execution");
    }
}

/// Extends the leases of what this hub runs.
fn renew(queue: &Queue, work: &dyn SharedWork) {
    let ids: Vec<_> = queue.lock().leased.iter().copied().collect();
    if let Err(e) = work.renew(&ids, queue.deps.clock.now_ms()) {
        tracing::warn!(error = %e, "could not renew this hub's leases");
    }
}
