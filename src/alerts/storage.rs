//! Telling the owner that the data dir stopped taking writes, and when it takes them again
//! (SPEC §11 "A full disk is a bad hour"): one message each way per episode, however many
//! deliveries are refused meanwhile. They go where the config's top-level `alerts` sends
//! failures, when that block is written with `onFailure` on. Nothing here is written to the
//! store, which cannot take it while the episode lasts; a restart in the middle of one sends
//! its first message again.

use std::collections::HashSet;
use std::sync::Arc;

use crate::channels::Channels;
use crate::clock::{Clock, Millis};
use crate::hooks::Registry;
use crate::store::Store;

/// What the storage alerts need.
pub struct StorageAlertDeps {
    pub store: Arc<Store>,
    pub registry: Arc<Registry>,
    pub channels: Arc<Channels>,
    pub clock: Arc<dyn Clock>,
}

/// Starts the task that watches the store's health and tells the owner of each change.
pub fn spawn(deps: StorageAlertDeps) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { watch(deps).await })
}

async fn watch(deps: StorageAlertDeps) {
    let mut changes = deps.store.health().subscribe();
    let mut down_since: Option<Millis> = None;
    loop {
        let state = deps.store.health().state();
        let text = match (deps.store.health().failure(), down_since) {
            (Some(failure), None) => {
                down_since = Some(deps.clock.now_ms());
                Some(format!(
                    "hookhub: the data dir refuses writes ({}). Deliveries are answered 503 {} \
                     until it takes them again; nothing refused is recorded, and senders retry.\n{}",
                    state.state,
                    failure.code(),
                    state.detail.unwrap_or_default()
                ))
            }
            (None, Some(since)) => {
                down_since = None;
                let minutes = deps.clock.now_ms().saturating_sub(since).div_ceil(60_000);
                Some(format!(
                    "hookhub: the data dir takes writes again; deliveries are accepted. It \
                     refused them for about {minutes} min."
                ))
            }
            _ => None,
        };
        if let Some(text) = text {
            tell(&deps, &text).await;
        }
        if !changes.changed().await {
            return;
        }
    }
}

/// Sends `text` on the top-level alerts' channels, if alerts are on.
async fn tell(deps: &StorageAlertDeps, text: &str) {
    let snapshot = deps.registry.snapshot();
    let Some(policy) = snapshot.config.alerts_for(None).filter(|p| p.on_failure) else {
        return;
    };
    match deps
        .channels
        .send_to_owner(text, &policy.channels, &HashSet::new())
        .await
    {
        Ok(deliveries) if deliveries.iter().any(|d| d.result.is_ok()) => {
            tracing::info!("owner told of the data dir's state");
        }
        Ok(_) => tracing::warn!("no chat of the owner took the storage alert"),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the owner's chats for a storage alert")
        }
    }
}
