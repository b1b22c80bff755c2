//! hookhub: a single-binary, self-hosted personal automation hub.
//!
//! Deliveries arrive at `POST /api/webhooks/:path` ([`ingress`]), are verified ([`verify`]),
//! written durably to the execution log ([`store`]) before the sender hears 202, and run by the
//! [`queue`]'s workers, which call one of the [`actions`]. Data flows one way:
//! ingress → verify → store → queue → action → store.

pub mod actions;
pub mod cli;
pub mod clock;
pub mod config;
pub mod execution;
pub mod hooks;
pub mod verify;
