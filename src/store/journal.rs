//! The journal: a redo log of every store write, and the store's durability.
//!
//! sled's own flush persists with `sync_file_range`, which does not reach the disk's cache or
//! the file's metadata, and costs several system calls under load. So each write is applied to
//! sled (an in-memory cache as far as durability goes) and appended to the journal; a key's
//! writes reach the journal in the order they were made (see [`Journal::write`]). One thread writes
//! the journal's pending bytes and calls `fdatasync`; every caller of [`Journal::sync`] waiting
//! meanwhile is answered by that one call (group commit), exactly like the benchmark's durable
//! ceiling. A large payload is not in its record: the record says where it is, and the journal
//! thread writes it before the frame that holds the record and syncs it beside the frame's sync
//! (`payloads/staged.rs`).
//!
//! At open, journal files left by the previous run are replayed into sled (all but the newest
//! frame, if a staged payload it points at did not reach the disk), sled is fsynced and
//! the files discarded; a clean shutdown ([`Journal::close_after`]) makes sled durable and
//! discards them itself, so only a crash leaves any to replay. While running, the journal is
//! rotated when it grows or ages: the old file is handed to the [`Checkpoints`]' thread, which
//! discards it once sled holds all of it durably. The appends decide when a file is full, not
//! the journal thread, so each append knows the file and offset its record lands at
//! ([`Place`]), before it is written.
//!
//! A file the log's table points into (records' JSON and payloads stay where the journal
//! wrote them, `payloads.rs`) is not discarded after its checkpoint but kept, renamed
//! `.kept`: read, never replayed nor written over, and let go once a saved table no longer
//! points into it ([`let_go_kept`]).
//!
//! Discarding keeps one full-sized file as the spare that the next rotation writes over: an
//! `fdatasync` after writing over blocks a file already has is a data flush alone, while one
//! after an append also commits the file's new size and blocks to the filesystem's journal
//! (p50 0.22 → 0.16 ms, and less CPU per sync, on this project's machines). The checkpoint
//! thread renames the spare to the next file's name ahead of the rotation
//! ([`make_next_ready`]), so a rotation only switches files. So that what the file held
//! before cannot pass for new records, each write of the journal thread is framed with a
//! checksum seeded with the file's number.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::health::{Failure, Health};
use super::log_tree::{Batch, Checkpoints};
use super::payloads::Payloads;

/// A journal file is rotated past this size (its checkpoint is then about ten times a second at
/// saturation: 4, 8, 16 and 32 MiB measured alike, while the journal's share of the data dir,
/// this file and its spare, went from 64 MiB to 8; BENCHMARKS.md)…
const ROTATE_BYTES: u64 = 4 * 1024 * 1024;
/// …or this age, so replay stays short and pruned records are not resurrected.
const ROTATE_AGE: Duration = Duration::from_secs(300);

/// One write to one tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    Put {
        tree: u8,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        tree: u8,
        key: Vec<u8>,
    },
}

/// Durable positions, or why the journal stopped.
type Durable = Result<u64, Failure>;

/// What the journal has on disk, shared with the log's checkpoints (a save holds nothing past
/// it, so the table's saves never hold a write the journal could not keep), with readers of
/// records' bytes in the journal's files, and with the store's health (which a failed write
/// turns bad).
#[derive(Debug, Default)]
pub(super) struct Disk {
    /// Bytes appended since the journal opened that are on disk.
    durable: AtomicU64,
    /// The journal file written last and where its written bytes end: a place before is
    /// readable.
    pub(super) written: Mutex<Place>,
    pub health: Arc<Health>,
    /// The file the next rotation starts, made ready ahead of it ([`make_next_ready`]).
    next: Mutex<NextFile>,
}

/// The journal file the next rotation starts.
#[derive(Debug, Default)]
struct NextFile {
    /// The number the journal rotates to next; 0 until a journal has opened.
    number: u64,
    /// That file, its name on disk already.
    ready: Option<File>,
}

impl Disk {
    pub(super) fn new(health: Arc<Health>) -> Self {
        Self {
            health,
            ..Self::default()
        }
    }

    /// Whether the write journaled at `pos` (the append count after it) is on disk.
    pub(super) fn is_durable(&self, pos: u64) -> bool {
        pos <= self.durable.load(Ordering::Acquire)
    }

