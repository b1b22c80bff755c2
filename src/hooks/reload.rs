//! Hot reload of the config file: watched through its directory (so a file replaced by rename,
//! as vim, `git checkout` or a Kubernetes symlink swap do, is still seen), re-checked every few
//! seconds (for bind mounts, whose writes the directory never hears of), and on SIGHUP.
//!
//! A valid change swaps the whole hook set at once; an invalid one is refused and recorded in
//! [`ConfigStatus`], and the hooks in force stay live. The reloader also notices when a file
//! that would be preferred at the next start appears (`./hooks.yaml` while the example is in
//! use) and says a restart is needed. This module never serves a request and never puts a
//! secret in a log line or the status.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Registry;
pub use super::config_status::ConfigStatusCell;
use crate::clock::{Clock, Millis};
use crate::config::{Config, ConfigError, ConfigIssue};
use crate::store::Store;

/// How long the directory must be quiet before the file is read: editors write in steps.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// How often the file is read anyway, for changes no event reports.
const POLL: Duration = Duration::from_secs(5);

/// Settings read once at start; a change to them waits for a restart.
#[derive(Debug, Clone, PartialEq)]
struct RestartOnly {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    workers: usize,
    retention: crate::config::RetentionConfig,
    /// The bots are connected once, at start.
    channels: crate::config::ChannelsConfig,
}

impl RestartOnly {
    fn of(config: &Config) -> Self {
        Self {
            listen: config.server.listen.clone(),
            data_dir: config.server.data_dir.clone(),
            admin_token: config.admin.token.clone(),
            workers: config.server.workers,
            retention: config.server.retention.clone(),
            channels: config.channels.clone(),
        }
    }

    /// Names of the settings that differ; never their values (the token is a secret).
    fn changed(&self, other: &Self) -> Vec<&'static str> {
        [
            ("server.listen", self.listen != other.listen),
            ("server.dataDir", self.data_dir != other.data_dir),
            ("admin.token", self.admin_token != other.admin_token),
            ("server.workers", self.workers != other.workers),
            ("server.retention", self.retention != other.retention),
            ("channels", self.channels != other.channels),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| name)
        .collect()
    }

    /// Keeps the running values (which may come from `--listen`/`--data-dir`) in `config`.
    fn apply_to(&self, config: &mut Config) {
        config.server.listen = self.listen.clone();
        config.server.data_dir = self.data_dir.clone();
        config.admin.token = self.admin_token.clone();
        config.server.workers = self.workers;
        config.server.retention = self.retention.clone();
        config.channels = self.channels.clone();
    }
}

/// Re-reads the config file and swaps the hook set when it changed.
pub struct Reloader {
    path: PathBuf,
    store: Arc<Store>,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    status: Arc<ConfigStatusCell>,
    /// The text last read, so an event that changed nothing costs nothing.
    last_text: Option<String>,
    /// The restart-only settings as the file last had them.
    file_restart_only: Option<RestartOnly>,
    /// The file that would be used instead of this one at the next start, once it exists.
    preferred: Option<Preferred>,
    /// The file as the hub's hooks were built from at start, if they were.
    started_with: Option<StartedWith>,
}

/// The config file as the hub started with it, loaded already: the reloader finds this text
/// in force and does not load and apply it a second time (for a file of thousands of hooks, a
/// second parse and rebuild would double the start's time and peak memory). Not `Debug`: the
/// text and the settings hold secrets.
#[derive(Clone)]
pub struct StartedWith {
    text: String,
    warnings: Vec<String>,
    restart_only: RestartOnly,
}

impl StartedWith {
    /// `config` as loaded from `text`, before any command-line value replaced a setting of it.
    pub fn new(text: String, config: &Config, warnings: &[ConfigIssue]) -> Self {
        Self {
            text,
            warnings: warnings.iter().map(ToString::to_string).collect(),
            restart_only: RestartOnly::of(config),
        }
    }
}

/// A config file that takes precedence over the watched one at start (`./hooks.yaml` over
/// the example). The hub does not switch to it while running: the new file's listen address,
/// data dir and token could only apply at a restart anyway, and it may still be half-written;
/// so its appearance is a warning, in the log and the status.
struct Preferred {
    path: PathBuf,
    /// Whether it existed at the last check.
    present: bool,
}

