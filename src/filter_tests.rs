//! The filter language as users write it: each common expression both ways, then the errors.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;

struct Delivery {
    body: serde_json::Value,
    headers: crate::execution::Headers,
    query: BTreeMap<String, String>,
    event_type: Option<&'static str>,
}

fn delivery(body: serde_json::Value) -> Delivery {
    Delivery {
        body,
        headers: BTreeMap::new(),
        query: BTreeMap::new(),
        event_type: None,
    }
}

impl Delivery {
    fn with_query(mut self, name: &str, value: &str) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    fn with_event(mut self, event: &'static str) -> Self {
        self.event_type = Some(event);
        self
    }
}

/// The verdict, an error as its text.
fn eval(expression: &str, d: &Delivery) -> Result<bool, String> {
    let filter = Filter::compile(expression).expect("compiles");
    filter
        .matches(&FilterInput {
            body: &d.body,
            headers: &d.headers,
            query: &d.query,
            event_type: d.event_type,
        })
        .map_err(|e| e.to_string())
}

/// Asserts the expression is true for `yes` and false for `no`.
fn true_then_false(expression: &str, yes: &Delivery, no: &Delivery) {
    assert_eq!(
        eval(expression, yes),
        Ok(true),
        "{expression} on {:?}",
        yes.body
    );
    assert_eq!(
        eval(expression, no),
        Ok(false),
        "{expression} on {:?}",
        no.body
    );
}

#[test]
fn equality_on_a_body_field() {
    true_then_false(
        "body.action == 'opened'",
        &delivery(json!({"action": "opened"})),
        &delivery(json!({"action": "closed"})),
    );
}

#[test]
fn starts_with_on_a_string() {
    true_then_false(
        "body.ref.startsWith('refs/heads/')",
        &delivery(json!({"ref": "refs/heads/main"})),
        &delivery(json!({"ref": "refs/tags/v1"})),
    );
}

#[test]
fn membership_in_a_body_list() {
    true_then_false(
        "'x' in body.labels",
        &delivery(json!({"labels": ["a", "x"]})),
        &delivery(json!({"labels": ["a"]})),
    );
}

#[test]
fn has_tests_for_a_field() {
    true_then_false(
        "has(body.pull_request)",
        &delivery(json!({"pull_request": {"number": 1}})),
        &delivery(json!({"issue": {}})),
    );
}

#[test]
fn size_of_a_list() {
    true_then_false(
        "size(body.commits) > 0",
        &delivery(json!({"commits": [{"id": "abc"}]})),
        &delivery(json!({"commits": []})),
    );
}

#[test]
fn header_by_lower_cased_name() {
    let mut push = delivery(json!({}));
    push.headers.insert("x-github-event".into(), "push".into());
    let mut ping = delivery(json!({}));
    ping.headers.insert("x-github-event".into(), "ping".into());
    true_then_false("headers['x-github-event'] == 'push'", &push, &ping);
}

#[test]
fn query_parameters() {
    let mut prod = delivery(json!({}));
    prod.query.insert("env".into(), "prod".into());
    true_then_false(
        "query.env == 'prod'",
        &prod,
        &delivery(json!({})).with_query("env", "dev"),
    );
}

#[test]
fn event_type_in_a_list() {
    let expression = "eventType in ['push', 'release']";
    true_then_false(
        expression,
        &delivery(json!({})).with_event("release"),
        &delivery(json!({})).with_event("issues"),
    );
    // No event type is null, which is in no list of strings.
    assert_eq!(eval(expression, &delivery(json!({}))), Ok(false));
    assert_eq!(eval("eventType == null", &delivery(json!({}))), Ok(true));
}

#[test]
fn json_numbers_keep_their_kind() {
    let d = delivery(json!({"n": 5, "big": u64::MAX, "f": 1.5, "none": null, "ok": true}));
    assert_eq!(eval("body.n == 5 && body.n + 1 == 6", &d), Ok(true));
    assert_eq!(eval("body.big == 18446744073709551615u", &d), Ok(true));
    assert_eq!(eval("body.f > 1.0 && body.f < 2.0", &d), Ok(true));
    assert_eq!(eval("body.none == null && body.ok", &d), Ok(true));
}

