//! `hookhub admin reset-token`: a new admin token, printed once and in force at once, whether
//! the hub is stopped (the hash goes into the database) or running (sled's lock keeps this
//! command out of the database, so the hub takes the hash from a file; see
//! [`crate::token_reset`]). Either way every older token and every session stops working. On
//! PostgreSQL the hash goes into the database the hubs share, and each hub puts it in force
//! within a second.
//!
//! Refused when the config sets `admin.token`: that token is in force whatever the database
//! holds, so a reset would print a token that does not work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ResetTokenArgs;
use crate::config::{Backend, StoreConfig};
use crate::state::admin::AdminToken;
use crate::store::{Store, StoreError};
use crate::token_reset::{self, Outcome};

/// How long a running hub has to take the request (it looks twice a second).
const TAKE_WITHIN: Duration = Duration::from_secs(5);
/// How long it then has to store the hash durably.
const APPLY_WITHIN: Duration = Duration::from_secs(10);

/// Where the new token went.
enum Reset {
    /// Into the database of a stopped hub.
    Stored,
    /// Into a running hub.
    Running,
    /// Into the PostgreSQL database hubs share, which each hub reads twice a second.
    Shared,
}

/// Resets the token and prints it; returns the exit code (0 only when it is in force).
pub fn run(args: &ResetTokenArgs) -> i32 {
    let reset = data_dir(args).and_then(|(dir, store)| {
        let token = AdminToken::generate();
        reset(&dir, &store, &AdminToken::from_token(&token)).map(|how| (how, token))
    });
    match reset {
        Ok((how, token)) => {
            let when = match how {
                Reset::Stored => "It is in force from the hub's next start.",
                Reset::Running => "The running hub uses it from now on.",
                Reset::Shared => "Every hub on the database uses it within a second.",
            };
            // Printed, not logged, and only now: only its hash is kept.
            println!(
                "hookhub: the admin token was reset; every older token and every session no \
                 longer works. {when}\nThe new token is shown only now:\n\n    {token}\n"
            );
            0
        }
        Err(message) => {
            eprintln!("hookhub: {message}");
            1
        }
    }
}

/// The data dir as `serve` finds it: `--data-dir`, else the config's `server.dataDir`, else
/// `./data`. An error when the config is invalid (its data dir is unknown) or sets
/// `admin.token`, or when there is no such directory (most likely a wrong path: a reset there
/// would print a token no hub uses).
fn data_dir(args: &ResetTokenArgs) -> Result<(PathBuf, StoreConfig), String> {
    let config = match crate::config::find_config_path(args.config.as_deref()) {
        Some(path) => Some(load_config(&path)?),
        None => None,
    };
    let store = config.as_ref().map(|c| c.store.clone()).unwrap_or_default();
    let dir = args
        .data_dir
        .clone()
        .or_else(|| config.and_then(|c| c.server.data_dir))
        .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_DATA_DIR));
    if !dir.is_dir() {
        return Err(format!(
            "no data dir at {}: pass the hub's --data-dir (or the config with its \
             server.dataDir); a hub that never started has no token to reset",
            dir.display()
        ));
    }
    Ok((dir, store))
}

fn load_config(path: &Path) -> Result<crate::config::Config, String> {
    let config = crate::config::load_file(path).map_err(|e| {
        format!("{e}\nhookhub: the config must be valid to tell where the data dir is")
    })?;
    if config.admin.token.as_deref().is_some_and(|t| !t.is_empty()) {
        return Err(format!(
            "{}: admin.token is set, and the hub uses that token whatever this command \
             stores, so nothing was reset. To replace it, set admin.token to a new value (such \
             as the output of `openssl rand -base64 32`) and restart the hub; or remove \
             admin.token, restart the hub, and run this command again.",
            path.display()
        ));
    }
    Ok(config)
}

/// Puts `admin` in force: in the database when no hub holds it, else through the running hub;
/// on PostgreSQL, in the database the hubs share, ending every session there.
fn reset(dir: &Path, store: &StoreConfig, admin: &AdminToken) -> Result<Reset, String> {
    if store.backend == Backend::Postgres {
        let store = crate::app::open_store(store, dir).map_err(|e| e.to_string())?;
        store
            .set_admin_token_hash(admin.hash())
            .and_then(|()| match store.shared_tables() {
                Some(tables) => tables.clear_sessions(),
                None => Ok(()),
            })
            .and_then(|()| store.close())
            .map_err(|e| format!("cannot store the new token: {e}"))?;
        return Ok(Reset::Shared);
    }
    match Store::open(dir) {
        Ok(store) => {
            // A request left by an interrupted run would otherwise win at the next start.
            token_reset::clear(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
            store
                .set_admin_token_hash(admin.hash())
                .and_then(|()| store.close())
                .map_err(|e| format!("cannot store the new token: {e}"))?;
            Ok(Reset::Stored)
        }
        Err(StoreError::Locked { .. }) => through_running_hub(dir, admin).map(|()| Reset::Running),
        Err(e) => Err(e.to_string()),
    }
}

fn through_running_hub(dir: &Path, admin: &AdminToken) -> Result<(), String> {
    token_reset::request(dir, admin.hash()).map_err(|e| {
        format!(
            "cannot leave the new token's hash for the running hub in {}: {e}",
            dir.display()
        )
    })?;
    match token_reset::wait(dir, TAKE_WITHIN, APPLY_WITHIN) {
        Outcome::Applied => Ok(()),
        Outcome::Refused(reason) => Err(format!("the running hub refused the reset: {reason}")),
        Outcome::NotTaken => Err(format!(
            "the database in {} is in use, but no hub took the new token within {} s; \
             nothing changed. Is the process holding it a hookhub of this version?",
            dir.display(),
            TAKE_WITHIN.as_secs()
        )),
        Outcome::Unfinished => Err(
            "the running hub took the new token but did not say it was stored; see its log \
             and run this command again"
                .to_string(),
        ),
    }
}
