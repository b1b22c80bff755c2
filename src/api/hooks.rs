//! `/api/hooks`: list, create, read, replace, patch and delete hooks. Hooks from the config file
//! are listed but read-only. Secrets are accepted on the way in and never sent back, except a
//! secret the hub generated, shown once in the answer that created it: `webhookSecret` and
//! `signingSecret` are left out, a forward's header values and URL credentials are shown
//! `[redacted]` (SPEC §11). A client that sends a hook back as it read it keeps them all.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::hook_yaml::{self, FormatQuery};
use super::parse_json;
use crate::error::{ApiError, ErrorCode};
use crate::execution::{ExecutionId, Status};
use crate::hooks::{LiveHook, Source};
use crate::model::{ActionKind, Hook, Secrets, TOKEN_SCHEMES, TriggerKind, redact};
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// A hook as the API shows it: secrets removed, with where it came from and how it is doing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookOut {
    #[serde(flatten)]
    hook: Hook,
    source: Source,
    read_only: bool,
    /// The URL senders post to; `None` for a schedule hook, which no sender can reach.
    url: Option<String>,
    has_secret: bool,
    queued: usize,
    last_execution: Option<LastExecution>,
    /// Only in the list, for its chart.
    #[serde(skip_serializing_if = "Option::is_none")]
    last24h: Option<ActivityOut>,
}

/// A hook's last 24 hours ([`crate::store::Activity`]): counts per hour from `start`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActivityOut {
    start: String,
    succeeded: [u32; crate::store::HOURS],
    failed: [u32; crate::store::HOURS],
    skipped: [u32; crate::store::HOURS],
    capped: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LastExecution {
    id: ExecutionId,
    status: Status,
    received_at: String,
}

/// The hook as clients see it: secrets left out, forward credentials redacted.
fn shown(hook: &Hook) -> Hook {
    let mut shown = hook.clone();
    shown.trigger_config.webhook_secret = Secrets::default();
    shown.trigger_config.retiring_secrets = Vec::new();
    shown.action_config.signing_secret = Secrets::default();
    redact::action_config(&mut shown.action_config);
    shown
}

fn hook_out(app: &AppState, live: &LiveHook) -> Result<HookOut, ApiError> {
    let hook = shown(&live.hook);
    let has_secret = !live.hook.trigger_config.webhook_secret.is_empty();
    let last = app.store.last_execution_of(&hook.id)?;
    Ok(HookOut {
        url: (hook.trigger == TriggerKind::Webhook)
            .then(|| app.webhook_url(&hook.trigger_config.webhook_path)),
        queued: app.queue.queued(&hook.id),
        source: live.source,
        read_only: live.source == Source::ConfigFile,
        has_secret,
        last_execution: last.map(|e| LastExecution {
            id: e.id,
            status: e.status,
            received_at: crate::clock::rfc3339(e.received_at),
        }),
        last24h: None,
        hook,
    })
}

fn activity_out(app: &AppState, hook_id: &str) -> Result<ActivityOut, ApiError> {
    let day = app.store.activity(hook_id, app.clock.now_ms())?;
    Ok(ActivityOut {
        start: crate::clock::rfc3339(day.start_ms),
        succeeded: day.succeeded,
        failed: day.failed,
        skipped: day.skipped,
        capped: day.capped,
    })
}

/// `GET /api/hooks`, with each hook's last 24 hours; `?format=yaml` for the config file.
pub async fn list(
    State(app): State<AppState>,
    Query(format): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let snapshot = app.registry.snapshot();
    if format.yaml()? {
        let hooks = snapshot.hooks().map(|h| (&*h.hook, h.source));
        return hook_yaml::answer(hooks);
    }
    let hooks = snapshot
        .hooks()
        .map(|h| {
            let mut out = hook_out(&app, h)?;
            out.last24h = Some(activity_out(&app, &h.hook.id)?);
            Ok(out)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(json!({ "hooks": hooks })).into_response())
}

/// `GET /api/hooks/:id`; `?format=yaml` for the config file.
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(format): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let snapshot = app.registry.snapshot();
    let live = snapshot.hook(&id).ok_or_else(|| not_found(&id))?;
    if format.yaml()? {
        return hook_yaml::answer([(&*live.hook, live.source)]);
    }
    Ok(Json(hook_out(&app, live)?).into_response())
}

