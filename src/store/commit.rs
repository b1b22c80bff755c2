//! Group commit: one thread flushes sled on behalf of every waiter that queued up while the
//! previous flush ran.

use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

pub(super) struct GroupCommit {
    tx: Option<mpsc::Sender<Waiter>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(super) fn start(db: sled::Db) -> Self {
        let (tx, rx) = mpsc::channel::<Waiter>();
        let thread = std::thread::Builder::new()
            .name("hookhub-commit".into())
            .spawn(move || flush_loop(&db, &rx))
            .expect("spawning the commit thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    pub(super) async fn sync(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        let tx = self
            .tx
            .as_ref()
            .expect("commit thread runs while the store lives");
        tx.send(done)
            .map_err(|_| StoreError::Flush("commit thread stopped".into()))?;
        wait.await
            .map_err(|_| StoreError::Flush("commit thread stopped".into()))?
            .map_err(StoreError::Flush)
    }
}

/// Each round takes every waiter queued so far, flushes once, and answers them all. Writes a
/// waiter made before queueing are covered because sled's flush persists everything logged
/// before it starts.
fn flush_loop(db: &sled::Db, rx: &mpsc::Receiver<Waiter>) {
    while let Ok(first) = rx.recv() {
        let mut waiters = vec![first];
        waiters.extend(rx.try_iter());
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the channel ends the loop; joining releases the thread's handle on the
        // database before the store is reopened (tests restart the hub in one process).
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
