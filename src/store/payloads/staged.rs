//! Large payloads written beside the journal instead of into it.
//!
//! A journaled payload was written to disk twice: into the journal, then into a segment
//! (before format 5). For a large body that second write was most of the work (1 MB deliveries ran at
//! 0.65-0.77x the durable ceiling, BENCHMARKS.md). So a payload of [`STAGE_MIN`] bytes or
//! more is staged instead: [`Payloads::stage`] gives it its place in a staging segment at
//! once, the writer journals a record that points there, and in each group commit the journal
//! thread writes the staged bytes before it writes the journal's frame
//! ([`Payloads::write_staged`]), then syncs both at once ([`Written::sync`]); only then is
//! anything in the frame answered. A kill -9 therefore never leaves a record pointing at bytes
//! that are not written; after a power cut, the replay drops the newest frame if a payload it
//! points at is not whole (`journal.rs`). The table files a record without touching its
//! payload, and a status update of the execution points at the same place ([`Payloads::pin`])
//! rather than journaling the payload again.
//!
//! Each place starts a block, so the journal thread can write a group commit's payloads in
//! one direct write (`direct.rs`) where the filesystem allows.
//!
//! Until the table counts a place, the segment is protected while it is in flight: a writer
//! holds a place it has not journaled ([`Held`]), or a write pointing in is journaled past the
//! position a save holds the table up to. A staging segment nothing was ever counted for
//! (every record pointing in was replaced) is deleted like one whose count fell to zero.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use bytes::Bytes;

use super::direct::{self, BLOCK, Blocks, CHUNK, Target};
use super::{Payloads, SEGMENT_BYTES, SegmentRef, create_segment, executions};

/// Payloads at least this large are staged. At 1 KB a journaled payload costs less than a second
/// file to sync in each group commit. (Larger in tests, so the journaled path keeps its tests
/// at the sizes they use.)
pub(in crate::store) const STAGE_MIN: usize = if cfg!(test) { 96 * 1024 } else { 32 * 1024 };

/// A staging segment takes at least this many payloads of the size being staged, however
/// large: each new segment costs a sync of the directory in a group commit. (One in tests, so
/// they reach a segment's end with a few.)
const STAGED_PER_SEGMENT: u64 = if cfg!(test) { 1 } else { 16 };

/// This run's staging segments and the payloads placed in them but not written yet.
#[derive(Default)]
pub(super) struct Staging {
    /// The segment taking places (0 before the first), and its size so far.
    number: u64,
    size: u64,
    /// Placed and not written yet, in the order placed: read back from here meanwhile.
    unwritten: Vec<(SegmentRef, Bytes)>,
    /// Each staging segment of this run that is not deleted, with what is in flight in it.
    live: BTreeMap<u64, InFlight>,
}

#[derive(Default)]
struct InFlight {
    /// Places handed to writers that have not journaled them (or given them up) yet.
    held: usize,
    /// The journal position of the newest write pointing in.
    last_pos: u64,
}

impl Staging {
    /// Whether a staging segment may still gain a pointer the table has not counted: it takes
    /// places, a writer holds one, or a write pointing in is journaled past `applied_through`
    /// (see [`Payloads::unused`]).
    pub(super) fn in_flight(&self, number: u64, applied_through: u64) -> bool {
        number == self.number
            || self
                .live
                .get(&number)
                .is_some_and(|f| f.held > 0 || f.last_pos > applied_through)
    }

    /// This run's staging segments.
    pub(super) fn live(&self) -> impl Iterator<Item = u64> + '_ {
        self.live.keys().copied()
    }

    pub(super) fn forget(&mut self, number: u64) {
        self.live.remove(&number);
    }
}

/// The journal thread's open staging segment, and how it writes to it.
#[derive(Default)]
pub(super) struct StagingFile {
    /// The segment's number and file.
    open: Option<(u64, Target)>,
    /// Payloads gathered for one direct write, each padded with zeros to whole blocks (the
    /// next place starts past the padding).
    blocks: Blocks,
    /// Where the gathered payloads go in the open segment, and how many bytes they fill.
    gathered: Option<(u64, usize)>,
}

impl StagingFile {
    /// Writes `bytes` at `offset` of the open segment, or gathers them for the direct write
    /// [`StagingFile::flush`] makes: payloads placed one after the other go in one write of up
    /// to [`CHUNK`], not one each (at 40 KB, one write each was slower than the page cache).
    fn write(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let Some((_, target)) = &self.open else {
            return Err(io::Error::other("no staging segment is open"));
        };
        if !target.is_direct() || self.blocks.get().is_none() {
            return target.file.write_all_at(bytes, offset);
        }
        let mut at = offset;
        for chunk in bytes.chunks(CHUNK) {
            let padded = direct::padded(chunk.len());
            let follows = self.gathered.is_some_and(|(start, filled)| {
                start + filled as u64 == at && filled + padded <= CHUNK
            });
            if !follows {
                self.flush()?;
                self.gathered = Some((at, 0));
            }
            let (start, filled) = self.gathered.expect("set above");
            let blocks = self.blocks.get().expect("found above, for the same buffer");
            blocks[filled..filled + chunk.len()].copy_from_slice(chunk);
            blocks[filled + chunk.len()..filled + padded].fill(0);
            self.gathered = Some((start, filled + padded));
            at += padded as u64;
        }
        Ok(())
    }

