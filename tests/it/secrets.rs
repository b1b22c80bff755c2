//! Secrets at rest and rotation, over HTTP against the real hub: API-made hooks' secrets never
//! reach the data dir in clear nor an API answer after creation; rotating a secret (with or
//! without grace) and a path takes effect at once; config-file hooks are rotated in the file.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{Hub, Target, accepted_ids, files_containing};
use hookhub::ManualClock;
use reqwest::Method;
use serde_json::{Value, json};

const NOW: u64 = 1_700_000_000_000;
const BEARER_SECRET: &str = "bearer-secret-7d1e9a04c2";
const HMAC_SECRET: &str = "hmac-secret-5b8f3e61aa";
const SIGNING_SECRET: &str = "forward-signing-key-90c4";

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", publicUrl: "https://hooks.example.com" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: from-file
    triggerConfig: {{ webhookPath: file, webhookSecret: file-secret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start(dir: &Path, clock: Option<ManualClock>) -> (Hub, Target) {
    let target = Target::start(&[]).await;
    let hub = Hub::start(&config(&target.url), dir, clock).await;
    (hub, target)
}

/// Creates a hook over the API and returns the raw answer text.
async fn create(hub: &Hub, hook: Value) -> String {
    let response = hub
        .api(Method::POST, "/api/hooks")
        .json(&hook)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.text().await.unwrap()
}

fn bearer_hook(target: &Target) -> Value {
    json!({
        "id": "tok", "name": "Token sender marker-4471",
        "triggerConfig": {"webhookPath": "tok", "scheme": "bearer", "webhookSecret": BEARER_SECRET},
        "action": "webhook", "actionConfig": {"webhookUrl": target.url}
    })
}

fn github_hook(target: &Target, secret: &str) -> Value {
    json!({
        "id": "sig",
        "triggerConfig": {"webhookPath": "sig", "webhookSecret": secret},
        "action": "webhook",
        "actionConfig": {"webhookUrl": target.url, "sign": "github", "signingSecret": SIGNING_SECRET}
    })
}

async fn bearer(hub: &Hub, path: &str, token: &str) -> u16 {
    hub.client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .bearer_auth(token)
        .json(&json!({"a": 1}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn github(hub: &Hub, path: &str, secret: &str) -> u16 {
    hub.deliver(path, secret, r#"{"a":1}"#)
        .await
        .status()
        .as_u16()
}

async fn post_text(hub: &Hub, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = hub.api(Method::POST, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn api_hook_secrets_never_reach_disk_or_answers_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, target) = start(dir.path(), None).await;
    let secrets = [BEARER_SECRET, HMAC_SECRET, SIGNING_SECRET];
    let answers = [
        create(&hub, bearer_hook(&target)).await,
        create(&hub, github_hook(&target, HMAC_SECRET)).await,
    ];
    assert_eq!(bearer(&hub, "tok", BEARER_SECRET).await, 202);
    assert_eq!(bearer(&hub, "tok", "bearer-secret-wrong").await, 401);
    assert_eq!(github(&hub, "sig", HMAC_SECRET).await, 202);

    // A PUT that leaves the secret out keeps it working (the stored digest is not hashed again).
    let put = hub
        .api(Method::PUT, "/api/hooks/tok")
        .json(&json!({"name": "Renamed marker-4471", "triggerConfig": {"webhookPath": "tok", "scheme": "bearer"},
                      "action": "webhook", "actionConfig": {"webhookUrl": target.url}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(bearer(&hub, "tok", BEARER_SECRET).await, 202);

    let mut shown = answers.to_vec();
    for path in ["/api/hooks", "/api/hooks/tok", "/api/hooks/sig"] {
        let response = hub.api(Method::GET, path).send().await.unwrap();
        shown.push(response.text().await.unwrap());
    }
    for text in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in an answer: {text}");
        }
        assert!(
            !text.contains("sealed:") && !text.contains("sha256:"),
            "{text}"
        );
    }
    hub.stop().await;

    for secret in secrets {
        let found = files_containing(dir.path(), secret.as_bytes());
        assert!(found.is_empty(), "{secret} stored in clear in {found:?}");
    }
    // The scan does see what the database holds.
    assert!(!files_containing(dir.path(), b"Renamed marker-4471").is_empty());
    let key = std::fs::metadata(dir.path().join("secret.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);

    // After a restart the sealed and hashed secrets still verify, and forwards are signed.
    let hub = Hub::start(&config(&target.url), dir.path(), None).await;
    assert_eq!(bearer(&hub, "tok", BEARER_SECRET).await, 202);
    let ids = accepted_ids(hub.deliver("sig", HMAC_SECRET, r#"{"b":2}"#).await).await;
    hub.wait_for_status(&ids[0], "succeeded").await;
    let received = target.received.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        received.headers["x-hub-signature-256"],
        common::github_signature(SIGNING_SECRET, br#"{"b":2}"#).as_str()
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_key_file_others_can_read_stops_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, _target) = start(dir.path(), None).await;
    hub.stop().await;
    let key = dir.path().join("secret.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = hookhub::load_str(
        &config("http://127.0.0.1:9/").replace("{data}", &dir.path().display().to_string()),
        "test.yaml",
        &|_| None,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = hookhub::run(config, listener, async {}).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("secret.key") && message.contains("chmod 600"),
        "{message}"
    );
}

#[tokio::test]
async fn rotation_with_grace_accepts_both_then_only_the_new_secret() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(NOW);
    let (hub, target) = start(dir.path(), Some(clock.clone())).await;
    create(&hub, github_hook(&target, HMAC_SECRET)).await;
    let (status, rotated) = post_text(
        &hub,
        "/api/hooks/sig/rotate-secret",
        Some(json!({"gracePeriod": "1h"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["webhookSecret"].as_str().unwrap().to_string();
    assert_eq!(
        new.len(),
        64,
        "a generated github secret is 32 bytes of hex"
    );
    assert_eq!(rotated["previousValidUntil"], "2023-11-14T23:13:20.000Z");
    assert_eq!(github(&hub, "sig", HMAC_SECRET).await, 202);
    assert_eq!(github(&hub, "sig", &new).await, 202);
    let listed = hub.api(Method::GET, "/api/hooks").send().await.unwrap();
    assert!(!listed.text().await.unwrap().contains(&new));

    // The grace survives a restart.
    hub.stop().await;
    let (hub, _target) = start(dir.path(), Some(clock.clone())).await;
    assert_eq!(github(&hub, "sig", HMAC_SECRET).await, 202);

    clock.advance(Duration::from_secs(3601));
    assert_eq!(github(&hub, "sig", HMAC_SECRET).await, 401);
    assert_eq!(github(&hub, "sig", &new).await, 202);
    hub.stop().await;
}

#[tokio::test]
async fn rotation_without_grace_refuses_the_old_secret_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, target) = start(dir.path(), None).await;
    create(&hub, bearer_hook(&target)).await;
    let (status, rotated) = post_text(
        &hub,
        "/api/hooks/tok/rotate-secret",
        Some(json!({"secret": "chosen-new-token-3390"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(
        rotated,
        json!({"webhookSecret": "chosen-new-token-3390", "previousValidUntil": null})
    );
    assert_eq!(bearer(&hub, "tok", BEARER_SECRET).await, 401);
    assert_eq!(bearer(&hub, "tok", "chosen-new-token-3390").await, 202);
    // With no body a secret is generated.
    let (status, generated) = post_text(&hub, "/api/hooks/tok/rotate-secret", None).await;
    assert_eq!(status, 200);
    let token = generated["webhookSecret"].as_str().unwrap();
    assert_eq!(bearer(&hub, "tok", token).await, 202);
    assert_eq!(bearer(&hub, "tok", "chosen-new-token-3390").await, 401);
    // Only the token's digest is kept, so it cannot become a signing key.
    let patch = hub
        .api(Method::PATCH, "/api/hooks/tok")
        .json(&json!({"triggerConfig": {"scheme": "github"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 422);
    let error: Value = patch.json().await.unwrap();
    assert_eq!(error["error"]["field"], "triggerConfig.webhookSecret");
    assert_eq!(bearer(&hub, "tok", token).await, 202);
    hub.stop().await;
}

#[tokio::test]
async fn rotating_the_path_moves_the_hook_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, target) = start(dir.path(), None).await;
    create(&hub, github_hook(&target, HMAC_SECRET)).await;
    let (status, rotated) = post_text(&hub, "/api/hooks/sig/rotate-path", None).await;
    assert_eq!(status, 200, "{rotated}");
    let path = rotated["webhookPath"].as_str().unwrap();
    assert!(path.starts_with("sig-") && path.len() == 16, "{path}");
    assert_eq!(
        rotated["url"],
        format!("https://hooks.example.com/api/webhooks/{path}")
    );
    let old = hub.deliver("sig", HMAC_SECRET, "{}").await;
    assert_eq!(old.status(), 404);
    assert_eq!(github(&hub, path, HMAC_SECRET).await, 202);
    hub.stop().await;
}

#[tokio::test]
async fn config_file_and_unknown_hooks_cannot_be_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, _target) = start(dir.path(), None).await;
    for what in ["rotate-secret", "rotate-path"] {
        let (status, body) = post_text(&hub, &format!("/api/hooks/from-file/{what}"), None).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "hook_read_only");
        let (status, body) = post_text(&hub, &format!("/api/hooks/nope/{what}"), None).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "hook_not_found");
    }
    assert_eq!(github(&hub, "file", "file-secret").await, 202);
    hub.stop().await;
}
