//! What the config means, checked after parsing: every rule serde's types cannot express.
//! Each problem is a `(field path, message)` pair; the loader turns paths into file positions.
//! Hook rules live in [`validate_hook`] so the admin API refuses the same hooks the file does.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use super::strength::{MIN_ADMIN_TOKEN_BITS, estimated_bits};
use super::{AdminConfig, ChannelsConfig, Config, ServerConfig, ToolDef};
use crate::model::{
    ActionConfig, ActionKind, ChannelKind, Hook, SignMode, TriggerConfig, TriggerKind,
};

/// A problem: the field path and what is wrong with it.
pub type Problem = (String, String);

/// The exact complaint about a bad `webhookPath`, relied on by users' scripts and tests.
pub const WEBHOOK_PATH_MESSAGE: &str = "must be 1-128 chars of a-z 0-9 - _ /";

/// Checks a whole config. Returns the errors and the warnings, paths from the document root.
pub fn validate_config(config: &Config) -> (Vec<Problem>, Vec<Problem>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    validate_server(&config.server, &mut errors);
    validate_store(&config.store, &mut errors);
    validate_channels(&config.channels, &mut errors, &mut warnings);
    if let Some(alerts) = &config.alerts {
        errors.extend(super::alerts::problems("alerts", alerts, &config.channels));
    }
    warnings.extend(admin_warning(&config.admin));
    if let Some(agent) = &config.agent {
        validate_agent(agent, &config.tools, &mut errors);
    }
    for (id, tool) in &config.tools {
        validate_tool(id, tool, &mut errors);
        if tool.inherit_env {
            // Allowed, but it undoes the clean environment, so `hookhub check` says so.
            warnings.push((
                format!("tools.{id}.inheritEnv"),
                "this tool gets the hub's whole environment, with any tokens and API keys in \
                 it; name only the variables it needs in `env` instead"
                    .into(),
            ));
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, hook) in config.hooks.iter().enumerate() {
        let prefix = format!("hooks[{i}]");
        let within = |(path, message): Problem| (format!("{prefix}.{path}"), message);
        if hook.id.is_empty() {
            errors.push((
                format!("{prefix}.id"),
                "is required: a slug such as `github-push`".to_string(),
            ));
        } else if let Some(first) = seen.insert(&hook.id, i) {
            // Keep the first index so a third copy also names the original.
            seen.insert(&hook.id, first);
            errors.push((
                format!("{prefix}.id"),
                format!("duplicate id `{}`: already used by hooks[{first}]", hook.id),
            ));
        }
        errors.extend(validate_hook(hook, config).into_iter().map(within));
        warnings.extend(hook_warnings(hook).into_iter().map(within));
        warnings.extend(topic_warning(hook, config).map(within));
    }
    (errors, warnings)
}

fn validate_store(store: &super::StoreConfig, errors: &mut Vec<Problem>) {
    use super::Backend;
    match (store.backend, &store.url) {
        (Backend::Postgres, None) => errors.push((
            "store.url".into(),
            "is required with `backend: postgres`: postgres://user:password@host:5432/db".into(),
        )),
        (Backend::Postgres, Some(url))
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) =>
        {
            errors.push((
                "store.url".into(),
                "is not a PostgreSQL URL: postgres://user:password@host:5432/db".into(),
            ))
        }
        (Backend::Sled, Some(_)) => errors.push((
            "store.url".into(),
            "is only for `backend: postgres`; sled keeps its data in `server.dataDir`".into(),
        )),
        _ => {}
    }
    if store.lease < Duration::from_secs(1) {
        errors.push((
            "store.lease".into(),
            "must be at least 1s: a hub renews its leases a few times within it".into(),
        ));
    }
}

