//! One test per rule: the field each problem names and, for the messages users search for,
//! the exact text.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::config::ToolActionDef;
use crate::model::{Secrets, TriggerConfig};

fn tool(command: &[&str]) -> ToolDef {
    ToolDef {
        command: command.iter().map(|s| s.to_string()).collect(),
        actions: BTreeMap::new(),
        working_dir: None,
        timeout: std::time::Duration::from_secs(10),
        shell: false,
        env: BTreeMap::new(),
        inherit_env: false,
        allow_option_args: false,
        description: None,
    }
}

fn tools() -> BTreeMap<String, ToolDef> {
    let mut deploy = tool(&[]);
    for name in ["start", "stop"] {
        let command = vec!["/bin/true".to_string(), name.to_string()];
        deploy
            .actions
            .insert(name.to_string(), ToolActionDef { command });
    }
    BTreeMap::from([
        ("deploy".to_string(), deploy),
        ("log".to_string(), tool(&["/bin/echo", "{{hook.id}}"])),
    ])
}

fn forward(url: &str) -> Hook {
    Hook {
        id: "fwd".into(),
        name: String::new(),
        enabled: true,
        trigger: Default::default(),
        trigger_config: TriggerConfig {
            webhook_path: "fwd".into(),
            webhook_secret: Secrets(vec!["s".into()]),
            ..Default::default()
        },
        action: ActionKind::Webhook,
        action_config: ActionConfig {
            webhook_url: Some(url.into()),
            ..Default::default()
        },
        alerts: None,
    }
}

fn run_tool(tool_id: &str) -> Hook {
    let mut hook = forward("http://unused");
    hook.action = ActionKind::ExecuteTool;
    hook.action_config = ActionConfig {
        tool_id: Some(tool_id.into()),
        ..Default::default()
    };
    hook
}

fn with_tools() -> Config {
    Config {
        tools: tools(),
        ..Default::default()
    }
}

fn problems(hook: &Hook) -> Vec<(String, String)> {
    validate_hook(hook, &with_tools())
}

fn fields(hook: &Hook) -> Vec<String> {
    problems(hook).into_iter().map(|(path, _)| path).collect()
}

#[test]
fn a_good_hook_has_no_problems() {
    assert_eq!(problems(&forward("https://example.com/in")), vec![]);
    assert_eq!(problems(&run_tool("log")), vec![]);
}

#[test]
fn webhook_path_has_one_pinned_message() {
    for bad in ["", "Upper", "a b", "a.b", &"x".repeat(129)] {
        let mut hook = forward("http://x");
        hook.trigger_config.webhook_path = bad.to_string();
        assert_eq!(
            problems(&hook),
            vec![(
                "triggerConfig.webhookPath".to_string(),
                "must be 1-128 chars of a-z 0-9 - _ /".to_string()
            )],
            "{bad}"
        );
    }
}

#[test]
fn webhook_path_must_not_look_like_a_relative_path() {
    for (bad, why) in [
        ("/a", "must not start or end with /"),
        ("a/", "must not start or end with /"),
        ("a//b", "must not contain //"),
    ] {
        let mut hook = forward("http://x");
        hook.trigger_config.webhook_path = bad.to_string();
        assert_eq!(problems(&hook)[0].1, why, "{bad}");
    }
}

#[test]
fn ids_are_slugs_but_may_be_left_empty_for_the_api() {
    let mut hook = forward("http://x");
    hook.id = "Bad Id".into();
    assert_eq!(fields(&hook), vec!["id"]);
    hook.id = String::new();
    assert_eq!(fields(&hook), Vec::<String>::new());
}

#[test]
fn unknown_scheme_is_reported_at_scheme() {
    let mut hook = forward("http://x");
    hook.trigger_config.scheme = Some("carrier-pigeon".into());
    let found = problems(&hook);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "triggerConfig.scheme");
    assert!(found[0].1.contains("carrier-pigeon"), "{}", found[0].1);
}

#[test]
fn methods_are_uppercase_tokens() {
    let mut hook = forward("http://x");
    hook.trigger_config.methods = vec!["GET".into(), "put".into(), "".into()];
    assert_eq!(
        fields(&hook),
        vec!["triggerConfig.methods[1]", "triggerConfig.methods[2]"]
    );
}

#[test]
fn a_hook_without_secret_is_only_a_warning() {
    let mut hook = forward("http://x");
    hook.trigger_config.webhook_secret = Secrets::default();
    assert_eq!(problems(&hook), vec![]);
    assert_eq!(hook_warnings(&hook)[0].0, "triggerConfig.webhookSecret");
    assert_eq!(hook_warnings(&forward("http://x")), vec![]);
}

