//! The journal replays what was synced into a database that never saw it, stops cleanly at a
//! torn tail, never replays what a reused file held before (nor a file made ready ahead of its
//! rotation), still reads files from before frames, and encodes records losslessly.

use super::*;
use std::io::Write;

use crate::store::table::Table;
use std::time::{Duration, Instant};

/// A database in `dir` whose log table (tag 0, the only tree the tests write) is empty.
fn sled_in(dir: &Path) -> (Sled, Arc<Table>) {
    let path = dir.join("db");
    let db = sled::Config::new().path(&path).open().unwrap();
    (
        Sled { db, path },
        Arc::new(Table::new(Table::path_in(dir), [])),
    )
}

fn checkpoints(db: &Sled, table: &Arc<Table>) -> Arc<Checkpoints> {
    Arc::new(Checkpoints::start(table.clone(), db.clone(), None, Arc::default()).unwrap())
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        tree: 0,
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn synced_writes_are_replayed_into_a_database_that_lost_them() {
    let journal_dir = tempfile::tempdir().unwrap();
    let (first, first_tree) = sled_in(tempfile::tempdir().unwrap().path());
    let journal = Journal::open(journal_dir.path(), &[], checkpoints(&first, &first_tree)).unwrap();
    for (k, v) in [("a", "1"), ("b", "2"), ("a", "3")] {
        journal
            .write(|| Ok::<_, sled::Error>(((), vec![put(k, v)])))
            .unwrap();
    }
    journal
        .write(|| {
            Ok::<_, sled::Error>((
                (),
                vec![Op::Remove {
                    tree: 0,
                    key: b"b".to_vec(),
                }],
            ))
        })
        .unwrap();
    journal.sync().await.unwrap();
    journal.close();
    // A torn record at the end, as a crash mid-write leaves it.
    let path = journal_files(journal_dir.path())
        .unwrap()
        .pop()
        .unwrap()
        .path;
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2])
        .unwrap();

    let other = tempfile::tempdir().unwrap();
    let (second, second_tree) = sled_in(other.path());
    let reopened =
        Journal::open(journal_dir.path(), &[], checkpoints(&second, &second_tree)).unwrap();
    assert_eq!(second_tree.get("a").as_deref(), Some(&b"3"[..]));
    assert_eq!(second_tree.get("b"), None);
    // Replayed files are gone; a fresh one took their place.
    let files = journal_files(journal_dir.path()).unwrap();
    assert_eq!(files.len(), 1);
    assert_ne!(files[0].path, path);
    reopened.close();
}

/// Opens a journal over `dir` with a fresh database, for a replay to land in.
fn open_fresh(dir: &Path) -> (Journal, Arc<Table>, tempfile::TempDir) {
    let db_dir = tempfile::tempdir().unwrap();
    let (db, tree) = sled_in(db_dir.path());
    let journal = Journal::open(dir, &[], checkpoints(&db, &tree)).unwrap();
    (journal, tree, db_dir)
}

async fn put_synced(journal: &Journal, key: &str, value: &str) {
    journal
        .write(|| Ok::<_, sled::Error>(((), vec![put(key, value)])))
        .unwrap();
    journal.sync().await.unwrap();
}

#[tokio::test]
async fn a_reused_file_replays_only_what_it_was_reused_for() {
    let dir = tempfile::tempdir().unwrap();
    // A file with ten frames, then made the spare as a checkpoint would.
    let (journal, _tree, _db) = open_fresh(dir.path());
    for n in 0..10 {
        put_synced(&journal, &format!("old{n}"), "stale").await;
    }
    journal.close();
    let written = journal_files(dir.path()).unwrap().pop().unwrap();
    assert_eq!((written.number, written.kind), (1, Kind::Framed));
    let spare = dir.path().join("journal-000000000001.spare");
    fs::rename(&written.path, &spare).unwrap();

    // The next journal takes the spare and writes one frame over the start of it, as long as
    // the first old one: what follows is an old frame, intact.
    let (journal, _tree, _db) = open_fresh(dir.path());
    assert!(!spare.exists(), "the spare was taken");
    put_synced(&journal, "new0", "fresh").await;
    journal.close();
    let reused = journal_files(dir.path()).unwrap();
    assert_eq!(reused.len(), 1);
    assert_eq!((reused[0].number, reused[0].kind), (2, Kind::Framed));

    let (journal, tree, _db) = open_fresh(dir.path());
    assert_eq!(tree.get("new0").as_deref(), Some(&b"fresh"[..]));
    for n in 0..10 {
        assert_eq!(tree.get(format!("old{n}")), None, "old{n} came back");
    }
    journal.close();
}

