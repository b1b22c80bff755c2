//! The live hook set: config-file hooks and API hooks merged, each with its trigger and action
//! typed, swapped whole when either source changes so a request always sees one consistent set.
//! A config reload builds every hook again; a change of one API hook (through this hub's API,
//! or another hub's on a shared database) builds that one and keeps the others as they are.

use std::sync::{Arc, RwLock};

use foldhash::HashMap;
use serde::Serialize;

use super::{Action, ActionConfigError, Trigger};
use crate::config::Config;
use crate::filter::{CompileError, FilterInput, Skip};
use crate::model::Hook;
use crate::store::{HookChange, HookChanges, Store, StoreError};
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

/// A map whose copies share their nodes, so the set one API edit makes from another copies a
/// few nodes of each map, not every hook.
type SharedMap<V> = imbl::GenericHashMap<
    Arc<str>,
    V,
    foldhash::fast::RandomState,
    imbl::shared_ptr::DefaultSharedPtr,
>;

/// One consistent view of the config file in force and every hook. Its maps share their nodes
/// with the set it was made from, so an API edit ([`Snapshot::with_api_hook`]) costs that
/// hook's build and a few nodes of each map, whatever the set's size.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The config file these hooks came from (its `hooks` are merged below).
    pub config: Arc<Config>,
    /// The config file's hooks, in its order.
    file_hooks: Arc<[Arc<LiveHook>]>,
    /// The database's hooks, in order of id.
    api_hooks: imbl::OrdMap<Arc<str>, Arc<LiveHook>>,
    by_id: SharedMap<Arc<LiveHook>>,
    /// The webhooks on each path: the config file's first, in its order, then the database's
    /// in order of id.
    by_path: SharedMap<Arc<[Arc<LiveHook>]>>,
    /// How many hooks name each header that carries a secret (`triggerConfig.header`).
    secret_headers: imbl::OrdMap<Arc<str>, usize>,
}

impl Snapshot {
    /// Builds the set. Fails, naming the hooks, when two share an id or a verifier or filter
    /// cannot be built.
    pub fn build(config: Arc<Config>, api_hooks: Vec<Hook>) -> Result<Self, BuildError> {
        let mut snapshot = Snapshot {
            config: config.clone(),
            ..Snapshot::default()
        };
        let mut file_hooks = Vec::with_capacity(config.hooks.len());
        let mut errors = Vec::new();
        let sources = config
            .hooks
            .iter()
            .map(|h| (h.clone(), Source::ConfigFile))
            .chain(api_hooks.into_iter().map(|h| (Arc::new(h), Source::Api)));
        for (hook, source) in sources {
            if snapshot.by_id.contains_key(hook.id.as_str()) {
                errors.push(HookProblem::DuplicateId(hook.id.clone()));
                continue;
            }
            let live = match live(hook, source, &config) {
                Ok(live) => Arc::new(live),
                Err(problem) => {
                    errors.push(problem);
                    continue;
                }
            };
            let id: Arc<str> = live.hook.id.as_str().into();
            snapshot.by_id.insert(id.clone(), live.clone());
            match source {
                Source::ConfigFile => file_hooks.push(live),
                Source::Api => {
                    snapshot.api_hooks.insert(id, live);
                }
            }
        }
        if !errors.is_empty() {
            return Err(BuildError(errors));
        }
        snapshot.file_hooks = file_hooks.into();
        // Each path's hooks gathered whole, in the set's order, before they go in the map.
        let mut paths: HashMap<&str, Vec<Arc<LiveHook>>> = HashMap::default();
        let mut secret_headers = imbl::OrdMap::new();
        for live in snapshot.hooks() {
            if let Some(path) = webhook_path(live) {
                paths.entry(path).or_default().push(live.clone());
            }
            if let Some(header) = &live.hook.trigger_config.header {
                count(&mut secret_headers, header, 1);
            }
        }
        let by_path = paths
            .into_iter()
            .map(|(path, hooks)| (Arc::from(path), Arc::from(hooks)))
            .collect();
        snapshot.by_path = by_path;
        snapshot.secret_headers = secret_headers;
        Ok(snapshot)
    }

