//! The table's entries, kept by kind. Two kinds are nearly all of a log: an execution's filed
//! record (`e` + id → 50 bytes) and its place in its hook's index (`h` + hook + 0 + id →
//! nothing). In one map of byte strings each took a node slot and an allocation or two, about
//! 370 bytes an execution kept (BENCHMARKS.md); here a record is 66 bytes of a run of records
//! and an index entry 16 bytes of a run of its hook's ids ([`Runs`], which a save copies a
//! run at a time). Every other key (pending jobs, segment counts, records in an older hub's
//! form) is in a map of byte strings: few, so a save copies them whole.
//!
//! A key is in one place only, chosen by its bytes and its value's length, and a range reads
//! the three as one map in key order: the typed keys are encoded in that order (a record's id,
//! then per hook, hooks in byte order — a hook id holds no 0 byte, so `a` + 0 sorts before
//! `a-b` + 0 as `a` before `a-b`).

use std::collections::BTreeMap;
use std::io;
use std::ops::Bound;

use sled::IVec;

use super::as_slice;
use super::runs::Runs;
use crate::store::executions::FILED_LEN as RECORD_LEN;
use crate::store::keys;

type Id = [u8; 16];
/// A filed record (`executions.rs`); a record of any other length is kept as bytes.
type Record = [u8; RECORD_LEN];
/// One hook's part of the index.
type Ids = Runs<Id, ()>;

/// Every entry of the table (see the module's comment).
#[derive(Default, Clone)]
pub(super) struct Entries {
    /// `e` + id → a filed record.
    records: Runs<Id, Record>,
    /// `h` + hook + 0 + id → nothing: per hook id (its bytes), the ids in its index.
    index: BTreeMap<Box<[u8]>, Ids>,
    /// How many ids `index` holds, over every hook.
    index_len: usize,
    /// Every other key.
    other: BTreeMap<Box<[u8]>, IVec>,
}

/// Where a key belongs when its value has the kind's shape.
enum Kind<'a> {
    Record(Id),
    Index { hook: &'a [u8], id: Id },
    Other,
}

fn kind(key: &[u8]) -> Kind<'_> {
    match key.split_first() {
        Some((&keys::EXECUTION, rest)) => rest.try_into().map_or(Kind::Other, Kind::Record),
        Some((&keys::HOOK_INDEX, rest)) if rest.len() >= 17 => {
            let (hook, tail) = rest.split_at(rest.len() - 17);
            match (tail.split_first(), hook.contains(&0)) {
                (Some((0, id)), false) => Kind::Index {
                    hook,
                    id: id.try_into().expect("16 bytes"),
                },
                _ => Kind::Other,
            }
        }
        _ => Kind::Other,
    }
}

impl Entries {
    pub(super) fn len(&self) -> usize {
        self.records.len() + self.index_len + self.other.len()
    }

    pub(super) fn get(&self, key: &[u8]) -> Option<IVec> {
        let typed = match kind(key) {
            Kind::Record(id) => self.records.get(&id).map(|r| IVec::from(&r[..])),
            Kind::Index { hook, id } => self
                .index
                .get(hook)
                .filter(|ids| ids.contains_key(&id))
                .map(|_| IVec::default()),
            Kind::Other => None,
        };
        typed.or_else(|| self.other.get(key).cloned())
    }

    pub(super) fn insert(&mut self, key: &[u8], value: IVec) {
        match kind(key) {
            Kind::Record(id) => match Record::try_from(&*value) {
                Ok(record) => {
                    self.records.insert(id, record);
                    self.other.remove(key);
                    return;
                }
                Err(_) => {
                    self.records.remove(&id);
                }
            },
            Kind::Index { hook, id } if value.is_empty() => {
                let added = match self.index.get_mut(hook) {
                    Some(ids) => ids.insert(id, ()).is_none(),
                    None => {
                        let mut ids = Ids::default();
                        ids.insert(id, ());
                        self.index.insert(hook.into(), ids);
                        true
                    }
                };
                self.index_len += usize::from(added);
                self.other.remove(key);
                return;
            }
            Kind::Index { hook, id } => self.remove_from_index(hook, id),
            Kind::Other => {}
        }
        self.other.insert(key.into(), value);
    }

