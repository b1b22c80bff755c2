//! Alerts (SPEC §11): the `alerts:` block a hook or the config file carries ([`AlertsConfig`]),
//! and one hook's alerting state as the store keeps it ([`HookAlerts`]). The rules that fill and
//! empty that state are `alerts::gather`'s; which block is in force and its checks are
//! `config`'s.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ChannelKind;
use crate::clock::Millis;
use crate::execution::ExecutionId;

/// `alerts:` at the top of the file or on a hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertsConfig {
    /// Tell the owner when an execution ends `failed`. True when the block is written at all:
    /// writing `alerts:` means wanting them.
    #[serde(default = "yes")]
    pub on_failure: bool,
    /// Only these kinds of channel; every bound chat of the owner when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelKind>,
    /// Failures of one hook within this long of its last alert wait for the next one.
    #[serde(default = "default_min_interval", with = "super::duration")]
    pub min_interval: Duration,
}

fn yes() -> bool {
    true
}

fn default_min_interval() -> Duration {
    Duration::from_secs(600)
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            on_failure: true,
            channels: Vec::new(),
            min_interval: default_min_interval(),
        }
    }
}

/// One hook's alerting state, as the store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookAlerts {
    /// When the last alert for the hook was taken to be sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<Millis>,
    /// Failures not told yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Alert>,
}

/// Failures of one hook told in one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// How many executions failed.
    pub count: u64,
    /// The first of them, oldest first, at most `alerts::gather::MAX_LISTED`.
    pub listed: Vec<ExecutionId>,
    /// The most recent failure's error.
    pub last_error: String,
}
