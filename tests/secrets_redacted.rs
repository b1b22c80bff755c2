//! Issue 18, point 5: secrets an attacker found in the clear (SPEC §11). Driven the way they
//! were found, over HTTP against the running hub: a custom key header in the
//! rejected-deliveries list.

mod common;

use common::{Hub, accepted_ids, github_signature};
use reqwest::Method;
use serde_json::Value;

const RIGHT_KEY: &str = "deploy-key-right-4f1c";
const WRONG_KEY: &str = "deploy-key-wrong-77ab";
const MAC_SECRET: &str = "mac-secret-0d93";

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
