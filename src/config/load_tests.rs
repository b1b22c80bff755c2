//! Tests of the loader: the whole line a user sees for each kind of problem.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(text: &str) -> Vec<String> {
    match load_str(text, "hooks.yaml", &no_env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.issues.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = "\
server: { listen: 127.0.0.1:3005 }
tools:
  log: { command: [/bin/echo, '{{webhook.body.x}}'], timeout: 5s }
hooks:
  - id: one
    triggerConfig: { webhookPath: one, webhookSecret: s }
    action: execute_tool
    actionConfig: { toolId: log }
  - id: two
    triggerConfig:
      webhookPath: two
    action: webhook
    actionConfig: { webhookUrl: 'http://127.0.0.1:9000/x' }
";

#[test]
fn a_good_file_loads_with_its_warnings() {
    let (config, warnings) = load_str_with_warnings(GOOD, "hooks.yaml", &no_env).unwrap();
    assert_eq!(config.hooks.len(), 2);
    assert_eq!(
        config.tools["log"].timeout,
        std::time::Duration::from_secs(5)
    );
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "hooks.yaml:10:5: hooks[1].triggerConfig.webhookSecret: no secret: every delivery \
             to this hook will be refused with 401"
        ]
    );
}

#[test]
fn a_weak_admin_token_is_a_warning_that_never_shows_it() {
    let weak = "admin:\n  token: letmein\n";
    let (_, warnings) = load_str_with_warnings(weak, "hooks.yaml", &no_env).unwrap();
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("hooks.yaml:2:3: admin.token: is weak (about 33 bits"),
        "{warnings:?}"
    );
    assert!(!warnings[0].contains("letmein"), "{warnings:?}");
    for fine in [
        "",
        "admin: { token: '' }",
        "admin: { token: aZ3kQ9mX2pL7vB4nR8tY1w }",
    ] {
        let (_, warnings) = load_str_with_warnings(fine, "hooks.yaml", &no_env).unwrap();
        assert!(warnings.is_empty(), "{fine}: {warnings:?}");
    }
}

#[test]
fn a_free_text_topic_loads_and_is_a_warning_only_beside_roles() {
    let hook = "\
hooks:
  - id: ask
    triggerConfig: { webhookPath: ask, webhookSecret: s }
    action: spawn_agent
    actionConfig: { agentPrompt: hi, agentTopic: devops }
";
    let agent = "agent: { baseUrl: 'http://127.0.0.1:1/v1', model: m }\n";
    let (_, warnings) =
        load_str_with_warnings(&format!("{agent}{hook}"), "hooks.yaml", &no_env).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    let roles = "agent:\n  baseUrl: 'http://127.0.0.1:1/v1'\n  model: m\n  roles:\n    \
                 sales: { systemPrompt: Sell. }\n";
    let (_, warnings) =
        load_str_with_warnings(&format!("{roles}{hook}"), "hooks.yaml", &no_env).unwrap();
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "hooks.yaml:10:38: hooks[0].actionConfig.agentTopic: `devops` names no role in \
          agent.roles (sales): the default role answers, told the topic"
        ]
    );
}

#[test]
fn empty_text_is_a_config_with_no_hooks() {
    // A file is held to more: see `a_file_must_list_its_hooks_even_when_there_are_none`.
    assert_eq!(load_str("", "hooks.yaml", &no_env), Ok(Config::default()));
}

#[test]
fn bad_webhook_path_names_file_line_column_and_field() {
    let text = GOOD.replace("webhookPath: two", "webhookPath: Two Words");
    assert_eq!(
        errors(&text),
        vec![
            "hooks.yaml:11:7: hooks[1].triggerConfig.webhookPath: must be 1-128 chars of a-z 0-9 - _ /"
        ]
    );
}

#[test]
fn unknown_field_lists_the_expected_ones() {
    let text = GOOD.replace(
        "      webhookPath: two",
        "      webhookPath: two\n      secret: x",
    );
    // The list of expected fields grows with the model; its start and the form are pinned.
    let errors = errors(&text);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(
            "hooks.yaml:12:7: hooks[1].triggerConfig.secret: unknown field `secret`, expected one \
             of `webhookPath`, `webhookSecret`, `scheme`, "
        ),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("`tolerance`"), "{}", errors[0]);
}

#[test]
fn wrong_types_and_variants_name_the_field() {
    let text = GOOD.replace("action: webhook", "action: forward");
    assert_eq!(
        errors(&text),
        vec![
            "hooks.yaml:12:13: hooks[1].action: unknown variant `forward`, expected one of \
             `webhook`, `execute_tool`, `notify`, `spawn_agent`"
        ]
    );
    let text = GOOD.replace("timeout: 5s", "timeout: soon");
    let found = errors(&text);
    assert!(
        found[0].starts_with("hooks.yaml:3:54: tools.log.timeout: `soon` is not a duration"),
        "{found:?}"
    );
}

