//! `hookhub migrate --to URL` through the real binary (SPEC §12): a hub on sled gets an API
//! hook with a secret, deliveries (two done, one running and one queued when the hub is
//! killed) and a Slack binding; `migrate` copies its data dir into a fresh PostgreSQL database;
//! a hub on that database, with the same `secret.key` and no data of its own, shows all of it
//! through the API, verifies the hook's signatures with its secret, and runs what was left
//! unfinished. And the refusals: a hub still running on the data dir, a database that cannot
//! be reached, a database that already holds a copy.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use common::binary::{Binary, free_port};
use common::github_signature;
use common::pg::fresh_database;
use common::slack::{self, Slack};
use serde_json::{Value, json};

const SLACK_CHANNEL: &str = "C0MIGRATED";

/// A forward target that answers 200, at once or, while `hold` is set, only once it is not.
struct Target {
    url: String,
    /// The `n` of each body received, in order of arrival.
    seen: Arc<Mutex<Vec<u64>>>,
    hold: Arc<AtomicBool>,
}

impl Target {
    async fn start() -> Target {
        let (seen, hold): (Arc<Mutex<Vec<u64>>>, Arc<AtomicBool>) = Default::default();
        let (s, h) = (seen.clone(), hold.clone());
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let (seen, hold) = (s.clone(), h.clone());
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.lock().unwrap().push(body["n"].as_u64().unwrap_or(0));
                while hold.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Target { url, seen, hold }
    }

    fn seen(&self) -> Vec<u64> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: u64) {
        for _ in 0..400 {
            if self.seen().contains(&n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the target never received n = {n}; it saw {:?}",
            self.seen()
        );
    }
}

