//! The execution log's writes, and the checkpoints that let the journal's files go.
//!
//! A writer appends its batch to the journal and writes it into the log's [`Table`] under one
//! lock ([`Shared::writing`]), so the table takes a key's writes in the journal's order and
//! readers see them at once. An execution record goes into the table filed: where the journal
//! has its JSON and payload ([`payloads`]), which the journal thread writes a moment later; a
//! reader that meets such a place first waits for it (`Disk::wait_written`). (The writes used
//! to wait in an overlay for an applier thread to move them into the table, up to 200 ms
//! later; without it a saturated hub spends 8% less CPU a delivery and takes 14% more a
//! second, BENCHMARKS.md.)
//!
//! So the table can hold writes the journal does not have on disk yet, and a save must not:
//! should the journal fail, a delivery answered 503 would run after a restart. A save takes the
//! table's copy under the writers' lock, with the journal position the copy holds every write
//! up to, and puts it in place only once the journal is durable through that position.
//! A journal that fails drops the save, and the store is reopened from disk ([`super::health`]).
//!
//! One thread checkpoints for the journal: when a journal file is retired, it saves the table,
//! makes sled (the other trees) durable and discards the file, or keeps it while the saved
//! table points into it ([`journal::discard`]).

use std::collections::BTreeSet;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sled::IVec;

use super::executions;
use super::journal::{self, Disk, Journal, Place, Sled};
use super::keys;
use super::payloads::{self, Journaled, Payloads};
use super::table::Table;

/// How long a save waits for the journal to be durable through what it holds.
const JOURNAL_WAIT: Duration = Duration::from_secs(10);
/// How often a save looks for mostly dead files to compact (`payloads/compact.rs`): each
/// look reads the counts and a file's size per file (at every save in tests).
const COMPACT_EVERY: Duration = if cfg!(test) {
    Duration::ZERO
} else {
    Duration::from_secs(10)
};

/// The thread that checkpoints the log's table, and what writers and saves share.
pub(super) struct Checkpoints {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    table: Arc<Table>,
    /// The other trees' database, made durable at each checkpoint with the table.
    db: Sled,
    /// How far the journal is on disk, and where a failed write is reported.
    disk: Arc<Disk>,
    /// Where execution records' JSON and payloads are (none in some tests).
    payloads: Option<Arc<Payloads>>,
    /// Held by a writer from its journal append through its writes to the table, and by a save
    /// while it copies the table: the journal position of the last write the table has.
    writing: Mutex<u64>,
    state: Mutex<State>,
    wake: Condvar,
    /// Held through a save, so saves reach the disk in the order they were taken (an older one
    /// written last would lose what a newer one let the journal discard).
    saving: Mutex<()>,
    /// The journal files the last saved table points into, which are kept.
    in_use: Mutex<BTreeSet<u64>>,
    /// When a save last looked for files to compact.
    compacted: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct State {
    /// Journal files waiting for a checkpoint.
    retired: Vec<PathBuf>,
    /// Retired journal files a checkpoint put off (see [`checkpoint`]).
    held: Vec<PathBuf>,
    closing: bool,
}

/// Writes to one tree, journaled as one record.
#[derive(Debug, Default)]
pub(super) struct Batch {
    writes: Vec<Write>,
}

#[derive(Debug)]
pub(super) struct Write {
    pub key: Vec<u8>,
    /// `None` removes the key.
    pub value: Option<Vec<u8>>,
    /// What the journal records in place of `value`, when it is shorter: a record that names
    /// what it shares with the key's record before it instead of repeating it, which the replay
    /// resolves (`executions::same_payload_form`). The table is given `value`.
    pub journaled: Option<Vec<u8>>,
    fresh: bool,
}

impl Write {
    /// The value as the journal records it.
    pub(super) fn journal_value(&self) -> Option<&[u8]> {
        self.journaled.as_deref().or(self.value.as_deref())
    }
}

impl Batch {
    pub(super) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.push(key, Some(value.into()), None, false);
    }

