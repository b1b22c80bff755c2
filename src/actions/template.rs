//! Handlebars templates over the context of SPEC §6.
//!
//! Output is plain text, never HTML: nothing is escaped, a missing value renders empty, and an
//! object or array renders as JSON (stock Handlebars would print `[object]`, which no receiver
//! wants). For `shell: true` tools, [`render_shell`] single-quotes every value so that payload
//! text can never become shell syntax.
//!
//! Both behaviours come from rewriting the compiled template before rendering it: each
//! `{{value}}` becomes a call to an internal helper that renders the value our way. The shared
//! registry is built once and only holds helpers, never templates.

use std::sync::LazyLock;

use handlebars::template::{Parameter, Subexpression, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, Renderable, StringOutput,
    Template,
};
use serde_json::{Value, json};

use crate::execution::Execution;
use crate::hooks::Hook;

/// Renders a value as plain text (internal; `{{x}}` is rewritten to it).
const TEXT_HELPER: &str = "__hookhub_text";
/// Renders a value as one shell-quoted word (internal; used by [`render_shell`]).
const SHELL_HELPER: &str = "__hookhub_shell";

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

/// Renders `template` as plain text. `{{json x}}` writes `x` as JSON (strings quoted).
pub fn render(template: &str, context: &Value) -> Result<String, String> {
    render_with(template, context, TEXT_HELPER)
}

/// Renders `template` for `/bin/sh -c`: every `{{…}}` becomes one single-quoted word, so a
/// value such as `'; rm -rf / '` stays literal text. The template's own text is left as written.
pub fn render_shell(template: &str, context: &Value) -> Result<String, String> {
    render_with(template, context, SHELL_HELPER)
}

/// Quotes `text` as one POSIX shell word: `it's` becomes `'it'\''s'`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn render_with(template: &str, context: &Value, value_helper: &str) -> Result<String, String> {
    let mut compiled = Template::compile(template).map_err(|e| e.to_string())?;
    route_values(&mut compiled, value_helper);
    let ctx = Context::wraps(context).map_err(|e| e.to_string())?;
    let mut rc = RenderContext::new(None);
    let mut out = StringOutput::new();
    compiled
        .render(&REGISTRY, &ctx, &mut rc, &mut out)
        .map_err(|e| e.to_string())?;
    out.into_string().map_err(|e| e.to_string())
}

/// Sends every output expression through `helper`, recursing into blocks (`#if`, `#each`…).
/// Plain values become `{{helper value}}`. Helper calls are left alone for plain text; for the
/// shell they become `{{helper (call …)}}` so their output is quoted too.
fn route_values(template: &mut Template, helper: &str) {
    for element in &mut template.elements {
        match element {
            TemplateElement::Expression(ht) | TemplateElement::HtmlExpression(ht) => {
                // Handlebars would call a helper of the same name here, but every helper
                // we offer needs an argument, so a bare name is always a value.
                let is_value = ht.params.is_empty() && ht.hash.is_empty();
                if is_value {
                    ht.params = vec![ht.name.clone()];
                    ht.name = Parameter::Name(helper.to_string());
                } else if helper == SHELL_HELPER {
                    let call = Subexpression::new(
                        ht.name.clone(),
                        std::mem::take(&mut ht.params),
                        std::mem::take(&mut ht.hash),
                    );
                    ht.params = vec![Parameter::Subexpression(call)];
                    ht.name = Parameter::Name(helper.to_string());
                }
            }
            TemplateElement::HelperBlock(ht) => {
                for inner in [&mut ht.template, &mut ht.inverse].into_iter().flatten() {
                    route_values(inner, helper);
                }
            }
            _ => {}
        }
    }
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
    out.write(&plain_text(h.param(0).map(|p| p.value())))?;
    Ok(())
}

fn shell_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&shell_quote(&plain_text(h.param(0).map(|p| p.value()))))?;
    Ok(())
}

