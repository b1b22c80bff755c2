//! Hooks made through the API (the `api_hooks` tree: id → hook JSON). Secrets are kept at rest
//! only in the form they are needed in. Sealed with the data dir's key, bound to the hook id:
//! HMAC keys (`webhookSecret` of the signing schemes and `actionConfig.signingSecret`), every
//! `actionConfig.headers` value, and an `actionConfig.webhookUrl` that carries credentials
//! (`user:pass@` or query values; sealed whole). Hashed as `sha256:<hex>`: token secrets
//! (`bearer`, `header`, `gitlab`). Callers hand in plain hooks and get back hooks with sealed
//! values opened and tokens still hashed; the sealing never leaves this file. Secrets retiring
//! after a rotation are kept beside the hook, as `triggerConfig.retiringSecrets`.

use serde_json::Value;

use super::seal::{SealError, Sealer, is_sealed};
use super::{Database, StoreError};
use crate::model::{Hook, TOKEN_SCHEMES, hash_token, redact};

/// The stored form's field holding the retiring secrets (absent from the API's hook shape).
const RETIRING: &str = "retiringSecrets";

/// How a secret is kept at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kept {
    /// Needed in clear to compute signatures: sealed.
    Sealed,
    /// Only ever compared: hashed.
    Hashed,
}

impl Database {
    /// Every API-made hook, ordered by id.
    pub(super) fn api_hooks(&self) -> Result<Vec<Hook>, StoreError> {
        self.api_hooks
            .iter()
            .map(|entry| {
                let (_, bytes) = entry?;
                decode_hook(&self.seal, &bytes)
            })
            .collect()
    }

    pub(super) fn api_hook(&self, id: &str) -> Result<Option<Hook>, StoreError> {
        match self.api_hooks.get(id)? {
            Some(bytes) => Ok(Some(decode_hook(&self.seal, &bytes)?)),
            None => Ok(None),
        }
    }

    /// Creates or replaces an API hook, sealing and hashing its secrets before they reach the
    /// database. Not durable until [`super::Storage::sync`].
    pub(super) fn put_api_hook(&self, hook: &Hook) -> Result<(), StoreError> {
        self.api_hooks
            .insert(hook.id.as_bytes(), encode_hook(&self.seal, hook)?)?;
        Ok(())
    }

    /// Removes an API hook; false when there was none.
    pub(super) fn delete_api_hook(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.api_hooks.remove(id)?.is_some())
    }
}

/// A hook's stored form: secrets sealed or hashed, retiring secrets beside it.
pub(super) fn encode_hook(seal: &Sealer, hook: &Hook) -> Result<Vec<u8>, StoreError> {
    let mut stored = hook.clone();
    for (kept, secret) in secrets_mut(&mut stored) {
        if secret.is_empty() {
            continue;
        }
        *secret = match kept {
            Kept::Sealed => seal.seal(secret, &hook.id),
            Kept::Hashed => hash_token(secret),
        };
    }
    let retiring = std::mem::take(&mut stored.trigger_config.retiring_secrets);
    let mut value = serde_json::to_value(&stored)?;
    if !retiring.is_empty() {
        value["triggerConfig"][RETIRING] = serde_json::to_value(retiring)?;
    }
    Ok(serde_json::to_vec(&value)?)
}

/// A hook as stored, its sealed values opened.
pub(super) fn decode_hook(seal: &Sealer, bytes: &[u8]) -> Result<Hook, StoreError> {
    let mut hook = read_stored(bytes)?;
    let id = hook.id.clone();
    for (kept, secret) in secrets_mut(&mut hook) {
        // An empty value is kept as it is; so was every value before sealing existed, read
        // this way once by `migrate.rs`.
        if kept == Kept::Sealed && is_sealed(secret) {
            *secret = seal
                .unseal(secret, &id)
                .ok_or_else(|| SealError::Unseal { hook: id.clone() })?;
        }
    }
    Ok(hook)
}

/// The hook as stored, retiring secrets moved back into the model, nothing opened.
pub(super) fn read_stored(bytes: &[u8]) -> Result<Hook, StoreError> {
    let mut value: Value = serde_json::from_slice(bytes)?;
    let retiring = value
        .get_mut("triggerConfig")
        .and_then(Value::as_object_mut)
        .and_then(|t| t.remove(RETIRING));
    let mut hook: Hook = serde_json::from_value(value)?;
    if let Some(retiring) = retiring {
        hook.trigger_config.retiring_secrets = serde_json::from_value(retiring)?;
    }
    Ok(hook)
}

