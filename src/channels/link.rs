//! Link codes: six characters, single use, five minutes. A code made by the admin API is
//! redeemed by a chat (`/link CODE`); a code a bot gave a chat is redeemed in the admin API. A
//! code never works from the side that made it, so each link proves both ends.
//!
//! A lone hub (sled) keeps codes in memory: a restart simply asks the owner for a new one.
//! Redeeming compares the presented code with every live code in constant time, and each
//! redeemer may try only a few times a minute (with a cap over all chats together), so guessing
//! is hopeless. Hubs sharing a PostgreSQL database keep the codes there
//! ([`crate::store::SharedTables`], as keyed hashes), so a code made through one hub is
//! redeemed through whichever hub the chat's message or the owner's request reaches; the tries
//! are still counted per hub, like every other rate limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::model::ChannelKind;
use crate::store::{NewLinkCode, Shared, Store, StoreError};

/// Characters of a code: no 0/O or 1/I/L to misread.
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 6;
/// How long a code stays valid.
pub const CODE_TTL_MS: Millis = 5 * 60 * 1000;
/// Redemption tries allowed per redeemer per minute, and over all chats together.
const TRIES_PER_MINUTE: usize = 5;
const ALL_CHATS_TRIES_PER_MINUTE: usize = 30;
/// Live codes kept at most; the oldest goes first, so a chat spamming `/link` cannot grow memory.
const MAX_LIVE_CODES: usize = 32;

/// A chat asking to be bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chat {
    pub channel: ChannelKind,
    pub chat_id: String,
    pub display_name: String,
}

/// Where a code was made.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// By the admin API, to be sent from a chat.
    Api,
    /// By a bot for this chat, to be entered in the admin API.
    Chat(Chat),
}

/// Who presents a code.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemer {
    Api,
    Chat(ChannelKind, String),
}

impl Redeemer {
    fn key(&self) -> String {
        match self {
            Redeemer::Api => "api".into(),
            Redeemer::Chat(kind, chat) => format!("{kind}:{chat}"),
        }
    }
}

/// Why a code did not link.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the code is unknown, expired or already used; ask for a new one")]
    Invalid,
    #[error("too many link attempts; wait a minute and try again")]
    TooManyTries,
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Code {
    code: String,
    origin: Origin,
    expires_at: Millis,
}

#[derive(Default)]
struct Inner {
    codes: Vec<Code>,
    /// Recent tries per redeemer key, and over all chats under `*chats`.
    tries: HashMap<String, Vec<Millis>>,
}

/// The live codes: in memory, or in the store when it shares them with other hubs.
#[derive(Default)]
pub struct LinkCodes {
    inner: Mutex<Inner>,
    /// Set when the store has [`crate::store::SharedTables`]; they then hold the codes.
    shared: Shared,
}

impl LinkCodes {
    /// The codes of a hub on `store`: in its shared tables when it has them.
    pub fn new(store: &Arc<Store>) -> Self {
        Self {
            inner: Mutex::default(),
            shared: Shared::new(store),
        }
    }

