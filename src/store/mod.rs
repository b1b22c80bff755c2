//! The hub's storage, behind one boundary: [`Storage`], the domain operations the rest of the
//! hub uses (claim a delivery, insert executions and make them durable, load, save an attempt,
//! list, prune, hooks, bindings, schedules, alerts), and [`Store`], what callers hold — the
//! trait object, so nothing above this module knows which database is behind it. It owns every
//! byte on disk and knows nothing of HTTP.
//!
//! The one backend today is sled ([`SledStore`]; a second implements [`Storage`] beside it):
//! the execution log with its per-hook index and pending jobs, hooks made through the API,
//! the owner's channel bindings, and small metadata such as the admin token's hash and each
//! hook's waiting alert. The data dir is its owner's only ([`private`]). Every write goes to
//! the [`journal`] and to sled — but the execution log's, written on every delivery, which go
//! to the log's [`table`] ([`log_tree`]), in memory and saved at each checkpoint, its records'
//! bodies left where the journal wrote them or in [`payloads`] segments. [`Storage::sync`]
//! makes writes durable; concurrent callers share one `fdatasync` of the journal (group
//! commit), so a burst of deliveries costs one sync, not one each. The database records its
//! format's version ([`migrate`]), which also holds the only readers of older formats.
//!
//! A write the disk refuses (full, read-only, failing) turns the store's [`health`] bad: syncs
//! fail with [`StoreError::Unavailable`], and callers refuse what they were asked to do. Once
//! the disk takes writes again, [`Storage::recover`] drops the [`database`] as it stands in
//! memory and opens it again from disk, replaying the journal as at start, so what was never
//! on disk is forgotten and what was is kept.
//!
//! The operations are synchronous, as sled's are: callers make them on the runtime's threads
//! (each is an in-memory write or a few reads) and from `Drop` (a refused delivery's claims
//! and executions are taken back there). Only waiting is async: for durability
//! ([`Storage::sync`], [`Storage::save_durably`]) and for health ([`Health::writable`]). Slow
//! scans (pruning, recovery) are run with `spawn_blocking` by their callers.
//!
//! A database several hubs share also holds what a lone hub keeps in memory — sessions, link
//! codes, refused deliveries — through [`SharedTables`] ([`Storage::shared_tables`]), and
//! leases the work through [`SharedWork`].

mod activity;
mod alerts;
mod bindings;
mod changes;
#[cfg(test)]
mod contract_tests;
mod database;
mod dedupe;
mod executions;
mod health;
mod hook_changes;
mod hook_sizes;
mod hooks;
mod journal;
mod keys;
mod log_tree;
mod meta;
mod migrate;
mod payloads;
mod postgres;
mod private;
mod schedule;
mod seal;
mod shared_tables;
#[cfg(test)]
mod shared_tables_tests;
mod sled_store;
mod table;
mod tree;
mod writeback;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use database::Database;
use log_tree::Batch;

use crate::clock::Millis;
use crate::execution::{Execution, ExecutionId, Status};
use crate::model::{Binding, BindingId, ChannelKind, Hook, HookAlerts};

pub use activity::{Activity, HOURS};
pub use changes::ExecutionChange;
pub use dedupe::Claim;
pub use executions::{ExecutionPage, PendingJob};
pub use health::{Failure, Health};
pub use hook_changes::{HookChange, HookChanges};
pub use private::{keep_new_files_private, original_umask, restore_umask};
pub use shared_tables::{
    NewLinkCode, SessionLimits, Shared, SharedTables, StoredRejection, StoredSession,
};
pub(crate) use sled_store::SledStore;

/// Failures of the store. Their text is for logs; clients get an opaque 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (its error's text).
    #[error("database error: {0}")]
    Db(String),
    #[error("stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("stored record is cut short")]
    Truncated,
    #[error("stored record is in no form this hub knows")]
    UnknownForm,
    #[error("durable flush failed: {0}")]
    Flush(String),
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
    /// Another process holds sled's lock on the database: a hub is running on this data dir.
    #[error("the database in {path} is in use by another process (a running hub)")]
    Locked { path: String },
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    #[error("cannot read a stored payload: {0}")]
    Payload(std::io::Error),
    /// The disk refuses writes (see [`health`]); nothing asked for since was kept.
    #[error("{}", .0.message())]
    Unavailable(Failure),
    /// The database server cannot be reached (PostgreSQL): refused like a disk that does not
    /// take writes, and retried by those who must.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    /// Another hub holds the execution's lease (a shared database): this hub's ran out and
    /// the execution was taken over.
    #[error("execution {0} is leased to another hub: this hub's lease ran out")]
    LeaseLost(String),
    /// The database was written by a newer hub, in a format this one does not know.
    #[error(
        "the database in {path} is in format {found}, newer than this hub reads ({known}): \
         run the hookhub that wrote it"
    )]
    Newer {
        path: String,
        found: u64,
        known: u64,
    },
}

