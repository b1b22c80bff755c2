//! The journal replays what was synced into a database that never saw it, stops cleanly at a
//! torn tail, and encodes records losslessly.

use super::*;

fn sled_in(dir: &Path) -> (Sled, sled::Tree) {
    let path = dir.join("db");
    let db = sled::Config::new().path(&path).open().unwrap();
    let tree = db.open_tree("t").unwrap();
    (Sled { db, path }, tree)
}

fn overlay(db: &Sled, tree: &sled::Tree) -> Arc<Overlay> {
    Arc::new(Overlay::start(tree.clone(), db.clone()).unwrap())
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
    let journal = Journal::open(
        journal_dir.path(),
        &first,
        &[&first_tree],
        overlay(&first, &first_tree),
    )
    .unwrap();
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
    let (_, path) = journal_files(journal_dir.path()).unwrap().pop().unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2])
        .unwrap();

    let other = tempfile::tempdir().unwrap();
    let (second, second_tree) = sled_in(other.path());
    let reopened = Journal::open(
        journal_dir.path(),
        &second,
        &[&second_tree],
        overlay(&second, &second_tree),
    )
    .unwrap();
    assert_eq!(second_tree.get("a").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(second_tree.get("b").unwrap(), None);
    // Replayed files are gone; a fresh one took their place.
    let files = journal_files(journal_dir.path()).unwrap();
    assert_eq!(files.len(), 1);
    assert_ne!(files[0].1, path);
    reopened.close();
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