/// `{{json x}}`: `x` as compact JSON; `null` when missing.
fn json_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let value = h.param(0).map(|p| p.value().clone()).unwrap_or(Value::Null);
    out.write(&value.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::test_support::{execution, hook};
    use crate::hooks::ActionKind;

    fn ctx() -> Value {
        json!({
            "webhook": { "body": { "ref": "main", "n": 3, "ok": true, "obj": { "a": 1 },
                                   "list": [1, "two"], "html": "<a href=\"x\">&</a>",
                                   "quote": "it's" } },
            "hook": { "id": "h1", "name": "Hook" },
        })
    }

    #[test]
    fn context_has_the_documented_shape() {
        let hook = hook(ActionKind::Webhook, Default::default());
        let exe = execution(json!({"x": 1}), b"{\"x\":1}");
        let c = context(&hook, &exe, 2);
        assert_eq!(c["webhook"]["body"], json!({"x": 1}));
        assert_eq!(c["webhook"]["headers"]["content-type"], "application/json");
        assert_eq!(c["webhook"]["query"]["q"], "1");
        assert_eq!(c["webhook"]["path"], "incoming");
        assert_eq!(c["webhook"]["method"], "POST");
        assert_eq!(c["webhook"]["eventType"], "push");
        assert_eq!(c["webhook"]["deliveryId"], "d-1");
        assert_eq!(c["hook"], json!({"id": "test-hook", "name": "Test hook"}));
        assert_eq!(c["execution"]["id"], exe.id.to_string());
        assert_eq!(c["execution"]["attempt"], 2);
        let keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["execution", "hook", "webhook"]);
    }

    #[test]
    fn renders_scalars_as_plain_text_without_html_escaping() {
        let out = render(
            "{{webhook.body.ref}} {{webhook.body.n}} {{webhook.body.ok}} {{webhook.body.html}}",
            &ctx(),
        );
        assert_eq!(out.unwrap(), "main 3 true <a href=\"x\">&</a>");
    }

    #[test]
    fn renders_objects_and_arrays_as_json() {
        let out = render("{{webhook.body.obj}} {{webhook.body.list}}", &ctx()).unwrap();
        assert_eq!(out, r#"{"a":1} [1,"two"]"#);
    }

    #[test]
    fn json_helper_quotes_strings_and_writes_null_for_missing() {
        let out = render(
            "{{json webhook.body.ref}} {{json nope}} {{json hook}}",
            &ctx(),
        );
        assert_eq!(out.unwrap(), r#""main" null {"id":"h1","name":"Hook"}"#);
    }

    #[test]
    fn missing_values_render_empty_rather_than_failing() {
        assert_eq!(
            render("[{{webhook.body.absent.deeper}}]", &ctx()).unwrap(),
            "[]"
        );
    }

    #[test]
    fn blocks_work_and_their_values_are_rewritten_too() {
        let t = "{{#if webhook.body.ok}}{{hook.id}}{{else}}no{{/if}}:\
                 {{#each webhook.body.list}}<{{this}}>{{/each}}";
        assert_eq!(render(t, &ctx()).unwrap(), "h1:<1><two>");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(render("{{#if x}}unclosed", &ctx()).is_err());
    }

    #[test]
    fn shell_rendering_quotes_every_value() {
        let t = "echo {{webhook.body.ref}} {{webhook.body.quote}} {{missing}} {{json hook}}";
        let out = render_shell(t, &ctx()).unwrap();
        assert_eq!(
            out,
            r#"echo 'main' 'it'\''s' '' '{"id":"h1","name":"Hook"}'"#
        );
    }

    #[test]
    fn shell_rendering_keeps_injection_attempts_literal() {
        let c = json!({ "x": "'; touch /tmp/pwned; '" });
        let out = render_shell("echo {{x}}", &c).unwrap();
        assert_eq!(out, r"echo ''\''; touch /tmp/pwned; '\'''");
    }

    #[test]
    fn shell_quote_handles_empty_and_quotes() {
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
