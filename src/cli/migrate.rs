//! `hookhub migrate --to URL` (SPEC §12): copies a stopped hub's sled data dir into
//! PostgreSQL — hooks made in the API, executions with their payloads and attempts, channel
//! bindings, schedules' last runs, alert states and the admin token's hash — then says what it
//! copied and what the user does next. The data dir is opened as a hub opens it (its journal
//! replayed, an older format brought up to date) and otherwise left as it was.
//!
//! Both sides are read and written through the store's `Storage` trait, so this file knows
//! neither format. Executions go a page at a time (`executions_after` into
//! `import_executions`, one transaction each), so a data dir of any size is copied
//! in bounded memory. Those not final stay so: the hubs on PostgreSQL run them, and one left
//! `running` meets the crash rules there.
//!
//! Refused while a hub runs on the data dir (sled's lock), and into a database that already
//! holds hooks or executions unless `--force`. With it, the copy merges: the data dir's hooks,
//! bindings and small state are written over the database's, and executions the database
//! holds already are kept as they are (a hub there may have run them since). So running it
//! again, after an interruption say, copies what is missing and duplicates nothing.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::{Backend, StoreConfig};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to copy into: postgres://user:password@host:port/db.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Config file (else $HOOKHUB_CONFIG, ./hooks.yaml, ./hooks.example.yaml); read for
    /// server.dataDir.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The data directory to copy (default ./data, or server.dataDir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Copy into a database that already holds hooks or executions: the data dir's hooks,
    /// bindings and state replace the database's, executions it holds already are kept.
    #[arg(long)]
    pub force: bool,
}

/// Executions copied per transaction at most, and the payload bytes a page aims at.
const MOST_PER_PAGE: usize = 1000;
const PAGE_BYTES: usize = 8 << 20;
/// How often progress is told on stderr, in executions.
const PROGRESS_EVERY: usize = 20_000;

/// What was copied.
#[derive(Debug, Default)]
struct Copied {
    hooks: usize,
    executions: usize,
    /// Executions the database held already (with `--force`), left as they were.
    kept: usize,
    /// Executions not final, which the hubs on PostgreSQL run.
    pending: usize,
    bindings: usize,
    schedules: usize,
    alerts: usize,
    admin_token: bool,
}

/// Copies the data dir and prints what it did; returns the exit code (0 only when copied).
pub fn run(args: &MigrateArgs) -> i32 {
    match migrate(args) {
        Ok(report) => {
            println!("{report}");
            0
        }
        Err(message) => {
            eprintln!("hookhub: {message}");
            1
        }
    }
}

fn migrate(args: &MigrateArgs) -> Result<String, String> {
    let dir = data_dir(args)?;
    let url = crate::model::redact::url(&args.to).into_owned();
    let source = match Store::open(&dir) {
        Ok(store) => store,
        Err(StoreError::Locked { .. }) => {
            return Err(format!(
                "a hub is running on the data dir {}: stop it, then run this again (the copy \
                 must not miss what a running hub writes meanwhile); nothing was copied",
                dir.display()
            ));
        }
        Err(e) => return Err(format!("cannot open the data dir: {e}")),
    };
    let postgres = StoreConfig {
        backend: Backend::Postgres,
        url: Some(args.to.clone()),
        ..StoreConfig::default()
    };
    let target = crate::app::open_store(&postgres, &dir)
        .map_err(|e| format!("cannot use the database {url}: {e}; nothing was copied"))?;
    if !args.force {
        refuse_if_used(&*target, &url)?;
    }
    let mut copied = Copied::default();
    let done = copy(&*source, &*target, &mut copied).and_then(|()| source.close());
    done.map_err(|e| {
        format!(
            "the copy into {url} stopped: {e}. What was copied stays there; run this again \
             with --force to copy the rest (nothing is copied twice)"
        )
    })?;
    Ok(report(&copied, &dir, &url))
}

/// The data dir as `serve` finds it: `--data-dir`, else the config's `server.dataDir`, else
/// `./data`; it must hold a hub's database (opening an empty one would create it).
fn data_dir(args: &MigrateArgs) -> Result<PathBuf, String> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            let configured = match crate::config::find_config_path(args.config.as_deref()) {
                Some(path) => crate::config::load_file(&path)
                    .map_err(|e| {
                        format!(
                            "{e}\nhookhub: the config must be valid to tell where the data dir is"
                        )
                    })?
                    .server
                    .data_dir,
                None => None,
            };
            configured.unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR))
        }
    };
    if !dir.join("db").is_dir() {
        return Err(format!(
            "no hub's database in {}: pass the hub's --data-dir (or the config with its \
             server.dataDir); nothing was copied",
            dir.display()
        ));
    }
    Ok(dir)
}

