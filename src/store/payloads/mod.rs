//! Execution records' JSON and payloads, kept out of the log's table.
//!
//! The table holds a 50-byte record per execution: its status and two places
//! ([`SegmentRef`], `executions::filed`). A place is in a journal file or in a segment file
//! here. (This began when the log was a sled tree, which held a value inside its tree node,
//! copied the node on each write and cached whole nodes: a 64 KB payload stored in sled was
//! written to disk three times over, BENCHMARKS.md.) Writers and the journal never see the
//! difference: they hold records whole. (Older hubs kept small payloads and every
//! record's JSON in the record; those records are read as they are.)
//!
//! - **Journal files.** A writer puts a record into the table as it journals it, and the table
//!   points where the journal writes its JSON and payload ([`Journaled`]) instead of copying
//!   them (format 5; copying them into a segment was 5% of a saturated hub's CPU,
//!   BENCHMARKS.md). A reader that comes before the journal has written them waits until it
//!   has ([`Payloads::read`]). A status update is journaled without its payload
//!   and points at the payload of the write before it. A journal file a saved table points
//!   into is kept, renamed, once its checkpoint is done (`journal.rs`, `Kind::Kept`), and let
//!   go once a saved table no longer does.
//! - **Segments**, `payloads/<number>.seg`, appended to and never rewritten, hold what the
//!   journal does not: large payloads, written at ingest beside the journal ([`staged`]), and
//!   what a replay files (a start copies what the journal it replays holds; the files are then
//!   discarded or kept as after a checkpoint).
//!
//! The table keeps a count of the places that point into each file (`s` + number, see
//! `keys.rs`; a journal file's number has [`SegmentRef`]'s journal bit), changed by the
//! writers under the same lock as the records. A segment whose count is zero in a saved table is
//! deleted once that save is on disk, and one with no count at all at open (its count was
//! never saved) holds nothing anyone points to.
//!
//! Segments are written with `O_DIRECT` where the filesystem allows it, keeping their bytes
//! out of the page cache ([`direct`]). Durability follows the journal's checkpoint: segments
//! are fsynced before the table is saved, so a saved record never points at bytes that are
//! not on disk, and a save waits for the journal to be durable through what it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sled::IVec;

use super::executions::{self, Json, Stored};
use super::journal::{self, Disk, Place};
use super::keys;
use super::table::Table;
use crate::execution::Status;

mod compact;
mod direct;
mod staged;
pub(super) use staged::STAGE_MIN;

/// A segment takes no more appends past this size (small in tests, so they reach it). A
/// segment is deleted only once nothing points into it, so the segments on disk hold what
/// retention keeps plus up to about one segment: at 64 MiB a hub keeping 10,000 1 KB
/// payloads held 42-74 MiB of segments for 10 MiB of them. Once sled no longer held the log,
/// 4 MiB instead of 8 took a soak's data dir from 27-35 MiB to 27-31 for 16 MiB kept
/// (BENCHMARKS.md).
const SEGMENT_BYTES: u64 = if cfg!(test) {
    128 * 1024
} else {
    4 * 1024 * 1024
};

/// Where a record's JSON or payload is: a segment, an offset and a length, and the bytes'
/// CRC32, checked on every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegmentRef {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl SegmentRef {
    pub(super) const ENCODED_LEN: usize = 24;
    /// Set in `segment` when the place is in a journal file (its number in the other bits),
    /// not in a segment.
    const IN_JOURNAL: u64 = 1 << 63;
    /// An empty payload: nothing to read, in no segment.
    pub(super) const EMPTY: Self = Self {
        segment: 0,
        offset: 0,
        len: 0,
        crc: 0,
    };

    /// `len` bytes of CRC32 `crc`, which the journal has at `place`.
    fn in_journal(place: Place, len: u32, crc: u32) -> Self {
        Self {
            segment: place.file | Self::IN_JOURNAL,
            offset: place.offset,
            len,
            crc,
        }
    }

    /// The journal file the place is in, when it is in one.
    pub(super) fn journal_file(&self) -> Option<u64> {
        Self::journal_file_of(self.segment)
    }

    /// The journal file a place's (or a count's) segment number names, when it names one.
    fn journal_file_of(segment: u64) -> Option<u64> {
        (segment & Self::IN_JOURNAL != 0).then_some(segment & !Self::IN_JOURNAL)
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.segment.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.crc.to_le_bytes());
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes.try_into().ok()?;
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4"));
        Some(Self {
            segment: u64_at(0),
            offset: u64_at(8),
            len: u32_at(16),
            crc: u32_at(20),
        })
    }
}

