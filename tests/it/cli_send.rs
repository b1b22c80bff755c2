//! `hookhub send` from the outside: the real binary signs and posts to a running hub for
//! every kind of hook a user can make, including `header` and `hmac` hooks (by flags, or by
//! `--hook` from the config file), with the event and extra headers a hook's rules look at.

use crate::common;

use common::{Hub, Target};
use serde_json::Value;

const CONFIG: &str = r#"
server: { dataDir: "{data}" }
admin: { token: test-admin-token }
hooks:
  - id: pushes
    triggerConfig: { webhookPath: pushes, webhookSecret: s3cret, events: [push],
                     filter: "headers['x-custom'] == 'yes'" }
    action: webhook
    actionConfig: { webhookUrl: "{target}" }
  - id: keyed
    triggerConfig: { webhookPath: keyed, scheme: header, header: X-Api-Key, webhookSecret: k3y }
    action: webhook
    actionConfig: { webhookUrl: "{target}" }
  - id: custom
    triggerConfig:
      webhookPath: custom
      scheme: hmac
      header: X-Signature
      algorithm: sha512
      encoding: base64
      prefix: "v1="
      signedPayload: "{timestamp}.{body}"
      timestampHeader: X-Timestamp
      webhookSecret: h3x
    action: webhook
    actionConfig: { webhookUrl: "{target}" }
  - id: linear
    triggerConfig: { webhookPath: linear, scheme: linear, webhookSecret: l1n }
    action: webhook
    actionConfig: { webhookUrl: "{target}" }
  - id: gitlab
    triggerConfig: { webhookPath: gitlab, scheme: gitlab, webhookSecret: g1t, events: [Push Hook] }
    action: webhook
    actionConfig: { webhookUrl: "{target}" }
"#;

struct World {
    hub: Hub,
    /// The hub's config, also written to a file for `--hook`.
    file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _target: Target,
}

async fn start() -> World {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = CONFIG.replace("{target}", &target.url);
    let hub = Hub::start(&yaml, dir.path(), None).await;
    let file = dir.path().join("hooks.yaml");
    let text = yaml.replace("{data}", &dir.path().join("data").display().to_string());
    std::fs::write(&file, text).unwrap();
    World {
        hub,
        file,
        _dir: dir,
        _target: target,
    }
}

/// Runs `hookhub send <hub>/api/webhooks/<path> <args…>`: exit code, stdout, stderr. Async,
/// because the hub answering it runs on this test's runtime.
async fn send(w: &World, path: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .arg("send")
        .arg(format!("{}/api/webhooks/{path}", w.hub.url))
        .args(args)
        .env_remove("HOOKHUB_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The execution a 202 printed by `send` created, once it has run.
async fn ran(w: &World, stdout: &str) -> Value {
    let body = stdout
        .strip_prefix("HTTP 202\n")
        .unwrap_or_else(|| panic!("{stdout}"));
    let answer: Value = serde_json::from_str(body).unwrap();
    let id = answer["executions"][0]["executionId"].as_str().unwrap();
    w.hub
        .wait_for_execution(id, |e| e["status"] != "queued" && e["status"] != "running")
        .await
}

/// Issue 19: a hook with `events: [push]` could not be tested with `hookhub send`.
#[tokio::test]
async fn send_names_the_event_and_adds_headers() {
    let w = start().await;
    let args = [
        "--secret",
        "s3cret",
        "--event",
        "push",
        "--header",
        "X-Custom: yes",
        "--data",
        "{}",
    ];
    let (code, stdout, stderr) = send(&w, "pushes", &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let execution = ran(&w, &stdout).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(execution["eventType"], "push");
    assert_eq!(execution["trigger"]["headers"]["x-custom"], "yes");

    let args = [
        "--secret",
        "g1t",
        "--scheme",
        "gitlab",
        "--event",
        "Push Hook",
        "--data",
        "{}",
    ];
    let (code, stdout, stderr) = send(&w, "gitlab", &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let execution = ran(&w, &stdout).await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    assert_eq!(
        execution["trigger"]["headers"]["x-gitlab-event"],
        "Push Hook"
    );
}

/// Issue 19: the UI suggested `hookhub send --scheme hmac` (and `header`), which exited 2.
#[tokio::test]
async fn send_signs_header_and_hmac_hooks_from_flags() {
    let w = start().await;
    let args = [
        "--scheme",
        "header",
        "--header-name",
        "X-Api-Key",
        "--secret",
        "k3y",
    ];
    let (code, stdout, stderr) = send(&w, "keyed", &[&args[..], &["--data", "{}"]].concat()).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("HTTP 202\n"), "{stdout}");

    let recipe = [
        "--scheme",
        "hmac",
        "--header-name",
        "X-Signature",
        "--algorithm",
        "sha512",
        "--encoding",
        "base64",
        "--prefix",
        "v1=",
        "--signed-payload",
        "{timestamp}.{body}",
        "--timestamp-header",
        "X-Timestamp",
    ];
    let signed = [&recipe[..], &["--secret", "h3x", "--data", r#"{"a":1}"#]].concat();
    let (code, stdout, stderr) = send(&w, "custom", &signed).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("HTTP 202\n"), "{stdout}");
    // The hub refuses what it would refuse from a real sender.
    let wrong = [&recipe[..], &["--secret", "other", "--data", "{}"]].concat();
    let (code, stdout, _) = send(&w, "custom", &wrong).await;
    assert_eq!(code, Some(1));
    assert!(stdout.starts_with("HTTP 401\n"), "{stdout}");

    let (code, _, stderr) = send(&w, "custom", &["--scheme", "hmac", "--secret", "h3x"]).await;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("scheme `hmac` needs --header-name"),
        "{stderr}"
    );
}

/// `--hook` signs as the config file's hook does; the secret still comes from `--secret`.
#[tokio::test]
async fn send_signs_as_a_hook_of_the_config_file() {
    let w = start().await;
    let file = w.file.display().to_string();
    let args = [
        "--config", &file, "--hook", "custom", "--secret", "h3x", "--data", "{}",
    ];
    let (code, stdout, stderr) = send(&w, "custom", &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("HTTP 202\n"), "{stdout}");

    let args = [
        "--config", &file, "--hook", "nope", "--secret", "x", "--data", "{}",
    ];
    let (code, _, stderr) = send(&w, "custom", &args).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no hook `nope` in"), "{stderr}");
}

/// Linear puts its send time in the body; `send` adds it as Linear would.
#[tokio::test]
async fn send_stamps_a_linear_body() {
    let w = start().await;
    let args = [
        "--scheme",
        "linear",
        "--secret",
        "l1n",
        "--data",
        r#"{"type":"Issue"}"#,
    ];
    let (code, stdout, stderr) = send(&w, "linear", &args).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let execution = ran(&w, &stdout).await;
    assert_eq!(execution["trigger"]["body"]["type"], "Issue");
    assert!(execution["trigger"]["body"]["webhookTimestamp"].is_u64());
    assert!(stderr.contains("added \"webhookTimestamp\""), "{stderr}");
}
