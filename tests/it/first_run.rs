//! hookhub as a new user first meets it (issue 19, "found by a new user"): started on the
//! example file, with a config saved empty or indented with a tab, its log read from a file.
//! Everything here runs the real binary.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::binary::{Binary, free_port};
use serde_json::Value;

fn hookhub(args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookhub"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("HOOKHUB_CONFIG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to its end (killed after 20 s), its output read from files so that a
/// full pipe can never stall it.
fn finish(mut command: Command) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = command
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_empty_config_file_is_refused_at_start_and_by_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.yaml"), "# nothing yet\n").unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let served = finish(hookhub(&["serve", "--listen", &listen], dir.path()));
    let stderr = text(&served.stderr);
    assert_eq!(served.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hooks.yaml:1:1: the file is empty (or holds only comments)")
            && stderr.contains("write `hooks: []` to run without hooks from the file"),
        "{stderr}"
    );
    let checked = finish(hookhub(&["check"], dir.path()));
    assert_eq!(checked.status.code(), Some(1));
    assert!(text(&checked.stderr).contains("the file is empty"));

    std::fs::write(dir.path().join("hooks.yaml"), "hooks: []\n").unwrap();
    let checked = finish(hookhub(&["check"], dir.path()));
    assert_eq!(checked.status.code(), Some(0), "{}", text(&checked.stderr));
}

#[test]
fn a_tab_is_reported_as_a_tab_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hooks.yaml"),
        "hooks:\n  - id: a\n    triggerConfig:\n\twebhookPath: a\n",
    )
    .unwrap();
    let checked = finish(hookhub(&["check"], dir.path()));
    let stderr = text(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "hooks.yaml:4:1: hooks[0].triggerConfig: a tab character; YAML indents with spaces"
    );
}

const TOKEN: &str = "first-run-admin-token-0123456789abcdef";

/// `hookhub serve` as a new user starts it: in a directory holding only a copy of
/// `hooks.example.yaml`, with no `--config`, none of the example's variables set (but an
/// admin token, so the test can read the API), and its log going to a file.
async fn start_on_example(dir: &Path) -> Binary {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks.example.yaml");
    std::fs::copy(example, dir.join("hooks.example.yaml")).unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = hookhub(&["serve", "--listen", &listen], dir);
    for name in [
        "GITHUB_WEBHOOK_SECRET",
        "FORWARD_WEBHOOK_SECRET",
        "FORWARD_SIGNING_SECRET",
    ] {
        command.env_remove(name);
    }
    command.env("HOOKHUB_ADMIN_TOKEN", TOKEN);
    Binary::start_command(command, port, dir).await
}

async fn get(hub: &Binary, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", hub.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Polls `check` every 50 ms for at most 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened within 10 s: {what}");
}

/// Issue 19: a hub started on the example kept watching it after the user created
/// `hooks.yaml`, and said nowhere plainly which file it used.
#[tokio::test]
async fn the_hub_names_its_config_file_and_says_when_hooks_yaml_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_on_example(dir.path()).await;
    let example = std::path::absolute(dir.path().join("hooks.example.yaml")).unwrap();
    let log = hub.log_text();
    let named = format!("config file: {} (the example", example.display());
    assert!(log.contains(&named), "{log}");
    let status = get(&hub, "/api/config/status").await;
    assert_eq!(status["path"], example.display().to_string());

    std::fs::copy(&example, dir.path().join("hooks.yaml")).unwrap();
    let restart = "hooks.yaml exists now and will be used instead of hooks.example.yaml at the \
                   next start; restart hookhub to use it";
    eventually("the log says hooks.yaml needs a restart", async || {
        hub.log_text().contains(restart)
    })
    .await;
    let status = get(&hub, "/api/config/status").await;
    let warnings = status["warnings"].to_string();
    assert!(warnings.contains(restart), "{status:#}");
    assert_eq!(
        status["path"],
        example.display().to_string(),
        "still the example"
    );
}

/// Issue 19: nothing warned that the example's published secret was still in use.
#[tokio::test]
async fn a_published_example_secret_is_warned_about_at_start_in_check_and_in_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_on_example(dir.path()).await;
    let warning = "hooks[0].triggerConfig.webhookSecret: is a secret published in \
                   hooks.example.yaml, so anyone can sign deliveries to this hook";
    let log = hub.log_text();
    assert!(log.contains(warning), "{log}");
    assert!(
        !log.contains("forward-example"),
        "disabled hooks are not warned about"
    );
    let status = get(&hub, "/api/config/status").await;
    assert!(
        status["warnings"].to_string().contains(warning),
        "{status:#}"
    );
    let checked = finish(hookhub(&["check"], dir.path()));
    let stderr = text(&checked.stderr);
    assert_eq!(checked.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: hooks.example.yaml:"), "{stderr}");
    assert!(stderr.contains(warning), "{stderr}");
}

/// Issue 19: schedule hooks were given a `url` of `…/api/webhooks/`.
#[tokio::test]
async fn a_schedule_hook_has_no_url() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_on_example(dir.path()).await;
    let hooks = get(&hub, "/api/hooks").await;
    let url = |id: &str| {
        let hooks = hooks["hooks"].as_array().unwrap();
        hooks.iter().find(|h| h["id"] == id).unwrap()["url"].clone()
    };
    assert_eq!(url("morning-report"), Value::Null);
    assert_eq!(
        url("github-push"),
        format!("{}/api/webhooks/github", hub.url)
    );
    assert_eq!(
        get(&hub, "/api/hooks/morning-report").await["url"],
        Value::Null
    );
}

/// Issue 19: logs written to a file or journald carried ANSI colour codes.
#[tokio::test]
async fn a_log_written_to_a_file_has_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_on_example(dir.path()).await;
    let log = hub.log_text();
    assert!(log.contains(" INFO ") && log.contains(" WARN "), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in the log:\n{log:?}");
}

/// On a terminal the log is coloured, unless `NO_COLOR` says otherwise. `script` gives the
/// binary a pseudo-terminal; the empty config makes it log one line and stop.
#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    let probe = Command::new("script").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hooks.yaml"), "").unwrap();
    let run = |no_color: Option<&str>| {
        // A port of its own: should the empty file ever be taken, the hub must not start on
        // the default 3005 that someone else's hub may be using.
        let inner = format!(
            "{} serve --listen 127.0.0.1:{}",
            env!("CARGO_BIN_EXE_hookhub"),
            free_port()
        );
        let mut command = Command::new("script");
        command
            .args(["-q", "-e", "-c", &inner, "/dev/null"])
            .current_dir(dir.path())
            .env_remove("HOOKHUB_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        match no_color {
            Some(value) => command.env("NO_COLOR", value),
            None => command.env_remove("NO_COLOR"),
        };
        text(&finish(command).stdout)
    };
    let coloured = run(None);
    assert!(coloured.contains("config file:"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    let plain = run(Some("1"));
    assert!(plain.contains("config file:"), "{plain}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}
