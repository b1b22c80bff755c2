//! `POST /api/hooks/:id/rotate-secret` and `POST /api/hooks/:id/rotate-path` (SPEC §5, §8): a
//! new secret or path for an API-made hook, in force as soon as the answer is sent. The new
//! secret is shown once, in that answer; the old one may keep verifying for a grace period.
//! Config-file hooks are rotated by editing the file, never here.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::hooks::{commit, editable, generate_secret, validate};
use super::parse_json;
use crate::clock::{Millis, rfc3339};
use crate::error::ApiError;
use crate::model::{Hook, RetiringSecret, Secrets};
use crate::state::AppState;

/// At most this many rotated-out secrets verify at once; older ones retire early, so repeated
/// rotations cannot grow a hook without bound.
const MAX_RETIRING: usize = 8;
/// Random characters appended to a rotated path.
const PATH_SUFFIX_LEN: usize = 12;
const MAX_PATH_LEN: usize = 128;

/// The optional body of `rotate-secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RotateSecretIn {
    /// The new secret; one is generated in the scheme's form when absent.
    #[serde(default)]
    secret: Option<String>,
    /// How long the old secret keeps verifying (`24h`); not at all when absent.
    #[serde(default, with = "crate::model::duration::option")]
    grace_period: Option<Duration>,
}

/// Gives the hook a new secret and answers it, once, with when the old one stops verifying.
pub async fn rotate_secret(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let input: RotateSecretIn = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecretIn::default()
    } else {
        parse_json(&body)?
    };
    let mut hook = editable(&app, &id)?;
    let secret = match input.secret {
        Some(s) if s.trim().is_empty() => {
            return Err(ApiError::invalid_field("secret", "must not be empty"));
        }
        Some(s) => s,
        None => generate_secret(hook.trigger_config.scheme_name()),
    };
    let grace_ms = input
        .grace_period
        .map(|d| Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX));
    let valid_until = rotate(&mut hook, secret.clone(), app.clock.now_ms(), grace_ms);
    validate(&app, &hook).map_err(|e| match e.field.as_deref() {
        Some(f) if f.starts_with("triggerConfig.webhookSecret") => {
            ApiError::invalid_field("secret", e.message)
        }
        _ => e,
    })?;
    commit(&app, &hook.id, |store| store.put_api_hook(&hook)).await?;
    let mut response = Json(json!({
        "webhookSecret": secret,
        "previousValidUntil": valid_until.map(rfc3339),
    }))
    .into_response();
    // The one answer that carries the secret must not be kept by a cache on the way.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Gives the hook a new random path; the old one answers 404 from now on.
pub async fn rotate_path(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut hook = editable(&app, &id)?;
    let suffix = random_suffix();
    hook.trigger_config.webhook_path =
        rotated_path(&hook.trigger_config.webhook_path, &id, &suffix);
    validate(&app, &hook)?;
    commit(&app, &hook.id, |store| store.put_api_hook(&hook)).await?;
    let path = hook.trigger_config.webhook_path;
    Ok(Json(
        json!({ "url": app.webhook_url(&path), "webhookPath": path }),
    ))
}

/// Puts `secret` in force. With a grace period the previous secrets keep verifying until
/// `now + grace` (returned); without one they, and any still retiring, stop at once.
fn rotate(
    hook: &mut Hook,
    secret: String,
    now: Millis,
    grace_ms: Option<Millis>,
) -> Option<Millis> {
    let trigger = &mut hook.trigger_config;
    let previous = std::mem::replace(&mut trigger.webhook_secret, Secrets(vec![secret]));
    let Some(until) = grace_ms
        .filter(|&ms| ms > 0)
        .map(|ms| now.saturating_add(ms))
    else {
        trigger.retiring_secrets.clear();
        return None;
    };
    let retiring = &mut trigger.retiring_secrets;
    retiring.retain(|r| r.valid_until > now);
    retiring.extend(previous.iter().map(|s| RetiringSecret {
        secret: s.to_string(),
        valid_until: until,
    }));
    let excess = retiring.len().saturating_sub(MAX_RETIRING);
    retiring.drain(..excess);
    Some(until)
}

