//! The live hook set: config-file hooks and API hooks merged, each with its trigger and action
//! typed, swapped whole when either source changes so a request always sees one consistent set.

use std::sync::{Arc, RwLock};

use foldhash::HashMap;
use serde::Serialize;

use super::{Action, ActionConfigError, Trigger};
use crate::config::Config;
use crate::filter::{CompileError, FilterInput, Skip};
use crate::model::Hook;
use crate::store::{Store, StoreError};
use crate::verify::{Delivery, SchemeError, Signed, VerifyError};

/// Where a hook was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The YAML file; read-only in the API and UI.
    ConfigFile,
    /// Made through the API or UI; lives in the database.
    Api,
}

/// A hook ready to receive deliveries.
#[derive(Debug)]
pub struct LiveHook {
    pub hook: Arc<Hook>,
    pub source: Source,
    /// The trigger in its typed form, made once when the set is built.
    pub trigger: Trigger,
    /// The action in its typed form, made once when the set is built; the error each
    /// execution fails with when the action cannot run (see [`Action`]).
    pub action: Result<Action, ActionConfigError>,
}

/// Ingress asks these of the hooks on a path, which are webhooks only (see `Snapshot::add`). A
/// scheduled hook has no sender: no delivery verifies as its, a signature covers nothing of it
/// and no filter stops it, as when it was given a verifier without secrets and no filter.
impl LiveHook {
    /// Whether the sender is this hook's (see `Verifier::verify`).
    pub fn verify(&self, delivery: &Delivery<'_>) -> Result<(), VerifyError> {
        match &self.trigger {
            Trigger::Webhook(webhook) => webhook.verifier.verify(delivery),
            Trigger::Schedule(_) => Err(VerifyError::NoSecret),
        }
    }

    /// What the signature of a delivery [`LiveHook::verify`] accepted covers.
    pub fn signed(&self, delivery: &Delivery<'_>) -> Signed {
        match &self.trigger {
            Trigger::Webhook(webhook) => webhook.verifier.signed(delivery),
            Trigger::Schedule(_) => Signed::default(),
        }
    }

    /// Ok(()) when the delivery should run; Err(reason) to record it as `skipped` (see
    /// [`WebhookTrigger::admits`](super::trigger::WebhookTrigger::admits)).
    pub fn admits(&self, input: &FilterInput<'_>) -> Result<(), Skip> {
        match &self.trigger {
            Trigger::Webhook(webhook) => webhook.admits(input),
            Trigger::Schedule(_) => Ok(()),
        }
    }

    /// Executions of this hook that may run at once.
    pub fn concurrency(&self) -> usize {
        self.hook.action_config.concurrency.unwrap_or(2).max(1)
    }
}

/// Why one hook cannot join the set; the text names the hook and the field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookProblem {
    #[error(
        "hook id `{0}` is defined both in the config file and in the database; rename one of them"
    )]
    DuplicateId(String),
    /// Its scheme, secrets or their settings cannot make a verifier.
    #[error("hook `{hook}`: {error}")]
    Verifier { hook: String, error: SchemeError },
    #[error("hook `{hook}`: triggerConfig.filter: {error}")]
    Filter { hook: String, error: CompileError },
}

/// Every hook that could not join the set, in config-file-then-database order; shown one a
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub Vec<HookProblem>);

impl BuildError {
    /// The problems, one per `separator`.
    pub fn joined(&self, separator: &str) -> String {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        lines.join(separator)
    }
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.joined("\n"))
    }
}

impl std::error::Error for BuildError {}

/// Why the set could not be rebuilt from the config and the database.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("cannot read the database's hooks: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hooks(#[from] BuildError),
}

/// One consistent view of the config file in force and every hook.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The config file these hooks came from (its `hooks` are merged below).
    pub config: Arc<Config>,
    hooks: Vec<Arc<LiveHook>>,
    by_id: HashMap<String, Arc<LiveHook>>,
    by_path: HashMap<String, Vec<Arc<LiveHook>>>,
}