    /// The set the config file's hooks and the database's make.
    pub fn load(config: Arc<Config>, store: &Store) -> Result<Self, RebuildError> {
        Ok(Self::build(config, store.api_hooks()?)?)
    }

    /// This set with the API hook `id` as the database now holds it (`stored`, None once
    /// deleted) in place of the one it had, or added among the API hooks in order of id as a
    /// rebuild puts it. Every other hook is kept as it is, not built again. Fails as
    /// [`Snapshot::build`] would over the hook, when a config-file hook has its id or its
    /// verifier or filter cannot be built.
    pub fn with_api_hook(&self, id: &str, stored: Option<Hook>) -> Result<Self, BuildError> {
        let new = match stored {
            Some(_)
                if self
                    .hook(id)
                    .is_some_and(|h| h.source == Source::ConfigFile) =>
            {
                return Err(BuildError(vec![HookProblem::DuplicateId(id.to_string())]));
            }
            Some(hook) => Some(Arc::new(
                live(Arc::new(hook), Source::Api, &self.config).map_err(|p| BuildError(vec![p]))?,
            )),
            None => None,
        };
        let mut next = self.clone();
        if let Some(old) = next.api_hooks.remove(id) {
            next.take_out(&old);
        }
        if let Some(new) = new {
            next.put_in(new);
        }
        Ok(next)
    }

    /// Takes an API hook out of every map but `api_hooks`.
    fn take_out(&mut self, old: &Arc<LiveHook>) {
        self.by_id.remove(old.hook.id.as_str());
        if let Some(path) = webhook_path(old) {
            let left: Vec<Arc<LiveHook>> = self
                .by_path
                .get(path)
                .into_iter()
                .flat_map(|hooks| hooks.iter())
                .filter(|h| !Arc::ptr_eq(h, old))
                .cloned()
                .collect();
            if left.is_empty() {
                self.by_path.remove(path);
            } else {
                self.by_path.insert(path.into(), left.into());
            }
        }
        if let Some(header) = &old.hook.trigger_config.header {
            count(&mut self.secret_headers, header, -1);
        }
    }

    /// Puts an API hook in every map; on its path, after the config file's hooks and the API
    /// hooks whose ids sort before its own.
    fn put_in(&mut self, new: Arc<LiveHook>) {
        let id: Arc<str> = new.hook.id.as_str().into();
        self.api_hooks.insert(id.clone(), new.clone());
        self.by_id.insert(id, new.clone());
        if let Some(path) = webhook_path(&new) {
            let mut hooks = self
                .by_path
                .get(path)
                .map(|h| h.to_vec())
                .unwrap_or_default();
            let at = hooks
                .iter()
                .position(|h| h.source == Source::Api && h.hook.id > new.hook.id)
                .unwrap_or(hooks.len());
            hooks.insert(at, new.clone());
            self.by_path.insert(path.into(), hooks.into());
        }
        if let Some(header) = &new.hook.trigger_config.header {
            count(&mut self.secret_headers, header, 1);
        }
    }

    /// Every hook, the config file's first, in its order, then the database's in order of id.
    pub fn hooks(&self) -> impl Iterator<Item = &Arc<LiveHook>> {
        self.file_hooks.iter().chain(self.api_hooks.values())
    }

    /// How many hooks the set holds.
    pub fn hook_count(&self) -> usize {
        self.file_hooks.len() + self.api_hooks.len()
    }

    pub fn hook(&self, id: &str) -> Option<&Arc<LiveHook>> {
        self.by_id.get(id)
    }

