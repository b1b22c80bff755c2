//! The hook object of SPEC §3 and the records shared below the API: one shape for the YAML
//! file, the admin API, the UI and the store. [`Hook`] with its trigger and action settings and
//! their secrets, the `alerts:` block, the cron pattern parsed ([`CronSchedule`]), which parts
//! of a hook are shown `[redacted]` ([`redact`]), and the records the store keeps for `alerts`
//! ([`HookAlerts`]) and `channels` ([`Binding`]).
//!
//! Everything else imports this module; it imports only `clock` and `execution`'s ids and time
//! format, never the config file, the live hook set, the store or a running part, so the rest can
//! depend on it without going in a circle. It holds shapes and pure checks; it never runs a hook.

mod alerts;
mod binding;
mod cron;
pub mod duration;
mod hook;
pub mod redact;
mod response;
mod secrets;

pub use alerts::{Alert, AlertsConfig, HookAlerts};
pub use binding::{Binding, BindingId};
pub use cron::{CronError, CronSchedule, trigger_problems};
pub use hook::{ActionConfig, ActionKind, ChannelKind, Hook, SignMode, TriggerConfig, TriggerKind};
pub use redact::REDACTED;
pub use response::{DEFAULT_CONTENT_TYPE, ResponseConfig};
pub use secrets::{RetiringSecret, Secrets, TOKEN_SCHEMES, hash_token, stored_digest};
