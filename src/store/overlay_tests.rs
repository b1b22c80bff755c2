//! The overlay: reads see writes at once, sled gets them later, in order, and ranges over
//! both agree with a plain map whatever has been applied so far.

use super::*;
use crate::store::table::Table;

struct Fixture {
    _dir: tempfile::TempDir,
    tree: Arc<Table>,
    overlay: Arc<Overlay>,
    journal: Arc<Journal>,
    deferred: DeferredTree,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = sled::Config::new().path(&path).open().unwrap();
    let tree = Arc::new(Table::new(Table::path_in(dir.path()), []));
    let sled = Sled { db, path };
    let overlay =
        Arc::new(Overlay::start(tree.clone(), sled.clone(), None, Arc::default()).unwrap());
    let journal = Arc::new(Journal::open(dir.path(), &[], overlay.clone()).unwrap());
    let deferred = DeferredTree::new(0, overlay.clone(), journal.clone());
    Fixture {
        _dir: dir,
        tree,
        overlay,
        journal,
        deferred,
    }
}

fn write(f: &Fixture, ops: &[(&[u8], Option<&[u8]>)]) {
    let mut batch = Batch::default();
    for (key, value) in ops {
        match value {
            Some(value) => batch.insert(*key, *value),
            None => batch.remove(*key),
        }
    }
    f.deferred.apply_batch(batch);
}

fn waiting(f: &Fixture) -> usize {
    f.overlay.shared.lock().map.len()
}

fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reads_see_writes_at_once_and_sled_gets_them_later() {
    let f = fixture();
    f.tree.insert(b"gone", IVec::from(&b"old"[..]));
    write(
        &f,
        &[(b"a", Some(b"1")), (b"gone", None), (b"a", Some(b"2"))],
    );
    assert_eq!(f.deferred.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(
        f.deferred.get(b"gone").unwrap(),
        None,
        "a removal hides sled's value"
    );

    eventually("the applier empties the overlay", || waiting(&f) == 0);
    assert_eq!(f.tree.get(b"a").as_deref(), Some(&b"2"[..]));
    assert_eq!(f.tree.get(b"gone"), None);
}

#[test]
fn a_settled_write_ripens_within_milliseconds_and_one_that_may_be_rewritten_waits() {
    let f = fixture();
    let shared = &f.overlay.shared;
    // The applier waits on this lock for its turn; the test takes the turns itself.
    let _turn = shared.applying.lock().unwrap();
    let mut settled = Batch::default();
    settled.insert(&b"final"[..], &b"done"[..]);
    settled.settle();
    f.deferred.apply_batch(settled);
    let pos = f.deferred.apply_batch({
        let mut running = Batch::default();
        running.insert(&b"running"[..], &b"attempt 1"[..]);
        running
    });
    let written = Instant::now();
    eventually("the journal has both", || shared.disk.is_durable(pos));
    let keys = |taken: Vec<Taken>| -> Vec<Vec<u8>> { taken.into_iter().map(|t| t.key).collect() };

    let (_, taken, _) = shared.take(Due::Ripe, written + SETTLED_DELAY);
    assert_eq!(keys(taken), [b"final".to_vec()]);
    let (_, taken, _) = shared.take(Due::Ripe, written + APPLY_DELAY / 2);
    assert!(taken.is_empty(), "the unsettled write waits for its delay");
    let (_, taken, _) = shared.take(Due::Ripe, written + APPLY_DELAY);
    assert_eq!(keys(taken), [b"running".to_vec()]);
}

#[test]
fn a_new_key_removed_before_sled_took_it_never_reaches_sled_and_an_old_one_is_removed() {
    let f = fixture();
    let mut batch = Batch::default();
    batch.insert_new(b"job", b"1");
    f.deferred.apply_batch(batch);
    f.deferred.remove(b"job");
    f.overlay.make_durable().unwrap();
    assert_eq!(f.tree.get(b"job"), None);

    let mut batch = Batch::default();
    batch.insert_new(b"kept", b"1");
    f.deferred.apply_batch(batch);
    f.overlay.make_durable().unwrap();
    assert!(f.tree.get(b"kept").is_some());
    f.deferred.remove(b"kept");
    f.overlay.make_durable().unwrap();
    assert_eq!(
        f.tree.get(b"kept"),
        None,
        "applied once, so no longer fresh"
    );
}

#[test]
fn make_durable_applies_everything_waiting() {
    let f = fixture();
    for n in 0..100u32 {
        write(&f, &[(&n.to_be_bytes(), Some(b"v"))]);
    }
    f.overlay.make_durable().unwrap();
    assert_eq!(f.tree.len(), 100);
}

#[test]
fn a_retired_journal_file_goes_once_sled_holds_its_writes() {
    let f = fixture();
    write(&f, &[(b"k", Some(b"v"))]);
    let retired = f._dir.path().join("journal-000000000000.log");
    std::fs::write(&retired, b"records").unwrap();
    f.overlay.retire(retired.clone());
    eventually("the checkpoint removes the file", || !retired.exists());
    assert_eq!(f.tree.get(b"k").as_deref(), Some(&b"v"[..]));
    let saved = Table::load(Table::path_in(f._dir.path())).unwrap().unwrap();
    assert_eq!(
        saved.get(b"k").as_deref(),
        Some(&b"v"[..]),
        "the table was saved first"
    );
}

#[test]
fn a_checkpoint_is_put_off_until_the_retired_files_outweigh_the_tables_save() {
    let f = fixture();
    for n in 0..1_000u32 {
        f.tree.insert(&n.to_be_bytes(), IVec::from(&[7u8; 100][..]));
    }
    f.tree.save().unwrap();
    let save = f.tree.saved_len();
    assert!(save > 100_000, "{save}");
    let small = f._dir.path().join("journal-000000000000.log");
    std::fs::write(&small, b"records").unwrap();
    f.overlay.retire(small.clone());
    eventually("the small file is held", || {
        f.overlay.shared.lock().held.len() == 1
    });
    assert!(small.exists(), "a file smaller than the save waits");

    let large = f._dir.path().join("journal-000000000001.log");
    std::fs::write(&large, vec![0u8; save as usize]).unwrap();
    f.overlay.retire(large.clone());
    eventually("both files go", || !small.exists() && !large.exists());
    assert!(f.overlay.shared.lock().held.is_empty());
}

#[test]
fn writers_keep_the_overlay_bounded_when_writes_outrun_the_delay() {
    let f = fixture();
    let value = vec![7u8; 64 * 1024];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in 0..1_000u32 {
        write(&f, &[(&n.to_be_bytes(), Some(&value))]);
        // As a delivery does: a write is answered once the journal has it. Until then the
        // writer cannot apply it, so the bound holds for what is durable, whatever the
        // journal's pace on a busy machine.
        runtime.block_on(f.journal.sync()).unwrap();
        let bytes = f.overlay.shared.lock().bytes;
        assert!(
            bytes <= HARD_LIMIT + 2 * value.len(),
            "{bytes} bytes waiting"
        );
    }
    f.overlay.make_durable().unwrap();
    assert_eq!(f.tree.len(), 1_000);
    assert_eq!(
        f.overlay.shared.lock().bytes,
        0,
        "the accounting returns to zero"
    );
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn ranges_over_sled_and_the_overlay_agree_with_a_model() {
    let f = fixture();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let key = |rng: &mut Rng| vec![b'k', rng.below(40) as u8];
    for _ in 0..30 {
        let k = key(&mut rng);
        f.tree.insert(&k, IVec::from(&b"sled"[..]));
        model.insert(k, b"sled".to_vec());
    }
    for round in 0..400u32 {
        let k = key(&mut rng);
        if rng.below(3) == 0 {
            write(&f, &[(&k, None)]);
            model.remove(&k);
        } else {
            let v = round.to_be_bytes();
            write(&f, &[(&k, Some(&v))]);
            model.insert(k, v.to_vec());
        }
        if rng.below(50) == 0 {
            f.overlay.make_durable().unwrap();
        }
        let (a, b) = (key(&mut rng), key(&mut rng));
        let (lo, hi) = (a.clone().min(b.clone()), a.max(b));
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model
            .range(lo.clone()..hi.clone())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let read = |items: &mut dyn Iterator<Item = Item>| -> Vec<(Vec<u8>, Vec<u8>)> {
            items
                .map(|i| i.unwrap())
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()
        };
        let forward = read(&mut f.deferred.range(lo.clone()..hi.clone()));
        assert_eq!(forward, expected, "round {round} forward");
        let mut backward = read(&mut f.deferred.range(lo.clone()..hi.clone()).rev());
        backward.reverse();
        assert_eq!(backward, expected, "round {round} backward");
        // From both ends at once, meeting in the middle.
        let mut both = f.deferred.range(lo.clone()..hi.clone());
        let (mut front, mut back) = (Vec::new(), Vec::new());
        loop {
            let (item, side) = if rng.below(2) == 0 {
                (both.next(), &mut front)
            } else {
                (both.next_back(), &mut back)
            };
            match item {
                Some(item) => side.push(item.unwrap()),
                None => break,
            }
        }
        back.reverse();
        let mixed: Vec<(Vec<u8>, Vec<u8>)> = front
            .into_iter()
            .chain(back)
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        assert_eq!(mixed, expected, "round {round} from both ends");
        // The front of the range: what it gives is where the whole range starts.
        let most = 1 + rng.below(4) as usize;
        let front = read(&mut f.deferred.range_front(lo.clone()..hi.clone(), most));
        assert_eq!(front, expected[..front.len()], "round {round} front");
        let reversed = read(&mut f.deferred.range(hi.clone()..lo.clone()));
        assert!(reversed.is_empty(), "round {round} reversed bounds");
        let prefix = read(&mut f.deferred.scan_prefix([b'k']));
        assert_eq!(prefix.len(), model.len(), "round {round} prefix");
    }
}

#[test]
fn a_range_read_while_its_keys_move_into_the_table_yields_each_once() {
    // Read from each end: the overlay's key comes first (the table has nothing in the range
    // yet); then the applier moves the overlay's keys into the table, where the range's next
    // look would find them again.
    for forward in [true, false] {
        let f = fixture();
        f.tree.insert(b"k1", IVec::from(&b"table"[..]));
        write(&f, &[(b"k3", Some(b"new")), (b"k4", Some(b"new"))]);
        let mut range = f.deferred.range(b"k2".to_vec()..b"k9".to_vec());
        let step = |range: &mut Merged| {
            let item = if forward {
                range.next()
            } else {
                range.next_back()
            };
            item.map(|i| i.unwrap().0.to_vec())
        };
        let first = step(&mut range);
        f.overlay.make_durable().unwrap();
        assert_eq!(waiting(&f), 0, "the overlay's keys are in the table now");
        let mut read = vec![first.unwrap()];
        while let Some(key) = step(&mut range) {
            read.push(key);
        }
        let mut expected = vec![b"k3".to_vec(), b"k4".to_vec()];
        if !forward {
            expected.reverse();
        }
        assert_eq!(read, expected, "forward: {forward}");
    }
}

#[test]
fn the_front_of_a_range_ends_at_the_last_waiting_write_it_copies() {
    let f = fixture();
    for key in [&b"k1"[..], b"k2", b"k4", b"k5"] {
        f.tree.insert(key, IVec::from(&b"table"[..]));
    }
    write(
        &f,
        &[
            (b"k3", Some(b"new")),
            (b"k4", None),
            (b"k6", Some(b"new")),
            (b"k7", Some(b"new")),
        ],
    );
    let keys = |most: usize| -> Vec<Vec<u8>> {
        f.deferred
            .range_front(b"k0".to_vec()..b"k9".to_vec(), most)
            .map(|i| i.unwrap().0.to_vec())
            .collect()
    };
    let all = [&b"k1"[..], b"k2", b"k3", b"k5", b"k6", b"k7"].map(<[u8]>::to_vec);
    // k4's removal is copied beside the values and not counted: one value ends the range at
    // k3, two at k6.
    assert_eq!(keys(1), all[..3]);
    assert_eq!(keys(2), all[..5]);
    assert_eq!(keys(3), all);
    assert_eq!(keys(100), all);
    assert_eq!(keys(0), all[..3], "at least one value is copied");
}