    fn written(&self) -> MutexGuard<'_, Place> {
        self.written.lock().expect("journal lock poisoned")
    }

    fn next(&self) -> MutexGuard<'_, NextFile> {
        self.next.lock().expect("journal lock poisoned")
    }

    /// Journal file `number`, the next after the one written now: the file made ready for it,
    /// or one started now if none was.
    fn take_next(&self, dir: &Path, number: u64) -> io::Result<File> {
        let mut next = self.next();
        let file = match next.ready.take() {
            Some(ready) if next.number == number => ready,
            _ => start_file(dir, number)?,
        };
        next.number = number + 1;
        Ok(file)
    }

    /// Waits until the journal has written the `len` bytes at `place`: a writer puts a record
    /// in the log's table as it appends it, before the journal thread writes it. Fails when the
    /// journal failed ([`Unwritten`]: it never will) or takes far longer than a sync.
    pub(super) fn wait_written(&self, place: Place, len: u64) -> io::Result<()> {
        let end = place.offset + len;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let written = *self.written();
            if place.file < written.file || (place.file == written.file && end <= written.offset) {
                return Ok(());
            }
            if let Some(failure) = self.health.failure() {
                return Err(io::Error::other(Unwritten(failure)));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("journal file {} was not written in time", place.file),
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// Why a record's bytes cannot be read: the store failed before the journal wrote them. The
/// reopen after the failure keeps the record only if the journal wrote it after all; until
/// then readers pass it over.
#[derive(Debug, thiserror::Error)]
#[error("the journal failed before it wrote these bytes: {}", .0.message())]
pub(super) struct Unwritten(pub Failure);

impl Unwritten {
    /// Whether `error` is one.
    pub(super) fn is(error: &io::Error) -> bool {
        error.get_ref().is_some_and(|e| e.is::<Unwritten>())
    }
}

pub(super) struct Journal {
    shared: Arc<Shared>,
    /// Where each group commit's waiters hear of it: group `n` on `durable[n % 2]`. At most two
    /// groups wait at a time (the one being synced and the one gathering behind it), so a sync
    /// wakes only its own group's callers, not the next group's, who would find their bytes
    /// not synced yet and wait again.
    durable: [watch::Receiver<Durable>; 2],
    disk: Arc<Disk>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
}

struct Shared {
    state: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// Bytes appended since open, frame headers included; a position in this count is what
    /// `sync` waits for.
    appended: u64,
    /// The journal file the pending bytes go to: the append side decides when a file is full,
    /// so that an append knows where its record will be ([`Place`]).
    file: u64,
    /// `appended` at `file`'s first byte: a position's offset in the file is its distance
    /// from here.
    file_start: u64,
    /// When `file` took its first bytes.
    file_opened: Option<Instant>,
    closing: bool,
    /// The journal thread waits for bytes: only then does an append need to wake it (a wake
    /// is a system call, and under load the thread is nearly always busy syncing).
    idle: bool,
    /// A write failed: nothing more is taken (see [`write_loop`]).
    failed: bool,
    /// Group commits taken by the journal thread: the bytes pending now will be group `taken`.
    taken: u64,
    /// `appended` when the journal thread last took the pending bytes.
    taken_through: u64,
}

impl Pending {
    /// Adds the record `encode` writes straight into the pending bytes (no copy of it made
    /// first); true when the journal thread has to be woken for it. After a failed write the
    /// record is dropped: the store refuses writes until it is reopened, and whoever made this
    /// one will hear so from [`Journal::sync`].
    fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> (bool, Place) {
        if self.bytes.is_empty() {
            // A new frame: in a new file if this one is full or old (a frame is never split).
            self.next_file_if_due();
            // Room for the frame's header, which the journal thread fills in.
            self.bytes.extend_from_slice(&[0; FRAME_HEADER]);
            self.appended += FRAME_HEADER as u64;
        }
        let place = Place {
            file: self.file,
            offset: self.appended - self.file_start,
        };
        let start = self.bytes.len();
        encode(&mut self.bytes);
        self.appended += (self.bytes.len() - start) as u64;
        if self.failed {
            self.bytes.clear();
            return (false, place);
        }
        (self.idle, place)
    }

    /// Moves the next frame to a new file once the current one holds [`ROTATE_BYTES`], or
    /// anything for [`ROTATE_AGE`].
    fn next_file_if_due(&mut self) {
        let size = self.appended - self.file_start;
        let aged = self
            .file_opened
            .is_some_and(|at| at.elapsed() >= ROTATE_AGE);
        if size >= ROTATE_BYTES || (size > 0 && aged) {
            self.file += 1;
            self.file_start = self.appended;
            self.file_opened = None;
        }
        self.file_opened.get_or_insert_with(Instant::now);
    }
}

/// Where an appended record is, once the journal thread has written it: its journal file's
/// number and the offset in that file of the record's first byte (its length).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    pub file: u64,
    pub offset: u64,
}

/// The write side, owned by the journal thread.
struct Writer {
    dir: PathBuf,
    checkpoints: Arc<Checkpoints>,
    disk: Arc<Disk>,
    file: File,
    number: u64,
    size: u64,
}

/// The database and the directory its files are in (sled does not say).
#[derive(Clone)]
pub(super) struct Sled {
    pub db: sled::Db,
    pub path: PathBuf,
}

impl Journal {
    /// Replays what a previous run left in `dir` into `trees` (indexed by their tag; the first
    /// is the log's, written through `checkpoints`), then starts a new journal file and its
    /// thread. Retired files go to `checkpoints`' thread.
    pub(super) fn open(
        dir: &Path,
        trees: &[&sled::Tree],
        checkpoints: Arc<Checkpoints>,
    ) -> io::Result<Self> {
        let disk = checkpoints.disk();
        let files = journal_files(dir)?;
        // Past every number used, the spare's included.
        let number = files.last().map_or(1, |f| f.number + 1);
        // Every file before this run's first is written.
        *disk.written() = Place {
            file: number,
            offset: 0,
        };
        let old: Vec<JournalFile> = files.into_iter().filter(|f| f.kind.is_replayed()).collect();
        let replay = |op: Op| {
            match op {
                // The log's tree (tag 0) is written the way its writers write it.
                Op::Put {
                    tree: 0,
                    key,
                    value,
                } => checkpoints.replay(key, Some(value)),
                Op::Remove { tree: 0, key } => checkpoints.replay(key, None),
                op => apply(trees, &op),
            }
            .map_err(io::Error::other)
        };
        // Each frame is replayed once the next is read (two in memory at most): the newest is
        // checked first.
        let mut newest = Vec::new();
        let mut replayed = 0usize;
        for file in &old {
            read_frames(file, |frame| {
                let older = std::mem::replace(&mut newest, frame);
                replayed += older.len();
                older.into_iter().try_for_each(replay)
            })?;
        }
        match lost_payload(&newest, checkpoints.payloads()) {
            None => {
                replayed += newest.len();
                newest.into_iter().try_for_each(replay)?;
            }
            Some(e) => tracing::warn!(
                error = %e,
                "the journal's last write points at a payload that did not reach the disk; \
                 none of its deliveries was answered, so it is dropped"
            ),
        }
        if !old.is_empty() {
            checkpoints.make_durable()?;
            let paths: Vec<PathBuf> = old.iter().map(|f| f.path.clone()).collect();
            discard(dir, &paths, &checkpoints.journal_files_in_use())?;
            if replayed > 0 {
                tracing::info!(writes = replayed, "replayed the journal");
            }
        }
        let first = start_file(dir, number)?;
        *disk.next() = NextFile {
            number: number + 1,
            ready: None,
        };
        let writer = Writer::new(dir, checkpoints, disk.clone(), number, first);
        let shared = Arc::new(Shared {
            state: Mutex::new(Pending {
                file: number,
                ..Pending::default()
            }),
            wake: Condvar::new(),
        });
        let (even, even_rx) = watch::channel(Ok(0));
        let (odd, odd_rx) = watch::channel(Ok(0));
        let durable = [even_rx, odd_rx];
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hookhub-journal".into())
            .spawn(move || write_loop(writer, &thread_shared, &[even, odd]))?;
        Ok(Self {
            shared,
            durable,
            disk,
            thread: Mutex::new(Some(thread)),
            dir: dir.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.shared.state.lock().expect("journal lock poisoned")
    }

    /// Runs `apply`, which writes to sled and returns the ops it made, and appends those ops.
    /// The sled write happens outside the journal's lock, so writers do not queue behind each
    /// other's sled work; two writers of the same key may then be journaled in either order,
    /// which is fine where each key has one writer at a time (an execution's worker). Use
    /// [`Journal::write_ordered`] where writers race on a key.
    pub(super) fn write<T, E>(
        &self,
        apply: impl FnOnce() -> Result<(T, Vec<Op>), E>,
    ) -> Result<T, E> {
        let (result, ops) = apply()?;
        if !ops.is_empty() {
            self.append(|out| encode_record(&ops, out));
        }
        Ok(result)
    }

    /// [`Journal::write`] with the sled write inside the journal's lock, so the journal's
    /// order is the order in which the writes happened (for compare-and-swap).
    pub(super) fn write_ordered<T, E>(
        &self,
        apply: impl FnOnce() -> Result<(T, Vec<Op>), E>,
    ) -> Result<T, E> {
        let mut pending = self.lock();
        let (result, ops) = apply()?;
        if !ops.is_empty() {
            let (wake, _) = pending.push(|out| encode_record(&ops, out));
            drop(pending);
            if wake {
                self.shared.wake.notify_one();
            }
        }
        Ok(result)
    }

    /// Appends the record `encode` writes into the pending bytes (see [`encode_batch`]);
    /// returns its position, the append count once it is in (see [`Disk::is_durable`]).
    pub(super) fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) -> u64 {
        self.append_placed(encode).0
    }

    /// [`Journal::append`], and where the record will be in the journal's files.
    pub(super) fn append_placed(&self, encode: impl FnOnce(&mut Vec<u8>)) -> (u64, Place) {
        let (wake, place, pos) = {
            let mut pending = self.lock();
            let (wake, place) = pending.push(encode);
            (wake, place, pending.appended)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        (pos, place)
    }

    /// Waits until every write made before this call is on disk; fails when the journal could
    /// not write (the disk is full, read-only or failing) and writes are refused until the
    /// store is reopened.
    pub(super) async fn sync(&self) -> Result<(), Failure> {
        let (target, group) = {
            let pending = self.lock();
            // Taken already: in the group being synced (or one synced before it, whose channel
            // holds its end or a later one).
            let group = match pending.appended <= pending.taken_through {
                true => pending.taken.wrapping_sub(1),
                false => pending.taken,
            };
            (pending.appended, group)
        };
        if self.disk.is_durable(target) {
            return Ok(());
        }
        let mut durable = self.durable[(group % 2) as usize].clone();
        let reached = durable
            .wait_for(|d| d.as_ref().map_or(true, |at| *at >= target))
            .await
            .map_err(|_| Failure::Failing)?;
        reached.as_ref().map(|_| ()).map_err(|f| *f)
    }

    /// Writes what is pending and stops the thread.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.shared.wake.notify_one();
        let thread = self.thread.lock().expect("journal lock poisoned").take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Stops the thread, runs `checkpoint`, which must make every write made so far durable
    /// without the journal, and then discards the journal's files, so that the next open has
    /// nothing to replay. If `checkpoint` fails the files stay, for the next open to replay.
    /// `checkpoint` returns the journal files the table it saved points into, which are kept.
    pub(super) fn close_after(
        &self,
        checkpoint: impl FnOnce() -> io::Result<BTreeSet<u64>>,
    ) -> io::Result<()> {
        self.close();
        let in_use = checkpoint()?;
        let files: Vec<PathBuf> = journal_files(&self.dir)?
            .into_iter()
            .filter(|f| f.kind.is_replayed())
            .map(|f| f.path)
            .collect();
        discard(&self.dir, &files, &in_use)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.close();
    }
}

/// Takes pending bytes, writes and fdatasyncs them, publishes the new durable position to
/// the group's waiters (see [`Journal::durable`]).
fn write_loop(mut writer: Writer, shared: &Shared, durable: &[watch::Sender<Durable>; 2]) {
    // The buffer written last, emptied, goes back for the next group to fill: it keeps its
    // capacity, so appends do not grow a new buffer from nothing for every group commit.
    let mut spare = Vec::new();
    loop {
        let (mut bytes, place, end, group, closing) = {
            let mut pending = shared.state.lock().expect("journal lock poisoned");
            while pending.bytes.is_empty() && !pending.closing {
                pending.idle = true;
                pending = shared.wake.wait(pending).expect("journal lock poisoned");
                pending.idle = false;
            }
            let bytes = std::mem::replace(&mut pending.bytes, std::mem::take(&mut spare));
            // Where the appends placed this frame (see `Pending::push`).
            let place = Place {
                file: pending.file,
                offset: pending.taken_through.saturating_sub(pending.file_start),
            };
            let group = pending.taken;
            if !bytes.is_empty() {
                pending.taken = group.wrapping_add(1);
                pending.taken_through = pending.appended;
            }
            (bytes, place, pending.appended, group, pending.closing)
        };
        if !bytes.is_empty() {
            let started = Instant::now();
            let written = writer.move_to(place).and_then(|retired| {
                writer.append(&mut bytes)?;
                Ok(retired)
            });
            let retired = match written {
                Ok(retired) => retired,
                Err(e) => {
                    // What was taken is not on disk, and nothing after it will be: the records
                    // still to come could depend on these. The failure is final for this journal;
                    // the store is reopened once the disk takes writes again.
                    writer.disk.health.failed(&e);
                    writer.cut_back();
                    shared.state.lock().expect("journal lock poisoned").failed = true;
                    for waiters in durable {
                        let _ = waiters.send_replace(Err(Failure::of(&e)));
                    }
                    wait_for_close(shared);
                    return;
                }
            };
            *writer.disk.written() = Place {
                file: place.file,
                offset: place.offset + bytes.len() as u64,
            };
            writer.disk.durable.store(end, Ordering::Release);
            let _ = durable[(group % 2) as usize].send_replace(Ok(end));
            crate::telemetry::journal_sync(started.elapsed());
            // Handed over once this group's waiters are woken: the checkpoint thread, woken
            // sooner, could take this thread's core while they wait.
            if let Some(retired) = retired {
                writer.checkpoints.retire(retired);
            }
            if bytes.capacity() <= SPARE_CAPACITY {
                bytes.clear();
                spare = bytes;
            }
        }
        if closing {
            return;
        }
    }
}

/// Drops whatever is appended until the journal is closed.
fn wait_for_close(shared: &Shared) {
    let mut pending = shared.state.lock().expect("journal lock poisoned");
    while !pending.closing {
        pending.bytes.clear();
        pending = shared.wake.wait(pending).expect("journal lock poisoned");
    }
}

impl Writer {
    /// Writes journal file `number`, just started ([`start_file`]).
    fn new(
        dir: &Path,
        checkpoints: Arc<Checkpoints>,
        disk: Arc<Disk>,
        number: u64,
        file: File,
    ) -> Self {
        Self {
            dir: dir.to_path_buf(),
            checkpoints,
            disk,
            file,
            number,
            size: 0,
        }
    }

    /// Writes `frame` (a header's room, then records) after what the file holds, and syncs.
    fn append(&mut self, frame: &mut [u8]) -> io::Result<()> {
        let body_len = u32::try_from(frame.len() - FRAME_HEADER)
            .map_err(|_| io::Error::other("a journal write of 4 GiB or more"))?;
        let crc = frame_crc(self.number, &frame[FRAME_HEADER..]);
        frame[..4].copy_from_slice(&body_len.to_le_bytes());
        frame[4..FRAME_HEADER].copy_from_slice(&crc.to_le_bytes());
        // The payloads these records point at are written first, so that no record reaches
        // the disk before them on a kill -9. Their sync runs beside the frame's (one sync
        // after the other cost 1 MB deliveries a quarter of their rate, BENCHMARKS.md); a
        // power cut between the two could keep this frame and lose a payload, and the replay
        // drops such a frame ([`lost_payload`]). Only the newest frame can be one: the next
        // is written once both syncs are done.
        let staged = match self.checkpoints.payloads() {
            Some(payloads) => payloads.write_staged()?,
            None => None,
        };
        self.file.write_all_at(frame, self.size)?;
        match staged {
            None => self.file.sync_data()?,
            Some(staged) => std::thread::scope(|scope| {
                // `scope.spawn` would panic if no thread can be had: then one after the other.
                let helper = std::thread::Builder::new()
                    .name("hookhub-staged".into())
                    .spawn_scoped(scope, || staged.sync());
                let journal = self.file.sync_data();
                let payloads = match helper {
                    Ok(helper) => helper.join().unwrap_or_else(|_| {
                        Err(io::Error::other("syncing staged payloads panicked"))
                    }),
                    Err(_) => staged.sync(),
                };
                journal.and(payloads)
            })?,
        }
        self.size += frame.len() as u64;
        Ok(())
    }

    /// After a failed write: cuts the file back to what was synced, so that bytes the failed
    /// write left (which a later writeback could still put on disk) can never be replayed.
    /// Shrinking needs no free space. If even that fails the torn frame's checksum still ends
    /// the replay there.
    fn cut_back(&self) {
        let cut = self
            .file
            .set_len(self.size)
            .and_then(|()| self.file.sync_all());
        if let Err(e) = cut {
            tracing::warn!(error = %e, "could not cut the journal back to its last synced write");
        }
    }

    /// Gets ready to write a frame the appends placed at `place`: starts the next file when
    /// they moved to it, and returns the file it retired. A file that cannot be started fails
    /// the journal, as a failed write does: the frame's records were told where they would be.
    fn move_to(&mut self, place: Place) -> io::Result<Option<PathBuf>> {
        let mut retired = None;
        if place.file != self.number {
            debug_assert_eq!(place.file, self.number + 1, "the appends skipped a file");
            retired = Some(self.rotate()?);
        }
        debug_assert_eq!(
            place.offset, self.size,
            "a frame written where it was not placed"
        );
        Ok(retired)
    }

    /// Starts the next file (made ready ahead, as a rule: [`make_next_ready`]) and returns the
    /// old one, for the checkpoint thread to remove once the table and sled hold everything it
    /// did, durably. Every write in it was made (to sled or the table) before it was journaled.
    fn rotate(&mut self) -> io::Result<PathBuf> {
        let number = self.number + 1;
        let file = self.disk.take_next(&self.dir, number)?;
        let next = Writer::new(
            &self.dir,
            self.checkpoints.clone(),
            self.disk.clone(),
            number,
            file,
        );
        let old = std::mem::replace(self, next);
        Ok(journal_path(&old.dir, old.number))
    }
}

/// Starts journal file `number`: the file a failed [`make_next_ready`] named but did not sync,
/// else the spare, renamed, if there is one, else a new file. The directory is synced before
/// it returns, so that the file's name is on disk before any record written to it.
fn start_file(dir: &Path, number: u64) -> io::Result<File> {
    let path = journal_path(dir, number);
    let file = match OpenOptions::new().write(true).open(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => match spare(dir)? {
            Some(spare) => {
                fs::rename(&spare.path, &path)?;
                OpenOptions::new().write(true).open(&path)?
            }
            None => OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(super::private::FILE_MODE)
                .open(&path)?,
        },
        opened => opened?,
    };
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Makes the journal's next file ready before the rotation that starts it, on the checkpoint
/// thread: renaming the spare and syncing the directory took the journal thread ~0.4 ms, and
/// every delivery waiting on that group commit waited with it (BENCHMARKS.md). Called after
/// each checkpoint, which has just made a spare, as a rule. The file is named as the journal
/// file it will be; until the journal writes it, what it holds is what it held as the spare,
/// whose frames are checksummed with the spare's own number and so end its replay at once,
/// as in a file the rotation just started.
pub(super) fn make_next_ready(dir: &Path, disk: &Disk) {
    let mut next = disk.next();
    if next.number == 0 || next.ready.is_some() {
        return;
    }
    match start_file(dir, next.number) {
        Ok(file) => next.ready = Some(file),
        // The rotation tries again itself, and fails the journal if it cannot either.
        Err(e) => tracing::debug!(error = %e, "could not make the next journal file ready"),
    }
}

/// Flushes sled and fsyncs its files: sled's flush alone uses `sync_file_range`.
pub(super) fn make_sled_durable(sled: &Sled) -> io::Result<()> {
    sled.db.flush().map_err(io::Error::other)?;
    fsync_tree(&sled.path)
}

fn fsync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let synced = if entry.file_type()?.is_dir() {
            fsync_tree(&path)
        } else {
            File::open(&path).and_then(|f| f.sync_all())
        };
        match synced {
            // sled removes blob files it no longer needs while we walk.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    File::open(dir)?.sync_all()
}

/// Journal file `number`. Files named `.log` are from before frames (read, never written).
fn journal_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("journal-{number:012}.wal"))
}

/// Journal file `number` once it is [`Kind::Kept`].
pub(super) fn kept_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("journal-{number:012}.kept"))
}

