//! The PostgreSQL backend of [`Storage`] (SPEC §12): everything the hub keeps, in a database
//! several hubs share. Executions are kept in the sled backend's record form (JSON, then the
//! payload), beside the columns queries need: hook, status, lock key, when due, and the lease
//! of the hub running it ([`work`]).
//!
//! New executions are committed in groups ([`commit`]): concurrent deliveries' inserts wait in
//! memory and one transaction commits them all, so a 202 means committed in PostgreSQL at the
//! cost of one commit per burst. Every other write is one statement, committed when it
//! returns. Secrets of API hooks are sealed with the hub's `secret.key`, as with sled; hubs on
//! one database must share that key, and a hub with another key refuses to start.
//!
//! Browser sessions, link codes and refused deliveries, which a lone hub keeps in memory, are
//! tables here too ([`tables`]), so any hub answers any request, the UI's included. Each hub
//! hears of the others' changes through `LISTEN` ([`listen`]): executions for the live log, new
//! work for the queue, and API hooks for the hook set.
//!
//! The operations block their caller while the query runs on the backend's own thread
//! ([`conn`]); the hub's runtime keeps running its other tasks meanwhile.

mod commit;
mod conn;
mod listen;
mod schema;
mod work;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Row;

use super::executions::{Json, decode, encode, split};
use super::hooks::{decode_hook, encode_hook};
use super::seal::Sealer;
use super::{
    Activity, Claim, Durably, ExecutionChange, ExecutionPage, Health, HookChanges, PendingJob,
    SharedWork, Storage, StoreError, changes, executions::Stored,
};
use crate::clock::Millis;
use crate::execution::{Execution, ExecutionId, Status};
use crate::model::Hook;
use crate::model::HookAlerts;
use crate::model::{Binding, BindingId};
use conn::Pg;

/// How long a claim may stand without its execution (as the sled backend's).
const CLAIM_GRACE_MS: i64 = 120_000;
/// Held by the hub pruning, so hubs prune one at a time.
const PRUNE_LOCK: i64 = 0x686f_6f6b_6875_6232;
const ADMIN_TOKEN_HASH: &str = "admin_token_sha256";
/// A value sealed with the first hub's key, which every later hub must be able to open.
const SEAL_CHECK: &str = "seal_check";

/// A query's failure: the server's own error, or the connection's (the server is gone).
fn db(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(d) => StoreError::Db(format!("{}: {}", d.severity(), d.message())),
        None => StoreError::Unreachable(e.to_string()),
    }
}

/// The PostgreSQL store.
pub(crate) struct PgStore {
    pg: Pg,
    /// This hub among those sharing the database: the owner of its leases.
    hub: Arc<str>,
    seal: Arc<Sealer>,
    health: Health,
    changes: changes::Changes,
    /// API hooks written or deleted, by any hub.
    hook_changes: Arc<HookChanges>,
    commits: commit::Commits,
    work: work::Work,
}

impl PgStore {
    /// Connects to `url`, brings its schema up to date and starts listening for other hubs'
    /// changes. `dir` holds this hub's `secret.key`.
    pub(crate) fn open(url: &str, dir: &Path, lease: Duration) -> Result<Self, StoreError> {
        super::private::make_dir(dir).map_err(|reason| StoreError::Open {
            path: dir.display().to_string(),
            reason: reason.to_string(),
        })?;
        let seal = Arc::new(Sealer::open_or_create(dir)?);
        let pg = Pg::new(url)?;
        let owned = url.to_string();
        let migrating = pg.clone();
        pg.block(async move {
            let mut client = migrating.exclusive().await?;
            schema::migrate(&mut client, &owned).await
        })?;
        check_key(&pg, &seal, dir)?;
        let hub: Arc<str> = format!("hub_{}", ulid::Ulid::new()).into();
        let changes = changes::Changes::default();
        let work = work::Work::new(pg.clone(), hub.clone(), lease);
        let hook_changes = Arc::new(HookChanges::default());
        listen::start(
            &pg,
            listen::Hearers {
                changes: changes.clone(),
                work: work.arrived.clone(),
                hooks: hook_changes.clone(),
            },
        );
        Ok(Self {
            commits: commit::Commits::new(pg.clone()),
            pg,
            hub,
            seal,
            health: Health::default(),
            changes,
            hook_changes,
            work,
        })
    }

