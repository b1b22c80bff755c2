//! What other hubs did, heard through PostgreSQL's LISTEN: every change of an execution (the
//! schema's trigger notifies `hookhub_changes` with its id), announced to this hub's live
//! views; new work (`hookhub_work`, notified with each commit of runnable executions), which
//! wakes this hub's queue; and every API hook written or deleted (`hookhub_hooks`, by id), for
//! this hub's hook set. One connection listens; when it drops, it is made again, the queue is
//! woken so nothing committed meanwhile waits for long, and the hook set is read again whole
//! since changes made meanwhile went unheard.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::conn::Pg;
use super::{db, read_brief};
use crate::store::{HookChanges, StoreError, changes::Changes};

/// How long to wait before listening again after the connection dropped.
const RECONNECT: Duration = Duration::from_secs(1);

/// Those told of what is heard.
pub(super) struct Hearers {
    /// This hub's live views.
    pub changes: Changes,
    /// This hub's queue.
    pub work: Arc<Notify>,
    /// This hub's hook set.
    pub hooks: Arc<HookChanges>,
}

/// Starts listening on the backend's runtime, for as long as it runs.
pub(super) fn start(pg: &Pg, hearers: Hearers) {
    let listener = pg.clone();
    pg.spawn_forever(async move {
        loop {
            if let Err(e) = listen(&listener, &hearers).await {
                tracing::warn!(error = %e, "not hearing other hubs' changes; listening again");
            }
            hearers.work.notify_one();
            tokio::time::sleep(RECONNECT).await;
        }
    });
}

async fn listen(pg: &Pg, hearers: &Hearers) -> Result<(), StoreError> {
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let client = pg.connect(Some(tx)).await?;
    client
        .batch_execute("LISTEN hookhub_changes; LISTEN hookhub_work; LISTEN hookhub_hooks")
        .await
        .map_err(db)?;
    // Whatever changed before this connection listened went unheard.
    hearers.hooks.all();
    while let Some(notice) = notices.recv().await {
        match notice.channel() {
            "hookhub_work" => hearers.work.notify_one(),
            "hookhub_hooks" => hearers.hooks.one(notice.payload()),
            _ if hearers.changes.listened() => {
                announce(pg, &hearers.changes, notice.payload()).await;
            }
            _ => {}
        }
    }
    Err(StoreError::Db("the listening connection closed".into()))
}

/// Reads the changed execution (without its payload) and tells this hub's live views.
async fn announce(pg: &Pg, changes: &Changes, id: &str) {
    let read = async {
        let client = pg.client().await?;
        let rows = client
            .query("SELECT record FROM executions WHERE id = $1", &[&id])
            .await
            .map_err(db)?;
        rows.first().map(|row| read_brief(row.get(0))).transpose()
    };
    match read.await {
        Ok(Some(e)) => changes.announce(&e),
        Ok(None) => {}
        Err(e) => tracing::debug!(error = %e, "a changed execution could not be read"),
    }
}
