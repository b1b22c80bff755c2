//! The config file as a user meets it: the shipped example loads on a fresh machine, and
//! `hookhub check` reports a bad file with file, line, column and field path.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks.example.yaml")
}

/// Runs the built binary with no `${VAR}`-relevant environment, as on a fresh machine.
fn hookhub_check(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .env_clear()
        .output()
        .expect("the hookhub binary runs")
}

#[test]
fn example_config_loads_with_no_environment() {
    // load_file reads the process environment; none of the example's variables are set in
    // a test run, so this is the fresh-machine case the example promises.
    let config = hookhub::load_file(&example_path()).expect("hooks.example.yaml is valid");
    let ids: Vec<&str> = config.hooks.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["github-push", "forward-example", "morning-report"]);
    assert!(config.tools.contains_key("log-event"));
    assert_eq!(config.server.listen.as_deref(), Some("127.0.0.1:3005"));
    assert_eq!(config.admin.token.as_deref().unwrap_or(""), "");
    assert!(!config.hooks[1].enabled);
}

#[test]
fn check_lists_the_example_hooks() {
    let out = hookhub_check(&example_path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let github = stdout
        .lines()
        .find(|l| l.starts_with("github-push "))
        .unwrap_or_else(|| panic!("github-push not listed:\n{stdout}"));
    assert!(github.contains("/api/webhooks/github"), "{github}");
    assert!(github.contains("execute_tool → log-event"), "{github}");
    assert!(stdout.contains("(disabled)"), "{stdout}");
}

#[test]
fn check_reports_a_bad_webhook_path_with_its_position() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "hooks:\n  - id: bad-path\n    triggerConfig:\n      webhookPath: Not/Valid!\n      \
         webhookSecret: s\n    action: webhook\n    actionConfig: {{ webhookUrl: 'http://127.0.0.1:1/x' }}\n"
    )
    .expect("write temp file");
    let out = hookhub_check(file.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let expected = format!(
        "{}:4:7: hooks[0].triggerConfig.webhookPath: must be 1-128 chars of a-z 0-9 - _ /",
        file.path().display()
    );
    assert!(
        stderr.lines().any(|l| l == expected),
        "expected line:\n{expected}\nstderr:\n{stderr}"
    );
}

#[test]
fn check_without_a_config_file_fails() {
    let missing = tempfile::tempdir().expect("temp dir");
    let out = hookhub_check(&missing.path().join("nope.yaml"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}
