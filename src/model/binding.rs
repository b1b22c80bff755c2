//! A chat bound to the owner ([`Binding`]), as the store keeps it and the API shows it. How a
//! chat becomes bound, and sending to it, are `channels`'.

use serde::{Deserialize, Serialize};

use super::ChannelKind;
use crate::clock::Millis;

/// `bnd_` + a ULID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BindingId(pub String);

impl BindingId {
    pub fn new(now_ms: Millis) -> Self {
        Self(format!(
            "bnd_{}",
            ulid::Ulid::from_parts(now_ms, rand::random())
        ))
    }
}

/// A chat bound to the owner: notifications go there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub id: BindingId,
    pub channel: ChannelKind,
    /// Telegram's chat id, or Slack's channel id.
    pub chat_id: String,
    /// How the chat calls itself (`@alice`, `#alerts`), for people reading the list.
    pub display_name: String,
    /// Bound through a link code. Every stored binding is; the field is in the API for clarity.
    pub verified: bool,
    #[serde(with = "crate::execution::time")]
    pub created_at: Millis,
}