/// Where the journal has an execution record's JSON and, when it holds the bytes, its payload:
/// the table points there rather than copying them into a segment. A status update journaled
/// without its payload has none: its payload's place is the one the table's record has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Journaled {
    pub json: Place,
    pub payload: Option<Place>,
}

/// A write to an execution record on its way into the table ([`Payloads::convert`]).
pub(super) struct RecordWrite<'a> {
    pub key: &'a [u8],
    /// `None` removes the record.
    pub value: Option<&'a [u8]>,
    /// Where the journal has the record's parts, when known.
    pub journaled: Option<&'a Journaled>,
    /// The table cannot have the key yet.
    pub fresh: bool,
}

/// The segment files of one data directory.
pub(super) struct Payloads {
    dir: PathBuf,
    /// Where the journal's files are: records' JSON and payloads are read there too.
    journal_dir: PathBuf,
    /// How far the journal has written its files: a record's bytes there are read once it
    /// has.
    disk: Arc<Disk>,
    /// This run's first segment.
    first: u64,
    /// The number the next new segment takes, this run's own or a staging one.
    next: AtomicU64,
    /// This run's own segment: what a replay files, what a compaction moves.
    state: Mutex<Segments>,
    staging: Mutex<staged::Staging>,
    staging_file: Mutex<staged::StagingFile>,
    /// The mostly dead files the last look for them found, with their live bytes then
    /// (`compact.rs`): one is compacted once its live bytes held still between two looks.
    sparse_seen: Mutex<BTreeMap<u64, i64>>,
    /// The last look found one it had not seen hold still.
    sparse_unsettled: AtomicBool,
}

struct Segments {
    number: u64,
    /// The segment's file, written directly where the filesystem allows (`direct.rs`).
    target: direct::Target,
    size: u64,
    /// Segments appended to since the last sync.
    unsynced: Vec<Arc<File>>,
    /// A segment file was created since the last sync.
    created: bool,
    /// Payloads appended to the current segment but not written yet: they end at `size`,
    /// written by [`Payloads::write_pending`] before a record points at them.
    pending: Vec<u8>,
    /// The bytes written last of the segment's last block when it is not full: a direct write
    /// starts on a block, so the next one writes them again.
    tail: Vec<u8>,
    blocks: direct::Blocks,
}

/// Past this many bytes pending, an append writes them at once.
const PENDING_MAX: usize = 1024 * 1024;

