//! The database's schema, as numbered migrations run at start. Each runs once, in its own
//! transaction, recorded in `hookhub_schema`; hubs starting at once take turns under one
//! advisory lock, so the second finds the work done. A database migrated by a newer hub (a
//! version this one does not know) is refused rather than guessed at.

use tokio_postgres::Client;

use crate::store::StoreError;

/// Held while migrating; any constant of ours, the same in every hub.
const MIGRATION_LOCK: i64 = 0x686f_6f6b_6875_6231; // "hookhub1"

/// The migrations, in order; version n is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: everything the hub keeps.
    r#"
    CREATE TABLE executions (
        id text PRIMARY KEY,
        hook_id text NOT NULL,
        status text NOT NULL,
        lock_key text,
        -- When it may run next; NULL once final.
        due_ms bigint,
        -- The hub running it and until when, while one is.
        lease_owner text,
        lease_until bigint,
        received_ms bigint NOT NULL,
        -- The execution as the sled backend keeps it (JSON, then the payload's bytes).
        record bytea NOT NULL
    );
    CREATE INDEX executions_by_hook ON executions (hook_id, id DESC);
    CREATE INDEX executions_due ON executions (due_ms, id) WHERE due_ms IS NOT NULL;
    CREATE INDEX executions_leased ON executions (lease_until) WHERE lease_owner IS NOT NULL;
    CREATE TABLE deliveries (
        hook_id text NOT NULL,
        delivery_id text NOT NULL,
        execution text NOT NULL,
        claimed_ms bigint NOT NULL,
        PRIMARY KEY (hook_id, delivery_id)
    );
    CREATE INDEX deliveries_by_time ON deliveries (claimed_ms);
    CREATE TABLE api_hooks (id text PRIMARY KEY, hook bytea NOT NULL);
    CREATE TABLE bindings (id text PRIMARY KEY, created_ms bigint NOT NULL, binding bytea NOT NULL);
    CREATE TABLE schedules (hook_id text PRIMARY KEY, last_fired_ms bigint NOT NULL);
    CREATE TABLE alert_states (hook_id text PRIMARY KEY, state bytea NOT NULL);
    CREATE TABLE meta (key text PRIMARY KEY, value bytea NOT NULL);
    -- Every hub's live log hears of every change; hubs hear of new work.
    CREATE FUNCTION hookhub_execution_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('hookhub_changes', NEW.id);
        RETURN NULL;
    END $$;
    CREATE TRIGGER executions_changed AFTER INSERT OR UPDATE OF record ON executions
        FOR EACH ROW EXECUTE FUNCTION hookhub_execution_changed();
    "#,
    // 2: what a single hub keeps in memory (`tables.rs`): sessions, link codes, refusals.
    r#"
    CREATE TABLE sessions (
        -- A keyed hash of the cookie value, never the value.
        id_hash bytea PRIMARY KEY,
        csrf_token text NOT NULL,
        created_ms bigint NOT NULL,
        last_seen_ms bigint NOT NULL,
        expires_ms bigint NOT NULL
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_ms);
    CREATE TABLE link_codes (
        -- A keyed hash of the code, never the code.
        code_hash bytea PRIMARY KEY,
        -- The chat that asked for it; NULL when made by the admin API.
        chat text,
        origin bytea NOT NULL,
        made_ms bigint NOT NULL,
        expires_ms bigint NOT NULL
    );
    CREATE TABLE rejections (
        seq bigserial PRIMARY KEY,
        path text NOT NULL,
        entry bytea NOT NULL
    );
    CREATE INDEX rejections_by_path ON rejections (path, seq DESC);
    "#,
    // 3: every hub hears of every API hook written or deleted, by id (`hook_changes.rs`).
    r#"
    CREATE FUNCTION hookhub_api_hook_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('hookhub_hooks', OLD.id);
        ELSE
            PERFORM pg_notify('hookhub_hooks', NEW.id);
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER api_hooks_changed AFTER INSERT OR UPDATE OR DELETE ON api_hooks
        FOR EACH ROW EXECUTE FUNCTION hookhub_api_hook_changed();
    "#,
];

/// Brings the database to the newest schema this hub knows.
pub(super) async fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let db = |e: tokio_postgres::Error| StoreError::Db(e.to_string());
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    let migrated = apply(client, url).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db);
    migrated.and(unlocked.map(drop))
}

async fn apply(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let db = |e: tokio_postgres::Error| StoreError::Db(e.to_string());
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hookhub_schema (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(db)?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM hookhub_schema", &[])
        .await
        .map_err(db)?;
    let current: i32 = row.get(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(StoreError::Newer {
            path: super::conn::redacted(url),
            found: current as u64,
            known: known as u64,
        });
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(current as usize) {
        let tx = client.transaction().await.map_err(db)?;
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute(
            "INSERT INTO hookhub_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}
