//! The `spawn_agent` action (SPEC §6): an LLM reads the event and answers; orchestrated, it
//! first picks a role (unless the hook's free-text `agentTopic` decides it) and then may call
//! tools in a loop. Every role may call `notify_owner`.
//!
//! The loop itself is the pure [`machine`]; this file only carries its effects out — model
//! calls through [`provider`], tool calls through [`tools`] — and writes down every step for
//! the execution log: the prompt, each reply with its token usage, each tool call with its
//! arguments and result, and the final answer. One try is one attempt. The API key is never
//! written anywhere. An agent interrupted by a crash is not run again unless the hook says
//! `retryOnCrash: true` (its tools may already have acted).

pub mod machine;
pub mod prompt;
mod provider;
pub mod tools;

use std::collections::HashSet;
use std::time::Instant;

use serde_json::{Value, json};

use crate::actions::{ActionEnv, Outcome, Report, Run, binding_detail, report};
use crate::config::{AgentConfig, AgentRole, Config};
use crate::hooks::AgentAction;
use crate::template;
use machine::{Agent, Effect, Event, Purpose, Role, Setup};

/// How much of a message's text the execution log keeps.
const LOG_TEXT: usize = 8 * 1024;

/// The role used when none is configured, named or recognised.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are hookhub's assistant. You read events that \
    arrived as webhooks and tell the owner what matters, briefly and plainly.";

/// Runs one try of an agent hook.
pub async fn run(env: &ActionEnv, run: Run<'_>, action: &AgentAction) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let (detail, outcome) = match prepare(run, action) {
        Ok(setup) => converse(env, run, action, setup).await,
        Err(error) => {
            let error = error.to_string();
            (json!({ "error": error }), Outcome::Failed { error })
        }
    };
    report(started_at, started, detail, outcome)
}

/// Why the loop could not be set up.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    #[error("actionConfig.agentPrompt: {0}")]
    Prompt(template::TemplateError),
}

/// The loop's setup from the action and the config.
fn prepare(run: Run<'_>, action: &AgentAction) -> Result<Setup, PrepareError> {
    let agent = &action.agent;
    let context = template::context(run.hook, run.execution, run.attempt);
    let rendered = template::render(&action.prompt, &context).map_err(PrepareError::Prompt)?;
    let exe = run.execution;
    let prompt = prompt::assemble(&rendered, &exe.trigger.body, exe.event_type.as_deref());
    let roles = agent
        .roles
        .iter()
        .filter(|(name, _)| name.as_str() != "default")
        .map(|(name, role)| role_of(name, role, run.config, agent))
        .collect();
    Ok(Setup {
        prompt,
        roles,
        default_role: default_role(run.config, agent),
        topic: action.topic.clone(),
        orchestrated: action.orchestrated,
        max_steps: agent.max_steps,
        max_tokens: agent.max_tokens,
    })
}

/// `agent.roles.default` when configured; otherwise a plain assistant that may notify the
/// owner and, with an allowlist, fetch URLs.
fn default_role(config: &Config, agent: &AgentConfig) -> Role {
    if let Some(role) = agent.roles.get("default") {
        return role_of("default", role, config, agent);
    }
    let mut names = vec![tools::NOTIFY_OWNER.to_string()];
    if !agent.http_allowlist.is_empty() {
        names.push(tools::HTTP_GET.to_string());
    }
    Role {
        name: "default".into(),
        description: "anything no other role is for".into(),
        system_prompt: DEFAULT_SYSTEM_PROMPT.into(),
        tools: tools::specs(&names, config, agent),
        model: agent.model.clone(),
    }
}

/// A configured role, with its tools' schemas and its model. Every role may reach the owner
/// (SPEC §6), so `notify_owner` is offered whether or not its `tools` list names it.
fn role_of(name: &str, role: &AgentRole, config: &Config, agent: &AgentConfig) -> Role {
    let mut names = role.tools.clone();
    if !names.iter().any(|t| t == tools::NOTIFY_OWNER) {
        names.push(tools::NOTIFY_OWNER.to_string());
    }
    Role {
        name: name.into(),
        description: role.description.clone(),
        system_prompt: role.system_prompt.clone(),
        tools: tools::specs(&names, config, agent),
        model: role.model.clone().unwrap_or_else(|| agent.model.clone()),
    }
}