impl Segments {
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = self.size - self.pending.len() as u64;
        // Cleared even when the write fails: nothing points at these bytes yet (the records
        // go to the table after this), and a retried turn appends its payloads again.
        let written = match self.target.is_direct() {
            true => self.write_direct(at),
            false => self
                .target
                .file
                .write_all_at(&self.pending, at)
                .inspect(|()| {
                    super::writeback::start(&self.target.file, at, self.pending.len());
                }),
        };
        self.pending.clear();
        written
    }

    /// Writes the tail and the pending bytes, which start at `at`, in whole blocks from the
    /// tail's block on, and keeps the new last block's bytes as the tail.
    fn write_direct(&mut self, at: u64) -> io::Result<()> {
        let Some(blocks) = self.blocks.get() else {
            return self.target.file.write_all_at(&self.pending, at);
        };
        let mut start = at - self.tail.len() as u64;
        let (mut head, mut rest) = (&self.tail[..], &self.pending[..]);
        while !head.is_empty() || !rest.is_empty() {
            // The tail is under a block: it all goes in the first write.
            blocks[..head.len()].copy_from_slice(head);
            let take = rest.len().min(direct::CHUNK - head.len());
            blocks[head.len()..head.len() + take].copy_from_slice(&rest[..take]);
            let filled = head.len() + take;
            let len = direct::padded(filled);
            blocks[filled..len].fill(0);
            self.target.write_blocks(&blocks[..len], start)?;
            // Whole chunks until the last write, so the next starts on a block.
            start += filled as u64;
            (head, rest) = (&[], &rest[take..]);
        }
        let keep = (self.size % direct::BLOCK as u64) as usize;
        let mut tail = Vec::with_capacity(keep);
        if keep > self.pending.len() {
            tail.extend_from_slice(&self.tail[self.tail.len() - (keep - self.pending.len())..]);
        }
        tail.extend_from_slice(&self.pending[self.pending.len().saturating_sub(keep)..]);
        self.tail = tail;
        Ok(())
    }
}

/// A record's payload as written: in the record, staged (`staged.rs`), or, in the journal's
/// form of a rewrite, the one the key's record before it has (`executions::same_payload`).
enum Body<'a> {
    Here(&'a [u8]),
    Staged(SegmentRef),
    Same { len: u32, crc: u32 },
}

/// A value written to an execution record's key, as the table is given it.
enum Incoming<'a> {
    /// A record as writers make it: its status, its JSON, its payload.
    Record {
        status: Status,
        json: &'a [u8],
        body: Body<'a>,
    },
    Removal,
    /// Not a record as writers make it (an older hub's form): it goes to the table as it is.
    AsIs,
}

impl<'a> Incoming<'a> {
    fn of(value: Option<&'a [u8]>) -> Self {
        let Some(value) = value else {
            return Self::Removal;
        };
        let record = |status, json, body| Self::Record { status, json, body };
        match executions::split(value) {
            // Its payload staged: written already, where the record says.
            Ok((Json::Here(json), Stored::Kept(at))) => match executions::carried_status(value) {
                Some(status) => record(status, json, Body::Staged(at)),
                None => Self::AsIs,
            },
            Ok((Json::Here(json), Stored::Inline(payload))) => {
                // Records from an older hub's journal carry no status of their own.
                let carried = executions::carried_status(value);
                match carried.map_or_else(|| executions::status_in(json), Ok) {
                    Ok(status) => record(status, json, Body::Here(payload)),
                    Err(_) => Self::AsIs,
                }
            }
            Ok(_) => Self::AsIs,
            // The journal's form of a status update (split does not know it): only a replay
            // meets it.
            Err(_) => match executions::same_payload(value) {
                Some((status, json, len, crc)) => record(status, json, Body::Same { len, crc }),
                None => Self::AsIs,
            },
        }
    }
}

/// How writes change the counts of records' places in each file: places and bytes.
#[derive(Default)]
pub(super) struct CountChanges(BTreeMap<u64, (i64, i64)>);

/// The places records have in a file (a segment, or a journal file), and how many bytes they
/// hold: the table's value under the file's count key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Count {
    pub places: i64,
    /// `None` for a count saved before format 5, which held the places alone (and goes on
    /// without its bytes).
    pub bytes: Option<i64>,
}

impl Default for Count {
    fn default() -> Self {
        Self {
            places: 0,
            bytes: Some(0),
        }
    }
}

impl Count {
    fn decode(value: &[u8]) -> Self {
        let at = |i: usize| {
            let bytes = value.get(i..i + 8).and_then(|b| b.try_into().ok());
            bytes.map(i64::from_le_bytes)
        };
        Self {
            places: at(0).unwrap_or(0),
            bytes: at(8),
        }
    }

    fn encode(self) -> IVec {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.places.to_le_bytes());
        if let Some(bytes) = self.bytes {
            out.extend_from_slice(&bytes.to_le_bytes());
        }
        IVec::from(out)
    }
}

