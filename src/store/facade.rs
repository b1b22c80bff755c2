//! The [`Store`]'s operations, each handed to the database open now. While a recovery swaps
//! it, they fail with [`StoreError::Unavailable`]: callers hear the disk is not taking writes,
//! as they would from the database itself.

use super::{Activity, Claim, ExecutionPage, PendingJob, Store, StoreError};
use crate::alerts::HookAlerts;
use crate::channels::{Binding, BindingId};
use crate::clock::Millis;
use crate::execution::{Execution, ExecutionId, Status};
use crate::hooks::{ChannelKind, Hook};

impl Store {
    /// `hook_id`'s executions received in the 24 hours up to the one holding `now_ms`, by
    /// hour and final status (see [`Activity`]).
    pub fn activity(&self, hook_id: &str, now_ms: Millis) -> Result<Activity, StoreError> {
        self.db()?.activity(hook_id, now_ms)
    }

    /// Every hook's alerting state, by hook id.
    pub fn alert_states(&self) -> Result<Vec<(String, HookAlerts)>, StoreError> {
        self.db()?.alert_states()
    }

    /// Records a hook's alerting state. Durable with the next [`Store::sync`].
    pub fn set_alert_state(&self, hook_id: &str, state: &HookAlerts) -> Result<(), StoreError> {
        self.db()?.set_alert_state(hook_id, state)
    }

    /// Writes new executions with their index entries and, for those not final, their jobs, in
    /// one atomic batch. Not durable until [`Store::sync`].
    pub fn insert_executions(&self, executions: &mut [Execution]) -> Result<(), StoreError> {
        self.db()?.insert_executions(executions)
    }

    /// Rewrites an execution, which must carry its payload (as [`Store::execution`] reads it);
    /// its job follows its status: removed once final, moved to the next attempt's time when
    /// retrying, left as it is otherwise.
    pub fn update_execution(&self, e: &mut Execution) -> Result<(), StoreError> {
        self.db()?.update_execution(e)
    }

    /// Takes back executions [`Store::insert_executions`] wrote whose sync failed or was given
    /// up on: their delivery was refused, so nothing of them may run or be shown.
    pub fn forget_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        self.db()?.forget_executions(executions)
    }

    /// Writes an execution and waits until it is on disk, across a storage failure: while the
    /// disk refuses writes this waits for the store to recover, then writes it again. For
    /// results of actions that already ran, which must not be lost or run again.
    pub async fn save_durably(&self, e: &mut Execution) -> Result<(), StoreError> {
        loop {
            self.health().writable().await;
            let written = match self.db() {
                Ok(db) => match db.update_execution(e) {
                    Ok(()) => db.sync().await,
                    Err(err) => Err(err),
                },
                Err(err) => Err(err),
            };
            match written {
                Err(StoreError::Unavailable(_)) => continue,
                other => return other,
            }
        }
    }

    /// Forgets a pending job (its execution is gone).
    pub fn drop_job(&self, id: ExecutionId) -> Result<(), StoreError> {
        self.db()?.drop_job(id)
    }

    pub fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        self.db()?.execution(id)
    }

    /// A hook's executions, newest first, older than `cursor` when given, optionally only
    /// those with `status`.
    pub fn executions_of(
        &self,
        hook_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<ExecutionId>,
    ) -> Result<ExecutionPage, StoreError> {
        self.db()?.executions_of(hook_id, status, limit, cursor)
    }

    /// The newest execution of a hook, if any.
    pub fn last_execution_of(&self, hook_id: &str) -> Result<Option<Execution>, StoreError> {
        self.db()?.last_execution_of(hook_id)
    }

    /// The newest failed executions of any hook, newest first, looking at no more than the
    /// newest `scan` executions. Payloads are left out.
    pub fn recent_failures(&self, limit: usize, scan: usize) -> Result<Vec<Execution>, StoreError> {
        self.db()?.recent_failures(limit, scan)
    }

    /// Every execution that is not final, oldest first: what a restart must pick up again.
    pub fn pending_jobs(&self) -> Result<Vec<PendingJob>, StoreError> {
        self.db()?.pending_jobs()
    }

    /// Deletes final executions older than `cutoff_ms` or beyond the newest `max_per_hook` of
    /// their hook. Returns how many were removed.
    pub fn prune(&self, cutoff_ms: Millis, max_per_hook: usize) -> Result<usize, StoreError> {
        self.db()?.prune(cutoff_ms, max_per_hook)
    }

    /// Every API-made hook, ordered by id.
    pub fn api_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        self.db()?.api_hooks()
    }

    pub fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        self.db()?.api_hook(id)
    }

    /// Creates or replaces an API hook, sealing and hashing its secrets before they reach the
    /// database. Not durable until [`Store::sync`].
    pub fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError> {
        self.db()?.put_api_hook(hook)
    }

    /// Removes an API hook; false when there was none.
    pub fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError> {
        self.db()?.delete_api_hook(id)
    }

    /// Every binding, oldest first.
    pub fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        self.db()?.bindings()
    }

    /// The binding of one chat, if it is bound.
    pub fn binding_for_chat(
        &self,
        channel: ChannelKind,
        chat_id: &str,
    ) -> Result<Option<Binding>, StoreError> {
        self.db()?.binding_for_chat(channel, chat_id)
    }

    /// Creates or replaces a binding. Not durable until [`Store::sync`].
    pub fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        self.db()?.put_binding(binding)
    }

    /// Removes a binding; false when there was none.
    pub fn remove_binding(&self, id: &BindingId) -> Result<bool, StoreError> {
        self.db()?.remove_binding(id)
    }

    /// The SHA-256 of the generated admin token, if one was generated.
    pub fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.db()?.admin_token_hash()
    }

    pub fn set_admin_token_hash(&self, hash: &[u8]) -> Result<(), StoreError> {
        self.db()?.set_admin_token_hash(hash)
    }

    /// The scheduled time of the last run started for `hook_id`, if it ever ran.
    pub fn last_fired(&self, hook_id: &str) -> Result<Option<u64>, StoreError> {
        self.db()?.last_fired(hook_id)
    }

    /// Records the scheduled time of a run being started. Durable with the next
    /// [`Store::sync`].
    pub fn set_last_fired(&self, hook_id: &str, ms: u64) -> Result<(), StoreError> {
        self.db()?.set_last_fired(hook_id, ms)
    }

    /// Claims `delivery_id` for `hook_id` on behalf of `execution`, atomically. Not durable
    /// until [`Store::sync`], which the caller does together with the execution itself.
    pub fn claim_delivery(
        &self,
        hook_id: &str,
        delivery_id: &str,
        execution: ExecutionId,
        now_ms: Millis,
        window_ms: Millis,
    ) -> Result<Claim, StoreError> {
        self.db()?
            .claim_delivery(hook_id, delivery_id, execution, now_ms, window_ms)
    }

    /// Gives a claim back (the execution that made it was not accepted after all).
    pub fn release_delivery(&self, hook_id: &str, delivery_id: &str) -> Result<(), StoreError> {
        self.db()?.release_delivery(hook_id, delivery_id)
    }

    /// Forgets claims made before `cutoff_ms`. Returns how many.
    pub fn prune_deliveries(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        self.db()?.prune_deliveries(cutoff_ms)
    }
}
