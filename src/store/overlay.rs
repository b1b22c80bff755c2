//! Writes to the execution log that its table has not taken yet.
//!
//! A delivery's writes are durable once the journal has them, and an execution that runs at
//! once is rewritten two or three times within milliseconds. So the log's writes go to this
//! overlay and the journal only, and one thread (the applier) moves them into the [`Table`] a
//! moment later, pointing it at where the journal has records' JSON and payloads on the way
//! ([`payloads`]). A key written again before its turn is applied once, with its last value.
//! Readers look here first, then in the table ([`DeferredTree`]). (The table was a sled tree
//! before format 3; sled's copy-on-write cost tens of microseconds per key on this thread.)
//!
//! The applier also checkpoints for the journal: when a journal file is retired, it applies
//! everything the file holds (everything in the overlay at that point), saves the table, makes
//! sled (the other trees) durable and discards the file, or keeps it while the saved table
//! points into it ([`journal::discard`]). Only one party applies at a time, so the table
//! receives a key's writes in the order they were made.
//!
//! Nothing reaches the table before the journal has it on disk ([`Disk::is_durable`]): a
//! save could otherwise hold a write that outlives a journal write that failed, and a
//! delivery answered 503 would run after a restart.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::{Bound, RangeBounds};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sled::IVec;

use super::executions;
use super::journal::{self, Disk, Journal, Place, Sled};
use super::keys;
use super::payloads::{self, Journaled, Payloads};
use super::table::{self, Table, as_slice, is_empty};

/// How long a write waits before it is applied, so that an execution finished within this
/// time reaches the table once, finished.
const APPLY_DELAY: Duration = Duration::from_millis(200);
/// How much longer the applier lets writes ripen before it wakes, so that under a steady
/// stream it applies them in a few large turns a second instead of a wake-up per write.
const GATHER: Duration = Duration::from_millis(50);
/// A settled write ([`Batch::settle`]: nothing is expected to rewrite it soon) waits only
/// this long, and the applier this much longer, so it takes them in small turns while they are
/// still in the cache. Settled writes kept 250 ms were most of the overlay at saturation (an
/// ingest-only hook's deliveries are final when written): applied 2-3 ms after, the saturated
/// p99 halved (BENCHMARKS.md).
const SETTLED_DELAY: Duration = Duration::from_millis(2);
const SETTLED_GATHER: Duration = Duration::from_millis(1);
/// Past this many bytes waiting, writes are applied without waiting for their delay, from the
/// applier's next wake-up on. Crossing it does not wake the applier (waking it there cost a
/// large log 4-7% of its saturated rate for 6 MiB less at the peak, BENCHMARKS.md), so between
/// checkpoints, which apply everything, up to [`APPLY_DELAY`] + [`GATHER`] of writes can wait…
const SOFT_LIMIT: usize = 8 * 1024 * 1024;
/// …and past this many, writers help apply, so memory stays bounded when the table falls behind.
const HARD_LIMIT: usize = 24 * 1024 * 1024;
/// Writes applied per turn of the apply lock.
const CHUNK: usize = 256;
/// What a map slot or a queue entry costs besides its bytes.
const ENTRY_OVERHEAD: usize = 48;
/// How long making the table durable waits for the journal to have the writes it needs.
const JOURNAL_WAIT: Duration = Duration::from_secs(10);
/// How often a save looks for mostly dead files to compact (`payloads/compact.rs`): each
/// look reads the counts and a file's size per file (at every save in tests).
const COMPACT_EVERY: Duration = if cfg!(test) {
    Duration::ZERO
} else {
    Duration::from_secs(10)
};

