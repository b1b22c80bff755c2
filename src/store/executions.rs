//! The execution log: executions, their per-hook index (newest first), and pending jobs.

use std::borrow::Cow;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use sled::IVec;

use super::hook_sizes::Known;
use super::payloads::{self, SegmentRef};
use super::{Batch, Database, StoreError, keys};
use crate::clock::Millis;
use crate::execution::{Execution, ExecutionId, Status};

/// An execution that is not final yet, with when it is due.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingJob {
    pub id: ExecutionId,
    pub hook_id: String,
    pub due_ms: Millis,
}

/// A pending job as stored under its execution's id (`keys::job`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredJob {
    hook_id: String,
    due_ms: Millis,
}

/// One page of a hook's executions.
#[derive(Debug, Clone)]
pub struct ExecutionPage {
    pub executions: Vec<Execution>,
    /// Pass back as `cursor` for the next (older) page.
    pub next_cursor: Option<ExecutionId>,
}

impl Database {
    /// Writes new executions with their index entries and, for those not final, their jobs, in
    /// one atomic batch. Not durable until [`super::Storage::sync`].
    pub(super) fn insert_executions(&self, executions: &mut [Execution]) -> Result<(), StoreError> {
        // The execution goes last: a job or index entry without one is skipped by readers.
        let mut batch = Batch::default();
        let mut held = Vec::new();
        for e in executions.iter_mut() {
            if !e.status.is_final() {
                batch.insert_new(keys::job(e.id), job_value(e)?);
            }
            batch.insert_new(keys::hook_index(&e.hook_id, e.id), &[][..]);
            let record = if e.trigger.raw_body.0.len() >= payloads::STAGE_MIN {
                let place = self
                    .payloads
                    .stage(e.trigger.raw_body.0.clone())
                    .map_err(StoreError::Payload)?;
                let record = encode_staged(e, place.at)?;
                held.push(place);
                record
            } else {
                encode_with_status(e)?
            };
            batch.insert_new(keys::execution(e.id), record);
        }
        let hooks = executions.iter().map(|e| e.hook_id.as_str());
        let pos = self.sizes.write(hooks, [], || self.log.apply_batch(batch));
        held.into_iter().for_each(|place| place.journaled(pos));
        executions.iter().for_each(|e| self.changes.announce(e));
        Ok(())
    }

