//! The data dir's secret key (`secret.key`, 32 random bytes, mode 0600) and sealing values
//! with it (ChaCha20-Poly1305, a fresh 12-byte nonce per value). Sealed text looks like
//! `sealed:v1:<base64 of nonce and ciphertext>`; and keyed hashes of short secrets
//! ([`Sealer::digest`]). This file creates and checks the key file; it never logs a key or an
//! opened value.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "secret.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const PREFIX: &str = "sealed:v1:";

/// Why the key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("secret key file {path}: {reason}")]
    Key { path: String, reason: KeyFileError },
    #[error(
        "a sealed secret of hook `{hook}` cannot be opened: the data dir's {KEY_FILE} is not the \
         one it was sealed with (restore {KEY_FILE} from the backup taken with the database)"
    )]
    Unseal { hook: String },
}

/// What is wrong with the key file, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{0}")]
    Read(std::io::Error),
    /// The file's permission bits, and the file.
    #[error("others may read or change it (mode {0:o}); it must be 0600: run `chmod 600 {1}`")]
    Loose(u32, String),
    /// How many bytes it holds.
    #[error(
        "must hold exactly {KEY_LEN} bytes but holds {0}; restore it from the backup \
         taken with the database"
    )]
    Length(usize),
    #[error("cannot create it: {0}")]
    Create(std::io::Error),
    #[error("cannot write it: {0}")]
    Write(std::io::Error),
    #[error("cannot sync its directory: {0}")]
    SyncDir(std::io::Error),
}

/// Seals and opens values with the data dir's key.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// For [`Sealer::digest`]: derived from the key, so a digest never reveals the key itself.
    digest_key: [u8; 32],
}

impl Sealer {
    /// Reads `<dir>/secret.key`, creating it (mode 0600) when absent. Refuses a key file that
    /// others may read or write, or that is not 32 bytes long.
    pub fn open_or_create(dir: &Path) -> Result<Self, SealError> {
        let path = dir.join(KEY_FILE);
        let key = load_or_create(&path).map_err(|reason| SealError::Key {
            path: path.display().to_string(),
            reason,
        })?;
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(b"hookhub digest key");
        Ok(Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            digest_key: mac.finalize().into_bytes().into(),
        })
    }

    /// A keyed hash (HMAC-SHA-256) of `value` for `context`: what a shared database keeps of a
    /// short-lived secret such as a six-character link code, which a plain hash would give up
    /// to anyone reading the table in a moment's search. Hubs sharing the key agree on it.
    pub fn digest(&self, value: &str, context: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key)
            .expect("HMAC takes any key length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Seals `value`, bound to `context` (the hook id), so a sealed value copied to another
    /// hook does not open.
    pub fn seal(&self, value: &str, context: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encrypts any value that fits in memory");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", BASE64.encode(bytes))
    }

    /// Opens a sealed value; `None` when it was sealed with another key or context, or is not
    /// sealed text.
    pub fn unseal(&self, value: &str, context: &str) -> Option<String> {
        let bytes = BASE64.decode(value.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let opened = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(opened).ok()
    }
}

/// Whether a stored value is in sealed form.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

fn load_or_create(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    if !path.exists() {
        create(path)?;
    }
    let mode = fs::metadata(path)
        .map_err(KeyFileError::Read)?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Loose(
            mode & 0o777,
            path.display().to_string(),
        ));
    }
    let bytes = fs::read(path).map_err(KeyFileError::Read)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| KeyFileError::Length(len))
}

/// Writes a new key beside the final name, then links it into place, so a crash mid-write
/// never leaves a short key file behind and two starts racing keep one key.
fn create(path: &Path) -> Result<(), KeyFileError> {
    let partial = path.with_extension("key.partial");
    let _ = fs::remove_file(&partial);
    let key: [u8; KEY_LEN] = rand::random();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(KeyFileError::Create)?;
    file.write_all(&key)
        .and_then(|()| file.sync_all())
        .map_err(KeyFileError::Write)?;
    let linked = fs::hard_link(&partial, path);
    let _ = fs::remove_file(&partial);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(KeyFileError::Create(e)),
    }
    if let Some(dir) = path.parent() {
        // The new name must survive a crash too, or the next start makes another key.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(KeyFileError::SyncDir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = Sealer::open_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let sealed = first.seal("s3cret", "hook-a");
        assert!(is_sealed(&sealed) && !sealed.contains("s3cret"));
        let again = Sealer::open_or_create(dir.path()).unwrap();
        assert_eq!(again.unseal(&sealed, "hook-a").as_deref(), Some("s3cret"));
        assert_eq!(again.unseal(&sealed, "hook-b"), None, "bound to its hook");
        assert_ne!(
            first.seal("s3cret", "hook-a"),
            sealed,
            "fresh nonce each time"
        );
    }

    #[test]
    fn a_loose_or_short_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Sealer::open_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Sealer::open_or_create(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("mode 644") && err.contains("chmod 600"),
            "{err}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, b"short").unwrap();
        let err = Sealer::open_or_create(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("exactly 32 bytes but holds 5"), "{err}");
    }

    #[test]
    fn another_key_does_not_open_a_value() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let sealed = Sealer::open_or_create(a.path()).unwrap().seal("x", "h");
        let other = Sealer::open_or_create(b.path()).unwrap();
        assert_eq!(other.unseal(&sealed, "h"), None);
        assert_eq!(other.unseal("plain", "h"), None);
    }

    #[test]
    fn digests_agree_under_one_key_and_differ_by_key_and_context() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Sealer::open_or_create(a.path()).unwrap();
        let again = Sealer::open_or_create(a.path()).unwrap();
        let other = Sealer::open_or_create(b.path()).unwrap();
        assert_eq!(first.digest("ABC234", "c"), again.digest("ABC234", "c"));
        assert_ne!(first.digest("ABC234", "c"), other.digest("ABC234", "c"));
        assert_ne!(first.digest("ABC234", "c"), first.digest("ABC234", "d"));
        assert_ne!(first.digest("ABC234", "c"), first.digest("ABC235", "c"));
    }
}
