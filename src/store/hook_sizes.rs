//! How many executions each hook has in the log, where that is known, so that pruning a busy
//! hook back to `maxPerHook` reads only what it removes.
//!
//! A hook's size is learnt from a full newest-first prune of its index (which counts what it
//! keeps) and then followed: every insert adds, every removal subtracts. Until it is learnt,
//! pruning scans the whole index as before. A size can be off by the deliveries that arrived
//! while a full prune was scanning (they are counted, then the scan's count replaces them);
//! the hook then keeps that many more than its limit until the hourly prune counts again.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub(super) struct HookSizes(Mutex<HashMap<String, usize>>);

impl HookSizes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hook's size, if known.
    pub(super) fn get(&self, hook_id: &str) -> Option<usize> {
        self.lock().get(hook_id).copied()
    }

    /// The hook has `size` executions now (a full prune counted them).
    pub(super) fn learnt(&self, hook_id: &str, size: usize) {
        self.lock().insert(hook_id.to_string(), size);
    }

    /// New executions of these hooks (one entry each) were written to the log.
    pub(super) fn inserted<'a>(&self, hooks: impl IntoIterator<Item = &'a str>) {
        let mut sizes = self.lock();
        for hook_id in hooks {
            if let Some(size) = sizes.get_mut(hook_id) {
                *size += 1;
            }
        }
    }

    /// `count` of the hook's executions were removed from the log.
    pub(super) fn removed(&self, hook_id: &str, count: usize) {
        if let Some(size) = self.lock().get_mut(hook_id) {
            *size = size.saturating_sub(count);
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
        assert_eq!(sizes.get("a"), Some(12));
        assert_eq!(sizes.get("b"), None);
        sizes.removed("a", 20);
        assert_eq!(sizes.get("a"), Some(0));
    }
}
