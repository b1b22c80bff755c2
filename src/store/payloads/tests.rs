use std::path::Path;

use super::*;
use crate::execution::{Execution, RawBody, Status, Trigger};
use crate::store::table::Table;
use crate::store::{SledStore, Storage as _};
use std::sync::Arc;

/// A JSON body of about `size` bytes, different for each `seed`.
fn execution(seed: u64, size: usize, status: Status) -> Execution {
    let pad = format!("{seed:x}").repeat(size);
    let raw = format!(r#"{{"seed":{seed},"pad":"{}"}}"#, &pad[..size]);
    let trigger = Trigger {
        path: "big".into(),
        method: "POST".into(),
        headers: Default::default(),
        query: Default::default(),
        query_in_body: true,
        body: serde_json::Value::Null,
        raw_body: RawBody(raw.into_bytes().into()),
    };
    Execution {
        status,
        ..Execution::queued("big", trigger, 1_000 + seed)
    }
}

/// The segment files in `dir/payloads`, by number, with their sizes.
fn segments(dir: &Path) -> Vec<(u64, u64)> {
    let mut found: Vec<(u64, u64)> = fs::read_dir(dir.join("payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| Some((segment_number(&p)?, fs::metadata(&p).unwrap().len())))
        .collect();
    found.sort();
    found
}

/// Writes `e` into a store on `dir`, checkpoints, and closes the store.
fn written(dir: &Path, e: &Execution) {
    let store = SledStore::open(dir).unwrap();
    store.insert_executions(&mut [e.clone()]).unwrap();
    store.flush_now().unwrap();
}

fn segment_file(dir: &Path, number: u64) -> std::path::PathBuf {
    segment_path(&dir.join("payloads"), number)
}

fn raw(store: &SledStore, e: &Execution) -> Vec<u8> {
    store
        .execution(e.id)
        .unwrap()
        .unwrap()
        .trigger
        .raw_body
        .0
        .to_vec()
}

/// The journal's files in `dir`, running, kept and spare.
fn journal_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
        })
        .collect();
    found.sort();
    found
}

/// How many times `needle` appears in the segments' bytes.
fn occurrences(dir: &Path, needle: &[u8]) -> usize {
    let files = segments(dir).into_iter().map(|(n, _)| segment_file(dir, n));
    in_files(files, needle)
}

/// How many times `needle` appears in the bytes of `files`.
fn in_files(files: impl IntoIterator<Item = std::path::PathBuf>, needle: &[u8]) -> usize {
    files
        .into_iter()
        .map(|path| {
            let bytes = fs::read(path).unwrap();
            bytes.windows(needle.len()).filter(|w| *w == needle).count()
        })
        .sum()
}

/// Where the table says a record's JSON and payload are.
fn places(store: &SledStore, e: &Execution) -> (SegmentRef, SegmentRef) {
    let filed = store
        .database()
        .checkpoints
        .table()
        .get(keys::execution(e.id))
        .expect("the table has the record");
    match executions::split(&filed).unwrap() {
        (Json::Filed(json), Stored::Kept(payload)) => (json, payload),
        _ => panic!("the record is not filed"),
    }
}

#[test]
fn a_record_is_filed_and_its_payload_written_once_however_often_the_record_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut big = execution(1, 100_000, Status::Queued);
    let mut small = execution(2, 300, Status::Queued);
    store
        .database()
        .insert_executions(&mut [big.clone(), small.clone()])
        .unwrap();
    // Rewritten before a checkpoint: the small one's update, journaled without its payload,
    // points at the insert's.
    big.status = Status::Running;
    store.update_execution(&mut big).unwrap();
    small.status = Status::Running;
    store.update_execution(&mut small).unwrap();
    store.flush_now().unwrap();

    // The large payload was staged in a segment; the small one, and both records' JSON, stay
    // where the journal wrote them. The table holds their places only.
    let payload = |e: &Execution| e.trigger.raw_body.0.clone();
    let journaled = |needle: &[u8]| in_journal(dir.path(), needle);
    assert_eq!(occurrences(dir.path(), &payload(&big)), 1);
    assert_eq!(journaled(&payload(&big)), 0);
    assert_eq!(occurrences(dir.path(), &payload(&small)), 0);
    assert_eq!(journaled(&payload(&small)), 1);
    let (json, payload_at) = places(&store, &small);
    assert!(json.journal_file().is_some() && payload_at.journal_file().is_some());
    let (json, payload_at) = places(&store, &big);
    assert!(json.journal_file().is_some() && payload_at.journal_file().is_none());
    let sled_holds = |e: &Execution| {
        let db = store.database();
        db.checkpoints.table().get(keys::execution(e.id)).unwrap()
    };
    assert_eq!(sled_holds(&big).len(), 50);
    assert_eq!(
        executions::carried_status(&sled_holds(&big)),
        Some(Status::Running)
    );
    assert_eq!(raw(&store, &big), payload(&big));
    assert_eq!(raw(&store, &small), payload(&small));

    // Status updates journal the record's JSON again; the payload stays where it is.
    small.status = Status::Running;
    store.update_execution(&mut small).unwrap();
    big.status = Status::Running;
    store.update_execution(&mut big).unwrap();
    store.flush_now().unwrap();
    big.status = Status::Succeeded;
    store.update_execution(&mut big).unwrap();
    small.status = Status::Succeeded;
    store.update_execution(&mut small).unwrap();
    store.flush_now().unwrap();
    assert_eq!(occurrences(dir.path(), &payload(&big)), 1);
    assert_eq!(journaled(&payload(&small)), 1);
    assert_eq!(occurrences(dir.path(), &payload(&small)), 0);
    let read = store.execution(big.id).unwrap().unwrap();
    assert_eq!(read.status, Status::Succeeded);
    assert_eq!(read.trigger.raw_body.0, payload(&big));
    assert_eq!(read.trigger.body["seed"], 1);
    let read = store.execution(small.id).unwrap().unwrap();
    assert_eq!(
        (read.status, read.trigger.raw_body.0),
        (Status::Succeeded, payload(&small))
    );
}