impl Preferred {
    fn warning(&self, watched: &Path) -> String {
        format!(
            "{} exists now and will be used instead of {} at the next start; restart hookhub \
             to use it (until then {} stays in force and watched)",
            self.path.display(),
            watched.display(),
            watched.display()
        )
    }
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        store: Arc<Store>,
        registry: Arc<Registry>,
        clock: Arc<dyn Clock>,
        status: Arc<ConfigStatusCell>,
    ) -> Self {
        Self {
            path,
            store,
            registry,
            clock,
            status,
            last_text: None,
            file_restart_only: None,
            preferred: None,
            started_with: None,
        }
    }

    /// The hooks in force were built from this file's `started`; the first check loads the
    /// file only if it changed since.
    pub fn started_with(mut self, started: Option<StartedWith>) -> Self {
        self.started_with = started;
        self
    }

    /// Also watches for `path`, a file that would be used instead of this one at a restart.
    pub fn preferring(mut self, path: Option<PathBuf>) -> Self {
        self.preferred = path.map(|path| Preferred {
            path,
            present: false,
        });
        self
    }

    /// Starts watching, reads the file once now (so the status is current before the first
    /// request), and spawns the task that reloads on change or SIGHUP. Abort the handle to stop.
    pub fn spawn(mut self) -> JoinHandle<()> {
        let (tx, events) = mpsc::unbounded_channel();
        let watcher = self.watch(tx);
        // Registered before the first request is served, so a SIGHUP never finds the default
        // action (terminate) in place once the hub answers.
        let hangup = hangup_signal();
        let started = self.started_with.take();
        let force = started.is_none();
        if let Some(started) = started {
            let hooks = self.registry.snapshot().hook_count();
            self.last_text = Some(started.text);
            self.in_force(
                started.restart_only,
                started.warnings,
                hooks,
                self.clock.now_ms(),
            );
        }
        self.check(force);
        tokio::spawn(async move {
            // Dropping the watcher (when this task ends or is aborted) stops its thread.
            let _watcher = watcher;
            self.run(events, hangup).await;
        })
    }

    fn watch(&self, tx: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Every change in the directory counts, not only events naming the file: a Kubernetes
        // ConfigMap swaps a `..data` symlink and never touches the file's own name. `check`
        // compares the text, so an unrelated change costs one small read.
        let handler = move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !matches!(event.kind, EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        };
        let watched = notify::recommended_watcher(handler)
            .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w));
        match watched {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "cannot watch the config directory; changes are seen by polling and SIGHUP");
                None
            }
        }
    }

    async fn run(mut self, mut events: mpsc::UnboundedReceiver<()>, mut hangup: Hangup) {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut settle: Option<tokio::time::Instant> = None;
        loop {
            let quiet = async {
                match settle {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(()) => settle = Some(tokio::time::Instant::now() + DEBOUNCE),
                    None => return,
                },
                () = quiet => {
                    settle = None;
                    self.check(false);
                }
                _ = poll.tick() => {
                    self.check(false);
                }
                Some(()) = recv_hangup(&mut hangup) => {
                    tracing::info!(path = %self.path.display(), "SIGHUP: reloading the config");
                    self.check(true);
                }
            }
        }
    }

    /// Reads the file and applies it when it changed (or always, when `force`). Returns whether
    /// the file as it is now is in force.
    pub fn check(&mut self, force: bool) -> bool {
        let now = self.clock.now_ms();
        self.status
            .update(|s| s.last_checked_at = crate::clock::rfc3339(now));
        self.notice_preferred();
        let name = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) => {
                self.last_text = None;
                return self.refuse(format!("{name}:0:0: cannot read the file: {e}"));
            }
        };
        if !force && self.last_text.as_deref() == Some(text.as_str()) {
            return self.status.get().ok;
        }
        self.last_text = Some(text.clone());
        let env = |var: &str| std::env::var(var).ok();
        match crate::config::load_file_text(&text, &name, &env) {
            Ok((config, warnings)) => {
                let warnings = warnings.iter().map(ToString::to_string).collect();
                self.apply(config, warnings, now)
            }
            Err(e) => self.refuse(redacted(&e)),
        }
    }

    fn apply(&mut self, mut config: Config, warnings: Vec<String>, now: Millis) -> bool {
        let in_file = RestartOnly::of(&config);
        if let Some(before) = &self.file_restart_only {
            let changed = before.changed(&in_file);
            if !changed.is_empty() {
                tracing::warn!(settings = %changed.join(", "),
                    "config changed settings that take effect only after a restart");
            }
        }
        let rebuilt = self.registry.rebuild(&*self.store, |current| {
            RestartOnly::of(&current.config).apply_to(&mut config);
            Arc::new(config)
        });
        match rebuilt {
            Ok(count) => {
                self.in_force(in_file, warnings, count, now);
                true
            }
            Err(error) => self.refuse(error.to_string()),
        }
    }

    /// Records that the file's text last read, with these restart-only settings and warnings,
    /// is what `hooks` hooks in force were built from.
    fn in_force(&mut self, in_file: RestartOnly, warnings: Vec<String>, hooks: usize, now: Millis) {
        self.file_restart_only = Some(in_file);
        tracing::info!(path = %self.path.display(), hooks, "config loaded");
        let mut warnings = warnings;
        warnings.extend(self.preferred_warning());
        self.status.update(|s| {
            s.ok = true;
            s.error = None;
            s.loaded_at = crate::clock::rfc3339(now);
            s.warnings = warnings;
        });
    }

    /// The warning about the preferred file, while it exists.
    fn preferred_warning(&self) -> Option<String> {
        let preferred = self.preferred.as_ref().filter(|p| p.present)?;
        Some(preferred.warning(&self.path))
    }

    /// Logs once when the preferred file appears, and keeps the status' warning in step.
    fn notice_preferred(&mut self) {
        let Some(preferred) = &mut self.preferred else {
            return;
        };
        let present = preferred.path.exists();
        if present == preferred.present {
            return;
        }
        preferred.present = present;
        let warning = preferred.warning(&self.path);
        if present {
            tracing::warn!("{warning}");
        }
        self.status.update(|s| {
            s.warnings.retain(|w| *w != warning);
            if present {
                s.warnings.push(warning);
            }
        });
    }

    fn refuse(&mut self, error: String) -> bool {
        tracing::warn!(path = %self.path.display(), error = %error,
            "config change refused; the hooks in force stay live");
        self.status.update(|s| {
            s.ok = false;
            s.error = Some(error);
        });
        false
    }
}

