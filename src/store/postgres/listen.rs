//! What other hubs did, heard through PostgreSQL's LISTEN: every change of an execution (the
//! schema's trigger notifies `hookhub_changes` with its id), announced to this hub's live
//! views, and new work (`hookhub_work`, notified with each commit of runnable executions),
//! which wakes this hub's queue. One connection listens; when it drops, it is made again, and
//! the queue is woken so nothing committed meanwhile waits for long.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::conn::Pg;
use super::{db, read_brief};
use crate::store::{StoreError, changes::Changes};

/// How long to wait before listening again after the connection dropped.
const RECONNECT: Duration = Duration::from_secs(1);

/// Starts listening on the backend's runtime, for as long as it runs.
pub(super) fn start(pg: &Pg, changes: Changes, work: Arc<Notify>) {
    let listener = pg.clone();
    pg.spawn_forever(async move {
        loop {
            if let Err(e) = listen(&listener, &changes, &work).await {
                tracing::warn!(error = %e, "not hearing other hubs' changes; listening again");
            }
            work.notify_one();
            tokio::time::sleep(RECONNECT).await;
        }
    });
}

async fn listen(pg: &Pg, changes: &Changes, work: &Notify) -> Result<(), StoreError> {
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let client = pg.connect(Some(tx)).await?;
    client
        .batch_execute("LISTEN hookhub_changes; LISTEN hookhub_work")
        .await
        .map_err(db)?;
    while let Some(notice) = notices.recv().await {
        match notice.channel() {
            "hookhub_work" => work.notify_one(),
            _ if changes.listened() => announce(pg, changes, notice.payload()).await,
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
