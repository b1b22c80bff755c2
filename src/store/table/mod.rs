//! The execution log's table: every key of the log tree (records, the per-hook index, pending
//! jobs, segment counts) in memory, saved to `log.table` at each checkpoint: whole, or as
//! what changed since the last save.
//!
//! The log tree was a sled tree until format 3. Its values are small (an execution record is
//! its status and two [`super::payloads::SegmentRef`]s; the JSON and the payload are in
//! segments), but sled paid tens of microseconds of copy-on-write per key on the thread that
//! wrote it, cached whole nodes and kept a file of many times what it held. With the table,
//! a delivery costs 12% fewer instructions and a saturated hub peaks at 30-32 MiB resident
//! instead of 51-55 (BENCHMARKS.md). The entries cost about 100 bytes of memory per execution
//! kept ([`entries`]); a save is a copy of them (one pointer for every 64 executions).
//!
//! Durability is the journal's, as it was for sled: writers write here what they journal, and
//! a checkpoint saves the table ([`Table::snapshot`], then a new file, fsynced, renamed into
//! place) once the journal has what the save holds on disk, before the journal files it covers
//! are discarded (`log_tree.rs`). A start loads the last save and replays the journal over it.
//!
//! A save is numbered. Most are a *delta*, `log.table.<number>`: the entries changed since the
//! save before it and the keys gone. The table keeps the copy it last saved, and a write copies
//! the run of entries it lands in while that copy shares it ([`runs`]), so what changed is
//! found a run at a time, not by reading every entry. A save is *whole*, written over
//! `log.table`, when there is no last copy (the first save of a table made from sled), or once
//! the deltas since the last whole save outweigh it or number [`MAX_DELTAS`]; the deltas are
//! then deleted. So what a save writes follows what was written to the log, not how much it
//! keeps (writing the whole table at every checkpoint cost a hub keeping 40,000 executions a
//! tenth of its saturated rate, BENCHMARKS.md), and a start reads at most about twice the
//! table. A start reads the whole save, then the deltas numbered after it, in order; one
//! numbered at or below it is left from before it (a crash after the whole save, before the
//! deltas were deleted) and is not read. Each file is checked whole (a CRC32 over it) and a
//! damaged or missing one is refused, not half read.
//!
//! Whole save: `HHLOGTB2`, its number (u64 LE), then per entry (in no set order) `key len: u32
//! LE`, `value len: u32 LE`, key, value; then `u32::MAX`, the number of entries (u64 LE) and the
//! CRC32 of every byte before it (u32 LE). `HHLOGTB1`, from before deltas, is the same without
//! the number (read as 0). Delta: `HHLOGTD1`, its number, then the same entries, where a value
//! length of `u32::MAX - 1` is a key gone (no value follows); every key gone comes first.

mod entries;
mod runs;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::ops::Bound;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use sled::IVec;

use entries::Entries;

const WHOLE: &[u8; 8] = b"HHLOGTB2";
/// A whole save from before saves were numbered.
const WHOLE_UNNUMBERED: &[u8; 8] = b"HHLOGTB1";
const DELTA: &[u8; 8] = b"HHLOGTD1";
const END: u32 = u32::MAX;
/// A delta's value length for a key gone.
const GONE: u32 = u32::MAX - 1;
/// Deltas after a whole save before the next save is whole: they are read one after the other
/// at start.
const MAX_DELTAS: u64 = 64;
/// Entries an iterator copies out per turn of the lock.
const CHUNK: usize = 64;

/// The log tree's keys and values, and the file they are saved to.
pub(super) struct Table {
    map: RwLock<Entries>,
    path: PathBuf,
    /// The size of the last save (or load).
    saved_len: AtomicU64,
    saves: Mutex<Saves>,
}

