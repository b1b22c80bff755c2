//! When each schedule hook last ran (the `meta` tree, key `schedule_last:` + hook id → big-endian
//! milliseconds), so a restart can tell whether a run was missed while the hub was down.

use super::{Database, StoreError};

const PREFIX: &str = "schedule_last:";

fn key(hook_id: &str) -> Vec<u8> {
    [PREFIX.as_bytes(), hook_id.as_bytes()].concat()
}

impl Database {
    /// The scheduled time of the last run started for `hook_id`, if it ever ran.
    pub(super) fn last_fired(&self, hook_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .meta
            .get(key(hook_id))?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// Every schedule hook's last run started, by hook id.
    pub(super) fn schedule_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut states = Vec::new();
        for entry in self.meta.scan_prefix(PREFIX) {
            let (key, value) = entry?;
            if let Ok(ms) = <[u8; 8]>::try_from(value.as_ref()) {
                let hook_id = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
                states.push((hook_id, u64::from_be_bytes(ms)));
            }
        }
        Ok(states)
    }

    /// Records the scheduled time of a run being started. Durable with the next
    /// [`super::Storage::sync`].
    pub(super) fn set_last_fired(&self, hook_id: &str, ms: u64) -> Result<(), StoreError> {
        self.meta
            .insert(key(hook_id), ms.to_be_bytes().as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn last_fired_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.last_fired("nightly").unwrap(), None);
            store.set_last_fired("nightly", 1_700_000_000_000).unwrap();
            store.set_last_fired("nightly-2", 5).unwrap();
            store.flush_now().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.last_fired("nightly").unwrap(),
            Some(1_700_000_000_000)
        );
        assert_eq!(store.last_fired("nightly-2").unwrap(), Some(5));
    }
}
