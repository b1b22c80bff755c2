//! One execution's attempt from start to recorded result, and recovery at start.

use std::sync::Arc;

use super::retry::RetrySchedule;
use super::{Entry, Queue};
use crate::actions::{self, Outcome, Run};
use crate::execution::{Execution, ExecutionId, Status};
use crate::model::{ActionKind, Hook};
use crate::store::StoreError;

/// Runs one attempt of an execution, within the global worker limit. Its log lines carry the
/// execution id and the delivery's request id.
pub(super) async fn run(queue: &Arc<Queue>, hook_id: &str, id: ExecutionId) {
    let Ok(_permit) = queue.global.acquire().await else {
        return;
    };
    if let Err(e) = attempt(queue, hook_id, id).await {
        // The execution stays pending in the store and is picked up at the next start.
        tracing::error!(execution = %id, hook = hook_id, error = %e, "could not record an attempt");
    }
}

async fn attempt(queue: &Arc<Queue>, hook_id: &str, id: ExecutionId) -> Result<(), StoreError> {
    let deps = &queue.deps;
    // No action starts while its result could not be recorded: the disk's bad hour holds the
    // queue, not the work.
    deps.store.health().writable().await;
    let Some(exec) = deps.store.execution(id)? else {
        return Ok(());
    };
    if exec.status.is_final() {
        return Ok(());
    }
    let request_id = exec.request_id.clone().unwrap_or_default();
    let span = tracing::info_span!("execution", id = %id, hook = hook_id, request_id);
    tracing::Instrument::instrument(attempt_loaded(queue, hook_id, exec), span).await
}

async fn attempt_loaded(
    queue: &Arc<Queue>,
    hook_id: &str,
    mut exec: Execution,
) -> Result<(), StoreError> {
    let deps = &queue.deps;
    let snapshot = deps.registry.snapshot();
    let Some(live) = snapshot.hook(hook_id).cloned() else {
        let error = format!("hook `{hook_id}` no longer exists");
        finish(&mut exec, deps.clock.now_ms(), Status::Failed, Some(error));
        return save(queue, &mut exec).await;
    };

    exec.status = Status::Running;
    exec.started_at.get_or_insert(deps.clock.now_ms());
    exec.next_attempt_at = None;
    if repeatable(&live.hook) {
        // Run again after a crash anyway: its `running` mark need not reach the disk first.
        deps.store.update_execution(&mut exec)?;
    } else {
        // A crash during an action that must not run twice has to be seen as one at the next
        // start, so its `running` mark reaches the disk first.
        deps.store.save_durably(&mut exec).await?;
    }

    let attempt_no = exec.tries() + 1;
    let report = actions::run(
        &deps.actions,
        live.action.as_ref(),
        Run {
            hook: &live.hook,
            execution: &exec,
            attempt: attempt_no,
            config: &snapshot.config,
        },
    )
    .await;
    let action = live.hook.action.as_str();
    exec.attempts
        .extend(report.attempts.into_iter().map(|mut a| {
            crate::telemetry::attempt(action, a.duration_ms);
            a.number = Some(attempt_no);
            a
        }));
    let now = deps.clock.now_ms();
    match report.outcome {
        Outcome::Succeeded { output } => {
            exec.output = output;
            exec.error = None;
            finish(&mut exec, now, Status::Succeeded, None);
        }
        Outcome::Failed { error } => finish(&mut exec, now, Status::Failed, Some(error)),
        Outcome::Retry { error, retry_after } => {
            match RetrySchedule::next_delay(attempt_no, retry_after, rand::random()) {
                Some(delay) => {
                    crate::telemetry::retry(hook_id);
                    exec.status = Status::Retrying;
                    exec.error = Some(error);
                    exec.next_attempt_at = Some(now + delay.as_millis() as u64);
                }
                None => {
                    let error = format!("gave up after {attempt_no} attempts: {error}");
                    finish(&mut exec, now, Status::Failed, Some(error));
                }
            }
        }
    }
    save(queue, &mut exec).await?;
    if let Some(due) = exec.next_attempt_at {
        queue.schedule(hook_id, entry_of(&exec), due);
    }
    Ok(())
}