    /// Writes what is gathered.
    fn flush(&mut self) -> io::Result<()> {
        let Some((start, filled)) = self.gathered.take() else {
            return Ok(());
        };
        let (Some((_, target)), Some(blocks)) = (&mut self.open, self.blocks.get()) else {
            return Err(io::Error::other(
                "payloads gathered with no segment or buffer to write",
            ));
        };
        target.write_blocks(&blocks[..filled], start)
    }
}

/// A place in a staging segment that a writer holds until its record is journaled.
pub(in crate::store) struct Held<'a> {
    payloads: &'a Payloads,
    pub at: SegmentRef,
    journaled: Option<u64>,
}

impl Held<'_> {
    /// The record pointing at this place is journaled at `pos`.
    pub(in crate::store) fn journaled(mut self, pos: u64) {
        self.journaled = Some(pos);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut staging = self.payloads.staging();
        if let Some(flight) = staging.live.get_mut(&self.at.segment) {
            flight.held -= 1;
            if let Some(pos) = self.journaled {
                flight.last_pos = flight.last_pos.max(pos);
            }
        }
    }
}

impl Payloads {
    pub(super) fn staging(&self) -> MutexGuard<'_, Staging> {
        self.staging.lock().expect("staging lock poisoned")
    }

    /// Places `payload` in the staging segment; the journal thread writes it with the next group
    /// commit. Journal the record pointing at it, then pass its position to [`Held::journaled`].
    pub(in crate::store) fn stage(&self, payload: Bytes) -> io::Result<Held<'_>> {
        let len = u32::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over 4 GiB"))?;
        let crc = crc32fast::hash(&payload);
        let mut staging = self.staging();
        let room = SEGMENT_BYTES.max(STAGED_PER_SEGMENT * u64::from(len));
        // Each place starts a block, for the journal thread's direct writes.
        let mut offset = staging.size.next_multiple_of(BLOCK as u64);
        if staging.number == 0 || offset + u64::from(len) > room {
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            staging.number = number;
            offset = 0;
            staging.live.insert(number, InFlight::default());
        }
        let at = SegmentRef {
            segment: staging.number,
            offset,
            len,
            crc,
        };
        staging.size = offset + u64::from(len);
        staging.unwritten.push((at, payload));
        staging
            .live
            .get_mut(&at.segment)
            .expect("inserted above")
            .held += 1;
        Ok(Held {
            payloads: self,
            at,
            journaled: None,
        })
    }

    /// Holds `at`, a payload's place in a staging segment of this run, for a rewrite of its
    /// record to point at; `None` when it is elsewhere (an older run's segment, or this run's
    /// own, whose bytes are synced only at the next checkpoint), so the rewrite carries the
    /// payload.
    pub(in crate::store) fn pin(&self, at: SegmentRef) -> Option<Held<'_>> {
        self.staging().live.get_mut(&at.segment)?.held += 1;
        Some(Held {
            payloads: self,
            at,
            journaled: None,
        })
    }

    /// A staged payload not written yet.
    pub(super) fn unwritten(&self, at: SegmentRef) -> Option<Vec<u8>> {
        let staging = self.staging();
        let (_, bytes) = staging
            .unwritten
            .iter()
            .find(|(placed, _)| placed.segment == at.segment && placed.offset == at.offset)?;
        Some(bytes.to_vec())
    }

    /// Writes the payloads staged so far, for the journal thread before it writes each frame;
    /// `None` if there were none. Sync what it returns before the frame counts as durable.
    pub(in crate::store) fn write_staged(&self) -> io::Result<Option<Written<'_>>> {
        let batch = self.staging().unwritten.clone();
        if batch.is_empty() {
            return Ok(None);
        }
        let mut file = self.staging_file.lock().expect("staging lock poisoned");
        let mut written = Written {
            payloads: self,
            segments: Vec::new(),
            created: false,
            count: batch.len(),
        };
        file.gathered = None;
        for (at, bytes) in &batch {
            if file
                .open
                .as_ref()
                .is_none_or(|(number, _)| *number != at.segment)
            {
                // Places are handed out in order: the segment left is done, and synced with
                // this batch unless an earlier one did.
                file.flush()?;
                // Through the page cache if the last segment's direct writes were refused.
                let mut buffered = false;
                if let Some((_, done)) = file.open.take() {
                    buffered = !done.is_direct();
                    written.segments.push(done.file);
                }
                written.created = true;
                let segment = create_segment(&self.dir, at.segment, buffered)?;
                file.open = Some((at.segment, segment));
            }
            file.write(bytes, at.offset)?;
        }
        file.flush()?;
        if let Some((_, open)) = &file.open {
            written.segments.push(open.file.clone());
        }
        Ok(Some(written))
    }

    /// Whether a journaled `record`'s payload, if staged, is on disk whole: the replay asks it
    /// of the journal's newest frame, whose payloads were synced beside it rather than before
    /// it (`journal.rs`).
    pub(in crate::store) fn staged_payload_intact(&self, record: &[u8]) -> io::Result<()> {
        match executions::staged_place(record) {
            Some(at) => self.read(at).map(drop),
            None => Ok(()),
        }
    }
}

