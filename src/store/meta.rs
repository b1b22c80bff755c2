//! Small named values (the `meta` tree). The database's format version is kept there too
//! (`migrate.rs`), as are schedules' last runs (`schedule.rs`) and alerting states (`alerts.rs`).

use super::{Database, StoreError};

const ADMIN_TOKEN_HASH: &str = "admin_token_sha256";

impl Database {
    /// The SHA-256 of the generated admin token, if one was generated.
    pub(super) fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(ADMIN_TOKEN_HASH)?.map(|v| v.to_vec()))
    }

    pub(super) fn set_admin_token_hash(&self, hash: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(ADMIN_TOKEN_HASH, hash)?;
        Ok(())
    }
}