fn validate_server(server: &ServerConfig, errors: &mut Vec<Problem>) {
    if let Some(listen) = &server.listen
        && listen.parse::<SocketAddr>().is_err()
    {
        errors.push((
            "server.listen".into(),
            format!("`{listen}` is not an address such as 127.0.0.1:3005"),
        ));
    }
    if let Some(url) = &server.public_url
        && let Err(e) = check_http_url(url)
    {
        errors.push(("server.publicUrl".into(), e.to_string()));
    }
    if server.max_body_bytes < 1 {
        errors.push(("server.maxBodyBytes".into(), "must be at least 1".into()));
    }
    if !(1..=256).contains(&server.workers) {
        errors.push(("server.workers".into(), "must be between 1 and 256".into()));
    }
    if server.max_connections_per_client < 1 {
        errors.push((
            "server.maxConnectionsPerClient".into(),
            "must be at least 1".into(),
        ));
    }
    for (field, value) in [
        ("server.requestTimeout", server.request_timeout),
        ("server.idleTimeout", server.idle_timeout),
    ] {
        if value.is_zero() {
            errors.push((field.into(), "must be more than 0s".into()));
        }
    }
    if server.retention.max_per_hook < 1 {
        errors.push((
            "server.retention.maxPerHook".into(),
            "must be at least 1".into(),
        ));
    }
}

fn validate_tool(id: &str, tool: &ToolDef, errors: &mut Vec<Problem>) {
    let base = format!("tools.{id}");
    if !is_slug(id) {
        errors.push((base.clone(), format!("tool id `{id}` {SLUG_RULE}")));
    }
    if tool.command.is_empty() && tool.actions.is_empty() {
        errors.push((
            base.clone(),
            "needs `command` (an argv list) or `actions`".into(),
        ));
    }
    if !tool.command.is_empty() {
        check_argv(
            &format!("{base}.command"),
            &tool.command,
            tool.shell,
            errors,
        );
    }
    for (name, action) in &tool.actions {
        let path = format!("{base}.actions.{name}.command");
        if action.command.is_empty() {
            errors.push((path, "must not be empty".into()));
        } else {
            check_argv(&path, &action.command, tool.shell, errors);
        }
    }
    if tool.timeout.is_zero() {
        errors.push((format!("{base}.timeout"), "must be more than 0s".into()));
    }
    if tool
        .working_dir
        .as_ref()
        .is_some_and(|d| d.as_os_str().is_empty())
    {
        errors.push((format!("{base}.workingDir"), "must not be empty".into()));
    }
    for (name, value) in &tool.env {
        check_template(&format!("{base}.env.{name}"), value, errors);
    }
}

/// A command's elements are templates; a shell command is one script whose values must all be
/// shell-quoted, which `{{{…}}}` (no escaping) would defeat.
fn check_argv(path: &str, argv: &[String], shell: bool, errors: &mut Vec<Problem>) {
    if shell && argv.len() != 1 {
        errors.push((
            path.to_string(),
            "with `shell: true` must be exactly one string: the script given to sh -c".into(),
        ));
    }
    for (i, arg) in argv.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if shell && arg.contains("{{{") {
            errors.push((
                at.clone(),
                "`{{{` is not allowed with `shell: true`: values must stay shell-quoted".into(),
            ));
        }
        check_template(&at, arg, errors);
    }
}

/// Checks one hook on its own, against the tools it may name. Paths are relative to the hook
/// (`triggerConfig.webhookPath`). An empty `id` is skipped: the API fills it in.
pub fn validate_hook(hook: &Hook, config: &Config) -> Vec<Problem> {
    let mut errors = Vec::new();
    if !hook.id.is_empty() && !is_slug(&hook.id) {
        errors.push(("id".into(), format!("`{}` {SLUG_RULE}", hook.id)));
    }
    let trigger = &hook.trigger_config;
    // A scheduled run has no sender: `trigger_problems` refuses the webhook settings instead.
    errors.extend(crate::model::trigger_problems(hook.trigger, trigger));
    let webhook = hook.trigger == TriggerKind::Webhook;
    if webhook && !is_webhook_path(&trigger.webhook_path) {
        errors.push((
            "triggerConfig.webhookPath".into(),
            WEBHOOK_PATH_MESSAGE.into(),
        ));
    } else if webhook && let Some(why) = webhook_path_shape(&trigger.webhook_path) {
        errors.push(("triggerConfig.webhookPath".into(), why.into()));
    }
    if webhook && let Err(e) = crate::verify::Verifier::new(trigger) {
        errors.push(scheme_problem(e));
    }
    if webhook && let Some(response) = &trigger.response {
        errors.extend(response.problems());
    }
    for (i, method) in trigger.methods.iter().enumerate() {
        if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
            errors.push((
                format!("triggerConfig.methods[{i}]"),
                format!("`{method}` is not an uppercase HTTP method such as GET, PUT or DELETE"),
            ));
        }
    }
    check_events_and_filter(trigger, &mut errors);
    let action = &hook.action_config;
    match hook.action {
        ActionKind::Webhook => validate_forward(action, &mut errors),
        ActionKind::ExecuteTool => validate_execute_tool(action, &config.tools, &mut errors),
        ActionKind::Notify => validate_notify(action, &config.channels, &mut errors),
        ActionKind::SpawnAgent => validate_spawn_agent(action, config, &mut errors),
    }
    refuse_other_actions_fields(hook, &mut errors);
    if let Some(alerts) = &hook.alerts {
        errors.extend(super::alerts::problems("alerts", alerts, &config.channels));
    }
    if action.concurrency.is_some_and(|c| !(1..=20).contains(&c)) {
        errors.push((
            "actionConfig.concurrency".into(),
            "must be between 1 and 20".into(),
        ));
    }
    errors
}

