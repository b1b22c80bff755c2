//! Handlebars templates over the context of SPEC §6, for the actions (forward bodies, notify
//! messages, a tool's argv, agent prompts) and for ingress (lock keys, configured responses).
//!
//! Output is plain text, never HTML: nothing is escaped, and an object or array renders as JSON
//! (stock Handlebars would print `[object]`, which no receiver wants). How a missing value
//! renders depends on who reads the result:
//!
//! - [`render`] (forward bodies, notify messages, agent prompts) is lenient: a missing or null
//!   value renders empty, as a message template expects.
//! - [`render_strict`] and [`render_shell`] (a tool's argv, `toolParams` and `env`) refuse with
//!   [`StrictError::Missing`]: a command run with an empty string where a value was meant can
//!   do damage (`rm -rf /srv/builds/{{branch}}`). `{{#if}}`/`{{#each}}` conditions stay
//!   lenient, so an optional value can still be guarded. [`render_shell`] single-quotes every
//!   value so payload text never becomes shell syntax, and refuses a value that begins with
//!   `-` ([`StrictError::OptionValue`]) unless told the script guards against options: the hub
//!   cannot tell where the shell's words start.
//!
//! All of this comes from rewriting the compiled template before rendering it: each
//! `{{value}}` becomes a call to an internal helper that renders the value our way, with the
//! mode in the call's hash. The shared registry is built once and only holds helpers, never
//! templates.

use std::collections::HashMap;
use std::sync::LazyLock;

use handlebars::template::{Parameter, Subexpression, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, PathAndJson, RenderContext, RenderError,
    RenderErrorReason, Renderable, StringOutput, Template,
};
use serde_json::{Value, json};

use crate::execution::Execution;
use crate::model::Hook;

/// Renders a value as plain text (internal; `{{x}}` is rewritten to it).
const TEXT_HELPER: &str = "__hookhub_text";
/// Renders a value as one shell-quoted word (internal; used by [`render_shell`]).
const SHELL_HELPER: &str = "__hookhub_shell";
/// Hash key telling a helper to refuse missing and null values.
const STRICT: &str = "strict";
/// Hash key telling the shell helper that values may begin with `-`.
const OPTIONS: &str = "options";

/// The one registry: helpers only, so sharing it between threads needs no locking.
static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(false);
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("json", Box::new(json_helper));
    registry.register_helper(TEXT_HELPER, Box::new(text_helper));
    registry.register_helper(SHELL_HELPER, Box::new(shell_helper));
    registry
});

/// Why a template did not render leniently ([`render`]): handlebars' own text, for a template
/// that does not compile or a helper that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

/// Why a tool's template did not render (SPEC §6). Lenient [`render`] fails only where this
/// would be [`StrictError::Template`], with a [`TemplateError`] of the same text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictError {
    /// The value the template names (its path as written) is missing or null.
    #[error("`{0}` is missing or null")]
    Missing(String),
    /// A value for a shell command begins with `-`.
    #[error("a value renders to {0:?}, which a command would read as an option")]
    OptionValue(String),
    /// The template does not compile, or a helper failed.
    #[error("{0}")]
    Template(String),
}

/// How values are written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Plain text; missing values render empty.
    Lenient,
    /// Plain text; missing values fail.
    Strict,
    /// Shell-quoted words; missing values fail, and so do values starting with `-` unless
    /// `allow_options`.
    Shell { allow_options: bool },
}

/// The template context of SPEC §6 for one attempt of `execution`.
pub fn context(hook: &Hook, execution: &Execution, attempt: u32) -> Value {
    let trigger = &execution.trigger;
    json!({
        "webhook": {
            "body": trigger.body,
            "headers": trigger.headers,
            "query": trigger.query,
            "path": trigger.path,
            "method": trigger.method,
            "eventType": execution.event_type,
            "deliveryId": execution.delivery_id,
        },
        "hook": { "id": hook.id, "name": hook.name },
        "execution": { "id": execution.id.to_string(), "attempt": attempt },
    })
}

/// Renders `template` as plain text. `{{json x}}` writes `x` as JSON (strings quoted); a
/// missing value renders empty.
pub fn render(template: &str, context: &Value) -> Result<String, TemplateError> {
    render_with(template, context, Mode::Lenient).map_err(|e| TemplateError(e.to_string()))
}

/// Renders `template` as plain text, refusing a value that is missing or null (also through
/// `{{json x}}` and other helpers). Conditions of `{{#if}}` and `{{#each}}` are not values.
pub fn render_strict(template: &str, context: &Value) -> Result<String, StrictError> {
    render_with(template, context, Mode::Strict)
}

/// Renders `template` for `/bin/sh -c`: every `{{…}}` becomes one single-quoted word, so a
/// value such as `'; rm -rf / '` stays literal text. The template's own text is left as written.
/// Strict like [`render_strict`]; a value beginning with `-` fails unless `allow_options`.
pub fn render_shell(
    template: &str,
    context: &Value,
    allow_options: bool,
) -> Result<String, StrictError> {
    render_with(template, context, Mode::Shell { allow_options })
}