    pub(super) fn remove(&mut self, key: &[u8]) {
        match kind(key) {
            Kind::Record(id) => {
                self.records.remove(&id);
            }
            Kind::Index { hook, id } => self.remove_from_index(hook, id),
            Kind::Other => {}
        }
        self.other.remove(key);
    }

    fn remove_from_index(&mut self, hook: &[u8], id: Id) {
        let Some(ids) = self.index.get_mut(hook) else {
            return;
        };
        if ids.remove(&id).is_some() {
            self.index_len -= 1;
            if ids.is_empty() {
                self.index.remove(hook);
            }
        }
    }

    /// Up to `n` entries between the bounds, the first from the front (`forward`) or the last,
    /// in that order. Each part gives up to `n` of its own and the nearest `n` are kept.
    pub(super) fn chunk(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        forward: bool,
        n: usize,
    ) -> Vec<(IVec, IVec)> {
        let mut found = Vec::new();
        let prefix = [keys::EXECUTION];
        if let Some(range) = id_range(&prefix, lower, upper) {
            let records = self.records.range((range.0.as_ref(), range.1.as_ref()));
            take(
                &mut found,
                records.map(|(id, r)| (joined(&prefix, id), IVec::from(&r[..]))),
                forward,
                n,
            );
        }
        let mut from_index = Vec::new();
        if let Some(hooks) = hook_range(lower, upper) {
            let hooks = self.index.range::<[u8], _>(hooks);
            let hooks: Box<dyn Iterator<Item = _>> = if forward {
                Box::new(hooks)
            } else {
                Box::new(hooks.rev())
            };
            let mut prefix = Vec::new();
            for (hook, ids) in hooks {
                let wanted = n - from_index.len();
                if wanted == 0 {
                    break;
                }
                keys::set_hook_prefix(&mut prefix, hook);
                if let Some(range) = id_range(&prefix, lower, upper) {
                    let ids = ids
                        .range((range.0.as_ref(), range.1.as_ref()))
                        .map(|(id, ())| (joined(&prefix, id), IVec::default()));
                    take(&mut from_index, ids, forward, wanted);
                }
            }
        }
        found.append(&mut from_index);
        if !super::is_empty(lower, upper) {
            let other = self
                .other
                .range::<[u8], _>((as_slice(lower), as_slice(upper)));
            take(
                &mut found,
                other.map(|(k, v)| (IVec::from(&**k), v.clone())),
                forward,
                n,
            );
        }
        if forward {
            found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        } else {
            found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        }
        found.truncate(n);
        found
    }

