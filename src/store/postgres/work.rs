//! Leases: which hub runs which execution. An execution is runnable when it is due and no hub
//! holds it; a hub leases runnable ones (owner and expiry on the row), renews the leases of
//! what it runs, and gives the lease up with the attempt's result (final, or retrying later).
//! Leasing takes one advisory lock for the length of a short transaction, so hubs lease one
//! at a time and each sees what the others hold: a hook's `concurrency` and its lock keys are
//! counted across every hub, with the same lane rules as one hub's queue ([`Lane`]).
//!
//! A lease that ran out belongs to a hub that stopped renewing (it died, or lost the
//! database): a waiting execution goes back to the runnable, a running one is leased to the
//! hub that found it and handed to its queue, which applies the crash rules (SPEC §7).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::Row;

use super::conn::Pg;
use super::{ExecutionRow, db, parse_id, read_record};
use crate::clock::Millis;
use crate::execution::ExecutionId;
use crate::execution::lane::{Entry, Lane};
use crate::store::{Concurrency, Leased, Leases, SharedWork, StoreError};

/// Held while leasing; any constant of ours, the same in every hub.
const LEASE_LOCK: i64 = 0x686f_6f6b_6875_6233;
/// Runnable executions looked at per hook and lease: a little over the queue's per-hook limit,
/// so the count of those waiting tells when a hook's queue is full.
const CANDIDATES_PER_HOOK: i64 = crate::execution::lane::MAX_QUEUED_PER_HOOK as i64 + 1;

pub(super) struct Work {
    pg: Pg,
    hub: Arc<str>,
    lease_ms: i64,
    /// Told by the listener when another hub committed work.
    pub(super) arrived: Arc<Notify>,
}

impl Work {
    pub(super) fn new(pg: Pg, hub: Arc<str>, lease: Duration) -> Self {
        Self {
            pg,
            hub,
            lease_ms: lease.as_millis() as i64,
            arrived: Arc::new(Notify::new()),
        }
    }
}

