//! Group commit of new executions. Inserts wait in memory until a caller syncs; the first
//! caller to sync commits everything waiting in one transaction (one multi-row insert), and
//! callers that sync while it runs wait for the next one, which takes what arrived meanwhile.
//! So a burst of deliveries costs a commit or two, not one each, as the sled journal's shared
//! `fdatasync` does.
//!
//! Until committed, waiting executions are this hub's alone: [`Commits::waiting`] reads them
//! and [`Commits::replace`] rewrites them in place. Executions forgotten while their commit
//! runs are deleted once it is done, so a refused delivery never stays. A commit that fails
//! fails every sync that was waiting for it, and its executions wait for the next commit: a
//! caller told of the failure takes its own back ([`Commits::forget`]), and one that syncs
//! later, not knowing its executions were in the failed commit, has them committed then (the
//! insert skips an execution already there, should the failed commit have landed after all).
//!
//! Executions copied in from a sled data dir (`hookhub migrate`) skip the group commit:
//! [`import`] writes each batch in a transaction of its own.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_postgres::types::ToSql;

use super::conn::Pg;
use super::{ExecutionRow, db};
use crate::store::StoreError;

/// How many failed commits are remembered for the callers that waited on them.
const FAILURES_KEPT: usize = 64;

#[derive(Clone)]
pub(super) struct Commits {
    inner: Arc<Inner>,
}

struct Inner {
    pg: Pg,
    state: Mutex<State>,
    done: Notify,
}

#[derive(Default)]
struct State {
    /// Waiting for the next commit, which will be number `next`.
    rows: Vec<ExecutionRow>,
    next: u64,
    /// The last commit done (its number), and whether one is running.
    done: u64,
    running: bool,
    /// Commits that failed, with why.
    failed: VecDeque<(u64, String)>,
    /// Ids forgotten while a commit ran: deleted after it.
    forgotten: Vec<String>,
}