/// A wait for durability (see [`Storage::sync`]): boxed, since the trait is used as an object;
/// one small allocation per delivery, next to the `fdatasync` it waits for.
pub type Durably<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// The store as callers hold it (`Arc<Store>`), whichever backend is behind it.
pub type Store = dyn Storage;

impl Store {
    /// Opens (or creates) the database in `dir`, private to its owner.
    pub fn open(dir: &Path) -> Result<Arc<Store>, StoreError> {
        Ok(Arc::new(SledStore::open(dir)?))
    }

    /// Opens the PostgreSQL database at `url`, bringing its schema up to date; `dir` holds
    /// only this hub's `secret.key`. `lease` is how long an execution this hub runs stays its
    /// own without being renewed.
    pub fn open_postgres(
        url: &str,
        dir: &Path,
        lease: std::time::Duration,
    ) -> Result<Arc<Store>, StoreError> {
        Ok(Arc::new(postgres::PgStore::open(url, dir, lease)?))
    }
}

/// The storage's domain operations. Writes are not durable until [`Storage::sync`] (or made
/// durable by the operation itself where it says so); reads see them at once. Executions are
/// read and written whole, payload included; a backend keeps them in its own format.
pub trait Storage: Send + Sync {
    // Durability and health.

    /// Whether the database takes writes (see [`health`]); one atomic load when it does.
    fn health(&self) -> &Health;

    /// Waits until every write made before this call is durable. Concurrent callers share one
    /// sync of the disk. Fails with [`StoreError::Unavailable`] once the disk refuses writes.
    fn sync(&self) -> Durably<'_>;

    /// Makes everything durable now, blocking; for start-up (see [`Storage::close`] for
    /// shutdown).
    fn flush_now(&self) -> Result<(), StoreError>;

    /// Shuts the store down for a clean exit: every write made is durable and the next open
    /// has nothing to redo. A write made after this is not durable.
    fn close(&self) -> Result<(), StoreError>;

    /// After a storage failure, once the disk takes writes again: drops what the store holds
    /// in memory and opens the database again from disk, so that nothing a caller was refused
    /// survives and everything durable does. Returns whether it recovered; `Ok(false)` while
    /// the store is healthy or the disk still refuses writes. Blocking.
    fn recover(&self) -> Result<bool, StoreError>;

    /// Every execution inserted or updated from now on, as it then stands.
    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<ExecutionChange>>;

    // Delivery claims (SPEC §4 step 7).

    /// Claims `delivery_id` for `hook_id` on behalf of `execution`, atomically, unless it was
    /// claimed within `window_ms`. Not durable until [`Storage::sync`], which the caller does
    /// together with the execution itself.
    fn claim_delivery(
        &self,
        hook_id: &str,
        delivery_id: &str,
        execution: ExecutionId,
        now_ms: Millis,
        window_ms: Millis,
    ) -> Result<Claim, StoreError>;

    /// Gives a claim back (the execution that made it was not accepted after all).
    fn release_delivery(&self, hook_id: &str, delivery_id: &str) -> Result<(), StoreError>;

    /// Forgets claims made before `cutoff_ms`. Returns how many.
    fn prune_deliveries(&self, cutoff_ms: Millis) -> Result<usize, StoreError>;

    // The execution log.

    /// Writes new executions and, for those not final, their pending jobs, all or none. Not
    /// durable until [`Storage::sync`].
    fn insert_executions(&self, executions: &mut [Execution]) -> Result<(), StoreError>;

    /// Takes back executions [`Storage::insert_executions`] wrote whose sync failed or was
    /// given up on: their delivery was refused, so nothing of them may run or be shown.
    fn forget_executions(&self, executions: &[Execution]) -> Result<(), StoreError>;

    /// Rewrites an execution, which must carry its payload (as [`Storage::execution`] reads
    /// it); its job follows its status: removed once final, moved to the next attempt's time
    /// when retrying, left as it is otherwise.
    fn update_execution(&self, e: &mut Execution) -> Result<(), StoreError>;

    /// [`Storage::update_execution`], then waits until it is durable, across a storage
    /// failure: while the disk refuses writes this waits for the store to recover, then writes
    /// it again. For results of actions that already ran, which must not be lost or run again.
    fn save_durably<'a>(&'a self, e: &'a mut Execution) -> Durably<'a>;