    /// Calls `each` with every entry, each part in key order (not the three merged: a save
    /// is read back into its parts).
    pub(super) fn for_each(
        &self,
        mut each: impl FnMut(&[u8], &[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut key = vec![keys::EXECUTION];
        for (id, record) in self.records.iter() {
            key.truncate(1);
            key.extend_from_slice(id);
            each(&key, record)?;
        }
        let mut prefix = Vec::new();
        for (hook, ids) in &self.index {
            keys::set_hook_prefix(&mut prefix, hook);
            for (id, ()) in ids.iter() {
                key.clear();
                key.extend_from_slice(&prefix);
                key.extend_from_slice(id);
                each(&key, &[])?;
            }
        }
        for (key, value) in &self.other {
            each(key, value)?;
        }
        Ok(())
    }

    /// Calls `each` with what changed since `old`, a copy of these entries taken earlier and
    /// kept since: an entry that may be new or changed (`Some(value)`; some are neither) or a
    /// key that is gone (`None`). The typed kinds are compared a run at a time, by whether
    /// the two share it ([`Runs::changes_since`]); every other key one by one (they are few).
    ///
    /// Every key gone comes before every entry: a key can move between the kinds (a record
    /// rewritten at another length), and applied in this order the two never undo each other.
    pub(super) fn for_each_change(
        &self,
        old: &Self,
        mut each: impl FnMut(&[u8], Option<&[u8]>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.changes(old, |key, value| match value {
            None => each(key, None),
            Some(_) => Ok(()),
        })?;
        self.changes(old, |key, value| match value {
            Some(value) => each(key, Some(value)),
            None => Ok(()),
        })
    }

    /// Every change since `old`, each kind in key order (see [`Self::for_each_change`]).
    fn changes(
        &self,
        old: &Self,
        mut each: impl FnMut(&[u8], Option<&[u8]>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut key = vec![keys::EXECUTION];
        self.records.changes_since(&old.records, |id, record| {
            key.truncate(1);
            key.extend_from_slice(id);
            each(&key, record.map(|r| &r[..]))
        })?;
        let mut prefix = Vec::new();
        let mut index_changes = |hook: &[u8], now: &Ids, then: &Ids| {
            keys::set_hook_prefix(&mut prefix, hook);
            now.changes_since(then, |id, present| {
                key.clear();
                key.extend_from_slice(&prefix);
                key.extend_from_slice(id);
                each(&key, present.map(|()| &[][..]))
            })
        };
        let none = Ids::default();
        for (hook, change) in changed(&self.index, &old.index) {
            match change {
                Change::Both(now, then) => index_changes(hook, now, then)?,
                Change::New(now) => index_changes(hook, now, &none)?,
                Change::Gone(then) => index_changes(hook, &none, then)?,
            }
        }
        for (key, change) in changed(&self.other, &old.other) {
            match change {
                Change::Both(now, then) if now == then => {}
                Change::Both(now, _) | Change::New(now) => each(key, Some(now))?,
                Change::Gone(_) => each(key, None)?,
            }
        }
        Ok(())
    }
}

/// A key's values in two maps (see [`changed`]).
enum Change<'a, V> {
    Both(&'a V, &'a V),
    New(&'a V),
    Gone(&'a V),
}

/// Every key of either map, in key order, with its values in `now` and `then`.
fn changed<'a, V>(
    now: &'a BTreeMap<Box<[u8]>, V>,
    then: &'a BTreeMap<Box<[u8]>, V>,
) -> impl Iterator<Item = (&'a [u8], Change<'a, V>)> {
    let mut now = now.iter().peekable();
    let mut then = then.iter().peekable();
    std::iter::from_fn(move || {
        let order = match (now.peek(), then.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        Some(match order {
            std::cmp::Ordering::Less => {
                let (key, value) = now.next()?;
                (&**key, Change::New(value))
            }
            std::cmp::Ordering::Greater => {
                let (key, value) = then.next()?;
                (&**key, Change::Gone(value))
            }
            std::cmp::Ordering::Equal => {
                let ((key, a), (_, b)) = (now.next()?, then.next()?);
                (&**key, Change::Both(a, b))
            }
        })
    })
}

impl FromIterator<(Box<[u8]>, IVec)> for Entries {
    fn from_iter<I: IntoIterator<Item = (Box<[u8]>, IVec)>>(entries: I) -> Self {
        let mut all = Self::default();
        for (key, value) in entries {
            all.insert(&key, value);
        }
        all
    }
}

/// Bounds on byte strings, borrowed.
type SliceRange<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// The hooks whose index keys may lie between the bounds, as bounds on hook ids, so a scan
/// visits only those (the hourly prune reads the whole index a chunk at a time); `None` when
/// none can. A hook's keys are `h` + hook + 0 + id, and a hook id holds no 0 byte, so a bound
/// `h` + rest is passed by the hooks on either side of rest's part before its first 0.
fn hook_range<'a>(lower: &'a Bound<Vec<u8>>, upper: &'a Bound<Vec<u8>>) -> Option<SliceRange<'a>> {
    let hook_part = |bound: &'a [u8]| {
        let rest = &bound[1..];
        rest.split(|b| *b == 0).next().unwrap_or(rest)
    };
    let from = match lower {
        Bound::Included(b) | Bound::Excluded(b) => match b.first() {
            Some(&keys::HOOK_INDEX) => Bound::Included(hook_part(b)),
            Some(&first) if first > keys::HOOK_INDEX => return None,
            _ => Bound::Unbounded,
        },
        Bound::Unbounded => Bound::Unbounded,
    };
    let to = match upper {
        Bound::Included(b) | Bound::Excluded(b) => match b.first() {
            Some(&keys::HOOK_INDEX) => Bound::Included(hook_part(b)),
            Some(&first) if first > keys::HOOK_INDEX => Bound::Unbounded,
            _ => return None,
        },
        Bound::Unbounded => Bound::Unbounded,
    };
    match (from, to) {
        (Bound::Included(a), Bound::Included(b)) if a > b => None,
        range => Some(range),
    }
}

fn joined(prefix: &[u8], id: &Id) -> IVec {
    let mut key = Vec::with_capacity(prefix.len() + id.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(id);
    IVec::from(key)
}

/// Up to `n` of `items` from the front or the back, onto `into`.
fn take<T>(into: &mut Vec<T>, items: impl DoubleEndedIterator<Item = T>, forward: bool, n: usize) {
    if forward {
        into.extend(items.take(n));
    } else {
        into.extend(items.rev().take(n));
    }
}

/// The ids whose keys `prefix` + id lie between the bounds on whole keys, as bounds on ids;
/// `None` when there are none.
fn id_range(
    prefix: &[u8],
    lower: &Bound<Vec<u8>>,
    upper: &Bound<Vec<u8>>,
) -> Option<(Bound<Id>, Bound<Id>)> {
    let from = match lower {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(b) | Bound::Excluded(b) => match b.strip_prefix(prefix) {
            Some(rest) => id_lower(rest, matches!(lower, Bound::Included(_))),
            // Every key with the prefix is above a bound below it, none above one above it.
            None if b.as_slice() < prefix => Bound::Unbounded,
            None => return None,
        },
    };
    let to = match upper {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(b) | Bound::Excluded(b) => match b.strip_prefix(prefix) {
            Some(rest) => id_upper(rest, matches!(upper, Bound::Included(_))),
            None if b.as_slice() < prefix => return None,
            None => Bound::Unbounded,
        },
    };
    let some = match (&from, &to) {
        (Bound::Included(a), Bound::Included(b)) => a <= b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => a < b,
        _ => true,
    };
    some.then_some((from, to))
}

/// The lower bound on 16-byte ids for one on what follows the prefix (`rest`): shorter, an id
/// at or above it is one at or above its zero-padded form; longer, an id above it is one above
/// its first 16 bytes.
fn id_lower(rest: &[u8], included: bool) -> Bound<Id> {
    match rest.len() {
        16 if included => Bound::Included(padded(rest)),
        16 => Bound::Excluded(padded(rest)),
        len if len < 16 => Bound::Included(padded(rest)),
        _ => Bound::Excluded(padded(&rest[..16])),
    }
}

/// The upper bound on ids for one on `rest` (see [`id_lower`]).
fn id_upper(rest: &[u8], included: bool) -> Bound<Id> {
    match rest.len() {
        16 if included => Bound::Included(padded(rest)),
        16 => Bound::Excluded(padded(rest)),
        len if len < 16 => Bound::Excluded(padded(rest)),
        _ => Bound::Included(padded(&rest[..16])),
    }
}

/// Up to 16 bytes, zero-padded to 16.
fn padded(bytes: &[u8]) -> Id {
    let mut id = [0; 16];
    id[..bytes.len()].copy_from_slice(bytes);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator: the same keys and bounds every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }

        fn id(&mut self) -> Id {
            // Few distinct bytes and zeros at the end, so ids share prefixes and a bound cut
            // short of 16 bytes falls on one as well as between them.
            let len = self.below(5);
            std::array::from_fn(|i| {
                if i < len {
                    [0u8, 1, 7, 255][self.below(4)]
                } else {
                    0
                }
            })
        }

        /// A key of any kind, typed or not, with a value that fits it or not.
        fn entry(&mut self) -> (Vec<u8>, Vec<u8>) {
            // `a\0` is no hook id (a 0 byte ends one): its keys are kept as bytes.
            let hooks: [&[u8]; 5] = [b"", b"a", b"a-b", b"b", b"a\0"];
            let mut key = Vec::new();
            let value = match self.below(6) {
                0..=1 => {
                    key.push(keys::EXECUTION);
                    key.extend_from_slice(&self.id());
                    vec![4; if self.below(5) == 0 { 9 } else { RECORD_LEN }]
                }
                2..=3 => {
                    key.push(keys::HOOK_INDEX);
                    key.extend_from_slice(hooks[self.below(5)]);
                    key.push(0);
                    key.extend_from_slice(&self.id());
                    if self.below(5) == 0 { vec![1] } else { vec![] }
                }
                4 => {
                    // An `e` or `h` key of another length, and other tags.
                    key.push([keys::EXECUTION, keys::HOOK_INDEX, keys::JOB][self.below(3)]);
                    key.extend_from_slice(&self.id()[..self.below(17)]);
                    vec![2; 3]
                }
                _ => {
                    key.push(keys::SEGMENT_COUNT);
                    key.extend_from_slice(&self.next().to_be_bytes());
                    vec![3; 8]
                }
            };
            (key, value)
        }

        fn bound(&mut self) -> Bound<Vec<u8>> {
            let (mut key, _) = self.entry();
            key.truncate(self.below(key.len() as u64 + 2));
            if self.below(4) == 0 {
                key.push([0, 1][self.below(2)]); // longer than any key it is beside
            }
            match self.below(3) {
                0 => Bound::Unbounded,
                1 => Bound::Included(key),
                _ => Bound::Excluded(key),
            }
        }
    }

    fn pairs(items: Vec<(IVec, IVec)>) -> Vec<(Vec<u8>, Vec<u8>)> {
        items
            .into_iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn every_read_matches_one_map_of_bytes() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut entries = Entries::default();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for round in 0..4000 {
            let (key, value) = rng.entry();
            if rng.below(4) == 0 {
                entries.remove(&key);
                model.remove(&key);
            } else {
                entries.insert(&key, IVec::from(value.clone()));
                model.insert(key.clone(), value);
            }
            assert_eq!(entries.len(), model.len());
            assert_eq!(
                entries.get(&key).map(|v| v.to_vec()),
                model.get(&key).cloned()
            );
            if round % 2 != 0 {
                continue;
            }
            let lower = rng.bound();
            let upper = match &lower {
                // One key at most, or none.
                Bound::Included(key) if rng.below(3) == 0 => Bound::Included(key.clone()),
                _ => rng.bound(),
            };
            let forward = rng.below(2) == 0;
            let n = 1 + rng.below(40);
            let expected: Vec<(Vec<u8>, Vec<u8>)> = if super::super::is_empty(&lower, &upper) {
                Vec::new()
            } else {
                let range = model.range::<[u8], _>((as_slice(&lower), as_slice(&upper)));
                let range = range.map(|(k, v)| (k.clone(), v.clone()));
                if forward {
                    range.take(n).collect()
                } else {
                    range.rev().take(n).collect()
                }
            };
            let got = pairs(entries.chunk(&lower, &upper, forward, n));
            assert_eq!(
                got, expected,
                "{lower:?}..{upper:?} forward {forward} n {n}"
            );
        }
        // Built at once, as a load does, from what for_each gives: the same entries.
        let mut saved = Vec::new();
        entries
            .for_each(|k, v| {
                saved.push((Box::<[u8]>::from(k), IVec::from(v)));
                Ok(())
            })
            .unwrap();
        let loaded: Entries = saved.into_iter().collect();
        let all = loaded.chunk(&Bound::Unbounded, &Bound::Unbounded, true, usize::MAX);
        let model: Vec<_> = model.into_iter().collect();
        assert_eq!(pairs(all), model);
        assert!(
            loaded.records.len() > 100 && loaded.index_len > 100,
            "typed keys were tested"
        );
    }
}