/// What is saved on disk (see the module's comment).
#[derive(Default)]
struct Saves {
    /// The last save's number; 0 before the first.
    number: u64,
    /// The entries as the saves on disk hold them, shared with the table run by run; `None`
    /// when the next save must be whole.
    last: Option<Entries>,
    /// The size of the last whole save, and of the deltas after it.
    whole_len: u64,
    deltas_len: u64,
    deltas: u64,
}

impl Table {
    /// The file a data dir's table is saved in.
    pub(super) fn path_in(dir: &Path) -> PathBuf {
        dir.join("log.table")
    }

    /// The table saved at `path`, or `None` when there is no such file.
    pub(super) fn load(path: PathBuf) -> io::Result<Option<Self>> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let whole_len = file.metadata()?.len();
        let mut map = Entries::default();
        let mut number = read(file, &path, &mut map, Kind::Whole)?;
        let mut saves = Saves {
            whole_len,
            ..Saves::default()
        };
        for (n, delta) in deltas(&path)? {
            if n <= number {
                continue;
            }
            if n != number + 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is unreadable: the save numbered {} is missing",
                        delta.display(),
                        number + 1
                    ),
                ));
            }
            let file = File::open(&delta)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", delta.display())))?;
            saves.deltas_len += file.metadata()?.len();
            saves.deltas += 1;
            number = read(file, &delta, &mut map, Kind::Delta(n))?;
        }
        saves.number = number;
        saves.last = Some(map.clone());
        Ok(Some(Self {
            map: RwLock::new(map),
            path,
            saved_len: AtomicU64::new(whole_len),
            saves: Mutex::new(saves),
        }))
    }

    /// A table holding `entries`, to be saved at `path`.
    pub(super) fn new(path: PathBuf, entries: impl IntoIterator<Item = (Box<[u8]>, IVec)>) -> Self {
        Self {
            map: RwLock::new(entries.into_iter().collect()),
            path,
            saved_len: AtomicU64::new(0),
            saves: Mutex::default(),
        }
    }

    fn saves(&self) -> MutexGuard<'_, Saves> {
        self.saves.lock().expect("table saves' lock poisoned")
    }

    fn read_map(&self) -> RwLockReadGuard<'_, Entries> {
        self.map.read().expect("table lock poisoned")
    }

    fn write_map(&self) -> RwLockWriteGuard<'_, Entries> {
        self.map.write().expect("table lock poisoned")
    }

    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Option<IVec> {
        self.read_map().get(key.as_ref())
    }

    pub(super) fn insert(&self, key: &[u8], value: IVec) {
        self.write_map().insert(key, value);
    }

    pub(super) fn remove(&self, key: &[u8]) {
        self.write_map().remove(key);
    }

    pub(super) fn len(&self) -> usize {
        self.read_map().len()
    }

    /// How many bytes the last save took.
    pub(super) fn saved_len(&self) -> u64 {
        self.saved_len.load(Ordering::Relaxed)
    }

    /// Every entry between the bounds, in key order from either end. Entries are copied out a
    /// few at a time, so a long scan holds no lock between them; like sled's, it sees writes
    /// made meanwhile past where it has read.
    pub(super) fn range(self: &Arc<Self>, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Iter {
        Iter {
            table: self.clone(),
            lower,
            upper,
            front: VecDeque::new(),
            back: VecDeque::new(),
        }
    }

    /// Saves the table: written to a new file, fsynced, and renamed into place.
    pub(super) fn save(&self) -> io::Result<()> {
        self.snapshot().write_out(self)?.commit()
    }

    /// The entries as they are, for a save: taken while nothing writes to the table (under
    /// the writers' lock), and written out after the lock is let go. A log's records and
    /// index are copied one pointer for each run of 64 entries ([`entries`]), not entry by
    /// entry; a write after it copies the run it lands in, which the snapshot still holds.
    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot(self.read_map().clone())
    }
}

/// The table's entries as a save took them ([`Table::snapshot`]).
pub(super) struct Snapshot(Entries);

