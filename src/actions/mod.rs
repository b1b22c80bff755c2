//! Running a hook's action once (SPEC §6): forward to a webhook, execute a configured tool,
//! notify the owner, or spawn an [`agent`]. One call of [`run`] is one try; the queue decides
//! about retries. Actions read the stored execution and never reach back into ingress.

pub mod agent;
mod forward;
mod notify;
pub(crate) mod tool;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::channels::Channels;
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::execution::{Attempt, AttemptOutcome, Execution};
use crate::hooks::{ActionKind, Hook};

/// What actions share: the HTTP client, the clock, and the owner's channels.
#[derive(Clone)]
pub struct ActionEnv {
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
    /// The owner's channels; `None` where nothing can be notified (some unit tests).
    pub channels: Option<Arc<Channels>>,
}

impl ActionEnv {
    #[cfg(test)]
    /// An environment with [`crate::outbound::http_client`] and `clock`, without channels.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            http: crate::outbound::http_client(),
            clock,
            channels: None,
        }
    }
}

/// One try's inputs.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub hook: &'a Hook,
    pub execution: &'a Execution,
    /// 1 for the first try.
    pub attempt: u32,
    /// The config file in force: its tools and agent settings.
    pub config: &'a Config,
}

/// How an attempt ended, for the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded {
        output: Option<Value>,
    },
    Failed {
        error: String,
    },
    /// Worth trying again, no sooner than `retry_after` when the other side said so.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// The attempts to record, and what they mean together. One try is one attempt, except for
/// actions with several targets (notify), which record one attempt per target.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub attempts: Vec<Attempt>,
    pub outcome: Outcome,
}

/// Runs one try of `run.hook`'s action. Never panics on bad input: a misconfigured action is a
/// `Failed` outcome whose error says what to fix.
pub async fn run(env: &ActionEnv, run: Run<'_>) -> Report {
    match run.hook.action {
        ActionKind::Webhook => forward::forward(env, run).await,
        ActionKind::ExecuteTool => tool::execute(env, run).await,
        ActionKind::Notify => notify::notify(env, run).await,
        ActionKind::SpawnAgent => agent::run(env, run).await,
    }
}

/// Builds the report of an attempt that began at `started_at` (wall clock, for the log) and
/// `started` (monotonic, for its duration).
pub(crate) fn report(
    started_at: Millis,
    started: Instant,
    detail: Value,
    outcome: Outcome,
) -> Report {
    Report {
        attempts: vec![attempt(started_at, started, detail, &outcome)],
        outcome,
    }
}

/// The record of one attempt that began at `started_at` / `started` and ended in `outcome`.
pub(crate) fn attempt(
    started_at: Millis,
    started: Instant,
    detail: Value,
    outcome: &Outcome,
) -> Attempt {
    Attempt {
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        outcome: match outcome {
            Outcome::Succeeded { .. } => AttemptOutcome::Succeeded,
            Outcome::Failed { .. } => AttemptOutcome::Failed,
            Outcome::Retry { .. } => AttemptOutcome::Retryable,
        },
        number: None,
        detail,
    }
}

/// Hand-built hooks and executions for the actions' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use crate::execution::{Execution, RawBody, Status, Trigger};
    use crate::hooks::{ActionConfig, ActionKind, Hook, TriggerConfig};

    /// A hook with id `test-hook` running `action`.
    pub fn hook(action: ActionKind, action_config: ActionConfig) -> Hook {
        Hook {
            id: "test-hook".into(),
            name: "Test hook".into(),
            enabled: true,
            trigger: Default::default(),
            trigger_config: TriggerConfig {
                webhook_path: "incoming".into(),
                ..Default::default()
            },
            action,
            action_config,
            alerts: None,
        }
    }

    /// A queued `push` execution of `test-hook` whose payload is `body`, received as `raw`.
    pub fn execution(body: Value, raw: &[u8]) -> Execution {
        let headers = BTreeMap::from([
            ("content-type".to_string(), "application/json".to_string()),
            ("x-github-event".to_string(), "push".to_string()),
        ]);
        let trigger = Trigger {
            path: "incoming".into(),
            method: "POST".into(),
            headers,
            query: BTreeMap::from([("q".to_string(), "1".to_string())]),
            query_in_body: true,
            body,
            raw_body: RawBody(raw.to_vec()),
        };
        Execution {
            status: Status::Running,
            event_type: Some("push".into()),
            delivery_id: Some("d-1".into()),
            ..Execution::queued("test-hook", trigger, 1_700_000_000_000)
        }
    }
}
