//! Telegram through teloxide: long polling for the owner's commands, and `sendMessage`.
//!
//! Messages go out as plain text (no `parse_mode`), so whatever a webhook carried cannot break
//! the formatting or inject links; text past Telegram's 4096-character limit is cut with a note.
//! The bot token sits in every Bot API URL, so each error text is scrubbed of it before it is
//! logged, shown as health, or recorded in an execution.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Recipient, UpdateKind};
use teloxide::{ApiError, RequestError};

use super::{Channels, Incoming, SendError};
use crate::config::TelegramConfig;
use crate::model::ChannelKind;

/// Telegram refuses longer messages (counted in UTF-16 code units).
const MAX_MESSAGE: usize = 4096;
/// How long one send may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// How long Telegram holds a `getUpdates` call open when there is nothing new.
const POLL_SECS: u32 = 20;
/// The longest pause between polls after errors.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub(super) struct Telegram {
    bot: Bot,
    token: String,
}

impl Telegram {
    pub(super) fn new(config: &TelegramConfig) -> Result<Self, super::ClientError> {
        let url = reqwest::Url::parse(&config.api_url)
            .map_err(|e| super::ClientError::ApiUrl("telegram", e.to_string()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // Above the long-poll time, so a quiet poll is not an error.
            .timeout(Duration::from_secs(POLL_SECS as u64 + 10))
            .build()
            .map_err(super::ClientError::TelegramClient)?;
        let bot = Bot::with_client(config.bot_token.clone(), client).set_api_url(url);
        Ok(Self {
            bot,
            token: config.bot_token.clone(),
        })
    }

    /// Sends `text` to a chat (a numeric id, or `@channel`).
    pub(super) async fn send(&self, chat_id: &str, text: &str) -> Result<Value, SendError> {
        let recipient = match chat_id.parse::<i64>() {
            Ok(id) => Recipient::Id(ChatId(id)),
            Err(_) => Recipient::ChannelUsername(chat_id.to_string()),
        };
        let text = fit(text, MAX_MESSAGE);
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.bot.send_message(recipient, text)).await;
        match sent {
            Err(_) => Err(SendError::Retry {
                error: format!(
                    "Telegram did not answer within {} s",
                    SEND_TIMEOUT.as_secs()
                ),
                retry_after: None,
            }),
            Ok(Ok(message)) => Ok(json!({ "messageId": message.id.0 })),
            Ok(Err(e)) => Err(self.classify(e)),
        }
    }

    /// What a failed request means for the send: only Telegram's own refusals are final.
    fn classify(&self, error: RequestError) -> SendError {
        let text = self.scrub(&error.to_string());
        match error {
            RequestError::RetryAfter(wait) => SendError::Retry {
                error: format!("Telegram rate limit: {text}"),
                retry_after: Some(wait.duration()),
            },
            RequestError::Api(ApiError::Unknown(description)) if !is_refusal(&description) => {
                SendError::Retry {
                    error: format!("Telegram error: {}", self.scrub(&description)),
                    retry_after: None,
                }
            }
            RequestError::Api(_) | RequestError::MigrateToChatId(_) => SendError::Permanent {
                error: format!("Telegram refused: {text}"),
            },
            RequestError::Network(_) | RequestError::Io(_) => SendError::Retry {
                error: format!("could not reach Telegram: {text}"),
                retry_after: None,
            },
            RequestError::InvalidJson { raw, .. } => SendError::Retry {
                error: format!(
                    "Telegram answered something that is not the Bot API: {}",
                    self.scrub(&raw.chars().take(200).collect::<String>())
                ),
                retry_after: None,
            },
        }
    }

    /// The text with the bot token taken out: it is part of every request URL.
    fn scrub(&self, text: &str) -> String {
        text.replace(&self.token, "[redacted]")
    }
}

/// Bot API error descriptions that mean "no" rather than "not now".
fn is_refusal(description: &str) -> bool {
    [
        "Bad Request",
        "Forbidden",
        "Unauthorized",
        "Not Found",
        "Conflict",
    ]
    .iter()
    .any(|p| description.starts_with(p))
}

/// `text` cut to `max` UTF-16 code units, with a note when it was cut.
fn fit(text: &str, max: usize) -> String {
    if text.encode_utf16().count() <= max {
        return text.to_string();
    }
    const NOTE: &str = "\n… (cut: the full text is in the execution log)";
    let budget = max - NOTE.encode_utf16().count();
    let mut used = 0;
    let mut cut = String::new();
    for c in text.chars() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        cut.push(c);
    }
    cut + NOTE
}