impl Snapshot {
    /// Writes the entries out to a new file, not yet synced or in place: [`Unsynced::commit`]
    /// finishes the save. A delta when the last save's copy is kept and the deltas since the
    /// last whole save are still lighter than it, else whole (see the module's comment).
    /// Streamed, so no image of a large table is built in memory beside the copy.
    pub(super) fn write_out(self, table: &Table) -> io::Result<Unsynced<'_>> {
        let saves = table.saves();
        let number = saves.number + 1;
        let since = (saves.last.as_ref())
            .filter(|_| saves.deltas < MAX_DELTAS && saves.deltas_len < saves.whole_len);
        let tmp = table.path.with_extension("table.new");
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(super::private::FILE_MODE)
            .open(&tmp)?;
        // Checksummed behind the buffer, so the checksum runs over whole buffers rather than
        // over each entry's four small writes.
        let mut out = BufWriter::with_capacity(
            256 * 1024,
            Checksummed {
                inner: file,
                crc: crc32fast::Hasher::new(),
                len: 0,
            },
        );
        let (magic, to) = match since {
            Some(_) => (DELTA, delta_path(&table.path, number)),
            None => (WHOLE, table.path.clone()),
        };
        out.write_all(magic)?;
        out.write_all(&number.to_le_bytes())?;
        let count = match since {
            Some(last) => encode_changes(&self.0, last, &mut out)?,
            None => encode(&self.0, &mut out)?,
        };
        out.write_all(&END.to_le_bytes())?;
        out.write_all(&count.to_le_bytes())?;
        let Checksummed {
            inner: mut file,
            crc,
            len,
        } = out.into_inner().map_err(|e| e.into_error())?;
        let crc = crc.finalize().to_le_bytes();
        file.write_all(&crc)?;
        let len = len + crc.len() as u64;
        Ok(Unsynced {
            table,
            file,
            tmp,
            to,
            len,
            number,
            whole: since.is_none(),
            entries: self.0,
        })
    }
}

/// A save written out but not yet durable (see [`Snapshot::write_out`]).
pub(super) struct Unsynced<'a> {
    table: &'a Table,
    file: File,
    tmp: PathBuf,
    /// Where it goes: `log.table`, or a delta's own file.
    to: PathBuf,
    len: u64,
    number: u64,
    whole: bool,
    /// What the save holds, kept as the last save's copy once it is in place.
    entries: Entries,
}

impl Unsynced<'_> {
    /// Makes the save durable and puts it in place; after a whole save, deletes the deltas
    /// before it.
    pub(super) fn commit(self) -> io::Result<()> {
        self.file.sync_data()?;
        drop(self.file);
        fs::rename(&self.tmp, &self.to)?;
        let dir = self.table.path.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
        self.table.saved_len.store(self.len, Ordering::Relaxed);
        let mut saves = self.table.saves();
        saves.number = self.number;
        saves.last = Some(self.entries);
        if !self.whole {
            saves.deltas_len += self.len;
            saves.deltas += 1;
            return Ok(());
        }
        saves.whole_len = self.len;
        saves.deltas_len = 0;
        saves.deltas = 0;
        drop(saves);
        // Numbered below the whole save, they are not read again: one that cannot be deleted
        // costs its room until the next whole save, not the save. Deleted, they need no sync.
        let deleted = deltas(&self.table.path).and_then(|old| {
            old.into_iter()
                .try_for_each(|(_, delta)| fs::remove_file(delta))
        });
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "could not delete the execution log's older saves");
        }
        Ok(())
    }
}

/// The file of the delta numbered `number`, beside the whole save at `whole`.
fn delta_path(whole: &Path, number: u64) -> PathBuf {
    let mut name = whole.as_os_str().to_owned();
    name.push(format!(".{number:012}"));
    PathBuf::from(name)
}

