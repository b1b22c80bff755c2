//! The hook object (SPEC §3): one shape for the YAML file, the admin API and the UI.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{RetiringSecret, Secrets};

/// A hook: where deliveries arrive, how the sender is verified, and the one action they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hook {
    /// Unique slug. The API makes one from `name` when it is not given.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub trigger: TriggerKind,
    pub trigger_config: TriggerConfig,
    pub action: ActionKind,
    #[serde(default)]
    pub action_config: ActionConfig,
    /// Telling the owner when an execution of this hook fails; replaces the top-level
    /// `alerts` whole for this hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<super::AlertsConfig>,
}

fn yes() -> bool {
    true
}

/// What starts a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// `POST /api/webhooks/:path`.
    #[default]
    Webhook,
    /// `triggerConfig.cron` in `triggerConfig.timezone`, with an empty body.
    Schedule,
}

/// How deliveries reach the hook and how their sender is verified (SPEC §4, §5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerConfig {
    /// The `:path` of `/api/webhooks/:path`.
    #[serde(default)]
    pub webhook_path: String,
    /// One secret or a list of them; any one verifying is enough.
    #[serde(default, skip_serializing_if = "Secrets::is_empty")]
    pub webhook_secret: Secrets,
    /// The verification scheme's name; `github` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Client networks allowed to deliver (CIDRs); anyone when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allowlist: Vec<ipnet::IpNet>,
    /// Event types that run the hook (exact, or `*` for any event); every delivery when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// A CEL expression over `body`, `headers`, `query` and `eventType` that must be true for
    /// the hook to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Template for the delivery id used to drop repeats; the senders' delivery headers when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// Template for the key that serialises runs: executions with the same key run one at a
    /// time, in arrival order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_key: Option<String>,
    /// `schedule` trigger: when to run, as a cron pattern (5 fields, or 6 with seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// `schedule` trigger: the IANA time zone `cron` is read in; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// HTTP methods accepted besides POST.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Whether query parameters merge into the payload as top-level fields. When absent they
    /// do only where the query is authenticated with the rest of the request: token schemes
    /// (`bearer`, `header`, `gitlab`) and GET requests, never under a body signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_query: Option<bool>,
    /// `header`/`hmac` schemes: the header that carries the secret or signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// `hmac` scheme: sha1, sha256 or sha512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// `hmac` scheme: hex or base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// `hmac` scheme: text before the signature in the header, such as `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `hmac` scheme: what is signed, with `{timestamp}` and `{body}`; `{body}` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_payload: Option<String>,
    /// `hmac` scheme: the header carrying the timestamp used in `signedPayload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// `hmac` scheme: how old a timestamp may be.
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub tolerance: Option<Duration>,
    /// What a verified delivery is answered instead of the 202 JSON, once its execution is
    /// on disk (SPEC §11).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<super::ResponseConfig>,
    /// Secrets replaced by a rotation with a grace period, still verifying until their time.
    /// Kept by the store beside the hook; never read from or written to YAML or JSON.
    #[serde(skip)]
    pub retiring_secrets: Vec<RetiringSecret>,
}

impl TriggerConfig {
    /// The scheme name in force.
    pub fn scheme_name(&self) -> &str {
        self.scheme.as_deref().unwrap_or("github")
    }

    /// Whether a request's query joins its payload (see [`TriggerConfig::merge_query`]): a
    /// body signature does not cover the query, so an attacker replaying a signed delivery
    /// could otherwise add fields to what filters, templates and tools see.
    pub fn merges_query(&self, method: &str) -> bool {
        self.merge_query.unwrap_or_else(|| {
            method.eq_ignore_ascii_case("GET") || super::TOKEN_SCHEMES.contains(&self.scheme_name())
        })
    }
}

/// The action a hook runs (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Forward the event to another URL.
    Webhook,
    /// Run a tool defined in the config file.
    ExecuteTool,
    /// Send a message to the owner's verified channels.
    Notify,
    /// Ask an LLM agent about the event.
    SpawnAgent,
}

impl ActionKind {
    /// The name used in YAML and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Webhook => "webhook",
            ActionKind::ExecuteTool => "execute_tool",
            ActionKind::Notify => "notify",
            ActionKind::SpawnAgent => "spawn_agent",
        }
    }
}

/// Settings of the action. One flat object as in SPEC §3; validation refuses fields that
/// belong to another action kind, so a typo never passes silently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionConfig {
    // --- webhook (forward) ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_method: Option<String>,
    /// Extra request headers; values are templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Template for the forwarded body; the received body unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_template: Option<String>,
    /// How the forwarded request is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignMode>,
    #[serde(default, skip_serializing_if = "Secrets::is_empty")]
    pub signing_secret: Secrets,

    // --- execute_tool ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_action: Option<String>,
    /// Values are templates; they reach the tool's argv as `{{params.NAME}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_params: BTreeMap<String, String>,

    // --- notify ---
    /// The message, a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_message: Option<String>,
    /// Send to the owner's verified channel bindings: `notify` always does (`true` may be
    /// written for clarity, `false` is refused); `spawn_agent` sends its final answer when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_owner: Option<bool>,
    /// Only these kinds of channel; every configured one when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelKind>,

    // --- spawn_agent ---
    /// What to ask the model, a template; the payload and event type are appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_prompt: Option<String>,
    /// Free text (`devops`, `communication`): a topic naming one of `agent.roles` picks that
    /// role; any other goes to the default role, told the topic. Absent, the model picks the
    /// role when orchestrated, else the default role answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_topic: Option<String>,
    /// Let the agent call tools in a loop, instead of one completion without tools.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orchestrated: bool,

    // --- any action ---
    /// How many executions of this hook may run at once (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Run an `execute_tool` action again when a crash interrupted it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retry_on_crash: bool,
}

/// A kind of channel the owner is reached on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Telegram,
    Slack,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 2] = [ChannelKind::Telegram, ChannelKind::Slack];

    /// The name used in YAML, JSON and the execution log.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
        }
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an outgoing forward is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignMode {
    /// Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Standard,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// Not signed.
    None,
}
