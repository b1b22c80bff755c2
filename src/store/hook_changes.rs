//! The API hooks another hub changed, on a database several hubs share: PostgreSQL tells every
//! hub the id of each API hook written or deleted (`listen.rs`), and the live hook set takes
//! them up ([`crate::hooks::Registry::follow`]), so a hook made, edited or deleted through any
//! hub is in force on all of them.
//!
//! Ids wait here until taken, each once however often it changed meanwhile. Past
//! [`MAX_WAITING`] of them, or when the hub may have missed some (its listening connection
//! was made again), they give way to one "everything may have changed".

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// The most ids kept waiting; past it, the whole set is read again.
const MAX_WAITING: usize = 256;

/// What changed since it was last taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookChange {
    /// These API hooks (written or deleted).
    These(Vec<String>),
    /// Any of them may have: read them all again.
    All,
}

#[derive(Debug, Default)]
struct Waiting {
    ids: BTreeSet<String>,
    all: bool,
}

/// Changes told by the database, waiting for the hook set to take them.
#[derive(Debug, Default)]
pub struct HookChanges {
    waiting: Mutex<Waiting>,
    arrived: Notify,
}

impl HookChanges {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The API hook `id` was written or deleted.
    pub(super) fn one(&self, id: &str) {
        {
            let mut waiting = self.waiting();
            if !waiting.all {
                waiting.ids.insert(id.to_string());
                if waiting.ids.len() > MAX_WAITING {
                    waiting.all = true;
                    waiting.ids.clear();
                }
            }
        }
        self.arrived.notify_one();
    }

    /// Any API hook may have changed.
    pub(super) fn all(&self) {
        {
            let mut waiting = self.waiting();
            waiting.all = true;
            waiting.ids.clear();
        }
        self.arrived.notify_one();
    }

    /// Waits for changes, and takes every one told so far.
    pub async fn next(&self) -> HookChange {
        loop {
            {
                let mut waiting = self.waiting();
                if std::mem::take(&mut waiting.all) {
                    return HookChange::All;
                }
                if !waiting.ids.is_empty() {
                    let ids = std::mem::take(&mut waiting.ids);
                    return HookChange::These(ids.into_iter().collect());
                }
            }
            // A change told since the look above left a permit: this returns at once.
            self.arrived.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_are_taken_once_each_and_too_many_become_all() {
        let changes = HookChanges::default();
        changes.one("b");
        changes.one("a");
        changes.one("b");
        assert_eq!(
            changes.next().await,
            HookChange::These(vec!["a".into(), "b".into()])
        );

        // Nothing waiting: `next` waits for the next change.
        let waiter =
            async { tokio::time::timeout(std::time::Duration::from_secs(5), changes.next()).await };
        let (taken, ()) = tokio::join!(waiter, async {
            tokio::task::yield_now().await;
            changes.one("c");
        });
        assert_eq!(taken.unwrap(), HookChange::These(vec!["c".into()]));

        for n in 0..=MAX_WAITING {
            changes.one(&format!("hook-{n}"));
        }
        assert_eq!(changes.next().await, HookChange::All);
        changes.one("d");
        changes.all();
        changes.one("e");
        assert_eq!(changes.next().await, HookChange::All);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), changes.next())
                .await
                .is_err(),
            "nothing left waiting"
        );
    }
}
