//! Hooks: the model shared by the config file and the API, and the live registry that ingress
//! and the workers read, and the hot reload of the config file. This module decides which hooks
//! exist; it never runs one.

mod model;
mod registry;
pub mod reload;

pub use model::*;
pub use registry::{LiveHook, Registry, Snapshot, Source};
