//! Hooks: the live registry that ingress and the workers read, each hook's trigger and action
//! typed once when the set is built, the hot reload of the config file and its status. The hook object
//! itself is `model`'s. This module decides which hooks exist; it never runs one.

mod action;
mod config_status;
mod registry;
pub mod reload;
mod trigger;

pub use action::{Action, ActionConfigError, AgentAction, ForwardAction, NotifyAction, ToolAction};
pub use registry::{BuildError, LiveHook, RebuildError, Registry, Snapshot, Source};
pub use trigger::Trigger;