#[test]
fn an_empty_payload_is_filed_as_nothing_to_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut e = execution(9, 0, Status::Succeeded);
    e.trigger.raw_body = RawBody::default();
    store.insert_executions(&mut [e.clone()]).unwrap();
    store.flush_now().unwrap();
    let read = store.execution(e.id).unwrap().unwrap();
    assert!(read.trigger.raw_body.0.is_empty());
    assert_eq!(read.status, Status::Succeeded);
}

/// Writes `all` into a store on `dir` and closes it cleanly: the journal file they are in is
/// kept, not replayed.
fn written_and_closed(dir: &Path, all: &[Execution]) {
    let store = SledStore::open(dir).unwrap();
    store.insert_executions(&mut all.to_vec()).unwrap();
    store.close().unwrap();
}

/// The names of the journal's files in `dir` that end with `suffix`.
fn journal_names(dir: &Path, suffix: &str) -> Vec<String> {
    journal_files(dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(suffix))
        .collect()
}

#[test]
fn a_segment_goes_once_nothing_points_into_it() {
    let dir = tempfile::tempdir().unwrap();
    // Two payloads fill the first segment (128 KiB in tests); the third starts the next. They
    // reach segments by a replay: the table left no save that had them.
    let all: Vec<Execution> = (1..=3)
        .map(|seed| execution(seed, 50_000, Status::Succeeded))
        .collect();
    {
        let store = SledStore::open(dir.path()).unwrap();
        for e in &all {
            store.insert_executions(&mut [e.clone()]).unwrap();
        }
        synced(&store);
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    let numbers: Vec<u64> = segments(dir.path()).iter().map(|s| s.0).collect();
    assert_eq!(numbers.len(), 2, "{numbers:?}");

    // Pruning one of the first two leaves the first segment; pruning both deletes it at the
    // next checkpoint, and its count with it.
    assert_eq!(store.prune(1_002, 10).unwrap(), 1);
    store.flush_now().unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    assert_eq!(raw(&store, &all[1]), all[1].trigger.raw_body.0);
    assert_eq!(store.prune(1_003, 10).unwrap(), 1);
    store.flush_now().unwrap();
    assert_eq!(
        segments(dir.path()).iter().map(|s| s.0).collect::<Vec<_>>(),
        [numbers[1]]
    );
    assert_eq!(raw(&store, &all[2]), all[2].trigger.raw_body.0);
    let count = store
        .database()
        .checkpoints
        .table()
        .get(keys::segment_count(numbers[0]));
    assert!(
        count.is_none(),
        "the count of a deleted segment goes with it"
    );
}

#[test]
fn a_journal_file_records_point_into_is_kept_across_restarts_until_none_does() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<Execution> = (1..=3)
        .map(|seed| execution(seed, 5_000, Status::Succeeded))
        .collect();
    written_and_closed(dir.path(), &all);
    // The clean close checkpointed: nothing is left to replay, but the file the records are
    // in stays, kept.
    assert_eq!(journal_names(dir.path(), ".wal"), Vec::<String>::new());
    assert_eq!(journal_names(dir.path(), ".kept").len(), 1);
    let store = SledStore::open_again(dir.path()).unwrap();
    for e in &all {
        assert_eq!(raw(&store, e), e.trigger.raw_body.0);
        assert_eq!(occurrences(dir.path(), &e.trigger.raw_body.0), 0);
    }
    let (_, payload_at) = places(&store, &all[2]);
    let file = payload_at.journal_file().expect("in a journal file");
    let count = |store: &SledStore| {
        let key = keys::segment_count(payload_at.segment);
        store.database().checkpoints.table().get(key)
    };
    assert!(count(&store).is_some());

    // Pruning two of three keeps it; pruning the last lets it go at the next checkpoint, and
    // its count with it.
    assert_eq!(store.prune(1_003, 10).unwrap(), 2);
    store.flush_now().unwrap();
    assert_eq!(journal_names(dir.path(), ".kept").len(), 1);
    assert_eq!(raw(&store, &all[2]), all[2].trigger.raw_body.0);
    assert_eq!(store.prune(1_004, 10).unwrap(), 1);
    store.flush_now().unwrap();
    assert_eq!(journal_names(dir.path(), ".kept"), Vec::<String>::new());
    assert!(crate::store::journal::open_for_reading(dir.path(), file).is_err());
    assert!(
        count(&store).is_none(),
        "the count of a file let go goes with it"
    );
}