impl Commits {
    pub(super) fn new(pg: Pg) -> Self {
        Self {
            inner: Arc::new(Inner {
                pg,
                state: Mutex::new(State {
                    next: 1,
                    ..State::default()
                }),
                done: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds executions to the next commit.
    pub(super) fn add(&self, rows: Vec<ExecutionRow>) {
        self.lock().rows.extend(rows);
    }

    /// The stored record of an execution still waiting for its commit.
    pub(super) fn waiting(&self, id: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        state
            .rows
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.record.clone())
    }

    /// Rewrites a waiting execution in place; gives the row back when none is waiting.
    pub(super) fn replace(&self, row: ExecutionRow) -> Option<ExecutionRow> {
        let mut state = self.lock();
        match state.rows.iter_mut().find(|r| r.id == row.id) {
            Some(waiting) => {
                *waiting = row;
                None
            }
            None => Some(row),
        }
    }

    /// Takes executions back: dropped when still waiting, deleted after a running commit.
    pub(super) fn forget(&self, ids: &[String]) {
        let mut state = self.lock();
        state.rows.retain(|r| !ids.contains(&r.id));
        if state.running {
            state.forgotten.extend(ids.iter().cloned());
        }
    }

    /// Waits until every execution added before this call is committed. They are in the
    /// commit running now, if any, or in the next: should either fail, so does this.
    pub(super) async fn sync(&self) -> Result<(), StoreError> {
        let (from, mine) = {
            let state = self.lock();
            if state.rows.is_empty() && !state.running {
                return Ok(());
            }
            (state.done + 1, state.next)
        };
        loop {
            let done = self.inner.done.notified();
            let batch = {
                let mut state = self.lock();
                if state.done >= mine {
                    let mut failed = state.failed.iter();
                    return match failed.find(|(n, _)| (from..=mine).contains(n)) {
                        Some((_, why)) => Err(StoreError::Db(why.clone())),
                        None => Ok(()),
                    };
                }
                if state.running {
                    None
                } else {
                    state.running = true;
                    let number = state.next;
                    state.next += 1;
                    Some((number, std::mem::take(&mut state.rows)))
                }
            };
            if let Some((number, rows)) = batch {
                // A task of its own: the caller's wait may be dropped (its client hung up), and
                // a commit given up halfway would leave every later sync waiting for it.
                let commits = self.clone();
                self.inner
                    .pg
                    .spawn_forever(async move { commits.commit(number, rows).await });
            }
            done.await;
        }
    }

    /// Commits one batch and tells every waiter; runs on the backend's runtime, to the end.
    async fn commit(&self, number: u64, rows: Vec<ExecutionRow>) {
        let rows = Arc::new(rows);
        let result = if rows.is_empty() {
            Ok(())
        } else {
            insert(self.inner.pg.clone(), rows.clone()).await
        };
        let forgotten = {
            let mut state = self.lock();
            state.running = false;
            state.done = number;
            if let Err(e) = result {
                tracing::warn!(error = %e, "executions not committed");
                state.failed.push_back((number, e.to_string()));
                if state.failed.len() > FAILURES_KEPT {
                    state.failed.pop_front();
                }
                let mut again = Arc::try_unwrap(rows).unwrap_or_else(|rows| (*rows).clone());
                let forgotten = std::mem::take(&mut state.forgotten);
                again.retain(|r| !forgotten.contains(&r.id));
                again.append(&mut state.rows);
                state.rows = again;
            }
            std::mem::take(&mut state.forgotten)
        };
        self.inner.done.notify_waiters();
        if !forgotten.is_empty() {
            let deleted = async {
                let client = self.inner.pg.client().await?;
                client
                    .execute("DELETE FROM executions WHERE id = ANY($1)", &[&forgotten])
                    .await
                    .map_err(db)
            }
            .await;
            if let Err(e) = deleted {
                tracing::warn!(error = %e, "could not take back the executions of a refused delivery");
            }
        }
    }
}

/// One transaction: every row in one insert, and a word to the other hubs that work arrived.
async fn insert(pg: Pg, rows: Arc<Vec<ExecutionRow>>) -> Result<(), StoreError> {
    let runnable = rows.iter().any(|r| r.due_ms.is_some());
    let columns = Columns::of(&rows);
    let mut client = pg.exclusive().await?;
    let tx = client.transaction().await.map_err(db)?;
    tx.execute(
        "INSERT INTO executions (id, hook_id, status, lock_key, due_ms, received_ms, record)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                              $6::int8[], $7::bytea[])
         ON CONFLICT (id) DO NOTHING",
        &columns.params(),
    )
    .await
    .map_err(db)?;
    if runnable {
        tx.execute("SELECT pg_notify('hookhub_work', '')", &[])
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

/// Executions copied from another store (`hookhub migrate`), in one transaction, those the
/// database holds already (by id) left as they are; returns how many were new. One left
/// `running` gets a lease that ran out long ago, held by no hub: the first hub to lease takes
/// it over as an orphan and applies the crash rules (SPEC §7), as a hub restarting on its own
/// data dir would.
pub(super) async fn import(pg: Pg, rows: Vec<ExecutionRow>) -> Result<u64, StoreError> {
    const NO_HUB: &str = "hookhub migrate";
    let columns = Columns::of(&rows);
    let mut client = pg.exclusive().await?;
    let tx = client.transaction().await.map_err(db)?;
    let inserted = tx
        .execute(
            "INSERT INTO executions
                (id, hook_id, status, lock_key, due_ms, received_ms, record,
                 lease_owner, lease_until)
             SELECT r.*,
                    CASE WHEN r.status = 'running' THEN $8::text END,
                    CASE WHEN r.status = 'running' THEN 0::int8 END
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                         $6::int8[], $7::bytea[])
                  AS r(id, hook_id, status, lock_key, due_ms, received_ms, record)
             ON CONFLICT (id) DO NOTHING",
            &[&columns.params()[..], &[&NO_HUB]].concat(),
        )
        .await
        .map_err(db)?;
    tx.execute("SELECT pg_notify('hookhub_work', '')", &[])
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(inserted)
}

/// Rows as the columns `unnest` takes.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<&'a str>,
    hook_id: Vec<&'a str>,
    status: Vec<&'static str>,
    lock_key: Vec<Option<&'a str>>,
    due_ms: Vec<Option<i64>>,
    received_ms: Vec<i64>,
    record: Vec<&'a [u8]>,
}

impl<'a> Columns<'a> {
    fn of(rows: &'a [ExecutionRow]) -> Self {
        let mut columns = Columns::default();
        for r in rows {
            columns.id.push(r.id.as_str());
            columns.hook_id.push(r.hook_id.as_str());
            columns.status.push(r.status);
            columns.lock_key.push(r.lock_key.as_deref());
            columns.due_ms.push(r.due_ms);
            columns.received_ms.push(r.received_ms);
            columns.record.push(r.record.as_slice());
        }
        columns
    }

    /// The arrays, as `$1` to `$7` of an `unnest` of the columns in this order.
    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.id,
            &self.hook_id,
            &self.status,
            &self.lock_key,
            &self.due_ms,
            &self.received_ms,
            &self.record,
        ]
    }
}