/// Refuses a database that holds hooks or executions: a copy made before, or one hubs use.
fn refuse_if_used(target: &Store, url: &str) -> Result<(), String> {
    let used = |e: StoreError| format!("cannot read the database {url}: {e}");
    let hooks = target.api_hooks().map_err(used)?.len();
    let executions = !target.executions_after(None, 1).map_err(used)?.is_empty();
    if hooks == 0 && !executions {
        return Ok(());
    }
    let what = match (hooks, executions) {
        (0, _) => "executions".to_string(),
        (n, false) => format!("{n} hook(s)"),
        (n, true) => format!("{n} hook(s) and executions"),
    };
    Err(format!(
        "the database {url} already holds {what}, so nothing was copied: a copy made before \
         (then there is nothing to do), or a database hubs use. To copy into it anyway, pass \
         --force: the data dir's hooks, bindings and state replace the database's, and \
         executions it holds already are kept as they are"
    ))
}

/// Everything, the small parts first (so a database that refuses writes shows at once), then
/// the execution log page by page.
fn copy(from: &Store, to: &Store, copied: &mut Copied) -> Result<(), StoreError> {
    for hook in from.api_hooks()? {
        to.put_api_hook(&hook)?;
        copied.hooks += 1;
    }
    for binding in from.bindings()? {
        to.put_binding(&binding)?;
        copied.bindings += 1;
    }
    for (hook_id, ms) in from.schedule_states()? {
        to.set_last_fired(&hook_id, ms)?;
        copied.schedules += 1;
    }
    for (hook_id, state) in from.alert_states()? {
        to.set_alert_state(&hook_id, &state)?;
        copied.alerts += 1;
    }
    if let Some(hash) = from.admin_token_hash()? {
        to.set_admin_token_hash(&hash)?;
        copied.admin_token = true;
    }
    copy_executions(from, to, copied)
}

/// The execution log in id order, a page per transaction; pages hold up to [`MOST_PER_PAGE`]
/// executions, fewer when their payloads are large.
fn copy_executions(from: &Store, to: &Store, copied: &mut Copied) -> Result<(), StoreError> {
    let (mut after, mut limit) = (None, MOST_PER_PAGE);
    let mut told = 0;
    loop {
        let mut page = from.executions_after(after, limit)?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.id);
        let bytes: usize = page.iter().map(|e| 1024 + e.trigger.raw_body.0.len()).sum();
        limit = (PAGE_BYTES * page.len() / bytes).clamp(1, MOST_PER_PAGE);
        copied.pending += page.iter().filter(|e| !e.status.is_final()).count();
        let new = to.import_executions(&mut page)?;
        copied.executions += new;
        copied.kept += page.len() - new;
        let done = copied.executions + copied.kept;
        if done >= told + PROGRESS_EVERY {
            told = done;
            eprintln!("hookhub: {done} executions copied so far");
        }
    }
}

/// What was copied, and what the user does next.
fn report(copied: &Copied, dir: &Path, url: &str) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let key = dir.join("secret.key");
    let (new, pending, kept) = (copied.executions, copied.pending, copied.kept);
    let executions = if kept > 0 {
        format!("{new} new; {kept} the database held already were kept as they were")
    } else if pending > 0 {
        format!("{new} ({pending} not final yet: the hubs on PostgreSQL run them)")
    } else {
        new.to_string()
    };
    let admin = if copied.admin_token {
        "its hash (the same token works)"
    } else {
        "none generated yet"
    };
    format!(
        "hookhub: copied the data dir {dir} into {url}:\n\
         \x20 hooks made in the API   {hooks}\n\
         \x20 executions              {executions}\n\
         \x20 channel bindings        {bindings}\n\
         \x20 schedules' last runs    {schedules}\n\
         \x20 alert states            {alerts}\n\
         \x20 admin token             {admin}\n\
         \n\
         Next:\n\
         \x20 1. In the config file of every hub on this database, set\n\
         \x20      store: {{ backend: postgres, url: ${{DATABASE_URL}} }}\n\
         \x20    with DATABASE_URL set to the URL given here.\n\
         \x20 2. Copy the key the hooks' secrets are sealed with,\n\
         \x20      {key}\n\
         \x20    into the data dir of every hub on this database (mode 0600): a hub with\n\
         \x20    another key refuses to start.\n\
         \x20 3. Start the hubs. Hooks in the config file are not in the data dir: give every\n\
         \x20    hub the same config file. This data dir was left as it was; keep it until\n\
         \x20    the hubs on PostgreSQL run.",
        dir = dir.display(),
        hooks = copied.hooks,
        bindings = copied.bindings,
        schedules = copied.schedules,
        alerts = copied.alerts,
        key = key.display(),
    )
}
