//! The `notify` action: the rendered `notifyMessage` to each of the owner's verified chats
//! (SPEC §6, §9), one recorded attempt per chat.
//!
//! A try sends only to the chats that still need it: a chat an earlier try reached, or one that
//! refused for good, is not sent to again, so a retry after Slack's outage does not repeat the
//! Telegram message. The execution succeeds when every chat got the message; it is retried
//! while any chat failed in a way worth retrying, with the longest `retry_after` asked for.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ActionEnv, Outcome, Report, Run, attempt, report};
use crate::channels::{OwnerDelivery, SendError};
use crate::execution::{Attempt, AttemptOutcome};
use crate::hooks::NotifyAction;
use crate::model::{Binding, ChannelKind};
use crate::template;

/// Runs one notify try.
pub(super) async fn notify(env: &ActionEnv, run: Run<'_>, action: &NotifyAction) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let fail = |error: String| {
        let detail = json!({ "channel": null, "error": error });
        report(started_at, started, detail, Outcome::Failed { error })
    };
    let Some(channels) = env.channels.as_ref() else {
        return fail("no channels are available to this hub".into());
    };
    let text = match message(run, action) {
        Ok(text) => text,
        Err(error) => return fail(error.to_string()),
    };
    let kinds = &action.channels;
    let bindings = match channels.owner_bindings(kinds) {
        Ok(bindings) => bindings,
        Err(e) => {
            tracing::error!(error = %e, "could not read bindings");
            return fail("could not read the channel bindings; see the hub's log".into());
        }
    };
    if bindings.is_empty() {
        return fail(no_binding_error(kinds));
    }
    let settled = settled_bindings(&run.execution.attempts);
    let deliveries = match channels.send_to_owner(&text, kinds, &settled).await {
        Ok(deliveries) => deliveries,
        Err(e) => {
            tracing::error!(error = %e, "could not read bindings");
            return fail("could not read the channel bindings; see the hub's log".into());
        }
    };
    let attempts = deliveries.into_iter().map(record).collect::<Vec<_>>();
    let outcome = overall(&bindings, &run.execution.attempts, &attempts, &text);
    Report { attempts, outcome }
}

/// Why there is no message to send.
#[derive(Debug, thiserror::Error)]
enum MessageError {
    #[error("actionConfig.notifyMessage: {0}")]
    Render(template::TemplateError),
    #[error("actionConfig.notifyMessage rendered to nothing for this event")]
    Empty,
}

/// The rendered message; an empty one is refused rather than sent.
fn message(run: Run<'_>, action: &NotifyAction) -> Result<String, MessageError> {
    let context = template::context(run.hook, run.execution, run.attempt);
    let text = template::render(&action.message, &context).map_err(MessageError::Render)?;
    if text.trim().is_empty() {
        return Err(MessageError::Empty);
    }
    Ok(text)
}

fn no_binding_error(kinds: &[ChannelKind]) -> String {
    let on = if kinds.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        format!(" on {}", names.join(" or "))
    };
    format!(
        "no verified chat{on} to notify: send /link to the bot, or make a code on hookhub's \
         Channels page and send /link CODE"
    )
}

/// A chat as the execution log names it: its channel, binding id and display name. Notify's
/// attempts and output and the agent's `notified` list all use this.
pub(crate) fn binding_detail(binding: &Binding) -> Value {
    json!({
        "channel": binding.channel,
        "bindingId": binding.id,
        "displayName": binding.display_name,
    })
}

/// Bindings an earlier try delivered to or that refused for good.
fn settled_bindings(earlier: &[Attempt]) -> HashSet<String> {
    earlier
        .iter()
        .filter(|a| a.outcome != AttemptOutcome::Retryable)
        .filter_map(|a| a.detail["bindingId"].as_str().map(str::to_string))
        .collect()
}

/// One chat's attempt.
fn record(delivery: OwnerDelivery) -> Attempt {
    let mut detail = binding_detail(&delivery.binding);
    detail["chatId"] = json!(delivery.binding.chat_id);
    let outcome = match delivery.result {
        Ok(response) => {
            detail["response"] = response;
            Outcome::Succeeded { output: None }
        }
        Err(SendError::Retry { error, retry_after }) => {
            detail["error"] = json!(error);
            if let Some(wait) = retry_after {
                detail["retryAfterSecs"] = json!(wait.as_secs());
            }
            Outcome::Retry { error, retry_after }
        }
        Err(SendError::Permanent { error }) => {
            detail["error"] = json!(error);
            Outcome::Failed { error }
        }
    };
    Attempt {
        duration_ms: delivery.duration.as_millis() as u64,
        ..attempt(delivery.started_at, Instant::now(), detail, &outcome)
    }
}

/// What this try means for the execution, counting earlier tries' settled chats.
fn overall(bindings: &[Binding], earlier: &[Attempt], now: &[Attempt], text: &str) -> Outcome {
    let latest = |binding: &Binding| {
        now.iter()
            .chain(earlier.iter().rev())
            .find(|a| a.detail["bindingId"] == binding.id.0.as_str())
    };
    let mut retry_after: Option<Duration> = None;
    let (mut waiting, mut refused, mut delivered) = (Vec::new(), Vec::new(), Vec::new());
    for binding in bindings {
        let name = format!("{} {}", binding.channel, binding.display_name);
        match latest(binding) {
            Some(a) if a.outcome == AttemptOutcome::Succeeded => {
                delivered.push(binding_detail(binding))
            }
            Some(a) if a.outcome == AttemptOutcome::Failed => {
                let error = a.detail["error"].as_str().unwrap_or("refused");
                refused.push(format!("{name}: {error}"));
            }
            Some(a) => {
                if let Some(secs) = a.detail["retryAfterSecs"].as_u64() {
                    retry_after = retry_after.max(Some(Duration::from_secs(secs)));
                }
                let error = a.detail["error"].as_str().unwrap_or("failed");
                waiting.push(format!("{name}: {error}"));
            }
            None => waiting.push(format!("{name}: not sent yet")),
        }
    }
    if !waiting.is_empty() {
        return Outcome::Retry {
            error: waiting.join("; "),
            retry_after,
        };
    }
    if !refused.is_empty() {
        return Outcome::Failed {
            error: format!("not delivered to {}", refused.join("; ")),
        };
    }
    Outcome::Succeeded {
        output: Some(json!({ "message": text, "delivered": delivered })),
    }
}
