//! The embedded database (sled). Owns every byte on disk: the execution log with its per-hook
//! index and pending jobs, hooks made through the API, and small metadata such as the admin
//! token's hash. Nothing outside this module sees a sled type, and this module knows nothing of
//! HTTP.
//!
//! Writes land in sled's in-memory log first; [`Store::sync`] makes them durable. Concurrent
//! callers of `sync` share one flush (group commit), so a burst of deliveries costs one fsync,
//! not one each.

mod commit;
mod executions;
mod hooks;
mod keys;
mod meta;
mod seal;

use std::path::Path;

pub use executions::{ExecutionPage, PendingJob};
pub use seal::SealError;

/// Failures of the store. Their text is for logs; clients get an opaque 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("durable flush failed: {0}")]
    Flush(String),
    #[error("cannot open the data directory {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(transparent)]
    Seal(#[from] seal::SealError),
}

/// The hub's database.
pub struct Store {
    db: sled::Db,
    /// Executions, the per-hook index and pending jobs, in one tree so one batch updates all
    /// three atomically.
    log: sled::Tree,
    api_hooks: sled::Tree,
    meta: sled::Tree,
    commit: commit::GroupCommit,
    /// Seals API hooks' HMAC secrets with the data dir's `secret.key`.
    seal: seal::Sealer,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let seal = seal::Sealer::open_or_create(dir)?;
        let db = sled::Config::new()
            .path(dir.join("db"))
            // Durability comes from explicit group commits; the background flush only bounds
            // how much non-essential state (like a `running` mark) a crash can lose.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| StoreError::Open {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
        let store = Self {
            log: db.open_tree("log")?,
            api_hooks: db.open_tree("api_hooks")?,
            meta: db.open_tree("meta")?,
            commit: commit::GroupCommit::start(db.clone()),
            seal,
            db,
        };
        if store.seal_clear_hooks()? > 0 {
            store.flush_now()?;
        }
        Ok(store)
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share one
    /// flush.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.commit.sync().await
    }

    /// Flushes synchronously; for shutdown.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}
