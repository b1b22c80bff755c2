//! Browser sessions: the admin token is exchanged once for a random session id kept in an
//! HttpOnly cookie, so the token itself never sits in the page. Sessions live in memory only
//! (a restart signs everyone out) and end after [`IDLE_MS`] without use or [`MAX_AGE_MS`] in
//! all. Each carries a CSRF token the page must echo on every state-changing request.
//!
//! Failed sign-ins are counted per client address and in all, and refused for a while past a
//! few, so a guessed or weak admin token cannot be tried quickly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::verify::constant_time_eq;

/// A session unused this long is gone.
pub const IDLE_MS: Millis = 12 * 3600 * 1000;
/// No session outlives this, used or not.
pub const MAX_AGE_MS: Millis = 7 * 24 * 3600 * 1000;
/// Sessions kept at once; signing in beyond this ends the least recently used.
const MAX_SESSIONS: usize = 64;
/// Failed sign-ins allowed per address per window, and in all per window.
const FAILURES_PER_CLIENT: u32 = 5;
const FAILURES_IN_ALL: u32 = 50;
const WINDOW_MS: Millis = 60 * 1000;

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
struct Failures {
    window_start: Millis,
    count: u32,
}

impl Failures {
    fn current(&mut self, now: Millis) -> &mut Self {
        if now >= self.window_start + WINDOW_MS {
            *self = Failures {
                window_start: now,
                count: 0,
            };
        }
        self
    }

    fn retry_after(&self, now: Millis) -> u64 {
        (self.window_start + WINDOW_MS)
            .saturating_sub(now)
            .div_ceil(1000)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// By the SHA-256 of the cookie value, so a lookup's timing says nothing about the ids.
    sessions: HashMap<[u8; 32], Session>,
    failures: HashMap<IpAddr, Failures>,
    all_failures: Failures,
}

/// Every session of the hub.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<Inner>);

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a session: returns the cookie value (shown to no one but the browser) and it.
    pub fn create(&self, now: Millis) -> (String, Session) {
        let id = random_token();
        let session = Session {
            csrf_token: random_token(),
            created_at: now,
            last_seen: now,
        };
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
        (id, session)
    }

    /// The live session with this cookie value, marked as used now.
    pub fn touch(&self, cookie: &str, now: Millis) -> Option<Session> {
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
    pub fn remove(&self, cookie: &str) {
        self.lock().sessions.remove(&digest(cookie));
    }

    /// `Err(seconds to wait)` while `client` (or everyone) has failed too often of late.
    pub fn may_try(&self, client: IpAddr, now: Millis) -> Result<(), u64> {
        let mut inner = self.lock();
        let all = inner.all_failures.current(now);
        if all.count >= FAILURES_IN_ALL {
            return Err(all.retry_after(now));
        }
        match inner.failures.get_mut(&client).map(|f| f.current(now)) {
            Some(f) if f.count >= FAILURES_PER_CLIENT => Err(f.retry_after(now)),
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in from `client`.
    pub fn failed(&self, client: IpAddr, now: Millis) {
        let mut inner = self.lock();
        inner.all_failures.current(now).count += 1;
        // Old windows are dropped so a spray of addresses cannot grow the map for good.
        if inner.failures.len() > 4096 {
            inner
                .failures
                .retain(|_, f| now < f.window_start + WINDOW_MS);
        }
        inner.failures.entry(client).or_default().current(now).count += 1;
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
        let (id, session) = sessions.create(1_000);
        assert_ne!(id, session.csrf_token);
        assert!(sessions.touch("not-a-session", 1_000).is_none());
        let later = 1_000 + IDLE_MS - 1;
        assert_eq!(sessions.touch(&id, later).unwrap().last_seen, later);
        // Used just in time, so it lives on past the first idle limit...
        assert!(sessions.touch(&id, 1_000 + IDLE_MS + 5).is_some());
        // ...but not a full idle period after its last use.
        assert!(sessions.touch(&id, 1_000 + 2 * IDLE_MS + 10).is_none());

        let (kept_busy, _) = sessions.create(0);
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
        let (id, _) = sessions.create(0);
        sessions.remove(&id);
        assert!(sessions.touch(&id, 1).is_none());
    }

    #[test]
    fn too_many_failures_wait_for_the_window() {
        let sessions = Sessions::default();
        let (me, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..FAILURES_PER_CLIENT {
            assert_eq!(sessions.may_try(me, 0), Ok(()));
            sessions.failed(me, 0);
        }
        assert_eq!(sessions.may_try(me, 1_500), Err(59));
        assert_eq!(
            sessions.may_try(other, 1_500),
            Ok(()),
            "others are not held back"
        );
        assert_eq!(sessions.may_try(me, WINDOW_MS), Ok(()));
    }

    #[test]
    fn csrf_tokens_compare_whole() {
        let session = Sessions::default().create(0).1;
        assert!(session.csrf_matches(&session.csrf_token.clone()));
        assert!(!session.csrf_matches(&session.csrf_token[..10]));
    }
}