/// Twenty executions written to one journal file, kept at a clean close, and nineteen of them
/// pruned: a twentieth of the file is live.
fn one_live_in_a_kept_file(dir: &Path) -> (SledStore, Vec<Execution>) {
    let all: Vec<Execution> = (1..=20)
        .map(|seed| execution(seed, 5_000, Status::Succeeded))
        .collect();
    written_and_closed(dir, &all);
    let store = SledStore::open_again(dir).unwrap();
    assert_eq!(journal_names(dir, ".kept").len(), 1);
    assert_eq!(store.prune(1_020, 100).unwrap(), 19);
    (store, all)
}

#[test]
fn a_mostly_dead_file_gives_its_last_record_to_a_segment_and_goes() {
    let dir = tempfile::tempdir().unwrap();
    // The save after the one that first saw it mostly dead moves the last record's JSON and
    // payload to a segment, and the file goes.
    let (store, all) = one_live_in_a_kept_file(dir.path());
    let last = &all[19];
    let key = keys::execution(last.id);
    let before = store.database().checkpoints.table().get(&key).unwrap();
    store.flush_now().unwrap();
    assert_eq!(journal_names(dir.path(), ".kept").len(), 1, "seen once");
    store.flush_now().unwrap();
    assert_eq!(journal_names(dir.path(), ".kept"), Vec::<String>::new());
    // A reader that took the record before the move finds it at its new place.
    let read = store.database().read_stored(&key, &before).unwrap();
    assert_eq!(read.unwrap().trigger.raw_body.0, last.trigger.raw_body.0);
    let pruned = keys::execution(all[0].id);
    assert!(
        store
            .database()
            .read_stored(&pruned, &before)
            .unwrap()
            .is_none()
    );
    let (json, payload) = places(&store, last);
    assert!(json.journal_file().is_none() && payload.journal_file().is_none());
    assert_eq!(occurrences(dir.path(), &last.trigger.raw_body.0), 1);
    assert_eq!(raw(&store, last), last.trigger.raw_body.0);
    drop(store);
    let store = SledStore::open_again(dir.path()).unwrap();
    let read = store.execution(last.id).unwrap().unwrap();
    assert_eq!(read.trigger.raw_body.0, last.trigger.raw_body.0);
    assert_eq!(read.trigger.body["seed"], 20);
}

#[test]
fn a_file_still_losing_records_is_compacted_only_once_it_holds_still() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<Execution> = (1..=20)
        .map(|seed| execution(seed, 5_000, Status::Succeeded))
        .collect();
    written_and_closed(dir.path(), &all);
    let store = SledStore::open_again(dir.path()).unwrap();
    let db = store.database();
    let table = db.checkpoints.table();
    assert_eq!(store.prune(1_018, 100).unwrap(), 17);
    let sparse = || db.payloads.sparse_files(table, u64::MAX).unwrap();
    assert!(sparse().is_empty(), "three of twenty live, seen once");
    assert_eq!(store.prune(1_019, 100).unwrap(), 1);
    assert!(sparse().is_empty(), "it lost one since the last look");
    assert_eq!(sparse().len(), 1, "it held still since the last look");
}

#[test]
fn a_record_rewritten_while_its_bytes_are_copied_keeps_its_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let (store, all) = one_live_in_a_kept_file(dir.path());
    let db = store.database();
    let table = db.checkpoints.table();
    assert!(
        db.payloads
            .sparse_files(table, u64::MAX)
            .unwrap()
            .is_empty()
    );
    let files = db.payloads.sparse_files(table, u64::MAX).unwrap();
    assert_eq!(
        files.len(),
        1,
        "the kept file is mostly dead, and held still"
    );
    // The copy is made while writers go on; one rewrites the record before it is moved.
    let moves = db.payloads.compact(table, &files).unwrap();
    let mut last = all[19].clone();
    last.status = Status::Failed;
    store.update_execution(&mut last).unwrap();
    assert_eq!(moves.commit(table), 0, "the rewritten record is not moved");
    let read = store.execution(last.id).unwrap().unwrap();
    assert_eq!(read.status, Status::Failed);
    assert_eq!(read.trigger.raw_body.0, last.trigger.raw_body.0);
    store.flush_now().unwrap();
    let read = store.execution(last.id).unwrap().unwrap();
    assert_eq!(read.status, Status::Failed);
}

