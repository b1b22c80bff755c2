//! A sorted map kept as runs of up to [`RUN`] entries, each run shared with the map's copies
//! until one of them writes to it. A save copies the table's maps under the writers' lock
//! (`Table::snapshot`); for this map a copy is one pointer a run, and a write after it copies
//! only the run it lands in (4 KiB of execution records). A large log's save held writers for
//! 13-14 ms when the maps were copied node by node (BENCHMARKS.md).
//!
//! Runs are kept fuller than a B-tree's nodes: a key appended past the last run starts a new
//! one only once the last is full, as the log's ids come (in time order), so a growing log's
//! runs are full; and a run a removal shrinks is merged into a neighbour it fits in with, so
//! pruning a busy hook's records from among a quiet one's leaves no runs of one or two.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// Entries a run holds at most.
const RUN: usize = 64;

type Run<K, V> = Arc<Vec<(K, V)>>;

/// The map (see the module's comment). Each run is keyed by a bound at or below its first key
/// and above every key of the run before it.
#[derive(Clone)]
pub(super) struct Runs<K, V> {
    runs: BTreeMap<K, Run<K, V>>,
    len: usize,
}

impl<K, V> Default for Runs<K, V> {
    fn default() -> Self {
        Self {
            runs: BTreeMap::new(),
            len: 0,
        }
    }
}

impl<K: Ord + Clone, V: Clone> Runs<K, V> {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key of the run `key` belongs in: the last whose bound is at or below it, or the
    /// first run when `key` is below every bound.
    fn run_of<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&K>
    where
        K: Borrow<Q>,
    {
        let mut at_or_below = self
            .runs
            .range::<Q, _>((Bound::Unbounded, Bound::Included(key)));
        at_or_below
            .next_back()
            .or_else(|| self.runs.first_key_value())
            .map(|(bound, _)| bound)
    }

