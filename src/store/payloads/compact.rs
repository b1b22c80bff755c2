//! Moving the last records out of a file that is mostly dead, so that it can go.
//!
//! A kept journal file or a segment goes only once no record points into it. Records are
//! pruned per hook, so a quiet hook's execution, kept for retention's month, would keep the
//! whole 4 MiB file it arrived in, with the busier hooks' executions beside it long pruned: a
//! hub with one quiet and one busy hook would keep most of what the busy hook ever received.
//! So once in a while a checkpoint looks for files whose live bytes (the table's counts hold
//! them) are under a quarter of their size, copies the places still in them to this run's
//! segment and points the records there; the save that follows no longer counts the file, and
//! it goes with that save.
//!
//! A file is compacted only once its live bytes held still between two looks (a look that
//! finds one not yet still has the next save look again, not wait ten seconds). Retention prunes
//! a busy hook oldest first, a batch at a time, so a file the busy hook filled dies over a few
//! batches; caught between two of them, its last busy records were copied only to be pruned
//! a moment later, and the segments they went to held them, dead, until those were mostly
//! dead in turn. In a soak beside a quiet hook that made ~6 KB of segments for each quiet
//! execution kept, whose record and payload are ~2 (BENCHMARKS.md).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sled::IVec;

use super::{Count, CountChanges, Payloads, SegmentRef, segment_path};
use crate::store::executions::{self, Json, Stored};
use crate::store::journal;
use crate::store::keys;
use crate::store::table::Table;

/// A file smaller than this is left as it is, however little of it is live (smaller in tests,
/// which write little).
const MIN_SIZE: u64 = if cfg!(test) { 16 * 1024 } else { 1024 * 1024 };
/// A pass moves at most about this many live bytes: the save it runs in waits for it.
const MOST_MOVED: i64 = 8 * 1024 * 1024;

impl Payloads {
    /// The files to compact (as their count keys number them): kept journal files and segments
    /// of whole size, nothing new may point into (not the one being appended to, nor a
    /// staging segment in flight; `applied_through` as for [`Payloads::unused`]), whose live
    /// bytes are under a quarter of their size, and were the same at the last look (a file
    /// still losing records is left until it stops). The sparsest first, up to [`MOST_MOVED`].
    pub(in crate::store) fn sparse_files(
        &self,
        log: &Arc<Table>,
        applied_through: u64,
    ) -> io::Result<BTreeSet<u64>> {
        let kept: BTreeSet<u64> = journal::kept_files(&self.journal_dir)?
            .into_iter()
            .collect();
        let current = self.state.lock().expect("payloads lock poisoned").number;
        let (from, to) = keys::segment_counts();
        let mut sparse = Vec::new();
        let mut seen = self.sparse_seen.lock().expect("payloads lock poisoned");
        let last_look = std::mem::take(&mut *seen);
        let mut unsettled = false;
        for (key, value) in log.range(from, to) {
            let Some(number) = keys::segment_of_count(&key) else {
                continue;
            };
            let path = match SegmentRef::journal_file_of(number) {
                Some(file) if kept.contains(&file) => journal::kept_path(&self.journal_dir, file),
                Some(_) => continue,
                None if number == current || self.staging().in_flight(number, applied_through) => {
                    continue;
                }
                None => segment_path(&self.dir, number),
            };
            let Ok(size) = fs::metadata(&path).map(|m| m.len()) else {
                continue;
            };
            // A count from before format 5 does not know its bytes: left as it is.
            let Some(live) = Count::decode(&value).bytes else {
                continue;
            };
            let live = live.max(0);
            if size >= MIN_SIZE && live.unsigned_abs() < size / 4 {
                seen.insert(number, live);
                if last_look.get(&number) == Some(&live) {
                    sparse.push((live, number));
                } else {
                    unsettled = true;
                }
            }
        }
        drop(seen);
        self.sparse_unsettled.store(unsettled, Ordering::Relaxed);
        sparse.sort_unstable();
        let mut moved = 0;
        Ok(sparse
            .into_iter()
            .take_while(|&(live, _)| {
                moved += live;
                moved - live < MOST_MOVED
            })
            .map(|(_, number)| number)
            .collect())
    }

    /// Whether the last look found a mostly dead file it had not seen hold still: the next
    /// save should look again rather than wait the usual interval (`log_tree.rs`), so that
    /// such a file, once still, is kept about one save longer, not ten seconds.
    pub(in crate::store) fn sparse_unsettled(&self) -> bool {
        self.sparse_unsettled.load(Ordering::Relaxed)
    }

    /// Copies every place a record in `log` has in `files` to this run's segment, and says
    /// where each record is to point ([`Moves::commit`] points it there). Runs while writers go
    /// on. A place that cannot be read is left where it is (its file stays), and reported.
    pub(in crate::store) fn compact(
        &self,
        log: &Arc<Table>,
        files: &BTreeSet<u64>,
    ) -> io::Result<Moves> {
        let records = (
            Bound::Included(vec![keys::EXECUTION]),
            Bound::Excluded(vec![keys::EXECUTION + 1]),
        );
        let mut moves = Vec::new();
        for (key, value) in log.range(records.0, records.1) {
            let Ok((Json::Filed(json), Stored::Kept(payload))) = executions::split(&value) else {
                continue;
            };
            let Some(status) = executions::carried_status(&value) else {
                continue;
            };
            let mut places = [json, payload];
            let mut counts = CountChanges::default();
            for at in &mut places {
                if at.len == 0 || !files.contains(&at.segment) {
                    continue;
                }
                let bytes = match self.read(*at) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            "could not move a record's bytes out of a file that is mostly \
                             dead; the file stays"
                        );
                        continue;
                    }
                };
                let new = self.append(&bytes, at.crc)?;
                counts.lower(*at);
                counts.raise(new);
                *at = new;
            }
            if !counts.0.is_empty() {
                let [json, payload] = places;
                let record = IVec::from(executions::filed(status, json, payload));
                moves.push(Move {
                    key,
                    was: value,
                    record,
                    counts,
                });
            }
        }
        // Written before any record points at them, synced before a save holds one that does.
        self.write_pending()?;
        Ok(Moves(moves))
    }
}

/// Records [`Payloads::compact`] copied, to be pointed at their new places.
pub(in crate::store) struct Moves(Vec<Move>);

struct Move {
    key: IVec,
    /// The record as it was when its bytes were copied.
    was: IVec,
    record: IVec,
    counts: CountChanges,
}

impl Moves {
    /// Points each record at its copied bytes, unless it was rewritten or removed since they
    /// were copied (the copy is then left for a later compaction to find dead); returns how
    /// many moved. Under the writers' lock.
    pub(in crate::store) fn commit(self, log: &Table) -> usize {
        let mut moved = 0;
        for Move {
            key,
            was,
            record,
            counts,
        } in self.0
        {
            if log.get(&key).as_ref() != Some(&was) {
                continue;
            }
            counts.write_raised(log);
            log.insert(&key, record);
            counts.write_lowered(log);
            moved += 1;
        }
        moved
    }
}
