//! Tests of the template renderer.

use super::*;
use crate::actions::test_support::{execution, hook};
use crate::model::ActionKind;

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
    let t = "echo {{webhook.body.ref}} {{webhook.body.quote}} {{webhook.body.empty}} {{json hook}}";
    let mut c = ctx();
    c["webhook"]["body"]["empty"] = json!("");
    let out = render_shell(t, &c, false).unwrap();
    assert_eq!(
        out,
        r#"echo 'main' 'it'\''s' '' '{"id":"h1","name":"Hook"}'"#
    );
}

#[test]
fn shell_rendering_keeps_injection_attempts_literal() {
    let c = json!({ "x": "'; touch /tmp/pwned; '" });
    let out = render_shell("echo {{x}}", &c, false).unwrap();
    assert_eq!(out, r"echo ''\''; touch /tmp/pwned; '\'''");
}

#[test]
fn shell_quote_handles_empty_and_quotes() {
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
}

#[test]
fn strict_rendering_refuses_missing_and_null_values_naming_them() {
    let mut c = ctx();
    c["webhook"]["body"]["nothing"] = Value::Null;
    let missing = |t: &str| render_strict(t, &c).unwrap_err();
    let named = |path: &str| StrictError::Missing(path.into());
    assert_eq!(
        missing("x-{{webhook.body.absent}}"),
        named("webhook.body.absent")
    );
    assert_eq!(
        missing("{{ webhook.body.nothing }}"),
        named("webhook.body.nothing")
    );
    assert_eq!(
        missing("{{json webhook.body.absent}}"),
        named("webhook.body.absent")
    );
    assert_eq!(
        missing("{{#each webhook.body.list}}{{this.x}}{{/each}}"),
        named("this.x")
    );
    // Helpers' results are values too.
    assert_eq!(
        missing("{{lookup webhook.body \"absent\"}}"),
        named("a helper's result")
    );
}

#[test]
fn strict_rendering_renders_what_is_there_and_leaves_conditions_lenient() {
    let c = ctx();
    let t =
        "{{webhook.body.ref}} {{webhook.body.n}} {{json webhook.body.ref}} {{webhook.body.obj}}";
    assert_eq!(render_strict(t, &c).unwrap(), r#"main 3 "main" {"a":1}"#);
    let guarded = "{{#if webhook.body.absent}}{{webhook.body.absent}}{{else}}none{{/if}}";
    assert_eq!(render_strict(guarded, &c).unwrap(), "none");
    assert_eq!(
        render_strict("{{lookup webhook.body \"ref\"}}", &c).unwrap(),
        "main"
    );
    assert!(matches!(
        render_strict("{{#if}}", &c),
        Err(StrictError::Template(_))
    ));
}

#[test]
fn lenient_rendering_is_unchanged_by_strict_mode() {
    assert_eq!(
        render(
            "[{{webhook.body.absent}}|{{json webhook.body.absent}}]",
            &ctx()
        )
        .unwrap(),
        "[|null]"
    );
}

#[test]
fn shell_rendering_refuses_missing_values_and_option_like_values_unless_allowed() {
    let c = json!({ "opt": "--output=x", "dash": "-", "mid": "a-b" });
    assert_eq!(
        render_shell("sort {{nope}}", &c, true).unwrap_err(),
        StrictError::Missing("nope".into())
    );
    assert_eq!(
        render_shell("sort {{mid}} {{opt}}", &c, false).unwrap_err(),
        StrictError::OptionValue("--output=x".into())
    );
    assert_eq!(
        render_shell("cat {{dash}}", &c, false).unwrap_err(),
        StrictError::OptionValue("-".into())
    );
    assert_eq!(
        render_shell("sort -- {{opt}}", &c, true).unwrap(),
        "sort -- '--output=x'"
    );
    // The owner's own text may be an option; only values are checked.
    assert_eq!(
        render_shell("sort -r {{mid}}", &c, false).unwrap(),
        "sort -r 'a-b'"
    );
}