/// `<prefix>-<suffix>`, where the prefix is the old path without an earlier rotation's suffix
/// (so rotating twice does not stack suffixes), or the hook id when nothing is left.
fn rotated_path(old: &str, hook_id: &str, suffix: &str) -> String {
    let prefix = strip_rotation_suffix(old);
    let prefix = if prefix.is_empty() { hook_id } else { prefix };
    let keep = MAX_PATH_LEN - PATH_SUFFIX_LEN - 1;
    let prefix = prefix.get(..keep).unwrap_or(prefix).trim_end_matches('/');
    format!("{prefix}-{suffix}")
}

fn strip_rotation_suffix(path: &str) -> &str {
    match path.len().checked_sub(PATH_SUFFIX_LEN + 1) {
        Some(cut)
            if path.as_bytes()[cut] == b'-'
                && path.as_bytes()[cut + 1..]
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) =>
        {
            &path[..cut]
        }
        _ => path,
    }
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..PATH_SUFFIX_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TriggerConfig;

    fn hook(secrets: &[&str]) -> Hook {
        serde_json::from_value(json!({
            "id": "h", "triggerConfig": {"webhookPath": "p", "webhookSecret": secrets},
            "action": "webhook", "actionConfig": {"webhookUrl": "http://x"}
        }))
        .unwrap()
    }

    #[test]
    fn grace_keeps_the_previous_secrets_until_their_time() {
        let mut h = hook(&["a", "b"]);
        assert_eq!(rotate(&mut h, "c".into(), 1_000, Some(500)), Some(1_500));
        let t: &TriggerConfig = &h.trigger_config;
        assert_eq!(t.webhook_secret.0, vec!["c"]);
        let retiring: Vec<_> = t
            .retiring_secrets
            .iter()
            .map(|r| (r.secret.as_str(), r.valid_until))
            .collect();
        assert_eq!(retiring, vec![("a", 1_500), ("b", 1_500)]);
        // Later, a rotation drops what has expired and keeps what has not.
        assert_eq!(rotate(&mut h, "d".into(), 1_600, Some(100)), Some(1_700));
        let secrets: Vec<_> = h
            .trigger_config
            .retiring_secrets
            .iter()
            .map(|r| r.secret.as_str())
            .collect();
        assert_eq!(secrets, vec!["c"]);
        // Without grace nothing old verifies.
        assert_eq!(rotate(&mut h, "e".into(), 1_650, None), None);
        assert!(h.trigger_config.retiring_secrets.is_empty());
    }

    #[test]
    fn retiring_secrets_are_bounded() {
        let mut h = hook(&["s0"]);
        for i in 1..=20 {
            rotate(&mut h, format!("s{i}"), 0, Some(10_000));
        }
        let retiring = &h.trigger_config.retiring_secrets;
        assert_eq!(retiring.len(), MAX_RETIRING);
        assert_eq!(retiring.last().unwrap().secret, "s19");
    }

    #[test]
    fn rotated_paths_replace_an_earlier_suffix_and_fit() {
        let s = "abcdefghij12";
        assert_eq!(rotated_path("github", "h", s), "github-abcdefghij12");
        assert_eq!(
            rotated_path("github-zzzzzzzzzzzz", "h", s),
            "github-abcdefghij12"
        );
        assert_eq!(
            rotated_path("-zzzzzzzzzzzz", "hook-id", s),
            "hook-id-abcdefghij12"
        );
        assert_eq!(rotated_path("gh/prs", "h", s), "gh/prs-abcdefghij12");
        let long = format!("{}/{}", "a".repeat(114), "b".repeat(13));
        let rotated = rotated_path(&long, "h", s);
        assert!(
            rotated.len() <= MAX_PATH_LEN && !rotated.contains("/-"),
            "{rotated}"
        );
        let suffix = random_suffix();
        assert_eq!(suffix.len(), PATH_SUFFIX_LEN);
        assert!(
            suffix
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