    pub(super) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        let run = self.runs.get::<K>(self.run_of(key)?)?;
        let i = run.binary_search_by(|(k, _)| k.borrow().cmp(key)).ok()?;
        Some(&run[i].1)
    }

    pub(super) fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.get(key).is_some()
    }

    /// Inserts or replaces `key`'s value; returns the value replaced.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let Some(bound) = self.run_of(&key).cloned() else {
            self.runs.insert(key.clone(), Arc::new(vec![(key, value)]));
            self.len = 1;
            return None;
        };
        let below_every_run = key < bound;
        let shared = self.runs.get_mut(&bound).expect("the run found");
        let at = shared.binary_search_by(|(k, _)| k.cmp(&key));
        if at == Err(RUN) {
            // Appended past a full run, as the log's ids come: the key starts the next one,
            // and the full run is left as it is (shared with a save, it is not copied).
            self.len += 1;
            self.runs.insert(key.clone(), Arc::new(vec![(key, value)]));
            return None;
        }
        let run = Arc::make_mut(shared);
        let at = match at {
            Ok(i) => return Some(std::mem::replace(&mut run[i].1, value)),
            Err(at) => at,
        };
        self.len += 1;
        if run.len() < RUN {
            make_room(run);
            run.insert(at, (key, value));
        } else {
            // Anywhere else, the run is halved first.
            let mut rest = run.split_off(RUN / 2);
            match at.checked_sub(RUN / 2) {
                None => run.insert(at, (key, value)),
                Some(at) => rest.insert(at, (key, value)),
            }
            self.runs.insert(rest[0].0.clone(), Arc::new(rest));
        }
        if below_every_run {
            let run = self.runs.remove(&bound).expect("the run found");
            self.runs.insert(run[0].0.clone(), run);
        }
        None
    }

    /// Removes `key`; returns its value.
    pub(super) fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let bound = self.run_of(key)?.clone();
        let shared = self.runs.get_mut::<K>(&bound).expect("the run found");
        let i = shared.binary_search_by(|(k, _)| k.borrow().cmp(key)).ok()?;
        let run = Arc::make_mut(shared);
        let (_, value) = run.remove(i);
        self.len -= 1;
        let left = run.len();
        if left == 0 {
            self.runs.remove::<K>(&bound);
        } else {
            self.merge_around(&bound, left);
        }
        Some(value)
    }

    /// Merges the run at `bound`, of `len` entries, into a neighbour they fit in with it.
    fn merge_around(&mut self, bound: &K, len: usize) {
        let after = (Bound::Excluded(bound), Bound::Unbounded);
        let next = self
            .runs
            .range::<K, _>(after)
            .next()
            .map(|(b, r)| (b, r.len()));
        if let Some((next, next_len)) = next
            && len + next_len <= RUN
        {
            let next = next.clone();
            let moved = self.runs.remove(&next).expect("the next run");
            let run = Arc::make_mut(self.runs.get_mut(bound).expect("the run"));
            run.reserve_exact(moved.len());
            run.extend(moved.iter().cloned());
            return;
        }
        let before = self.runs.range::<K, _>(..bound).next_back();
        if let Some((previous, run)) = before
            && len + run.len() <= RUN
        {
            let previous = previous.clone();
            let moved = self.runs.remove(bound).expect("the run");
            let run = Arc::make_mut(self.runs.get_mut(&previous).expect("the previous run"));
            run.reserve_exact(moved.len());
            run.extend(moved.iter().cloned());
        }
    }

    /// What changed since `old`, a copy of this map taken earlier and kept since, in key
    /// order: `each` is given every entry of the runs this map does not share with `old`
    /// (`Some(value)`, whether or not its value changed) and every key of `old`'s unshared
    /// runs that this map no longer holds (`None`). A write copies the run it lands in while
    /// `old` shares it, so a run both hold is unchanged; the rest is a few runs a save.
    pub(super) fn changes_since<E>(
        &self,
        old: &Self,
        mut each: impl FnMut(&K, Option<&V>) -> Result<(), E>,
    ) -> Result<(), E> {
        let (in_old, in_new) = (old.run_addresses(), self.run_addresses());
        let (now, gone) = (self.unshared(&in_old), old.unshared(&in_new));
        // A key of an unshared old run that this map holds is in one of its unshared runs:
        // a run both share holds the same keys in both.
        let mut now = now.into_iter().peekable();
        for (key, _) in gone {
            while let Some((k, v)) = now.next_if(|(k, _)| k < key) {
                each(k, Some(v))?;
            }
            if now.peek().is_none_or(|(k, _)| k != key) {
                each(key, None)?;
            }
        }
        now.try_for_each(|(k, v)| each(k, Some(v)))
    }

    fn run_addresses(&self) -> HashSet<*const Vec<(K, V)>> {
        self.runs.values().map(Arc::as_ptr).collect()
    }

    /// The entries of the runs not among `others`, in key order.
    fn unshared(&self, others: &HashSet<*const Vec<(K, V)>>) -> Vec<&(K, V)> {
        let runs = self.runs.values();
        runs.filter(|run| !others.contains(&Arc::as_ptr(run)))
            .flat_map(|run| run.iter())
            .collect()
    }

    /// Every entry in key order.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.runs
            .values()
            .flat_map(|run| run.iter().map(|(k, v)| (k, v)))
    }

    /// The entries between the bounds, in key order from either end.
    pub(super) fn range<'a, Q: Ord + ?Sized + 'a>(
        &'a self,
        range: (Bound<&'a Q>, Bound<&'a Q>),
    ) -> impl DoubleEndedIterator<Item = (&'a K, &'a V)> + 'a
    where
        K: Borrow<Q>,
    {
        // The runs that can hold keys in range: from the one the lower bound falls in up to
        // the last whose bound is at or below the upper bound.
        let from = match range.0 {
            Bound::Included(key) | Bound::Excluded(key) => self.run_of(key),
            Bound::Unbounded => None,
        };
        let to = match range.1 {
            Bound::Included(key) | Bound::Excluded(key) => Bound::Included(key),
            Bound::Unbounded => Bound::Unbounded,
        };
        let any = from.is_none_or(|from| !bound_above(from.borrow(), to));
        let from = from.map_or(Bound::Unbounded, |from| Bound::Included(from.borrow()));
        let runs = any
            .then(|| self.runs.range::<Q, _>((from, to)))
            .into_iter()
            .flatten()
            .map(|(_, run)| run);
        // Only the first and last runs hold keys out of range.
        runs.flat_map(|run| run.iter().map(|(k, v)| (k, v)))
            .filter(move |(k, _)| {
                <(Bound<&Q>, Bound<&Q>) as RangeBounds<Q>>::contains(&range, (*k).borrow())
            })
    }
}

/// Whether `key` is past the upper bound `upper` (a map's `range` panics on such bounds).
fn bound_above<Q: Ord + ?Sized>(key: &Q, upper: Bound<&Q>) -> bool {
    match upper {
        Bound::Included(u) | Bound::Excluded(u) => key > u,
        Bound::Unbounded => false,
    }
}

