//! Every delivery the hub refused, whatever step refused it (SPEC §4, §11), kept so "my sender
//! gets 4xx" can be diagnosed from the UI: one ring across all paths.
//!
//! A flood of bad requests must cost a fixed amount, so the ring holds at most [`CAPACITY`]
//! entries and each entry is clipped on the way in (path, message, method and headers each have
//! a cap), whatever the request carried. A lone hub (sled) keeps the ring in memory only and
//! writes none of it to disk; a restart empties it. Hubs sharing a PostgreSQL database keep one
//! ring there ([`crate::store::SharedTables`]), so each lists the refusals of all; a hub writes
//! only a few refusals there at once ([`MAX_WRITING`]), so a flood costs the database a fixed
//! amount as well.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::store::{Shared, Store, StoreError, StoredRejection};

/// How many refusals the ring keeps, across all paths.
pub const CAPACITY: usize = 1000;
/// How many refusals a hook's own view lists (`GET /api/hooks/:id/rejections`).
pub const PER_PATH: usize = 50;
/// Refusals being written to a shared database at once, at most; a flood beyond this is
/// logged, not kept, so it costs the database a fixed amount too.
const MAX_WRITING: usize = 8;
/// Caps on what one entry keeps, in bytes of text.
const MAX_PATH: usize = 256;
const MAX_MESSAGE: usize = 512;
const MAX_METHOD: usize = 16;
const MAX_HEADER_NAME: usize = 64;
const MAX_HEADER_VALUE: usize = 256;
/// Headers beyond this many bytes of names and values are counted, not kept.
const MAX_HEADERS_TOTAL: usize = 4096;
/// The largest an entry's text can be: what a flood costs per entry.
#[cfg(test)]
const MAX_ENTRY_TEXT: usize = MAX_PATH
    + MAX_MESSAGE
    + MAX_METHOD
    + 64 // hook id (a slug)
    + 64 // code, client, time
    + MAX_HEADERS_TOTAL
    + MAX_HEADER_NAME
    + MAX_HEADER_VALUE;

/// One refused delivery. The body is not kept, only its declared size. Kept in a shared
/// database as its JSON, the API's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejection {
    /// Its place in the ring, for cursors; never shown.
    #[serde(skip)]
    pub seq: u64,
    pub at: String,
    /// The hook path as the request wrote it (after `/api/webhooks/`).
    pub path: String,
    /// The first enabled hook on the path; `None` when no hook listens there.
    pub hook_id: Option<String>,
    pub status: u16,
    /// Borrowed when made (an error code), owned when read back from a shared database.
    pub code: Cow<'static, str>,
    pub message: String,
    pub client: String,
    pub method: String,
    /// Lower-cased, secrets redacted.
    pub headers: crate::execution::Headers,
    /// `Content-Length` as the sender declared it.
    pub body_bytes: Option<u64>,
}

impl Rejection {
    /// The entry with every part clipped to its cap.
    fn clipped(mut self) -> Self {
        self.path = clip(&self.path, MAX_PATH);
        self.message = clip(&self.message, MAX_MESSAGE);
        self.method = clip(&self.method, MAX_METHOD);
        self.hook_id = self.hook_id.map(|id| clip(&id, 64));
        self.headers = clip_headers(std::mem::take(&mut self.headers));
        self
    }

    #[cfg(test)]
    /// Bytes of text the entry holds.
    pub fn text_len(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.path.len()
            + self.message.len()
            + self.method.len()
            + self.hook_id.as_ref().map_or(0, String::len)
            + self.code.len()
            + self.client.len()
            + self.at.len()
            + headers
    }
}

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Headers clipped one by one, then kept only while they fit [`MAX_HEADERS_TOTAL`]; the rest
/// are counted under the name `…`.
fn clip_headers(headers: crate::execution::Headers) -> crate::execution::Headers {
    let mut kept = BTreeMap::new();
    let (mut used, mut dropped) = (0, 0usize);
    for (name, value) in headers {
        let (name, value) = (clip(&name, MAX_HEADER_NAME), clip(&value, MAX_HEADER_VALUE));
        if used + name.len() + value.len() > MAX_HEADERS_TOTAL {
            dropped += 1;
            continue;
        }
        used += name.len() + value.len();
        kept.insert(name.into(), value);
    }
    if dropped > 0 {
        kept.insert("…".into(), format!("{dropped} more headers not kept"));
    }
    kept
}

/// The ring: in memory, or in the store when it shares it with other hubs.
#[derive(Default)]
pub struct Rejections {
    ring: Mutex<Ring>,
    /// Set when the store has [`crate::store::SharedTables`]; they then hold the ring.
    shared: Shared,
    /// Refusals being written to them now (see [`MAX_WRITING`]).
    writing: AtomicUsize,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Rejection>,
    next_seq: u64,
}

/// One page of the ring, newest first.
#[derive(Debug)]
pub struct RejectionPage {
    pub rejections: Vec<Rejection>,
    /// Pass as `cursor` for the next (older) page; `None` on the last page.
    pub next_cursor: Option<u64>,
}

impl Rejections {
    /// The ring of a hub on `store`: in its shared tables when it has them.
    pub fn new(store: &Arc<Store>) -> Self {
        Self {
            ring: Mutex::default(),
            shared: Shared::new(store),
            writing: AtomicUsize::new(0),
        }
    }