impl Snapshot {
    /// Builds the set. Fails, naming the hooks, when two share an id or a verifier or filter
    /// cannot be built.
    pub fn build(config: Arc<Config>, api_hooks: Vec<Hook>) -> Result<Self, BuildError> {
        let mut snapshot = Snapshot {
            config: config.clone(),
            ..Snapshot::default()
        };
        let mut errors = Vec::new();
        let sources = config
            .hooks
            .iter()
            .map(|h| (h.clone(), Source::ConfigFile))
            .chain(api_hooks.into_iter().map(|h| (Arc::new(h), Source::Api)));
        for (hook, source) in sources {
            if snapshot.by_id.contains_key(&hook.id) {
                errors.push(HookProblem::DuplicateId(hook.id.clone()));
                continue;
            }
            match live(hook, source, &config) {
                Ok(live) => snapshot.add(live),
                Err(problem) => errors.push(problem),
            }
        }
        if errors.is_empty() {
            Ok(snapshot)
        } else {
            Err(BuildError(errors))
        }
    }

    /// The set the config file's hooks and the database's make.
    pub fn load(config: Arc<Config>, store: &Store) -> Result<Self, RebuildError> {
        Ok(Self::build(config, store.api_hooks()?)?)
    }

    fn add(&mut self, live: LiveHook) {
        let live = Arc::new(live);
        self.by_id.insert(live.hook.id.clone(), live.clone());
        // Scheduled hooks have no sender: they must never be reachable at /api/webhooks.
        if matches!(live.trigger, Trigger::Webhook(_)) {
            self.by_path
                .entry(live.hook.trigger_config.webhook_path.clone())
                .or_default()
                .push(live.clone());
        }
        self.hooks.push(live);
    }

    /// Every hook, config-file ones first.
    pub fn hooks(&self) -> &[Arc<LiveHook>] {
        &self.hooks
    }

    pub fn hook(&self, id: &str) -> Option<&Arc<LiveHook>> {
        self.by_id.get(id)
    }

    /// The enabled hooks listening on a path.
    pub fn enabled_on_path<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Arc<LiveHook>> {
        self.by_path
            .get(path)
            .into_iter()
            .flatten()
            .filter(|h| h.hook.enabled)
    }
}

/// A hook with its trigger and action typed.
fn live(hook: Arc<Hook>, source: Source, config: &Config) -> Result<LiveHook, HookProblem> {
    Ok(LiveHook {
        trigger: Trigger::of(&hook)?,
        action: Action::of(&hook, config),
        hook,
        source,
    })
}

/// The current snapshot, replaced atomically.
#[derive(Debug, Default)]
pub struct Registry {
    current: RwLock<Arc<Snapshot>>,
    /// Held while a new set is built from the current one, so two rebuilds (an API edit and
    /// a config reload) cannot each start from the old set and undo the other.
    rebuilding: std::sync::Mutex<()>,
    /// Bumped by every [`Registry::replace`], so watchers (the scheduler) wake on a change.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Registry {
    pub fn new(snapshot: Snapshot) -> Self {
        Self {
            current: RwLock::new(Arc::new(snapshot)),
            rebuilding: std::sync::Mutex::new(()),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A receiver that sees a change each time the hook set is replaced.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The set in force now; cheap, and stable for as long as the caller holds it.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.read().expect("registry lock poisoned").clone()
    }

    /// Builds the next set from the database's hooks and the config `config` makes of the set
    /// in force, and puts it in force, one rebuild at a time: the one way the set changes once
    /// the hub runs (an API edit, a config reload). Returns how many hooks it holds.
    pub fn rebuild(
        &self,
        store: &Store,
        config: impl FnOnce(&Snapshot) -> Arc<Config>,
    ) -> Result<usize, RebuildError> {
        let _one_at_a_time = self.rebuilding.lock().expect("registry lock poisoned");
        let snapshot = Snapshot::load(config(&self.snapshot()), store)?;
        let count = snapshot.hooks().len();
        self.replace(snapshot);
        Ok(count)
    }

    pub fn replace(&self, snapshot: Snapshot) {
        *self.current.write().expect("registry lock poisoned") = Arc::new(snapshot);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}
