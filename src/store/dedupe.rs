//! Delivery-id claims (SPEC §4 step 7): the first execution of each (hook, delivery id) within
//! the dedupe window, in the `deliveries` tree.

use super::{Database, StoreError, keys};
use crate::clock::Millis;
use crate::execution::ExecutionId;

/// How long a claim may stand without its execution: longer than any request takes.
const CLAIM_GRACE_MS: Millis = 120_000;

/// What claiming a delivery id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time seen (or seen longer ago than the window): this execution owns it now.
    New,
    /// Seen within the window: the first execution's id.
    Duplicate(ExecutionId),
}

impl Database {
    /// Claims `delivery_id` for `hook_id` on behalf of `execution`, atomically. Not durable
    /// until [`super::Storage::sync`], which the caller does together with the execution itself.
    pub(super) fn claim_delivery(
        &self,
        hook_id: &str,
        delivery_id: &str,
        execution: ExecutionId,
        now_ms: Millis,
        window_ms: Millis,
    ) -> Result<Claim, StoreError> {
        let key = keys::delivery(hook_id, delivery_id);
        let mine = keys::claim_value(execution, now_ms);
        let mut expected: Option<sled::IVec> = None;
        loop {
            match self.deliveries.compare_and_swap(
                &key,
                expected.as_ref(),
                Some(mine.as_slice()),
            )? {
                Ok(()) => return Ok(Claim::New),
                Err(conflict) => {
                    let current = conflict.current;
                    match current.as_deref().and_then(keys::parse_claim) {
                        Some((first, at))
                            if now_ms.saturating_sub(at) < window_ms
                                && !self.abandoned(first, at, now_ms)? =>
                        {
                            return Ok(Claim::Duplicate(first));
                        }
                        // Expired or unreadable: take it over, unless someone else just did.
                        _ => expected = current,
                    }
                }
            }
        }
    }

    /// Whether a claim's execution never reached the disk: a delivery refused while the disk
    /// failed, whose claim sled wrote out before the store was reopened. A claim younger than
    /// [`CLAIM_GRACE_MS`] may belong to a delivery still being written, and stands.
    fn abandoned(
        &self,
        first: ExecutionId,
        at: Millis,
        now_ms: Millis,
    ) -> Result<bool, StoreError> {
        Ok(now_ms.saturating_sub(at) > CLAIM_GRACE_MS
            && self.log.get(keys::execution(first))?.is_none())
    }

    /// Gives a claim back (the execution that made it was not accepted after all).
    pub(super) fn release_delivery(
        &self,
        hook_id: &str,
        delivery_id: &str,
    ) -> Result<(), StoreError> {
        self.deliveries
            .remove(keys::delivery(hook_id, delivery_id))?;
        Ok(())
    }

    /// Forgets claims made before `cutoff_ms`. Returns how many.
    pub(super) fn prune_deliveries(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.deliveries.iter() {
            let (key, value) = item?;
            if keys::parse_claim(&value).is_none_or(|(_, at)| at < cutoff_ms) {
                self.deliveries.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_delivery_id_is_claimed_once_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (first, second) = (ExecutionId::new(1), ExecutionId::new(2));
        let day = 24 * 3600 * 1000;
        let claim = |id, now| store.claim_delivery("gh", "d-1", id, now, day).unwrap();
        assert_eq!(claim(first, 1_000), Claim::New);
        assert_eq!(claim(second, 2_000), Claim::Duplicate(first));
        assert_eq!(
            store
                .claim_delivery("other", "d-1", second, 2_000, day)
                .unwrap(),
            Claim::New,
            "claims are per hook"
        );
        assert_eq!(claim(second, 1_000 + day), Claim::New, "the window passed");
        store.release_delivery("gh", "d-1").unwrap();
        assert_eq!(claim(first, 3_000 + day), Claim::New);
        assert_eq!(store.prune_deliveries(10 * day).unwrap(), 2);
    }
}
