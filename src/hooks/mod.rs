//! Hooks: the model shared by the config file and the API, and the live registry.

mod model;

pub use model::*;
