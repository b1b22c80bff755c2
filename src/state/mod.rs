//! What every handler shares while the hub runs ([`AppState`]): the store, the live hooks, the
//! queue and the owner's channels below, and the hub's in-memory tables, each in a file here:
//! the admin token in force ([`admin`]), wrong admin tokens per client ([`attempts`]), the ring of
//! refused deliveries ([`rejections`]) and browser sessions ([`session`]). The last two live in
//! the store instead when it is shared by several hubs ([`crate::store::SharedTables`]). The
//! handlers (ingress, api, web) build on it; it knows none of them, and nothing here answers a
//! request.

pub mod admin;
pub mod attempts;
pub mod rejections;
pub mod session;

use std::ops::Deref;
use std::sync::Arc;

use crate::channels::Channels;
use crate::clock::Clock;
use crate::config::Config;
use crate::execution::Execution;
use crate::hooks::Registry;
use crate::hooks::reload::ConfigStatusCell;
use crate::limit::{ClientSlots, RateLimiter};
use crate::queue::Queue;
use crate::serve::Limits;
use crate::store::Store;
use admin::AdminTokenCell;
use attempts::AdminAttempts;
use rejections::Rejections;
use session::Sessions;

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

pub struct AppInner {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub queue: Arc<Queue>,
    pub clock: Arc<dyn Clock>,
    /// The admin token in force; `hookhub admin reset-token` replaces it while the hub runs.
    pub admin: AdminTokenCell,
    /// Wrong admin tokens per client address.
    pub attempts: AdminAttempts,
    /// The owner's Telegram and Slack, and the chats bound to them.
    pub channels: Arc<Channels>,
    /// Whether the config file as it is now is in force (`GET /api/config/status`).
    pub config_status: Arc<ConfigStatusCell>,
    /// Recently refused deliveries, across all paths.
    pub rejections: Rejections,
    /// Deliveries per client address.
    pub limiter: RateLimiter,
    /// Connections (and proxied requests) each client address holds open.
    pub client_slots: Arc<ClientSlots>,
    pub limits: Limits,
    /// Signed-in browsers.
    pub sessions: Sessions,
    /// Becomes true when the hub begins to stop, so long-lived answers (event streams) end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    pub fn new(inner: AppInner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppInner {
    /// The config file in force.
    pub fn config(&self) -> Arc<Config> {
        self.registry.snapshot().config.clone()
    }

    /// The URL senders post to for a webhook path.
    pub fn webhook_url(&self, path: &str) -> String {
        let base = crate::config::public_base_url(&self.config());
        format!("{}/api/webhooks/{path}", base.trim_end_matches('/'))
    }

    /// A new queued execution that runs `original`'s delivery again: its hook, trigger and
    /// what was read from it, with a fresh id and nothing of the original's runs.
    pub fn replay_of(&self, original: &Execution) -> Execution {
        let fresh = Execution::queued(
            &original.hook_id,
            original.trigger.clone(),
            self.clock.now_ms(),
        );
        Execution {
            label: original.label.clone(),
            event_type: original.event_type.clone(),
            delivery_id: original.delivery_id.clone(),
            lock_key: original.lock_key.clone(),
            test: original.test,
            replay_of: Some(original.id),
            ..fresh
        }
    }
}
