//! Each hook's alerting state (the `meta` tree, key `alert:` + hook id → JSON of
//! [`HookAlerts`]): failures gathered for the next alert and when the last one went, so a
//! restart neither loses a gathered alert nor sends the next one early.

use super::{Database, StoreError};
use crate::model::HookAlerts;

const PREFIX: &str = "alert:";

fn key(hook_id: &str) -> Vec<u8> {
    [PREFIX.as_bytes(), hook_id.as_bytes()].concat()
}

impl Database {
    /// Every hook's alerting state, by hook id.
    pub(super) fn alert_states(&self) -> Result<Vec<(String, HookAlerts)>, StoreError> {
        let mut states = Vec::new();
        for entry in self.meta.scan_prefix(PREFIX) {
            let (key, value) = entry?;
            let hook_id = String::from_utf8_lossy(&key[PREFIX.len()..]).into_owned();
            states.push((hook_id, serde_json::from_slice(&value)?));
        }
        Ok(states)
    }

    /// Records a hook's alerting state. Durable with the next sync.
    pub(super) fn set_alert_state(
        &self,
        hook_id: &str,
        state: &HookAlerts,
    ) -> Result<(), StoreError> {
        self.meta.insert(key(hook_id), serde_json::to_vec(state)?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::ExecutionId;
    use crate::store::Store;

    #[test]
    fn alert_states_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = HookAlerts {
            last_sent_at: Some(1_700_000_000_000),
            waiting: None,
        };
        state.add(ExecutionId::new(1_700_000_000_001), "gave up");
        {
            let store = Store::open(dir.path()).unwrap();
            store.set_alert_state("broken", &state).unwrap();
            store
                .set_alert_state("fine", &HookAlerts::default())
                .unwrap();
            store.set_last_fired("broken", 5).unwrap();
            store.flush_now().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let states = store.alert_states().unwrap();
        assert_eq!(
            states,
            [
                ("broken".to_string(), state),
                ("fine".to_string(), HookAlerts::default())
            ]
        );
    }
}