/// The overlay of the log's table and the thread that drains it.
pub(super) struct Overlay {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    table: Arc<Table>,
    /// The other trees' database, made durable at each checkpoint with the table.
    db: Sled,
    /// How far the journal is on disk, and where a failed write is reported.
    disk: Arc<Disk>,
    /// Where execution records' JSON and payloads go on their way into the table (none in
    /// some tests).
    payloads: Option<Arc<Payloads>>,
    state: Mutex<State>,
    wake: Condvar,
    /// Held while writes move into the table, so they arrive in the order they were made.
    applying: Mutex<()>,
    /// Held through a save of the table, so saves reach the disk in the order they were taken
    /// (an older one written last would lose what a newer one let the journal discard).
    saving: Mutex<()>,
    /// The journal files the last saved table points into, which are kept.
    in_use: Mutex<BTreeSet<u64>>,
    /// When a save last looked for files to compact.
    compacted: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct State {
    /// The newest unapplied write of each key: a value, or `None` for a removal.
    map: BTreeMap<Vec<u8>, Slot>,
    /// Every write in the order made.
    order: VecDeque<Queued>,
    next_seq: u64,
    /// The journal position of the last write taken off the queue.
    taken_pos: u64,
    bytes: usize,
    /// Journal files waiting for a checkpoint.
    retired: Vec<PathBuf>,
    /// Retired journal files a checkpoint put off (see [`checkpoint`]).
    held: Vec<PathBuf>,
    closing: bool,
}

struct Slot {
    value: Option<IVec>,
    seq: u64,
    /// Where the journal has this value (see [`Disk::is_durable`]).
    pos: u64,
    /// The key cannot be in the table (it was new when written, and nothing applied it since), so
    /// removing it needs nothing from the table.
    fresh: bool,
    /// Where the journal has the record's parts, for an execution record.
    journaled: Option<Journaled>,
}

/// Writes to one tree, journaled as one record.
#[derive(Debug, Default)]
pub(super) struct Batch {
    writes: Vec<Write>,
    /// No write of the batch is expected to be rewritten soon (see [`SETTLED_DELAY`]).
    settled: bool,
}

#[derive(Debug)]
pub(super) struct Write {
    pub key: Vec<u8>,
    /// `None` removes the key.
    pub value: Option<Vec<u8>>,
    /// What the journal records in place of `value`, when it is shorter: a record that names
    /// what it shares with the key's record before it instead of repeating it, which the replay
    /// resolves (`executions::same_payload_form`). The overlay and the table get `value`.
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

    /// Inserts a key that was never written before (one made of a new ULID): if it is removed
    /// again before the table took it, the table never hears of it.
    pub(super) fn insert_new(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.push(key, Some(value.into()), None, true);
    }

    pub(super) fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.push(key, None, None, false);
    }

