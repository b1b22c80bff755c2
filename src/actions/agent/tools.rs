//! The tools an agent may call: the config file's `tools` (run exactly as `execute_tool` runs
//! them: argv, no shell unless the tool says so, a clean environment, and the same refusal of
//! option-like and missing values, since the model's arguments are as untrusted as a payload),
//! `http_get` limited to the allowlisted hosts and reading no more of an answer than it can
//! give back, and `notify_owner` through the shared send-to-owner path. Each tool's JSON schema
//! is made from its definition. A failing tool is an answer for the model, never a crash of the
//! run.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::machine::{ToolCall, ToolSpec};
use crate::actions::{ActionEnv, Outcome, Run};
use crate::config::{AgentConfig, Config, ToolDef};
use crate::template::param_names;

pub const HTTP_GET: &str = "http_get";
pub const NOTIFY_OWNER: &str = "notify_owner";
/// Text of a tool's result given back to the model at most.
pub const RESULT_LIMIT: usize = 16 * 1024;
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The schema of each named tool; unknown names are skipped (validation refuses them).
pub fn specs(names: &[String], config: &Config, agent: &AgentConfig) -> Vec<ToolSpec> {
    names
        .iter()
        .filter_map(|name| match name.as_str() {
            HTTP_GET => Some(ToolSpec {
                name: HTTP_GET.into(),
                description: format!(
                    "Fetches a URL with HTTP GET and returns the status and the start of the \
                     body. Allowed hosts: {}.",
                    agent.http_allowlist.join(", ")
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {"url": {"type": "string", "description": "an http(s) URL"}},
                    "required": ["url"],
                }),
            }),
            NOTIFY_OWNER => Some(ToolSpec {
                name: NOTIFY_OWNER.into(),
                description: "Sends a short message to the owner on their linked Telegram and \
                              Slack chats."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"],
                }),
            }),
            id => config.tools.get(id).map(|tool| command_spec(id, tool)),
        })
        .collect()
}

/// A configured command's schema: one string per `{{params.NAME}}` its argv uses, and `action`
/// when it has named actions.
fn command_spec(id: &str, tool: &ToolDef) -> ToolSpec {
    let argv = tool
        .command
        .iter()
        .chain(tool.actions.values().flat_map(|a| a.command.iter()))
        .chain(tool.env.values());
    let params: BTreeSet<String> = argv.flat_map(|t| param_names(t)).collect();
    let mut properties = Map::new();
    for name in &params {
        properties.insert(name.clone(), json!({"type": "string"}));
    }
    let mut required: Vec<String> = params.into_iter().collect();
    if !tool.actions.is_empty() {
        let names: Vec<&String> = tool.actions.keys().collect();
        properties.insert("action".into(), json!({"type": "string", "enum": names}));
        if tool.command.is_empty() {
            required.push("action".into());
        }
    }
    let description = tool.description.clone().unwrap_or_else(|| {
        let program = tool
            .command
            .first()
            .or_else(|| tool.actions.values().next().and_then(|a| a.command.first()));
        format!("Runs the configured command {}.", program.map_or("", |p| p))
    });
    ToolSpec {
        name: id.into(),
        description,
        parameters: json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        }),
    }
}

/// What a tool call came to: the text the model reads and whether it worked.
pub struct ToolResult {
    pub text: String,
    pub ok: bool,
}

impl ToolResult {
    fn error(text: impl Into<String>) -> Self {
        Self {
            text: format!("error: {}", text.into()),
            ok: false,
        }
    }
}

/// Runs one tool call of the role allowed `allowed`.
pub async fn call(
    env: &ActionEnv,
    run: Run<'_>,
    agent: &AgentConfig,
    allowed: &[String],
    call: &ToolCall,
) -> ToolResult {
    let name = call.function.name.as_str();
    if !allowed.iter().any(|a| a == name) {
        return ToolResult::error(format!(
            "there is no tool `{name}`; the tools are: {}",
            allowed.join(", ")
        ));
    }
    let arguments = match serde_json::from_str::<Value>(&call.function.arguments) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        _ if call.function.arguments.trim().is_empty() => Map::new(),
        _ => return ToolResult::error("the arguments are not a JSON object"),
    };
    match name {
        HTTP_GET => http_get(env, agent, &arguments).await,
        NOTIFY_OWNER => notify_owner(env, &arguments).await,
        id => command(run, id, arguments).await,
    }
}

async fn command(run: Run<'_>, id: &str, mut arguments: Map<String, Value>) -> ToolResult {
    let action = match arguments.remove("action") {
        Some(Value::String(action)) => Some(action),
        Some(_) => return ToolResult::error("`action` must be a string"),
        None => None,
    };
    // A null argument is one the model did not give: left out, it fails as `param_missing`
    // instead of reaching the command as the text "null".
    let params = arguments
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, Value::String(s))),
            other => Some((k, Value::String(other.to_string()))),
        })
        .collect();
    let (detail, outcome) =
        crate::actions::tool::run_tool(run, id, action.as_deref(), params).await;
    let mut text = match &outcome {
        Outcome::Succeeded { .. } => "exit code 0".to_string(),
        Outcome::Failed { error } | Outcome::Retry { error, .. } => format!("error: {error}"),
    };
    for stream in ["stdout", "stderr"] {
        if let Some(out) = detail[stream].as_str().filter(|s| !s.is_empty()) {
            text.push_str(&format!("\n{stream}:\n{out}"));
        }
    }
    ToolResult {
        text: cut(&text),
        ok: matches!(outcome, Outcome::Succeeded { .. }),
    }
}