impl Payloads {
    /// Opens `dir/payloads` and starts a new segment. Segments nothing points into are
    /// deleted by [`Payloads::clean`], once the journal is replayed: a record it holds may point
    /// into a staging segment no saved count covers.
    pub(super) fn open(dir: &Path, disk: Arc<Disk>) -> io::Result<Self> {
        let journal_dir = dir;
        let dir = dir.join("payloads");
        fs::create_dir_all(&dir)?;
        let mut last = 0;
        for entry in fs::read_dir(&dir)? {
            if let Some(number) = segment_number(&entry?.path()) {
                last = last.max(number);
            }
        }
        let number = last + 1;
        let target = create_segment(&dir, number, false)?;
        File::open(&dir)?.sync_all()?;
        Ok(Self {
            dir,
            journal_dir: journal_dir.to_path_buf(),
            disk,
            first: number,
            next: AtomicU64::new(number + 1),
            state: Mutex::new(Segments {
                number,
                target,
                size: 0,
                unsynced: Vec::new(),
                created: false,
                pending: Vec::new(),
                tail: Vec::new(),
                blocks: direct::Blocks::default(),
            }),
            staging: Mutex::default(),
            staging_file: Mutex::default(),
            sparse_seen: Mutex::default(),
            sparse_unsettled: AtomicBool::new(false),
        })
    }

