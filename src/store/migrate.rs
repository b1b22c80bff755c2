//! The database's format version, and the only readers of older formats.
//!
//! The `meta` tree holds the format a database is in (`format_version`, u64 big-endian). One
//! without it was written by a hub from before versions were stored (0.1.0 up to this one),
//! and is brought up to date once, when it is opened ([`run`]), after the journal's replay:
//! - execution records that are the JSON alone, their payload under its own key
//!   (`keys::payload`), are rewritten in the current form (`executions.rs`), and those keys
//!   removed;
//! - API hooks with secrets stored in clear are stored again sealed and hashed (`hooks.rs`).
//!
//! Then the version is written and made durable. A database in a newer format than this hub
//! knows is refused rather than misread ([`check`]). Journal files from before frames (a crash
//! left them; they never outlive the open that replays them) are read by [`unframed_ops`].
//!
//! A change of a stored form raises [`FORMAT`], and adds its rewrite here when records in the older
//! form cannot be read as they are.

use super::executions;
use super::hooks::{self, Kept};
use super::journal::Op;
use super::seal::is_sealed;
use super::{Batch, Database, StoreError, keys};
use crate::model::hash_token;

/// The format this hub writes. 2: execution records filed in segments (`payloads.rs`), which a
/// hub of format 1 cannot read; format 1's records are read as they are, so going from 1 to 2
/// rewrites nothing. 3: the execution log in its own table (`table.rs`), not sled's `log`
/// tree; the tree is copied into the table as it is when a data dir is opened without one.
/// 4: a status update's journal record may leave its payload out (`executions.rs`,
/// `RECORD_SAME_PAYLOAD`), which a hub of format 3 would misread in a journal a crash left;
/// going from 3 to 4 rewrites nothing. 5: the table points into journal files for records'
/// JSON and payloads (`payloads.rs`, `Journaled`), which a hub of format 4 would read as
/// segments; going from 4 to 5 rewrites nothing. 6: the table is saved as a whole save and
/// deltas after it (`table/mod.rs`), of which a hub of format 5 would read neither; going from
/// 5 to 6 rewrites nothing.
pub(super) const FORMAT: u64 = 6;
/// The first format whose execution log is in the table.
pub(super) const TABLE_FORMAT: u64 = 3;
const KEY: &str = "format_version";

/// The format the database in `dir` is in: `None` for one from before versions. Refuses one
/// newer than [`FORMAT`].
pub(super) fn check(meta: &sled::Tree, dir: &std::path::Path) -> Result<Option<u64>, StoreError> {
    let Some(bytes) = meta.get(KEY)? else {
        return Ok(None);
    };
    let found = <[u8; 8]>::try_from(bytes.as_ref())
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Open {
            path: dir.display().to_string(),
            reason: "its format version is unreadable".into(),
        })?;
    if found > FORMAT {
        return Err(StoreError::Newer {
            path: dir.display().to_string(),
            found,
            known: FORMAT,
        });
    }
    Ok(Some(found))
}

/// Brings a database in an older format (`found`, `None` from before versions) up to date and
/// records [`FORMAT`], durably.
pub(super) fn run(db: &Database, found: Option<u64>) -> Result<(), StoreError> {
    let (records, hooks) = match found {
        None => (payload_records(db)?, seal_clear_hooks(db)?),
        Some(_) => (0, 0),
    };
    db.meta.insert(KEY, FORMAT.to_be_bytes())?;
    db.flush_now()?;
    if records + hooks > 0 {
        tracing::info!(
            records,
            hooks,
            format = FORMAT,
            "rewrote the database's older records in the current format"
        );
    }
    Ok(())
}

/// Rewrites execution records from before records carried their payload. Such a record is a
/// JSON object, where a current one starts with its form's tag. One that cannot be read is left
/// as it is, as unreadable as it was.
fn payload_records(db: &Database) -> Result<usize, StoreError> {
    let mut rewritten = 0;
    for item in db.log.scan_prefix([keys::EXECUTION]) {
        let (key, bytes) = item?;
        let Some(id) = keys::trailing_id(&key).filter(|_| bytes.first() == Some(&b'{')) else {
            continue;
        };
        let payload = db.log.get(keys::payload(id))?.map(|p| p.to_vec());
        let mut e = match executions::decode(&bytes, payload) {
            Ok(e) => e,
            Err(error) => {
                tracing::warn!(execution = %id, %error, "an unreadable execution record is left as it is");
                continue;
            }
        };
        let mut batch = Batch::default();
        batch.insert(&key[..], executions::encode(&mut e)?);
        batch.remove(keys::payload(id));
        db.log.apply_batch(batch);
        rewritten += 1;
    }
    // Payloads whose record went another way.
    for item in db.log.scan_prefix([keys::PAYLOAD]) {
        db.log.remove(item?.0);
    }
    Ok(rewritten)
}

/// Stores again the API hooks stored before their secrets were sealed, so no secret stays in
/// clear. Returns how many.
pub(super) fn seal_clear_hooks(db: &Database) -> Result<usize, StoreError> {
    let mut rewritten = 0;
    for entry in db.api_hooks.iter() {
        let (key, bytes) = entry?;
        let mut stored = hooks::read_stored(&bytes)?;
        let in_clear = hooks::secrets_mut(&mut stored)
            .into_iter()
            .any(|(kept, s)| {
                !s.is_empty()
                    && match kept {
                        Kept::Sealed => !is_sealed(s),
                        Kept::Hashed => hash_token(s) != *s,
                    }
            });
        if in_clear {
            let hook = super::hooks::decode_hook(&db.seal, &bytes)?;
            db.api_hooks
                .insert(key, super::hooks::encode_hook(&db.seal, &hook)?)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// The ops of one record of a journal file from before frames (`journal-N.log`): `body` is
/// ops, `crc` its unseeded CRC32. `None` when torn or corrupt.
pub(super) fn unframed_ops(body: &[u8], crc: u32) -> Option<Vec<Op>> {
    if crc32fast::hash(body) != crc {
        return None;
    }
    super::journal::decode_ops(body)
}

/// Makes an open database look like one from before versions, for tests of [`run`].
#[cfg(test)]
pub(super) fn forget_format(db: &Database) {
    db.meta.remove(KEY).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SledStore, Storage as _};

    #[test]
    fn a_database_records_its_format_and_one_newer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let db = store.database();
            assert_eq!(check(&db.meta, dir.path()).unwrap(), Some(FORMAT));
            db.meta.insert(KEY, (FORMAT + 1).to_be_bytes()).unwrap();
            store.flush_now().unwrap();
        }
        let refused = SledStore::open_again(dir.path())
            .err()
            .expect("a newer format is refused");
        assert!(
            matches!(refused, StoreError::Newer { found, .. } if found == FORMAT + 1),
            "{refused}"
        );
    }

    #[test]
    fn a_database_of_format_1_is_opened_and_marked_current() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .database()
                .meta
                .insert(KEY, 1u64.to_be_bytes())
                .unwrap();
            store.flush_now().unwrap();
        }
        let store = SledStore::open_again(dir.path()).unwrap();
        let db = store.database();
        assert_eq!(check(&db.meta, dir.path()).unwrap(), Some(FORMAT));
    }
}
