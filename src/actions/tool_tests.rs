//! Tests of the `tool` action.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::actions::test_support::{execution, hook};
use crate::clock::ManualClock;
use crate::config::ToolActionDef;
use crate::execution::AttemptOutcome;
use crate::model::{ActionConfig, ActionKind};

fn tool(command: &[&str]) -> ToolDef {
    ToolDef {
        command: command.iter().map(|s| s.to_string()).collect(),
        actions: BTreeMap::new(),
        working_dir: None,
        timeout: Duration::from_secs(10),
        shell: false,
        env: BTreeMap::new(),
        inherit_env: false,
        allow_option_args: false,
        description: None,
    }
}

/// Runs tool `t` for a hook with `config` (toolId `t` unless set) on payload `body`.
async fn attempt(t: ToolDef, config: ActionConfig, body: Value) -> Report {
    let config = ActionConfig {
        tool_id: config.tool_id.clone().or(Some("t".into())),
        ..config
    };
    let hook = hook(ActionKind::ExecuteTool, config);
    let exe = execution(body.clone(), body.to_string().as_bytes());
    let tools = BTreeMap::from([("t".to_string(), t)]);
    let config = crate::config::Config {
        tools,
        ..Default::default()
    };
    let run = Run {
        hook: &hook,
        execution: &exe,
        attempt: 1,
        config: &config,
    };
    let env = ActionEnv::new(Arc::new(ManualClock::new(1_000)));
    let action = crate::hooks::Action::of(&hook, &config);
    crate::actions::run(&env, action.as_ref(), run).await
}

fn stdout(report: &Report) -> &str {
    report.attempts[0].detail["stdout"].as_str().unwrap()
}

#[tokio::test]
async fn a_payload_value_is_exactly_one_literal_argument() {
    let t = tool(&[
        "/bin/sh",
        "-c",
        "printf '%s|' \"$#\" \"$1\"",
        "sh",
        "{{webhook.body.x}}",
    ]);
    let report = attempt(t, ActionConfig::default(), json!({"x": "; rm -rf /tmp/x"})).await;
    assert_eq!(stdout(&report), "1|; rm -rf /tmp/x|");
    let output = json!({ "exitCode": 0, "stdout": "1|; rm -rf /tmp/x|", "stderr": "" });
    assert_eq!(
        report.outcome,
        Outcome::Succeeded {
            output: Some(output)
        }
    );
    assert_eq!(report.attempts[0].detail["argv"][4], "; rm -rf /tmp/x");
}

#[tokio::test]
async fn params_render_from_the_context_into_argv() {
    let t = tool(&["/bin/echo", "{{params.branch}}", "{{params.who}}"]);
    let config = ActionConfig {
        tool_params: BTreeMap::from([
            ("branch".to_string(), "{{webhook.body.ref}}".to_string()),
            ("who".to_string(), "{{hook.id}} a b".to_string()),
        ]),
        ..Default::default()
    };
    let report = attempt(t, config, json!({"ref": "main"})).await;
    assert_eq!(stdout(&report), "main test-hook a b\n");
    assert_eq!(
        report.attempts[0].detail["argv"],
        json!(["/bin/echo", "main", "test-hook a b"])
    );
}

#[tokio::test]
async fn stdin_carries_the_json_payload() {
    let body = json!({"ref": "main", "nested": {"n": [1, 2]}});
    let report = attempt(tool(&["/bin/cat"]), ActionConfig::default(), body.clone()).await;
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&report)).unwrap(),
        body
    );
}

#[tokio::test]
async fn a_tool_that_ignores_a_large_stdin_still_succeeds() {
    let body = json!({"big": "z".repeat(300_000)});
    let report = attempt(tool(&["/bin/true"]), ActionConfig::default(), body).await;
    assert!(
        matches!(report.outcome, Outcome::Succeeded { .. }),
        "{:?}",
        report.outcome
    );
}

#[tokio::test]
async fn hookhub_variables_and_tool_env_are_set() {
    let script = "printf %s \"$HOOKHUB_HOOK_ID|$HOOKHUB_EVENT_TYPE|$HOOKHUB_ATTEMPT|\
                  $HOOKHUB_DELIVERY_ID|$HOOKHUB_PATH|$HOOKHUB_METHOD|$GREETING\"";
    let mut t = tool(&["/bin/sh", "-c", script]);
    t.env
        .insert("GREETING".into(), "hi {{webhook.body.who}}".into());
    let report = attempt(t, ActionConfig::default(), json!({"who": "ann"})).await;
    assert_eq!(stdout(&report), "test-hook|push|1|d-1|incoming|POST|hi ann");
}