    /// Runs one piece of database work and waits for it.
    fn run<T, F, Fut>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Pg) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.pg.block(work(self.pg.clone()))
    }

    fn rows(&self, sql: &'static str, params: Params) -> Result<Vec<Row>, StoreError> {
        self.run(move |pg| async move {
            let client = pg.client().await?;
            let refs = params.refs();
            client.query(sql, &refs).await.map_err(db)
        })
    }

    fn execute(&self, sql: &'static str, params: Params) -> Result<u64, StoreError> {
        self.run(move |pg| async move {
            let client = pg.client().await?;
            let refs = params.refs();
            client.execute(sql, &refs).await.map_err(db)
        })
    }
}

/// Owned query parameters, sent to the backend's thread with their query.
pub(super) struct Params(Vec<Box<dyn tokio_postgres::types::ToSql + Send + Sync>>);

impl Params {
    fn refs(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        self.0
            .iter()
            .map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect()
    }
}

macro_rules! params {
    ($($p:expr),* $(,)?) => {
        Params(vec![$(Box::new($p)),*])
    };
}

// After `params!`, which it uses.
mod tables;

/// Seals a known value on the first start and checks every later hub can open it, so a hub
/// with another `secret.key` stops at start rather than failing on each API hook.
fn check_key(pg: &Pg, seal: &Arc<Sealer>, dir: &Path) -> Result<(), StoreError> {
    let sealed = seal.seal("hookhub", SEAL_CHECK).into_bytes();
    let pool = pg.clone();
    let stored: Vec<u8> = pg.block(async move {
        let client = pool.client().await?;
        client
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&SEAL_CHECK, &sealed],
            )
            .await
            .map_err(db)?;
        let row = client
            .query_one("SELECT value FROM meta WHERE key = $1", &[&SEAL_CHECK])
            .await
            .map_err(db)?;
        Ok(row.get(0))
    })?;
    let opened = std::str::from_utf8(&stored)
        .ok()
        .and_then(|s| seal.unseal(s, SEAL_CHECK));
    if opened.as_deref() == Some("hookhub") {
        return Ok(());
    }
    Err(StoreError::Open {
        path: dir.join(super::seal::KEY_FILE).display().to_string(),
        reason: "this key is not the one the database's secrets were sealed with: every hub on \
                 one database needs the same secret.key (copy it from the first hub's data dir)"
            .into(),
    })
}

/// The columns an execution is kept under.
#[derive(Clone)]
pub(super) struct ExecutionRow {
    pub(super) id: String,
    pub(super) hook_id: String,
    pub(super) status: &'static str,
    pub(super) lock_key: Option<String>,
    pub(super) due_ms: Option<i64>,
    pub(super) received_ms: i64,
    pub(super) record: Vec<u8>,
}

impl ExecutionRow {
    pub(super) fn of(e: &mut Execution) -> Result<Self, StoreError> {
        Ok(Self {
            id: e.id.to_string(),
            hook_id: e.hook_id.clone(),
            status: e.status.as_str(),
            lock_key: e.lock_key.clone(),
            due_ms: due_ms(e),
            received_ms: e.id.timestamp_ms() as i64,
            record: encode(e)?,
        })
    }
}

/// When an execution may run next: none once final.
fn due_ms(e: &Execution) -> Option<i64> {
    (!e.status.is_final()).then(|| e.next_attempt_at.unwrap_or(e.received_at) as i64)
}

