//! A feed of execution changes for live views (the web UI's execution log). Every insert and
//! update of an execution is announced here, as the JSON the log shows: the API's brief form
//! ([`ExecutionOut::brief`]), without the payload, output and attempts (the UI fetches one
//! execution whole when it is opened).
//!
//! Announcing costs nothing while no one listens: the JSON is made only when a receiver exists.
//! A slow listener misses changes rather than holding the store back; it learns it missed some
//! (`RecvError::Lagged`) and can read the log again.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::execution::{Execution, ExecutionOut};

/// How many changes a listener may fall behind before it misses some.
const BACKLOG: usize = 256;

/// One execution as it now stands.
#[derive(Debug, Clone)]
pub struct ExecutionChange {
    pub hook_id: String,
    /// The execution as JSON ([`ExecutionOut::brief`]).
    pub json: String,
}

/// The sending side, owned by the store.
#[derive(Clone)]
pub(super) struct Changes(broadcast::Sender<Arc<ExecutionChange>>);

impl Default for Changes {
    fn default() -> Self {
        Self(broadcast::channel(BACKLOG).0)
    }
}

impl Changes {
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<ExecutionChange>> {
        self.0.subscribe()
    }

    /// Whether anyone listens now.
    pub(super) fn listened(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub(super) fn announce(&self, e: &Execution) {
        if self.0.receiver_count() == 0 {
            return;
        }
        let Ok(json) = serde_json::to_string(&ExecutionOut::brief(e)) else {
            return;
        };
        let change = ExecutionChange {
            hook_id: e.hook_id.clone(),
            json,
        };
        // An error only means every receiver left meanwhile.
        let _ = self.0.send(Arc::new(change));
    }
}