/// Things that are allowed but almost certainly not meant. Paths are relative to the hook.
pub fn hook_warnings(hook: &Hook) -> Vec<Problem> {
    let mut warnings = Vec::new();
    if hook.trigger == TriggerKind::Webhook && hook.trigger_config.webhook_secret.is_empty() {
        warnings.push((
            "triggerConfig.webhookSecret".into(),
            "no secret: every delivery to this hook will be refused with 401".into(),
        ));
    }
    warnings.extend(super::published::published_secret_warnings(hook));
    warnings
}

/// `agentTopic` is free text (SPEC §6), so a topic naming no role is no error; but where roles
/// are configured it may be a misspelt one, so `hookhub check` says who will answer.
fn topic_warning(hook: &Hook, config: &Config) -> Option<Problem> {
    let roles = &config.agent.as_ref()?.roles;
    let topic = hook.action_config.agent_topic.as_deref()?.trim();
    let named = topic == "default" || roles.keys().any(|r| r.eq_ignore_ascii_case(topic));
    if hook.action != ActionKind::SpawnAgent || roles.is_empty() || named {
        return None;
    }
    let known: Vec<&str> = roles.keys().map(String::as_str).collect();
    Some((
        "actionConfig.agentTopic".into(),
        format!(
            "`{topic}` names no role in agent.roles ({}): the default role answers, told the \
             topic",
            known.join(", ")
        ),
    ))
}

fn validate_forward(action: &ActionConfig, errors: &mut Vec<Problem>) {
    match &action.webhook_url {
        None => errors.push((
            "actionConfig.webhookUrl".into(),
            "is required for action webhook".into(),
        )),
        Some(url) => {
            if let Err(e) = check_http_url(url) {
                errors.push(("actionConfig.webhookUrl".into(), e.to_string()));
            }
        }
    }
    if let Some(method) = &action.webhook_method
        && !["POST", "PUT", "PATCH", "DELETE", "GET"].contains(&method.as_str())
    {
        errors.push((
            "actionConfig.webhookMethod".into(),
            format!("`{method}` is not one of POST, PUT, PATCH, DELETE, GET"),
        ));
    }
    let signs = action.sign.is_some_and(|s| s != SignMode::None);
    match (signs, action.signing_secret.is_empty()) {
        (true, true) => errors.push((
            "actionConfig.sign".into(),
            "needs `signingSecret` to sign with".into(),
        )),
        (false, false) => errors.push((
            "actionConfig.signingSecret".into(),
            "is set but `sign` is not: add `sign: standard` or `sign: github`".into(),
        )),
        _ => {}
    }
    for (name, value) in &action.headers {
        check_template(&format!("actionConfig.headers.{name}"), value, errors);
    }
    if let Some(body) = &action.body_template {
        check_template("actionConfig.bodyTemplate", body, errors);
    }
}

