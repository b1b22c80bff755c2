//! The admin API over HTTP: authentication, hooks CRUD with field-naming validation, the
//! execution log with pagination, replay and test runs.

use crate::common;

use common::{Hub, Target, accepted_ids};
use reqwest::Method;
use serde_json::{Value, json};

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", publicUrl: "https://hooks.example.com" }}
admin: {{ token: test-admin-token }}
hooks:
  - id: from-file
    name: From the file
    triggerConfig: {{ webhookPath: file, webhookSecret: file-secret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

async fn start() -> (Hub, Target, tempfile::TempDir) {
    Hub::start_with_target(config).await
}

#[tokio::test]
async fn the_api_needs_the_admin_token() {
    let (hub, _target, _dir) = start().await;
    let url = format!("{}/api/hooks", hub.url);
    let none = hub.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let wrong = hub
        .client
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let health = hub
        .client
        .get(format!("{}/healthz", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "health needs no token");
    hub.stop().await;
}

#[tokio::test]
async fn a_hook_made_over_the_api_receives_deliveries_and_keeps_its_secret() {
    let (hub, target, _dir) = start().await;
    let created = hub
        .api(Method::POST, "/api/hooks")
        .json(&json!({
            "name": "GitHub PRs",
            "triggerConfig": {"webhookPath": "gh/prs"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": target.url}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["id"], "github-prs");
    assert_eq!(created["source"], "api");
    assert_eq!(
        created["url"],
        "https://hooks.example.com/api/webhooks/gh/prs"
    );
    let secret = created["webhookSecret"]
        .as_str()
        .expect("generated secret shown once");

    let shown = hub.get_json("/api/hooks/github-prs").await;
    assert!(shown.get("webhookSecret").is_none());
    assert!(shown["triggerConfig"].get("webhookSecret").is_none());
    assert_eq!(shown["hasSecret"], true);
    let listed = hub.get_json("/api/hooks").await;
    assert!(
        !listed.to_string().contains(secret),
        "no secret in the list"
    );

    let ids = accepted_ids(
        hub.deliver("gh/prs", secret, r#"{"action":"opened"}"#)
            .await,
    )
    .await;
    hub.wait_for_status(&ids[0], "succeeded").await;
    assert_eq!(target.count(), 1);

    // A PUT without the secret keeps it.
    let mut edited = common::as_sent_back(shown.clone());
    edited["name"] = json!("Renamed");
    let put = hub
        .api(Method::PUT, "/api/hooks/github-prs")
        .json(&edited)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    assert_eq!(hub.deliver("gh/prs", secret, "{}").await.status(), 202);

    // Disabled hooks receive nothing; deleted hooks are gone.
    let patch = hub
        .api(Method::PATCH, "/api/hooks/github-prs")
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    assert_eq!(hub.deliver("gh/prs", secret, "{}").await.status(), 404);
    let deleted = hub
        .api(Method::DELETE, "/api/hooks/github-prs")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = hub
        .api(Method::GET, "/api/hooks/github-prs")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    hub.stop().await;
}

async fn rejected_field(hub: &Hub, method: Method, path: &str, body: Value) -> (u16, Value) {
    let response = hub.api(method, path).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].clone())
}

#[tokio::test]
async fn bad_hooks_are_refused_naming_the_field() {
    let (hub, target, _dir) = start().await;
    let (status, error) = rejected_field(
        &hub,
        Method::POST,
        "/api/hooks",
        json!({"name": "x", "triggerConfig": {"webhookPath": "Bad Path!"},
               "action": "webhook", "actionConfig": {"webhookUrl": target.url}}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(error["code"], "validation_failed");
    assert_eq!(error["field"], "triggerConfig.webhookPath");

    let (status, error) = rejected_field(
        &hub,
        Method::POST,
        "/api/hooks",
        json!({"name": "x", "triggerConfig": {"webhookPath": "ok", "colour": "red"},
               "action": "webhook", "actionConfig": {"webhookUrl": target.url}}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "triggerConfig.colour");

    let (status, error) = rejected_field(
        &hub,
        Method::POST,
        "/api/hooks",
        json!({"name": "x", "triggerConfig": {"webhookPath": "ok"}, "action": "webhook"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(error["field"], "actionConfig.webhookUrl");

    let (status, error) = rejected_field(
        &hub,
        Method::PATCH,
        "/api/hooks/from-file",
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("hook_read_only"))
    );
    let hooks = hub.get_json("/api/hooks").await;
    assert_eq!(
        hooks["hooks"].as_array().unwrap().len(),
        1,
        "nothing half-written"
    );
    assert_eq!(hooks["hooks"][0]["readOnly"], true);
    hub.stop().await;
}

#[tokio::test]
async fn the_execution_log_pages_newest_first_and_replays() {
    let (hub, target, _dir) = start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = format!(r#"{{"n":{n}}}"#);
        ids.extend(accepted_ids(hub.deliver("file", "file-secret", &body).await).await);
    }
    for id in &ids {
        hub.wait_for_status(id, "succeeded").await;
    }
    let page = hub
        .get_json("/api/hooks/from-file/executions?limit=2")
        .await;
    let first: Vec<&str> = page["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let page = hub
        .get_json(&format!(
            "/api/hooks/from-file/executions?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(page["executions"][0]["id"], ids[0].as_str());
    assert!(page["nextCursor"].is_null());
    let none = hub
        .get_json("/api/hooks/from-file/executions?status=failed")
        .await;
    assert_eq!(none["executions"], json!([]));

    let replay = hub
        .api(Method::POST, &format!("/api/executions/{}/replay", ids[0]))
        .send()
        .await
        .unwrap();
    let replayed = accepted_ids(replay).await.remove(0);
    let e = hub.wait_for_status(&replayed, "succeeded").await;
    assert_eq!(e["replayOf"], ids[0].as_str());
    assert_eq!(target.bodies().last().unwrap(), r#"{"n":0}"#);

    let test = hub
        .api(Method::POST, "/api/hooks/from-file/test")
        .json(&json!({"sample": true}))
        .send()
        .await
        .unwrap();
    let tested = accepted_ids(test).await.remove(0);
    let e = hub.wait_for_status(&tested, "succeeded").await;
    assert_eq!(e["test"], true);
    assert_eq!(target.bodies().last().unwrap(), r#"{"sample":true}"#);

    let missing = hub
        .api(Method::GET, "/api/executions/exe_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    hub.stop().await;
}

#[tokio::test]
async fn replaying_failures_takes_what_the_queue_has_room_for_oldest_first() {
    let target = Target::start(&[400; 200]).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), None).await;
    let mut ids = Vec::new();
    for n in 0..55 {
        let body = format!(r#"{{"n":{n}}}"#);
        ids.extend(accepted_ids(hub.deliver("file", "file-secret", &body).await).await);
    }
    for id in &ids {
        hub.wait_for_status(id, "failed").await;
    }
    let replay = hub
        .api(Method::POST, "/api/hooks/from-file/replay-failed?since=1h")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let replay: Value = replay.json().await.unwrap();
    let replayed = replay["executions"].as_array().unwrap();
    assert_eq!(replayed.len(), 50, "the queue holds 50 waiting");
    assert_eq!(replay["remaining"], 5);
    let first = replayed[0]["executionId"].as_str().unwrap();
    let first = hub.get_json(&format!("/api/executions/{first}")).await;
    assert_eq!(first["replayOf"], ids[0].as_str(), "oldest first");
    hub.stop().await;
}