#[test]
fn forward_url_is_required_and_absolute_http() {
    for (url, ok) in [
        ("https://a.example/x", true),
        ("http://127.0.0.1:9000/hook", true),
        ("ftp://a.example", false),
        ("/relative", false),
        ("not a url", false),
    ] {
        assert_eq!(problems(&forward(url)).is_empty(), ok, "{url}");
    }
    let mut hook = forward("http://x");
    hook.action_config.webhook_url = None;
    assert_eq!(
        problems(&hook),
        vec![(
            "actionConfig.webhookUrl".to_string(),
            "is required for action webhook".to_string()
        )]
    );
}

#[test]
fn forward_method_sign_and_secret_go_together() {
    let mut hook = forward("http://x");
    hook.action_config.webhook_method = Some("post".into());
    hook.action_config.sign = Some(SignMode::Standard);
    assert_eq!(
        fields(&hook),
        vec!["actionConfig.webhookMethod", "actionConfig.sign"]
    );
    let mut hook = forward("http://x");
    hook.action_config.signing_secret = Secrets(vec!["whsec_x".into()]);
    assert_eq!(fields(&hook), vec!["actionConfig.signingSecret"]);
    hook.action_config.sign = Some(SignMode::Github);
    assert_eq!(fields(&hook), Vec::<String>::new());
    hook.action_config.sign = Some(SignMode::None);
    assert_eq!(fields(&hook), vec!["actionConfig.signingSecret"]);
}

#[test]
fn fields_of_the_other_action_are_refused() {
    let mut hook = forward("http://x");
    hook.action_config.tool_id = Some("log".into());
    hook.action_config.tool_params = BTreeMap::from([("a".into(), "b".into())]);
    assert_eq!(
        problems(&hook),
        vec![
            (
                "actionConfig.toolId".to_string(),
                "not used by action webhook".to_string()
            ),
            (
                "actionConfig.toolParams".to_string(),
                "not used by action webhook".to_string()
            ),
        ]
    );
    let mut hook = run_tool("log");
    hook.action_config.webhook_url = Some("http://x".into());
    hook.action_config.body_template = Some("{{webhook.body}}".into());
    assert_eq!(
        fields(&hook),
        vec!["actionConfig.webhookUrl", "actionConfig.bodyTemplate"]
    );
}

#[test]
fn unknown_tool_lists_the_defined_ones() {
    assert_eq!(
        problems(&run_tool("nope")),
        vec![(
            "actionConfig.toolId".to_string(),
            "unknown tool `nope`; defined tools: deploy, log".to_string()
        )]
    );
    let mut hook = run_tool("x");
    hook.action_config.tool_id = None;
    assert_eq!(fields(&hook), vec!["actionConfig.toolId"]);
}

#[test]
fn tool_action_must_exist_and_is_needed_without_command() {
    assert_eq!(
        problems(&run_tool("deploy")),
        vec![(
            "actionConfig.toolAction".to_string(),
            "is required: this tool has no `command`; pick one of start, stop".to_string()
        )]
    );
    let mut hook = run_tool("deploy");
    hook.action_config.tool_action = Some("start".into());
    assert_eq!(fields(&hook), Vec::<String>::new());
    hook.action_config.tool_action = Some("restart".into());
    assert_eq!(
        problems(&hook)[0].1,
        "unknown action `restart`; this tool's actions: start, stop"
    );
    let mut hook = run_tool("log");
    hook.action_config.tool_action = Some("start".into());
    assert_eq!(fields(&hook), vec!["actionConfig.toolAction"]);
}

#[test]
fn concurrency_is_one_to_twenty() {
    for (c, ok) in [(0, false), (1, true), (20, true), (21, false)] {
        let mut hook = forward("http://x");
        hook.action_config.concurrency = Some(c);
        assert_eq!(problems(&hook).is_empty(), ok, "{c}");
    }
}

#[test]
fn templates_must_compile() {
    let mut hook = forward("http://x");
    hook.action_config.headers = BTreeMap::from([("X-A".into(), "{{#if a}}".into())]);
    hook.action_config.body_template = Some("{{ok}}".into());
    let found = problems(&hook);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, "actionConfig.headers.X-A");
    assert!(
        found[0].1.starts_with("invalid template: "),
        "{}",
        found[0].1
    );
    let mut hook = run_tool("log");
    hook.action_config.tool_params = BTreeMap::from([("p".into(), "{{/if}}".into())]);
    assert_eq!(fields(&hook), vec!["actionConfig.toolParams.p"]);
}

fn config_problems(config: &Config) -> Vec<String> {
    let (errors, _) = validate_config(config);
    errors
        .into_iter()
        .map(|(p, m)| format!("{p}: {m}"))
        .collect()
}