/// Staged payloads written and not yet synced ([`Payloads::write_staged`]).
pub(in crate::store) struct Written<'a> {
    payloads: &'a Payloads,
    /// The segments written to.
    segments: Vec<Arc<File>>,
    /// A segment file was created: the directory needs a sync too.
    created: bool,
    /// How many of the unwritten payloads were written.
    count: usize,
}

impl Written<'_> {
    /// Syncs the payloads written; from then on they are read from their segment.
    pub(in crate::store) fn sync(&self) -> io::Result<()> {
        for segment in &self.segments {
            segment.sync_data()?;
        }
        if self.created {
            File::open(&self.payloads.dir)?.sync_all()?;
        }
        self.payloads.staging().unwritten.drain(..self.count);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment_path;
    use super::*;

    /// Stages payloads of odd sizes into one segment, writes and syncs them as the journal
    /// thread does, and reads them back. `refused`: the segment before had its direct writes
    /// refused, so this one is written through the page cache.
    fn stage_write_read(refused: bool) {
        let dir = tempfile::tempdir().unwrap();
        let payloads = Payloads::open(dir.path(), Arc::default()).unwrap();
        if refused {
            let before = dir.path().join("before");
            let file = File::create(&before).unwrap();
            payloads.staging_file.lock().unwrap().open =
                Some((0, Target::new(file, &before, true)));
        }
        let bodies: Vec<Vec<u8>> = [10_001, 5, 20_003]
            .iter()
            .enumerate()
            .map(|(n, &len)| (0..len).map(|i| (i * 7 + n) as u8).collect())
            .collect();
        let held: Vec<Held<'_>> = bodies
            .iter()
            .map(|b| payloads.stage(b.clone().into()).unwrap())
            .collect();
        let places: Vec<SegmentRef> = held.iter().map(|h| h.at).collect();
        assert!(places.iter().all(|at| at.segment == places[0].segment));
        let offsets: Vec<u64> = places.iter().map(|at| at.offset).collect();
        assert_eq!(
            offsets,
            vec![0, 12_288, 16_384],
            "each place starts a block"
        );

        payloads.write_staged().unwrap().unwrap().sync().unwrap();
        assert!(payloads.staging().unwritten.is_empty());
        let path = segment_path(&payloads.dir, places[0].segment);
        let direct = payloads
            .staging_file
            .lock()
            .unwrap()
            .open
            .as_ref()
            .unwrap()
            .1
            .is_direct();
        // Direct wherever the filesystem takes it (not on an old tmpfs), never after a refusal.
        let possible = Target::new(File::open(&path).unwrap(), &path, false).is_direct();
        assert_eq!(direct, possible && !refused);
        for (at, body) in places.iter().zip(&bodies) {
            assert_eq!(&payloads.read(*at).unwrap(), body);
        }
        let file = std::fs::read(&path).unwrap();
        let end: usize = 16_384 + 20_003;
        match direct {
            // Padded with zeros to whole blocks.
            true => assert_eq!(file.len(), direct::padded(end)),
            false => assert_eq!(file.len(), end),
        }
        assert!(file[10_001..12_288].iter().all(|&b| b == 0));
        assert!(file[end..].iter().all(|&b| b == 0));
    }

    #[test]
    fn staged_payloads_start_on_blocks_and_read_back_whole_when_written_directly() {
        stage_write_read(false);
    }

    #[test]
    fn staged_payloads_read_back_whole_when_written_through_the_page_cache() {
        stage_write_read(true);
    }

    /// A payload longer than one direct write goes in several, each at its place, and the
    /// payload after it is gathered again.
    #[test]
    fn a_payload_larger_than_a_direct_write_is_written_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks");
        let target = Target::new(File::create(&path).unwrap(), &path, false);
        let direct_here = target.is_direct();
        let mut staging = StagingFile {
            open: Some((1, target)),
            ..StagingFile::default()
        };
        let big: Vec<u8> = (0..CHUNK * 2 + 999).map(|i| (i % 251) as u8).collect();
        let small = vec![7u8; 5_000];
        let small_at = direct::padded(8192 + big.len());
        staging.write(&big, 8192).unwrap();
        staging.write(&small, small_at as u64).unwrap();
        staging.flush().unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(&written[8192..8192 + big.len()], &big[..]);
        assert_eq!(&written[small_at..small_at + small.len()], &small[..]);
        let end = small_at + small.len();
        match direct_here {
            true => assert_eq!(written.len(), direct::padded(end)),
            false => assert_eq!(written.len(), end),
        }
        assert!(
            staging.blocks.allocated() <= CHUNK + BLOCK,
            "one chunk's buffer"
        );
    }
}