/// Opens journal file `number` in `dir`, running or kept, to read a record's JSON or payload
/// the table points at.
pub(super) fn open_for_reading(dir: &Path, number: u64) -> io::Result<File> {
    match File::open(journal_path(dir, number)) {
        // Kept since the table took the record: renamed, never back.
        Err(e) if e.kind() == io::ErrorKind::NotFound => File::open(kept_path(dir, number)),
        opened => opened,
    }
}

/// What a journal file in the directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Frames of records (see the format below).
    Framed,
    /// Bare records with unseeded checksums: written before frames; read (by `migrate.rs`),
    /// never written.
    Unframed,
    /// Sled holds its writes durably; the next rotation writes over it. It keeps its number,
    /// so numbers never repeat and no frame it still holds passes for a later file's.
    Spare,
    /// The table holds its writes durably, and points into it for records' JSON and payloads
    /// (`payloads.rs`, [`super::payloads::Journaled`]): kept for reading, never replayed, let
    /// go once a saved table no longer points in.
    Kept,
}

impl Kind {
    /// Whether a file of this kind holds writes a start replays.
    fn is_replayed(self) -> bool {
        matches!(self, Kind::Framed | Kind::Unframed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct JournalFile {
    number: u64,
    kind: Kind,
    path: PathBuf,
}

impl JournalFile {
    fn parse(path: PathBuf) -> Option<Self> {
        let (number, suffix) = path
            .file_name()?
            .to_str()?
            .strip_prefix("journal-")?
            .split_once('.')?;
        let kind = match suffix {
            "wal" => Kind::Framed,
            "log" => Kind::Unframed,
            "spare" => Kind::Spare,
            "kept" => Kind::Kept,
            _ => return None,
        };
        let number = number.parse().ok()?;
        Some(Self { number, kind, path })
    }
}

/// Journal files in `dir`, spares included, by number.
fn journal_files(dir: &Path) -> io::Result<Vec<JournalFile>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        files.extend(JournalFile::parse(entry?.path()));
    }
    files.sort();
    Ok(files)
}

fn spare(dir: &Path) -> io::Result<Option<JournalFile>> {
    Ok(journal_files(dir)?
        .into_iter()
        .find(|f| f.kind == Kind::Spare))
}

/// Gets rid of journal files whose writes sled and the table hold durably: those the saved
/// table points into (`in_use`) are kept, the first full-sized one of the others becomes the
/// spare if there is none, the rest are deleted. Goes on past a file it cannot handle and
/// returns the first such error.
pub(super) fn discard(dir: &Path, files: &[PathBuf], in_use: &BTreeSet<u64>) -> io::Result<()> {
    let mut have_spare = spare(dir)?.is_some();
    let mut first_error = None;
    for path in files {
        let full = fs::metadata(path).is_ok_and(|m| m.len() >= ROTATE_BYTES);
        let file = JournalFile::parse(path.clone());
        let done = match file {
            Some(file) if in_use.contains(&file.number) => match file.kind {
                Kind::Kept => Ok(()),
                _ => fs::rename(path, kept_path(dir, file.number)),
            },
            Some(file) if full && !have_spare => {
                let spare = dir.join(format!("journal-{:012}.spare", file.number));
                fs::rename(path, spare).map(|()| have_spare = true)
            }
            _ => fs::remove_file(path),
        };
        if let Err(e) = done
            && e.kind() != io::ErrorKind::NotFound
        {
            first_error.get_or_insert(e);
        }
    }
    // Made durable now, so that no crash brings a discarded file back to be replayed over
    // newer writes.
    File::open(dir)?.sync_all()?;
    first_error.map_or(Ok(()), Err)
}

/// The numbers of the kept journal files in `dir`.
pub(super) fn kept_files(dir: &Path) -> io::Result<Vec<u64>> {
    let files = journal_files(dir)?.into_iter();
    Ok(files
        .filter(|f| f.kind == Kind::Kept)
        .map(|f| f.number)
        .collect())
}

/// Lets go of the kept journal files no saved table points into any more (`in_use` are those it
/// does), as [`discard`] does.
pub(super) fn let_go_kept(dir: &Path, in_use: &BTreeSet<u64>) -> io::Result<()> {
    let unused: Vec<PathBuf> = kept_files(dir)?
        .into_iter()
        .filter(|number| !in_use.contains(number))
        .map(|number| kept_path(dir, number))
        .collect();
    match unused.is_empty() {
        true => Ok(()),
        false => discard(dir, &unused, in_use),
    }
}

fn apply(trees: &[&sled::Tree], op: &Op) -> sled::Result<()> {
    match op {
        Op::Put { tree, key, value } => {
            if let Some(t) = trees.get(*tree as usize) {
                t.insert(key.as_slice(), value.as_slice())?;
            }
        }
        Op::Remove { tree, key } => {
            if let Some(t) = trees.get(*tree as usize) {
                t.remove(key.as_slice())?;
            }
        }
    }
    Ok(())
}

// A file is a run of frames, one per write of the journal thread: `len: u32 LE`,
// `crc32(body) seeded with the file's number: u32 LE`, then `body`: records. A record is
// `len: u32 LE`, `crc32(body): u32 LE`, then `body`: ops, each `kind: u8` (1 put, 2 remove),
// `tree: u8`, `key len: u32 LE`, key, and for puts `value len: u32 LE`, value. A torn or corrupt
// frame or record ends the file's replay; so does a frame of the file's earlier life.

/// Bytes before a frame's records.
const FRAME_HEADER: usize = 8;
/// The largest buffer the journal thread keeps for the next group commit; a burst's larger
/// one is freed.
const SPARE_CAPACITY: usize = 1024 * 1024;

fn frame_crc(number: u64, body: &[u8]) -> u32 {
    // Truncated: numbers 2^32 apart never share a directory.
    let mut hasher = crc32fast::Hasher::new_with_initial(number as u32);
    hasher.update(body);
    hasher.finalize()
}

fn encode_record(ops: &[Op], out: &mut Vec<u8>) {
    encode_with(out, |out| {
        for op in ops {
            match op {
                Op::Put { tree, key, value } => encode_op(out, *tree, key, Some(value)),
                Op::Remove { tree, key } => encode_op(out, *tree, key, None),
            }
        }
    });
}

/// Encodes a batch of writes to tree `tag` as one record.
pub(super) fn encode_batch(tag: u8, batch: &Batch, out: &mut Vec<u8>) {
    // Sized first, so that `out` grows once if at all.
    let ops = batch.writes().iter();
    let size = RECORD_HEADER
        + ops
            .map(|w| op_len(&w.key, w.journal_value()))
            .sum::<usize>();
    out.reserve(size);
    let start = out.len();
    encode_with(out, |out| {
        for write in batch.writes() {
            encode_op(out, tag, &write.key, write.journal_value());
        }
    });
    debug_assert_eq!(out.len() - start, size, "op_len disagrees with encode_op");
}

/// Where the value of each write of `batch` is in the record [`encode_batch`] makes of it,
/// from the record's first byte (`None` for a removal).
pub(super) fn value_offsets(batch: &Batch) -> impl Iterator<Item = Option<u64>> + '_ {
    let mut at = RECORD_HEADER as u64;
    batch.writes().iter().map(move |write| {
        let value = write.journal_value();
        let offset = value.map(|_| at + (2 + 4 + write.key.len() + 4) as u64);
        at += op_len(&write.key, value) as u64;
        offset
    })
}

