//! The log's writes: the table has them at once, a save holds only what the journal has on
//! disk, and retired journal files go once a save holds what they do.

use super::*;
use crate::store::table::Table;

struct Fixture {
    dir: tempfile::TempDir,
    table: Arc<Table>,
    checkpoints: Arc<Checkpoints>,
    journal: Arc<Journal>,
    log: LogTree,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = sled::Config::new().path(&path).open().unwrap();
    let table = Arc::new(Table::new(Table::path_in(dir.path()), []));
    let sled = Sled { db, path };
    let checkpoints =
        Arc::new(Checkpoints::start(table.clone(), sled.clone(), None, Arc::default()).unwrap());
    let journal = Arc::new(Journal::open(dir.path(), &[], checkpoints.clone()).unwrap());
    let log = LogTree::new(0, checkpoints.clone(), journal.clone());
    Fixture {
        dir,
        table,
        checkpoints,
        journal,
        log,
    }
}

fn write(f: &Fixture, ops: &[(&[u8], Option<&[u8]>)]) -> u64 {
    let mut batch = Batch::default();
    for (key, value) in ops {
        match value {
            Some(value) => batch.insert(*key, *value),
            None => batch.remove(*key),
        }
    }
    f.log.apply_batch(batch)
}

fn saved(f: &Fixture) -> Table {
    Table::load(Table::path_in(f.dir.path())).unwrap().unwrap()
}

fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn writes_are_read_at_once_and_a_save_holds_them() {
    let f = fixture();
    f.table.insert(b"gone", IVec::from(&b"old"[..]));
    write(
        &f,
        &[(b"a", Some(b"1")), (b"gone", None), (b"a", Some(b"2"))],
    );
    assert_eq!(f.log.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(f.log.get(b"gone").unwrap(), None);
    let keys: Vec<IVec> = f.log.scan_prefix(b"").map(|i| i.unwrap().0).collect();
    assert_eq!(keys, [IVec::from(&b"a"[..])]);

    f.checkpoints.make_durable().unwrap();
    let saved = saved(&f);
    assert_eq!(saved.get(b"a").as_deref(), Some(&b"2"[..]));
    assert_eq!(saved.get(b"gone"), None);
}

#[test]
fn a_save_holding_a_write_the_journal_could_not_keep_is_dropped() {
    let f = fixture();
    write(&f, &[(b"kept", Some(b"1"))]);
    f.checkpoints.make_durable().unwrap();
    // A write the journal has not on disk, and a journal that failed: it never will.
    *f.checkpoints.shared.writing() = u64::MAX;
    f.table.insert(b"refused", IVec::from(&b"2"[..]));
    f.checkpoints
        .shared
        .disk
        .health
        .failed(&std::io::Error::from_raw_os_error(28));
    assert!(f.checkpoints.make_durable().is_err());
    let saved = saved(&f);
    assert_eq!(saved.get(b"kept").as_deref(), Some(&b"1"[..]));
    assert_eq!(saved.get(b"refused"), None, "the save was not put in place");
}

#[test]
fn a_save_waits_for_the_journal_to_have_what_it_holds() {
    let f = fixture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for n in 0..200u32 {
        let pos = write(&f, &[(&n.to_be_bytes(), Some(&[7u8; 1024][..]))]);
        f.checkpoints.make_durable().unwrap();
        assert!(f.checkpoints.shared.disk.is_durable(pos), "write {n}");
    }
    runtime.block_on(f.journal.sync()).unwrap();
    assert_eq!(saved(&f).len(), 200);
}

#[test]
fn a_read_of_journal_bytes_not_written_yet_waits_for_them() {
    let disk = Arc::new(Disk::default());
    let place = Place {
        file: 3,
        offset: 100,
    };
    *disk.written.lock().unwrap() = Place {
        file: 3,
        offset: 120,
    };
    disk.wait_written(place, 20).unwrap();
    let writer = {
        let disk = disk.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            *disk.written.lock().unwrap() = Place { file: 4, offset: 0 };
        })
    };
    let started = Instant::now();
    disk.wait_written(place, 21).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(40));
    writer.join().unwrap();

    disk.health.failed(&std::io::Error::from_raw_os_error(5));
    let later = Place { file: 4, offset: 0 };
    assert!(
        disk.wait_written(later, 1).is_err(),
        "a failed journal never writes it"
    );
}

#[test]
fn a_new_key_removed_again_is_gone_and_an_old_one_is_removed() {
    let f = fixture();
    let mut batch = Batch::default();
    batch.insert_new(b"job", b"1");
    f.log.apply_batch(batch);
    assert!(f.table.get(b"job").is_some());
    f.log.remove(b"job");
    assert_eq!(f.table.get(b"job"), None);
    f.checkpoints.make_durable().unwrap();
    assert_eq!(saved(&f).get(b"job"), None);
}

#[test]
fn a_retired_journal_file_goes_once_a_save_holds_its_writes() {
    let f = fixture();
    write(&f, &[(b"k", Some(b"v"))]);
    let retired = f.dir.path().join("journal-000000000000.log");
    std::fs::write(&retired, b"records").unwrap();
    f.checkpoints.retire(retired.clone());
    eventually("the checkpoint removes the file", || !retired.exists());
    assert_eq!(
        saved(&f).get(b"k").as_deref(),
        Some(&b"v"[..]),
        "the table was saved first"
    );
}

#[test]
fn a_checkpoint_is_put_off_until_the_retired_files_outweigh_the_tables_save() {
    let f = fixture();
    for n in 0..1_000u32 {
        f.table
            .insert(&n.to_be_bytes(), IVec::from(&[7u8; 100][..]));
    }
    f.table.save().unwrap();
    let save = f.table.saved_len();
    assert!(save > 100_000, "{save}");
    let small = f.dir.path().join("journal-000000000000.log");
    std::fs::write(&small, b"records").unwrap();
    f.checkpoints.retire(small.clone());
    eventually("the small file is held", || {
        f.checkpoints.shared.lock().held.len() == 1
    });
    assert!(small.exists(), "a file smaller than the save waits");

    let large = f.dir.path().join("journal-000000000001.log");
    std::fs::write(&large, vec![0u8; save as usize]).unwrap();
    f.checkpoints.retire(large.clone());
    eventually("both files go", || !small.exists() && !large.exists());
    assert!(f.checkpoints.shared.lock().held.is_empty());
}

#[test]
fn a_save_is_the_table_as_writers_left_it_while_they_write_on() {
    let f = Arc::new(fixture());
    let writers: Vec<_> = (0..4u32)
        .map(|w| {
            let f = f.clone();
            std::thread::spawn(move || {
                for n in 0..500u32 {
                    let key = [w.to_be_bytes(), n.to_be_bytes()].concat();
                    write(
                        &f,
                        &[
                            (&key, Some(b"v")),
                            (&[b"last", &w.to_be_bytes()[..]].concat(), Some(&key)),
                        ],
                    );
                }
            })
        })
        .collect();
    for _ in 0..20 {
        f.checkpoints.make_durable().unwrap();
        // Each writer's batches are whole in the save: its last key is there.
        let saved = saved(&f);
        for w in 0..4u32 {
            if let Some(last) = saved.get([b"last", &w.to_be_bytes()[..]].concat()) {
                assert!(saved.get(&last).is_some(), "writer {w}'s last write");
            }
        }
    }
    writers.into_iter().for_each(|w| w.join().unwrap());
    f.checkpoints.make_durable().unwrap();
    assert_eq!(saved(&f).len(), 4 * 500 + 4);
}
