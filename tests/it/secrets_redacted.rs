//! Issue 18, point 5: secrets an attacker found in the clear (SPEC §11). Driven the way they
//! were found, over HTTP against the running hub and reading its real files: a custom key header
//! in the rejected-deliveries list; forward URL credentials and header values in attempts, API
//! answers and the data dir; the data dir readable by others. Editing a hook that was read with
//! its credentials `[redacted]` keeps them working.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::binary::{Binary, free_port};
use common::{
    ADMIN_TOKEN, Hub, Received, Target, accepted_ids, files_containing, github_signature,
};
use reqwest::Method;
use serde_json::{Value, json};

const RIGHT_KEY: &str = "deploy-key-right-4f1c";
const WRONG_KEY: &str = "deploy-key-wrong-77ab";
const MAC_SECRET: &str = "mac-secret-0d93";
const HOOK_SECRET: &str = "github-secret-2b6e";
const URL_USER: &str = "fwd-user-a3e1";
const URL_PASSWORD: &str = "fwd-pass-a3e1";
const URL_TOKEN: &str = "fwd-token-a3e1";
const HEADER_TOKEN: &str = "fwd-bearer-a3e1";
const NEW_HEADER_TOKEN: &str = "fwd-bearer-new-a3e1";
/// Every forward credential the tests give the hub.
const FORWARD_SECRETS: [&str; 5] = [
    URL_USER,
    URL_PASSWORD,
    URL_TOKEN,
    HEADER_TOKEN,
    NEW_HEADER_TOKEN,
];

fn keyed_config() -> String {
    r#"
server: { dataDir: "{data}" }
admin: { token: test-admin-token }
hooks:
  - id: keyed
    triggerConfig: { webhookPath: keyed, scheme: header, header: X-Deploy-Key, webhookSecret: deploy-key-right-4f1c }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
  - id: mac
    triggerConfig: { webhookPath: keyed, scheme: hmac, header: X-Mac, prefix: "sha256=", webhookSecret: mac-secret-0d93 }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
  - id: office
    triggerConfig: { webhookPath: office, scheme: header, header: X-Deploy-Key, webhookSecret: deploy-key-right-4f1c, ipAllowlist: [10.9.0.0/16] }
    action: webhook
    actionConfig: { webhookUrl: "http://127.0.0.1:9/unused" }
"#
    .to_string()
}