fn validate_execute_tool(
    action: &ActionConfig,
    tools: &BTreeMap<String, ToolDef>,
    errors: &mut Vec<Problem>,
) {
    match &action.tool_id {
        None => errors.push((
            "actionConfig.toolId".into(),
            "is required for action execute_tool".into(),
        )),
        Some(id) => match tools.get(id) {
            None => errors.push(("actionConfig.toolId".into(), unknown_tool(id, tools))),
            Some(tool) => check_tool_action(action.tool_action.as_deref(), tool, errors),
        },
    }
    for (name, value) in &action.tool_params {
        check_template(&format!("actionConfig.toolParams.{name}"), value, errors);
    }
}

fn unknown_tool(id: &str, tools: &BTreeMap<String, ToolDef>) -> String {
    let defined: Vec<&str> = tools.keys().map(String::as_str).collect();
    let defined = if defined.is_empty() {
        "none (tools are defined under `tools:` in the config file)".to_string()
    } else {
        defined.join(", ")
    };
    format!("unknown tool `{id}`; defined tools: {defined}")
}

fn check_tool_action(chosen: Option<&str>, tool: &ToolDef, errors: &mut Vec<Problem>) {
    let names = || tool.actions.keys().cloned().collect::<Vec<_>>().join(", ");
    match chosen {
        Some(name) if !tool.actions.contains_key(name) => errors.push((
            "actionConfig.toolAction".into(),
            if tool.actions.is_empty() {
                format!("unknown action `{name}`: this tool has no `actions`")
            } else {
                format!("unknown action `{name}`; this tool's actions: {}", names())
            },
        )),
        None if tool.command.is_empty() && !tool.actions.is_empty() => errors.push((
            "actionConfig.toolAction".into(),
            format!(
                "is required: this tool has no `command`; pick one of {}",
                names()
            ),
        )),
        _ => {}
    }
}

fn validate_notify(action: &ActionConfig, channels: &ChannelsConfig, errors: &mut Vec<Problem>) {
    match &action.notify_message {
        Some(message) if !message.trim().is_empty() => {
            check_template("actionConfig.notifyMessage", message, errors)
        }
        _ => errors.push((
            "actionConfig.notifyMessage".into(),
            "is required for action notify: the message template, such as \
             `Webhook received: {{webhook.body.event}}`"
                .into(),
        )),
    }
    if action.notify_owner == Some(false) {
        errors.push((
            "actionConfig.notifyOwner".into(),
            "action notify always sends to the owner; remove notifyOwner or set it true".into(),
        ));
    }
    check_channels_configured(&action.channels, channels, errors);
}

fn validate_spawn_agent(action: &ActionConfig, config: &Config, errors: &mut Vec<Problem>) {
    if config.agent.is_none() {
        errors.push((
            "action".into(),
            "spawn_agent needs an `agent:` section in the config file (baseUrl, model)".into(),
        ));
        return;
    }
    match &action.agent_prompt {
        Some(prompt) if !prompt.trim().is_empty() => {
            check_template("actionConfig.agentPrompt", prompt, errors)
        }
        _ => errors.push((
            "actionConfig.agentPrompt".into(),
            "is required for action spawn_agent: what to ask about the event".into(),
        )),
    }
    if action.notify_owner == Some(true) {
        check_channels_configured(&[], &config.channels, errors);
    }
}

/// The agent's server, limits and roles. Role tools must exist; `http_get` needs hosts.
fn validate_agent(
    agent: &super::AgentConfig,
    tools: &BTreeMap<String, ToolDef>,
    errors: &mut Vec<Problem>,
) {
    if let Err(e) = check_http_url(&agent.base_url) {
        errors.push(("agent.baseUrl".into(), e.to_string()));
    }
    if agent.model.trim().is_empty() {
        errors.push((
            "agent.model".into(),
            "must name a model, such as llama3.1".into(),
        ));
    }
    if !(1..=50).contains(&agent.max_steps) {
        errors.push(("agent.maxSteps".into(), "must be between 1 and 50".into()));
    }
    if agent.max_tokens < 1 {
        errors.push(("agent.maxTokens".into(), "must be at least 1".into()));
    }
    if agent.timeout.is_zero() {
        errors.push(("agent.timeout".into(), "must be more than 0s".into()));
    }
    for (i, host) in agent.http_allowlist.iter().enumerate() {
        if host.is_empty() || host.contains(['/', ':', ' ']) {
            errors.push((
                format!("agent.httpAllowlist[{i}]"),
                format!("`{host}` is not a host name such as api.github.com"),
            ));
        }
    }
    for (name, role) in &agent.roles {
        let base = format!("agent.roles.{name}");
        if !is_slug(name) {
            errors.push((base.clone(), format!("role name `{name}` {SLUG_RULE}")));
        }
        if role.system_prompt.trim().is_empty() {
            errors.push((format!("{base}.systemPrompt"), "must not be empty".into()));
        }
        for (i, tool) in role.tools.iter().enumerate() {
            let at = format!("{base}.tools[{i}]");
            match tool.as_str() {
                "notify_owner" => {}
                "http_get" if agent.http_allowlist.is_empty() => errors.push((
                    at,
                    "http_get needs agent.httpAllowlist: the hosts it may fetch from".into(),
                )),
                "http_get" => {}
                id if !tools.contains_key(id) => errors.push((at, unknown_tool(id, tools))),
                _ => {}
            }
        }
    }
}

