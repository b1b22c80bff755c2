//! Hooks made through the API (the `api_hooks` tree: id → hook JSON).

use super::{Store, StoreError};
use crate::hooks::Hook;

impl Store {
    /// Every API-made hook, ordered by id.
    pub fn api_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        self.api_hooks
            .iter()
            .values()
            .map(|v| Ok(serde_json::from_slice(&v?)?))
            .collect()
    }

    pub fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        match self.api_hooks.get(id)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    /// Creates or replaces an API hook. Not durable until [`Store::sync`].
    pub fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError> {
        self.api_hooks
            .insert(hook.id.as_bytes(), serde_json::to_vec(hook)?)?;
        Ok(())
    }

    /// Removes an API hook; false when there was none.
    pub fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.api_hooks.remove(id)?.is_some())
    }
}
