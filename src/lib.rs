//! hookhub: a single-binary, self-hosted personal automation hub.
//!
//! Deliveries arrive at `POST /api/webhooks/:path` ([`ingress`]), are verified ([`verify`]),
//! written durably to the execution log ([`store`]) before the sender hears 202, and run by the
//! [`queue`]'s workers, which call one of the [`actions`]. Data flows one way:
//! ingress → verify → store → queue → action → store; a failed execution also goes from the
//! queue to [`alerts`], which tells the owner. [`run`] wires it all so a test can start
//! the whole hub on `127.0.0.1:0`. The [`web`] UI is a browser client of the same admin API.

pub mod actions;
pub mod alerts;
pub mod api;
pub mod app;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod execution;
pub mod filter;
pub mod hooks;
pub mod ingress;
pub mod limit;
pub mod outbound;
pub mod payload;
pub mod queue;
pub mod schedule;
pub mod serve;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod template;
pub mod token_reset;
pub mod verify;
pub mod web;

pub use app::{RunError, RunOptions, run, run_with};