#[test]
fn syntax_errors_keep_the_parsers_position() {
    let found = errors("admin:\n  token: \"unclosed\n");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("hooks.yaml:3:1: "), "{found:?}");
}

#[test]
fn every_missing_variable_names_the_field_it_is_in() {
    let text = "server:\n  publicUrl: https://${HOST}\nadmin:\n  token: ${HOOKHUB_ADMIN_TOKEN}\n\
                hooks: [ { id: '${ID:-x}', triggerConfig: { webhookPath: '${P}' } } ]\n";
    assert_eq!(
        errors(text),
        vec![
            "hooks.yaml:2:22: server.publicUrl: environment variable HOST is not set (write \
             ${HOST:-default} to make it optional)",
            "hooks.yaml:4:10: admin.token: environment variable HOOKHUB_ADMIN_TOKEN is not set \
             (write ${HOOKHUB_ADMIN_TOKEN:-default} to make it optional)",
            "hooks.yaml:5:59: hooks[0].triggerConfig.webhookPath: environment variable P is not \
             set (write ${P:-default} to make it optional)",
        ]
    );
}

#[test]
fn variables_are_substituted_before_parsing() {
    let env = |name: &str| (name == "SECRET").then(|| "from-env".to_string());
    let text = GOOD.replace("webhookSecret: s", "webhookSecret: ${SECRET}");
    let config = load_str(&text, "hooks.yaml", &env).unwrap();
    assert_eq!(
        config.hooks[0].trigger_config.webhook_secret.0,
        vec!["from-env"]
    );
}

#[test]
fn semantic_errors_are_all_reported_in_file_order() {
    let text = GOOD
        .replace("toolId: log", "toolId: nope")
        .replace("id: two", "id: one")
        .replace("listen: 127.0.0.1:3005", "listen: everywhere");
    assert_eq!(
        errors(&text),
        vec![
            "hooks.yaml:1:11: server.listen: `everywhere` is not an address such as 127.0.0.1:3005",
            "hooks.yaml:8:21: hooks[0].actionConfig.toolId: unknown tool `nope`; defined tools: log",
            "hooks.yaml:9:5: hooks[1].id: duplicate id `one`: already used by hooks[0]",
        ]
    );
}

#[test]
fn serde_paths_are_made_readable() {
    assert_eq!(readable_path("."), "");
    assert_eq!(readable_path("server.?"), "server");
    assert_eq!(
        readable_path("hooks[0].triggerConfig"),
        "hooks[0].triggerConfig"
    );
    assert_eq!(
        bare_message(
            "hooks[0]: missing field `x` at line 2 column 5",
            "hooks[0]",
            Some((2, 5))
        ),
        "missing field `x`"
    );
}

/// Issue 19: a tab read "found character that cannot start any token".
#[test]
fn a_tab_is_called_a_tab_where_it_is() {
    let text = GOOD.replace(
        "    triggerConfig:\n      webhookPath: two",
        "    triggerConfig:\n\twebhookPath: two",
    );
    assert_eq!(
        errors(&text),
        vec!["hooks.yaml:11:1: hooks[1].triggerConfig: a tab character; YAML indents with spaces"]
    );
    let text = GOOD.replace("      webhookPath: two", "    \t  webhookPath: two");
    let found = errors(&text);
    assert!(
        found[0].starts_with("hooks.yaml:11:5: ")
            && found[0].ends_with("a tab character; YAML indents with spaces"),
        "{found:?}"
    );
}

fn file_errors(text: &str) -> Vec<String> {
    match load_file_text(text, "hooks.yaml", &no_env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.issues.iter().map(ToString::to_string).collect(),
    }
}

/// Issue 19: an empty file saved by mistake removed every hook.
#[test]
fn a_file_must_list_its_hooks_even_when_there_are_none() {
    let hint = "a file must list its hooks, so that one saved empty by mistake cannot remove \
                them all; write `hooks: []` to run without hooks from the file";
    for empty in ["", "\n", "# all commented out\n#hooks:\n"] {
        assert_eq!(
            file_errors(empty),
            [format!(
                "hooks.yaml:1:1: the file is empty (or holds only comments): {hint}"
            )]
        );
    }
    assert_eq!(
        file_errors("server: { listen: 127.0.0.1:3005 }\n"),
        [format!("hooks.yaml:1:1: hooks: is missing: {hint}")]
    );
    assert_eq!(
        file_errors("server: {}\nhooks:\n#  - id: one\n"),
        [format!("hooks.yaml:2:1: hooks: is empty: {hint}")]
    );
    let (config, _) = load_file_text("hooks: []\n", "hooks.yaml", &no_env).unwrap();
    assert!(config.hooks.is_empty());
    assert!(load_file_text(GOOD, "hooks.yaml", &no_env).is_ok());
}
