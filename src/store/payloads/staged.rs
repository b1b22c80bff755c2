//! Large payloads written beside the journal instead of into it.
//!
//! A journaled payload is written to disk twice: into the journal, then by the applier into a
//! segment. For a large body that second write is most of the work (1 MB deliveries ran at
//! 0.65-0.77x the durable ceiling, BENCHMARKS.md). So a payload of [`STAGE_MIN`] bytes or
//! more is staged instead: [`Payloads::stage`] gives it its place in a staging segment at
//! once, the writer journals a record that points there, and in each group commit the journal
//! thread writes the staged bytes before it writes the journal's frame
//! ([`Payloads::write_staged`]), then syncs both at once ([`Written::sync`]); only then is
//! anything in the frame answered. A kill -9 therefore never leaves a record pointing at bytes
//! that are not written; after a power cut, the replay drops the newest frame if a payload it
//! points at is not whole (`journal.rs`). The applier files a record without touching its
//! payload, and a status update of the execution points at the same place ([`Payloads::pin`])
//! rather than journaling the payload again.
//!
//! Until the table counts a place, the segment is protected while it is in flight: a writer
//! holds a place it has not journaled ([`Held`]), or the overlay holds a write pointing in that
//! the table has not taken (one journaled past the position the table has taken everything
//! up to). A staging segment nothing was ever counted for (every record pointing in was
//! replaced before the table took it) is deleted like one whose count fell to zero.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use bytes::Bytes;

use super::{Payloads, SEGMENT_BYTES, SegmentRef, create_segment, executions};

/// Payloads at least this large are staged. At 1 KB a journaled payload costs less than a second
/// file to sync in each group commit. (Larger in tests, so the applier's own path keeps its tests
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

/// The journal thread's open staging segment.
#[derive(Default)]
pub(super) struct StagingFile {
    open: Option<(u64, Arc<File>)>,
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
        if staging.number == 0 || staging.size + u64::from(len) > room {
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            staging.number = number;
            staging.size = 0;
            staging.live.insert(number, InFlight::default());
        }
        let at = SegmentRef {
            segment: staging.number,
            offset: staging.size,
            len,
            crc,
        };
        staging.size += u64::from(len);
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
    /// record to point at; `None` when it is elsewhere (an older run's segment, or the applier's,
    /// whose bytes are synced only at the next checkpoint), so the rewrite carries the payload.
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
        for (at, bytes) in &batch {
            let segment = match &file.open {
                Some((number, segment)) if *number == at.segment => segment,
                _ => {
                    // Places are handed out in order: the segment left is done, and synced with
                    // this batch unless an earlier one did.
                    if let Some((_, done)) = file.open.take() {
                        written.segments.push(done);
                    }
                    written.created = true;
                    let segment = Arc::new(create_segment(&self.dir, at.segment)?);
                    &file.open.insert((at.segment, segment)).1
                }
            };
            segment.write_all_at(bytes, at.offset)?;
        }
        if let Some((_, segment)) = &file.open {
            written.segments.push(segment.clone());
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