/// Whether an execution a crash left `running` may run again: its action is safe to repeat,
/// or its hook is gone (the run then fails saying so).
pub(super) fn may_run_again(queue: &Queue, exec: &Execution) -> bool {
    queue
        .deps
        .registry
        .snapshot()
        .hook(&exec.hook_id)
        .is_none_or(|h| repeatable(&h.hook))
}

/// Records an execution a crash interrupted as failed, and tells the owner.
pub(super) fn interrupted(queue: &Queue, exec: &mut Execution) -> Result<(), StoreError> {
    let deps = &queue.deps;
    let error = "interrupted: the hub stopped while this ran".to_string();
    finish(exec, deps.clock.now_ms(), Status::Failed, Some(error));
    deps.store.update_execution(exec)?;
    deps.alerts.failed(exec);
    Ok(())
}

/// Whether running the hook's action again after a crash is acceptable. A notify skips the
/// chats its recorded attempts already reached, so at most the one in flight hears twice.
fn repeatable(hook: &Hook) -> bool {
    matches!(hook.action, ActionKind::Webhook | ActionKind::Notify)
        || hook.action_config.retry_on_crash
}

fn entry_of(exec: &Execution) -> Entry {
    Entry {
        id: exec.id,
        lock_key: exec.lock_key.clone(),
    }
}

fn finish(exec: &mut Execution, now: u64, status: Status, error: Option<String>) {
    crate::telemetry::finished(&exec.hook_id, status.as_str());
    if let Some(error) = &error {
        tracing::info!(error = %error, "execution failed");
    }
    exec.status = status;
    exec.error = error;
    exec.next_attempt_at = None;
    exec.finished_at = Some(now);
    exec.duration_ms = Some(now.saturating_sub(exec.started_at.unwrap_or(exec.received_at)));
}

/// Records the attempt's result. The action ran: a disk that refuses writes now is waited
/// for, never a reason to run it again.
async fn save(queue: &Queue, exec: &mut Execution) -> Result<(), StoreError> {
    if exec.status == Status::Failed {
        // Before the write, so the owner's waiting alert is recorded with the failure.
        queue.deps.alerts.failed(exec);
    }
    queue.deps.store.save_durably(exec).await
}

/// Puts every pending execution back in line. One left `running` by a crash is run again when
/// its action is safe to repeat (`webhook`) or the hook says `retryOnCrash: true`; otherwise it
/// is marked `failed: interrupted`, because a tool may already have done its work.
pub(super) fn recover(queue: &Arc<Queue>) -> Result<(), StoreError> {
    let deps = &queue.deps;
    let snapshot = deps.registry.snapshot();
    let mut recovered = 0usize;
    for job in deps.store.pending_jobs()? {
        let id = job.id;
        let Some(mut exec) = deps.store.execution(id)? else {
            // A job whose execution never reached the disk (a crash mid-write, never answered).
            deps.store.drop_job(id)?;
            continue;
        };
        let repeatable = snapshot
            .hook(&job.hook_id)
            .is_none_or(|h| repeatable(&h.hook));
        match exec.status {
            // Finished, but the job's removal was lost in a crash: rewriting removes it.
            status if status.is_final() => deps.store.update_execution(&mut exec)?,
            Status::Retrying => queue.schedule(&job.hook_id, entry_of(&exec), job.due_ms),
            Status::Running if !repeatable => interrupted(queue, &mut exec)?,
            _ => queue.push(&job.hook_id, entry_of(&exec)),
        }
        recovered += 1;
    }
    if recovered > 0 {
        deps.store.flush_now()?;
        tracing::info!(count = recovered, "recovered pending executions");
    }
    Ok(())
}