fn encode_op(out: &mut Vec<u8>, tree: u8, key: &[u8], value: Option<&[u8]>) {
    match value {
        Some(value) => {
            out.extend_from_slice(&[1, tree]);
            put_bytes(out, key);
            put_bytes(out, value);
        }
        None => {
            out.extend_from_slice(&[2, tree]);
            put_bytes(out, key);
        }
    }
}

/// The bytes [`encode_op`] writes for an op: its kind and tree, then the key and the value, each
/// after its 4-byte length.
fn op_len(key: &[u8], value: Option<&[u8]>) -> usize {
    2 + 4 + key.len() + value.map_or(0, |v| 4 + v.len())
}

/// Bytes before a record's ops: their length and checksum.
const RECORD_HEADER: usize = 8;

/// Frames the ops `body` writes into `out` as a record: length, checksum, ops.
fn encode_with(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    body(out);
    let body_len = (out.len() - start - RECORD_HEADER) as u32;
    let crc = crc32fast::hash(&out[start + RECORD_HEADER..]);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + RECORD_HEADER].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Passes the ops of each frame in a journal file to `apply`, up to the first torn or corrupt
/// frame or record (the ops of a frame before a corrupt record are passed). Reads a frame at a
/// time (a reused file is mostly an earlier life's frames, never read), so memory is bounded
/// by the largest frame.
fn read_frames(
    file: &JournalFile,
    mut apply: impl FnMut(Vec<Op>) -> io::Result<()>,
) -> io::Result<()> {
    let handle = File::open(&file.path)?;
    let mut left = handle.metadata()?.len();
    let mut reader = io::BufReader::new(handle);
    let mut header = [0; FRAME_HEADER];
    let mut body = Vec::new();
    loop {
        if left < FRAME_HEADER as u64 || reader.read_exact(&mut header).is_err() {
            break;
        }
        left -= FRAME_HEADER as u64;
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let expected = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if u64::from(len) > left {
            break;
        }
        left -= u64::from(len);
        body.resize(len as usize, 0);
        reader.read_exact(&mut body)?;
        let mut ops = Vec::new();
        let complete = match file.kind {
            Kind::Unframed => super::migrate::unframed_ops(&body, expected)
                .map(|mut decoded| ops.append(&mut decoded))
                .is_some(),
            Kind::Framed if frame_crc(file.number, &body) == expected => {
                read_records(&body, &mut ops)
            }
            _ => false,
        };
        if !ops.is_empty() {
            apply(ops)?;
        }
        if !complete {
            break;
        }
    }
    Ok(())
}