    /// Deletes the segments of earlier runs that no record points into (by the counts in
    /// `log`, the journal replayed into it), with their counts.
    pub(super) fn clean(&self, log: &Table) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            match segment_number(&path) {
                Some(number) if number < self.first && count(log, number).places <= 0 => {
                    fs::remove_file(&path)?;
                    log.remove(&keys::segment_count(number));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads a record's JSON or payload back, checking its length and checksum.
    pub(super) fn read(&self, at: SegmentRef) -> io::Result<Vec<u8>> {
        if at.len == 0 {
            return Ok(Vec::new());
        }
        let file = match at.journal_file() {
            Some(number) => {
                let place = Place {
                    file: number,
                    offset: at.offset,
                };
                self.disk.wait_written(place, u64::from(at.len))?;
                journal::open_for_reading(&self.journal_dir, number)?
            }
            None => {
                if let Some(bytes) = self.unwritten(at) {
                    return Ok(bytes);
                }
                File::open(segment_path(&self.dir, at.segment))?
            }
        };
        let mut bytes = vec![0; at.len as usize];
        file.read_exact_at(&mut bytes, at.offset)?;
        if crc32fast::hash(&bytes) != at.crc {
            let file = match at.journal_file() {
                Some(number) => format!("journal file {number}"),
                None => format!("segment {}", at.segment),
            };
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} bytes at {} in {file} fail their checksum",
                    at.len, at.offset
                ),
            ));
        }
        Ok(bytes)
    }

    /// What the table is to hold for `write`: the record filed, the table left with where its
    /// JSON and payload are. Where the journal has them, the table points there; otherwise they
    /// are appended to a segment (written by [`Payloads::write_pending`]). The previous record's
    /// payload is reused when it is the same payload (a status update), so a payload is stored
    /// once however often its record is rewritten; except, while `replaying` the journal, a
    /// payload appended to a segment by an earlier run: it was written after that run's last
    /// checkpoint, so it may not have reached the disk.
    pub(super) fn convert(
        &self,
        tree: &Table,
        write: RecordWrite<'_>,
        replaying: bool,
        counts: &mut CountChanges,
    ) -> sled::Result<Option<IVec>> {
        let record = match Incoming::of(write.value) {
            Incoming::AsIs => return Ok(write.value.map(IVec::from)),
            Incoming::Removal => None,
            Incoming::Record { status, json, body } => Some((status, json, body)),
        };
        let old = if write.fresh {
            None
        } else {
            tree.get(write.key)
        };
        let before = old.as_deref().map_or_else(Places::default, Places::of);
        let Some((status, json, body)) = record else {
            // A removal: the record no longer points anywhere.
            before.lower(counts);
            return Ok(None);
        };
        let journaled = write.journaled;
        let Some(payload_at) =
            self.payload_place(body, old.as_deref(), &before, journaled, replaying)?
        else {
            // Only a replay meets this: the journal has the record before this status update,
            // or the table had it saved. Should neither hold its payload any more (the record
            // was removed meanwhile), the rewrite cannot be completed and the key keeps what it
            // has.
            tracing::warn!(
                "a journaled status update names a payload its execution no longer has; the \
                 update is dropped"
            );
            return Ok(old);
        };
        let crc = crc32fast::hash(json);
        let json_at = match journaled {
            Some(j) => SegmentRef::in_journal(j.json, len32(json)?, crc),
            None => self.append(json, crc)?,
        };
        let kept = Places {
            json: Some(json_at),
            payload: (payload_at.len > 0).then_some(payload_at),
        };
        kept.raise_unless_in(&before, counts);
        before.lower_unless_in(&kept, counts);
        Ok(Some(IVec::from(executions::filed(
            status, json_at, payload_at,
        ))))
    }

    /// Where the payload of a record being filed is to be: staged already, the place the
    /// table's record before it (`old`, whose places are `before`) has for the same bytes, where
    /// the journal has it, or appended to a segment. `None` when the record names the payload of
    /// the record before it and `old` has no such payload.
    fn payload_place(
        &self,
        body: Body<'_>,
        old: Option<&[u8]>,
        before: &Places,
        journaled: Option<&Journaled>,
        replaying: bool,
    ) -> io::Result<Option<SegmentRef>> {
        let payload = match body {
            Body::Staged(at) => return Ok(Some(at)),
            Body::Same { len, crc } => return self.same_payload(old, len, crc, replaying),
            Body::Here([]) => return Ok(Some(SegmentRef::EMPTY)),
            Body::Here(payload) => payload,
        };
        let crc = crc32fast::hash(payload);
        // The table's place first: a rewrite with the same payload keeps it where it is.
        let at = match (before.payload, journaled.and_then(|j| j.payload)) {
            (Some(at), _)
                if at.len as usize == payload.len()
                    && at.crc == crc
                    && self.on_disk(at, replaying) =>
            {
                at
            }
            (_, Some(place)) => SegmentRef::in_journal(place, len32(payload)?, crc),
            _ => self.append(payload, crc)?,
        };
        Ok(Some(at))
    }

    /// Whether the bytes at `at` are on disk for a record to point at: always, but while
    /// `replaying`, for a segment an earlier run wrote after its last checkpoint. (A journal
    /// file's records were synced before the table took them.)
    fn on_disk(&self, at: SegmentRef, replaying: bool) -> bool {
        !replaying || at.journal_file().is_some() || at.segment >= self.first
    }

    /// Where the payload of `len` bytes and CRC32 `crc` that `old`, the key's record, holds
    /// is to be: where it is already, or, when `old` holds it inline or (while `replaying`) in a
    /// segment an earlier run wrote after its last checkpoint, appended anew. `None` when `old`
    /// holds no such payload.
    fn same_payload(
        &self,
        old: Option<&[u8]>,
        len: u32,
        crc: u32,
        replaying: bool,
    ) -> io::Result<Option<SegmentRef>> {
        let Some(Ok((_, stored))) = old.map(executions::split) else {
            return Ok(None);
        };
        let bytes = match stored {
            Stored::Kept(at) if at.len == len && at.crc == crc => {
                if self.on_disk(at, replaying) {
                    return Ok(Some(at));
                }
                match self.read(at) {
                    Ok(bytes) => bytes,
                    Err(_) => return Ok(None),
                }
            }
            Stored::Inline(bytes)
                if bytes.len() == len as usize && crc32fast::hash(bytes) == crc =>
            {
                bytes.to_vec()
            }
            _ => return Ok(None),
        };
        self.append(&bytes, crc).map(Some)
    }

    fn append(&self, payload: &[u8], crc: u32) -> io::Result<SegmentRef> {
        let len = len32(payload)?;
        let mut state = self.state.lock().expect("payloads lock poisoned");
        if state.size > 0 && state.size + payload.len() as u64 > SEGMENT_BYTES {
            state.write_pending()?;
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            // The full segment was put in `unsynced` at its first append since a sync.
            // Through the page cache if the last segment's direct writes were refused.
            state.target = create_segment(&self.dir, number, !state.target.is_direct())?;
            state.number = number;
            state.size = 0;
            state.tail.clear();
            state.created = true;
        }
        let offset = state.size;
        let file = &state.target.file;
        if !state.unsynced.iter().any(|f| Arc::ptr_eq(f, file)) {
            let file = file.clone();
            state.unsynced.push(file);
        }
        state.pending.extend_from_slice(payload);
        state.size += payload.len() as u64;
        if state.pending.len() >= PENDING_MAX {
            state.write_pending()?;
        }
        Ok(SegmentRef {
            segment: state.number,
            offset,
            len,
            crc,
        })
    }

    /// Writes the payloads appended since the last call: before the table gets records that point
    /// at them.
    pub(super) fn write_pending(&self) -> io::Result<()> {
        self.state
            .lock()
            .expect("payloads lock poisoned")
            .write_pending()
    }

    /// Makes every payload appended so far durable.
    pub(super) fn sync(&self) -> io::Result<()> {
        let mut state = self.state.lock().expect("payloads lock poisoned");
        state.write_pending()?;
        for file in &state.unsynced {
            file.sync_data()?;
        }
        if state.created {
            File::open(&self.dir)?.sync_all()?;
        }
        state.unsynced.clear();
        state.created = false;
        Ok(())
    }

    /// The segments no record points into any more, and none may again: not the one being
    /// appended to, nor a staging segment in flight ([`staged`]). `applied_through` is the
    /// journal position the table has taken every write up to. Called under the writers' lock:
    /// a write in progress may be about to raise a count that is zero now.
    pub(super) fn unused(&self, log: &Arc<Table>, applied_through: u64) -> Vec<u64> {
        let current = self.state.lock().expect("payloads lock poisoned").number;
        let staging = self.staging();
        let idle = |number: u64| number != current && !staging.in_flight(number, applied_through);
        let (from, to) = keys::segment_counts();
        let mut unused: Vec<u64> = log
            .range(from, to)
            .filter_map(|(key, value)| {
                let number = keys::segment_of_count(&key)?;
                // Journal files are let go by the journal's checkpoints.
                let ours = SegmentRef::journal_file_of(number).is_none();
                let unused = Count::decode(&value).places <= 0;
                (ours && idle(number) && unused).then_some(number)
            })
            .collect();
        // A staging segment the table never counted: every record pointing in was replaced
        // before the table took it.
        unused.extend(
            staging
                .live()
                .filter(|&n| idle(n) && log.get(keys::segment_count(n)).is_none()),
        );
        unused
    }

    /// The journal files some record in `log` points into (see [`Journaled`]). The counts
    /// of those none points into are dropped: a journal file is let go by the checkpoint that
    /// saves this, and a count a later write raises from nothing starts again at zero. Called
    /// under the writers' lock.
    pub(super) fn journal_files_in_use(log: &Arc<Table>) -> BTreeSet<u64> {
        let (from, to) = keys::segment_counts();
        let mut in_use = BTreeSet::new();
        for (key, value) in log.range(from, to) {
            let Some(number) = keys::segment_of_count(&key) else {
                continue;
            };
            match SegmentRef::journal_file_of(number) {
                Some(file) if Count::decode(&value).places > 0 => {
                    in_use.insert(file);
                }
                Some(_) => log.remove(&key),
                None => {}
            }
        }
        in_use
    }

    /// Where the journal's files are.
    pub(super) fn journal_dir(&self) -> &Path {
        &self.journal_dir
    }

    /// Deletes segments [`Payloads::unused`] found, once a saved table no longer points into
    /// them, and their counts. A staging segment pinned since is kept for a later save.
    pub(super) fn delete(
        &self,
        log: &Table,
        unused: &[u64],
        applied_through: u64,
    ) -> io::Result<()> {
        for &number in unused {
            {
                // Forgotten first, so no pin can take it; the file goes outside the lock,
                // which requests staging a payload take.
                let mut staging = self.staging();
                if staging.in_flight(number, applied_through) {
                    continue;
                }
                staging.forget(number);
            }
            match fs::remove_file(segment_path(&self.dir, number)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => log.remove(&keys::segment_count(number)),
            }
        }
        Ok(())
    }
}