/// The deltas beside the whole save at `whole`, by number.
fn deltas(whole: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = whole.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        "{}.",
        whole.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .filter(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok());
        if let Some(number) = number {
            found.push((number, entry.path()));
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// A table file being written, that counts and checksums what passes into it.
struct Checksummed {
    inner: File,
    crc: crc32fast::Hasher,
    len: u64,
}

impl Write for Checksummed {
    /// Writes a buffer's worth and starts its writeback: a large log's save is tens of MiB,
    /// which would otherwise all go to the disk at its sync, while the journal's syncs wait
    /// behind it.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        super::writeback::start(&self.inner, self.len, written);
        self.crc.update(&bytes[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A whole save's entries; returns how many.
fn encode(map: &Entries, out: &mut impl Write) -> io::Result<u64> {
    map.for_each(|key, value| {
        out.write_all(&len32(key.len()).to_le_bytes())?;
        out.write_all(&len32(value.len()).to_le_bytes())?;
        out.write_all(key)?;
        out.write_all(value)
    })?;
    Ok(map.len() as u64)
}

/// A delta's entries: what changed in `map` since `last`; returns how many.
fn encode_changes(map: &Entries, last: &Entries, out: &mut impl Write) -> io::Result<u64> {
    let mut count = 0;
    map.for_each_change(last, |key, value| {
        count += 1;
        out.write_all(&len32(key.len()).to_le_bytes())?;
        match value {
            Some(value) => {
                out.write_all(&len32(value.len()).to_le_bytes())?;
                out.write_all(key)?;
                out.write_all(value)
            }
            None => {
                out.write_all(&GONE.to_le_bytes())?;
                out.write_all(key)
            }
        }
    })?;
    Ok(count)
}

/// A key or value's length as saved: the journal refuses records anywhere near 4 GiB.
fn len32(len: usize) -> u32 {
    u32::try_from(len).expect("a log entry under 4 GiB")
}

/// What a file read is expected to be.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Whole,
    Delta(u64),
}

/// Reads a save from `file` (at `path`, for errors) into `entries`; returns its number. A
/// damaged file is refused once read: it is the whole save, or a delta the open stops at.
fn read(file: File, path: &Path, entries: &mut Entries, kind: Kind) -> io::Result<u64> {
    read_from(BufReader::with_capacity(256 * 1024, file), entries, kind)
        .map_err(|e| io::Error::new(e.kind(), format!("{} is unreadable: {e}", path.display())))
}

fn read_from(mut from: impl Read, entries: &mut Entries, kind: Kind) -> io::Result<u64> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut crc = crc32fast::Hasher::new();
    let mut take = |n: usize, crc: &mut crc32fast::Hasher| -> io::Result<Vec<u8>> {
        // Read as it comes, not allocated up front: a damaged length may say 4 GiB.
        let mut bytes = Vec::new();
        (&mut from).take(n as u64).read_to_end(&mut bytes)?;
        if bytes.len() < n {
            return Err(invalid("it is cut short"));
        }
        crc.update(&bytes);
        Ok(bytes)
    };
    let magic = take(WHOLE.len(), &mut crc)?;
    let numbered = match (&magic[..], kind) {
        (m, Kind::Whole) if m == WHOLE => true,
        (m, Kind::Whole) if m == WHOLE_UNNUMBERED => false,
        (m, Kind::Delta(_)) if m == DELTA => true,
        _ => return Err(invalid("it is not a log table's save")),
    };
    let number = match numbered {
        true => u64::from_le_bytes(take(8, &mut crc)?.try_into().expect("8 bytes")),
        false => 0,
    };
    if kind != Kind::Whole && kind != Kind::Delta(number) {
        return Err(invalid("its number is not its name's"));
    }
    // Filed as they are read, not gathered first: a large log's entries side by side as byte
    // strings took more than twice the table's own memory at start, and left it fragmented.
    let mut read = 0u64;
    loop {
        let key_len = u32_of(&take(4, &mut crc)?);
        if key_len == END {
            break;
        }
        let value_len = u32_of(&take(4, &mut crc)?);
        let key = take(key_len as usize, &mut crc)?;
        if value_len == GONE && kind != Kind::Whole {
            entries.remove(&key);
        } else {
            let value = take(value_len as usize, &mut crc)?;
            entries.insert(&key, IVec::from(value));
        }
        read += 1;
    }
    let count = u64::from_le_bytes(take(8, &mut crc)?.try_into().expect("8 bytes"));
    let expected = crc.clone().finalize();
    let stored = u32_of(&take(4, &mut crc)?);
    if stored != expected {
        return Err(invalid("it fails its checksum"));
    }
    if count != read {
        return Err(invalid("its entry count is wrong"));
    }
    Ok(number)
}

fn u32_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// A range of a [`Table`], read from both ends (see [`Table::range`]). What has been copied
/// out from one end is cut off the bounds, so the two ends never yield an entry twice.
pub(super) struct Iter {
    table: Arc<Table>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    front: VecDeque<(IVec, IVec)>,
    back: VecDeque<(IVec, IVec)>,
}

impl Iter {
    /// Copies out the next few entries at the front (`forward`) or the back.
    fn fill(&mut self, forward: bool) {
        if is_empty(&self.lower, &self.upper) {
            return;
        }
        let chunk = (self.table.read_map()).chunk(&self.lower, &self.upper, forward, CHUNK);
        if forward {
            self.front.extend(chunk);
            if let Some((key, _)) = self.front.back() {
                self.lower = Bound::Excluded(key.to_vec());
            }
        } else {
            self.back.extend(chunk);
            if let Some((key, _)) = self.back.back() {
                self.upper = Bound::Excluded(key.to_vec());
            }
        }
    }
}

/// Whether no key lies between the bounds (a map's `range` would panic on some of these).
pub(super) fn is_empty(lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    }
}

/// A bound on owned keys as one on slices, for a map's `range`.
pub(super) fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    bound.as_ref().map(Vec::as_slice)
}

impl Iterator for Iter {
    type Item = (IVec, IVec);

    fn next(&mut self) -> Option<Self::Item> {
        if self.front.is_empty() {
            self.fill(true);
        }
        // Past the bounds, what is left was copied out at the back.
        self.front.pop_front().or_else(|| self.back.pop_back())
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.back.is_empty() {
            self.fill(false);
        }
        self.back.pop_front().or_else(|| self.front.pop_back())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(dir: &Path, keys: &[&str]) -> Arc<Table> {
        let entries = keys
            .iter()
            .map(|k| (k.as_bytes().into(), IVec::from(k.to_uppercase().as_bytes())));
        Arc::new(Table::new(Table::path_in(dir), entries))
    }

    fn keys(items: impl Iterator<Item = (IVec, IVec)>) -> Vec<String> {
        items
            .map(|(k, _)| String::from_utf8(k.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_save_loads_back_the_same_entries() {
        let dir = tempfile::tempdir().unwrap();
        let t = table(dir.path(), &["a", "b", "c"]);
        t.insert(b"d", IVec::from(&b""[..]));
        t.remove(b"b");
        t.save().unwrap();
        let loaded = Table::load(Table::path_in(dir.path())).unwrap().unwrap();
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded.get(b"a").as_deref(), Some(&b"A"[..]));
        assert_eq!(loaded.get(b"d").as_deref(), Some(&b""[..]));
        assert_eq!(loaded.get(b"b"), None);
    }

    #[test]
    fn no_file_is_no_table_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::path_in(dir.path());
        assert!(Table::load(path.clone()).unwrap().is_none());
        table(dir.path(), &["a", "b"]).save().unwrap();
        let saved = fs::read(&path).unwrap();
        let mut flipped = saved.clone();
        flipped[25] ^= 1; // the first value
        fs::write(&path, &flipped).unwrap();
        let error = Table::load(path.clone()).err().unwrap().to_string();
        assert!(error.contains("checksum"), "{error}");
        fs::write(&path, &saved[..saved.len() - 3]).unwrap();
        let error = Table::load(path).err().unwrap().to_string();
        assert!(error.contains("cut short"), "{error}");
    }

    /// A log's keys: execution records, their index entries and a count, each kind kept in
    /// its own map ([`entries`]).
    fn log_entries(ids: std::ops::Range<u16>) -> Vec<(Vec<u8>, Vec<u8>)> {
        use crate::store::executions::FILED_LEN;
        use crate::store::keys;
        ids.flat_map(|n| {
            let mut id = [0u8; 16];
            id[..2].copy_from_slice(&n.to_be_bytes());
            let record = [[keys::EXECUTION].as_slice(), &id].concat();
            let index = [[keys::HOOK_INDEX].as_slice(), b"hook\0", &id].concat();
            let count = [[keys::SEGMENT_COUNT].as_slice(), &n.to_be_bytes()].concat();
            let value = vec![n as u8; FILED_LEN];
            [(record, value), (index, Vec::new()), (count, vec![1; 8])]
        })
        .collect()
    }

    #[test]
    fn a_snapshot_keeps_the_entries_as_they_were_when_it_was_taken() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::new(Table::path_in(dir.path()), []);
        let before = log_entries(0..3000);
        for (key, value) in &before {
            t.insert(key, IVec::from(value.as_slice()));
        }
        let snapshot = t.snapshot();
        // Written after it: new keys at either end, rewrites and removals in the middle.
        let later = log_entries(3000..3100);
        for (key, value) in &later {
            t.insert(key, IVec::from(value.as_slice()));
        }
        for (key, _) in &before[..300] {
            t.remove(key);
        }
        for (key, _) in &before[3000..3300] {
            t.insert(key, IVec::from(&b"rewritten"[..]));
        }
        snapshot.write_out(&t).unwrap().commit().unwrap();

        let entries = |table: &Arc<Table>| -> Vec<(Vec<u8>, Vec<u8>)> {
            table
                .range(Bound::Unbounded, Bound::Unbounded)
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()
        };
        let mut expected = before.clone();
        expected.sort();
        let saved = Arc::new(Table::load(Table::path_in(dir.path())).unwrap().unwrap());
        assert_eq!(entries(&saved), expected);
        // The table itself has every write.
        let now = Arc::new(t);
        let live = entries(&now);
        assert_eq!(live.len(), before.len() - 300 + later.len());
        assert!(live.iter().any(|(_, v)| v == b"rewritten"));
    }

    fn all(table: &Arc<Table>) -> Vec<(Vec<u8>, Vec<u8>)> {
        table
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    fn loaded(dir: &Path) -> Arc<Table> {
        Arc::new(Table::load(Table::path_in(dir)).unwrap().unwrap())
    }

    fn put(t: &Table, entries: &[(Vec<u8>, Vec<u8>)]) {
        for (key, value) in entries {
            t.insert(key, IVec::from(value.as_slice()));
        }
    }

    fn saved_deltas(dir: &Path) -> Vec<u64> {
        deltas(&Table::path_in(dir))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[test]
    fn saves_after_the_first_hold_what_changed_and_a_load_reads_them_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let t = Arc::new(Table::new(Table::path_in(dir.path()), []));
        let log = log_entries(0..3000);
        put(&t, &log);
        t.save().unwrap();
        let whole = t.saved_len();
        assert!(saved_deltas(dir.path()).is_empty());

        // As a log goes: new executions at the end, the oldest pruned, a few rewritten.
        put(&t, &log_entries(3000..3100));
        for (key, _) in &log[..300] {
            t.remove(key);
        }
        put(&t, &[(log[1500].0.clone(), b"rewritten".to_vec())]);
        t.save().unwrap();
        let delta = t.saved_len();
        assert!(
            delta < whole / 10,
            "a delta of {delta} bytes against {whole}"
        );
        assert_eq!(saved_deltas(dir.path()), [2]);
        assert_eq!(all(&loaded(dir.path())), all(&t));

        put(&t, &log_entries(3100..3200));
        t.remove(&log[400].0);
        t.save().unwrap();
        assert_eq!(saved_deltas(dir.path()), [2, 3]);
        let again = loaded(dir.path());
        assert_eq!(all(&again), all(&t));
        // A loaded table saves deltas on from where its files end.
        put(&again, &log_entries(3200..3210));
        again.save().unwrap();
        assert_eq!(saved_deltas(dir.path()), [2, 3, 4]);
        assert_eq!(all(&loaded(dir.path())), all(&again));
    }

    #[test]
    fn a_save_is_whole_again_once_the_deltas_outweigh_the_last_and_the_deltas_go() {
        let dir = tempfile::tempdir().unwrap();
        let t = Arc::new(Table::new(Table::path_in(dir.path()), []));
        put(&t, &log_entries(0..200));
        t.save().unwrap();
        let whole = t.saved_len();
        let mut written = 0;
        let mut next = 200;
        while written < whole {
            put(&t, &log_entries(next..next + 20));
            next += 20;
            t.save().unwrap();
            assert!(t.saved_len() < whole, "a delta");
            written += t.saved_len();
        }
        assert!(saved_deltas(dir.path()).len() > 2);
        put(&t, &log_entries(next..next + 20));
        t.save().unwrap();
        assert!(t.saved_len() > whole, "the next save is whole");
        assert!(saved_deltas(dir.path()).is_empty());
        assert_eq!(all(&loaded(dir.path())), all(&t));
    }

    #[test]
    fn a_delta_from_before_the_whole_save_is_passed_over_and_a_missing_or_damaged_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::path_in(dir.path());
        let t = Arc::new(Table::new(path.clone(), []));
        put(&t, &log_entries(0..100));
        t.save().unwrap();
        put(&t, &log_entries(100..110));
        t.save().unwrap();
        let early = fs::read(delta_path(&path, 2)).unwrap();
        // Made whole by hand: the same state, numbered 3; a crash kept delta 2 beside it.
        t.saves().last = None;
        t.save().unwrap();
        assert!(saved_deltas(dir.path()).is_empty());
        fs::write(delta_path(&path, 2), &early).unwrap();
        put(&t, &[(b"k".to_vec(), b"v".to_vec())]);
        t.save().unwrap();
        t.remove(b"k");
        t.save().unwrap();
        assert_eq!(saved_deltas(dir.path()), [2, 4, 5]);
        assert_eq!(all(&loaded(dir.path())), all(&t));

        let fifth = fs::read(delta_path(&path, 5)).unwrap();
        let mut flipped = fifth.clone();
        flipped[24] ^= 1; // the key gone
        fs::write(delta_path(&path, 5), &flipped).unwrap();
        let error = Table::load(path.clone()).err().unwrap().to_string();
        assert!(
            error.contains("checksum") && error.contains("log.table.000000000005"),
            "{error}"
        );
        fs::write(delta_path(&path, 5), &fifth).unwrap();
        fs::remove_file(delta_path(&path, 4)).unwrap();
        let error = Table::load(path).err().unwrap().to_string();
        assert!(error.contains("numbered 4 is missing"), "{error}");
    }

    #[test]
    fn a_save_from_before_numbers_is_read_and_saved_on_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = Table::path_in(dir.path());
        // As a format-5 hub wrote it: no number after the magic.
        let mut old = WHOLE_UNNUMBERED.to_vec();
        for (key, value) in [(&b"a"[..], &b"A"[..]), (b"b", b"B")] {
            old.extend_from_slice(&len32(key.len()).to_le_bytes());
            old.extend_from_slice(&len32(value.len()).to_le_bytes());
            old.extend_from_slice(key);
            old.extend_from_slice(value);
        }
        old.extend_from_slice(&END.to_le_bytes());
        old.extend_from_slice(&2u64.to_le_bytes());
        let crc = crc32fast::hash(&old);
        old.extend_from_slice(&crc.to_le_bytes());
        fs::write(&path, &old).unwrap();

        let t = loaded(dir.path());
        assert_eq!(t.get(b"b").as_deref(), Some(&b"B"[..]));
        t.remove(b"a");
        t.insert(b"c", IVec::from(&b"C"[..]));
        t.save().unwrap();
        assert_eq!(saved_deltas(dir.path()), [1], "the first delta after it");
        assert_eq!(
            all(&loaded(dir.path())),
            [
                (b"b".to_vec(), b"B".to_vec()),
                (b"c".to_vec(), b"C".to_vec())
            ]
        );
    }

    #[test]
    fn a_key_that_changes_kind_is_saved_as_it_ends() {
        use crate::store::executions::FILED_LEN;
        let dir = tempfile::tempdir().unwrap();
        let t = Arc::new(Table::new(Table::path_in(dir.path()), []));
        let record = log_entries(7..8)[0].0.clone();
        put(&t, &[(record.clone(), vec![1; FILED_LEN])]);
        t.save().unwrap();
        // A record of another length is kept among the other keys, and back.
        for value in [vec![2; 10], vec![3; FILED_LEN], vec![4; 3]] {
            put(&t, &[(record.clone(), value.clone())]);
            t.save().unwrap();
            assert_eq!(all(&loaded(dir.path())), [(record.clone(), value)]);
        }
        t.remove(&record);
        t.save().unwrap();
        assert!(all(&loaded(dir.path())).is_empty());
    }

    #[test]
    fn a_save_written_but_not_put_in_place_leaves_its_changes_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let t = Arc::new(Table::new(Table::path_in(dir.path()), []));
        put(&t, &log_entries(0..500));
        t.save().unwrap();
        let log = log_entries(500..600);
        put(&t, &log);
        drop(t.snapshot().write_out(&t).unwrap());
        t.remove(&log[0].0);
        t.save().unwrap();
        assert_eq!(saved_deltas(dir.path()), [2]);
        assert_eq!(all(&loaded(dir.path())), all(&t));
    }

    #[test]
    fn a_range_reads_from_both_ends_without_repeating() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
        let t = table(
            dir.path(),
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let all = |l, u| t.range(l, u);
        assert_eq!(keys(all(Bound::Unbounded, Bound::Unbounded)), names);
        let mut reversed = names.clone();
        reversed.reverse();
        assert_eq!(
            keys(all(Bound::Unbounded, Bound::Unbounded).rev()),
            reversed
        );
        // Alternating ends meet in the middle, every key once.
        let mut both = all(
            Bound::Included(b"k010".to_vec()),
            Bound::Excluded(b"k150".to_vec()),
        );
        let mut seen = Vec::new();
        loop {
            let front = both.next();
            let back = both.next_back();
            if front.is_none() && back.is_none() {
                break;
            }
            seen.extend(front.into_iter().chain(back).map(|(k, _)| k.to_vec()));
        }
        seen.sort();
        let expected: Vec<Vec<u8>> = names[10..150]
            .iter()
            .map(|n| n.as_bytes().to_vec())
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_range_sees_writes_past_where_it_has_read() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..100).map(|i| format!("k{i:03}")).collect();
        let t = table(
            dir.path(),
            &names.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let mut it = t.range(Bound::Unbounded, Bound::Unbounded);
        assert_eq!(it.next().unwrap().0.as_ref(), b"k000");
        t.insert(b"k999", IVec::from(&b"new"[..]));
        t.remove(b"k099");
        let rest = keys(it);
        assert_eq!(rest.last().map(String::as_str), Some("k999"));
        assert!(!rest.contains(&"k099".to_string()));
    }
}