    /// Rewrites an execution, which must carry its payload (as [`super::Storage::execution`] reads it);
    /// its job follows its status: removed once final, moved to the next attempt's time when
    /// retrying, left as it is otherwise.
    pub(super) fn update_execution(&self, e: &mut Execution) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let key = keys::execution(e.id);
        let payload = &e.trigger.raw_body.0;
        let kept = self.kept_payload(&key, payload);
        // A large payload staged already: the rewrite points at it, held until journaled.
        let place = match kept {
            Some((Some(at), _)) if payload.len() >= payloads::STAGE_MIN => self.payloads.pin(at),
            _ => None,
        };
        match (&place, kept) {
            (Some(place), _) => batch.insert(key, encode_staged(e, place.at)?),
            // A status update keeps its payload: the journal takes the record without it, so a
            // payload is journaled once however often its execution changes.
            (None, Some((_, crc))) => {
                let record = encode_with_status(e)?;
                let journaled = same_payload_form(&record, crc)?;
                batch.insert_journaled_as(key, record, journaled);
            }
            (None, None) => batch.insert(key, encode_with_status(e)?),
        }
        if e.status.is_final() {
            batch.remove(keys::job(e.id));
        } else if e.status == Status::Retrying {
            batch.insert(keys::job(e.id), job_value(e)?);
        }
        let pos = self.log.apply_batch(batch);
        if let Some(place) = place {
            place.journaled(pos);
        }
        self.changes.announce(e);
        Ok(())
    }

    /// When the record stored under `key` holds this same non-empty `payload`: where (in a
    /// segment, or `None` in the record itself) and the payload's CRC32.
    fn kept_payload(&self, key: &[u8], payload: &[u8]) -> Option<(Option<SegmentRef>, u32)> {
        if payload.is_empty() {
            return None;
        }
        let stored = self.log.get(key).ok()??;
        let crc = crc32fast::hash(payload);
        match split(&stored).ok()?.1 {
            Stored::Inline(bytes) if bytes == payload => Some((None, crc)),
            Stored::Kept(at) if at.len as usize == payload.len() && at.crc == crc => {
                Some((Some(at), crc))
            }
            _ => None,
        }
    }

    /// Takes back executions [`Database::insert_executions`] wrote whose sync failed or was
    /// given up on: their delivery was refused, so nothing of them may run or be shown. The
    /// removals follow the inserts into the journal, so should the inserts reach the disk
    /// after all, so do they.
    pub(super) fn forget_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        for e in executions {
            batch.remove(keys::execution(e.id));
            batch.remove(keys::hook_index(&e.hook_id, e.id));
            batch.remove(keys::job(e.id));
        }
        let hooks = executions.iter().map(|e| e.hook_id.as_str());
        self.sizes.write([], hooks, || {
            self.log.apply_batch(batch);
        });
        Ok(())
    }

    /// Forgets a pending job (its execution is gone).
    pub(super) fn drop_job(&self, id: ExecutionId) -> Result<(), StoreError> {
        self.log.remove(keys::job(id));
        Ok(())
    }

    pub(super) fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        let key = keys::execution(id);
        match self.log.get(&key)? {
            Some(bytes) => self.read_stored(&key, &bytes),
            None => Ok(None),
        }
    }

    /// The execution stored under `key` as `bytes`, read whole. When its JSON or payload
    /// cannot be read, the record is looked up again: pruning may have removed it meanwhile
    /// (`None`), or a compaction moved its bytes and let their file go (read from the new
    /// place).
    pub(super) fn read_stored(
        &self,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<Option<Execution>, StoreError> {
        let error = match self.read_whole(bytes) {
            // Written after the journal failed: not kept, and forgotten by the reopen.
            Err(e) if never_written(&e) => return Ok(None),
            Err(e @ StoreError::Payload(_)) => e,
            read => return read.map(Some),
        };
        match self.log.get(key)? {
            None => Ok(None),
            Some(now) if *now != *bytes => match self.read_whole(&now) {
                Err(e) if never_written(&e) => Ok(None),
                read => read.map(Some),
            },
            Some(_) => Err(error),
        }
    }

    /// An execution from its stored record, its payload read from a segment when kept there.
    fn read_whole(&self, bytes: &[u8]) -> Result<Execution, StoreError> {
        let (json, payload) = split(bytes)?;
        let payload = match payload {
            Stored::Inline(payload) => payload.to_vec(),
            Stored::Kept(at) => self.payloads.read(at).map_err(StoreError::Payload)?,
        };
        decode(&self.json_of(json)?, Some(payload))
    }

    /// A stored record's JSON, read from its segment when it is filed there.
    fn json_of<'a>(&self, json: Json<'a>) -> Result<Cow<'a, [u8]>, StoreError> {
        match json {
            Json::Here(json) => Ok(Cow::Borrowed(json)),
            Json::Filed(at) => self
                .payloads
                .read(at)
                .map(Cow::Owned)
                .map_err(StoreError::Payload),
        }
    }

    /// Every execution, oldest first, after `after` when given, at most `limit`, payloads
    /// included.
    pub(super) fn executions_after(
        &self,
        after: Option<ExecutionId>,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let from = match after {
            Some(id) => Bound::Excluded(keys::execution(id)),
            None => Bound::Included(vec![keys::EXECUTION]),
        };
        let to = Bound::Excluded(vec![keys::EXECUTION + 1]);
        let mut executions = Vec::with_capacity(limit.min(1024));
        for item in self.log.range((from, to)) {
            if executions.len() == limit {
                break;
            }
            let (key, bytes) = item?;
            executions.extend(self.read_stored(&key, &bytes)?);
        }
        Ok(executions)
    }

    /// A hook's executions, newest first, older than `cursor` when given, optionally only
    /// those with `status`.
    pub(super) fn executions_of(
        &self,
        hook_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<ExecutionId>,
    ) -> Result<ExecutionPage, StoreError> {
        let prefix = keys::hook_prefix(hook_id);
        let upper = match cursor {
            Some(c) => keys::hook_index(hook_id, c),
            None => {
                let mut end = prefix.clone();
                *end.last_mut().expect("prefix ends with a separator") = 1;
                end
            }
        };
        let mut executions = Vec::new();
        let mut next_cursor = None;
        for item in self.log.range(prefix..upper).rev() {
            let (key, _) = item?;
            let Some(id) = keys::trailing_id(&key) else {
                continue;
            };
            let key = keys::execution(id);
            let Some(bytes) = self.log.get(&key)? else {
                continue;
            };
            // A filed record says its status without its segments being read.
            if status.is_some_and(|s| carried_status(&bytes).is_some_and(|f| f != s)) {
                continue;
            }
            let Some(e) = self.read_stored(&key, &bytes)? else {
                continue;
            };
            if status.is_some_and(|s| s != e.status) {
                continue;
            }
            if executions.len() == limit {
                next_cursor = executions.last().map(|e: &Execution| e.id);
                break;
            }
            executions.push(e);
        }
        Ok(ExecutionPage {
            executions,
            next_cursor,
        })
    }

    /// The newest failed executions of any hook, newest first, looking at no more than the
    /// newest `scan` executions. Payloads are left out.
    pub(super) fn recent_failures(
        &self,
        limit: usize,
        scan: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let mut failed = Vec::new();
        for item in self.log.scan_prefix([keys::EXECUTION]).rev().take(scan) {
            let (_, bytes) = item?;
            if carried_status(&bytes).is_some_and(|s| s != Status::Failed) {
                continue;
            }
            let json = match self.json_of(split(&bytes)?.0) {
                Err(e) if never_written(&e) => continue,
                json => json?,
            };
            let e = decode(&json, None)?;
            if e.status == Status::Failed {
                failed.push(e);
                if failed.len() == limit {
                    break;
                }
            }
        }
        Ok(failed)
    }

    /// Every execution that is not final, oldest first: what a restart must pick up again.
    pub(super) fn pending_jobs(&self) -> Result<Vec<PendingJob>, StoreError> {
        let mut jobs = Vec::new();
        for item in self.log.scan_prefix([keys::JOB]) {
            let (key, value) = item?;
            let StoredJob { hook_id, due_ms } = serde_json::from_slice(&value)?;
            if let Some(id) = keys::trailing_id(&key) {
                jobs.push(PendingJob {
                    id,
                    hook_id,
                    due_ms,
                });
            }
        }
        Ok(jobs)
    }

    /// Deletes final executions older than `cutoff_ms` or beyond the newest `max_per_hook` of
    /// their hook. Returns how many were removed.
    pub(super) fn prune(
        &self,
        cutoff_ms: Millis,
        max_per_hook: usize,
    ) -> Result<usize, StoreError> {
        self.sizes.forget_all();
        self.prune_range(
            self.log.scan_prefix([keys::HOOK_INDEX]).rev(),
            cutoff_ms,
            max_per_hook,
            |_, _| {},
        )
    }

    /// [`Database::prune`] for one hook's part of the index. When the hook's size is known
    /// (`hook_sizes.rs`) only its oldest entries are read, as many as are removed; otherwise the
    /// whole index is scanned newest first, which counts it.
    pub(super) fn prune_hook(
        &self,
        hook_id: &str,
        cutoff_ms: Millis,
        max: usize,
    ) -> Result<usize, StoreError> {
        match self.sizes.get(hook_id) {
            Some(known) => self.prune_oldest(hook_id, cutoff_ms, max, known),
            None => {
                let newest_first = self.sizes.count_from_now(hook_id, || {
                    self.log.scan_prefix(keys::hook_prefix(hook_id)).rev()
                });
                self.prune_range(newest_first, cutoff_ms, max, |hook, kept| {
                    self.sizes.learnt(hook, kept)
                })
            }
        }
    }

    /// Removes what a full prune would from the hook's oldest entries past its newest `max`
    /// (`known.size - max` of them) and any older than `cutoff_ms`, reading its index from
    /// where the last prune left off. What runs or waits stays.
    fn prune_oldest(
        &self,
        hook_id: &str,
        cutoff_ms: Millis,
        max: usize,
        known: Known,
    ) -> Result<usize, StoreError> {
        let excess = known.size.saturating_sub(max);
        let start = match known.resume {
            Some(id) => keys::hook_index(hook_id, id),
            None => keys::hook_prefix(hook_id),
        };
        let mut removals = Removals::new(self, Some(hook_id));
        // The oldest entry left in place, where the next prune starts.
        let mut resume = None;
        // Reading stops after `excess` entries (unless they are old): the range copies the
        // table's entries a few at a time, so a busy hook's newest are not read.
        let oldest = self.log.range(start..keys::hook_end(hook_id));
        for (position, item) in oldest.enumerate() {
            let (key, _) = item?;
            let Some(id) = keys::trailing_id(&key) else {
                continue;
            };
            let too_old = id.timestamp_ms() < cutoff_ms;
            if position >= excess && !too_old {
                resume.get_or_insert(id);
                break;
            }
            if self.is_final(id)? {
                removals.add(&key, id);
            } else {
                resume.get_or_insert(id);
            }
        }
        let removed = removals.finish();
        self.sizes.resume_at(hook_id, resume);
        Ok(removed)
    }

    /// Prunes the index entries `newest_first` yields, hook by hook, newest first within each,
    /// so the count of kept ones is exact; `counted` hears each hook's kept count.
    fn prune_range(
        &self,
        newest_first: impl Iterator<Item = sled::Result<(IVec, IVec)>>,
        cutoff_ms: Millis,
        max_per_hook: usize,
        mut counted: impl FnMut(&str, usize),
    ) -> Result<usize, StoreError> {
        // Not through the sizes: a count under way counts what this scan keeps.
        let mut removals = Removals::new(self, None);
        let mut current_hook: Option<String> = None;
        let mut kept = 0usize;
        for item in newest_first {
            let (key, _) = item?;
            let (Some(hook), Some(id)) = (keys::hook_of_index(&key), keys::trailing_id(&key))
            else {
                continue;
            };
            if current_hook.as_deref() != Some(hook) {
                if let Some(done) = &current_hook {
                    counted(done, kept);
                }
                current_hook = Some(hook.to_string());
                kept = 0;
            }
            let too_old = id.timestamp_ms() < cutoff_ms;
            if (kept >= max_per_hook || too_old) && self.is_final(id)? {
                removals.add(&key, id);
            } else {
                kept += 1;
            }
        }
        if let Some(done) = &current_hook {
            counted(done, kept);
        }
        Ok(removals.finish())
    }

    /// Whether the execution is final (or gone): only one that is not has a job
    /// ([`Database::insert_executions`], [`Database::update_execution`]). The jobs are few and
    /// read often, so this reads none of the old records pruning goes through, which are
    /// rarely in sled's small cache and would each be read and parsed.
    fn is_final(&self, id: ExecutionId) -> Result<bool, StoreError> {
        Ok(self.log.get(keys::job(id))?.is_none())
    }

    /// An execution's status, from its record alone: the payload is not read.
    pub(super) fn stored_status(&self, id: ExecutionId) -> Result<Option<Status>, StoreError> {
        let Some(bytes) = self.log.get(keys::execution(id))? else {
            return Ok(None);
        };
        if let Some(status) = carried_status(&bytes) {
            return Ok(Some(status));
        }
        status_in(&self.json_of(split(&bytes)?.0)?).map(Some)
    }
}

