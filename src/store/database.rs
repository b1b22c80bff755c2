//! One opening of the database: sled's trees and the log's table behind the journal, as
//! [`super::SledStore`] opens it at start and again after a storage failure.

use std::path::Path;
use std::sync::Arc;

use super::log_tree::{Checkpoints, LogTree};
use super::table::Table;
use super::tree::Tree;
use super::{StoreError, changes, health, journal, migrate, payloads, private, seal};

/// The database as opened from disk: sled's trees, the journal, the log's table and payload
/// segments. [`super::SledStore`] holds one and replaces it when it recovers from a storage failure.
pub(super) struct Database {
    /// Executions, the per-hook index and pending jobs: the log's [`Table`], written through
    /// the journal.
    pub(super) log: LogTree,
    pub(super) checkpoints: Arc<Checkpoints>,
    /// Payloads too large to keep in their records.
    pub(super) payloads: Arc<payloads::Payloads>,
    pub(super) api_hooks: Tree,
    /// Dedupe claims of delivery ids.
    pub(super) deliveries: Tree,
    pub(super) meta: Tree,
    /// The owner's verified channel bindings.
    pub(super) bindings: Tree,
    pub(super) journal: Arc<journal::Journal>,
    /// Seals API hooks' HMAC secrets with the data dir's `secret.key`.
    pub(super) seal: seal::Sealer,
    /// Announces execution inserts and updates to live views (shared with the store, so a
    /// reopen does not drop the listeners).
    pub(super) changes: changes::Changes,
    /// Each hook's number of executions, where known, for pruning it cheaply.
    pub(super) sizes: super::hook_sizes::HookSizes,
}

impl Database {
    /// Opens (or creates) the database in `dir`, private to its owner, replaying what the
    /// journal holds.
    pub(super) fn open(
        dir: &Path,
        changes: changes::Changes,
        health: Arc<health::Health>,
    ) -> Result<Self, StoreError> {
        private::make_dir(dir).map_err(|reason| StoreError::Open {
            path: dir.display().to_string(),
            reason: reason.to_string(),
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
            // in the log's table, which holds no sled tree, so a small cache costs no throughput. A
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
        let format = migrate::check(&trees[3], dir)?;
        let table = Arc::new(open_table(dir, &trees[0], format)?);
        let sled = journal::Sled { db, path: db_path };
        let disk = Arc::new(journal::Disk::new(health));
        let payloads =
            Arc::new(payloads::Payloads::open(dir, disk.clone()).map_err(|e| open_error(&e))?);
        let checkpoints = Arc::new(
            Checkpoints::start(table.clone(), sled.clone(), Some(payloads.clone()), disk)
                .map_err(|e| open_error(&e))?,
        );
        let journal = Arc::new(
            journal::Journal::open(dir, &trees.iter().collect::<Vec<_>>(), checkpoints.clone())
                .map_err(|e| open_error(&e))?,
        );
        // Only now: a replayed record may point into a segment no saved count covered.
        payloads.clean(&table).map_err(|e| open_error(&e))?;
        let [sled_log, api_hooks, deliveries, meta, bindings] = trees;
        let store = Self {
            log: LogTree::new(0, checkpoints.clone(), journal.clone()),
            checkpoints,
            payloads,
            api_hooks: Tree::new(api_hooks, 1, journal.clone()),
            deliveries: Tree::new(deliveries, 2, journal.clone()),
            meta: Tree::new(meta, 3, journal.clone()),
            bindings: Tree::new(bindings, 4, journal.clone()),
            journal,
            seal,
            changes,
            sizes: Default::default(),
        };
        if format != Some(migrate::FORMAT) {
            migrate::run(&store, format)?;
        }
        // The table holds the log now, durably, and the format says so: sled's copy goes (at
        // the next checkpoint; until then, an open clears it again).
        if !sled_log.is_empty() {
            sled_log.clear()?;
        }
        // sled made its files with the process umask; older hubs left theirs 0644.
        private::tighten_files(dir);
        Ok(store)
    }

    /// Waits until every write made before this call is on disk. Concurrent callers share one
    /// `fdatasync`.
    pub(super) async fn sync(&self) -> Result<(), StoreError> {
        self.journal.sync().await.map_err(StoreError::Unavailable)
    }

    /// Makes everything durable now, without waiting on the journal thread; for start-up (see
    /// [`Database::close`] for shutdown).
    pub(super) fn flush_now(&self) -> Result<(), StoreError> {
        self.checkpoints
            .make_durable()
            .map_err(|e| StoreError::Flush(e.to_string()))
    }

    /// Shuts the store down for a clean exit: the journal is written out and stopped, the table
    /// is saved and sled made durable, and the journal is discarded, so the next
    /// start has nothing to replay. A write made after this is not durable (its `sync` fails).
    pub(super) fn close(&self) -> Result<(), StoreError> {
        self.journal
            .close_after(|| {
                self.checkpoints.close();
                self.checkpoints.make_durable()?;
                Ok(self.checkpoints.journal_files_in_use())
            })
            .map_err(|e| StoreError::Flush(e.to_string()))
    }

    /// Stops the journal and the checkpoints without making anything durable, for a reopen: what
    /// the journal has on disk is replayed by the next open, and nothing else counts.
    pub(super) fn abandon(&self) {
        self.journal.close();
        self.checkpoints.close();
    }
}

/// The log's table: its last save; or, the first time a hub of format 3 opens a data dir,
/// what sled's `log` tree holds, copied and saved (a new data dir's, empty). sled's copy stays
/// until the format is written (see [`Database::open`]), so a crash before then finds it again.
fn open_table(dir: &Path, sled_log: &sled::Tree, format: Option<u64>) -> Result<Table, StoreError> {
    let path = Table::path_in(dir);
    let failed = |e: std::io::Error| StoreError::Open {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(table) = Table::load(path.clone()).map_err(failed)? {
        return Ok(table);
    }
    if format >= Some(migrate::TABLE_FORMAT) {
        return Err(StoreError::Open {
            path: dir.display().to_string(),
            reason: format!(
                "{} is missing: the execution log cannot be read without it",
                path.display()
            ),
        });
    }
    let entries = sled_log
        .iter()
        .map(|item| item.map(|(key, value)| (key.to_vec().into_boxed_slice(), value)))
        .collect::<sled::Result<Vec<_>>>()?;
    let table = Table::new(path, entries);
    table.save().map_err(failed)?;
    if table.len() > 0 {
        tracing::info!(entries = table.len(), "moved the execution log out of sled");
    }
    Ok(table)
}

impl Drop for Database {
    fn drop(&mut self) {
        // Writes pending in the journal reach the disk before the files are let go; what the
        // last save does not hold is in the journal, replayed at the next open.
        self.journal.close();
        self.checkpoints.close();
    }
}