#[test]
fn tools_need_a_command_and_sane_settings() {
    let mut config = Config::default();
    let mut bad = tool(&[]);
    bad.timeout = std::time::Duration::ZERO;
    bad.working_dir = Some(Default::default());
    bad.env = BTreeMap::from([("A".into(), "{{".into())]);
    bad.actions
        .insert("x".into(), ToolActionDef { command: vec![] });
    config.tools.insert("Bad".into(), bad);
    let found = config_problems(&config);
    let paths: Vec<&str> = found
        .iter()
        .map(|f| f.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        vec![
            "tools.Bad",
            "tools.Bad.actions.x.command",
            "tools.Bad.timeout",
            "tools.Bad.workingDir",
            "tools.Bad.env.A"
        ]
    );
    config.tools.clear();
    config.tools.insert("empty".into(), tool(&[]));
    assert_eq!(
        config_problems(&config),
        vec!["tools.empty: needs `command` (an argv list) or `actions`"]
    );
}

#[test]
fn shell_tools_take_one_script_and_no_triple_stash() {
    let mut config = Config::default();
    let mut two = tool(&["echo", "hi"]);
    two.shell = true;
    let mut raw = tool(&["echo {{{webhook.body.x}}}"]);
    raw.shell = true;
    let mut fine = tool(&["echo {{webhook.body.x}}"]);
    fine.shell = true;
    config.tools = BTreeMap::from([
        ("two".into(), two),
        ("raw".into(), raw),
        ("fine".into(), fine),
    ]);
    assert_eq!(
        config_problems(&config),
        vec![
            "tools.raw.command[0]: `{{{` is not allowed with `shell: true`: values must stay shell-quoted",
            "tools.two.command: with `shell: true` must be exactly one string: the script given to sh -c",
        ]
    );
}

#[test]
fn server_settings_are_checked() {
    let mut config = Config::default();
    config.server.listen = Some("localhost".into());
    config.server.public_url = Some("hooks.example.com".into());
    config.server.max_body_bytes = 0;
    config.server.workers = 257;
    config.server.retention.max_per_hook = 0;
    let found = config_problems(&config);
    let paths: Vec<&str> = found
        .iter()
        .map(|f| f.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        paths,
        vec![
            "server.listen",
            "server.publicUrl",
            "server.maxBodyBytes",
            "server.workers",
            "server.retention.maxPerHook"
        ]
    );
    config.server = Default::default();
    config.server.listen = Some("127.0.0.1:3005".into());
    config.server.public_url = Some("https://hooks.example.com".into());
    assert_eq!(config_problems(&config), Vec::<String>::new());
}

#[test]
fn hook_ids_are_required_and_unique() {
    let mut config = Config::default();
    let mut nameless = forward("http://x");
    nameless.id = String::new();
    config.hooks = [
        forward("http://x"),
        nameless,
        forward("http://x"),
        forward("http://x"),
    ]
    .map(Arc::new)
    .into();
    assert_eq!(
        config_problems(&config),
        vec![
            "hooks[1].id: is required: a slug such as `github-push`",
            "hooks[2].id: duplicate id `fwd`: already used by hooks[0]",
            "hooks[3].id: duplicate id `fwd`: already used by hooks[0]",
        ]
    );
}

#[test]
fn scheme_problems_name_the_field_at_fault() {
    let fields = |hook: &Hook| -> Vec<String> {
        validate_hook(hook, &with_tools())
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    };
    let mut misplaced = forward("http://example.com/x");
    misplaced.trigger_config.algorithm = Some("sha1".into());
    assert_eq!(fields(&misplaced), vec!["triggerConfig.algorithm"]);

    let mut bad_key = forward("http://example.com/x");
    bad_key.trigger_config.scheme = Some("standard".into());
    bad_key.trigger_config.webhook_secret = Secrets(vec!["whsec_!!!".into()]);
    assert_eq!(fields(&bad_key), vec!["triggerConfig.webhookSecret[0]"]);

    let mut unknown = forward("http://example.com/x");
    unknown.trigger_config.scheme = Some("nope".into());
    assert_eq!(fields(&unknown), vec!["triggerConfig.scheme"]);
}

fn load_errors(text: &str) -> Vec<String> {
    let no_env = |_: &str| None;
    match crate::config::load_str(text, "hooks.yaml", &no_env) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.issues.iter().map(ToString::to_string).collect(),
    }
}

const FILTERED: &str = "\
hooks:
  - id: prs
    triggerConfig:
      webhookPath: prs
      webhookSecret: s
      events: [pull_request]
      filter: \"body.action == 'opened' &&\"
    action: webhook
    actionConfig: { webhookUrl: 'http://127.0.0.1:9000/x' }
";

