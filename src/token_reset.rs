//! `hookhub admin reset-token` while the hub runs. sled locks its database, so the command
//! cannot store the new token's hash itself; it leaves the hash in a request file in the data
//! dir and the running hub, which looks every [`POLL`], takes it: it stores the hash as the
//! admin token's, puts it in force, ends every session and deletes the file.
//!
//! The files, all in the data dir and 0600:
//! - [`REQUEST`]: the new token's SHA-256 in hex, put in place by rename so a hub never reads
//!   half of it.
//! - [`TAKEN`]: a request a hub has taken and is applying. Taking is a rename, so a hub taking
//!   a request and a command giving up on it cannot both succeed.
//! - [`REFUSED`]: why a hub took a request and did not apply it (written before [`TAKEN`] is
//!   deleted, so whoever sees both gone and no refusal knows the reset is in force).
//!
//! Only a hash ever touches the disk; this module never sees a token and serves no request.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::state::AppState;
use crate::state::admin::AdminToken;

/// A reset waiting for the running hub.
pub const REQUEST: &str = "admin-token.reset";
/// A reset the hub is applying.
pub const TAKEN: &str = "admin-token.reset.taken";
/// Why the hub refused a reset.
pub const REFUSED: &str = "admin-token.reset.refused";
/// How often the hub looks for a request.
pub const POLL: Duration = Duration::from_millis(500);

/// How a request ended, as the command sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The hub stored the new hash and put it in force.
    Applied,
    /// The hub took the request and refused it, saying why.
    Refused(String),
    /// No hub took the request in time; it was withdrawn.
    NotTaken,
    /// A hub took it but did not finish in time (its log says why).
    Unfinished,
}

/// Leaves a request for the running hub: `hash` in hex, written to a temporary file that
/// becomes [`REQUEST`] by rename. Outcomes of earlier requests are cleared first.
pub fn request(dir: &Path, hash: &[u8; 32]) -> std::io::Result<()> {
    for stale in [TAKEN, REFUSED] {
        remove_if_there(&dir.join(stale))?;
    }
    write_atomically(dir, REQUEST, &format!("{}\n", hex::encode(hash)))
}

/// Removes every reset file: for a command that found no hub running, so a request left by an
/// interrupted run is not applied at the next start over the token it stores itself.
pub fn clear(dir: &Path) -> std::io::Result<()> {
    for name in [REQUEST, TAKEN, REFUSED] {
        remove_if_there(&dir.join(name))?;
    }
    Ok(())
}

/// Waits for the hub to take the request (up to `take_within`) and then to apply it (up to
/// `apply_within`). A request no hub took is withdrawn, so no hub applies it later.
pub fn wait(dir: &Path, take_within: Duration, apply_within: Duration) -> Outcome {
    let (request, taken) = (dir.join(REQUEST), dir.join(TAKEN));
    let deadline = Instant::now() + take_within;
    while request.exists() {
        if Instant::now() >= deadline {
            // Withdrawing is a delete; if it finds nothing, a hub took the request just now.
            match std::fs::remove_file(&request) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                _ => return Outcome::NotTaken,
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + apply_within;
    while taken.exists() {
        if Instant::now() >= deadline {
            return Outcome::Unfinished;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match std::fs::read_to_string(dir.join(REFUSED)) {
        Ok(reason) => {
            let _ = std::fs::remove_file(dir.join(REFUSED));
            Outcome::Refused(reason.trim().to_string())
        }
        Err(_) => Outcome::Applied,
    }
}

/// The hub's side: looks for a request every [`POLL`] and applies it. `config_token` is true
/// when the config's `admin.token` is in force, which a stored hash cannot override, so every
/// request is refused with a reason the command prints.
pub fn spawn(dir: PathBuf, app: AppState, config_token: bool) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !config_token {
                follow(&app).await;
            }
            // Looked for without writing: a rename blocks for as long as the filesystem is
            // frozen or stalled, and this runs on the hub's runtime.
            if !dir.join(REQUEST).exists() {
                continue;
            }
            let taking = dir.clone();
            let Ok(Some(hash)) = tokio::task::spawn_blocking(move || take(&taking)).await else {
                continue;
            };
            let outcome = match hash {
                _ if config_token => Err(CONFIG_TOKEN_IN_FORCE.to_string()),
                Ok(hash) => apply(&app, hash).await,
                Err(e) => Err(e),
            };
            let finishing = dir.clone();
            let _ = tokio::task::spawn_blocking(move || finish(&finishing, outcome)).await;
        }
    })
}

