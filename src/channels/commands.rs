//! What the bots answer: `/link`, `/link CODE`, `/unlink`, `/status`, the same on Telegram and
//! Slack. A chat that is not bound learns how to link and nothing else.

use super::link::{Chat, LinkError, Origin, Redeemer};
use super::{ChannelKind, Channels};
use crate::clock::rfc3339;

/// A message to a bot.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub channel: ChannelKind,
    pub chat_id: String,
    pub display_name: String,
    /// The text as typed: `/link ABC123`, `/status`, or anything else.
    pub text: String,
}

const HOW_TO_LINK: &str = "This chat is not linked to hookhub. To link it, either send /link \
    here and enter the code you get on hookhub's Channels page, or make a code there and send \
    /link CODE here.";

const HELP: &str = "This chat receives hookhub notifications. Commands: /status (health and \
    recent failures), /unlink (stop notifications here).";

impl Channels {
    /// Answers a message, or `None` when it needs no answer (chatter in a linked chat).
    pub async fn handle(&self, incoming: Incoming) -> Option<String> {
        let (command, argument) = split_command(&incoming.text)?;
        let bound = match self
            .store
            .binding_for_chat(incoming.channel, &incoming.chat_id)
        {
            Ok(bound) => bound,
            Err(e) => {
                tracing::error!(error = %e, "could not read bindings");
                return Some("hookhub could not read its database; see the hub's log.".into());
            }
        };
        if command.is_empty() && bound.is_some() {
            return None;
        }
        Some(match (command.as_str(), argument, bound) {
            ("link", None, Some(_)) => "This chat is already linked.".into(),
            ("link", None, None) => self.offer_code(incoming),
            ("link", Some(code), _) => self.link_chat(incoming, &code).await,
            ("unlink", _, Some(binding)) => match self.unbind(&binding.id).await {
                Ok(_) => "Unlinked: this chat no longer receives notifications.".into(),
                Err(e) => {
                    tracing::error!(error = %e, "could not unlink");
                    "hookhub could not unlink this chat; see the hub's log.".into()
                }
            },
            ("status", _, Some(_)) => self.status_text(),
            (_, _, Some(_)) => HELP.into(),
            (_, _, None) => HOW_TO_LINK.into(),
        })
    }

    fn offer_code(&self, incoming: Incoming) -> String {
        let chat = Chat {
            channel: incoming.channel,
            chat_id: incoming.chat_id,
            display_name: incoming.display_name,
        };
        let code = match self.codes.issue(Origin::Chat(chat), self.clock.now_ms()) {
            Ok((code, _)) => code,
            Err(e) => {
                tracing::error!(error = %e, "could not store a link code");
                return "hookhub could not store a link code; see the hub's log.".into();
            }
        };
        format!(
            "Your link code is {code}. Enter it on hookhub's Channels page within 5 minutes to \
             receive notifications here."
        )
    }

    async fn link_chat(&self, incoming: Incoming, code: &str) -> String {
        let redeemer = Redeemer::Chat(incoming.channel, incoming.chat_id.clone());
        let linked = match self.codes.redeem(code, redeemer, self.clock.now_ms()) {
            Ok(Origin::Api) => {
                let chat = Chat {
                    channel: incoming.channel,
                    chat_id: incoming.chat_id,
                    display_name: incoming.display_name,
                };
                self.bind(chat).await
            }
            Ok(Origin::Chat(_)) => Err(LinkError::Invalid),
            Err(e) => Err(e),
        };
        match linked {
            Ok(_) => "Linked: this chat now receives hookhub notifications. Send /status to \
                      check the hub, /unlink to stop."
                .into(),
            Err(LinkError::Store(e)) => {
                tracing::error!(error = %e, "could not store a binding");
                "hookhub could not store the link; see the hub's log.".into()
            }
            Err(e) => format!("Not linked: {e}."),
        }
    }

    /// `/status`: the channels, how many executions are waiting, and the latest failures.
    fn status_text(&self) -> String {
        let mut text = format!("hookhub {} is running.\n", env!("CARGO_PKG_VERSION"));
        for status in self.statuses().iter().filter(|s| s.configured) {
            text.push_str(&format!(
                "{}: {} ({})\n",
                status.kind, status.status, status.detail
            ));
        }
        match self.store.pending_jobs() {
            Ok(jobs) => text.push_str(&format!("Waiting or retrying: {}\n", jobs.len())),
            Err(e) => tracing::warn!(error = %e, "could not count pending executions"),
        }
        match self.store.recent_failures(5, 2_000) {
            Ok(failed) if failed.is_empty() => text.push_str("No recent failures."),
            Ok(failed) => {
                text.push_str("Recent failures:");
                for e in failed {
                    let at = rfc3339(e.finished_at.unwrap_or(e.received_at));
                    let error = e.error.as_deref().unwrap_or("failed");
                    text.push_str(&format!("\n• {} {} at {at}: {error}", e.hook_id, e.id));
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read recent failures"),
        }
        text
    }
}

/// `/link@my_bot abc123` → (`link`, `Some("abc123")`); other text → an empty command; nothing
/// → `None`.
fn split_command(text: &str) -> Option<(String, Option<String>)> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Some((String::new(), None)).filter(|_| !text.is_empty());
    };
    let mut words = rest.split_whitespace();
    let head = words.next().unwrap_or_default();
    let command = head
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let argument = words.next().map(str::to_string);
    Some((command, argument))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_with_or_without_the_bot_name() {
        let parsed = |t: &str| split_command(t);
        assert_eq!(parsed("/link"), Some(("link".into(), None)));
        assert_eq!(
            parsed(" /link@my_bot  ab12cd "),
            Some(("link".into(), Some("ab12cd".into())))
        );
        assert_eq!(parsed("/STATUS"), Some(("status".into(), None)));
        assert_eq!(parsed("hello"), Some((String::new(), None)));
        assert_eq!(parsed("   "), None);
    }
}
