//! A delivery from the outside in: status codes of SPEC §4 and the actions it fans out to,
//! against the real hub on port 0.

use crate::common;

use common::{Hub, Target, accepted_ids, github_signature};
use serde_json::{Value, json};

fn config(target: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", maxBodyBytes: 2048 }}
admin: {{ token: test-admin-token }}
tools:
  echo-args:
    command: ["/bin/sh", "-c", "printf '%s|%s|' \"$#\" \"$1\"; cat", "sh", "{{{{webhook.body.value}}}}"]
    timeout: 10s
hooks:
  - id: forward
    triggerConfig: {{ webhookPath: events, webhookSecret: s3cret }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
  - id: run-tool
    triggerConfig: {{ webhookPath: events, webhookSecret: s3cret }}
    action: execute_tool
    actionConfig: {{ toolId: echo-args }}
  - id: no-secret
    triggerConfig: {{ webhookPath: open }}
    action: webhook
    actionConfig: {{ webhookUrl: "{target}" }}
"#
    )
}

#[tokio::test]
async fn signed_delivery_fans_out_to_a_forward_and_a_command() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), None).await;
    let body = r#"{"value": "\"; rm -rf /tmp/x\"", "ref": "main"}"#;

    let ids = accepted_ids(hub.deliver("events", "s3cret", body).await).await;
    assert_eq!(ids.len(), 2, "both hooks on the path run");

    let mut by_hook = std::collections::HashMap::new();
    for id in &ids {
        let e = hub.wait_for_status(id, "succeeded").await;
        by_hook.insert(e["hookId"].as_str().unwrap().to_string(), e);
    }
    // The forward target got the body byte for byte.
    assert_eq!(target.bodies(), vec![body.to_string()]);
    let forward = &by_hook["forward"];
    assert_eq!(forward["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(forward["attempts"][0]["detail"]["status"], 200);
    assert_eq!(forward["eventType"], "push");
    assert_eq!(
        forward["trigger"]["headers"]["x-hub-signature-256"],
        "[redacted]"
    );
    assert_eq!(forward["trigger"]["body"]["ref"], "main");

    // The hostile value reached the command as one literal argument; the payload came on stdin.
    let stdout = by_hook["run-tool"]["output"]["stdout"].as_str().unwrap();
    let (args, stdin) = stdout.split_at(stdout.find('{').unwrap());
    assert_eq!(args, "1|\"; rm -rf /tmp/x\"|");
    let stdin: Value = serde_json::from_str(stdin).unwrap();
    assert_eq!(stdin["ref"], "main");
    hub.stop().await;
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"].as_str().unwrap().to_string(),
        body["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn refused_deliveries_get_the_documented_codes() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), None).await;
    let url = |p: &str| format!("{}/api/webhooks/{p}", hub.url);
    let body = r#"{"a":1}"#;

    let (status, code, message) = error_of(hub.deliver("events", "wrong", body).await).await;
    assert_eq!((status, code.as_str()), (401, "auth_invalid"));
    assert!(
        message.to_lowercase().contains("x-hub-signature-256"),
        "{message}"
    );

    let missing = hub
        .client
        .post(url("events"))
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, code, message) = error_of(missing).await;
    assert_eq!((status, code.as_str()), (401, "auth_invalid"));
    assert!(
        message
            .to_lowercase()
            .contains("missing header x-hub-signature-256"),
        "{message}"
    );

    let (status, code, _) = error_of(hub.deliver("open", "", body).await).await;
    assert_eq!(
        (status, code.as_str()),
        (401, "auth_invalid"),
        "no secret never verifies"
    );

    let (status, code, _) = error_of(hub.deliver("nowhere", "s3cret", body).await).await;
    assert_eq!((status, code.as_str()), (404, "hook_not_found"));

    let get = hub.client.get(url("events")).send().await.unwrap();
    assert_eq!(error_of(get).await.0, 405);

    let big = "x".repeat(4096);
    let (status, code, _) = error_of(hub.deliver("events", "s3cret", &big).await).await;
    assert_eq!((status, code.as_str()), (413, "payload_too_large"));

    let (status, code, _) = error_of(hub.deliver("events", "s3cret", "{not json").await).await;
    assert_eq!((status, code.as_str()), (400, "payload_invalid"));

    assert_eq!(target.count(), 0, "nothing refused reached an action");
    hub.stop().await;
}

#[tokio::test]
async fn form_payloads_and_query_parameters_reach_the_action() {
    let target = Target::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&target.url), dir.path(), None).await;
    let form = "payload=%7B%22value%22%3A%22from-form%22%7D";
    let response = hub
        .client
        .post(format!("{}/api/webhooks/events?env=prod", hub.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "x-hub-signature-256",
            github_signature("s3cret", form.as_bytes()),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    let ids = accepted_ids(response).await;
    for id in ids {
        let e = hub.wait_for_status(&id, "succeeded").await;
        // The query is kept beside the body, not merged into it: the signature covers only
        // the body (SPEC §4 step 5).
        assert_eq!(e["trigger"]["body"], json!({"value": "from-form"}));
        assert_eq!(e["trigger"]["query"], json!({"env": "prod"}));
        if e["hookId"] == "run-tool" {
            assert!(
                e["output"]["stdout"]
                    .as_str()
                    .unwrap()
                    .starts_with("1|from-form|")
            );
        }
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_hook_with_fifty_waiting_answers_queue_full() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
server: { dataDir: "{data}", shutdownGrace: 0s }
admin: { token: test-admin-token }
tools:
  slow: { command: ["/bin/sleep", "30"], timeout: 60s }
hooks:
  - id: slow
    triggerConfig: { webhookPath: slow, webhookSecret: s3cret }
    action: execute_tool
    actionConfig: { toolId: slow, concurrency: 1 }
"#;
    let hub = Hub::start(yaml, dir.path(), None).await;
    // One runs, fifty wait: all accepted.
    for n in 0..51 {
        let response = hub
            .deliver("slow", "s3cret", &format!(r#"{{"n":{n}}}"#))
            .await;
        assert_eq!(response.status(), 202, "delivery {n}");
    }
    let response = hub.deliver("slow", "s3cret", "{}").await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
    let (_, code, _) = error_of(response).await;
    assert_eq!(code, "queue_full");
    let hook = hub.get_json("/api/hooks/slow").await;
    assert_eq!(hook["queued"], 50);
    hub.stop().await;
}
