//! The live hook set: config-file hooks and API hooks merged, each with its verifier built,
//! swapped whole when either source changes so a request always sees one consistent set.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::{Action, ActionConfigError, Hook, TriggerKind};
use crate::config::{Config, ToolDef};
use crate::filter::{Filter, FilterInput, admit_event};
use crate::verify::Verifier;

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
    pub hook: Hook,
    pub source: Source,
    pub verifier: Verifier,
    /// `triggerConfig.filter`, compiled once when the set is built.
    pub filter: Option<Filter>,
    /// The action in its typed form, made once when the set is built; the error each
    /// execution fails with when the action cannot run (see [`Action`]).
    pub action: Result<Action, ActionConfigError>,
}

impl LiveHook {
    /// Ok(()) when the delivery should run; Err(reason) to record it as `skipped`, e.g.
    /// "event `push` is not in events [pull_request]" or "filter `body.action == 'opened'` is
    /// false" or "filter error: …".
    pub fn admits(&self, input: &FilterInput<'_>) -> Result<(), String> {
        admit_event(&self.hook.trigger_config.events, input.event_type)?;
        self.filter.as_ref().map_or(Ok(()), |f| f.admit(input))
    }

    /// Executions of this hook that may run at once.
    pub fn concurrency(&self) -> usize {
        self.hook.action_config.concurrency.unwrap_or(2).max(1)
    }
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
    pub fn build(config: Arc<Config>, api_hooks: &[Hook]) -> Result<Self, Vec<String>> {
        let mut snapshot = Snapshot {
            config: config.clone(),
            ..Snapshot::default()
        };
        let mut errors = Vec::new();
        let sources = config
            .hooks
            .iter()
            .map(|h| (h, Source::ConfigFile))
            .chain(api_hooks.iter().map(|h| (h, Source::Api)));
        for (hook, source) in sources {
            if snapshot.by_id.contains_key(&hook.id) {
                errors.push(format!(
                    "hook id `{}` is defined both in the config file and in the database; \
                     rename one of them",
                    hook.id
                ));
                continue;
            }
            let filter = hook.trigger_config.filter.as_deref().map(Filter::compile);
            let filter = filter
                .transpose()
                .map_err(|e| format!("triggerConfig.filter: {e}"));
            match Verifier::new(&hook.trigger_config).and_then(|v| Ok((v, filter?))) {
                Ok((verifier, filter)) => snapshot.add(LiveHook {
                    hook: hook.clone(),
                    source,
                    verifier,
                    filter,
                    action: Action::of(hook, &config),
                }),
                Err(e) => errors.push(format!("hook `{}`: {e}", hook.id)),
            }
        }
        if errors.is_empty() {
            Ok(snapshot)
        } else {
            Err(errors)
        }
    }

    fn add(&mut self, live: LiveHook) {
        let live = Arc::new(live);
        self.by_id.insert(live.hook.id.clone(), live.clone());
        // Scheduled hooks have no sender: they must never be reachable at /api/webhooks.
        if live.hook.trigger == TriggerKind::Webhook {
            self.by_path
                .entry(live.hook.trigger_config.webhook_path.clone())
                .or_default()
                .push(live.clone());
        }
        self.hooks.push(live);
    }

    /// The tools the config file defines.
    pub fn tools(&self) -> &BTreeMap<String, ToolDef> {
        &self.config.tools
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

    /// Builds the next set from the current one and puts it in force, one rebuild at a time.
    pub fn update<E>(&self, next: impl FnOnce(&Snapshot) -> Result<Snapshot, E>) -> Result<(), E> {
        let _one_at_a_time = self.rebuilding.lock().expect("registry lock poisoned");
        let snapshot = next(&self.snapshot())?;
        self.replace(snapshot);
        Ok(())
    }

    pub fn replace(&self, snapshot: Snapshot) {
        *self.current.write().expect("registry lock poisoned") = Arc::new(snapshot);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}