#[tokio::test]
async fn working_dir_and_named_actions_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tool(&[]);
    t.working_dir = Some(dir.path().to_path_buf());
    t.actions.insert(
        "where".into(),
        ToolActionDef {
            command: vec!["/bin/pwd".into()],
        },
    );
    let config = ActionConfig {
        tool_action: Some("where".into()),
        ..Default::default()
    };
    let report = attempt(t.clone(), config, json!({})).await;
    let pwd = Path::new(stdout(&report).trim()).canonicalize().unwrap();
    assert_eq!(pwd, dir.path().canonicalize().unwrap());

    let report = attempt(t, ActionConfig::default(), json!({})).await;
    let Outcome::Failed { error } = report.outcome else {
        panic!("expected failure")
    };
    assert!(error.contains("toolAction"), "{error}");
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_exit_code() {
    let t = tool(&["/bin/sh", "-c", "echo bad >&2; exit 3"]);
    let report = attempt(t, ActionConfig::default(), json!({})).await;
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            error: "tool `t` exited with code 3".into()
        }
    );
    assert_eq!(report.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(report.attempts[0].detail["exitCode"], 3);
    assert_eq!(report.attempts[0].detail["stderr"], "bad\n");
    assert_eq!(report.attempts[0].detail["timedOut"], false);
}

/// Whether `pid` is still a live process (a zombie waiting for its reaper counts as gone).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = tool(&["/bin/sh", "-c", "sleep 30 & echo $! > pidfile; wait"]);
    t.working_dir = Some(dir.path().to_path_buf());
    t.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let report = attempt(t, ActionConfig::default(), json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let Outcome::Failed { error } = &report.outcome else {
        panic!("expected failure")
    };
    assert!(error.contains("timed out after 300ms"), "{error}");
    assert_eq!(report.attempts[0].detail["timedOut"], true);
    assert_eq!(report.attempts[0].detail["exitCode"], Value::Null);

    let pid = std::fs::read_to_string(dir.path().join("pidfile")).unwrap();
    let pid = pid.trim();
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !alive(pid),
        "the background sleep {pid} survived the timeout"
    );
}

#[tokio::test]
async fn a_background_process_holding_the_pipes_does_not_hold_the_execution() {
    let t = tool(&["/bin/sh", "-c", "sleep 4 & echo started"]);
    let started = Instant::now();
    let report = attempt(t, ActionConfig::default(), json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(report.outcome, Outcome::Succeeded { .. }));
    assert_eq!(stdout(&report), "started\n");
}

#[tokio::test]
async fn output_is_capped_at_64_kilobytes_each() {
    let script = "yes x | head -c 1000000; yes y | head -c 70000 >&2; echo done >&2";
    let report = attempt(
        tool(&["/bin/sh", "-c", script]),
        ActionConfig::default(),
        json!({}),
    )
    .await;
    assert!(matches!(report.outcome, Outcome::Succeeded { .. }));
    let detail = &report.attempts[0].detail;
    assert_eq!(detail["stdout"].as_str().unwrap().len(), OUTPUT_CAP);
    assert_eq!(detail["stderr"].as_str().unwrap().len(), OUTPUT_CAP);
    assert_eq!(detail["stdoutTruncated"], true);
    assert_eq!(detail["stderrTruncated"], true);
}

#[tokio::test]
async fn shell_tools_quote_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let evil = format!("'; touch {}; '", marker.display());
    let mut t = tool(&["printf '%s' {{webhook.body.x}}"]);
    t.shell = true;
    let report = attempt(t, ActionConfig::default(), json!({ "x": evil })).await;
    assert_eq!(stdout(&report), evil);
    assert!(!marker.exists());
    assert_eq!(report.attempts[0].detail["argv"][0], "/bin/sh");
}

#[tokio::test]
async fn unknown_tools_and_unstartable_commands_fail_clearly() {
    let config = ActionConfig {
        tool_id: Some("nope".into()),
        ..Default::default()
    };
    let report = attempt(tool(&["/bin/true"]), config, json!({})).await;
    let Outcome::Failed { error } = report.outcome else {
        panic!("expected failure")
    };
    assert!(error.starts_with("unknown tool `nope`"), "{error}");

    let report = attempt(
        tool(&["/no/such/program"]),
        ActionConfig::default(),
        json!({}),
    )
    .await;
    let Outcome::Failed { error } = report.outcome else {
        panic!("expected failure")
    };
    assert!(error.starts_with("could not start tool `t`"), "{error}");
    assert_eq!(
        report.attempts[0].detail["argv"],
        json!(["/no/such/program"])
    );
}

/// The names of the variables a tool saw, from `/usr/bin/env`'s output.
fn variable_names(report: &Report) -> Vec<String> {
    stdout(report)
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.to_string()))
        .collect()
}