/// Whether a read failed because the journal failed before it wrote the record's bytes
/// ([`super::journal::Unwritten`]): such a record was never kept, and readers pass over it.
fn never_written(error: &StoreError) -> bool {
    matches!(error, StoreError::Payload(e) if super::journal::Unwritten::is(e))
}

/// Executions pruning removes, written [`REMOVAL_CHUNK`] at a time: one journal record, one
/// turn of the writers' lock and of the hook's size for many executions instead of each.
/// Removals gathered when a scan fails are dropped: nothing was written, the next prune
/// finds them again.
struct Removals<'a> {
    db: &'a Database,
    /// The hook whose size (`hook_sizes.rs`) follows the removals, if any.
    hook: Option<&'a str>,
    batch: Batch,
    pending: usize,
    written: usize,
}

/// Executions removed per write.
const REMOVAL_CHUNK: usize = 256;

impl<'a> Removals<'a> {
    fn new(db: &'a Database, hook: Option<&'a str>) -> Self {
        Self {
            db,
            hook,
            batch: Batch::default(),
            pending: 0,
            written: 0,
        }
    }

    /// Removes one execution and its index entry (at the latest by [`Removals::finish`]).
    fn add(&mut self, index_key: &[u8], id: ExecutionId) {
        self.batch.remove(index_key);
        self.batch.remove(keys::execution(id));
        self.pending += 1;
        if self.pending == REMOVAL_CHUNK {
            self.write();
        }
    }