/// A hook that notifies must have somewhere to send: each channel it names needs its token,
/// and without names at least one channel must be configured.
fn check_channels_configured(
    named: &[ChannelKind],
    channels: &ChannelsConfig,
    errors: &mut Vec<Problem>,
) {
    for (i, kind) in named.iter().enumerate() {
        if !channels.is_configured(*kind) {
            errors.push((
                format!("actionConfig.channels[{i}]"),
                format!("channel {kind} is not configured: set channels.{kind}.botToken"),
            ));
        }
    }
    if named.is_empty() && !ChannelKind::ALL.iter().any(|k| channels.is_configured(*k)) {
        errors.push((
            "actionConfig".into(),
            "notifies the owner, but no channel is configured: set channels.telegram.botToken \
             or channels.slack.botToken"
                .into(),
        ));
    }
}

/// Every action setting and the actions that read it. A setting given to another action is
/// refused, so a typo or a leftover never passes silently.
fn refuse_other_actions_fields(hook: &Hook, errors: &mut Vec<Problem>) {
    use ActionKind::*;
    let a = &hook.action_config;
    let fields: [(&str, bool, &[ActionKind]); 15] = [
        ("webhookUrl", a.webhook_url.is_some(), &[Webhook]),
        ("webhookMethod", a.webhook_method.is_some(), &[Webhook]),
        ("headers", !a.headers.is_empty(), &[Webhook]),
        ("bodyTemplate", a.body_template.is_some(), &[Webhook]),
        ("sign", a.sign.is_some(), &[Webhook]),
        ("signingSecret", !a.signing_secret.is_empty(), &[Webhook]),
        ("toolId", a.tool_id.is_some(), &[ExecuteTool]),
        ("toolAction", a.tool_action.is_some(), &[ExecuteTool]),
        ("toolParams", !a.tool_params.is_empty(), &[ExecuteTool]),
        ("notifyMessage", a.notify_message.is_some(), &[Notify]),
        (
            "notifyOwner",
            a.notify_owner.is_some(),
            &[Notify, SpawnAgent],
        ),
        ("channels", !a.channels.is_empty(), &[Notify]),
        ("agentPrompt", a.agent_prompt.is_some(), &[SpawnAgent]),
        ("agentTopic", a.agent_topic.is_some(), &[SpawnAgent]),
        ("orchestrated", a.orchestrated, &[SpawnAgent]),
    ];
    for (name, present, used_by) in fields {
        if present && !used_by.contains(&hook.action) {
            errors.push((
                format!("actionConfig.{name}"),
                format!("not used by action {}", hook.action.as_str()),
            ));
        }
    }
}

/// A configured admin token that could be guessed (SPEC §11). The message gives the estimate,
/// never the token.
fn admin_warning(admin: &AdminConfig) -> Option<Problem> {
    let token = admin.token.as_deref().filter(|t| !t.is_empty())?;
    let bits = estimated_bits(token);
    (bits < MIN_ADMIN_TOKEN_BITS).then(|| {
        (
            "admin.token".into(),
            format!(
                "is weak (about {bits:.0} bits, from its length and kinds of character; \
                 {MIN_ADMIN_TOKEN_BITS:.0} wanted): use 22 or more random letters and digits, \
                 such as the output of `openssl rand -base64 32`, or leave it empty to have \
                 the hub generate one"
            ),
        )
    })
}

