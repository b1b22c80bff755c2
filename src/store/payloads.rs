//! Payloads, kept out of sled.
//!
//! sled holds a record inside its tree node, rewrites whole nodes as they fill and split, and
//! caches whole nodes: a 64 KB payload stored in sled was written to disk three times over,
//! and the payloads of recent executions were most of what sled kept in memory
//! (BENCHMARKS.md). So when the applier moves an execution record whose payload is larger
//! than [`INLINE_MAX`] into sled, it appends the payload to a segment file here, once, and
//! sled keeps the record with the payload's place instead ([`PayloadRef`]). Writers, the overlay and the journal
//! never see the difference: they hold records with their payload, as before.
//!
//! Segments are `payloads/<number>.seg`, appended to and never rewritten. The log tree keeps a
//! count of the records that point into each segment (`s` + number, see `keys.rs`), changed
//! by the applier in the same turn as the records: raised before the records are written and
//! lowered after, so whatever prefix of its writes sled recovers after a crash, a count is
//! never lower than the records pointing in. A segment whose count falls to zero is deleted
//! after the next checkpoint, and one with no count at all at open (its count was never
//! written) holds nothing anyone points to.
//!
//! Durability follows the journal's checkpoint: segments are fsynced before sled is flushed,
//! so a durable record never points at bytes that are not. Until then the journal has the
//! record with its payload, and a replay writes it back into sled whole.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::IVec;

use super::executions::{self, Stored};
use super::keys;

/// Payloads up to this size stay in their record (pings, tiny events): reading them from a
/// second file would cost more than they take in sled. Above it, a record's JSON is most of
/// what sled holds for it.
pub(super) const INLINE_MAX: usize = 512;
/// A segment takes no more appends past this size (small in tests, so they reach it). A
/// segment is deleted only once every record pointing into it is gone, so the payloads kept
/// on disk are what retention keeps plus up to about one segment: at 64 MiB a hub keeping
/// 10,000 1 KB payloads held 42-74 MiB of segments for 10 MiB of them (BENCHMARKS.md).
const SEGMENT_BYTES: u64 = if cfg!(test) {
    128 * 1024
} else {
    8 * 1024 * 1024
};

/// Where a payload is: a segment, an offset and a length, and the payload's CRC32, checked on
/// every read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PayloadRef {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl PayloadRef {
    pub(super) const ENCODED_LEN: usize = 24;

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

/// The segment files of one data directory.
pub(super) struct Payloads {
    dir: PathBuf,
    /// This run's first segment.
    first: u64,
    state: Mutex<Segments>,
}

struct Segments {
    number: u64,
    file: File,
    size: u64,
    /// Segments written to since the last sync, the current one included once written.
    unsynced: Vec<File>,
    /// A segment file was created since the last sync.
    created: bool,
    /// Payloads appended to the current segment but not written yet: they end at `size`. The
    /// applier writes them once per turn ([`Payloads::write_pending`]) rather than one
    /// `pwrite` each.
    pending: Vec<u8>,
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
        // go to sled after this), and a retried turn appends its payloads again.
        let written = self.file.write_all_at(&self.pending, at);
        self.pending.clear();
        written
    }
}

/// How the applier's turn changes the counts of records pointing into each segment.
#[derive(Default)]
pub(super) struct CountChanges(BTreeMap<u64, i64>);