async fn http_get(
    env: &ActionEnv,
    agent: &AgentConfig,
    arguments: &Map<String, Value>,
) -> ToolResult {
    let Some(url) = arguments.get("url").and_then(Value::as_str) else {
        return ToolResult::error("`url` is required");
    };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return ToolResult::error(format!("`{url}` is not a URL"));
    };
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = agent
        .http_allowlist
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host));
    if !matches!(parsed.scheme(), "http" | "https") || !allowed {
        return ToolResult::error(format!(
            "`{url}` is not allowed: only http(s) URLs on {} may be fetched",
            agent.http_allowlist.join(", ")
        ));
    }
    let response = env.http.get(parsed).timeout(HTTP_TIMEOUT).send().await;
    let mut response = match response {
        Ok(response) => response,
        Err(e) => return ToolResult::error(format!("the request failed: {e}")),
    };
    let status = response.status();
    let head = format!("HTTP {}\n", status.as_u16());
    // The model is shown RESULT_LIMIT bytes at most, so no more is read: a huge or endless
    // answer costs that much and the rest is never fetched.
    let cap = RESULT_LIMIT - head.len();
    let (body, more) = match crate::outbound::read_capped(&mut response, cap).await {
        Ok(read) => read,
        Err(e) => return ToolResult::error(format!("reading the answer failed: {e}")),
    };
    // `cut` only bites when replacing bytes that are not UTF-8 made the text longer.
    let mut text = cut(&format!("{head}{}", String::from_utf8_lossy(&body)));
    if more {
        text.push_str(&format!(
            "\n[cut: the body goes on past its first {cap} bytes, which are all that was read]"
        ));
    }
    ToolResult {
        text,
        ok: status.is_success(),
    }
}

async fn notify_owner(env: &ActionEnv, arguments: &Map<String, Value>) -> ToolResult {
    let Some(message) = arguments.get("message").and_then(Value::as_str) else {
        return ToolResult::error("`message` is required");
    };
    if message.trim().is_empty() {
        return ToolResult::error("`message` is empty");
    }
    let Some(channels) = env.channels.as_ref() else {
        return ToolResult::error("no channels are available");
    };
    match channels.send_to_owner(message, &[], &HashSet::new()).await {
        Ok(deliveries) if deliveries.is_empty() => {
            ToolResult::error("the owner has no linked chat")
        }
        Ok(deliveries) => {
            let lines: Vec<String> = deliveries
                .iter()
                .map(|d| {
                    let to = format!("{} {}", d.binding.channel, d.binding.display_name);
                    match &d.result {
                        Ok(_) => format!("delivered to {to}"),
                        Err(e) => format!("not delivered to {to}: {}", e.message()),
                    }
                })
                .collect();
            ToolResult {
                ok: deliveries.iter().any(|d| d.result.is_ok()),
                text: lines.join("\n"),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "could not read bindings");
            ToolResult::error("could not read the owner's chats")
        }
    }
}

/// `text` cut to [`RESULT_LIMIT`] bytes, saying so.
pub fn cut(text: &str) -> String {
    super::cut(text, RESULT_LIMIT, "cut")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ToolActionDef;
    use std::collections::BTreeMap;

    #[test]
    fn a_commands_schema_lists_the_params_its_argv_uses() {
        let tool = ToolDef {
            command: vec![],
            actions: BTreeMap::from([
                (
                    "up".to_string(),
                    ToolActionDef {
                        command: vec!["/bin/svc".into(), "up".into(), "{{params.name}}".into()],
                    },
                ),
                (
                    "down".to_string(),
                    ToolActionDef {
                        command: vec!["/bin/svc".into(), "{{ params.name }}".into()],
                    },
                ),
            ]),
            working_dir: None,
            timeout: Duration::from_secs(1),
            shell: false,
            env: BTreeMap::from([("REF".to_string(), "{{params.git_ref}}".to_string())]),
            inherit_env: false,
            allow_option_args: false,
            description: Some("Starts or stops a service.".into()),
        };
        let spec = command_spec("svc", &tool);
        assert_eq!(spec.description, "Starts or stops a service.");
        assert_eq!(
            spec.parameters,
            json!({
                "type": "object",
                "properties": {
                    "action": {"type": "string", "enum": ["down", "up"]},
                    "git_ref": {"type": "string"},
                    "name": {"type": "string"},
                },
                "required": ["git_ref", "name", "action"],
                "additionalProperties": false,
            })
        );
    }

    #[test]
    fn results_are_cut_on_a_character_boundary() {
        let long = "é".repeat(RESULT_LIMIT);
        let out = cut(&long);
        assert!(out.ends_with(&format!("[cut: {RESULT_LIMIT} of {} bytes]", long.len())));
        assert_eq!(cut("short"), "short");
    }
}
