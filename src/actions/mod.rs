//! Running a hook's action once (SPEC §6): forward to a webhook, execute a configured tool,
//! notify the owner, or spawn an [`agent`]. One call of [`run`] is one try; the queue decides
//! about retries. Actions read the stored execution and never reach back into ingress.

pub mod agent;
mod forward;
mod notify;
pub(crate) mod tool;

pub(crate) use notify::binding_detail;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::channels::Channels;
use crate::clock::{Clock, Millis};
use crate::config::Config;
use crate::execution::{Attempt, AttemptOutcome, Execution};
use crate::hooks::{Action, ActionConfigError};
use crate::model::{ActionKind, Hook};

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
    /// The config file in force: the tools an action or an agent may run.
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

/// Runs one try of `action`, the typed form of `run.hook`'s action. Never panics on bad input:
/// an action that cannot run is a `Failed` outcome whose error says what to fix.
pub async fn run(
    env: &ActionEnv,
    action: Result<&Action, &ActionConfigError>,
    run: Run<'_>,
) -> Report {
    match action {
        Ok(Action::Forward(forward)) => forward::forward(env, run, forward).await,
        Ok(Action::Tool(tool)) => tool::execute(env, run, tool).await,
        Ok(Action::Notify(notify)) => notify::notify(env, run, notify).await,
        Ok(Action::Agent(agent)) => agent::run(env, run, agent).await,
        Err(error) => cannot_run(env, run.hook, error.to_string()),
    }
}

/// The report of a try that never started because the action cannot run: one failed attempt
/// whose detail has the shape its action's attempts have.
fn cannot_run(env: &ActionEnv, hook: &Hook, error: String) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let config = &hook.action_config;
    let detail = match hook.action {
        ActionKind::Webhook => {
            let method = config.webhook_method.as_deref().unwrap_or("POST");
            forward::unsent_detail(config.webhook_url.as_deref(), method, &error)
        }
        ActionKind::ExecuteTool => json!({ "argv": null, "error": error }),
        ActionKind::Notify => json!({ "channel": null, "error": error }),
        ActionKind::SpawnAgent => json!({ "error": error }),
    };
    report(started_at, started, detail, Outcome::Failed { error })
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
    use crate::model::{ActionConfig, ActionKind, Hook, TriggerConfig};

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
            ("content-type".into(), "application/json".to_string()),
            ("x-github-event".into(), "push".to_string()),
        ]);
        let trigger = Trigger {
            path: "incoming".into(),
            method: "POST".into(),
            headers,
            query: BTreeMap::from([("q".to_string(), "1".to_string())]),
            query_in_body: true,
            body,
            raw_body: RawBody(bytes::Bytes::copy_from_slice(raw)),
        };
        Execution {
            status: Status::Running,
            event_type: Some("push".into()),
            delivery_id: Some("d-1".into()),
            ..Execution::queued("test-hook", trigger, 1_700_000_000_000)
        }
    }
}
