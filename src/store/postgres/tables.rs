//! [`SharedTables`] in PostgreSQL (schema migration 2): sessions, link codes and refused
//! deliveries, so a browser signed in on one hub is signed in on all, a code made on one is
//! redeemed on another, and every hub lists every hub's refusals.
//!
//! Secrets are kept as keyed hashes ([`super::super::seal::Sealer::digest`], with the
//! `secret.key` every hub on the database shares): a session's cookie value and a link code
//! are never stored, and a six-character code cannot be found from its hash without the key.
//! Each write forgets what has expired or lies beyond its table's cap, so the tables stay as
//! small as the in-memory ones.

use super::{Params, PgStore, db};
use crate::clock::Millis;
use crate::store::{
    NewLinkCode, SessionLimits, SharedTables, StoreError, StoredRejection, StoredSession,
};

/// The contexts of the keyed hashes, so a session id and a code never hash alike.
const SESSION: &str = "session";
const LINK_CODE: &str = "link code";

impl PgStore {
    /// Runs `statements` in one transaction, in order.
    fn in_transaction(&self, statements: Vec<(&'static str, Params)>) -> Result<(), StoreError> {
        self.run(move |pg| async move {
            let mut client = pg.exclusive().await?;
            let tx = client.transaction().await.map_err(db)?;
            for (sql, params) in &statements {
                tx.execute(*sql, &params.refs()).await.map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }

    fn hash(&self, value: &str, context: &str) -> Vec<u8> {
        self.seal.digest(value, context).to_vec()
    }
}

/// A count for SQL's `OFFSET`: how many of the newest to keep.
fn keep(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SharedTables for PgStore {
    fn create_session(
        &self,
        id: &str,
        csrf_token: &str,
        now: Millis,
        limits: SessionLimits,
    ) -> Result<(), StoreError> {
        let now = now as i64;
        let expires = now + limits.idle_ms.min(limits.max_age_ms) as i64;
        self.in_transaction(vec![
            ("DELETE FROM sessions WHERE expires_ms <= $1", params![now]),
            (
                "DELETE FROM sessions WHERE id_hash IN (
                    SELECT id_hash FROM sessions ORDER BY last_seen_ms DESC, id_hash OFFSET $1)",
                params![keep(limits.max_live.saturating_sub(1))],
            ),
            (
                "INSERT INTO sessions (id_hash, csrf_token, created_ms, last_seen_ms, expires_ms)
                 VALUES ($1, $2, $3, $3, $4)
                 ON CONFLICT (id_hash) DO UPDATE SET csrf_token = EXCLUDED.csrf_token,
                    created_ms = EXCLUDED.created_ms, last_seen_ms = EXCLUDED.last_seen_ms,
                    expires_ms = EXCLUDED.expires_ms",
                params![self.hash(id, SESSION), csrf_token.to_string(), now, expires],
            ),
        ])
    }

    fn touch_session(
        &self,
        id: &str,
        now: Millis,
        limits: SessionLimits,
    ) -> Result<Option<StoredSession>, StoreError> {
        // Hubs' clocks differ a little: a session's last use never moves back.
        let rows = self.rows(
            "UPDATE sessions SET last_seen_ms = GREATEST(last_seen_ms, $2),
                expires_ms = LEAST(GREATEST(last_seen_ms, $2) + $3, created_ms + $4)
             WHERE id_hash = $1 AND expires_ms > $2
             RETURNING csrf_token, created_ms, last_seen_ms",
            params![
                self.hash(id, SESSION),
                now as i64,
                limits.idle_ms as i64,
                limits.max_age_ms as i64
            ],
        )?;
        Ok(rows.first().map(|row| StoredSession {
            csrf_token: row.get(0),
            created_at: row.get::<_, i64>(1) as Millis,
            last_seen: row.get::<_, i64>(2) as Millis,
        }))
    }

    fn remove_session(&self, id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM sessions WHERE id_hash = $1",
            params![self.hash(id, SESSION)],
        )?;
        Ok(())
    }

    fn clear_sessions(&self) -> Result<(), StoreError> {
        self.execute("DELETE FROM sessions", params![])?;
        Ok(())
    }

    fn issue_link_code(&self, code: NewLinkCode<'_>, now: Millis) -> Result<(), StoreError> {
        let now = now as i64;
        let chat = code.chat.map(str::to_string);
        self.in_transaction(vec![
            (
                "DELETE FROM link_codes WHERE expires_ms <= $1 OR chat = $2",
                params![now, chat.clone()],
            ),
            (
                "DELETE FROM link_codes WHERE code_hash IN (
                    SELECT code_hash FROM link_codes ORDER BY made_ms DESC, code_hash OFFSET $1)",
                params![keep(code.max_live.saturating_sub(1))],
            ),
            (
                "INSERT INTO link_codes (code_hash, chat, origin, made_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (code_hash) DO UPDATE SET chat = EXCLUDED.chat,
                    origin = EXCLUDED.origin, made_ms = EXCLUDED.made_ms,
                    expires_ms = EXCLUDED.expires_ms",
                params![
                    self.hash(code.code, LINK_CODE),
                    chat,
                    code.origin,
                    now,
                    code.expires_at as i64
                ],
            ),
        ])
    }

    fn redeem_link_code(
        &self,
        code: &str,
        made_in_chat: bool,
        now: Millis,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // One statement: of two hubs redeeming one code at once, one deletes it.
        let rows = self.rows(
            "DELETE FROM link_codes
             WHERE code_hash = $1 AND (chat IS NOT NULL) = $2 AND expires_ms > $3
             RETURNING origin",
            params![self.hash(code, LINK_CODE), made_in_chat, now as i64],
        )?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn record_rejection(
        &self,
        path: &str,
        entry: &[u8],
        capacity: usize,
    ) -> Result<(), StoreError> {
        self.execute(
            "WITH added AS (
                INSERT INTO rejections (path, entry) VALUES ($1, $2) RETURNING seq
             )
             DELETE FROM rejections WHERE seq <= (SELECT seq FROM added) - $3",
            params![path.to_string(), entry.to_vec(), keep(capacity)],
        )?;
        Ok(())
    }

    fn rejections(
        &self,
        before: Option<u64>,
        path: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredRejection>, StoreError> {
        let rows = self.rows(
            "SELECT seq, entry FROM rejections
             WHERE ($1::bigint IS NULL OR seq < $1) AND ($2::text IS NULL OR path = $2)
             ORDER BY seq DESC LIMIT $3",
            params![
                before.map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
                path.map(str::to_string),
                keep(limit)
            ],
        )?;
        Ok(rows
            .iter()
            .map(|row| StoredRejection {
                seq: row.get::<_, i64>(0) as u64,
                entry: row.get(1),
            })
            .collect())
    }
}
