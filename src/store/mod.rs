//! The embedded database (sled). Owns every byte on disk: the execution log with its per-hook
//! index and pending jobs, hooks made through the API, the owner's channel bindings, and small
//! metadata such as the admin token's hash. Nothing outside this module sees a sled type, and
//! this module knows nothing of HTTP. The data dir is its owner's only ([`private`]).
//!
//! Every write goes to the [`journal`] and to sled — for the execution log, written on every
//! delivery, to sled a moment later through the [`overlay`]. [`Store::sync`] makes writes
//! durable. Concurrent callers of `sync` share one `fdatasync` of the journal (group commit), so
//! a burst of deliveries costs one sync, not one each.

mod bindings;
mod changes;
mod dedupe;
mod executions;
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

use std::path::Path;
use std::sync::Arc;

use overlay::{Batch, DeferredTree, Overlay};
use tree::Tree;

pub use changes::ExecutionChange;
pub use dedupe::Claim;
pub use executions::{ExecutionPage, PendingJob};
pub use private::{keep_new_files_private, original_umask, restore_umask};
pub use seal::SealError;

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
}

/// The hub's database.
pub struct Store {
    /// Executions, their payloads, the per-hook index and pending jobs, written through the
    /// overlay.
    log: DeferredTree,
    overlay: Arc<Overlay>,
    /// Payloads too large to keep in their records.
    payloads: Arc<payloads::Payloads>,
    api_hooks: Tree,
    /// Dedupe claims of delivery ids.
    deliveries: Tree,
    meta: Tree,
    /// The owner's verified channel bindings.
    bindings: Tree,
    journal: Arc<journal::Journal>,
    /// Seals API hooks' HMAC secrets with the data dir's `secret.key`.
    seal: seal::Sealer,
    /// Announces execution inserts and updates to live views.
    changes: changes::Changes,
}

impl Store {
    /// Opens (or creates) the database in `dir`, private to its owner.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        private::make_dir(dir).map_err(|reason| StoreError::Open {
            path: dir.display().to_string(),
            reason,
        })?;
        // Before anything is tightened: a key file others could read is refused, not fixed,
        // because its key may have been copied already.
        let seal = seal::Sealer::open_or_create(dir)?;
        let open_error = |e: &dyn std::fmt::Display| StoreError::Open {
            path: dir.display().to_string(),
            reason: e.to_string(),
        };
        let db_path = dir.join("db");
        let db = sled::Config::new()
            .path(&db_path)
            // Durability comes from the journal, which flushes sled when it rotates; sled's own
            // periodic flush would only add IO. High-throughput mode favours writes.
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            // sled caches up to 1 GiB by default; the hub should stay small. New executions are
            // read from the overlay, older ones from disk when someone looks at them, and the
            // applier only touches the newest leaves, so a small cache costs no throughput. A
            // 30 s flood peaked at 38 MiB resident with 8 MiB here, 34-36 with 1 (BENCHMARKS.md).
            .cache_capacity(1024 * 1024)
            .open()
            .map_err(|e| match e {
                // sled reports its lock (taken with `try_lock_exclusive`) only in the text of an
                // `Other` IO error; `hookhub admin reset-token` needs to tell it apart.
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        path: dir.display().to_string(),
                    }
                }
                e => open_error(&e),
            })?;
        // The tags are the trees' places in this list: the journal names trees by them.
        let trees = [
            db.open_tree("log")?,
            db.open_tree("api_hooks")?,
            db.open_tree("deliveries")?,
            db.open_tree("meta")?,
            db.open_tree("bindings")?,
        ];
        let sled = journal::Sled { db, path: db_path };
        let payloads =
            Arc::new(payloads::Payloads::open(dir, &trees[0]).map_err(|e| open_error(&e))?);
        let overlay = Arc::new(
            Overlay::start(trees[0].clone(), sled.clone(), Some(payloads.clone()))
                .map_err(|e| open_error(&e))?,
        );
        let journal = Arc::new(
            journal::Journal::open(dir, &trees.iter().collect::<Vec<_>>(), overlay.clone())
                .map_err(|e| open_error(&e))?,
        );
        let [_, api_hooks, deliveries, meta, bindings] = trees;
        let store = Self {
            log: DeferredTree::new(0, overlay.clone(), journal.clone()),
            overlay,
            payloads,
            api_hooks: Tree::new(api_hooks, 1, journal.clone()),
            deliveries: Tree::new(deliveries, 2, journal.clone()),
            meta: Tree::new(meta, 3, journal.clone()),
            bindings: Tree::new(bindings, 4, journal.clone()),
            journal,
            seal,
            changes: changes::Changes::default(),
        };
        if store.seal_clear_hooks()? > 0 {
            store.flush_now()?;
        }
        // sled made its files with the process umask; older hubs left theirs 0644.
        private::tighten_files(dir);
        Ok(store)
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share one
    /// `fdatasync`.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.journal.sync().await.map_err(StoreError::Flush)
    }

    /// Every execution inserted or updated from now on, as it then stands.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<ExecutionChange>> {
        self.changes.subscribe()
    }

    /// Makes everything durable now, without waiting on the journal thread; for start-up (see
    /// [`Store::close`] for shutdown).
    pub fn flush_now(&self) -> Result<(), StoreError> {
        self.overlay
            .make_durable()
            .map_err(|e| StoreError::Flush(e.to_string()))
    }

    /// Shuts the store down for a clean exit: the journal is written out and stopped, every
    /// write is moved into sled and made durable, and the journal is discarded, so the next
    /// start has nothing to replay. A write made after this is not durable (its `sync` fails).
    pub fn close(&self) -> Result<(), StoreError> {
        self.journal
            .close_after(|| {
                self.overlay.close();
                self.overlay.make_durable()
            })
            .map_err(|e| StoreError::Flush(e.to_string()))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Writes pending in the journal reach the disk before the files are let go; what the
        // overlay still holds is in the journal, replayed at the next open.
        self.journal.close();
        self.overlay.close();
    }
}
