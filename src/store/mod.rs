//! The embedded database (sled). Owns every byte on disk: the execution log with its per-hook
//! index and pending jobs, hooks made through the API, the owner's channel bindings, and small
//! metadata such as the admin token's hash and each hook's waiting alert. Nothing outside this
//! module sees a sled type, and this module knows nothing of HTTP. The data dir is its owner's
//! only ([`private`]).
//!
//! Every write goes to the [`journal`] and to sled — for the execution log, written on every
//! delivery, to sled a moment later through the [`overlay`]. [`Store::sync`] makes writes
//! durable. Concurrent callers of `sync` share one `fdatasync` of the journal (group commit), so
//! a burst of deliveries costs one sync, not one each.
//!
//! A write the disk refuses (full, read-only, failing) turns the store's [`health`] bad: syncs
//! fail with [`StoreError::Unavailable`], and callers refuse what they were asked to do. Once
//! the disk takes writes again, [`Store::recover`] drops the [`database`] as it stands in
//! memory and opens it again from disk, replaying the journal as at start, so what was never
//! on disk is forgotten and what was is kept.

mod activity;
mod alerts;
mod bindings;
mod changes;
mod database;
mod dedupe;
mod executions;
mod facade;
mod health;
mod hooks;
mod journal;
mod keys;
mod meta;
mod overlay;
mod payloads;
mod private;
mod schedule;
mod seal;
mod tree;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use database::Database;
use overlay::Batch;

pub use activity::{Activity, HOURS};
pub use changes::ExecutionChange;
pub use dedupe::Claim;
pub use executions::{ExecutionPage, PendingJob};
pub use health::{Failure, Health};
pub use private::{keep_new_files_private, original_umask, restore_umask};

/// Failures of the store. Their text is for logs; clients get an opaque 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("stored record is cut short")]
    Truncated,
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
}

/// The hub's database, as the rest of the hub sees it: one [`Database`] at a time, replaced
/// when the store recovers from a storage failure.
pub struct Store {
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

impl Store {
    /// Opens (or creates) the database in `dir`, private to its owner.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
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
    fn database(&self) -> Arc<Database> {
        self.db().expect("the store is open")
    }

    fn failure_or_failing(&self) -> Failure {
        self.health.failure().unwrap_or(Failure::Failing)
    }

    /// Whether the disk takes writes (see [`health`]).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share one
    /// `fdatasync`.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.db()?.sync().await
    }

    /// Every execution inserted or updated from now on, as it then stands.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<ExecutionChange>> {
        self.changes.subscribe()
    }

    /// Makes everything durable now, without waiting on the journal thread; for start-up (see
    /// [`Store::close`] for shutdown).
    pub fn flush_now(&self) -> Result<(), StoreError> {
        self.db()?.flush_now()
    }

    /// Shuts the store down for a clean exit: the journal is written out and stopped, every
    /// write it has on disk is moved into sled and made durable, and the journal is discarded,
    /// so the next start has nothing to replay. A write made after this is not durable.
    pub fn close(&self) -> Result<(), StoreError> {
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

    /// After a storage failure, once the disk takes writes again: drops the database as it
    /// stands in memory and opens it again from disk (the journal replayed as at start), so
    /// that nothing a caller was refused survives and everything on disk does. Returns whether
    /// it recovered; `Ok(false)` while the store is healthy or the disk still refuses writes.
    pub fn recover(&self) -> Result<bool, StoreError> {
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
}

impl Store {
    /// Opens the database again; sled's IO threads may hold its lock for a moment after the
    /// last handle on the old one is dropped.
    fn reopen(&self) -> Result<Database, StoreError> {
        let deadline = std::time::Instant::now() + RELEASE_WAIT;
        loop {
            match Database::open(&self.dir, self.changes.clone(), self.health.clone()) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                opened => return opened,
            }
        }
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