impl CountChanges {
    fn raise(&mut self, at: SegmentRef) {
        let change = self.0.entry(at.segment).or_default();
        change.0 += 1;
        change.1 += i64::from(at.len);
    }

    fn lower(&mut self, at: SegmentRef) {
        let change = self.0.entry(at.segment).or_default();
        change.0 -= 1;
        change.1 -= i64::from(at.len);
    }

    /// Writes the raised counts: before the records that point in.
    pub(super) fn write_raised(&self, log: &Table) {
        self.write(log, |(places, _)| places > 0)
    }

    /// Writes the other changed counts: after the records that stopped pointing in.
    pub(super) fn write_lowered(&self, log: &Table) {
        self.write(log, |change| change.0 <= 0 && change != (0, 0))
    }

    fn write(&self, log: &Table, which: impl Fn((i64, i64)) -> bool) {
        for (&segment, &change) in self.0.iter().filter(|(_, c)| which(**c)) {
            let now = count(log, segment);
            let now = Count {
                places: now.places + change.0,
                bytes: now.bytes.map(|bytes| bytes + change.1),
            };
            log.insert(&keys::segment_count(segment), now.encode());
        }
    }
}

/// The places a stored record points at, each counted in its segment.
#[derive(Default)]
struct Places {
    json: Option<SegmentRef>,
    payload: Option<SegmentRef>,
}