/// A channel section without its token turns the channel off; say so at start, because a
/// missing environment variable is the usual cause.
fn validate_channels(
    channels: &ChannelsConfig,
    errors: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    if let Some(telegram) = &channels.telegram {
        if telegram.bot_token.is_empty() {
            warnings.push((
                "channels.telegram.botToken".into(),
                "is empty: Telegram is off".into(),
            ));
        }
        if let Err(e) = check_http_url(&telegram.api_url) {
            errors.push(("channels.telegram.apiUrl".into(), e.to_string()));
        }
    }
    if let Some(slack) = &channels.slack {
        if slack.bot_token.is_empty() {
            warnings.push((
                "channels.slack.botToken".into(),
                "is empty: Slack is off".into(),
            ));
        } else if slack.signing_secret.is_empty() {
            warnings.push((
                "channels.slack.signingSecret".into(),
                "is empty: Slack can send, but its /link slash command is refused".into(),
            ));
        }
        if let Err(e) = check_http_url(&slack.api_url) {
            errors.push(("channels.slack.apiUrl".into(), e.to_string()));
        }
    }
}

const SLUG_RULE: &str = "must be 1-64 chars of a-z 0-9 - _, starting with a letter or digit";

fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_webhook_path(p: &str) -> bool {
    (1..=128).contains(&p.len())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_/".contains(c))
}

/// The path is matched as one URL segment run, so it must not look like a relative path.
fn webhook_path_shape(p: &str) -> Option<&'static str> {
    if p.starts_with('/') || p.ends_with('/') {
        Some("must not start or end with /")
    } else if p.contains("//") {
        Some("must not contain //")
    } else if p.contains("..") {
        Some("must not contain ..")
    } else {
        None
    }
}

/// A URL setting the hub could not call. It holds the URL with its credentials redacted:
/// config errors are logged and shown in the UI's banner.
#[derive(Debug, thiserror::Error)]
enum UrlProblem {
    #[error("`{0}` is not an http:// or https:// URL")]
    NotHttp(String),
    /// The URL and the parser's reason.
    #[error("`{0}` is not an absolute http(s) URL: {1}")]
    NotAbsolute(String, String),
}

fn check_http_url(url: &str) -> Result<(), UrlProblem> {
    let shown = || crate::model::redact::url(url).into_owned();
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        Ok(_) => Err(UrlProblem::NotHttp(shown())),
        Err(e) => Err(UrlProblem::NotAbsolute(shown(), e.to_string())),
    }
}

/// A filter that does not compile would skip every delivery; refuse it at load instead.
fn check_events_and_filter(trigger: &TriggerConfig, errors: &mut Vec<Problem>) {
    for (i, event) in trigger.events.iter().enumerate() {
        if event.trim().is_empty() {
            errors.push((
                format!("triggerConfig.events[{i}]"),
                "must be an event type such as `push`, or `*` for any".into(),
            ));
        }
    }
    if let Some(expression) = &trigger.filter
        && let Err(e) = crate::filter::Filter::compile(expression)
    {
        errors.push(("triggerConfig.filter".into(), e.to_string()));
    }
}

fn check_template(path: &str, source: &str, errors: &mut Vec<Problem>) {
    if let Err(e) = handlebars::Template::compile(source) {
        let at = e
            .pos()
            .map(|(line, col)| format!(" (template line {line}, column {col})"))
            .unwrap_or_default();
        errors.push((
            path.to_string(),
            format!("invalid template: {}{at}", e.reason()),
        ));
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

/// Places a verifier's complaint on the field it is about: a secret it cannot use, a setting
/// the scheme does not take, or else the scheme itself.
fn scheme_problem(error: crate::verify::SchemeError) -> Problem {
    use crate::verify::SchemeError;
    match error {
        SchemeError::Secret { index, error } => (
            format!("triggerConfig.webhookSecret[{index}]"),
            error.to_string(),
        ),
        SchemeError::UnusedField { field, why } => {
            (format!("triggerConfig.{field}"), why.to_string())
        }
        error => ("triggerConfig.scheme".into(), error.to_string()),
    }
}
