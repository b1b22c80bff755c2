//! The keys a delivery carries per hook: its lock key and its dedupe (delivery) id.

use crate::error::{ApiError, ErrorCode};
use crate::execution::Execution;
use crate::hooks::LiveHook;
use crate::template;

/// The longest lock key.
pub const MAX_LOCK_KEY: usize = 128;

/// `?lockKey=` when given (which must already be well-formed: 400 otherwise), else the rendered
/// `triggerConfig.lockKey` template with characters outside the allowed set replaced by `_`
/// (so `{{webhook.body.repository.full_name}}` works). None when neither gives a key.
pub fn lock_key(hook: &LiveHook, e: &Execution) -> Result<Option<String>, ApiError> {
    if let Some(given) = e.trigger.query.get("lockKey") {
        if !given.is_empty() && given.len() <= MAX_LOCK_KEY && given.chars().all(allowed) {
            return Ok(Some(given.clone()));
        }
        return Err(ApiError::new(
            ErrorCode::LockKeyInvalid,
            format!("query parameter lockKey must be 1-{MAX_LOCK_KEY} of letters, digits, _ . - :"),
        ));
    }
    let Some(template) = hook.hook.trigger_config.lock_key.as_deref() else {
        return Ok(None);
    };
    Ok(render(hook, e, template).map(|key| {
        key.chars()
            .map(|c| if allowed(c) { c } else { '_' })
            .take(MAX_LOCK_KEY)
            .collect()
    }))
}

/// The rendered `triggerConfig.dedupeKey`, when the hook has one and it renders non-empty.
pub fn dedupe_key(hook: &LiveHook, e: &Execution) -> Option<String> {
    let template = hook.hook.trigger_config.dedupe_key.as_deref()?;
    render(hook, e, template)
}

fn render(hook: &LiveHook, e: &Execution, template: &str) -> Option<String> {
    let context = template::context(&hook.hook, e, 0);
    match template::render(template, &context) {
        Ok(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(hook = %hook.hook.id, %error, "a key template did not render");
            None
        }
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':')
}
