//! The owner's channel bindings (the `bindings` tree: binding id → binding JSON). A handful of
//! records at most, so lookups by chat scan them.

use super::{Database, StoreError};
use crate::model::{Binding, BindingId};

impl Database {
    /// Every binding, oldest first.
    pub(super) fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let mut all = self
            .bindings
            .iter()
            .map(|entry| Ok(serde_json::from_slice(&entry?.1)?))
            .collect::<Result<Vec<Binding>, StoreError>>()?;
        all.sort_by(|a, b| (a.created_at, &a.id.0).cmp(&(b.created_at, &b.id.0)));
        Ok(all)
    }

    /// Creates or replaces a binding. Not durable until [`super::Storage::sync`].
    pub(super) fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        self.bindings
            .insert(binding.id.0.as_bytes(), serde_json::to_vec(binding)?)?;
        Ok(())
    }

    /// Removes a binding; false when there was none.
    pub(super) fn remove_binding(&self, id: &BindingId) -> Result<bool, StoreError> {
        Ok(self.bindings.remove(id.0.as_bytes())?.is_some())
    }
}
