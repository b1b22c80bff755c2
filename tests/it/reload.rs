//! Hot reload, driven the way a user edits: the config file is replaced by rename (as editors
//! and `git checkout` do) or edited into something invalid, and the running hub is watched over
//! HTTP. A SIGHUP to the real binary makes it read the file again.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::{ADMIN_TOKEN, Hub, Target};
use serde_json::Value;

fn hook(id: &str, path: &str, target: &str) -> String {
    format!(
        "  - id: {id}\n    triggerConfig: {{ webhookPath: {path}, webhookSecret: s3cret }}\n    \
         action: webhook\n    actionConfig: {{ webhookUrl: \"{target}\" }}\n"
    )
}

fn config(data: &Path, hooks: &[String]) -> String {
    // A file lists its hooks, `[]` when there are none.
    let hooks = match hooks {
        [] => " []\n".to_string(),
        some => format!("\n{}", some.concat()),
    };
    format!(
        "server: {{ dataDir: \"{}\" }}\nadmin: {{ token: {ADMIN_TOKEN} }}\nhooks:{hooks}",
        data.display(),
    )
}

/// Writes `text` next to `path` and renames it over `path`, as editors that replace do.
fn replace_by_rename(path: &Path, text: &str) {
    let tmp: PathBuf = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls `check` every 50 ms for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened within 10 s: {what}");
}

async fn status(hub: &Hub) -> Value {
    hub.get_json("/api/config/status").await
}

/// Polls `GET /api/config/status` until `done` holds (10 s at most) and returns it.
async fn wait_status(hub: &Hub, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    poll_status(what, async || status(hub).await, done).await
}

/// Reads a status with `read` every 50 ms until `done` holds (10 s at most) and returns it.
async fn poll_status(
    what: &str,
    read: impl AsyncFn() -> Value,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = read().await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened within 10 s: {what}; last status:\n{last:#}");
}

#[tokio::test]
async fn a_file_replaced_by_rename_adds_a_hook_and_keeps_the_old_ones() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    let data = dir.path().join("data");
    let first = hook("first", "first", &target.url);
    std::fs::write(&path, config(&data, std::slice::from_ref(&first))).unwrap();
    let hub = Hub::start_with_file(&path, None).await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);
    assert_eq!(hub.deliver("second", "s3cret", "{}").await.status(), 404);
    let before = status(&hub).await;
    assert_eq!(before["ok"], true);
    assert_eq!(before["path"], path.display().to_string());

    let second = hook("second", "second", &target.url);
    replace_by_rename(&path, &config(&data, &[first, second]));
    eventually("the new hook answers 202", || async {
        hub.deliver("second", "s3cret", "{}").await.status() == 202
    })
    .await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);
    let after = status(&hub).await;
    assert_eq!(after["ok"], true);
    assert_eq!(after["error"], Value::Null);

    // A second replacement is seen too: the watch survived the first rename.
    replace_by_rename(
        &path,
        &config(&data, &[hook("third", "third", &target.url)]),
    );
    eventually("the third hook answers 202", || async {
        hub.deliver("third", "s3cret", "{}").await.status() == 202
    })
    .await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 404);
    hub.stop().await;
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_old_hooks_and_reports_the_error_until_fixed() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    let data = dir.path().join("data");
    let good = config(&data, &[hook("first", "first", &target.url)]);
    std::fs::write(&path, &good).unwrap();
    let hub = Hub::start_with_file(&path, None).await;
    let loaded_at = status(&hub).await["loadedAt"].clone();

    // A YAML syntax error on line 5, and a wrong path on the valid line before it would be
    // reported too, but syntax stops the parse first.
    let broken = good.replace("action: webhook", "action: webhook\n   : [unclosed");
    replace_by_rename(&path, &broken);
    let seen = wait_status(&hub, "the status reports the broken file", |s| {
        s["ok"] == false
    })
    .await;
    let error = seen["error"].as_str().unwrap();
    let prefix = format!("{}:", path.display());
    assert!(error.starts_with(&prefix), "{error}");
    let position: Vec<&str> = error[prefix.len()..].splitn(3, ':').collect();
    assert!(position[0].parse::<usize>().unwrap() >= 5, "{error}");
    assert!(position[1].parse::<usize>().unwrap() >= 1, "{error}");
    assert_eq!(
        seen["loadedAt"], loaded_at,
        "the old config is still the one in force"
    );
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);

    // Invalid in meaning rather than syntax: every issue is listed, the hooks stay.
    let meaningless = good.replace("webhookPath: first", "webhookPath: First");
    replace_by_rename(&path, &meaningless);
    wait_status(&hub, "the status names the bad field", |s| {
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains("hooks[0].triggerConfig.webhookPath: must be"))
    })
    .await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);

    // Fixed: in force again.
    let fixed = good.replace("webhookPath: first", "webhookPath: fixed");
    replace_by_rename(&path, &fixed);
    let now = wait_status(&hub, "the status is ok again", |s| s["ok"] == true).await;
    assert_eq!(now["error"], Value::Null);
    assert_ne!(now["loadedAt"], loaded_at);
    assert_eq!(hub.deliver("fixed", "s3cret", "{}").await.status(), 202);
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 404);
    hub.stop().await;
}

