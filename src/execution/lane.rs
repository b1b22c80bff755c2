//! One hook's line of executions: which may start next under its concurrency limit and its
//! lock keys. Pure bookkeeping, no IO, so the ordering rules are unit-tested directly. One
//! hub's queue keeps a lane per hook; the PostgreSQL store builds them from every hub's
//! leases when it picks what to lease.

use std::collections::{HashSet, VecDeque};

use crate::execution::ExecutionId;

/// How many executions of one hook may wait before deliveries are refused with 503.
pub const MAX_QUEUED_PER_HOOK: usize = 50;

/// An execution waiting in a lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: ExecutionId,
    /// Executions of the hook with the same key run one at a time.
    pub lock_key: Option<String>,
}

/// One hook's waiting and running executions.
#[derive(Debug, Default)]
pub struct Lane {
    ready: VecDeque<Entry>,
    /// Places promised to executions still being written to disk.
    reserved: usize,
    running: usize,
    running_keys: HashSet<String>,
}

impl Lane {
    /// Executions waiting (queued or about to be), not counting running ones.
    pub fn waiting(&self) -> usize {
        self.ready.len() + self.reserved
    }

    /// Executions in line now.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    pub fn reserve(&mut self, count: usize) {
        self.reserved += count;
    }

    pub fn release(&mut self, count: usize) {
        self.reserved = self.reserved.saturating_sub(count);
    }

    /// Adds an execution at the back of the line.
    pub fn push(&mut self, entry: Entry) {
        self.ready.push_back(entry);
    }

    /// The queued (not yet running) execution holding `key`, if any.
    pub fn queued_with_key(&self, key: &str) -> Option<ExecutionId> {
        self.ready
            .iter()
            .find(|e| e.lock_key.as_deref() == Some(key))
            .map(|e| e.id)
    }

    /// The first execution in line that may start: fewer than `limit` running, and its lock key
    /// (if any) not held by a running one. Taking the first eligible keeps each key's
    /// executions in arrival order.
    pub fn start_next(&mut self, limit: usize) -> Option<Entry> {
        if self.running >= limit {
            return None;
        }
        let position = self.ready.iter().position(|e| {
            e.lock_key
                .as_ref()
                .is_none_or(|k| !self.running_keys.contains(k))
        })?;
        let entry = self.ready.remove(position)?;
        self.running += 1;
        if let Some(key) = &entry.lock_key {
            self.running_keys.insert(key.clone());
        }
        Some(entry)
    }

    /// Counts an execution running elsewhere (another hub's lease) against the limit and its
    /// key.
    pub fn hold(&mut self, lock_key: Option<&str>) {
        self.running += 1;
        if let Some(key) = lock_key {
            self.running_keys.insert(key.to_string());
        }
    }

    /// Marks a running execution done, freeing its slot and its key.
    pub fn finish(&mut self, lock_key: Option<&str>) {
        self.running = self.running.saturating_sub(1);
        if let Some(key) = lock_key {
            self.running_keys.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64, key: Option<&str>) -> Entry {
        Entry {
            id: ExecutionId(ulid::Ulid::from_parts(n, 0)),
            lock_key: key.map(str::to_string),
        }
    }

    fn started(lane: &mut Lane, limit: usize) -> Vec<u64> {
        std::iter::from_fn(|| lane.start_next(limit))
            .map(|e| e.id.0.timestamp_ms())
            .collect()
    }

    #[test]
    fn concurrency_limit_is_respected() {
        let mut lane = Lane::default();
        for n in 1..=3 {
            lane.push(entry(n, None));
        }
        assert_eq!(started(&mut lane, 2), vec![1, 2]);
        lane.finish(None);
        assert_eq!(started(&mut lane, 2), vec![3]);
    }

    #[test]
    fn one_key_runs_one_at_a_time_in_arrival_order_while_others_pass() {
        let mut lane = Lane::default();
        lane.push(entry(1, Some("a")));
        lane.push(entry(2, Some("a")));
        lane.push(entry(3, Some("b")));
        lane.push(entry(4, None));
        // 2 waits for 1 (same key); 3 and 4 overtake it.
        assert_eq!(started(&mut lane, 10), vec![1, 3, 4]);
        assert_eq!(lane.queued_with_key("a"), Some(entry(2, None).id));
        lane.finish(Some("a"));
        assert_eq!(started(&mut lane, 10), vec![2]);
        assert_eq!(lane.queued_with_key("a"), None);
    }

    #[test]
    fn reservations_count_as_waiting() {
        let mut lane = Lane::default();
        lane.reserve(2);
        lane.push(entry(1, None));
        assert_eq!(lane.waiting(), 3);
        lane.release(2);
        assert_eq!(lane.waiting(), 1);
    }
}
