//! Browser sessions: the admin token is exchanged once for a random session id kept in an
//! HttpOnly cookie, so the token itself never sits in the page. Sessions end after
//! [`IDLE_MS`] without use or [`MAX_AGE_MS`] in all, or all at once when the admin token is
//! reset. Each carries a CSRF token the page must echo on every state-changing request.
//!
//! A lone hub (sled) keeps them in memory only: a restart signs everyone out. Hubs sharing a
//! PostgreSQL database keep them there ([`crate::store::SharedTables`]), so a browser signed in
//! through one hub is signed in on all, and signing out or a token reset ends it on all.
//!
//! Wrong tokens at sign-in are counted with wrong Bearer tokens, in [`super::attempts`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::store::{SessionLimits, Shared, Store, StoreError, StoredSession};
use crate::verify::constant_time_eq;

/// A session unused this long is gone.
pub const IDLE_MS: Millis = 12 * 3600 * 1000;
/// No session outlives this, used or not.
pub const MAX_AGE_MS: Millis = 7 * 24 * 3600 * 1000;
/// Sessions kept at once; signing in beyond this ends the least recently used.
const MAX_SESSIONS: usize = 64;
/// The same, for a shared database.
const LIMITS: SessionLimits = SessionLimits {
    idle_ms: IDLE_MS,
    max_age_ms: MAX_AGE_MS,
    max_live: MAX_SESSIONS,
};

/// What a valid session gives the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub csrf_token: String,
    pub created_at: Millis,
    pub last_seen: Millis,
}

impl Session {
    /// When it ends if not used again.
    pub fn expires_at(&self) -> Millis {
        (self.last_seen + IDLE_MS).min(self.created_at + MAX_AGE_MS)
    }

    /// Whether the presented CSRF token is this session's (constant-time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.csrf_token.as_bytes())
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// By the SHA-256 of the cookie value, so a lookup's timing says nothing about the ids.
    sessions: HashMap<[u8; 32], Session>,
}

impl From<StoredSession> for Session {
    fn from(s: StoredSession) -> Self {
        Self {
            csrf_token: s.csrf_token,
            created_at: s.created_at,
            last_seen: s.last_seen,
        }
    }
}

/// Every session of the hub: in memory, or in the store when it shares them with other hubs.
#[derive(Default)]
pub struct Sessions {
    memory: Mutex<Inner>,
    /// Set when the store has [`crate::store::SharedTables`]; they then hold every session.
    shared: Shared,
}

impl Sessions {
    /// The sessions of a hub on `store`: in its shared tables when it has them.
    pub fn new(store: &Arc<Store>) -> Self {
        Self {
            memory: Mutex::default(),
            shared: Shared::new(store),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.memory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session: returns the cookie value (shown to no one but the browser) and it.
    /// Fails only when a shared database does.
    pub fn create(&self, now: Millis) -> Result<(String, Session), StoreError> {
        let id = random_token();
        let session = Session {
            csrf_token: random_token(),
            created_at: now,
            last_seen: now,
        };
        if let Some(tables) = self.shared.tables() {
            tables.create_session(&id, &session.csrf_token, now, LIMITS)?;
            return Ok((id, session));
        }
        let mut inner = self.lock();
        inner.sessions.retain(|_, s| s.expires_at() > now);
        if inner.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = inner
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
        {
            inner.sessions.remove(&oldest);
        }
        inner.sessions.insert(digest(&id), session.clone());
        Ok((id, session))
    }

    /// The live session with this cookie value, marked as used now. A shared database that
    /// fails is logged and taken as no session: the page asks to sign in, which then fails
    /// with the database's 500.
    pub fn touch(&self, cookie: &str, now: Millis) -> Option<Session> {
        if let Some(tables) = self.shared.tables() {
            return match tables.touch_session(cookie, now, LIMITS) {
                Ok(session) => session.map(Session::from),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the browser sessions");
                    None
                }
            };
        }
        let key = digest(cookie);
        let mut inner = self.lock();
        let session = inner.sessions.get_mut(&key)?;
        if session.expires_at() <= now {
            inner.sessions.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends the session with this cookie value, if there is one.
    pub fn remove(&self, cookie: &str) -> Result<(), StoreError> {
        if let Some(tables) = self.shared.tables() {
            return tables.remove_session(cookie);
        }
        self.lock().sessions.remove(&digest(cookie));
        Ok(())
    }

    /// Ends every session: after an admin token reset, nobody stays signed in with the old one.
    pub fn clear(&self) -> Result<(), StoreError> {
        if let Some(tables) = self.shared.tables() {
            return tables.clear_sessions();
        }
        self.lock().sessions.clear();
        Ok(())
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_and_at_their_maximum_age() {
        let sessions = Sessions::default();
        let (id, session) = sessions.create(1_000).unwrap();
        assert_ne!(id, session.csrf_token);
        assert!(sessions.touch("not-a-session", 1_000).is_none());
        let later = 1_000 + IDLE_MS - 1;
        assert_eq!(sessions.touch(&id, later).unwrap().last_seen, later);
        // Used just in time, so it lives on past the first idle limit...
        assert!(sessions.touch(&id, 1_000 + IDLE_MS + 5).is_some());
        // ...but not a full idle period after its last use.
        assert!(sessions.touch(&id, 1_000 + 2 * IDLE_MS + 10).is_none());

        let (kept_busy, _) = sessions.create(0).unwrap();
        let mut t = 0;
        while t + IDLE_MS / 2 < MAX_AGE_MS {
            t += IDLE_MS / 2;
            assert!(sessions.touch(&kept_busy, t).is_some());
        }
        assert!(sessions.touch(&kept_busy, MAX_AGE_MS).is_none());
    }

    #[test]
    fn signing_out_ends_the_session() {
        let sessions = Sessions::default();
        let (id, _) = sessions.create(0).unwrap();
        sessions.remove(&id).unwrap();
        assert!(sessions.touch(&id, 1).is_none());
    }

    #[test]
    fn clearing_ends_every_session() {
        let sessions = Sessions::default();
        let ids: Vec<String> = (0..3).map(|i| sessions.create(i).unwrap().0).collect();
        sessions.clear().unwrap();
        assert!(ids.iter().all(|id| sessions.touch(id, 5).is_none()));
        let (again, _) = sessions.create(6).unwrap();
        assert!(
            sessions.touch(&again, 7).is_some(),
            "signing in works again"
        );
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let session = Sessions::default().create(0).unwrap().1;
        assert!(session.csrf_matches(&session.csrf_token.clone()));
        assert!(!session.csrf_matches(&session.csrf_token[..10]));
    }
}