    /// Says nothing is expected to rewrite these writes soon (a final execution, a removal):
    /// they are applied within milliseconds instead of waiting for a rewrite to fold in.
    pub(super) fn settle(&mut self) {
        self.settled = true;
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

/// A write in line.
struct Queued {
    seq: u64,
    /// When the write may be applied.
    ripe: Instant,
    /// Whether its batch was settled ([`Batch::settle`]).
    settled: bool,
    key: Vec<u8>,
    /// Where the journal has it (see [`Disk::is_durable`]).
    pos: u64,
}

impl Queued {
    /// Queues write `seq` of `key`, journaled at `pos`, made `now`.
    fn new(seq: u64, key: Vec<u8>, pos: u64, now: Instant, settled: bool) -> Self {
        let delay = match settled {
            true => SETTLED_DELAY,
            false => APPLY_DELAY,
        };
        Self {
            seq,
            ripe: now + delay,
            settled,
            key,
            pos,
        }
    }

    /// How much longer than its delay the applier lets the write wait, gathering others.
    fn gather(&self) -> Duration {
        match self.settled {
            true => SETTLED_GATHER,
            false => GATHER,
        }
    }
}

/// One write taken off the queue to be applied.
struct Taken {
    key: Vec<u8>,
    value: Option<IVec>,
    /// The slot's sequence number.
    seq: u64,
    fresh: bool,
    journaled: Option<Journaled>,
}

/// Where an execution record's parts are in the journal record of its batch, from that record's
/// first byte (see [`Journaled`]).
#[derive(Clone, Copy)]
struct Parts {
    json: u64,
    /// Where its payload is, when the record holds its bytes.
    payload: Option<u64>,
    /// The record is journaled without its payload, which the write before it has.
    keeps_payload: bool,
}

impl Parts {
    /// The parts of `write`, whose value is at `value` in its batch's journal record.
    fn of(write: &Write, value: u64) -> Option<Self> {
        if write.key.first() != Some(&keys::EXECUTION) {
            return None;
        }
        let journaled = write.journal_value()?;
        let (json, payload) = executions::parts_at(journaled)?;
        Some(Self {
            json: value + json as u64,
            payload: payload.map(|at| value + at as u64),
            keeps_payload: executions::keeps_payload(journaled),
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

/// Which waiting writes a turn applies.
#[derive(Clone, Copy)]
enum Due {
    /// Those past their delay (all of them past the soft limit).
    Ripe,
    /// Every write made before the sequence number.
    Before(u64),
}

impl Overlay {
    /// An overlay over `table`, with its applier thread running; `db` is made durable with it.
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
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            applying: Mutex::new(()),
            saving: Mutex::new(()),
            in_use: Mutex::default(),
            compacted: Mutex::default(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hookhub-apply".into())
            .spawn(move || apply_loop(&thread_shared))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Where execution records' payloads go; the journal writes the staged ones.
    pub(super) fn payloads(&self) -> Option<&Payloads> {
        self.shared.payloads.as_deref()
    }

    /// What the journal has on disk, which this overlay applies up to.
    pub(super) fn disk(&self) -> Arc<Disk> {
        self.shared.disk.clone()
    }

    /// Hands a retired journal file to the applier, which deletes it once the table holds all of
    /// it durably.
    pub(super) fn retire(&self, file: PathBuf) {
        self.shared.lock().retired.push(file);
        self.shared.wake.notify_one();
    }

    /// Writes one replayed journal op straight into the table, the way the applier would have.
    pub(super) fn replay(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> sled::Result<()> {
        let write = Taken {
            key,
            value: value.map(IVec::from),
            seq: 0,
            fresh: false,
            journaled: None,
        };
        self.shared.write(std::slice::from_ref(&write), true)
    }

    /// The journal files the last saved table points into (see [`journal::discard`]).
    pub(super) fn journal_files_in_use(&self) -> BTreeSet<u64> {
        self.shared
            .in_use
            .lock()
            .expect("overlay lock poisoned")
            .clone()
    }

    /// The table under the overlay, for tests that look at what it holds.
    #[cfg(test)]
    pub(super) fn table(&self) -> &Table {
        &self.shared.table
    }

    /// Applies every write made so far, saves the table and makes sled durable.
    pub(super) fn make_durable(&self) -> std::io::Result<()> {
        self.shared.make_durable()
    }

    /// Stops the applier. What it had not applied is in the journal, replayed at the next open.
    pub(super) fn close(&self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().expect("overlay lock poisoned").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("overlay lock poisoned")
    }

    /// Puts one write of a batch journaled at `pos` in line and in the map. `value` is the
    /// overlay's copy of the write's value, made before the lock was taken; `parts` where the
    /// journal has its parts, for an execution record.
    fn put(
        &self,
        state: &mut State,
        (key, value, fresh): (Vec<u8>, Option<IVec>, bool),
        (now, settled): (Instant, bool),
        (pos, parts): (u64, Option<(Parts, Place)>),
    ) {
        let mut journaled = parts.map(|(parts, record)| parts.at(record));
        let seq = state.next_seq;
        state.next_seq += 1;
        state.bytes += queue_cost(&key) + slot_cost(&key, &value);
        state
            .order
            .push_back(Queued::new(seq, key.clone(), pos, now, settled));
        match state.map.entry(key) {
            Entry::Occupied(mut slot) => {
                state.bytes -= slot_cost(slot.key(), &slot.get().value);
                let slot = slot.get_mut();
                // A record journaled without its payload: the write it replaces had it. (Where
                // the table has that payload already, its place comes first: `convert`.)
                if let (Some(new), Some((parts, _))) = (&mut journaled, parts)
                    && parts.keeps_payload
                {
                    new.payload = slot.journaled.and_then(|old| old.payload);
                }
                slot.value = value;
                slot.seq = seq;
                slot.pos = pos;
                slot.journaled = journaled;
            }
            Entry::Vacant(slot) => {
                slot.insert(Slot {
                    value,
                    seq,
                    pos,
                    fresh,
                    journaled,
                });
            }
        }
    }

    /// Reports a failed write to sled or a payload segment: sled keeps an IO error for good,
    /// so the store must be reopened (see [`super::health`]).
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

    /// Applies every write made so far that the journal has on disk, then saves the table
    /// and makes sled durable. Fails, changing nothing on disk, when a write made before the
    /// call is not on disk yet (the journal failed, or is behind: a later call has it).
    fn make_durable(&self) -> std::io::Result<()> {
        let before = self.lock().next_seq;
        // The journal syncs what it was given within a moment; only a failed one keeps writes
        // waiting for long.
        let deadline = Instant::now() + JOURNAL_WAIT;
        loop {
            match self.apply(Due::Before(before)) {
                Ok(true) => break,
                Ok(false) if self.disk.health.failure().is_none() && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(false) => {
                    return Err(std::io::Error::other(
                        "writes the journal does not have on disk are waiting",
                    ));
                }
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        let durable = self.save();
        if let Err(e) = &durable {
            self.disk.health.failed(e);
        }
        durable
    }

    /// Saves the table with the segments it points into, then makes sled durable and deletes
    /// the segments the save no longer points into.
    fn save(&self) -> std::io::Result<()> {
        let _saving = self.saving.lock().expect("overlay lock poisoned");
        let (saved, unused, applied_through, in_use) = {
            // Between turns, so the save holds whole turns, and every byte a saved record
            // points at is synced before it is saved.
            let _turn = self.applying.lock().expect("overlay lock poisoned");
            let applied_through = self.applied_through();
            let (unused, in_use) = match &self.payloads {
                Some(payloads) => {
                    self.compact_if_due(payloads, applied_through);
                    payloads.sync()?;
                    (
                        payloads.unused(&self.table, applied_through),
                        Payloads::journal_files_in_use(&self.table),
                    )
                }
                None => Default::default(),
            };
            (self.table.write_out()?, unused, applied_through, in_use)
        };
        saved.commit()?;
        journal::make_sled_durable(&self.db)?;
        let Some(payloads) = &self.payloads else {
            return Ok(());
        };
        payloads.delete(&self.table, &unused, applied_through)?;
        // A kept journal file the save no longer points into is let go. No record can point
        // into it again: only a record journaled there could, and every one is applied.
        journal::let_go_kept(payloads.journal_dir(), &in_use)?;
        *self.in_use.lock().expect("overlay lock poisoned") = in_use;
        Ok(())
    }

    /// Moves the last records out of mostly dead files, when a save has not looked for such
    /// files in [`COMPACT_EVERY`] (`payloads/compact.rs`). Between turns; the save that follows
    /// lets them go.
    fn compact_if_due(&self, payloads: &Payloads, applied_through: u64) {
        {
            let mut last = self.compacted.lock().expect("overlay lock poisoned");
            if last.is_some_and(|at| at.elapsed() < COMPACT_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let compacted = payloads
            .sparse_files(&self.table, applied_through)
            .and_then(|files| match files.is_empty() {
                true => Ok(0),
                false => payloads.compact(&self.table, &files),
            });
        match compacted {
            Ok(0) => {}
            Ok(records) => tracing::debug!(records, "moved records out of mostly dead files"),
            Err(e) => tracing::warn!(error = %e, "could not compact the execution log's files"),
        }
    }

    /// The journal position the table has taken every write up to, between turns. (A write's
    /// position is where the journal's appends stood after it: those of one batch share one.)
    fn applied_through(&self) -> u64 {
        let state = self.lock();
        match state.order.front() {
            Some(queued) => queued.pos - 1,
            None => state.taken_pos,
        }
    }

    /// Moves due writes into the table, a chunk per turn of the apply lock, until none are due.
    /// True when every due write was applied; false when some wait for the journal.
    fn apply(&self, due: Due) -> sled::Result<bool> {
        loop {
            if let Some(done) = self.apply_turn(due)? {
                return Ok(done);
            }
        }
    }

    /// One turn of [`Shared::apply`]: moves up to [`CHUNK`] due writes into the table. `None` when
    /// it moved some; else whether nothing is left waiting for the journal.
    fn apply_turn(&self, due: Due) -> sled::Result<Option<bool>> {
        let _turn = self.applying.lock().expect("overlay lock poisoned");
        let (taken, writes, blocked) = self.take(due, Instant::now());
        if taken.is_empty() {
            return Ok(Some(!blocked));
        }
        let applied = self.write(&writes, false);
        let mut state = self.lock();
        if let Err(e) = applied {
            self.failed(&e);
            // Put them back in line: a later turn (or the next start's replay) has them.
            for entry in taken.into_iter().rev() {
                state.order.push_front(entry);
            }
            return Err(e);
        }
        state.bytes -= taken
            .iter()
            .map(|queued| queue_cost(&queued.key))
            .sum::<usize>();
        // What leaves the map is freed once the lock is let go: up to a chunk of keys and
        // records, made on the writers' threads (a slower free here), while every writer waits
        // for this lock.
        let mut released = Vec::with_capacity(writes.len());
        for Taken {
            key, value, seq, ..
        } in writes
        {
            // One search a key (this runs under the lock every writer takes).
            let Entry::Occupied(mut slot) = state.map.entry(key) else {
                continue;
            };
            if slot.get().seq == seq {
                let (key, slot) = slot.remove_entry();
                state.bytes -= slot_cost(&key, &slot.value);
                released.push((key, slot));
            } else if value.is_some() {
                // Written again meanwhile; the table has the key now.
                slot.get_mut().fresh = false;
            }
        }
        drop(state);
        drop(released);
        Ok(None)
    }

    /// Writes a turn's writes into the table, execution records' large payloads into segments.
    fn write(&self, writes: &[Taken], replaying: bool) -> sled::Result<()> {
        let Some(payloads) = &self.payloads else {
            return writes
                .iter()
                .try_for_each(|w| self.write_one(&w.key, w.value.clone(), w.fresh));
        };
        let mut counts = payloads::CountChanges::default();
        // A checkpoint's turn can hold a key more than once, each time with its newest value:
        // its payload is appended once.
        let mut converted: foldhash::HashMap<&[u8], Option<IVec>> = Default::default();
        let mut values = Vec::with_capacity(writes.len());
        for write in writes {
            let key = write.key.as_slice();
            let value = if key.first() != Some(&keys::EXECUTION) {
                write.value.clone()
            } else if let Some(done) = converted.get(key) {
                done.clone()
            } else {
                let record = payloads::RecordWrite {
                    key,
                    value: write.value.as_ref(),
                    journaled: write.journaled.as_ref(),
                    fresh: write.fresh,
                };
                let value = payloads.convert(&self.table, record, replaying, &mut counts)?;
                converted.insert(key, value.clone());
                value
            };
            values.push(value);
        }
        payloads.write_pending()?;
        counts.write_raised(&self.table);
        for (write, value) in writes.iter().zip(values) {
            self.write_one(&write.key, value, write.fresh)?;
        }
        counts.write_lowered(&self.table);
        Ok(())
    }

    fn write_one(&self, key: &[u8], value: Option<IVec>, fresh: bool) -> sled::Result<()> {
        match value {
            Some(value) => self.table.insert(key, value),
            None if fresh => {}
            None => self.table.remove(key),
        }
        Ok(())
    }

    /// Takes up to a chunk of due entries (ripe by `now`) off the queue, with the value each key
    /// holds now. Stops at the first write the journal does not have on disk; the flag says
    /// whether a write `due` asked for is waiting there.
    fn take(&self, due: Due, now: Instant) -> (Vec<Queued>, Vec<Taken>, bool) {
        let mut state = self.lock();
        let over = state.bytes > SOFT_LIMIT;
        let mut taken = Vec::new();
        let mut writes = Vec::new();
        let asked = |seq: u64| matches!(due, Due::Before(end) if seq < end);
        while taken.len() < CHUNK {
            let Some(&Queued { seq, ripe, pos, .. }) = state.order.front() else {
                break;
            };
            if !self.disk.is_durable(pos) {
                return (taken, writes, asked(seq));
            }
            let ripe = match due {
                Due::Ripe => over || now >= ripe,
                Due::Before(end) => seq < end,
            };
            if !ripe {
                break;
            }
            let entry = state.order.pop_front().expect("front exists");
            state.taken_pos = entry.pos;
            let slot = state.map.get(&entry.key);
            match (slot, due) {
                // The key was written again: its newer entry comes later in line, unless the
                // whole overlay is due (a checkpoint), which must leave nothing behind.
                (Some(slot), Due::Ripe) if slot.seq != entry.seq => {}
                // This entry's own value was replaced by one the journal does not have yet:
                // the checkpoint waits for it.
                (Some(slot), _) if !self.disk.is_durable(slot.pos) => {
                    state.order.push_front(entry);
                    return (taken, writes, true);
                }
                (Some(slot), _) => writes.push(Taken {
                    key: entry.key.clone(),
                    value: slot.value.clone(),
                    seq: slot.seq,
                    fresh: slot.fresh,
                    journaled: slot.journaled,
                }),
                (None, _) => {}
            }
            taken.push(entry);
        }
        (taken, writes, false)
    }
}

/// The applier: applies writes as they ripen and checkpoints retired journal files. It runs at
/// the process's own priority. It ran at nice 10, then 5 (its work can wait: the writes are
/// durable in the journal and readable in the overlay), but at saturation a lowered applier
/// falls behind until the overlay reaches [`HARD_LIMIT`] and writers apply for it: at 5, seven
/// alternated saturated pairs peaked at 63-82 MiB resident against 52-59 at the same priority,
/// with the same throughput and p99 (BENCHMARKS.md); at 10 and 19 the starved applier held the
/// apply lock for long stretches (p99 116-192 ms).
fn apply_loop(shared: &Shared) {
    loop {
        let (retired, closing) = {
            let mut state = shared.lock();
            loop {
                if state.closing || !state.retired.is_empty() {
                    break;
                }
                let wait = match state.order.front() {
                    // A failed store is reopened, not applied to; the journal will have the
                    // next write within a sync.
                    _ if shared.disk.health.failure().is_some() => GATHER,
                    // The journal has the write within a sync: look again after the write's
                    // own gather (an applier woken by the first write of a quiet overlay
                    // meets this every time).
                    Some(queued) if !shared.disk.is_durable(queued.pos) => queued.gather(),
                    _ if state.bytes > SOFT_LIMIT => Duration::ZERO,
                    Some(queued) => {
                        (queued.ripe + queued.gather()).saturating_duration_since(Instant::now())
                    }
                    None => Duration::from_secs(3600),
                };
                if wait.is_zero() {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, wait)
                    .expect("overlay lock poisoned")
                    .0;
            }
            (std::mem::take(&mut state.retired), state.closing)
        };
        if closing {
            return;
        }
        if shared.disk.health.failure().is_some() {
            // Reported already; the store is reopened once the disk takes writes again.
            continue;
        }
        if let Err(e) = shared.apply(Due::Ripe) {
            tracing::error!(error = %e, "could not apply journaled writes to the database");
        }
        if !retired.is_empty() {
            checkpoint(shared, retired);
        }
    }
}

/// Makes the table (and sled) hold everything the retired journal files do, durably, then
/// discards them (one may be kept to be written over: [`journal::discard`]).
///
/// A checkpoint saves the whole table, so one whose save would be larger than the journal
/// files it lets go is put off until enough have retired: a hub keeping many executions
/// writes its table at most once per as many journal bytes, and replays at most that many
/// at start. (With one busy hook at the default retention the save is ~1 MiB, less than a
/// journal file: every file is checkpointed as it retires.)
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
    if journal_bytes < shared.table.saved_len() {
        shared.lock().held = files;
        return;
    }
    match shared.make_durable() {
        Ok(()) => {
            let dir = files.first().and_then(|f| f.parent());
            let in_use = shared.in_use.lock().expect("overlay lock poisoned").clone();
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

/// The log's table, its writes through the overlay and the journal. Writes are not durable
/// until [`super::Storage::sync`]; reads see them at once.
pub(super) struct DeferredTree {
    tag: u8,
    overlay: Arc<Overlay>,
    journal: Arc<Journal>,
}

impl DeferredTree {
    pub(super) fn new(tag: u8, overlay: Arc<Overlay>, journal: Arc<Journal>) -> Self {
        Self {
            tag,
            overlay,
            journal,
        }
    }

    fn shared(&self) -> &Shared {
        &self.overlay.shared
    }

    /// Applies the writes in order, as one journal record (a replay applies it whole); returns
    /// the record's journal position.
    pub(super) fn apply_batch(&self, mut batch: Batch) -> u64 {
        let shared = self.shared();
        // The overlay's copies are made before the lock every writer and the applier take.
        // Each write's value, and where a record's parts will be in the journal record (for the
        // table to point there).
        let journaled = shared.payloads.is_some();
        let values: Vec<(Option<IVec>, Option<Parts>)> = journal::value_offsets(&batch)
            .zip(&batch.writes)
            .map(|(offset, w)| {
                let parts = offset.filter(|_| journaled).and_then(|at| Parts::of(w, at));
                (w.value.as_deref().map(IVec::from), parts)
            })
            .collect();
        let (first, over, pos) = {
            let mut state = shared.lock();
            let first = state.order.is_empty();
            let now = Instant::now();
            // Journaled under the overlay's lock, so the journal has a key's writes in the
            // order the overlay took them.
            let (pos, record) = self
                .journal
                .append_placed(|out| journal::encode_batch(self.tag, &batch, out));
            // The keys move into the overlay; the records are dropped once the lock is let go.
            for (write, (value, parts)) in batch.writes.iter_mut().zip(values) {
                let key = std::mem::take(&mut write.key);
                shared.put(
                    &mut state,
                    (key, value, write.fresh),
                    (now, batch.settled),
                    (pos, parts.map(|p| (p, record))),
                );
            }
            (first, state.bytes > HARD_LIMIT, pos)
        };
        if first {
            // The applier sleeps while there is nothing to apply.
            shared.wake.notify_one();
        }
        if over && shared.disk.health.failure().is_none() {
            // the table is behind: this writer applies one turn's worth itself (far more than it
            // wrote), so every writer past the limit pays a little. Applying all that is due
            // (everything, past the soft limit) made one unlucky delivery apply 16 MiB while
            // the others waited on the apply lock: a p99 of 100-270 ms at saturation.
            if let Err(e) = shared.apply_turn(Due::Ripe) {
                tracing::warn!(error = %e, "could not apply journaled writes to the database");
            }
        }
        pos
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) {
        let mut batch = Batch::default();
        batch.remove(key.as_ref());
        self.apply_batch(batch);
    }

    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        let key = key.as_ref();
        if let Some(slot) = self.shared().lock().map.get(key) {
            return Ok(slot.value.clone());
        }
        Ok(self.shared().table.get(key))
    }

    pub(super) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Merged {
        self.range_front(range, usize::MAX)
    }

    /// The front of a range, read as [`DeferredTree::range`] reads all of it, but with at most
    /// `most` (at least one) of the values waiting in the overlay, and the removals among
    /// them: when more wait in the range, it ends at the last one copied, so it still yields
    /// at least `most` entries. A reader that wants only the first few entries copies about
    /// that many, not every write waiting at the range's far end (pruning reads a busy hook's
    /// oldest index entries; its newest, thousands at saturation, wait in the overlay). Whoever
    /// needs what lies past that end reads again from there.
    pub(super) fn range_front<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: R,
        most: usize,
    ) -> Merged {
        let lower = range.start_bound().map(|k| k.as_ref().to_vec());
        let mut upper = range.end_bound().map(|k| k.as_ref().to_vec());
        let mut waiting = VecDeque::new();
        if !is_empty(&lower, &upper) {
            let state = self.shared().lock();
            let mut values = 0;
            for (key, slot) in state
                .map
                .range::<[u8], _>((as_slice(&lower), as_slice(&upper)))
            {
                if values == most.max(1) {
                    // The table is read up to the last key copied: past it, the overlay was not.
                    let (last, _) = waiting.back().expect("a value was copied");
                    upper = Bound::Included(Vec::clone(last));
                    break;
                }
                values += usize::from(slot.value.is_some());
                waiting.push_back((key.clone(), slot.value.clone()));
            }
        }
        Merged {
            table: self.shared().table.range(lower, upper),
            waiting,
            front: None,
            back: None,
        }
    }

    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Merged {
        let prefix = prefix.as_ref().to_vec();
        match successor(&prefix) {
            Some(end) => self.range(prefix..end),
            None => self.range(prefix..),
        }
    }
}

fn queue_cost(key: &[u8]) -> usize {
    key.len() + ENTRY_OVERHEAD
}

fn slot_cost(key: &[u8], value: &Option<impl AsRef<[u8]>>) -> usize {
    key.len() + value_len(value) + ENTRY_OVERHEAD
}

fn value_len(value: &Option<impl AsRef<[u8]>>) -> usize {
    value.as_ref().map_or(0, |v| v.as_ref().len())
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

/// The table's entries in a range with the overlay's waiting writes laid over them, in key
/// order either way.
pub(super) struct Merged {
    table: table::Iter,
    waiting: VecDeque<(Vec<u8>, Option<IVec>)>,
    /// An entry read from the table's front (back) not yet yielded.
    front: Option<(IVec, IVec)>,
    back: Option<(IVec, IVec)>,
}

type Item = sled::Result<(IVec, IVec)>;

impl Merged {
    /// The next entry from the front (`forward`) or the back.
    fn step(&mut self, forward: bool) -> Option<Item> {
        let Merged {
            table,
            waiting,
            front,
            back,
        } = self;
        let (mine, other) = if forward {
            (front, back)
        } else {
            (back, front)
        };
        loop {
            if mine.is_none() {
                let next = if forward {
                    table.next()
                } else {
                    table.next_back()
                };
                // The table is used up from both ends; the other end may hold its last entry.
                *mine = next.or_else(|| other.take());
            }
            let over = if forward {
                waiting.front()
            } else {
                waiting.back()
            };
            let under = mine.as_ref().map(|(k, _)| k.as_ref());
            match pick(over.map(|(k, _)| k.as_slice()), under, forward) {
                Pick::Done => return None,
                Pick::Under => return mine.take().map(Ok),
                Pick::Over { shadows } => {
                    if shadows {
                        *mine = None;
                    }
                    let taken = if forward {
                        waiting.pop_front()
                    } else {
                        waiting.pop_back()
                    };
                    let (key, value) = taken.expect("picked");
                    // The applier may move this key into the table before the table is read
                    // that far: it is done with here.
                    table.passed(&key, forward);
                    if let Some(value) = value {
                        return Some(Ok((IVec::from(key), value)));
                    }
                }
            }
        }
    }
}

impl Iterator for Merged {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for Merged {
    fn next_back(&mut self) -> Option<Item> {
        self.step(false)
    }
}

enum Pick {
    Done,
    /// The table's entry comes first.
    Under,
    /// The overlay's comes first; `shadows` when it has the table's key, which it replaces.
    Over {
        shadows: bool,
    },
}

/// Which of the overlay's and the table's next entries comes first in the direction of travel; the
/// overlay wins a tie.
fn pick(over: Option<&[u8]>, under: Option<&[u8]>, forward: bool) -> Pick {
    match (over, under) {
        (None, None) => Pick::Done,
        (None, Some(_)) => Pick::Under,
        (Some(_), None) => Pick::Over { shadows: false },
        (Some(o), Some(u)) if o == u => Pick::Over { shadows: true },
        (Some(o), Some(u)) if (o < u) == forward => Pick::Over { shadows: false },
        (Some(_), Some(_)) => Pick::Under,
    }
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