    /// Forgets a pending job (its execution is gone).
    fn drop_job(&self, id: ExecutionId) -> Result<(), StoreError>;

    /// One execution, payload included.
    fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, StoreError>;

    /// A hook's executions, newest first, older than `cursor` when given, optionally only
    /// those with `status`.
    fn executions_of(
        &self,
        hook_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<ExecutionId>,
    ) -> Result<ExecutionPage, StoreError>;

    /// The newest execution of a hook, if any.
    fn last_execution_of(&self, hook_id: &str) -> Result<Option<Execution>, StoreError> {
        Ok(self.executions_of(hook_id, None, 1, None)?.executions.pop())
    }

    /// The newest failed executions of any hook, newest first, looking at no more than the
    /// newest `scan` executions. Payloads are left out.
    fn recent_failures(&self, limit: usize, scan: usize) -> Result<Vec<Execution>, StoreError>;

    /// Every execution that is not final, oldest first: what a restart must pick up again.
    fn pending_jobs(&self) -> Result<Vec<PendingJob>, StoreError>;

    /// Every execution, oldest first, after `after` when given, at most `limit`, payloads
    /// included: the whole log read out a page at a time (`hookhub migrate`).
    fn executions_after(
        &self,
        after: Option<ExecutionId>,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError>;

    /// Writes executions copied from another store and makes them durable, leaving alone any
    /// this store holds already (by id); returns how many were new. One left `running` (its
    /// hub stopped mid-action) is taken as one whose hub died: the crash rules (SPEC §7) decide
    /// whether it runs again. Blocking.
    fn import_executions(&self, executions: &mut [Execution]) -> Result<usize, StoreError> {
        let mut new = Vec::with_capacity(executions.len());
        for e in executions.iter() {
            if self.execution(e.id)?.is_none() {
                new.push(e.clone());
            }
        }
        self.insert_executions(&mut new)?;
        self.flush_now()?;
        Ok(new.len())
    }

    /// `hook_id`'s executions received in the 24 hours up to the one holding `now_ms`, by
    /// hour and final status (see [`Activity`]).
    fn activity(&self, hook_id: &str, now_ms: Millis) -> Result<Activity, StoreError>;

    /// Deletes final executions older than `cutoff_ms` or beyond the newest `max_per_hook` of
    /// their hook. Returns how many were removed. Blocking (a scan of the log).
    fn prune(&self, cutoff_ms: Millis, max_per_hook: usize) -> Result<usize, StoreError>;

    /// [`Storage::prune`] for one hook: its final executions older than `cutoff_ms` or beyond
    /// its newest `max`. Blocking (a scan of the hook's part of the log).
    fn prune_hook(&self, hook_id: &str, cutoff_ms: Millis, max: usize)
    -> Result<usize, StoreError>;

    // Hooks made through the API.

    /// Every API-made hook, ordered by id.
    fn api_hooks(&self) -> Result<Vec<Hook>, StoreError>;

    fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError>;

    /// Creates or replaces an API hook. Its secrets are kept at rest sealed or hashed, never
    /// in clear; it reads back with sealed values opened and tokens hashed. Not durable
    /// until [`Storage::sync`].
    fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError>;

    /// Removes an API hook; false when there was none.
    fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError>;

    // The owner's channel bindings.

    /// Every binding, oldest first.
    fn bindings(&self) -> Result<Vec<Binding>, StoreError>;

    /// The binding of one chat, if it is bound.
    fn binding_for_chat(
        &self,
        channel: ChannelKind,
        chat_id: &str,
    ) -> Result<Option<Binding>, StoreError> {
        Ok(self
            .bindings()?
            .into_iter()
            .find(|b| b.channel == channel && b.chat_id == chat_id))
    }

    /// Creates or replaces a binding. Not durable until [`Storage::sync`].
    fn put_binding(&self, binding: &Binding) -> Result<(), StoreError>;

    /// Removes a binding; false when there was none.
    fn remove_binding(&self, id: &BindingId) -> Result<bool, StoreError>;

    // Small state: schedules, alerts, the admin token.

    /// The scheduled time of the last run started for `hook_id`, if it ever ran.
    fn last_fired(&self, hook_id: &str) -> Result<Option<u64>, StoreError>;

    /// Records the scheduled time of a run being started. Durable with the next
    /// [`Storage::sync`].
    fn set_last_fired(&self, hook_id: &str, ms: u64) -> Result<(), StoreError>;

    /// Claims the scheduled run of `hook_id` at `ms` for this hub: records it as the last
    /// started and answers true, unless a run at `ms` or later was started already (by this
    /// hub, or by another on a shared database), then false. Durable with the next
    /// [`Storage::sync`].
    fn claim_tick(&self, hook_id: &str, ms: u64) -> Result<bool, StoreError> {
        if self.last_fired(hook_id)?.is_some_and(|last| last >= ms) {
            return Ok(false);
        }
        self.set_last_fired(hook_id, ms)?;
        Ok(true)
    }

    /// Every schedule hook's last run started (see [`Storage::last_fired`]), by hook id.
    fn schedule_states(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Every hook's alerting state, by hook id.
    fn alert_states(&self) -> Result<Vec<(String, HookAlerts)>, StoreError>;

    /// Records a hook's alerting state. Durable with the next [`Storage::sync`].
    fn set_alert_state(&self, hook_id: &str, state: &HookAlerts) -> Result<(), StoreError>;

    /// The SHA-256 of the generated admin token, if one was generated.
    fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError>;

    fn set_admin_token_hash(&self, hash: &[u8]) -> Result<(), StoreError>;

    /// Stores the hash of a token generated at first start, unless one is stored already (a
    /// hub starting at the same moment on a shared database); returns whether it was stored.
    fn first_admin_token_hash(&self, hash: &[u8]) -> Result<bool, StoreError> {
        if self.admin_token_hash()?.is_some() {
            return Ok(false);
        }
        self.set_admin_token_hash(hash)?;
        Ok(true)
    }

    /// The work this store shares with other hubs, when several use one database: the queue
    /// then runs what it leases from it instead of what this hub accepted. `None` (sled) means
    /// this hub is the only one and keeps its queue in memory.
    fn shared_work(&self) -> Option<&dyn SharedWork> {
        None
    }

    /// The sessions, link codes and refused deliveries this store shares with other hubs
    /// ([`SharedTables`]). `None` (sled) means this hub keeps them in memory.
    fn shared_tables(&self) -> Option<&dyn SharedTables> {
        None
    }

    /// The API hooks other hubs sharing the database write or delete ([`HookChanges`]).
    /// `None` (sled) means this hub is the only one that changes them.
    fn hook_changes(&self) -> Option<Arc<HookChanges>> {
        None
    }
}

/// An execution leased to this hub from a shared database.
#[derive(Debug, Clone, PartialEq)]
pub struct Leased {
    pub id: ExecutionId,
    pub hook_id: String,
    pub lock_key: Option<String>,
}

/// Each hook's concurrency by its id, as [`SharedWork::lease`] asks it.
pub type Concurrency = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// What one [`SharedWork::lease`] found.
#[derive(Debug, Default)]
pub struct Leases {
    /// Runnable executions leased to this hub, to start now.
    pub runnable: Vec<Leased>,
    /// Executions left `running` by a hub whose lease ran out (it died mid-action), now leased
    /// to this hub: the crash rules (SPEC §7) decide whether they run again or fail.
    pub orphaned: Vec<Execution>,
    /// Executions waiting (runnable, not leased) per hook, counted up to a little over the
    /// queue's per-hook limit.
    pub waiting: Vec<(String, usize)>,
}

/// Execution leases on a database several hubs share (SPEC §12). A lease says which hub runs
/// an execution and until when; a hub renews the leases of what it runs, and an execution
/// whose lease ran out is another hub's to take. Blocking calls, like the rest of [`Storage`].
pub trait SharedWork: Send + Sync {
    /// Leases up to `max` executions that are due and not leased, in arrival order, such that
    /// no hook runs more than its concurrency across all hubs and no two executions of one
    /// `(hook, lockKey)` run at once; and takes over orphaned ones (see [`Leases`]).
    /// `concurrency` gives a hook's limit by its id (asked only of the hooks with work waiting).
    fn lease(
        &self,
        now_ms: Millis,
        max: usize,
        concurrency: Concurrency,
    ) -> Result<Leases, StoreError>;

    /// How long a lease lasts unless renewed.
    fn lease_length(&self) -> std::time::Duration;

    /// Extends the leases of these executions, which this hub is running.
    fn renew(&self, ids: &[ExecutionId], now_ms: Millis) -> Result<(), StoreError>;

    /// The queued (not leased) execution of `hook_id` with `lock_key`, if any (a new one with
    /// the same key collapses into it).
    fn queued_with_key(
        &self,
        hook_id: &str,
        lock_key: &str,
    ) -> Result<Option<ExecutionId>, StoreError>;

    /// Wakes when work may have arrived: another hub committed executions, or a lease may have
    /// run out.
    fn work_arrived(&self) -> &tokio::sync::Notify;
}