async fn post(hub: &Hub, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn text(hub: &Hub, path: &str) -> String {
    let response = hub.api(Method::GET, path).send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn custom_key_headers_are_redacted_in_rejections_and_executions() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&keyed_config(), dir.path(), None).await;
    let refused = post(
        &hub,
        "keyed",
        &[("X-Deploy-Key", WRONG_KEY), ("X-Mac", "sha256=00")],
    )
    .await;
    assert_eq!(refused.status(), 401);
    // The right key, refused for where it came from: the worst one to keep.
    let refused = post(&hub, "office", &[("X-Deploy-Key", RIGHT_KEY)]).await;
    assert_eq!(refused.status(), 403);

    for (hook, key) in [("keyed", WRONG_KEY), ("office", RIGHT_KEY)] {
        let listed = text(&hub, &format!("/api/hooks/{hook}/rejections")).await;
        assert!(!listed.contains(key), "{key} in {listed}");
        let listed: Value = serde_json::from_str(&listed).unwrap();
        let headers = &listed["rejections"][0]["headers"];
        assert_eq!(headers["x-deploy-key"], "[redacted]", "{listed:#}");
    }
    let listed: Value =
        serde_json::from_str(&text(&hub, "/api/hooks/mac/rejections").await).unwrap();
    assert_eq!(listed["rejections"][0]["headers"]["x-mac"], "[redacted]");

    // A delivery one hook on the path verifies is redacted with its neighbour's header too.
    let signature = github_signature(MAC_SECRET, br#"{"a":1}"#);
    let accepted = post(
        &hub,
        "keyed",
        &[("X-Mac", &signature), ("X-Deploy-Key", WRONG_KEY)],
    )
    .await;
    let ids = accepted_ids(accepted).await;
    let execution = text(&hub, &format!("/api/executions/{}", ids[0])).await;
    assert!(!execution.contains(WRONG_KEY), "{execution}");
    assert!(!execution.contains(&signature), "{execution}");
    hub.stop().await;
}

/// A rejection keeps none of the keys the hooks made through the API carry in their own
/// headers either: the set's header names change with each API edit, not only at start.
#[tokio::test]
async fn a_key_header_of_a_hook_made_through_the_api_is_redacted_in_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&keyed_config(), dir.path(), None).await;
    let made = hub
        .api(Method::POST, "/api/hooks")
        .json(&json!({
            "id": "made",
            "triggerConfig": {"webhookPath": "made", "scheme": "header", "header": "X-Made-Key",
                              "webhookSecret": RIGHT_KEY},
            "action": "webhook",
            "actionConfig": {"webhookUrl": "http://127.0.0.1:9/unused"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201, "{}", made.text().await.unwrap());
    // The right key, sent to a path no hook has: refused, and kept with no hook.
    let refused = post(&hub, "no-such-hook", &[("X-Made-Key", RIGHT_KEY)]).await;
    assert_eq!(refused.status(), 404);
    let listed = text(&hub, "/api/rejections").await;
    assert!(!listed.contains(RIGHT_KEY), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let headers = &listed["rejections"][0]["headers"];
    assert_eq!(headers["x-made-key"], "[redacted]", "{listed:#}");
    hub.stop().await;
}

fn forward_config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: from-file
    triggerConfig: {{ webhookPath: file, webhookSecret: file-secret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

/// `HOST` of the target's `http://HOST/hook`.
fn host(target: &Target) -> &str {
    let url = target.url.trim_start_matches("http://");
    url.trim_end_matches("/hook")
}

/// The target's URL with a user, a password and a token in it.
fn credentialed(target: &Target) -> String {
    let host = host(target);
    format!("http://{URL_USER}:{URL_PASSWORD}@{host}/hook?token={URL_TOKEN}&plain=1")
}

/// [`credentialed`] as the hub shows it.
fn shown_url(target: &Target) -> String {
    let host = host(target);
    format!("http://[redacted]@{host}/hook?token=[redacted]&plain=[redacted]")
}

/// Delivers to `fwd`, waits for the forward to succeed and returns what the target received.
async fn forward_once(hub: &Hub, target: &Target, body: &str) -> (String, Received) {
    let before = target.count();
    let ids = accepted_ids(hub.deliver("fwd", HOOK_SECRET, body).await).await;
    hub.wait_for_status(&ids[0], "succeeded").await;
    assert_eq!(target.count(), before + 1);
    let received = target.received.lock().unwrap().last().unwrap().clone();
    (ids[0].clone(), received)
}

fn assert_bearer_and_token(received: &Received, bearer: &str) {
    assert_eq!(
        received.headers["authorization"],
        format!("Bearer {bearer}")
    );
    assert_eq!(
        received.uri.query(),
        Some(format!("token={URL_TOKEN}&plain=1").as_str())
    );
}

/// Sends `hook` (as read from the API) back with `method`; the status and answer.
async fn send_back(hub: &Hub, method: Method, body: &Value) -> (u16, Value) {
    let response = hub
        .api(method, "/api/hooks/fwd")
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn assert_no_secret(text: &str) {
    for secret in FORWARD_SECRETS {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(!text.contains("sealed:"), "{text}");
}

#[tokio::test]
async fn forward_credentials_work_but_are_shown_redacted_and_sealed_at_rest() {
    let (hub, target, dir) = Hub::start_with_target(forward_config).await;
    let created = hub
        .api(Method::POST, "/api/hooks")
        .json(&json!({
            "id": "fwd", "name": "Forward marker-5c2d",
            "triggerConfig": {"webhookPath": "fwd", "webhookSecret": HOOK_SECRET},
            "action": "webhook",
            "actionConfig": {"webhookUrl": credentialed(&target),
                             "headers": {"Authorization": format!("Bearer {HEADER_TOKEN}")}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_no_secret(&created.text().await.unwrap());

    let (execution_id, received) = forward_once(&hub, &target, r#"{"n":1}"#).await;
    assert_bearer_and_token(&received, HEADER_TOKEN);
    let execution = text(&hub, &format!("/api/executions/{execution_id}")).await;
    assert_no_secret(&execution);
    let execution: Value = serde_json::from_str(&execution).unwrap();
    assert_eq!(
        execution["attempts"][0]["detail"]["url"],
        shown_url(&target)
    );

    assert_no_secret(&text(&hub, "/api/hooks").await);
    let shown: Value = serde_json::from_str(&text(&hub, "/api/hooks/fwd").await).unwrap();
    assert_no_secret(&shown.to_string());
    assert_eq!(shown["actionConfig"]["webhookUrl"], shown_url(&target));
    assert_eq!(
        shown["actionConfig"]["headers"]["Authorization"],
        "[redacted]"
    );

    edits_that_echo_redacted_values_keep_the_credentials(&hub, &target, shown).await;
    hub.stop().await;
    for secret in FORWARD_SECRETS {
        let found = files_containing(dir.path(), secret.as_bytes());
        assert!(found.is_empty(), "{secret} stored in clear in {found:?}");
    }
    // The scan does see what the database holds.
    assert!(!files_containing(dir.path(), b"Forward marker-5c2d").is_empty());

    // Opened again after a restart: the forward still carries its credentials.
    let hub = Hub::start(&forward_config(&target.url), dir.path(), None).await;
    let (_, received) = forward_once(&hub, &target, r#"{"n":9}"#).await;
    assert_bearer_and_token(&received, NEW_HEADER_TOKEN);
    hub.stop().await;
}

/// A PUT of the hook as it was read, then a PATCH that only drops the header, keep the stored
/// URL and header; a placeholder with nothing stored behind it is refused; a new value is taken.
async fn edits_that_echo_redacted_values_keep_the_credentials(
    hub: &Hub,
    target: &Target,
    shown: Value,
) {
    let mut echoed = common::as_sent_back(shown);
    echoed["name"] = json!("Forward marker-5c2d renamed");
    let (status, answer) = send_back(hub, Method::PUT, &echoed).await;
    assert_eq!(status, 200, "{answer}");
    assert_no_secret(&answer.to_string());
    let (_, received) = forward_once(hub, target, r#"{"n":2}"#).await;
    assert_bearer_and_token(&received, HEADER_TOKEN);

    // Without the header, the URL's own user and password reach the target as basic auth.
    let patch = json!({"actionConfig": {"headers": null}});
    let (status, answer) = send_back(hub, Method::PATCH, &patch).await;
    assert_eq!(status, 200, "{answer}");
    let (_, received) = forward_once(hub, target, r#"{"n":3}"#).await;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{URL_USER}:{URL_PASSWORD}"));
    assert_eq!(received.headers["authorization"], format!("Basic {basic}"));
    assert_eq!(
        received.uri.query(),
        Some(format!("token={URL_TOKEN}&plain=1").as_str())
    );

    let edited = shown_url(target).replace("/hook?", "/other?");
    let patch = json!({"actionConfig": {"webhookUrl": edited}});
    let (status, answer) = send_back(hub, Method::PATCH, &patch).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "actionConfig.webhookUrl");

    // The header was dropped, so nothing stands behind its placeholder any more.
    let patch = json!({"actionConfig": {"headers": {"Authorization": "[redacted]"}}});
    let (status, answer) = send_back(hub, Method::PATCH, &patch).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["error"]["field"],
        "actionConfig.headers.Authorization"
    );

    let new = format!("Bearer {NEW_HEADER_TOKEN}");
    let patch = json!({"actionConfig": {"headers": {"Authorization": new}}});
    let (status, answer) = send_back(hub, Method::PATCH, &patch).await;
    assert_eq!(status, 200, "{answer}");
    let (_, received) = forward_once(hub, target, r#"{"n":4}"#).await;
    assert_bearer_and_token(&received, NEW_HEADER_TOKEN);
}

fn modes_under(dir: &Path, found: &mut Vec<(String, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        found.push((
            path.display().to_string(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            modes_under(&path, found);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_and_every_file_in_it_are_the_owners_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As an older hub left it.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = Target::start(&[]).await;
    let config = dir.path().join("hooks.yaml");
    let yaml = forward_config(&target.url).replace("{data}", &data.display().to_string());
    std::fs::write(&config, yaml).unwrap();
    let mut hub = Binary::start(&config, free_port(), dir.path()).await;
    let client = reqwest::Client::new();
    for n in 0..3 {
        let body = format!(r#"{{"n":{n}}}"#);
        let response = client
            .post(format!("{}/api/webhooks/file", hub.url))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                github_signature("file-secret", body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    for _ in 0..200 {
        if target.count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(target.count(), 3);
    // A record this large goes to a file of its own (a sled blob) made while the hub runs:
    // only the process umask covers files sled makes after the store opened.
    let large = client
        .post(format!("{}/api/hooks", hub.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({
            "id": "large", "triggerConfig": {"webhookPath": "large"}, "action": "webhook",
            "actionConfig": {"webhookUrl": target.url, "bodyTemplate": "x".repeat(300_000)}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), 201);
    hub.terminate();
    assert_eq!(hub.wait_exit(Duration::from_secs(10)).await, Some(0));

    let data_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(format!("{data_mode:o}"), "700");
    let mut found = Vec::new();
    modes_under(&data, &mut found);
    assert!(
        found.iter().any(|(p, _)| p.ends_with("secret.key")),
        "{found:?}"
    );
    assert!(found.iter().any(|(p, _)| p.ends_with(".seg")), "{found:?}");
    assert!(
        found.iter().any(|(p, _)| p.contains("/blobs/")),
        "{found:?}"
    );
    let loose: Vec<String> = found
        .iter()
        .filter(|(path, mode)| {
            let dir = Path::new(path).is_dir();
            (dir && *mode != 0o700) || (!dir && *mode != 0o600)
        })
        .map(|(path, mode)| format!("{path} {mode:o}"))
        .collect();
    assert!(loose.is_empty(), "not the owner's only: {loose:?}");
}