    /// The enabled hooks listening on a path.
    pub fn enabled_on_path<'a>(&'a self, path: &str) -> impl Iterator<Item = &'a Arc<LiveHook>> {
        self.by_path
            .get(path)
            .into_iter()
            .flat_map(|hooks| hooks.iter())
            .filter(|h| h.hook.enabled)
    }

    /// Every header some hook's secret or signature is carried in (`triggerConfig.header`),
    /// in order and once each.
    pub fn secret_headers(&self) -> Vec<String> {
        self.secret_headers.keys().map(|h| h.to_string()).collect()
    }
}

/// The path a webhook listens on. Scheduled hooks have no sender: they must never be reachable
/// at /api/webhooks.
fn webhook_path(live: &LiveHook) -> Option<&str> {
    matches!(live.trigger, Trigger::Webhook(_))
        .then_some(live.hook.trigger_config.webhook_path.as_str())
}

/// Counts one hook more (`by` 1) or fewer (-1) naming `header`; a name no hook names is gone.
fn count(counts: &mut imbl::OrdMap<Arc<str>, usize>, header: &str, by: isize) {
    let n = counts
        .get(header)
        .copied()
        .unwrap_or(0)
        .saturating_add_signed(by);
    if n == 0 {
        counts.remove(header);
    } else {
        counts.insert(header.into(), n);
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
        let count = snapshot.hook_count();
        self.replace(snapshot);
        Ok(count)
    }

    /// Puts in force the API hook `id` as the database now holds it, or takes it out of force
    /// once the database has it no more; the other hooks stay as they are
    /// ([`Snapshot::with_api_hook`]). One change at a time, as [`Registry::rebuild`]. Returns
    /// how many hooks the set holds.
    pub fn refresh_api_hook(&self, store: &Store, id: &str) -> Result<usize, RebuildError> {
        let _one_at_a_time = self.rebuilding.lock().expect("registry lock poisoned");
        let snapshot = self.snapshot().with_api_hook(id, store.api_hook(id)?)?;
        let count = snapshot.hook_count();
        self.replace(snapshot);
        Ok(count)
    }

    /// Takes up the API hooks other hubs write or delete on a shared database, for as long
    /// as the hub runs: each hook told of is read again, or the whole set when any may have
    /// changed unheard.
    pub async fn follow(self: Arc<Self>, store: Arc<Store>, changes: Arc<HookChanges>) {
        let refused = |error: RebuildError| {
            tracing::warn!(%error, "could not take up a change of the database's hooks");
        };
        loop {
            match changes.next().await {
                HookChange::All => {
                    if let Err(error) = self.rebuild(&*store, |current| current.config.clone()) {
                        refused(error);
                    }
                }
                // One refused hook does not hold back the others.
                HookChange::These(ids) => {
                    for id in ids {
                        if let Err(error) = self.refresh_api_hook(&*store, &id) {
                            refused(error);
                        }
                    }
                }
            }
        }
    }

    pub fn replace(&self, snapshot: Snapshot) {
        *self.current.write().expect("registry lock poisoned") = Arc::new(snapshot);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(id: &str, path: &str) -> Hook {
        serde_json::from_value(json!({
            "id": id,
            "triggerConfig": {"webhookPath": path, "webhookSecret": "s"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": "http://127.0.0.1:9/x"}
        }))
        .unwrap()
    }

    fn ids(snapshot: &Snapshot) -> Vec<&str> {
        snapshot.hooks().map(|h| h.hook.id.as_str()).collect()
    }

    fn on_path<'a>(snapshot: &'a Snapshot, path: &str) -> Vec<&'a str> {
        let hooks = snapshot.enabled_on_path(path);
        hooks.map(|h| h.hook.id.as_str()).collect()
    }

    #[test]
    fn one_api_hook_changed_in_place_keeps_the_others_and_the_order_a_rebuild_gives() {
        let config = Config {
            hooks: vec![Arc::new(hook("file", "shared"))],
            ..Config::default()
        };
        let config = Arc::new(config);
        let stored = [hook("b", "b"), hook("d", "shared")];
        let before = Snapshot::build(config.clone(), stored.to_vec()).unwrap();

        // Added between the two it sorts between, as a rebuild puts it.
        let added = before.with_api_hook("c", Some(hook("c", "c"))).unwrap();
        assert_eq!(ids(&added), ["file", "b", "c", "d"]);
        let rebuilt = Snapshot::build(
            config.clone(),
            vec![hook("b", "b"), hook("c", "c"), hook("d", "shared")],
        );
        assert_eq!(ids(&added), ids(&rebuilt.unwrap()));
        for id in ["file", "b", "d"] {
            assert!(
                Arc::ptr_eq(added.hook(id).unwrap(), before.hook(id).unwrap()),
                "`{id}` was built again"
            );
        }
        assert_eq!(on_path(&added, "c"), ["c"]);
        let last = added.with_api_hook("e", Some(hook("e", "e"))).unwrap();
        assert_eq!(ids(&last), ["file", "b", "c", "d", "e"]);

        // Replaced where it stood, its path moved.
        let moved = added
            .with_api_hook("d", Some(hook("d", "elsewhere")))
            .unwrap();
        assert_eq!(ids(&moved), ["file", "b", "c", "d"]);
        assert_eq!(on_path(&moved, "shared"), ["file"]);
        assert_eq!(on_path(&moved, "elsewhere"), ["d"]);

        // Deleted: gone by id and by path.
        let deleted = moved.with_api_hook("c", None).unwrap();
        assert_eq!(ids(&deleted), ["file", "b", "d"]);
        assert!(deleted.hook("c").is_none());
        assert!(on_path(&deleted, "c").is_empty());
        assert_eq!(
            ids(&deleted.with_api_hook("gone", None).unwrap()),
            ids(&deleted)
        );
    }

    #[test]
    fn the_secret_headers_follow_the_hooks_that_name_them() {
        let keyed = |id: &str, header: &str| {
            let mut hook = hook(id, id);
            hook.trigger_config.scheme = Some("header".into());
            hook.trigger_config.header = Some(header.into());
            hook
        };
        let config = Arc::new(Config {
            hooks: vec![Arc::new(keyed("file", "x-file-key"))],
            ..Config::default()
        });
        let before = Snapshot::build(config.clone(), vec![keyed("a", "x-key")]).unwrap();
        assert_eq!(before.secret_headers(), ["x-file-key", "x-key"]);

        let two = before
            .with_api_hook("b", Some(keyed("b", "x-key")))
            .unwrap();
        let one_left = two.with_api_hook("a", None).unwrap();
        assert_eq!(one_left.secret_headers(), ["x-file-key", "x-key"]);
        let renamed = one_left
            .with_api_hook("b", Some(keyed("b", "x-other")))
            .unwrap();
        assert_eq!(renamed.secret_headers(), ["x-file-key", "x-other"]);
        let rebuilt = Snapshot::build(config, vec![keyed("b", "x-other")]).unwrap();
        assert_eq!(renamed.secret_headers(), rebuilt.secret_headers());
        let gone = renamed.with_api_hook("b", None).unwrap();
        assert_eq!(gone.secret_headers(), ["x-file-key"]);
    }

    #[test]
    fn an_api_hook_changed_in_place_is_refused_as_a_rebuild_refuses_it() {
        let config = Arc::new(Config {
            hooks: vec![Arc::new(hook("file", "file"))],
            ..Config::default()
        });
        let before = Snapshot::build(config, Vec::new()).unwrap();
        let clash = before
            .with_api_hook("file", Some(hook("file", "other")))
            .unwrap_err();
        assert_eq!(clash.0, [HookProblem::DuplicateId("file".into())]);
        // Deleting an id only the file has leaves the file's hook alone.
        assert_eq!(ids(&before.with_api_hook("file", None).unwrap()), ["file"]);

        let mut bad = hook("bad", "bad");
        bad.trigger_config.filter = Some("body.x ==".into());
        let problem = before.with_api_hook("bad", Some(bad)).unwrap_err();
        assert!(
            matches!(&problem.0[..], [HookProblem::Filter { hook, .. }] if hook == "bad"),
            "{problem}"
        );
    }
}