/// Every secret of a hook with how it is kept at rest. A secret's form follows the scheme
/// the hook is stored with, so writing and reading always agree. The forward URL counts only
/// when it carries credentials in clear or is sealed already, so a plain URL stays readable.
pub(super) fn secrets_mut(hook: &mut Hook) -> Vec<(Kept, &mut String)> {
    let trigger = &mut hook.trigger_config;
    let kept = if TOKEN_SCHEMES.contains(&trigger.scheme_name()) {
        Kept::Hashed
    } else {
        Kept::Sealed
    };
    let mut all: Vec<(Kept, &mut String)> = Vec::new();
    all.extend(trigger.webhook_secret.0.iter_mut().map(|s| (kept, s)));
    all.extend(
        trigger
            .retiring_secrets
            .iter_mut()
            .map(|r| (kept, &mut r.secret)),
    );
    all.extend(
        hook.action_config
            .signing_secret
            .0
            .iter_mut()
            .map(|s| (Kept::Sealed, s)),
    );
    all.extend(
        hook.action_config
            .headers
            .values_mut()
            .map(|v| (Kept::Sealed, v)),
    );
    if let Some(url) = &mut hook.action_config.webhook_url
        && (is_sealed(url) || redact::url_has_credentials(url))
    {
        all.push((Kept::Sealed, url));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ActionConfig, ActionKind, RetiringSecret, Secrets, TriggerConfig};
    use crate::store::{SledStore, Storage as _, migrate};

    fn hook(scheme: &str, secret: &str) -> Hook {
        Hook {
            id: "h".into(),
            name: String::new(),
            enabled: true,
            trigger: Default::default(),
            trigger_config: TriggerConfig {
                webhook_path: "p".into(),
                scheme: Some(scheme.into()),
                webhook_secret: Secrets(vec![secret.into()]),
                retiring_secrets: vec![RetiringSecret {
                    secret: "old-one".into(),
                    valid_until: 42,
                }],
                ..Default::default()
            },
            action: ActionKind::Webhook,
            action_config: ActionConfig {
                signing_secret: Secrets(vec!["forward-key".into()]),
                ..Default::default()
            },
            alerts: None,
        }
    }

    fn raw(store: &SledStore) -> String {
        let bytes = store.database().api_hooks.get("h").unwrap().unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn hmac_keys_are_sealed_and_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store.put_api_hook(&hook("github", "gh-key")).unwrap();
        let raw = raw(&store);
        for secret in ["gh-key", "old-one", "forward-key"] {
            assert!(!raw.contains(secret), "{secret} in clear: {raw}");
        }
        assert_eq!(
            store.api_hook("h").unwrap().unwrap(),
            hook("github", "gh-key")
        );
    }

    fn forward_hook() -> Hook {
        let mut forward = hook("github", "gh-key");
        forward.action_config.webhook_url = Some("https://u-31:p-31@h.example/x?t=q-31".into());
        forward.action_config.headers = [
            ("Authorization".to_string(), "Bearer hv-31".to_string()),
            ("X-Empty".to_string(), String::new()),
        ]
        .into();
        forward
    }

    #[test]
    fn forward_headers_and_url_credentials_are_sealed_and_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store.put_api_hook(&forward_hook()).unwrap();
        let stored = raw(&store);
        for secret in ["u-31", "p-31", "q-31", "hv-31", "h.example"] {
            assert!(!stored.contains(secret), "{secret} in clear: {stored}");
        }
        assert_eq!(store.api_hook("h").unwrap().unwrap(), forward_hook());

        // A URL without credentials stays readable.
        let mut plain = forward_hook();
        plain.action_config.webhook_url = Some("https://h.example/x".into());
        store.put_api_hook(&plain).unwrap();
        assert!(raw(&store).contains("https://h.example/x"));
        assert_eq!(store.api_hook("h").unwrap().unwrap(), plain);
    }

    #[test]
    fn tokens_are_hashed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store.put_api_hook(&hook("bearer", "tok-7781")).unwrap();
        assert!(!raw(&store).contains("tok-7781"));
        let read = store.api_hook("h").unwrap().unwrap();
        let hashed = hash_token("tok-7781");
        assert_eq!(read.trigger_config.webhook_secret.0, vec![hashed.clone()]);
        assert_eq!(
            read.trigger_config.retiring_secrets[0].secret,
            hash_token("old-one")
        );
        assert_eq!(read.action_config.signing_secret.0, vec!["forward-key"]);
        // Storing what was read (a PUT that keeps the secret) leaves the digest alone.
        store.put_api_hook(&read).unwrap();
        let again = store.api_hook("h").unwrap().unwrap();
        assert_eq!(again.trigger_config.webhook_secret.0, vec![hashed]);
    }

    #[test]
    fn hooks_stored_in_clear_are_sealed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            let legacy = serde_json::to_vec(&hook("github", "gh-key")).unwrap();
            store.database().api_hooks.insert("h", legacy).unwrap();
            assert_eq!(store.api_hook("h").unwrap().unwrap().id, "h");
            migrate::forget_format(&store.database());
            store.flush_now().unwrap();
        }
        let store = SledStore::open_again(dir.path()).unwrap();
        assert!(!raw(&store).contains("gh-key"));
        let read = store.api_hook("h").unwrap().unwrap();
        assert_eq!(read.trigger_config.webhook_secret.0, vec!["gh-key"]);
        assert_eq!(migrate::seal_clear_hooks(&store.database()).unwrap(), 0);
    }

    #[test]
    fn forward_credentials_stored_in_clear_are_sealed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            // As stored before headers and URLs were sealed: HMAC keys sealed, the rest clear.
            let mut legacy = forward_hook();
            legacy.trigger_config.webhook_secret =
                Secrets(vec![store.database().seal.seal("gh-key", "h")]);
            legacy.trigger_config.retiring_secrets.clear();
            legacy.action_config.signing_secret =
                Secrets(vec![store.database().seal.seal("forward-key", "h")]);
            let bytes = serde_json::to_vec(&legacy).unwrap();
            store.database().api_hooks.insert("h", bytes).unwrap();
            migrate::forget_format(&store.database());
            store.flush_now().unwrap();
        }
        let store = SledStore::open_again(dir.path()).unwrap();
        let raw = raw(&store);
        for secret in ["p-31", "q-31", "hv-31"] {
            assert!(!raw.contains(secret), "{secret} in clear: {raw}");
        }
        let mut expected = forward_hook();
        expected.trigger_config.retiring_secrets.clear();
        assert_eq!(store.api_hook("h").unwrap().unwrap(), expected);
        assert_eq!(migrate::seal_clear_hooks(&store.database()).unwrap(), 0);
    }
}