pub async fn create(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let mut hook: Hook = parse_json(&body)?;
    // A new hook has no stored values for a copied `[redacted]` to stand for.
    restore_redacted(&mut hook, None)?;
    let snapshot = app.registry.snapshot();
    if hook.id.is_empty() {
        hook.id = unique_slug(&hook.name, |id| snapshot.hook(id).is_some());
    } else if snapshot.hook(&hook.id).is_some() {
        return Err(ApiError::new(
            ErrorCode::HookExists,
            format!("a hook with id `{}` exists already", hook.id),
        ));
    }
    // A scheduled hook has no sender to share a secret with.
    let wants_secret = hook.trigger == TriggerKind::Webhook;
    let generated = if wants_secret && hook.trigger_config.webhook_secret.is_empty() {
        let secret = generate_secret(hook.trigger_config.scheme_name());
        hook.trigger_config.webhook_secret = Secrets(vec![secret.clone()]);
        Some(secret)
    } else {
        None
    };
    validate(&app, &hook)?;
    commit(&app, &hook.id, |store| store.put_api_hook(&hook)).await?;
    let snapshot = app.registry.snapshot();
    let live = snapshot.hook(&hook.id).ok_or_else(|| not_found(&hook.id))?;
    let mut out = serde_json::to_value(hook_out(&app, live)?).map_err(ApiError::internal)?;
    if let Some(secret) = generated {
        // Shown this once; only its use proves it afterwards.
        out["webhookSecret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn replace(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let existing = editable(&app, &id)?;
    let hook: Hook = parse_json(&body)?;
    save_edit(&app, existing, hook).await
}

/// JSON merge patch (RFC 7396) over the stored hook.
pub async fn patch(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let existing = editable(&app, &id)?;
    let patch: Value = parse_json(&body)?;
    // Merged over the hook as a client sees it (secrets left out or redacted), so a patch that
    // leaves them alone keeps them the same way a PUT does.
    let mut merged = serde_json::to_value(shown(&existing)).map_err(ApiError::internal)?;
    merge_patch(&mut merged, &patch);
    let hook: Hook = parse_json(merged.to_string().as_bytes())?;
    save_edit(&app, existing, hook).await
}

pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    editable(&app, &id)?;
    commit(&app, &id, |store| store.delete_api_hook(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes one change to the database's hook `id` (`write`), waits until it is on disk, and puts
/// the hook as stored in force: every API edit of a hook ends here, so it is live once
/// answered. The rest of the set is kept as it is ([`crate::hooks::Registry::refresh_api_hook`]).
pub(super) async fn commit<T>(
    app: &AppState,
    id: &str,
    write: impl FnOnce(&Store) -> Result<T, StoreError>,
) -> Result<(), ApiError> {
    write(&*app.store)?;
    app.store.sync().await?;
    app.registry.refresh_api_hook(&*app.store, id)?;
    Ok(())
}

/// The stored API hook with this id, or why it cannot be edited.
pub(super) fn editable(app: &AppState, id: &str) -> Result<Hook, ApiError> {
    let snapshot = app.registry.snapshot();
    let live = snapshot.hook(id).ok_or_else(|| not_found(id))?;
    if live.source == Source::ConfigFile {
        return Err(ApiError::new(
            ErrorCode::HookReadOnly,
            format!("hook `{id}` comes from the config file; edit it there"),
        ));
    }
    app.store.api_hook(id)?.ok_or_else(|| not_found(id))
}

async fn save_edit(
    app: &AppState,
    existing: Hook,
    mut hook: Hook,
) -> Result<Json<Value>, ApiError> {
    if hook.id.is_empty() {
        hook.id = existing.id.clone();
    } else if hook.id != existing.id {
        return Err(ApiError::invalid_field("id", "cannot be changed"));
    }
    // A client that read the hook never saw its secrets; leaving them out keeps them, along
    // with a rotation's retiring secrets, as long as the hook still has a use for them (an
    // edit may turn it into a schedule, or its forward into another action). A new secret
    // replaces them all at once.
    let webhook = hook.trigger == TriggerKind::Webhook;
    let mut generated = None;
    if webhook && hook.trigger_config.webhook_secret.is_empty() {
        keep_trigger_secrets(&existing, &mut hook)?;
        // A schedule turned into a webhook has no secret yet: it gets one, as a new hook does.
        if hook.trigger_config.webhook_secret.is_empty() {
            let secret = generate_secret(hook.trigger_config.scheme_name());
            hook.trigger_config.webhook_secret = Secrets(vec![secret.clone()]);
            generated = Some(secret);
        }
    }
    if hook.action == ActionKind::Webhook && hook.action_config.signing_secret.is_empty() {
        hook.action_config.signing_secret = existing.action_config.signing_secret.clone();
    }
    restore_redacted(&mut hook, Some(&existing))?;
    validate(app, &hook)?;
    commit(app, &hook.id, |store| store.put_api_hook(&hook)).await?;
    let snapshot = app.registry.snapshot();
    let live = snapshot.hook(&hook.id).ok_or_else(|| not_found(&hook.id))?;
    let mut out = serde_json::to_value(hook_out(app, live)?).map_err(ApiError::internal)?;
    if let Some(secret) = generated {
        out["webhookSecret"] = json!(secret);
    }
    Ok(Json(out))
}

/// Carries the stored secrets over to an edited hook. A token scheme's secret is stored only
/// as its hash, so it cannot become the key of a signing scheme.
fn keep_trigger_secrets(existing: &Hook, hook: &mut Hook) -> Result<(), ApiError> {
    let was_token = TOKEN_SCHEMES.contains(&existing.trigger_config.scheme_name());
    let is_token = TOKEN_SCHEMES.contains(&hook.trigger_config.scheme_name());
    if was_token && !is_token && !existing.trigger_config.webhook_secret.is_empty() {
        return Err(ApiError::invalid_field(
            "triggerConfig.webhookSecret",
            format!(
                "the `{}` secret is stored only as its hash and cannot sign for scheme `{}`; \
                 give a new webhookSecret",
                existing.trigger_config.scheme_name(),
                hook.trigger_config.scheme_name()
            ),
        ));
    }
    hook.trigger_config.webhook_secret = existing.trigger_config.webhook_secret.clone();
    hook.trigger_config.retiring_secrets = existing.trigger_config.retiring_secrets.clone();
    Ok(())
}

/// Puts back the stored header values and URL a client sent back `[redacted]`, as it read them.
fn restore_redacted(hook: &mut Hook, existing: Option<&Hook>) -> Result<(), ApiError> {
    let stored = existing.map(|e| &e.action_config);
    redact::restore(&mut hook.action_config, stored)
        .map_err(|r| ApiError::invalid_field(r.field, r.message))
}

pub(super) fn validate(app: &AppState, hook: &Hook) -> Result<(), ApiError> {
    let snapshot = app.registry.snapshot();
    match crate::config::validate_hook(hook, &snapshot.config)
        .into_iter()
        .next()
    {
        Some((field, message)) => Err(ApiError::invalid_field(field, message)),
        None => Ok(()),
    }
}

pub(super) fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::HookNotFound, format!("no hook with id `{id}`"))
}

/// A slug made from a name (`GitHub PRs` → `github-prs`), made unique with `-2`, `-3`…
fn unique_slug(name: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut base = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    let mut base = base.trim_end_matches('-').to_string();
    base.truncate(56);
    if base.is_empty() {
        base = "hook".to_string();
    }
    let mut candidate = base.clone();
    let mut n = 2;
    while taken(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    candidate
}

/// A fresh secret in the form the scheme's senders expect.
pub(super) fn generate_secret(scheme: &str) -> String {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    if scheme == "standard" {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    } else {
        hex::encode(bytes)
    }
}

fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names_are_unique() {
        assert_eq!(unique_slug("GitHub PRs!", |_| false), "github-prs");
        assert_eq!(
            unique_slug("GitHub PRs", |id| id == "github-prs"),
            "github-prs-2"
        );
        assert_eq!(unique_slug("  ", |_| false), "hook");
    }

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut doc, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}}));
    }
}