    /// Inserts `value`, journaled as `journaled` (see [`Write::journaled`]).
    pub(super) fn insert_journaled_as(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: Vec<u8>,
        journaled: Vec<u8>,
    ) {
        self.push(key, Some(value), Some(journaled), false);
    }

    /// Inserts a key that was never written before (one made of a new ULID): the table is not
    /// looked up for a value it replaces.
    pub(super) fn insert_new(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.push(key, Some(value.into()), None, true);
    }

    pub(super) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.push(key, None, None, false);
    }

    fn push(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: Option<Vec<u8>>,
        journaled: Option<Vec<u8>>,
        fresh: bool,
    ) {
        self.writes.push(Write {
            // Taken as it is when the caller made it for this batch, as most do.
            key: key.into(),
            value,
            journaled,
            fresh,
        });
    }

    pub(super) fn writes(&self) -> &[Write] {
        &self.writes
    }
}

/// One write on its way into the table.
struct TableWrite<'a> {
    key: &'a [u8],
    value: Option<&'a [u8]>,
    /// The table cannot have the key yet.
    fresh: bool,
    /// Where the record's parts are in its batch's journal record, for an execution record.
    parts: Option<Parts>,
}

/// Where an execution record's parts are in the journal record of its batch, from that record's
/// first byte (see [`Journaled`]).
#[derive(Clone, Copy)]
struct Parts {
    json: u64,
    /// Where its payload is, when the record holds its bytes.
    payload: Option<u64>,
}

impl Parts {
    /// The parts of `write`, whose value is at `value` in its batch's journal record.
    fn of(write: &Write, value: u64) -> Option<Self> {
        if write.key.first() != Some(&keys::EXECUTION) {
            return None;
        }
        let (json, payload) = executions::parts_at(write.journal_value()?)?;
        Some(Self {
            json: value + json as u64,
            payload: payload.map(|at| value + at as u64),
        })
    }

    /// The parts' places once the record is journaled at `record`.
    fn at(self, record: Place) -> Journaled {
        let place = |offset: u64| Place {
            file: record.file,
            offset: record.offset + offset,
        };
        Journaled {
            json: place(self.json),
            payload: self.payload.map(place),
        }
    }
}