impl SharedWork for Work {
    fn lease(
        &self,
        now_ms: Millis,
        max: usize,
        concurrency: Concurrency,
    ) -> Result<Leases, StoreError> {
        let (pg, hub, lease_ms) = (self.pg.clone(), self.hub.clone(), self.lease_ms);
        let now = now_ms as i64;
        self.pg.block(async move {
            let mut client = pg.exclusive().await?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LEASE_LOCK])
                .await
                .map_err(db)?;
            // Leases that ran out: waiting ones go back to the runnable; running ones are taken.
            tx.execute(
                "UPDATE executions SET lease_owner = NULL, lease_until = NULL
                 WHERE lease_owner IS NOT NULL AND lease_until < $1 AND status <> 'running'",
                &[&now],
            )
            .await
            .map_err(db)?;
            let orphaned = tx
                .query(
                    "UPDATE executions SET lease_owner = $2, lease_until = $1 + $3
                     WHERE lease_owner IS NOT NULL AND lease_until < $1 AND status = 'running'
                     RETURNING record",
                    &[&now, &&*hub, &lease_ms],
                )
                .await
                .map_err(db)?;
            let held = tx
                .query(
                    "SELECT hook_id, lock_key FROM executions WHERE lease_owner IS NOT NULL",
                    &[],
                )
                .await
                .map_err(db)?;
            let candidates = tx
                .query(
                    "SELECT id, hook_id, lock_key FROM (
                        SELECT id, hook_id, lock_key, row_number()
                            OVER (PARTITION BY hook_id ORDER BY id) AS place
                        FROM executions WHERE due_ms <= $1 AND lease_owner IS NULL
                     ) ranked WHERE place <= $2 ORDER BY id",
                    &[&now, &CANDIDATES_PER_HOOK],
                )
                .await
                .map_err(db)?;
            let mut leases = pick(&held, &candidates, max, &*concurrency)?;
            let ids: Vec<String> = leases.runnable.iter().map(|l| l.id.to_string()).collect();
            if !ids.is_empty() {
                tx.execute(
                    "UPDATE executions SET lease_owner = $2, lease_until = $3 WHERE id = ANY($1)",
                    &[&ids, &&*hub, &(now + lease_ms)],
                )
                .await
                .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            leases.orphaned = orphaned
                .iter()
                .map(|row| read_record(row.get(0)))
                .collect::<Result<_, _>>()?;
            Ok(leases)
        })
    }

    fn lease_length(&self) -> Duration {
        Duration::from_millis(self.lease_ms as u64)
    }

    fn renew(&self, ids: &[ExecutionId], now_ms: Millis) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let (pg, hub) = (self.pg.clone(), self.hub.clone());
        let until = now_ms as i64 + self.lease_ms;
        self.pg.block(async move {
            let client = pg.client().await?;
            client
                .execute(
                    "UPDATE executions SET lease_until = $3
                     WHERE id = ANY($1) AND lease_owner = $2",
                    &[&ids, &&*hub, &until],
                )
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn queued_with_key(
        &self,
        hook_id: &str,
        lock_key: &str,
    ) -> Result<Option<ExecutionId>, StoreError> {
        let (pg, hook, key) = (self.pg.clone(), hook_id.to_string(), lock_key.to_string());
        let found: Option<String> = self.pg.block(async move {
            let client = pg.client().await?;
            let rows = client
                .query(
                    "SELECT id FROM executions
                     WHERE hook_id = $1 AND lock_key = $2 AND status = 'queued'
                       AND lease_owner IS NULL
                     ORDER BY id LIMIT 1",
                    &[&hook, &key],
                )
                .await
                .map_err(db)?;
            Ok(rows.first().map(|r| r.get(0)))
        })?;
        found.as_deref().map(parse_id).transpose()
    }

    fn work_arrived(&self) -> &Notify {
        &self.arrived
    }
}

/// Which candidates to lease: per hook, the lane rules over what every hub holds, up to `max`
/// in all, oldest first.
fn pick(
    held: &[Row],
    candidates: &[Row],
    max: usize,
    concurrency: &(dyn Fn(&str) -> usize + Send + Sync),
) -> Result<Leases, StoreError> {
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    for row in held {
        lanes
            .entry(row.get(0))
            .or_default()
            .hold(row.get::<_, Option<&str>>(1));
    }
    let mut waiting: HashMap<String, usize> = HashMap::new();
    for row in candidates {
        let hook: String = row.get(1);
        *waiting.entry(hook.clone()).or_default() += 1;
        lanes.entry(hook).or_default().push(Entry {
            id: parse_id(row.get(0))?,
            lock_key: row.get(2),
        });
    }
    let mut runnable: Vec<Leased> = Vec::new();
    for (hook, lane) in &mut lanes {
        let limit = concurrency(hook);
        while let Some(entry) = lane.start_next(limit) {
            runnable.push(Leased {
                id: entry.id,
                hook_id: hook.clone(),
                lock_key: entry.lock_key,
            });
        }
    }
    // Oldest first across hooks, and no more than this hub has workers for.
    runnable.sort_by_key(|l| l.id);
    runnable.truncate(max);
    for leased in &runnable {
        if let Some(count) = waiting.get_mut(&leased.hook_id) {
            *count -= 1;
        }
    }
    Ok(Leases {
        runnable,
        orphaned: Vec::new(),
        waiting: waiting.into_iter().collect(),
    })
}

/// Writes an execution's new state, committed when this returns, giving up the lease when
/// the attempt is over (final, or retrying later). Only the queue writes executions after
/// their insert, and only while it holds their lease: a write is refused when this hub does
/// not hold it (its lease ran out and another hub took the execution over, or finished it).
pub(super) async fn write(pg: &Pg, hub: &str, row: ExecutionRow) -> Result<(), StoreError> {
    let release = row.due_ms.is_none() || row.status == "retrying";
    let client = pg.client().await?;
    let written = client
        .execute(
            "INSERT INTO executions AS x
                (id, hook_id, status, lock_key, due_ms, received_ms, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET
                status = EXCLUDED.status, lock_key = EXCLUDED.lock_key,
                due_ms = EXCLUDED.due_ms, record = EXCLUDED.record,
                lease_owner = CASE WHEN $8 THEN NULL ELSE x.lease_owner END,
                lease_until = CASE WHEN $8 THEN NULL ELSE x.lease_until END
             WHERE x.lease_owner = $9",
            &[
                &row.id,
                &row.hook_id,
                &row.status,
                &row.lock_key,
                &row.due_ms,
                &row.received_ms,
                &row.record,
                &release,
                &hub,
            ],
        )
        .await
        .map_err(db)?;
    if written == 0 {
        return Err(StoreError::LeaseLost(row.id));
    }
    Ok(())
}

/// [`write`], retried while the database cannot be reached, for results of actions that
/// already ran. A lease lost is not retried.
pub(super) async fn write_durably(pg: &Pg, hub: &str, row: ExecutionRow) -> Result<(), StoreError> {
    const TRIES: u32 = 60;
    let mut tried = 0;
    loop {
        match write(pg, hub, row.clone()).await {
            Err(StoreError::Db(why) | StoreError::Unreachable(why)) if tried < TRIES => {
                tried += 1;
                tracing::warn!(error = %why, "a result not written yet; trying again in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            done => return done,
        }
    }
}