/// Group commits wake only their own waiters (`Journal::durable`): however appends and syncs
/// interleave, every sync returns, and only once its own write is on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sync_returns_once_its_own_write_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _tree, _db) = open_fresh(dir.path());
    let journal = Arc::new(journal);
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let journal = journal.clone();
            tokio::spawn(async move {
                for n in 0..200 {
                    journal
                        .write(|| Ok::<_, sled::Error>(((), vec![put(&format!("{w}-{n}"), "v")])))
                        .unwrap();
                    let appended = journal.lock().appended;
                    if n % 2 == 1 {
                        // Sync only once the journal thread has taken the write: it is then in
                        // the group being synced, not the one gathering.
                        while journal.lock().taken_through < appended {
                            tokio::task::yield_now().await;
                        }
                    }
                    tokio::time::timeout(Duration::from_secs(30), journal.sync())
                        .await
                        .expect("a sync was never woken")
                        .unwrap();
                    assert!(
                        journal.disk.is_durable(appended),
                        "woken before its write was synced"
                    );
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    journal.close();
    let (journal, tree, _db) = open_fresh(dir.path());
    assert_eq!(tree.get("15-199").as_deref(), Some(&b"v"[..]));
    journal.close();
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn rotation_writes_over_a_checkpointed_file_made_ready_ahead_and_a_replay_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let db_dir = tempfile::tempdir().unwrap();
    let (db, tree) = sled_in(db_dir.path());
    let journal = Journal::open(dir.path(), &[], checkpoints(&db, &tree)).unwrap();
    let value = "v".repeat(1024 * 1024);
    let has = |number: u64, kind: Kind| {
        journal_files(dir.path())
            .unwrap()
            .iter()
            .any(|f| f.number == number && f.kind == kind)
    };
    let mut n = 0;
    // Every key five bytes: every frame is as long as every other, so what file 3 writes
    // over file 1 ends where one of file 1's frames starts, intact. (Journaled only: a table
    // holding these megabytes would put its checkpoints off, see `log_tree::checkpoint`.)
    let write = |key: String| {
        let op = put(&key, &value);
        journal
            .write(|| Ok::<_, sled::Error>(((), vec![op.clone()])))
            .unwrap();
    };
    let writing_to = || journal.lock().file;
    // Written only to file 1, which sled then holds and which becomes the spare.
    write("first".into());
    journal.sync().await.unwrap();
    while writing_to() < 2 {
        write(format!("k{n:04}"));
        journal.sync().await.unwrap();
        n += 1;
    }
    let in_file_2 = n - 1;
    // File 1's checkpoint makes it the spare, and the spare file 3, before the journal
    // needs file 3.
    wait_for("file 1 is made ready as file 3", || {
        has(3, Kind::Framed) && !has(1, Kind::Spare)
    })
    .await;
    let third = journal_path(dir.path(), 3);
    assert!(fs::metadata(&third).unwrap().len() >= ROTATE_BYTES);
    while writing_to() < 3 {
        write(format!("k{n:04}"));
        journal.sync().await.unwrap();
        n += 1;
    }
    let in_file_3 = n - 1;
    write("final".into());
    journal.sync().await.unwrap();
    // File 2 retired when file 3 began; its checkpoint runs on its own thread, which `close`
    // does not stop: a replay that starts before it is done rightly replays file 2. After it,
    // file 2 is the spare made ready as file 4, which the replay must not take for records.
    wait_for("file 2 is made ready as file 4", || {
        !has(2, Kind::Framed) && has(4, Kind::Framed)
    })
    .await;
    journal.close();

    // As after a crash: the journal files alone, into a database that has nothing.
    let (replay, replayed, _db) = open_fresh(dir.path());
    assert_eq!(replayed.get("final").as_deref(), Some(value.as_bytes()));
    assert_eq!(
        replayed.get(format!("k{in_file_3:04}")).as_deref(),
        Some(value.as_bytes())
    );
    for stale in ["first", "k0000", "k0001", "k0002", "k0003"] {
        assert_eq!(replayed.get(stale), None, "{stale} came back from file 1");
    }
    for stale in in_file_2..in_file_3 {
        let key = format!("k{stale:04}");
        assert_eq!(replayed.get(&key), None, "{key} came back from file 2");
    }
    replay.close();
}

/// A file `make_next_ready` renamed but could not sync the directory for is named already: the
/// rotation starts it all the same (it is not ready, so it syncs the directory itself).
#[tokio::test]
async fn a_next_file_named_but_not_made_ready_is_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _tree, _db) = open_fresh(dir.path());
    fs::write(journal_path(dir.path(), 2), vec![7; 4096]).unwrap();
    let value = "v".repeat(1024 * 1024);
    let mut n = 0;
    while journal.lock().file < 2 {
        put_synced(&journal, &format!("k{n}"), &value).await;
        n += 1;
    }
    put_synced(&journal, "after", "rotation").await;
    journal.close();

    let (replay, tree, _db) = open_fresh(dir.path());
    assert_eq!(tree.get("after").as_deref(), Some(&b"rotation"[..]));
    replay.close();
}

