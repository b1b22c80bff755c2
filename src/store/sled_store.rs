//! The sled backend of [`Storage`]: one [`Database`] open at a time, replaced when the store
//! recovers from a storage failure. Each operation is handed to the database open now; while
//! a recovery swaps it, they fail with [`StoreError::Unavailable`]: callers hear the disk is
//! not taking writes, as they would from the database itself.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::{
    Activity, Claim, Database, Durably, ExecutionChange, ExecutionPage, Failure, Health,
    PendingJob, Storage, StoreError, changes, health,
};
use crate::clock::Millis;
use crate::execution::{Execution, ExecutionId, Status};
use crate::model::{Binding, BindingId, Hook, HookAlerts};

/// The sled store: one [`Database`] at a time, replaced when the store recovers from a storage
/// failure.
pub(crate) struct SledStore {
    dir: PathBuf,
    /// `None` only while a recovery swaps it.
    current: RwLock<Option<Arc<Database>>>,
    health: Arc<Health>,
    changes: changes::Changes,
    /// One recovery at a time.
    recovering: Mutex<()>,
}

/// How long a recovery waits for callers to let go of the database being replaced.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

impl SledStore {
    /// Opens (or creates) the database in `dir`, private to its owner.
    pub(crate) fn open(dir: &Path) -> Result<Self, StoreError> {
        let (changes, health) = (changes::Changes::default(), Arc::new(Health::default()));
        let db = Database::open(dir, changes.clone(), health.clone())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: RwLock::new(Some(Arc::new(db))),
            health,
            changes,
            recovering: Mutex::new(()),
        })
    }

    fn db(&self) -> Result<Arc<Database>, StoreError> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .clone()
            .ok_or(StoreError::Unavailable(self.failure_or_failing()))
    }

    /// The database open now, for tests that look inside it.
    #[cfg(test)]
    pub(super) fn database(&self) -> Arc<Database> {
        self.db().expect("the store is open")
    }

    fn failure_or_failing(&self) -> Failure {
        self.health.failure().unwrap_or(Failure::Failing)
    }

    /// Opens the database again.
    fn reopen(&self) -> Result<Database, StoreError> {
        once_released(|| Database::open(&self.dir, self.changes.clone(), self.health.clone()))
    }

    /// [`SledStore::open`] of a directory a store was just dropped from (tests that stand for
    /// a restart).
    #[cfg(test)]
    pub(crate) fn open_again(dir: &Path) -> Result<Self, StoreError> {
        once_released(|| Self::open(dir))
    }
}