/// Every issue of `e`, one a line, with any value quoted in a message about a secret field
/// (`webhookSecret`, `signingSecret`, `token`, …) replaced by `[redacted]`: a wrong-typed secret
/// would otherwise be echoed by the parser. Messages that quote only field names (a misspelt
/// `webhookSecrets:` and the fields expected instead) are kept whole: names are not secrets,
/// and without them the owner cannot see what to fix.
pub fn redacted(e: &ConfigError) -> String {
    e.issues
        .iter()
        .map(|issue| {
            let field = issue.path.rsplit('.').next().unwrap_or_default();
            let field = field
                .split('[')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let secret = ["secret", "token", "apikey", "password"]
                .iter()
                .any(|s| field.contains(s));
            let mut issue = issue.clone();
            if secret && !names_fields_only(&issue.message) {
                issue.message = redact_quoted(&issue.message);
            }
            issue.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether serde's `message` quotes field names and nothing else: an unknown, missing or
/// duplicate field (`` unknown field `x`, expected one of `a`, `b` ``).
fn names_fields_only(message: &str) -> bool {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .any(|start| message.starts_with(start))
}

/// Replaces every `` `…` `` and `"…"` span with `` `[redacted]` ``.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('`');
        let Some(len) = rest[start + 1..].find(quote) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str("`[redacted]`");
        rest = &rest[start + 1 + len + 1..];
    }
    out.push_str(rest);
    out
}

type Hangup = Option<tokio::signal::unix::Signal>;

fn hangup_signal() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    }
}

async fn recv_hangup(signal: &mut Hangup) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