#[tokio::test]
async fn the_status_needs_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    std::fs::write(&path, config(&dir.path().join("data"), &[])).unwrap();
    let hub = Hub::start_with_file(&path, None).await;
    let response = hub
        .client
        .get(format!("{}/api/config/status", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    hub.stop().await;
}

/// Kills the child hub when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sighup_makes_the_binary_apply_the_file_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    std::fs::write(&path, config(&dir.path().join("data"), &[])).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_hookhub"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--config",
            ])
            .arg(&path)
            .env_remove("HOOKHUB_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/config/status");
    let get = || async {
        let response = client
            .get(&url)
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .ok()?;
        response.json::<Value>().await.ok()
    };
    let mut first = None;
    for _ in 0..200 {
        first = get().await;
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.expect("the hub answers within 10 s");
    assert_eq!(first["ok"], true);

    // The text did not change, so only SIGHUP makes the hub apply it again.
    let pid = child.0.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut last = Value::Null;
    for _ in 0..200 {
        last = get().await.expect("the hub survives SIGHUP");
        if last["loadedAt"] != first["loadedAt"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(last["loadedAt"], first["loadedAt"], "{last:#}");
    assert_eq!(last["ok"], true);
}

/// `GET /api/config/status` of a hub started as a child process.
async fn binary_status(hub: &Binary) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/config/status", hub.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Issue 19: a misspelt `webhookSecrets:` was shown as ``unknown field `[redacted]` `` in the
/// status, the log and the UI banner. Field names are not secrets; only values are hidden.
#[tokio::test]
async fn a_misspelt_secret_field_is_named_in_the_status_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    let good = config(
        &dir.path().join("data"),
        &[hook("first", "first", "http://127.0.0.1:9/x")],
    );
    std::fs::write(&path, &good).unwrap();
    let hub = Binary::start(&path, free_port(), dir.path()).await;
    replace_by_rename(&path, &good.replace("webhookSecret:", "webhookSecrets:"));
    let read = async || binary_status(&hub).await;
    let seen = poll_status("the typo is refused", read, |s| s["ok"] == false).await;
    let error = seen["error"].as_str().unwrap();
    let expected = "hooks[0].triggerConfig.webhookSecrets: unknown field `webhookSecrets`, \
                    expected one of `webhookPath`, `webhookSecret`,";
    assert!(error.contains(expected), "{error}");
    assert!(!error.contains("redacted"), "{error}");
    let log = hub.log_text();
    assert!(log.contains("unknown field `webhookSecrets`"), "{log}");
    assert!(
        !log.contains("s3cret"),
        "the value stays out of the log:\n{log}"
    );
}

/// Issue 19: an empty file saved by mistake was applied and removed every hook. It is refused
/// like any invalid edit, and so is a file without a `hooks` list; `hooks: []` is obeyed.
#[tokio::test]
async fn an_empty_file_is_refused_and_only_an_explicit_empty_list_removes_every_hook() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    let data = dir.path().join("data");
    let good = config(&data, &[hook("first", "first", &target.url)]);
    std::fs::write(&path, &good).unwrap();
    let hub = Hub::start_with_file(&path, None).await;

    replace_by_rename(&path, "");
    let seen = wait_status(&hub, "the empty file is refused", |s| s["ok"] == false).await;
    let error = seen["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{}:1:1: the file is empty", path.display())),
        "{error}"
    );
    assert!(error.contains("write `hooks: []`"), "{error}");
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);

    let without_hooks = good[..good.find("hooks:").unwrap()].to_string();
    replace_by_rename(&path, &without_hooks);
    wait_status(&hub, "a file without hooks is refused", |s| {
        s["error"]
            .as_str()
            .is_some_and(|e| e.contains(":1:1: hooks: is missing: a file must list its hooks"))
    })
    .await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 202);

    replace_by_rename(&path, &config(&data, &[]));
    wait_status(&hub, "hooks: [] is applied", |s| s["ok"] == true).await;
    assert_eq!(hub.deliver("first", "s3cret", "{}").await.status(), 404);
    hub.stop().await;
}

/// The binary loads its file once at start; the reloader takes that load as in force. So the
/// status has the file's warnings from the first request, a later edit is applied, and a
/// restart-only setting is compared with the file's own value, not with `--listen`'s.
#[tokio::test]
async fn the_file_the_binary_started_with_is_in_force_and_the_next_edit_applies() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hooks.yaml");
    let unsigned = "  - id: open\n    triggerConfig: { webhookPath: open }\n    action: webhook\n    \
                    actionConfig: { webhookUrl: \"http://127.0.0.1:9/x\" }\n";
    // The file's listen differs from the `--listen` the binary is given.
    let good = config(
        &dir.path().join("data"),
        &[hook("first", "first", &target.url), unsigned.to_string()],
    )
    .replace(
        "server: {",
        "server: { listen: \"127.0.0.1:9\", workers: 4,",
    );
    std::fs::write(&path, &good).unwrap();
    let hub = Binary::start(&path, free_port(), dir.path()).await;

    let first = binary_status(&hub).await;
    assert_eq!(first["ok"], true, "{first:#}");
    let warnings = first["warnings"].to_string();
    assert!(
        warnings.contains("hooks[1].triggerConfig.webhookSecret: no secret"),
        "{first:#}"
    );
    assert_eq!(hub.log_text().matches("config loaded").count(), 1);

    let added = good.clone() + &hook("second", "second", &target.url);
    replace_by_rename(&path, &added);
    let read = async || binary_status(&hub).await;
    poll_status("the edit is applied", read, |s| {
        s["loadedAt"] != first["loadedAt"]
    })
    .await;
    let delivered = reqwest::Client::new()
        .post(format!("{}/api/webhooks/second", hub.url))
        .header(
            "X-Hub-Signature-256",
            common::github_signature("s3cret", b"{}"),
        )
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 202);
    assert!(
        !hub.log_text().contains("only after a restart"),
        "the file's listen did not change: {}",
        hub.log_text()
    );

    replace_by_rename(&path, &added.replace("workers: 4", "workers: 8"));
    let log = || hub.log_text();
    eventually("the log names the restart-only change", async || {
        log().contains("only after a restart") && log().contains("server.workers")
    })
    .await;
    assert!(!log().contains("server.listen"), "{}", log());
}
