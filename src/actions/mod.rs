//! Running a hook's action once (SPEC §6): forward to a webhook, or execute a configured tool.
//! One call of [`run`] is one attempt; the queue decides about retries. Actions read the stored
//! execution and never reach back into ingress.

pub mod template;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clock::Clock;
use crate::config::ToolDef;
use crate::execution::{Attempt, Execution};
use crate::hooks::Hook;

/// What actions share: the HTTP client and the clock.
#[derive(Clone)]
pub struct ActionEnv {
    pub http: reqwest::Client,
    pub clock: Arc<dyn Clock>,
}

/// One attempt's inputs.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub hook: &'a Hook,
    pub execution: &'a Execution,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub tools: &'a BTreeMap<String, ToolDef>,
}

/// How an attempt ended, for the queue.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Succeeded { output: Option<Value> },
    Failed { error: String },
    /// Worth trying again, no sooner than `retry_after` when the other side said so.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
}

/// The attempt to record, and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub attempt: Attempt,
    pub outcome: Outcome,
}