impl Checkpoints {
    /// Checkpoints for `table`, with their thread running; `db` is made durable with it.
    pub(super) fn start(
        table: Arc<Table>,
        db: Sled,
        payloads: Option<Arc<Payloads>>,
        disk: Arc<Disk>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            table,
            db,
            disk,
            payloads,
            writing: Mutex::new(0),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            saving: Mutex::default(),
            in_use: Mutex::default(),
            compacted: Mutex::default(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hookhub-checkpoint".into())
            .spawn(move || checkpoint_loop(&thread_shared))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Where execution records' payloads go; the journal writes the staged ones.
    pub(super) fn payloads(&self) -> Option<&Payloads> {
        self.shared.payloads.as_deref()
    }

    /// What the journal has on disk, which a save waits for.
    pub(super) fn disk(&self) -> Arc<Disk> {
        self.shared.disk.clone()
    }

    /// Hands a retired journal file to the checkpoint thread, which deletes it once the table
    /// holds all of it durably.
    pub(super) fn retire(&self, file: PathBuf) {
        self.shared.lock().retired.push(file);
        self.shared.wake.notify_one();
    }

    /// Writes one replayed journal op into the table, as its writer did.
    pub(super) fn replay(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> sled::Result<()> {
        let write = TableWrite {
            key: &key,
            value: value.as_deref(),
            fresh: false,
            parts: None,
        };
        self.shared.write(std::slice::from_ref(&write), None, true)
    }

    /// The journal files the last saved table points into (see [`journal::discard`]).
    pub(super) fn journal_files_in_use(&self) -> BTreeSet<u64> {
        self.shared
            .in_use
            .lock()
            .expect("checkpoint lock poisoned")
            .clone()
    }

    /// The table, for tests that look at what it holds.
    #[cfg(test)]
    pub(super) fn table(&self) -> &Arc<Table> {
        &self.shared.table
    }

    /// Saves the table with everything written so far, once the journal has it on disk, and
    /// makes sled durable.
    pub(super) fn make_durable(&self) -> std::io::Result<()> {
        self.shared.make_durable()
    }

    /// Stops the thread. What the last save does not hold is in the journal, replayed at the
    /// next open.
    pub(super) fn close(&self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().expect("checkpoint lock poisoned").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("checkpoint lock poisoned")
    }

    fn writing(&self) -> MutexGuard<'_, u64> {
        self.writing.lock().expect("writers' lock poisoned")
    }

    /// Reports a failed write to a payload segment: the table no longer holds what the journal
    /// does, so the store must be reopened (see [`super::health`]).
    fn failed(&self, error: &sled::Error) {
        let io = match error {
            sled::Error::Io(e) => e.raw_os_error().map_or_else(
                || std::io::Error::new(e.kind(), e.to_string()),
                std::io::Error::from_raw_os_error,
            ),
            other => std::io::Error::other(other.to_string()),
        };
        self.disk.health.failed(&io);
    }

    /// Saves the table and makes sled durable; a failure turns the store's health bad.
    fn make_durable(&self) -> std::io::Result<()> {
        let durable = self.save();
        if let Err(e) = &durable {
            self.disk.health.failed(e);
        }
        durable
    }

    /// Saves the table with the segments it points into, once the journal is durable through
    /// every write the save holds; then makes sled durable and deletes the segments and kept
    /// journal files the save no longer points into. Writers wait only while the table is
    /// copied.
    fn save(&self) -> std::io::Result<()> {
        let _saving = self.saving.lock().expect("checkpoint lock poisoned");
        if let Some(payloads) = &self.payloads {
            self.compact_if_due(payloads);
            // What a compaction appended, synced outside the writers' lock.
            payloads.sync()?;
        }
        let (through, unused, in_use, snapshot) = {
            let through = self.writing();
            // A writer appends to a segment only where the journal has not a record's bytes
            // (rarely): every byte a saved record points at is synced before it is saved.
            let (unused, in_use) = match &self.payloads {
                Some(payloads) => {
                    payloads.sync()?;
                    (
                        payloads.unused(&self.table, *through),
                        Payloads::journal_files_in_use(&self.table),
                    )
                }
                None => Default::default(),
            };
            (*through, unused, in_use, self.table.snapshot())
        };
        let unsynced = snapshot.write_out(&self.table)?;
        self.wait_for_journal(through)?;
        unsynced.commit()?;
        journal::make_sled_durable(&self.db)?;
        let Some(payloads) = &self.payloads else {
            return Ok(());
        };
        payloads.delete(&self.table, &unused, through)?;
        // A kept journal file the save no longer points into is let go. No record can point
        // into it again: only a record journaled there could, and every one is in the table.
        journal::let_go_kept(payloads.journal_dir(), &in_use)?;
        *self.in_use.lock().expect("checkpoint lock poisoned") = in_use;
        Ok(())
    }

    /// Waits until the journal is durable through position `through`; fails when it cannot be
    /// (the journal failed, or is stuck): the save holding writes up to there is dropped.
    fn wait_for_journal(&self, through: u64) -> std::io::Result<()> {
        // The journal syncs what it was given within a moment; only a failed one keeps writes
        // waiting for long.
        let deadline = Instant::now() + JOURNAL_WAIT;
        while !self.disk.is_durable(through) {
            if self.disk.health.failure().is_some() || Instant::now() >= deadline {
                return Err(std::io::Error::other(
                    "writes the journal does not have on disk are in the table",
                ));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// Moves the last records out of mostly dead files, when a save has not looked for such
    /// files in [`COMPACT_EVERY`] (`payloads/compact.rs`). The bytes are copied while writers
    /// go on; a record is pointed at its new place under their lock, unless it changed
    /// meanwhile. The save that follows lets the files go.
    fn compact_if_due(&self, payloads: &Payloads) {
        {
            let mut last = self.compacted.lock().expect("checkpoint lock poisoned");
            if last.is_some_and(|at| at.elapsed() < COMPACT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let through = *self.writing();
        let compacted = payloads
            .sparse_files(&self.table, through)
            .and_then(|files| match files.is_empty() {
                true => Ok(0),
                false => {
                    let moves = payloads.compact(&self.table, &files)?;
                    let _writing = self.writing();
                    Ok(moves.commit(&self.table))
                }
            });
        if payloads.sparse_unsettled() {
            // Seen mostly dead but not yet still: looked at again by the next save.
            *self.compacted.lock().expect("checkpoint lock poisoned") = None;
        }
        match compacted {
            Ok(0) => {}
            Ok(records) => tracing::debug!(records, "moved records out of mostly dead files"),
            Err(e) => tracing::warn!(error = %e, "could not compact the execution log's files"),
        }
    }

    /// Writes into the table, execution records filed (`payloads.rs`), each seeing the table
    /// as the writes before it left it; `record` is where the journal has the writes' record,
    /// when it is known.
    fn write(
        &self,
        writes: &[TableWrite<'_>],
        record: Option<Place>,
        replaying: bool,
    ) -> sled::Result<()> {
        let Some(payloads) = &self.payloads else {
            for w in writes {
                self.write_one(w.key, w.value.map(IVec::from), w.fresh);
            }
            return Ok(());
        };
        let mut counts = payloads::CountChanges::default();
        for w in writes {
            let value = if w.key.first() == Some(&keys::EXECUTION) {
                let journaled = w.parts.zip(record).map(|(parts, record)| parts.at(record));
                let write = payloads::RecordWrite {
                    key: w.key,
                    value: w.value,
                    journaled: journaled.as_ref(),
                    fresh: w.fresh,
                };
                let value = payloads.convert(&self.table, write, replaying, &mut counts)?;
                // Bytes appended to a segment are written before a record points at them.
                payloads.write_pending()?;
                value
            } else {
                w.value.map(IVec::from)
            };
            self.write_one(w.key, value, w.fresh);
        }
        // The batch's count changes at once, after its records: a save reads counts under the
        // writers' lock, never between a batch's writes (compaction's choice of files reads
        // them without it, as a hint its swaps check).
        counts.write_raised(&self.table);
        counts.write_lowered(&self.table);
        Ok(())
    }

    fn write_one(&self, key: &[u8], value: Option<IVec>, fresh: bool) {
        match value {
            Some(value) => self.table.insert(key, value),
            None if fresh => {}
            None => self.table.remove(key),
        }
    }
}

/// The checkpoint thread: checkpoints retired journal files as they come.
fn checkpoint_loop(shared: &Shared) {
    loop {
        let (retired, closing) = {
            let mut state = shared.lock();
            while !state.closing && state.retired.is_empty() {
                state = shared.wake.wait(state).expect("checkpoint lock poisoned");
            }
            (std::mem::take(&mut state.retired), state.closing)
        };
        if closing {
            return;
        }
        if shared.disk.health.failure().is_some() {
            // Reported already; the store is reopened once the disk takes writes again, and
            // replays these files.
            continue;
        }
        checkpoint(shared, retired);
    }
}

/// Makes the table (and sled) hold everything the retired journal files do, durably, then
/// discards them (one may be kept to be written over, others kept while the table points into
/// them: [`journal::discard`]), and makes the journal's next file ready from the spare
/// ([`journal::make_next_ready`]).
///
/// A checkpoint whose last save was larger than the journal files it would let go is put off
/// until enough have retired. Most saves are deltas, a tenth of a journal file or less
/// (`table/mod.rs`), so nearly every file is checkpointed as it retires; after a whole save of
/// a large table, the next checkpoint waits for as many journal bytes, and a start replays at
/// most that many. (Putting checkpoints off to every 16 MiB cost 8% of the saturated rate:
/// rotations then seldom find a spare file to write over, BENCHMARKS.md.)
fn checkpoint(shared: &Shared, retired: Vec<PathBuf>) {
    let files = {
        let mut state = shared.lock();
        state.held.extend(retired);
        std::mem::take(&mut state.held)
    };
    let journal_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf);
    if journal_bytes < shared.table.saved_len() {
        shared.lock().held = files;
    } else {
        save_and_discard(shared, files, dir.as_deref());
    }
    if let Some(dir) = dir
        && shared.disk.health.failure().is_none()
    {
        journal::make_next_ready(&dir, &shared.disk);
    }
}

/// The checkpoint of `files`, retired from the journal in `dir`.
fn save_and_discard(shared: &Shared, files: Vec<PathBuf>, dir: Option<&Path>) {
    match shared.make_durable() {
        Ok(()) => {
            let in_use = shared
                .in_use
                .lock()
                .expect("checkpoint lock poisoned")
                .clone();
            if let Some(dir) = dir
                && let Err(e) = journal::discard(dir, &files, &in_use)
            {
                tracing::warn!(error = %e, "could not discard a retired journal file");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "journal checkpoint failed; will try again");
            shared.lock().retired.extend(files);
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The log's table, written through the journal. Writes are not durable until
/// [`super::Storage::sync`]; reads see them at once.
pub(super) struct LogTree {
    tag: u8,
    checkpoints: Arc<Checkpoints>,
    journal: Arc<Journal>,
}

/// Entries of the log in key order, from either end.
pub(super) type Range =
    std::iter::Map<super::table::Iter, fn((IVec, IVec)) -> sled::Result<(IVec, IVec)>>;

impl LogTree {
    pub(super) fn new(tag: u8, checkpoints: Arc<Checkpoints>, journal: Arc<Journal>) -> Self {
        Self {
            tag,
            checkpoints,
            journal,
        }
    }

    fn shared(&self) -> &Shared {
        &self.checkpoints.shared
    }

    /// Journals the writes as one record (a replay applies it whole) and writes them into the
    /// table, in order; returns the record's journal position.
    pub(super) fn apply_batch(&self, batch: Batch) -> u64 {
        let shared = self.shared();
        // The writes as the table takes them, with where a record's parts will be in the
        // journal record (for the table to point there), made before the lock every writer
        // takes.
        let journaled = shared.payloads.is_some();
        let writes: Vec<TableWrite<'_>> = journal::value_offsets(&batch)
            .zip(&batch.writes)
            .map(|(offset, w)| TableWrite {
                key: &w.key,
                value: w.value.as_deref(),
                fresh: w.fresh,
                parts: offset.filter(|_| journaled).and_then(|at| Parts::of(w, at)),
            })
            .collect();
        let mut writing = shared.writing();
        // Journaled under the writers' lock, so the journal has a key's writes in the order
        // the table takes them.
        let (pos, record) = self
            .journal
            .append_placed(|out| journal::encode_batch(self.tag, &batch, out));
        *writing = pos;
        if let Err(e) = shared.write(&writes, Some(record), false) {
            // The journal has the writes; the table is reopened from it.
            shared.failed(&e);
            tracing::error!(error = %e, "could not write to the execution log's table");
        }
        drop(writing);
        pos
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) {
        let mut batch = Batch::default();
        batch.remove(key.as_ref());
        self.apply_batch(batch);
    }

    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        Ok(self.shared().table.get(key))
    }

    pub(super) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Range {
        let lower = range.start_bound().map(|k| k.as_ref().to_vec());
        let upper = range.end_bound().map(|k| k.as_ref().to_vec());
        self.shared()
            .table
            .range(lower, upper)
            .map(Ok as fn(_) -> _)
    }

    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Range {
        let prefix = prefix.as_ref().to_vec();
        match successor(&prefix) {
            Some(end) => self.range(prefix..end),
            None => self.range(prefix..),
        }
    }
}

/// The smallest key greater than every key starting with `prefix`; none when the prefix is
/// all 0xff.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
#[path = "log_tree_tests.rs"]
mod tests;