/// Makes room for one more entry in a run under [`RUN`]: its capacity doubles up to the
/// run's size, never past it (a copy of a run has room for what it holds, no more).
fn make_room<T>(run: &mut Vec<T>) {
    if run.len() == run.capacity() {
        let to = (run.len() * 2).clamp(4, RUN);
        run.reserve_exact(to - run.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same keys and operations every run (xorshift).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn check<K: Ord + Clone + std::fmt::Debug, V: Clone + PartialEq + std::fmt::Debug>(
        runs: &Runs<K, V>,
        model: &BTreeMap<K, V>,
    ) {
        assert_eq!(runs.len(), model.len());
        let got: Vec<_> = runs.iter().collect();
        let expected: Vec<_> = model.iter().collect();
        assert_eq!(got, expected);
        // Each run under its bound and above the run before.
        let mut previous: Option<&K> = None;
        for (bound, run) in &runs.runs {
            assert!(!run.is_empty() && run.len() <= RUN);
            assert!(
                run.capacity() <= RUN,
                "a run of {} has room for {}",
                run.len(),
                run.capacity()
            );
            assert!(bound <= &run[0].0);
            assert!(previous.is_none_or(|last| last < bound));
            previous = Some(&run[run.len() - 1].0);
        }
    }

    #[test]
    fn every_read_matches_a_btree_map_and_copies_keep_what_they_had() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut runs = Runs::default();
        let mut model = BTreeMap::new();
        let mut copies = Vec::new();
        for round in 0..20_000u64 {
            // Appends as the log makes them, and inserts and removals anywhere.
            let key = match rng.below(3) {
                0 => round * 10,
                _ => rng.below(round * 10 + 1),
            };
            if rng.below(3) == 0 {
                assert_eq!(runs.remove(&key), model.remove(&key));
            } else {
                assert_eq!(runs.insert(key, round), model.insert(key, round));
            }
            if round % 1000 == 0 {
                check(&runs, &model);
                copies.push((runs.clone(), model.clone()));
            }
            let (low, high) = (rng.below(round * 10 + 2), rng.below(round * 10 + 2));
            let bounds = [
                Bound::Included(&low),
                Bound::Excluded(&low),
                Bound::Unbounded,
            ];
            let lower = bounds[rng.below(3) as usize];
            let upper = [
                Bound::Included(&high),
                Bound::Excluded(&high),
                Bound::Unbounded,
            ][rng.below(3) as usize];
            let valid = match (lower, upper) {
                (Bound::Excluded(l), Bound::Excluded(u)) => l < u,
                (
                    Bound::Included(l) | Bound::Excluded(l),
                    Bound::Included(u) | Bound::Excluded(u),
                ) => l <= u,
                _ => true,
            };
            if valid {
                let got: Vec<_> = runs.range((lower, upper)).rev().collect();
                let expected: Vec<_> = model.range((lower, upper)).rev().collect();
                assert_eq!(got, expected, "{lower:?}..{upper:?} from the back");
                let got: Vec<_> = runs.range((lower, upper)).collect();
                let expected: Vec<_> = model.range((lower, upper)).collect();
                assert_eq!(got, expected, "{lower:?}..{upper:?}");
            }
            assert_eq!(runs.get(&key), model.get(&key));
        }
        check(&runs, &model);
        for (copy, then) in &copies {
            check(copy, then);
        }
    }

    #[test]
    fn the_changes_since_a_kept_copy_turn_that_copy_into_the_map() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut runs = Runs::default();
        let mut saved = runs.clone();
        let mut on_disk = BTreeMap::new();
        let mut sizes = Vec::new();
        for round in 0..30_000u64 {
            // Mostly the log's appends and pruning from its front, some writes anywhere.
            let key = match rng.below(4) {
                0 | 1 => round * 10,
                2 => runs.iter().next().map_or(0, |(k, _)| *k),
                _ => rng.below(round * 10 + 1),
            };
            if rng.below(3) == 0 {
                runs.remove(&key);
            } else {
                runs.insert(key, round);
            }
            if round % 500 == 499 {
                let mut changes = 0;
                runs.changes_since(&saved, |key, value| {
                    changes += 1;
                    match value {
                        Some(value) => on_disk.insert(*key, *value),
                        None => on_disk.remove(key),
                    };
                    Ok::<_, ()>(())
                })
                .unwrap();
                check(&runs, &on_disk);
                sizes.push((changes, runs.len()));
                saved = runs.clone();
            }
        }
        // What changed is found a run at a time: about the entries written since, never the
        // whole map.
        let (changes, len) = sizes[sizes.len() - 1];
        assert!(len > 2_000, "{len}");
        assert!(changes < len / 2, "{changes} changes of {len}");
    }

    #[test]
    fn a_log_grown_in_order_and_pruned_from_its_front_keeps_full_runs() {
        let mut runs = Runs::default();
        for id in 0..10_000u64 {
            runs.insert(id, ());
            if id >= 1000 {
                runs.remove(&(id - 1000));
            }
        }
        assert_eq!(runs.len(), 1000);
        assert!(
            runs.runs.len() <= 1000 / RUN + 2,
            "{} runs",
            runs.runs.len()
        );
    }
}