#[test]
fn a_record_the_failed_journal_never_wrote_is_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let kept = execution(1, 300, Status::Failed);
    written_and_closed(dir.path(), std::slice::from_ref(&kept));
    let store = SledStore::open_again(dir.path()).unwrap();
    let lost = execution(2, 300, Status::Failed);
    store.insert_executions(&mut [lost.clone()]).unwrap();
    synced(&store);
    // As if the journal had failed before it wrote the second record: the table points at
    // bytes that will never be on disk, and the reopen forgets the record.
    let disk = store.database().checkpoints.disk();
    let mut written = disk.written.lock().unwrap();
    written.offset = 0;
    drop(written);
    store
        .health()
        .failed(&std::io::Error::from_raw_os_error(28));
    assert!(store.execution(lost.id).unwrap().is_none());
    assert_eq!(store.execution(kept.id).unwrap().unwrap().id, kept.id);
    let page = store.executions_of(&kept.hook_id, None, 10, None).unwrap();
    let ids: Vec<_> = page.executions.iter().map(|e| e.id).collect();
    assert_eq!(ids, [kept.id]);
    let failures = store.recent_failures(10, 10).unwrap();
    assert_eq!(failures.iter().map(|e| e.id).collect::<Vec<_>>(), [kept.id]);
}

#[test]
fn a_retired_journal_file_records_point_into_is_kept_by_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // 50 KB payloads, past a journal file's 4 MiB: the first file is retired and checkpointed.
    // Each is synced before the next, so each is a frame of its own: a frame is never split,
    // and one holding them all would fill the first file and retire nothing.
    let all: Vec<Execution> = (1..=100)
        .map(|seed| execution(seed, 50_000, Status::Succeeded))
        .collect();
    for e in &all {
        store.insert_executions(&mut [e.clone()]).unwrap();
        synced(&store);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while journal_names(dir.path(), ".kept").is_empty() {
        assert!(std::time::Instant::now() < deadline, "no file was kept");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (_, first) = places(&store, &all[0]);
    assert_eq!(
        journal_names(dir.path(), ".kept"),
        [format!(
            "journal-{:012}.kept",
            first.journal_file().unwrap()
        )]
    );
    for e in &all {
        assert_eq!(raw(&store, e), e.trigger.raw_body.0);
    }
    assert_eq!(occurrences(dir.path(), &all[0].trigger.raw_body.0), 0);
}

#[test]
fn a_restart_replays_what_the_journal_still_holds_and_drops_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let big = execution(4, 60_000, Status::Succeeded);
    written(dir.path(), &big);
    let first = segments(dir.path())[0].0;
    // The journal still has the record (no rotation since): replaying it files its JSON in
    // this run's segment, the payload stays where the saved table had it (the journal file,
    // kept), and the segment nothing points into any more is deleted.
    let store = SledStore::open_again(dir.path()).unwrap();
    let after = segments(dir.path());
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].0 > first);
    assert_eq!(occurrences(dir.path(), &big.trigger.raw_body.0), 0);
    assert_eq!(journal_names(dir.path(), ".kept").len(), 1);
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);
}

#[test]
fn a_record_applied_but_not_checkpointed_is_replayed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let big = execution(7, 80_000, Status::Succeeded);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert_executions(&mut [big.clone()]).unwrap();
        synced(&store);
        // The table has it (pointing into the journal); no checkpoint follows.
        let key = keys::execution(big.id);
        assert!(store.database().checkpoints.table().get(key).is_some());
    }
    // As if the segments had not reached the disk: the journal still has the record whole.
    for (number, _) in segments(dir.path()) {
        fs::write(segment_file(dir.path(), number), b"").unwrap();
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);
}

#[test]
fn a_damaged_payload_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // One staged in a segment, one where the journal wrote it.
    let staged = execution(3, 100_000, Status::Succeeded);
    let journaled = execution(4, 40_000, Status::Succeeded);
    store
        .insert_executions(&mut [staged.clone(), journaled.clone()])
        .unwrap();
    store.flush_now().unwrap();
    let damage = |path: &Path, needle: &[u8]| {
        let mut bytes = fs::read(path).unwrap();
        let at = bytes.windows(needle.len()).position(|w| w == needle);
        bytes[at.expect("the payload is in the file") + 100] ^= 1;
        fs::write(path, bytes).unwrap();
    };
    let (_, at) = places(&store, &staged);
    damage(
        &segment_file(dir.path(), at.segment),
        &staged.trigger.raw_body.0,
    );
    let (_, at) = places(&store, &journaled);
    let file = at.journal_file().unwrap();
    let path = dir.path().join(format!("journal-{file:012}.wal"));
    damage(&path, &journaled.trigger.raw_body.0);
    let err = store.execution(staged.id).unwrap_err().to_string();
    assert!(err.contains("checksum") && err.contains("segment"), "{err}");
    let err = store.execution(journaled.id).unwrap_err().to_string();
    assert!(
        err.contains("checksum") && err.contains("journal file"),
        "{err}"
    );
}

#[test]
fn a_segment_no_count_was_written_for_is_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let big = execution(5, 30_000, Status::Succeeded);
    written(dir.path(), &big);
    // As if a crash came after a payload was appended but before its count reached sled.
    let kept: Vec<u64> = segments(dir.path()).iter().map(|s| s.0).collect();
    let orphan = kept.iter().max().unwrap() + 7;
    fs::write(segment_file(dir.path(), orphan), b"x".repeat(1000)).unwrap();

    let store = SledStore::open_again(dir.path()).unwrap();
    let after: Vec<u64> = segments(dir.path()).iter().map(|s| s.0).collect();
    assert!(!after.contains(&orphan), "{after:?}");
    // Numbers go on past every segment seen, the deleted one included.
    assert!(
        after.iter().all(|&n| n > orphan || kept.contains(&n)),
        "{after:?}"
    );
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);
}

