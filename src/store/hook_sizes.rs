//! How many executions each hook has in the log, where that is known, so that pruning a busy
//! hook back to `maxPerHook` reads only what it removes.
//!
//! A hook's size is learnt from a full newest-first prune of its index (which counts what it
//! keeps) and then followed: every insert adds, every removal subtracts. Until it is learnt,
//! pruning scans the whole index as before. A size can be off by the deliveries that arrived
//! while a full prune was scanning (they are counted, then the scan's count replaces them);
//! the hook then keeps that many more than its limit until the hourly prune counts again.
//!
//! Each hook also keeps where its last prune left off: the oldest entry it did not remove.
//! Everything before that was removed, so the next prune starts there instead of reading
//! through the removals sled and the overlay still hold (an entry removed a moment ago is a
//! tombstone in the overlay until the applier takes it). An execution whose id sorts before
//! that place (a clock stepped back) waits for the hourly prune.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::execution::ExecutionId;

#[derive(Default)]
pub(super) struct HookSizes(Mutex<HashMap<String, Known>>);

/// What is known of one hook's part of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// The hook has `size` executions now (a full prune counted them).
    pub(super) fn learnt(&self, hook_id: &str, size: usize) {
        let known = Known { size, resume: None };
        self.lock().insert(hook_id.to_string(), known);
    }

    /// The hook's next prune starts at `resume`.
    pub(super) fn resume_at(&self, hook_id: &str, resume: Option<ExecutionId>) {
        if let Some(known) = self.lock().get_mut(hook_id) {
            known.resume = resume;
        }
    }

    /// New executions of these hooks (one entry each) were written to the log.
    pub(super) fn inserted<'a>(&self, hooks: impl IntoIterator<Item = &'a str>) {
        let mut sizes = self.lock();
        for hook_id in hooks {
            if let Some(known) = sizes.get_mut(hook_id) {
                known.size += 1;
            }
        }
    }

    /// `count` of the hook's executions were removed from the log.
    pub(super) fn removed(&self, hook_id: &str, count: usize) {
        if let Some(known) = self.lock().get_mut(hook_id) {
            known.size = known.size.saturating_sub(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_learnt_size_is_followed() {
        let sizes = HookSizes::default();
        sizes.inserted(["a"]);
        assert_eq!(sizes.get("a"), None, "not learnt yet");
        sizes.learnt("a", 10);
        sizes.inserted(["a", "a", "b"]);
        assert_eq!(sizes.get("a").map(|k| k.size), Some(12));
        assert_eq!(sizes.get("b"), None);
        sizes.removed("a", 20);
        assert_eq!(sizes.get("a").map(|k| k.size), Some(0));
    }
}
