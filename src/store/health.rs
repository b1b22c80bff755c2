//! Whether the data dir's disk takes writes now (SPEC §11 "A full disk is a bad hour").
//!
//! The journal thread, the log's writers and checkpoints and sled's flushes report the first
//! write that fails; from
//! then on the store refuses writes (a delivery gets 503 instead of a promise nobody can keep)
//! until the recovery loop finds the disk writable again and reopens the database
//! ([`super::Storage::recover`]). Readers of the state — ingress on every delivery — read one
//! atomic; watchers (the owner's alert, `/healthz`) wait on a channel.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tokio::sync::watch;

use crate::clock::{Clock as _, Millis};

/// Why the disk does not take writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No space left (or the owner's quota is used up).
    Full,
    /// The filesystem was remounted read-only, or the data dir lost its write permission.
    ReadOnly,
    /// Any other IO error.
    Failing,
}

impl Failure {
    /// What an IO error says about the disk.
    pub fn of(error: &io::Error) -> Self {
        match error.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => Failure::Full,
            Some(libc::EROFS | libc::EACCES | libc::EPERM) => Failure::ReadOnly,
            _ => Failure::Failing,
        }
    }

    /// The error code a refused request is answered with.
    pub fn code(self) -> &'static str {
        match self {
            Failure::Full => "storage_full",
            Failure::ReadOnly => "storage_read_only",
            Failure::Failing => "storage_unavailable",
        }
    }

    /// What to tell a sender or the owner.
    pub fn message(self) -> &'static str {
        match self {
            Failure::Full => "the hub's disk is full; nothing was recorded, try again later",
            Failure::ReadOnly => {
                "the hub's data directory is read-only; nothing was recorded, try again later"
            }
            Failure::Failing => {
                "the hub cannot write to its disk; nothing was recorded, try again later"
            }
        }
    }
}

/// The storage's state as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageState {
    /// `ok`, or why writes are refused.
    pub state: &'static str,
    /// When writes began to be refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The error that stopped them, for the owner (never a secret: paths and OS errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How many times the store has recovered since the hub started.
    pub recoveries: u64,
}

#[derive(Debug, Clone, Default)]
struct State {
    failure: Option<(Failure, Millis, String)>,
    recoveries: u64,
}

/// The store's health, shared by everything that writes to disk.
#[derive(Debug)]
pub struct Health {
    ok: AtomicBool,
    state: watch::Sender<State>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            ok: AtomicBool::new(true),
            state: watch::Sender::new(State::default()),
        }
    }
}

impl Health {
    /// `None` while the disk takes writes; the failure otherwise. One atomic load when healthy.
    pub fn failure(&self) -> Option<Failure> {
        if self.ok.load(Ordering::Acquire) {
            return None;
        }
        self.state.borrow().failure.as_ref().map(|(f, ..)| *f)
    }

    /// Records that a write failed with `error`; the first failure of an episode is kept and
    /// logged once.
    pub fn failed(&self, error: &io::Error) {
        let now = crate::clock::SystemClock.now_ms();
        let failure = Failure::of(error);
        // The flag changes under the channel's lock, before watchers are woken: one woken by
        // this failure finds it when it looks (or it would wait for a change that has already
        // happened), and a recovery racing it cannot leave the flag saying "ok".
        let first = self.state.send_if_modified(|state| {
            self.ok.store(false, Ordering::Release);
            if state.failure.is_some() {
                return false;
            }
            state.failure = Some((failure, now, error.to_string()));
            true
        });
        if first {
            tracing::error!(
                error = %error,
                code = failure.code(),
                "the data dir refuses writes: deliveries are answered 503 until it takes them again"
            );
        }
    }

    /// The disk takes writes again and the store has been reopened.
    pub(super) fn recovered(&self) {
        self.state.send_modify(|state| {
            state.failure = None;
            state.recoveries += 1;
            self.ok.store(true, Ordering::Release);
        });
        tracing::info!(
            "the data dir takes writes again; the store was reopened and deliveries are accepted"
        );
    }

    /// The state for `/healthz`, `/api/config/status` and the UI.
    pub fn state(&self) -> StorageState {
        let state = self.state.borrow();
        match &state.failure {
            None => StorageState {
                state: "ok",
                since: None,
                detail: None,
                recoveries: state.recoveries,
            },
            Some((failure, since, detail)) => StorageState {
                state: failure.code().trim_start_matches("storage_"),
                since: Some(crate::clock::rfc3339(*since)),
                detail: Some(detail.clone()),
                recoveries: state.recoveries,
            },
        }
    }

    /// Sees every change of state from now on.
    pub fn subscribe(&self) -> HealthWatch {
        HealthWatch(self.state.subscribe())
    }

    /// Waits until the disk takes writes.
    pub async fn writable(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| s.failure.is_none()).await;
    }
}

/// The file [`probe`] writes in the data dir.
const PROBE_FILE: &str = "probe.tmp";
/// What a probe writes: enough that a disk with only a few blocks free still fails it.
const PROBE_BYTES: usize = 1024 * 1024;

/// Whether the data dir takes a write now: a file of [`PROBE_BYTES`] written, synced and
/// removed.
pub(super) fn probe(dir: &std::path::Path) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(PROBE_FILE);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(super::private::FILE_MODE)
        .open(&path)
        .and_then(|mut file| {
            file.write_all(&vec![0; PROBE_BYTES])?;
            file.sync_all()
        });
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}

/// Wakes when the storage's state changes.
#[derive(Debug)]
pub struct HealthWatch(watch::Receiver<State>);

impl HealthWatch {
    /// Waits for the next change; false once the store is gone.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_of_an_episode_is_kept_until_recovery() {
        let health = Health::default();
        assert_eq!(health.failure(), None);
        assert_eq!(health.state().state, "ok");
        health.failed(&io::Error::from_raw_os_error(libc::ENOSPC));
        health.failed(&io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(health.failure(), Some(Failure::Full));
        let state = health.state();
        assert_eq!(state.state, "full");
        assert!(state.detail.unwrap().contains("No space left"));
        health.recovered();
        assert_eq!(health.failure(), None);
        assert_eq!(health.state().recoveries, 1);
        health.failed(&io::Error::from_raw_os_error(libc::EROFS));
        assert_eq!(
            health.failure().map(Failure::code),
            Some("storage_read_only")
        );
    }
}