#[test]
fn a_clean_close_leaves_no_journal_to_replay() {
    let dir = tempfile::tempdir().unwrap();
    let big = execution(11, 40_000, Status::Succeeded);
    let queued = execution(12, 100, Status::Queued);
    written_and_closed(dir.path(), &[big.clone(), queued.clone()]);
    let journals = journal_names(dir.path(), ".wal");
    assert!(journals.is_empty(), "left to replay: {journals:?}");
    // The file the records are in is kept for reading, not replayed.
    assert_eq!(journal_names(dir.path(), ".kept").len(), 1);
    let bytes = |dir: &Path| segments(dir).iter().map(|s| s.1).sum::<u64>();
    let before = bytes(dir.path());

    let store = SledStore::open_again(dir.path()).unwrap();
    // A replay would have appended the large payload again, to this run's new segment.
    assert_eq!(bytes(dir.path()), before);
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);
    let read = store.execution(queued.id).unwrap().unwrap();
    assert_eq!(read.status, Status::Queued);
    assert_eq!(store.pending_jobs().unwrap().len(), 1, "its job survives");
}

#[test]
fn records_an_older_hub_kept_in_sled_are_read_rewritten_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = execution(21, 100, Status::Succeeded);
    let mut big = execution(22, 20_000, Status::Succeeded);
    let journaled = execution(23, 500, Status::Skipped);
    {
        // As a hub of format 1 left them: a small payload in its record, a large one in a
        // segment with its count, the JSON of both in sled.
        let store = SledStore::open(dir.path()).unwrap();
        let db = store.database();
        let tree = db.checkpoints.table();
        let payload = &big.trigger.raw_body.0;
        let at = db
            .payloads
            .append(payload, crc32fast::hash(payload))
            .unwrap();
        db.payloads.sync().unwrap();
        let mut counts = CountChanges::default();
        counts.raise(at);
        counts.write_raised(tree);
        let whole = executions::encode(&mut big.clone()).unwrap();
        let json_end = whole.len() - payload.len();
        let mut kept = vec![3];
        kept.extend_from_slice(&whole[1..json_end]);
        at.encode(&mut kept);
        for (e, record) in [
            (&small, executions::encode(&mut small.clone()).unwrap()),
            (&big, kept),
        ] {
            tree.insert(&keys::hook_index("big", e.id), IVec::from(&[][..]));
            tree.insert(&keys::execution(e.id), IVec::from(record));
        }
        // And one in an older hub's journal, its status in its JSON alone.
        let mut batch = crate::store::Batch::default();
        batch.insert(keys::hook_index("big", journaled.id), []);
        batch.insert(
            keys::execution(journaled.id),
            executions::encode(&mut journaled.clone()).unwrap(),
        );
        db.log.apply_batch(batch);
        store.flush_now().unwrap();
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    let filed = store
        .database()
        .checkpoints
        .table()
        .get(keys::execution(journaled.id));
    assert_eq!(
        executions::carried_status(&filed.unwrap()),
        Some(Status::Skipped)
    );
    assert_eq!(raw(&store, &journaled), journaled.trigger.raw_body.0);
    assert_eq!(raw(&store, &small), small.trigger.raw_body.0);
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);
    assert_eq!(
        store.database().stored_status(big.id).unwrap(),
        Some(Status::Succeeded)
    );

    // Rewritten, they are filed; the large payload stays where it was.
    for e in [&mut small, &mut big] {
        e.status = Status::Failed;
        store.update_execution(e).unwrap();
    }
    store.flush_now().unwrap();
    assert_eq!(occurrences(dir.path(), &big.trigger.raw_body.0), 1);
    let failed = store.recent_failures(10, 10).unwrap();
    assert_eq!(failed.len(), 2);
    let of = |status| store.executions_of("big", Some(status), 10, None).unwrap();
    assert_eq!(of(Status::Failed).executions.len(), 2);
    assert!(of(Status::Succeeded).executions.is_empty());
    assert_eq!(raw(&store, &big), big.trigger.raw_body.0);

    // Pruned, nothing points into the old segment any more, and it goes.
    assert_eq!(store.prune(i64::MAX as u64, 0).unwrap(), 3);
    store.flush_now().unwrap();
    assert_eq!(occurrences(dir.path(), &big.trigger.raw_body.0), 0);
}