#[test]
fn macros_may_bind_names_of_their_own() {
    let d = delivery(json!({"commits": [{"added": ["a.rs"]}, {"added": []}]}));
    let expression = "body.commits.exists(c, size(c.added) > 0)";
    assert_eq!(eval(expression, &d), Ok(true));
    assert_eq!(
        eval("body.commits.all(c, size(c.added) > 0)", &d),
        Ok(false)
    );
}

#[test]
fn a_body_that_is_not_an_object_still_converts() {
    assert_eq!(eval("body == 'hi'", &delivery(json!("hi"))), Ok(true));
    assert_eq!(eval("size(body) == 2", &delivery(json!([1, 2]))), Ok(true));
}

#[test]
fn a_missing_field_is_a_runtime_error() {
    assert_eq!(
        eval("body.action == 'opened'", &delivery(json!({}))),
        Err("No such key: action".to_string())
    );
}

#[test]
fn a_wrong_type_is_a_runtime_error() {
    assert_eq!(
        eval("body.count > 'x'", &delivery(json!({"count": 1}))),
        Err("found no matching overload for '_>_' applied to '(int, string)'".to_string())
    );
}

#[test]
fn runtime_errors_quoting_a_huge_payload_are_cut() {
    let huge = "x".repeat(100_000);
    // A pattern taken from the payload that does not compile is quoted whole by the regex error.
    let d = delivery(json!({ "title": "t", "pattern": format!("({huge}") }));
    let err = eval("body.title.matches(body.pattern)", &d).unwrap_err();
    assert!(
        err.chars().count() <= MAX_ERROR_CHARS + 1,
        "{} chars",
        err.len()
    );
    assert!(err.ends_with('…'), "{err}");
}

#[test]
fn a_result_that_is_not_a_bool_is_an_error() {
    let d = delivery(json!({"action": "opened", "n": 3}));
    assert_eq!(
        eval("body.action", &d),
        Err("filter must return a bool, got string".to_string())
    );
    assert_eq!(
        eval("body.n", &d),
        Err("filter must return a bool, got int".to_string())
    );
}

#[test]
fn syntax_errors_give_their_position_in_the_expression() {
    let err = Filter::compile("body.action == ").unwrap_err().to_string();
    assert!(
        err.starts_with("syntax error at 1:16: mismatched input '<EOF>' expecting "),
        "{err}"
    );
    let err = Filter::compile("body.action == 'opened' &&\n  body.x ==")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("syntax error at 2:12: "), "{err}");
}

#[test]
fn broken_expressions_are_errors_never_panics() {
    // cel-interpreter 0.10 panicked on each of these; a config typo must stay a config error.
    for broken in [
        ".",
        "/",
        "(",
        ")",
        "1 +",
        "body.x ==",
        "body.a &&",
        "[1, 2",
        "{'a': }",
    ] {
        let err = Filter::compile(broken).unwrap_err().to_string();
        assert!(err.starts_with("syntax error at 1:"), "{broken}: {err}");
    }
}

#[test]
fn unknown_variables_and_empty_expressions_are_refused() {
    assert_eq!(
        Filter::compile("bdy.action == 'opened'")
            .unwrap_err()
            .to_string(),
        "unknown variable `bdy`: a filter sees body, headers, query and eventType"
    );
    assert!(
        Filter::compile("  ")
            .unwrap_err()
            .to_string()
            .starts_with("is empty")
    );
}

#[test]
fn variables_the_expression_does_not_name_are_not_converted() {
    let filter = Filter::compile("eventType == 'push'").unwrap();
    assert_eq!(filter.uses, [false, false, false, true]);
    let filter = Filter::compile("has(body.x) || headers['a'] == query.b").unwrap();
    assert_eq!(filter.uses, [true, true, true, false]);
}

#[test]
fn a_filter_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Filter>();
}