/// Carries the loop's effects out until it finishes or fails; the log detail and outcome.
async fn converse(
    env: &ActionEnv,
    run: Run<'_>,
    action: &AgentAction,
    setup: Setup,
) -> (Value, Outcome) {
    let agent_config = &action.agent;
    let provider = provider::Provider {
        http: &env.http,
        config: agent_config,
    };
    let mut steps = vec![json!({
        "step": "prompt",
        "text": clip(&setup.prompt),
    })];
    let mut agent = Agent::new(setup);
    let mut pending = std::collections::VecDeque::from(agent.step(Event::Start));
    let result = loop {
        let Some(effect) = pending.pop_front() else {
            break Err("agent loop error: nothing left to do".to_string());
        };
        let event = match effect {
            Effect::Finish(text) => break Ok(text),
            Effect::Fail(error) => break Err(error),
            Effect::CallModel {
                purpose,
                model,
                messages,
                tools,
            } => {
                let started = Instant::now();
                match provider.complete(&model, &messages, &tools).await {
                    Ok(reply) => {
                        steps.push(model_step(purpose, &model, &reply, started));
                        Event::Replied {
                            tokens: reply.usage.total_tokens,
                            message: reply.message,
                        }
                    }
                    Err(error) => break Err(error.to_string()),
                }
            }
            Effect::RunTool(call) => {
                let role = agent.role();
                let allowed: Vec<String> = role.tools.iter().map(|t| t.name.clone()).collect();
                let started = Instant::now();
                let result = tools::call(env, run, agent_config, &allowed, &call).await;
                steps.push(json!({
                    "step": "tool",
                    "name": call.function.name,
                    "arguments": clip(&call.function.arguments),
                    "ok": result.ok,
                    "result": clip(&result.text),
                    "latencyMs": started.elapsed().as_millis() as u64,
                }));
                Event::ToolDone {
                    call_id: call.id,
                    result: result.text,
                }
            }
        };
        pending.extend(agent.step(event));
    };
    let mut detail = json!({
        "role": agent.role().name,
        "model": agent.role().model,
        "totalTokens": agent.tokens(),
        "steps": steps,
    });
    let text = match result {
        Ok(text) => text,
        Err(error) => {
            detail["error"] = json!(error);
            return (detail, Outcome::Failed { error });
        }
    };
    detail["finalText"] = json!(text);
    if action.notify_owner
        && let Err(error) = notify(env, &text, &mut detail).await
    {
        let error = error.to_string();
        return (detail, Outcome::Failed { error });
    }
    (
        detail,
        Outcome::Succeeded {
            output: Some(Value::String(text)),
        },
    )
}

/// The log entry of one model call.
fn model_step(purpose: Purpose, model: &str, reply: &provider::Reply, started: Instant) -> Value {
    let calls: Vec<Value> = reply
        .message
        .tool_calls
        .iter()
        .flatten()
        .map(|c| json!({ "name": c.function.name, "arguments": clip(&c.function.arguments) }))
        .collect();
    json!({
        "step": match purpose { Purpose::Classify => "classify", Purpose::Answer => "model" },
        "model": model,
        "content": reply.message.content.as_deref().map(clip),
        "toolCalls": calls,
        "usage": reply.usage,
        "requests": reply.requests,
        "latencyMs": started.elapsed().as_millis() as u64,
    })
}

/// Sends the final answer to the owner's chats; an error when it reached none of them.
async fn notify(env: &ActionEnv, text: &str, detail: &mut Value) -> Result<(), NotifyError> {
    let channels = env.channels.as_ref().ok_or(NotifyError::NoChannels)?;
    let deliveries = channels
        .send_to_owner(text, &[], &HashSet::new())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not read bindings");
            NotifyError::Bindings
        })?;
    let record: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            let mut entry = binding_detail(&d.binding);
            entry["delivered"] = json!(d.result.is_ok());
            entry["response"] = json!(d.result.as_ref().ok());
            entry["error"] = json!(d.result.as_ref().err().map(|e| e.message()));
            entry
        })
        .collect();
    detail["notified"] = json!(record);
    let failed: Vec<String> = deliveries
        .iter()
        .filter_map(|d| {
            let e = d.result.as_ref().err()?;
            Some(format!(
                "{} {}: {}",
                d.binding.channel,
                d.binding.display_name,
                e.message()
            ))
        })
        .collect();
    if deliveries.is_empty() {
        return Err(NotifyError::NoChat);
    }
    if !failed.is_empty() {
        return Err(NotifyError::Undelivered(failed.join("; ")));
    }
    Ok(())
}

/// Why the owner did not hear the agent's answer.
#[derive(Debug, thiserror::Error)]
enum NotifyError {
    #[error("no channels are available")]
    NoChannels,
    #[error("could not read the channel bindings; see the hub's log")]
    Bindings,
    #[error("the agent answered, but the owner has no linked chat to notify")]
    NoChat,
    /// The chats it did not reach, with why.
    #[error("the agent answered, but the owner was not notified on {0}")]
    Undelivered(String),
}

/// Text for the log: whole up to [`LOG_TEXT`] bytes, then cut, saying so.
fn clip(text: &str) -> String {
    cut(text, LOG_TEXT, "cut in the log")
}

/// `text` whole up to `limit` bytes, else cut on a character boundary with a note naming how
/// much is left.
pub(crate) fn cut(text: &str, limit: usize, note: &str) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n[{note}: {end} of {} bytes]", &text[..end], text.len())
}
