//! Every key encoding in one place. In the log's table (`table.rs`; sled's `log` tree before
//! format 3):
//! - `e` + ULID (16 bytes, big-endian)          → the execution record: its JSON, then its
//!   payload's raw bytes (see `executions.rs`)
//! - `p` + ULID                                 → the payload of a record written before records
//!   carried it (moved into its record by `migrate.rs`; no longer written)
//! - `h` + hook id + 0x00 + ULID                → empty (per-hook index, ULIDs sort by time)
//! - `j` + ULID                                 → pending job JSON (executions not yet final)
//! - `s` + segment number (u64 BE)              → how many records point into that payload
//!   segment (i64 LE; written by the log's writers straight into the table, see `payloads.rs`)
//!
//! In the `deliveries` tree (dedupe claims):
//! - hook id + 0x00 + delivery id               → first execution's ULID (16) + claim time (8, BE ms)

use std::ops::Bound;

use crate::execution::ExecutionId;

pub const EXECUTION: u8 = b'e';
pub const PAYLOAD: u8 = b'p';
pub const HOOK_INDEX: u8 = b'h';
pub const JOB: u8 = b'j';
pub const SEGMENT_COUNT: u8 = b's';

pub fn execution(id: ExecutionId) -> Vec<u8> {
    prefixed(EXECUTION, &id.0.to_bytes())
}

pub fn payload(id: ExecutionId) -> Vec<u8> {
    prefixed(PAYLOAD, &id.0.to_bytes())
}

pub fn job(id: ExecutionId) -> Vec<u8> {
    prefixed(JOB, &id.0.to_bytes())
}

/// The prefix all index keys of one hook share.
pub fn hook_prefix(hook_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(hook_id.len() + 2);
    set_hook_prefix(&mut key, hook_id.as_bytes());
    key
}

/// Makes `key` the prefix of a hook's index keys, the hook given as its bytes (the log's table
/// keeps them so); reuses `key`'s allocation.
pub fn set_hook_prefix(key: &mut Vec<u8>, hook_id: &[u8]) {
    key.clear();
    key.push(HOOK_INDEX);
    key.extend_from_slice(hook_id);
    key.push(0);
}

/// Just past every index key of one hook.
pub fn hook_end(hook_id: &str) -> Vec<u8> {
    let mut key = hook_prefix(hook_id);
    if let Some(last) = key.last_mut() {
        *last = 1;
    }
    key
}

pub fn hook_index(hook_id: &str, id: ExecutionId) -> Vec<u8> {
    // Made at its full size: the prefix's own would grow again for the id.
    let mut key = Vec::with_capacity(hook_id.len() + 2 + 16);
    set_hook_prefix(&mut key, hook_id.as_bytes());
    key.extend_from_slice(&id.0.to_bytes());
    key
}

/// The execution id at the end of an index or job key.
pub fn trailing_id(key: &[u8]) -> Option<ExecutionId> {
    let tail: [u8; 16] = key.get(key.len().checked_sub(16)?..)?.try_into().ok()?;
    Some(ExecutionId(ulid::Ulid::from_bytes(tail)))
}

/// The hook id inside an index key.
pub fn hook_of_index(key: &[u8]) -> Option<&str> {
    let inner = key.get(1..key.len().checked_sub(17)?)?;
    std::str::from_utf8(inner).ok()
}

/// The dedupe claim key of a delivery id for a hook.
pub fn delivery(hook_id: &str, delivery_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(hook_id.len() + delivery_id.len() + 1);
    key.extend_from_slice(hook_id.as_bytes());
    key.push(0);
    key.extend_from_slice(delivery_id.as_bytes());
    key
}

/// A dedupe claim's value.
pub fn claim_value(id: ExecutionId, at_ms: u64) -> Vec<u8> {
    let mut value = id.0.to_bytes().to_vec();
    value.extend_from_slice(&at_ms.to_be_bytes());
    value
}

/// The execution and claim time in a claim value.
pub fn parse_claim(value: &[u8]) -> Option<(ExecutionId, u64)> {
    let id: [u8; 16] = value.get(..16)?.try_into().ok()?;
    let at: [u8; 8] = value.get(16..24)?.try_into().ok()?;
    Some((
        ExecutionId(ulid::Ulid::from_bytes(id)),
        u64::from_be_bytes(at),
    ))
}

fn prefixed(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(rest.len() + 1);
    key.push(tag);
    key.extend_from_slice(rest);
    key
}

pub fn segment_count(segment: u64) -> Vec<u8> {
    prefixed(SEGMENT_COUNT, &segment.to_be_bytes())
}

/// The bounds of every [`segment_count`] key.
pub fn segment_counts() -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    (
        Bound::Included(vec![SEGMENT_COUNT]),
        Bound::Excluded(vec![SEGMENT_COUNT + 1]),
    )
}

/// The segment number of a [`segment_count`] key.
pub fn segment_of_count(key: &[u8]) -> Option<u64> {
    let number = key.strip_prefix(&[SEGMENT_COUNT])?;
    Some(u64::from_be_bytes(number.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_round_trip() {
        let id = ExecutionId::new(1_700_000_000_000);
        let key = hook_index("github-prs", id);
        assert_eq!(trailing_id(&key), Some(id));
        assert_eq!(hook_of_index(&key), Some("github-prs"));
        assert!(key.starts_with(&hook_prefix("github-prs")));
        assert!(!key.starts_with(&hook_prefix("github")));
    }
}