/// The database of a store just dropped from `dir`: sled's IO threads may hold its lock a moment
/// longer.
fn sled_of(dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sled::open(dir.join("db")) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_format_2_log_in_sled_moves_into_the_table_once() {
    let dir = tempfile::tempdir().unwrap();
    let done = execution(31, 20_000, Status::Succeeded);
    let waiting = execution(32, 100, Status::Queued);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .insert_executions(&mut [done.clone(), waiting.clone()])
            .unwrap();
        store.flush_now().unwrap();
    }
    // As a hub of format 2 left it: the log in sled's `log` tree, no table.
    let table = Table::path_in(dir.path());
    let entries: Vec<(IVec, IVec)> = {
        let saved = Arc::new(Table::load(table.clone()).unwrap().unwrap());
        saved
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
            .collect()
    };
    assert!(
        entries.len() >= 5,
        "records, index, job, counts: {entries:?}"
    );
    fs::remove_file(&table).unwrap();
    {
        let db = sled_of(dir.path());
        let log = db.open_tree("log").unwrap();
        for (key, value) in &entries {
            log.insert(key, value.clone()).unwrap();
        }
        let meta = db.open_tree("meta").unwrap();
        meta.insert("format_version", &2u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }

    {
        let store = SledStore::open_again(dir.path()).unwrap();
        assert_eq!(raw(&store, &done), done.trigger.raw_body.0);
        assert_eq!(raw(&store, &waiting), waiting.trigger.raw_body.0);
        let page = store.executions_of("big", None, 10, None).unwrap();
        let ids: Vec<_> = page.executions.iter().map(|e| e.id).collect();
        assert_eq!(ids, [waiting.id, done.id]);
        assert_eq!(store.pending_jobs().unwrap().len(), 1, "the job moved too");
        assert!(table.exists(), "the table is saved at once");
    }
    let db = sled_of(dir.path());
    assert!(db.open_tree("log").unwrap().is_empty(), "sled's copy went");
    let format = db.open_tree("meta").unwrap().get("format_version").unwrap();
    let current = crate::store::migrate::FORMAT.to_be_bytes();
    assert_eq!(format.as_deref(), Some(&current[..]));
    drop(db);

    // From now on the table alone is the log: opened again, nothing is moved twice or lost.
    let store = SledStore::open_again(dir.path()).unwrap();
    let page = store.executions_of("big", None, 10, None).unwrap();
    assert_eq!(page.executions.len(), 2);
    assert_eq!(raw(&store, &done), done.trigger.raw_body.0);
}

#[test]
fn a_format_3_data_dir_without_its_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    written(dir.path(), &execution(41, 100, Status::Succeeded));
    fs::remove_file(Table::path_in(dir.path())).unwrap();
    let refused = SledStore::open_again(dir.path()).err().expect("refused");
    assert!(
        refused.to_string().contains("log.table is missing"),
        "{refused}"
    );
}

/// How many times `needle` appears in the journal's files.
fn in_journal(dir: &Path, needle: &[u8]) -> usize {
    in_files(journal_files(dir), needle)
}

/// Waits until the journal has every write made to `store` so far on disk.
fn synced(store: &SledStore) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(store.sync())
        .unwrap();
}

#[test]
fn a_large_payload_is_written_once_beside_the_journal_and_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = execution(41, 200_000, Status::Queued);
    let payload = big.trigger.raw_body.0.clone();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert_executions(&mut [big.clone()]).unwrap();
        // Readable at once, while the journal thread may not have written it yet.
        assert_eq!(raw(&store, &big), payload);
        synced(&store);
        // On disk once, in a segment; the journal has where it is, not the bytes.
        assert_eq!(in_journal(dir.path(), &payload), 0);
        assert_eq!(occurrences(dir.path(), &payload), 1);
        // A status update points at the same place.
        big.status = Status::Running;
        store.update_execution(&mut big).unwrap();
        synced(&store);
        assert_eq!(in_journal(dir.path(), &payload), 0);
        // Dropped without a checkpoint: the journal is all the next open has.
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    let read = store.execution(big.id).unwrap().unwrap();
    assert_eq!(
        (read.status, read.trigger.raw_body.0),
        (Status::Running, payload.clone())
    );
    assert_eq!(
        occurrences(dir.path(), &payload),
        1,
        "the replay copies nothing"
    );
    // Filed in the table now, and still read from where it was staged.
    store.flush_now().unwrap();
    let filed = store
        .database()
        .checkpoints
        .table()
        .get(keys::execution(big.id))
        .unwrap();
    assert_eq!(filed.len(), executions::FILED_LEN);
    assert_eq!(raw(&store, &big), payload);
}