    fn write(&mut self) {
        let (batch, n) = (
            std::mem::take(&mut self.batch),
            std::mem::take(&mut self.pending),
        );
        if n == 0 {
            return;
        }
        let log = &self.db.log;
        match self.hook {
            Some(hook) => {
                let removed = std::iter::repeat_n(hook, n);
                self.db.sizes.write([], removed, || log.apply_batch(batch));
            }
            None => {
                log.apply_batch(batch);
            }
        }
        self.written += n;
    }

    /// Writes what is left; how many executions were removed.
    fn finish(mut self) -> usize {
        self.write();
        self.written
    }
}

/// The stored form: [`RECORD`], the JSON's length (u32 LE), the execution as JSON without its
/// payload, then the payload's raw bytes. The parsed body is derived again on read. (Records
/// written before this form are rewritten in it at open: `migrate.rs`.)
const RECORD: u8 = 2;

pub(super) fn encode(e: &mut Execution) -> Result<Vec<u8>, StoreError> {
    encode_after(e, &[RECORD], None)
}

/// The form the sled store's writers use: [`RECORD_WITH_STATUS`], the execution's status (one
/// byte, [`status_byte`]), then as [`RECORD`] from the length on. The table files the record
/// with its status (`payloads.rs`) without parsing the JSON for it.
const RECORD_WITH_STATUS: u8 = 5;

