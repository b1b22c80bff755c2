//! Sender handshakes through the real hub (SPEC §11, issue 19): Slack's Events API
//! `url_verification` gets its challenge back only when signed, recording nothing; and
//! `triggerConfig.response` answers with the configured status, body and content type, only
//! once the execution can be read back — for a new, a repeated and a skipped delivery alike.

use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Hub, github_signature};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

const HEAD: &str = r#"
server: { dataDir: "{data}", shutdownGrace: 0s }
admin: { token: test-admin-token }
hooks:"#;

fn slack_config(target: &str) -> String {
    format!(
        r#"{HEAD}
  - id: slack-events
    triggerConfig: {{ webhookPath: slack/events, scheme: slack, webhookSecret: "{SLACK_SECRET}" }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

fn answer_config(target: &str) -> String {
    format!(
        r#"{HEAD}
  - id: answered
    triggerConfig:
      webhookPath: answered
      webhookSecret: s3cret
      filter: "body.repo != 'acme/ignored'"
      response:
        status: 201
        body: '{{"id": "{{{{execution.id}}}}", "repo": "{{{{webhook.body.repo}}}}"}}'
        contentType: application/json
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: quiet
    triggerConfig:
      webhookPath: quiet
      webhookSecret: s3cret
      response: {{ status: 204 }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

/// Slack's headers for `body`, computed here from Slack's documented recipe.
fn slack_headers(secret: &str, body: &str) -> [(&'static str, String); 2] {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    [
        ("x-slack-request-timestamp", ts),
        ("x-slack-signature", signature),
    ]
}

async fn post(hub: &Hub, path: &str, headers: &[(&str, String)], body: &str) -> reqwest::Response {
    let mut request = hub
        .client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The `/metrics` page.
async fn metrics(hub: &Hub) -> String {
    let response = hub
        .api(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    response.text().await.unwrap()
}

async fn executions_of(hub: &Hub, hook: &str) -> Vec<Value> {
    let page = hub.get_json(&format!("/api/hooks/{hook}/executions")).await;
    page["executions"].as_array().unwrap().clone()
}

#[tokio::test]
async fn slacks_url_verification_gets_its_challenge_only_when_signed() {
    let (hub, target, _dir) = Hub::start_with_target(slack_config).await;
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    let body = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge,
                      "type": "url_verification"})
    .to_string();

    let response = post(
        &hub,
        "slack/events",
        &slack_headers(SLACK_SECRET, &body),
        &body,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), challenge);

    for headers in [vec![], slack_headers("not-the-secret", &body).to_vec()] {
        let response = post(&hub, "slack/events", &headers, &body).await;
        assert_eq!(response.status(), 401);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "auth_invalid");
    }
    assert!(executions_of(&hub, "slack-events").await.is_empty());
    let page = metrics(&hub).await;
    assert!(
        page.contains(r#"hookhub_deliveries_total{hook="slack-events",result="handshake"} 1"#),
        "{page}"
    );

    // An ordinary event to the same hook is accepted and runs as always.
    let event = json!({"type": "event_callback", "event": {"type": "app_mention"}}).to_string();
    let response = post(
        &hub,
        "slack/events",
        &slack_headers(SLACK_SECRET, &event),
        &event,
    )
    .await;
    let id = common::accepted_ids(response).await.remove(0);
    hub.wait_for_status(&id, "succeeded").await;
    assert_eq!(executions_of(&hub, "slack-events").await.len(), 1);
    assert_eq!(
        target.bodies(),
        [event],
        "the handshake was never forwarded"
    );
    hub.stop().await;
}

/// POSTs `body` signed GitHub-style with a delivery id.
async fn deliver(hub: &Hub, path: &str, delivery: &str, body: &str) -> reqwest::Response {
    let headers = [
        ("x-github-delivery", delivery.to_string()),
        (
            "x-hub-signature-256",
            github_signature("s3cret", body.as_bytes()),
        ),
    ];
    post(hub, path, &headers, body).await
}

#[tokio::test]
async fn a_configured_response_is_sent_once_the_execution_is_readable() {
    let (hub, _target, _dir) = Hub::start_with_target(answer_config).await;
    let response = deliver(&hub, "answered", "d-1", r#"{"repo":"acme/api"}"#).await;
    assert_eq!(response.status(), 201);
    assert_eq!(content_type(&response), "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["repo"], "acme/api");
    let id = answer["id"].as_str().unwrap().to_string();
    // Read at once: the answer came after the execution was on disk.
    let e = hub.get_json(&format!("/api/executions/{id}")).await;
    assert_eq!(e["hookId"], "answered");

    // A repeat gets the same answer, naming the first execution.
    let again = deliver(&hub, "answered", "d-1", r#"{"repo":"acme/api"}"#).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    // Its 201 is still counted as what it was.
    let page = metrics(&hub).await;
    for result in ["accepted", "duplicate"] {
        let series = format!(r#"hookhub_deliveries_total{{hook="answered",result="{result}"}} 1"#);
        assert!(page.contains(&series), "{series} in:\n{page}");
    }

    // A delivery the filter skips is answered the same way, over its skipped execution.
    let skipped = deliver(&hub, "answered", "d-2", r#"{"repo":"acme/ignored"}"#).await;
    assert_eq!(skipped.status(), 201);
    let id = skipped.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = hub.get_json(&format!("/api/executions/{id}")).await;
    assert_eq!(e["status"], "skipped");

    let quiet = deliver(&hub, "quiet", "d-3", "{}").await;
    assert_eq!(quiet.status(), 204);
    assert!(quiet.headers().get("content-type").is_none());
    assert_eq!(quiet.bytes().await.unwrap().len(), 0);
    assert_eq!(executions_of(&hub, "quiet").await.len(), 1);
    hub.stop().await;
}

#[test]
fn a_bad_response_is_a_config_error_naming_the_field() {
    let yaml = "\
hooks:
  - id: answered
    triggerConfig:
      webhookPath: answered
      webhookSecret: s
      response: { status: 302, body: '{{#if x}}' }
    action: webhook
    actionConfig: { webhookUrl: 'http://127.0.0.1:9/x' }
  - id: nightly
    trigger: schedule
    triggerConfig: { cron: '0 3 * * *', response: { status: 200 } }
    action: webhook
    actionConfig: { webhookUrl: 'http://127.0.0.1:9/x' }
";
    let error = hookhub::load_str(yaml, "hooks.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "hooks[0].triggerConfig.response.status: 302 is not one of 200, 201, 202, 204",
        "hooks[0].triggerConfig.response.body: invalid template",
        "hooks[1].triggerConfig.response: not used by trigger schedule",
    ] {
        assert!(error.contains(expected), "{expected}\nin:\n{error}");
    }
}