/// An execution from its stored record, payload included.
pub(super) fn read_record(bytes: &[u8]) -> Result<Execution, StoreError> {
    match split(bytes)? {
        (Json::Here(json), Stored::Inline(payload)) => decode(json, Some(payload.to_vec())),
        // Segments are the sled store's; nothing filed there is written here.
        _ => Err(StoreError::UnknownForm),
    }
}

/// An execution from its stored record, without its payload.
pub(super) fn read_brief(bytes: &[u8]) -> Result<Execution, StoreError> {
    match split(bytes)?.0 {
        Json::Here(json) => decode(json, None),
        Json::Filed(_) => Err(StoreError::UnknownForm),
    }
}

fn parse_id(text: &str) -> Result<ExecutionId, StoreError> {
    text.parse()
        .map_err(|e: String| StoreError::Db(format!("stored execution id: {e}")))
}

impl Storage for PgStore {
    fn health(&self) -> &Health {
        &self.health
    }

    fn sync(&self) -> Durably<'_> {
        Box::pin(self.commits.sync())
    }

    fn flush_now(&self) -> Result<(), StoreError> {
        let commits = self.commits.clone();
        self.pg.block(async move { commits.sync().await })
    }

    fn close(&self) -> Result<(), StoreError> {
        self.flush_now()
    }

    fn recover(&self) -> Result<bool, StoreError> {
        // Health never turns bad here: a query that fails is retried by its caller.
        Ok(false)
    }

    fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<Arc<ExecutionChange>> {
        self.changes.subscribe()
    }

    fn claim_delivery(
        &self,
        hook_id: &str,
        delivery_id: &str,
        execution: ExecutionId,
        now_ms: Millis,
        window_ms: Millis,
    ) -> Result<Claim, StoreError> {
        let (now, window) = (now_ms as i64, window_ms as i64);
        // Taken over when expired, or when its execution never arrived (a delivery refused, or
        // a hub that died before its commit) and the grace for one still being written passed.
        let won = self.rows(
            "INSERT INTO deliveries AS d (hook_id, delivery_id, execution, claimed_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (hook_id, delivery_id) DO UPDATE
                SET execution = EXCLUDED.execution, claimed_ms = EXCLUDED.claimed_ms
                WHERE d.claimed_ms <= $4 - $5
                   OR (d.claimed_ms < $4 - $6
                       AND NOT EXISTS (SELECT 1 FROM executions x WHERE x.id = d.execution))
             RETURNING 1",
            params![
                hook_id.to_string(),
                delivery_id.to_string(),
                execution.to_string(),
                now,
                window,
                CLAIM_GRACE_MS
            ],
        )?;
        if !won.is_empty() {
            return Ok(Claim::New);
        }
        let first = self.rows(
            "SELECT execution FROM deliveries WHERE hook_id = $1 AND delivery_id = $2",
            params![hook_id.to_string(), delivery_id.to_string()],
        )?;
        match first.first() {
            Some(row) => Ok(Claim::Duplicate(parse_id(row.get(0))?)),
            // Released meanwhile: try once more.
            None => self.claim_delivery(hook_id, delivery_id, execution, now_ms, window_ms),
        }
    }

    fn release_delivery(&self, hook_id: &str, delivery_id: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM deliveries WHERE hook_id = $1 AND delivery_id = $2",
            params![hook_id.to_string(), delivery_id.to_string()],
        )?;
        Ok(())
    }

    fn prune_deliveries(&self, cutoff_ms: Millis) -> Result<usize, StoreError> {
        let removed = self.execute(
            "DELETE FROM deliveries WHERE claimed_ms < $1",
            params![cutoff_ms as i64],
        )?;
        Ok(removed as usize)
    }

    fn insert_executions(&self, executions: &mut [Execution]) -> Result<(), StoreError> {
        let rows = executions
            .iter_mut()
            .map(ExecutionRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        self.commits.add(rows);
        Ok(())
    }

    fn forget_executions(&self, executions: &[Execution]) -> Result<(), StoreError> {
        let ids: Vec<String> = executions.iter().map(|e| e.id.to_string()).collect();
        self.commits.forget(&ids);
        self.execute("DELETE FROM executions WHERE id = ANY($1)", params![ids])?;
        Ok(())
    }

    fn update_execution(&self, e: &mut Execution) -> Result<(), StoreError> {
        let row = ExecutionRow::of(e)?;
        let row = match self.commits.replace(row) {
            None => return Ok(()),
            Some(row) => row,
        };
        let hub = self.hub.clone();
        self.run(move |pg| async move { work::write(&pg, &hub, row).await })
    }

    fn save_durably<'a>(&'a self, e: &'a mut Execution) -> Durably<'a> {
        let row = ExecutionRow::of(e);
        let (pg, hub) = (self.pg.clone(), self.hub.clone());
        Box::pin(async move {
            let row = row?;
            let row = match self.commits.replace(row) {
                None => return self.commits.sync().await,
                Some(row) => row,
            };
            pg.clone()
                .spawn(async move { work::write_durably(&pg, &hub, row).await })
                .await
        })
    }

    fn drop_job(&self, id: ExecutionId) -> Result<(), StoreError> {
        self.execute(
            "UPDATE executions SET due_ms = NULL WHERE id = $1",
            params![id.to_string()],
        )?;
        Ok(())
    }

    fn execution(&self, id: ExecutionId) -> Result<Option<Execution>, StoreError> {
        if let Some(record) = self.commits.waiting(&id.to_string()) {
            return read_record(&record).map(Some);
        }
        let rows = self.rows(
            "SELECT record FROM executions WHERE id = $1",
            params![id.to_string()],
        )?;
        rows.first().map(|row| read_record(row.get(0))).transpose()
    }

    fn executions_of(
        &self,
        hook_id: &str,
        status: Option<Status>,
        limit: usize,
        cursor: Option<ExecutionId>,
    ) -> Result<ExecutionPage, StoreError> {
        let rows = self.rows(
            "SELECT record FROM executions
             WHERE hook_id = $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
            params![
                hook_id.to_string(),
                status.map(|s| s.as_str().to_string()),
                cursor.map(|c| c.to_string()),
                limit as i64 + 1
            ],
        )?;
        let mut executions = rows
            .iter()
            .map(|row| read_record(row.get(0)))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if executions.len() > limit {
            executions.truncate(limit);
            executions.last().map(|e| e.id)
        } else {
            None
        };
        Ok(ExecutionPage {
            executions,
            next_cursor,
        })
    }

    fn recent_failures(&self, limit: usize, scan: usize) -> Result<Vec<Execution>, StoreError> {
        let rows = self.rows(
            "SELECT record FROM (
                SELECT record, status, id FROM executions ORDER BY id DESC LIMIT $1
             ) newest WHERE status = 'failed' ORDER BY id DESC LIMIT $2",
            params![scan as i64, limit as i64],
        )?;
        rows.iter().map(|row| read_brief(row.get(0))).collect()
    }

    fn pending_jobs(&self) -> Result<Vec<PendingJob>, StoreError> {
        let rows = self.rows(
            "SELECT id, hook_id, due_ms FROM executions WHERE due_ms IS NOT NULL ORDER BY id",
            params![],
        )?;
        rows.iter()
            .map(|row| {
                Ok(PendingJob {
                    id: parse_id(row.get(0))?,
                    hook_id: row.get(1),
                    due_ms: row.get::<_, i64>(2) as Millis,
                })
            })
            .collect()
    }

    fn executions_after(
        &self,
        after: Option<ExecutionId>,
        limit: usize,
    ) -> Result<Vec<Execution>, StoreError> {
        let rows = self.rows(
            "SELECT record FROM executions WHERE ($1::text IS NULL OR id > $1)
             ORDER BY id LIMIT $2",
            params![after.map(|a| a.to_string()), limit as i64],
        )?;
        rows.iter().map(|row| read_record(row.get(0))).collect()
    }

    /// One transaction per call, not the group commit (see [`commit::import`]).
    fn import_executions(&self, executions: &mut [Execution]) -> Result<usize, StoreError> {
        let rows = executions
            .iter_mut()
            .map(ExecutionRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let new = self.run(move |pg| commit::import(pg, rows))?;
        Ok(new as usize)
    }

    fn activity(&self, hook_id: &str, now_ms: Millis) -> Result<Activity, StoreError> {
        let mut activity = Activity::empty(now_ms);
        let rows = self.rows(
            "SELECT (received_ms - $2) / 3600000, status, count(*) FROM executions
             WHERE hook_id = $1 AND received_ms >= $2
               AND status IN ('succeeded', 'failed', 'skipped')
             GROUP BY 1, 2",
            params![hook_id.to_string(), activity.start_ms as i64],
        )?;
        for row in rows {
            let hour: i64 = row.get(0);
            let status: &str = row.get(1);
            let count: i64 = row.get(2);
            let counts = match status {
                "succeeded" => &mut activity.succeeded,
                "failed" => &mut activity.failed,
                _ => &mut activity.skipped,
            };
            if let Some(slot) = usize::try_from(hour).ok().and_then(|h| counts.get_mut(h)) {
                *slot = count as u32;
            }
        }
        Ok(activity)
    }

    fn prune(&self, cutoff_ms: Millis, max_per_hook: usize) -> Result<usize, StoreError> {
        self.run(move |pg| async move {
            let mut client = pg.exclusive().await?;
            let tx = client.transaction().await.map_err(db)?;
            let locked: bool = tx
                .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
                .await
                .map_err(db)?
                .get(0);
            if !locked {
                // Another hub is pruning now.
                return Ok(0);
            }
            let removed = tx
                .execute(
                    "DELETE FROM executions WHERE id IN (
                        SELECT id FROM (
                            SELECT id, due_ms, lease_owner, received_ms, row_number()
                                OVER (PARTITION BY hook_id ORDER BY id DESC) AS newest
                            FROM executions
                        ) ranked
                        WHERE due_ms IS NULL AND lease_owner IS NULL
                          AND (received_ms < $1 OR newest > $2)
                     )",
                    &[&(cutoff_ms as i64), &(max_per_hook as i64)],
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok(removed as usize)
        })
    }

    fn prune_hook(
        &self,
        hook_id: &str,
        cutoff_ms: Millis,
        max: usize,
    ) -> Result<usize, StoreError> {
        // One hook's rows, newest first through its index; what runs or waits stays.
        let removed = self.execute(
            "DELETE FROM executions WHERE id IN (
                SELECT id FROM (
                    SELECT id, due_ms, lease_owner, received_ms,
                           row_number() OVER (ORDER BY id DESC) AS newest
                    FROM executions WHERE hook_id = $1
                ) ranked
                WHERE due_ms IS NULL AND lease_owner IS NULL
                  AND (received_ms < $2 OR newest > $3)
             )",
            params![hook_id.to_string(), cutoff_ms as i64, max as i64],
        )?;
        Ok(removed as usize)
    }

    fn api_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        let rows = self.rows("SELECT hook FROM api_hooks ORDER BY id", params![])?;
        rows.iter()
            .map(|row| decode_hook(&self.seal, row.get(0)))
            .collect()
    }

    fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        let rows = self.rows(
            "SELECT hook FROM api_hooks WHERE id = $1",
            params![id.to_string()],
        )?;
        rows.first()
            .map(|row| decode_hook(&self.seal, row.get(0)))
            .transpose()
    }

    fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError> {
        let stored = encode_hook(&self.seal, hook)?;
        self.execute(
            "INSERT INTO api_hooks (id, hook) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET hook = EXCLUDED.hook",
            params![hook.id.clone(), stored],
        )?;
        Ok(())
    }

    fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError> {
        let removed = self.execute(
            "DELETE FROM api_hooks WHERE id = $1",
            params![id.to_string()],
        )?;
        Ok(removed > 0)
    }

    fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        let rows = self.rows(
            "SELECT binding FROM bindings ORDER BY created_ms, id",
            params![],
        )?;
        rows.iter()
            .map(|row| Ok(serde_json::from_slice(row.get(0))?))
            .collect()
    }

    fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO bindings (id, created_ms, binding) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET binding = EXCLUDED.binding",
            params![
                binding.id.0.clone(),
                binding.created_at as i64,
                serde_json::to_vec(binding)?
            ],
        )?;
        Ok(())
    }

    fn remove_binding(&self, id: &BindingId) -> Result<bool, StoreError> {
        let removed = self.execute("DELETE FROM bindings WHERE id = $1", params![id.0.clone()])?;
        Ok(removed > 0)
    }

    fn last_fired(&self, hook_id: &str) -> Result<Option<u64>, StoreError> {
        let rows = self.rows(
            "SELECT last_fired_ms FROM schedules WHERE hook_id = $1",
            params![hook_id.to_string()],
        )?;
        Ok(rows.first().map(|row| row.get::<_, i64>(0) as u64))
    }

    fn set_last_fired(&self, hook_id: &str, ms: u64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO schedules (hook_id, last_fired_ms) VALUES ($1, $2)
             ON CONFLICT (hook_id) DO UPDATE SET last_fired_ms = EXCLUDED.last_fired_ms",
            params![hook_id.to_string(), ms as i64],
        )?;
        Ok(())
    }

    fn claim_tick(&self, hook_id: &str, ms: u64) -> Result<bool, StoreError> {
        // One statement, so of two hubs firing the same tick exactly one changes the row.
        let claimed = self.execute(
            "INSERT INTO schedules AS s (hook_id, last_fired_ms) VALUES ($1, $2)
             ON CONFLICT (hook_id) DO UPDATE SET last_fired_ms = EXCLUDED.last_fired_ms
             WHERE s.last_fired_ms < EXCLUDED.last_fired_ms",
            params![hook_id.to_string(), ms as i64],
        )?;
        Ok(claimed == 1)
    }

    fn schedule_states(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = self.rows(
            "SELECT hook_id, last_fired_ms FROM schedules ORDER BY hook_id",
            params![],
        )?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get::<_, i64>(1) as u64))
            .collect())
    }

    fn alert_states(&self) -> Result<Vec<(String, HookAlerts)>, StoreError> {
        let rows = self.rows(
            "SELECT hook_id, state FROM alert_states ORDER BY hook_id",
            params![],
        )?;
        rows.iter()
            .map(|row| Ok((row.get(0), serde_json::from_slice(row.get(1))?)))
            .collect()
    }

    fn set_alert_state(&self, hook_id: &str, state: &HookAlerts) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO alert_states (hook_id, state) VALUES ($1, $2)
             ON CONFLICT (hook_id) DO UPDATE SET state = EXCLUDED.state",
            params![hook_id.to_string(), serde_json::to_vec(state)?],
        )?;
        Ok(())
    }

    fn admin_token_hash(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self.rows(
            "SELECT value FROM meta WHERE key = $1",
            params![ADMIN_TOKEN_HASH],
        )?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    fn set_admin_token_hash(&self, hash: &[u8]) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            params![ADMIN_TOKEN_HASH, hash.to_vec()],
        )?;
        Ok(())
    }

    fn first_admin_token_hash(&self, hash: &[u8]) -> Result<bool, StoreError> {
        let stored = self.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            params![ADMIN_TOKEN_HASH, hash.to_vec()],
        )?;
        Ok(stored == 1)
    }

    fn shared_work(&self) -> Option<&dyn SharedWork> {
        Some(&self.work)
    }

    fn shared_tables(&self) -> Option<&dyn super::SharedTables> {
        Some(self)
    }

    fn hook_changes(&self) -> Option<Arc<HookChanges>> {
        Some(self.hook_changes.clone())
    }
}