/// Quotes `text` as one POSIX shell word: `it's` becomes `'it'\''s'`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `NAME`s of `params.NAME` in a template.
pub(crate) fn param_names(template: &str) -> Vec<String> {
    template
        .match_indices("params.")
        .map(|(at, found)| {
            template[at + found.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

fn render_with(template: &str, context: &Value, mode: Mode) -> Result<String, StrictError> {
    let invalid = |e: &dyn std::fmt::Display| StrictError::Template(e.to_string());
    let mut compiled = Template::compile(template).map_err(|e| invalid(&e))?;
    route_values(&mut compiled, mode);
    let ctx = Context::wraps(context).map_err(|e| invalid(&e))?;
    let mut rc = RenderContext::new(None);
    let mut out = StringOutput::new();
    compiled
        .render(&REGISTRY, &ctx, &mut rc, &mut out)
        .map_err(|e| match e.reason() {
            RenderErrorReason::NestedError(inner) => inner
                .downcast_ref::<StrictError>()
                .cloned()
                .unwrap_or_else(|| invalid(&e)),
            _ => invalid(&e),
        })?;
    out.into_string().map_err(|e| invalid(&e))
}

/// Sends every output expression through the mode's helper, recursing into blocks (`#if`,
/// `#each`…). Plain values become `{{helper value …mode}}`. Helper calls are left alone when
/// lenient; otherwise they become `{{helper (call …) …mode}}` so their output is checked (and
/// quoted) too, and `json` is told to be strict itself, since it writes `null` for nothing.
fn route_values(template: &mut Template, mode: Mode) {
    let (helper, hash) = match mode {
        Mode::Lenient => (TEXT_HELPER, HashMap::new()),
        Mode::Strict => (TEXT_HELPER, flag(STRICT, true)),
        Mode::Shell { allow_options } => (SHELL_HELPER, flag(OPTIONS, allow_options)),
    };
    for element in &mut template.elements {
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                // Handlebars would call a helper of the same name here, but every helper
                // we offer needs an argument, so a bare name is always a value.
                let is_value = ht.params.is_empty() && ht.hash.is_empty();
                if is_value {
                    ht.params = vec![ht.name.clone()];
                } else if mode != Mode::Lenient {
                    let mut inner_hash = std::mem::take(&mut ht.hash);
                    if matches!(&ht.name, Parameter::Name(n) if n == "json") {
                        inner_hash.extend(flag(STRICT, true));
                    }
                    let call = Subexpression::new(
                        ht.name.clone(),
                        std::mem::take(&mut ht.params),
                        inner_hash,
                    );
                    ht.params = vec![Parameter::Subexpression(call)];
                } else {
                    continue;
                }
                ht.name = Parameter::Name(helper.to_string());
                ht.hash = hash.clone();
            }
            TemplateElement::HelperBlock(ht) => {
                for inner in [&mut ht.template, &mut ht.inverse].into_iter().flatten() {
                    route_values(inner, mode);
                }
            }
            _ => {}
        }
    }
}

fn flag(key: &str, on: bool) -> HashMap<String, Parameter> {
    HashMap::from([(key.to_string(), Parameter::Literal(Value::Bool(on)))])
}

/// Whether helper call `h` carries `key=true`.
fn flagged(h: &Helper<'_>, key: &str) -> bool {
    h.hash_get(key)
        .is_some_and(|v| v.value() == &Value::Bool(true))
}

/// The helper's value, or [`StrictError::Missing`] when `strict` and it is missing or null.
fn value_of<'a>(h: &'a Helper<'_>, strict: bool) -> Result<Option<&'a Value>, RenderError> {
    let param: Option<&PathAndJson<'_>> = h.param(0);
    let missing = param.is_none_or(|p| p.is_value_missing() || p.value().is_null());
    if strict && missing {
        let path = param
            .and_then(|p| p.relative_path().cloned())
            .unwrap_or_else(|| "a helper's result".into());
        return Err(refuse(StrictError::Missing(path)));
    }
    Ok(param.map(|p| p.value()))
}

fn refuse(error: StrictError) -> RenderError {
    RenderErrorReason::NestedError(Box::new(error)).into()
}

/// A value as plain text: strings as they are, missing and null as nothing, objects and arrays
/// as compact JSON.
fn plain_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn text_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let value = value_of(h, flagged(h, STRICT))?;
    out.write(&plain_text(value))?;
    Ok(())
}

/// Always strict: only tools use it.
fn shell_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = plain_text(value_of(h, true)?);
    if text.starts_with('-') && !flagged(h, OPTIONS) {
        return Err(refuse(StrictError::OptionValue(text)));
    }
    out.write(&shell_quote(&text))?;
    Ok(())
}

/// `{{json x}}`: `x` as compact JSON; `null` when missing, unless strict.
fn json_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let value = value_of(h, flagged(h, STRICT))?;
    out.write(&value.cloned().unwrap_or(Value::Null).to_string())?;
    Ok(())
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