#[test]
fn a_filter_that_does_not_compile_is_a_config_error_with_both_positions() {
    let found = load_errors(FILTERED);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0],
        "hooks.yaml:7:7: hooks[0].triggerConfig.filter: syntax error at 1:27: mismatched input \
         '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, \
         NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
    );
    let good = FILTERED.replace(" &&\"", "\"");
    let config = crate::config::load_str(&good, "hooks.yaml", &|_| None).unwrap();
    assert_eq!(config.hooks[0].trigger_config.events, vec!["pull_request"]);
}

#[test]
fn a_filter_naming_an_unknown_variable_is_refused() {
    let text = FILTERED.replace("body.action == 'opened' &&", "payload.action == 'opened'");
    assert_eq!(
        load_errors(&text),
        vec![
            "hooks.yaml:7:7: hooks[0].triggerConfig.filter: unknown variable `payload`: a \
             filter sees body, headers, query and eventType"
        ]
    );
}

#[test]
fn events_must_not_be_blank() {
    let mut hook = forward("http://example.com/x");
    hook.trigger_config.events = vec!["push".into(), " ".into()];
    assert_eq!(
        problems(&hook),
        vec![(
            "triggerConfig.events[1]".to_string(),
            "must be an event type such as `push`, or `*` for any".to_string()
        )]
    );
}

const SCHEDULED: &str = "\
hooks:
  - id: nightly
    trigger: schedule
    triggerConfig:
      cron: \"0 3 * * *\"
      timezone: Europe/Berlin
    action: webhook
    actionConfig: { webhookUrl: 'http://127.0.0.1:9000/x' }
";

#[test]
fn a_schedule_hook_needs_no_path_or_secret() {
    let (config, warnings) =
        crate::config::load_str_with_warnings(SCHEDULED, "hooks.yaml", &|_| None).unwrap();
    assert_eq!(config.hooks[0].trigger, crate::model::TriggerKind::Schedule);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn bad_cron_and_timezone_are_config_errors_on_their_fields() {
    let text = SCHEDULED
        .replace("0 3 * * *", "0 25 * * *")
        .replace("Europe/Berlin", "Europe/Atlantis");
    let found = load_errors(&text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("hooks.yaml:5:7: hooks[0].triggerConfig.cron: `0 25 * * *` is not"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("hooks.yaml:6:7: hooks[0].triggerConfig.timezone: `Europe/Atlantis`"),
        "{found:?}"
    );
    let missing = SCHEDULED.replace("      cron: \"0 3 * * *\"\n", "");
    assert!(load_errors(&missing)[0].contains("triggerConfig.cron: is required"));
}

#[test]
fn webhook_settings_on_a_schedule_hook_and_cron_on_a_webhook_hook_are_refused() {
    let text = SCHEDULED.replace("      timezone", "      webhookPath: x\n      timezone");
    let found = load_errors(&text);
    assert!(
        found[0].starts_with("hooks.yaml:6:7: hooks[0].triggerConfig.webhookPath: not used"),
        "{found:?}"
    );
    let webhook = SCHEDULED.replace("trigger: schedule", "trigger: webhook");
    let found = load_errors(&webhook);
    assert!(
        found
            .iter()
            .any(|f| f.contains("triggerConfig.cron: is only used by trigger schedule")),
        "{found:?}"
    );
}

const INHERITING: &str = "\
tools:
  deploy:
    command: [/usr/local/bin/deploy]
    inheritEnv: true
hooks: []
";

#[test]
fn inherit_env_loads_and_is_a_warning() {
    let (config, warnings) =
        crate::config::load_str_with_warnings(INHERITING, "hooks.yaml", &|_| None).unwrap();
    assert!(config.tools["deploy"].inherit_env);
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "hooks.yaml:4:5: tools.deploy.inheritEnv: this tool gets the hub's whole environment"
        ),
        "{warnings:?}"
    );
    let quiet = INHERITING.replace("inheritEnv: true", "inheritEnv: false");
    let (_, warnings) =
        crate::config::load_str_with_warnings(&quiet, "hooks.yaml", &|_| None).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn a_misspelt_inherit_env_stays_an_error() {
    let found = load_errors(&INHERITING.replace("inheritEnv", "inherit_env"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("unknown field"), "{found:?}");
}

#[test]
fn allow_option_args_loads_and_a_misspelling_stays_an_error() {
    let text = INHERITING.replace("inheritEnv: true", "allowOptionArgs: true");
    let config = crate::config::load_str(&text, "hooks.yaml", &|_| None).unwrap();
    assert!(config.tools["deploy"].allow_option_args);
    let found = load_errors(&INHERITING.replace("inheritEnv: true", "allowOptionArg: true"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("unknown field"), "{found:?}");
}
