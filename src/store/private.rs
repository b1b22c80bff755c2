//! Keeping the data dir to its owner (SPEC §11): the directory and those inside it 0700, its
//! files 0600. The store creates its own files with these modes and, each time it opens,
//! tightens whatever is looser (a data dir made by an older hub, a restored backup, sled's
//! files). sled also creates files while it runs (snapshots, blobs) with the process umask,
//! so `hookhub serve` sets the umask to 077 ([`keep_new_files_private`]); a child process the
//! hub starts must get the original umask back ([`original_umask`], [`restore_umask`]).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::Mode;

/// What the data dir's files may be: read and written by their owner only.
pub(super) const FILE_MODE: u32 = 0o600;
/// The permission bits only the owner may hold.
const OWNER_ONLY: u32 = 0o700;

/// The umask before [`keep_new_files_private`] replaced it.
static ORIGINAL_UMASK: OnceLock<u32> = OnceLock::new();

/// Why the data dir could not be made, or made private.
#[derive(Debug, thiserror::Error)]
pub(super) enum DirError {
    #[error("cannot create it: {0}")]
    Create(io::Error),
    #[error("{0}")]
    Read(io::Error),
    /// The directory, shown, and why its mode could not change.
    #[error("cannot make it private to its owner (run `chmod 700 {0}`): {1}")]
    Tighten(String, io::Error),
}

/// Creates `dir` when it is missing, and takes group and others' access away from it: they
/// could otherwise list it and read any file in it that is not 0600 yet.
pub(super) fn make_dir(dir: &Path) -> Result<(), DirError> {
    fs::create_dir_all(dir).map_err(DirError::Create)?;
    let metadata = fs::metadata(dir).map_err(DirError::Read)?;
    tighten(dir, &metadata).map_err(|e| DirError::Tighten(dir.display().to_string(), e))?;
    Ok(())
}

/// Takes group and others' access away from everything under `dir` (see [`tighten_tree`]),
/// saying so in the log when anything was looser.
pub(super) fn tighten_files(dir: &Path) {
    let changed = tighten_tree(dir);
    if changed > 0 {
        tracing::info!(count = changed, dir = %dir.display(), "made data files private to their owner");
    }
}

/// Takes group and others' access away from everything under `dir`, its subdirectories
/// included; symbolic links are left alone (their targets are not the hub's). A file that
/// cannot be changed is logged, not fatal: the directory itself, already private, keeps others
/// out. Returns how many entries were changed.
fn tighten_tree(dir: &Path) -> usize {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list a data directory");
            return 0;
        }
    };
    let mut changed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if metadata.file_type().is_symlink() {
            continue;
        }
        match tighten(&path, &metadata) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot make a data file private");
            }
        }
        if metadata.is_dir() {
            changed += tighten_tree(&path);
        }
    }
    changed
}

/// Clears the group and other bits of `path` (0644 → 0600, 0755 → 0700), keeping the owner's.
/// Returns whether anything changed.
fn tighten(path: &Path, metadata: &fs::Metadata) -> io::Result<bool> {
    let mode = metadata.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode & OWNER_ONLY))?;
    Ok(true)
}

/// Sets the process umask to 077, so every file and directory made from now on — sled's
/// snapshots and blobs among them — is its owner's only. The umask is process-wide: this is
/// called by `hookhub serve` before its runtime starts, never by [`crate::run`], so a program
/// embedding the hub (the tests) keeps its own. The umask replaced is kept for
/// [`original_umask`].
pub fn keep_new_files_private() {
    let previous = rustix::process::umask(Mode::from_raw_mode(0o077));
    // A second call would see 077; the first one saw the real original.
    let _ = ORIGINAL_UMASK.set(previous.as_raw_mode());
}

/// The umask the process had before [`keep_new_files_private`], or `None` when it was not
/// changed. A process the hub starts should run with it (see [`restore_umask`]), so the files
/// it makes are what its owner expects rather than private to the hub's user.
pub fn original_umask() -> Option<u32> {
    ORIGINAL_UMASK.get().copied()
}

/// Sets the umask to `mask`. A single system call that allocates nothing, so it may run in a
/// forked child before `exec` (`Command::pre_exec`).
pub fn restore_umask(mask: u32) {
    rustix::process::umask(Mode::from_raw_mode(mask));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_loose_data_dir_and_its_files_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        make_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let sub = dir.join("db");
        fs::create_dir(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o775)).unwrap();
        for (path, loose) in [(dir.join("a"), 0o644), (sub.join("b"), 0o666)] {
            fs::write(&path, b"x").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(loose)).unwrap();
        }
        let outside = root.path().join("outside");
        fs::write(&outside, b"x").unwrap();
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();

        make_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(tighten_tree(&dir), 3);
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&dir.join("a")), 0o600);
        assert_eq!(mode(&sub.join("b")), 0o600);
        assert_eq!(mode(&outside), 0o644, "a link's target is not the hub's");
        assert_eq!(tighten_tree(&dir), 0);
    }
}
