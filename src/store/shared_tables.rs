//! [`SharedTables`]: what one hub keeps in memory and hubs sharing a database keep in it, so
//! that any hub answers any request (SPEC §12): browser sessions, link codes and the ring of
//! refused deliveries. The callers (`state::session`, `channels::link`, `state::rejections`)
//! use it when [`super::Storage::shared_tables`] gives one, else their in-memory tables; they
//! own the rules (lifetimes, caps, who may redeem what) and pass them in, so both keep one
//! policy. A backend keeps these tables bounded as it writes them, and keeps only a hash of
//! each secret (a session's cookie value, a link code), never the value.

use std::sync::Arc;

use crate::clock::Millis;

/// How long sessions live and how many are kept (see `state::session`).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused this long is gone.
    pub idle_ms: Millis,
    /// No session outlives this from its start.
    pub max_age_ms: Millis,
    /// Sessions kept at once; a new one beyond this ends the least recently used.
    pub max_live: usize,
}

/// A live session as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub csrf_token: String,
    pub created_at: Millis,
    pub last_seen: Millis,
}

/// A new link code (see `channels::link`).
#[derive(Debug, Clone)]
pub struct NewLinkCode<'a> {
    pub code: &'a str,
    /// The chat that asked for it, whose older code it replaces; `None` when made by the admin
    /// API. A code is redeemed only from the other side.
    pub chat: Option<&'a str>,
    /// Where it was made, in the caller's encoding, given back when it is redeemed.
    pub origin: Vec<u8>,
    pub expires_at: Millis,
    /// Live codes kept at most; the oldest goes first.
    pub max_live: usize,
}

/// One refused delivery as kept: its place in the ring and the caller's encoding of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRejection {
    pub seq: u64,
    pub entry: Vec<u8>,
}

/// The tables. Blocking calls, like the rest of [`super::Storage`].
pub trait SharedTables: Send + Sync {
    /// Starts the session whose cookie value is `id`, used first at `now`; forgets expired
    /// sessions and, beyond `limits.max_live`, the least recently used.
    fn create_session(
        &self,
        id: &str,
        csrf_token: &str,
        now: Millis,
        limits: SessionLimits,
    ) -> Result<(), super::StoreError>;

    /// The live session whose cookie value is `id`, marked as used at `now`.
    fn touch_session(
        &self,
        id: &str,
        now: Millis,
        limits: SessionLimits,
    ) -> Result<Option<StoredSession>, super::StoreError>;

    /// Ends the session whose cookie value is `id`, if there is one.
    fn remove_session(&self, id: &str) -> Result<(), super::StoreError>;

    /// Ends every session.
    fn clear_sessions(&self) -> Result<(), super::StoreError>;

    /// Keeps a new link code, live until its `expires_at`; forgets expired codes, the asking
    /// chat's older one, and beyond `max_live` the oldest.
    fn issue_link_code(&self, code: NewLinkCode<'_>, now: Millis) -> Result<(), super::StoreError>;

    /// Uses up the live code `code` made in a chat (`made_in_chat`) or by the admin API, and
    /// gives back its origin; `None` when there is no such code.
    fn redeem_link_code(
        &self,
        code: &str,
        made_in_chat: bool,
        now: Millis,
    ) -> Result<Option<Vec<u8>>, super::StoreError>;

    /// Keeps a refused delivery on `path`, pushing out what lies `capacity` entries back.
    fn record_rejection(
        &self,
        path: &str,
        entry: &[u8],
        capacity: usize,
    ) -> Result<(), super::StoreError>;

    /// Up to `limit` refusals, newest first, older than `before` when given, only those on
    /// `path` when given.
    fn rejections(
        &self,
        before: Option<u64>,
        path: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRejection>, super::StoreError>;
}

/// A caller's way to its store's [`SharedTables`]: the store when it has them, else nothing
/// (the caller then keeps its in-memory table). Empty by default, as in unit tests.
#[derive(Clone, Default)]
pub struct Shared(Option<Arc<super::Store>>);

impl Shared {
    pub fn new(store: &Arc<super::Store>) -> Self {
        Self(store.shared_tables().is_some().then(|| store.clone()))
    }

    /// The tables, when the store shares them.
    pub fn tables(&self) -> Option<&dyn SharedTables> {
        self.0.as_deref().and_then(|store| store.shared_tables())
    }
}