#[test]
fn a_status_update_journals_its_payload_once_and_a_crash_replays_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = execution(61, 3_000, Status::Queued);
    let payload = small.trigger.raw_body.0.clone();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.insert_executions(&mut [small.clone()]).unwrap();
        small.status = Status::Running;
        store.update_execution(&mut small).unwrap();
        small.status = Status::Succeeded;
        store.update_execution(&mut small).unwrap();
        synced(&store);
        // Three records journaled, the payload in the first alone.
        assert_eq!(in_journal(dir.path(), &payload), 1);
        assert_eq!(in_journal(dir.path(), br#""status":"succeeded""#), 1);
        // Read whole meanwhile: the table points at the payload the first record holds.
        let read = store.execution(small.id).unwrap().unwrap();
        assert_eq!(read.trigger.raw_body.0, payload);
        // Dropped without a checkpoint.
    }
    // As if no segment had reached the disk: the journal is all the next open has.
    for (number, _) in segments(dir.path()) {
        fs::write(segment_file(dir.path(), number), b"").unwrap();
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    let read = store.execution(small.id).unwrap().unwrap();
    assert_eq!(
        (read.status, read.trigger.raw_body.0),
        (Status::Succeeded, payload.clone())
    );
    store.flush_now().unwrap();
    assert_eq!(raw(&store, &small), payload);
    assert_eq!(occurrences(dir.path(), &payload), 1);
}

#[test]
fn a_status_update_replayed_over_a_saved_record_finds_its_payload_where_the_table_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = execution(62, 3_000, Status::Queued);
    let payload = small.trigger.raw_body.0.clone();
    written_and_closed(dir.path(), std::slice::from_ref(&small));
    {
        // The record points into the last run's journal file, kept, and this run's starts
        // empty.
        let store = SledStore::open_again(dir.path()).unwrap();
        small.status = Status::Running;
        store.update_execution(&mut small).unwrap();
        small.status = Status::Failed;
        store.update_execution(&mut small).unwrap();
        synced(&store);
        let running = || {
            let files = journal_files(dir.path()).into_iter();
            files.filter(|p| p.extension().is_some_and(|x| x == "wal"))
        };
        assert_eq!(in_files(running(), &payload), 0);
        assert_eq!(in_journal(dir.path(), &payload), 1);
        assert_eq!(in_files(running(), br#""status":"failed""#), 1);
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    let read = store.execution(small.id).unwrap().unwrap();
    assert_eq!(
        (read.status, read.trigger.raw_body.0),
        (Status::Failed, payload.clone())
    );
    store.flush_now().unwrap();
    assert_eq!(raw(&store, &small), payload);
}

#[test]
fn a_journaled_update_whose_record_was_removed_before_it_is_dropped_by_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut small = execution(63, 1_000, Status::Queued);
    let kept = execution(64, 1_000, Status::Succeeded);
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .insert_executions(&mut [small.clone(), kept.clone()])
            .unwrap();
        // A status update made in the shorter form just as the record was removed (the
        // removal journaled first): the live table has the whole record again; the journal
        // only the update's JSON.
        store.forget_executions(&[small.clone()]).unwrap();
        small.status = Status::Succeeded;
        let db = store.database();
        let record = executions::encode_with_status(&mut small).unwrap();
        let crc = crc32fast::hash(&small.trigger.raw_body.0);
        let journaled = executions::same_payload_form(&record, crc).unwrap();
        let mut batch = crate::store::Batch::default();
        batch.insert_journaled_as(keys::execution(small.id), record, journaled);
        db.log.apply_batch(batch);
        synced(&store);
    }
    let store = SledStore::open_again(dir.path()).unwrap();
    assert!(store.execution(small.id).unwrap().is_none());
    let read = store.execution(kept.id).unwrap().unwrap();
    assert_eq!(read.trigger.raw_body.0, kept.trigger.raw_body.0);
}

#[test]
fn a_staging_segment_goes_once_nothing_points_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    // Each is larger than a test's segment: one staging segment apiece.
    let all: Vec<Execution> = (51..=53)
        .map(|seed| execution(seed, 150_000, Status::Succeeded))
        .collect();
    let db = store.database();
    db.insert_executions(&mut [all[0].clone()]).unwrap();
    synced(&store);
    // Refused after all (its sync failed, say): taken back before the table saw it.
    db.forget_executions(&all[..1]).unwrap();
    for e in &all[1..] {
        db.insert_executions(&mut [e.clone()]).unwrap();
    }
    synced(&store);
    let holding = |e: &Execution| {
        let needle = &e.trigger.raw_body.0;
        segments(dir.path())
            .into_iter()
            .filter(|&(n, _)| {
                let bytes = fs::read(segment_file(dir.path(), n)).unwrap();
                bytes.windows(needle.len()).any(|w| w == &needle[..])
            })
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    let (forgotten, second) = (holding(&all[0]), holding(&all[1]));
    assert_eq!((forgotten.len(), second.len()), (1, 1));

    // The checkpoint deletes the segment no record was ever counted in; pruning the second
    // deletes its segment too (the third's takes the next places).
    store.flush_now().unwrap();
    assert!(!segment_file(dir.path(), forgotten[0]).exists());
    assert_eq!(store.prune(1_053, 10).unwrap(), 1);
    store.flush_now().unwrap();
    assert!(!segment_file(dir.path(), second[0]).exists());
    assert_eq!(raw(&store, &all[2]), all[2].trigger.raw_body.0);
}

#[test]
fn a_staging_segment_in_flight_is_not_unused() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = Payloads::open(dir.path(), Arc::default()).unwrap();
    let table = Arc::new(Table::new(dir.path().join("table"), Vec::new()));
    let first = payloads.stage(vec![1; 200_000].into()).unwrap();
    let segment = first.at.segment;
    // Taking places in the next segment, so the first no longer is.
    let _second = payloads.stage(vec![2; 200_000].into()).unwrap();
    assert_ne!(_second.at.segment, segment);

    // Held by its writer: in flight, whatever the table has taken.
    assert!(!payloads.unused(&table, u64::MAX).contains(&segment));
    // Journaled at 10: in flight until the table has taken everything up to 10.
    first.journaled(10);
    assert!(!payloads.unused(&table, 9).contains(&segment));
    assert!(payloads.unused(&table, 10).contains(&segment));
    // A rewrite pinning it puts it back in flight; one journaled past what the table has
    // taken keeps it so even when asked to delete it.
    let pin = payloads
        .pin(SegmentRef {
            segment,
            ..SegmentRef::EMPTY
        })
        .unwrap();
    assert!(!payloads.unused(&table, 10).contains(&segment));
    pin.journaled(20);
    payloads.delete(&table, &[segment], 10).unwrap();
    assert!(
        payloads
            .pin(SegmentRef {
                segment,
                ..SegmentRef::EMPTY
            })
            .is_some()
    );
    // Once deleted, nothing can pin it.
    payloads.delete(&table, &[segment], 20).unwrap();
    assert!(
        payloads
            .pin(SegmentRef {
                segment,
                ..SegmentRef::EMPTY
            })
            .is_none()
    );
}