    /// Keeps a refusal, clipped, pushing out the oldest when the ring is full. A shared
    /// database that fails is logged: the refusal itself was answered and logged already.
    pub fn record(&self, rejection: Rejection) {
        if let Some(tables) = self.shared.tables() {
            if self.writing.fetch_add(1, Ordering::AcqRel) >= MAX_WRITING {
                self.writing.fetch_sub(1, Ordering::AcqRel);
                tracing::debug!("too many refusals at once: one is not kept");
                return;
            }
            let rejection = rejection.clipped();
            let kept = serde_json::to_vec(&rejection)
                .map_err(StoreError::from)
                .and_then(|entry| tables.record_rejection(&rejection.path, &entry, CAPACITY));
            self.writing.fetch_sub(1, Ordering::AcqRel);
            if let Err(e) = kept {
                tracing::warn!(error = %e, "cannot keep a refused delivery");
            }
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == CAPACITY {
            ring.entries.pop_front();
        }
        ring.entries.push_back(Rejection {
            seq,
            ..rejection.clipped()
        });
    }

    /// Up to `limit` refusals older than `cursor` (all when `None`), newest first. Fails only
    /// when a shared database does.
    pub fn page(&self, limit: usize, cursor: Option<u64>) -> Result<RejectionPage, StoreError> {
        if let Some(tables) = self.shared.tables() {
            let mut rejections = decode(tables.rejections(cursor, None, limit + 1)?)?;
            let more = rejections.len() > limit;
            rejections.truncate(limit);
            return Ok(RejectionPage {
                next_cursor: more.then(|| rejections.last().map(|r| r.seq)).flatten(),
                rejections,
            });
        }
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let mut older = ring
            .entries
            .iter()
            .rev()
            .filter(|r| cursor.is_none_or(|c| r.seq < c));
        let rejections: Vec<Rejection> = older.by_ref().take(limit).cloned().collect();
        let next_cursor = match (older.next(), rejections.last()) {
            (Some(_), Some(last)) => Some(last.seq),
            _ => None,
        };
        Ok(RejectionPage {
            rejections,
            next_cursor,
        })
    }

    /// The newest [`PER_PATH`] refusals on one path, newest first. Fails only when a shared
    /// database does.
    pub fn of_path(&self, path: &str) -> Result<Vec<Rejection>, StoreError> {
        if let Some(tables) = self.shared.tables() {
            return decode(tables.rejections(None, Some(path), PER_PATH)?);
        }
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        Ok(ring
            .entries
            .iter()
            .rev()
            .filter(|r| r.path == path)
            .take(PER_PATH)
            .cloned()
            .collect())
    }
}

/// Refusals as a shared database keeps them, with their places in the ring.
fn decode(stored: Vec<StoredRejection>) -> Result<Vec<Rejection>, StoreError> {
    stored
        .into_iter()
        .map(|s| {
            let rejection: Rejection = serde_json::from_slice(&s.entry)?;
            Ok(Rejection {
                seq: s.seq,
                ..rejection
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(path: &str, n: usize) -> Rejection {
        Rejection {
            seq: 0,
            at: String::new(),
            path: path.into(),
            hook_id: None,
            status: 404,
            code: "hook_not_found".into(),
            message: n.to_string(),
            client: "127.0.0.1".into(),
            method: "POST".into(),
            headers: BTreeMap::new(),
            body_bytes: Some(n as u64),
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_across_paths() {
        let r = Rejections::default();
        for n in 0..(CAPACITY + 20) {
            r.record(rejection(if n % 2 == 0 { "a" } else { "b" }, n));
        }
        let all = r.page(CAPACITY * 2, None).unwrap();
        assert_eq!(all.rejections.len(), CAPACITY);
        assert_eq!(all.rejections[0].message, (CAPACITY + 19).to_string());
        assert_eq!(all.rejections[CAPACITY - 1].message, "20");
        assert!(all.next_cursor.is_none());
        let a = r.of_path("a").unwrap();
        assert_eq!(a.len(), PER_PATH);
        assert!(a.iter().all(|x| x.path == "a"));
        assert_eq!(a[0].message, (CAPACITY + 18).to_string());
    }

    #[test]
    fn pages_follow_the_cursor_to_the_oldest() {
        let r = Rejections::default();
        for n in 0..5 {
            r.record(rejection("a", n));
        }
        let first = r.page(2, None).unwrap();
        let messages = |p: &RejectionPage| -> Vec<String> {
            p.rejections.iter().map(|x| x.message.clone()).collect()
        };
        assert_eq!(messages(&first), ["4", "3"]);
        let second = r.page(2, first.next_cursor).unwrap();
        assert_eq!(messages(&second), ["2", "1"]);
        let last = r.page(2, second.next_cursor).unwrap();
        assert_eq!(messages(&last), ["0"]);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn a_huge_request_costs_no_more_than_the_entry_cap() {
        let r = Rejections::default();
        let mut big = rejection(&"p/".repeat(30_000), 1);
        big.message = "é".repeat(10_000);
        big.method = "X".repeat(1000);
        for i in 0..100 {
            big.headers.insert(
                format!("x-{i}-{}", "n".repeat(500)).into(),
                "v".repeat(10_000),
            );
        }
        r.record(big);
        let kept = r.page(1, None).unwrap().rejections.remove(0);
        assert!(kept.text_len() <= MAX_ENTRY_TEXT, "{}", kept.text_len());
        assert!(kept.path.ends_with('…'));
        assert!(kept.message.len() <= MAX_MESSAGE);
        assert!(kept.headers["…"].ends_with("more headers not kept"));
    }
}