#[tokio::test]
async fn a_tool_gets_a_clean_environment_unless_it_inherits_the_hubs() {
    // cargo sets CARGO_MANIFEST_DIR for every test process: a stand-in for the hub's secrets.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let mut t = tool(&["/usr/bin/env"]);
    t.env.insert("OWN".into(), "{{hook.id}}".into());
    let report = attempt(t.clone(), ActionConfig::default(), json!({})).await;
    let names = variable_names(&report);
    for name in &names {
        let kept = KEPT_ENV.contains(&name.as_str()) || name.starts_with("HOOKHUB_");
        assert!(
            kept || name == "OWN",
            "{name} leaked into the tool: {names:?}"
        );
    }
    assert!(names.contains(&"HOOKHUB_EXECUTION_ID".to_string()));
    assert!(stdout(&report).contains("OWN=test-hook\n"));
    if let Ok(path) = std::env::var("PATH") {
        assert!(stdout(&report).contains(&format!("PATH={path}\n")));
    }

    t.inherit_env = true;
    let report = attempt(t, ActionConfig::default(), json!({})).await;
    assert!(variable_names(&report).contains(&"CARGO_MANIFEST_DIR".to_string()));
    assert!(stdout(&report).contains("OWN=test-hook\n"));
}

fn failure(report: &Report) -> &str {
    let Outcome::Failed { error } = &report.outcome else {
        panic!("expected failure, got {:?}", report.outcome)
    };
    error
}

#[tokio::test]
async fn a_missing_or_null_value_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = |extra: &str| {
        let mut t = tool(&["/usr/bin/touch", marker.to_str().unwrap(), extra]);
        t.env.insert("REF".into(), "{{webhook.body.ref}}".into());
        t
    };
    let body = json!({"ref": "main", "nothing": null});
    let cases = [
        (
            touch("{{webhook.body.absent}}"),
            ActionConfig::default(),
            "tools.t.command[2]",
        ),
        (
            touch("{{webhook.body.nothing}}"),
            ActionConfig::default(),
            "tools.t.command[2]",
        ),
        (
            touch("{{params.p}}"),
            ActionConfig::default(),
            "tools.t.command[2]",
        ),
        (
            touch("{{params.p}}"),
            ActionConfig {
                tool_params: BTreeMap::from([("p".into(), "{{webhook.body.gone}}".into())]),
                ..Default::default()
            },
            "actionConfig.toolParams.p",
        ),
    ];
    for (t, config, field) in cases {
        let report = attempt(t, config, body.clone()).await;
        let error = failure(&report);
        assert!(
            error.starts_with(&format!("param_missing: {field}: ")),
            "{error}"
        );
        assert_eq!(report.attempts[0].detail["argv"], Value::Null);
    }
    let report = attempt(touch("x"), ActionConfig::default(), json!({})).await;
    assert!(failure(&report).starts_with("param_missing: tools.t.env.REF: "));
    assert!(!marker.exists(), "a tool ran with a value missing");
}

#[tokio::test]
async fn an_option_like_value_fails_unless_guarded_or_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("owned.txt");
    let body = json!({ "file": format!("--output={}", marker.display()) });
    let argv = tool(&["/usr/bin/sort", "{{webhook.body.file}}"]);
    let mut shelled = tool(&["/usr/bin/sort {{webhook.body.file}}"]);
    shelled.shell = true;
    for (t, field) in [
        (argv.clone(), "tools.t.command[1] renders to \"--output="),
        (
            shelled.clone(),
            "tools.t.command: a value renders to \"--output=",
        ),
    ] {
        let report = attempt(t, ActionConfig::default(), body.clone()).await;
        let error = failure(&report);
        assert!(
            error.starts_with(&format!("argument_is_an_option: {field}")),
            "{error}"
        );
        assert_eq!(report.attempts[0].detail["argv"], Value::Null);
    }
    assert!(!marker.exists(), "sort read the value as --output");

    // After a literal `--` the value is a file name to sort, which does not exist.
    let guarded = tool(&["/usr/bin/sort", "--", "{{webhook.body.file}}"]);
    let report = attempt(guarded, ActionConfig::default(), body.clone()).await;
    assert!(failure(&report).contains("exited with code"), "{report:?}");
    assert!(!marker.exists());

    // The owner may allow it; then the value is an option again, as before the check.
    let mut allowed = argv;
    allowed.allow_option_args = true;
    let report = attempt(allowed, ActionConfig::default(), body).await;
    assert!(matches!(report.outcome, Outcome::Succeeded { .. }));
    assert!(marker.exists());
}
