//! A feed of execution changes for live views (the web UI's execution log). Every insert and
//! update of an execution is announced here, as the JSON the log shows, without the payload,
//! output and attempts (the UI fetches one execution whole when it is opened).
//!
//! Announcing costs nothing while no one listens: the JSON is made only when a receiver exists.
//! A slow listener misses changes rather than holding the store back; it learns it missed some
//! (`RecvError::Lagged`) and can read the log again.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::execution::Execution;

/// How many changes a listener may fall behind before it misses some.
const BACKLOG: usize = 256;

/// One execution as it now stands.
#[derive(Debug, Clone)]
pub struct ExecutionChange {
    pub hook_id: String,
    /// The execution as JSON, without `trigger`, `output` and `attempts`, plus `attemptCount`.
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

    pub(super) fn announce(&self, e: &Execution) {
        if self.0.receiver_count() == 0 {
            return;
        }
        let Ok(mut value) = serde_json::to_value(brief(e)) else {
            return;
        };
        if let Some(fields) = value.as_object_mut() {
            fields.remove("attempts");
            fields.insert("attemptCount".into(), e.attempts.len().into());
        }
        let change = ExecutionChange {
            hook_id: e.hook_id.clone(),
            json: value.to_string(),
        };
        // An error only means every receiver left meanwhile.
        let _ = self.0.send(Arc::new(change));
    }
}

/// The execution without its bulky parts. Cloning the small fields is cheaper than
/// serialising the payload only to drop it.
fn brief(e: &Execution) -> Execution {
    Execution {
        trigger: crate::execution::Trigger {
            path: e.trigger.path.clone(),
            method: e.trigger.method.clone(),
            headers: Default::default(),
            query: Default::default(),
            query_in_body: e.trigger.query_in_body,
            body: serde_json::Value::Null,
            raw_body: Default::default(),
        },
        attempts: Vec::new(),
        output: None,
        label: e.label.clone(),
        event_type: e.event_type.clone(),
        delivery_id: e.delivery_id.clone(),
        lock_key: e.lock_key.clone(),
        hook_id: e.hook_id.clone(),
        error: e.error.clone(),
        skip_reason: e.skip_reason.clone(),
        request_id: e.request_id.clone(),
        ..*e
    }
}