pub(super) fn encode_with_status(e: &mut Execution) -> Result<Vec<u8>, StoreError> {
    encode_after(e, &[RECORD_WITH_STATUS, status_byte(e.status)], None)
}

/// The form of a writer's record whose payload is staged (`payloads/staged.rs`):
/// [`RECORD_STAGED`], the execution's status (one byte, [`status_byte`]), the JSON's length, the
/// JSON, then where the payload is ([`SegmentRef`]).
const RECORD_STAGED: u8 = 6;

pub(super) fn encode_staged(e: &mut Execution, at: SegmentRef) -> Result<Vec<u8>, StoreError> {
    encode_after(e, &[RECORD_STAGED, status_byte(e.status)], Some(at))
}

/// The journal's form of a rewrite that keeps the payload of the record before it:
/// [`RECORD_SAME_PAYLOAD`], the status byte, the JSON's length, the JSON, then the payload's
/// length and CRC32 (u32 LE each) in place of its bytes. Only the journal holds it (the table
/// is given the whole record); a replay finds the payload in the key's record before it
/// (`payloads.rs`, `convert`), which the journal has before this one or the table had saved.
const RECORD_SAME_PAYLOAD: u8 = 7;

/// `record`, in the form [`encode_with_status`] makes, with its payload (whose CRC32 is `crc`)
/// left out.
pub(super) fn same_payload_form(record: &[u8], crc: u32) -> Result<Vec<u8>, StoreError> {
    let (json, payload) = match split(record)? {
        (Json::Here(json), Stored::Inline(payload))
            if record.first() == Some(&RECORD_WITH_STATUS) =>
        {
            (json, payload)
        }
        _ => return Err(StoreError::UnknownForm),
    };
    let head = 2 + 4 + json.len();
    let mut out = Vec::with_capacity(head + 8);
    out.extend_from_slice(&record[..head]);
    out[0] = RECORD_SAME_PAYLOAD;
    let len = u32::try_from(payload.len()).map_err(|_| StoreError::Truncated)?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A record in the journal-only form [`RECORD_SAME_PAYLOAD`]: its status, its JSON, and the
/// length and CRC32 of the payload it keeps; `None` for other forms.
pub(super) fn same_payload(bytes: &[u8]) -> Option<(Status, &[u8], u32, u32)> {
    let [RECORD_SAME_PAYLOAD, status, rest @ ..] = bytes else {
        return None;
    };
    let status = status_of_byte(*status)?;
    let json_len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let json = rest.get(4..4 + json_len)?;
    let tail = rest.get(4 + json_len..)?;
    let [l0, l1, l2, l3, c0, c1, c2, c3] = *tail else {
        return None;
    };
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    Some((status, json, len, crc))
}

/// Where the parts of a record as writers journal it start within it: its JSON, and its
/// payload when the record holds the payload's bytes (not where it is staged, nor only its
/// length and CRC32). `None` for a form writers do not journal.
pub(super) fn parts_at(bytes: &[u8]) -> Option<(usize, Option<usize>)> {
    let [
        kind @ (RECORD_WITH_STATUS | RECORD_STAGED | RECORD_SAME_PAYLOAD),
        _,
        l0,
        l1,
        l2,
        l3,
        ..,
    ] = *bytes
    else {
        return None;
    };
    let json_end = 6 + u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    Some((6, (kind == RECORD_WITH_STATUS).then_some(json_end)))
}

/// Where a record in the staged form says its payload is; `None` for other forms.
pub(super) fn staged_place(bytes: &[u8]) -> Option<SegmentRef> {
    if bytes.first() != Some(&RECORD_STAGED) {
        return None;
    }
    match split(bytes) {
        Ok((_, Stored::Kept(at))) => Some(at),
        _ => None,
    }
}

/// `head`, the JSON's length, the JSON, then the payload or where it is.
fn encode_after(
    e: &mut Execution,
    head: &[u8],
    payload_at: Option<SegmentRef>,
) -> Result<Vec<u8>, StoreError> {
    let body = std::mem::take(&mut e.trigger.body);
    let raw = std::mem::take(&mut e.trigger.raw_body);
    let payload_len = payload_at.map_or(raw.0.len(), |_| SegmentRef::ENCODED_LEN);
    let mut out = Vec::with_capacity(1024 + payload_len);
    out.extend_from_slice(head);
    out.extend_from_slice(&[0; 4]);
    let start = out.len();
    let written = serde_json::to_writer(&mut out, e);
    e.trigger.body = body;
    e.trigger.raw_body = raw;
    written?;
    let json_len = u32::try_from(out.len() - start).map_err(|_| StoreError::Truncated)?;
    out[start - 4..start].copy_from_slice(&json_len.to_le_bytes());
    match payload_at {
        Some(at) => at.encode(&mut out),
        None => out.extend_from_slice(&e.trigger.raw_body.0),
    }
    Ok(out)
}

/// The form older hubs wrote for a record whose payload they kept in a segment: [`RECORD_KEPT`],
/// the JSON's length, the JSON, then where the payload is ([`SegmentRef`]). Read, no longer
/// written.
const RECORD_KEPT: u8 = 3;

/// A record filed in segments (`payloads.rs`): [`RECORD_FILED`], the execution's status (one
/// byte, [`status_byte`]), where its JSON is, where its payload is. The log's table holds these 50
/// bytes for it; only its writers (`log_tree.rs`) and compaction write them.
const RECORD_FILED: u8 = 4;
pub(super) const FILED_LEN: usize = 2 + 2 * SegmentRef::ENCODED_LEN;

/// Where a stored record's JSON is.
pub(super) enum Json<'a> {
    /// In the record, these bytes.
    Here(&'a [u8]),
    /// In a segment.
    Filed(SegmentRef),
}

/// Where a stored record's payload is.
pub(super) enum Stored<'a> {
    /// In the record, these bytes.
    Inline(&'a [u8]),
    /// In a segment.
    Kept(SegmentRef),
}

/// A stored record's JSON and its payload, or where they are.
pub(super) fn split(bytes: &[u8]) -> Result<(Json<'_>, Stored<'_>), StoreError> {
    // The form, as far as the rest is concerned, and where the JSON's length is.
    let (kind, at) = match bytes.first() {
        Some(&RECORD_FILED) => {
            let place = |at: usize| {
                bytes
                    .get(at..at + SegmentRef::ENCODED_LEN)
                    .and_then(SegmentRef::decode)
                    .ok_or(StoreError::Truncated)
            };
            let json = place(2)?;
            let payload = place(2 + SegmentRef::ENCODED_LEN)?;
            return Ok((Json::Filed(json), Stored::Kept(payload)));
        }
        Some(&RECORD_WITH_STATUS) => (RECORD, 2),
        Some(&RECORD_STAGED) => (RECORD_KEPT, 2),
        Some(&kind @ (RECORD | RECORD_KEPT)) => (kind, 1),
        _ => return Err(StoreError::UnknownForm),
    };
    let len: [u8; 4] = bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or(StoreError::Truncated)?;
    let end = at + 4 + u32::from_le_bytes(len) as usize;
    let json = Json::Here(bytes.get(at + 4..end).ok_or(StoreError::Truncated)?);
    let rest = &bytes[end..];
    if kind == RECORD {
        return Ok((json, Stored::Inline(rest)));
    }
    let at = SegmentRef::decode(rest).ok_or(StoreError::Truncated)?;
    Ok((json, Stored::Kept(at)))
}

/// The record sled holds for an execution of `status` whose JSON and payload are filed at
/// `json` and `payload`.
pub(super) fn filed(status: Status, json: SegmentRef, payload: SegmentRef) -> Vec<u8> {
    let mut out = Vec::with_capacity(FILED_LEN);
    out.push(RECORD_FILED);
    out.push(status_byte(status));
    json.encode(&mut out);
    payload.encode(&mut out);
    out
}

/// The status a record carries beside its JSON (filed, or as the sled store's writers make
/// it), so counting and filtering by status parses no JSON and reads no segment; `None` for
/// other forms.
pub(super) fn carried_status(bytes: &[u8]) -> Option<Status> {
    match bytes {
        [RECORD_FILED, status, ..] if bytes.len() == FILED_LEN => status_of_byte(*status),
        [RECORD_WITH_STATUS | RECORD_STAGED, status, ..] => status_of_byte(*status),
        _ => None,
    }
}

/// A status as stored in a filed record. Fixed: records on disk carry these numbers.
fn status_byte(status: Status) -> u8 {
    match status {
        Status::Queued => 0,
        Status::Running => 1,
        Status::Retrying => 2,
        Status::Succeeded => 3,
        Status::Failed => 4,
        Status::Skipped => 5,
    }
}

fn status_of_byte(byte: u8) -> Option<Status> {
    Some(match byte {
        0 => Status::Queued,
        1 => Status::Running,
        2 => Status::Retrying,
        3 => Status::Succeeded,
        4 => Status::Failed,
        5 => Status::Skipped,
        _ => return None,
    })
}

/// The status in a record's JSON, read without building the rest.
pub(super) fn status_in(json: &[u8]) -> Result<Status, StoreError> {
    #[derive(Deserialize)]
    struct StatusOf {
        status: Status,
    }
    Ok(serde_json::from_slice::<StatusOf>(json)?.status)
}

pub(super) fn decode(json: &[u8], payload: Option<Vec<u8>>) -> Result<Execution, StoreError> {
    let mut e: Execution = serde_json::from_slice(json)?;
    if let Some(raw) = payload {
        e.trigger.raw_body = crate::execution::RawBody(raw.into());
    }
    if e.trigger.body.is_null() {
        e.trigger.body = crate::payload::body_of(&e.trigger);
    }
    Ok(e)
}

fn job_value(e: &Execution) -> Result<Vec<u8>, StoreError> {
    let job = StoredJob {
        hook_id: e.hook_id.clone(),
        due_ms: e.next_attempt_at.unwrap_or(e.received_at),
    };
    Ok(serde_json::to_vec(&job)?)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::execution::{RawBody, Trigger};
    use crate::store::{SledStore, Storage as _, migrate};

    /// An execution of `hook` received at `at` with `status`, and a small payload.
    pub(in crate::store) fn execution(hook: &str, at: Millis, status: Status) -> Execution {
        let trigger = Trigger {
            path: hook.into(),
            method: "POST".into(),
            headers: Default::default(),
            query: Default::default(),
            query_in_body: true,
            body: serde_json::json!({"at": at}),
            raw_body: RawBody(format!(r#"{{"at":{at}}}"#).into_bytes().into()),
        };
        Execution {
            status,
            ..Execution::queued(hook, trigger, at)
        }
    }

    #[test]
    fn records_written_before_they_carried_their_payload_are_read_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut old = execution("a", 1_000, Status::Succeeded);
        let raw = std::mem::take(&mut old.trigger.raw_body);
        {
            // As a hub from before format versions left it.
            let store = SledStore::open(dir.path()).unwrap();
            old.trigger.body = serde_json::Value::Null;
            let mut batch = Batch::default();
            batch.insert(keys::hook_index("a", old.id), []);
            batch.insert(keys::payload(old.id), &*raw.0);
            batch.insert(keys::execution(old.id), serde_json::to_vec(&old).unwrap());
            store.database().log.apply_batch(batch);
            migrate::forget_format(&store.database());
            store.flush_now().unwrap();
        }
        let store = SledStore::open_again(dir.path()).unwrap();

        let read = store.execution(old.id).unwrap().unwrap();
        assert_eq!(read.trigger.raw_body, raw);
        assert_eq!(read.trigger.body["at"], 1_000);
        assert_eq!(store.prune(2_000, 10).unwrap(), 1);
        store.flush_now().unwrap();
        assert_eq!(
            store.database().log.get(keys::payload(old.id)).unwrap(),
            None
        );
        assert_eq!(store.execution(old.id).unwrap(), None);
    }

    #[test]
    fn a_record_cut_short_is_an_error_not_a_panic() {
        let e = &mut execution("a", 1_000, Status::Queued);
        let bytes = encode(e).unwrap();
        assert!(matches!(split(&bytes[..3]), Err(StoreError::Truncated)));
        assert!(matches!(split(&bytes[..20]), Err(StoreError::Truncated)));
        let (Json::Here(json), Stored::Inline(payload)) = split(&bytes).unwrap() else {
            panic!("a record as written carries its JSON and payload");
        };
        assert_eq!(payload, br#"{"at":1000}"#);
        assert_eq!(decode(json, Some(payload.to_vec())).unwrap(), *e);
        assert_eq!(carried_status(&bytes), None);

        let with_status = encode_with_status(e).unwrap();
        assert_eq!(carried_status(&with_status), Some(Status::Queued));
        let (Json::Here(json), Stored::Inline(payload)) = split(&with_status).unwrap() else {
            panic!("a record as the log's writers make it carries its JSON and payload");
        };
        assert_eq!(decode(json, Some(payload.to_vec())).unwrap(), *e);
        assert!(matches!(
            split(&with_status[..4]),
            Err(StoreError::Truncated)
        ));

        let at = |segment| SegmentRef {
            segment,
            offset: 10,
            len: 20,
            crc: 30,
        };
        let filed = filed(Status::Retrying, at(1), at(2));
        let (Json::Filed(json), Stored::Kept(payload)) = split(&filed).unwrap() else {
            panic!("a filed record holds places");
        };
        assert_eq!((json, payload), (at(1), at(2)));
        assert_eq!(carried_status(&filed), Some(Status::Retrying));
        assert!(matches!(split(&filed[..40]), Err(StoreError::Truncated)));
        assert_eq!(carried_status(&filed[..40]), None);
    }

    #[test]
    fn every_status_has_its_own_byte() {
        use Status::*;
        let all = [Queued, Running, Retrying, Succeeded, Failed, Skipped];
        for status in all {
            assert_eq!(status_of_byte(status_byte(status)), Some(status));
        }
        let bytes: std::collections::BTreeSet<u8> = all.into_iter().map(status_byte).collect();
        assert_eq!(bytes.len(), all.len());
    }

    #[test]
    fn pruning_keeps_the_newest_per_hook_and_anything_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let mut all: Vec<Execution> = (1..=5)
            .map(|n| execution("a", n * 1_000, Status::Succeeded))
            .collect();
        all.push(execution("a", 500, Status::Queued));
        all.push(execution("b", 1_000, Status::Failed));
        store.insert_executions(&mut all).unwrap();

        // Older than 2.5 s goes, and hook a keeps at most 3.
        assert_eq!(store.prune(2_500, 3).unwrap(), 3);
        let left = |hook: &str| -> Vec<Millis> {
            let page = store.executions_of(hook, None, 50, None).unwrap();
            page.executions.iter().map(|e| e.received_at).collect()
        };
        assert_eq!(
            left("a"),
            vec![5_000, 4_000, 3_000, 500],
            "the queued one stays"
        );
        assert!(left("b").is_empty());
        let kept = store.executions_of("a", None, 1, None).unwrap().executions;
        assert_eq!(
            kept[0].trigger.body["at"], 5_000,
            "payload read back with the record"
        );
    }
}