#[tokio::test]
async fn files_from_before_frames_are_replayed_and_numbering_goes_on_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    encode_record(&[put("a", "1")], &mut bytes);
    encode_record(&[put("b", "2")], &mut bytes);
    fs::write(dir.path().join("journal-000000000007.log"), &bytes).unwrap();

    let (journal, tree, _db) = open_fresh(dir.path());
    assert_eq!(tree.get("a").as_deref(), Some(&b"1"[..]));
    assert_eq!(tree.get("b").as_deref(), Some(&b"2"[..]));
    let files = journal_files(dir.path()).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!((files[0].number, files[0].kind), (8, Kind::Framed));
    journal.close();
}

#[test]
fn discarding_keeps_the_files_in_use_and_one_full_file_as_the_spare_and_deletes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, len: u64| {
        let path = dir.path().join(name);
        File::create(&path).unwrap().set_len(len).unwrap();
        path
    };
    let in_use = make("journal-000000000002.wal", ROTATE_BYTES);
    let short = make("journal-000000000003.wal", 100);
    let full = make("journal-000000000004.wal", ROTATE_BYTES);
    let also_full = make("journal-000000000005.wal", ROTATE_BYTES + 1);
    discard(
        dir.path(),
        &[in_use, short.clone(), full.clone(), also_full.clone()],
        &BTreeSet::from([2]),
    )
    .unwrap();
    let left = journal_files(dir.path()).unwrap();
    let left: Vec<_> = left.iter().map(|f| (f.number, f.kind)).collect();
    assert_eq!(left, [(2, Kind::Kept), (4, Kind::Spare)]);
    // A kept file reads as a journal file does.
    assert_eq!(
        open_for_reading(dir.path(), 2)
            .unwrap()
            .metadata()
            .unwrap()
            .len(),
        ROTATE_BYTES
    );

    // With a spare already there, a full file goes too; so does a kept one out of use.
    let another = make("journal-000000000006.wal", ROTATE_BYTES);
    discard(dir.path(), &[another], &BTreeSet::from([2])).unwrap();
    let_go_kept(dir.path(), &BTreeSet::from([2])).unwrap();
    assert_eq!(journal_files(dir.path()).unwrap().len(), 2);
    let_go_kept(dir.path(), &BTreeSet::new()).unwrap();
    let left = journal_files(dir.path()).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].number, 4);
    assert!(open_for_reading(dir.path(), 2).is_err());
}

#[test]
fn records_round_trip_and_corruption_is_detected() {
    let ops = vec![
        put("key", "value"),
        Op::Remove {
            tree: 3,
            key: vec![0, 1, 2],
        },
        put("", ""),
    ];
    let mut bytes = Vec::new();
    encode_record(&ops, &mut bytes);
    let (body, next) = next_record(&bytes, 0).unwrap();
    assert_eq!(next, bytes.len());
    assert_eq!(decode_ops(body).unwrap(), ops);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    assert!(
        next_record(&bytes, 0).is_none(),
        "a flipped byte fails the checksum"
    );
}

#[tokio::test]
async fn an_append_knows_the_file_and_offset_its_record_lands_at_across_a_rotation() {
    let journal_dir = tempfile::tempdir().unwrap();
    let (db, tree) = sled_in(tempfile::tempdir().unwrap().path());
    let journal = Journal::open(journal_dir.path(), &[], checkpoints(&db, &tree)).unwrap();
    // Enough to fill a file: the frame after the one that fills it goes to the next.
    let value = |i: usize| vec![b'a' + i as u8; 700 * 1024];
    let mut places = Vec::new();
    for i in 0..8 {
        let (_, place) = journal.append_placed(|out| {
            encode_record(
                &[Op::Put {
                    tree: 0,
                    key: format!("k{i}").into_bytes(),
                    value: value(i),
                }],
                out,
            )
        });
        places.push(place);
        // Each its own frame, some of them.
        if i % 3 == 0 {
            journal.sync().await.unwrap();
        }
    }
    journal.sync().await.unwrap();

    let files: std::collections::BTreeSet<u64> = places.iter().map(|p| p.file).collect();
    assert_eq!(files.len(), 2, "the records span a rotation: {places:?}");
    for (i, place) in places.iter().enumerate() {
        let bytes = std::fs::read(journal_path(journal_dir.path(), place.file)).unwrap();
        let (record, _) = next_record(&bytes, place.offset as usize)
            .unwrap_or_else(|| panic!("no whole record at {place:?}"));
        assert_eq!(
            decode_ops(record).unwrap(),
            [Op::Put {
                tree: 0,
                key: format!("k{i}").into_bytes(),
                value: value(i),
            }]
        );
    }
    journal.close();
}
