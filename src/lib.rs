//! hookhub: a single-binary, self-hosted personal automation hub.
//!
//! Deliveries arrive at `POST /api/webhooks/:path` ([`ingress`]), are verified ([`verify`]),
//! written durably to the execution log ([`store`]) before the sender hears 202, and run by the
//! [`queue`]'s workers, which call one of the [`actions`]. Data flows one way:
//! ingress → verify → store → queue → action → store; a failed execution also goes from the
//! queue to [`alerts`], which tells the owner. [`run`] wires it all so a test can start
//! the whole hub on `127.0.0.1:0`. The [`web`] UI is a browser client of the same admin API.

mod actions;
mod alerts;
mod api;
mod app;
mod channels;
mod cli;
mod clock;
mod config;
mod error;
mod execution;
mod filter;
mod hooks;
mod ingress;
mod limit;
mod model;
mod outbound;
mod payload;
mod queue;
mod retention;
mod schedule;
mod serve;
mod state;
mod store;
mod telemetry;
mod template;
#[cfg(test)]
mod test_alloc;
mod token_reset;
mod verify;
mod web;

// The modules are private: what the binary, the integration tests (tests/it/) and the fuzz
// targets (fuzz/) use is re-exported here and nothing else, so the compiler reports code that
// nothing uses.

// Starting the hub: the binary's command line, and `run` with what a test passes it.
pub use app::{RunError, RunOptions, run, run_with};
pub use cli::main;
pub use clock::{Clock, ManualClock, SystemClock, parse_rfc3339};
pub use config::{Config, load_file, load_str, load_str_with_warnings};
pub use serve::{Limits, connections_that_fit};
pub use store::Store;
pub use token_reset::REQUEST as TOKEN_RESET_REQUEST;

// The pure parts the fuzz targets and the scheme tests call directly.
pub use execution::{RawBody, Trigger};
pub use model::{Secrets, TriggerConfig};
pub use payload::{body_of, label as payload_label, merge_query, read as read_payload};
pub use template::{render, render_shell, shell_quote};
pub use verify::{Delivery, Verifier, VerifyError, sign_headers, sign_headers_for};