/// `open`, tried again while it finds the database locked: sled's IO threads may hold the lock
/// for a moment after the last handle on the database is dropped. Gives up after
/// [`RELEASE_WAIT`].
fn once_released<T>(mut open: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let deadline = std::time::Instant::now() + RELEASE_WAIT;
    loop {
        match open() {
            Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

impl Storage for SledStore {
    fn health(&self) -> &Health {
        &self.health
    }

    /// Concurrent callers share one `fdatasync` of the journal.
    fn sync(&self) -> Durably<'_> {
        Box::pin(async move { self.db()?.sync().await })
    }

    /// Without waiting on the journal thread: every write is moved into sled, which is made
    /// durable.
    fn flush_now(&self) -> Result<(), StoreError> {
        self.db()?.flush_now()
    }

    /// The journal is written out and stopped, every write it has on disk is moved into sled
    /// and made durable, and the journal is discarded, so the next start has nothing to
    /// replay.
    fn close(&self) -> Result<(), StoreError> {
        let db = self.db()?;
        if let Some(failure) = self.health.failure() {
            // sled may hold an IO error for good; what the journal has on disk is replayed at
            // the next start, and nothing else was promised.
            tracing::warn!(
                code = failure.code(),
                "the disk refuses writes: the journal is left for the next start to replay"
            );
            db.abandon();
            return Ok(());
        }
        db.close()
    }

    /// Drops the database as it stands in memory and opens it again from disk (the journal
    /// replayed as at start).
    fn recover(&self) -> Result<bool, StoreError> {
        if self.health.failure().is_none() {
            return Ok(false);
        }
        let _one = self.recovering.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = health::probe(&self.dir) {
            tracing::debug!(error = %e, "the data dir still refuses writes");
            return Ok(false);
        }
        let old = self
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(old) = old {
            old.abandon();
            release(old);
        }
        let db = self.reopen()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
        self.health.recovered();
        Ok(true)
    }

    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<ExecutionChange>> {
        self.changes.subscribe()
    }

    fn claim_delivery(
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

    fn release_delivery(&self, hook_id: &str, delivery_id: &str) -> Result<(), StoreError> {
        self.db()?.release_delivery(hook_id, delivery_id)
    }

    fn prune_deliveries(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        self.db()?.prune_deliveries(cutoff_ms)
    }

    fn insert_executions(&self, executions: &mut [Execution]) -> Result<(), StoreError> {
        self.db()?.insert_executions(executions)
    }

    fn forget_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        self.db()?.forget_executions(executions)
    }

    fn update_execution(&self, e: &mut Execution) -> Result<(), StoreError> {
        self.db()?.update_execution(e)
    }

    /// The write and its sync go to the same database: one replaced meanwhile fails the sync,
    /// and the write is made again in the new one.
    fn save_durably<'a>(&'a self, e: &'a mut Execution) -> Durably<'a> {
        Box::pin(async move {
            loop {
                self.health.writable().await;
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
        })
    }

    fn drop_job(&self, id: ExecutionId) -> Result<(), StoreError> {
        self.db()?.drop_job(id)
    }

    fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        self.db()?.execution(id)
    }

    fn executions_of(
        &self,
        hook_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<ExecutionId>,
    ) -> Result<ExecutionPage, StoreError> {
        self.db()?.executions_of(hook_id, status, limit, cursor)
    }

    fn recent_failures(&self, limit: usize, scan: usize) -> Result<Vec<Execution>, StoreError> {
        self.db()?.recent_failures(limit, scan)
    }

    fn pending_jobs(&self) -> Result<Vec<PendingJob>, StoreError> {
        self.db()?.pending_jobs()
    }

    fn executions_after(
        &self,
        after: Option<ExecutionId>,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        self.db()?.executions_after(after, limit)
    }

    fn activity(&self, hook_id: &str, now_ms: Millis) -> Result<Activity, StoreError> {
        self.db()?.activity(hook_id, now_ms)
    }

    fn prune(&self, cutoff_ms: Millis, max_per_hook: usize) -> Result<usize, StoreError> {
        self.db()?.prune(cutoff_ms, max_per_hook)
    }

    fn prune_hook(
        &self,
        hook_id: &str,
        cutoff_ms: Millis,
        max: usize,
    ) -> Result<usize, StoreError> {
        self.db()?.prune_hook(hook_id, cutoff_ms, max)
    }

    fn api_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        self.db()?.api_hooks()
    }

    fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        self.db()?.api_hook(id)
    }

    /// HMAC keys and forward credentials are sealed with the data dir's key, tokens hashed
    /// (see `hooks.rs`).
    fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError> {
        self.db()?.put_api_hook(hook)
    }

    fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError> {
        self.db()?.delete_api_hook(id)
    }

    fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        self.db()?.bindings()
    }

    fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        self.db()?.put_binding(binding)
    }

    fn remove_binding(&self, id: &BindingId) -> Result<bool, StoreError> {
        self.db()?.remove_binding(id)
    }

    fn last_fired(&self, hook_id: &str) -> Result<Option<u64>, StoreError> {
        self.db()?.last_fired(hook_id)
    }

    fn set_last_fired(&self, hook_id: &str, ms: u64) -> Result<(), StoreError> {
        self.db()?.set_last_fired(hook_id, ms)
    }

    fn schedule_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.db()?.schedule_states()
    }

    fn alert_states(&self) -> Result<Vec<(String, HookAlerts)>, StoreError> {
        self.db()?.alert_states()
    }

    fn set_alert_state(&self, hook_id: &str, state: &HookAlerts) -> Result<(), StoreError> {
        self.db()?.set_alert_state(hook_id, state)
    }

    fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.db()?.admin_token_hash()
    }

    fn set_admin_token_hash(&self, hash: &[u8]) -> Result<(), StoreError> {
        self.db()?.set_admin_token_hash(hash)
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Drops the last handle on a database being replaced, once callers that were using it are
/// done (sled's lock on its files goes with it).
fn release(db: Arc<Database>) {
    let deadline = std::time::Instant::now() + RELEASE_WAIT;
    let mut db = db;
    loop {
        match Arc::try_unwrap(db) {
            Ok(db) => return drop(db),
            Err(shared) if std::time::Instant::now() < deadline => {
                db = shared;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => {
                tracing::warn!(
                    "the database is still in use; reopening it may fail until it is let go"
                );
                return;
            }
        }
    }
}
