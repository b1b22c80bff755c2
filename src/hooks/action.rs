//! A hook's action in the form the hub trusts: one variant per action kind, each holding only
//! what that action reads, checked once when the hook set is built (next to the verifier and
//! the filter). The flat `actionConfig` of SPEC §3 stays the shape of the YAML file and the
//! API; the runners in `actions` and `agent` take these types and never look at an optional
//! field again.
//!
//! Validation (`config::validate`) refuses every hook this conversion would, before a hook is
//! stored or a config file is taken. A hook can still fail to convert when the config changes
//! under an API hook (an `agent:` section removed) or an old database holds a hook stored before
//! a rule: that hook stays in the set and each execution of it fails with the
//! [`ActionConfigError`], as it did when these checks ran at each attempt.

use std::collections::BTreeMap;

use reqwest::Method;

use crate::config::{AgentConfig, Config};
use crate::model::{ActionKind, ChannelKind, Hook, SignMode};

/// What a hook runs, ready to run.
#[derive(Debug, Clone)]
pub enum Action {
    /// `webhook`: forward the event to another URL.
    Forward(ForwardAction),
    /// `execute_tool`: run a tool the config file defines.
    Tool(ToolAction),
    /// `notify`: send a message to the owner's chats.
    Notify(NotifyAction),
    /// `spawn_agent`: ask the configured model about the event.
    Agent(AgentAction),
}

/// The `webhook` action's request, before the delivery fills in its templates.
#[derive(Debug, Clone)]
pub struct ForwardAction {
    /// `webhookUrl`, never blank.
    pub url: String,
    /// `webhookMethod`, POST when absent.
    pub method: Method,
    /// Extra request headers; values are templates.
    pub headers: BTreeMap<String, String>,
    /// The forwarded body's template; the received body unchanged when absent.
    pub body_template: Option<String>,
    /// How the request is signed; unsigned when absent.
    pub signing: Option<Signing>,
}

/// A forward's signature: the scheme's name for `verify::sign_headers` and the secret.
#[derive(Debug, Clone)]
pub struct Signing {
    /// `github` or `standard`.
    pub scheme: &'static str,
    /// The first non-empty `signingSecret`.
    pub secret: String,
}

/// The `execute_tool` action. The tool itself is looked up in the config file at each attempt,
/// the same way an agent's tool calls are.
#[derive(Debug, Clone)]
pub struct ToolAction {
    pub tool_id: String,
    /// One of the tool's named `actions`; its own `command` when absent.
    pub tool_action: Option<String>,
    /// Templates rendered into `{{params.NAME}}`.
    pub params: BTreeMap<String, String>,
}

/// The `notify` action.
#[derive(Debug, Clone)]
pub struct NotifyAction {
    /// The message template.
    pub message: String,
    /// Only these kinds of channel; every configured one when empty.
    pub channels: Vec<ChannelKind>,
}

/// The `spawn_agent` action, with the config file's `agent:` section it talks to.
#[derive(Debug, Clone)]
pub struct AgentAction {
    pub agent: AgentConfig,
    /// The question about the event, a template.
    pub prompt: String,
    /// `agentTopic`, trimmed; absent when blank.
    pub topic: Option<String>,
    pub orchestrated: bool,
    /// Send the final answer to the owner's chats.
    pub notify_owner: bool,
}

/// Why a hook's action cannot run. The text is each attempt's error, naming the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionConfigError {
    /// A field the action needs is absent (its `actionConfig` name).
    #[error("actionConfig.{0} is not set")]
    Missing(&'static str),
    #[error("actionConfig.webhookMethod: `{0}` is not an HTTP method")]
    Method(String),
    /// `sign` names a scheme (given) but there is no secret to sign with.
    #[error("actionConfig.sign is `{0}` but signingSecret is not set")]
    NoSigningSecret(&'static str),
    #[error("spawn_agent needs an `agent:` section in the config (baseUrl, model)")]
    NoAgentSection,
}

impl Action {
    /// The typed action of `hook`, with `config` as the config file in force.
    pub fn of(hook: &Hook, config: &Config) -> Result<Self, ActionConfigError> {
        let action = &hook.action_config;
        Ok(match hook.action {
            ActionKind::Webhook => Action::Forward(ForwardAction {
                url: action
                    .webhook_url
                    .clone()
                    .filter(|u| !u.trim().is_empty())
                    .ok_or(ActionConfigError::Missing("webhookUrl"))?,
                method: method(action.webhook_method.as_deref())?,
                headers: action.headers.clone(),
                body_template: action.body_template.clone(),
                signing: signing(action.sign, action.signing_secret.iter().next())?,
            }),
            ActionKind::ExecuteTool => Action::Tool(ToolAction {
                tool_id: action
                    .tool_id
                    .clone()
                    .ok_or(ActionConfigError::Missing("toolId"))?,
                tool_action: action.tool_action.clone(),
                params: action.tool_params.clone(),
            }),
            ActionKind::Notify => Action::Notify(NotifyAction {
                message: action
                    .notify_message
                    .clone()
                    .ok_or(ActionConfigError::Missing("notifyMessage"))?,
                channels: action.channels.clone(),
            }),
            ActionKind::SpawnAgent => Action::Agent(AgentAction {
                agent: config
                    .agent
                    .clone()
                    .ok_or(ActionConfigError::NoAgentSection)?,
                prompt: action
                    .agent_prompt
                    .clone()
                    .ok_or(ActionConfigError::Missing("agentPrompt"))?,
                topic: action
                    .agent_topic
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from),
                orchestrated: action.orchestrated,
                notify_owner: action.notify_owner == Some(true),
            }),
        })
    }
}

/// `webhookMethod` as an HTTP method, in any case; POST when absent.
fn method(name: Option<&str>) -> Result<Method, ActionConfigError> {
    let name = name.unwrap_or("POST");
    Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .map_err(|_| ActionConfigError::Method(name.to_string()))
}

fn signing(
    mode: Option<SignMode>,
    secret: Option<&str>,
) -> Result<Option<Signing>, ActionConfigError> {
    let scheme = match mode {
        None | Some(SignMode::None) => return Ok(None),
        Some(SignMode::Github) => "github",
        Some(SignMode::Standard) => "standard",
    };
    let secret = secret.ok_or(ActionConfigError::NoSigningSecret(scheme))?;
    Ok(Some(Signing {
        scheme,
        secret: secret.to_string(),
    }))
}