    /// A new code for `origin`, and when it expires. A chat asking again replaces its old code.
    /// Fails only when a shared database does.
    pub fn issue(&self, origin: Origin, now: Millis) -> Result<(String, Millis), StoreError> {
        let mut rng = rand::rng();
        let code: String = (0..CODE_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let expires_at = now + CODE_TTL_MS;
        if let Some(tables) = self.shared.tables() {
            let (chat, made_by) = match &origin {
                Origin::Api => (None, None),
                Origin::Chat(chat) => (
                    Some(format!("{}:{}", chat.channel, chat.chat_id)),
                    Some(chat),
                ),
            };
            let new = NewLinkCode {
                code: &code,
                chat: chat.as_deref(),
                origin: serde_json::to_vec(&made_by)?,
                expires_at,
                max_live: MAX_LIVE_CODES,
            };
            tables.issue_link_code(new, now)?;
            return Ok((code, expires_at));
        }
        let mut inner = self.lock();
        inner
            .codes
            .retain(|c| c.expires_at > now && (origin == Origin::Api || c.origin != origin));
        if inner.codes.len() >= MAX_LIVE_CODES {
            inner.codes.remove(0);
        }
        inner.codes.push(Code {
            code: code.clone(),
            origin,
            expires_at,
        });
        Ok((code, expires_at))
    }

    /// Uses up the code `presented` if it is live and was made on the other side from
    /// `redeemer`; returns where it was made.
    pub fn redeem(
        &self,
        presented: &str,
        redeemer: Redeemer,
        now: Millis,
    ) -> Result<Origin, LinkError> {
        self.count_try(&redeemer, now)?;
        let presented = presented.trim().to_ascii_uppercase();
        if let Some(tables) = self.shared.tables() {
            let made_in_chat = redeemer == Redeemer::Api;
            let origin = tables
                .redeem_link_code(&presented, made_in_chat, now)?
                .ok_or(LinkError::Invalid)?;
            let made_by: Option<Chat> =
                serde_json::from_slice(&origin).map_err(StoreError::from)?;
            return Ok(made_by.map_or(Origin::Api, Origin::Chat));
        }
        let mut inner = self.lock();
        inner.codes.retain(|c| c.expires_at > now);
        // Every live code is compared, whether or not an earlier one matched, so the time taken
        // says nothing about how close a guess was.
        let mut found = None;
        for (i, code) in inner.codes.iter().enumerate() {
            let same = crate::verify::constant_time_eq(code.code.as_bytes(), presented.as_bytes());
            let other_side = matches!(
                (&code.origin, &redeemer),
                (Origin::Api, Redeemer::Chat(..)) | (Origin::Chat(_), Redeemer::Api)
            );
            if same && other_side {
                found = Some(i);
            }
        }
        let i = found.ok_or(LinkError::Invalid)?;
        Ok(inner.codes.remove(i).origin)
    }

    /// Counts a try by `redeemer`, refused when it (or all chats together) tried too often in
    /// the last minute.
    fn count_try(&self, redeemer: &Redeemer, now: Millis) -> Result<(), LinkError> {
        let mut inner = self.lock();
        let minute_ago = now.saturating_sub(60_000);
        let mut keys = vec![redeemer.key()];
        if matches!(redeemer, Redeemer::Chat(..)) {
            keys.push("*chats".into());
        }
        for key in &keys {
            let limit = if key == "*chats" {
                ALL_CHATS_TRIES_PER_MINUTE
            } else {
                TRIES_PER_MINUTE
            };
            let tries = inner.tries.entry(key.clone()).or_default();
            tries.retain(|&t| t > minute_ago);
            if tries.len() >= limit {
                return Err(LinkError::TooManyTries);
            }
        }
        for key in keys {
            inner.tries.entry(key).or_default().push(now);
        }
        inner
            .tries
            .retain(|_, tries| tries.iter().any(|&t| t > minute_ago));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(id: &str) -> Origin {
        Origin::Chat(Chat {
            channel: ChannelKind::Telegram,
            chat_id: id.into(),
            display_name: "@owner".into(),
        })
    }

    fn from_chat(id: &str) -> Redeemer {
        Redeemer::Chat(ChannelKind::Telegram, id.into())
    }

    #[test]
    fn codes_are_six_unambiguous_characters() {
        let codes = LinkCodes::default();
        let (code, expires) = codes.issue(Origin::Api, 1_000).unwrap();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert_eq!(expires, 1_000 + CODE_TTL_MS);
    }

    #[test]
    fn a_code_works_once_and_only_from_the_other_side() {
        let codes = LinkCodes::default();
        let (api_code, _) = codes.issue(Origin::Api, 0).unwrap();
        assert!(matches!(
            codes.redeem(&api_code, Redeemer::Api, 1),
            Err(LinkError::Invalid)
        ));
        let lower = api_code.to_ascii_lowercase();
        assert_eq!(
            codes.redeem(&lower, from_chat("1"), 2).unwrap(),
            Origin::Api
        );
        assert!(matches!(
            codes.redeem(&api_code, from_chat("1"), 3),
            Err(LinkError::Invalid)
        ));

        let (chat_code, _) = codes.issue(chat("7"), 10).unwrap();
        assert!(codes.redeem(&chat_code, from_chat("7"), 11).is_err());
        assert_eq!(
            codes.redeem(&chat_code, Redeemer::Api, 12).unwrap(),
            chat("7")
        );
    }

    #[test]
    fn a_code_expires_after_five_minutes() {
        let codes = LinkCodes::default();
        let (code, expires) = codes.issue(Origin::Api, 0).unwrap();
        assert!(matches!(
            codes.redeem(&code, from_chat("1"), expires),
            Err(LinkError::Invalid)
        ));
    }

    #[test]
    fn a_chat_asking_again_replaces_its_code() {
        let codes = LinkCodes::default();
        let (first, _) = codes.issue(chat("7"), 0).unwrap();
        let (second, _) = codes.issue(chat("7"), 1).unwrap();
        assert!(codes.redeem(&first, Redeemer::Api, 2).is_err() || first == second);
        assert_eq!(codes.redeem(&second, Redeemer::Api, 3).unwrap(), chat("7"));
    }

    #[test]
    fn tries_are_limited_per_redeemer_and_over_all_chats() {
        let codes = LinkCodes::default();
        let t0 = 1_000_000;
        let (code, _) = codes.issue(Origin::Api, t0).unwrap();
        for i in 0..TRIES_PER_MINUTE {
            assert!(matches!(
                codes.redeem("WRONG1", from_chat("1"), t0 + i as u64),
                Err(LinkError::Invalid)
            ));
        }
        // The right code is refused too until the minute has passed.
        assert!(matches!(
            codes.redeem(&code, from_chat("1"), t0 + 100),
            Err(LinkError::TooManyTries)
        ));
        assert_eq!(
            codes.redeem(&code, from_chat("1"), t0 + 60_100).unwrap(),
            Origin::Api
        );

        // Many chats, a few tries each, still meet the shared cap.
        let refused = (0..ALL_CHATS_TRIES_PER_MINUTE + 5)
            .filter(|i| {
                let chat = from_chat(&format!("c{i}"));
                matches!(
                    codes.redeem("WRONG1", chat, t0 + 200_000),
                    Err(LinkError::TooManyTries)
                )
            })
            .count();
        assert_eq!(refused, 5);
    }
}
