//! The owner's channels (SPEC §9): a Telegram bot and a Slack app, the chats bound to the owner,
//! and the one "send to the owner" path that the `notify` action and the agent both use.
//!
//! A chat becomes the owner's only through a link code that crossed from the admin API to the
//! chat or back, so holding the bot's name is not enough to receive anything. Chats that are not
//! bound get nothing but how to link. This module talks to Telegram and Slack through their
//! clients; it never decides about retries (the queue does) and never reads the execution log
//! except for `/status`.

mod commands;
pub(crate) mod link;
pub mod slack;
mod telegram;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::clock::{Clock, Millis};
use crate::config::ChannelsConfig;
use crate::model::{Binding, BindingId, ChannelKind};
use crate::store::{Store, StoreError};

pub use commands::Incoming;
pub use link::{LinkError, Redeemer};

/// Why a message did not reach a chat.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Worth trying again (network, rate limit, the service's own failure).
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// The service refused for good (chat not found, bot blocked, bad token).
    Permanent { error: String },
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retry { error, .. } | SendError::Permanent { error } => error,
        }
    }
}

/// Why a channel's client could not be built; shown as the channel's status, the channel left
/// off.
#[derive(Debug, thiserror::Error)]
enum ClientError {
    /// The channel's config key (`telegram`, `slack`) and why its `apiUrl` does not parse.
    #[error("channels.{0}.apiUrl: {1}")]
    ApiUrl(&'static str, String),
    #[error("cannot build the Telegram client: {0}")]
    TelegramClient(reqwest::Error),
    #[error("cannot set up TLS for Slack: {0}")]
    SlackTls(rustls::Error),
}

/// One message's way to one of the owner's chats.
#[derive(Debug, Clone)]
pub struct OwnerDelivery {
    pub binding: Binding,
    /// When the send began (for the log) and how long it took.
    pub started_at: Millis,
    pub duration: Duration,
    /// The API's answer, or why it was not delivered.
    pub result: Result<Value, SendError>,
}

/// How a channel is doing, for `GET /api/channels`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelStatus {
    pub kind: ChannelKind,
    pub configured: bool,
    /// `ok`, `error`, `starting` or `not_configured`.
    pub status: &'static str,
    pub detail: String,
}

/// The owner's channels: clients, bindings and link codes.
pub struct Channels {
    telegram: Option<telegram::Telegram>,
    slack: Option<slack::Slack>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    codes: link::LinkCodes,
    health: Mutex<Vec<(ChannelKind, &'static str, String)>>,
}

impl Channels {
    /// The channels `config` configures. A channel whose client cannot be built (a malformed
    /// `apiUrl`) is reported in its status and left off.
    pub fn new(config: &ChannelsConfig, store: Arc<Store>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let mut health = Vec::new();
        let telegram = config
            .telegram()
            .and_then(|c| match telegram::Telegram::new(c) {
                Ok(t) => Some(t),
                Err(e) => {
                    health.push((ChannelKind::Telegram, "error", e.to_string()));
                    None
                }
            });
        let slack = config.slack().and_then(|c| match slack::Slack::new(c) {
            Ok(s) => Some(s),
            Err(e) => {
                health.push((ChannelKind::Slack, "error", e.to_string()));
                None
            }
        });
        for (kind, on) in [
            (ChannelKind::Telegram, telegram.is_some()),
            (ChannelKind::Slack, slack.is_some()),
        ] {
            if on {
                health.push((kind, "starting", "connecting".into()));
            }
        }
        Arc::new(Self {
            telegram,
            slack,
            codes: link::LinkCodes::new(&store),
            store,
            clock,
            health: Mutex::new(health),
        })
    }

