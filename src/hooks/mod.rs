//! Hooks: the model shared by the config file and the API, the live registry that ingress and
//! the workers read, the hot reload of the config file and its status, and which parts of a
//! hook are shown `[redacted]` ([`redact`]). This module decides which hooks exist; it never
//! runs one.

mod action;
mod config_status;
mod model;
pub mod redact;
mod registry;
pub mod reload;
mod response;

pub use action::{Action, ActionConfigError, AgentAction, ForwardAction, NotifyAction, ToolAction};
pub use model::*;
pub use redact::REDACTED;
pub use registry::{BuildError, LiveHook, RebuildError, Registry, Snapshot, Source};
pub use response::{DEFAULT_CONTENT_TYPE, ResponseConfig};