/// On a database several hubs share, a reset is stored there (by the command, or by the hub
/// that took the request): the other hubs put the stored hash in force when it changes. Their
/// sessions are in the database too, and were ended by whoever reset.
async fn follow(app: &AppState) {
    if app.store.shared_tables().is_none() {
        return;
    }
    let store = app.store.clone();
    let stored = match tokio::task::spawn_blocking(move || store.admin_token_hash()).await {
        Ok(Ok(Some(hash))) => hash,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot read the stored admin token");
            return;
        }
        Err(_) => return,
    };
    if app.admin.is(&stored) {
        return;
    }
    if let Some(token) = AdminToken::from_hash(&stored) {
        app.admin.replace(token);
        tracing::info!(
            "the admin token was reset through another hub: every older token no longer works"
        );
    }
}

const CONFIG_TOKEN_IN_FORCE: &str = "the running hub's config sets admin.token, which is the \
    token in force until that setting changes: change or remove admin.token and restart the hub";

/// Takes a waiting request by renaming it to [`TAKEN`]: `None` when there is none, else the
/// hash it carries or why it is unreadable.
fn take(dir: &Path) -> Option<Result<[u8; 32], String>> {
    let taken = dir.join(TAKEN);
    match std::fs::rename(dir.join(REQUEST), &taken) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot take the admin token reset request");
            return None;
        }
    }
    let text = std::fs::read_to_string(&taken).unwrap_or_default();
    let hash = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| format!("{REQUEST} does not hold a SHA-256 in hex"));
    Some(hash)
}

/// Stores `hash` durably, then puts it in force and ends every session, in that order: a hub
/// that cannot store it keeps the old token rather than have it come back at the next start.
async fn apply(app: &AppState, hash: [u8; 32]) -> Result<(), String> {
    let stored = match app.store.set_admin_token_hash(&hash) {
        Ok(()) => app.store.sync().await,
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "cannot store the reset admin token; the old one stays");
        return Err(format!(
            "the hub cannot store the new token ({e}); the old one stays"
        ));
    }
    if let Some(token) = AdminToken::from_hash(&hash) {
        app.admin.replace(token);
    }
    if let Err(e) = app.sessions.clear() {
        tracing::error!(error = %e, "cannot end the sessions after an admin token reset");
        return Err(format!(
            "the new token is in force, but the signed-in browsers could not be signed out ({e}); \
             run the reset again"
        ));
    }
    tracing::info!(
        "the admin token was reset (hookhub admin reset-token): every older token and every \
         session no longer works"
    );
    Ok(())
}

/// Answers the command: a refusal is written before [`TAKEN`] goes (see the module doc).
fn finish(dir: &Path, outcome: Result<(), String>) {
    if let Err(reason) = &outcome {
        tracing::warn!(%reason, "admin token reset refused");
        if let Err(e) = write_atomically(dir, REFUSED, reason) {
            tracing::warn!(error = %e, "cannot answer the admin token reset request");
        }
    }
    if let Err(e) = remove_if_there(&dir.join(TAKEN)) {
        tracing::warn!(error = %e, "cannot remove the taken admin token reset request");
    }
}

/// Writes `text` to `dir/name`, 0600, by way of a temporary file renamed into place.
fn write_atomically(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, dir.join(name)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_private_line_of_hex() {
        let dir = tempfile::tempdir().unwrap();
        request(dir.path(), &[7; 32]).unwrap();
        let path = dir.path().join(REQUEST);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", "07".repeat(32))
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(take(dir.path()), Some(Ok([7; 32])));
        assert!(!path.exists() && dir.path().join(TAKEN).exists());
        assert_eq!(take(dir.path()), None, "taken once");
    }

    #[test]
    fn a_request_nobody_takes_is_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        request(dir.path(), &[1; 32]).unwrap();
        let outcome = wait(dir.path(), Duration::from_millis(100), Duration::ZERO);
        assert_eq!(outcome, Outcome::NotTaken);
        assert_eq!(take(dir.path()), None, "a hub starting later finds nothing");
    }

    #[test]
    fn the_command_hears_a_refusal_or_success() {
        let dir = tempfile::tempdir().unwrap();
        let quick = |d: &Path| wait(d, Duration::from_secs(5), Duration::from_secs(5));
        request(dir.path(), &[1; 32]).unwrap();
        take(dir.path()).unwrap().unwrap();
        finish(dir.path(), Err("no, because".into()));
        assert_eq!(quick(dir.path()), Outcome::Refused("no, because".into()));
        assert!(!dir.path().join(REFUSED).exists(), "read once");

        request(dir.path(), &[2; 32]).unwrap();
        take(dir.path()).unwrap().unwrap();
        finish(dir.path(), Ok(()));
        assert_eq!(quick(dir.path()), Outcome::Applied);

        std::fs::write(dir.path().join(REQUEST), "not hex").unwrap();
        assert!(take(dir.path()).unwrap().is_err());
    }
}