/// Reads the owner's commands until the task is aborted, answering each one.
pub(super) async fn poll_forever(channels: Arc<Channels>) {
    let Some(telegram) = channels.telegram.as_ref() else {
        return;
    };
    let mut name: Option<String> = None;
    let mut offset: i32 = 0;
    let mut backoff = Duration::from_secs(1);
    loop {
        if name.is_none() {
            match telegram.bot.get_me().await {
                Ok(me) => name = Some(me.username().to_string()),
                Err(e) => {
                    let error = telegram.scrub(&e.to_string());
                    channels.set_health(ChannelKind::Telegram, "error", error);
                }
            }
        }
        let polled = telegram
            .bot
            .get_updates()
            .offset(offset)
            .timeout(POLL_SECS)
            .allowed_updates([AllowedUpdate::Message])
            .await;
        match polled {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                if let Some(name) = &name {
                    let detail = format!("polling for commands as @{name}");
                    channels.set_health(ChannelKind::Telegram, "ok", detail);
                }
                for update in updates {
                    offset = offset.max(update.id.0 as i32 + 1);
                    if let UpdateKind::Message(message) = update.kind {
                        answer(&channels, telegram, message).await;
                    }
                }
            }
            Err(RequestError::RetryAfter(wait)) => tokio::time::sleep(wait.duration()).await,
            Err(e) => {
                let error = telegram.scrub(&e.to_string());
                tracing::warn!(error = %error, "Telegram polling failed; trying again");
                channels.set_health(ChannelKind::Telegram, "error", error);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn answer(channels: &Channels, telegram: &Telegram, message: Message) {
    let Some(text) = message.text() else { return };
    let chat = &message.chat;
    let display_name = match (chat.username(), chat.title(), chat.first_name()) {
        (Some(user), _, _) => format!("@{user}"),
        (None, Some(title), _) => title.to_string(),
        (None, None, Some(first)) => first.to_string(),
        _ => chat.id.0.to_string(),
    };
    let incoming = Incoming {
        channel: ChannelKind::Telegram,
        chat_id: chat.id.0.to_string(),
        display_name,
        text: text.to_string(),
    };
    let chat_id = incoming.chat_id.clone();
    if let Some(reply) = channels.handle(incoming).await
        && let Err(e) = telegram.send(&chat_id, &reply).await
    {
        tracing::warn!(error = %e.message(), "could not answer a Telegram command");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_the_limit_with_a_note() {
        assert_eq!(fit("short", 4096), "short");
        // 'é' is one UTF-16 unit, '😀' two: the count is Telegram's, not bytes or chars.
        let long = "é😀".repeat(3000);
        let cut = fit(&long, MAX_MESSAGE);
        assert!(cut.encode_utf16().count() <= MAX_MESSAGE);
        assert!(cut.ends_with("(cut: the full text is in the execution log)"));
        assert!(cut.encode_utf16().count() > MAX_MESSAGE - 10);
    }

    #[test]
    fn refusals_are_told_from_outages() {
        assert!(is_refusal("Bad Request: chat not found"));
        assert!(is_refusal("Forbidden: bot was blocked by the user"));
        assert!(!is_refusal("Internal Server Error"));
        assert!(!is_refusal("Bad Gateway"));
    }
}
