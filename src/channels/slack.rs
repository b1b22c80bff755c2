//! Slack through slack-morphism: `chat.postMessage` with the bot token, `auth.test` to show the
//! token works, and the signature check of slash commands.
//!
//! `<`, `>` and `&` are escaped as Slack asks, so webhook content cannot turn into mentions or
//! links. The client is built on a hyper-rustls connector with the webpki roots, so it needs no
//! CA store on the host and can reach an `http://` test double or proxy.

use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::{Channels, SendError};
use crate::clock::Millis;
use crate::config::SlackConfig;
use crate::model::ChannelKind;
use crate::verify::{Delivery, Scheme, SlackScheme, VerifyError};

/// Slack truncates `text` past 40 000 characters; stay under it with room for the note.
const MAX_TEXT: usize = 39_000;
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

type Connector = SlackClientHyperConnector<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

pub(super) struct Slack {
    client: SlackClient<Connector>,
    token: SlackApiToken,
    signing_secret: String,
}

impl Slack {
    pub(super) fn new(config: &SlackConfig) -> Result<Self, super::ClientError> {
        reqwest::Url::parse(&config.api_url)
            .map_err(|e| super::ClientError::ApiUrl("slack", e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(super::ClientError::SlackTls)?
            .https_or_http()
            .enable_http1()
            .build();
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(config.api_url.trim_end_matches('/'));
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue(config.bot_token.clone())),
            signing_secret: config.signing_secret.clone(),
        })
    }

    /// Posts `text` to a channel (or a user's DM, by user id).
    pub(super) async fn send(&self, channel: &str, text: &str) -> Result<Value, SendError> {
        let content = SlackMessageContent::new().with_text(escape(&fit(text)));
        let request = SlackApiChatPostMessageRequest::new(channel.into(), content);
        let session = self.client.open_session(&self.token);
        match tokio::time::timeout(CALL_TIMEOUT, session.chat_post_message(&request)).await {
            Err(_) => Err(SendError::Retry {
                error: format!("Slack did not answer within {} s", CALL_TIMEOUT.as_secs()),
                retry_after: None,
            }),
            Ok(Ok(posted)) => Ok(json!({ "channel": posted.channel.0, "ts": posted.ts.0 })),
            Ok(Err(e)) => Err(classify(e)),
        }
    }

    /// Checks a slash command's `X-Slack-Signature` (v0 HMAC, five minutes' tolerance).
    pub(super) fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_ms: Millis,
    ) -> Result<(), VerifyError> {
        if self.signing_secret.is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let delivery = Delivery {
            headers,
            body,
            now_ms,
        };
        SlackScheme.verify(&delivery, &self.signing_secret)
    }
}

/// What a failed call means: Slack's own refusals are final, outages and limits are not.
fn classify(error: SlackClientError) -> SendError {
    let text = error.to_string();
    match error {
        SlackClientError::RateLimitError(limit) => SendError::Retry {
            error: format!("Slack rate limit: {text}"),
            retry_after: limit.retry_after,
        },
        SlackClientError::ApiError(api) => {
            let transient = [
                "internal_error",
                "fatal_error",
                "service_unavailable",
                "request_timeout",
                "ratelimited",
            ];
            let error = format!("Slack answered `{}`", api.code);
            if transient.contains(&api.code.as_str()) {
                SendError::Retry {
                    error,
                    retry_after: None,
                }
            } else {
                SendError::Permanent { error }
            }
        }
        SlackClientError::HttpError(http) => {
            let status = http.status_code;
            let error = format!("Slack answered HTTP {status}");
            if status.is_server_error() || status.as_u16() == 408 {
                SendError::Retry {
                    error,
                    retry_after: None,
                }
            } else {
                SendError::Permanent { error }
            }
        }
        _ => SendError::Retry {
            error: format!("could not reach Slack: {text}"),
            retry_after: None,
        },
    }
}

/// Slack's three control characters, escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fit(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_TEXT).collect();
    cut + "\n… (cut: the full text is in the execution log)"
}

/// Asks Slack who the token belongs to, so the channel's status says whether it works.
pub(super) async fn check_token(channels: &Channels) {
    let Some(slack) = channels.slack.as_ref() else {
        return;
    };
    let session = slack.client.open_session(&slack.token);
    let (status, detail) = match tokio::time::timeout(CALL_TIMEOUT, session.auth_test()).await {
        Ok(Ok(me)) => (
            "ok",
            format!(
                "signed in as {} in {}",
                me.user.unwrap_or_else(|| me.user_id.0.clone()),
                me.team
            ),
        ),
        Ok(Err(e)) => ("error", classify(e).message().to_string()),
        Err(_) => ("error", "Slack did not answer auth.test".to_string()),
    };
    if status == "error" {
        tracing::warn!(detail = %detail, "the Slack token does not work");
    }
    channels.set_health(ChannelKind::Slack, status, detail);
}

impl Channels {
    /// Checks a Slack slash command's signature; `Err(None)` when Slack is not configured.
    pub fn verify_slack_command(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), Option<VerifyError>> {
        let slack = self.slack.as_ref().ok_or(None)?;
        slack
            .verify(headers, body, self.clock.now_ms())
            .map_err(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape("<!channel> & <https://x|click>"),
            "&lt;!channel&gt; &amp; &lt;https://x|click&gt;"
        );
    }
}