    /// Starts what runs in the background: Telegram's long polling and a check of each token.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.telegram.is_some() {
            tasks.push(tokio::spawn(telegram::poll_forever(self.clone())));
        }
        if self.slack.is_some() {
            let me = self.clone();
            tasks.push(tokio::spawn(async move { slack::check_token(&me).await }));
        }
        tasks
    }

    /// Sends `text` to one bound chat.
    pub async fn send(&self, binding: &Binding, text: &str) -> Result<Value, SendError> {
        let not_configured = || SendError::Permanent {
            error: format!(
                "channel {} is not configured: set channels.{}.botToken",
                binding.channel, binding.channel
            ),
        };
        match binding.channel {
            ChannelKind::Telegram => {
                let telegram = self.telegram.as_ref().ok_or_else(not_configured)?;
                telegram.send(&binding.chat_id, text).await
            }
            ChannelKind::Slack => {
                let slack = self.slack.as_ref().ok_or_else(not_configured)?;
                slack.send(&binding.chat_id, text).await
            }
        }
    }

    /// Sends `text` to each of the owner's chats on `kinds` (every kind when empty), oldest
    /// binding first, except those whose id is in `skip`. The one path to the owner: the
    /// notify action and the agent both use it.
    pub async fn send_to_owner(
        &self,
        text: &str,
        kinds: &[ChannelKind],
        skip: &HashSet<String>,
    ) -> Result<Vec<OwnerDelivery>, StoreError> {
        let mut deliveries = Vec::new();
        for binding in self.owner_bindings(kinds)? {
            if skip.contains(&binding.id.0) {
                continue;
            }
            let (started_at, started) = (self.clock.now_ms(), Instant::now());
            let result = self.send(&binding, text).await;
            deliveries.push(OwnerDelivery {
                binding,
                started_at,
                duration: started.elapsed(),
                result,
            });
        }
        Ok(deliveries)
    }

    /// The owner's bindings on `kinds` (every kind when empty), oldest first.
    pub fn owner_bindings(&self, kinds: &[ChannelKind]) -> Result<Vec<Binding>, StoreError> {
        let mut bindings = self.store.bindings()?;
        bindings.retain(|b| b.verified && (kinds.is_empty() || kinds.contains(&b.channel)));
        Ok(bindings)
    }

    /// Each channel kind with whether it is configured and how it is doing.
    pub fn statuses(&self) -> Vec<ChannelStatus> {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        ChannelKind::ALL
            .iter()
            .map(|&kind| match health.iter().find(|(k, ..)| *k == kind) {
                Some((_, status, detail)) => ChannelStatus {
                    kind,
                    configured: true,
                    status,
                    detail: detail.clone(),
                },
                None => ChannelStatus {
                    kind,
                    configured: false,
                    status: "not_configured",
                    detail: match kind {
                        ChannelKind::Telegram => "set channels.telegram.botToken in the config",
                        ChannelKind::Slack => {
                            "set channels.slack.botToken and signingSecret in the config"
                        }
                    }
                    .into(),
                },
            })
            .collect()
    }

    fn set_health(&self, kind: ChannelKind, status: &'static str, detail: impl Into<String>) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.retain(|(k, ..)| *k != kind);
        health.push((kind, status, detail.into()));
    }

    /// A code for the owner to send to a bot as `/link CODE`, and when it expires.
    pub fn issue_code(&self) -> Result<(String, Millis), StoreError> {
        self.codes.issue(link::Origin::Api, self.clock.now_ms())
    }

    /// Redeems a code a bot gave (`POST /api/channels/link`): binds the chat that asked for it.
    pub async fn link_with_code(&self, code: &str) -> Result<Binding, LinkError> {
        let now = self.clock.now_ms();
        match self.codes.redeem(code, Redeemer::Api, now)? {
            link::Origin::Chat(chat) => self.bind(chat).await,
            link::Origin::Api => Err(LinkError::Invalid),
        }
    }

    /// Binds a chat, or returns its binding when it is already bound.
    async fn bind(&self, chat: link::Chat) -> Result<Binding, LinkError> {
        if let Some(existing) = self.store.binding_for_chat(chat.channel, &chat.chat_id)? {
            return Ok(existing);
        }
        let now = self.clock.now_ms();
        let binding = Binding {
            id: BindingId::new(now),
            channel: chat.channel,
            chat_id: chat.chat_id,
            display_name: chat.display_name,
            verified: true,
            created_at: now,
        };
        self.store.put_binding(&binding)?;
        self.store.sync().await?;
        tracing::info!(channel = %binding.channel, binding = %binding.id.0, "chat linked");
        Ok(binding)
    }

    /// Removes a binding; false when there was none.
    pub async fn unbind(&self, id: &BindingId) -> Result<bool, StoreError> {
        let removed = self.store.remove_binding(id)?;
        if removed {
            self.store.sync().await?;
            tracing::info!(binding = %id.0, "chat unlinked");
        }
        Ok(removed)
    }
}