/// A config file in `dir` for a hub with its data dir in `dir/data`, linked to `slack`, on
/// `store` (YAML of the store block, or empty for sled). No `admin.token`: the first start
/// generates one and keeps its hash, which the copy must carry over.
fn config(dir: &Path, slack: &Slack, store: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("hooks.yaml");
    let text = format!(
        r#"
server: {{ dataDir: "{data}", rateLimit: {{ perSecond: 0 }} }}
channels:
  slack: {{ botToken: {token}, signingSecret: {secret}, apiUrl: "{api}" }}
{store}
hooks: []
"#,
        data = dir.join("data").display(),
        token = slack::BOT_TOKEN,
        secret = slack::SIGNING_SECRET,
        api = slack.url,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The token a first start printed.
fn printed_token(hub: &Binary) -> String {
    let out = hub.out_text();
    let token = out.lines().map(str::trim).find(|l| l.starts_with("hh_"));
    token.expect("the first start prints a token").to_string()
}

/// An admin API call with `token`; the status and the JSON answer.
async fn api(
    hub: &Binary,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client
        .request(method, format!("{}{path}", hub.url))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A delivery of `{"n": n}` to the hook, GitHub-signed with `secret`: the status and the
/// execution id of a 202.
async fn deliver(hub: &Binary, secret: &str, n: u64) -> (u16, Option<String>) {
    let body = json!({ "n": n }).to_string();
    let response = reqwest::Client::new()
        .post(format!("{}/api/webhooks/gh", hub.url))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header(
            "x-hub-signature-256",
            github_signature(secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    let id = answer["executions"][0]["executionId"]
        .as_str()
        .map(str::to_string);
    (status, id)
}

/// Polls an execution until its status is `status` (30 s at most: a retry may be waited for).
async fn wait_for_status(hub: &Binary, token: &str, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        last = api(hub, token, "GET", &format!("/api/executions/{id}"), None)
            .await
            .1;
        if last["status"] == status {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("execution {id} never became {status}; last seen:\n{last:#}");
}

/// Links the Slack channel as the owner does: a code from the API, then `/link CODE` in Slack.
async fn link_slack(hub: &Binary, token: &str) {
    let (status, code) = api(hub, token, "POST", "/api/channels/link-codes", None).await;
    assert_eq!(status, 201, "{code}");
    let code = code["code"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (body, headers) = slack::command(slack::SIGNING_SECRET, now, "/link", code, SLACK_CHANNEL);
    let mut request =
        reqwest::Client::new().post(format!("{}/api/channels/slack/commands", hub.url));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let reply: Value = request
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        reply["text"].as_str().unwrap().starts_with("Linked"),
        "{reply}"
    );
}

/// `hookhub migrate` with `args`: its exit code, stdout and stderr.
async fn migrate(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookhub"))
            .arg("migrate")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The text after `label` on its line of the report.
fn reported<'a>(report: &'a str, label: &str) -> &'a str {
    let line = report.lines().map(str::trim).find(|l| l.starts_with(label));
    line.unwrap_or_else(|| panic!("no `{label}` in the report:\n{report}"))[label.len()..].trim()
}

/// Copies `from`'s `secret.key` into the data dir `to`, as the report says to.
fn copy_key(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(from.join("secret.key"), to.join("secret.key")).unwrap();
    std::fs::set_permissions(
        to.join("secret.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

#[tokio::test]
async fn a_sled_data_dir_moves_to_postgres_and_a_hub_there_carries_on() {
    let (target, slack) = (Target::start().await, Slack::start().await);
    let dir = tempfile::tempdir().unwrap();
    let sled_dir = dir.path().join("sled");
    let sled_config = config(&sled_dir, &slack, "");
    let config_arg = sled_config.to_str().unwrap().to_string();

    // A hub on sled: an API hook with a secret, two deliveries done, a binding.
    let hub = Binary::start(&sled_config, free_port(), &sled_dir).await;
    let token = printed_token(&hub);
    let hook = json!({
        "id": "gh",
        "triggerConfig": { "webhookPath": "gh", "webhookSecret": "s3cret-migrated" },
        "action": "webhook",
        "actionConfig": { "webhookUrl": target.url, "concurrency": 1 },
    });
    let (status, created) = api(&hub, &token, "POST", "/api/hooks", Some(hook)).await;
    assert_eq!(status, 201, "{created}");
    let mut done = Vec::new();
    for n in [1, 2] {
        let (status, id) = deliver(&hub, "s3cret-migrated", n).await;
        assert_eq!(status, 202);
        done.push(wait_for_status(&hub, &token, &id.unwrap(), "succeeded").await);
    }
    link_slack(&hub, &token).await;
    // One running (the target holds it) and one queued behind it (concurrency 1).
    target.hold.store(true, Ordering::SeqCst);
    let running = deliver(&hub, "s3cret-migrated", 3).await.1.unwrap();
    target.wait_for(3).await;
    let queued = deliver(&hub, "s3cret-migrated", 4).await.1.unwrap();

    // Not while the hub runs: the copy would miss what it writes meanwhile.
    let database = fresh_database().await;
    let (code, _, err) = migrate(&["--config", &config_arg, "--to", &database]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a hub is running on the data dir"), "{err}");
    assert!(err.contains("nothing was copied"), "{err}");

    // Stopped the hard way, mid-action.
    let mut hub = hub;
    hub.kill();
    let (code, out, err) = migrate(&["--config", &config_arg, "--to", &database]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(reported(&out, "hooks made in the API"), "1", "{out}");
    assert_eq!(
        reported(&out, "executions"),
        "4 (2 not final yet: the hubs on PostgreSQL run them)"
    );
    assert_eq!(reported(&out, "channel bindings"), "1");
    assert_eq!(
        reported(&out, "admin token"),
        "its hash (the same token works)"
    );
    let key = sled_dir.join("data").join("secret.key");
    let key = std::path::absolute(&key).unwrap();
    assert!(out.contains("Copy the key"), "{out}");
    assert!(out.contains(&key.display().to_string()), "{out}");
    assert!(
        out.contains("store: { backend: postgres, url: ${DATABASE_URL} }"),
        "{out}"
    );

    // A second run finds the copy and leaves it; with --force it adds nothing twice.
    let (code, out, err) = migrate(&["--config", &config_arg, "--to", &database]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("already holds 1 hook(s) and executions"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    let forced = ["--config", &config_arg, "--to", &database, "--force"];
    let (code, out, err) = migrate(&forced).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        reported(&out, "executions"),
        "0 new; 4 the database held already were kept as they were"
    );

    // A hub on PostgreSQL with the same key and an empty data dir of its own.
    target.hold.store(false, Ordering::SeqCst);
    let pg_dir = dir.path().join("pg");
    let pg_config = config(
        &pg_dir,
        &slack,
        &format!("store: {{ backend: postgres, url: \"{database}\" }}"),
    );
    copy_key(&sled_dir.join("data"), &pg_dir.join("data"));
    let hub = Binary::start(&pg_config, free_port(), &pg_dir).await;

    let (status, hooks) = api(&hub, &token, "GET", "/api/hooks", None).await;
    assert_eq!(
        status, 200,
        "the generated admin token still works: {hooks}"
    );
    let hooks = hooks["hooks"].as_array().cloned().unwrap_or_default();
    assert!(
        hooks
            .iter()
            .any(|h| h["id"] == "gh" && h["source"] == "api"),
        "{hooks:#?}"
    );
    let channels = api(&hub, &token, "GET", "/api/channels", None).await.1;
    let bindings = channels["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1, "{channels}");
    assert_eq!(bindings[0]["channel"], "slack");

    // What was done reads back as it was, attempts and payload included.
    for before in &done {
        let id = before["id"].as_str().unwrap();
        let (status, after) =
            api(&hub, &token, "GET", &format!("/api/executions/{id}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(&after, before);
    }
    // What was left runs here: the one cut off mid-action again (a forward may repeat), then
    // the queued one.
    wait_for_status(&hub, &token, &running, "succeeded").await;
    wait_for_status(&hub, &token, &queued, "succeeded").await;
    let seen = target.seen();
    assert_eq!(seen.iter().filter(|&&n| n == 3).count(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|&&n| n == 4).count(), 1, "{seen:?}");

    // The hook still verifies its sender with the secret it was made with.
    let (status, id) = deliver(&hub, "s3cret-migrated", 5).await;
    assert_eq!(status, 202);
    wait_for_status(&hub, &token, &id.unwrap(), "succeeded").await;
    assert_eq!(deliver(&hub, "another-secret", 6).await.0, 401);
    let listed = api(&hub, &token, "GET", "/api/hooks/gh/executions", None)
        .await
        .1;
    assert_eq!(
        listed["executions"].as_array().unwrap().len(),
        5,
        "{listed}"
    );
}

#[tokio::test]
async fn migrate_refuses_a_database_it_cannot_reach_and_a_dir_with_no_hub() {
    let slack = Slack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sled_config = config(dir.path(), &slack, "");
    let hub = Binary::start(&sled_config, free_port(), dir.path()).await;
    drop(hub);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let nowhere = format!(
        "postgres://hookhub:pw-never-shown@127.0.0.1:{}/hookhub",
        free_port()
    );
    let (code, out, err) = migrate(&["--data-dir", data, "--to", &nowhere]).await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("cannot use the database postgres://"), "{err}");
    assert!(err.contains("nothing was copied"), "{err}");
    assert!(
        !err.contains("pw-never-shown"),
        "the password is not shown: {err}"
    );

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let (code, _, err) = migrate(&["--data-dir", empty, "--to", &nowhere]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no hub's database in"), "{err}");
    assert!(
        !Path::new(empty).join("db").exists(),
        "an empty data dir is left empty"
    );
}