impl Payloads {
    /// Opens `dir/payloads`, deletes the segments no record points into (by the counts in
    /// `log`) and starts a new segment.
    pub(super) fn open(dir: &Path, log: &sled::Tree) -> io::Result<Self> {
        let dir = dir.join("payloads");
        fs::create_dir_all(&dir)?;
        let mut last = 0;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let Some(number) = segment_number(&path) else {
                continue;
            };
            last = last.max(number);
            if count(log, number).map_err(io::Error::other)? <= 0 {
                fs::remove_file(&path)?;
                log.remove(keys::segment_count(number))
                    .map_err(io::Error::other)?;
            }
        }
        let number = last + 1;
        let file = create_segment(&dir, number)?;
        File::open(&dir)?.sync_all()?;
        Ok(Self {
            dir,
            first: number,
            state: Mutex::new(Segments {
                number,
                file,
                size: 0,
                unsynced: Vec::new(),
                created: false,
                pending: Vec::new(),
            }),
        })
    }

    /// Reads a payload back, checking its length and checksum.
    pub(super) fn read(&self, at: PayloadRef) -> io::Result<Vec<u8>> {
        let file = File::open(segment_path(&self.dir, at.segment))?;
        let mut bytes = vec![0; at.len as usize];
        file.read_exact_at(&mut bytes, at.offset)?;
        if crc32fast::hash(&bytes) != at.crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "payload at {} in segment {} fails its checksum",
                    at.offset, at.segment
                ),
            ));
        }
        Ok(bytes)
    }

    /// What sled is to hold for a write of `value` to the execution record `key`: the record
    /// as it is, or with its payload moved to a segment (written by
    /// [`Payloads::write_pending`]). `fresh` says sled cannot have the key yet. The previous
    /// record's payload is reused when it is the same payload (a status update), so a payload
    /// is appended once however often its record is rewritten; except, while `replaying` the
    /// journal, a payload appended by an earlier run: it was written after that run's last
    /// checkpoint, so it may not have reached the disk.
    pub(super) fn convert(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        value: Option<&IVec>,
        fresh: bool,
        replaying: bool,
        counts: &mut CountChanges,
    ) -> sled::Result<Option<IVec>> {
        let split = value.map(|v| executions::split(v)).transpose();
        let Ok(split) = split else {
            // Not a record this version reads; it goes to sled untouched, as it always did.
            return Ok(value.cloned());
        };
        let payload = match split {
            Some((json, Stored::Inline(payload))) if payload.len() > INLINE_MAX => {
                Some((json, payload))
            }
            // Small payloads stay as they are.
            Some(_) => return Ok(value.cloned()),
            None => None,
        };
        let before = if fresh {
            None
        } else {
            tree.get(key)?
                .and_then(|old| match executions::split(&old) {
                    Ok((_, Stored::Kept(at))) => Some(at),
                    _ => None,
                })
        };
        let Some((json, payload)) = payload else {
            // A removal: the record no longer points anywhere.
            if let Some(before) = before {
                counts.lower(before.segment);
            }
            return Ok(None);
        };
        let crc = crc32fast::hash(payload);
        let at = match before {
            Some(before)
                if before.len as usize == payload.len()
                    && before.crc == crc
                    && (!replaying || before.segment >= self.first) =>
            {
                before
            }
            _ => {
                let at = self.append(payload, crc)?;
                counts.raise(at.segment);
                if let Some(before) = before {
                    counts.lower(before.segment);
                }
                at
            }
        };
        Ok(Some(IVec::from(executions::with_payload_ref(json, at))))
    }

    fn append(&self, payload: &[u8], crc: u32) -> io::Result<PayloadRef> {
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 4 GiB"))?;
        let mut state = self.state.lock().expect("payloads lock poisoned");
        if state.size > 0 && state.size + payload.len() as u64 > SEGMENT_BYTES {
            state.write_pending()?;
            let number = state.number + 1;
            // The full segment was put in `unsynced` at its first append.
            state.file = create_segment(&self.dir, number)?;
            state.number = number;
            state.size = 0;
            state.created = true;
        }
        let offset = state.size;
        if offset == 0 {
            let file = state.file.try_clone()?;
            state.unsynced.push(file);
        }
        state.pending.extend_from_slice(payload);
        state.size += payload.len() as u64;
        if state.pending.len() >= PENDING_MAX {
            state.write_pending()?;
        }
        Ok(PayloadRef {
            segment: state.number,
            offset,
            len,
            crc,
        })
    }

    /// Writes the payloads appended since the last call: before sled gets records that point
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
        // The current segment takes more appends: it is synced again at the next checkpoint.
        if state.size > 0 {
            let file = state.file.try_clone()?;
            state.unsynced.push(file);
        }
        Ok(())
    }

    /// Deletes the segments no record points into any more. Called after a checkpoint made
    /// sled durable, between the applier's turns: a turn in progress may be about to raise a
    /// count that is zero now.
    pub(super) fn collect(&self, log: &sled::Tree) -> io::Result<usize> {
        let current = self.state.lock().expect("payloads lock poisoned").number;
        let mut deleted = 0;
        for item in log.scan_prefix([keys::SEGMENT_COUNT]) {
            let (key, value) = item.map_err(io::Error::other)?;
            let Some(number) = keys::segment_of_count(&key) else {
                continue;
            };
            if number == current || decode_count(&value) > 0 {
                continue;
            }
            match fs::remove_file(segment_path(&self.dir, number)) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            log.remove(key).map_err(io::Error::other)?;
        }
        Ok(deleted)
    }
}

impl CountChanges {
    fn raise(&mut self, segment: u64) {
        *self.0.entry(segment).or_default() += 1;
    }

    fn lower(&mut self, segment: u64) {
        *self.0.entry(segment).or_default() -= 1;
    }

    /// Writes the raised counts: before the records that point in.
    pub(super) fn write_raised(&self, log: &sled::Tree) -> sled::Result<()> {
        self.write(log, |change| change > 0)
    }

    /// Writes the lowered counts: after the records that stopped pointing in.
    pub(super) fn write_lowered(&self, log: &sled::Tree) -> sled::Result<()> {
        self.write(log, |change| change < 0)
    }

    fn write(&self, log: &sled::Tree, which: impl Fn(i64) -> bool) -> sled::Result<()> {
        for (&segment, &change) in self.0.iter().filter(|(_, c)| which(**c)) {
            let now = count(log, segment)? + change;
            log.insert(keys::segment_count(segment), &now.to_le_bytes())?;
        }
        Ok(())
    }
}

fn count(log: &sled::Tree, segment: u64) -> sled::Result<i64> {
    Ok(log
        .get(keys::segment_count(segment))?
        .map_or(0, |v| decode_count(&v)))
}

fn decode_count(value: &[u8]) -> i64 {
    value.try_into().map_or(0, i64::from_le_bytes)
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:012}.seg"))
}

fn segment_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_suffix(".seg")?.parse().ok()
}

fn create_segment(dir: &Path, number: u64) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(super::private::FILE_MODE)
        .open(segment_path(dir, number))
}

#[cfg(test)]
#[path = "payloads_tests.rs"]
mod tests;