#[test]
fn the_newest_journal_write_is_dropped_when_its_staged_payload_did_not_reach_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Each larger than a test's segment: one staging segment apiece.
    let kept = execution(61, 150_000, Status::Queued);
    let lost = execution(62, 150_000, Status::Queued);
    {
        let store = SledStore::open(dir.path()).unwrap();
        for e in [&kept, &lost] {
            store.insert_executions(&mut [e.clone()]).unwrap();
            synced(&store);
        }
        // Dropped without a checkpoint: the journal is all the next open has.
    }
    let newest = segments(dir.path()).last().unwrap().0;
    assert_eq!(occurrences(dir.path(), &lost.trigger.raw_body.0), 1);
    // As a power cut between the two syncs leaves it: the journal's frame on disk, the payload
    // it points at cut short.
    let file = OpenOptions::new()
        .write(true)
        .open(segment_file(dir.path(), newest))
        .unwrap();
    file.set_len(1_000).unwrap();

    let store = SledStore::open_again(dir.path()).unwrap();
    assert_eq!(raw(&store, &kept), kept.trigger.raw_body.0);
    assert!(store.execution(lost.id).unwrap().is_none());
    // Its index entry and its job went with it.
    let listed: Vec<_> = (store
        .executions_of("big", None, 10, None)
        .unwrap()
        .executions)
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(listed, vec![kept.id]);
    let pending: Vec<_> = store.pending_jobs().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(pending, vec![kept.id]);
    // Nothing points into the cut segment: it is gone.
    assert!(!segment_file(dir.path(), newest).exists());
}

/// A run's own appends, written a few at a time, read back whole: each direct write starts
/// again at the block the one before ended in (`direct.rs`), a payload larger than one direct
/// write goes in several, and a full segment is left for a new one.
#[test]
fn appended_payloads_read_back_whole_across_writes_that_end_mid_block() {
    let dir = tempfile::tempdir().unwrap();
    let payloads = Payloads::open(dir.path(), Arc::default()).unwrap();
    let sizes = [1, 4095, 4097, 3000, 8192, 5, 70_000, 1_500_000, 333, 12];
    let mut placed = Vec::new();
    for (n, &len) in sizes.iter().enumerate() {
        let body: Vec<u8> = (0..len).map(|i| (i * 31 + n) as u8).collect();
        let at = payloads.append(&body, crc32fast::hash(&body)).unwrap();
        placed.push((at, body));
        if n % 2 == 1 {
            payloads.write_pending().unwrap();
        }
    }
    payloads.sync().unwrap();
    // Still written directly where the filesystem allows it: no write was refused (one not
    // starting on a block would have been, and the rest gone through the page cache).
    let last = segment_file(dir.path(), placed.last().unwrap().0.segment);
    let possible = direct::Target::new(File::open(&last).unwrap(), &last, false).is_direct();
    assert_eq!(payloads.state.lock().unwrap().target.is_direct(), possible);
    let segments: std::collections::BTreeSet<u64> =
        placed.iter().map(|(at, _)| at.segment).collect();
    assert!(segments.len() >= 3, "full segments were left: {segments:?}");
    for (at, body) in &placed {
        assert_eq!(&payloads.read(*at).unwrap(), body, "{at:?}");
    }
    drop(payloads);
    // As the next run reads them.
    let again = Payloads::open(dir.path(), Arc::default()).unwrap();
    for (at, body) in &placed {
        assert_eq!(&again.read(*at).unwrap(), body, "{at:?}");
    }
}

#[test]
fn a_count_from_before_format_5_goes_on_without_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = Table::new(Table::path_in(dir.path()), []);
    let key = keys::segment_count(7);
    log.insert(&key, IVec::from(&3i64.to_le_bytes()[..]));
    let at = SegmentRef {
        segment: 7,
        offset: 0,
        len: 100,
        crc: 0,
    };
    let mut counts = CountChanges::default();
    counts.lower(at);
    counts.write_lowered(&log);
    let old = Count::decode(&log.get(&key).unwrap());
    assert_eq!((old.places, old.bytes), (2, None));
    // A new count knows both.
    let mut counts = CountChanges::default();
    counts.raise(SegmentRef { segment: 8, ..at });
    counts.raise(SegmentRef { segment: 8, ..at });
    counts.write_raised(&log);
    let new = Count::decode(&log.get(keys::segment_count(8)).unwrap());
    assert_eq!((new.places, new.bytes), (2, Some(200)));
}
