//! hookhub's integration tests, as one test binary: each file here was a binary of its own and is
//! now a module, so the crate is linked once, and the compiler sees every use of the shared
//! harness in [`common`] (an unused helper is a warning, not something to allow). Every test
//! starts the real hub on `127.0.0.1:0` (or runs the real binary) and drives it over HTTP.
//!
//! `cargo test --test it` runs them all; `cargo test --test it <filter>` picks by the test's path,
//! `<file>::<test>` (`cargo test --test it retries::` runs what was `--test retries`).

mod common;

mod admin_token;
mod agent;
mod alerts;
mod answers;
mod api;
mod channels;
mod cli_send;
mod cli_sign;
mod config_errors;
mod crash;
mod delivery_rules;
mod disk_full;
mod exposed;
mod first_run;
mod hook_yaml;
mod hostile;
mod ingress;
mod limits;
mod migrate;
mod multi_hub;
mod network_caps;
mod observability;
mod owner_view;
mod postgres_infra;
mod recipes;
mod rejections;
mod reload;
mod retention;
mod retries;
mod schedule;
mod schemes;
mod secrets;
mod secrets_redacted;
mod tool_safety;
mod web;