fn live_hook(events: &[&str], filter: Option<&str>) -> Arc<crate::hooks::LiveHook> {
    let hook: crate::model::Hook = serde_json::from_value(json!({
        "id": "prs",
        "triggerConfig": {"webhookPath": "prs", "webhookSecret": "s", "events": events,
                          "filter": filter},
        "action": "webhook",
        "actionConfig": {"webhookUrl": "http://127.0.0.1:9/x"}
    }))
    .unwrap();
    let config = crate::config::Config::default();
    let snapshot = crate::hooks::Snapshot::build(Arc::new(config), vec![hook]).unwrap();
    snapshot.hooks().next().unwrap().clone()
}

/// The verdict, the skip reason as its text.
fn admits(hook: &crate::hooks::LiveHook, d: &Delivery) -> Result<(), String> {
    hook.admits(&FilterInput {
        body: &d.body,
        headers: &d.headers,
        query: &d.query,
        event_type: d.event_type,
    })
    .map_err(|e| e.to_string())
}

#[test]
fn admits_any_event_when_the_list_is_empty() {
    let hook = live_hook(&[], None);
    assert_eq!(
        admits(&hook, &delivery(json!({})).with_event("push")),
        Ok(())
    );
    assert_eq!(admits(&hook, &delivery(json!({}))), Ok(()));
}

#[test]
fn admits_only_listed_events_exactly() {
    let hook = live_hook(&["pull_request", "release"], None);
    assert_eq!(
        admits(&hook, &delivery(json!({})).with_event("release")),
        Ok(())
    );
    assert_eq!(
        admits(&hook, &delivery(json!({})).with_event("push")),
        Err("event `push` is not in events [pull_request, release]".to_string())
    );
    assert_eq!(
        admits(
            &hook,
            &delivery(json!({})).with_event("pull_request_review")
        ),
        Err("event `pull_request_review` is not in events [pull_request, release]".to_string())
    );
    assert_eq!(
        admits(&hook, &delivery(json!({}))),
        Err("the delivery has no event type, and events is [pull_request, release]".to_string())
    );
}

#[test]
fn a_star_admits_every_event_but_not_a_missing_one() {
    let hook = live_hook(&["*"], None);
    assert_eq!(
        admits(&hook, &delivery(json!({})).with_event("ping")),
        Ok(())
    );
    assert!(admits(&hook, &delivery(json!({}))).is_err());
}

#[test]
fn admits_checks_the_event_then_the_filter() {
    let hook = live_hook(&["pull_request"], Some("body.action == 'opened'"));
    let opened = delivery(json!({"action": "opened"})).with_event("pull_request");
    assert_eq!(admits(&hook, &opened), Ok(()));
    let closed = delivery(json!({"action": "closed"})).with_event("pull_request");
    assert_eq!(
        admits(&hook, &closed),
        Err("filter `body.action == 'opened'` is false".to_string())
    );
    let wrong_event = delivery(json!({"action": "opened"})).with_event("push");
    assert!(
        admits(&hook, &wrong_event)
            .unwrap_err()
            .starts_with("event `push`")
    );
    let no_action = delivery(json!({})).with_event("pull_request");
    assert_eq!(
        admits(&hook, &no_action),
        Err("filter error: No such key: action".to_string())
    );
}

#[test]
fn a_snapshot_refuses_a_filter_that_does_not_compile() {
    let hook: crate::model::Hook = serde_json::from_value(json!({
        "id": "bad",
        "triggerConfig": {"webhookPath": "bad", "webhookSecret": "s", "filter": "body.x =="},
        "action": "webhook",
        "actionConfig": {"webhookUrl": "http://127.0.0.1:9/x"}
    }))
    .unwrap();
    let config = Arc::new(crate::config::Config::default());
    let errors = crate::hooks::Snapshot::build(config, vec![hook])
        .unwrap_err()
        .0;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("hook `bad`: triggerConfig.filter: syntax error at 1:"),
        "{errors:?}"
    );
}