/// Why the staged payload of a record in `frame` is not on disk whole, if one is not.
fn lost_payload(frame: &[Op], payloads: Option<&Payloads>) -> Option<io::Error> {
    let payloads = payloads?;
    frame.iter().find_map(|op| match op {
        Op::Put {
            tree: 0,
            key,
            value,
        } if key.first() == Some(&super::keys::EXECUTION) => {
            payloads.staged_payload_intact(value).err()
        }
        _ => None,
    })
}

/// Decodes the records in `data` into `ops`; false if one was torn or corrupt (the ops before
/// it are kept).
fn read_records(data: &[u8], ops: &mut Vec<Op>) -> bool {
    let mut at = 0;
    while at < data.len() {
        let Some((record, next)) = next_record(data, at) else {
            return false;
        };
        match decode_ops(record) {
            Some(mut decoded) => ops.append(&mut decoded),
            None => return false,
        }
        at = next;
    }
    true
}

fn next_record(data: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data.get(at + 4..at + RECORD_HEADER)?.try_into().ok()?);
    let end = at + RECORD_HEADER + len;
    let body = data.get(at + RECORD_HEADER..end)?;
    (crc32fast::hash(body) == crc).then_some((body, end))
}

pub(super) fn decode_ops(mut body: &[u8]) -> Option<Vec<Op>> {
    let mut ops = Vec::new();
    while !body.is_empty() {
        let (kind, tree) = (*body.first()?, *body.get(1)?);
        body = &body[2..];
        let key = take_bytes(&mut body)?;
        ops.push(match kind {
            1 => Op::Put {
                tree,
                key,
                value: take_bytes(&mut body)?,
            },
            2 => Op::Remove { tree, key },
            _ => return None,
        });
    }
    Some(ops)
}

fn take_bytes(body: &mut &[u8]) -> Option<Vec<u8>> {
    let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let bytes = body.get(4..4 + len)?.to_vec();
    *body = &body[4 + len..];
    Some(bytes)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