impl Places {
    fn of(record: &[u8]) -> Self {
        let Ok((json, payload)) = executions::split(record) else {
            return Self::default();
        };
        Self {
            json: match json {
                Json::Filed(at) => Some(at),
                Json::Here(_) => None,
            },
            payload: match payload {
                Stored::Kept(at) if at.len > 0 => Some(at),
                _ => None,
            },
        }
    }

    fn lower(&self, counts: &mut CountChanges) {
        self.lower_unless_in(&Places::default(), counts);
    }

    /// Lowers the counts of these places, except one `kept` still points at.
    fn lower_unless_in(&self, kept: &Places, counts: &mut CountChanges) {
        self.not_in(kept).for_each(|at| counts.lower(at));
    }

    /// Raises the counts of these places, except one the record pointed at already (`had`).
    fn raise_unless_in(&self, had: &Places, counts: &mut CountChanges) {
        self.not_in(had).for_each(|at| counts.raise(at));
    }

    fn not_in<'a>(&'a self, other: &'a Places) -> impl Iterator<Item = SegmentRef> + 'a {
        [self.json, self.payload]
            .into_iter()
            .flatten()
            .filter(|at| other.json != Some(*at) && other.payload != Some(*at))
    }
}

fn len32(bytes: &[u8]) -> io::Result<u32> {
    u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 4 GiB"))
}

fn count(log: &Table, segment: u64) -> Count {
    log.get(keys::segment_count(segment))
        .map_or_else(Count::default, |v| Count::decode(&v))
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:012}.seg"))
}

fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".seg")?.parse().ok()
}

/// Creates segment `number`, to be written directly unless `buffered` (the segment before it
/// had its direct writes refused) or the filesystem refuses (`direct.rs`).
fn create_segment(dir: &Path, number: u64, buffered: bool) -> io::Result<direct::Target> {
    let path = segment_path(dir, number);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(super::private::FILE_MODE)
        .open(&path)?;
    Ok(direct::Target::new(file, &path, buffered))
}

#[cfg(test)]
mod tests;
