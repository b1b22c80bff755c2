//! How many executions each hook has in the log, where that is known, so that pruning a busy
//! hook back to `maxPerHook` reads only what it removes.
//!
//! A hook's size is learnt from a full newest-first prune of its index (which counts what it
//! keeps) and then followed: every insert adds, every removal subtracts. Until it is learnt,
//! pruning scans the whole index as before. Writes to the index go through [`HookSizes::write`],
//! which holds this map's lock across the write, and a full count starts its scan under the
//! same lock ([`HookSizes::count_from_now`]): so a write is either in what the scan reads or
//! counted beside it, never both or neither (a write made after the scan started sorts after
//! what the reverse scan has left to read). The hourly prune of every hook forgets all sizes.
//!
//! Each hook also keeps where its last prune left off: the oldest entry it did not remove.
//! Everything before that was removed, so the next prune starts there instead of reading
//! from the hook's first entry. An execution whose id sorts before that place (a clock
//! stepped back) waits for the hourly prune.

use std::sync::{Mutex, MutexGuard};

use foldhash::HashMap;

use crate::execution::ExecutionId;

#[derive(Default)]
pub(super) struct HookSizes(Mutex<HashMap<String, Known>>);

/// What is known of one hook's part of the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Known {
    pub size: usize,
    /// The oldest entry the last prune left; `None`: start at the beginning.
    pub resume: Option<ExecutionId>,
}

impl HookSizes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Known>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hook's size and where to resume pruning it, if known.
    pub(super) fn get(&self, hook_id: &str) -> Option<Known> {
        self.lock().get(hook_id).copied()
    }

    /// Starts counting the hook's writes from zero, and makes the scan that will count the rest
    /// with `scan` meanwhile, so no write falls between the two.
    pub(super) fn count_from_now<T>(&self, hook_id: &str, scan: impl FnOnce() -> T) -> T {
        let mut sizes = self.lock();
        sizes.insert(hook_id.to_string(), Known::default());
        scan()
    }

    /// The full count's scan found `kept` entries of the hook; writes since it started are
    /// counted already.
    pub(super) fn learnt(&self, hook_id: &str, kept: usize) {
        if let Some(known) = self.lock().get_mut(hook_id) {
            known.size += kept;
        }
    }

    /// Forgets every size (each is counted again at its hook's next prune).
    pub(super) fn forget_all(&self) {
        self.lock().clear();
    }

    /// The hook's next prune starts at `resume`.
    pub(super) fn resume_at(&self, hook_id: &str, resume: Option<ExecutionId>) {
        if let Some(known) = self.lock().get_mut(hook_id) {
            known.resume = resume;
        }
    }

    /// Runs `write`, which adds one index entry for each of `added` and removes one for each of
    /// `removed`, and follows the sizes of the hooks among them that are known.
    pub(super) fn write<'a, T>(
        &self,
        added: impl IntoIterator<Item = &'a str>,
        removed: impl IntoIterator<Item = &'a str>,
        write: impl FnOnce() -> T,
    ) -> T {
        let mut sizes = self.lock();
        let written = write();
        for hook_id in added {
            if let Some(known) = sizes.get_mut(hook_id) {
                known.size += 1;
            }
        }
        for hook_id in removed {
            if let Some(known) = sizes.get_mut(hook_id) {
                known.size = known.size.saturating_sub(1);
            }
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_counted_size_is_followed() {
        let sizes = HookSizes::default();
        let none = std::iter::empty::<&str>;
        sizes.write(["a"], none(), || {});
        assert_eq!(sizes.get("a"), None, "not counted yet");
        sizes.count_from_now("a", || ());
        // Written while the scan ran: counted beside the 10 it finds.
        sizes.write(["a", "a", "b"], none(), || {});
        sizes.learnt("a", 10);
        assert_eq!(sizes.get("a").map(|k| k.size), Some(12));
        assert_eq!(sizes.get("b"), None);
        sizes.write(none(), ["a"; 20], || {});
        assert_eq!(sizes.get("a").map(|k| k.size), Some(0));
        sizes.forget_all();
        assert_eq!(sizes.get("a"), None);
    }
}
